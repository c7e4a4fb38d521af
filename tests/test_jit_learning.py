"""Learning checks on the jit backend (slow; they still run in CI): the same recipes as the
graph backend's learning checks reach the same floors on held-out digits."""

import pytest

from gradflow.metrics import accuracy
from gradflow.optim import Adam, OneCycle
from gradflow.training import fit, predict
from gradflow.training.recipes import prepare

pytestmark = pytest.mark.slow


def train_recipe_jit(model: str, dataset: str, seed: int = 0):
    exp = prepare(model, dataset, seed)
    d = exp.defaults
    opt = Adam(exp.model.parameters(), lr=d["lr"])
    steps = d["epochs"] * -(-len(exp.train[1]) // d["batch_size"])
    callbacks = (
        [OneCycle(opt, max_lr=d["lr"], total_steps=steps)] if d["schedule"] == "onecycle" else []
    )
    fit(
        exp.model,
        exp.train,
        exp.val,
        loss=exp.loss,
        optimizer=opt,
        epochs=d["epochs"],
        batch_size=d["batch_size"],
        callbacks=callbacks,
        seed=seed,
        progress=False,
        backend="jit",
    )
    return exp


def test_jit_mlp_on_digits_reaches_95_percent_held_out():
    exp = train_recipe_jit("mlp", "digits")
    assert accuracy(exp.test[1], predict(exp.model, exp.test[0])) >= 0.95


def test_jit_cnn_on_digits_reaches_97_percent_held_out():
    exp = train_recipe_jit("cnn", "digits")
    assert accuracy(exp.test[1], predict(exp.model, exp.test[0])) >= 0.97
