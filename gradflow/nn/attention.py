"""Scaled dot-product attention softmax(QKᵀ/√d_k)V and a single-head self-attention layer.

Dividing by √d_k keeps the scores' variance near 1 when q and k have unit-variance entries,
so the softmax does not saturate (and its gradient does not vanish) as d_k grows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor, where
from .linear import Linear
from .module import Module


def _swap_last(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return t.transpose(axes)


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Any = None, return_weights: bool = False
):
    """softmax(Q Kᵀ / √d_k) V over the last two axes: q (…, Tq, d_k), k (…, Tk, d_k),
    v (…, Tk, d_v) → (…, Tq, d_v). ``mask`` (broadcastable to (…, Tq, Tk), True = may attend)
    blocks positions with a large negative score before the softmax."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(
            f"attention: q {q.shape}, k {k.shape}, v {v.shape} need q and k to share d_k "
            "and k and v to share the sequence length"
        )
    scores = (q @ _swap_last(k)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = where(np.asarray(mask, dtype=bool), scores, Tensor(np.array(-1e9)))
    weights = scores.softmax(axis=-1)
    out = weights @ v
    return (out, weights) if return_weights else out


class SelfAttention(Module):
    """Single-head self-attention on (B, T, d_model): Q, K, V = x W_qᵀ, x W_kᵀ, x W_vᵀ (each
    ``Linear(d_model, d_k, bias=False)``), then an output ``Linear(d_k, d_model)``."""

    def __init__(
        self, d_model: int, d_k: int | None = None, seed: int | None = None, causal: bool = False
    ):
        super().__init__()
        self.d_model, self.d_k, self.causal = int(d_model), int(d_k or d_model), causal
        g = np.random.default_rng(seed) if seed is not None else None
        self.query = Linear(self.d_model, self.d_k, bias=False, init="xavier_uniform", seed=g)
        self.key = Linear(self.d_model, self.d_k, bias=False, init="xavier_uniform", seed=g)
        self.value = Linear(self.d_model, self.d_k, bias=False, init="xavier_uniform", seed=g)
        self.out = Linear(self.d_k, self.d_model, init="xavier_uniform", seed=g)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[2] != self.d_model:
            raise ShapeError(f"SelfAttention: input {x.shape} must be (B, T, {self.d_model})")
        T = x.shape[1]
        mask = np.tril(np.ones((T, T), dtype=bool)) if self.causal else None
        return self.out(
            scaled_dot_product_attention(self.query(x), self.key(x), self.value(x), mask)
        )

    def config(self) -> dict:
        return {"d_model": self.d_model, "d_k": self.d_k, "causal": self.causal}


class MultiheadAttention(Module):
    """``MultiheadAttention(d_model, num_heads, causal=False, seed=None)`` on (B, T, d_model).

    Q, K, V = x W_qᵀ + b_q, … (each ``Linear(d_model, d_model)``) are split into ``num_heads``
    heads of d_k = d_model / num_heads features; every head attends on its own,
    softmax(Q_h K_hᵀ/√d_k) V_h, the heads are concatenated and mixed by ``out``
    (``Linear(d_model, d_model)``). ``forward(query, key=None, value=None, mask=None)``:
    self-attention when only ``query`` is given. The last call's attention weights are kept
    in ``attention_weights`` (numpy, (B, num_heads, Tq, Tk)) for drawing."""

    def __init__(self, d_model: int, num_heads: int, causal: bool = False, seed: int | None = None):
        super().__init__()
        d_model, num_heads = int(d_model), int(num_heads)
        if num_heads < 1 or d_model % num_heads:
            raise ArgumentError(
                f"MultiheadAttention: d_model {d_model} must split into num_heads {num_heads} "
                "equal heads"
            )
        self.d_model, self.num_heads, self.causal = d_model, num_heads, bool(causal)
        self.d_k = d_model // num_heads
        g = np.random.default_rng(seed) if seed is not None else None
        self.query = Linear(d_model, d_model, init="xavier_uniform", seed=g)
        self.key = Linear(d_model, d_model, init="xavier_uniform", seed=g)
        self.value = Linear(d_model, d_model, init="xavier_uniform", seed=g)
        self.out = Linear(d_model, d_model, init="xavier_uniform", seed=g)
        self.attention_weights: np.ndarray | None = None

    def _heads(self, t: Tensor) -> Tensor:
        B, T, _ = t.shape
        return t.reshape(B, T, self.num_heads, self.d_k).transpose(0, 2, 1, 3)

    def forward(
        self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None, mask=None
    ) -> Tensor:
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[2] != self.d_model:
                raise ShapeError(
                    f"MultiheadAttention: {name} {t.shape} must be (B, T, {self.d_model})"
                )
        B, Tq, _ = query.shape
        Tk = key.shape[1]
        if self.causal:
            causal = np.tril(np.ones((Tq, Tk), dtype=bool))
            mask = causal if mask is None else np.logical_and(mask, causal)
        q, k, v = (
            self._heads(self.query(query)),
            self._heads(self.key(key)),
            self._heads(self.value(value)),
        )
        out, weights = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
        self.attention_weights = weights.data.copy()
        merged = out.transpose(0, 2, 1, 3).reshape(B, Tq, self.d_model)
        return self.out(merged)

    def config(self) -> dict:
        return {"d_model": self.d_model, "num_heads": self.num_heads, "causal": self.causal}
