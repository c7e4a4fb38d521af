"""``gradflow bench`` runs and reports in the documented format (no timing is asserted)."""

import json

from gradflow.benchmarks import markdown_table
from gradflow.cli import main


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


def test_bench_rounds_take_turns_and_report_each_ratio(capsys):
    assert main(["bench", "--json", "--rounds", "2", "--workloads", "W4b"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    row = result["workloads"]["W4b"]
    assert result["machine"]["rounds"] == 2 and len(row["round_speedups"]) == 2
    lo, hi = min(row["round_speedups"]), max(row["round_speedups"])
    # the ratio of two-round medians (means) lies between the two rounds' ratios
    assert lo * (1 - 1e-9) <= row["speedup"] <= hi * (1 + 1e-9)
