"""The exercise set: every file loads and checks out, the course's numbers come out, the quiz
scores scripted answers, and malformed or hostile files give one clear error."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow.cli import main
from gradflow.exercises.errors import ExerciseError
from gradflow.exercises.loader import data_dir, exercise_files, find, load, loads
from gradflow.exercises.runner import AnswerError, check, parse_answer, quiz, read_answers

FILES = exercise_files()
SEEDS = Path("/work/shared/seeds")


def test_at_least_twenty_exercises_ship():
    assert len(FILES) >= 20
    assert data_dir().name == "data"


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_every_exercise_loads_and_checks_three_ways(path):
    ex = load(path)
    assert ex.title and ex.topic and ex.questions
    assert ex.source.seed in {"000", "001", "002", "003", "004"} and ex.source.where
    assert ex.explanation, "every shipped exercise explains its answers"
    report = check(ex)
    assert report.ok, report.table()
    grads = [a for a in report.answers if a.numeric_ok is not None]
    assert all(a.numeric_ok for a in grads)


def _solve(name):
    ex = find(name)
    return ex, ex.solve()


# ----------------------------------------------------------- the course's numbers, literally


def test_seed002_network_numbers():
    ex, sol = _solve("seed002_network")
    v = {k: float(n.data) for k, n in sol.nodes.items()}
    assert (v["y11"], v["y12"], v["y21"], v["L"]) == (70, 0, 70, 25)
    g = {k: float(x) for k, x in sol.grads.items()}
    assert g["y21"] == -10  # 2·y21 − 2·ytrue
    assert g["w211"] == -700 and g["w212"] == 0 and g["b21"] == -10
    assert g["w111"] == -40 and g["b11"] == -10 and g["w121"] == 0 and g["b12"] == 0
    update = [q for q in ex.questions if q.kind == "update"][0]
    assert ex.answer(update, sol) == pytest.approx(1 - 0.001 * -700)  # Δw = −γ ∂L/∂w
    assert float(sol.update_nodes["delta_w211"].data) == pytest.approx(0.7)


def test_exploding_and_vanishing_chains():
    _, sol = _solve("exploding_chain")
    assert [float(sol.nodes[k].data) for k in ("y11", "y21", "y31", "y41")] == [
        10,
        190,
        3790,
        75790,
    ]
    assert float(sol.grads["x"]) == 20**4
    _, sol = _solve("vanishing_chain")
    values = [float(sol.nodes[k].data) for k in ("y11", "y21", "y31", "y41")]
    assert values == pytest.approx([0.2, 0.04, 0.008, 0.0016])
    assert float(sol.grads["x"]) == pytest.approx(0.2**4)


def test_softmax_of_the_two_fruits():
    _, sol = _solve("softmax_fruit")
    assert sol.nodes["pa"].data == pytest.approx([0.36, 0.64], abs=0.005)
    assert sol.nodes["pb"].data == pytest.approx([0.75, 0.25], abs=0.005)


def test_dead_relu_on_iris_rows_from_the_seed_text():
    ex, sol = _solve("dead_relu_iris")
    assert float(sol.nodes["z"].data[0]) == pytest.approx(-0.34)
    assert np.all(sol.nodes["z"].data <= 0) and np.all(sol.nodes["a"].data == 0)
    assert np.all(sol.grads["w"] == 0)
    assert ex.values["w"].tolist() == [0.2, -0.4, 0.1, -0.5]
    seed = next(SEEDS.glob("002_*.txt"), None)
    if seed is not None:  # the rows are the slide's rows
        text = seed.read_text(encoding="utf-8")
        rows = re.findall(r"\[\[?([\d. ]+)\]", text[text.index("fragment zbioru Iris") :])[:10]
        from_seed = [[float(t) for t in r.split()] for r in rows]
        assert ex.values["X"].tolist() == from_seed


def test_digit_cost_is_3_37():
    _, sol = _solve("digit_cost")
    assert float(sol.nodes["C"].data) == pytest.approx(3.37, abs=0.005)
    # the slide's ten squared terms, as printed
    assert sum(
        [0.1863, 0.0809, 0.0357, 0.0138, 0.5242, 0.0001, 0.4079, 0.7388, 0.9817, 0.3998]
    ) == (pytest.approx(float(sol.nodes["C"].data), abs=0.001))


def test_parameter_count_of_the_3_5_4_2_network_is_54():
    _, sol = _solve("parameter_count")
    assert float(sol.nodes["P"].data) == 54


def test_sigmoid_neuron_chain_rule():
    ex, sol = _solve("sigmoid_neuron")
    a = 1 / (1 + math.exp(-(2 * 0.6 - 1)))
    assert float(sol.grads["w"]) == pytest.approx(0.6 * a * (1 - a) * 2 * (a - 1))


def test_cross_entropy_gradients_are_p_minus_y():
    _, sol = _solve("softmax_cross_entropy")
    z = np.array([2.0, 1.0, 0.1])
    p = np.exp(z) / np.exp(z).sum()
    assert sol.grads["z"] == pytest.approx(p - np.array([1, 0, 0]))
    _, sol = _solve("bce_gradient")
    assert float(sol.grads["z"]) == pytest.approx(0.5 - 1)


def test_optimizer_steps_by_hand():
    expected = {
        "momentum": 1.22,
        "nesterov": 1.2164,
        "adagrad": 1 + 0.4 / math.sqrt(20),
        "rmsprop": 1 + 0.4 / math.sqrt(5.2),
        "adam": 1.1,
    }
    for name, w in expected.items():
        _, sol = _solve(name)
        assert float(sol.update_nodes["w_new"].data) == pytest.approx(w, rel=1e-6), name


def test_pooling_routes_gradients():
    _, sol = _solve("maxpool_backward")
    assert sol.value("P").tolist() == [[4, 5], [2, 3]]
    # G lands on each window's winner, zeros elsewhere
    assert sol.grads["A"].tolist() == [[0, 0, 0, 0], [1, 0, 0, -2], [0, 0, 3, 0], [0.5, 0, 0, 0]]
    _, sol = _solve("avgpool_backward")
    assert float(sol.grads["a11"]) == 1 / (2 * 2)


def test_conv2d_exercise_is_one_conv_op_on_grids(capsys):
    ex, sol = _solve("conv2d")
    y = sol.nodes["Y"]
    assert y.op.name == "conv2d" and y.inputs == (sol.nodes["X"], sol.nodes["K"])
    assert sol.value("Y").tolist() == [[-1.5, 8.5], [0, 1]]  # the course's feature map
    assert sol.grads["K"].tolist() == [[-2, 1], [-1, 5]]
    assert sol.grads["X"].tolist() == [[1, -1, 0], [2, -0.5, 1], [0, -2, -0.5]]
    assert main(["exercise", "show", "conv2d"]) == 0
    out = capsys.readouterr().out
    grids = out.split("The matrices as grids:")[1].split("Answers:")[0]
    # each matrix is a grid, one row per line, aligned under its name
    assert "  ∂L/∂K = [[-2, 1]\n           [-1, 5]]" in grids
    assert "  ∂L/∂X = [[1,   -1,    0]\n           [2, -0.5,    1]" in grids
    assert "  Y = [[-1.5, 8.5]\n       [   0,   1]]" in grids


def test_inverted_dropout_scales_by_one_over_keep():
    _, sol = _solve("inverted_dropout")
    assert sol.nodes["d"].data.tolist() == [2.5, 0.0, -1.25, 5.0]


# ---------------------------------------------------------------------------------- quiz

SEED002_RIGHT = ["70", "0", "70", "25", "2*(70-75)", "-700", "0", "-10", "-10", "-40", "-10",
                 "0", "0", "7/10", "1.7"]  # fmt: skip


def _run(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr()


def test_quiz_with_right_answers_scores_full_marks(tmp_path, capsys):
    answers = tmp_path / "answers.txt"
    answers.write_text("# seed 002\n" + "\n".join(SEED002_RIGHT) + "\n", encoding="utf-8")
    code, out = _run(["exercise", "quiz", "seed002_network", "--answers", str(answers)], capsys)
    assert code == 0
    assert "Score: 15/15" in out.out


def test_quiz_with_a_wrong_answer_shows_the_chain_rule_step(tmp_path, capsys):
    wrong = list(SEED002_RIGHT)
    wrong[5] = "-7"  # ∂L/∂w211
    answers = tmp_path / "answers.txt"
    answers.write_text("\n".join(wrong), encoding="utf-8")
    code, out = _run(["exercise", "quiz", "seed002_network", "--answers", str(answers)], capsys)
    assert code == 1
    assert "Score: 14/15" in out.out
    assert "wrong: the answer is -700" in out.out
    # local × upstream = contribution, the unnamed product named by its expression
    assert "∂(w211·y11)/∂w211 · ∂L/∂(w211·y11) = 70 · (-10) = -700" in out.out


def test_quiz_wrong_forward_value_and_update_explain_themselves():
    ex = find("seed002_network")
    wrong = list(SEED002_RIGHT)
    wrong[0], wrong[-1] = "80", "0.3"
    out = io.StringIO()
    result = quiz(ex, wrong, out)
    assert (result.correct, result.total) == (13, 15)
    text = out.getvalue()
    assert "y11 = ReLU(z11) with z11 = 70 → 70" in text
    assert "w211 − γ·∂L/∂w211 = 1 − 0.001·(-700) = 1.7" in text


def test_quiz_missing_and_unreadable_answers_count_as_wrong():
    ex = find("parameter_count")
    out = io.StringIO()
    result = quiz(ex, ["20", "__import__('os')", "10"], out)
    assert result.correct == 2 and not result.passed
    assert "cannot read the answer" in out.getvalue()
    assert "(no answer given)" in out.getvalue()


def test_interactive_quiz_retries_unreadable_input():
    ex = find("parameter_count")
    typed = iter(["twenty", "20", "24", "10", "54", "3+1+4"])
    out = io.StringIO()
    result = quiz(ex, None, out, ask=lambda prompt: next(typed))
    assert result.passed and "cannot read that" in out.getvalue()


@pytest.mark.parametrize(
    "text, value",
    [("-700", -700), ("1/2", 0.5), ("2*(70-75)", -10), ("0,36", 0.36), ("−10", -10),
     ("exp(0)/(exp(0)+exp(0))", 0.5), ("2**3", 8)],
)  # fmt: skip
def test_answers_accept_numbers_fractions_and_expressions(text, value):
    assert parse_answer(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["", "x", "__import__('os').system('true')", "1/0", "open('f')", "9**9**9", "[1]"]
)
def test_answers_reject_anything_else(text):
    with pytest.raises(AnswerError):
        parse_answer(text)


def test_answers_file_skips_comments_and_blank_lines():
    assert read_answers("# header\n\n70  # y11\n 0\n") == ["70", "0"]


# ---------------------------------------------------------------------------------- CLI


def test_list_shows_every_exercise(capsys):
    code, out = _run(["exercise", "list"], capsys)
    assert code == 0
    for f in FILES:
        assert f.stem in out.out
    lines = out.out.splitlines()
    assert lines[0].split() == ["name", "topic", "seed", "difficulty", "title"]
    names = [line.split()[0] for line in lines[1:]]
    # course order: the neuron before backprop before CNNs before RNNs, easy before hard
    assert names.index("perceptron_rule") < names.index("seed002_network") < names.index("conv2d")
    assert names.index("conv2d") < names.index("lstm_cell")
    assert names.index("sigmoid_neuron") < names.index("mlp_matrix")  # easy, then hard
    row = next(line.split(None, 4) for line in lines if line.startswith("seed002_network "))
    assert row[1:4] == ["backpropagation", "002", "medium"]


def test_show_prints_forward_backward_and_answers(capsys):
    code, out = _run(["exercise", "show", "seed002_network"], capsys)
    assert code == 0
    text = out.out
    assert text.index("Forward pass") < text.index("Backward pass") < text.index("Answers")
    assert "∂L/∂w211 = -700" in text and "1[z21 > 0]" in text


def test_show_render_writes_svg_and_player(tmp_path, capsys):
    code, out = _run(["exercise", "show", "sigmoid_neuron", "--render", str(tmp_path)], capsys)
    assert code == 0
    svg = tmp_path / "sigmoid_neuron.svg"
    html = tmp_path / "sigmoid_neuron.html"
    assert svg.stat().st_size > 0 and html.stat().st_size > 0
    assert "<svg" in svg.read_text(encoding="utf-8")


def test_check_cli_and_user_folder(tmp_path, capsys):
    (tmp_path / "mine.toml").write_text(MINIMAL, encoding="utf-8")
    code, out = _run(["exercise", "check", "--all", "--path", str(tmp_path)], capsys)
    assert code == 0 and "[ok ] mine" in out.out
    code, out = _run(["exercise", "list", "--path", str(tmp_path)], capsys)
    assert "mine" in out.out and "seed002_network" not in out.out
    code, out = _run(["exercise", "check", "nope"], capsys)
    assert code == 2 and "no exercise named 'nope'" in out.err
    code, out = _run(["exercise", "check"], capsys)
    assert code == 2


def test_format_doc_example_loads():
    doc = (Path(__file__).parent.parent / "exercises" / "format.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    ex = loads(block, "format.md")
    assert [q.kind for q in ex.questions] == ["value", "grad", "update"]
    assert check(ex).ok


def test_readme_example_loads_checks_and_reports_a_typo_with_its_line():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Write an exercise", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    assert len(block.strip().splitlines()) <= 10
    assert check(loads(block, "mine.toml")).ok
    with pytest.raises(ExerciseError, match=r"^mine.toml:6: \[graph\] y = 'relux\(w\*x \+ b\)'"):
        loads(block.replace("relu(w", "relux(w"), "mine.toml")


# ------------------------------------------------------------------ malformed files

MINIMAL = """\
title = "t"
topic = "backpropagation"
difficulty = "easy"
source = { seed = "002", where = "slide 6" }

[values]
x = 4
w = 20

[graph]
z = "w*x - 10"
y = "relu(z)"

[[ask]]
value = "y"

[[ask]]
grad = "w"
"""


def _broken(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new, 1)


MALFORMED = [
    # (text, line, problem)
    (_broken('z = "w*x - 10"', 'z = "w*x - 10'), 11, "invalid TOML"),
    (_broken('y = "relu(z)"', 'y = "relux(z)"'), 12, "unknown function 'relux'"),
    (_broken('y = "relu(z)"', 'y = "relu(q)"'), 12, "undefined name 'q'"),
    (_broken('z = "w*x - 10"', 'z = "w*y"'), 11, "cycle in [graph]: z → y → z"),
    (_broken('y = "relu(z)"', "y = \"__import__('os')\""), 12, "unknown function '__import__'"),
    (_broken('y = "relu(z)"', 'y = "z.__class__"'), 12, "Attribute is not allowed"),
    (_broken('title = "t"\n', ""), None, "missing required key 'title'"),
    (_broken('title = "t"', 'titel = "t"'), 1, "unknown key 'titel'"),
    (_broken('difficulty = "easy"', 'difficulty = "trivial"'), 3, "difficulty must be one of"),
    (_broken("w = 20", 'w = "twenty"'), 8, "w must be a number"),
    (_broken("w = 20", "w = [[1, 2], [3]]"), 8, "ragged"),
    (MINIMAL + '[[ask]]\nupdate = "w"\n', 20, "positive learning rate"),
    (MINIMAL + '[[ask]]\nupdate = "w"\nlr = -1\n', 21, "positive learning rate"),
    (MINIMAL + '[[ask]]\nvalue = "y"\nlr = 0.1\n', 21, "lr only goes with update"),
    (_broken('value = "y"', 'value = "y"\nexpected = 71'), 16, "course value 71"),
    (_broken('value = "y"', 'value = "nothing"'), 15, "'nothing' is not a value"),
    (_broken('value = "y"', 'value = "y"\nindex = 2'), 16, "index 2 does not fit y of shape ()"),
    (_broken('value = "y"', 'value = "y"\ncolour = 1'), 14, "unknown key(s) colour"),
    (_broken('y = "relu(z)"', 'y = "z"'), 12, "only renames"),
    (_broken('y = "relu(z)"', 'y = "+z"'), 12, "only renames"),
    (
        _broken("x = 4\n", "x = [1, 2]\nM = [[1, 2, 3]]\n").replace("w*x - 10", "M @ x"),
        12,
        "matmul (1, 3) @ (2,): inner dimensions 3 and 2 differ",
    ),
    (_broken('y = "relu(z)"', 'y = "log(z - 70)"'), 12, "not finite"),
    (_broken('y = "relu(z)"', 'y = "sqrt(z - 70)"'), 7, "∂y/∂x is not finite (inf)"),
    (_broken('y = "relu(z)"', 'y = "relu(z)"\ngrad_z = "z*2"'), 13, "reserved for gradients"),
    (_broken('y = "relu(z)"', 'y = "relu(z) + grad_w"'), 12, "can only be used in [update]"),
    (_broken('title = "t"', 'title = "t"\nrtol = 2'), 2, "rtol must be in [0, 1)"),
    (_broken('title = "t"', 'title = "t"\noutput = "q"'), 2, "output 'q' is not an equation"),
    (MINIMAL.replace("[graph]", '[update]\nu = "grad_q"\n[graph]'), 11, "undefined name 'grad_q'"),
]


@pytest.mark.parametrize("text, line, problem", MALFORMED)
def test_malformed_file_names_file_line_and_problem(tmp_path, text, line, problem):
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExerciseError) as e:
        load(path)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(e.value).startswith(where), str(e.value)
    assert problem in str(e.value)
    assert "\n" not in str(e.value).split(": ", 1)[0]


def test_malformed_file_through_the_cli_is_one_line_on_stderr(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text(_broken('y = "relu(z)"', 'y = "relux(z)"'), encoding="utf-8")
    code, out = _run(["exercise", "show", str(path)], capsys)
    assert code == 2
    assert out.err.startswith(
        f"gradflow exercise: error: {path}:12: [graph] y = 'relux(z)': unknown function"
    )
    assert out.err.count("\n") == 1


def test_gradient_of_a_constant_is_refused_at_its_line():
    text = _broken("[values]\n", 'constants = ["x"]\n[values]\n').replace(
        'grad = "w"', 'grad = "x"'
    )
    with pytest.raises(ExerciseError) as e:
        loads(text, "c.toml")
    assert (
        str(e.value)
        == "c.toml:19: [[ask]] #2: cannot ask for the gradient of 'x': it is a constant"
    )


# ------------------------------------------------------------------ fuzzing

SENTINEL = Path("/tmp/gradflow-exercise-fuzz-pwned")
HOSTILE = [
    f"__import__('os').system('touch {SENTINEL}')",
    f"open('{SENTINEL}', 'w')",
    "(lambda: 1)()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "eval('1')",
    "9**9**9",
    "x" * 3000,
    "relu(" * 80 + "x" + ")" * 80,
    "sum(x, axis=__import__('os'))",
    "x @ x",
    "softmax(x, axis=1.5)",
]
formula_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
names = st.sampled_from(["x", "w", "y", "z", "grad_x", "_x", "1x", "L"])


@st.composite
def exercise_docs(draw):
    """Random but TOML-valid exercise documents with hostile formulas and odd structure."""
    lines = []
    if draw(st.integers(0, 3)):  # mostly a valid header, so the fuzzing reaches the formulas
        lines += ['title = "t"', 'topic = "x"', 'difficulty = "easy"', 'source = { seed = "002" }']
    for key in draw(
        st.lists(st.sampled_from(["title", "topic", "difficulty", "titel"]), max_size=2)
    ):
        value = draw(st.sampled_from(['"t"', '"easy"', "3", "[1]"]))
        lines.append(f"{key} = {value}")
    lines.append("[values]")
    for n in draw(st.lists(names, max_size=3, unique=True)):
        value = draw(st.sampled_from(["1", "0", "[1, 2]", "[[1], [2]]", "inf"]))
        lines.append(f"{n} = {value}")
    lines.append("[graph]")
    for n in draw(st.lists(names, max_size=3, unique=True)):
        lines.append(f"{n} = {_toml_string(draw(formula_text))}")
    for _ in range(draw(st.integers(0, 2))):
        lines.append("[[ask]]")
        kind = draw(st.sampled_from(["value", "grad", "update", "foo"]))
        lines.append(f"{kind} = {_toml_string(draw(names))}")
    return "\n".join(lines) + "\n"


def _toml_string(s: str) -> str:
    return (
        '"'
        + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in s)
        + '"'
    )


@given(exercise_docs())
def test_fuzzed_exercise_documents_only_raise_exercise_error(doc):
    try:
        loads(doc, "fuzz.toml")
    except ExerciseError as e:
        assert str(e).startswith("fuzz.toml")
    assert not SENTINEL.exists()


@given(st.text(max_size=200))
def test_fuzzed_text_only_raises_exercise_error(text):
    try:
        loads(text, "fuzz.toml")
    except ExerciseError as e:
        assert str(e).startswith("fuzz.toml")


def test_loader_and_parser_contain_no_code_execution():
    """Static guard: the modules that read user text never call eval/exec/compile/sympify."""
    import gradflow.formula
    from gradflow import exercises

    sources = [Path(gradflow.formula.__file__)] + list(Path(exercises.__file__).parent.glob("*.py"))
    banned = re.compile(r"(?<![.\w])(eval|exec|compile|sympify|parse_expr|pickle)\s*\(")
    for src in sources:
        assert not banned.search(src.read_text(encoding="utf-8")), src


# ------------------------------------------------------------------ NaN never "agrees"


def test_check_never_says_agrees_next_to_a_nan_or_inf(monkeypatch):
    """SymPy giving NaN while the engine and finite differences agree used to print
    "agrees" in the finite-differences column next to the NaN (np.isclose is simply False
    for NaN, and numeric_ok came from gradcheck alone)."""
    from gradflow.exercises import runner

    ex = loads(MINIMAL, "m.toml")
    monkeypatch.setattr(runner, "_symbolic_grad", lambda ex, sol, t: np.array(math.nan))
    monkeypatch.setattr(runner, "symbolic_value", lambda node: math.inf)
    report = check(ex)
    assert not report.ok
    table = report.table()
    for row in table.splitlines()[1:]:
        if "nan" in row or "inf" in row:
            assert "agrees" not in row and "BAD" in row, table
    assert "not finite" in table


def test_check_table_of_non_finite_answers():
    from gradflow.exercises.runner import AnswerCheck, CheckReport

    report = CheckReport("x", [AnswerCheck("∂y/∂w", math.nan, math.nan, True, False)])
    assert "agrees" not in report.table() and "not finite" in report.table()


# ------------------------------------------------------------------ size of computed nodes


def _broadcasting_exercise(formula: str) -> str:
    """Four 400-element values shaped (400,1,1,1), (1,400,1,1), ... : each is within the
    400-element limit of a value, but a * b * c * d broadcasts to 400⁴ (191 GiB)."""
    rows = []
    for k, name in enumerate("abcd"):
        shape = [1, 1, 1, 1]
        shape[k] = 400
        rows.append(f"{name} = {np.linspace(0, 1, 400).reshape(shape).tolist()}")
    return (
        MINIMAL.split("[values]")[0]
        + "[values]\n"
        + "\n".join(rows)
        + f'\n\n[graph]\ny = "{formula}"\n\n[[ask]]\nvalue = "y"\n'
    )


@pytest.mark.parametrize(
    "formula, size",
    [
        ("sum(a * b * c * d)", 160000),
        ("sum(a + b)", 160000),
        ("sum(maximum(a, b))", 160000),
    ],
)
def test_a_computed_node_over_the_size_limit_is_refused_before_it_is_allocated(formula, size):
    import tracemalloc

    text = _broadcasting_exercise(formula)
    tracemalloc.start()
    try:
        with pytest.raises(ExerciseError) as e:
            loads(text, "big.toml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert msg.startswith("big.toml:13: [graph] y = "), msg
    assert f"would make {size} elements" in msg and "(limit 400)" in msg, msg
    assert (
        peak < 20 * 2**20
    )  # nothing near the 1.3 MB of a 160000-element result, let alone 191 GiB


def _outer_product_exercise(rows: int) -> str:
    col = [[float(k)] for k in range(rows)]
    row = [[float(k) for k in range(20)]]
    return (
        MINIMAL.split("[values]")[0]
        + f'[values]\nu = {col}\nv = {row}\n\n[graph]\ny = "sum(u * v)"\n\n[[ask]]\nvalue = "y"\n'
    )


def test_the_limit_is_the_one_for_given_values():
    ex = loads(_outer_product_exercise(20), "ok.toml")  # 20 × 20 = 400 elements: allowed
    assert float(ex.solve().loss.data) == sum(range(20)) ** 2
    with pytest.raises(ExerciseError, match=r"mul of \(21, 1\) and \(1, 20\) would make 420"):
        loads(_outer_product_exercise(21), "big.toml")
