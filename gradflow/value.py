"""``Value``: a scalar node holding a Python float, a drop-in for micrograd's ``Value``.

Arithmetic goes through the op table with the :data:`~gradflow.numerics.SCALAR` math
namespace, so a scalar graph records exactly the ops a student writes (``x * w + b``) and the
same records drive the trace, the renderings and the SymPy checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops as O
from .graph import Node, _state, check_backward, check_forward
from .numerics import ARRAY, SCALAR

_NO_PARAMS: dict = {}


class Value(Node):
    """A scalar with a gradient. ``Value(data, _children=(), _op='', label='')`` as in micrograd."""

    __slots__ = ()
    _EMPTY_GRAD = 0.0
    # numpy scalars and arrays on the left of an operator defer to Value's reflected method
    # (np.int64(3) * v), instead of numpy treating the Value as an object to broadcast
    __array_ufunc__ = None

    def __init__(
        self,
        data: Any,
        _children: tuple = (),
        _op: str = "",
        label: str = "",
        requires_grad: bool = True,
    ):
        if isinstance(data, Node):
            raise TypeError("Value(data): data must be a number, not a graph node")
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self.requires_grad = requires_grad
        self._op = None
        self._inputs = ()
        self._params = _NO_PARAMS
        self._g = None
        self._backprop_done = False
        self.scope = _state.mode.scope

    # --- graph core protocol ----------------------------------------------------------
    def _seed(self, grad: Any) -> float:
        return 1.0 if grad is None else float(grad)

    def _backward_step(self, record: list | None, anomaly: bool) -> None:
        op, ins, g = self._op, self._inputs, self._g
        xs = [x.data for x in ins]
        try:
            locs = op.locals(SCALAR, self.data, xs, self._params)
        except (ZeroDivisionError, OverflowError, ValueError):
            with np.errstate(all="ignore"):
                a = [np.float64(x) for x in xs]
                locs = [float(v) for v in op.locals(ARRAY, np.float64(self.data), a, self._params)]
        if record is None and not anomaly:  # the hot path: nothing to record or check
            for inp, local in zip(ins, locs):
                if inp.requires_grad:
                    acc = inp._g
                    inp._g = local * g if acc is None else acc + local * g
            return
        for i, inp in enumerate(ins):
            if not inp.requires_grad:
                continue
            local = locs[i]
            c = local * g
            if anomaly:
                check_backward(c, self, i)
            inp._g = c if inp._g is None else inp._g + c
            if record is not None:
                record.append((self, i, local, g, c))

    def _commit(self) -> None:
        if self._op is None:
            self.grad += self._g
        else:
            self.grad = self._g

    def _zero(self) -> None:
        self.grad = 0.0
        self._g = None

    # --- arithmetic ---------------------------------------------------------------------
    def __add__(self, other):
        return apply(O.ADD, (self, _lift(other, "+")))

    def __radd__(self, other):
        return apply(O.ADD, (_lift(other, "+"), self))

    def __sub__(self, other):
        return apply(O.SUB, (self, _lift(other, "-")))

    def __rsub__(self, other):
        return apply(O.SUB, (_lift(other, "-"), self))

    def __mul__(self, other):
        return apply(O.MUL, (self, _lift(other, "*")))

    def __rmul__(self, other):
        return apply(O.MUL, (_lift(other, "*"), self))

    def __truediv__(self, other):
        return apply(O.DIV, (self, _lift(other, "/")))

    def __rtruediv__(self, other):
        return apply(O.DIV, (_lift(other, "/"), self))

    def __neg__(self):
        return apply(O.NEG, (self,))

    def __pow__(self, other):
        if isinstance(other, Value):
            return apply(O.POWV, (self, other))
        number = _number(other)
        if number is not None:
            return apply(O.POW, (self,), {"n": number})
        raise TypeError(f"unsupported operand type for **: Value and {type(other).__name__}")

    def __rpow__(self, other):
        return apply(O.POWV, (_lift(other, "**"), self))

    def __abs__(self):
        return apply(O.ABS, (self,))

    def maximum(self, other):
        return apply(O.MAXIMUM, (self, _lift(other, "maximum")))

    def minimum(self, other):
        return apply(O.MINIMUM, (self, _lift(other, "minimum")))

    def silu(self):
        return self.swish(beta=1.0)

    def __float__(self) -> float:
        return self.data

    def __repr__(self) -> str:
        lab = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data}, grad={self.grad}{lab})"

    def _repr_html_(self) -> str:  # Jupyter: name, op, data and grad as a small table
        from .display import node_html

        return node_html(self)

    def _repr_latex_(self) -> str | None:
        from .display import node_latex

        return node_latex(self)


def _number(x: Any) -> int | float | None:
    """A Python or numpy real number as a Python int/float (so labels read ``x^3``, not
    ``x^np.int64(3)``); None for anything else, booleans included (a comparison's result used as
    a number is almost always a mistake)."""
    if isinstance(x, bool | np.bool_):
        return None
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x)
    return None


def _lift(other: Any, symbol: str) -> Value:
    """Wrap a Python number as a constant leaf (no gradient is computed for it)."""
    if isinstance(other, Value):
        return other
    number = _number(other)
    if number is not None:
        return Value(number, requires_grad=False)
    raise TypeError(f"unsupported operand type for {symbol}: Value and {type(other).__name__}")


def apply(op: O.Op, inputs: tuple[Value, ...], params: dict = _NO_PARAMS) -> Value:
    """Run a scalar op forward and record it (unless inside ``no_grad()``)."""
    xs = [x.data for x in inputs]
    try:
        data = op.forward(SCALAR, *xs, **params)
    except (ZeroDivisionError, OverflowError, ValueError):
        data = _ieee(lambda: op.forward(ARRAY, *[np.float64(x) for x in xs], **params))
    out = Value.__new__(Value)
    out.data = float(data)
    out.grad = 0.0
    out.label = ""
    out._g = None
    out._backprop_done = False
    mode = _state.mode
    out.scope = mode.scope
    out.requires_grad = False
    out._op, out._inputs, out._params = None, (), _NO_PARAMS
    if mode.grad:
        for x in inputs:
            if x.requires_grad:
                out.requires_grad = True
                out._op, out._inputs, out._params = op, inputs, params
                break
    if mode.anomaly:
        check_forward(op, out.data, inputs)
    return out


def _ieee(fn) -> float:
    """Python floats raise on 1/0 and overflow; give numpy's IEEE answer (inf or nan) instead,
    so results match the tensor engine and anomaly mode can name the op."""
    with np.errstate(all="ignore"):
        return float(fn())


def _unary_method(op: O.Op):
    def method(self, *args, **kwargs):
        params = O.bind_params(op, args, kwargs) if (args or kwargs or op.params) else _NO_PARAMS
        return apply(op, (self,), params)

    method.__name__ = op.name
    method.__doc__ = f"{op.doc} (op ``{op.name}``)"
    return method


for _op in O.unary_elementwise():
    if not hasattr(Value, _op.name):
        setattr(Value, _op.name, _unary_method(_op))


def linear(ws: list[Value], xs: list[Value], b: Value) -> Value:
    """A neuron's pre-activation z = Σ wᵢxᵢ + b as one node (see the ``linear`` op)."""
    if len(ws) != len(xs):
        raise ValueError(f"linear: {len(ws)} weights but {len(xs)} inputs")
    xs = [x if type(x) is Value else _lift(x, "linear") for x in xs]
    ins = (*ws, *xs, b)
    return apply(O.LINEAR, ins)
