"""LaTeX that compiles: ``gradflow steps --format latex`` and every shipped exercise's document.

The quick tests check what a LaTeX engine would choke on first (non-ASCII characters, Python
syntax, unbalanced braces); the slow one runs pdfLaTeX on every exercise (CI installs
texlive-latex-base, see .ci/run).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from gradflow.cli import main
from gradflow.exercises import loader
from gradflow.exercises.latex import document, standalone

EXERCISES = loader.load_all()


def _balanced(tex: str) -> bool:
    depth = 0
    for k, ch in enumerate(tex):
        if ch in "{}" and (k == 0 or tex[k - 1] != "\\"):
            depth += 1 if ch == "{" else -1
            if depth < 0:
                return False
    return depth == 0


def _steps_latex(capsys, *argv) -> str:
    assert main(["steps", "--format", "latex", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_exercise_latex_is_ascii_and_balanced(ex):
    tex = document(ex)
    assert tex.isascii(), sorted({c for c in tex if not c.isascii()})
    assert _balanced(tex)
    assert "**" not in tex and " if " not in tex and "\\text{given} =" not in tex


def test_steps_latex_names_and_numbers_are_latex(capsys):
    tex = _steps_latex(capsys)
    assert tex.isascii() and _balanced(tex)
    assert "w_{111} \\cdot x" in tex and "\\mathbf{1}[z_{11} > 0]" in tex  # names subscripted
    assert "\\cdot ({-10})" in tex  # a negative factor in brackets
    assert "\\frac{\\partial L}{\\partial w_{111}}" in tex
    matrices = _steps_latex(capsys, "sum(W @ x)", "--at", "W=[[1,2],[3,4]], x=[1,-1]")
    assert matrices.isascii() and "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}" in matrices


def _compile(tex: str, folder, name: str) -> None:
    src = folder / f"{name}.tex"
    src.write_text(tex)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", src.name],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in run.stdout.splitlines() if line.startswith("!")]
    assert run.returncode == 0 and (folder / f"{name}.pdf").exists(), (name, errors)


@pytest.mark.slow
def test_every_exercise_and_the_steps_compile_with_pdflatex(tmp_path, capsys):
    if shutil.which("pdflatex") is None:
        pytest.skip("needs pdflatex (Debian: apt-get install texlive-latex-base)")
    _compile(standalone(_steps_latex(capsys)), tmp_path, "steps")
    tensor = _steps_latex(capsys, "softmax(z)", "--at", "z=[0.02,0.6]")
    _compile(standalone(tensor), tmp_path, "steps_tensor")
    for ex in EXERCISES:
        _compile(document(ex), tmp_path, ex.name)
