"""The single neurons that came before backprop: the perceptron and ADALINE.

Both compute the net input z = w·x + b (``forward`` returns it, shape (B, 1)) and read the
class as ŷ = step(z): 1 where z > 0, else 0 (:meth:`Perceptron.classify`). They differ in
how they learn, and both rules are plain SGD on a loss of :mod:`gradflow.nn.losses`, so
``fit`` trains them (batch size 1 gives the classic example-by-example rules):

* **perceptron** (McCulloch–Pitts neuron with Rosenblatt's rule): w ← w + η(t − ŷ)x, which
  changes w only for a misclassified example; loss ``"perceptron"``.
* **ADALINE** (Widrow–Hoff, LMS or delta rule): w ← w + η(d − z)x with d = 2t − 1 = ±1 —
  the error is taken on the *linear* output z, before the step; loss ``"adaline"``.

``fit(model, (X, t), loss=model.loss, optimizer=SGD(model.parameters(), lr=η),
batch_size=1)``; :func:`perceptron_step` and :func:`adaline_step` are the same updates for
one example in numpy, as a student computes them by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor
from .module import Module, Parameter


class Perceptron(Module):
    """``Perceptron(in_features, seed=None)``: z = w·x + b, ŷ = step(z); weights start at 0
    (the rule needs no random start) unless a ``seed`` asks for small random ones."""

    #: the loss whose SGD step is this neuron's learning rule
    loss = "perceptron"

    def __init__(self, in_features: int, seed: int | None = None, dtype: Any = np.float64):
        super().__init__()
        if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
            raise ArgumentError(
                f"{type(self).__name__}: in_features must be a whole number >= 1, "
                f"got {in_features!r}"
            )
        self.in_features = in_features
        w = np.zeros((1, in_features), dtype=dtype)
        if seed is not None:
            w[...] = np.random.default_rng(seed).uniform(-0.5, 0.5, size=w.shape)
        self.weight = Parameter(w)
        self.bias = Parameter(np.zeros(1, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(
                f"{type(self).__name__}({self.in_features}): input {x.shape} must be "
                f"(B, {self.in_features})"
            )
        return x @ self.weight.T + self.bias

    def classify(self, X: Any) -> np.ndarray:
        """ŷ = step(w·x + b) for each row of ``X``: 1 where z > 0, else 0."""
        X = np.asarray(X, dtype=self.weight.dtype)
        z = X @ self.weight.data.T + self.bias.data
        return (z.reshape(-1) > 0).astype(np.int64)

    def boundary(self) -> tuple[np.ndarray, float]:
        """(w, b) of the decision boundary w·x + b = 0, as plain numbers."""
        return self.weight.data.reshape(-1).copy(), float(self.bias.data[0])

    def config(self) -> dict:
        return {"in_features": self.in_features}


class Adaline(Perceptron):
    """``Adaline(in_features, seed=None)``: the same neuron as :class:`Perceptron`, trained
    by the LMS/delta rule on its linear output (loss ``"adaline"``)."""

    loss = "adaline"


def _example(x: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.asarray(x, dtype=float).reshape(-1), np.asarray(w, dtype=float).reshape(-1)
    if x.shape != w.shape:
        raise ShapeError(f"one example x {x.shape} and weights w {w.shape} must match")
    return x, w


def perceptron_step(w: Any, b: float, x: Any, t: int, lr: float = 1.0):
    """One perceptron update for example (x, t): ŷ = step(w·x + b);
    w ← w + η(t − ŷ)x, b ← b + η(t − ŷ). Returns (w, b, ŷ)."""
    x, w = _example(x, w)
    yhat = int(w @ x + b > 0)
    return w + lr * (t - yhat) * x, b + lr * (t - yhat), yhat


def adaline_step(w: Any, b: float, x: Any, t: int, lr: float = 0.1):
    """One ADALINE (LMS) update for example (x, t ∈ {0, 1}): z = w·x + b, d = 2t − 1;
    w ← w + η(d − z)x, b ← b + η(d − z). Returns (w, b, z)."""
    x, w = _example(x, w)
    z = float(w @ x + b)
    d = 2 * t - 1
    return w + lr * (d - z) * x, b + lr * (d - z), z
