"""``Conv1d``/``Conv2d`` layers and the ``conv1d``/``conv2d`` functions on Tensors.

The ops themselves (forward with stride tricks, VJPs, SymPy forms) live once in
:mod:`gradflow.ops_conv`; this module checks shapes, adds the bias and holds parameters.
Layout (contracts.md): input (B, C, *S), ``weight`` (out, in, *kernel), ``bias`` (out,).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops_conv
from ..errors import ArgumentError
from ..tensor import Tensor, apply
from . import init as _init
from .module import Module, Parameter


def as_tuple(v: int | tuple[int, ...], d: int, what: str) -> tuple[int, ...]:
    """An int or a d-tuple of ints as a d-tuple (kernel_size=3 → (3, 3) for 2-d)."""
    t = (int(v),) * d if np.isscalar(v) else tuple(int(k) for k in v)
    if len(t) != d:
        raise ArgumentError(f"{what} must be an int or a {d}-tuple, got {v!r}")
    return t


def _conv(x: Tensor, weight: Tensor, bias, stride, padding, d: int) -> Tensor:
    name = f"conv{d}d"
    if not isinstance(x, Tensor):
        x = Tensor(x)
    stride, padding = as_tuple(stride, d, "stride"), as_tuple(padding, d, "padding")
    ops_conv.check_conv(name, x.shape, weight.shape, stride, padding)
    op = ops_conv.CONV1D if d == 1 else ops_conv.CONV2D
    y = apply(op, (x, weight), {"stride": stride, "padding": padding})
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * d)
    return y


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """1-d cross-correlation: x (B, C, L), weight (O, C, k) → (B, O, L_out)."""
    return _conv(x, weight, bias, stride, padding, 1)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-d cross-correlation: x (B, C, H, W), weight (O, C, kh, kw) → (B, O, H_out, W_out)."""
    return _conv(x, weight, bias, stride, padding, 2)


class _ConvNd(Module):
    dims = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        bias: bool = True,
        init: str | Any = "he_uniform",
        seed: int | None = None,
        dtype: Any = np.float64,
    ):
        super().__init__()
        d = self.dims
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = as_tuple(kernel_size, d, "kernel_size")
        self.stride = as_tuple(stride, d, "stride")
        self.padding = as_tuple(padding, d, "padding")
        self.init = init
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weight = Parameter(_init.initialize(init, shape, seed, dtype))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return _conv(x, self.weight, self.bias, self.stride, self.padding, self.dims)

    def output_shape(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """(out_channels, *spatial_out) for an input of spatial size ``spatial``."""
        return (self.out_channels,) + tuple(
            ops_conv.out_size(n, k, s, p)
            for n, k, s, p in zip(spatial, self.kernel_size, self.stride, self.padding)
        )

    def config(self) -> dict:
        one = (lambda t: t[0]) if self.dims == 1 else (lambda t: t)
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": one(self.kernel_size),
            "stride": one(self.stride),
            "padding": one(self.padding),
            "bias": self.bias is not None,
        }


class Conv1d(_ConvNd):
    """``Conv1d(in_ch, out_ch, kernel_size, stride=1, padding=0, bias=True, init, seed)``
    on (B, C, L); ``weight`` (out, in, k). Cross-correlation, as PyTorch."""

    dims = 1


class Conv2d(_ConvNd):
    """``Conv2d(in_ch, out_ch, kernel_size, stride=1, padding=0, bias=True, init, seed)``
    on (B, C, H, W); ``weight`` (out, in, kh, kw); sizes int or pair. Cross-correlation."""

    dims = 2
