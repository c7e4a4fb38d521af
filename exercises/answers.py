"""Names of questions, and files of answers a student hands in.

Every question has a key a person can type: ``y11`` (a value), ``grad w211`` (∂L/∂w211),
``update w211`` (one SGD step), with an element index where the answer is a vector or a
matrix: ``pa[0]``, ``grad W1[0, 1]``. The label a quiz shows (``∂L/∂w211``) is accepted too.

An answers file holds one answer per line, in question order, or ``name = value`` lines
(``pa[0] = 0.36``), in any order. Blank lines and ``#`` comments are skipped. A value is a
number, a fraction or a small expression of numbers (``2*(70-75)``, ``exp(0.2)``), read by
:func:`gradflow.exercises.runner.parse_answer` (the safe formula parser, never ``eval``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gradflow.errors import UsageError

from .exercise import Exercise, Question

MAX_LINE = 1000  # characters on one line of an answers file
KINDS = {"value": "", "grad": "grad ", "update": "update "}


def question_key(q: Question) -> str:
    """``y11``, ``grad w211``, ``update w211``, ``grad W1[0, 1]``."""
    return KINDS[q.kind] + q.element()


def normalize_key(text: str) -> str:
    """A typed key in canonical spacing: ``grad  W1[0,1]`` → ``grad W1[0, 1]``."""
    text = " ".join(text.replace("−", "-").split())
    text = re.sub(r"\s*\[\s*", "[", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    return re.sub(r"\s*\]", "]", text)


def key_index(ex: Exercise) -> dict[str, Question]:
    """Every accepted spelling of every question: its key and its quiz label."""
    out: dict[str, Question] = {}
    for q in ex.questions:
        out[question_key(q)] = q
        out.setdefault(normalize_key(q.label(ex.output)), q)
    return out


@dataclass
class Answers:
    """What a file says, per question: the raw text and the line it is on."""

    given: dict[Question, tuple[str, int]] = field(default_factory=dict)
    missing: list[Question] = field(default_factory=list)

    def text(self, q: Question) -> str | None:
        entry = self.given.get(q)
        return None if entry is None else entry[0]


def read_answers_file(ex: Exercise, text: str, source: str) -> Answers:
    """Match the lines of an answers file to the questions of ``ex``. Structural problems
    (an unknown name, a name given twice, more answers than questions, names mixed with
    plain lines) are a :class:`UsageError` ``SOURCE:LINE: problem``; a value that is not a
    number is left for the grader to mark wrong."""
    keys = key_index(ex)
    named: dict[Question, tuple[str, int]] = {}
    plain: list[tuple[str, int]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if len(raw) > MAX_LINE:
            raise UsageError(f"{source}:{n}: line longer than {MAX_LINE} characters")
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            q = keys.get(normalize_key(name))
            if q is None:
                known = ", ".join(question_key(q) for q in ex.questions)
                raise UsageError(f"{source}:{n}: no question {name!r} in {ex.name}; known: {known}")
            if q in named:
                raise UsageError(
                    f"{source}:{n}: {question_key(q)} answered twice (line {named[q][1]} too)"
                )
            named[q] = (value, n)
        else:
            plain.append((line, n))
    if named and plain:
        raise UsageError(
            f"{source}:{plain[0][1]}: mixes plain answers with 'name = value' lines; "
            "use one style in a file"
        )
    if len(plain) > len(ex.questions):
        extra = plain[len(ex.questions)][1]
        raise UsageError(
            f"{source}:{extra}: more answers than the {len(ex.questions)} questions of {ex.name}"
        )
    given = named or dict(zip(ex.questions, plain))
    missing = [q for q in ex.questions if q not in given]
    return Answers(given, missing)
