"""Activation modules, Dropout, BatchNorm, Residual and attention: semantics and gradients."""

import inspect
import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import erf

import gradflow.nn as nn
from gradflow import OPS, ShapeError, Tensor
from gradflow.nn import activation
from gradflow.nn.checks import gradcheck_module
from gradflow.numerics import ARRAY
from gradflow.ops import ops_with_role

shapes = st.tuples(st.integers(1, 4), st.integers(1, 5))
seeds = st.integers(0, 2**16)


def away_from_zero(shape, seed):
    """Inputs that keep finite differences off the kinks of the ReLU family."""
    x = np.random.default_rng(seed).normal(size=shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)


# Independent numpy formulas for each activation (not the library's code).
def _sig(x):
    return 1 / (1 + np.exp(-x))


FORMULAS = {
    nn.ReLU: lambda x: np.maximum(x, 0),
    nn.Step: lambda x: np.where(x > 0, 1.0, 0.0),
    nn.LeakyReLU: lambda x: np.where(x > 0, x, 0.01 * x),
    nn.ELU: lambda x: np.where(x > 0, x, np.exp(x) - 1),
    nn.SELU: lambda x: (
        1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1))
    ),
    nn.GELU: lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
    nn.GELUApprox: lambda x: x * _sig(1.702 * x),
    nn.Sigmoid: _sig,
    nn.Tanh: np.tanh,
    nn.Softplus: lambda x: np.log1p(np.exp(x)),
    nn.Swish: lambda x: x * _sig(x),
    nn.SiLU: lambda x: x * _sig(x),
    nn.Mish: lambda x: x * np.tanh(np.log1p(np.exp(x))),
    nn.PReLU: lambda x: np.where(x > 0, x, 0.25 * x),
    nn.Identity: lambda x: x,
    nn.Softmax: lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    nn.LogSoftmax: lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
}


def test_every_activation_op_of_the_table_has_a_module():
    assert set(nn.ACTIVATIONS) == {op.name for op in ops_with_role("activation")}
    for name, cls in nn.ACTIVATIONS.items():
        assert name in OPS and cls in FORMULAS


@pytest.mark.parametrize("name", sorted(set(nn.ACTIVATIONS) - {"swish"}))
def test_activation_modules_made_from_the_table_are_ordinary_classes(name):
    cls = nn.ACTIVATIONS[name]
    op = OPS[name]
    # public, importable under its own name (pickle finds it), applies exactly its op
    assert getattr(nn, cls.__name__) is cls is getattr(activation, cls.__name__)
    assert cls.__module__ == "gradflow.nn.activation" and cls.__qualname__ == cls.__name__
    assert cls.op_name == name and cls.__doc__ and issubclass(cls, nn.Module)
    # the constructor takes the op's parameters, with the op's defaults, by name or position
    params = inspect.signature(cls).parameters
    assert {k: p.default for k, p in params.items()} == op.params
    m = cls(*[v / 2 for v in op.params.values()])
    assert m.config() == {k: v / 2 for k, v in op.params.items()}
    back = pickle.loads(pickle.dumps(m))
    assert isinstance(back, cls) and back.config() == m.config()
    x = np.linspace(-2, 2, 7)
    expected = op.forward(ARRAY, x, **m.config())
    np.testing.assert_allclose(back(Tensor(x)).data, expected, rtol=1e-12)
    with pytest.raises(TypeError):
        cls(*range(len(op.params) + 1))


def test_activation_classes_keep_their_names_and_docstrings():
    assert [nn.ACTIVATIONS[n].__name__ for n in ("relu", "gelu_approx", "leaky_relu")] == [
        "ReLU",
        "GELUApprox",
        "LeakyReLU",
    ]
    assert nn.ReLU.__doc__ == "max(0, x)." and nn.Sigmoid.__doc__ == "1/(1 + e⁻ˣ)."
    assert nn.LeakyReLU().config() == {"alpha": 0.01} and nn.ReLU().config() == {}


@pytest.mark.parametrize("cls", list(FORMULAS), ids=lambda c: c.__name__)
@given(shape=shapes, seed=seeds)
def test_activation_modules_match_formula_and_gradcheck(cls, shape, seed):
    x = away_from_zero(shape, seed)
    m = cls()
    np.testing.assert_allclose(m(Tensor(x)).data, FORMULAS[cls](x), rtol=1e-10, atol=1e-12)
    assert gradcheck_module(m, Tensor(x)).ok


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3)), seed=seeds)
def test_prelu_per_channel_and_learnable_swish_gradcheck(shape, seed):
    x = Tensor(away_from_zero(shape, seed))
    p = nn.PReLU(num=shape[1])
    p.weight.data[:] = np.linspace(0.1, 0.4, shape[1])
    assert gradcheck_module(p, x).ok
    s = nn.Swish(beta=1.5, learnable=True)
    assert [n for n, _ in s.named_parameters()] == ["beta"]
    assert gradcheck_module(s, x).ok
    np.testing.assert_allclose(s(x).data, x.data * _sig(1.5 * x.data))


def test_prelu_slope_gradient_is_sum_of_negative_inputs():
    p = nn.PReLU()
    x = Tensor(np.array([[-2.0, 3.0, -0.5]]))
    p(x).sum().backward()
    assert p.weight.grad[0] == pytest.approx(-2.5)


def test_rrelu_random_in_training_mean_slope_in_eval():
    r = nn.RReLU(lower=0.1, upper=0.3, seed=0)
    x = Tensor(-np.ones((200, 50)), requires_grad=True)
    y = r(x)
    slopes = -y.data
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.04
    y.sum().backward()
    np.testing.assert_allclose(x.grad, slopes)  # the gradient is the slope that was drawn
    r.eval()
    np.testing.assert_allclose(r(Tensor([-2.0, 2.0])).data, [-0.4, 2.0])


def test_dropout_inverted_eval_identity_and_mc():
    d = nn.Dropout(0.25, seed=1)
    x = Tensor(np.ones((400, 100)))
    y = d(x).data
    assert set(np.unique(y)) <= {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # inverted: expectation preserved
    d.eval()
    assert d(x) is x
    mc = nn.Dropout(0.5, mc=True, seed=2).eval()
    a, b = mc(x).data, mc(x).data
    assert (a == 0).any() and not np.array_equal(a, b)
    with pytest.raises(ValueError):
        nn.Dropout(1.0)


def test_dropout_is_deterministic_by_seed_and_gradient_follows_the_mask():
    x = Tensor(np.ones((5, 6)), requires_grad=True)
    y1 = nn.Dropout(0.5, seed=7)(x)
    y2 = nn.Dropout(0.5, seed=7)(Tensor(np.ones((5, 6))))
    np.testing.assert_array_equal(y1.data, y2.data)
    y1.sum().backward()
    np.testing.assert_array_equal(x.grad, y1.data)


# ----------------------------------------------------------------------------- BatchNorm


@given(
    shape=st.sampled_from([(3, 4), (1, 2, 5), (2, 3, 1), (2, 2, 3, 3), (1, 3, 2, 1)]),
    seed=seeds,
)
def test_batchnorm_train_and_eval_gradcheck(shape, seed):
    bn = nn.BatchNorm2d(shape[1]) if len(shape) == 4 else nn.BatchNorm1d(shape[1])
    rng = np.random.default_rng(seed)
    bn.weight.data[:] = rng.normal(size=shape[1])
    bn.bias.data[:] = rng.normal(size=shape[1])
    x = Tensor(rng.normal(size=shape) * 2 + 1)
    assert gradcheck_module(bn, x).ok
    bn.running_var[:] = rng.uniform(0.5, 2, size=shape[1])
    bn.eval()
    assert gradcheck_module(bn, x).ok


def test_batchnorm_training_statistics_and_running_averages():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(64, 3, 4, 4))
    bn = nn.BatchNorm2d(3, momentum=0.1)
    y = bn(Tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)  # biased var normalises
    mean = x.mean(axis=(0, 2, 3))
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * unbiased)
    bn.eval()
    x1 = rng.normal(size=(1, 3, 4, 4))
    want = (x1 - bn.running_mean.reshape(1, 3, 1, 1)) / np.sqrt(
        bn.running_var.reshape(1, 3, 1, 1) + 1e-5
    )
    np.testing.assert_allclose(bn(Tensor(x1)).data, want)
    before = bn.running_mean.copy()
    bn(Tensor(x1))
    np.testing.assert_array_equal(bn.running_mean, before)  # eval leaves the buffers alone


def test_batchnorm_eval_output_does_not_depend_on_the_batch_but_train_does():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm1d(2)
    for _ in range(5):
        bn(Tensor(rng.normal(size=(8, 2))))
    a, b = rng.normal(size=(1, 2)), rng.normal(size=(7, 2))
    both = np.concatenate([a, b])
    assert not np.allclose(bn(Tensor(both)).data[:1], bn(Tensor(np.concatenate([a, a]))).data[:1])
    bn.eval()
    np.testing.assert_allclose(bn(Tensor(both)).data[:1], bn(Tensor(a)).data)


def test_batchnorm_state_dict_holds_buffers_and_errors_are_clear():
    bn = nn.BatchNorm1d(3)
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var"}
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\).*\(2, 4\)"):
        bn(Tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="more than one value"):
        bn(Tensor(np.zeros((1, 3))))


# -------------------------------------------------------------- residual and attention


@given(shape=shapes, seed=seeds)
def test_residual_adds_the_skip(shape, seed):
    block = nn.Sequential(nn.Linear(shape[1], shape[1], seed=seed), nn.Tanh())
    r = nn.Residual(block)
    x = Tensor(np.random.default_rng(seed).normal(size=shape))
    np.testing.assert_allclose(r(x).data, x.data + block(x).data)
    assert gradcheck_module(r, x).ok
    with pytest.raises(ShapeError, match="same shape"):
        nn.Residual(nn.Linear(shape[1], shape[1] + 1))(x)


def numpy_attention(q, k, v):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ v


@given(
    b=st.integers(1, 2), tq=st.integers(1, 4), tk=st.integers(1, 4), d=st.integers(1, 3), seed=seeds
)
def test_scaled_dot_product_attention_formula_and_gradcheck(b, tq, tk, d, seed):
    from gradflow import gradcheck

    rng = np.random.default_rng(seed)
    q, k, v = rng.normal(size=(b, tq, d)), rng.normal(size=(b, tk, d)), rng.normal(size=(b, tk, 2))
    out = nn.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v))
    np.testing.assert_allclose(out.data, numpy_attention(q, k, v), atol=1e-12)
    w = rng.normal(size=out.shape)
    f = lambda q, k, v: (nn.scaled_dot_product_attention(q, k, v) * Tensor(w)).sum()  # noqa: E731
    assert gradcheck(f, Tensor(q), Tensor(k), Tensor(v)).ok


@given(t=st.integers(1, 4), seed=seeds, causal=st.booleans())
def test_self_attention_gradcheck_and_causal_mask(t, seed, causal):
    sa = nn.SelfAttention(3, d_k=2, seed=seed, causal=causal)
    x = Tensor(np.random.default_rng(seed).normal(size=(2, t, 3)))
    assert gradcheck_module(sa, x).ok
    if causal:  # position 0 may only see itself: changing later positions leaves it alone
        x2 = x.data.copy()
        x2[:, 1:] += 1.0
        np.testing.assert_allclose(sa(x).data[:, 0], sa(Tensor(x2)).data[:, 0])


def test_attention_weights_rows_sum_to_one():
    rng = np.random.default_rng(0)
    q = Tensor(rng.normal(size=(3, 4)))
    _, w = nn.scaled_dot_product_attention(q, q, q, return_weights=True)
    np.testing.assert_allclose(w.data.sum(-1), 1.0)
    with pytest.raises(ShapeError, match="attention"):
        nn.scaled_dot_product_attention(q, Tensor(np.zeros((4, 5))), q)


# --------------------------------------------------------------------- module niceties


def test_repr_counts_parameters_and_state_dict_round_trips():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten())
    text = repr(m)
    assert "Conv2d(in_channels=1, out_channels=2" in text and "# 20 params" in text
    assert "# 24 params" in text.splitlines()[-1]
    sd = m.state_dict()
    m2 = nn.Sequential(nn.Conv2d(1, 2, 3, seed=5), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten())
    m2.load_state_dict(sd)
    for k, v in m2.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    sd["0.weight"] = np.zeros((2, 1, 2, 2))
    with pytest.raises(ValueError, match=r"0\.weight.*\(2, 1, 3, 3\).*\(2, 1, 2, 2\)"):
        m2.load_state_dict(sd)


@given(shape=shapes, out=st.integers(1, 4), seed=seeds, bias=st.booleans())
def test_linear_and_flatten_gradcheck(shape, out, seed, bias):
    x = Tensor(np.random.default_rng(seed).normal(size=shape))
    lin = nn.Linear(shape[1], out, bias=bias, seed=seed)
    assert gradcheck_module(lin, x).ok
    x4 = Tensor(np.random.default_rng(seed).normal(size=(shape[0], 2, 1, shape[1])))
    assert gradcheck_module(nn.Sequential(nn.Flatten(), nn.Linear(2 * shape[1], out)), x4).ok


@pytest.mark.parametrize(
    "layer,shape",
    [
        (nn.MaxPool1d(2), (1, 2, 5)),
        (nn.AvgPool1d(3, stride=2), (2, 1, 7)),
        (nn.MaxPool2d((2, 3), stride=1), (1, 2, 3, 5)),
        (nn.AvgPool2d(2), (2, 1, 5, 4)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else str(v),
)
def test_pool_modules_gradcheck(layer, shape):
    x = Tensor(np.random.default_rng(0).permutation(np.prod(shape)).reshape(shape) / 7.0)
    assert gradcheck_module(layer, x).ok


def test_float32_stays_float32_through_conv_pool_and_batchnorm():
    x = Tensor(np.ones((2, 1, 6, 6), dtype=np.float32))
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, dtype=np.float32), nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Flatten()
    )
    y = net(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert net[0].weight.grad.dtype == np.float32
