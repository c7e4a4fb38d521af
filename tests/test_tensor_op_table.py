"""Every tensor op of the table has a case here: gradcheck and SymPy on generated inputs.

A new tensor op fails ``test_every_tensor_op_has_a_case`` until it gets a builder below, so an
op is tested the moment it is declared.
"""

import re

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis_counts import examples

import gradflow as gf
from gradflow import OPS, ShapeError, Tensor, check_symbolic, gradcheck

distinct = st.integers(-30, 30).map(lambda v: v / 10)  # 0.1 apart: no near-ties for max


def arr(data, shape):
    return data.draw(hnp.arrays(np.float64, shape, elements=distinct, unique=True))


def weights(shape):
    return np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)


# name -> builder(data) -> (function of the leaves returning a scalar, leaves)
BUILDERS = {
    "matmul": lambda d: (
        lambda a, b: ((a @ b) * weights((2, 4))).sum(),
        [arr(d, (2, 3)), arr(d, (3, 4))],
    ),
    "sum": lambda d: (lambda a: (a.sum(axis=1, keepdims=True) ** 2).sum(), [arr(d, (2, 3))]),
    "mean": lambda d: (lambda a: (a.mean(axis=0) ** 2).sum(), [arr(d, (3, 2))]),
    "reshape": lambda d: (lambda a: (a.reshape(3, 2) * weights((3, 2))).sum(), [arr(d, (2, 3))]),
    "broadcast_to": lambda d: (
        lambda a: (a.broadcast_to((3, 2)) * weights((3, 2))).sum(),
        [arr(d, (1, 2))],
    ),
    "transpose": lambda d: (
        lambda a: (a.transpose(1, 0) * weights((3, 2))).sum(),
        [arr(d, (2, 3))],
    ),
    "getitem": lambda d: (lambda a: (a[[0, 1, 1], :] * weights((3, 3))).sum(), [arr(d, (2, 3))]),
    "concat": lambda d: (
        lambda a, b: (gf.concat([a, b], axis=1) * weights((2, 3))).sum(),
        [arr(d, (2, 1)), arr(d, (2, 2))],
    ),
    "stack": lambda d: (
        lambda a, b: (gf.stack([a, b]) * weights((2, 2))).sum(),
        [arr(d, (2,)), arr(d, (2,))],
    ),
    "max": lambda d: (lambda a: (a.max(axis=1) * weights((2,))).sum(), [arr(d, (2, 3))]),
    "min": lambda d: (
        lambda a: (a.min(axis=(0, 2)) * weights((2,))).sum(),
        [arr(d, (2, 2, 2))],
    ),
    "logsumexp": lambda d: (
        lambda a: (a.logsumexp(axis=0) * weights((3,))).sum(),
        [arr(d, (2, 3))],
    ),
    "softmax": lambda d: (lambda a: (a.softmax(axis=1) * weights((2, 3))).sum(), [arr(d, (2, 3))]),
    "log_softmax": lambda d: (
        lambda a: (a.log_softmax() * weights((2, 3))).sum(),
        [arr(d, (2, 3))],
    ),
    "where": lambda d: (
        lambda a, b: (gf.where(np.array([[True, False, True]]), a, b) * weights((2, 3))).sum(),
        [arr(d, (2, 3)), arr(d, (1, 3))],
    ),
}

TENSOR_OPS = sorted(n for n, op in OPS.items() if not op.elementwise)


def test_every_tensor_op_has_a_case():
    missing = sorted(set(TENSOR_OPS) - set(BUILDERS) - set(EXTERNAL_CASES))
    assert not missing, f"tensor ops without a gradcheck/SymPy case: {missing}"


# Ops registered by other modules (e.g. convolution) may keep their cases in their own test
# files; list the test file here so the table stays complete.
EXTERNAL_CASES: dict[str, str] = {
    "conv1d": "tests/test_nn_conv.py",
    "conv2d": "tests/test_nn_conv.py",
    "maxpool": "tests/test_nn_conv.py",
    "avgpool": "tests/test_nn_conv.py",
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@given(data=st.data())
def test_tensor_op_gradcheck_and_sympy(name, data):
    fn, arrays = BUILDERS[name](data)
    leaves = [Tensor(a, requires_grad=True, label=f"x{k}") for k, a in enumerate(arrays)]
    assert gradcheck(fn, *leaves)
    report = check_symbolic(fn(*leaves))
    assert report.ok, str(report)


# ------------------------------------------ every op with an axis parameter, any axes
# The ops that read ``axis`` (op.axis_kind): numpy/scipy's value for the same call, and the
# Tensor call. A new reduction fails test_every_axis_op_has_a_reference until it gets one.
AXIS_REFERENCE = {
    "sum": lambda a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims),
    "mean": lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims),
    "max": lambda a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims),
    "min": lambda a, axis, keepdims: np.min(a, axis=axis, keepdims=keepdims),
    "logsumexp": lambda a, axis, keepdims: scipy.special.logsumexp(a, axis, keepdims=keepdims),
    "softmax": lambda a, axis, keepdims: scipy.special.softmax(a, axis),
    "log_softmax": lambda a, axis, keepdims: scipy.special.log_softmax(a, axis),
}
AXIS_OPS = sorted(n for n, op in OPS.items() if op.axis_kind)


def _call(t, name, axis, keepdims):
    if OPS[name].axis_kind == "reduce":
        return getattr(t, name)(axis=axis, keepdims=keepdims)
    return getattr(t, name)(axis=axis)


def test_every_axis_op_has_a_reference():
    assert {"sum", "mean", "max", "min", "logsumexp", "softmax"} <= set(AXIS_OPS)
    assert set(AXIS_OPS) == set(AXIS_REFERENCE)


@st.composite
def array_and_axis(draw):
    """A random shape (0 to 4 axes) with distinct values 0.1 apart (no near-ties for max),
    and an axis: None, an int, or a tuple/list of distinct axes, any sign, any order."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3))
    a = draw(hnp.arrays(np.float64, shape, elements=distinct, unique=True))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple", "list"] if ndim else ["none"]))
    if kind == "none":
        return a, None
    signed = lambda k: draw(st.sampled_from([k, k - ndim]))  # noqa: E731
    if kind == "int":
        return a, signed(draw(st.integers(0, ndim - 1)))
    axes = draw(st.permutations(range(ndim)))[: draw(st.integers(1, ndim))]
    axes = [signed(k) for k in axes]
    return a, tuple(axes) if kind == "tuple" else axes


@pytest.mark.parametrize("name", AXIS_OPS)
@settings(max_examples=examples(60), deadline=None)
@given(case=array_and_axis(), keepdims=st.booleans())
def test_any_axes_match_numpy_forward_and_finite_differences(name, case, keepdims):
    a, axis = case
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    if axis is None and OPS[name].axis_kind == "along":
        np_axis = tuple(range(a.ndim))
    t = Tensor(a, requires_grad=True, label="x")
    out = _call(t, name, axis, keepdims)
    # atol: a result near 0 by cancellation (logsumexp([-0.8, -1, -1.7]) = −0.000108) keeps
    # the absolute error of its terms (an ulp of values up to 3), not a relative 1e-12
    want = AXIS_REFERENCE[name](a, np_axis, keepdims)
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-14)
    w = np.linspace(0.5, 1.5, out.size).reshape(out.shape)
    report = gradcheck(lambda x: (_call(x, name, axis, keepdims) * w).sum(), t)
    assert report, str(report)
    assert t.grad is None or t.grad.shape == a.shape


@pytest.mark.parametrize("name", AXIS_OPS)
def test_tuple_axes_agree_with_sympy(name):
    a = np.array([[[0.3, -1.2], [2.0, 0.7]], [[-0.4, 1.1], [0.9, -2.0]]])
    t = Tensor(a, requires_grad=True, label="x")
    for axis in [(0, 2), [2, -3], (-1,)]:
        out = _call(t, name, axis, False)
        w = Tensor(np.linspace(0.5, 1.5, out.size).reshape(out.shape))
        report = check_symbolic((_call(t, name, axis, False) * w).sum())
        assert report.ok, (axis, str(report))


def test_max_and_min_ties_go_to_the_first_element_in_row_major_order():
    """The documented rule (the max-pool rule) for several axes at once: the first winner in
    row-major order over the reduced axes gets the whole gradient."""
    a = np.zeros((2, 2, 2))
    for name, winner in (("max", 1.0), ("min", -1.0)):
        x = a.copy()
        x[0, 1, 1] = x[1, 1, 0] = x[1, 1, 1] = winner  # ties across axes 0 and 2 in column 1
        t = Tensor(x, requires_grad=True)
        getattr(t, name)(axis=(0, 2)).sum().backward()
        want = np.zeros((2, 2, 2))
        want[0, 1, 1] = 1.0  # first of (0,1,1), (1,1,0), (1,1,1)
        want[0, 0, 0] = 1.0  # column 0: all equal, the very first element wins
        np.testing.assert_array_equal(t.grad, want, err_msg=name)


@pytest.mark.parametrize("name", AXIS_OPS)
@pytest.mark.parametrize(
    "shape, axis, problem",
    [
        ((), 0, "axis 0 for shape (): a 0-d tensor has no axes"),
        ((), (0,), "axis (0,) for shape (): a 0-d tensor has no axes"),
        ((2, 3), 2, "axis 2 for shape (2, 3) is out of range (axes -2..1)"),
        ((2, 3), -3, "axis -3 for shape (2, 3) is out of range"),
        ((2, 3), (0, 5), "axis (0, 5) for shape (2, 3): 5 is out of range"),
        ((2, 3), (1, 1), "axis (1, 1) for shape (2, 3): an axis appears twice"),
        ((2, 3), [0, -2], "axis (0, -2) for shape (2, 3): an axis appears twice"),
    ],
)
def test_bad_axes_are_a_shape_error_naming_op_axis_and_shape(name, shape, axis, problem):
    t = Tensor(np.ones(shape), requires_grad=True)
    with pytest.raises(ShapeError) as e:
        _call(t, name, axis, False)
    assert str(e.value).startswith(f"{name}: ") and problem in str(e.value), str(e.value)


def test_zero_d_reduction_without_axis_still_works():
    t = Tensor(2.0, requires_grad=True)
    (t.sum() + t.max() + t.mean() + t.logsumexp()).backward()
    assert t.grad == pytest.approx(4.0)


@pytest.mark.parametrize("name", ["max", "min"])
def test_sympy_form_of_max_and_min_follows_the_tie_rule(name):
    """sp.Max differentiates to Heaviside steps: at a tie SymPy gave the gradient to every
    tied element while the engine gives it to the first, so check_symbolic said MISMATCH."""
    sign = 1.0 if name == "max" else -1.0
    t = Tensor(sign * np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    for axis in (None, 1, (0, 1)):
        report = check_symbolic((getattr(t, name)(axis=axis) * 2.0).sum())
        assert report.ok, (axis, str(report))


def test_shape_rules_live_on_the_op_records():
    """Every op that can grow or must fit its inputs together declares ``Op.shape``; the
    rule's shape is what the op produces, and a mismatch is a ShapeError naming the op."""
    from gradflow import ops as O
    from gradflow.tensor import apply as tensor_apply

    rng = np.random.default_rng(0)
    cases = [
        (O.MATMUL, [(2, 3), (3, 4)], {}),
        (O.MATMUL, [(5, 2, 3), (3,)], {}),
        (O.WHERE, [(2, 1), (1, 3)], {"cond": np.array([True, False, True])}),
        (O.BROADCAST_TO, [(3,)], {"shape": (2, 3)}),
        (O.CONCAT, [(2, 3), (2, 4)], {"axis": 1}),
        (O.STACK, [(2, 3), (2, 3)], {"axis": -1}),
        (O.ADD, [(2, 1), (3,)], {}),
    ]
    for op, shapes, params in cases:
        assert op.shape is not None, op
        xs = [Tensor(rng.normal(size=s)) for s in shapes]
        assert tensor_apply(op, tuple(xs), params).data.shape == op.shape(op, shapes, params)
    bad = [
        (O.MATMUL, [(2, 3), (4, 5)], "inner dimensions 3 and 4"),
        (O.CONCAT, [(2, 3), (3, 4)], "differ outside that axis"),
        (O.STACK, [(2,), (3,)], "stack: shapes"),
        (O.BROADCAST_TO, [(3,)], "cannot be broadcast to"),
        (O.MUL, [(2,), (3,)], "mul: shapes (2,) and (3,)"),
    ]
    for op, shapes, message in bad:
        params = {"axis": 0} if op in (O.CONCAT, O.STACK) else {}
        params = {"shape": (4,)} if op is O.BROADCAST_TO else params
        with pytest.raises(ShapeError, match=re.escape(message)):
            op.shape(op, shapes, params)
    with pytest.raises(TypeError, match="one integer"):
        O.CONCAT.shape(O.CONCAT, [(2,), (2,)], {"axis": (0,)})
