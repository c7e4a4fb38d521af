"""Learning-rate schedules of the course. Each exposes ``lr_at(t)`` (a pure function of the
step or epoch count) and ``step()``, which advances the count and writes ``optimizer.lr``.

``per`` says what ``t`` counts: ``"epoch"`` (the default; ``fit`` steps the schedule after each
epoch) or ``"batch"`` (after each optimizer step, as 1cycle usually runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ArgumentError, StateDictError
from ..state import check_like
from .optimizers import Optimizer


class Schedule:
    """Base class: remembers the starting rate α(0) and the count ``t``."""

    def __init__(self, optimizer: Optimizer, per: str = "epoch"):
        if per not in ("epoch", "batch"):
            raise ArgumentError(
                f"{type(self).__name__}: per must be 'epoch' or 'batch', got {per!r}"
            )
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.per = per
        self.t = 0

    def lr_at(self, t: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, metric: float | None = None) -> float:
        self.t += 1
        self.optimizer.lr = self.lr_at(self.t)
        return self.optimizer.lr

    def state_dict(self) -> dict[str, float]:
        return {"t": self.t, "base_lr": self.base_lr, "lr": self.optimizer.lr}

    def check_state_dict(self, state: dict[str, float]) -> None:
        """Raise a ``StateDictError`` naming the entry if :meth:`load_state_dict` would
        refuse ``state``; changes nothing."""
        who = type(self).__name__
        check_like(who, state, self.state_dict())
        if int(np.asarray(state["t"])) < 0:
            raise StateDictError(f"{who}.load_state_dict: t must be >= 0, got {state['t']}")
        for key in ("base_lr", "lr"):
            value = float(state[key])
            if not math.isfinite(value) or value < 0:
                raise StateDictError(
                    f"{who}.load_state_dict: {key} must be a finite number >= 0, got {value}"
                )

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.check_state_dict(state)
        self.t = int(state["t"])
        self.base_lr = float(state["base_lr"])
        self.optimizer.lr = float(state["lr"])


class Constant(Schedule):
    """α(t) = α(0): choose it with :func:`gradflow.training.lr_range_test`."""

    def lr_at(self, t: int) -> float:
        return self.base_lr


class Power(Schedule):
    """Power scheduling α(t) = α(0) / (1 + t/s)^c (usually c = 1)."""

    def __init__(self, optimizer: Optimizer, s: float, c: float = 1.0, per: str = "epoch"):
        super().__init__(optimizer, per)
        if s <= 0:
            raise ArgumentError(f"Power: s must be > 0, got {s}")
        self.s, self.c = float(s), float(c)

    def lr_at(self, t: int) -> float:
        return self.base_lr / (1.0 + t / self.s) ** self.c


class Exponential(Schedule):
    """Exponential scheduling α(t) = α(0) · γ^(t/s): multiply by γ every s steps
    (the course's α(0)·e^(−dt) with d = −ln γ / s)."""

    def __init__(self, optimizer: Optimizer, gamma: float = 0.1, s: float = 10, per="epoch"):
        super().__init__(optimizer, per)
        if not 0 < gamma <= 1 or s <= 0:
            raise ArgumentError(f"Exponential: need 0 < gamma <= 1 and s > 0, got {gamma}, {s}")
        self.gamma, self.s = float(gamma), float(s)

    def lr_at(self, t: int) -> float:
        return self.base_lr * self.gamma ** (t / self.s)


class PiecewiseConstant(Schedule):
    """α = values[k] while boundaries[k−1] ≤ t < boundaries[k] (``len(values) = len(b) + 1``)."""

    def __init__(
        self,
        optimizer: Optimizer,
        boundaries: Sequence[int],
        values: Sequence[float],
        per: str = "epoch",
    ):
        super().__init__(optimizer, per)
        if len(values) != len(boundaries) + 1:
            raise ArgumentError(
                f"PiecewiseConstant: {len(boundaries)} boundaries need {len(boundaries) + 1} "
                f"values, got {len(values)}"
            )
        if list(boundaries) != sorted(boundaries):
            raise ArgumentError(f"PiecewiseConstant: boundaries must increase, got {boundaries}")
        self.boundaries, self.values = list(boundaries), [float(v) for v in values]
        optimizer.lr = self.values[0]

    def lr_at(self, t: int) -> float:
        k = sum(1 for b in self.boundaries if t >= b)
        return self.values[k]


class ReduceOnPlateau(Schedule):
    """Performance scheduling: divide α by 1/``factor`` when the monitored (validation) loss
    has not improved by ``min_delta`` for ``patience`` epochs; never below ``min_lr``."""

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 0.1,
        patience: int = 5,
        min_delta: float = 0.0,
        min_lr: float = 0.0,
        monitor: str = "val_loss",
    ):
        super().__init__(optimizer, "epoch")
        if not 0 < factor < 1:
            raise ArgumentError(f"ReduceOnPlateau: factor must be in (0, 1), got {factor}")
        self.factor, self.patience, self.min_delta = factor, patience, min_delta
        self.min_lr, self.monitor = min_lr, monitor
        self.best = math.inf
        self.bad_epochs = 0

    def lr_at(self, t: int) -> float:
        """The rate now; it depends on the metric history, not only on ``t``."""
        return self.optimizer.lr

    def step(self, metric: float | None = None) -> float:
        if metric is None:
            raise ArgumentError("ReduceOnPlateau.step(metric) needs the monitored value")
        self.t += 1
        if metric < self.best - self.min_delta:
            self.best, self.bad_epochs = float(metric), 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
                self.bad_epochs = 0
        return self.optimizer.lr

    def state_dict(self) -> dict[str, float]:
        return {**super().state_dict(), "best": self.best, "bad_epochs": self.bad_epochs}

    def check_state_dict(self, state: dict[str, float]) -> None:
        super().check_state_dict(state)
        if int(np.asarray(state["bad_epochs"])) < 0:
            raise StateDictError("ReduceOnPlateau.load_state_dict: bad_epochs must be >= 0")

    def load_state_dict(self, state: dict[str, float]) -> None:
        super().load_state_dict(state)
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])


class OneCycle(Schedule):
    """1cycle: linearly α0 → α1 over the first half, then α1 → α0/``final_div`` over the second.

    α1 = ``max_lr`` (a tenth of where the LR range test's loss starts rising) and
    α0 = α1/``div`` (10 by default), as in the course.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float,
        total_steps: int,
        div: float = 10.0,
        final_div: float = 1e3,
        per: str = "batch",
    ):
        super().__init__(optimizer, per)
        if total_steps < 2:
            raise ArgumentError(f"OneCycle: total_steps must be >= 2, got {total_steps}")
        self.max_lr, self.total = float(max_lr), int(total_steps)
        self.start_lr = self.max_lr / div
        self.end_lr = self.start_lr / final_div
        optimizer.lr = self.base_lr = self.start_lr

    def lr_at(self, t: int) -> float:
        half = self.total / 2
        t = min(max(t, 0), self.total)
        if t <= half:
            return self.start_lr + (self.max_lr - self.start_lr) * t / half
        return self.max_lr + (self.end_lr - self.max_lr) * (t - half) / (self.total - half)


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "power": Power,
    "exponential": Exponential,
    "piecewise": PiecewiseConstant,
    "plateau": ReduceOnPlateau,
    "onecycle": OneCycle,
}
