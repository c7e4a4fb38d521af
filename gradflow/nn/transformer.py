"""A transformer block on the graph engine: positional encodings, multi-head self-attention,
a position-wise feed-forward layer, residual connections and layer normalisation.

The block of "Attention is all you need" (seed 002, "Sieci transformers"), as PyTorch's
``TransformerEncoderLayer`` with ``batch_first=True``: on x of shape (B, T, d_model),

    post-norm (default):  x ← LN₁(x + MHA(x));  x ← LN₂(x + FF(x))
    pre-norm:             x ← x + MHA(LN₁(x));  x ← x + FF(LN₂(x))

with FF(x) = W₂ ReLU(W₁x + b₁) + b₂ applied to every position separately. Attention itself
has no idea of order (it is a weighted sum over a set), so the input gets a positional
encoding added: PE(t, 2i) = sin(t/10000^(2i/d)), PE(t, 2i+1) = cos(t/10000^(2i/d)).
Every piece is made of table ops, so it traces, renders and passes ``gradcheck``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor
from .activation import get_activation
from .attention import MultiheadAttention
from .dropout import Dropout
from .linear import Linear
from .losses import cross_entropy
from .module import Module
from .norm import LayerNorm


def positional_encoding(length: int, d_model: int) -> np.ndarray:
    """The sinusoidal encoding, (length, d_model): sin on even features, cos on odd ones,
    wavelengths from 2π to 10000·2π."""
    pos = np.arange(length)[:, None]
    rate = np.exp(-math.log(10000.0) * (np.arange(0, d_model, 2) / d_model))
    pe = np.zeros((length, d_model))
    pe[:, 0::2] = np.sin(pos * rate)
    pe[:, 1::2] = np.cos(pos * rate[: d_model // 2])
    return pe


class PositionalEncoding(Module):
    """Adds :func:`positional_encoding` (a constant, no parameters) to (B, T, d_model)."""

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        self.d_model, self.max_len = int(d_model), int(max_len)
        self.register_buffer("encoding", positional_encoding(self.max_len, self.d_model))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[2] != self.d_model or x.shape[1] > self.max_len:
            raise ShapeError(
                f"PositionalEncoding: input {x.shape} must be (B, T ≤ {self.max_len}, "
                f"{self.d_model})"
            )
        return x + Tensor(self.encoding[: x.shape[1]].astype(x.dtype))

    def config(self) -> dict:
        return {"d_model": self.d_model, "max_len": self.max_len}


class FeedForward(Module):
    """Position-wise feed-forward: W₂ σ(W₁x + b₁) + b₂ on the last axis (every token alone)."""

    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", seed=None):
        super().__init__()
        g = np.random.default_rng(seed) if seed is not None else None
        self.d_model, self.d_ff, self.activation = int(d_model), int(d_ff), activation
        self.hidden = Linear(self.d_model, self.d_ff, seed=g)
        self.act = get_activation(activation)
        self.output = Linear(self.d_ff, self.d_model, init="xavier_uniform", seed=g)

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.act(self.hidden(x)))

    def config(self) -> dict:
        return {"d_model": self.d_model, "d_ff": self.d_ff, "activation": self.activation}


class TransformerBlock(Module):
    """``TransformerBlock(d_model, num_heads, d_ff, dropout=0.0, norm_first=False,
    causal=False, seed=None)``: multi-head self-attention and a feed-forward layer, each with
    a residual connection and a :class:`LayerNorm` (post-norm, or pre-norm with
    ``norm_first``). Maps (B, T, d_model) to (B, T, d_model)."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        causal: bool = False,
        seed: int | None = None,
    ):
        super().__init__()
        seeds = np.random.SeedSequence(seed).generate_state(2) if seed is not None else (None,) * 2
        self.norm_first = bool(norm_first)
        self.attention = MultiheadAttention(d_model, num_heads, causal=causal, seed=seeds[0])
        self.norm1 = LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, d_ff, seed=seeds[1])
        self.norm2 = LayerNorm(d_model)
        self.dropout = Dropout(dropout) if dropout else None
        self.d_model, self.num_heads, self.d_ff = int(d_model), int(num_heads), int(d_ff)

    def _drop(self, x: Tensor) -> Tensor:
        return self.dropout(x) if self.dropout is not None else x

    def forward(self, x: Tensor) -> Tensor:
        if self.norm_first:
            x = x + self._drop(self.attention(self.norm1(x)))
            return x + self._drop(self.feed_forward(self.norm2(x)))
        x = self.norm1(x + self._drop(self.attention(x)))
        return self.norm2(x + self._drop(self.feed_forward(x)))

    def config(self) -> dict:
        return {
            "d_model": self.d_model,
            "num_heads": self.num_heads,
            "d_ff": self.d_ff,
            "norm_first": self.norm_first,
        }


class SequenceTransformer(Module):
    """A token-in, token-out transformer for short sequences: one-hot tokens (B, T, vocab)
    → ``Linear`` embedding + positional encoding → ``num_layers`` :class:`TransformerBlock`\\ s
    → ``Linear`` to per-position logits (B, T, vocab). Train with :func:`sequence_cross_entropy`."""

    def __init__(
        self,
        vocab: int,
        d_model: int = 32,
        num_heads: int = 2,
        d_ff: int = 64,
        num_layers: int = 1,
        max_len: int = 64,
        norm_first: bool = True,
        seed: int | None = None,
    ):
        super().__init__()
        seeds = (
            np.random.SeedSequence(seed).generate_state(num_layers + 2)
            if seed is not None
            else [None] * (num_layers + 2)
        )
        self.vocab, self.d_model = int(vocab), int(d_model)
        self.embed = Linear(self.vocab, self.d_model, init="xavier_uniform", seed=seeds[0])
        self.position = PositionalEncoding(self.d_model, max_len)
        self.blocks = [
            TransformerBlock(d_model, num_heads, d_ff, norm_first=norm_first, seed=seeds[1 + k])
            for k in range(num_layers)
        ]
        self.head = Linear(self.d_model, self.vocab, init="xavier_uniform", seed=seeds[-1])

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[2] != self.vocab:
            raise ShapeError(f"SequenceTransformer: input {x.shape} must be (B, T, {self.vocab})")
        h = self.position(self.embed(x))
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def attention_weights(self) -> list[np.ndarray]:
        """Each block's attention weights from the last forward, (B, heads, T, T) each."""
        return [b.attention.attention_weights for b in self.blocks]

    def config(self) -> dict:
        return {"vocab": self.vocab, "d_model": self.d_model, "num_layers": len(self.blocks)}


def sequence_cross_entropy(logits: Tensor, target: Any) -> Tensor:
    """Cross-entropy averaged over every position: logits (B, T, C), integer targets (B, T)."""
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if logits.ndim != 3 or y.shape != logits.shape[:2]:
        raise ShapeError(
            f"sequence_cross_entropy: needs logits (B, T, C) and classes (B, T), got "
            f"{logits.shape} and {y.shape}"
        )
    B, T, C = logits.shape
    return cross_entropy(logits.reshape(B * T, C), y.reshape(-1))


def digit_sequences(
    n: int = 2000, length: int = 5, task: str = "reverse", digits: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A tiny sequence task: ``n`` random digit sequences, one-hot (n, length, digits), and
    their targets (n, length): the sequence reversed (``task="reverse"``) or sorted
    (``"sort"``)."""
    if task not in ("reverse", "sort"):
        raise ArgumentError(f"digit_sequences: task must be 'reverse' or 'sort', got {task!r}")
    seqs = np.random.default_rng(seed).integers(0, digits, size=(n, length))
    target = seqs[:, ::-1] if task == "reverse" else np.sort(seqs, axis=1)
    return np.eye(digits)[seqs], np.ascontiguousarray(target)
