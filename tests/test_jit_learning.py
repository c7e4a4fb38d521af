"""Learning checks on the jit backend (slow; they still run in CI): the same recipes as the
graph backend's learning checks reach the same floors on held-out digits."""

import pytest
from test_learning import train_recipe

from gradflow.metrics import accuracy
from gradflow.training import predict

pytestmark = pytest.mark.slow


def test_jit_mlp_on_digits_reaches_95_percent_held_out():
    exp, _ = train_recipe("mlp", "digits", backend="jit")
    assert accuracy(exp.test[1], predict(exp.model, exp.test[0])) >= 0.95


def test_jit_cnn_on_digits_reaches_97_percent_held_out():
    exp, _ = train_recipe("cnn", "digits", backend="jit")
    assert accuracy(exp.test[1], predict(exp.model, exp.test[0])) >= 0.97
