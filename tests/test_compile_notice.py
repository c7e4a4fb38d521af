"""While the first jitted batch compiles, the progress bar says so instead of an ETA."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from tqdm import tqdm

from gradflow import nn
from gradflow.jit import make_stepper
from gradflow.training import loop


class _SlowFirstStep:
    """A stepper whose first batch takes ``first`` seconds, as a cold numba cache does."""

    def __init__(self, first: float):
        self.first, self.steps = first, 0

    @property
    def warm(self) -> bool:
        return self.steps > 0

    def compile_estimate(self) -> float:
        return 17.0

    def train_batch(self, xb, yb) -> float:
        time.sleep(self.first if self.steps == 0 else 0.0)
        self.steps += 1
        return 1.0


def _first_batch(monkeypatch, first: float) -> tuple[str, tqdm]:
    monkeypatch.setattr(loop.CompileNotice, "DELAY", 0.05)
    out = io.StringIO()
    bar = tqdm(total=10, file=out, mininterval=0)
    stepper = _SlowFirstStep(first)
    with loop.CompileNotice(bar, stepper.compile_estimate(), "epoch 1"):
        stepper.train_batch(None, None)
    bar.update(1)
    return out.getvalue(), bar


def test_a_slow_first_batch_is_announced_as_compiling_and_the_clock_restarts(monkeypatch):
    text, bar = _first_batch(monkeypatch, 0.4)
    assert "compiling kernels once, ~15 s" in text  # 17 s rounded to a multiple of 5
    assert bar.n == 1 and bar.format_dict["elapsed"] < 0.3  # reset after the compile


def test_after_the_compile_the_bar_counts_batches_under_the_epoch_not_the_notice(monkeypatch):
    """When the first batch is done, the redraw after the compile says the epoch: it used to
    redraw "compiling kernels once, ~2 s: 0%" with a fresh clock, the last line a log kept."""
    text, bar = _first_batch(monkeypatch, 0.4)
    drawn = [line for line in text.split("\r") if line.strip()]
    assert any(line.startswith("compiling kernels once") for line in drawn)
    assert drawn[-1].startswith("epoch 1:")  # the reset after the compile redraws it so


def test_a_fast_first_batch_says_nothing(monkeypatch):
    text, bar = _first_batch(monkeypatch, 0.0)
    assert "compiling" not in text and bar.n == 1


@pytest.mark.parametrize(("seconds", "shown"), [(0.2, 1), (4.6, 5), (9.4, 9), (17.0, 15), (23, 25)])
def test_estimates_read_as_estimates(seconds, shown):
    assert loop._round_estimate(seconds) == shown


def test_the_jit_stepper_is_cold_until_its_first_step_and_estimates_by_layer_family():
    mlp = nn.Sequential(nn.Linear(4, 8, seed=0), nn.ReLU(), nn.Linear(8, 3, seed=1))
    conv_layers = [nn.Conv2d(1, 2, 3, seed=0), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3, seed=1)]
    cnn = nn.Sequential(*conv_layers)
    small, conv = make_stepper(mlp), make_stepper(cnn)
    assert conv.compile_estimate() > small.compile_estimate() > 0
    assert not small.warm
    small.train_batch(np.ones((2, 4)), np.array([0, 2]))
    assert small.warm
