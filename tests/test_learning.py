"""Learning checks (slow; they still run in CI): the course's models reach the issue's floors
on held-out data with the ``gradflow train`` recipes on the graph backend."""

import numpy as np
import pytest

from gradflow.cli import build_parser
from gradflow.commands.train import run_training
from gradflow.metrics import accuracy
from gradflow.training import predict

pytestmark = pytest.mark.slow


def train_recipe(model: str, dataset: str, seed: int = 0, backend: str = "graph"):
    """Exactly what `gradflow train --model MODEL --dataset DATASET` runs."""
    args = build_parser().parse_args(["train", "--model", model, "--dataset", dataset, "--seed",
                                      str(seed), "--backend", backend, "--quiet"])  # fmt: skip
    report, exp = run_training(args)
    return exp, report["history"]


def test_mlp_on_digits_reaches_95_percent_held_out():
    exp, _ = train_recipe("mlp", "digits")
    assert accuracy(exp.test[1], predict(exp.model, exp.test[0])) >= 0.95


def test_small_cnn_on_digits_reaches_97_percent_held_out():
    exp, _ = train_recipe("cnn", "digits")
    assert accuracy(exp.test[1], predict(exp.model, exp.test[0])) >= 0.97


def test_lstm_solves_the_adding_problem():
    exp, _ = train_recipe("lstm", "adding")
    (_, y_train), (X_test, y_test) = exp.train, exp.test
    mse = float(np.mean((predict(exp.model, X_test) - y_test) ** 2))
    baseline = float(np.mean((y_test - y_train.mean()) ** 2))  # ≈ 1/6: predict the mean
    assert baseline > 0.12
    assert mse < 0.2 * baseline
