"""``gradflow bench`` runs and reports in the documented format (no timing is asserted)."""

import json
import sys

import pytest

from gradflow.cli import main
from gradflow.commands.bench import load_harness

benchmarks = load_harness()  # benchmarks/harness.py: found by path, it is not installed
markdown_table = benchmarks.markdown_table


def test_bench_json_last_line(capsys):
    assert main(["bench", "--json", "--quick", "--workloads", "W1,W5"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["machine"]["peak_gflops"] > 0
    w1 = result["workloads"]["W1"]
    for key in ("gradflow_ms", "torch_ms", "speedup", "first_step_s", "graph_ms"):
        assert key in w1
    assert w1["gradflow_ms"] > 0 and w1["first_step_s"] > 0
    assert w1["threads"] in range(1, result["machine"]["threads"] + 1)
    assert result["machine"]["rounds"] == 1  # --quick: one turn each
    assert result["workloads"]["W5"]["gradflow_ms"] > 0
    table = markdown_table(result)
    assert table.splitlines()[0].startswith("| workload |") and "W1 mlp_digits" in table


def test_bench_rejects_unknown_workloads(capsys):
    assert main(["bench", "--workloads", "W9"]) == 2
    assert "unknown workload" in capsys.readouterr().err


def test_bench_rounds_take_turns_and_report_medians_of_rounds(monkeypatch):
    """Each round runs gradflow then the baseline; times are medians of the round medians.
    (Fake runners: the real ones are timed, and torch is not a test dependency.)"""
    calls = []
    ours = iter([3.0, 1.0, 2.0])
    theirs = iter([9.0, 8.0, 4.0])

    def fake_gradflow(w, x, y, backend, limit):
        calls.append("gradflow")
        return benchmarks.Timing(next(ours), 0.5, 10, threads=2)

    def fake_torch(w, x, y, limit):
        calls.append("torch")
        return benchmarks.Timing(next(theirs), 0.1, 10, p90_s=10.0)

    def fake_numpy(w, x, y, limit):
        calls.append("numpy")
        return benchmarks.Timing(next(by_hand), 0.1, 10)

    by_hand = iter([6.0, 2.0, 4.0])
    monkeypatch.setattr(benchmarks, "run_gradflow", fake_gradflow)
    monkeypatch.setattr(benchmarks, "run_torch", fake_torch)
    monkeypatch.setattr(benchmarks, "run_numpy", fake_numpy)
    monkeypatch.setattr(benchmarks, "matmul_peak_gflops", lambda: 100.0)
    monkeypatch.setattr(benchmarks, "_have_torch", lambda: True)
    result = benchmarks.run(["W4b"], rounds=3)
    row = result["workloads"]["W4b"]
    assert calls == ["gradflow", "torch", "numpy"] * 3
    assert result["machine"]["rounds"] == 3
    assert row["gradflow_ms"] == 2000.0 and row["torch_ms"] == 8000.0 and row["speedup"] == 4.0
    assert row["round_speedups"] == [3.0, 8.0, 2.0]
    assert row["torch_p90_ms"] == 10000.0 and row["gradflow_p90_ms"] is None
    assert row["numpy_ms"] == 4000.0 and row["numpy_speedup"] == 2.0
    assert row["numpy_round_speedups"] == [2.0, 2.0, 2.0]
    assert row["first_step_s"] == 0.5 and row["threads"] == 2
    assert row["first_step_cache"] == "as found" and row["warm_first_step_s"] == 0.5


def test_the_harness_is_not_installed_and_is_never_taken_from_the_current_folder(
    tmp_path, monkeypatch, capsys
):
    """A `benchmarks/harness.py` in the folder the user stands in is not run (it could be
    anyone's); without a checkout the command says where the harness comes from."""
    import sys

    import gradflow.commands.bench as bench

    planted = tmp_path / "benchmarks"
    planted.mkdir()
    (planted / "harness.py").write_text("raise SystemExit('planted harness ran')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, bench.HARNESS_MODULE, raising=False)
    monkeypatch.delenv(bench.ENV, raising=False)
    # pretend gradflow runs from an installed copy: no checkout next to the package
    installed = tmp_path / "site" / "gradflow" / "commands" / "bench.py"
    monkeypatch.setattr(bench, "__file__", str(installed))
    assert main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "comes with gradflow's source" in err and "GRADFLOW_BENCHMARKS" in err
    monkeypatch.setenv(bench.ENV, str(tmp_path / "nowhere"))
    assert main(["bench", "--quick"]) == 2
    assert "no harness.py there" in capsys.readouterr().err


def test_microcode_row_says_not_available_without_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks, "_HERE", tmp_path)
    monkeypatch.delitem(sys.modules, "gradflow_bench_microcode", raising=False)
    row = benchmarks.microcode_in_this_process(limit=3)
    assert row["gradflow_ms"] is None and row["speedup"] is None
    assert "microcode.py is not there" in row["not_available"]
    machine = {"cpu": "x", "cores": 2, "threads": 2, "numpy": "2", "numba": "0", "peak_gflops": 1}
    result = {"machine": machine, "workloads": {"W5m": row | {"floor": 10.0}}}
    assert "W5m: not available" in markdown_table(result)


def test_microcode_row_runs_the_step_with_each_value_class(tmp_path, monkeypatch):
    """``microcode_step(value_cls)`` is called with gradflow's Value and (when micrograd is
    installed) micrograd's, the latter once with the cyclic collector off."""
    import gc

    (tmp_path / "microcode.py").write_text(
        "import gc\n"
        "SEEN = []\n"
        "def microcode_step(value_cls):\n"
        "    def step(k):\n"
        "        SEEN.append((value_cls.__module__, gc.isenabled()))\n"
        "        return (value_cls(2.0) * value_cls(3.0)).data\n"
        "    return step\n"
    )
    monkeypatch.setattr(benchmarks, "_HERE", tmp_path)
    monkeypatch.delitem(sys.modules, "gradflow_bench_microcode", raising=False)
    row = benchmarks.microcode_in_this_process(limit=3)
    seen = sys.modules["gradflow_bench_microcode"].SEEN
    assert row["gradflow_ms"] > 0 and gc.isenabled()
    assert ("gradflow.value", True) in seen
    if benchmarks._micrograd()[0] is not None:
        assert ("micrograd.engine", True) in seen and ("micrograd.engine", False) in seen
        assert row["micrograd_ms"] > 0 and row["micrograd_nogc_speedup"] > 0


def test_microcode_row_is_timed_in_a_fresh_process(monkeypatch):
    """W5m runs in a process of its own: what the benchmark process holds (PyTorch's objects)
    would change what Python's cycle collector costs gradflow there."""
    calls = []

    def fake(what, code, env=None, first=""):
        calls.append(code)
        return {"name": "microcode"}

    monkeypatch.setattr(benchmarks, "_in_subprocess", fake)
    assert benchmarks.run_microcode(limit=3, rounds=2) == {"name": "microcode"}
    assert calls == ["print(json.dumps(m.microcode_in_this_process(3, 2)))"]


@pytest.mark.slow
def test_cold_first_step_runs_in_a_fresh_process_with_a_private_cache_it_removes(tmp_path):
    import os
    import tempfile

    before = set(os.listdir(tempfile.gettempdir()))
    cold = benchmarks.run_cold("W7")
    assert cold["import_s"] > 0 and cold["first_step_s"] > 0
    left = {n for n in set(os.listdir(tempfile.gettempdir())) - before if "bench-cold" in n}
    assert not left
