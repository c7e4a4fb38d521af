"""Fold a trained BatchNorm into the Linear/Conv layer before it (for inference).

In eval mode BatchNorm is a fixed affine map per channel:
    BN(z) = γ (z − μ_run) / √(σ²_run + ε) + β = s·z + (β − s·μ_run),  s = γ / √(σ²_run + ε).
With z = W x + b it composes into one layer: W' = s·W (row/filter-wise), b' = s·(b − μ_run) + β.
The folded model gives the same eval outputs with one layer fewer to run.
"""

from __future__ import annotations

import copy

import numpy as np

from ..errors import ShapeError
from .conv import _ConvNd
from .linear import Linear
from .module import Module, Parameter, Sequential
from .norm import _BatchNorm


def fold_into(layer: Linear | _ConvNd, bn: _BatchNorm) -> Linear | _ConvNd:
    """A copy of ``layer`` with ``bn``'s eval-mode affine map folded in."""
    out_features = layer.weight.shape[0]
    if bn.num_features != out_features:
        raise ShapeError(
            f"fold: {type(layer).__name__} has {out_features} outputs but "
            f"{type(bn).__name__} normalises {bn.num_features}"
        )
    s = bn.weight.data / np.sqrt(bn.running_var + bn.eps)
    folded = copy.deepcopy(layer)
    w = layer.weight.data * s.reshape((-1,) + (1,) * (layer.weight.ndim - 1))
    b = layer.bias.data if layer.bias is not None else np.zeros(out_features, w.dtype)
    folded.weight = Parameter(w.astype(layer.weight.dtype))
    folded.bias = Parameter((s * (b - bn.running_mean) + bn.bias.data).astype(w.dtype))
    return folded


def fold_batchnorm(model: Module) -> Module:
    """A copy of ``model`` where every (Linear|Conv, BatchNorm) pair inside a Sequential
    (nested ones too) is replaced by one folded layer. The result is in eval mode."""
    model = copy.deepcopy(model)
    _fold_in_place(model)
    return model.eval()


def _fold_in_place(module: Module) -> None:
    if isinstance(module, Sequential):
        layers: list[Module] = []
        for layer in module.layers:
            prev = layers[-1] if layers else None
            if isinstance(layer, _BatchNorm) and isinstance(prev, (Linear, _ConvNd)):
                layers[-1] = fold_into(prev, layer)
            else:
                layers.append(layer)
        module.layers = layers
    for child in module.children():
        _fold_in_place(child)
