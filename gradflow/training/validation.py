"""N-fold cross-validation: train a fresh model on k − 1 folds, validate on the held-out one,
k times; the spread of the k scores shows how much one lucky split could mislead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.splits import kfold_indices
from ..errors import ArgumentTypeError
from ..executors import raise_failure, run_tasks
from .loop import fit


def cross_validate(
    make_model: Callable[[int], Any],
    X: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    seed: int = 0,
    executor: Any = None,
    **fit_kwargs: Any,
) -> dict[str, Any]:
    """``make_model(fold)`` builds a fresh model per fold; ``fit_kwargs`` go to :func:`fit`
    (``optimizer`` must be a name, as each fold needs its own optimizer). Returns the last
    epoch's validation metrics per fold, and their mean and standard deviation.

    ``executor`` trains the folds in parallel (a ``concurrent.futures`` executor, ``"dask"``,
    a scheduler address or a Client; see :func:`gradflow.executors.run_tasks`): X and y go
    to each worker once, the same numbers come back as from training the folds here."""
    if not isinstance(fit_kwargs.get("optimizer", "adam"), str):
        raise ArgumentTypeError("cross_validate: pass optimizer by name; every fold builds its own")
    X, y = np.asarray(X), np.asarray(y)
    splits = list(enumerate(kfold_indices(y, k, seed)))
    shared = (make_model, X, y, seed, fit_kwargs)
    folds: list[dict[str, float]] = [{} for _ in splits]
    for i, out in run_tasks(_train_fold, splits, shared, executor=executor, label="folds"):
        if out["status"] != "ok":
            raise_failure(out, f"cross_validate: fold {i}")
        folds[i] = out["result"]
    summary: dict[str, Any] = {"folds": folds}
    for key in folds[0]:
        values = np.array([f[key] for f in folds])
        summary[f"mean_{key}"] = float(values.mean())
        summary[f"std_{key}"] = float(values.std())
    return summary


def _train_fold(split, shared) -> dict[str, float]:
    i, (train_idx, val_idx) = split
    make_model, X, y, seed, fit_kwargs = shared
    history = fit(
        make_model(i),
        (X[train_idx], y[train_idx]),
        (X[val_idx], y[val_idx]),
        seed=seed,
        **{"progress": False, **fit_kwargs},
    )
    last = history.epochs[-1]
    return {key: v for key, v in last.items() if key.startswith("val_")}
