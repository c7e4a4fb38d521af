"""``fit``: the training loop of the course (epochs of shuffled minibatches), backend-agnostic.

Per epoch: shuffle with a seed derived from (seed, epoch), augment / add input noise, let the
stepper train each batch, evaluate loss and accuracy on train and validation data, log one
row in :class:`History`, run the callbacks. Every random draw depends only on the seed and
the epoch (or on generators that checkpoints save), which is why resuming is exact.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from ..data.loader import DataLoader
from ..errors import (
    ArgumentTypeError,
    DataError,
    ShapeError,
    TrainingDivergedError,
    UnknownNameError,
)
from ..graph import no_grad
from ..metrics import accuracy
from ..numerics import ARRAY
from ..ops import OPS
from ..optim.optimizers import Optimizer, make_optimizer
from ..optim.schedules import Schedule
from ..regularization import Regularizer
from ..tensor import Tensor
from . import checkpoints
from .backends import Stepper, make_stepper, resolve_loss
from .callbacks import Callback, LRScheduler

CLASSIFICATION_LOSSES = {
    "cross_entropy", "nll", "bce", "bce_logits", "hinge", "perceptron", "adaline"
}  # fmt: skip


class History:
    """One dict per epoch: ``{"epoch", "train_loss", "val_loss", "train_accuracy",
    "val_accuracy", "lr", "seconds"}`` (val_* only with validation data, accuracies only for
    classification). ``history["val_loss"]`` gives that column as a list.

    ``train_loss`` is the mean batch loss during the epoch (what the progress bar shows, with
    dropout active and the weights still moving); the accuracies and ``val_loss`` are measured
    after the epoch in eval mode. ``lr`` is the rate the epoch started with."""

    def __init__(self, epochs: list[dict[str, Any]] | None = None):
        self.epochs: list[dict[str, Any]] = list(epochs or [])

    def __getitem__(self, key: str) -> list:
        return [row.get(key) for row in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def best(self, monitor: str = "val_loss") -> dict[str, Any]:
        """The row with the lowest ``monitor`` (highest for accuracies)."""
        rows = [r for r in self.epochs if r.get(monitor) is not None]
        if not rows:
            raise UnknownNameError(f"History.best: no epoch logged {monitor!r}")
        sign = -1.0 if "accuracy" in monitor else 1.0
        return min(rows, key=lambda r: sign * r[monitor])

    def to_json(self) -> str:
        return json.dumps(self.epochs)

    def __repr__(self) -> str:
        return f"History({len(self.epochs)} epochs)"

    def _repr_html_(self) -> str:  # Jupyter: a small loss plot and the table of epochs
        from ..display import history_html

        return history_html(self.epochs)


def _as_xy(data, name: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, DataLoader):
        return data.X, data.y
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ArgumentTypeError(
            f"fit: {name} must be (X, y) or a DataLoader, got {type(data).__name__}"
        )
    X, y = np.asarray(data[0]), np.asarray(data[1])
    if len(X) != len(y):
        raise ShapeError(f"fit: {name} has {len(X)} inputs but {len(y)} targets")
    return X, y


def check_finite(X: np.ndarray, y: np.ndarray, name: str) -> None:
    """Refuse a NaN or Inf among the inputs or targets, naming the first one (row-major):
    ``fit: train_data X[3, 5] is NaN``. Otherwise it trains silently (the jit backend) or is
    blamed on an update (the graph backend's NaN diagnosis). One ``np.isfinite`` pass per
    array; the element is looked up only when something is wrong."""
    for label, a in (("X", X), ("y", y)):
        if a.dtype.kind != "f":  # integers and booleans are always finite
            continue
        ok = np.isfinite(a)
        if ok.all():
            continue
        index = np.unravel_index(int(np.argmin(ok.reshape(-1))), a.shape)
        v = a[index]
        what = "NaN" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")
        where = ", ".join(str(int(i)) for i in index)
        raise DataError(f"fit: {name} {label}[{where}] is {what}")


def predicted_classes(out: np.ndarray, loss_name: str) -> np.ndarray:
    """Predicted classes from model outputs: argmax of scores, or a threshold on one output
    (0 for logits and margins, ½ for probabilities)."""
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    threshold = 0.5 if loss_name == "bce" else 0.0
    return (out.reshape(-1) > threshold).astype(np.int64)


def predict(stepper_or_model, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Model outputs for ``X`` in eval mode, in batches (a Stepper or a Module)."""
    if hasattr(stepper_or_model, "predict"):
        fn = stepper_or_model.predict
    else:
        model = stepper_or_model

        def fn(xb):
            dtype = model.parameters()[0].data.dtype if model.parameters() else np.float64
            with no_grad(), model.evaluating():
                return model(Tensor(np.asarray(xb, dtype=dtype))).data

    outs = [fn(X[k : k + batch_size]) for k in range(0, len(X), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,))


def predict_proba(model, X: np.ndarray) -> np.ndarray:
    """Class probabilities: softmax of (n, k) logits, sigmoid of a single logit column."""
    out = predict(model, X)
    if out.ndim == 2 and out.shape[1] > 1:
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    return OPS["sigmoid"].forward(ARRAY, out)  # the table's (stable) σ


class Trainer:
    """The state of one ``fit`` call; callbacks receive it (``trainer.model``,
    ``trainer.optimizer``, ``trainer.history``, ``trainer.epoch``, ``trainer.stop``)."""

    def __init__(
        self,
        model,
        stepper: Stepper,
        optimizer: Optimizer,
        loss,
        loss_name: str,
        callbacks: list[Callback],
        seed: int,
        config: dict[str, Any],
    ):
        self.model, self.stepper, self.optimizer = model, stepper, optimizer
        self.loss_fn, self.loss_name = loss, loss_name
        self.callbacks, self.seed, self.config = callbacks, seed, config
        self.history = History()
        self.epoch = 0
        self.stop = False
        #: the caller's description of the run (e.g. the command line's), saved in checkpoints
        self.run_config: dict[str, Any] | None = None

    def evaluate(self, X: np.ndarray, y: np.ndarray, batch_size: int = 512) -> dict[str, float]:
        """Loss (and accuracy for class labels) of the current model on (X, y)."""
        out = predict(self.stepper, X, batch_size)
        with no_grad():
            loss = float(self.loss_fn(Tensor(out), y).item())
        result = {"loss": loss}
        if y.ndim == 1 and y.dtype.kind in "iub":
            result["accuracy"] = accuracy(y, predicted_classes(out, self.loss_name))
        return result

    def save_checkpoint(self, path, force: bool = False) -> Path:
        meta = {"seed": self.seed, "history": self.history.epochs, "config": self.config}
        meta["stopped"] = self.stop  # a run a callback stopped stays stopped when resumed
        if self.run_config is not None:
            meta["run_config"] = self.run_config
        return checkpoints.save_checkpoint(
            path, self.model, self.optimizer, self.epoch, meta, self.callbacks, force=force
        )

    def restore(self, path) -> None:
        """Continue from the checkpoint at ``path``: everything in it is checked (against the
        model, optimizer, callbacks and the settings in :data:`RESUME_MUST_MATCH`) before
        anything is changed."""
        meta = checkpoints.resume_state(
            path,
            self.model,
            self.optimizer,
            self.callbacks,
            check_meta=lambda meta: self._check_resume(meta, str(path)),
        )
        self.epoch = meta["epoch"]
        self.history = History(meta.get("history", []))
        self.stop = meta.get("stopped", False)

    def _check_resume(self, meta: dict[str, Any], path: str) -> None:
        saved = meta.get("config")
        if not isinstance(saved, dict):  # written by save_checkpoint directly
            return
        for key in RESUME_MUST_MATCH:
            if key in saved and saved[key] != self.config.get(key):
                raise checkpoints.CheckpointError(
                    f"{path} was trained with {key} {saved[key]!r} but this run has "
                    f"{self.config.get(key)!r}; resume with the same {key}"
                )


#: settings of ``fit`` a resumed run must share with its checkpoint: they decide the batches
#: (seed, batch_size) and what is minimised (loss). Epochs (the new total) and the backend
#: may change.
RESUME_MUST_MATCH = ("seed", "batch_size", "loss")


def fit(
    model,
    train_data,
    val_data=None,
    loss: str | Callable = "cross_entropy",
    optimizer: Optimizer | str = "adam",
    epochs: int = 10,
    batch_size: int = 32,
    backend: str = "graph",
    callbacks: Sequence[Callback | Schedule] = (),
    seed: int = 0,
    progress: bool = True,
    lr: float | None = None,
    regularizer: Regularizer | None = None,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    loss_kwargs: dict | None = None,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    force: bool = False,
    run_config: dict[str, Any] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the :class:`History`.

    ``optimizer`` is an Optimizer over ``model.parameters()`` or a name (with ``lr``).
    Schedules in ``callbacks`` are wrapped in :class:`LRScheduler`. ``checkpoint`` writes a
    full checkpoint after every epoch; ``resume`` continues from one (up to ``epochs`` in
    total), giving the same numbers as an uninterrupted run with the same seed — pass the
    same callbacks in the same order, as their state is saved by position. The checkpoint
    path is checked before training starts: an existing file there must be a gradflow
    checkpoint (``force=True`` replaces another regular file; a directory or device never).
    A resumed run must have the checkpoint's seed, batch size and loss; ``run_config`` (a
    JSON-able dict describing the run, e.g. the command line's settings) is saved in each
    checkpoint's meta for the caller to compare (:func:`~gradflow.training.checkpoints.read_meta`).
    ``regularizer`` (L1/L2, max-norm, input noise) and ``augment(xb, rng)`` apply to training
    batches only; ``loss_kwargs`` go to the loss (e.g. ``{"label_smoothing": 0.1}``).
    """
    X, y = _as_xy(train_data, "train_data")
    val = _as_xy(val_data, "val_data") if val_data is not None else None
    check_finite(X, y, "train_data")  # once, before anything is built or trained
    if val is not None:
        check_finite(*val, "val_data")
    if isinstance(optimizer, str):
        optimizer = make_optimizer(
            optimizer, model.parameters(), **({} if lr is None else {"lr": lr})
        )
    regularizer = regularizer or Regularizer()
    loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
    loss_fn = resolve_loss(loss, **(loss_kwargs or {}))
    stepper = make_stepper(model, loss, optimizer, backend, regularizer, loss_kwargs)
    cbs = [LRScheduler(c) if isinstance(c, Schedule) else c for c in callbacks]
    cbs = sorted(cbs, key=lambda c: c.order)
    config = {
        "epochs": epochs,
        "batch_size": batch_size,
        "backend": backend,
        "seed": seed,
        "loss": loss_name,
        "optimizer": repr(optimizer),
    }
    trainer = Trainer(model, stepper, optimizer, loss_fn, loss_name, cbs, seed, config)
    trainer.run_config = run_config
    if checkpoint is not None:  # now, not after the first epoch
        checkpoints.check_target(checkpoint, force)
    if resume is not None:
        trainer.restore(resume)
    # a DataLoader passed in keeps its own batch size, shuffling and seed
    if isinstance(train_data, DataLoader):
        loader = train_data
    else:
        loader = DataLoader(X, y, batch_size, shuffle=True, seed=seed)

    for cb in cbs:
        cb.on_train_begin(trainer)
    bar = _progress_bar(progress, (epochs - trainer.epoch) * len(loader))
    try:
        while trainer.epoch < epochs and not trainer.stop:
            _run_epoch(trainer, loader, val, augment, regularizer, bar)
            if checkpoint is not None:
                trainer.save_checkpoint(checkpoint, force)
    finally:
        if bar is not None:
            bar.close()
    for cb in cbs:
        cb.on_train_end(trainer)
    model.train()
    return trainer.history


def _progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    # off a terminal (CI logs) redraw rarely, so the log is not one line per batch; and no bar
    # at all for a run that is over within a second (the demo's warm trainings): none flashes
    # on a terminal, and no "0%" line is left in a log or a notebook cell
    interval = 0.1 if sys.stderr.isatty() else 5.0
    return tqdm(
        total=total, file=sys.stderr, unit="batch", leave=False, mininterval=interval, delay=1.0
    )


class CompileNotice:
    """Around the first jitted batch of a run: should it take longer than :attr:`DELAY`
    seconds (numba compiling the kernels; a warm cache loads them in a fraction of that), the
    progress bar says "compiling kernels once, ~N s" with the seconds so far instead of an ETA
    that extrapolates the compile over every batch ("1:40:01"), and afterwards its clock starts
    again so rate and ETA describe training, under the description ``after`` ("epoch 1": the
    notice must not stay on the bar while it counts the training's batches). ``estimate`` is
    N, in seconds."""

    DELAY = 1.0
    #: redraws while compiling on a terminal (off one, e.g. a CI log, the notice is drawn once)
    TICK = 0.5

    def __init__(self, bar, estimate: float, after: str = ""):
        import threading

        self.bar, self.estimate, self.after = bar, estimate, after
        self.done = threading.Event()
        self.shown = False
        self.thread = threading.Thread(target=self._watch, name="gradflow-compile-notice")
        self.thread.daemon = True

    def __enter__(self) -> CompileNotice:
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def _watch(self) -> None:
        if self.done.wait(self.DELAY):
            return
        self.shown = True
        self.bar.set_description(
            f"compiling kernels once, ~{_round_estimate(self.estimate)} s", refresh=False
        )
        tty = sys.stderr.isatty()
        while True:
            self.bar.refresh()  # the bar's own clock shows the seconds so far
            if not tty or self.done.wait(self.TICK):
                break

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()
        if self.shown:  # training's rate and ETA start from here, not from the compile
            self.bar.set_description(self.after, refresh=False)
            self.bar.reset(total=self.bar.total)


def _round_estimate(seconds: float) -> int:
    """Whole seconds below 10, else a multiple of 5: it is an estimate."""
    return max(1, round(seconds)) if seconds < 10 else 5 * round(seconds / 5)


def _run_epoch(trainer: Trainer, loader: DataLoader, val, augment, regularizer, bar) -> None:
    epoch = trainer.epoch + 1
    for cb in trainer.callbacks:
        cb.on_epoch_begin(trainer, epoch)
    lr_at_start = trainer.optimizer.lr
    rng = np.random.default_rng([trainer.seed, epoch, 1])  # augmentation and input noise
    loader.epoch = trainer.epoch
    start = time.perf_counter()
    total, count = 0.0, 0
    for k, (xb, yb) in enumerate(loader):
        if augment is not None:
            xb = augment(xb, rng)
        xb = regularizer.noisy(xb, rng)
        cold = bar is not None and not getattr(trainer.stepper, "warm", True)
        notice = nullcontext()
        if cold:
            notice = CompileNotice(bar, trainer.stepper.compile_estimate(), f"epoch {epoch}")
        with notice:
            batch_loss = trainer.stepper.train_batch(xb, yb)
        if not np.isfinite(batch_loss):
            where = trainer.stepper.diagnose(xb, yb) if hasattr(trainer.stepper, "diagnose") else ""
            raise TrainingDivergedError(
                f"fit: the loss became {batch_loss} in epoch {epoch}, batch {k + 1}"
                f"{': ' + where if where else ''} (lr {trainer.optimizer.lr:g} too large?)"
            )
        total += batch_loss * len(xb)
        count += len(xb)
        for cb in trainer.callbacks:
            cb.on_batch_end(trainer, k, batch_loss)
        if bar is not None:
            if k == 0:
                bar.set_description(f"epoch {epoch}", refresh=False)
            bar.set_postfix(loss=f"{batch_loss:.4g}", refresh=False)  # %g: 1e160 stays short
            bar.update(1)
    trainer.epoch = epoch
    logs: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(count, 1)}
    train_eval = trainer.evaluate(loader.X, loader.y)
    if "accuracy" in train_eval:
        logs["train_accuracy"] = train_eval["accuracy"]
    if val is not None:
        val_eval = trainer.evaluate(*val)
        logs["val_loss"] = val_eval["loss"]
        if "accuracy" in val_eval:
            logs["val_accuracy"] = val_eval["accuracy"]
    logs["lr"] = lr_at_start
    logs["seconds"] = time.perf_counter() - start
    trainer.history.epochs.append(logs)
    for cb in trainer.callbacks:
        cb.on_epoch_end(trainer, logs)
