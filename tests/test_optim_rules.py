"""The loop-form update rules against the course formulas, written out here as whole-array
numpy updates in float64, for random shapes, dtypes, hyperparameters and several steps; run
as plain Python loops, serially compiled and ``parallel=True`` compiled.

A float32 rule computes in float64 and rounds only what it stores (the parameter and the
state), so the reference rounds exactly those to the dtype after every step. Under
``NUMBA_DISABLE_JIT=1`` (a CI step) every path is the Python loop, where numpy computes
float32 scalars in float32: that run checks float64 only.
"""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow.kernels.update import compile_rule, rule_for
from gradflow.optim import rules

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
DTYPES = [np.float64] if NO_JIT else [np.float64, np.float32]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}


# --- the course formulas, one step over whole arrays (float64) ---------------------------
# each returns (new φ, new states); g is the raw gradient, d = g + λφ the coupled-decay one


def ref_sgd(p, g, t, lr, weight_decay):
    return p - lr * (g + weight_decay * p), ()


def ref_momentum(p, g, m, t, lr, beta, weight_decay):
    m = beta * m + (1 - beta) * (g + weight_decay * p)
    return p - lr * m, (m,)


def ref_momentum_velocity(p, g, v, t, lr, mu, weight_decay):
    v = mu * v - lr * (g + weight_decay * p)
    return p + v, (v,)


def ref_nesterov(p, g, m, t, lr, beta, weight_decay):
    # θ = φ − αβm is stored; m ← βm + (1−β)∇L(θ); θ ← θ − α(βm + (1−β)∇L(θ))
    d = g + weight_decay * p
    m = beta * m + (1 - beta) * d
    return p - lr * (beta * m + (1 - beta) * d), (m,)


def ref_normalized(p, g, t, lr, eps, weight_decay):
    d = g + weight_decay * p
    return p - lr * d / (np.abs(d) + eps), ()


def ref_adagrad(p, g, s, t, lr, eps, weight_decay):
    d = g + weight_decay * p
    s = s + d**2
    return p - lr * d / (np.sqrt(s) + eps), (s,)


def ref_adadelta(p, g, s, u, t, lr, rho, eps, weight_decay):
    d = g + weight_decay * p
    s = rho * s + (1 - rho) * d**2
    delta = np.sqrt((u + eps) / (s + eps)) * d
    u = rho * u + (1 - rho) * delta**2
    return p - lr * delta, (s, u)


def ref_rmsprop(p, g, s, t, lr, rho, eps, weight_decay):
    d = g + weight_decay * p
    s = rho * s + (1 - rho) * d**2
    return p - lr * d / (np.sqrt(s) + eps), (s,)


def ref_adam(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    d = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * d
    v = beta2 * v + (1 - beta2) * d**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), (m, v)


def ref_adamw(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = (1 - lr * weight_decay) * p  # decoupled: the gradient is not touched
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), (m, v)


def ref_nadam(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay, momentum_decay):
    # Dozat's NAdam; PyTorch's μₜ schedule when momentum_decay > 0
    def mu(i):
        return beta1 if momentum_decay == 0 else beta1 * (1 - 0.5 * 0.96 ** (i * momentum_decay))

    prod_t = np.prod([mu(i) for i in range(1, t + 1)])
    d = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * d
    v = beta2 * v + (1 - beta2) * d**2
    look_ahead = mu(t + 1) * m / (1 - prod_t * mu(t + 1)) + (1 - mu(t)) * d / (1 - prod_t)
    return p - lr * look_ahead / (np.sqrt(v / (1 - beta2**t)) + eps), (m, v)


def ref_adamax(p, g, m, u, t, lr, beta1, beta2, eps, weight_decay):
    d = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * d
    u = np.maximum(beta2 * u, np.abs(d))
    return p - lr / (1 - beta1**t) * m / (u + eps), (m, u)


unit = st.floats(0.0, 0.999)
positive_lr = st.floats(1e-4, 0.5)
decay = st.one_of(st.just(0.0), st.floats(0.0, 0.5))
eps = st.floats(1e-8, 1e-2)
ADAM_HP = dict(lr=positive_lr, beta1=unit, beta2=st.floats(0.5, 0.9999), eps=eps)

#: rule name -> (state names, hyperparameter strategies in the rule's order after t)
RULES = {
    "sgd": ((), dict(lr=positive_lr, weight_decay=decay)),
    "momentum": (("m",), dict(lr=positive_lr, beta=unit, weight_decay=decay)),
    "momentum_velocity": (("v",), dict(lr=positive_lr, mu=unit, weight_decay=decay)),
    "nesterov": (("m",), dict(lr=positive_lr, beta=unit, weight_decay=decay)),
    "normalized": ((), dict(lr=positive_lr, eps=eps, weight_decay=decay)),
    "adagrad": (("s",), dict(lr=positive_lr, eps=eps, weight_decay=decay)),
    "adadelta": (
        ("s", "u"),
        dict(lr=st.floats(0.1, 1.0), rho=st.floats(0.5, 0.99), eps=eps, weight_decay=decay),
    ),
    "rmsprop": (
        ("s",),
        dict(lr=positive_lr, rho=st.floats(0.5, 0.99), eps=eps, weight_decay=decay),
    ),
    "adam": (("m", "v"), dict(**ADAM_HP, weight_decay=decay)),
    "adamw": (("m", "v"), dict(**ADAM_HP, weight_decay=decay)),
    "nadam": (
        ("m", "v"),
        dict(**ADAM_HP, weight_decay=decay, momentum_decay=st.sampled_from([0.0, 0.004, 0.1])),
    ),
    "adamax": (("m", "u"), dict(**ADAM_HP, weight_decay=decay)),
}
NONNEGATIVE_STATE = {"s", "u", "v"}  # running sums / averages of squares or |g|
PATHS = {
    "python": lambda rule: rule,
    "serial": lambda rule: compile_rule(rule, parallel=False),
    "parallel": lambda rule: compile_rule(rule, parallel=True),
}


def _start(rng, names, n):
    """Mid-training state: m and v any sign, squared averages non-negative."""
    return [
        np.abs(rng.normal(size=n)) if name in NONNEGATIVE_STATE else rng.normal(size=n)
        for name in names
    ]


@st.composite
def rule_case(draw, name):
    names, hp = RULES[name]
    return dict(
        n=draw(st.integers(1, 37)),
        dtype=draw(st.sampled_from(DTYPES)),
        steps=draw(st.integers(1, 4)),
        t0=draw(st.integers(0, 50)),
        seed=draw(st.integers(0, 2**32 - 1)),
        hp={k: draw(s) for k, s in hp.items()},
        path=draw(st.sampled_from(sorted(PATHS))),
    )


def _check_rule(name, case):
    names, _ = RULES[name]
    python_rule = getattr(rules, name)
    rule = PATHS[case["path"]](python_rule)
    takes_t = "t" in inspect.signature(python_rule).parameters
    reference = globals()[f"ref_{name}"]
    dtype, n, hp = case["dtype"], case["n"], list(case["hp"].values())
    rng = np.random.default_rng(case["seed"])
    p = rng.normal(size=n).astype(dtype)
    state = [a.astype(dtype) for a in _start(rng, names, n)]
    want_p, want_state = p.astype(np.float64), [a.astype(np.float64) for a in state]
    for t in range(case["t0"] + 1, case["t0"] + case["steps"] + 1):
        g = (rng.normal(size=n) * rng.choice([1e-3, 1.0, 30.0])).astype(dtype)
        g_before = g.copy()
        rule(p, g, *state, *((t,) if takes_t else ()), *hp)
        np.testing.assert_array_equal(g, g_before)  # the gradient is never modified
        want_p, want_state = reference(want_p, g.astype(np.float64), *want_state, t, *hp)
        # what the rule stores is rounded to the dtype, so round the reference there too
        want_p = want_p.astype(dtype).astype(np.float64)
        want_state = [a.astype(dtype).astype(np.float64) for a in want_state]
        np.testing.assert_allclose(p, want_p, **TOL[dtype], err_msg=f"{name} step {t}")
        for label, got, want in zip(names, state, want_state):
            np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name}.{label} {t}")
    assert p.dtype == dtype and all(a.dtype == dtype for a in state)


@pytest.mark.parametrize("name", sorted(RULES))
@given(data=st.data())
def test_rule_follows_the_course_formula(name, data):
    _check_rule(name, data.draw(rule_case(name)))


def test_reference_table_covers_every_optimizer_rule():
    from gradflow.optim import OPTIMIZERS

    assert {cls.rule.__name__ for cls in OPTIMIZERS.values()} == set(RULES)


def test_adam_first_step_is_lr_times_the_gradient_sign():
    """Hand-derived: at t = 1, m̂ = g and v̂ = g², so the step is α g/(|g| + ε) ≈ α sign(g)."""
    p = np.array([1.0, -2.0, 0.5])
    g = np.array([4.0, -0.25, 0.0])
    m, v = np.zeros(3), np.zeros(3)
    rule_for(rules.adam, 3)(p, g, m, v, 1, 0.1, 0.9, 0.999, 1e-8, 0.0)
    np.testing.assert_allclose(p, [0.9, -1.9, 0.5], rtol=1e-7)  # ε/|g| ≤ 4e-8 off
    np.testing.assert_allclose(m, 0.1 * g, rtol=1e-12)
    np.testing.assert_allclose(v, 0.001 * g**2, rtol=1e-12)


# --- gradient and weight transforms ------------------------------------------------------

flat = st.tuples(st.integers(1, 40), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))


def _vector(n, dtype, seed, scale=3.0):
    return (np.random.default_rng(seed).normal(size=n) * scale).astype(dtype)


@given(flat, st.floats(0.01, 5.0), st.sampled_from(sorted(PATHS)))
def test_clip_by_value_is_np_clip(shape, clip, path):
    g = _vector(*shape)
    g[0] = np.nan  # stays NaN, as with np.clip
    want = np.clip(g, -clip, clip)
    PATHS[path](rules.clip_by_value)(g, clip)
    np.testing.assert_array_equal(g, want)


@given(flat, st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.sampled_from(sorted(PATHS)))
def test_add_penalty_grad_is_the_penalty_gradient(shape, l1, l2, path):
    n, dtype, seed = shape
    g, p = _vector(n, dtype, seed), _vector(n, dtype, seed + 1)
    p[0] = 0.0  # sign(0) = 0: the subgradient the course uses
    want = g.astype(np.float64) + l1 * np.sign(p) + 2 * l2 * p.astype(np.float64)
    PATHS[path](rules.add_penalty_grad)(g, p, l1, l2)
    np.testing.assert_allclose(g, want.astype(dtype), **TOL[dtype])


@given(
    st.integers(1, 7), st.integers(1, 9), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1),
    st.floats(0.1, 5.0), st.sampled_from(sorted(PATHS)),
)  # fmt: skip
def test_max_norm_rows_projects_each_row_into_the_ball(rows, cols, dtype, seed, c, path):
    w = _vector(rows * cols, dtype, seed).reshape(rows, cols)
    before = w.astype(np.float64)
    norms = np.linalg.norm(before, axis=1)
    PATHS[path](rules.max_norm_rows)(w, c)
    want = np.where((norms > c)[:, None], before * c / (norms[:, None] + 1e-12), before)
    np.testing.assert_allclose(w, want.astype(dtype), **TOL[dtype])
    assert np.all(np.linalg.norm(w.astype(np.float64), axis=1) <= c * (1 + 1e-5))


@given(flat, st.sampled_from(sorted(PATHS)))
def test_sum_of_squares(shape, path):
    g = _vector(*shape)
    want = float((g.astype(np.float64) ** 2).sum())
    got = PATHS[path](rules.sum_of_squares)(g)
    np.testing.assert_allclose(got, want, rtol=1e-6 if g.dtype == np.float32 else 1e-12)


# --- where the rules are compiled ---------------------------------------------------------


def test_rule_for_switches_to_the_parallel_compile_at_the_threshold():
    from gradflow.kernels import update

    serial = compile_rule(rules.momentum, parallel=False)
    parallel = compile_rule(rules.momentum, parallel=True)
    assert rule_for(rules.momentum, update.PARALLEL_FROM - 1) is serial
    large = rule_for(rules.momentum, update.PARALLEL_FROM)
    # twinned with the serial compile while the parallel one compiles in the background
    # (tests/test_twins.py), or the parallel compile itself without a disk cache
    twinned = getattr(large, "serial", None) is serial
    assert large is parallel or (twinned and large.parallel.py_func is parallel.py_func)
    assert serial is not parallel
    assert compile_rule(rules.momentum) is serial  # compiled once per process


def test_importing_gradflow_does_not_import_numba():
    """The rules module must stay importable (and ``import gradflow`` light) without
    numba: compile_rule, not the module, brings in ``numba.prange``."""
    import subprocess
    import sys

    code = "import sys, gradflow, gradflow.optim; print('numba' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


# --- the graph backend's regulariser runs the same compiled transforms ---------------------


def test_max_norm_rescales_a_transposed_conv_weight_itself():
    """A non-contiguous ``.data`` is made C-ordered once, else ``reshape(units, -1)`` would
    rescale a copy and leave the weight as it was."""
    from gradflow.nn import Parameter
    from gradflow.regularization import Regularizer

    kernel = np.arange(1.0, 9.0).reshape(2, 2, 2).transpose(2, 1, 0)  # (out, in, k), F order
    w = Parameter(np.zeros((2, 2, 2)))
    w.data = kernel
    rows = np.ascontiguousarray(kernel).reshape(2, 4)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)  # both > 1
    Regularizer(max_norm=1.0).apply_max_norm([w])
    np.testing.assert_allclose(w.data.reshape(2, 4), rows / (norms + 1e-12), rtol=1e-9)


def test_penalty_gradient_of_another_shape_names_both_shapes():
    from gradflow.nn import Parameter
    from gradflow.regularization import Regularizer

    w = Parameter(np.ones((2, 2)))
    w.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*shape \(3,\)"):
        Regularizer(l2=0.1).add_penalty_grads([w])


@pytest.mark.skipif(NO_JIT, reason="plain Python computes float32 scalars in float32")
@pytest.mark.parametrize("path", ["serial", "parallel"])
def test_float32_parameters_are_rounded_once_per_step(path):
    """Found by the property test: with φ ≈ −v the compiled velocity rule once added the
    already-rounded float32 v to φ, losing their difference to that rounding. The new φ is
    the float64 φ + v rounded once (v itself stored rounded)."""
    rule = PATHS[path](rules.momentum_velocity)
    p = np.array([40.158463, 0.5], dtype=np.float32)  # entry 0: φ_new ≈ −0.17 from φ ≈ 40
    v = np.array([-18.53721, 0.1], dtype=np.float32)
    g = np.array([54.66034, -0.3], dtype=np.float32)
    lr, mu, wd = 0.4982919096109949, 0.17495444621992712, 0.4921875
    d = g.astype(np.float64) + wd * p.astype(np.float64)
    v_exact = mu * v.astype(np.float64) - lr * d
    want_p = (p.astype(np.float64) + v_exact).astype(np.float32)
    rule(p, g, v, lr, mu, wd)
    np.testing.assert_array_equal(p, want_p)
    np.testing.assert_array_equal(v, v_exact.astype(np.float32))
