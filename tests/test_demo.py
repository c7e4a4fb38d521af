"""`gradflow demo` — the README's first command — writes what it promises and learns."""

import os
import re

import pytest

from gradflow.cli import main
from gradflow.commands.demo import output_dir

PROMISED = ["seed002_graph.svg", "seed002_player.html", "seed002_symbolic.txt",
            "mlp_curves.png", "mlp_confusion.png", "mlp_gradients.png",
            "cnn_curves.png", "cnn_confusion.png", "cnn_gradients.png"]  # fmt: skip


@pytest.mark.slow
def test_demo_writes_every_file_and_meets_the_accuracy_floors(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    for name in PROMISED:
        assert (out / name).stat().st_size > 0, name
        assert name in text  # listed at the end
    assert "every derivative matches the engine" in text
    assert "Δw211 = −γ ∂L/∂w211 = 0.7" in text
    mlp, cnn = (float(a) for a in re.findall(r"held-out test accuracy ([\d.]+) %", text))
    assert mlp >= 95.0 and cnn >= 97.0, (mlp, cnn)
    assert "samples/s" in text and "jit" in text


def test_output_dir_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = output_dir(None, force=False)
    (first / "x.txt").write_text("earlier result")
    second = output_dir(None, force=False)
    assert first.name == "gradflow-demo" and second.name == "gradflow-demo-2"
    with pytest.raises(FileExistsError, match="--force"):
        output_dir(first, force=False)
    assert output_dir(first, force=True) == first
    assert (first / "x.txt").read_text() == "earlier result"


def test_the_first_epoch_says_whether_numba_compiled_or_loaded_its_kernels():
    """The demo's first-epoch note: "compiling kernels once" only when numba compiled in
    the block, "kernels from the cache" when nothing did, and nothing for the graph
    backend."""
    import numba

    from gradflow.commands.demo import _compiles

    if numba.config.DISABLE_JIT:
        pytest.skip("numba's JIT is off: nothing compiles")
    fresh = numba.njit(lambda x: x * 3 + 1)
    with _compiles(True) as compiled:
        assert fresh(2) == 7
    assert compiled
    with _compiles(True) as compiled:
        assert fresh(3) == 10  # compiled already
    assert compiled == []
    with _compiles(False) as compiled:
        numba.njit(lambda x: x - 1)(1)
    assert compiled is None


def test_the_font_list_is_made_in_a_process_of_its_own_once(tmp_path, monkeypatch):
    """With matplotlib's cache folder empty, the demo starts one process that lists the
    fonts into it (the figures then find the list); with the list there, none."""
    import subprocess
    import sys
    import time

    import matplotlib

    from gradflow.commands import demo

    monkeypatch.setattr(matplotlib, "get_cachedir", lambda: str(tmp_path))
    started = []
    real = subprocess.Popen

    def popen(args, **kw):
        started.append(args)
        return real(args, env={**os.environ, "MPLCONFIGDIR": str(tmp_path)}, **kw)

    monkeypatch.setattr(subprocess, "Popen", popen)
    demo._font_list_meanwhile()
    assert len(started) == 1 and started[0][:2] == [sys.executable, "-I"]
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("fontlist-v*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob("fontlist-v*.json")), "the font list was not written"
    demo._font_list_meanwhile()
    assert len(started) == 1  # the list is there: nothing more


def test_importing_gradflow_visual_does_not_import_matplotlib():
    """The graph renderer and the step player need no matplotlib; the figures import it."""
    import subprocess
    import sys

    code = "import sys, gradflow.visual; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
