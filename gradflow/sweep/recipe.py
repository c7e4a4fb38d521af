"""The built-in run of a sweep: one plain-dict configuration → one trained model → its metrics.

A configuration names its model and training with the settings of ``gradflow train``::

    {"model": "mlp", "dataset": "digits", "hidden": 64, "optimizer": "adam", "lr": 0.01,
     "epochs": 30, "seed": 2, "backend": "jit"}

With ``dataset`` the run prepares that bundled dataset as ``gradflow train`` does (split drawn
with ``data_seed``, default 0, so every run of a sweep sees the same split); without it the
sweep's ``data`` is used: ``{"train": (X, y), "val": (X, y), "test": (X, y)}`` (val and test
optional) or just ``(X, y)``, and the model is an MLP. :data:`SETTINGS` lists every key.
Everything a run draws depends on the configuration only, so a run gives the same numbers
wherever it runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError

#: the keys of a configuration and what each holds (shown in errors and docs/sweep.md)
SETTINGS: dict[str, str] = {
    "model": "mlp (default), cnn, rnn, lstm or gru (the last four need a dataset)",
    "dataset": "a bundled dataset (gradflow train --dataset); without it the sweep's data",
    "hidden": "hidden width, 1 to 4096; for an MLP also a list of widths",
    "activation": "MLP activation (default relu)",
    "init": "MLP weight initialisation (default: by activation)",
    "dropout": "MLP dropout probability, 0 <= p < 1",
    "optimizer": "an optimizer name (default adam)",
    "lr": "learning rate > 0",
    "weight_decay": "decoupled weight decay >= 0",
    "clip_norm": "clip gradients by global norm, > 0",
    "epochs": "epochs, 1 to 100000",
    "batch_size": "batch size >= 1",
    "schedule": "constant, onecycle, plateau or exponential",
    "patience": "early stopping on val_loss after this many epochs without progress",
    "seed": "initial weights and batch order (default 0)",
    "data_seed": "the split, subsample, label noise and folds (default 0)",
    "backend": "graph (default) or jit",
    "loss": "a loss name (default: cross_entropy for classes, else mse)",
    "l1": "L1 penalty >= 0",
    "l2": "L2 penalty >= 0",
    "n_train": "use only the first n_train training examples",
    "label_noise": "fraction 0 <= f < 1 of training labels replaced by another class",
    "folds": "k-fold cross-validation on the training data: k >= 2 (with fold)",
    "fold": "which fold validates, 0 to folds - 1",
}

MAX_WIDTH = 4096
MAX_EPOCHS = 100_000


class ConfigError(ArgumentError):
    """A configuration the built-in run cannot use; the message names the key, ``key`` holds
    it (for a sweep file to name the entry it came from)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def _int(config: dict, key: str, low: int, high: int | None = None) -> None:
    if key not in config:
        return
    v = config[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{key} must be a whole number, got {v!r}", key)
    if v < low or (high is not None and v > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{key} must be {bound}, got {v}", key)


def _float(config: dict, key: str, low: float, high: float | None = None, *, open_low=False):
    if key not in config:
        return
    v = config[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(f"{key} must be a finite number, got {v!r}", key)
    if (v <= low if open_low else v < low) or (high is not None and v >= high):
        rel = ">" if open_low else ">="
        bound = f"{rel} {low:g}" + (f" and < {high:g}" if high is not None else "")
        raise ConfigError(f"{key} must be {bound}, got {v!r}", key)


def _choice(config: dict, key: str, known) -> None:
    if key in config and config[key] not in known:
        known = ", ".join(sorted(known))
        raise ConfigError(f"{key} {config[key]!r} is not one of {known}", key)


def check_config(config: dict[str, Any], has_data: bool) -> None:
    """Raise :class:`ConfigError` naming the first key the built-in run cannot use
    (``has_data``: the sweep ships data, so ``dataset`` may be left out)."""
    from ..data import DATASETS
    from ..nn.activation import get_activation
    from ..nn.init import INITIALIZERS
    from ..nn.losses import LOSSES
    from ..optim import OPTIMIZERS
    from ..training.recipes import MODEL_NAMES, SCHEDULES

    unknown = sorted(set(config) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}; known: {', '.join(SETTINGS)} (or pass run= for "
            "a run function of your own)",
            unknown[0],
        )
    _choice(config, "model", MODEL_NAMES)
    _choice(config, "dataset", DATASETS)
    _choice(config, "optimizer", OPTIMIZERS)
    _choice(config, "backend", ("graph", "jit"))
    _choice(config, "schedule", SCHEDULES)
    _choice(config, "loss", LOSSES)
    if "dataset" not in config:
        if not has_data:
            raise ConfigError('no dataset: name one (dataset = "digits") or pass data=', "dataset")
        if config.get("model", "mlp") != "mlp":
            raise ConfigError(
                f"model {config['model']!r} needs a dataset; data= trains an MLP", "model"
            )
    hidden = config.get("hidden")
    if isinstance(hidden, list):
        if config.get("model", "mlp") != "mlp" or not hidden:
            raise ConfigError("hidden may be a list of widths only for an MLP, not empty", "hidden")
        for k, width in enumerate(hidden):
            try:
                _int({f"hidden[{k}]": width}, f"hidden[{k}]", 1, MAX_WIDTH)
            except ConfigError as e:
                raise ConfigError(str(e), "hidden") from None
    else:
        _int(config, "hidden", 1, MAX_WIDTH)
    if "activation" in config:
        if not isinstance(config["activation"], str):
            raise ConfigError(
                f"activation must be a name, got {config['activation']!r}", "activation"
            )
        try:
            get_activation(config["activation"])
        except (KeyError, ValueError) as e:
            raise ConfigError(f"activation: {e}", "activation") from None
    _choice(config, "init", INITIALIZERS)
    _float(config, "dropout", 0.0, 1.0)
    _float(config, "lr", 0.0, open_low=True)
    _float(config, "weight_decay", 0.0)
    _float(config, "clip_norm", 0.0, open_low=True)
    _float(config, "l1", 0.0)
    _float(config, "l2", 0.0)
    _float(config, "label_noise", 0.0, 1.0)
    _int(config, "epochs", 1, MAX_EPOCHS)
    _int(config, "batch_size", 1)
    _int(config, "patience", 1)
    _int(config, "seed", 0)
    _int(config, "data_seed", 0)
    _int(config, "n_train", 1)
    _int(config, "folds", 2)
    _int(config, "fold", 0)
    if ("fold" in config) != ("folds" in config):
        raise ConfigError("fold and folds go together (fold = 0 ... folds - 1)", "fold")
    if "fold" in config and config["fold"] >= config["folds"]:
        raise ConfigError(
            f"fold must be below folds ({config['folds']}), got {config['fold']}", "fold"
        )


# ------------------------------------------------------------------------------- the run


def _xy(pair, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        raise ArgumentError(f"data: {name} must be (X, y)")
    return np.asarray(pair[0]), np.asarray(pair[1])


def _splits(data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if isinstance(data, dict):
        unknown = set(data) - {"train", "val", "test"}
        if unknown or "train" not in data:
            raise ArgumentError("data: a dict needs 'train' and may have 'val' and 'test', no more")
        return {k: _xy(v, k) for k, v in data.items() if v is not None}
    return {"train": _xy(data, "data")}


def _is_classes(y: np.ndarray) -> bool:
    return y.ndim == 1 and y.dtype.kind in "iub"


def _noisy_labels(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Replace ``fraction`` of the labels, chosen at random, by a different class."""
    classes = int(y.max()) + 1
    y = y.copy()
    picked = rng.choice(len(y), size=round(fraction * len(y)), replace=False)
    y[picked] = (y[picked] + rng.integers(1, classes, len(picked))) % classes
    return y


def train_config(config: dict[str, Any], data=None) -> dict[str, Any]:
    """Train the model ``config`` describes; return ``{"metrics": {...}, "history": [...]}``.

    metrics: the last epoch's ``train_loss``, ``train_accuracy`` (and ``val_*``), the best
    ``val_loss``, the held-out ``test_loss``/``test_accuracy``, ``train_error``/``test_error``
    (1 − accuracy) for classes, ``epochs`` run and ``parameters``."""
    from .. import nn
    from ..data.splits import kfold_indices
    from ..optim import make_optimizer
    from ..regularization import Regularizer
    from ..training import EarlyStopping, fit
    from ..training.loop import CLASSIFICATION_LOSSES
    from ..training.recipes import defaults, make_schedule, prepare

    check_config(config, data is not None)
    c = dict(config)
    model_name = c.get("model", "mlp")
    seed, data_seed = c.get("seed", 0), c.get("data_seed", 0)
    settings = {**defaults(model_name, c.get("dataset", "")), "schedule": "constant", **c}
    hidden = settings["hidden"]
    if "dataset" in c:
        exp = prepare(model_name, c["dataset"], data_seed, hidden, model_seed=seed)
        splits = {"train": exp.train, "val": exp.val, "test": exp.test}
        model, loss = exp.model, c.get("loss", exp.loss)
    else:
        splits = _splits(data)
        X, y = splits["train"]
        classes = _is_classes(y)
        n_out = int(max(int(s[1].max()) for s in splits.values()) + 1) if classes else y.shape[1]
        widths = hidden if isinstance(hidden, list) else [hidden]
        mlp = nn.mlp(
            [int(np.prod(X.shape[1:])), *widths, n_out],
            activation=c.get("activation", "relu"),
            init=c.get("init"),
            dropout=c.get("dropout", 0.0),
            seed=seed,
        )
        model = nn.Sequential(nn.Reshape(-1), *mlp.layers)
        loss = c.get("loss", "cross_entropy" if classes else "mse")
    X, y = splits["train"]
    if "n_train" in c:
        if c["n_train"] > len(X):
            raise ConfigError(
                f"n_train {c['n_train']} is more than the {len(X)} training examples", "n_train"
            )
        X, y = X[: c["n_train"]], y[: c["n_train"]]
    rng = np.random.default_rng([data_seed, 7])
    if c.get("label_noise"):
        if not _is_classes(y):
            raise ConfigError("label_noise needs class labels", "label_noise")
        y = _noisy_labels(y, c["label_noise"], rng)
    val = splits.get("val")
    if "folds" in c:
        train_idx, val_idx = kfold_indices(y, c["folds"], data_seed)[c["fold"]]
        X, y, val = X[train_idx], y[train_idx], (X[val_idx], y[val_idx])
    opt_kwargs: dict[str, Any] = {"lr": settings["lr"]}
    for key in ("weight_decay", "clip_norm"):
        if c.get(key):
            opt_kwargs[key] = c[key]
    optimizer = make_optimizer(c.get("optimizer", "adam"), model.parameters(), **opt_kwargs)
    epochs, batch_size = settings["epochs"], settings["batch_size"]
    callbacks = make_schedule(settings["schedule"], optimizer, epochs, len(y), batch_size)
    if "patience" in c:
        callbacks.append(EarlyStopping(patience=c["patience"]))
    history = fit(
        model,
        (X, y),
        val,
        loss=loss,
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        backend=c.get("backend", "graph"),
        callbacks=callbacks,
        seed=seed,
        progress=False,
        regularizer=Regularizer(l1=c.get("l1", 0.0), l2=c.get("l2", 0.0)),
    )
    metrics = _metrics(history, model, loss, splits.get("test"), loss in CLASSIFICATION_LOSSES)
    return {"metrics": metrics, "history": history.epochs}


def _metrics(history, model, loss, test, classification: bool) -> dict[str, Any]:
    from ..graph import no_grad
    from ..metrics import accuracy
    from ..tensor import Tensor
    from ..training.backends import resolve_loss
    from ..training.loop import predict, predicted_classes

    last = history.epochs[-1]
    metrics = {k: v for k, v in last.items() if k not in ("epoch", "lr", "seconds")}
    metrics["epochs"] = last["epoch"]
    metrics["parameters"] = int(sum(p.data.size for p in model.parameters()))
    if "val_loss" in last:
        metrics["best_val_loss"] = min(e["val_loss"] for e in history.epochs)
    if test is not None:
        out = predict(model, test[0])
        with no_grad():
            metrics["test_loss"] = float(resolve_loss(loss)(Tensor(out), test[1]).item())
        if classification and _is_classes(test[1]):
            metrics["test_accuracy"] = accuracy(test[1], predicted_classes(out, loss))
    for split in ("train", "val", "test"):
        if f"{split}_accuracy" in metrics:
            metrics[f"{split}_error"] = 1.0 - metrics[f"{split}_accuracy"]
    return metrics
