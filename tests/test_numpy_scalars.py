"""micrograd accepts numpy scalars on either side of every operator; so do Value and Tensor
(and numpy arrays on the left of a Tensor): the result is a graph node with the same value
and gradient as with the Python number."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow import Tensor, Value

OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]
NUMPY_TYPES = [np.int8, np.int32, np.int64, np.uint8, np.float16, np.float32, np.float64]


@pytest.mark.parametrize("kind", NUMPY_TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", OPERATORS, ids=lambda f: f.__name__)
@given(x=st.floats(0.5, 3.0), k=st.integers(1, 3))
def test_numpy_scalars_work_on_both_sides_of_every_operator(kind, fn, x, k):
    for left in (True, False):
        node, same = Value(x), Value(x)
        got = fn(node, kind(k)) if left else fn(kind(k), node)
        want = fn(same, k) if left else fn(k, same)
        assert isinstance(got, Value)
        got.backward()
        want.backward()
        assert got.data == pytest.approx(want.data, rel=1e-12)
        assert node.grad == pytest.approx(same.grad, rel=1e-12)


@pytest.mark.parametrize("kind", NUMPY_TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", OPERATORS, ids=lambda f: f.__name__)
def test_numpy_scalars_and_arrays_on_the_left_of_a_tensor(kind, fn):
    t = Tensor([0.5, 2.0], requires_grad=True)
    for other in (kind(2), np.array([kind(2), kind(3)])):
        got = fn(other, t)
        assert isinstance(got, Tensor), type(got)
        np.testing.assert_allclose(got.data, fn(np.asarray(other, float), t.data), rtol=1e-6)


def test_a_numpy_integer_exponent_reads_as_an_integer():
    y = Value(2.0, label="x") ** np.int64(3)
    assert y._params["n"] == 3 and type(y._params["n"]) is int


@pytest.mark.parametrize("flag", [True, np.bool_(True)])
def test_booleans_are_refused(flag):
    with pytest.raises(TypeError, match="Value and"):
        Value(1.0) * flag
