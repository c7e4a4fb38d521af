"""Where should the update rules switch from the serial to the parallel compile?

Times one update (median µs) of float32 Adam and momentum over flat buffers of 1k..1M
entries, serial and ``parallel=True`` (threads: ``NUMBA_NUM_THREADS``, default all cores),
as :func:`gradflow.kernels.update.rule_for` runs them. The numbers in ``rule_for``'s
docstring come from this script: ``python benchmarks/rule_threshold.py``.
"""

from __future__ import annotations

import time

import numpy as np

from gradflow.kernels.update import compile_rule
from gradflow.optim import rules

SIZES = [1 << 10, 1 << 12, 1 << 14, 17226, 1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 20]


def median_us(fn, args, budget_s: float = 0.3) -> float:
    fn(*args)
    times = []
    end = time.perf_counter() + budget_s
    while time.perf_counter() < end or len(times) < 20:
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    cases = {
        "adam": (rules.adam, 2, (3, 1e-3, 0.9, 0.999, 1e-8, 0.0)),
        "momentum": (rules.momentum, 1, (0.05, 0.9, 0.0)),
    }
    print(f"{'rule':9s} {'size':>8s} {'serial':>9s} {'parallel':>9s}")
    for name, (rule, n_state, hp) in cases.items():
        serial, parallel = compile_rule(rule, False), compile_rule(rule, True)
        for n in SIZES:
            p, g = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
            state = [np.abs(rng.standard_normal(n)).astype(np.float32) for _ in range(n_state)]
            args = (p, g, *state, *hp)
            s, q = median_us(serial, args), median_us(parallel, args)
            print(f"{name:9s} {n:8d} {s:9.1f} {q:9.1f}")


if __name__ == "__main__":
    main()
