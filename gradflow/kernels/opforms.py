"""The op table's elementwise forms compiled by numba, for kernels to call.

Each elementwise op of :mod:`gradflow.ops` declares its forward ``f(xp, *xs, **params)`` and
its local derivatives ``d(xp, out, *xs, **params)`` once, over a math namespace ``xp``.
:func:`forward` and :func:`partial` compile them with :data:`XP` in place of ``xp``: a
namedtuple holding :data:`gradflow.numerics.SCALAR`'s functions compiled — the stable
sigmoid and softplus are numerics' own Python functions, so their formulas stay in that one
module. A kernel calls a form as ``form(XP, x)`` (parameters positionally, in the op's
order), e.g. ``_SOFTPLUS = opforms.forward("softplus")`` at module level and
``_SOFTPLUS(XP, z)`` in the loop; the activation kernels dispatch over them by code
(:mod:`gradflow.kernels.activation`), the loss kernels use them per element
(:mod:`gradflow.kernels.loss`).

Forms compile without numba's disk cache (their code lives in ``ops.py``/``numerics.py``,
outside the trusted cache directories) and inline into the cached kernels that call them.
numba checks a cached kernel against its own source file only, so gradflow's cached kernels
also carry :func:`gradflow.kernels.fingerprint.fingerprint` in their cache key
(:func:`gradflow.kernels.cachedir.njit`): editing an op's forward or derivative, a constant
it reads, or the order of the activations (their codes) makes every kernel compile afresh
instead of running the old maths. With
``NUMBA_DISABLE_JIT=1`` the forms are the table's Python functions over :data:`XP`'s Python
functions.
"""

from __future__ import annotations

import functools
import math
import types
from collections import namedtuple

import numpy as np

from .. import numerics
from ..ops import OPS
from .cachedir import njit


def _inner(fn, inline="always"):
    """A form compiled for the kernels (not cached on its own: it is inlined into them)."""
    return njit(error_model="numpy", inline=inline)(fn)


# --- numerics.SCALAR for numba: the same names, numba-compilable ---------------------------
# numerics' own functions where numba compiles them as they are (sigmoid, softplus, where);
# math's for those whose Python form catches OverflowError (numba returns inf anyway)
_NUMBA_FORMS = {
    "exp": lambda x: math.exp(x),
    "log": lambda x: np.log(x),  # log 0 = −inf, log of a negative NaN, as numpy
    "sqrt": lambda x: np.sqrt(x),
    "pow": lambda x, y: x**y,
    "abs": lambda x: abs(x),
    "sin": lambda x: math.sin(x),
    "cos": lambda x: math.cos(x),
    "tanh": lambda x: math.tanh(x),
    "expm1": lambda x: math.expm1(x),
    "erf": lambda x: math.erf(x),
    "sigmoid": numerics._sigmoid,
    "softplus": numerics._softplus,
    "where": numerics._where,
    "sign": lambda x: np.sign(
        x
    ),  # as the tensor engine (numerics' bools do not subtract as numpy's)
    "maximum": lambda a, b: a if (a >= b or a != a) else b,
    "minimum": lambda a, b: a if (a <= b or a != a) else b,
}
_names = list(vars(numerics.SCALAR))
assert set(_names) == set(_NUMBA_FORMS) | {"pi"}, "numerics.SCALAR changed: update _NUMBA_FORMS"
XP = namedtuple("NumbaXP", _names)(
    *[numerics.SCALAR.pi if n == "pi" else _inner(_NUMBA_FORMS[n], "never") for n in _names]
)


def compiled_form(fn):
    """An op-table function compiled as :func:`_inner`, with the plain helper functions of its
    own module that it calls (``_swish_d``) compiled and bound in their place — as
    :func:`gradflow.kernels.update.compile_rule` binds a rule's helpers."""
    namespace = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        value = namespace.get(name)
        if isinstance(value, types.FunctionType) and value.__module__ == fn.__module__:
            namespace[name] = compiled_form(value)
    bound = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    bound.__module__, bound.__qualname__ = fn.__module__, fn.__qualname__
    return _inner(bound)


def _partials(op):
    """The op's local derivatives ``d(xp, out, *xs, **params)`` as declared in the table."""
    if not op.derivs:  # a builtin on purpose: a gradflow bug, not bad input
        raise TypeError(f"op {op.name}: no per-input derivatives to compile")
    return op.derivs


@functools.cache
def forward(name: str):
    """The op's forward ``f(XP, *xs, *params)``, compiled."""
    return compiled_form(OPS[name].forward)


@functools.cache
def partial(name: str, i: int = 0):
    """The op's local derivative with respect to input ``i``, ``d(XP, out, *xs, *params)``,
    compiled."""
    return compiled_form(_partials(OPS[name])[i])
