"""An exercise: given values, a graph of named equations, the questions, and their answers.

The graph is built with :mod:`gradflow.formula` (never ``eval``), so every answer comes from
the same engine, step trace, SymPy forms and finite differences as the rest of gradflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradflow.errors import GradflowError
from gradflow.formula import Formula
from gradflow.graph import Node
from gradflow.tensor import Tensor, element_limit
from gradflow.value import Value

GRAD_PREFIX = "grad_"  # in [update] equations, grad_w is ∂(output)/∂w from the backward pass
# Elements per value, given or computed: exercises are worked by hand. Computed nodes are
# checked before numpy allocates them (values shaped to broadcast against each other).
MAX_ELEMENTS = 400


class EquationError(GradflowError, ValueError):
    """Building one equation failed; ``name`` says which, for the error's line."""

    def __init__(self, name: str, table: str, problem: str):
        self.name, self.table = name, table
        super().__init__(problem)


@dataclass(frozen=True)
class Source:
    """Where in the course material an exercise comes from."""

    seed: str
    where: str

    def __str__(self) -> str:
        return f"seed {self.seed}, {self.where}" if self.where else f"seed {self.seed}"


@dataclass(frozen=True)
class Question:
    """One value to ask for: a forward value, a gradient, or an SGD update of a leaf."""

    kind: str  # "value" | "grad" | "update"
    target: str
    index: tuple[int, ...] | None = None
    lr: float | None = None
    expected: float | None = None
    hint: str = ""
    line: int | None = None

    def element(self) -> str:
        if self.index is None:
            return self.target
        return f"{self.target}[{', '.join(map(str, self.index))}]"

    def label(self, output: str) -> str:
        """How the question reads: ``y11``, ``∂L/∂w111``, ``w111 − 0.001·∂L/∂w111``."""
        t = self.element()
        if self.kind == "value":
            return t
        if self.kind == "grad":
            return f"∂{output}/∂{t}"
        return f"new {t} = {t} − {self.lr:g}·∂{output}/∂{t}"


@dataclass
class Solution:
    """The engine's answers: every node, the gradients, and the [update] values."""

    nodes: dict[str, Node]
    loss: Node
    grads: dict[str, np.ndarray]
    update_nodes: dict[str, Node]

    def value(self, name: str) -> np.ndarray:
        node = self.nodes[name] if name in self.nodes else self.update_nodes[name]
        return np.asarray(node.data, dtype=float)


@dataclass
class Exercise:
    """A loaded, validated exercise file (see ``exercises/format.md``)."""

    name: str
    path: Path
    title: str
    topic: str
    difficulty: str
    source: Source
    explanation: str
    hints: list[str]
    values: dict[str, np.ndarray]
    constants: frozenset[str]
    graph: dict[str, Formula]  # equations in evaluation order
    output: str
    update: dict[str, Formula]
    questions: list[Question] = field(default_factory=list)
    rtol: float = 0.01
    atol: float = 1e-6
    variants: Any = None  # a VariantSpec when the file has [variants] (see variants.py)

    def _repr_html_(self) -> str:  # Jupyter: what the student is given and asked (no answers)
        from .latex import exercise_html

        return exercise_html(self)

    @property
    def tensor(self) -> bool:
        """True when some value is a vector or matrix: the graph is then a Tensor graph."""
        return any(v.ndim > 0 for v in self.values.values())

    def leaf(self, name: str, data: Any, requires_grad: bool) -> Node:
        if self.tensor:
            return Tensor(np.array(data, dtype=np.float64), requires_grad=requires_grad, label=name)
        return Value(float(data), label=name, requires_grad=requires_grad)

    def leaves(self, overrides: dict[str, Any] | None = None) -> dict[str, Node]:
        """Fresh leaf nodes for the given values (constants do not require a gradient)."""
        overrides = overrides or {}
        return {
            k: overrides[k] if k in overrides else self.leaf(k, v, k not in self.constants)
            for k, v in self.values.items()
        }

    def build(self, leaves: dict[str, Node] | None = None, cut: dict[str, Node] | None = None):
        """Build every equation in order; a name in ``cut`` is replaced by the given node
        (used to take ∂L/∂y of an interior y as a leaf derivative)."""
        env: dict[str, Node] = dict(leaves if leaves is not None else self.leaves())
        for name, formula in self.graph.items():
            if cut and name in cut:
                env[name] = cut[name]
                continue
            env[name] = _build(name, "graph", formula, env)
        return env

    def update_env(self, nodes: dict[str, Node], grads: dict[str, Any]) -> dict[str, Node]:
        """Constant leaves for the [update] equations: every value, node and ``grad_X``."""
        env = {k: self.leaf(k, n.data, False) for k, n in nodes.items()}
        for k, g in grads.items():
            env[GRAD_PREFIX + k] = self.leaf(GRAD_PREFIX + k, g, False)
        for name, formula in self.update.items():
            env[name] = _build(name, "update", formula, env)
        return env

    def solve(self) -> Solution:
        """Forward, backward from the output, then the [update] equations."""
        nodes = self.build()
        loss = nodes[self.output]
        loss.backward()
        grads = {
            k: np.asarray(n.grad if n.grad is not None else np.zeros_like(n.data), dtype=float)
            for k, n in nodes.items()
            if n.requires_grad
        }
        env = self.update_env(nodes, grads)
        updates = {k: env[k] for k in self.update}
        return Solution(nodes, loss, grads, updates)

    def answer(self, q: Question, sol: Solution) -> float:
        """The engine's number for one question."""
        if q.kind == "value":
            a = sol.value(q.target)
        elif q.kind == "grad":
            a = sol.grads[q.target]
        else:
            a = self.values[q.target] - q.lr * sol.grads[q.target]
        return float(a[q.index] if q.index is not None else a)

    def close(self, given: float, truth: float) -> bool:
        """Within the exercise's tolerance: |given − truth| ≤ max(rtol·|truth|, atol)."""
        return abs(given - truth) <= max(self.rtol * abs(truth), self.atol)


def _build(name: str, table: str, formula: Formula, env: dict[str, Node]) -> Node:
    """Build one equation and name its node; failures name the equation."""
    try:
        with element_limit(MAX_ELEMENTS):
            node = formula.build(env)
    except (GradflowError, ValueError, ArithmeticError) as e:
        raise EquationError(name, table, f"[{table}] {name} = {formula.text!r}: {e}") from None
    if any(node is v for v in env.values()):
        raise EquationError(
            name,
            table,
            f"[{table}] {name} = {formula.text!r} only renames a value: compute "
            "something, or use the name directly",
        )
    node.label = name
    return node
