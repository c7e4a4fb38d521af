"""``Value``: a scalar node holding a Python float, a drop-in for micrograd's ``Value``.

Arithmetic goes through the op table with the :data:`~gradflow.numerics.SCALAR` math
namespace, so a scalar graph records exactly the ops a student writes (``x * w + b``) and the
same records drive the trace, the renderings and the SymPy checks.
"""

from __future__ import annotations

import ast
import linecache
from typing import Any

import numpy as np

from . import ops as O
from .arithmetic import Arithmetic, number, refuse
from .errors import ArgumentError, ArgumentTypeError, ShapeError
from .graph import (
    _MANY,
    _NO_PARAMS,
    PLAIN,
    Node,
    check_backward,
    check_forward,
    current_mode,
    pending_order,
)
from .numerics import ARRAY, SCALAR

_new = object.__new__
# ``_g`` of a node a plain backward pass has seen but not yet given a gradient
_PENDING = type("Pending", (), {"__slots__": (), "__repr__": lambda self: "<pending>"})()
# What Python's float maths raises where numpy gives inf or nan (1/0, exp overflow, log(-1))
_IEEE_ERRORS = (ZeroDivisionError, OverflowError, ValueError)


def _number_data(data: Any) -> float:
    """``Value(data)``'s number as a float, or an error naming what came instead (a string,
    even "3.5", is refused as ``Tensor`` refuses it: a number read from text is the
    caller's to parse)."""
    if not isinstance(data, (str, bytes)):
        try:
            return float(data)
        except OverflowError:
            raise ArgumentError(
                f"Value(data): {_short(data)} is too large for a float (at most about 1.8e308)"
            ) from None
        except (TypeError, ValueError):
            pass
    shape = getattr(data, "shape", None)
    what = f"{type(data).__name__} of shape {shape}" if shape is not None else type(data).__name__
    raise ArgumentTypeError(f"Value(data): data must be a number, got {what}: {_short(data)}")


def _short(x: Any, most: int = 40) -> str:
    text = repr(x)
    return text if len(text) <= most else text[: most - 3] + "..."


def apply(op: O.Op, inputs: tuple[Value, ...], params: dict = _NO_PARAMS) -> Value:
    """Run a scalar op forward and record it (unless inside ``no_grad()``)."""
    xs = [x.data for x in inputs]
    try:
        data = op.forward(SCALAR, *xs, **params)
    except _IEEE_ERRORS:
        data = _ieee(op.forward, *[np.float64(x) for x in xs], **params)
    return _node(op, inputs, params, float(data))


# --- the hot path, generated from the op table ----------------------------------------------
# micrograd-style code makes one node per ``*`` and ``+`` (65k per step of its moons demo), so
# the operator methods and the backward loop are where its time goes. They are written here
# as code templates and compiled once per op: an op declared by formula in the table
# (``"a * b"``, derivatives ``("b", "a")``) has the formula itself in its method and in the
# backward loop, one Python call per node fewer each way than calling the table's function;
# any other op has a call of that function in the same place. The formulas are constants of
# gradflow.ops (never user text), and the generated source is kept in linecache, so
# tracebacks and profilers show the line that ran.


def _names(expr: str) -> set[str]:
    """The variable names an expression reads."""
    return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def _compiled(title: str, source: str) -> Any:
    """Compile ``source`` (one function ``make``) with this module's globals (what ``make``'s
    arguments do not bring: ``Value``, ``_new``, ``current_mode``...); return ``make``."""
    filename = f"<gradflow.value: {title}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    space: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), globals(), space)
    return space["make"]


def _loads(used: set[str], inputs: str, indent: str) -> str:
    """Lines reading the input values among the names ``used`` (``a = na.data``)."""
    return "".join(f"{indent}{x} = n{x}.data\n" for x in inputs if x in used)


_METHOD = """\
def make(xp, PLAIN, op, forward, symbol, generic):
    def method(self{signature}):
{head}        na, nb = {operands}
{loads}        try:
            data = {expr}
        except _IEEE_ERRORS:
            data = _ieee(forward, {ieee_args})
        if current_mode() is not PLAIN:  # no_grad, a scope, anomaly mode: the general way
            return _node(op, {inputs}, _NO_PARAMS, float(data))
        out = _new(Value)
        out.data = data if type(data) is float else float(data)
        out.grad = 0.0
        out._g = out._info = None
        if {requires}:
            out.requires_grad = True
            out._op, out._a, out._b = op, na, nb
        else:
            out.requires_grad = False
            out._op = out._a = out._b = None
        return out

    return method
"""


def _forward_expr(op: O.Op, inputs: str) -> str:
    return op.forward_formula or f"forward(xp, {', '.join(inputs)})"


def _binary_method(op: O.Op, symbol: str = "", reflected: bool = False):
    """The method ``a ⊙ b`` (``__mul__``; ``__rmul__`` when ``reflected``) for a two-input op
    without parameters: the operand check, the forward, the node's slots set, in one call."""
    expr = _forward_expr(op, "ab")
    source = _METHOD.format(
        signature=", other",
        head=(
            "        if type(other) is not Value:\n            other = self._lift(other, symbol)\n"
        ),
        operands="other, self" if reflected else "self, other",
        loads=_loads(_names(expr), "ab", " " * 8),
        expr=expr,
        ieee_args="np.float64(na.data), np.float64(nb.data)",
        requires="na.requires_grad or nb.requires_grad",
        inputs="(na, nb)",
    )
    side = "reflected " if reflected else ""
    return _compiled(f"{side}{op.name}", source)(SCALAR, PLAIN, op, op.forward, symbol, None)


def _unary_method(op: O.Op, generic: Any = None):
    """The method ``x.relu()`` (``-x`` when ``generic`` is None) for a one-input op without
    parameters, in one call as :func:`_binary_method`. Arguments given anyway go to
    ``generic(self, *args, **kwargs)``, which names what is wrong with them."""
    expr = _forward_expr(op, "a")
    head = ""
    if generic is not None:
        head = "        if args or kwargs:\n            return generic(self, *args, **kwargs)\n"
    source = _METHOD.format(
        signature=", *args, **kwargs" if generic is not None else "",
        head=head,
        operands="self, None",
        loads=_loads(_names(expr), "a", " " * 8),
        expr=expr,
        ieee_args="np.float64(na.data)",
        requires="na.requires_grad",
        inputs="(na,)",
    )
    return _compiled(op.name, source)(SCALAR, PLAIN, op, op.forward, op.name, generic)


def _accumulate(node: str, contribution: str, indent: str) -> str:
    """Lines adding ``contribution`` (local derivative × g) into ``node``'s gradient."""
    return (
        f"{indent}if {node}.requires_grad:\n"
        f"{indent}    acc = {node}._g\n"
        f"{indent}    {node}._g = {contribution} if acc is unset else acc + {contribution}\n"
    )


def _pass_branch(k: int, op: O.Op) -> str:
    """The backward loop's branch for an op declared by formula: its local derivatives
    computed from the formulas (inside ``try``: a float error hands the node to the general
    step), then added into the inputs' gradients. A derivative of 1 or −1 (add, sub, neg)
    passes g on as it is or negated, without a product."""
    inputs = "ab"[: len(op.derivs_formula)]
    branch, body = " " * 12, " " * 16  # indents inside the loop
    used = set().union(*(_names(d) for d in op.derivs_formula))
    passed_on = {"1.0": "g", "-1.0": "-g"}
    computed = ["o = n.data\n"] if "o" in used else []
    computed += _loads(used, inputs, "").splitlines(keepends=True)
    computed += [f"l{x} = {d}\n" for x, d in zip(inputs, op.derivs_formula) if d not in passed_on]
    lines = [f"{branch}if op is OP{k}:  # {op.name}\n"]
    if "b" in inputs:
        lines.append(f"{body}nb = n._b\n")
    if computed:
        lines.append(f"{body}try:\n")
        lines.extend(f"{body}    {line}" for line in computed)
        lines.append(f"{body}except _IEEE_ERRORS:\n{body}    n._backward_step(None, False)\n")
        lines.append(f"{body}    continue\n")
    lines.extend(
        _accumulate(f"n{x}", passed_on.get(d, f"l{x} * g"), body)
        for x, d in zip(inputs, op.derivs_formula)
    )
    lines.append(f"{body}continue\n")
    return "".join(lines)


_PASS = """\
def make(xp, MANY, {ops}):
    def backward_pass(cls, nodes, unset=None):
        \"\"\"Node._backward_pass in one loop (``unset``: the marker of a node no gradient
        has reached yet, None or pending_order's): an op declared by formula has its own branch
        with its derivatives written in; any other op without parameters and with one or two
        inputs calls the table's derivative functions here; any other node, or one whose
        derivative raises (1/0: numpy's inf/nan are wanted), takes _backward_step. Both
        local derivatives are computed before either is added, so a node handed over has
        added nothing yet.\"\"\"
        for n in nodes:
            g = n._g
            if g is unset:
                n._g = None
                continue
            op = n._op
            if op is None:
                continue
            na = n._a
            if na is MANY:
                n._backward_step(None, False)
                continue
{branches}
            if op.params or not op.derivs:
                n._backward_step(None, False)
                continue
            nb = n._b
            try:
                derivs = op.derivs
                if nb is None:
                    la = derivs[0](xp, n.data, na.data)
                else:
                    a, b = na.data, nb.data
                    la = derivs[0](xp, n.data, a, b)
                    lb = derivs[1](xp, n.data, a, b)
            except _IEEE_ERRORS:
                n._backward_step(None, False)
                continue
{accumulate_a}            if nb is not None:
{accumulate_b}
    return backward_pass
"""


def _backward_pass_fn():
    """The scalar engine's backward loop, with a branch per op declared by formula (``add``
    and ``mul`` first: most nodes of a scalar graph are theirs)."""
    first = [O.ADD, O.MUL]
    ops = first + [op for op in O.OPS.values() if op.derivs_formula and op not in first]
    source = _PASS.format(
        ops=", ".join(f"OP{k}" for k in range(len(ops))),
        branches="".join(_pass_branch(k, op) for k, op in enumerate(ops)).rstrip("\n"),
        accumulate_a=_accumulate("na", "la * g", " " * 12),
        accumulate_b=_accumulate("nb", "lb * g", " " * 16).rstrip("\n"),
    )
    return _compiled("backward pass", source)(SCALAR, _MANY, *ops)


_BINARY: dict[O.Op, Any] = {}


def _binary(op: O.Op, a: Value, b: Value) -> Value:
    """:func:`apply` for a two-input op without parameters (``a ** b`` of two nodes, ...)."""
    fn = _BINARY.get(op)
    if fn is None:
        fn = _BINARY[op] = _binary_method(op)
    return fn(a, b)


_UNARY: dict[O.Op, Any] = {}


def _unary(op: O.Op, a: Value) -> Value:
    """:func:`apply` for a one-input op without parameters (``-a``, ``a.relu()``)."""
    fn = _UNARY.get(op)
    if fn is None:
        fn = _UNARY[op] = _unary_method(op)
    return fn(a)


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


def _ieee(forward: Any, *xs: np.float64, **params: Any) -> float:
    """Python floats raise on 1/0 and overflow; give numpy's IEEE answer (inf or nan) instead,
    so results match the tensor engine and anomaly mode can name the op. (Called with the
    op's forward and its inputs, not with a closure: a lambda in the generated methods'
    ``except`` made their inputs cell variables, two cells allocated on every ``a * b``.)"""
    with np.errstate(all="ignore"):
        return float(forward(ARRAY, *xs, **params))


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
        self.data = _number_data(data)
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
        if record is None and not anomaly:  # inside a plain pass: _g may be _PENDING
            for inp, local in zip(ins, locs):
                if inp.requires_grad:
                    acc = inp._g
                    inp._g = local * g if acc is None or acc is _PENDING else acc + local * g
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

    _backward_pass = classmethod(_backward_pass_fn())

    _UNSET = _PENDING  # the plain pass's walk marks the nodes it has seen with it

    @classmethod
    def _walk(cls, root: Value) -> list[Value]:
        """:meth:`Node._walk` by :func:`~gradflow.graph.pending_order`'s marker."""
        return pending_order(root, _PENDING)

    @classmethod
    def _commit_pass(cls, nodes) -> None:
        """:meth:`_commit` for a whole pass in one loop (the same rule: leaves accumulate,
        interior nodes take this pass's gradient). Should it stop half way (Ctrl-C), the
        leaves get back the gradients they had, so that backward() can run again (interior
        nodes may keep this pass's gradient: the run again gives them the same)."""
        added: list[tuple[Value, Any]] = []
        keep = added.append
        try:
            for n in nodes:
                g = n._g
                if g is not None:
                    if n._op is None:
                        old = n.grad
                        keep((n, old))
                        n.grad = old + g
                    else:
                        n.grad = g
        except BaseException:
            for n, old in added:
                n.grad = old
            raise

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
    _unary_method = staticmethod(_unary_method)
    _apply1 = staticmethod(_unary)

    def __float__(self) -> float:
        return self.data

    def __int__(self) -> int:
        return int(self.data)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats the value (an empty spec: the repr, as ``str``)."""
        return format(self.data, spec) if spec else str(self)

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
