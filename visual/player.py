"""Backprop step by step: one picture per step, as SVG files or one self-contained HTML page.

The forward pass comes first (one frame per op, values appearing as they are computed), then
one frame per chain-rule step of :func:`gradflow.backward_steps`: the node being processed
and the edge whose contribution is added are highlighted, and a panel reads
``local × upstream = contribution`` with the input's accumulated gradient. Both exports draw
the same frames, so the HTML page and the SVG folder never disagree.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradflow.graph import Node
from gradflow.steps import backward_steps, forward_steps

from .graph import GraphState, GraphView, fmt_number, op_text, summarize
from .render import render_graph, render_source


@dataclass
class Frame:
    """One step of the player: the table row, the panel text and what the graph shows."""

    phase: str  # "forward" or "backward"
    step: str  # e.g. "y11 = ReLU(z11)" or "y11 → z11"
    panel: list[str]
    state: GraphState
    equation: str = ""  # the step table's last column


def _fmt(x: Any) -> str:
    """A number, a small array in full, or a large array's shape and summary."""
    a = np.asarray(x)
    if a.ndim == 0:
        return fmt_number(a)
    if a.size <= 6:
        return " ".join(np.array2string(a + 0.0, precision=4, separator=", ").split())
    return summarize(a)


def build_frames(loss: Node, view: GraphView) -> list[Frame]:
    """Forward frames (values appear in evaluation order), then one frame per backward step."""
    frames: list[Frame] = []
    leaves = {id(n) for n in view.order if n.op is None}
    known = set(leaves)
    frames.append(
        Frame("forward", "inputs", ["Forward pass: inputs and parameters are given"], GraphState())
    )
    frames[-1].state = GraphState(values=set(known), nodes=set(leaves))
    for s in forward_steps(loss):
        if s.node.op is None:
            continue
        known.add(id(s.node))
        text = f"{s.name} = {op_text(s.node, view.names)} = {_fmt(s.value)}"
        state = GraphState(values=set(known), nodes={id(s.node)})
        frames.append(Frame("forward", text, [f"Forward: {text}"], state, _fmt(s.value)))
    seed = np.ones_like(loss.data) if np.ndim(loss.data) else 1.0
    grads: dict[int, Any] = {id(loss): seed}
    start = f"Backward pass: ∂L/∂{view.names[id(loss)]} = 1 (the seed)"
    frames.append(Frame("backward", "seed", [start], GraphState(grads=dict(grads)), "1"))
    frames[-1].state.nodes = {id(loss)}
    for s in backward_steps(loss):
        grads[id(s.input_node)] = s.accumulated
        if s.local is None:  # a tensor op: its vector-Jacobian product rule
            equation = f"{s.local_text} with g = ∂L/∂{s.name} → contribution {_fmt(s.contribution)}"
        else:
            times = "×" if np.ndim(s.local) == 0 else "⊙"  # arrays multiply elementwise
            equation = f"{_fmt(s.local)} {times} {_fmt(s.upstream)} = {_fmt(s.contribution)}"
        panel = [
            f"Backward step {s.index}: {s.name} → {s.input} ({s.op})",
            f"local ∂{s.name}/∂{s.input} = {s.local_text}",
            f"local × upstream = contribution: {equation}",
            f"accumulated ∂L/∂{s.input} = {_fmt(s.accumulated)}",
        ]
        state = GraphState(
            grads=dict(grads), nodes={id(s.node)}, edges={(id(s.input_node), id(s.node))}
        )
        frames.append(Frame("backward", f"{s.name} → {s.input}", panel, state, equation))
    return frames


def _frames(loss: Node, rankdir: str) -> tuple[GraphView, list[Frame]]:
    if not isinstance(loss, Node):
        raise TypeError(f"the player needs a gradflow Value or Tensor, got {type(loss).__name__}")
    view = GraphView(loss)
    frames = build_frames(loss, view)
    for f in frames:
        # \l ends a left-aligned line in DOT; the panel's own backslashes are doubled first
        f.state.title = "".join(line.replace("\\", "\\\\") + "\\l" for line in f.panel)
    return view, frames


def write_frames(loss: Node, directory: str | os.PathLike, rankdir: str = "LR") -> list[Path]:
    """Write ``step_000.svg``, ``step_001.svg``, ... (forward steps first); return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    view, frames = _frames(loss, rankdir)
    width = max(3, len(str(len(frames))))
    return [
        render_graph(view.draw(f.state, rankdir), directory / f"step_{k:0{width}d}.svg")
        for k, f in enumerate(frames)
    ]


def _inline_svg(svg: bytes) -> str:
    """An SVG document without its XML prolog and DOCTYPE, ready to sit inside HTML."""
    text = svg.decode("utf-8")
    return re.sub(r"^.*?(?=<svg)", "", text, count=1, flags=re.S).strip()


def write_player(loss: Node, html_path: str | os.PathLike, rankdir: str = "LR") -> Path:
    """Write ONE self-contained HTML page (inline SVG, CSS and JS; no network) stepping
    through the forward and backward pass with buttons, arrow keys, a counter and a table."""
    html_path = Path(html_path)
    view, frames = _frames(loss, rankdir)
    svgs = []
    for k, f in enumerate(frames):
        svg, _ = render_source(view.draw(f.state, rankdir, id_prefix=f"f{k}_").source, "svg")
        svgs.append(_inline_svg(svg))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(_page(frames, svgs), encoding="utf-8")
    return html_path


def _page(frames: list[Frame], svgs: list[str]) -> str:
    data = json.dumps([{"panel": f.panel, "phase": f.phase} for f in frames], ensure_ascii=False)
    data = data.replace("</", "<\\/")  # nothing in the data can close the <script> tag
    figures = "\n".join(
        f'<div class="frame" data-step="{k}"{" hidden" if k else ""}>{svg}</div>'
        for k, svg in enumerate(svgs)
    )
    rows = "\n".join(
        f'<tr data-step="{k}"><td>{k + 1}</td><td>{f.phase}</td><td>{html.escape(f.step)}</td>'
        f"<td>{html.escape(f.equation)}</td></tr>"
        for k, f in enumerate(frames)
    )
    return PAGE.format(n=len(frames), figures=figures, rows=rows, data=data)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gradflow: backprop step by step</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em 2em; color: #222; }}
#controls {{ display: flex; gap: 1em; align-items: center; margin: .5em 0; }}
button {{ font-size: 1em; padding: .3em .9em; }}
#panel {{ background: #f6f6f6; border-left: 4px solid #d62728; padding: .5em 1em;
  font-family: monospace; white-space: pre-wrap; min-height: 5em; }}
.frame svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; font-size: .9em; }}
td, th {{ border: 1px solid #ccc; padding: .2em .6em; text-align: left; }}
tr.current {{ background: #fde9e7; font-weight: bold; }}
tr {{ cursor: pointer; }}
</style>
</head>
<body>
<h1>Backprop step by step</h1>
<p>Forward pass first, then every chain-rule step. Use the buttons or the ← → keys.</p>
<div id="controls">
<button id="prev" type="button">◀ Previous</button>
<span id="counter">Step 1 / {n}</span>
<button id="next" type="button">Next ▶</button>
</div>
<div id="panel"></div>
<div id="frames">
{figures}
</div>
<table id="steps">
<thead><tr><th>#</th><th>pass</th><th>step</th>
<th>value, or local × upstream = contribution</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<script>
const STEPS = {data};
let current = 0;
function show(k) {{
  current = Math.max(0, Math.min(STEPS.length - 1, k));
  document.querySelectorAll(".frame").forEach(function (f) {{
    f.hidden = Number(f.dataset.step) !== current;
  }});
  document.querySelectorAll("#steps tbody tr").forEach(function (r) {{
    r.classList.toggle("current", Number(r.dataset.step) === current);
  }});
  document.getElementById("panel").textContent = STEPS[current].panel.join("\\n");
  document.getElementById("counter").textContent =
    "Step " + (current + 1) + " / " + STEPS.length + " (" + STEPS[current].phase + ")";
  document.getElementById("prev").disabled = current === 0;
  document.getElementById("next").disabled = current === STEPS.length - 1;
}}
document.getElementById("prev").addEventListener("click", function () {{ show(current - 1); }});
document.getElementById("next").addEventListener("click", function () {{ show(current + 1); }});
document.addEventListener("keydown", function (e) {{
  if (e.key === "ArrowRight") {{ show(current + 1); e.preventDefault(); }}
  if (e.key === "ArrowLeft") {{ show(current - 1); e.preventDefault(); }}
}});
document.querySelectorAll("#steps tbody tr").forEach(function (r) {{
  r.addEventListener("click", function () {{ show(Number(r.dataset.step)); }});
}});
show(0);
</script>
</body>
</html>
"""
