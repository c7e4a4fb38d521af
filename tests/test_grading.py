"""Grading (issue 13, part 3): answers files, text/JSON/Gradescope/JUnit results with exit
codes 0/1/2, check_answer for notebook graders, the pytest helper, and instructor sheets."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from gradflow.cli import main
from gradflow.errors import UsageError
from gradflow.exercises import check_answer
from gradflow.exercises.answers import question_key, read_answers_file
from gradflow.exercises.grading import grade
from gradflow.exercises.loader import find

# Gradescope's autograder results format (https://gradescope-autograders.readthedocs.io,
# "Output format"), written out as a JSON schema: unknown keys are refused so a typo fails.
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
GRADESCOPE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tests"],
    "anyOf": [
        {"required": ["score"]},
        {"properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "test_output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "test_name_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
            },
        },
    },
}

RIGHT = "\n".join(["70", "0", "70", "25", "-10", "-700", "0", "-10", "-10", "-40", "-10", "0"])
RIGHT += "\n0\n0.7\n1.7\n"


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "right.txt").write_text(RIGHT)
    (tmp_path / "named.txt").write_text("y11 = 70\ngrad w211 = -10  # one step short\n")
    return tmp_path


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_all_right_is_exit_0_and_full_marks(here, capsys):
    code, out, _ = run(["exercise", "grade", "seed002_network", "--answers", "right.txt"], capsys)
    assert code == 0
    assert out.strip().endswith("seed002_network: 15/15")


def test_named_answers_wrong_and_missing_are_exit_1_with_the_diagnosis(here, capsys):
    argv = ["exercise", "grade", "seed002_network", "--answers", "named.txt", "--format", "json"]
    code, out, _ = run(argv, capsys)
    assert code == 1
    data = json.loads(out)
    assert data["score"] == 1 and data["max_score"] == 15
    w211 = next(q for q in data["questions"] if q["key"] == "grad w211")
    assert w211["misconception"] == "upstream_only" and "∂L/∂y21" in w211["feedback"]
    assert "y21" in data["missing"] and "grad w211" not in data["missing"]


def test_gradescope_results_follow_gradescopes_schema(here, capsys):
    out_file = here / "results.json"
    argv = ["exercise", "grade", "seed002_network", "--answers", "named.txt"]
    code, _, _ = run([*argv, "--format", "gradescope", "--out", str(out_file)], capsys)
    assert code == 1
    data = json.loads(out_file.read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["score"] == 1 and len(data["tests"]) == 15
    assert sum(t["max_score"] for t in data["tests"]) == 15
    assert any("short: multiply by" in t["output"] for t in data["tests"])
    with pytest.raises(jsonschema.ValidationError):  # the schema does refuse a wrong shape
        jsonschema.validate({"tests": [{"score": 1, "maxscore": 1}]}, GRADESCOPE_SCHEMA)


def test_junit_is_xml_ci_systems_read(here, capsys):
    argv = ["exercise", "grade", "seed002_network", "--answers", "named.txt", "--format", "junit"]
    code, out, _ = run(argv, capsys)
    assert code == 1
    root = ET.fromstring(out.split("\n", 1)[1])  # after the XML declaration
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 15 and suite.get("failures") == "14"
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 14
    assert any("∂L/∂y21" in c.find("failure").get("message") for c in failed)


@pytest.mark.parametrize(
    "text, says",
    [
        ("nope = 1\n", "named.txt:1: no question 'nope' in seed002_network"),
        ("y11 = 70\ny11 = 71\n", "named.txt:2: y11 answered twice (line 1 too)"),
        ("y11 = 70\n70\n", "named.txt:2: mixes plain answers"),
        ("1\n" * 16, "named.txt:16: more answers than the 15 questions"),
        ("x" * 1001, "named.txt:1: line longer than 1000"),
    ],
)
def test_a_malformed_answers_file_is_exit_2_naming_the_line(here, capsys, text, says):
    (here / "named.txt").write_text(text)
    code, _, err = run(["exercise", "grade", "seed002_network", "--answers", "named.txt"], capsys)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1


def test_answers_by_label_index_and_spacing():
    ex = find("softmax_fruit")
    text = "pa[0] = 0.36\n∂L/∂ya[1] = -0.36\npb [ 1 ] = 1/2\n"
    a = read_answers_file(ex, text, "f.txt")
    keys = {question_key(q): a.text(q) for q in ex.questions if a.text(q) is not None}
    assert keys == {"pa[0]": "0.36", "grad ya[1]": "-0.36", "pb[1]": "1/2"}
    result = grade(ex, a)
    assert [q.key for q in result.questions if q.correct] == ["pa[0]", "grad ya[1]"]
    assert "no answer" in result.to_text()


def test_an_unreadable_value_scores_0_with_feedback():
    ex = find("seed002_network")
    result = grade(ex, read_answers_file(ex, "y11 = seventy\n", "f"))
    first = result.questions[0]
    assert first.score == 0 and "cannot read 'seventy'" in first.feedback


# ---------------------------------------------------------------------- notebook graders


def test_check_answer_returns_points_or_raises_the_diagnosis(monkeypatch):
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("check_answer read input"))
    assert check_answer("seed002_network", "grad w211", -700) == 1.0
    assert check_answer("seed002_network", "∂L/∂w211", "-7*100") == 1.0
    with pytest.raises(AssertionError, match=r"Your -10 is ∂L/∂y21"):
        check_answer("seed002_network", "grad w211", -10)
    with pytest.raises(AssertionError, match="cannot read"):
        check_answer("seed002_network", "grad w211", "seven hundred")
    with pytest.raises(KeyError, match="no question"):
        check_answer("seed002_network", "grad nothing", 1)


def test_check_answer_grades_a_variant():
    from gradflow.exercises.variants import variant

    vx = variant(find("seed002_network"), "s123").exercise
    q = next(q for q in vx.questions if question_key(q) == "grad w211")
    truth = vx.answer(q, vx.solve())
    assert check_answer("seed002_network", "grad w211", truth, seed="s123") == 1.0


def test_the_pytest_helper_runs_a_course_test_file(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["gradflow.exercises.testing"]\n')
    (tmp_path / "answers.txt").write_text(RIGHT.replace("-700", "-10"))
    (tmp_path / "test_course.py").write_text(
        "from gradflow.exercises.testing import exercise_tests\n"
        "test_seed002 = exercise_tests('seed002_network', 'answers.txt')\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "exercise", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 failed, 14 passed" in r.stdout, r.stdout + r.stderr
    assert "Your -10 is ∂L/∂y21" in r.stdout


# ---------------------------------------------------------------------------------- sheets


def test_sheets_per_student(here, capsys, monkeypatch):
    from gradflow.exercises import sheets

    monkeypatch.setattr(sheets, "latex_engine", lambda: None)  # PDFs: see the slow test
    (here / "roster.csv").write_text("id,name\ns1,Ada\ns2,Bo\n")
    argv = ["exercise", "sheet", "seed002_network", "sigmoid_neuron", "--seeds", "roster.csv"]
    code, out, err = run([*argv, "--out", "sheets"], capsys)
    assert code == 0, err
    files = sorted(p.name for p in (here / "sheets" / "s1").iterdir())
    assert files == ["key.html", "key.md", "worksheet.html", "worksheet.md"]
    work = (here / "sheets" / "s1" / "worksheet.md").read_text()
    key = (here / "sheets" / "s1" / "key.md").read_text()
    assert "# Worksheet — Ada (s1)" in work and "1.6. ∂L/∂w211 = ?" in work
    assert "2. Chain rule" in work or "## 2." in work
    assert "= ?" not in key
    other = (here / "sheets" / "s2" / "key.md").read_text()
    assert other != key.replace("Ada (s1)", "Bo (s2)")  # their own numbers
    html = (here / "sheets" / "s1" / "worksheet.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html
    # again without --force: refused before anything is written
    code, _, err = run([*argv, "--out", "sheets"], capsys)
    assert code == 2 and "exists; pass --force" in err


@pytest.mark.parametrize(
    "roster, says",
    [
        ("name\nAda\n", "roster.csv:1: no 'id' column"),
        ("id\ns1\ns1\n", "roster.csv:3: student id 's1' again (first on line 2)"),
        ("id\n../evil\n", "roster.csv:2: student id '../evil' must be"),
        ("id\n.hidden\n", "roster.csv:2: student id '.hidden' must be"),
        ("id\n", "roster.csv: no students"),
    ],
)
def test_a_bad_roster_is_one_line_and_writes_nothing(here, capsys, roster, says):
    (here / "roster.csv").write_text(roster)
    argv = ["exercise", "sheet", "seed002_network", "--seeds", "roster.csv", "--out", "out"]
    code, _, err = run(argv, capsys)
    assert code == 2 and says in err
    assert not (here / "out").exists()


@pytest.mark.slow
def test_sheets_as_pdf_when_latex_is_installed(here, capsys):
    from gradflow.exercises.sheets import latex_engine

    if latex_engine() is None:
        pytest.skip("needs a LaTeX engine (lualatex, xelatex or pdflatex)")
    (here / "roster.csv").write_text("id\ns1\n")
    argv = ["exercise", "sheet", "seed002_network", "--seeds", "roster.csv", "--out", "pdf"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    pdf = here / "pdf" / "s1" / "key.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")


def test_reading_no_roster_or_answers_is_usage_error(tmp_path):
    from gradflow.exercises.sheets import read_roster

    with pytest.raises(UsageError, match="cannot read it"):
        read_roster(str(tmp_path / "missing.csv"))


def test_a_fifo_roster_is_refused_at_once(tmp_path):
    """The roster is opened without blocking: a FIFO given as --seeds is refused, it does not
    wait for a writer (the answers file, by contrast, may be a pipe)."""
    import os
    import threading

    from gradflow.exercises.sheets import read_roster

    fifo = tmp_path / "roster.csv"
    os.mkfifo(fifo)
    seen = []

    def read():
        try:
            read_roster(str(fifo))
        except UsageError as e:
            seen.append(str(e))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    assert seen == [f"--seeds {fifo}: not a regular file"]
