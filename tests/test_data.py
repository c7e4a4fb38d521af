"""Datasets, the DataLoader, splits, cross-validation and scalers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow import data as D


@pytest.mark.parametrize("name", sorted(D.DATASETS))
def test_datasets_are_float_and_deterministic(name):
    X, y = D.DATASETS[name]()
    X2, y2 = D.DATASETS[name]()
    assert X.dtype == np.float64 and len(X) == len(y)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_dataset_shapes():
    assert D.load_digits()[0].shape == (1797, 64)
    assert D.load_digits(images=True)[0].shape == (1797, 1, 8, 8)
    assert D.load_iris()[0].shape == (150, 4)
    assert D.adding_problem(10, 12)[0].shape == (10, 12, 2)
    assert D.parity(10, 7)[0].shape == (10, 7, 1)
    assert D.signals_1d(9, 32)[0].shape == (9, 1, 32)
    assert D.sine(5)[1].shape == (5, 1)


@pytest.mark.parametrize("name", ["digits", "iris"])
def test_bundled_tables_are_read_as_scikit_learn_reads_them(name, monkeypatch):
    """The digits and the irises are read from scikit-learn's files without importing it;
    the arrays are those of scikit-learn's own loaders, and those loaders are the fallback
    when the file is not found."""
    from sklearn import datasets

    loader = getattr(D, f"load_{name}")
    X, y = loader()
    theirs = getattr(datasets, f"load_{name}")()
    np.testing.assert_array_equal(X, theirs.data)
    np.testing.assert_array_equal(y, theirs.target)
    assert X.dtype == np.float64 and y.dtype == np.int64 and X.flags.c_contiguous
    monkeypatch.setattr(D.datasets, "_sklearn_table", lambda *a, **k: None)
    X2, y2 = loader()
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert X2.dtype == np.float64 and y2.dtype == np.int64


def test_loading_the_digits_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = (
        "import sys; from gradflow.data import load_digits; load_digits(); "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_xor_labels():
    X, y = D.xor(200, noise=0.0)
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))


def test_adding_problem_target_is_sum_of_two_marked_values():
    X, y = D.adding_problem(50, 10, seed=3)
    assert np.all(X[:, :, 1].sum(axis=1) == 2)
    assert np.all(X[:, :5, 1].sum(axis=1) == 1)  # one mark in each half
    np.testing.assert_allclose(y[:, 0], (X[:, :, 0] * X[:, :, 1]).sum(axis=1))


def test_parity_labels():
    X, y = D.parity(100, 6)
    np.testing.assert_array_equal(y, X[:, :, 0].sum(axis=1) % 2)


@given(st.integers(1, 60), st.integers(1, 16), st.integers(0, 5))
def test_loader_epoch_is_a_permutation_and_reproducible(n, batch, seed):
    X, y = np.arange(n, dtype=float)[:, None], np.arange(n)
    loader = D.DataLoader(X, y, batch, seed=seed)
    first = np.concatenate([yb for _, yb in loader])
    second = np.concatenate([yb for _, yb in loader])
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert len(loader) == -(-n // batch)
    again = D.DataLoader(X, y, batch, seed=seed)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), first)
    again.epoch = 1  # jumping to an epoch gives that epoch's order (what resume relies on)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), second)


def test_loader_shuffles_differently_per_epoch():
    loader = D.DataLoader(np.zeros((100, 1)), np.arange(100), 10, seed=0)
    a, b = (np.concatenate([yb for _, yb in loader]) for _ in range(2))
    assert not np.array_equal(a, b)


labels = st.lists(st.integers(0, 3), min_size=10, max_size=200).map(np.array)


@given(labels, st.floats(0.0, 0.4), st.floats(0.0, 0.4), st.integers(0, 9))
def test_split_is_a_disjoint_cover_with_class_shares(y, val, test, seed):
    tr, va, te = D.split_indices(y, val, test, seed)
    allidx = np.concatenate([tr, va, te])
    assert sorted(allidx) == list(range(len(y)))
    for c in np.unique(y):
        members = int((y == c).sum())
        # stratified: each part holds round(share · class size) of each class
        assert (y[te] == c).sum() == round(members * test)
        assert (y[va] == c).sum() == round(members * val)


@given(st.integers(4, 100), st.integers(2, 4), st.integers(0, 9))
def test_kfold_every_sample_validates_exactly_once(n, k, seed):
    folds = D.kfold_indices(n, k, seed)
    assert len(folds) == k
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals) == list(range(n))
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= 1
    for tr, va in folds:
        assert not set(tr) & set(va) and len(tr) + len(va) == n


def test_stratified_kfold_keeps_class_shares():
    y = np.repeat([0, 1, 2], [30, 60, 90])
    for _, va in D.kfold_indices(y, 3, seed=1):
        np.testing.assert_array_equal(np.bincount(y[va]), [10, 20, 30])


def test_train_val_test_split_arrays():
    X, y = D.load_iris()
    (a, ya), (b, yb), (c, yc) = D.train_val_test_split(X, y, 0.2, 0.2, seed=0)
    assert len(a) + len(b) + len(c) == 150
    assert np.bincount(yc).tolist() == [10, 10, 10]


def test_standardizer_fits_on_train_only():
    g = np.random.default_rng(0)
    train, test = g.normal(5, 3, (200, 3)), g.normal(0, 1, (50, 3))
    s = D.Standardizer().fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1)
    # the test data is transformed with the *training* statistics
    np.testing.assert_allclose(s.transform(test), (test - train.mean(0)) / train.std(0))
    np.testing.assert_allclose(s.inverse_transform(z), train)


def test_constant_features_do_not_divide_by_zero():
    X = np.array([[1.0, 2.0], [1.0, 4.0]])
    assert np.isfinite(D.Standardizer().fit_transform(X)).all()
    np.testing.assert_allclose(D.MinMaxScaler().fit_transform(X), [[0, 0], [0, 1]])


def test_minmax_range():
    X = np.array([[0.0], [5.0], [10.0]])
    np.testing.assert_allclose(D.MinMaxScaler((-1, 1)).fit_transform(X).ravel(), [-1, 0, 1])
    with pytest.raises(RuntimeError, match="before fit"):
        D.MinMaxScaler().transform(X)


@given(labels, st.integers(2, 5), st.integers(0, 9))
def test_stratified_kfold_spreads_each_class_evenly(y, k, seed):
    folds = D.kfold_indices(y, min(k, len(y)), seed)
    for c in np.unique(y):
        counts = [int((y[va] == c).sum()) for _, va in folds]
        assert max(counts) - min(counts) <= 1
