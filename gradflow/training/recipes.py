"""Ready-made experiments for ``gradflow train``: which data, preprocessing, model, loss and
defaults go with each (model, dataset) pair. A recipe prepares a train/validation/test split
(seeded, stratified for classes), fits the scaler on the training part only, and builds the
model for the data's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import data as D
from .. import nn
from ..errors import ArgumentError, UnknownNameError

MODEL_NAMES = ("mlp", "cnn", "rnn", "lstm", "gru")
SEQUENCE_DATA = ("adding", "parity")
REGRESSION_DATA = ("sine", "adding")


@dataclass
class Experiment:
    """Everything ``fit`` needs, plus the held-out test split and the settings used."""

    model: Any
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    loss: str
    classification: bool
    defaults: dict[str, Any] = field(default_factory=dict)


# per (model, dataset): epochs, lr (Adam), batch size, hidden width — small, sensible sizes
# that train in seconds to a minute on the graph backend
# (with "onecycle", lr is the peak rate α1 of the cycle)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"epochs": 20, "lr": 3e-3, "batch_size": 32, "hidden": 128, "schedule": "constant"},
    "cnn": {"epochs": 15, "lr": 1e-2, "batch_size": 16, "hidden": 64, "schedule": "onecycle"},
    "rnn": {"epochs": 15, "lr": 1e-2, "batch_size": 32, "hidden": 32, "schedule": "constant"},
    "lstm": {"epochs": 15, "lr": 1e-2, "batch_size": 32, "hidden": 16, "schedule": "constant"},
    "gru": {"epochs": 15, "lr": 1e-2, "batch_size": 32, "hidden": 16, "schedule": "constant"},
}
_DATA_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("mlp", "iris"): {"epochs": 50, "lr": 1e-2, "batch_size": 16, "hidden": 16},
    ("mlp", "xor"): {"epochs": 50, "lr": 1e-2, "hidden": 8},
    ("mlp", "moons"): {"epochs": 60, "lr": 1e-2, "hidden": 16},
    ("mlp", "circles"): {"epochs": 60, "lr": 1e-2, "hidden": 16},
    ("mlp", "spirals"): {"epochs": 150, "lr": 1e-2, "hidden": 64},
    ("mlp", "sine"): {"epochs": 150, "lr": 1e-2, "hidden": 32},
}


def defaults(model: str, dataset: str) -> dict[str, Any]:
    return {**_DEFAULTS[model], **_DATA_DEFAULTS.get((model, dataset), {})}


def _load(dataset: str, model: str, seed: int):
    if dataset not in D.DATASETS:
        raise UnknownNameError(f"unknown dataset {dataset!r}; known: {', '.join(D.DATASETS)}")
    if dataset == "digits":
        return D.load_digits(images=model in ("cnn", "rnn", "lstm", "gru"))
    if dataset == "iris":
        return D.load_iris()
    if dataset == "adding":
        return D.adding_problem(1000, 10, seed=seed)
    if dataset == "parity":
        return D.parity(1000, 8, seed=seed)
    return D.DATASETS[dataset](seed=seed)


def _scale(model: str, dataset: str, train, val, test):
    """Fit on the training split only. Images and signals: one mean and σ for all values
    (pixels stay comparable); features: standardised per feature; sequences unchanged (their
    values already lie in [0, 1])."""
    if dataset in SEQUENCE_DATA:
        return train, val, test
    X = train[0]
    scaler = D.Standardizer(axis=None if dataset in ("digits", "signals") else 0).fit(X)
    return tuple((scaler.transform(x), y) for x, y in (train, val, test))


def _build(model: str, dataset: str, X: np.ndarray, n_out: int, hidden: int, seed: int):
    if model == "mlp":
        # Reshape(-1): images and sequences become feature vectors, so an MLP takes any data
        mlp = nn.mlp([int(np.prod(X.shape[1:])), hidden, n_out], seed=seed)
        return nn.Sequential(nn.Reshape(-1), *mlp.layers)
    if model == "cnn":
        if X.ndim == 4:
            return nn.cnn(X.shape[1:], n_out, channels=(8, 16), hidden=hidden, seed=seed)
        if X.ndim == 3 and dataset == "signals":
            return _cnn1d(X.shape[1:], n_out, hidden, seed)
        raise ArgumentError(
            f"--model cnn needs image or signal data (digits, signals), not {dataset}"
        )
    if X.ndim == 4 and X.shape[1] == 1:  # digits as a sequence of 8 rows of 8 pixels
        rows, width = X.shape[2], X.shape[3]
        return nn.Sequential(
            nn.Reshape(rows, width), nn.models.SequenceModel(model, width, hidden, n_out, seed=seed)
        )
    if X.ndim != 3 or dataset == "signals":
        raise ArgumentError(
            f"--model {model} needs sequence data ({', '.join(SEQUENCE_DATA)} or digits as rows), "
            f"not {dataset}"
        )
    return nn.models.SequenceModel(model, X.shape[2], hidden, n_out, seed=seed)


def _cnn1d(shape, n_out, hidden, seed):
    c, length = shape
    s = [int(v) for v in np.random.SeedSequence(seed).generate_state(3)]
    return nn.Sequential(
        nn.Conv1d(c, 8, 5, padding=2, seed=s[0]),
        nn.ReLU(),
        nn.MaxPool1d(4),
        nn.Flatten(),
        nn.Linear(8 * (length // 4), hidden, seed=s[1]),
        nn.ReLU(),
        nn.Linear(hidden, n_out, seed=s[2]),
    )


def prepare(
    model: str,
    dataset: str,
    seed: int = 0,
    hidden: int | None = None,
    val: float = 0.15,
    test: float = 0.15,
    model_seed: int | None = None,
) -> Experiment:
    """The experiment ``gradflow train --model MODEL --dataset DATASET`` runs. ``seed`` draws
    the split and the initial weights; ``model_seed``, if given, the weights instead (a sweep
    over seeds on one fixed split)."""
    if model not in MODEL_NAMES:
        raise UnknownNameError(f"unknown model {model!r}; known: {', '.join(MODEL_NAMES)}")
    settings = defaults(model, dataset)
    if hidden:
        settings["hidden"] = hidden
    X, y = _load(dataset, model, seed)
    train, valid, held_out = _scale(model, dataset, *D.train_val_test_split(X, y, val, test, seed))
    classification = dataset not in REGRESSION_DATA
    n_out = int(y.max()) + 1 if classification else y.shape[1]
    net = _build(model, dataset, train[0], n_out, settings["hidden"], _or(model_seed, seed))
    loss = "cross_entropy" if classification else "mse"
    return Experiment(net, train, valid, held_out, loss, classification, settings)


def _or(value, default):
    return default if value is None else value


SCHEDULES = ("constant", "onecycle", "plateau", "exponential")


def make_schedule(name: str, optimizer, epochs: int, n_train: int, batch_size: int) -> list:
    """The callbacks of a learning-rate schedule by name (:data:`SCHEDULES`): ``onecycle``
    peaks at the optimizer's lr and spans every batch of the run, ``plateau`` halves the rate
    after 3 epochs without progress, ``exponential`` decays it tenfold over the run."""
    from ..optim import Exponential, OneCycle, ReduceOnPlateau

    if name not in SCHEDULES:
        raise UnknownNameError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
    if name == "onecycle":
        steps = epochs * -(-n_train // batch_size)
        return [OneCycle(optimizer, max_lr=optimizer.lr, total_steps=max(steps, 2))]
    if name == "plateau":
        return [ReduceOnPlateau(optimizer, factor=0.5, patience=3)]
    if name == "exponential":
        return [Exponential(optimizer, gamma=0.1, s=max(epochs, 1))]
    return []
