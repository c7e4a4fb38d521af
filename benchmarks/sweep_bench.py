"""The double-descent sweep of seed 001 run serially and on a 2-worker Dask LocalCluster, in
the same run: end-to-end speed-up (cluster start-up included), the cluster's per-run
overhead, and — with ``--cache`` — the numba cache strategies for workers (one shared cache
filled by a first run that goes alone, versus a private cache directory per worker).

    python benchmarks/sweep_bench.py                   # 30 widths x 2 seeds x 1000 epochs, jit
    python benchmarks/sweep_bench.py --cache --plot docs/sweep_double_descent.png

Not a timed test: the numbers depend on the machine and on what else runs; the script prints
the load average before and after. Results go to docs/sweep.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def spread_widths(count: int, largest: int) -> list[int]:
    """``count`` different widths from 1 to ``largest``, evenly spread on a log scale."""
    points = count
    while True:
        widths = np.unique(np.geomspace(1, largest, points).round()).astype(int)
        if len(widths) >= count or points > 100 * count:
            return [int(w) for w in widths]
        points += 1


def noop(item, shared):
    return {"metrics": {"item": item}}


def numbers(rows):
    return [
        (
            r["key"],
            r["metrics"],
            [{k: v for k, v in e.items() if k != "seconds"} for e in r["history"]],
        )
        for r in rows
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", type=int, default=30)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--label-noise", type=float, default=0.15)
    p.add_argument("--max-width", type=int, default=300)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache", action="store_true", help="also compare numba cache strategies")
    p.add_argument("--plot", default=None, help="save the curve (PNG)")
    p.add_argument("--json", default=None, help="append the figures to this JSON-lines file")
    args = p.parse_args()

    from gradflow.sweep import double_descent

    widths = spread_widths(args.widths, args.max_width)
    seeds = list(range(args.seeds))
    runs = len(widths) * len(seeds)
    settings = dict(
        n_train=args.n_train, label_noise=args.label_noise, epochs=args.epochs, backend="jit"
    )
    print(f"{len(widths)} widths x {len(seeds)} seeds = {runs} runs, {os.cpu_count()} cores")
    print(f"load average before: {load()}")

    start = time.perf_counter()
    serial = double_descent(widths, seeds, **settings)
    t_serial = time.perf_counter() - start
    print(f"serial: {t_serial:.1f} s (load {load()})")

    start = time.perf_counter()
    parallel = double_descent(widths, seeds, executor="dask", workers=args.workers, **settings)
    t_dask = time.perf_counter() - start
    print(f"dask, {args.workers} workers, start-up included: {t_dask:.1f} s (load {load()})")
    same = numbers(serial.rows) == numbers(parallel.rows)
    print(f"speed-up {t_serial / t_dask:.2f}x; rows bit-identical to serial: {same}")

    figures = {
        "runs": runs,
        "serial_s": t_serial,
        "dask_s": t_dask,
        "speedup": t_serial / t_dask,
        "identical": same,
        "run_seconds_serial": sum(r["seconds"] for r in serial.rows),
        "run_seconds_dask": sum(r["seconds"] for r in parallel.rows),
    }
    figures.update(overhead(args.workers))
    if args.cache:
        figures.update(cache_strategies(args.workers, widths[:: max(len(widths) // 6, 1)]))
    figures["load_after"] = load()
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps(figures) + "\n")
    if args.plot:
        print("curve:", parallel.plot(args.plot))
        for point in parallel.curve:
            print(
                f"  width {point['hidden']:4d} ({point['parameters']:7.0f} parameters): "
                f"train error {point['train_error']:.3f}  test error {point['test_error']:.3f}"
            )


def overhead(workers: int, n: int = 200) -> dict:
    """Cluster start-up and close, and the round trip of a run that does nothing."""
    import distributed

    from gradflow.executors import local_cluster, run_tasks

    start = time.perf_counter()
    with local_cluster(workers) as cluster, distributed.Client(cluster) as client:
        started = time.perf_counter() - start
        list(run_tasks(noop, range(4), None, executor=client))  # imports on the workers
        t0 = time.perf_counter()
        list(run_tasks(noop, range(n), np.zeros(10), executor=client, warm_first=False))
        per_run = (time.perf_counter() - t0) * workers / n
        t1 = time.perf_counter()
    closed = time.perf_counter() - t1
    print(
        f"cluster start-up {started:.2f} s, close {closed:.2f} s; per-run overhead "
        f"{1000 * per_run:.1f} ms per worker ({n} empty runs)"
    )
    return {"startup_s": started, "close_s": closed, "per_run_overhead_ms": 1000 * per_run}


def cache_strategies(workers: int, widths: list[int]) -> dict:
    """From a cold numba cache: (a) one shared cache, the first run alone, then the rest; (b)
    a private cache directory per worker, all runs at once. Each in a fresh cluster."""
    import distributed
    from distributed import Nanny, Scheduler, SpecCluster

    from gradflow.executors import WORKER_ENV
    from gradflow.sweep import sweep

    configs = [
        {"dataset": "digits", "hidden": w, "seed": s, "epochs": 20, "backend": "jit"}
        for w in widths
        for s in range(2)
    ]
    out = {}
    for strategy in ("shared, first run alone", "private per worker"):
        with tempfile.TemporaryDirectory() as root:
            os.chmod(root, 0o700)
            shared = strategy.startswith("shared")
            specs = {}
            for i in range(workers):
                cache = os.path.join(root, "shared" if shared else f"worker-{i}")
                os.makedirs(cache, mode=0o700, exist_ok=True)
                env = {**WORKER_ENV, "NUMBA_CACHE_DIR": cache}
                specs[f"w{i}"] = {"cls": Nanny, "options": {"nthreads": 1, "env": env}}
            start = time.perf_counter()
            cluster = SpecCluster(
                workers=specs,
                scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}},
                silence_logs=40,
            )
            with cluster, distributed.Client(cluster) as client:
                rows = sweep(configs, executor=client, warm_first=shared)
            took = time.perf_counter() - start
            cpu = sum(r["seconds"] for r in rows)
            files = sum(len(fs) for _, _, fs in os.walk(root))
            ok = all(r["status"] == "ok" for r in rows)
        print(
            f"cold cache, {strategy}: {took:.1f} s wall, {cpu:.1f} s in runs, {files} cache "
            f"files, all ok: {ok} (load {load()})"
        )
        out[f"cache_{'shared' if shared else 'private'}_s"] = took
        out[f"cache_{'shared' if shared else 'private'}_run_s"] = cpu
    return out


if __name__ == "__main__":  # the workers are spawned processes: they import this file
    main()
