"""Weight initializers of the course. Each takes a shape, fan-in/fan-out and a numpy Generator.

Deterministic: every layer takes ``seed``; with ``seed=None`` it draws from gradflow's own
generator, which :func:`manual_seed` resets (the global numpy RNG is never touched).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

_global = {"rng": np.random.default_rng(0)}


def manual_seed(seed: int) -> None:
    """Reset gradflow's generator so models built afterwards are reproducible."""
    _global["rng"] = np.random.default_rng(seed)


def rng(seed: int | None = None) -> np.random.Generator:
    return np.random.default_rng(seed) if seed is not None else _global["rng"]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel) as in the course and PyTorch."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    fan_in = shape[1] * receptive if len(shape) > 1 else shape[0]
    return fan_in, shape[0] * receptive


def zeros(shape, fan_in, fan_out, g):
    return np.zeros(shape)


def xavier_uniform(shape, fan_in, fan_out, g):
    """U(±√6/√(n_in + n_out))."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return g.uniform(-a, a, shape)


def xavier_normal(shape, fan_in, fan_out, g):
    """N(0, 2/(n_in + n_out))."""
    return g.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)


def he_uniform(shape, fan_in, fan_out, g):
    """U(±√6/√n_in), variance 2/n_in."""
    a = math.sqrt(6.0 / fan_in)
    return g.uniform(-a, a, shape)


def he_normal(shape, fan_in, fan_out, g):
    """N(0, 2/n_in)."""
    return g.normal(0.0, math.sqrt(2.0 / fan_in), shape)


INITIALIZERS: dict[str, Callable] = {
    "zeros": zeros,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def initialize(name: str, shape: tuple[int, ...], seed_or_rng=None, dtype=np.float64) -> np.ndarray:
    """An initialized array of ``shape`` by initializer ``name``."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; known: {', '.join(INITIALIZERS)}")
    g = seed_or_rng if isinstance(seed_or_rng, np.random.Generator) else rng(seed_or_rng)
    fan_in, fan_out = fans(tuple(shape))
    return np.asarray(INITIALIZERS[name](tuple(shape), fan_in, fan_out, g), dtype=dtype)
