"""``check_symbolic``: rebuild a graph as a SymPy expression and compare derivatives.

Each node's SymPy form comes from its op's record in the op table, so the check exercises
the same declarations as the engine. Scalar graphs get one symbol per leaf; small tensor
graphs get one symbol per element (``W_0_1``), built with numpy object arrays.
"""

from __future__ import annotations

import math
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from .errors import ShapeError, SymbolicLimitError, UndecidedBranchError
from .graph import Node, backprop, display_names, topological_order
from .lazy import sympy as sp
from .ops import sym_number

MAX_ELEMENTS = 400  # symbolic differentiation of bigger graphs takes too long to be useful
# Ops on the longest path from a leaf to the loss. The graph is turned into SymPy bottom-up
# in topological order (no recursion here), but SymPy itself recurses through a nested
# expression when it builds, differentiates, evaluates or prints it, some 8-30 Python frames
# per level, and the derivative of a chain grows with the square of its depth (a 200-op
# tanh chain takes ~7 s). Deep graphs get that many frames, on a thread with a big stack.
MAX_DEPTH = 250
_FRAMES_PER_LEVEL = 100
_BASE_FRAMES = 2000
_STACK_BYTES = 512 * 2**20
_SHALLOW = 20  # graphs up to this depth run on the caller's stack
_deep_state = threading.local()

T = TypeVar("T")


def graph_depth(order: list[Node]) -> int:
    """Ops on the longest leaf-to-root path of a graph given in topological order."""
    depth: dict[int, int] = {}
    for n in order:
        depth[id(n)] = 1 + max((depth[id(i)] for i in n.inputs), default=-1) if n.inputs else 0
    return depth[id(order[-1])] if order else 0


def _check_depth(order: list[Node]) -> int:
    depth = graph_depth(order)
    if depth > MAX_DEPTH:
        raise SymbolicLimitError(
            f"check_symbolic: the graph is {depth} ops deep (limit {MAX_DEPTH}): SymPy "
            "recurses through nested expressions and its derivatives grow with the square of "
            "the depth; check a shorter piece of the graph"
        )
    return depth


def run_deep(fn: Callable[[], T], depth: int) -> T:
    """Run ``fn`` (SymPy work on an expression nested ``depth`` levels) with room to recurse:
    a thread with a big stack and a recursion limit to match. A RecursionError that still
    happens becomes a :class:`SymbolicLimitError` naming the limit."""
    if depth <= _SHALLOW or getattr(_deep_state, "active", False):
        try:
            return fn()
        except RecursionError:
            raise _too_deep(depth) from None
    result: dict[str, Any] = {}

    def work() -> None:
        _deep_state.active = True
        try:
            result["value"] = fn()
        except BaseException as e:  # handed to the caller's thread below
            result["error"] = e

    frames = _BASE_FRAMES + _FRAMES_PER_LEVEL * depth
    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(old_limit, frames))
    try:
        threading.stack_size(_STACK_BYTES)
        try:
            worker = threading.Thread(target=work, name="gradflow-sympy", daemon=True)
        finally:
            threading.stack_size(old_stack)
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(old_limit)
    if "error" in result:
        if isinstance(result["error"], RecursionError):
            raise _too_deep(depth) from None
        raise result["error"]
    return result["value"]


def _too_deep(depth: int) -> SymbolicLimitError:
    return SymbolicLimitError(
        f"check_symbolic: SymPy ran out of recursion on a graph {depth} ops deep (limit "
        f"{MAX_DEPTH}); check a shorter piece of the graph"
    )


MAX_SIMPLIFY_OPS = 150  # sp.simplify on bigger expressions takes seconds; they are tidied only


def at_point(expr: Any, values: dict) -> Any:
    """``expr`` with each ``Piecewise`` replaced by the branch that holds at ``values`` —
    except where the point sits on the kink itself (a condition's two sides are equal
    there), where the ``Piecewise`` stays: there the branch is a convention, not a fact."""
    if not isinstance(expr, sp.Basic) or not expr.has(sp.Piecewise):
        return expr

    def pick(*pairs):
        for e, cond in pairs:
            if cond is sp.true or cond == True:  # noqa: E712 - SymPy's true
                return e
            try:
                holds = bool(cond.xreplace(values))
            except TypeError:  # undecided: keep the whole Piecewise
                return sp.Piecewise(*pairs)
            if _on_kink(cond, values):
                return sp.Piecewise(*pairs)
            if holds:
                return e
        return sp.Piecewise(*pairs)

    return expr.replace(sp.Piecewise, pick)


def _on_kink(cond: Any, values: dict) -> bool:
    """True when the point sits on a kink of ``cond``: some comparison in it has equal
    sides there (z = 0 for z > 0) and flipping that comparison flips ``cond``."""
    try:
        base = bool(cond.xreplace(values))
        for rel in cond.atoms(sp.core.relational.Relational):
            if (rel.lhs - rel.rhs).xreplace(values) != 0:
                continue
            flipped = sp.false if bool(rel.xreplace(values)) else sp.true
            if bool(cond.xreplace({rel: flipped}).xreplace(values)) != base:
                return True
    except (TypeError, AttributeError):
        return True
    return False


def compact(expr: Any, values: dict) -> Any:
    """The derivative as a student would write it at this point: the active branch of each
    kink (:func:`at_point`), then simplified (small expressions) or tidied (big ones)."""
    if isinstance(expr, np.ndarray):
        return np.vectorize(lambda e: compact(e, values), otypes=[object])(expr)
    e = at_point(expr, values)
    if not isinstance(e, sp.Basic):
        return e
    if sp.count_ops(e) <= MAX_SIMPLIFY_OPS:
        return sp.simplify(e)
    return sp.factor_terms(e)


def text(expr: Any) -> str:
    """A SymPy expression in the course's notation: ``2·w211·x·(…)``, ``x^2``, a kink as
    ``{1 for z > 0; 0 otherwise}`` — no Python syntax (``**``, ``if … else``)."""
    if isinstance(expr, np.ndarray):
        return "[" + ", ".join(text(e) for e in expr.ravel()) + "]"
    # the minus sign of the course's formulas (−), as in every other table; not an exponent's
    return _MINUS.sub("−", _course_printer().doprint(expr))


_MINUS = re.compile(r"(?<![0-9.]e)-")


def _course_printer():
    from sympy.printing.str import StrPrinter

    class CoursePrinter(StrPrinter):
        def _print_Pow(self, expr, rational=False):
            return super()._print_Pow(expr, rational).replace("**", "^")

        def _print_Mul(self, expr):
            return super()._print_Mul(expr).replace("*", "·")

        def _print_Piecewise(self, expr):
            parts = [f"{self._print(e)} for {self._print(c)}" for e, c in expr.args[:-1]]
            last = expr.args[-1]
            tail = "otherwise" if last[1] == True else f"for {self._print(last[1])}"  # noqa: E712
            return "{" + "; ".join([*parts, f"{self._print(last[0])} {tail}"]) + "}"

        def _print_Relational(self, expr):
            op = {"==": "=", "!=": "≠", ">=": "≥", "<=": "≤"}.get(expr.rel_op, expr.rel_op)
            return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

        def _print_And(self, expr):
            return " and ".join(self._print(a) for a in expr.args)

        def _print_Or(self, expr):
            return " or ".join(self._print(a) for a in expr.args)

    return CoursePrinter()


@dataclass
class DerivativeCheck:
    """One leaf: its symbolic derivative(s), their value and the engine's gradient.
    ``derivative`` is the full expression; ``short`` the compact one (:func:`compact`)."""

    name: str
    derivative: Any  # SymPy expression, or object array of them for a tensor leaf
    symbolic: Any
    engine: Any
    ok: bool
    depth: int = 0  # of the graph: printing a deep expression needs room to recurse
    values: dict = field(default_factory=dict, repr=False)  # symbol -> value at the point
    _short: Any = field(default=None, repr=False)

    @property
    def short(self) -> Any:
        """The derivative at this point, compact (:func:`compact`; computed when first read)."""
        if self._short is None:
            self._short = run_deep(lambda: compact(self.derivative, self.values), self.depth)
        return self._short

    @property
    def finite(self) -> bool:
        """Both sides are free of NaN and Inf (a non-finite value is never a match)."""
        return bool(np.all(np.isfinite(self.symbolic)) and np.all(np.isfinite(self.engine)))

    @property
    def latex(self) -> str:
        d = self.derivative
        if isinstance(d, np.ndarray):
            return run_deep(lambda: sp.latex(sp.Matrix(np.atleast_2d(d))), self.depth)
        return run_deep(lambda: sp.latex(d), self.depth)


@dataclass
class SymbolicReport:
    """Result of :func:`check_symbolic`; ``ok`` is True when every derivative matches."""

    expression: Any
    checks: list[DerivativeCheck] = field(default_factory=list)
    depth: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return run_deep(self._text, self.depth)

    def full(self) -> str:
        """The report with every expression in full, as SymPy writes it (and its LaTeX)."""
        return run_deep(self._full, self.depth)

    def _repr_html_(self) -> str:  # Jupyter: one row per parameter, agree or disagree
        from .display import report_html

        return run_deep(lambda: report_html(self), self.depth)

    def _text(self) -> str:
        """One line per parameter: its derivative (compact, at this point), SymPy's value,
        the engine's value, agree or DISAGREE."""
        from . import display

        rows = []
        for c in self.checks:
            d = text(c.short)
            if not c.finite:
                verdict = "NaN or Inf: cannot be checked"
            else:
                verdict = "agree" if c.ok else "DISAGREE"
            sym, eng = display.array(c.symbolic, grid=False), display.array(c.engine, grid=False)
            rows.append(
                (f"∂L/∂{c.name} = {_short(d, 160)}", f"SymPy {sym}", f"engine {eng}", verdict)
            )
        widths = [max((len(r[k]) for r in rows), default=0) for k in range(4)]
        lines = ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in rows]
        lines.append(
            "all derivatives match" if self.ok else "MISMATCH: see the lines not marked agree"
        )
        return "\n".join(lines)

    def _full(self) -> str:
        lines = [f"L = {self.expression}", f"LaTeX: {sp.latex(self.expression)}"]
        for c in self.checks:
            mark = "ok " if c.ok else "BAD"
            lines.append(f"[{mark}] ∂L/∂{c.name} = {c.derivative}")
            lines.append(f"      LaTeX: {c.latex}")
            lines.append(f"      SymPy: {_value(c.symbolic)}   engine: {_value(c.engine)}")
        return "\n".join(lines)


def _short(e: Any, limit: int = 300) -> str:
    s = e if isinstance(e, str) else str(e)
    return s if len(s) <= limit else s[:limit] + " …"


def _value(v: Any) -> str:
    a = np.asarray(v, dtype=float)
    return f"{float(a):.10g}" if a.ndim == 0 else np.array2string(a, precision=6)


def _symbols(name: str, data: Any) -> Any:
    if np.ndim(data) == 0:
        return sp.Symbol(name, real=True)
    arr = np.empty(np.shape(data), dtype=object)
    for idx in np.ndindex(arr.shape):
        arr[idx] = sp.Symbol(name + "".join(f"_{k}" for k in idx), real=True)
    return arr


def _constant(data: Any) -> Any:
    if np.ndim(data) == 0:
        return sym_number(float(data))
    # A loop, not np.vectorize: SymPy's Float leaves the CPU's "invalid" flag raised for
    # some values (0.5 after an integer), which a vectorized call reports as a
    # RuntimeWarning on every `exercise check` of a matrix with such a constant.
    data = np.asarray(data)
    out = np.empty(data.shape, dtype=object)
    for idx in np.ndindex(data.shape):
        out[idx] = sym_number(float(data[idx]))
    return out


def _symbol_name(name: str, k: int) -> str:
    return name if name.isidentifier() else f"leaf{k}"


def sympy_graph(root: Node) -> tuple[Any, dict[int, Any], dict[Any, Any]]:
    """SymPy form of every node: (root expression, id(node) -> expression, symbol -> value).

    Built bottom-up in topological order; graphs deeper than :data:`MAX_DEPTH` ops or with
    more than ``10 × MAX_ELEMENTS`` elements raise :class:`SymbolicLimitError`."""
    order = topological_order(root)
    if sum(int(np.size(n.data)) for n in order) > MAX_ELEMENTS * 10:
        raise SymbolicLimitError(
            f"check_symbolic: graph too large ({len(order)} nodes, "
            f"{sum(int(np.size(n.data)) for n in order)} elements; limit "
            f"{MAX_ELEMENTS * 10} elements) for SymPy"
        )
    depth = _check_depth(order)
    return run_deep(lambda: _build(order), depth)


def _build(order: list[Node]) -> tuple[Any, dict[int, Any], dict[Any, Any]]:
    names = display_names(order)
    expr: dict[int, Any] = {}
    values: dict[Any, Any] = {}
    for k, n in enumerate(order):
        if n.op is None:
            if n.requires_grad:
                e = _symbols(_symbol_name(names[id(n)], k), n.data)
                for s, v in zip(np.ravel(np.asarray(e, dtype=object)), np.ravel(n.data)):
                    values[s] = sym_number(float(v))
            else:
                e = _constant(n.data)
        else:
            ins = [expr[id(i)] for i in n.inputs]
            if n.op.elementwise:  # numeric parameters (α, n, ...) enter the formula exactly
                params = {k2: sym_number(v) for k2, v in n.params.items()}
                if all(np.ndim(i.data) == 0 for i in n.inputs):
                    e = n.op.sympy(*ins, **params)
                else:
                    f = np.vectorize(lambda *a: n.op.sympy(*a, **params), otypes=[object])
                    e = f(*[np.asarray(i, dtype=object) for i in ins])
            else:
                e = n.op.sympy(*[np.asarray(i, dtype=object) for i in ins], **n.params)
        expr[id(n)] = e
    return expr[id(order[-1])], expr, values


def check_symbolic(loss: Node, rtol: float = 1e-7, atol: float = 1e-9) -> SymbolicReport:
    """Differentiate the SymPy form of ``loss`` w.r.t. every leaf and compare with the engine.

    A NaN or Inf on either side is a mismatch, never a match. Graphs deeper than
    :data:`MAX_DEPTH` ops raise :class:`~gradflow.errors.SymbolicLimitError`."""
    if np.size(loss.data) != 1:
        raise ShapeError(f"check_symbolic needs a scalar loss, got shape {np.shape(loss.data)}")
    depth = _check_depth(topological_order(loss))
    return run_deep(lambda: _check(loss, rtol, atol, depth), depth)


def symbolic_value(node: Node) -> Any:
    """The SymPy form of ``node`` evaluated at its leaves' values (a float or an array)."""
    depth = _check_depth(topological_order(node))

    def value() -> Any:
        expr, _, values = sympy_graph(node)
        if isinstance(expr, np.ndarray):
            return np.vectorize(lambda e: _number(e, values), otypes=[float])(expr)
        return _number(expr, values)

    return run_deep(value, depth)


def _number(e: Any, values: dict) -> float:
    return _float(e.xreplace(values)) if isinstance(e, sp.Basic) else float(e)


def _float(value: Any) -> float:
    """A SymPy number as a float; complex infinity (SymPy's 1/0) is ``inf``."""
    if value is sp.zoo:
        return math.inf
    return float(value)


def _check(loss: Node, rtol: float, atol: float, depth: int) -> SymbolicReport:
    root, expr, values = sympy_graph(loss)
    root = root.reshape(()).item() if isinstance(root, np.ndarray) else root
    grads: dict[int, Any] = {}
    order = backprop(loss, commit=False, collect=grads)
    names = display_names(order)
    report = SymbolicReport(root, depth=depth)
    for n in order:
        if n.op is not None or not n.requires_grad:
            continue
        syms = expr[id(n)]
        if isinstance(syms, np.ndarray):
            deriv = np.vectorize(lambda s: sp.diff(root, s), otypes=[object])(syms)
            sym_val = np.vectorize(lambda d: _at(d, values, names[id(n)]), otypes=[float])(deriv)
        else:
            deriv = sp.diff(root, syms)
            sym_val = _at(deriv, values, names[id(n)])
        engine = grads.get(id(n))
        engine = np.zeros_like(np.asarray(n.data, dtype=float)) if engine is None else engine
        check = DerivativeCheck(names[id(n)], deriv, sym_val, engine, False, depth, values)
        # allclose calls inf and inf close: a non-finite value is never a match
        check.ok = check.finite and bool(
            np.allclose(np.asarray(engine, dtype=float), sym_val, rtol=rtol, atol=atol)
        )
        report.checks.append(check)
    return report


def _at(derivative, values: dict, leaf: str) -> float:
    """``derivative`` at the leaves' values, as a float.

    A kink's branch condition that SymPy cannot decide at these numbers (its two sides agree
    to beyond the working precision, e.g. exp(−1e−214) − 1 against 1e−298) leaves an
    unevaluated Piecewise; that is reported as such, not as SymPy's bare TypeError."""
    value = derivative.xreplace(values)
    try:
        return _float(value)
    except TypeError:
        raise UndecidedBranchError(
            f"check_symbolic: SymPy cannot decide which branch of a kink applies in ∂L/∂{leaf} "
            f"at these values (a branch condition stays undecided: {str(value)[:200]}); the point "
            "lies within rounding of the kink's threshold — check at values further from it"
        ) from None
