"""gradflow.nn: layers, losses and initializers on the graph engine."""

from .init import manual_seed
from .linear import Linear
from .module import Module, Parameter, Sequential

__all__ = ["Linear", "Module", "Parameter", "Sequential", "manual_seed"]
