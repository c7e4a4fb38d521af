"""Two math namespaces with the same names: one for Python floats, one for numpy arrays.

Op forwards and derivatives in :mod:`gradflow.ops` are written once against a namespace
``xp``; the scalar engine passes :data:`SCALAR` (``math``-based, fast on floats, no numpy
boxing) and the tensor engine passes :data:`ARRAY` (numpy ufuncs). Numerically delicate
functions (sigmoid, softplus) are written here in their stable forms so no op repeats them.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:  # numpy semantics: overflow is inf, caught later by anomaly mode
        return math.inf


def _log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else math.nan


def _pow(x: float, y: float) -> float:
    try:
        r = x**y
    except (ZeroDivisionError, OverflowError):  # numpy's answer: (-10)^309 is -inf, 0^-1 inf
        with np.errstate(all="ignore"):
            return float(np.power(np.float64(x), y))
    return r if not isinstance(r, complex) else math.nan


def _expm1(x: float) -> float:
    try:
        return math.expm1(x)
    except OverflowError:
        return math.inf


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _where(c, a, b):
    return a if c else b


def _sign(x: float) -> float:
    return (x > 0) - (x < 0) + 0.0


SCALAR = SimpleNamespace(
    exp=_exp,
    log=_log,
    sqrt=_sqrt,
    pow=_pow,
    abs=abs,
    sin=math.sin,
    cos=math.cos,
    tanh=math.tanh,
    expm1=_expm1,
    erf=math.erf,
    sigmoid=_sigmoid,
    softplus=_softplus,
    where=_where,
    sign=_sign,
    maximum=max,
    minimum=min,
    pi=math.pi,
)


def _np_sigmoid(x):
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _np_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _np_erf(x):
    from scipy.special import erf  # imported on first use: scipy.special costs ~0.15 s

    return erf(x)


def _np_pow(x, y):
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.power(x, y)


ARRAY = SimpleNamespace(
    exp=np.exp,
    log=np.log,
    sqrt=np.sqrt,
    pow=_np_pow,
    abs=np.abs,
    sin=np.sin,
    cos=np.cos,
    tanh=np.tanh,
    expm1=np.expm1,
    erf=_np_erf,
    sigmoid=_np_sigmoid,
    softplus=_np_softplus,
    where=np.where,
    sign=np.sign,
    maximum=np.maximum,
    minimum=np.minimum,
    pi=np.pi,
)
