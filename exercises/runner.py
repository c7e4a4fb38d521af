"""Show, quiz and check exercises: the Python side of ``gradflow exercise``.

* :func:`show` prints the forward table, every backward step (local × upstream =
  contribution) and the answers.
* :func:`quiz` asks each answer in turn, reads numbers, fractions and simple expressions
  through the safe formula parser, and on a wrong answer shows the chain-rule step that gives
  the right one.
* :func:`check` computes every answer three ways: the engine, SymPy
  (:func:`gradflow.check_symbolic`) and finite differences (:func:`gradflow.gradcheck`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from gradflow.errors import GradflowError, ToolError
from gradflow.formula import FormulaError, parse
from gradflow.gradcheck import gradcheck
from gradflow.graph import Node
from gradflow.steps import backward_steps, fmt, forward_steps
from gradflow.symbolic import check_symbolic, symbolic_value

from .exercise import GRAD_PREFIX, Exercise, Question, Solution
from .latex import equations

# ---------------------------------------------------------------------------------- show


def show(ex: Exercise, out: TextIO) -> None:
    """Print the exercise, its forward pass, every backward step, and the answers."""
    sol = ex.solve()
    w = out.write
    w(f"{ex.title}\n{'=' * len(ex.title)}\n")
    w(f"topic: {ex.topic} · difficulty: {ex.difficulty} · source: {ex.source}\n\n")
    w("Given:\n")
    for k, v in ex.values.items():
        tag = " (constant)" if k in ex.constants else ""
        w(f"  {k} = {_grid(v, len(k) + 5)}{tag}\n")
    eqs = equations(ex, sol)  # in the course's notation: (ytrue − y21)², not (ytrue - y21)**2
    w("\nGraph:\n")
    for k in ex.graph:
        w(f"  {k} = {eqs[k][0]}\n")
    w("\nForward pass:\n")
    w(_indent(forward_steps(sol.loss).table()) + "\n")
    w(f"\nBackward pass from {ex.output} (local × upstream = contribution):\n")
    w(_indent(backward_steps(sol.loss).table()) + "\n")
    grids = _matrices(ex, sol)
    if grids:
        w("\nThe matrices as grids:\n")
        for label, data in grids:
            w(f"  {label} = {_grid(data, len(label) + 5)}\n")
    if ex.update:
        w("\nAfter the backward pass:\n")
        for k in ex.update:
            w(f"  {k} = {eqs[k][0]} = {fmt(sol.update_nodes[k].data)}\n")
    w("\nAnswers:\n")
    for q in ex.questions:
        w(f"  {q.label(ex.output)} = {fmt(ex.answer(q, sol))}\n")
    if ex.explanation:
        w(f"\nWhy:\n{_indent(ex.explanation)}\n")


def render(ex: Exercise, directory: str) -> list[str]:
    """Write the graph SVG and the HTML step player of the exercise into ``directory``."""
    from pathlib import Path

    try:
        from gradflow import visual
    except ImportError as e:  # pragma: no cover - visual ships with gradflow
        raise ToolError(f"rendering needs the visual package: {e}") from None
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    sol = ex.solve()
    graph = visual.render_graph(sol.loss, folder / f"{ex.name}.svg")
    lr = next((q.lr for q in ex.questions if q.kind == "update"), None)  # the update step
    player = visual.write_player(sol.loss, folder / f"{ex.name}.html", lr=lr)
    return [str(graph), str(player)]


def _matrices(ex: Exercise, sol) -> list[tuple[str, np.ndarray]]:
    """Every computed matrix (a feature map, a layer's output), then every matrix gradient
    ∂L/∂name of a named node, each to be printed as a grid: the step tables print them on
    one line."""
    out = [(k, sol.value(k)) for k in ex.graph if np.ndim(sol.nodes[k].data) >= 2]
    out += [
        (f"∂{ex.output}/∂{k}", g)
        for k, g in sol.grads.items()
        if k != ex.output and np.ndim(g) >= 2
    ]
    return out


def _grid(v, pad: int) -> str:
    """A given value: a number, a vector, a matrix as a grid under its name (16 elements or
    fewer in full), a bigger array as shape, first values and range."""
    from gradflow import display

    return display.array(v).replace("\n", "\n" + " " * pad)


def _indent(text: str, pad: str = "  ") -> str:
    return "\n".join(pad + line if line else line for line in text.splitlines())


# ---------------------------------------------------------------------------------- quiz


class AnswerError(GradflowError, ValueError):
    """A quiz answer that is not a number or a simple expression of numbers."""


def parse_answer(text: str) -> float:
    """``-700``, ``1/2``, ``2*(70-75)``, ``exp(0.02)/(exp(0.02)+exp(0.6))`` → a float.

    Uses the safe formula parser (nothing is evaluated as Python); names are refused.
    """
    text = text.strip().replace("−", "-")
    if text.count(",") == 1 and "(" not in text:  # a decimal comma, as in Polish: 0,36
        text = text.replace(",", ".")
    if not text:
        raise AnswerError("empty answer")
    try:
        f = parse(text)
    except FormulaError as e:
        raise AnswerError(str(e)) from None
    if f.names:
        raise AnswerError(f"use numbers only, not names ({', '.join(sorted(f.names))})")
    try:
        v = float(f.build({}).data)
    except (FormulaError, ArithmeticError, ValueError) as e:
        raise AnswerError(str(e)) from None
    if not np.isfinite(v):
        raise AnswerError(f"{text!r} is not a finite number")
    return v


@dataclass
class QuizResult:
    """Score of one quiz run; ``wrong`` lists the labels answered wrongly."""

    total: int
    correct: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.correct == self.total


def quiz(
    ex: Exercise,
    answers: Iterable[str] | None,
    out: TextIO,
    ask: Callable[[str], str] = input,
    skip: Iterable[Question] = (),
    on_answer: Callable[[Question, bool], None] | None = None,
    before_question: Callable[[Question, Solution, Callable[[str], float | None]], None]
    | None = None,
    mode: str = "",
) -> QuizResult:
    """Ask every question in order. ``answers`` (one per question) makes it non-interactive;
    with ``answers=None`` the user is prompted through ``ask`` and may retry unreadable input.
    Questions in ``skip`` (answered right earlier) count as right and are not asked;
    ``on_answer(question, correct)`` is called after each answer (the progress file).
    A wrong answer is diagnosed (:mod:`gradflow.exercises.diagnose`) before the chain.
    ``before_question(question, solution, read)`` runs before each question is asked, with
    ``read(prompt)`` reading the next answer the way the questions do (step mode asks the
    chain-rule steps there); ``mode`` is added to the title ("step mode").
    """
    from .diagnose import diagnose

    skip = set(skip)
    sol = ex.solve()
    supplied = iter(answers) if answers is not None else None

    def read(prompt: str) -> float | None:
        return _read(prompt, supplied, ask, out)

    result = QuizResult(total=len(ex.questions))
    out.write(f"{ex.title}{f' ({mode})' if mode else ''}\n")
    if ex.hints:
        out.write("Hints: " + " ".join(ex.hints) + "\n")
    for n, q in enumerate(ex.questions, start=1):
        if q in skip:
            result.correct += 1
            continue
        if before_question is not None:
            before_question(q, sol, read)
        prompt = f"[{n}/{result.total}] {q.label(ex.output)} = ? "
        given = read(prompt)
        truth = ex.answer(q, sol)
        right = given is not None and ex.close(given, truth)
        if on_answer is not None:
            on_answer(q, right)
        if right:
            result.correct += 1
            out.write(f"  correct: {fmt(truth)}\n")
            continue
        result.wrong.append(q.label(ex.output))
        found = None if given is None else diagnose(ex, q, given, sol)
        if found is not None:
            out.write(f"  {found.message}\n")
        out.write(f"  wrong: the answer is {fmt(truth)}\n")
        out.write(_indent(explain(ex, q, sol), "    ") + "\n")
        if q.hint:
            out.write(f"    hint: {q.hint}\n")
    out.write(f"Score: {result.correct}/{result.total}\n")
    return result


def _read(prompt: str, supplied, ask, out: TextIO) -> float | None:
    if supplied is not None:
        text = next(supplied, None)
        out.write(prompt + ("" if text is None else text.strip()) + "\n")
        if text is None:
            out.write("  (no answer given)\n")
            return None
        try:
            return parse_answer(text)
        except AnswerError as e:
            out.write(f"  cannot read the answer: {e}\n")
            return None
    for _ in range(3):
        try:
            return parse_answer(ask(prompt))
        except AnswerError as e:
            out.write(f"  cannot read that: {e}. Type a number, a fraction or e.g. 2*(70-75).\n")
        except EOFError:
            return None
    return None


def read_answers(text: str) -> list[str]:
    """Answers file: one answer per line; blank lines and ``#`` comments are skipped."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def explain(ex: Exercise, q: Question, sol: Solution) -> str:
    """The step that gives the answer: the equation with its inputs for a value, the
    chain-rule contributions for a gradient, ``w − γ·g`` for an update."""
    if q.kind == "value":
        return _explain_value(ex, q.target, sol)
    lines = _explain_grad(ex, q, sol)
    if q.kind == "update":
        g = _pick(sol.grads[q.target], q.index)
        w = _pick(ex.values[q.target], q.index)
        t = q.element()
        lines.append(
            f"{t} − γ·∂{ex.output}/∂{t} = {fmt(w)} − {q.lr:g}·({fmt(g)}) = {fmt(w - q.lr * g)}"
        )
    return "\n".join(lines)


def _pick(a: Any, index: tuple | None) -> Any:
    a = np.asarray(a, dtype=float)
    return float(a[index]) if index is not None else float(a)


def _explain_value(ex: Exercise, name: str, sol: Solution) -> str:
    if name in ex.values:
        return f"{name} is given: {fmt(ex.values[name])}"
    f = ex.graph[name] if name in ex.graph else ex.update[name]
    env = {**sol.nodes, **sol.update_nodes, **{GRAD_PREFIX + k: v for k, v in sol.grads.items()}}
    parts = []
    for ref in sorted(f.names):
        v = env[ref].data if isinstance(env[ref], Node) else env[ref]
        parts.append(f"{ref} = {fmt(v)}")
    value = sol.value(name)
    return f"{name} = {equations(ex, sol)[name][0]} with {', '.join(parts)} → {fmt(value)}"


MAX_CHAIN_LINES = 12


def _explain_grad(ex: Exercise, q: Question, sol: Solution) -> list[str]:
    """Every backward step on the paths from the output down to the target, in the order
    backprop runs them, so the student sees where each upstream gradient comes from."""
    node = sol.nodes[q.target]
    steps = backward_steps(sol.loss)
    into: dict[int, list] = {}
    for s in steps:
        into.setdefault(id(s.input_node), []).append(s)
    chain, frontier, seen = [], [node], set()
    while frontier:
        n = frontier.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        for s in into.get(id(n), []):
            chain.append(s)
            frontier.append(s.node)
    t = q.element()
    direct = into.get(id(node), [])
    if not direct:
        return [f"no path from {ex.output} to {q.target}: ∂{ex.output}/∂{t} = 0"]
    chain.sort(key=lambda s: s.index)
    lines = [f"chain rule from {ex.output} down to {q.target} (local · upstream = contribution):"]
    if len(chain) > MAX_CHAIN_LINES:
        lines.append(f"  … {len(chain) - MAX_CHAIN_LINES} earlier step(s), see `show`")
        chain = chain[-MAX_CHAIN_LINES:]
    lines += [f"  {s.equation}" for s in chain]
    total = _pick(direct[-1].accumulated, q.index)
    n = len(direct)
    lines.append(
        f"  ∂{ex.output}/∂{t} = {fmt(total)}" + (f" (sum of {n} contributions)" if n > 1 else "")
    )
    return lines


# ---------------------------------------------------------------------------------- check


@dataclass
class AnswerCheck:
    """One answer computed three ways (finite differences only for gradients)."""

    label: str
    engine: float
    symbolic: float
    numeric_ok: bool | None  # None: not a gradient (finite differences do not apply)
    ok: bool

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.engine) and np.isfinite(self.symbolic))


@dataclass
class CheckReport:
    """Every answer of an exercise checked; truthy when all agree."""

    name: str
    answers: list[AnswerCheck] = field(default_factory=list)
    gradchecks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.answers)

    def __bool__(self) -> bool:
        return self.ok

    def table(self) -> str:
        rows = [("answer", "engine", "SymPy", "finite diff.", "")]
        for a in self.answers:
            fd = "—" if a.numeric_ok is None else ("agrees" if a.numeric_ok else "DIFFERS")
            if not a.finite:  # a NaN/Inf agrees with nothing, whatever the comparisons said
                fd = "—" if a.numeric_ok is None else "not finite"
            rows.append((a.label, fmt(a.engine), fmt(a.symbolic), fd, "ok" if a.ok else "BAD"))
        widths = [max(len(r[k]) for r in rows) for k in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def check(ex: Exercise) -> CheckReport:
    """Verify every answer: engine vs SymPy (all) and vs finite differences (gradients)."""
    sol = ex.solve()
    report = CheckReport(ex.name)
    needed = {q.target for q in ex.questions if q.kind in ("grad", "update")}
    for f in ex.update.values():
        needed |= {r[len(GRAD_PREFIX) :] for r in f.names if r.startswith(GRAD_PREFIX)}
    needed &= set(sol.grads)
    sym_grads = {t: _symbolic_grad(ex, sol, t) for t in sorted(needed)}
    fd_ok = {}
    for t in sorted(needed):
        r = _numeric_check(ex, sol, t)
        fd_ok[t] = r.ok
        report.gradchecks[t] = str(r)
    sym_updates = ex.update_env(sol.nodes, {**sol.grads, **sym_grads}) if ex.update else {}
    for q in ex.questions:
        engine = ex.answer(q, sol)
        if q.kind == "value":
            if q.target in ex.update:
                sym = _pick(sym_updates[q.target].data, q.index)
                uses = {r[len(GRAD_PREFIX) :] for r in ex.update[q.target].names}
                numeric = all(fd_ok.get(u, True) for u in uses & needed)
            else:
                sym = _pick(symbolic_value(sol.nodes[q.target]), q.index)
                numeric = None
        elif q.kind == "grad":
            sym = _pick(sym_grads[q.target], q.index)
            numeric = fd_ok[q.target]
        else:
            g = _pick(sym_grads[q.target], q.index)
            sym = _pick(ex.values[q.target], q.index) - q.lr * g
            numeric = fd_ok[q.target]
        # np.isclose calls inf and inf close: a NaN or Inf is never an agreement
        finite = bool(np.isfinite(engine) and np.isfinite(sym))
        agree = finite and bool(np.isclose(engine, sym, rtol=1e-7, atol=1e-9))
        numeric = numeric and finite if numeric is not None else None
        report.answers.append(
            AnswerCheck(q.label(ex.output), engine, sym, numeric, agree and numeric is not False)
        )
    return report


def _cut_leaf(ex: Exercise, sol: Solution, target: str) -> tuple[dict, dict]:
    """Leaves and cut so that ``target`` is a leaf of the rebuilt graph."""
    if target in ex.values:
        return ex.leaves(), {}
    leaf = ex.leaf(target, sol.nodes[target].data, True)
    return ex.leaves(), {target: leaf}


def _symbolic_grad(ex: Exercise, sol: Solution, target: str) -> Any:
    """∂output/∂target from SymPy: differentiate the graph's SymPy form (an interior node
    is first made a leaf holding its forward value)."""
    leaves, cut = _cut_leaf(ex, sol, target)
    nodes = ex.build(leaves, cut)
    report = check_symbolic(nodes[ex.output])
    for c in report.checks:
        if c.name == target:
            return np.asarray(c.symbolic, dtype=float)
    return np.zeros_like(np.asarray(sol.nodes[target].data, dtype=float))


def _numeric_check(ex: Exercise, sol: Solution, target: str):
    """Finite differences on ``target`` alone, through :func:`gradflow.gradcheck`."""
    leaves, cut = _cut_leaf(ex, sol, target)
    x = cut[target] if target in cut else leaves[target]

    def fn(v: Node) -> Node:
        if target in cut:
            return ex.build(leaves, {target: v})[ex.output]
        return ex.build({**leaves, target: v})[ex.output]

    return gradcheck(fn, x)
