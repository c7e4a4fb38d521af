"""Train/validation/test splits and N-fold cross-validation, seeded and (optionally)
stratified so every class keeps its share in every part."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError


def _permutation(y: np.ndarray, seed: int, stratify: bool) -> np.ndarray:
    """A seeded order of the samples. Stratified: the shuffled members of each class one
    class after another, so dealing the order round-robin into k folds gives every fold
    (almost) the same share of every class."""
    g = np.random.default_rng(seed)
    if not stratify:
        return g.permutation(len(y))
    groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    return np.concatenate([m[g.permutation(len(m))] for m in groups])


def _is_classification(y: np.ndarray) -> bool:
    return y.ndim == 1 and y.dtype.kind in "iub"


def split_indices(
    n_or_y, val: float = 0.15, test: float = 0.15, seed: int = 0, stratify: bool | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint, sorted index arrays (train, val, test) covering all samples.

    Stratified (the default for integer class labels): each class is split on its own, so
    each part keeps the class proportions up to rounding.
    """
    y = np.arange(n_or_y) if np.isscalar(n_or_y) else np.asarray(n_or_y)
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ArgumentError(f"split: need 0 <= val, test and val + test < 1, got {val}, {test}")
    if stratify is None:
        stratify = not np.isscalar(n_or_y) and _is_classification(y)
    g = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    parts: tuple[list, list, list] = ([], [], [])
    for members in groups:
        members = members[g.permutation(len(members))]
        n_test = int(round(len(members) * test))
        n_val = int(round(len(members) * val))
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    train, val_idx, test_idx = (np.sort(np.concatenate(p)).astype(np.intp) for p in parts)
    return train, val_idx, test_idx


def train_val_test_split(X, y, val: float = 0.15, test: float = 0.15, seed: int = 0, stratify=None):
    """``(X_train, y_train), (X_val, y_val), (X_test, y_test)``; stratified for class labels."""
    tr, va, te = split_indices(np.asarray(y), val, test, seed, stratify)
    X, y = np.asarray(X), np.asarray(y)
    return (X[tr], y[tr]), (X[va], y[va]), (X[te], y[te])


def kfold_indices(n_or_y, k: int = 5, seed: int = 0, stratify: bool | None = None):
    """N-fold cross-validation: ``k`` pairs (train_idx, val_idx); every sample is in exactly
    one validation fold, and fold sizes differ by at most one."""
    y = np.arange(n_or_y) if np.isscalar(n_or_y) else np.asarray(n_or_y)
    if not 2 <= k <= len(y):
        raise ArgumentError(f"kfold: k must be between 2 and the number of samples, got {k}")
    stratify = _is_classification(y) and not np.isscalar(n_or_y) if stratify is None else stratify
    order = _permutation(y, seed, stratify)
    folds = [order[i::k] for i in range(k)]
    return [
        (np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(folds[i])) for i in range(k)
    ]
