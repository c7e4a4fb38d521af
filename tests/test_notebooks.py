"""The tutorials in docs/ run top to bottom, match their sources and ship with their outputs.

Each notebook is built from ``docs/src/NN_*.py`` by ``docs/build_notebooks.py``; the
executed ``.ipynb`` (with outputs, so it reads on GitHub) is what ships. Executing them all
takes a minute or two, so that test is marked slow; the structural checks are fast.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted(DOCS.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT = 180


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", DOCS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_notebooks_and_each_has_a_source():
    assert len(NOTEBOOKS) >= 3
    sources = {p.stem for p in (DOCS / "src").glob("[0-9][0-9]_*.py")}
    assert {nb.stem for nb in NOTEBOOKS} == sources


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_matches_its_source_and_has_outputs(path):
    """A shipped notebook is its source, executed: no hand edits, no stale or missing outputs."""
    shipped = nbformat.read(path, as_version=4)
    fresh = _builder().notebook_from_source(DOCS / "src" / f"{path.stem}.py")
    assert [(c.cell_type, c.source) for c in shipped.cells] == [
        (c.cell_type, c.source) for c in fresh.cells
    ], f"{path.name} differs from docs/src/{path.stem}.py: run python docs/build_notebooks.py"
    code = [c for c in shipped.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name} was not executed in order"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was saved with an error: {errors[0].get('ename')}"
    images = [
        o
        for c in code
        for o in c.outputs
        if {"image/png", "image/svg+xml"} & set(o.get("data", {}))
    ]
    assert images, f"{path.name} shows no picture"


def test_percent_format_parsing():
    text = "# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\nprint(x)\n"
    assert _builder().parse_cells(text) == [
        ("markdown", "# Title\n\ntext"),
        ("code", "x = 1"),
        ("code", "print(x)"),
    ]
    with pytest.raises(ValueError, match="must start with '# '"):
        _builder().parse_cells("# %% [markdown]\n#no space\n")
    with pytest.raises(ValueError, match="before the first"):
        _builder().parse_cells("x = 1\n# %%\n")


def test_index_lists_every_notebook():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for nb in NOTEBOOKS:
        assert f"({nb.name})" in index, f"docs/index.md does not link {nb.name}"
    assert "gradflow exercise list" in index and "(ops.md)" in index


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_without_error(path, tmp_path, monkeypatch):
    """Run a fresh copy in a python3 kernel (this venv's ipykernel) inside a temp dir, so the
    files the tutorial writes do not land in the repository; any cell error fails."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    # the kernel must find this venv's executables (graphviz-pure's dot) first
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")  # as docs/build_notebooks.py: tiny batches
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    before = set(DOCS.iterdir())
    client.execute()  # raises CellExecutionError naming the cell on any error
    assert not list(ROOT.glob("seed002*")), "a notebook wrote into the repository"
    written = {p.name for p in tmp_path.iterdir()}
    assert written <= {"gradflow-output"}, f"{path.name} wrote {written} beside itself"
    assert set(DOCS.iterdir()) == before, f"{path.name} wrote into docs/"


def test_notebook_outputs_folder_is_ignored():
    """Run from docs/ by a student, the notebooks write into docs/gradflow-output/, which git
    ignores; no notebook source writes beside itself."""
    assert "gradflow-output/" in (ROOT / ".gitignore").read_text().splitlines()
    for src in sorted((DOCS / "src").glob("[0-9][0-9]_*.py")):
        code = src.read_text(encoding="utf-8").splitlines()
        text = "\n".join(line for line in code if not line.lstrip().startswith("#"))
        for call in ("write_player(", "write_frames(", "render_graph(", ".render("):
            for tail in text.split(call)[1:]:
                args = tail.split(")")[0]
                if "," in args or "OUT" in args:
                    assert "OUT" in args, f"{src.name}: {call}{args}) writes outside OUT"


def test_an_otter_style_grading_notebook_runs_check_answer(tmp_path):
    """A notebook as otter-grader or nbgrader runs it: the student's cells, then hidden test
    cells calling check_answer — points for a right answer, the diagnosis for a wrong one,
    and no input() anywhere (a kernel without stdin would fail on it)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("grad_w211 = -10 * 70\ngrad_w111 = -10"),
        nbformat.v4.new_code_cell(
            "from gradflow.exercises import check_answer\n"
            "points = check_answer('seed002_network', 'grad w211', grad_w211)\n"
            "try:\n"
            "    check_answer('seed002_network', 'grad w111', grad_w111)\n"
            "    feedback = None\n"
            "except AssertionError as e:\n"
            "    feedback = str(e)\n"
            "print(points)\n"
            "print(feedback)"
        ),
    ]
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False)
    client.execute(cwd=str(tmp_path))
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert printed.splitlines()[0] == "1.0"
    assert "∂L/∂w111" in printed and "Your -10 is" in printed
