"""Diagnosing wrong answers, step mode and the progress file (issue 13, part 1)."""

from __future__ import annotations

import io
import json
import math
import os
import stat

import numpy as np
import pytest

from gradflow.exercises.answers import question_key
from gradflow.exercises.diagnose import MISCONCEPTIONS, candidates, diagnose
from gradflow.exercises.loader import exercise_files, find
from gradflow.exercises.progress import Progress, ProgressError, progress_path
from gradflow.exercises.runner import quiz
from gradflow.exercises.stepmode import quiz_steps

FILES = exercise_files()


def _question(ex, key):
    return next(q for q in ex.questions if question_key(q) == key)


# ------------------------------------------- misconception × exercise, from independent numbers

# Wrong answers worked out by hand from the course's numbers (not from the diagnosis code):
# (exercise, question, the wrong number, the misconception that produces it, text it names)
SIG_Z = 2 * 0.6 - 1  # sigmoid_neuron: z = w·a_prev + b
SIG_A = 1 / (1 + math.exp(-SIG_Z))
HAND = [
    ("seed002_network", "grad w211", 700, "sign", "sign flipped"),
    ("seed002_network", "grad w211", -10, "upstream_only", "∂L/∂y21"),
    ("seed002_network", "grad w211", -70, "missing_local", "leaves out the local"),  # 2(y21−ytrue)
    ("seed002_network", "update w211", 1 + 0.001 * -700, "update", "uphill"),
    ("seed002_network", "update w211", 1 + 700, "update", "learning rate"),
    ("sigmoid_neuron", "grad z", 2 * (SIG_A - 1) * SIG_A, "value_for_derivative", "a = 0.5498"),
    ("sigmoid_neuron", "grad w", 2 * (SIG_A - 1) * 0.6, "missing_local", "leaves out the local"),
    ("rnn_bptt", "grad w", None, "missing_path", "path"),  # filled in below: one step of BPTT
    ("mse_gradient", "grad p[0]", None, "batch", "averages over 3"),
    ("softmax_fruit", "grad ya[1]", None, "softmax", "p − y"),
]


def _hand_value(name, key):
    ex = find(name)
    sol = ex.solve()
    if name == "rnn_bptt":  # BPTT without the first time step: x1 · (1 − h1²) · ∂L/∂h1 left out
        h1 = float(sol.nodes["h1"].data)
        return float(sol.grads["w"]) - 1 * (1 - h1**2) * float(sol.grads["h1"])
    if name == "mse_gradient":
        return 3 * ex.answer(_question(ex, key), sol)  # the sum, not the mean
    if name == "softmax_fruit":
        return float(sol.nodes["pa"].data[1])  # p, not p − y
    raise AssertionError(name)


@pytest.mark.parametrize("name, key, wrong, misconception, says", HAND)
def test_a_hand_made_mistake_is_named(name, key, wrong, misconception, says):
    ex = find(name)
    q = _question(ex, key)
    if wrong is None:
        wrong = _hand_value(name, key)
    d = diagnose(ex, q, wrong)
    assert d is not None, f"{name} {key}: {wrong} not diagnosed"
    assert d.misconception == misconception, d.message
    assert says in d.message
    assert "\n" not in d.message or d.message.count("\n") == 1


def test_the_issue_example_reads_as_the_issue_wants():
    ex = find("seed002_network")
    d = diagnose(ex, _question(ex, "grad w211"), -10)
    assert d.message.startswith("Your -10 is ∂L/∂y21 — ")
    assert "∂y21/∂z21" in d.message and "= 70" in d.message and "y11" in d.message


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_every_misconception_that_applies_is_diagnosed(path):
    """The table: every wrong answer each applicable misconception produces is diagnosed as
    a misconception that produces that number (several can: 2·(−10) is also −20)."""
    ex = find(str(path))
    sol = ex.solve()
    for q in ex.questions:
        truth = ex.answer(q, sol)
        cands = candidates(ex, q, sol)
        for c in cands:
            assert not ex.close(c.value, truth)
            d = diagnose(ex, q, c.value, sol)
            assert d is not None, (q.label(ex.output), c)
            same = {o.misconception for o in cands if ex.close(c.value, o.value)}
            assert d.misconception in same
            assert "{given}" not in d.message and d.message.startswith("Your ")


def test_every_misconception_applies_somewhere():
    seen = set()
    for path in FILES:
        ex = find(str(path))
        sol = ex.solve()
        for q in ex.questions:
            seen |= {c.misconception for c in candidates(ex, q, sol)}
    assert seen == set(MISCONCEPTIONS)


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_a_random_wrong_number_gets_no_diagnosis(path):
    ex = find(str(path))
    sol = ex.solve()
    rng = np.random.default_rng(13)
    for q in ex.questions:
        known = [ex.answer(q, sol)] + [c.value for c in candidates(ex, q, sol)]
        for _ in range(5):
            v = float(rng.uniform(-1000, 1000)) * float(rng.choice([1e-3, 1, 1e2]))
            if any(abs(v - k) <= max(0.05 * abs(k), 1e-3) for k in known):
                continue
            assert diagnose(ex, q, v, sol) is None, (q.label(ex.output), v)


def test_a_right_answer_or_nan_gets_no_diagnosis():
    ex = find("seed002_network")
    q = _question(ex, "grad w211")
    assert diagnose(ex, q, -700) is None
    assert diagnose(ex, q, float("nan")) is None


def test_the_quiz_prints_the_diagnosis_before_the_chain():
    ex = find("seed002_network")
    answers = ["70", "0", "70", "25", "-10", "-10"]
    out = io.StringIO()
    quiz(ex, answers, out)
    text = out.getvalue()
    assert "Your -10 is ∂L/∂y21" in text
    assert text.index("Your -10") < text.index("chain rule from L down to w211")


# ---------------------------------------------------------------------------------- step mode


def test_step_mode_asks_each_step_and_corrects_the_wrong_one():
    ex = find("sigmoid_neuron")
    prompts = []
    a = SIG_A

    def ask(prompt):
        prompts.append(prompt)
        if "local" in prompt and "∂a/∂z" in prompt:
            return "0.5"  # wrong: σ'(z) is a(1 − a)
        return "1"

    out = io.StringIO()
    result = quiz_steps(ex, None, out, ask=ask)
    text = out.getvalue()
    assert any("local ∂a/∂z" in p for p in prompts)
    assert any("upstream · local" in p for p in prompts)
    assert "not quite: ∂a/∂z" in text and f"{a * (1 - a):.4g}" in text
    assert result.total == len(ex.questions)
    # a step is asked once, even when later questions go through it
    assert sum("local ∂a/∂z" in p for p in prompts) == 1


def test_step_mode_asks_for_the_sum_where_paths_meet():
    ex = find("conv1d")
    prompts = []
    quiz_steps(ex, None, io.StringIO(), ask=lambda p: prompts.append(p) or "0")
    assert any("sum over the 2 paths" in p or "sum over the 3 paths" in p for p in prompts)


def test_step_mode_reads_an_answers_file_in_order():
    ex = find("seed002_network")
    out = io.StringIO()
    result = quiz_steps(ex, ["70", "0", "70", "25"], out)
    assert result.correct == 4 and "(no answer given)" in out.getvalue()


# ---------------------------------------------------------------------------- progress file


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "gradflow"


def test_progress_is_private_and_atomic(data_home):
    assert progress_path() == data_home / "progress.json"
    p = Progress()
    p.record("seed002_network", "y11", True, 15)
    p.record("seed002_network", "grad w211", False, 15)
    assert stat.S_IMODE(os.stat(data_home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(progress_path()).st_mode) == 0o600
    assert [f.name for f in data_home.iterdir()] == ["progress.json"]  # no temporary left
    again = Progress()
    assert again.done("seed002_network") == {"y11"}
    assert again.exercises["seed002_network"].tries == 2
    assert "1/15" in again.table()


@pytest.mark.parametrize(
    "content, says",
    [
        (b"{not json", "corrupt"),
        (b"\xff\xfe", "corrupt"),
        (b'{"format": "something else"}', "not a gradflow progress file"),
        (b'{"format": "gradflow-progress", "version": 7, "exercises": {}}', "version 7"),
        (
            b'{"format": "gradflow-progress", "version": 1, "exercises": {"x": {"done": 3}}}',
            "entry 'x' is malformed",
        ),
    ],
)
def test_a_corrupt_progress_file_is_an_error_never_reset(data_home, content, says):
    data_home.mkdir(parents=True)
    progress_path().write_bytes(content)
    with pytest.raises(ProgressError) as e:
        Progress()
    assert str(progress_path()) in str(e.value) and says in str(e.value)
    assert progress_path().read_bytes() == content


def test_quiz_resumes_from_the_progress_file(data_home, monkeypatch, capsys):
    from gradflow.cli import main

    answers = iter(["70", "1"] + ["0"] * 40)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["exercise", "quiz", "seed002_network"]) == 1
    saved = json.loads(progress_path().read_text())
    assert "y11" in saved["exercises"]["seed002_network"]["done"]
    capsys.readouterr()
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "0")
    main(["exercise", "quiz", "seed002_network"])
    out = capsys.readouterr().out
    assert "resuming:" in out
    assert not any(p.endswith("] y11 = ? ") for p in asked)
    assert main(["exercise", "progress"]) == 0
    assert "seed002_network" in capsys.readouterr().out
