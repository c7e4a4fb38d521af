"""Median time of the graph backend's ``Optimizer.step`` on the digits MLP (64-128-64-10).

The gradients are fixed arrays, so this times the update alone (the rules compiled by
:func:`gradflow.kernels.update.rule_for`, per parameter), not the graph's backprop:
``python benchmarks/graph_optimizer_step.py``.
"""

from __future__ import annotations

import time

import numpy as np

from gradflow.nn import models
from gradflow.optim import OPTIMIZERS


def median_us(fn, repeats: int = 2000) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def main() -> None:
    for dtype in (np.float32, np.float64):
        for name in ("adam", "momentum", "sgd"):
            model = models.mlp([64, 128, 64, 10], "relu", seed=0)
            params = model.parameters()
            for p in params:
                p.data = p.data.astype(dtype)
            opt = OPTIMIZERS[name](params, lr=1e-3)
            rng = np.random.default_rng(0)
            grads = [rng.standard_normal(p.data.shape).astype(dtype) for p in params]

            def step(params=params, grads=grads, opt=opt):
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()

            step()  # compiles, or loads numba's cache
            print(f"{name:9s} {np.dtype(dtype).name}: {median_us(step):7.1f} µs")


if __name__ == "__main__":
    main()
