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


def test_the_cnn_kernels_are_compiled_ahead_only_on_a_cold_cache(monkeypatch):
    """On a cold cache (no convolution kernel in it) the demo starts one process for the
    CNN's kernels and sends it the seed down its pipe; with the kernels cached, where the
    cache cannot be read, or where no helper may run, none."""
    from gradflow.commands import demo
    from gradflow.kernels import helper

    class Pipe:
        def __init__(self):
            self.data, self.closed = b"", False

        def write(self, data):
            self.data += data

        def close(self):
            self.closed = True

    started = []

    def spawn(module, function, stdout=None):
        proc = type("Proc", (), {"stdin": Pipe()})()
        started.append((module, function, proc))
        return proc

    monkeypatch.setattr(helper, "spawn", spawn)
    monkeypatch.setattr(helper, "available", lambda: True)
    monkeypatch.setattr(demo._Ahead, "proc", None)
    for cached in (True, None):
        monkeypatch.setattr(helper, "cache_has", lambda d, cached=cached: cached)
        demo._cnn_kernels_meanwhile(7)
        assert started == []
    monkeypatch.setattr(helper, "cache_has", lambda d: False)
    demo._cnn_kernels_meanwhile(7)
    [(module, function, proc)] = started
    assert (module, function) == ("gradflow.commands.demo", "_compile_cnn_kernels")
    assert proc.stdin.data == b"7\n" and proc.stdin.closed and demo._Ahead.proc is proc
    monkeypatch.setattr(helper, "available", lambda: False)
    demo._cnn_kernels_meanwhile(7)
    assert len(started) == 1


def test_a_process_that_compiles_ahead_starts_no_helper_and_no_background(monkeypatch):
    """twins.leaves_only: no helper may start (not even armed) and a step's end starts no
    background compile, though the step ran compositions as Python."""
    from gradflow.kernels import helper, twins

    for name in ("forbidden", "armed", "proc"):
        monkeypatch.setattr(helper._State, name, getattr(helper._State, name))
    monkeypatch.setattr(twins._State, "started", twins._State.started)
    monkeypatch.setattr(twins._State, "dirty", True)
    monkeypatch.setattr(twins, "_start", lambda work: pytest.fail("a background compile"))
    monkeypatch.setattr(helper, "start", lambda: pytest.fail("a helper"))
    twins.leaves_only()
    assert not helper.available()
    helper.arm()
    assert not helper.armed()
    twins.after_step()


@pytest.mark.slow
def test_the_cnn_compiled_ahead_trains_its_first_step_without_compiling(tmp_path):
    """The compile-ahead process, run for real on an empty private cache, leaves every
    kernel of the demo CNN's first training step and evaluation there: a new process
    running them loads them all and compiles nothing."""
    import subprocess
    import sys

    from gradflow.kernels import helper

    if not helper.available():
        pytest.skip("no compile helper here (one core, no disk cache or no JIT)")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    ahead = "from gradflow.commands.demo import _compile_cnn_kernels as f; f()"
    done = subprocess.run([sys.executable, "-c", ahead], input="0\n", env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    check = (
        "from gradflow.commands.demo import _compile_cnn_kernels, _compiles\n"
        "with _compiles(True) as compiled:\n"
        "    _compile_cnn_kernels()\n"
        "print(len(compiled))\n"
    )
    done = subprocess.run([sys.executable, "-c", check], input="0\n", env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0", "kernels compiled after the compile-ahead"
