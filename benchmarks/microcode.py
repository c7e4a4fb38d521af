"""Plain ``Value`` code: micrograd's own demo with any micrograd-compatible ``Value`` class.

micrograd's ``nn.py`` builds a neuron from one node per ``*`` and ``+``
(``sum((wi*xi for wi, xi in zip(self.w, x)), self.b)``), so one step of its moons demo,
MLP(2, [16, 16, 1]) on 100 points with the SVM max-margin loss and L2 1e-4, makes ~65k nodes.
The classes below are written in that style (not copied) and take the ``Value`` class as an
argument, so the same code runs on micrograd's ``Value`` and on gradflow's: that is what a
student does who swaps one for the other.

``microcode_step(value_cls)`` returns ``step(k)`` (forward, zero_grad, backward, update) for
``gradflow bench``'s W5 microcode row. Run this file to compare gradflow with micrograd
(collector on, as users run it, and off) in one process, taking turns::

    python benchmarks/microcode.py [--rounds 5] [--steps 8] [--chain 1000000]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable


def micrograd_style_mlp(value_cls: type) -> type:
    """micrograd's Neuron/Layer/MLP over ``value_cls``; returns the MLP class."""

    class Module:
        def zero_grad(self):
            for p in self.parameters():
                p.grad = 0

        def parameters(self):
            return []

    class Neuron(Module):
        def __init__(self, nin, nonlin=True):
            self.w = [value_cls(random.uniform(-1, 1)) for _ in range(nin)]
            self.b = value_cls(0)
            self.nonlin = nonlin

        def __call__(self, x):
            act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
            return act.relu() if self.nonlin else act

        def parameters(self):
            return self.w + [self.b]

    class Layer(Module):
        def __init__(self, nin, nout, **kwargs):
            self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

        def __call__(self, x):
            out = [n(x) for n in self.neurons]
            return out[0] if len(out) == 1 else out

        def parameters(self):
            return [p for n in self.neurons for p in n.parameters()]

    class MLP(Module):
        def __init__(self, nin, nouts):
            sz = [nin, *nouts]
            last = len(nouts) - 1
            self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != last) for i in range(len(nouts))]

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

        def parameters(self):
            return [p for layer in self.layers for p in layer.parameters()]

    return MLP


def _moons(seed: int = 1337):
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=100, noise=0.1, random_state=seed)
    return x, y * 2 - 1


def microcode_step(value_cls: type, seed: int = 1337) -> Callable[[int], float]:
    """micrograd's moons demo on ``value_cls``: ``step(k)`` runs forward (SVM max-margin
    loss + 1e-4 L2 over the full batch), ``zero_grad``, ``backward`` and the SGD update with
    micrograd's schedule lr = 1 − 0.9·k/100, and returns the loss."""
    random.seed(seed)
    model = micrograd_style_mlp(value_cls)(2, [16, 16, 1])
    x, y = _moons(seed)

    def forward():
        inputs = [list(map(value_cls, row)) for row in x]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        return data_loss + reg_loss

    def step(k: int) -> float:
        total = forward()
        model.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
        return total.data

    step.forward = forward  # type: ignore[attr-defined]  # forward-only timing
    return step


def chain_backward_s(value_cls: type, n: int) -> float:
    """Seconds for ``backward()`` of a chain of ``n`` op nodes, y = ((x·w)·w)·…·w (built
    untimed; micrograd's recursive topological sort needs a recursion limit above ``n``)."""
    x, w = value_cls(0.5), value_cls(1.0 - 1e-7)
    y = x
    for _ in range(n):
        y = y * w
    t = time.perf_counter()
    y.backward()
    return time.perf_counter() - t


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call (CPU time is steadier on a shared machine)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def _median_ms(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``n`` calls after one warm-up call."""
    fn()
    runs = [_timed(fn) for _ in range(n)]
    return tuple(statistics.median(r[k] for r in runs) * 1e3 for k in (0, 1))


def compare(rounds: int, steps: int, chain: int) -> dict[str, float]:
    """Medians over ``rounds`` turns of gradflow, micrograd (gc on), micrograd (gc off)."""
    from micrograd.engine import Value as MValue

    from gradflow import Value

    sides: dict[str, tuple[type, bool]] = {
        "gradflow": (Value, True),
        "micrograd": (MValue, True),
        "micrograd gc off": (MValue, False),
    }
    step_ms: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    fwd_ms: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    for _ in range(rounds):
        for name, (cls, collector) in sides.items():
            step = microcode_step(cls)
            counter = iter(range(10**9))
            if not collector:
                gc.disable()
            try:
                step_ms[name].append(_median_ms(lambda s=step: s(next(counter) % 100), steps))
                fwd_ms[name].append(_median_ms(step.forward, steps))
            finally:
                gc.enable()
    out = {}
    for name in sides:
        for what, runs in (("step", step_ms[name]), ("forward", fwd_ms[name])):
            out[f"{name} {what} ms"] = statistics.median(r[0] for r in runs)
            out[f"{name} {what} CPU ms"] = statistics.median(r[1] for r in runs)
    if chain:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
        out[f"gradflow chain {chain} backward s"] = chain_backward_s(Value, chain)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--chain", type=int, default=1_000_000)
    a = ap.parse_args(argv)
    res = compare(a.rounds, a.steps, a.chain)
    for k, v in res.items():
        print(f"{k:>36}: {v:9.1f}")
    for unit in ("", " CPU"):
        g = res[f"gradflow step{unit} ms"]
        for other in ("micrograd", "micrograd gc off"):
            ratio = res[f"{other} step{unit} ms"] / g
            print(f"{f'speed-up over {other}{unit}':>36}: {ratio:9.2f}×")


if __name__ == "__main__":
    main()
