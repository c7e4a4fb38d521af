"""gradflow.training: ``fit``, its history and callbacks, backends and checkpoints;
cross-validation, ensembles and the LR range test, each optionally on an executor."""

from .backends import BackendError, GraphStepper, Stepper, make_stepper, resolve_loss
from .callbacks import (
    Callback,
    EarlyStopping,
    LRScheduler,
    ModelCheckpoint,
    ParameterSnapshots,
)
from .checkpoints import CheckpointError, load_checkpoint, restore_checkpoint, save_checkpoint
from .ensemble import train_ensemble
from .loop import History, Trainer, fit, predict, predict_proba
from .lr_finder import LRFinderResult, lr_range_test
from .validation import cross_validate

__all__ = [
    "BackendError",
    "Callback",
    "CheckpointError",
    "EarlyStopping",
    "GraphStepper",
    "History",
    "LRFinderResult",
    "LRScheduler",
    "ModelCheckpoint",
    "ParameterSnapshots",
    "Stepper",
    "Trainer",
    "cross_validate",
    "fit",
    "load_checkpoint",
    "lr_range_test",
    "make_stepper",
    "predict",
    "predict_proba",
    "resolve_loss",
    "restore_checkpoint",
    "save_checkpoint",
    "train_ensemble",
]
