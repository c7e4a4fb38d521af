"""Batch normalisation: ``BatchNorm1d`` on (B, F) or (B, C, L), ``BatchNorm2d`` on (B, C, H, W).

Training normalises with the batch's own statistics (mean and *biased* variance over every
axis except the channel axis 1), then scales and shifts by the learnable γ (``weight``, ones)
and β (``bias``, zeros). It also updates the running averages used in eval, as PyTorch does:

    running_mean ← (1 − momentum)·running_mean + momentum·mean
    running_var  ← (1 − momentum)·running_var  + momentum·var·n/(n − 1)   (unbiased)

Eval normalises with the running averages, so a prediction does not depend on the rest of the
batch; this fixed affine map is what :func:`gradflow.nn.fold_batchnorm` folds into the
previous layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from ..graph import no_grad
from ..tensor import Tensor
from .module import Module, Parameter


class _BatchNorm(Module):
    ndims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: Any = np.float64,
    ):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))

    def _check(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.ndim not in self.ndims or x.shape[1] != self.num_features:
            want = " or ".join(f"{n}-d" for n in self.ndims)
            raise ShapeError(
                f"{name}({self.num_features}): input {x.shape} must be {want} with "
                f"{self.num_features} features on axis 1"
            )

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training:
            n = x.size // self.num_features
            if n < 2:
                raise ShapeError(
                    f"{type(self).__name__}: training needs more than one value per channel "
                    f"(input {x.shape}); use eval() for single samples"
                )
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=axes, keepdims=True)
            xhat = centred / (var + self.eps).sqrt()
            self._update_running(mean.data.reshape(-1), var.data.reshape(-1), n)
        else:
            mean = Tensor(self.running_mean.reshape(shape))
            std = Tensor(np.sqrt(self.running_var + self.eps).reshape(shape))
            xhat = (x - mean) / std
        return xhat * self.weight.reshape(shape) + self.bias.reshape(shape)

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        m = self.momentum
        with no_grad():  # in place: a backend holding views of the buffers sees the update
            self.running_mean *= 1.0 - m
            self.running_mean += m * mean
            self.running_var *= 1.0 - m
            self.running_var += m * var * n / (n - 1)

    def config(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}


class BatchNorm1d(_BatchNorm):
    """``BatchNorm1d(num_features, eps=1e-5, momentum=0.1)`` on (B, F) or (B, C, L)."""

    ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """``BatchNorm2d(C, eps=1e-5, momentum=0.1)`` on (B, C, H, W)."""

    ndims = (4,)


class LayerNorm(Module):
    """``LayerNorm(normalized_shape, eps=1e-5)``: each example (each token of a sequence)
    normalised over its last axis, x̂ = (x − mean)/√(var + ε) with the biased variance, then
    γ·x̂ + β (``weight`` ones, ``bias`` zeros). Unlike batch norm it uses no batch statistics,
    so training and eval compute the same thing — the normalisation of a transformer block."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5, dtype: Any = np.float64):
        super().__init__()
        self.normalized_shape, self.eps = int(normalized_shape), float(eps)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1 or x.shape[-1] != self.normalized_shape:
            raise ShapeError(
                f"LayerNorm({self.normalized_shape}): input {x.shape} must end with "
                f"{self.normalized_shape} features"
            )
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=-1, keepdims=True)
        return centred / (var + self.eps).sqrt() * self.weight + self.bias

    def config(self) -> dict:
        return {"normalized_shape": self.normalized_shape, "eps": self.eps}
