"""Ensembles of the course (algorithm 19): train several models — different initialisations,
optionally each on a bootstrap resample (bagging) — and average their predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..executors import raise_failure, run_tasks
from ..regularization import Ensemble, bootstrap_indices
from .loop import fit, predict_proba


def train_ensemble(
    make_model: Callable[[int], object],
    X: np.ndarray,
    y: np.ndarray,
    members: int = 5,
    bagging: bool = False,
    seed: int = 0,
    predict_fn: Callable | None = None,
    executor: Any = None,
    **fit_kwargs,
) -> Ensemble:
    """Train ``members`` models, each from ``make_model(seed_k)`` (different initialisations),
    on the full data or on a bootstrap resample (``bagging``); returns their :class:`Ensemble`.
    ``fit_kwargs`` go to :func:`gradflow.training.fit` (``optimizer`` may be a name).

    ``executor`` trains the members in parallel (see :func:`gradflow.executors.run_tasks`:
    a ``concurrent.futures`` executor, ``"dask"``, a scheduler address or a Client); the
    data go to each worker once, each member's weights come back as a state dict and are
    loaded into ``make_model(seed_k)`` here — the same numbers as training them here."""
    X, y = np.asarray(X), np.asarray(y)
    g = np.random.default_rng(seed)
    plan = []  # the bootstrap draws happen here, in order, whatever runs the members
    for k in range(members):
        member_seed = seed * 1000 + k
        idx = bootstrap_indices(len(X), g) if bagging else None
        plan.append((member_seed, idx))
    shared = (make_model, X, y, fit_kwargs, executor is None)
    models: list[Any] = [None] * members
    outcomes = run_tasks(
        _train_member, plan, shared, executor=executor, label="members", warm_first=True
    )
    for k, out in outcomes:
        if out["status"] != "ok":
            raise_failure(out, f"train_ensemble: member {k}")
        result = out["result"]
        if executor is None:
            models[k] = result
        else:
            models[k] = make_model(plan[k][0])
            models[k].load_state_dict(result)
    return Ensemble(models, predict_fn or predict_proba)


def _train_member(item, shared):
    """One member: the model itself when trained here, its state dict elsewhere (plain
    arrays cross processes, not the model object)."""
    member_seed, idx = item
    make_model, X, y, fit_kwargs, here = shared
    model = make_model(member_seed)
    if idx is not None:
        X, y = X[idx], y[idx]
    fit(model, (X, y), seed=member_seed, **{**fit_kwargs, "progress": False})
    return model if here else model.state_dict()
