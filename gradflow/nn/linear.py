"""``Linear``: y = x Wᵀ + b, the layer a = σ(Wx + b) of the course without its σ."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import init
from .module import Module, Parameter


class Linear(Module):
    """``Linear(in_features, out_features, bias=True, init="he_uniform", seed=None)``.

    ``weight`` has shape (out, in) and ``bias`` (out,), as in PyTorch; inputs are (batch, in).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "he_uniform",
        seed: int | None = None,
        dtype=np.float64,
    ):
        super().__init__()
        self.in_features, self.out_features, self.init = in_features, out_features, init
        self.weight = Parameter(_init(init, (out_features, in_features), seed, dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
        }


def _init(name, shape, seed, dtype):
    return init.initialize(name, shape, seed, dtype)
