"""Loss landscapes: filter-normalised directions, the grid of losses, weights restored,
a quadratic loss gives parabolas, a trained network sits in a valley, the plot."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples

from gradflow import fit
from gradflow.errors import UsageError
from gradflow.experiments.landscape import filter_normalized_direction, loss_landscape
from gradflow.nn import Linear, mlp


@settings(max_examples=examples(30), deadline=None)
@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
    st.integers(0, 2**16),
)
def test_every_filter_of_a_direction_has_its_parameters_norm(shape, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape) * rng.uniform(0.1, 10)
    (d,) = filter_normalized_direction([p], np.random.default_rng(seed + 1))
    assert d.shape == p.shape
    if p.ndim < 2:
        assert not d.any()  # biases stay where they are
    else:
        for k in range(p.shape[0]):
            assert np.linalg.norm(d[k]) == pytest.approx(np.linalg.norm(p[k]), rel=1e-12)
        if np.prod(shape[1:]) >= 4:  # a random direction, not the weights themselves
            assert not np.allclose(np.abs(d), np.abs(p))


def test_grid_centre_is_the_models_loss_and_weights_come_back():
    model = mlp([3, 4, 2], seed=1)
    X = np.random.default_rng(0).standard_normal((10, 3))
    y = np.arange(10) % 2
    before = [p.data.copy() for p in model.parameters()]
    assert model.training
    land = loss_landscape(model, "cross_entropy", X, y, steps=5, span=0.5, seed=3)
    assert model.training, "the landscape left the model in eval mode"
    assert land.losses.shape == (5, 5)
    np.testing.assert_allclose(land.a, [-0.5, -0.25, 0, 0.25, 0.5])
    for p, p0 in zip(model.parameters(), before):
        assert np.array_equal(p.data, p0)
        assert p.grad is None or not np.any(p.grad)
    from gradflow import Tensor
    from gradflow.nn.losses import cross_entropy

    assert land.centre == pytest.approx(cross_entropy(model(Tensor(X)), y).item(), rel=1e-12)
    # a different seed cuts the landscape with a different plane
    other = loss_landscape(model, "cross_entropy", X, y, steps=5, span=0.5, seed=4)
    assert other.centre == pytest.approx(land.centre)
    assert not np.allclose(other.losses, land.losses)


def test_a_linear_model_with_mse_has_parabolas_along_each_direction():
    # L(θ + aδ) is quadratic in a for a linear model and MSE: its third differences vanish
    model = Linear(3, 1, seed=0)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    land = loss_landscape(model, "mse", X, y, steps=7, span=2.0)
    for line in (land.losses[3, :], land.losses[:, 3], np.diag(land.losses)):
        assert np.abs(np.diff(line, 3)).max() < 1e-9 * max(1.0, np.abs(line).max())
        assert np.diff(line, 2).min() > 0  # convex


@pytest.mark.slow
def test_a_trained_network_sits_at_the_bottom_of_its_valley():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = mlp([2, 16, 2], seed=0)
    fit(model, (X, y), optimizer="adam", lr=0.02, epochs=150, batch_size=80, seed=0, progress=False)
    land = loss_landscape(model, "cross_entropy", X, y, steps=9, span=0.5)
    assert land.centre == pytest.approx(land.losses.min())
    assert land.losses[0, 0] > 2 * land.centre and land.losses[-1, -1] > 2 * land.centre


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"steps": 4}, "steps must be an odd integer ≥ 3, got 4"),
        ({"steps": 1}, "steps must be an odd integer ≥ 3, got 1"),
        ({"span": 0}, "span must be a positive number, got 0"),
        ({"span": float("inf")}, "span must be a positive number, got inf"),
    ],
)
def test_bad_arguments_are_one_line(kwargs, words):
    model = mlp([2, 3, 2], seed=0)
    with pytest.raises(UsageError) as err:
        loss_landscape(model, "cross_entropy", np.zeros((2, 2)), [0, 1], **kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_plot_has_contours_and_a_surface(tmp_path):
    from gradflow.visual import plots

    model = mlp([2, 3, 2], seed=0)
    X = np.random.default_rng(0).standard_normal((6, 2))
    land = loss_landscape(model, "cross_entropy", X, [0, 1, 0, 1, 0, 1], steps=5)
    fig = plots.plot_loss_landscape(land, path=None)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Loss landscape: contours" in titles and "Loss landscape: surface" in titles
    assert any(ax.name == "3d" for ax in fig.axes)
    out = plots.plot_loss_landscape(land, path=tmp_path / "land.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
