"""Inverted dropout (and Monte-Carlo dropout at inference)."""

from __future__ import annotations

from ..errors import ArgumentError
from ..tensor import Tensor
from . import init as _init
from .module import Module


class Dropout(Module):
    """``Dropout(p=0.5, mc=False, seed=None)``.

    Training: each element is zeroed with probability p and the survivors are scaled by
    1/(1 − p) ("inverted" dropout), so the expected activation is unchanged and eval needs no
    rescaling. Eval: the identity — unless ``mc=True``, which keeps sampling masks at
    inference (Monte-Carlo dropout: average several stochastic passes for a mean and a spread).
    """

    def __init__(self, p: float = 0.5, mc: bool = False, seed: int | None = None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ArgumentError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.mc = float(p), bool(mc)
        self._rng = _init.rng(seed)

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not (self.training or self.mc):
            return x
        keep = self._rng.random(x.shape) >= self.p
        mask = keep.astype(x.dtype) / (1.0 - self.p)
        return x * Tensor(mask)

    @property
    def generator(self):
        """The numpy Generator the masks are drawn from (the jit backend draws from it too,
        so both backends drop the same units for the same seed)."""
        return self._rng

    def config(self) -> dict:
        return {"p": self.p, "mc": self.mc}
