"""``nn.Reshape`` on the graph engine: each sample gets the requested shape (one -1 inferred),
the batch axis stays, the gradient is reshaped back, and misfits name both shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow import Tensor, nn
from gradflow.errors import ShapeError
from gradflow.nn.shape import per_sample_shape

sample_shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@given(batch=st.integers(1, 4), before=sample_shapes, after=sample_shapes, seed=st.integers(0, 99))
def test_reshape_keeps_the_batch_axis_and_the_values(batch, before, after, seed):
    """Any per-sample shape with the same number of values; the output equals numpy's
    row-major reshape, and a -1 in any position is inferred."""
    values = int(np.prod(before))
    if int(np.prod(after)) != values:
        after = (values,)
    x = np.random.default_rng(seed).normal(size=(batch, *before))
    y = nn.Reshape(*after)(Tensor(x))
    np.testing.assert_array_equal(y.data, x.reshape(batch, *after))
    for k in range(len(after)):
        inferred = after[:k] + (-1,) + after[k + 1 :]
        assert nn.Reshape(*inferred)(Tensor(x)).shape == (batch, *after)


@given(batch=st.integers(1, 3), seed=st.integers(0, 99))
def test_reshape_gradient_is_the_upstream_gradient_reshaped_back(batch, seed):
    """L = Σ w ⊙ Reshape(x): ∂L/∂x is w laid out in x's shape (a reshape moves no values)."""
    r = np.random.default_rng(seed)
    x = Tensor(r.normal(size=(batch, 1, 4, 3)), requires_grad=True)
    w = r.normal(size=(batch, 4, 3))
    (nn.Reshape(4, 3)(x) * Tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad, w.reshape(batch, 1, 4, 3))
    report = nn.gradcheck_module(nn.Reshape(-1), Tensor(r.normal(size=(batch, 2, 3))))
    assert report.ok


def test_reshape_config_repr_and_tuple_form():
    layer = nn.Reshape(8, -1)
    assert layer.config() == {"shape": (8, -1)}
    assert repr(layer) == "Reshape(8, -1)"
    assert nn.Reshape((8, 8)).config() == {"shape": (8, 8)}
    assert nn.Reshape(-1).parameters() == []


def test_reshape_misfit_names_both_shapes():
    with pytest.raises(ShapeError, match=r"Reshape\(4, 4\): input \(2, 3, 5\) has 15 values"):
        nn.Reshape(4, 4)(Tensor(np.zeros((2, 3, 5))))
    with pytest.raises(ShapeError, match=r"Reshape\(4, -1\): input \(2, 7\) has 7 values.*4"):
        nn.Reshape(4, -1)(Tensor(np.zeros((2, 7))))
    assert per_sample_shape((5, 2, 6), (3, -1)) == (5, 3, 4)


@pytest.mark.parametrize(
    "shape,error,message",
    [
        ((), ValueError, "at least one size"),
        ((-1, -1), ValueError, "at most one size can be -1"),
        ((0, 4), ValueError, "positive or -1"),
        ((2.5,), TypeError, "integers"),
    ],
)
def test_reshape_rejects_impossible_shapes_when_built(shape, error, message):
    with pytest.raises(error, match=message):
        nn.Reshape(*shape)
