"""Callbacks: small objects ``fit`` calls at the start and end of training, of each epoch and
after each batch. They may stop training (``trainer.stop = True``) and keep state that
checkpoints save (``state_dict()`` of floats and arrays), so a resumed run behaves exactly
like an uninterrupted one."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArgumentError, StateDictError, UnknownNameError
from ..optim.schedules import ReduceOnPlateau, Schedule
from ..state import check_like

if TYPE_CHECKING:  # pragma: no cover
    from .loop import Trainer


class Callback:
    """Base class; every hook is optional. ``order``: callbacks run in ascending order."""

    order = 0

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None: ...

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None: ...

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def state_template(self, model) -> dict[str, np.ndarray]:
        """Arrays shaped and typed like every entry :meth:`load_state_dict` accepts (those
        :meth:`state_dict` returns are required); a checkpoint's entries are checked against
        them before their data is read."""
        return {k: np.asarray(v) for k, v in self.state_dict().items()}

    def check_state_dict(self, state: dict[str, Any], model=None) -> None:
        """Raise a ``StateDictError`` naming the entry if :meth:`load_state_dict` would
        refuse ``state``; changes nothing. By default: exactly the keys of
        :meth:`state_dict`, each shaped and typed like it (integers stay integers), no NaN."""
        check_like(type(self).__name__, state, self.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class LRScheduler(Callback):
    """Steps a learning-rate schedule after each epoch or batch (``schedule.per``);
    ``ReduceOnPlateau`` gets the monitored value from the epoch's logs."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        if self.schedule.per == "batch":
            self.schedule.step()

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self.schedule.per != "epoch":
            return
        if isinstance(self.schedule, ReduceOnPlateau):
            metric = logs.get(self.schedule.monitor)
            if metric is None:
                metric = logs["train_loss"]
            self.schedule.step(metric)
        else:
            self.schedule.step()

    def state_dict(self) -> dict[str, Any]:
        return self.schedule.state_dict()

    def check_state_dict(self, state: dict[str, Any], model=None) -> None:
        self.schedule.check_state_dict(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state)


def _mode(who: str, mode: str | None, monitor: str) -> str:
    """``min`` or ``max``; by default ``max`` for accuracies, ``min`` for losses."""
    if mode is None:
        return "max" if "accuracy" in monitor else "min"
    if mode not in ("min", "max"):
        raise ArgumentError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
    return mode


def _is_better(value: float, best: float, mode: str, min_delta: float) -> bool:
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    with ``restore_best_weights`` the model ends with the weights of its best epoch."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        mode: str | None = None,
    ):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.restore_best_weights = restore_best_weights
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ArgumentError(
                f"EarlyStopping: patience must be a whole number >= 0, got {patience!r}"
            )
        self.mode = _mode("EarlyStopping", mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.best_state: dict[str, np.ndarray] = {}
        self.stopped_epoch = 0

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            raise UnknownNameError(
                f"EarlyStopping: '{self.monitor}' is not logged; logged: {', '.join(logs)} "
                f"(val_* needs val_data)"
            )
        if _is_better(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = float(value), logs["epoch"], 0
            if self.restore_best_weights:
                self.best_state = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop = True
                self.stopped_epoch = logs["epoch"]

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights and self.best_state:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }
        out.update({f"best_state.{k}": v for k, v in self.best_state.items()})
        return out

    def _scalars(self) -> dict[str, Any]:
        return {"best": 0.0, "best_epoch": 0, "wait": 0, "stopped_epoch": 0}

    def state_template(self, model) -> dict[str, np.ndarray]:
        out = {k: np.asarray(v) for k, v in self._scalars().items()}
        out.update({f"best_state.{n}": p.data for n, p in model.named_parameters()})
        out.update({f"best_state.{n}": np.asarray(b) for n, b in model.named_buffers()})
        return out

    def check_state_dict(self, state: dict[str, Any], model=None) -> None:
        """The counters (integers >= 0), ``best`` (not NaN) and ``best_state.*``: nothing, or
        every parameter and buffer of ``model`` (when given) with its shape, finite."""
        prefix = "best_state."
        best_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        rest = {k: v for k, v in state.items() if not k.startswith(prefix)}
        check_like("EarlyStopping", rest, self._scalars())
        for key in ("best_epoch", "wait", "stopped_epoch"):
            if int(np.asarray(state[key])) < 0:
                raise StateDictError(f"EarlyStopping.load_state_dict: {key} must be >= 0")
        if best_state and model is not None:
            try:
                model.check_state_dict(best_state)
            except (KeyError, ValueError) as e:
                message = e.args[0] if isinstance(e, KeyError) and e.args else e
                raise StateDictError(
                    f"EarlyStopping.load_state_dict: best_state: {message}"
                ) from None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.check_state_dict(state)
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        prefix = "best_state."
        self.best_state = {
            k[len(prefix) :]: np.array(v) for k, v in state.items() if k.startswith(prefix)
        }


class ModelCheckpoint(Callback):
    """Save a full checkpoint (model, optimizer, callbacks, RNG, epoch) to ``path`` every
    ``every`` epochs, or — with ``monitor`` — only when that value improves. Runs after the
    other callbacks so their state for the epoch is included."""

    order = 100

    def __init__(
        self,
        path,
        every: int = 1,
        monitor: str | None = None,
        mode: str | None = None,
        force: bool = False,
    ):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ArgumentError(
                f"ModelCheckpoint: every must be a whole number >= 1, got {every!r}"
            )
        self.path, self.every, self.monitor = path, every, monitor
        self.mode = _mode("ModelCheckpoint", mode, monitor or "")
        self.best = math.inf if self.mode == "min" else -math.inf
        self.force = force  # replace a file at path that is not a checkpoint

    def on_train_begin(self, trainer: Trainer) -> None:
        # before the first epoch, not after it: a path that cannot be written is an error now
        from .checkpoints import check_target

        check_target(self.path, self.force)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self.monitor is not None:
            value = logs.get(self.monitor)
            if value is None:
                raise UnknownNameError(
                    f"ModelCheckpoint: '{self.monitor}' is not logged; logged: "
                    f"{', '.join(logs)} (val_* needs val_data)"
                )
            if not _is_better(value, self.best, self.mode, 0.0):
                return
            self.best = float(value)
        elif logs["epoch"] % self.every:
            return
        trainer.save_checkpoint(self.path, force=self.force)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.check_state_dict(state)
        self.best = float(state["best"])


class ParameterSnapshots(Callback):
    """Copies of the model's parameters before training and after every epoch, in
    ``snapshots`` (one ``state_dict()`` per entry) — e.g. a decision boundary moving over the
    epochs. Not saved in checkpoints: a resumed run records from where it resumed."""

    def __init__(self) -> None:
        self.snapshots: list[dict[str, np.ndarray]] = []

    def on_train_begin(self, trainer: Trainer) -> None:
        if not self.snapshots:
            self.snapshots.append(trainer.model.state_dict())

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.snapshots.append(trainer.model.state_dict())
