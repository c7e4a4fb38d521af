"""``gradflow render``: formula in, picture out; hostile text never runs."""

import contextlib
import io
import pathlib
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples
from test_formula import HOSTILE
from visual_helpers import svg_texts

from gradflow.cli import main
from gradflow.commands.render import AssignmentError, parse_assignments
from gradflow.formula import FormulaError, parse


def test_render_with_backward_shows_the_gradients(tmp_path, capsys):
    out = tmp_path / "graph.svg"
    rc = main(
        ["render", "(75 - relu(w*x - 10))**2", "--at", "x=4,w=20", "-o", str(out), "--backward"]
    )
    assert rc == 0
    texts = svg_texts(out.read_bytes())
    # L = (75 − relu(20·4 − 10))² = 25; ∂L/∂w = 2(70 − 75)·x = −40 (seed 002 by hand)
    assert "w" in texts and "grad -40" in texts and "data 25" in texts
    assert "renderer: graphviz-pure" in capsys.readouterr().out


def test_render_without_backward_says_no_grad_yet(tmp_path):
    out = tmp_path / "g.dot"
    assert (
        main(["render", "tanh(a*b)", "--at", "a=1, b=0.5", "-o", str(out), "--rankdir", "TB"]) == 0
    )
    text = out.read_text()
    assert "no grad yet" in text and "rankdir=TB" in text and "tanh(" in text


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_formulas_are_refused_and_nothing_is_written(text, tmp_path, capsys):
    out = tmp_path / "g.svg"
    # "--" ends the options, so a formula may start with "-"
    assert main(["render", "--at", "x=1,y=2", "-o", str(out), "--", text]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.startswith("gradflow render: ") and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "at, message",
    [
        ("x", "expected name=number"),
        ("x=abc", "x must be a number"),
        ("__class__=1", "expected name=number"),
        ("x.y=1", "expected name=number"),
        ("x=inf", "must be finite"),
        ("x=nan", "must be finite"),
    ],
)
def test_bad_values_are_refused(at, message, tmp_path, capsys):
    assert main(["render", "x + 1", "--at", at, "-o", str(tmp_path / "g.svg")]) == 2
    assert message in capsys.readouterr().err


def test_missing_value_is_named(tmp_path, capsys):
    assert main(["render", "x * y", "--at", "x=1", "-o", str(tmp_path / "g.svg")]) == 2
    assert "no value given for y" in capsys.readouterr().err


def test_assignments_parse():
    assert parse_assignments(" x = 4, w=20 ,") == {"x": 4.0, "w": 20.0}
    assert parse_assignments("") == {}


def test_assignments_take_vectors_and_matrices():
    v = parse_assignments("z=[0.02, 0.6], W=[[1,2],[3,4]], b=-1")
    assert v["z"].tolist() == [0.02, 0.6] and v["W"].shape == (2, 2) and v["b"] == -1.0
    for at, problem in [
        ("z=[1,[2]]", "ragged"),
        ("z=[1,2", "not closed"),
        ("z=[1,inf]", "finite"),
        ("z=[]", "empty list"),
        ("z=[1 2]", "expected .,. or"),
        ("z=[1],z=[2]", "given twice"),
        ("z=[[[[[[1]]]]]]", "nested too deeply"),
        ("z=[" + ",".join(["1"] * 401) + "]", "limit 400"),
        ("z=[1]]", "unexpected text"),
    ]:
        with pytest.raises(AssignmentError, match=problem):
            parse_assignments(at)


def test_render_and_steps_at_a_vector(tmp_path, capsys):
    out = tmp_path / "g.dot"
    assert main(["render", "softmax(z)", "--at", "z=[0.02,0.6]", "-o", str(out)]) == 0
    assert "softmax(z) = [0.3589, 0.6411]" in capsys.readouterr().out
    assert "data [0.02, 0.6]" in out.read_text()  # the two values, not a summary
    assert main(["steps", "softmax(z) * w", "--at", "z=[0.02,0.6], w=[1,-1]"]) == 0
    text = capsys.readouterr().out
    # the tensor step prints the numbers of g, the rule, and the result
    assert "[0.3589, 0.6411]" in text and "s·(g − Σ g·s) with s = softmax(z)" in text
    assert main(["steps", "x + 1", "--at", "y=1"]) == 2
    assert "not used in the formula" in capsys.readouterr().err


@given(st.text(max_size=40))
def test_fuzzed_assignments_only_raise_assignment_error(text):
    try:
        values = parse_assignments(text)
    except AssignmentError as e:
        assert str(e).startswith("--at")
        values = {}
    assert all(k.isidentifier() and isinstance(v, (float, np.ndarray)) for k, v in values.items())


@settings(max_examples=examples(30))
@given(st.text(alphabet="xy0123456789.+-*/() ,=_abcdefghijklmnopqrstuvwz[]{}'\"", max_size=30))
def test_fuzzed_formulas_either_render_or_fail_cleanly(text):
    """Any text gives exit code 0 (a graph) or 2 (a one-line error); nothing else escapes."""
    try:  # --at gives exactly the names the formula uses (an unused name is an error)
        names = parse(text).names
    except FormulaError:
        names = {"x", "y"}
    at = ",".join(f"{k}={v}" for k, v in {"x": 0.5, "y": 2}.items() if k in names)
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "g.dot"
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["render", "--at", at, "-o", str(out), "--", text])
        assert rc in (0, 2)
        assert out.exists() == (rc == 0)


def test_look_alike_letters_in_at_mean_the_formulas_name(tmp_path, capsys):
    # the parser reads the fullwidth ｘ as x (NFKC); --at does the same
    for formula, at in [("ｘ * 2", "ｘ=4"), ("x * 2", "ｘ=4"), ("ｘ * 2", "x=4")]:
        assert main(["render", formula, "--at", at, "-o", str(tmp_path / "g.dot")]) == 0
        assert "= 8" in capsys.readouterr().out


@pytest.mark.parametrize(
    "formula, at, message",
    [
        ("x + 1", "x=1,x=2", "--at: x is given twice"),
        ("x + 1", "x=1, ｘ=2", "--at: x is given twice ('ｘ' is 'x')"),
        ("x + 1", "x=1,w=2,b=3", "--at: b, w not used in the formula 'x + 1'"),
        ("x * w", "x=1", "no value given for w in 'x * w'"),
    ],
)
def test_at_names_match_the_formula_exactly(formula, at, message, tmp_path, capsys):
    out = tmp_path / "g.svg"
    assert main(["render", formula, "--at", at, "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"gradflow render: error: {message}\n"
    assert not out.exists()


@pytest.mark.parametrize("name", ["g.pdf", "g", "missing/g.svg", "sub"])
def test_output_is_checked_before_drawing_and_no_folder_is_made(name, tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    before = sorted(tmp_path.rglob("*"))
    assert main(["render", "x + 1", "--at", "x=1", "-o", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gradflow render: error: -o {tmp_path / name}") and err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_a_flat_sum_of_500_terms_renders(tmp_path, capsys):
    formula = " + ".join(f"x{k}" for k in range(1, 501))
    at = ",".join(f"x{k}={k}" for k in range(1, 501))
    out = tmp_path / "sum.dot"
    assert main(["render", formula, "--at", at, "-o", str(out), "--backward"]) == 0
    assert "= 125250" in capsys.readouterr().out and out.read_text().count("->") == 998
