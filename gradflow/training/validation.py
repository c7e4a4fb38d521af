"""N-fold cross-validation: train a fresh model on k − 1 folds, validate on the held-out one,
k times; the spread of the k scores shows how much one lucky split could mislead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.splits import kfold_indices
from .loop import fit


def cross_validate(
    make_model: Callable[[int], Any],
    X: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    seed: int = 0,
    **fit_kwargs: Any,
) -> dict[str, Any]:
    """``make_model(fold)`` builds a fresh model per fold; ``fit_kwargs`` go to :func:`fit`
    (``optimizer`` must be a name, as each fold needs its own optimizer). Returns the last
    epoch's validation metrics per fold, and their mean and standard deviation."""
    if not isinstance(fit_kwargs.get("optimizer", "adam"), str):
        raise TypeError("cross_validate: pass optimizer by name; every fold builds its own")
    X, y = np.asarray(X), np.asarray(y)
    folds = []
    for i, (train_idx, val_idx) in enumerate(kfold_indices(y, k, seed)):
        history = fit(
            make_model(i),
            (X[train_idx], y[train_idx]),
            (X[val_idx], y[val_idx]),
            seed=seed,
            **{"progress": False, **fit_kwargs},
        )
        last = history.epochs[-1]
        folds.append({key: v for key, v in last.items() if key.startswith("val_")})
    summary: dict[str, Any] = {"folds": folds}
    for key in folds[0]:
        values = np.array([f[key] for f in folds])
        summary[f"mean_{key}"] = float(values.mean())
        summary[f"std_{key}"] = float(values.std())
    return summary
