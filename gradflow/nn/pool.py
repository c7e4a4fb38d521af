"""Max and average pooling (no padding; stride defaults to the kernel) and ``Flatten``.

The ops ``maxpool``/``avgpool`` live in :mod:`gradflow.ops_conv`: max routes the gradient to
each window's winner, average spreads 1/(N·N) over the window.
"""

from __future__ import annotations

import numpy as np

from .. import ops_conv
from ..tensor import Tensor, apply
from .conv import as_tuple
from .module import Module


def _pool(op, x: Tensor, kernel_size, stride, d: int) -> Tensor:
    name = f"{op.name}{d}d"
    if not isinstance(x, Tensor):
        x = Tensor(x)
    kernel = as_tuple(kernel_size, d, "kernel_size")
    stride = kernel if stride is None else as_tuple(stride, d, "stride")
    ops_conv.check_pool(name, x.shape, kernel)
    return apply(op, (x,), {"kernel": kernel, "stride": stride})


def max_pool1d(x: Tensor, kernel_size, stride=None) -> Tensor:
    return _pool(ops_conv.MAXPOOL, x, kernel_size, stride, 1)


def max_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    return _pool(ops_conv.MAXPOOL, x, kernel_size, stride, 2)


def avg_pool1d(x: Tensor, kernel_size, stride=None) -> Tensor:
    return _pool(ops_conv.AVGPOOL, x, kernel_size, stride, 1)


def avg_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    return _pool(ops_conv.AVGPOOL, x, kernel_size, stride, 2)


class _Pool(Module):
    dims = 0
    op = None

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = as_tuple(kernel_size, self.dims, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_tuple(stride, self.dims, "stride")

    def forward(self, x: Tensor) -> Tensor:
        return _pool(self.op, x, self.kernel_size, self.stride, self.dims)

    def config(self) -> dict:
        one = (lambda t: t[0]) if self.dims == 1 else (lambda t: t)
        return {"kernel_size": one(self.kernel_size), "stride": one(self.stride)}


class MaxPool1d(_Pool):
    """Max over windows of (B, C, L)."""

    dims, op = 1, ops_conv.MAXPOOL


class MaxPool2d(_Pool):
    """Max over windows of (B, C, H, W)."""

    dims, op = 2, ops_conv.MAXPOOL


class AvgPool1d(_Pool):
    """Mean over windows of (B, C, L)."""

    dims, op = 1, ops_conv.AVGPOOL


class AvgPool2d(_Pool):
    """Mean over windows of (B, C, H, W)."""

    dims, op = 2, ops_conv.AVGPOOL


class Flatten(Module):
    """(B, ...) → (B, prod(...)): the bridge from feature maps to Linear layers."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
