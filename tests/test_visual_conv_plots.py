"""plot_filters and plot_feature_maps: the grids, the shared colour scale, the layer names."""

import numpy as np
import pytest

from gradflow import nn
from gradflow.visual.plots import feature_maps, plot_feature_maps, plot_filters


def _images(fig):
    return [im for ax in fig.axes for im in ax.get_images()]


def test_plot_filters_conv2d_grid_and_shared_scale(tmp_path):
    conv = nn.Conv2d(3, 4, 3, seed=0)
    fig = plot_filters(conv, None)
    images = _images(fig)
    assert len(images) == 4 * 3  # one tile per (filter, input channel)
    lim = np.abs(conv.weight.data).max()
    assert all(im.get_clim() == (-lim, lim) for im in images)
    np.testing.assert_array_equal(images[1].get_array(), conv.weight.data[0, 1])
    assert fig._suptitle.get_text() == "Conv2d: 4 filters of shape (3, 3, 3)"
    assert plot_filters(conv, tmp_path / "f.png").stat().st_size > 1000


def test_plot_filters_names_the_layer_and_draws_conv1d():
    model = nn.Sequential(nn.Conv1d(2, 5, 3, seed=0), nn.ReLU())
    fig = plot_filters(model[0], None)
    assert fig._suptitle.get_text().startswith("0:Conv1d: 5 filters of shape (2, 3)")
    assert len(_images(fig)) == 5 and _images(fig)[0].get_array().shape == (2, 3)
    with pytest.raises(ValueError, match="needs a Conv1d/Conv2d layer"):
        plot_filters(nn.Linear(2, 3), None)


def test_feature_maps_are_the_conv_outputs():
    model = nn.cnn((1, 8, 8), 10, channels=(4, 6), seed=0)
    x = np.random.default_rng(0).normal(size=(1, 8, 8))
    maps = feature_maps(model, x)
    assert [(n, m.shape) for n, m in maps] == [("0:Conv2d", (4, 8, 8)), ("3:Conv2d", (6, 4, 4))]
    from gradflow import Tensor

    np.testing.assert_allclose(maps[0][1], model[0](Tensor(x[None])).data[0])
    fig = plot_feature_maps(model, x, None)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["input\n(1, 8, 8)", "0:Conv2d\n(4, 8, 8)", "3:Conv2d\n(6, 4, 4)"]
    row = [im for im in _images(fig) if im.get_array().shape == (8, 8)][1:5]
    assert len({im.get_clim() for im in row}) == 1  # one colour scale per layer
    with pytest.raises(ValueError, match="no Conv1d/Conv2d layer"):
        feature_maps(nn.mlp([4, 2]), np.zeros(4))
