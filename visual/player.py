"""Backprop step by step: one picture per step as SVG files, or one self-contained HTML page.

The forward pass comes first (one step per op, values appearing as they are computed), then
one step per chain-rule step of :func:`gradflow.backward_steps`, and — given a learning rate
— a last step that updates every parameter, ``w ← w − γ·∂L/∂w``. In each backward step the
node sending the gradient and the input receiving it are highlighted, the edge between them
carries its local derivative, and the panel reads ``local · upstream = contribution`` in
maths notation (MathML, which browsers render natively).

The HTML page draws the graph ONCE: each step is a small record (texts of the boxes that
change, what to highlight, the panel's maths) that the page's script applies to the shared
SVG, so even an LSTM cell's player stays far below a megabyte. Graph and panel sit side by
side; the graph keeps a readable size (zoom with the buttons or the wheel, drag to pan) and
follows the active node. :func:`player` shows the same page inline in a Jupyter cell.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradflow import display
from gradflow.errors import ArgumentTypeError, UsageError
from gradflow.graph import Node
from gradflow.steps import backward_steps, forward_steps

from .graph import GraphState, GraphView, local_label, op_text, render_graph
from .render import render_source


@dataclass
class Frame:
    """One step of the player: the table row, the panel and what the graph shows."""

    phase: str  # "forward", "backward" or "update"
    step: str  # the table's step column, e.g. "y11 = ReLU(z11)" or "y11 → z11"
    panel: list[str]  # the panel as plain text (the SVG frames print it as the title)
    state: GraphState
    equation: str = ""  # the table's last column
    maths: list[str] = field(default_factory=list)  # the panel's maths, one LaTeX line each
    edge_label: str = ""  # the local derivative written on the active edge
    receiver: int | None = None  # id() of the node that receives the contribution


def _fmt(x: Any) -> str:
    """A number, a small array in full (one line), or a big array's summary."""
    return display.array(x, grid=False)


def _latex_names(view: GraphView) -> dict[int, str]:
    """Every node's name as LaTeX (:func:`gradflow.naming.node_names`, the same choice as the
    text names); an unnamed constant is its number, bracketed when negative."""
    out = {}
    for n in view.order:
        constant = n.op is None and not n.requires_grad and not n.label and np.ndim(n.data) == 0
        out[id(n)] = display.latex(n.data, signed=True) if constant else view.latex[id(n)]
    return out


def _partial(top: str, bottom: str) -> str:
    return f"\\frac{{\\partial {top}}}{{\\partial {bottom}}}"


def build_frames(loss: Node, view: GraphView, lr: float | None = None) -> list[Frame]:
    """The inputs, one frame per op forward, the seed, one frame per backward step, and with
    a learning rate ``lr`` a last frame updating every parameter."""
    frames: list[Frame] = []
    tex = _latex_names(view)
    leaves = [n for n in view.order if n.op is None]
    known = {id(n) for n in leaves}
    given = [f"{tex[id(n)]} = {display.latex(n.data)}" for n in leaves if n.label][:12]
    state = GraphState(values=set(known), nodes=set(known))
    panel = ["Forward pass: the inputs and parameters are given"]
    frames.append(Frame("forward", "inputs", panel, state, maths=given))
    for s in forward_steps(loss):
        if s.node.op is None:
            continue
        known.add(id(s.node))
        text = f"{s.name} = {op_text(s.node, view.names)}"
        args = [tex[id(i)] for i in s.node.inputs]
        try:
            formula = s.node.op.format_latex(args, s.node.params)
        except (KeyError, IndexError, ValueError):  # a template the params do not fill
            formula = display.text_latex(op_text(s.node, view.names))
        maths = [f"{tex[id(s.node)]} = {formula} = {display.latex(s.value)}"]
        state = GraphState(values=set(known), nodes={id(s.node)})
        value = _fmt(s.value)
        frames.append(Frame("forward", text, [f"{text} = {value}"], state, value, maths))
    seed = np.ones_like(loss.data) if np.ndim(loss.data) else 1.0
    grads: dict[int, Any] = {id(loss): seed}
    root = view.names[id(loss)]
    start = [f"Backward pass: ∂L/∂{root} = 1 (the seed)"]
    maths = [f"{_partial('L', tex[id(loss)])} = 1"]
    state = GraphState(grads=dict(grads), nodes={id(loss)})
    frames.append(Frame("backward", "seed", start, state, "1", maths))
    for s in backward_steps(loss):
        had = id(s.input_node) in grads
        grads[id(s.input_node)] = s.accumulated
        out, inp = tex[id(s.node)], tex[id(s.input_node)]
        local_d = _partial(out, inp)
        if s.local is None:  # a tensor op: its vector-Jacobian product rule
            equation = f"{s.local_text} with g = {_fmt(s.upstream)} → {_fmt(s.contribution)}"
            rule = f"{s.local_latex},\\quad g = {_partial('L', out)}"
            maths = [
                f"{_partial('L', inp)} \\mathrel{{+}}= {rule}",
                f"g = {display.latex(s.upstream)}",
                f"\\text{{contribution}} = {display.latex(s.contribution)}",
            ]
        else:
            times = "×" if np.ndim(s.local) == 0 else "⊙"  # arrays multiply elementwise
            equation = f"{_fmt(s.local)} {times} {_fmt(s.upstream)} = {_fmt(s.contribution)}"
            product = "\\cdot" if np.ndim(s.local) == 0 else "\\odot"
            maths = [
                f"{local_d} = {s.local_latex} = {display.latex(s.local)}"
                if s.local_latex != display.latex(s.local)
                else f"{local_d} = {display.latex(s.local)}",
                f"{local_d} {product} {_partial('L', out)} = {display.latex(s.local)} "
                f"{product} {display.latex(s.upstream, signed=True)} = "
                f"{display.latex(s.contribution)}",
            ]
        total = f"{_partial('L', inp)} = {display.latex(s.accumulated)}"
        maths.append(total + ("\\quad\\text{(added to the earlier contribution)}" if had else ""))
        panel = [
            f"{s.name} → {s.input} ({s.op})",
            f"local ∂{s.name}/∂{s.input} = {s.local_text}",
            f"local × upstream = contribution: {equation}",
            f"accumulated ∂L/∂{s.input} = {_fmt(s.accumulated)}",
        ]
        state = GraphState(
            grads=dict(grads), nodes={id(s.node)}, edges={(id(s.input_node), id(s.node))}
        )
        frame = Frame("backward", f"{s.name} → {s.input}", panel, state, equation, maths)
        frame.edge_label, frame.receiver = local_label(s), id(s.input_node)
        frames.append(frame)
    if lr is not None:
        frames.append(_update_frame(view, grads, lr, tex))
    return frames


def _update_frame(view: GraphView, grads: dict, lr: float, tex: dict[int, str]) -> Frame:
    """Gradient descent on every parameter: w ← w − γ·∂L/∂w."""
    params = [n for n in view.order if n.op is None and n.requires_grad]
    gamma = display.number(lr)
    panel = [f"Update every parameter: w ← w − γ·∂L/∂w with γ = {gamma}"]
    maths = [f"w \\leftarrow w - \\gamma\\,{_partial('L', 'w')},\\quad \\gamma = {gamma}"]
    new: dict[int, Any] = {}
    for n in params:
        g = grads.get(id(n), np.zeros_like(n.data))
        new[id(n)] = n.data - lr * np.asarray(g)
        name, w = view.names[id(n)], tex[id(n)]
        grad = _fmt(g)
        grad = f"({grad})" if grad.startswith("-") else grad
        panel.append(f"{name} ← {_fmt(n.data)} − {gamma}·{grad} = {_fmt(new[id(n)])}")
        maths.append(
            f"{w} \\leftarrow {display.latex(n.data)} - {gamma} \\cdot "
            f"{display.latex(g, signed=True)} = {display.latex(new[id(n)])}"
        )
    state = GraphState(grads=dict(grads), nodes=set(new), data=new)
    equation = "; ".join(line for line in panel[1:4]) + ("; …" if len(panel) > 4 else "")
    return Frame("update", f"w ← w − {gamma}·∂L/∂w", panel, state, equation, maths)


def _frames(loss: Node, lr: float | None) -> tuple[GraphView, list[Frame]]:
    if not isinstance(loss, Node):
        raise ArgumentTypeError(
            f"the player needs a gradflow Value or Tensor, got {type(loss).__name__}"
        )
    if lr is not None and not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise UsageError(f"player: lr must be a positive number, got {lr!r}")
    view = GraphView(loss)
    frames = build_frames(loss, view, lr)
    for f in frames:
        # \l ends a left-aligned line in DOT; the panel's own backslashes are doubled first
        f.state.title = "".join(line.replace("\\", "\\\\") + "\\l" for line in f.panel)
    return view, frames


def write_frames(
    loss: Node, directory: str | os.PathLike, rankdir: str = "LR", lr: float | None = None
) -> list[Path]:
    """Write ``step_000.svg``, ``step_001.svg``, ... (forward steps first); return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    view, frames = _frames(loss, lr)
    width = max(3, len(str(len(frames))))
    return [
        render_graph(view.draw(f.state, rankdir), directory / f"step_{k:0{width}d}.svg")
        for k, f in enumerate(frames)
    ]


def _inline_svg(svg: bytes) -> str:
    """An SVG document without its XML prolog, DOCTYPE and comments, ready to sit in HTML."""
    text = svg.decode("utf-8")
    text = re.sub(r"^.*?(?=<svg)", "", text, count=1, flags=re.S).strip()
    return re.sub(r"<!--.*?-->\s*", "", text, flags=re.S)


ID_PREFIX = "gf_"  # the page's script finds boxes and edges by these ids
PAD = "\u00a0"  # a line that is empty in some step still needs its <text> element


def player_html(loss: Node, rankdir: str = "LR", lr: float | None = None) -> str:
    """The player page as one string (see :func:`write_player`)."""
    view, frames = _frames(loss, lr)
    shown = [n for n in view.order if id(n) not in view.hidden]
    lines = {id(n): [view.node_lines(n, f.state) for f in frames] for n in shown}
    widest: dict[int, list[str]] = {}
    for key, variants in lines.items():
        depth = max(len(v) for v in variants)
        padded = [v + [PAD] * (depth - len(v)) for v in variants]
        lines[key] = padded
        widest[key] = [max((v[k] for v in padded), key=len) for k in range(depth)]
    # one layout for every step: each box as wide as its widest text in any step
    base = GraphState(lines=widest)
    svg, _ = render_source(view.draw(base, rankdir, id_prefix=ID_PREFIX).source, "svg")
    steps = []
    previous: dict[int, list[str]] = {}
    for k, f in enumerate(frames):
        changed = {
            view.node_id(n): lines[id(n)][k]
            for n in shown
            if previous.get(id(n)) != lines[id(n)][k]
        }
        previous = {id(n): lines[id(n)][k] for n in shown}
        edge = next(iter(f.state.edges), None)
        steps.append(
            {
                "phase": f.phase,
                "title": f.panel[0],
                "text": f.panel,
                "maths": [display.mathml(m) for m in f.maths],
                "set": changed,
                "nodes": sorted(view.node_id(n) for n in shown if id(n) in f.state.nodes),
                "receiver": view.node_id(_node(view, f.receiver)) if f.receiver else None,
                "edge": _edge_id(view, edge) if edge else None,
                "edgeNodes": [view.node_id(_node(view, e)) for e in edge] if edge else [],
                "label": f.edge_label,
                "wrap": k == 0,  # the given values: side by side, not one per line
            }
        )
    return _page(frames, _inline_svg(svg), steps)


def _node(view: GraphView, key: int) -> Node:
    return next(n for n in view.order if id(n) == key)


def _edge_id(view: GraphView, edge: tuple[int, int]) -> str:
    """The SVG id graph.py gives the edge (input, node): ``e{node index}_{input index}``."""
    inp, out = edge
    node = _node(view, out)
    i = next(k for k, x in enumerate(node.inputs) if id(x) == inp)
    return f"e{view.index[out]}_{i}"


def write_player(
    loss: Node, html_path: str | os.PathLike, rankdir: str = "LR", lr: float | None = None
) -> Path:
    """Write ONE self-contained HTML page (inline SVG, CSS and JS; no network) stepping
    through the forward and backward pass — and, with a learning rate ``lr``, the update
    ``w ← w − lr·∂L/∂w`` — with buttons, arrow keys, a counter and a clickable table."""
    page = player_html(loss, rankdir, lr)
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(page, encoding="utf-8")
    return html_path


class Player:
    """The step player of a graph, shown inline by Jupyter (an ``<iframe srcdoc=...>``)."""

    def __init__(self, loss: Node, rankdir: str = "LR", lr: float | None = None, height=560):
        self.page = player_html(loss, rankdir, lr)
        self.height = int(height)
        self.steps = self.page.count("<tr data-step=")

    def __repr__(self) -> str:
        return f"Player({self.steps} steps; shown inline in Jupyter, .save(path) writes it)"

    def _repr_html_(self) -> str:
        doc = html.escape(self.page, quote=True)
        return (
            f'<iframe srcdoc="{doc}" style="width:100%;height:{self.height}px;'
            'border:1px solid #ccc" title="gradflow step player"></iframe>'
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (an ``.html`` file) and return the path."""
        path = Path(path)
        path.write_text(self.page, encoding="utf-8")
        return path


def player(loss: Node, rankdir: str = "LR", lr: float | None = None, height: int = 560) -> Player:
    """The step player for a notebook cell: ``visual.player(loss, lr=0.1)`` as the last line
    shows it inline; ``.save(path)`` writes the same page as :func:`write_player`."""
    return Player(loss, rankdir, lr, height)


def _page(frames: list[Frame], svg: str, steps: list[dict]) -> str:
    data = json.dumps(steps, ensure_ascii=False, separators=(",", ":"))
    data = data.replace("</", "<\\/")  # nothing in the data can close the <script> tag
    rows = "\n".join(
        f'<tr data-step="{k}" class="{f.phase}"><td>{k + 1}</td><td>{f.phase}</td>'
        f"<td>{html.escape(f.step)}</td><td>{html.escape(f.equation)}</td></tr>"
        for k, f in enumerate(frames)
    )
    parts = {"N": str(len(frames)), "ROWS": rows, "SVG": svg, "DATA": data}
    return re.sub(r"@@(N|ROWS|SVG|DATA)@@", lambda m: parts[m[1]], PAGE)


PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gradflow: backprop step by step</title>
<style>
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { font: 15px/1.4 Helvetica, Arial, sans-serif; color: #222; display: flex;
  flex-direction: column; }
header { display: flex; align-items: baseline; gap: 1em; padding: .35em 1em;
  border-bottom: 1px solid #ddd; flex-wrap: wrap; }
header h1 { font-size: 17px; margin: 0; }
header p { margin: 0; color: #555; font-size: 13px; }
main { flex: 1; min-height: 0; display: grid;
  grid-template-columns: minmax(0, 3fr) minmax(330px, 2fr); }
#graph { position: relative; overflow: hidden; border-right: 1px solid #ddd;
  background: #fff; cursor: grab; touch-action: none; user-select: none; }
#graph.dragging { cursor: grabbing; }
#graph > svg { position: absolute; left: 0; top: 0; overflow: visible; }
#zoom { position: absolute; right: .5em; top: .5em; z-index: 2; display: flex; gap: .3em; }
#zoom button { font-size: 14px; min-width: 2.2em; padding: .15em .4em; }
#side { display: flex; flex-direction: column; min-height: 0; padding: .5em .8em; gap: .5em; }
#controls { display: flex; align-items: center; gap: .6em; flex-wrap: wrap; }
#controls button { font-size: 15px; padding: .25em .8em; }
#counter { font-weight: bold; }
.tag { font-size: 12px; padding: .1em .6em; border-radius: 1em; color: #fff; }
.tag.forward { background: #1f77b4; }
.tag.backward { background: #d62728; }
.tag.update { background: #2ca02c; }
#panel { background: #f6f6f6; border-left: 4px solid #d62728; padding: .4em .8em;
  min-height: 7.5em; }
#title { font-weight: bold; margin-bottom: .2em; }
#maths > div { margin: .3em 0; overflow-x: auto; overflow-y: hidden; padding: .1em 0; }
#maths.wrap { display: flex; flex-wrap: wrap; column-gap: 1.4em; }
#maths.wrap > div { margin: .1em 0; }
math { font-size: 17px; math-style: normal; }
#tablewrap { flex: 1; min-height: 0; overflow: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th { position: sticky; top: 0; background: #eee; z-index: 1; }
td, th { border-bottom: 1px solid #e6e6e6; padding: .2em .5em; text-align: left;
  vertical-align: top; }
td:first-child { text-align: right; color: #555; }
td:nth-child(2) { color: #555; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f2f2f2; }
tbody tr.current { background: #fde9e7; font-weight: bold; }
/* the graph is drawn once: a step only switches classes and box texts */
#graph g.node.active path, #graph g.node.active polygon {
  stroke: #d62728; stroke-width: 3px; fill: #fde9e7; }
#graph g.node.recv path, #graph g.node.recv polygon {
  stroke: #1f77b4; stroke-width: 3px; fill: #e3effa; }
#graph g.node.update path, #graph g.node.update polygon {
  stroke: #2ca02c; stroke-width: 3px; fill: #e6f5e6; }
#graph g.edge.active path { stroke: #d62728; stroke-width: 3px; }
#graph g.edge.active polygon { stroke: #d62728; fill: #d62728; }
#edgelabel rect { fill: #fff; stroke: #d62728; stroke-width: 1.5px; }
#edgelabel text { fill: #b01c1d; font: bold 12px Helvetica, Arial, sans-serif; }
@media (max-width: 760px) {
  main { grid-template-columns: 1fr; grid-template-rows: 55vh minmax(0, 1fr); }
  #graph { border-right: 0; border-bottom: 1px solid #ddd; }
}
</style>
</head>
<body>
<header>
<h1>Backprop step by step</h1>
<p>Forward pass, then every chain-rule step: ← → keys or the buttons; click a row to jump.
Drag the graph to pan, wheel or + − to zoom.</p>
</header>
<main>
<div id="graph">
<div id="zoom"><button id="zoomout" type="button" title="zoom out (−)">−</button>
<button id="zoomin" type="button" title="zoom in (+)">+</button>
<button id="zoomfit" type="button" title="fit the whole graph (0)">fit</button></div>
@@SVG@@
</div>
<div id="side">
<div id="controls">
<button id="prev" type="button">◀ Previous</button>
<span id="counter">Step 1 / @@N@@</span>
<button id="next" type="button">Next ▶</button>
<span id="phase" class="tag"></span>
</div>
<div id="panel"><div id="title"></div><div id="maths"></div></div>
<div id="tablewrap">
<table id="steps">
<thead><tr><th>#</th><th>pass</th><th>step</th><th>value, or local × upstream</th></tr></thead>
<tbody>
@@ROWS@@
</tbody>
</table>
</div>
</div>
</main>
<script>
"use strict";
const STEPS = @@DATA@@;
const PREFIX = "gf_";
const pane = document.getElementById("graph");
const svg = pane.querySelector("svg");
const box = svg.viewBox.baseVal;
const W = box.width, H = box.height;
svg.removeAttribute("width");
svg.removeAttribute("height");
// node text is 11 units high: at READABLE it is 13 px, whatever the window's size
const READABLE = 13 / 11, MIN = 0.15, MAX = 6;
let scale = 1, tx = 0, ty = 0, current = 0;

function place() {
  svg.style.width = W * scale + "px";
  svg.style.height = H * scale + "px";
  svg.style.transform = "translate(" + tx + "px," + ty + "px)";
}
function fitScale() {
  return Math.min(pane.clientWidth / W, pane.clientHeight / H) * 0.97;
}
function zoomAt(factor, cx, cy) {
  const s = Math.max(MIN, Math.min(MAX, scale * factor));
  tx = cx - (cx - tx) * s / scale;
  ty = cy - (cy - ty) * s / scale;
  scale = s;
  place();
}
function fit() {
  scale = fitScale();
  tx = (pane.clientWidth - W * scale) / 2;
  ty = (pane.clientHeight - H * scale) / 2;
  place();
}
function start() {
  scale = Math.max(READABLE, Math.min(fitScale(), 1.6));
  tx = Math.max(0, (pane.clientWidth - W * scale) / 2);
  ty = Math.max(0, (pane.clientHeight - H * scale) / 2);
  place();
}
// keep the active boxes in view: pan (never zoom) when they are outside the pane
function follow(elements) {
  if (!elements.length) return;
  const p = pane.getBoundingClientRect();
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  elements.forEach(function (e) {
    const r = e.getBoundingClientRect();
    x0 = Math.min(x0, r.left); y0 = Math.min(y0, r.top);
    x1 = Math.max(x1, r.right); y1 = Math.max(y1, r.bottom);
  });
  const m = 40;
  if (x0 < p.left + m || x1 > p.right - m) tx += p.left + p.width / 2 - (x0 + x1) / 2;
  if (y0 < p.top + m || y1 > p.bottom - m) ty += p.top + p.height / 2 - (y0 + y1) / 2;
  place();
}

const texts = {};
function nodeTexts(id) {
  if (!texts[id]) {
    const g = document.getElementById(PREFIX + id);
    texts[id] = g ? Array.from(g.querySelectorAll("text")) : [];
  }
  return texts[id];
}
function setLines(id, lines) {
  const t = nodeTexts(id);
  for (let k = 0; k < t.length; k++) {
    let s = k < lines.length ? lines[k] : "";
    if (k === t.length - 1 && lines.length > t.length) s = lines.slice(k).join(" · ");
    if (t[k].textContent !== s) t[k].textContent = s;
  }
}
let label = null;
function edgeLabel(edge, text, step) {
  if (label) { label.remove(); label = null; }
  if (!edge || !text) return;
  const path = edge.querySelector("path");
  if (!path) return;
  const at = path.getPointAtLength(path.getTotalLength() / 2);
  // above the edge's middle; if that covers one of the two boxes, above both boxes
  const ends = [step.edgeNodes[0], step.edgeNodes[1]].map(function (id) {
    const g = document.getElementById(PREFIX + id);
    return g ? g.getBBox() : null;
  }).filter(Boolean);
  const ns = "http://www.w3.org/2000/svg";
  label = document.createElementNS(ns, "g");
  label.id = "edgelabel";
  const rect = document.createElementNS(ns, "rect");
  const t = document.createElementNS(ns, "text");
  t.textContent = text;
  t.setAttribute("x", at.x);
  t.setAttribute("y", at.y - 8);
  t.setAttribute("text-anchor", "middle");
  label.appendChild(rect);
  label.appendChild(t);
  path.ownerSVGElement.querySelector("g.graph").appendChild(label);
  let b = t.getBBox();
  const hits = ends.filter(function (e) {
    return b.x < e.x + e.width && e.x < b.x + b.width
      && b.y < e.y + e.height && e.y < b.y + b.height;
  });
  if (hits.length) {
    const top = Math.min.apply(null, hits.map(function (e) { return e.y; }));
    t.setAttribute("y", top - 6);
    b = t.getBBox();
  }
  rect.setAttribute("x", b.x - 4);
  rect.setAttribute("y", b.y - 2);
  rect.setAttribute("width", b.width + 8);
  rect.setAttribute("height", b.height + 4);
  rect.setAttribute("rx", 3);
}

const rows = Array.from(document.querySelectorAll("#steps tbody tr"));
const wrap = document.getElementById("tablewrap");
function rowIntoView(r) {
  const rr = r.getBoundingClientRect(), wr = wrap.getBoundingClientRect();
  const head = wrap.querySelector("thead").getBoundingClientRect().height;
  if (rr.top < wr.top + head) wrap.scrollTop -= wr.top + head - rr.top;
  else if (rr.bottom > wr.bottom) wrap.scrollTop += rr.bottom - wr.bottom;
}

function show(k) {
  current = Math.max(0, Math.min(STEPS.length - 1, k));
  const step = STEPS[current];
  const lines = {};
  for (let j = 0; j <= current; j++) Object.assign(lines, STEPS[j].set);
  Object.keys(lines).forEach(function (id) { setLines(id, lines[id]); });
  svg.querySelectorAll(".active, .recv, .update").forEach(function (e) {
    e.classList.remove("active", "recv", "update");
  });
  const lit = [];
  step.nodes.forEach(function (id) {
    const g = document.getElementById(PREFIX + id);
    if (g) { g.classList.add(step.phase === "update" ? "update" : "active"); lit.push(g); }
  });
  const recv = step.receiver && document.getElementById(PREFIX + step.receiver);
  if (recv) { recv.classList.add("recv"); lit.push(recv); }
  const edge = step.edge && document.getElementById(PREFIX + step.edge);
  if (edge) edge.classList.add("active");
  edgeLabel(edge, step.label, step);
  if (lit.length <= 2) follow(lit);  // one op, or a sender and its receiver
  rows.forEach(function (r, j) { r.classList.toggle("current", j === current); });
  rowIntoView(rows[current]);
  document.getElementById("counter").textContent =
    "Step " + (current + 1) + " / " + STEPS.length;
  const phase = document.getElementById("phase");
  phase.textContent = step.phase;
  phase.className = "tag " + step.phase;
  document.getElementById("title").textContent = step.title;
  const maths = document.getElementById("maths");
  maths.innerHTML = step.maths.map(function (m) { return "<div>" + m + "</div>"; }).join("");
  maths.title = step.text.join("\n");
  maths.classList.toggle("wrap", step.wrap);
  document.getElementById("prev").disabled = current === 0;
  document.getElementById("next").disabled = current === STEPS.length - 1;
}

document.getElementById("prev").addEventListener("click", function () { show(current - 1); });
document.getElementById("next").addEventListener("click", function () { show(current + 1); });
document.getElementById("zoomin").addEventListener("click", function () {
  zoomAt(1.25, pane.clientWidth / 2, pane.clientHeight / 2);
});
document.getElementById("zoomout").addEventListener("click", function () {
  zoomAt(0.8, pane.clientWidth / 2, pane.clientHeight / 2);
});
document.getElementById("zoomfit").addEventListener("click", fit);
document.addEventListener("keydown", function (e) {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const keys = {
    ArrowRight: function () { show(current + 1); },
    ArrowLeft: function () { show(current - 1); },
    Home: function () { show(0); },
    End: function () { show(STEPS.length - 1); },
    "+": function () { zoomAt(1.25, pane.clientWidth / 2, pane.clientHeight / 2); },
    "=": function () { zoomAt(1.25, pane.clientWidth / 2, pane.clientHeight / 2); },
    "-": function () { zoomAt(0.8, pane.clientWidth / 2, pane.clientHeight / 2); },
    "0": fit,
  };
  if (keys[e.key]) { keys[e.key](); e.preventDefault(); }
});
rows.forEach(function (r, j) { r.addEventListener("click", function () { show(j); }); });
pane.addEventListener("wheel", function (e) {
  e.preventDefault();
  const p = pane.getBoundingClientRect();
  zoomAt(Math.exp(-e.deltaY / 400), e.clientX - p.left, e.clientY - p.top);
}, { passive: false });
let drag = null;
pane.addEventListener("pointerdown", function (e) {
  if (e.target.closest("button")) return;
  drag = { x: e.clientX - tx, y: e.clientY - ty };
  pane.classList.add("dragging");
  pane.setPointerCapture(e.pointerId);
});
pane.addEventListener("pointermove", function (e) {
  if (!drag) return;
  tx = e.clientX - drag.x;
  ty = e.clientY - drag.y;
  place();
});
pane.addEventListener("pointerup", function () { drag = null; pane.classList.remove("dragging"); });
start();
show(0);
</script>
</body>
</html>
"""
