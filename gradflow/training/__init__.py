"""gradflow.training: ``fit``, its history and callbacks, backends and checkpoints."""

from .backends import BackendError, GraphStepper, Stepper, make_stepper, resolve_loss
from .callbacks import Callback, EarlyStopping, LRScheduler, ModelCheckpoint
from .checkpoints import CheckpointError, load_checkpoint, restore_checkpoint, save_checkpoint
from .loop import History, Trainer, fit, predict, predict_proba
from .validation import cross_validate

__all__ = [
    "BackendError",
    "Callback",
    "CheckpointError",
    "EarlyStopping",
    "GraphStepper",
    "History",
    "LRScheduler",
    "ModelCheckpoint",
    "Stepper",
    "Trainer",
    "cross_validate",
    "fit",
    "load_checkpoint",
    "make_stepper",
    "predict",
    "predict_proba",
    "resolve_loss",
    "restore_checkpoint",
    "save_checkpoint",
]
