"""A pytest helper for courses that grade with ``pytest -m exercise``.

In the course's ``conftest.py``::

    pytest_plugins = ["gradflow.exercises.testing"]   # registers the ``exercise`` marker

and in a test file::

    from gradflow.exercises.testing import exercise_tests

    test_seed002 = exercise_tests("seed002_network", "answers/seed002.txt", seed="s123")

Each question becomes one test (named by its key, ``grad w211``), marked ``exercise``; a wrong
answer fails with the diagnosis as the message, a missing one fails with "no answer".
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "exercise: a gradflow exercise answer (check_answer)")


def exercise_tests(
    name: str, answers: str | Path | dict[str, object], seed: str | None = None, path=None
):
    """A parametrized test function checking every question of ``name`` against
    ``answers`` (an answers file, or a dict ``{"grad w211": -700, ...}``)."""
    from .answers import question_key, read_answers_file
    from .grading import _exercise, check_answer

    ex = _exercise(name, None if seed is None else str(seed), path)
    if isinstance(answers, dict):
        given = {k: answers.get(k) for k in (question_key(q) for q in ex.questions)}
    else:
        text = Path(answers).read_text(encoding="utf-8")
        parsed = read_answers_file(ex, text, str(answers))
        given = {question_key(q): parsed.text(q) for q in ex.questions}

    @pytest.mark.exercise
    @pytest.mark.parametrize("question", list(given))
    def test(question):
        value = given[question]
        assert value is not None, f"{question}: no answer"
        check_answer(name, question, value, seed=seed, path=path)

    return test
