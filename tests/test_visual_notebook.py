"""In Jupyter, a drawn graph, a plot, the step player and gradflow's objects show inline —
with no system Graphviz on PATH."""

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
    "from gradflow import backward_steps\nbackward_steps(loss)",
    "visual.player(loss, lr=0.001)",
    "loss.backward()\nseed002 = seed002_network()\nloss",
    "visual.draw_graph(loss).render(outfile='graph.svg')",
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
    steps = nb.cells[3].outputs[0]["data"]  # a table, not a list of BackwardStep(...)
    assert "<table" in steps["text/html"] and "BackwardStep(" not in steps["text/plain"]
    assert "y21" in steps["text/html"] and "-700" in steps["text/html"]
    player = nb.cells[4].outputs[0]["data"]["text/html"]
    assert player.startswith("<iframe srcdoc=") and "Backprop step by step" in player
    value = nb.cells[5].outputs[0]["data"]
    assert "Value L" in value["text/html"] and value["text/latex"] == "$L = 25$"
    written = nb.cells[6].outputs[0]["data"]["text/plain"]  # Drawing.render(): no system dot
    assert written == "'graph.svg'" and (tmp_path / "graph.svg").read_text().startswith("<")
