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

from .graph import Node, backprop, display_names, topological_order
from .ops import short_param


def _num(x: Any) -> Any:
    """A JSON-friendly number or nested list."""
    if x is None:
        return None
    a = np.asarray(x)
    return float(a) if a.ndim == 0 else a.tolist()


def _fmt(x: Any) -> str:
    if x is None:
        return "—"
    a = np.asarray(x)
    if a.ndim == 0:
        return f"{float(a) + 0.0:.6g}"  # + 0.0 turns -0 into 0
    if a.size <= 6:
        return np.array2string(a + 0.0, precision=4, separator=", ").replace("\n", "")
    return f"<{'×'.join(map(str, a.shape))} array>"


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
        """``∂node/∂input · ∂L/∂node = contribution`` with numbers (or the VJP rule)."""
        d = f"∂{self.name}/∂{self.input}"
        if self.local is None:
            return (
                f"{self.local_text} with g = ∂L/∂{self.name} {_shape(self.upstream)} "
                f"→ {_shape(self.contribution)}"
            )
        return (
            f"{d} · ∂L/∂{self.name} = {_fmt(self.local)} · {_fmt(self.upstream)} = "
            f"{_fmt(self.contribution)}"
        )


def _shape(x: Any) -> str:
    return str(tuple(np.shape(x)))


class Steps(list):
    """A list of steps that prints as an aligned table and exports to JSON and Markdown."""

    columns: tuple[str, ...] = ()
    title = ""

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
        return [[str(s.index), s.name, s.op, s.formula, _fmt(s.value)] for s in self]

    def to_latex(self) -> str:
        lines = [f"{s.name} &= {s.formula} = {_fmt(s.value)}" for s in self]
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


class BackwardSteps(Steps):
    columns = ("#", "node", "→ input", "local ∂", "local", "upstream", "contribution", "input grad")

    def rows(self) -> list[list[str]]:
        return [
            [
                str(s.index),
                s.name,
                s.input,
                s.local_text,
                _fmt(s.local) if s.local is not None else "vjp",
                _fmt(s.upstream),
                _fmt(s.contribution),
                _fmt(s.accumulated),
            ]
            for s in self
        ]

    def to_latex(self) -> str:
        lines = []
        for s in self:
            local = _fmt(s.local) if s.local is not None else s.local_latex
            lines.append(
                f"\\frac{{\\partial L}}{{\\partial {s.input}}} &\\mathrel{{+}}= "
                f"\\underbrace{{{s.local_latex}}}_{{{local}}} \\cdot {_fmt(s.upstream)} "
                f"= {_fmt(s.contribution)}"
            )
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def node_formula(node: Node, names: dict[int, str]) -> str:
    """``op(inputs)`` as a step table shows it, e.g. ``relu(z1)`` or ``w111 × x``; the
    op table holds the notation (:meth:`gradflow.ops.Op.format_text`, style ``"name"``)."""
    if node.op is None:
        return "given"
    return node.op.format_text([names[id(i)] for i in node.inputs], node.params, "name")


def forward_steps(out: Node) -> ForwardSteps:
    """Every node in evaluation order (leaves first as 'given'), with its value."""
    order = topological_order(out)
    names = display_names(order)
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
            )
        )
    return steps


def backward_steps(loss: Node, grad: Any = None) -> BackwardSteps:
    """The chain-rule steps of a backward pass from ``loss``, in execution order.

    The pass runs on scratch gradients, so calling this never changes ``.grad`` and can be
    done before or after ``loss.backward()``.
    """
    record: list = []
    order = backprop(loss, grad, record=record, commit=False)
    names = display_names(order)
    running: dict[int, Any] = {}
    steps = BackwardSteps()
    for node, i, local, upstream, contribution in record:
        inp = node.inputs[i]
        prev = running.get(id(inp))
        running[id(inp)] = contribution if prev is None else prev + contribution
        args = _formula_args(node, names)
        steps.append(
            BackwardStep(
                len(steps) + 1,
                node,
                inp,
                names[id(node)],
                names[id(inp)],
                node.op.name,
                i,
                local,
                upstream,
                contribution,
                running[id(inp)],
                node.op.derivative_text(i, args, _text_params(node)),
                node.op.derivative_latex(i, args, _text_params(node)),
            )
        )
    return steps


def _text_params(node: Node) -> dict:
    return {k: v for k, v in node.params.items() if short_param(v)} if node.op.elementwise else {}


def _formula_args(node: Node, names: dict[int, str]) -> tuple:
    """The op's arguments for a derivative formula: constants as numbers, the rest as names.

    So ``∂(20·x)/∂x`` reads ``20``. Repeated or non-identifier names get a suffix so SymPy
    sees distinct symbols.
    """
    out: list = []
    seen: set[str] = set()
    for k, x in enumerate(node.inputs):
        if x.is_leaf and not x.requires_grad and np.ndim(x.data) == 0:
            out.append(float(x.data))
            continue
        s = names[id(x)]
        s = s if s.isidentifier() else f"a{k}"
        while s in seen:
            s += "_"
        seen.add(s)
        out.append(s)
    return tuple(out)
