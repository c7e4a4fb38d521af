"""In Jupyter, a drawn graph and a plot show inline — with no system Graphviz on PATH."""

import os
import sys

import nbformat
from nbclient import NotebookClient

CELLS = [
    "from gradflow import visual\n"
    "from gradflow.examples import seed002_network\n"
    "loss = seed002_network()['L']",
    "visual.draw_graph(loss)",
    "from gradflow.visual import plots\nplots.plot_roc([0, 0.2, 1], [0, 0.8, 1], 0.8, path=None)",
]


def test_graph_and_plot_show_inline_in_a_notebook(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    env_path = os.path.dirname(sys.executable)  # the venv's bin (graphviz-pure), no system dot
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    monkeypatch.setenv("PATH", env_path)  # the kernel inherits it
    client.execute()
    graph_out = nb.cells[1].outputs[0]
    assert "image/svg+xml" in graph_out["data"]
    assert "y21 = ReLU(z21)" in graph_out["data"]["image/svg+xml"]
    plot_out = nb.cells[2].outputs[0]
    assert "image/png" in plot_out["data"], plot_out["data"].keys()
