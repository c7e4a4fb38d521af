"""Convolution and pooling ops: an independent loop reference, gradcheck, SymPy, the VJP rules."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradflow.nn as nn
from gradflow import OPS, ShapeError, Tensor, check_symbolic, gradcheck
from gradflow.nn.checks import gradcheck_module


def reference_conv2d(x, w, b, stride, padding):
    """Textbook loops: out[b,o,i,j] = Σ x_pad[b,c,i·s+p,j·s+q] w[o,c,p,q] + bias[o]."""
    sh, sw = stride
    ph, pw = padding
    xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    xp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]] = x
    Co, C, kh, kw = w.shape
    Ho = (xp.shape[2] - kh) // sh + 1
    Wo = (xp.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], Co, Ho, Wo))
    for n in range(x.shape[0]):
        for o in range(Co):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[n, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    out[n, o, i, j] = np.sum(patch * w[o]) + (b[o] if b is not None else 0.0)
    return out


def reference_pool2d(x, k, s, reduce):
    Ho = (x.shape[2] - k[0]) // s[0] + 1
    Wo = (x.shape[3] - k[1]) // s[1] + 1
    out = np.zeros(x.shape[:2] + (Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = reduce(
                x[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]], axis=(2, 3)
            )
    return out


@st.composite
def conv_case(draw, dims=2):
    """Small odd shapes, batch 1 allowed, padding may exceed kernel/2."""
    B = draw(st.integers(1, 2))
    C = draw(st.integers(1, 3))
    Co = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    p = tuple(draw(st.integers(0, 3)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    size = tuple(draw(st.integers(max(1, kk - 2 * pp), 7)) for kk, pp in zip(k, p))
    seed = draw(st.integers(0, 2**16))
    return B, C, Co, k, p, s, size, seed


@given(conv_case())
def test_conv2d_matches_loop_reference_and_gradcheck(case):
    B, C, Co, k, p, s, size, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, C, *size))
    w = rng.normal(size=(Co, C, *k))
    b = rng.normal(size=Co)
    y = nn.conv2d(Tensor(x), Tensor(w), Tensor(b), s, p)
    np.testing.assert_allclose(y.data, reference_conv2d(x, w, b, s, p), atol=1e-12)
    r = gradcheck(
        lambda x, w, b: (nn.conv2d(x, w, b, s, p) ** 2).sum(), Tensor(x), Tensor(w), Tensor(b)
    )
    assert r.ok, str(r)


@given(conv_case(dims=1))
def test_conv1d_is_conv2d_with_height_one(case):
    B, C, Co, k, p, s, size, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(B, C, *size)), rng.normal(size=(Co, C, *k))
    y = nn.conv1d(Tensor(x), Tensor(w), stride=s, padding=p)
    ref = reference_conv2d(x[:, :, None], w[:, :, None], None, (1, s[0]), (0, p[0]))[:, :, 0]
    np.testing.assert_allclose(y.data, ref, atol=1e-12)
    r = gradcheck(
        lambda x, w: (nn.conv1d(x, w, stride=s, padding=p) ** 2).sum(), Tensor(x), Tensor(w)
    )
    assert r.ok, str(r)


def test_input_gradient_is_full_convolution_with_flipped_kernel():
    """Stride 1, no padding: ∂L/∂x = full conv of g with the 180°-rotated kernel (the course's
    remark), computed here with scipy, independently of gradflow's stride tricks."""
    from scipy.signal import convolve2d

    rng = np.random.default_rng(3)
    x = Tensor(rng.normal(size=(1, 1, 5, 6)), requires_grad=True)
    w = rng.normal(size=(1, 1, 3, 2))
    g = rng.normal(size=(1, 1, 3, 5))
    nn.conv2d(x, Tensor(w)).backward(g)
    # convolve2d flips its second argument: full *convolution* of g with w = correlation of
    # g with the flipped kernel, the rule documented in gradflow.ops_conv
    np.testing.assert_allclose(x.grad[0, 0], convolve2d(g[0, 0], w[0, 0], mode="full"), atol=1e-12)


@given(st.data())
def test_pools_match_reference_and_gradcheck(data):
    k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    size = (data.draw(st.integers(k[0], 7)), data.draw(st.integers(k[1], 7)))
    B, C = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    x = np.random.default_rng(data.draw(st.integers(0, 999))).normal(size=(B, C, *size))
    np.testing.assert_allclose(
        nn.max_pool2d(Tensor(x), k, s).data, reference_pool2d(x, k, s, np.max)
    )
    np.testing.assert_allclose(
        nn.avg_pool2d(Tensor(x), k, s).data, reference_pool2d(x, k, s, np.mean)
    )
    for pool in (nn.max_pool2d, nn.avg_pool2d):
        r = gradcheck(lambda x: (pool(x, k, s) ** 2).sum(), Tensor(x))
        assert r.ok, (pool.__name__, str(r))
    x1 = Tensor(x[:, :, 0])
    r = gradcheck(lambda x: (nn.max_pool1d(x, k[1], s[1]) ** 2).sum(), x1)
    assert r.ok, str(r)


def test_maxpool_routes_gradient_to_winner_and_avgpool_spreads_evenly():
    x = Tensor(np.array([[[[1.0, 5.0], [3.0, 2.0]]]]), requires_grad=True)
    nn.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 1], [0, 0]])
    x.zero_grad()
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    nn.avg_pool2d(x, 2).backward(np.full((1, 1, 2, 2), 8.0))
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 4, 4), 8.0 / 4))


def test_overlapping_max_windows_accumulate_at_a_shared_winner():
    x = Tensor(np.array([[[0.0, 9.0, 1.0]]]), requires_grad=True)
    nn.max_pool1d(x, 2, stride=1).sum().backward()  # both windows pick the 9
    np.testing.assert_array_equal(x.grad, [[[0.0, 2.0, 0.0]]])


@pytest.mark.parametrize(
    "build",
    [
        lambda x, w: nn.conv1d(x, w, stride=2, padding=1),
        lambda x, w: nn.max_pool1d(x, 2, 1) * w[0, 0, 0],
        lambda x, w: nn.avg_pool1d(x, 3, 1) * w[0, 0, 0],
    ],
    ids=["conv1d", "maxpool", "avgpool"],
)
def test_ops_agree_with_sympy(build):
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(1, 2, 4)), requires_grad=True, label="x")
    w = Tensor(rng.normal(size=(2, 2, 2)), requires_grad=True, label="w")
    report = check_symbolic((build(x, w) ** 2).sum())
    assert report.ok, str(report)


def test_conv2d_agrees_with_sympy():
    rng = np.random.default_rng(1)
    x = Tensor(rng.normal(size=(1, 1, 3, 3)), requires_grad=True, label="x")
    w = Tensor(rng.normal(size=(1, 1, 2, 2)), requires_grad=True, label="w")
    y = nn.conv2d(x, w, stride=(1, 2), padding=(1, 0))
    y2 = nn.max_pool2d(y, (2, 1))
    report = check_symbolic((y2 * y2).sum())
    assert report.ok, str(report)


def test_ops_are_in_the_table_with_vjp_and_docs():
    for name in ("conv1d", "conv2d", "maxpool", "avgpool"):
        op = OPS[name]
        assert not op.elementwise and op.vjp is not None and op.vjp_text and op.doc
    assert "flipped kernel" in OPS["conv2d"].doc


@given(conv_case())
def test_conv_layers_gradcheck_with_parameters(case):
    B, C, Co, k, p, s, size, seed = case
    layer = nn.Conv2d(C, Co, k, stride=s, padding=p, seed=seed)
    layer.bias.data[:] = np.random.default_rng(seed).normal(size=Co)
    x = Tensor(np.random.default_rng(seed + 1).normal(size=(B, C, *size)))
    assert gradcheck_module(layer, x).ok
    assert layer.output_shape(size) == layer(x).shape[1:]


def test_layer_config_parameters_and_shapes():
    c = nn.Conv1d(3, 4, 5, stride=2, padding=1)
    assert c.weight.shape == (4, 3, 5) and c.bias.shape == (4,)
    assert c.config() == {
        "in_channels": 3,
        "out_channels": 4,
        "kernel_size": 5,
        "stride": 2,
        "padding": 1,
        "bias": True,
    }
    c2 = nn.Conv2d(1, 2, (3, 2), bias=False)
    assert c2.weight.shape == (2, 1, 3, 2) and c2.bias is None
    assert nn.MaxPool2d(2).config() == {"kernel_size": (2, 2), "stride": (2, 2)}
    assert nn.Flatten()(Tensor(np.zeros((2, 3, 4, 5)))).shape == (2, 60)


def test_bad_shapes_name_the_op_and_shapes():
    with pytest.raises(ShapeError, match=r"conv2d.*\(2, 3, 5, 5\).*\(4, 2, 3, 3\)"):
        nn.conv2d(Tensor(np.zeros((2, 3, 5, 5))), Tensor(np.zeros((4, 2, 3, 3))))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        nn.Conv1d(1, 1, 5)(Tensor(np.zeros((1, 1, 3))))
    with pytest.raises(ShapeError, match="maxpool2d"):
        nn.MaxPool2d(2)(Tensor(np.zeros((1, 4, 4))))
