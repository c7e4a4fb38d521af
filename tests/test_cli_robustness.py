"""Every subcommand against a table of bad input: exit code 2 (bad input) or 1 (a failed run),
one line on stderr naming the problem, never a traceback — unless --debug or GRADFLOW_DEBUG=1
asks for one."""

import argparse
import json
import math
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradflow.commands.demo
import gradflow.commands.ops
from gradflow.cli import main
from gradflow.commands import arguments
from gradflow.commands.bench import load_harness
from gradflow.commands.report import finite_or_none, json_text
from gradflow.commands.train import _print_report
from gradflow.errors import GradflowError, TrainingDivergedError


def run(argv, capsys):
    """``gradflow ARGV`` in-process: (exit code, stdout, stderr); argparse's exit included."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder holding the awkward things the table points at, as the current directory.
    The demo and the benchmark must never start work on bad input: here they would fail."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "bad.txt").write_bytes(b"1\n\xff\xfe\n")
    (tmp_path / "bad.toml").write_bytes(b'title = "x"\n\xff\n')
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "earlier.txt").write_text("earlier result")
    (tmp_path / "rendered").mkdir()
    (tmp_path / "rendered" / "seed002_network.svg").write_text("<svg/>")
    (tmp_path / "odd").mkdir()
    os.mkfifo(tmp_path / "odd" / "mlp_curves.png")
    os.mkfifo(tmp_path / "fifo.svg")
    os.mkfifo(tmp_path / "fifo.toml")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.svg")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    (tmp_path / "sweep.toml").write_text('[base]\ndataset = "iris"\n[grid]\nlr = [0.1, -1]\n')

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(gradflow.commands.demo, "backprop_tour", no_work)
    monkeypatch.setattr(load_harness(), "run", no_work)
    return tmp_path


TRAIN = ["train", "--dataset", "xor", "--quiet"]
GRADE = ["exercise", "grade", "seed002_network", "--answers"]
SHEET = ["exercise", "sheet", "seed002_network", "--seeds"]
DEEP_BRACKETS = "(" * 61 + "x" + ")" * 61
DEEP_SIGNS = "-(" * 61 + "x" + ")" * 61

# (argv, exit code, what stderr must say). Rows whose message starts with "argument " are
# argparse's (usage line + error line); every other row must be exactly one line.
BAD_INPUT = [
    # train: numbers refused up front, naming the option; 0 is not "use the default"
    (TRAIN + ["--epochs", "0"], 2, "argument --epochs: must be at least 1, got '0'"),
    (TRAIN + ["--epochs", "-1"], 2, "argument --epochs: must be at least 1"),
    (TRAIN + ["--epochs", "1.5"], 2, "argument --epochs: expected a whole number"),
    (TRAIN + ["--batch-size", "0"], 2, "argument --batch-size: must be at least 1"),
    (TRAIN + ["--hidden", "0"], 2, "argument --hidden: must be from 1 to 4096, got '0'"),
    (TRAIN + ["--hidden", "100000000"], 2, "argument --hidden: must be from 1 to 4096"),
    (TRAIN + ["--patience", "0"], 2, "argument --patience: must be at least 1"),
    (TRAIN + ["--seed", "-1"], 2, "argument --seed: must be >= 0"),
    (TRAIN + ["--lr", "nan"], 2, "argument --lr: must be a finite number, got 'nan'"),
    (TRAIN + ["--lr", "inf"], 2, "argument --lr: must be a finite number"),
    (TRAIN + ["--lr", "1e400"], 2, "argument --lr: must be a finite number"),
    (TRAIN + ["--lr", "0"], 2, "argument --lr: must be > 0"),
    (TRAIN + ["--lr", "-0.1"], 2, "argument --lr: must be > 0"),
    (TRAIN + ["--lr", ""], 2, "argument --lr: expected a number, got ''"),
    (TRAIN + ["--l1", "-1"], 2, "argument --l1: must be >= 0"),
    (TRAIN + ["--l2", "nan"], 2, "argument --l2: must be a finite number"),
    (TRAIN + ["--weight-decay", "nan"], 2, "argument --weight-decay: must be a finite number"),
    (TRAIN + ["--weight-decay", "-1"], 2, "argument --weight-decay: must be >= 0"),
    (TRAIN + ["--clip-norm", "-1"], 2, "argument --clip-norm: must be > 0"),
    (TRAIN + ["--clip-norm", "0"], 2, "argument --clip-norm: must be > 0"),
    (TRAIN + ["--model", "nope"], 2, "argument --model: invalid choice: 'nope'"),
    (["train", "--model", "cnn", "--dataset", "iris"], 2, "cnn needs image or signal data"),
    # checkpoint paths are checked before training starts (the checks live in checkpoints.py)
    (TRAIN + ["--checkpoint", "folder"], 2, "checkpoint path folder is a directory"),
    (TRAIN + ["--checkpoint", ""], 2, "checkpoint path is empty"),
    (TRAIN + ["--checkpoint", "notes.txt"], 2, "notes.txt exists and is not a gradflow checkp"),
    (TRAIN + ["--checkpoint", "fifo.svg"], 2, "refusing to replace it"),
    (TRAIN + ["--checkpoint", "missing/x.npz"], 2, "directory missing does not exist"),
    (TRAIN + ["--resume", "missing.npz"], 2, "checkpoint missing.npz does not exist"),
    (TRAIN + ["--resume", "bad.txt"], 2, "checkpoint bad.txt is corrupted or not an .npz"),
    (TRAIN + ["--resume", "folder"], 2, "checkpoint folder is a directory"),
    # a run that diverges is a failed run (1), with fit's NaN diagnosis as the one line
    (
        [
            "train",
            "--dataset",
            "sine",
            "--optimizer",
            "sgd",
            "--lr",
            "1e6",
            "--epochs",
            "1",
            "--quiet",
        ],
        1,
        "the loss became inf in epoch 1",
    ),  # fmt: skip
    # steps: JSON has no Infinity, and a 301-digit local derivative helps nobody
    (["steps", "--x", "inf", "--format", "json"], 2, "argument --x: must be a finite number"),
    (["steps", "--x", "nan"], 2, "argument --x: must be a finite number"),
    (["steps", "--ytrue=-inf"], 2, "argument --ytrue: must be a finite number"),
    (["steps", "--x", "1e300"], 2, "argument --x: must be between -1e+12 and 1e+12"),
    (["steps", "--format", "yaml"], 2, "argument --format: invalid choice"),
    # render: --at names, the formula, the output path
    (["render", "x + 1", "--at", "x=1,x=2", "-o", "g.dot"], 2, "--at: x is given twice"),
    (["render", "x + 1", "--at", "x=1,ｘ=2", "-o", "g.dot"], 2, "x is given twice ('ｘ' is 'x')"),
    (["render", "x + 1", "--at", "x=1,y=2", "-o", "g.dot"], 2, "--at: y not used in the formula"),
    (["render", "x * y", "--at", "x=1", "-o", "g.dot"], 2, "no value given for y"),
    (["render", "x + 1", "--at", "x", "-o", "g.dot"], 2, "--at: expected name=number"),
    (["render", "x + 1", "--at", "x=inf", "-o", "g.dot"], 2, "--at: x must be finite"),
    (["render", "", "-o", "g.dot"], 2, "cannot parse ''"),
    (["render", "foo(x)", "--at", "x=1", "-o", "g.dot"], 2, "unknown function 'foo'"),
    (["render", DEEP_BRACKETS, "--at", "x=1", "-o", "g.dot"], 2, "nested too deeply"),
    (["render", "--at", "x=1", "-o", "g.dot", "--", DEEP_SIGNS], 2, "nested too deeply"),
    (["render", "x", "--at", "x=1", "-o", "g.pdf"], 2, "-o g.pdf: cannot write .pdf"),
    (["render", "x", "--at", "x=1", "-o", "notes"], 2, "cannot write a file without a suffix"),
    (["render", "x", "--at", "x=1", "-o", ""], 2, "-o: the path is empty"),
    (
        ["render", "x", "--at", "x=1", "-o", "missing/dir/g.svg"],
        2,
        "folder missing/dir does not exist (it is not created)",
    ),  # fmt: skip
    (["render", "x", "--at", "x=1", "-o", "notes.txt/g.svg"], 2, "notes.txt is not a folder"),
    (["render", "x", "--at", "x=1", "-o", "folder.svg"], 2, "folder.svg: is a directory"),
    (["render", "x", "--at", "x=1", "-o", "dangling.svg"], 2, "a symbolic link to nothing"),
    (["render", "x", "--at", "x=1", "-o", "fifo.svg"], 2, "fifo.svg: not a regular file"),
    # demo: --out is checked before the first step of the tour
    (["demo", "--out", "notes.txt"], 2, "--out: notes.txt is not a folder"),
    (["demo", "--out", ""], 2, "--out: the path is empty"),
    (["demo", "--out", "missing/a/b"], 2, "folder missing/a does not exist"),
    (["demo", "--out", "dangling"], 2, "--out dangling: a symbolic link to nothing"),
    (["demo", "--out", "full"], 2, "full exists and is not empty; pass --force"),
    (["demo", "--out", "odd", "--force"], 2, "mlp_curves.png: not a regular file"),
    (["demo", "--seed", "-1"], 2, "argument --seed: must be >= 0"),
    # exercise: names, folders, answers files, --render
    (["exercise", "show", "nope"], 2, "no exercise named 'nope'"),
    (["exercise", "show", ""], 2, "no exercise named ''"),
    (["exercise", "show", "bad.toml"], 2, "bad.toml:2: file is not valid UTF-8"),
    (["exercise", "show", "fifo.toml"], 2, "fifo.toml: not a regular file"),
    (["exercise", "show", "folder.svg/x.toml"], 2, "no exercise named"),
    (["exercise", "list", "--path", "missing"], 2, "missing: not a folder of exercise files"),
    (["exercise", "list", "--path", "notes.txt"], 2, "notes.txt: not a folder of exercise"),
    (["exercise", "list", "--path", ""], 2, "--path: the path is empty"),
    (
        ["exercise", "show", "seed002_network", "--render", "notes.txt"],
        2,
        "--render: notes.txt is not a folder",
    ),  # fmt: skip
    (
        ["exercise", "show", "seed002_network", "--render", "missing/sub"],
        2,
        "folder missing does not exist",
    ),  # fmt: skip
    (["exercise", "show", "seed002_network", "--render", ""], 2, "--render: the path is empty"),
    (
        ["exercise", "show", "seed002_network", "--render", "rendered"],
        2,
        "rendered/seed002_network.svg exists; pass --force to replace it",
    ),  # fmt: skip
    (
        ["exercise", "quiz", "seed002_network", "--answers", "bad.txt"],
        2,
        "--answers bad.txt:2: not valid UTF-8",
    ),  # fmt: skip
    (
        ["exercise", "quiz", "seed002_network", "--answers", "missing.txt"],
        2,
        "--answers missing.txt: cannot read it: No such file or directory",
    ),  # fmt: skip
    (
        ["exercise", "quiz", "seed002_network", "--answers", "folder"],
        2,
        "--answers folder: is a directory",
    ),  # fmt: skip
    (["exercise", "quiz", "seed002_network", "--answers", ""], 2, "--answers: the path is empty"),
    (["exercise", "check"], 2, "give an exercise NAME or --all"),
    (["exercise", "check", "seed002_network", "--all"], 2, "give an exercise NAME or --all"),
    (["exercise", "solve"], 2, "argument ACTION: invalid choice: 'solve'"),
    # exercise grade / variant / sheet / progress (issue 13): answers files and rosters are
    # user input, output paths are checked before anything is written
    (GRADE + ["bad.txt"], 2, "--answers bad.txt:2: not valid UTF-8"),
    (GRADE + ["missing.txt"], 2, "--answers missing.txt: cannot read it"),
    (GRADE + ["notes.txt", "--out", "folder"], 2, "--out folder: is a directory"),
    (GRADE + ["notes.txt", "--out", "missing/r.json"], 2, "folder missing does not exist"),
    (GRADE + ["notes.txt", "--format", "pdf"], 2, "argument --format: invalid choice: 'pdf'"),
    (["exercise", "variant", "seed002_network", "--seed", ""], 2, "seed '': give 1 to 64"),
    (["exercise", "variant", "parameter_count", "--seed", "s1"], 2, "declares no [variants]"),
    (SHEET + ["notes.txt", "--out", "o"], 2, "--seeds notes.txt:1: no 'id' column"),
    (SHEET + ["bad.txt", "--out", "o"], 2, "--seeds bad.txt:2: not valid UTF-8"),
    (SHEET + ["missing.csv", "--out", "o"], 2, "--seeds missing.csv: cannot read it"),
    (SHEET + ["folder", "--out", "o"], 2, "--seeds folder: is a directory"),
    (SHEET + ["notes.txt", "--out", "missing/sub"], 2, "folder missing does not exist"),
    (SHEET + ["notes.txt", "--out", "notes.txt"], 2, "--out: notes.txt is not a folder"),
    (["exercise", "quiz", "seed002_network", "--seed", "x" * 65], 2, "give 1 to 64 printable"),
    # sweep: the sweep file, its entries and the output paths, all before any run
    (["sweep", "missing.toml"], 2, "missing.toml: cannot read it: No such file or directory"),
    (["sweep", "bad.toml"], 2, "bad.toml:2: not valid UTF-8"),
    (["sweep", "fifo.toml"], 2, "fifo.toml: not a regular file"),
    (["sweep", "folder"], 2, "folder: not a regular file"),
    (["sweep", "notes.txt"], 2, "notes.txt: not valid TOML"),
    (["sweep", "sweep.toml"], 2, "sweep.toml: [grid] lr = -1: lr must be > 0, got -1"),
    (["sweep", "sweep.toml", "--workers", "0"], 2, "argument --workers: must be from 1 to 256"),
    (["sweep", "sweep.toml", "--resume"], 2, "--resume continues the file of --out; give --out"),
    (["sweep", "sweep.toml", "--out", "folder"], 2, "--out folder: is a directory"),
    (["sweep", "sweep.toml", "--out", "notes.txt"], 2, "--out notes.txt: line 1: not JSON"),
    (["sweep", "sweep.toml", "--out", "missing/r.jsonl"], 2, "folder missing does not exist"),
    (["sweep", "sweep.toml", "--plot", "fifo.svg"], 2, "--plot fifo.svg: not a regular file"),
    (["sweep", "sweep.toml", "--scheduler", "host"], 2, "an address such as tcp://host:8786"),
    (
        ["sweep", "sweep.toml", "--workers", "2", "--serial"],
        2,
        "argument --serial: not allowed with argument --workers",
    ),  # fmt: skip
    # bench and ops
    (["bench", "--rounds", "0"], 2, "argument --rounds: must be at least 1, got '0'"),
    (["bench", "--rounds", "-3"], 2, "argument --rounds: must be at least 1"),
    (["bench", "--workloads", "W9"], 2, "unknown workload(s) W9; known: W1"),
    (["ops", "--html"], 2, "unrecognized arguments: --html"),
    (["nope"], 2, "argument COMMAND: invalid choice: 'nope'"),
]


def _id(row) -> str:
    return re.sub(r"\s+", " ", " ".join(row[0]))[:60]


@pytest.mark.parametrize("argv, code, says", BAD_INPUT, ids=[_id(r) for r in BAD_INPUT])
def test_bad_input_is_one_line_with_an_exit_code(argv, code, says, workdir, capsys):
    before = sorted(p.name for p in workdir.rglob("*"))
    got, _, err = run(argv, capsys)
    assert got == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert re.match(r"gradflow( \w+)*: error: ", lines[-1]), lines[-1]
    assert says in lines[-1]
    if not says.startswith("argument") and "unrecognized" not in says:
        assert len(lines) == 1, err
    if got == 2:  # bad input changes nothing: no file or folder appears
        assert sorted(p.name for p in workdir.rglob("*")) == before


def test_every_subcommand_has_a_row():
    from gradflow.cli import COMMANDS

    assert {row[0][0] for row in BAD_INPUT} >= set(COMMANDS)


@pytest.fixture
def boom(monkeypatch):
    """``gradflow ops`` hits a bug."""

    def broken(args):
        raise RuntimeError("a bug in the op table")

    monkeypatch.setattr(gradflow.commands.ops, "run", broken)
    monkeypatch.delenv("GRADFLOW_DEBUG", raising=False)


def test_an_unexpected_error_is_one_line_with_a_hint(boom, capsys):
    code, _, err = run(["ops"], capsys)
    assert code == 1 and "Traceback" not in err
    assert err == (
        "gradflow ops: error: RuntimeError: a bug in the op table "
        "(run with --debug for the traceback)\n"
    )


@pytest.mark.parametrize("argv", [["--debug", "ops"], ["ops", "--debug"]])
def test_debug_shows_the_traceback(argv, boom, capsys):
    code, _, err = run(argv, capsys)
    assert code == 1
    assert err.startswith("Traceback (most recent call last):")
    assert "RuntimeError: a bug in the op table" in err and "--debug" not in err


def test_gradflow_debug_1_shows_the_traceback(boom, capsys, monkeypatch):
    monkeypatch.setenv("GRADFLOW_DEBUG", "1")
    code, _, err = run(["ops"], capsys)
    assert code == 1 and "Traceback" in err
    monkeypatch.setenv("GRADFLOW_DEBUG", "0")
    assert "Traceback" not in run(["ops"], capsys)[2]


def test_debug_shows_the_traceback_of_bad_input_too(workdir, capsys):
    code, _, err = run(["--debug", "render", "x", "--at", "x=1", "-o", "g.pdf"], capsys)
    assert code == 2 and "Traceback" in err and "UsageError" in err
    assert err.splitlines()[-1].startswith("gradflow render: error: -o g.pdf")


def test_debug_after_a_double_dash_is_a_formula(workdir, capsys):
    code, _, err = run(["render", "-o", "g.dot", "--", "--debug"], capsys)  # -(-debug)
    assert code == 2 and "Traceback" not in err and "no value given for debug" in err


def test_divergence_is_a_dedicated_error_that_is_still_a_floating_point_error():
    assert issubclass(TrainingDivergedError, GradflowError)
    assert issubclass(TrainingDivergedError, FloatingPointError)


def test_a_diverging_run_prints_no_report(capsys):
    argv = ["train", "--dataset", "sine", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "1"]
    code, out, err = run(argv + ["--quiet", "--json"], capsys)
    assert code == 1 and out == ""
    assert re.fullmatch(r"gradflow train: error: fit: the loss became (inf|nan) .*\n", err)


def test_a_renderer_that_fails_is_a_failed_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADFLOW_DOT", "false")  # runs, prints nothing, exits 1
    code, _, err = run(["render", "x", "--at", "x=1", "-o", str(tmp_path / "g.svg")], capsys)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("gradflow render: error: GRADFLOW_DOT (") and "exit code 1" in err


def test_demo_checks_every_file_it_writes():
    from test_demo import PROMISED

    assert set(PROMISED) <= set(gradflow.commands.demo.FILES)


def test_render_creates_no_folders(tmp_path, capsys):
    out = tmp_path / "missing" / "dir" / "g.svg"
    code, _, err = run(["render", "x + 1", "--at", "x=1", "-o", str(out)], capsys)
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "missing").exists()


UNWRITABLE = [
    ["render", "x", "--at", "x=1", "-o", "locked/g.svg"],
    ["demo", "--out", "locked"],
    ["demo", "--out", "locked/new"],
    ["exercise", "show", "seed002_network", "--render", "locked"],
    ["exercise", "show", "seed002_network", "--render", "locked/new"],
]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder (see below)")
@pytest.mark.parametrize("argv", UNWRITABLE)
def test_an_unwritable_folder_is_refused_before_any_work(argv, workdir, capsys):
    (workdir / "locked").mkdir(mode=0o500)
    try:
        code, _, err = run(argv, capsys)
    finally:
        (workdir / "locked").chmod(0o700)
    assert code == 2 and "permission denied" in err and "Traceback" not in err
    assert list((workdir / "locked").iterdir()) == []


@pytest.mark.parametrize("argv", UNWRITABLE)
def test_an_unwritable_folder_as_root_sees_it(argv, workdir, capsys, monkeypatch):
    """The same, for root too (CI): access(2) says no for the folder, as it would for a user."""
    (workdir / "locked").mkdir()
    real_access = os.access
    locked = str(workdir / "locked")

    def access(path, mode, **kwargs):
        inside = os.path.abspath(path) == locked
        return False if inside and mode & os.W_OK else real_access(path, mode, **kwargs)

    monkeypatch.setattr(arguments.os, "access", access)
    code, _, err = run(argv, capsys)
    assert code == 2 and "permission denied" in err and "Traceback" not in err
    assert list((workdir / "locked").iterdir()) == []


def test_exercise_render_replaces_its_files_only_with_force(tmp_path, capsys):
    folder = tmp_path / "pictures"
    argv = ["exercise", "show", "seed002_network", "--render", str(folder)]
    assert run(argv, capsys)[0] == 0  # a new folder (one level) is made
    svg = folder / "seed002_network.svg"
    svg.write_text("my own drawing")
    code, out, err = run(argv, capsys)
    assert code == 2 and "pass --force" in err and out == ""  # refused before printing
    assert svg.read_text() == "my own drawing"
    assert run(argv + ["--force"], capsys)[0] == 0
    assert svg.read_text().lstrip().startswith("<")


def test_answers_from_a_pipe_still_work(tmp_path, capsys):
    fifo = tmp_path / "answers"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child writes the answers and leaves
        with open(fifo, "w") as f:
            f.write("# nothing answered\n")
        os._exit(0)
    code, out, err = run(["exercise", "quiz", "seed002_network", "--answers", str(fifo)], capsys)
    os.waitpid(pid, 0)
    assert code == 1 and "Traceback" not in err and "score" in out.lower()


# ------------------------------------------------------------------- numbers and JSON


def test_steps_json_is_strict(capsys):
    code, out, _ = run(["steps", "--x", "1e12", "--ytrue=-1e12", "--format", "json"], capsys)
    assert code == 0
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


def test_train_json_writes_a_non_finite_number_as_null(monkeypatch, capsys):
    import gradflow.commands.train as train

    report = {"final": {"test_loss": float("inf"), "val_loss": float("nan")}, "history": []}
    monkeypatch.setattr(train, "train", lambda args: report)
    code, out, _ = run(["train", "--json", "--quiet"], capsys)
    assert code == 0
    assert json.loads(out) == {"final": {"test_loss": None, "val_loss": None}, "history": []}


def test_the_report_prints_a_huge_loss_in_g_format(capsys):
    row = {"epoch": 1, "train_loss": 3e200, "val_loss": 1e160, "lr": 1e6}
    _print_report(
        {
            "history": [row],
            "final": {
                "seconds": 0.5,
                "test_loss": 1.234567e160,
                "baseline_test_loss": 0.3,
                "test_accuracy": None,
            },
            "config": {"model": "mlp", "dataset": "sine", "parameters": 97, "backend": "graph"},
        }  # fmt: skip
    )
    out = capsys.readouterr().out
    assert "held-out test loss 1.23457e+160" in out and "3e+200" in out
    assert not re.search(r"\d{20}", out)


@given(
    st.recursive(
        st.floats() | st.integers() | st.text(max_size=3) | st.none(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=10,
    )
)
def test_json_text_is_always_strict_json(obj):
    text = json_text(obj)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == json.loads(
        json.dumps(finite_or_none(obj))
    )


@given(st.one_of(st.floats(), st.integers().map(str), st.text(max_size=8)))
def test_number_types_return_a_number_in_range_or_refuse(value):
    text = value if isinstance(value, str) else repr(value)
    for check, ok in [
        (arguments.positive_float, lambda v: math.isfinite(v) and v > 0),
        (arguments.non_negative_float, lambda v: math.isfinite(v) and v >= 0),
        (arguments.finite_float, math.isfinite),
        (arguments.positive_int, lambda v: isinstance(v, int) and v >= 1),
        (arguments.non_negative_int, lambda v: isinstance(v, int) and v >= 0),
    ]:
        try:
            v = check(text)
        except argparse.ArgumentTypeError as e:
            assert repr(text) in str(e)
        else:
            assert ok(v), (check.__name__, text, v)


def test_gradflow_warnings_are_one_line_and_others_keep_their_form(monkeypatch, capsys):
    """A CacheWarning (no safe numba cache directory) is raised deep in an import; on the
    command line it reads as one line naming the command. Other warnings go on as before."""
    import warnings

    from gradflow.kernels.cachedir import CacheWarning

    def warns(args):
        text = "numba's disk cache is off: /tmp/x is writable by others"
        warnings.warn(text, CacheWarning, stacklevel=2)
        warnings.warn("something else", DeprecationWarning, stacklevel=2)
        return 0

    passed_on = []
    monkeypatch.setattr(gradflow.commands.ops, "run", warns)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, category, *rest: passed_on.append(category)
        code, _, err = run(["ops"], capsys)
    assert code == 0
    assert err == "gradflow ops: warning: numba's disk cache is off: /tmp/x is writable by others\n"
    assert passed_on == [DeprecationWarning]
