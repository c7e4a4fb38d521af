"""Step mode (``gradflow exercise quiz NAME --steps``): a gradient one chain-rule step at a
time, so a student finds the exact step they get wrong.

For each gradient question the steps on the paths from the output down to the target are
asked in the order backprop runs them: first the local derivative (``∂y21/∂z21 = ?``), then
the contribution it sends (upstream × local), and where a node feeds several others, the sum
of their contributions. A wrong step is corrected at once and the quiz goes on from the right
number; only the questions themselves are scored. Steps that pass the gradient on unchanged
(the local derivative of a sum, 1) are not asked, nor is a step asked twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TextIO

import numpy as np

from gradflow.display import number

from .diagnose import Context, _derivative, _trivial, paren
from .exercise import Exercise, Question
from .runner import QuizResult, quiz


def quiz_steps(
    ex: Exercise,
    answers: Iterable[str] | None,
    out: TextIO,
    ask: Callable[[str], str] = input,
    skip: Iterable[Question] = (),
    on_answer: Callable[[Question, bool], None] | None = None,
) -> QuizResult:
    """:func:`gradflow.exercises.runner.quiz` with the chain-rule steps asked before each
    gradient question (scalar exercises; a tensor exercise's steps are vector-Jacobian
    products and are not asked one by one): the same questions, hints, diagnosis and
    numbers as the plain quiz."""
    asked: set[int] = set()

    def steps_first(q: Question, sol, read) -> None:
        if q.kind != "value" and not ex.tensor:
            _ask_steps(ex, Context(ex, q, sol), asked, read, out)

    if ex.tensor:
        out.write("(a tensor exercise: its steps are matrix rules, so whole answers are asked)\n")
    return quiz(ex, answers, out, ask, skip, on_answer, before_question=steps_first,
                mode="step mode")  # fmt: skip


def _check(given: float | None, truth: float, ex: Exercise, out: TextIO, says: str) -> None:
    if given is not None and ex.close(given, truth):
        out.write("    right\n")
    else:
        out.write(f"    not quite: {says}\n")


def _ask_steps(ex: Exercise, c: Context, asked: set[int], read, out: TextIO) -> None:
    out.write(f"  step by step to {c.asked}:\n")
    for s in c.chain:
        if s.index in asked or s.local is None:
            continue
        asked.add(s.index)
        d = f"∂{paren(s.name)}/∂{paren(s.input)}"
        if not _trivial(s):
            given = read(f"    local {d} = ? ")
            _check(given, float(s.local), ex, out, _derivative(s))
            given = read(
                f"    upstream · local = {c.grad_name(s.name)} · {d} = "
                f"{_signed(s.upstream)} · {_signed(s.local)} = ? "
            )
            _check(given, float(s.contribution), ex, out, f"{number(s.contribution)}")
        feeding = c.into[id(s.input_node)]
        if len(feeding) > 1 and s is feeding[-1]:
            parts = " + ".join(_signed(f.contribution) for f in feeding)
            total = float(np.asarray(s.accumulated))
            given = read(f"    {c.grad_name(s.input)} = sum over the {len(feeding)} paths = ? ")
            _check(given, total, ex, out, f"{parts} = {number(total)}")


def _signed(x) -> str:
    """A number after an operator: ``(−1)`` in brackets when negative."""
    s = number(x)
    return f"({s})" if s.startswith("-") else s
