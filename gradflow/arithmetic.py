"""Python's operators on graph nodes, written once for :class:`~gradflow.Value` and
:class:`~gradflow.Tensor`.

Each operator is an op of the table (``a + b`` is ``add``, ``-a`` is ``neg``, ``a ** 2`` is
``pow`` with n = 2, ``a ** b`` of two nodes is ``powv``), and so is each unary elementwise op
as a method (``x.relu()``, ``x.tanh()``, ``x.leaky_relu(0.1)``). :class:`Arithmetic` installs
them on a node class from three things the class supplies:

* ``_lift(self, other, symbol)``: the other operand as a node of the class (a Python or
  numpy number becomes a constant leaf; a Tensor also takes arrays), or ``TypeError``;
* ``_apply(op, inputs, params)``: run an op forward and record it;
* ``_apply2(op, a, b)`` and ``_apply1(op, a)``: the same for a two-input or one-input op
  without parameters (the scalar engine's hot path; they default to ``_apply``);
* optionally ``_binary_method(op, symbol, reflected)`` and ``_unary_method(op, generic)``:
  the whole operator method for a two-input or a one-input op (the scalar engine's, so that
  ``w * x`` and ``z.relu()`` are one Python call each).

The methods are made once per class as small closures over those functions, so ``w * x``
costs one call into the class's ``_apply2`` after a type check, not a chain of lookups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops as O

#: (method, reflected method, op, the symbol named in a TypeError)
BINARY: tuple[tuple[str, str, O.Op, str], ...] = (
    ("__add__", "__radd__", O.ADD, "+"),
    ("__sub__", "__rsub__", O.SUB, "-"),
    ("__mul__", "__rmul__", O.MUL, "*"),
    ("__truediv__", "__rtruediv__", O.DIV, "/"),
)
#: two-input ops written as methods, ``x.maximum(y)`` (no reflected form)
BINARY_METHODS: tuple[tuple[str, O.Op], ...] = (("maximum", O.MAXIMUM), ("minimum", O.MINIMUM))
UNARY: tuple[tuple[str, O.Op], ...] = (("__neg__", O.NEG), ("__abs__", O.ABS))

_NO_PARAMS: dict = {}


def number(x: Any) -> int | float | None:
    """A Python or numpy real number as a Python int/float (so labels read ``x^3``, not
    ``x^np.int64(3)``); None for anything else, booleans included (a comparison's result used
    as a number is almost always a mistake)."""
    if isinstance(x, bool | np.bool_):
        return None
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x)
    return None


def refuse(cls: type, symbol: str, other: Any) -> TypeError:
    """The error for an operand that is neither a node nor a number."""
    return TypeError(
        f"unsupported operand type for {symbol}: {cls.__name__} and {type(other).__name__}"
    )


class Arithmetic:
    """Mixin: the operators and elementwise methods of a node class (see the module doc)."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_lift" in cls.__dict__:  # a node class, not a subclass of one
            _install(cls)

    def silu(self):
        """SiLU(x) = x·σ(x), the swish op with β = 1."""
        return self.swish(beta=1.0)


def _install(cls: type) -> None:
    """Set the operators and elementwise methods on ``cls`` (those it defines itself stay)."""
    lift = cls._lift
    apply = cls._apply
    apply2 = getattr(cls, "_apply2", None) or (lambda op, a, b: apply(op, (a, b), _NO_PARAMS))
    apply1 = getattr(cls, "_apply1", None) or (lambda op, a: apply(op, (a,), _NO_PARAMS))

    def binary(op: O.Op, symbol: str, reflected: bool):
        made = getattr(cls, "_binary_method", None)  # the class's own one-call method
        if made is not None:
            method = made(op, symbol, reflected)
            method.__doc__ = (
                f"``{symbol}`` ({'reflected, ' if reflected else ''}op ``{op.name}``: {op.doc})"
            )
            return method
        # `type(other) is not cls` first: a node of the class (the common case) skips lift
        if reflected:

            def method(self, other):
                if type(other) is not cls:
                    other = lift(self, other, symbol)
                return apply2(op, other, self)

        else:

            def method(self, other):
                if type(other) is not cls:
                    other = lift(self, other, symbol)
                return apply2(op, self, other)

        side = "reflected, " if reflected else ""
        method.__doc__ = f"``{symbol}`` ({side}op ``{op.name}``: {op.doc})"
        return method

    def unary(op: O.Op):
        made = getattr(cls, "_unary_method", None)  # the class's own one-call method
        if made is not None:
            method = made(op)
            method.__doc__ = f"op ``{op.name}``: {op.doc}"
            return method

        def method(self):
            return apply1(op, self)

        method.__doc__ = f"op ``{op.name}``: {op.doc}"
        return method

    def power(self, other):
        """``x ** n`` for a number n (op ``pow``), ``x ** y`` for a node y (op ``powv``)."""
        if isinstance(other, cls):
            return apply2(O.POWV, self, other)
        n = number(other)
        if n is None:
            raise refuse(cls, "**", other)
        return apply(O.POW, (self,), {"n": n})

    def rpower(self, other):
        """``n ** x``: op ``powv`` with the number n as a constant base."""
        return apply2(O.POWV, lift(self, other, "**"), self)

    methods: dict[str, Any] = {"__pow__": power, "__rpow__": rpower}
    for name, rname, op, symbol in BINARY:
        methods[name] = binary(op, symbol, False)
        methods[rname] = binary(op, symbol, True)
    for name, op in BINARY_METHODS:
        methods[name] = binary(op, name, False)
    for name, op in UNARY:
        methods[name] = unary(op)
    for op in O.unary_elementwise():
        if not hasattr(cls, op.name) and op.name not in methods:
            methods[op.name] = _elementwise_method(op, apply, apply1, cls)
    for name, method in methods.items():
        if name in cls.__dict__:
            continue  # the class's own version wins
        method.__name__ = name
        method.__qualname__ = f"{cls.__name__}.{name}"
        setattr(cls, name, method)


def _elementwise_method(op: O.Op, apply, apply1, cls: type):
    def method(self, *args, **kwargs):
        if args or kwargs or op.params:
            return apply(op, (self,), O.bind_params(op, args, kwargs))
        return apply1(op, self)

    made = getattr(cls, "_unary_method", None)
    if made is not None and not op.params:  # one call; arguments given go to `method`
        method = made(op, method)
    method.__doc__ = f"{op.doc} (op ``{op.name}``)"
    return method
