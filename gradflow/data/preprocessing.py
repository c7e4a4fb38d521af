"""Standardisation and min-max normalisation, fitted on the training split only (statistics
taken from validation or test data would leak them into training)."""

from __future__ import annotations

import numpy as np

from ..errors import CallOrderError


class Standardizer:
    """x̂ = (x − μ)/σ per feature (axis 0); constant features get σ = 1 instead of 0.
    ``axis=None`` uses one μ and σ for all values (e.g. image pixels)."""

    def __init__(self, axis: int | None = 0):
        self.axis = axis
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        self.mean = X.mean(axis=self.axis, keepdims=self.axis is not None)
        std = X.std(axis=self.axis, keepdims=self.axis is not None)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise CallOrderError("Standardizer.transform before fit(X_train)")
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.std

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(Z) * self.std + self.mean


class MinMaxScaler:
    """x̂ = (x − min)/(max − min) · (hi − lo) + lo per feature; constant features map to lo."""

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0), axis: int | None = 0):
        self.lo, self.hi = feature_range
        self.axis = axis
        self.min: np.ndarray | None = None
        self.span: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> MinMaxScaler:
        X = np.asarray(X, dtype=np.float64)
        keep = self.axis is not None
        self.min = X.min(axis=self.axis, keepdims=keep)
        span = X.max(axis=self.axis, keepdims=keep) - self.min
        self.span = np.where(span > 0, span, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.min is None:
            raise CallOrderError("MinMaxScaler.transform before fit(X_train)")
        unit = (np.asarray(X, dtype=np.float64) - self.min) / self.span
        return unit * (self.hi - self.lo) + self.lo

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)
