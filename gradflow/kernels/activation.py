"""Elementwise activations by integer code, forward and backward, over flat arrays.

One code per activation op of :mod:`gradflow.ops`; the formulas are those ops' forward and
local derivatives (the kink convention of the op table: derivative of the ``x ≤ 0`` branch
at exactly 0). ``alpha`` carries the op's parameter (leaky slope, ELU α, swish β).
"""

from __future__ import annotations

import math

from numba import prange

from ..numerics import SELU_ALPHA, SELU_SCALE
from .cachedir import njit

IDENTITY, RELU, LEAKY_RELU, ELU, SELU, GELU, GELU_APPROX = 0, 1, 2, 3, 4, 5, 6
SIGMOID, TANH, SOFTPLUS, SWISH, MISH = 7, 8, 9, 10, 11

# op-table name -> (code, name of the op parameter carried in ``alpha``, its default)
CODES = {
    "identity": (IDENTITY, "", 0.0),
    "relu": (RELU, "", 0.0),
    "leaky_relu": (LEAKY_RELU, "alpha", 0.01),
    "elu": (ELU, "alpha", 1.0),
    "selu": (SELU, "", 0.0),
    "gelu": (GELU, "", 0.0),
    "gelu_approx": (GELU_APPROX, "", 0.0),
    "sigmoid": (SIGMOID, "", 0.0),
    "tanh": (TANH, "", 0.0),
    "softplus": (SOFTPLUS, "", 0.0),
    "swish": (SWISH, "beta", 1.0),
    "mish": (MISH, "", 0.0),
}

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SELU_A = SELU_ALPHA
_SELU_L = SELU_SCALE


@njit(cache=True, error_model="numpy", inline="always")
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True, error_model="numpy", inline="always")
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True, error_model="numpy")
def apply(code, x, alpha):
    """f(x) for one scalar."""
    if code == RELU:
        return x if x > 0.0 else 0.0
    if code == IDENTITY:
        return x
    if code == LEAKY_RELU:
        return x if x > 0.0 else alpha * x
    if code == ELU:
        return x if x > 0.0 else alpha * math.expm1(x)
    if code == SELU:
        return _SELU_L * x if x > 0.0 else _SELU_L * _SELU_A * math.expm1(x)
    if code == GELU:
        return 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))
    if code == GELU_APPROX:  # the table's sigmoid form a·σ(1.702a)
        return x * _sigmoid(1.702 * x)
    if code == SIGMOID:
        return _sigmoid(x)
    if code == TANH:
        return math.tanh(x)
    if code == SOFTPLUS:
        return _softplus(x)
    if code == SWISH:
        return x * _sigmoid(alpha * x)
    # MISH
    return x * math.tanh(_softplus(x))


@njit(cache=True, error_model="numpy")
def derivative(code, x, y, alpha):
    """f'(x) for one scalar, given y = f(x) (cheaper for sigmoid/tanh)."""
    if code == RELU:
        return 1.0 if x > 0.0 else 0.0
    if code == IDENTITY:
        return 1.0
    if code == LEAKY_RELU:
        return 1.0 if x > 0.0 else alpha
    if code == ELU:
        return 1.0 if x > 0.0 else alpha * math.exp(x)
    if code == SELU:
        return _SELU_L if x > 0.0 else _SELU_L * _SELU_A * math.exp(x)
    if code == GELU:
        return 0.5 * (1.0 + math.erf(x * _INV_SQRT2)) + x * _INV_SQRT_2PI * math.exp(-0.5 * x * x)
    if code == GELU_APPROX:
        s = _sigmoid(1.702 * x)
        return s + 1.702 * x * s * (1.0 - s)
    if code == SIGMOID:
        return y * (1.0 - y)
    if code == TANH:
        return 1.0 - y * y
    if code == SOFTPLUS:
        return _sigmoid(x)
    if code == SWISH:
        s = _sigmoid(alpha * x)
        return s + alpha * x * s * (1.0 - s)
    # MISH: d/dx x·tanh(sp(x)) = tanh(sp) + x·(1 − tanh²(sp))·σ(x)
    t = math.tanh(_softplus(x))
    return t + x * (1.0 - t * t) * _sigmoid(x)


@njit(cache=True, error_model="numpy")
def forward(z, a, code, alpha):
    """a = f(z) elementwise over flat (1-D) arrays."""
    for i in range(z.size):
        a[i] = apply(code, z[i], alpha)


@njit(cache=True, error_model="numpy")
def backward(z, a, da, dz, code, alpha):
    """dz = da ⊙ f'(z) elementwise over flat arrays (``dz`` may alias ``da``)."""
    for i in range(z.size):
        dz[i] = da[i] * derivative(code, z[i], a[i], alpha)


@njit(cache=True, error_model="numpy", parallel=True)
def forward_parallel(z, a, code, alpha):
    """As :func:`forward`, split over threads (for large conv feature maps)."""
    for i in prange(z.size):
        a[i] = apply(code, z[i], alpha)


@njit(cache=True, error_model="numpy", parallel=True)
def backward_parallel(z, a, da, dz, code, alpha):
    for i in prange(z.size):
        dz[i] = da[i] * derivative(code, z[i], a[i], alpha)
