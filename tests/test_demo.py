"""`gradflow demo` — the README's first command — writes what it promises and learns."""

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
