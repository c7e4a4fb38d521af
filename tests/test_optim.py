"""Optimizers: the first two steps equal the course's formulas written out independently
here, and every optimizer converges on a convex quadratic."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradflow.nn import Parameter
from gradflow.optim import OPTIMIZERS, NAdam, make_optimizer

# f(φ) = ½ Σ aᵢ (φᵢ − cᵢ)², ∇f = a ⊙ (φ − c): a convex quadratic with known minimum c
A = np.array([0.5, 1.0, 2.0, 4.0])
C = np.array([1.0, -2.0, 0.5, 3.0])


def grad(phi):
    return A * (phi - C)


def run(name, phi0, steps, **kw):
    p = Parameter(phi0.copy())
    opt = make_optimizer(name, [p], **kw)
    trajectory = []
    for _ in range(steps):
        p.grad = grad(p.data)
        opt.step()
        trajectory.append(p.data.copy())
    return trajectory


vectors = arrays(np.float64, 4, elements=st.floats(-3, 3))


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@given(vectors)
def test_sgd_two_steps(phi0):
    a = 0.1
    phi1 = phi0 - a * grad(phi0)
    phi2 = phi1 - a * grad(phi1)
    close(run("sgd", phi0, 2, lr=a), [phi1, phi2])


@given(vectors)
def test_sgd_weight_decay_is_the_course_decay(phi0):
    # course: φ ← (1 − λ')φ − α∇L; coupled L2 with λ gives the same with λ' = αλ
    a, lam = 0.1, 0.3
    phi1 = (1 - a * lam) * phi0 - a * grad(phi0)
    phi2 = (1 - a * lam) * phi1 - a * grad(phi1)
    close(run("sgd", phi0, 2, lr=a, weight_decay=lam), [phi1, phi2])


@given(vectors)
def test_momentum_first_form(phi0):
    a, b = 0.1, 0.9
    m1 = b * 0 + (1 - b) * grad(phi0)
    phi1 = phi0 - a * m1
    m2 = b * m1 + (1 - b) * grad(phi1)
    phi2 = phi1 - a * m2
    close(run("momentum", phi0, 2, lr=a, beta=b), [phi1, phi2])


@given(vectors)
def test_momentum_velocity_form(phi0):
    g, mu = 0.1, 0.8
    v1 = mu * 0 - g * grad(phi0)
    phi1 = phi0 + v1
    v2 = mu * v1 - g * grad(phi1)
    phi2 = phi1 + v2
    close(run("momentum_velocity", phi0, 2, lr=g, mu=mu), [phi1, phi2])


@given(vectors)
def test_nesterov_gradient_at_lookahead(phi0):
    # course: m ← βm + (1−β)∇L[φ − αβm]; φ ← φ − αm. The optimizer stores θ = φ − αβm.
    a, b = 0.1, 0.9
    m0 = np.zeros(4)
    m1 = b * m0 + (1 - b) * grad(phi0 - a * b * m0)
    phi1 = phi0 - a * m1
    m2 = b * m1 + (1 - b) * grad(phi1 - a * b * m1)
    phi2 = phi1 - a * m2
    close(run("nesterov", phi0, 2, lr=a, beta=b), [phi1 - a * b * m1, phi2 - a * b * m2])


@given(vectors)
def test_normalized_gd(phi0):
    a, eps = 0.1, 1e-8
    g0 = grad(phi0)
    phi1 = phi0 - a * g0 / (np.sqrt(g0**2) + eps)
    g1 = grad(phi1)
    phi2 = phi1 - a * g1 / (np.sqrt(g1**2) + eps)
    close(run("normalized", phi0, 2, lr=a, eps=eps), [phi1, phi2])


@given(vectors)
def test_adagrad(phi0):
    a, eps = 0.5, 1e-10
    s1 = grad(phi0) ** 2
    phi1 = phi0 - a * grad(phi0) / (np.sqrt(s1) + eps)
    s2 = s1 + grad(phi1) ** 2
    phi2 = phi1 - a * grad(phi1) / (np.sqrt(s2) + eps)
    close(run("adagrad", phi0, 2, lr=a, eps=eps), [phi1, phi2])


@given(vectors)
def test_rmsprop(phi0):
    a, rho, eps = 0.01, 0.9, 1e-8
    s1 = (1 - rho) * grad(phi0) ** 2
    phi1 = phi0 - a * grad(phi0) / (np.sqrt(s1) + eps)
    s2 = rho * s1 + (1 - rho) * grad(phi1) ** 2
    phi2 = phi1 - a * grad(phi1) / (np.sqrt(s2) + eps)
    close(run("rmsprop", phi0, 2, lr=a, rho=rho, eps=eps), [phi1, phi2])


@given(vectors)
def test_adadelta(phi0):
    lr, rho, eps = 1.0, 0.9, 1e-6
    s = u = np.zeros(4)
    phis = []
    phi = phi0
    for _ in range(2):
        g = grad(phi)
        s = rho * s + (1 - rho) * g**2
        delta = np.sqrt(u + eps) / np.sqrt(s + eps) * g
        u = rho * u + (1 - rho) * delta**2
        phi = phi - lr * delta
        phis.append(phi)
    close(run("adadelta", phi0, 2, lr=lr, rho=rho, eps=eps), phis)


def adam_reference(phi0, a, b, gam, eps, decoupled=0.0):
    m = v = np.zeros(4)
    phi, out = phi0, []
    for t in (1, 2):
        g = grad(phi)
        m = b * m + (1 - b) * g
        v = gam * v + (1 - gam) * g**2
        m_hat = m / (1 - b**t)
        v_hat = v / (1 - gam**t)
        phi = phi - a * decoupled * phi - a * m_hat / (np.sqrt(v_hat) + eps)
        out.append(phi)
    return out


@given(vectors)
def test_adam_with_bias_correction(phi0):
    ref = adam_reference(phi0, 0.01, 0.9, 0.999, 1e-8)
    close(run("adam", phi0, 2, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8), ref)


@given(vectors)
def test_adamw_decoupled_decay(phi0):
    ref = adam_reference(phi0, 0.01, 0.9, 0.999, 1e-8, decoupled=0.1)
    close(run("adamw", phi0, 2, lr=0.01, weight_decay=0.1), ref)


@given(vectors)
def test_nadam(phi0):
    a, b, gam, eps = 0.01, 0.9, 0.999, 1e-8
    m = v = np.zeros(4)
    phi, ref = phi0, []
    for t in (1, 2):
        g = grad(phi)
        m = b * m + (1 - b) * g
        v = gam * v + (1 - gam) * g**2
        # Nesterov look-ahead: the next momentum step applied now
        m_bar = b * m / (1 - b ** (t + 1)) + (1 - b) * g / (1 - b**t)  # Dozat
        phi = phi - a * m_bar / (np.sqrt(v / (1 - gam**t)) + eps)
        ref.append(phi)
    close(run("nadam", phi0, 2, lr=a), ref)


@pytest.mark.parametrize(
    "momentum_decay, steps",
    [
        # Dozat, μ = 0.9 constant, g = 1, lr = 0.01, by hand (v̂ = 1 while g is constant):
        # m̂₁ = 0.9·0.1/(1 − 0.9²) + 0.1/(1 − 0.9) = 1.473684…;
        # m̂₂ = 0.9·0.19/(1 − 0.9³) + 0.1/(1 − 0.9²) = 1.1573121…
        (0.0, [-0.014736842, -0.011573121]),
        # PyTorch's schedule ψ = 0.004: μ₁ = 0.9(1 − ½·0.96^0.004) = 0.450073…,
        # μ₂ = 0.450147…; m̂₁ = (1 − μ₁)/(1 − μ₁) + μ₂·0.1/(1 − μ₁μ₂) = 1.056452…
        (0.004, [-0.010564518, -0.0078368435]),
    ],
)
def test_nadam_first_steps_by_hand(momentum_decay, steps):
    p = Parameter(np.zeros(1))
    opt = NAdam([p], lr=0.01, momentum_decay=momentum_decay)
    moves = []
    for _ in steps:
        before = p.data[0]
        p.grad = np.ones(1)
        opt.step()
        moves.append(p.data[0] - before)
    np.testing.assert_allclose(moves, steps, rtol=1e-6)
    assert NAdam.defaults["momentum_decay"] == 0.0  # the course's form is the default


@given(vectors)
def test_adamax(phi0):
    a, b, gam, eps = 0.01, 0.9, 0.999, 1e-8
    m = u = np.zeros(4)
    phi, ref = phi0, []
    for t in (1, 2):
        g = grad(phi)
        m = b * m + (1 - b) * g
        u = np.maximum(gam * u, np.abs(g))
        phi = phi - a / (1 - b**t) * m / (u + eps)
        ref.append(phi)
    close(run("adamax", phi0, 2, lr=a), ref)


def test_clip_by_value_to_course_interval():
    p = Parameter(np.zeros(3))
    opt = make_optimizer("sgd", [p], lr=1.0, clip_value=1.0)
    p.grad = np.array([-5.0, 0.5, 3.0])
    opt.step()
    close(p.data, [1.0, -0.5, -1.0])


def test_clip_by_global_norm_over_all_parameters():
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(1))
    opt = make_optimizer("sgd", [p, q], lr=1.0, clip_norm=1.0)
    p.grad, q.grad = np.array([3.0, 0.0]), np.array([4.0])  # global norm 5
    opt.step()
    close(p.data, [-0.6, 0.0])
    close(q.data, [-0.8])


CONVERGENCE = {
    "sgd": dict(lr=0.2),
    "momentum": dict(lr=0.2),
    "momentum_velocity": dict(lr=0.05),
    "nesterov": dict(lr=0.2),
    "normalized": dict(lr=0.01),
    "adagrad": dict(lr=0.5),
    "adadelta": dict(lr=1.0, eps=1e-4),
    "rmsprop": dict(lr=0.01),
    "adam": dict(lr=0.05),
    "nadam": dict(lr=0.05),
    "adamax": dict(lr=0.05),
    "adamw": dict(lr=0.05, weight_decay=0.0),
}


@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - {"gd"}))
def test_converges_on_a_convex_quadratic(name):
    phi = run(name, np.zeros(4), 3000, **CONVERGENCE[name])[-1]
    # sign-like steps (normalised GD, RMSProp) end within about one step of the minimum
    tol = 2 * CONVERGENCE[name]["lr"] if name in ("normalized", "rmsprop") else 1e-3
    np.testing.assert_allclose(phi, C, atol=tol)


def test_every_name_is_covered_by_the_convergence_table():
    assert set(CONVERGENCE) == set(OPTIMIZERS) - {"gd"}


def test_state_dict_round_trip_continues_identically():
    first = run("adam", np.zeros(4), 5, lr=0.05)
    p = Parameter(np.zeros(4))
    opt = make_optimizer("adam", [p], lr=0.05)
    for _ in range(3):
        p.grad = grad(p.data)
        opt.step()
    saved, weights = opt.state_dict(), p.data.copy()
    q = Parameter(weights)
    opt2 = make_optimizer("adam", [q], lr=0.05)
    opt2.load_state_dict(saved)
    for _ in range(2):
        q.grad = grad(q.data)
        opt2.step()
    np.testing.assert_array_equal(q.data, first[-1])


def test_state_dict_mismatch_names_the_state():
    opt = make_optimizer("adam", [Parameter(np.zeros(4))])
    other = make_optimizer("adam", [Parameter(np.zeros(3))])
    with pytest.raises(ValueError, match=r"m\.0 has shape \(4,\)"):
        opt.load_state_dict(other.state_dict())


def test_unknown_names_are_listed():
    with pytest.raises(ValueError, match="known: sgd"):
        make_optimizer("adamm", [Parameter(np.zeros(1))])
    with pytest.raises(TypeError, match="unknown hyperparameter"):
        make_optimizer("adam", [Parameter(np.zeros(1))], beta=0.9)


RULE_CALLS = {
    "sgd": lambda r, p, g, s: r(p, g, 0.1, 0.01),
    "momentum": lambda r, p, g, s: r(p, g, s[0], 0.1, 0.9, 0.01),
    "momentum_velocity": lambda r, p, g, s: r(p, g, s[0], 0.1, 0.9, 0.01),
    "nesterov": lambda r, p, g, s: r(p, g, s[0], 0.1, 0.9, 0.01),
    "normalized": lambda r, p, g, s: r(p, g, 0.1, 1e-8, 0.01),
    "adagrad": lambda r, p, g, s: r(p, g, s[0], 0.1, 1e-8, 0.01),
    "adadelta": lambda r, p, g, s: r(p, g, s[0], s[1], 1.0, 0.9, 1e-6, 0.01),
    "rmsprop": lambda r, p, g, s: r(p, g, s[0], 0.1, 0.9, 1e-8, 0.01),
    "adam": lambda r, p, g, s: r(p, g, s[0], s[1], 2, 0.1, 0.9, 0.999, 1e-8, 0.01),
    "adamw": lambda r, p, g, s: r(p, g, s[0], s[1], 2, 0.1, 0.9, 0.999, 1e-8, 0.01),
    "nadam": lambda r, p, g, s: r(p, g, s[0], s[1], 2, 0.1, 0.9, 0.999, 1e-8, 0.01, 0.004),
    "adamax": lambda r, p, g, s: r(p, g, s[0], s[1], 2, 0.1, 0.9, 0.999, 1e-8, 0.01),
    "clip_by_value": lambda r, p, g, s: r(p, 0.3),
    "add_penalty_grad": lambda r, p, g, s: r(p, g, 0.1, 0.2),
    "max_norm_rows": lambda r, p, g, s: r(p.reshape(2, 3), 0.5),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RULE_CALLS))
def test_rule_compiles_with_numba_and_agrees(name):
    """Both backends run these very functions compiled by ``compile_rule``: float64, float32."""
    from gradflow.kernels.update import compile_rule
    from gradflow.optim import rules

    python_rule = getattr(rules, name)
    jitted = compile_rule(python_rule)
    for dtype in (np.float64, np.float32):
        g = np.linspace(-1.0, 1.5, 6).astype(dtype)
        outs = []
        for rule in (python_rule, jitted):
            p = np.linspace(0.5, -2.0, 6).astype(dtype)
            s = [np.full(6, 0.1, dtype), np.full(6, 0.2, dtype)]
            RULE_CALLS[name](rule, p, g.copy(), s)
            outs.append((p, *s))
        for a, b in zip(*outs):
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
            assert a.dtype == dtype


def test_rule_table_covers_every_optimizer():
    assert {cls.rule.__name__ for cls in OPTIMIZERS.values()} <= set(RULE_CALLS)


def test_lr_may_be_given_positionally_as_in_pytorch():
    opt = make_optimizer("adam", [Parameter(np.zeros(1))])
    assert opt.lr == 1e-3
    assert OPTIMIZERS["adam"]([Parameter(np.zeros(1))], 0.02).lr == 0.02


def test_a_non_contiguous_parameter_is_updated_as_a_contiguous_one():
    """The rules update flat views; a transposed ``.data`` is made C-ordered once (same
    values) instead of ``reshape`` silently updating a copy."""
    w = np.arange(6.0).reshape(2, 3)
    p, q = Parameter(w.copy()), Parameter(w.copy())
    p.data = np.asfortranarray(p.data)
    g = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    opts = [make_optimizer("adam", [x], lr=0.1) for x in (p, q)]
    for _ in range(3):
        for x, opt in zip((p, q), opts):
            x.grad = g
            opt.step()
    assert p.data.flags.c_contiguous
    np.testing.assert_array_equal(p.data, q.data)
    assert not np.allclose(p.data, w)


def test_a_gradient_of_another_shape_names_both_shapes():
    p = Parameter(np.zeros((2, 3)))
    opt = make_optimizer("momentum", [p])
    p.grad = np.zeros(5)
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(2, 3\).*\(5,\)"):
        opt.step()


@pytest.mark.parametrize("clip", [dict(clip_value=0.5), dict(clip_norm=0.5), {}])
def test_step_never_changes_the_gradient(clip):
    p = Parameter(np.ones((2, 2), dtype=np.float32))
    opt = make_optimizer("adam", [p], lr=0.1, **clip)
    g = np.array([[3.0, -2.0], [0.25, 0.0]], dtype=np.float32)
    p.grad = g.copy()
    opt.step()
    np.testing.assert_array_equal(p.grad, g)


BAD_NUMBERS = [float("nan"), float("inf"), -float("inf"), -1.0]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_every_hyperparameter_is_checked_when_the_optimizer_is_made(name, bad):
    """`nan < 0` is False, so a plain `lr < 0` check let NaN through (issue 11)."""
    cls = OPTIMIZERS[name]
    for hparam in cls.defaults:
        with pytest.raises(ValueError, match=f"{cls.__name__}: hyperparameter {hparam} must"):
            cls([Parameter(np.zeros(2))], **{hparam: bad})


@pytest.mark.parametrize("clip", ["clip_value", "clip_norm"])
@pytest.mark.parametrize("bad", [*BAD_NUMBERS, 0.0])
def test_clip_thresholds_must_be_positive_and_finite(clip, bad):
    with pytest.raises(ValueError, match=f"Adam: {clip} must be a finite number > 0"):
        OPTIMIZERS["adam"]([Parameter(np.zeros(2))], **{clip: bad})


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_a_schedule_cannot_set_a_broken_learning_rate(bad):
    opt = OPTIMIZERS["sgd"]([Parameter(np.zeros(2))], 0.1)
    with pytest.raises(ValueError, match="SGD: lr must be a finite number >= 0"):
        opt.lr = bad
    assert opt.lr == 0.1
