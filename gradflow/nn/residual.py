"""``Residual(block)``: y = x + block(x), the ResNet skip connection.

The skip adds an identity path to the Jacobian (∂y/∂x = I + ∂block/∂x), which is why deep
residual stacks do not suffer vanishing gradients the way plain stacks do.
"""

from __future__ import annotations

from ..errors import ShapeError
from ..tensor import Tensor
from .module import Module


class Residual(Module):
    """x + block(x); the block must keep the shape."""

    def __init__(self, block: Module):
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        if y.shape != x.shape:
            raise ShapeError(
                f"Residual: block {type(self.block).__name__} maps {x.shape} to {y.shape}; "
                "a skip connection needs the same shape"
            )
        return x + y
