"""Implicit regularisation of gradient descent: the modified loss L + (α/4)‖∇L‖², the
flows, GD's distance to each (first order vs second order in α), the plot."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples

from gradflow.errors import UsageError
from gradflow.experiments.implicit import (
    distance_table,
    gradient,
    gradient_descent,
    gradient_flow,
    implicit_regularization,
    modified_gradient,
    product_loss,
)

coord = st.floats(-2, 2, allow_nan=False)


@given(coord, coord)
def test_gradient_of_the_product_loss_is_the_hand_derivative(a, b):
    # L = ½(ab − 1)²: ∂L/∂a = (ab − 1)·b, ∂L/∂b = (ab − 1)·a
    g = gradient(product_loss, np.array([a, b]))
    np.testing.assert_allclose(g, [(a * b - 1) * b, (a * b - 1) * a], atol=1e-12)


def _modified_loss(phi, lr):
    g = gradient(product_loss, phi)
    a, b = phi
    return 0.5 * (a * b - 1) ** 2 + lr / 4 * float(g @ g)


@settings(max_examples=examples(40))
@given(coord, coord, st.floats(0.01, 0.5))
def test_modified_gradient_is_the_gradient_of_the_modified_loss(a, b, lr):
    phi, h = np.array([a, b]), 1e-5
    fd = np.array(
        [
            (_modified_loss(phi + h * e, lr) - _modified_loss(phi - h * e, lr)) / (2 * h)
            for e in np.eye(2)
        ]
    )
    np.testing.assert_allclose(modified_gradient(product_loss, phi, lr), fd, atol=1e-6)


def test_gradient_descent_steps_and_flow_of_a_quadratic():
    def half_square(phi):
        return 0.5 * (phi[0] * phi[0] + 4 * phi[1] * phi[1])

    gd = gradient_descent(half_square, [1.0, 1.0], lr=0.1, steps=3)
    np.testing.assert_allclose(gd[:, 0], 0.9 ** np.arange(4))
    np.testing.assert_allclose(gd[:, 1], 0.6 ** np.arange(4))
    # dφ/dt = −(φ₁, 4φ₂) has the solution (e^(−t), e^(−4t))
    flow = gradient_flow(lambda p: gradient(half_square, p), [1.0, 1.0], dt=0.1, steps=5)
    t = 0.1 * np.arange(6)
    np.testing.assert_allclose(flow, np.stack([np.exp(-t), np.exp(-4 * t)], 1), rtol=1e-7)


def test_gd_follows_the_modified_flow_not_the_plain_one():
    paths = implicit_regularization(lr=0.3, steps=15)
    assert paths.gd.shape == paths.flow.shape == paths.modified_flow.shape == (16, 2)
    assert paths.distance_to_modified_flow < paths.distance_to_flow / 5
    # the plain flow keeps a² − b², GD and the modified flow shrink it by about as much
    imbalance = {
        k: float(p[-1, 0] ** 2 - p[-1, 1] ** 2) for k, p in vars(paths).items() if k != "lr"
    }
    assert imbalance["flow"] == pytest.approx(0.09, abs=1e-9)
    assert imbalance["gd"] < 0.07 and imbalance["modified_flow"] < 0.07
    assert abs(imbalance["gd"] - imbalance["modified_flow"]) < 0.01


@pytest.mark.slow
def test_distances_shrink_like_alpha_and_alpha_squared():
    rows = distance_table((0.3, 0.15, 0.075))
    for big, small in zip(rows, rows[1:]):
        assert big["distance_to_flow"] / small["distance_to_flow"] == pytest.approx(2, rel=0.1)
        ratio = big["distance_to_modified_flow"] / small["distance_to_modified_flow"]
        assert ratio == pytest.approx(4, rel=0.15)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"lr": 0}, "lr must be a positive number, got 0"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"steps": 0}, "steps must be an integer ≥ 1, got 0"),
        ({"start": [1.0, float("inf")]}, "start must be a list of finite numbers"),
        ({"lr": 3.0, "steps": 40, "start": (2.0, 0.0)}, "gradient descent diverged with lr = 3.0"),
    ],
)
def test_bad_arguments_are_one_line(kwargs, words):
    with pytest.raises(UsageError) as err:
        implicit_regularization(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_plot_has_paths_distances_and_the_order_panel(tmp_path):
    from gradflow.visual import plots

    paths = implicit_regularization(lr=0.3, steps=10)
    fig = plots.plot_implicit_regularization(paths, path=None)
    assert [ax.get_title() for ax in fig.axes[:2]] == [
        "Paths from one start",
        "GD's distance to each flow (α = 0.3)",
    ]
    table = [
        {"lr": 0.2, "distance_to_flow": 0.04, "distance_to_modified_flow": 0.004},
        {"lr": 0.1, "distance_to_flow": 0.02, "distance_to_modified_flow": 0.001},
    ]
    out = plots.plot_implicit_regularization(paths, table, path=tmp_path / "implicit.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
