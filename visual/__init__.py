"""gradflow.visual: pictures of gradflow graphs and training runs (``from gradflow import visual``;
the repository keeps the code in its top-level ``visual/`` folder).

* :func:`draw_graph` / :func:`render_graph` — a computation graph with values, gradients,
  local derivatives; collapsible layers; SVG/PNG/DOT with a renderer that needs no system
  Graphviz (see :mod:`gradflow.visual.render`).
* :func:`write_frames` / :func:`write_player` / :func:`player` — backprop step by step, as
  SVG frames, as one self-contained HTML page, and inline in a Jupyter cell.
* :func:`draw_unrolled` — an RNN/LSTM/GRU as T copies of its cell with shared weights, the
  BPTT gradient norm reaching each copy as a bar under it.
* :mod:`gradflow.visual.plots` — the course's matplotlib figures (activations, optimizers, metrics).
"""

from .graph import draw_graph, render_graph
from .player import player, write_frames, write_player
from .render import find_renderer
from .unrolled import draw_unrolled

__all__ = [
    "draw_graph",
    "draw_unrolled",
    "find_renderer",
    "player",
    "render_graph",
    "write_frames",
    "write_player",
]
