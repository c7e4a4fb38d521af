"""Parallel kernels start as serial twins (gradflow.kernels.twins): the twin computes the
bit-identical result, so switching to the parallel kernel once a background process has
compiled it changes nothing but the speed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gradflow import nn
from gradflow.jit import make_stepper
from gradflow.kernels import cachedir, twins
from gradflow.nn.models import SequenceModel
from gradflow.optim.optimizers import Adam

pytestmark = pytest.mark.skipif(
    not twins.KERNELS, reason="no twins without numba's JIT and a disk cache"
)


def _models():
    """One model per family of parallel kernels: the two-thread Linear stack and split
    Linear, conv (+ max-pool fused, and alone), average pooling, batch norm, a large
    activation map that is not fused, an LSTM."""
    f32 = np.float32
    yield "mlp", lambda: nn.Sequential(
        nn.Linear(300, 600, seed=1, dtype=f32), nn.ReLU(), nn.Linear(600, 40, seed=2, dtype=f32),
        nn.ReLU(), nn.Linear(40, 3, seed=3, dtype=f32),
    ), (64, 300)  # fmt: skip
    yield "cnn", lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, seed=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, seed=2),
        nn.GELU(), nn.AvgPool2d(2), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3, seed=3),
    ), (8, 2, 14, 14)  # fmt: skip
    yield "lstm", lambda: SequenceModel("lstm", 5, 16, 3, seed=0), (8, 7, 5)
    # a small MLP trains in one fused call (stack_train_softmax_ce), whose twin is the
    # composition of its three kernels, made from Python
    yield (
        "small mlp",
        lambda: nn.Sequential(
            nn.Linear(6, 8, seed=1, dtype=f32), nn.Tanh(), nn.Linear(8, 3, seed=2, dtype=f32)
        ),
        (8, 6),
    )


@pytest.mark.parametrize(
    ("name", "build", "shape"), list(_models()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_serial_twins_train_bit_identically_to_the_parallel_kernels(
    name, build, shape, monkeypatch
):
    monkeypatch.setenv("GRADFLOW_BACKGROUND_COMPILE", "0")
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=shape) for _ in range(3)]
    ys = [rng.integers(0, 3, shape[0]) for _ in range(3)]

    def train(serial: bool):
        model = build()
        stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01),
                               threads=2)  # fmt: skip
        if serial:
            with twins.serial_only():
                losses = [stepper.train_batch(x, y) for x, y in zip(xs, ys)]
        else:
            stepper.train_batch(xs[0], ys[0])  # the twins ran: compile their parallel forms
            model = build()
            stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01),
                                   threads=2)  # fmt: skip
            twins.compile_all_here()
            losses = [stepper.train_batch(x, y) for x, y in zip(xs, ys)]
        return losses, [p.data.copy() for p in model.parameters()]

    serial_losses, serial_params = train(serial=True)
    parallel_losses, parallel_params = train(serial=False)
    used = [k.__name__ for k in twins.KERNELS if k.ready and k.parallel.signatures]
    assert used, "no parallel kernel ran"
    if name == "small mlp":
        assert "stack_train_softmax_ce" in used
    if name == "mlp":
        assert {"stack_forward_halves", "stack_backward_halves"} <= set(used)
    if name == "lstm":
        assert {"lstm_forward", "lstm_backward"} <= set(used)
    assert serial_losses == parallel_losses
    for a, b in zip(serial_params, parallel_params):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_cold_start_trains_on_twins_and_switches_to_parallel_kernels_compiled_elsewhere(
    tmp_path,
):
    """Empty private cache: the first step compiles only serial twins; a background process
    compiles the parallel kernels into the cache; this process loads them (compiling none
    itself) and uses them."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    script = textwrap.dedent(
        """
        import time, numpy as np
        from gradflow import nn
        from gradflow.jit import make_stepper
        from gradflow.kernels import twins
        model = nn.Sequential(nn.Conv2d(1, 3, 3, seed=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(3 * 3 * 3, 2, seed=2))
        stepper = make_stepper(model, "cross_entropy", threads=2)
        x, y = np.ones((4, 1, 8, 8)), np.array([0, 1, 0, 1])
        stepper.train_batch(x, y)
        conv = [k for k in twins.KERNELS if k.__name__ == "conv_pool_forward"][0]
        assert not conv.ready and conv.serial.signatures, "the first step ran the twin"
        deadline = time.time() + 300
        while not conv.ready and time.time() < deadline:
            stepper.train_batch(x, y)
            time.sleep(0.05)
        assert conv.ready, "the parallel kernel never arrived"
        stepper.train_batch(x, y)
        assert not conv.parallel._cache_misses, "compiled here instead of loading"
        print("switched", twins._State.started)
        """
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), GRADFLOW_BACKGROUND_COMPILE="1")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "switched 1" in done.stdout


def test_without_a_disk_cache_there_are_no_twins(monkeypatch):
    monkeypatch.setattr(cachedir, "disk_cache_enabled", lambda: False)
    kernel = twins.parallel_kernel(error_model="numpy")(lambda a: a)
    assert not isinstance(kernel, twins.ParallelKernel)
