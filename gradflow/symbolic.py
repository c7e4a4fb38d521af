"""``check_symbolic``: rebuild a graph as a SymPy expression and compare derivatives.

Each node's SymPy form comes from its op's record in the op table, so the check exercises
the same declarations as the engine. Scalar graphs get one symbol per leaf; small tensor
graphs get one symbol per element (``W_0_1``), built with numpy object arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import UndecidedBranchError
from .graph import Node, backprop, display_names, topological_order
from .lazy import sympy as sp
from .ops import sym_number

MAX_ELEMENTS = 400  # symbolic differentiation of bigger graphs takes too long to be useful


@dataclass
class DerivativeCheck:
    """One leaf: its symbolic derivative(s), their value and the engine's gradient."""

    name: str
    derivative: Any  # SymPy expression, or object array of them for a tensor leaf
    symbolic: Any
    engine: Any
    ok: bool

    @property
    def latex(self) -> str:
        d = self.derivative
        if isinstance(d, np.ndarray):
            return sp.latex(sp.Matrix(np.atleast_2d(d)))
        return sp.latex(d)


@dataclass
class SymbolicReport:
    """Result of :func:`check_symbolic`; ``ok`` is True when every derivative matches."""

    expression: Any
    checks: list[DerivativeCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        lines = [f"L = {_short(self.expression)}", f"LaTeX: {sp.latex(self.expression)}"]
        for c in self.checks:
            mark = "ok " if c.ok else "BAD"
            lines.append(f"[{mark}] ∂L/∂{c.name} = {_short(c.derivative)}")
            lines.append(f"      LaTeX: {c.latex}")
            lines.append(f"      SymPy: {_value(c.symbolic)}   engine: {_value(c.engine)}")
        lines.append("all derivatives match" if self.ok else "MISMATCH: see BAD rows above")
        return "\n".join(lines)


def _short(e: Any, limit: int = 300) -> str:
    s = str(e)
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
    return np.vectorize(lambda v: sym_number(float(v)), otypes=[object])(data)


def _symbol_name(name: str, k: int) -> str:
    return name if name.isidentifier() else f"leaf{k}"


def sympy_graph(root: Node) -> tuple[Any, dict[int, Any], dict[Any, Any]]:
    """SymPy form of every node: (root expression, id(node) -> expression, symbol -> value)."""
    order = topological_order(root)
    if sum(int(np.size(n.data)) for n in order) > MAX_ELEMENTS * 10:
        raise ValueError(f"check_symbolic: graph too large ({len(order)} nodes) for SymPy")
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
    return expr[id(root)], expr, values


def check_symbolic(loss: Node, rtol: float = 1e-7, atol: float = 1e-9) -> SymbolicReport:
    """Differentiate the SymPy form of ``loss`` w.r.t. every leaf and compare with the engine."""
    if np.size(loss.data) != 1:
        raise ValueError(f"check_symbolic needs a scalar loss, got shape {np.shape(loss.data)}")
    root, expr, values = sympy_graph(loss)
    root = root.reshape(()).item() if isinstance(root, np.ndarray) else root
    grads: dict[int, Any] = {}
    order = backprop(loss, commit=False, collect=grads)
    names = display_names(order)
    report = SymbolicReport(root)
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
        ok = bool(np.allclose(np.asarray(engine, dtype=float), sym_val, rtol=rtol, atol=atol))
        report.checks.append(DerivativeCheck(names[id(n)], deriv, sym_val, engine, ok))
    return report


def _at(derivative, values: dict, leaf: str) -> float:
    """``derivative`` at the leaves' values, as a float.

    A kink's branch condition that SymPy cannot decide at these numbers (its two sides agree
    to beyond the working precision, e.g. exp(−1e−214) − 1 against 1e−298) leaves an
    unevaluated Piecewise; that is reported as such, not as SymPy's bare TypeError."""
    value = derivative.xreplace(values)
    try:
        return float(value)
    except TypeError:
        raise UndecidedBranchError(
            f"check_symbolic: SymPy cannot decide which branch of a kink applies in ∂L/∂{leaf} "
            f"at these values (a branch condition stays undecided: {str(value)[:200]}); the point "
            "lies within rounding of the kink's threshold — check at values further from it"
        ) from None
