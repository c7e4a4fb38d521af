"""gradflow.optim: the course's update rules, optimizers and LR schedules (the LR range test
trains, so it lives with ``fit``: :func:`gradflow.training.lr_range_test`)."""

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
    "make_optimizer",
    "rules",
]
