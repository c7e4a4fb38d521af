"""Forward and backward passes as lists of steps a student can read, print and check.

``forward_steps(out)`` lists every op in evaluation order with its value.
``backward_steps(loss)`` lists every chain-rule step in the order backprop executes it:
``local derivative × upstream gradient = contribution``, and the input's gradient after the
contribution is added. For tensors the local derivative is a vector-Jacobian product, shown
as its rule (e.g. ``g @ Bᵀ``) with shapes. Both read op names, symbols and derivative
formulas from the op table, so the trace cannot disagree with the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import display
from .graph import Node, backprop, topological_order
from .naming import latex_wrap, node_names, wrap, wrap_args
from .ops import short_param


def _num(x: Any) -> Any:
    """A JSON-friendly number or nested list."""
    if x is None:
        return None
    a = np.asarray(x)
    return float(a) if a.ndim == 0 else a.tolist()


def fmt(x: Any, exact: bool = False) -> str:
    """A value as a table cell: rounded for reading (:func:`gradflow.display.array`, small
    arrays in full on one line, no ``-0``), or with ``exact`` every digit of every element."""
    if x is None:
        return "—"
    a = np.asarray(x, dtype=float)
    if exact:
        if a.ndim == 0:
            return repr(float(a) + 0.0)
        return np.array2string(a + 0.0, precision=17, separator=", ", threshold=a.size + 1)
    return display.array(a, grid=False)


@dataclass
class ForwardStep:
    """One op in evaluation order: ``name = op(inputs) = value``."""

    index: int
    node: Node = field(repr=False)
    name: str
    op: str
    inputs: list[str]
    value: Any
    formula: str
    name_latex: str = ""
    formula_latex: str = ""

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "op": self.op,
            "inputs": self.inputs,
            "value": _num(self.value),
            "formula": self.formula,
            "shape": list(np.shape(self.value)),
        }


@dataclass
class BackwardStep:
    """One chain-rule step: the gradient ``node`` sends to its input ``input``."""

    index: int
    node: Node = field(repr=False)
    input_node: Node = field(repr=False)
    name: str
    input: str
    op: str
    input_index: int
    local: Any
    upstream: Any
    contribution: Any
    accumulated: Any
    local_text: str
    local_latex: str
    name_latex: str = ""
    input_latex: str = ""

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "node": self.name,
            "input": self.input,
            "op": self.op,
            "local": _num(self.local),
            "local_formula": self.local_text,
            "local_latex": self.local_latex,
            "upstream": _num(self.upstream),
            "contribution": _num(self.contribution),
            "accumulated": _num(self.accumulated),
            "shape": list(np.shape(self.contribution)),
        }

    @property
    def equation(self) -> str:
        """``∂node/∂input · ∂L/∂node = contribution`` with numbers; for a tensor op the
        vector-Jacobian rule with the numbers of g and of the result."""
        out, inp = wrap(self.name, 3), wrap(self.input, 3)  # ∂(w·x)/∂w, not ∂w·x/∂w
        if self.local is None:
            return (
                f"∂L/∂{inp} += {self.local_text} with g = ∂L/∂{out} = "
                f"{fmt(self.upstream)} → {fmt(self.contribution)}"
            )
        times = "·" if np.ndim(self.local) == 0 else "⊙"
        return (
            f"∂{out}/∂{inp} {times} ∂L/∂{out} = {fmt(self.local)} {times} "
            f"{_signed(fmt(self.upstream))} = {fmt(self.contribution)}"
        )


def _signed(text: str) -> str:
    """A number after an operator: ``(-10)``, not ``· -10``."""
    return f"({text})" if text.startswith("-") else text


class Steps(list):
    """A list of steps that prints as an aligned table and exports to JSON and Markdown."""

    columns: tuple[str, ...] = ()
    title = ""
    exact = False  # every digit instead of numbers rounded for reading

    def rows(self) -> list[list[str]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def table(self) -> str:
        rows = [list(self.columns)] + self.rows()
        widths = [max(len(r[k]) for r in rows) for k in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("─" * w for w in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:  # the last line of a notebook cell, or the REPL: the table
        return self.table()

    def _repr_html_(self) -> str:
        from .display import steps_html

        return steps_html(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_json(self) -> str:
        return json.dumps([s.to_dict() for s in self], indent=2)

    def to_markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        sep = "|" + "|".join("---" for _ in self.columns) + "|"
        body = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows()]
        return "\n".join([head, sep, *body])


class ForwardSteps(Steps):
    columns = ("#", "node", "op", "formula", "value")

    def rows(self) -> list[list[str]]:
        x = self.exact
        return [[str(s.index), s.name, s.op, s.formula, fmt(s.value, x)] for s in self]

    def to_latex(self) -> str:
        """Display maths (``\\[ … \\]``, amsmath's ``aligned``): every name and number set
        as LaTeX, so it compiles as it is inside a document body."""
        lines = []
        for s in self:
            value = display.latex(s.value)
            if s.node.op is None or s.formula_latex == s.name_latex:  # given, or named by it
                lines.append(f"{s.name_latex} &= {value}")
            else:
                lines.append(f"{s.name_latex} &= {s.formula_latex} = {value}")
        return _aligned(lines)


def _aligned(lines: list[str]) -> str:
    return "\\[\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n\\]"


class BackwardSteps(Steps):
    columns = ("#", "node", "→ input", "local ∂", "local", "upstream", "contribution", "input grad")

    def rows(self) -> list[list[str]]:
        x = self.exact
        return [
            [
                str(s.index),
                s.name,
                s.input,
                s.local_text,
                fmt(s.local, x) if s.local is not None else "vjp",
                fmt(s.upstream, x),
                fmt(s.contribution, x),
                fmt(s.accumulated, x),
            ]
            for s in self
        ]

    def to_latex(self) -> str:
        """Display maths: ``∂L/∂input += local · upstream = contribution`` per step, the
        local derivative's formula above its number; a tensor step's VJP rule with g."""
        lines = []
        for s in self:
            grad = f"\\frac{{\\partial L}}{{\\partial {latex_wrap(s.input_latex, 3)}}}"
            up = display.latex(s.upstream, signed=True)
            if s.local is None:
                lines.append(
                    f"{grad} &\\mathrel{{+}}= {s.local_latex},\\quad g = {up} "
                    f"\\;\\Rightarrow\\; {display.latex(s.contribution)}"
                )
                continue
            local = display.latex(s.local)
            shown = (
                local
                if s.local_latex.strip("{}") == local.strip("{}")
                else f"\\underbrace{{{s.local_latex}}}_{{{local}}}"
            )
            times = "\\cdot" if np.ndim(s.local) == 0 else "\\odot"
            lines.append(
                f"{grad} &\\mathrel{{+}}= {shown} {times} {up} = {display.latex(s.contribution)}"
            )
        return _aligned(lines)


def node_formula(node: Node, names: dict[int, str]) -> str:
    """``op(inputs)`` as a step table shows it, e.g. ``relu(z1)`` or ``w111·x``; the
    op table holds the notation (:meth:`gradflow.ops.Op.format_text`, style ``"name"``),
    arguments bracketed where the order of operations needs it."""
    if node.op is None:
        return "given"
    args = wrap_args(node.op, [names[id(i)] for i in node.inputs])
    return node.op.format_text(args, node.params, "name")


def formula_latex(node: Node, tex: dict[int, str]) -> str:
    """``node``'s op applied to its inputs' LaTeX names (``\\text{given}`` for a leaf)."""
    if node.op is None:
        return "\\text{given}"
    args = wrap_args(node.op, [tex[id(i)] for i in node.inputs], latex=True)
    try:
        return node.op.format_latex(args, node.params)
    except (KeyError, IndexError, ValueError):  # a template the params do not fill
        return f"\\mathrm{{{node.op.name}}}({', '.join(args)})"


def forward_steps(out: Node, ids: bool = False) -> ForwardSteps:
    """Every node in evaluation order (leaves first as 'given'), with its value.
    ``ids``: unnamed nodes are n1, n2, ... instead of names derived from their expression."""
    order = topological_order(out)
    names, tex = node_names(order, ids)
    steps = ForwardSteps()
    for n in order:
        steps.append(
            ForwardStep(
                len(steps) + 1,
                n,
                names[id(n)],
                n.op.name if n.op else "leaf",
                [names[id(i)] for i in n.inputs],
                n.data,
                node_formula(n, names),
                tex[id(n)],
                formula_latex(n, tex),
            )
        )
    return steps


def backward_steps(loss: Node, grad: Any = None, ids: bool = False) -> BackwardSteps:
    """The chain-rule steps of a backward pass from ``loss``, in execution order.

    The pass runs on scratch gradients, so calling this never changes ``.grad`` and can be
    done before or after ``loss.backward()``. The local derivatives are written by the op
    table (:meth:`gradflow.ops.Op.derivative_text`) with the nodes' names.
    """
    record: list = []
    order = backprop(loss, grad, record=record, commit=False)
    names, tex = node_names(order, ids)
    running: dict[int, Any] = {}
    steps = BackwardSteps()
    for node, i, local, upstream, contribution in record:
        inp = node.inputs[i]
        prev = running.get(id(inp))
        running[id(inp)] = contribution if prev is None else prev + contribution
        params = _text_params(node)
        out_name, out_tex = names[id(node)], tex[id(node)]
        steps.append(
            BackwardStep(
                len(steps) + 1,
                node,
                inp,
                out_name,
                names[id(inp)],
                node.op.name,
                i,
                local,
                upstream,
                contribution,
                running[id(inp)],
                node.op.derivative_text(i, _formula_args(node, names), params, out_name),
                node.op.derivative_latex(i, _formula_args(node, tex), params, out_tex),
                out_tex,
                tex[id(inp)],
            )
        )
    return steps


def _text_params(node: Node) -> dict:
    return {k: v for k, v in node.params.items() if short_param(v)} if node.op.elementwise else {}


def _formula_args(node: Node, names: dict[int, str]) -> tuple:
    """The op's arguments for a derivative formula: constants as numbers, the rest as
    names, so ``∂(20·x)/∂x`` reads ``20``."""
    return tuple(
        float(x.data)
        if x.is_leaf and not x.requires_grad and np.ndim(x.data) == 0
        else names[id(x)]
        for x in node.inputs
    )
