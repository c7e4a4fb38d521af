"""``gradflow bench``: the W1–W7 benchmark (jit backend vs PyTorch eager, NumPy by hand and
micrograd).

The harness is not installed with the library (460 lines that only developers run): it is
``benchmarks/harness.py`` of the source checkout. This command finds it there — next to the
``gradflow`` package it runs from, when that folder is a gradflow checkout — or where
``GRADFLOW_BENCHMARKS`` points, and never in the current directory (running a ``harness.py``
that happens to lie in whatever folder the user is in would run a stranger's code).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from pathlib import Path

from ..errors import UsageError
from .arguments import positive_int
from .report import json_text


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the jitted backend against PyTorch and micrograd")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--workloads", default="", help="comma-separated subset, e.g. W1,W4b")
    p.add_argument("--quick", action="store_true", help="few steps per workload (a smoke run)")
    p.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        help="turns gradflow, PyTorch and NumPy take per workload (default 3)",
    )
    p.add_argument("--cold", action="store_true",
                   help="also time each jit workload's first step in a fresh process with "
                        "an empty numba cache (compiles every kernel: seconds each)")  # fmt: skip
    p.set_defaults(func=run)


HARNESS_MODULE = "gradflow_bench_harness"
ENV = "GRADFLOW_BENCHMARKS"


def harness_path() -> Path:
    """``benchmarks/harness.py`` of the checkout gradflow runs from (or in the folder
    ``$GRADFLOW_BENCHMARKS`` names)."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV]) / "harness.py"
        if not path.is_file():
            raise UsageError(f"{ENV}={os.environ[ENV]}: no harness.py there")
        return path
    checkout = Path(__file__).resolve().parents[2]
    try:
        project = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
        is_gradflow = project.get("project", {}).get("name") == "gradflow"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        is_gradflow = False
    path = checkout / "benchmarks" / "harness.py"
    if not (is_gradflow and path.is_file()):
        raise UsageError(
            "the benchmark harness comes with gradflow's source, not with the installed "
            "package: clone the repository and `pip install -e .` there, or set "
            f"{ENV} to its benchmarks/ folder"
        )
    return path


def load_by_path(module_name: str, path):
    """The module at ``path`` as ``module_name``, loaded once per process (the benchmarks
    folder is not a package and not on ``sys.path``); a module that fails to load is not
    left half-made in ``sys.modules``."""
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return sys.modules[module_name]


def load_harness():
    """The harness module, loaded once per process by path."""
    if HARNESS_MODULE in sys.modules:
        return sys.modules[HARNESS_MODULE]
    return load_by_path(HARNESS_MODULE, harness_path())


def run(args) -> int:
    harness = load_harness()
    FLOORS, markdown_table, run_benchmarks = harness.FLOORS, harness.markdown_table, harness.run

    keys = [k.strip() for k in args.workloads.split(",") if k.strip()] or None
    unknown = sorted(set(keys or []) - set(FLOORS))
    if unknown:
        raise UsageError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(FLOORS)}")
    result = run_benchmarks(
        keys,
        quick=args.quick,
        log=lambda m: print(m, file=sys.stderr),
        rounds=args.rounds,
        cold=args.cold,
    )
    if args.json:
        print(json_text(result))
    else:
        print(markdown_table(result))
    return 0
