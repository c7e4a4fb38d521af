"""gradflow.data: offline datasets, a seeded ``DataLoader``, splits and scalers."""

from .datasets import (
    DATASETS,
    adding_problem,
    circles,
    load_digits,
    load_iris,
    moons,
    parity,
    signals_1d,
    sine,
    spirals,
    xor,
)
from .loader import DataLoader
from .preprocessing import MinMaxScaler, Standardizer
from .splits import kfold_indices, split_indices, train_val_test_split

__all__ = [
    "DATASETS",
    "DataLoader",
    "MinMaxScaler",
    "Standardizer",
    "adding_problem",
    "circles",
    "kfold_indices",
    "load_digits",
    "load_iris",
    "moons",
    "parity",
    "signals_1d",
    "sine",
    "spirals",
    "split_indices",
    "train_val_test_split",
    "xor",
]
