"""Weight initializers of the course. Each takes a shape, fan-in/fan-out and a numpy Generator.

Why several: a layer's outputs keep a steady variance only when Var(w) matches the layer's
fan and activation (the variance-propagation argument of the course). Xavier/Glorot balances
forward and backward for tanh/sigmoid (2/(n_in + n_out)), He/Kaiming doubles LeCun's 1/n_in
because ReLU zeroes half the signal, and the simple ±a/√n_in rule picks a per activation
(a = 2.38 sigmoid, √2 ReLU, 1 tanh). Equal initial weights never break symmetry, so
``zeros``/``constant`` are for biases and experiments only. Biases start at zero by default.

Deterministic: every layer takes ``seed``; with ``seed=None`` it draws from gradflow's own
generator, which :func:`manual_seed` resets (the global numpy RNG is never touched).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ArgumentError, UnknownNameError

_global = {"rng": np.random.default_rng(0)}

#: The simple rule's gain ``a`` in U(±a/√n_in), by the activation that follows the layer.
SIMPLE_GAIN = {"sigmoid": 2.38, "relu": math.sqrt(2.0), "tanh": 1.0}


def manual_seed(seed: int) -> None:
    """Reset gradflow's generator so models built afterwards are reproducible."""
    _global["rng"] = np.random.default_rng(seed)


def rng(seed: int | np.random.Generator | None = None) -> np.random.Generator:
    """A generator: a fresh one for an int seed, the given one, or gradflow's shared one."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed) if seed is not None else _global["rng"]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel) as in the course and PyTorch."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    fan_in = shape[1] * receptive if len(shape) > 1 else shape[0]
    return fan_in, shape[0] * receptive


def zeros(shape, fan_in, fan_out, g):
    """All zeros (biases; weights would never break symmetry)."""
    return np.zeros(shape)


def constant(shape, fan_in, fan_out, g, value: float = 0.0):
    """Every entry ``value``."""
    return np.full(shape, float(value))


def normal(shape, fan_in, fan_out, g, std: float = 0.01, mean: float = 0.0):
    """N(mean, std²); the course's N(0, 0.01) by default."""
    return g.normal(mean, std, shape)


def uniform(shape, fan_in, fan_out, g, a: float = 0.05):
    """U(−a, a)."""
    return g.uniform(-a, a, shape)


def simple(shape, fan_in, fan_out, g, activation: str = "relu"):
    """U(±a/√n_in) with a = 2.38 (sigmoid), √2 (ReLU), 1 (tanh)."""
    if activation not in SIMPLE_GAIN:
        raise ArgumentError(f"simple init: activation must be one of {sorted(SIMPLE_GAIN)}")
    a = SIMPLE_GAIN[activation] / math.sqrt(fan_in)
    return g.uniform(-a, a, shape)


def xavier_uniform(shape, fan_in, fan_out, g):
    """U(±√6/√(n_in + n_out)), variance 2/(n_in + n_out)."""
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


def lecun_uniform(shape, fan_in, fan_out, g):
    """U(±√3/√n_in), variance 1/n_in (pairs with SELU)."""
    a = math.sqrt(3.0 / fan_in)
    return g.uniform(-a, a, shape)


def lecun_normal(shape, fan_in, fan_out, g):
    """N(0, 1/n_in)."""
    return g.normal(0.0, math.sqrt(1.0 / fan_in), shape)


def _simple_for(activation: str) -> Callable:
    def init(shape, fan_in, fan_out, g):
        return simple(shape, fan_in, fan_out, g, activation=activation)

    init.__doc__ = f"U(±{SIMPLE_GAIN[activation]:.4g}/√n_in), the simple rule for {activation}"
    return init


INITIALIZERS: dict[str, Callable] = {
    "zeros": zeros,
    "constant": constant,
    "normal": normal,
    "uniform": uniform,
    "simple": simple,
    "simple_sigmoid": _simple_for("sigmoid"),
    "simple_relu": _simple_for("relu"),
    "simple_tanh": _simple_for("tanh"),
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
}


def initialize(
    name: str | Callable,
    shape: tuple[int, ...],
    seed_or_rng: Any = None,
    dtype: Any = np.float64,
    **kwargs: Any,
) -> np.ndarray:
    """An initialized array of ``shape`` by initializer ``name`` (or a callable with the
    signature ``(shape, fan_in, fan_out, g, **kwargs)``); ``kwargs`` reach it (``std=``,
    ``a=``, ``value=``, ``activation=``)."""
    if callable(name):
        fn = name
    elif name in INITIALIZERS:
        fn = INITIALIZERS[name]
    else:
        raise UnknownNameError(f"unknown initializer {name!r}; known: {', '.join(INITIALIZERS)}")
    fan_in, fan_out = fans(tuple(shape))
    return np.asarray(fn(tuple(shape), fan_in, fan_out, rng(seed_or_rng), **kwargs), dtype=dtype)
