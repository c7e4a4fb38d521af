"""``Value``: a scalar node holding a Python float, a drop-in for micrograd's ``Value``.

Arithmetic goes through the op table with the :data:`~gradflow.numerics.SCALAR` math
namespace, so a scalar graph records exactly the ops a student writes (``x * w + b``) and the
same records drive the trace, the renderings and the SymPy checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops as O
from .arithmetic import Arithmetic, number, refuse
from .errors import ArgumentTypeError, ShapeError
from .graph import _MANY, _NO_PARAMS, Node, check_backward, check_forward, current_mode
from .numerics import ARRAY, SCALAR

_new = object.__new__
# What Python's float maths raises where numpy gives inf or nan (1/0, exp overflow, log(-1))
_IEEE_ERRORS = (ZeroDivisionError, OverflowError, ValueError)


def apply(op: O.Op, inputs: tuple[Value, ...], params: dict = _NO_PARAMS) -> Value:
    """Run a scalar op forward and record it (unless inside ``no_grad()``)."""
    xs = [x.data for x in inputs]
    try:
        data = op.forward(SCALAR, *xs, **params)
    except _IEEE_ERRORS:
        data = _ieee(lambda: op.forward(ARRAY, *[np.float64(x) for x in xs], **params))
    return _node(op, inputs, params, float(data))


def _binary_method(op: O.Op, symbol: str = "", reflected: bool = False):
    """The method ``a ⊙ b`` (``__mul__``; ``__rmul__`` when ``reflected``) for a two-input op
    without parameters: the hot path of micrograd-style code. One call per node: the operand
    check, one call of the op's forward, the node's slots set here (no list, no tuple, no
    second function)."""
    forward = op.forward

    def method(self: Value, other: Any) -> Value:
        if type(other) is not Value:
            other = self._lift(other, symbol)
        if reflected:
            a, b = other, self
        else:
            a, b = self, other
        try:
            data = forward(SCALAR, a.data, b.data)
        except _IEEE_ERRORS:
            data = _ieee(lambda: forward(ARRAY, np.float64(a.data), np.float64(b.data)))
        out = _new(Value)
        out.data = data if type(data) is float else float(data)
        out.grad = 0.0
        out._g = None
        mode = current_mode()
        out._info = None if not mode.scope else ("", mode.scope, _NO_PARAMS, False)
        if mode.grad and (a.requires_grad or b.requires_grad):
            out.requires_grad = True
            out._op, out._a, out._b = op, a, b
        else:
            out.requires_grad = False
            out._op = out._a = out._b = None
        if mode.anomaly:
            check_forward(op, out.data, (a, b))
        return out

    return method


_BINARY: dict[O.Op, Any] = {}


def _binary(op: O.Op, a: Value, b: Value) -> Value:
    """:func:`apply` for a two-input op without parameters (``a ** b`` of two nodes, ...)."""
    fn = _BINARY.get(op)
    if fn is None:
        fn = _BINARY[op] = _binary_method(op)
    return fn(a, b)


def _unary(op: O.Op, a: Value) -> Value:
    """:func:`apply` for a one-input op without parameters (``-a``, ``a.relu()``)."""
    try:
        data = op.forward(SCALAR, a.data)
    except _IEEE_ERRORS:
        data = _ieee(lambda: op.forward(ARRAY, np.float64(a.data)))
    return _node(op, (a,), _NO_PARAMS, float(data))


def _node(op: O.Op, inputs: tuple[Value, ...], params: dict, data: float) -> Value:
    """The output node of ``op``: recorded with its inputs when one of them needs a gradient
    and recording is on, else a constant."""
    out = _constant(data)
    mode = current_mode()
    if mode.grad:
        for x in inputs:
            if x.requires_grad:
                out.requires_grad = True
                out._op = op
                out._set_inputs(inputs)
                if params:
                    out._params = params
                break
    if mode.anomaly:
        check_forward(op, data, inputs)
    return out


def _constant(x: float) -> Value:
    """A constant leaf (a number lifted into the graph): ``Value(x, requires_grad=False)``."""
    out = _new(Value)
    out.data = x
    out.grad = 0.0
    out._g = None
    out.requires_grad = False
    out._op = out._a = out._b = None
    scope = current_mode().scope
    out._info = None if not scope else ("", scope, _NO_PARAMS, False)
    return out


def _ieee(fn) -> float:
    """Python floats raise on 1/0 and overflow; give numpy's IEEE answer (inf or nan) instead,
    so results match the tensor engine and anomaly mode can name the op."""
    with np.errstate(all="ignore"):
        return float(fn())


class Value(Node, Arithmetic):
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
            raise ArgumentTypeError("Value(data): data must be a number, not a graph node")
        self.data = float(data)
        self.grad = 0.0
        self.requires_grad = requires_grad
        self._op = self._a = self._b = self._g = None
        scope = current_mode().scope
        self._info = None if not (label or scope) else (label, scope, _NO_PARAMS, False)

    # --- graph core protocol ----------------------------------------------------------
    def _seed(self, grad: Any) -> float:
        return 1.0 if grad is None else float(grad)

    def _backward_step(self, record: list | None, anomaly: bool) -> None:
        op, g = self._op, self._g
        ins = self._inputs
        xs = [x.data for x in ins]
        try:
            locs = op.locals(SCALAR, self.data, xs, self._params)
        except _IEEE_ERRORS:
            with np.errstate(all="ignore"):
                a = [np.float64(x) for x in xs]
                locs = [float(v) for v in op.locals(ARRAY, np.float64(self.data), a, self._params)]
        if record is None and not anomaly:
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

    @classmethod
    def _backward_pass(cls, nodes) -> None:
        """:meth:`Node._backward_pass` in one loop: for an op without parameters and one or
        two inputs (``+``, ``*``, ``relu``, ...), the op's own derivative functions are called
        here directly, without a method call, list or keyword packing per node; any other
        node, or one whose derivative raises (1/0: numpy's inf/nan are wanted), takes
        :meth:`_backward_step`. Both local derivatives are computed before either is added,
        so a node handed over has added nothing yet."""
        for n in nodes:
            op = n._op
            if op is None:
                continue
            g = n._g
            if g is None:
                continue
            derivs = op.derivs
            a = n._a
            if a is _MANY or not derivs or op.params:
                n._backward_step(None, False)
                continue
            b = n._b
            try:
                if b is None:
                    la = derivs[0](SCALAR, n.data, a.data)
                else:
                    x, y = a.data, b.data
                    la = derivs[0](SCALAR, n.data, x, y)
                    lb = derivs[1](SCALAR, n.data, x, y)
            except _IEEE_ERRORS:
                n._backward_step(None, False)
                continue
            if a.requires_grad:
                acc = a._g
                a._g = la * g if acc is None else acc + la * g
            if b is not None and b.requires_grad:
                acc = b._g
                b._g = lb * g if acc is None else acc + lb * g

    @classmethod
    def _commit_pass(cls, nodes) -> None:
        """:meth:`_commit` for a whole pass in one loop (the same rule: leaves accumulate,
        interior nodes take this pass's gradient)."""
        for n in nodes:
            g = n._g
            if g is not None:
                if n._op is None:
                    n.grad += g
                else:
                    n.grad = g

    def _commit(self) -> None:
        if self._op is None:
            self.grad += self._g
        else:
            self.grad = self._g

    def _zero(self) -> None:
        self.grad = 0.0
        self._g = None

    # --- arithmetic (operators from gradflow.arithmetic) -----------------------------------
    def _lift(self, other: Any, symbol: str) -> Value:
        """A Python or numpy number as a constant leaf (no gradient is computed for it)."""
        if isinstance(other, Value):
            return other
        n = number(other)
        if n is None:
            raise refuse(Value, symbol, other)
        return _constant(float(n))

    _apply = staticmethod(apply)
    _apply2 = staticmethod(_binary)
    _binary_method = staticmethod(_binary_method)
    _apply1 = staticmethod(_unary)

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


def linear(ws: list[Value], xs: list[Value], b: Value) -> Value:
    """A neuron's pre-activation z = Σ wᵢxᵢ + b as one node (see the ``linear`` op)."""
    if len(ws) != len(xs):
        raise ShapeError(f"linear: {len(ws)} weights but {len(xs)} inputs")
    xs = [x if type(x) is Value else Value._lift(None, x, "linear") for x in xs]
    ins = (*ws, *xs, b)
    return apply(O.LINEAR, ins)
