"""Implicit regularisation: gradient descent follows a modified loss (seed 001).

Gradient descent with step α, φₖ₊₁ = φₖ − α·∇L(φₖ), is not the gradient flow
dφ/dt = −∇L(φ) sampled at t = kα: every finite step overshoots the curve a little. Backward
error analysis (Barrett & Dherin, *Implicit Gradient Regularization*, 2021) finds the flow
that GD does follow to second order in α: the flow of the modified loss

    L_GD(φ) = L(φ) + (α/4)·‖∂L/∂φ‖²,        ∇L_GD = ∇L + (α/2)·H·∇L

(H the Hessian of L). The extra term has the same minima as L but pushes the path away
from places with a large gradient, so GD can end in a different minimum than the flow.

:func:`implicit_regularization` runs all three from one start: GD, the flow on L and the
flow on L_GD (both integrated with small Runge–Kutta steps and sampled at t = kα), and
reports how far GD's iterates are from each flow. The distance to the plain flow shrinks
like α, the distance to the modified flow like α², which :func:`distance_table` shows over
several α.

The default problem is the course's smallest model with more than one minimum: y = a·b·x
fitted to one example (x = 1, y = 1), L(a, b) = ½(ab − 1)². Its minima are the hyperbola
ab = 1. The plain flow keeps a² − b² constant (d/dt (a² − b²) = 0), so it slides to the
minimum with the imbalance it started with; GD and the modified flow shrink a² − b² and
end at a more balanced (flatter: the Hessian's largest eigenvalue there is a² + b²) minimum.

Gradients come from gradflow's scalar engine (the loss is a function of ``Value`` s); H·∇L is
a central difference of two gradients along ∇L, accurate to about 1e-9 here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..value import Value

Loss = Callable[[list[Value]], Value]


def product_loss(phi: list[Value]) -> Value:
    """L(a, b) = ½(ab − 1)²: the model y = a·b·x fitted to the one example x = 1, y = 1."""
    a, b = phi
    return 0.5 * (a * b - 1) ** 2


def gradient(loss: Loss, phi: np.ndarray) -> np.ndarray:
    """∂L/∂φ at ``phi`` by backpropagation through gradflow's scalar engine."""
    params = [Value(float(p)) for p in phi]
    out = loss(params)
    out.backward()
    return np.array([p.grad for p in params])


def modified_gradient(loss: Loss, phi: np.ndarray, lr: float) -> np.ndarray:
    """∇L_GD = ∇L + (α/2)·H·∇L, the gradient of L + (α/4)·‖∇L‖²; H·∇L is a central
    difference of ∇L along ∇L (step 1e-6 of the unit direction)."""
    g = gradient(loss, phi)
    norm = float(np.linalg.norm(g))
    if norm == 0.0:
        return g
    u, eps = g / norm, 1e-6
    hu = (gradient(loss, phi + eps * u) - gradient(loss, phi - eps * u)) / (2 * eps)
    return g + 0.5 * lr * norm * hu


def gradient_descent(loss: Loss, start: Sequence[float], lr: float, steps: int) -> np.ndarray:
    """The iterates φ₀ … φ_steps of φₖ₊₁ = φₖ − α·∇L(φₖ), shape (steps + 1, n)."""
    path = [np.asarray(start, float)]
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run ends in inf/nan
        for _ in range(steps):
            path.append(path[-1] - lr * gradient(loss, path[-1]))
    return np.array(path)


def gradient_flow(
    field: Callable[[np.ndarray], np.ndarray],
    start: Sequence[float],
    dt: float,
    steps: int,
    substeps: int = 16,
) -> np.ndarray:
    """dφ/dt = −field(φ) integrated with classical Runge–Kutta (``substeps`` per ``dt``),
    sampled at t = 0, dt, …, steps·dt; shape (steps + 1, n)."""
    h = dt / substeps
    phi = np.asarray(start, float)
    path = [phi]
    for _ in range(steps):
        for _ in range(substeps):
            k1 = -field(phi)
            k2 = -field(phi + 0.5 * h * k1)
            k3 = -field(phi + 0.5 * h * k2)
            k4 = -field(phi + h * k3)
            phi = phi + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        path.append(phi)
    return np.array(path)


@dataclass(frozen=True)
class ImplicitPaths:
    """GD's iterates and the two flows sampled at the same times t = kα (rows k = 0 … steps)."""

    lr: float
    gd: np.ndarray
    flow: np.ndarray
    modified_flow: np.ndarray

    @property
    def distance_to_flow(self) -> float:
        """maxₖ ‖φₖ − φ_flow(kα)‖: how far GD strays from the gradient flow of L."""
        return float(np.max(np.linalg.norm(self.gd - self.flow, axis=1)))

    @property
    def distance_to_modified_flow(self) -> float:
        """maxₖ ‖φₖ − φ_GD-flow(kα)‖: how far GD strays from the flow of L + (α/4)‖∇L‖²."""
        return float(np.max(np.linalg.norm(self.gd - self.modified_flow, axis=1)))


def _check(lr: float, steps: int, start: Sequence[float]) -> np.ndarray:
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise UsageError(f"implicit_regularization: lr must be a positive number, got {lr!r}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise UsageError(f"implicit_regularization: steps must be an integer ≥ 1, got {steps!r}")
    phi = np.asarray(start, float)
    if phi.ndim != 1 or phi.size == 0 or not np.all(np.isfinite(phi)):
        raise UsageError(
            f"implicit_regularization: start must be a list of finite numbers, got {start!r}"
        )
    return phi


def implicit_regularization(
    loss: Loss = product_loss,
    start: Sequence[float] = (0.3, 0.0),
    lr: float = 0.3,
    steps: int | None = None,
    substeps: int = 16,
) -> ImplicitPaths:
    """GD with step ``lr`` from ``start``, and the flows of L and of L + (lr/4)‖∇L‖² sampled
    at the same times. ``steps`` defaults to round(8 / lr), the same time span for every lr."""
    steps = max(1, round(8 / lr)) if steps is None and lr > 0 else steps
    phi0 = _check(lr, steps, start)
    gd = gradient_descent(loss, phi0, lr, steps)
    if not np.all(np.isfinite(gd)):
        raise UsageError(f"implicit_regularization: gradient descent diverged with lr = {lr}")
    flow = gradient_flow(lambda p: gradient(loss, p), phi0, lr, steps, substeps)
    modified = gradient_flow(lambda p: modified_gradient(loss, p, lr), phi0, lr, steps, substeps)
    return ImplicitPaths(lr=float(lr), gd=gd, flow=flow, modified_flow=modified)


def distance_table(
    lrs: Sequence[float] = (0.3, 0.15, 0.075),
    loss: Loss = product_loss,
    start: Sequence[float] = (0.3, 0.0),
    time: float = 8.0,
) -> list[dict[str, float]]:
    """For each α in ``lrs``: GD's largest distance to the plain and to the modified flow
    over the time span [0, ``time``]. Halving α about halves the first and quarters the second."""
    rows = []
    for lr in lrs:
        paths = implicit_regularization(loss, start, lr, steps=max(1, round(time / lr)))
        rows.append(
            {
                "lr": float(lr),
                "distance_to_flow": paths.distance_to_flow,
                "distance_to_modified_flow": paths.distance_to_modified_flow,
            }
        )
    return rows
