"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells.

A sequence layer is its cell unrolled over time with the *same* weights at every step; the
whole unrolled computation is one graph, so ``backward()`` is backprop through time (BPTT)
with no extra code: the gradient of a shared weight is the sum over the time steps.

Layouts (contracts.md, as PyTorch): input (B, T, I); ``weight_ih`` (G·H, I), ``weight_hh``
(G·H, H) with the gates stacked in PyTorch's order — LSTM i, f, g, o; GRU r, z, n. The initial
state is zeros unless given. All weights and biases start U(±1/√H) (PyTorch's rule), drawn in
the order weight_ih, weight_hh, bias(es) from one generator seeded by ``seed``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor, stack
from . import init as _init
from .module import Module, Parameter

_NONLINEARITIES = ("tanh", "relu")


class _Cell(Module):
    gates = 1
    bias_names: tuple[str, ...] = ("bias",)

    def __init__(
        self, input_size: int, hidden_size: int, seed: int | None = None, dtype: Any = np.float64
    ):
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        g = _init.rng(seed)
        a = 1.0 / math.sqrt(self.hidden_size)
        gh = self.gates * self.hidden_size

        def draw(*shape):
            return Parameter(_init.initialize("uniform", shape, g, dtype, a=a))

        self.weight_ih = draw(gh, self.input_size)
        self.weight_hh = draw(gh, self.hidden_size)
        for name in self.bias_names:
            setattr(self, name, draw(gh))

    def _check_step(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ShapeError(
                f"{type(self).__name__}: step input {x.shape} must be (B, {self.input_size})"
            )

    def zeros(self, batch: int, dtype: Any = np.float64) -> Tensor:
        return Tensor(np.zeros((batch, self.hidden_size), dtype=dtype))

    def _h(self, h: Tensor | None, x: Tensor) -> Tensor:
        if h is None:
            return self.zeros(x.shape[0], x.dtype)
        if h.shape != (x.shape[0], self.hidden_size):
            raise ShapeError(
                f"{type(self).__name__}: hidden state {h.shape} must be "
                f"({x.shape[0]}, {self.hidden_size})"
            )
        return h

    def _gate(self, z: Tensor, k: int) -> Tensor:
        H = self.hidden_size
        return z[:, k * H : (k + 1) * H]

    def config(self) -> dict:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size}


class RNNCell(_Cell):
    """h' = tanh(x W_ihᵀ + h W_hhᵀ + b) (or ReLU): ``RNNCell(input_size, hidden_size)``."""

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", seed=None, dtype=np.float64):
        if nonlinearity not in _NONLINEARITIES:
            raise ArgumentError(f"RNN nonlinearity must be one of {_NONLINEARITIES}")
        super().__init__(input_size, hidden_size, seed, dtype)
        self.nonlinearity = nonlinearity

    def step(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        self._check_step(x)
        h = self._h(h, x)
        z = x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias
        return z.tanh() if self.nonlinearity == "tanh" else z.relu()

    forward = step

    def config(self) -> dict:
        return {**super().config(), "nonlinearity": self.nonlinearity}


class LSTMCell(_Cell):
    """One LSTM step; gates i, f, g, o: c' = f⊙c + i⊙g, h' = o⊙tanh(c').
    ``step(x, (h, c)) -> (h', c')``."""

    gates = 4

    def step(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        self._check_step(x)
        h, c = (None, None) if state is None else state
        h, c = self._h(h, x), self._h(c, x)
        z = x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias
        i = self._gate(z, 0).sigmoid()  # input gate: how much new content to write
        f = self._gate(z, 1).sigmoid()  # forget gate: how much old cell state to keep
        g = self._gate(z, 2).tanh()  # candidate content
        o = self._gate(z, 3).sigmoid()  # output gate: how much of the cell to show
        c = f * c + i * g
        return o * c.tanh(), c

    forward = step


class GRUCell(_Cell):
    """One GRU step; gates r, z, n:
    r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr), z likewise,
    n = tanh(x W_inᵀ + b_in + r⊙(h W_hnᵀ + b_hn)), h' = (1 − z)⊙n + z⊙h."""

    gates = 3
    bias_names = ("bias_ih", "bias_hh")

    def step(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        self._check_step(x)
        h = self._h(h, x)
        gi = x @ self.weight_ih.T + self.bias_ih
        gh = h @ self.weight_hh.T + self.bias_hh
        r = (self._gate(gi, 0) + self._gate(gh, 0)).sigmoid()  # reset gate
        z = (self._gate(gi, 1) + self._gate(gh, 1)).sigmoid()  # update gate
        n = (self._gate(gi, 2) + r * self._gate(gh, 2)).tanh()
        return (1.0 - z) * n + z * h

    forward = step


def _check_sequence(layer: _Cell, x: Tensor) -> None:
    if x.ndim != 3 or x.shape[2] != layer.input_size or x.shape[1] < 1:
        raise ShapeError(
            f"{type(layer).__name__}: input {x.shape} must be (B, T, {layer.input_size}) with T ≥ 1"
        )


def _unroll(cell, x: Tensor, h0: Tensor | None):
    """Apply ``cell.step`` along time; (all hidden states (B, T, H), last h). Backprop through
    time is the graph engine walking back through these T steps."""
    _check_sequence(cell, x)
    h, hs = h0, []
    for t in range(x.shape[1]):
        h = cell.step(x[:, t, :], h)
        hs.append(h)
    return stack(hs, axis=1), h


class RNN(RNNCell):
    """``RNN(input_size, hidden_size, nonlinearity="tanh")`` over (B, T, I); returns
    (all hidden states (B, T, H), last h (B, H))."""

    def forward(self, x: Tensor, h0: Tensor | None = None):
        return _unroll(self, x, h0)


class LSTM(LSTMCell):
    """``LSTM(input_size, hidden_size)`` over (B, T, I); returns (all h (B, T, H), (h_T, c_T))."""

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        _check_sequence(self, x)
        hs = []
        for t in range(x.shape[1]):
            state = self.step(x[:, t, :], state)
            hs.append(state[0])
        return stack(hs, axis=1), state


class GRU(GRUCell):
    """``GRU(input_size, hidden_size)`` over (B, T, I); returns (all h (B, T, H), h_T)."""

    def forward(self, x: Tensor, h0: Tensor | None = None):
        return _unroll(self, x, h0)
