"""The LR range test of the course: start with a tiny α, multiply it by a constant after every
batch, and watch the loss. It falls while α is too small to matter, then rises once α is too
large; the suggested constant rate is one tenth of the α where the loss starts to rise."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..data.loader import DataLoader
from ..errors import ArgumentError
from ..executors import raise_failure, run_tasks


@dataclass
class LRFinderResult:
    """``lrs`` and smoothed ``losses`` per step; ``rise_lr`` where the smoothed loss was
    lowest (beyond it the loss rises); ``suggested_lr`` = ``rise_lr`` / 10."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    rise_lr: float = math.nan
    suggested_lr: float = math.nan


def lr_range_test(
    model,
    X: np.ndarray,
    y: np.ndarray,
    loss: str | Callable = "cross_entropy",
    optimizer: str = "sgd",
    start_lr: float = 1e-6,
    end_lr: float = 10.0,
    factor: float = 1.2,
    batch_size: int = 32,
    smoothing: float = 0.9,
    diverge: float = 4.0,
    seed: int = 0,
    backend: str = "graph",
    executor=None,
    **optimizer_kwargs,
) -> LRFinderResult:
    """Run the range test on a copy of the training; the model's weights are restored after.

    The loss is smoothed by an exponential moving average (``smoothing``) with bias
    correction; the test stops at ``end_lr`` or when the smoothed loss exceeds ``diverge``
    times its minimum.

    The test is one sequential run; ``executor`` (a ``concurrent.futures`` executor,
    ``"dask"``, a scheduler address or a Client) runs it there instead of here, on a copy of
    the model — e.g. from a notebook on a laptop, on the cluster the sweeps use.
    """
    if executor is not None:
        settings = dict(
            loss=loss, optimizer=optimizer, start_lr=start_lr, end_lr=end_lr, factor=factor,
            batch_size=batch_size, smoothing=smoothing, diverge=diverge, seed=seed,
            backend=backend, **optimizer_kwargs,
        )  # fmt: skip
        _check_range(start_lr, end_lr, factor)  # here, before anything is sent
        [(_, out)] = run_tasks(_remote_test, [settings], (model, X, y), executor=executor)
        if out["status"] != "ok":
            raise_failure(out, "lr_range_test")
        return out["result"]
    from ..optim.optimizers import make_optimizer
    from .backends import make_stepper

    _check_range(start_lr, end_lr, factor)
    saved = model.state_dict()
    opt = make_optimizer(optimizer, model.parameters(), lr=start_lr, **optimizer_kwargs)
    stepper = make_stepper(model, loss, opt, backend)
    result = LRFinderResult()
    avg, best, lr, epoch = 0.0, math.inf, start_lr, 0
    try:
        while lr <= end_lr:
            loader = DataLoader(X, y, batch_size, shuffle=True, seed=seed)
            loader.epoch = epoch
            epoch += 1
            for xb, yb in loader:
                opt.lr = lr
                value = stepper.train_batch(xb, yb)
                step = len(result.lrs) + 1
                avg = smoothing * avg + (1 - smoothing) * value
                smoothed = avg / (1 - smoothing**step)
                result.lrs.append(lr)
                result.losses.append(smoothed)
                if not np.isfinite(smoothed) or smoothed > diverge * best:
                    lr = math.inf
                    break
                best = min(best, smoothed)
                lr *= factor
                if lr > end_lr:
                    break
    finally:
        model.load_state_dict(saved)
    finite = [v if np.isfinite(v) else math.inf for v in result.losses]
    result.rise_lr = result.lrs[int(np.argmin(finite))]
    result.suggested_lr = result.rise_lr / 10.0
    return result


def _check_range(start_lr: float, end_lr: float, factor: float) -> None:
    if not (0 < start_lr < end_lr) or factor <= 1:
        raise ArgumentError(
            f"lr_range_test: need 0 < start_lr < end_lr and factor > 1, got {start_lr}, "
            f"{end_lr}, {factor}"
        )


def _remote_test(settings: dict, shared) -> LRFinderResult:
    model, X, y = shared
    return lr_range_test(model, X, y, **settings)
