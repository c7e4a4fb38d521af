"""Tensor ops: gradients against finite differences and SymPy for generated shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradflow as gf
from gradflow import ShapeError, Tensor, check_symbolic, gradcheck

small = st.integers(1, 4)
floats = st.floats(-2, 2, allow_nan=False, allow_infinity=False)


def arrays(shape):
    return hnp.arrays(np.float64, shape, elements=floats)


@st.composite
def broadcast_pair(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    other = [d if draw(st.booleans()) else 1 for d in shape]
    other = other[draw(st.integers(0, len(other) - 1)) :]
    if draw(st.booleans()):
        shape, other = tuple(other), shape
    return draw(arrays(tuple(shape))), draw(arrays(tuple(other)))


@given(pair=broadcast_pair(), op=st.sampled_from(["add", "sub", "mul", "maximum"]))
def test_broadcasting_gradients_reduce_to_input_shape(pair, op):
    a, b = pair
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    f = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "maximum": lambda x, y: x.maximum(y),
    }[op]
    (f(ta, tb) * 1.5).sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    if op != "maximum":  # ties make max non-differentiable
        assert gradcheck(lambda x, y: (f(x, y) * 1.5).sum(), ta, tb)


@given(m=small, k=small, n=small, data=st.data())
def test_matmul_gradcheck_and_sympy(m, k, n, data):
    a = Tensor(data.draw(arrays((m, k))), requires_grad=True, label="A")
    b = Tensor(data.draw(arrays((k, n))), requires_grad=True, label="B")
    assert gradcheck(lambda x, y: (x @ y).tanh().sum(), a, b)
    assert check_symbolic(((a @ b) ** 2).sum()).ok


@given(v=arrays((3,)), m=arrays((2, 3)))
def test_matmul_with_vectors(v, m):
    tv, tm = Tensor(v, requires_grad=True), Tensor(m, requires_grad=True)
    assert gradcheck(lambda x, y: (y @ x).sum(), tv, tm)
    assert gradcheck(lambda x: x @ x, tv)


REDUCTIONS = {
    "sum": lambda x, ax: x.sum(axis=ax),
    "sum_keep": lambda x, ax: x.sum(axis=ax, keepdims=True),
    "mean": lambda x, ax: x.mean(axis=ax),
    "max": lambda x, ax: x.max(axis=ax),
    "logsumexp": lambda x, ax: x.logsumexp(axis=ax),
    "softmax": lambda x, ax: x.softmax(axis=-1 if ax is None else ax),
    "log_softmax": lambda x, ax: x.log_softmax(axis=-1 if ax is None else ax),
}


@pytest.mark.parametrize("name", REDUCTIONS)
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
        elements=st.integers(-30, 30).map(lambda v: v / 10),
        unique=True,
    ),
    data=st.data(),
)  # distinct values 0.1 apart: no near-ties for max
def test_reductions_gradcheck_and_sympy(name, x, data):
    ax = data.draw(st.one_of(st.none(), st.integers(0, x.ndim - 1)))
    f = REDUCTIONS[name]
    shape = f(Tensor(x), ax).shape
    w = np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)
    t = Tensor(x, requires_grad=True, label="x")
    assert gradcheck(lambda a: (f(a, ax) * w).sum(), t)
    if x.size <= 8:
        assert check_symbolic((f(t, ax) * w).sum()).ok


@given(x=arrays((3, 4)), data=st.data())
def test_reshape_transpose_getitem(x, data):
    t = Tensor(x, requires_grad=True, label="x")
    w = np.arange(12.0).reshape(4, 3)
    assert gradcheck(lambda a: (a.T * w).sum(), t)
    assert gradcheck(lambda a: (a.reshape(2, 6) ** 2).sum(), t)
    assert gradcheck(lambda a: (a.transpose(1, 0).reshape(12) * w.ravel()).sum(), t)
    idx = data.draw(
        st.sampled_from(
            [
                (slice(None), 1),
                (slice(1, 3),),
                ([0, 0, 2], [1, 1, 3]),
                (Ellipsis, slice(None, None, 2)),
            ]
        )
    )
    assert gradcheck(lambda a: (a[idx] ** 2).sum(), t)
    assert check_symbolic((t[idx] ** 2).sum()).ok


@given(a=arrays((2, 3)), b=arrays((1, 3)), c=arrays((2, 3)))
def test_concat_stack_where_clip(a, b, c):
    ta, tb, tc = (Tensor(v, requires_grad=True) for v in (a, b, c))
    w = np.arange(1.0, 10.0).reshape(3, 3)
    assert gradcheck(lambda x, y: (gf.concat([x, y]) * w).sum(), ta, tb)
    assert gradcheck(lambda x, y: (gf.stack([x, y], axis=1) ** 2).sum(), ta, tc)
    cond = a > 0
    assert gradcheck(lambda x, y: (gf.where(cond, x, y) * c).sum(), ta, tb)
    assert check_symbolic((gf.where(cond, ta, tb) * c).sum()).ok
    assert check_symbolic((gf.concat([ta, tb], axis=0) ** 2).sum()).ok


def test_float32_stays_float32():
    t = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    out = ((t * 2.0).tanh() @ np.ones((3, 1))).sum()
    out.backward()
    assert t.data.dtype == np.float32 and t.grad.dtype == np.float32


def test_shape_errors_name_the_op_and_both_shapes():
    with pytest.raises(ShapeError, match=r"matmul \(3, 4\) @ \(5, 2\): inner dimensions 4 and 5"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 2)))
    with pytest.raises(ShapeError, match=r"add: shapes \(3,\) and \(4,\)"):
        Tensor(np.ones(3)) + Tensor(np.ones(4))
    with pytest.raises(ShapeError, match="reshape"):
        Tensor(np.ones(3)).reshape(2, 2)
    with pytest.raises(ShapeError, match="scalar output"):
        Tensor(np.ones(3), requires_grad=True).backward()


def test_unsupported_operand_types_are_named():
    with pytest.raises(TypeError, match="Tensor and str"):
        Tensor([1.0]) + "a"
    with pytest.raises(TypeError, match="Value and str"):
        gf.Value(1.0) * "a"


def test_backward_with_explicit_gradient():
    t = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (t * t).backward(np.array([1.0, 0.0, 2.0]))
    assert np.allclose(t.grad, [2.0, 0.0, 12.0])


@given(x=arrays((2, 3, 4)), perm=st.permutations([0, 1, 2]), signs=st.tuples(*[st.booleans()] * 3))
def test_transpose_with_negative_axes_sends_the_gradient_back_in_order(x, perm, signs):
    """transpose(-1, 0) used to invert with argsort((-1, 0)) = (0, 1): a (2, 3) input got a
    (3, 2) gradient."""
    axes = tuple(a - 3 if neg else a for a, neg in zip(perm, signs))
    t = Tensor(x, requires_grad=True)
    out_shape = tuple(x.shape[a] for a in perm)
    w = np.linspace(0.5, 1.5, 24).reshape(out_shape)
    assert gradcheck(lambda a: (a.transpose(*axes) * w).sum(), t)
    assert t.grad is None or t.grad.shape == x.shape


def test_element_limit_checks_result_sizes_before_computing():
    from gradflow.tensor import element_limit

    a, b = Tensor(np.ones((30, 1))), Tensor(np.ones((1, 30)))
    with element_limit(400):
        for make, size in [
            (lambda: a * b, 900),
            (lambda: a @ b, 900),
            (lambda: a.broadcast_to((30, 30)), 900),
            (lambda: gf.where(np.ones((30, 30), bool), a, b), 900),
            (lambda: gf.concat([a.reshape(30), b.reshape(30)] * 7), 420),
        ]:
            with pytest.raises(ShapeError, match=f"would make {size} elements"):
                make()
        assert (a.reshape(1, 30) * b).shape == (1, 30)  # within the limit
        with element_limit(1000):  # nesting never raises the limit
            with pytest.raises(ShapeError, match=r"\(limit 400\)"):
                a * b
    assert (a * b).shape == (30, 30)  # no limit outside the block
