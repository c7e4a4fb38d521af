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

from .diagnose import Context, _derivative, _trivial, diagnose, paren
from .exercise import Exercise, Question
from .runner import QuizResult, _read, explain


def quiz_steps(
    ex: Exercise,
    answers: Iterable[str] | None,
    out: TextIO,
    ask: Callable[[str], str] = input,
    skip: Iterable[Question] = (),
    on_answer: Callable[[Question, bool], None] | None = None,
) -> QuizResult:
    """Like :func:`gradflow.exercises.runner.quiz`, with the chain-rule steps asked before
    each gradient question (scalar exercises; a tensor exercise's steps are vector-Jacobian
    products and are not asked one by one)."""
    sol = ex.solve()
    supplied = iter(answers) if answers is not None else None
    skip = set(skip)
    result = QuizResult(total=len(ex.questions))
    asked: set[int] = set()
    out.write(f"{ex.title} (step mode)\n")
    if ex.tensor:
        out.write("  (a tensor exercise: its steps are matrix rules, so whole answers are asked)\n")
    for n, q in enumerate(ex.questions, start=1):
        if q in skip:
            result.correct += 1
            continue
        if q.kind != "value" and not ex.tensor:
            _ask_steps(ex, Context(ex, q, sol), asked, supplied, ask, out)
        prompt = f"[{n}/{result.total}] {q.label(ex.output)} = ? "
        given = _read(prompt, supplied, ask, out)
        truth = ex.answer(q, sol)
        right = given is not None and ex.close(given, truth)
        if on_answer is not None:
            on_answer(q, right)
        if right:
            result.correct += 1
            out.write(f"  correct: {number(truth)}\n")
            continue
        result.wrong.append(q.label(ex.output))
        found = None if given is None else diagnose(ex, q, given, sol)
        if found is not None:
            out.write(f"  {found.message}\n")
        out.write(f"  wrong: the answer is {number(truth)}\n")
        out.write("\n".join("    " + line for line in explain(ex, q, sol).splitlines()) + "\n")
    out.write(f"Score: {result.correct}/{result.total}\n")
    return result


def _check(given: float | None, truth: float, ex: Exercise, out: TextIO, says: str) -> None:
    if given is not None and ex.close(given, truth):
        out.write("    right\n")
    else:
        out.write(f"    not quite: {says}\n")


def _ask_steps(ex: Exercise, c: Context, asked: set[int], supplied, ask, out: TextIO) -> None:
    out.write(f"  step by step to {c.asked}:\n")
    for s in c.chain:
        if s.index in asked or s.local is None:
            continue
        asked.add(s.index)
        d = f"∂{paren(s.name)}/∂{paren(s.input)}"
        if not _trivial(s):
            given = _read(f"    local {d} = ? ", supplied, ask, out)
            _check(given, float(s.local), ex, out, _derivative(s))
            given = _read(
                f"    upstream · local = {c.grad_name(s.name)} · {d} = "
                f"{_signed(s.upstream)} · {_signed(s.local)} = ? ",
                supplied,
                ask,
                out,
            )
            _check(given, float(s.contribution), ex, out, f"{number(s.contribution)}")
        feeding = c.into[id(s.input_node)]
        if len(feeding) > 1 and s is feeding[-1]:
            parts = " + ".join(_signed(f.contribution) for f in feeding)
            total = float(np.asarray(s.accumulated))
            given = _read(
                f"    {c.grad_name(s.input)} = sum over the {len(feeding)} paths = ? ",
                supplied,
                ask,
                out,
            )
            _check(given, total, ex, out, f"{parts} = {number(total)}")


def _signed(x) -> str:
    """A number after an operator: ``(−1)`` in brackets when negative."""
    s = number(x)
    return f"({s})" if s.startswith("-") else s
