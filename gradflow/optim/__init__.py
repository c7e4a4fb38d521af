"""gradflow.optim: the course's update rules, optimizers, LR schedules and the LR range test."""

from . import rules
from .optimizers import (
    OPTIMIZERS,
    SGD,
    AdaDelta,
    AdaGrad,
    Adam,
    AdaMax,
    AdamW,
    Momentum,
    MomentumVelocity,
    NAdam,
    Nesterov,
    NormalizedGD,
    Optimizer,
    RMSProp,
    make_optimizer,
)
from .schedules import (
    SCHEDULES,
    Constant,
    Exponential,
    OneCycle,
    PiecewiseConstant,
    Power,
    ReduceOnPlateau,
    Schedule,
)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "AdaDelta",
    "AdaGrad",
    "AdaMax",
    "Adam",
    "AdamW",
    "Constant",
    "Exponential",
    "LRFinderResult",
    "Momentum",
    "MomentumVelocity",
    "NAdam",
    "Nesterov",
    "NormalizedGD",
    "OneCycle",
    "Optimizer",
    "PiecewiseConstant",
    "Power",
    "RMSProp",
    "ReduceOnPlateau",
    "Schedule",
    "lr_range_test",
    "make_optimizer",
    "rules",
]


def __getattr__(name: str):
    """``LRFinderResult`` and ``lr_range_test`` live in :mod:`gradflow.training.lr_finder`
    now (the test trains, as ``fit`` does); found here on first use, without an import
    circle between ``optim`` and ``training``."""
    if name in ("LRFinderResult", "lr_range_test"):
        from ..training import lr_finder

        return getattr(lr_finder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
