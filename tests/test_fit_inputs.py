"""fit refuses NaN or Inf in its data up front, naming the data set and the element
(the jit backend used to train on it silently; the graph backend blamed an update)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples

from gradflow.data import DataLoader
from gradflow.errors import DataError, GradflowError
from gradflow.nn import Linear
from gradflow.training import fit
from gradflow.training.loop import check_finite


def data(n=12, d=6, seed=0):
    r = np.random.default_rng(seed)
    return r.normal(size=(n, d)), r.integers(0, 2, size=n)


@pytest.mark.parametrize("backend", ["graph", "jit"])
@pytest.mark.parametrize(
    "where, problem",
    [
        (("X", (3, 5), np.nan), "fit: train_data X[3, 5] is NaN"),
        (("X", (0, 0), np.inf), "fit: train_data X[0, 0] is Inf"),
        (("X", (11, 2), -np.inf), "fit: train_data X[11, 2] is -Inf"),
        (("vX", (1, 4), np.nan), "fit: val_data X[1, 4] is NaN"),
        (("vy", (7,), np.nan), "fit: val_data y[7] is NaN"),
    ],
)
def test_nan_or_inf_in_the_data_is_named_before_training(backend, where, problem):
    X, y = data()
    vX, vy = data(seed=1)
    vy = vy.astype(np.float64)
    arrays = {"X": X, "vX": vX, "vy": vy}
    name, index, value = where
    arrays[name][index] = value
    model = Linear(6, 2, seed=0)
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(DataError) as e:
        fit(model, (X, y), (vX, vy), epochs=2, backend=backend, progress=False)
    assert str(e.value) == problem
    assert isinstance(e.value, ValueError) and isinstance(e.value, GradflowError)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize("backend", ["graph", "jit"])
def test_nan_target_of_a_regression_and_a_data_loader(backend):
    X, _ = data()
    y = np.linspace(0, 1, 12)[:, None]
    y[7, 0] = np.nan
    with pytest.raises(DataError, match=r"^fit: train_data y\[7, 0\] is NaN$"):
        fit(Linear(6, 1, seed=0), (X, y), loss="mse", epochs=1, backend=backend, progress=False)
    X[2, 1] = np.inf
    loader = DataLoader(X, np.zeros(12, dtype=np.int64), batch_size=4)
    with pytest.raises(DataError, match=r"^fit: train_data X\[2, 1\] is Inf$"):
        fit(Linear(6, 2, seed=0), loader, epochs=1, backend=backend, progress=False)


@settings(max_examples=examples(50), deadline=None)
@given(
    shape=st.sampled_from([(5, 3), (4, 2, 3, 3), (7,)]),
    data_=st.data(),
)
def test_the_first_bad_element_in_row_major_order_is_named(shape, data_):
    X = np.zeros(shape)
    flat = data_.draw(st.lists(st.integers(0, X.size - 1), min_size=1, max_size=4, unique=True))
    values = data_.draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), min_size=4))
    for k, v in zip(flat, values):
        X.reshape(-1)[k] = v
    first = min(flat)
    index = np.unravel_index(first, shape)
    v = X.reshape(-1)[first]
    what = "NaN" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")
    want = f"fit: train_data X[{', '.join(map(str, index))}] is {what}"
    with pytest.raises(DataError) as e:
        check_finite(X, np.zeros(shape[0]), "train_data")
    assert str(e.value) == want


def test_finite_and_integer_data_pass():
    assert check_finite(np.ones((3, 2), dtype=np.float32), np.arange(3), "train_data") is None
    assert check_finite(np.arange(6).reshape(3, 2), np.array([True, False, True]), "x") is None
