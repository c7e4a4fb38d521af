"""The bias–variance decomposition, estimated over many training sets (seed 001).

A model's parameters φ[D] depend on the training set D, so its prediction f[x, φ[D]] is a
random variable. With targets y = μ[x] + noise of variance σ², the expected test error at x
splits into three terms (the course's notation):

    E_D[E_y[L[x]]] = E_D[(f[x, φ[D]] − f_μ[x])²] + (f_μ[x] − μ[x])² + σ²
                   =          variance           +       bias²       + noise,

with f_μ[x] = E_D[f[x, φ[D]]], the expected model. :func:`bias_variance` estimates each
term by fitting the same model class to ``datasets`` independent training sets drawn from
the same distribution, averaging over a grid of test inputs, and measures the test error
directly on fresh noisy targets so the sum can be checked against it.

The default model class is polynomial least squares (:func:`polynomial_fit`, in the
Legendre basis so degree 15 is still well conditioned; with more coefficients than points it
takes the minimum-norm solution), ``complexity`` being the degree. Any other class can be
passed as ``fit(x, y, complexity) -> predict``, e.g. a small MLP trained with
:func:`gradflow.fit` whose complexity is its width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre

from ..errors import UsageError

Predictor = Callable[[np.ndarray], np.ndarray]
Fit = Callable[[np.ndarray, np.ndarray, int], Predictor]


def sine(x: np.ndarray) -> np.ndarray:
    """μ[x] = sin(2πx), the default function to learn on [0, 1]."""
    return np.sin(2 * np.pi * x)


def polynomial_fit(x: np.ndarray, y: np.ndarray, degree: int, lo: float = 0.0, hi: float = 1.0):
    """Least-squares polynomial of ``degree`` through (x, y), in the Legendre basis on [lo, hi]
    (mapped to [−1, 1]); returns the fitted function."""

    def basis(t: np.ndarray) -> np.ndarray:
        return legendre.legvander(2 * (np.asarray(t, float) - lo) / (hi - lo) - 1, degree)

    coef, *_ = np.linalg.lstsq(basis(x), y, rcond=None)
    return lambda t: basis(t) @ coef


@dataclass(frozen=True)
class BiasVarianceRow:
    """The three terms at one complexity, each averaged over the test inputs."""

    complexity: int
    bias2: float
    variance: float
    noise: float
    test_error: float  # measured on fresh noisy targets, averaged over the training sets

    @property
    def expected_error(self) -> float:
        """bias² + variance + noise: the decomposition's prediction of ``test_error``."""
        return self.bias2 + self.variance + self.noise


def _positive_int(name: str, value, least: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
        raise UsageError(f"bias_variance: {name} must be an integer ≥ {least}, got {value!r}")
    return int(value)


def bias_variance(
    complexities: Sequence[int] = tuple(range(0, 13)),
    fit: Fit | None = None,
    function: Callable[[np.ndarray], np.ndarray] = sine,
    n_train: int = 20,
    noise: float = 0.3,
    datasets: int = 200,
    n_test: int = 200,
    seed: int = 0,
    x_range: tuple[float, float] = (0.0, 1.0),
) -> list[BiasVarianceRow]:
    """bias², variance and noise of a model class at each complexity, from ``datasets``
    training sets of ``n_train`` points (one x uniform in each of n_train equal parts of
    ``x_range``, y = function(x) + N(0,
    noise²)); the test inputs are ``n_test`` evenly spaced points of ``x_range``. The same
    training sets are used for every complexity, so the curves are comparable."""
    n_train = _positive_int("n_train", n_train)
    datasets = _positive_int("datasets", datasets, least=2)
    n_test = _positive_int("n_test", n_test)
    if not complexities:
        raise UsageError("bias_variance: complexities is empty")
    for c in complexities:
        _positive_int("each complexity", c, least=0)
    if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
        raise UsageError(f"bias_variance: noise must be a number ≥ 0, got {noise!r}")
    lo, hi = (float(v) for v in x_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise UsageError(f"bias_variance: x_range must be (lo, hi) with lo < hi, got {x_range!r}")
    if fit is None:

        def fit(x, y, degree):
            return polynomial_fit(x, y, degree, lo, hi)

    rng = np.random.default_rng(seed)
    # one x in each of n_train equal bins (stratified): no training set leaves a wide gap,
    # where a high-degree polynomial would swing to ±10⁶ and swamp every average
    bins = (np.arange(n_train) + rng.uniform(size=(datasets, n_train))) / n_train
    xs = lo + (hi - lo) * bins
    ys = function(xs) + noise * rng.standard_normal(xs.shape)
    x_test = np.linspace(lo, hi, n_test)
    mu = function(x_test)
    y_fresh = mu + noise * rng.standard_normal((datasets, n_test))
    rows = []
    for c in complexities:
        preds = np.array([fit(x, y, int(c))(x_test) for x, y in zip(xs, ys)])
        mean_model = preds.mean(axis=0)  # f_μ[x]
        rows.append(
            BiasVarianceRow(
                complexity=int(c),
                bias2=float(np.mean((mean_model - mu) ** 2)),
                variance=float(np.mean((preds - mean_model) ** 2)),
                noise=float(noise) ** 2,
                test_error=float(np.mean((preds - y_fresh) ** 2)),
            )
        )
    return rows


def best_complexity(rows: Sequence[BiasVarianceRow]) -> int:
    """The complexity with the smallest bias² + variance (the sweet spot of the trade-off)."""
    return min(rows, key=lambda r: r.bias2 + r.variance).complexity
