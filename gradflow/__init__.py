"""gradflow: step through backprop, see the graph, train small models fast."""

from . import ops_conv  # noqa: F401  (registers conv1d, conv2d, maxpool, avgpool)
from .errors import AnomalyError, BackwardTwiceError, GradflowError, ShapeError
from .gradcheck import gradcheck
from .graph import detect_anomaly, no_grad, scope, topological_order
from .ops import OPS
from .scalar_nn import MLP, Layer, Neuron
from .steps import backward_steps, forward_steps
from .symbolic import check_symbolic
from .tensor import Tensor, concat, stack, where
from .training import fit
from .value import Value

__version__ = "0.1.0"

__all__ = [
    "OPS",
    "MLP",
    "AnomalyError",
    "BackwardTwiceError",
    "GradflowError",
    "Layer",
    "Neuron",
    "ShapeError",
    "Tensor",
    "Value",
    "backward_steps",
    "check_symbolic",
    "concat",
    "detect_anomaly",
    "fit",
    "forward_steps",
    "gradcheck",
    "no_grad",
    "scope",
    "stack",
    "topological_order",
    "where",
]
