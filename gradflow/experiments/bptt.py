"""Backpropagation through time, step by step: how much gradient reaches each time step.

An RNN unrolled over T steps is T copies of one cell sharing its weights; the loss at the end
sends its gradient back through every copy. Each step multiplies it by the cell's Jacobian
∂hₜ/∂hₜ₋₁ (for the plain RNN diag(1 − hₜ²)·W_hh), so after k steps it has been multiplied k
times: it shrinks geometrically when those factors are below 1 (vanishing gradient) and grows
when they are above 1 (exploding gradient). :func:`bptt_gradient_norms` runs a recurrent
model over a sequence on the graph engine, backpropagates a loss of its hidden states, and
returns ‖∂L/∂hₜ‖ and ‖∂L/∂xₜ‖ for every step; :func:`gradflow.visual.draw_unrolled` draws the
copies with these norms as bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ShapeError, UsageError
from ..nn.recurrent import GRUCell, LSTMCell, RNNCell
from ..tensor import Tensor


def cell_name(model: Any) -> str:
    """ "RNN", "LSTM" or "GRU" for a recurrent layer or cell of gradflow.nn."""
    for cls, name in ((LSTMCell, "LSTM"), (GRUCell, "GRU"), (RNNCell, "RNN")):
        if isinstance(model, cls):
            return name
    raise UsageError(
        f"bptt: {type(model).__name__} is not a recurrent layer (RNN, LSTM, GRU or their cells)"
    )


def last_state_sum(hs: list[Tensor]) -> Tensor:
    """The default loss L = Σ h_T: every unit of the last hidden state gets gradient 1."""
    return hs[-1].sum()


@dataclass(frozen=True)
class BPTTNorms:
    """‖∂L/∂hₜ‖ and ‖∂L/∂xₜ‖ for t = 1 … T (index t − 1), and the loss."""

    cell: str
    hidden: np.ndarray
    inputs: np.ndarray
    loss: float

    @property
    def ratio(self) -> float:
        """‖∂L/∂h₁‖ / ‖∂L/∂h_T‖: below 1 the gradient vanished on its way back, above 1 it
        exploded."""
        last = self.hidden[-1]
        return float(self.hidden[0] / last) if last else float("inf")


def bptt_gradient_norms(
    model: Any, x: Any, loss: Callable[[list[Tensor]], Tensor] = last_state_sum
) -> BPTTNorms:
    """Run ``model`` (RNN, LSTM, GRU or a cell) over ``x`` of shape (T, I) or (B, T, I) one
    step at a time from a zero state, backpropagate ``loss(hidden states)`` and return the
    gradient norm that reaches each step's hidden state and input."""
    name = cell_name(model)
    data = np.asarray(x.data if isinstance(x, Tensor) else x, float)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[1] < 1 or data.shape[2] != model.input_size:
        raise ShapeError(
            f"bptt: x {np.shape(x)} must be (T, {model.input_size}) or "
            f"(B, T, {model.input_size}) with T ≥ 1"
        )
    xs = Tensor(data, requires_grad=True)
    state, hs = None, []
    for t in range(data.shape[1]):
        state = model.step(xs[:, t, :], state)
        hs.append(state[0] if name == "LSTM" else state)
    for p in model.parameters():
        p.grad = None
    out = loss(hs)
    out.backward()
    hidden = np.array([0.0 if h.grad is None else float(np.linalg.norm(h.grad)) for h in hs])
    grads = np.zeros_like(data) if xs.grad is None else np.asarray(xs.grad)
    inputs = np.sqrt(np.sum(grads**2, axis=(0, 2)))
    return BPTTNorms(cell=name, hidden=hidden, inputs=inputs, loss=float(out.item()))
