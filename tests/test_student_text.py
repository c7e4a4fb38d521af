"""What a student reads never looks like a debugger dump (issue 12's acceptance test).

Every text a shipped exercise shows (the tables of ``exercise show``, quiz feedback for every
question answered wrongly, the graph's labels with local derivatives, the step player's
panels), the demo's worked example and symbolic report, and the outputs of the shipped
notebooks: no ``n3``-style ids, no Python conditionals (``1 if z > 0 else 0``), no ``**``,
no ``-0``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from gradflow import backward_steps, check_symbolic, forward_steps, visual
from gradflow.examples import seed002_network
from gradflow.exercises import loader
from gradflow.exercises.runner import quiz, show
from gradflow.visual.graph import GraphView
from gradflow.visual.player import build_frames

DOCS = Path(__file__).resolve().parents[1] / "docs"
BAD = {
    "an nN-style id": re.compile(r"\bn\d+\b"),
    "a Python conditional": re.compile(r"\bif\b[^\n]*\belse\b"),
    "Python's power **": re.compile(r"\*\*"),
    "a negative zero": re.compile(r"(?<![\w.])-0(?![\w.])"),
}


def problems(text: str, own: frozenset[str] = frozenset()) -> list[str]:
    """The bad patterns in ``text``; ``own`` are an exercise's own names (parameter_count
    calls its layer widths n0 … n3, as the course does)."""
    found = []
    for what, rx in BAD.items():
        for m in rx.finditer(text):
            if m[0] in own:
                continue
            found.append(f"{what}: …{text[max(0, m.start() - 40) : m.end() + 20]}…")
    return found


def dot_labels(source: str) -> str:
    """The label texts of a DOT source (its node ids n0, n1, ... are not shown to anyone)."""
    return "\n".join(re.findall(r'label="((?:[^"\\]|\\.)*)"', source))


def svg_texts(svg: str) -> str:
    return "\n".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))


@pytest.mark.parametrize("ex", loader.load_all(), ids=lambda e: e.name)
def test_an_exercise_reads_as_maths(ex):
    out = io.StringIO()
    show(ex, out)
    wrong = io.StringIO()
    quiz(ex, ["123456"] * len(ex.questions), wrong)  # every answer wrong: every explanation
    sol = ex.solve()
    own = frozenset(ex.values) | frozenset(ex.graph) | frozenset(ex.update)
    labels = dot_labels(visual.draw_graph(sol.loss, show_local=True).source)
    view = GraphView(sol.loss)
    panels = "\n".join(line for f in build_frames(sol.loss, view, lr=0.1) for line in f.panel)
    for what, text in [
        ("show", out.getvalue()),
        ("quiz", wrong.getvalue()),
        ("graph", labels),
        ("player", panels),
    ]:
        assert not problems(text, own), (what, problems(text, own)[:3])


def test_the_demo_reads_as_maths():
    loss = seed002_network()["L"]
    text = "\n".join(
        [forward_steps(loss).table(), backward_steps(loss).table(), str(check_symbolic(loss))]
    )
    assert not problems(text), problems(text)[:3]
    assert "2e" in text and "1[z21 > 0]" in text and "p11" in text  # the demo's own names
    # SymPy's formulas take the course's minus sign, as the tables do: "… − 75", not "- 75"
    symbolic = str(check_symbolic(loss))
    assert "− 75" in symbolic and " - " not in symbolic


def _notebook_texts(path: Path) -> list[str]:
    """What a reader sees in a notebook's outputs: printed text (code listings aside), HTML,
    and the texts of SVG pictures."""
    texts = []
    for cell in json.loads(path.read_text())["cells"]:
        for o in cell.get("outputs", []):
            if "text" in o:
                lines = "".join(o["text"]).splitlines()
                texts += [line for line in lines if "  # " not in line]  # not a code listing
            for kind, v in o.get("data", {}).items():
                v = "".join(v) if isinstance(v, list) else v
                if kind == "image/svg+xml" or "<svg" in v:
                    texts.append(svg_texts(v))
                elif kind in ("text/plain", "text/markdown", "text/latex"):
                    texts.append(v)
    return texts


@pytest.mark.parametrize("path", sorted(DOCS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_notebook_outputs_read_as_maths(path):
    found = [p for t in _notebook_texts(path) for p in problems(t)]
    assert not found, found[:3]
