"""``gradflow bench``: the W1–W5 benchmark (jit backend vs PyTorch eager / micrograd)."""

from __future__ import annotations

import sys

from ..errors import UsageError
from .arguments import positive_int
from .report import json_text


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the jitted backend against PyTorch and micrograd")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--workloads", default="", help="comma-separated subset, e.g. W1,W4b")
    p.add_argument("--quick", action="store_true", help="few steps per workload (a smoke run)")
    p.add_argument("--rounds", type=positive_int, default=3,
                   help="turns gradflow and PyTorch take per workload (default 3)")  # fmt: skip
    p.set_defaults(func=run)


def run(args) -> int:
    from ..benchmarks import FLOORS, markdown_table
    from ..benchmarks import run as run_benchmarks

    keys = [k.strip() for k in args.workloads.split(",") if k.strip()] or None
    unknown = sorted(set(keys or []) - set(FLOORS))
    if unknown:
        raise UsageError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(FLOORS)}")
    result = run_benchmarks(
        keys, quick=args.quick, log=lambda m: print(m, file=sys.stderr), rounds=args.rounds
    )
    if args.json:
        print(json_text(result))
    else:
        print(markdown_table(result))
    return 0
