"""Grading where courses grade: a score per question with the diagnosis as feedback.

* :func:`grade` marks an answers file (:mod:`gradflow.exercises.answers`) and gives a
  :class:`Grade`, which writes itself as text, JSON, Gradescope's ``results.json`` (``tests:
  [{name, score, max_score, output}]`` and a top-level ``score``) or JUnit XML (GitHub
  Classroom, CI systems).
* :func:`check_answer` is the one-answer form for notebook graders (otter-grader, nbgrader):
  it returns the points or raises ``AssertionError`` whose message is the diagnosis. Nothing
  here reads from the keyboard.

Every question is worth one point.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from gradflow.display import number
from gradflow.errors import ArgumentError, UnknownNameError

from .answers import Answers, key_index, normalize_key, question_key
from .diagnose import diagnose
from .exercise import Exercise
from .runner import AnswerError, parse_answer

FORMATS = ("text", "json", "gradescope", "junit")


@dataclass
class QuestionGrade:
    key: str
    label: str
    given: str | None  # what the student wrote (None: no answer)
    value: float | None  # the number read from it
    answer: float
    score: float
    max_score: float
    feedback: str
    misconception: str | None = None

    @property
    def correct(self) -> bool:
        return self.score == self.max_score


@dataclass
class Grade:
    exercise: str
    seed: str | None
    questions: list[QuestionGrade] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def max_score(self) -> float:
        return sum(q.max_score for q in self.questions)

    @property
    def passed(self) -> bool:
        return self.score == self.max_score

    def summary(self) -> str:
        seed = f" (variant {self.seed})" if self.seed is not None else ""
        text = f"{self.exercise}{seed}: {number(self.score)}/{number(self.max_score)}"
        if self.missing:
            text += f"; no answer for {', '.join(self.missing)}"
        return text

    # -------------------------------------------------------------------- formats
    def to_text(self) -> str:
        lines = []
        for q in self.questions:
            mark = "✓" if q.correct else "✗"
            lines.append(f"{mark} {q.label}: {number(q.score)}/{number(q.max_score)}  {q.feedback}")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "seed": self.seed,
            "score": self.score,
            "max_score": self.max_score,
            "missing": self.missing,
            "questions": [
                {
                    "key": q.key,
                    "label": q.label,
                    "given": q.given,
                    "value": q.value,
                    "score": q.score,
                    "max_score": q.max_score,
                    "correct": q.correct,
                    "feedback": q.feedback,
                    "misconception": q.misconception,
                }
                for q in self.questions
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_gradescope(self) -> str:
        """The ``results.json`` Gradescope's autograder reads."""
        data = {
            "score": self.score,
            "output": self.summary(),
            "visibility": "visible",
            "tests": [
                {
                    "name": q.label,
                    "number": str(k),
                    "score": q.score,
                    "max_score": q.max_score,
                    "status": "passed" if q.correct else "failed",
                    "output": q.feedback,
                }
                for k, q in enumerate(self.questions, start=1)
            ],
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def to_junit(self) -> str:
        """JUnit XML: one test case per question, a failure carrying the feedback."""
        failures = sum(not q.correct for q in self.questions)
        n = str(len(self.questions))
        suites = ET.Element("testsuites", name="gradflow", tests=n, failures=str(failures))
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=self.exercise + (f"@{self.seed}" if self.seed is not None else ""),
            tests=n,
            failures=str(failures),
            errors="0",
            skipped="0",
        )
        for q in self.questions:
            case = ET.SubElement(
                suite, "testcase", classname=f"gradflow.exercises.{self.exercise}", name=q.label
            )
            if not q.correct:
                fail = ET.SubElement(case, "failure", message=q.feedback, type="WrongAnswer")
                fail.text = f"{q.key}: given {q.given!r}; {q.feedback}"
        ET.SubElement(suite, "system-out").text = self.summary()
        ET.indent(suites)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"

    def render(self, fmt: str) -> str:
        if fmt not in FORMATS:
            raise ArgumentError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return {
            "text": self.to_text,
            "json": self.to_json,
            "gradescope": self.to_gradescope,
            "junit": self.to_junit,
        }[fmt]()


def grade(ex: Exercise, answers: Answers, seed: str | None = None, reveal: bool = False) -> Grade:
    """Mark every question of ``ex``: 1 point when right; the diagnosis (or "not right")
    as feedback; ``reveal`` adds the right answer to the feedback of a wrong one."""
    sol = ex.solve()
    out = Grade(ex.name, seed, missing=[question_key(q) for q in answers.missing])
    for q in ex.questions:
        text = answers.text(q)
        truth = ex.answer(q, sol)
        value, found = None, None
        if text is None:
            feedback = "no answer"
        else:
            try:
                value = parse_answer(text)
            except AnswerError as e:
                feedback = f"cannot read {text!r}: {e}"
            else:
                if ex.close(value, truth):
                    feedback = "right"
                else:
                    found = diagnose(ex, q, value, sol)
                    feedback = found.message if found else f"{number(value)} is not right"
        right = value is not None and ex.close(value, truth)
        if reveal and not right:
            feedback += f" (the answer is {number(truth)})"
        out.questions.append(
            QuestionGrade(
                question_key(q),
                q.label(ex.output),
                text,
                value,
                truth,
                1.0 if right else 0.0,
                1.0,
                feedback,
                found.misconception if found else None,
            )
        )
    return out


# ---------------------------------------------------------------------- notebook graders


@lru_cache(maxsize=64)
def _exercise(name: str, seed: str | None, path: str | None) -> Exercise:
    from .loader import find
    from .variants import variant

    ex = find(name, path)
    return ex if seed is None else variant(ex, seed).exercise


def check_answer(
    exercise: str,
    question: str,
    value: Any,
    seed: str | int | None = None,
    path: str | None = None,
) -> float:
    """Check one answer, for notebook graders: ``check_answer("seed002_network", "grad w211",
    -700, seed="s123")`` returns the points (1.0); a wrong answer raises ``AssertionError``
    whose message is the diagnosis. ``value`` is a number or the text a student typed."""
    ex = _exercise(exercise, None if seed is None else str(seed), path)
    q = key_index(ex).get(normalize_key(question))
    if q is None:
        known = ", ".join(question_key(q) for q in ex.questions)
        raise UnknownNameError(f"{exercise}: no question {question!r}; known: {known}")
    label = q.label(ex.output)
    if isinstance(value, str):
        try:
            given = parse_answer(value)
        except AnswerError as e:
            raise AssertionError(f"{label}: cannot read {value!r}: {e}") from None
    else:
        try:
            given = float(np.asarray(value, dtype=float))
        except (TypeError, ValueError):
            raise AssertionError(f"{label}: expected one number, got {value!r}") from None
    sol = ex.solve()
    if not (np.isfinite(given) and ex.close(given, ex.answer(q, sol))):
        found = diagnose(ex, q, given, sol)
        why = found.message if found else f"{number(given)} is not right"
        raise AssertionError(f"{label}: {why}")
    return 1.0
