"""Every loss against an independent numpy formula, gradcheck, and stability at extremes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow import ShapeError, Tensor, gradcheck
from gradflow.nn import losses as L

seeds = st.integers(0, 2**16)
dims = st.tuples(st.integers(1, 4), st.integers(1, 4))


def _lse(z):
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def check(loss_fn, pred, target, want, **kw):
    got = loss_fn(Tensor(pred), target, **kw)
    assert got.shape == () and got.item() == pytest.approx(want, rel=1e-10, abs=1e-12)
    r = gradcheck(lambda p: loss_fn(p, target, **kw), Tensor(pred))
    assert r.ok, str(r)


@given(shape=dims, seed=seeds)
def test_regression_losses(shape, seed):
    rng = np.random.default_rng(seed)
    p, t = rng.normal(size=shape), rng.normal(size=shape)
    p = np.where(np.abs(p - t) < 1e-3, p + 0.1, p)  # keep |·| off its kink for finite differences
    check(L.mse, p, t, np.mean((p - t) ** 2))
    check(L.mae, p, t, np.mean(np.abs(p - t)))
    check(L.rmse, p, t, np.sqrt(np.mean((p - t) ** 2)))
    check(L.sse, p, t, np.sum((p - t) ** 2) / shape[0])


def test_sse_is_the_course_cost_of_one_example():
    a = np.array([[0.2, 0.9, 0.1]])
    y = np.array([[0.0, 1.0, 0.0]])
    assert L.sse(Tensor(a), y).item() == pytest.approx(0.04 + 0.01 + 0.01)


@given(shape=dims, seed=seeds)
def test_binary_cross_entropies(shape, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3, size=shape)
    t = rng.integers(0, 2, size=shape).astype(float)
    p = 1 / (1 + np.exp(-z))
    want = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    # on probabilities, finite differences need p away from 0 and 1 (1/p blows up there)
    pc = 1 / (1 + np.exp(-np.clip(z, -4, 4)))
    check(L.bce, pc, t, -np.mean(t * np.log(pc) + (1 - t) * np.log(1 - pc)))
    check(L.bce_logits, z, t, want)
    soft = rng.uniform(size=shape)  # soft targets are fine for BCE too
    check(L.bce_logits, z, soft, -np.mean(soft * np.log(p) + (1 - soft) * np.log(1 - p)))


def test_bce_logits_is_stable_for_huge_logits():
    z = Tensor(np.array([1000.0, -1000.0, 1000.0]), requires_grad=True)
    loss = L.bce_logits(z, [1.0, 0.0, 0.0])
    assert loss.item() == pytest.approx(1000.0 / 3)
    loss.backward()
    np.testing.assert_allclose(z.grad, [0.0, 0.0, 1 / 3])  # (σ(z) − t)/N


@given(b=st.integers(1, 4), c=st.integers(2, 5), seed=seeds, eps=st.sampled_from([0.0, 0.1, 0.3]))
def test_cross_entropy_nll_and_label_smoothing(b, c, seed, eps):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2, size=(b, c))
    y = rng.integers(0, c, size=b)
    logp = z - _lse(z)[:, None]
    q = np.full((b, c), eps / c)
    q[np.arange(b), y] += 1 - eps
    check(L.cross_entropy, z, y, -np.mean(np.sum(q * logp, axis=1)), label_smoothing=eps)
    check(L.nll, logp, y, -np.mean(logp[np.arange(b), y]))
    soft = rng.dirichlet(np.ones(c), size=b)
    check(L.cross_entropy, z, soft, -np.mean(np.sum(soft * logp, axis=1)))


def test_cross_entropy_is_stable_and_has_softmax_minus_onehot_gradient():
    z = Tensor(np.array([[1000.0, -1000.0, 0.0]]), requires_grad=True)
    loss = L.cross_entropy(z, [1])
    assert loss.item() == pytest.approx(2000.0)
    loss.backward()
    np.testing.assert_allclose(z.grad, [[1.0, -1.0, 0.0]], atol=1e-12)


@given(b=st.integers(1, 4), d=st.integers(1, 3), seed=seeds, full=st.booleans())
def test_gaussian_nll_both_parameterisations(b, d, seed, full):
    rng = np.random.default_rng(seed)
    mu, log_var, y = rng.normal(size=(b, d)), rng.normal(size=(b, d)), rng.normal(size=(b, d))
    var = np.exp(log_var)
    per = 0.5 * (np.log(var) + (y - mu) ** 2 / var) + (0.5 * np.log(2 * np.pi) if full else 0.0)
    want = per.sum() / b
    check(L.gaussian_nll, np.concatenate([mu, log_var], axis=1), y, want, full=full)
    got = L.gaussian_nll(Tensor(mu), y, var=Tensor(var), full=full)
    assert got.item() == pytest.approx(want)
    r = gradcheck(lambda m, v: L.gaussian_nll(m, y, var=v, full=full), Tensor(mu), Tensor(var))
    assert r.ok, str(r)


@given(b=st.integers(1, 4), c=st.integers(2, 5), seed=seeds)
def test_kl_divergence(b, c, seed):
    rng = np.random.default_rng(seed)
    t = rng.dirichlet(np.ones(c), size=b)
    t[0, 0] = 0.0  # 0·log 0 = 0
    t[0] /= t[0].sum()
    z = rng.normal(size=(b, c))
    logp = z - _lse(z)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t > 0, t * (np.log(t) - logp), 0.0)
    check(L.kl_div, logp, t, terms.sum() / b)
    same = rng.dirichlet(np.ones(c), size=b)
    assert L.kl_div(Tensor(np.log(same)), same).item() == pytest.approx(0.0, abs=1e-12)


@given(b=st.integers(1, 5), seed=seeds, margin=st.sampled_from([0.0, 0.5, 1.0]))
def test_margin_ranking_and_hinge(b, seed, margin):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(b, 2))
    y = rng.choice([-1.0, 1.0], size=b)
    s[np.abs(-y * (s[:, 0] - s[:, 1]) + margin) < 1e-3, 0] += 0.1  # off the hinge's kink
    want = np.mean(np.maximum(0, -y * (s[:, 0] - s[:, 1]) + margin))
    check(L.margin_ranking, s, y, want, margin=margin)
    pair = L.margin_ranking((Tensor(s[:, 0]), Tensor(s[:, 1])), y, margin=margin)
    assert pair.item() == pytest.approx(want)
    score = s[:, 0]
    score = np.where(np.abs(1 - y * score) < 1e-3, score + 0.1, score)
    check(L.hinge, score, y, np.mean(np.maximum(0, 1 - y * score)))


@given(b=st.integers(1, 4), c=st.integers(2, 5), seed=seeds)
def test_multiclass_hinge(b, c, seed):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(b, c))
    y = rng.integers(0, c, size=b)
    margins = s - s[np.arange(b), y][:, None] + 1.0
    s = np.where(np.abs(margins) < 1e-3, s + 0.1, s)
    margins = np.maximum(0, s - s[np.arange(b), y][:, None] + 1.0)
    margins[np.arange(b), y] = 0.0
    check(L.hinge, s, y, margins.sum() / b)


def test_registry_names_and_errors():
    assert set(L.LOSSES) == {
        "mse", "mae", "rmse", "sse", "bce", "bce_logits", "cross_entropy", "nll",
        "gaussian_nll", "kl_div", "margin_ranking", "hinge", "perceptron", "adaline",
    }  # fmt: skip
    assert L.get_loss("mse") is L.mse
    with pytest.raises(ValueError, match="unknown loss 'mse2'"):
        L.get_loss("mse2")
    with pytest.raises(ShapeError, match=r"mse.*\(2, 3\).*\(3, 2\)"):
        L.mse(Tensor(np.zeros((2, 3))), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        L.cross_entropy(Tensor(np.zeros((2, 3))), [0, 3])
    with pytest.raises(ShapeError, match="cross_entropy"):
        L.cross_entropy(Tensor(np.zeros((2, 3))), [0, 1, 2])
    with pytest.raises(ValueError, match="−1 or \\+1"):
        L.hinge(Tensor(np.zeros(2)), [0, 1])
