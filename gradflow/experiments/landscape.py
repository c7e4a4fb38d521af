"""The loss landscape of a trained network along two random, filter-normalised directions.

A network has thousands of parameters; to see the loss around the trained weights θ* we
cut the landscape with a plane, L(θ* + a·δ + b·η) for a, b in [−span, span]. Random
directions δ, η would be unfair to the picture: scaling a ReLU layer's weights up and the
next one's down changes nothing, so a raw random step is large for small weights and small
for large ones. *Filter normalisation* (Li et al., *Visualizing the Loss Landscape of Neural
Nets*, 2018) fixes the scale: each filter of the direction (a row of a Linear weight, one
output channel of a Conv kernel: a slice along the first axis) is rescaled to the norm of the
same filter of θ*, so a = 1 means "as far again as each filter's own size". Biases and other
1-D parameters get direction 0, as in the paper.

:func:`loss_landscape` returns the grid of losses (no gradients are kept and the model's
weights are restored exactly afterwards); :func:`gradflow.visual.plots.plot_loss_landscape`
draws it as contours and as a 3-D surface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError
from ..graph import no_grad
from ..tensor import Tensor


def filter_normalized_direction(
    params: list[np.ndarray], rng: np.random.Generator
) -> list[np.ndarray]:
    """A Gaussian direction shaped like ``params`` whose every filter (slice along the first
    axis) has the norm of the same filter of the parameter; 1-D parameters (biases) get 0."""
    out = []
    for p in params:
        p = np.asarray(p, float)
        if p.ndim < 2:
            out.append(np.zeros_like(p))
            continue
        d = rng.standard_normal(p.shape)
        axes = tuple(range(1, p.ndim))
        d_norm = np.sqrt(np.sum(d * d, axis=axes, keepdims=True))
        p_norm = np.sqrt(np.sum(p * p, axis=axes, keepdims=True))
        out.append(d * p_norm / np.where(d_norm == 0, 1.0, d_norm))
    return out


@dataclass(frozen=True)
class Landscape:
    """L(θ* + a·δ + b·η) on a grid: ``losses[i, j]`` at a = ``a[j]``, b = ``b[i]``."""

    a: np.ndarray
    b: np.ndarray
    losses: np.ndarray
    directions: tuple[list[np.ndarray], list[np.ndarray]]

    @property
    def centre(self) -> float:
        """The loss at the trained weights (a = b = 0; the grid has an odd size)."""
        i = len(self.b) // 2
        return float(self.losses[i, len(self.a) // 2])


def loss_landscape(
    model: Any,
    loss: str | Callable,
    X: Any,
    y: Any,
    steps: int = 21,
    span: float = 1.0,
    seed: int = 0,
) -> Landscape:
    """The loss of ``model`` on (X, y) over a ``steps`` × ``steps`` grid of the plane through
    its weights spanned by two filter-normalised random directions, a and b in [−span, span].
    ``loss`` is a name of :data:`gradflow.nn.losses.LOSSES` or a function (pred, y) → Tensor.
    The model is put in eval mode (dropout off) and its weights are restored afterwards."""
    from ..training import resolve_loss

    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 3 or steps % 2 == 0:
        raise UsageError(f"loss_landscape: steps must be an odd integer ≥ 3, got {steps!r}")
    if not (isinstance(span, (int, float)) and np.isfinite(span) and span > 0):
        raise UsageError(f"loss_landscape: span must be a positive number, got {span!r}")
    params = model.parameters()
    if not params:
        raise UsageError("loss_landscape: the model has no parameters")
    loss_fn = resolve_loss(loss)
    rng = np.random.default_rng(seed)
    saved = [p.data.copy() for p in params]
    delta = filter_normalized_direction(saved, rng)
    eta = filter_normalized_direction(saved, rng)
    grid = np.linspace(-span, span, steps)
    losses = np.empty((steps, steps))
    x = X if isinstance(X, Tensor) else Tensor(np.asarray(X, float))
    try:
        with no_grad(), model.evaluating():
            for i, b in enumerate(grid):
                for j, a in enumerate(grid):
                    for p, p0, d, e in zip(params, saved, delta, eta):
                        p.data = (p0 + a * d + b * e).astype(p0.dtype, copy=False)
                    losses[i, j] = float(loss_fn(model(x), y).item())
    finally:
        for p, p0 in zip(params, saved):
            p.data = p0
    return Landscape(a=grid, b=grid.copy(), losses=losses, directions=(delta, eta))
