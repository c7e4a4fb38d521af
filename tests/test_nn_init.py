"""Initializers: mean and variance on large draws (course formulas), determinism by seed."""

import math

import numpy as np
import pytest

import gradflow.nn as nn
from gradflow.nn import init

FAN_IN, FAN_OUT = 200, 50
SHAPE = (FAN_OUT, FAN_IN)  # a Linear weight (out, in): 10 000 draws per sample


def var_uniform(a):
    return a * a / 3  # Var U(−a, a)


# initializer -> (kwargs, expected variance), variances from the course's formulas
EXPECTED = {
    "zeros": ({}, 0.0),
    "constant": ({"value": 0.3}, 0.0),
    "normal": ({"std": 0.01}, 0.01**2),
    "uniform": ({"a": 0.2}, var_uniform(0.2)),
    "simple_sigmoid": ({}, var_uniform(2.38 / math.sqrt(FAN_IN))),
    "simple_relu": ({}, var_uniform(math.sqrt(2) / math.sqrt(FAN_IN))),
    "simple_tanh": ({}, var_uniform(1 / math.sqrt(FAN_IN))),
    "xavier_uniform": ({}, 2 / (FAN_IN + FAN_OUT)),
    "xavier_normal": ({}, 2 / (FAN_IN + FAN_OUT)),
    "he_uniform": ({}, 2 / FAN_IN),
    "he_normal": ({}, 2 / FAN_IN),
    "lecun_uniform": ({}, 1 / FAN_IN),
    "lecun_normal": ({}, 1 / FAN_IN),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_mean_and_variance(name):
    kw, var = EXPECTED[name]
    w = np.concatenate([init.initialize(name, SHAPE, seed, **kw).ravel() for seed in range(10)])
    mean = 0.3 if name == "constant" else 0.0
    # 100 000 draws: the sample mean is within 5 standard errors, the variance within 3 %
    assert abs(w.mean() - mean) <= 5 * math.sqrt(var / w.size) + 1e-15
    assert w.var() == pytest.approx(var, rel=0.03, abs=1e-15)


@pytest.mark.parametrize(
    "name", ["uniform", "simple_relu", "xavier_uniform", "he_uniform", "lecun_uniform"]
)
def test_uniform_bounds(name):
    kw, var = EXPECTED[name]
    w = init.initialize(name, SHAPE, 0, **kw)
    bound = math.sqrt(3 * var)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound


def test_simple_rule_gains_are_the_course_values():
    assert init.SIMPLE_GAIN == {"sigmoid": 2.38, "relu": math.sqrt(2.0), "tanh": 1.0}
    w = init.initialize("simple", (10, 16), 0, activation="sigmoid")
    assert np.abs(w).max() <= 2.38 / 4
    with pytest.raises(ValueError, match="activation"):
        init.initialize("simple", (2, 2), 0, activation="elu")


def test_conv_fans_use_the_receptive_field():
    assert init.fans((8, 3, 5, 5)) == (75, 200)
    w = np.concatenate([init.initialize("he_normal", (8, 3, 5, 5), s).ravel() for s in range(50)])
    assert w.var() == pytest.approx(2 / 75, rel=0.05)


def test_determinism_by_seed_and_by_manual_seed():
    for name in EXPECTED:
        kw = EXPECTED[name][0]
        np.testing.assert_array_equal(
            init.initialize(name, (4, 3), 7, **kw), init.initialize(name, (4, 3), 7, **kw)
        )
    assert not np.array_equal(
        init.initialize("normal", (4, 3), 1), init.initialize("normal", (4, 3), 2)
    )
    nn.manual_seed(3)
    a = nn.Linear(5, 4).weight.data.copy()
    nn.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(5, 4).weight.data, a)
    np.testing.assert_array_equal(
        nn.Conv2d(2, 3, 3, init="xavier_normal", seed=9).weight.data,
        nn.Conv2d(2, 3, 3, init="xavier_normal", seed=9).weight.data,
    )


def test_biases_start_at_zero_and_unknown_names_are_clear():
    assert not nn.Linear(3, 4, seed=0).bias.data.any()
    assert not nn.Conv1d(3, 4, 2, seed=0).bias.data.any()
    with pytest.raises(ValueError, match="unknown initializer 'hee'"):
        nn.Linear(2, 2, init="hee")


def test_layers_accept_an_initializer_callable():
    def halves(shape, fan_in, fan_out, g):
        return np.full(shape, 0.5)

    assert (nn.Conv1d(1, 2, 3, init=halves).weight.data == 0.5).all()
