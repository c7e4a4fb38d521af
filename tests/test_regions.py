"""Linear regions of 1-input ReLU networks: exact counts, the course's formulas, the plot."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples

from gradflow import Tensor, nn
from gradflow.errors import ShapeError
from gradflow.regions import (
    breakpoints,
    count_linear_regions,
    deep_net,
    deep_parameters,
    folding_net,
    format_region_table,
    region_table,
    sawtooth_net,
    shallow_net,
    shallow_parameters,
)


def _sampled_regions(model, lo, hi, n=200_001):
    """Regions seen on a fine grid: slope changes between neighbouring cells (an oracle that
    can only miss regions narrower than a cell)."""
    x = np.linspace(lo, hi, n)
    from gradflow.regions import relu_layers

    h = x.reshape(-1, 1)
    layers = relu_layers(model)
    for k, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if k < len(layers) - 1:
            h = np.maximum(h, 0.0)
    s = np.diff(h[:, 0]) / np.diff(x)
    change = np.abs(np.diff(s)) > 1e-6 * max(1.0, np.abs(s).max())
    # a kink inside a cell changes the slope of that cell and the next: count runs
    return 1 + int(np.sum(change[1:] & ~change[:-1]) + change[0])


@pytest.mark.parametrize("D", [1, 2, 3, 5, 8])
def test_shallow_net_has_D_plus_1_regions_and_3D_plus_1_parameters(D):
    net = shallow_net(D)
    assert count_linear_regions(net, 0, 1) == D + 1
    assert net.num_parameters() == shallow_parameters(D) == 3 * D + 1


@pytest.mark.parametrize("D, K", [(2, 2), (2, 4), (3, 2), (3, 3), (4, 2), (4, 3), (5, 2)])
def test_deep_sawtooth_regions_and_parameter_formula(D, K):
    net = sawtooth_net(D, K)
    assert net.num_parameters() == deep_parameters(D, K) == 3 * D + 1 + (K - 1) * D * (D + 1)
    regions = count_linear_regions(net, 0, 1)
    assert regions == D**K <= (D + 1) ** K
    assert regions == _sampled_regions(net, 0, 1)
    # the shallow net with at least as many parameters makes far fewer regions
    D_shallow = (deep_parameters(D, K) - 1) // 3
    if K >= 3:
        assert count_linear_regions(shallow_net(D_shallow), 0, 1) < regions


@pytest.mark.parametrize(
    "D, K", [(3, 1), (3, 2), (3, 3), (3, 4), (4, 2), (4, 3), (5, 2), (5, 3), (6, 2), (7, 2), (8, 2)]
)
def test_folding_net_reaches_the_bound_D_plus_1_to_the_K(D, K):
    net = folding_net(D, K)
    assert net.num_parameters() == deep_parameters(D, K)
    regions = count_linear_regions(net, 0, 1)
    assert regions == (D + 1) ** K
    if (D + 1) ** K <= 125:  # pieces wider than a few cells of the grid oracle
        assert regions == _sampled_regions(net, 0, 1)
    # each layer maps [0, 1] onto [0, 1], going up and down D + 1 times
    y = net(Tensor(np.linspace(0, 1, 2001).reshape(-1, 1))).data
    assert y.min() >= -1e-9 and y.max() <= 1 + 1e-9
    one = folding_net(D, 1)
    ends = one(Tensor(np.array([0.0, *breakpoints(one, 0, 1), 1.0]).reshape(-1, 1))).data
    assert np.allclose(ends[:, 0], [k % 2 for k in range(D + 2)])  # 0, 1, 0, …: every piece full


@pytest.mark.parametrize("D", [1, 2])
def test_folding_needs_three_units_and_deep_net_falls_back_to_the_sawtooth(D):
    with pytest.raises(ValueError, match="folding_net needs D >= 3 units per layer"):
        folding_net(D, 2)
    assert count_linear_regions(deep_net(D, 3), 0, 1) == D**3


def test_region_table_matches_counts():
    rows = region_table(Ds=(2, 3), Ks=(1, 2))
    assert [(r.D, r.K, r.net, r.regions, r.bound) for r in rows] == [
        (2, 1, "shallow", 3, 3), (2, 2, "sawtooth", 4, 9),
        (3, 1, "shallow", 4, 4), (3, 2, "folding", 16, 16),
    ]  # fmt: skip
    assert all(r.parameters == r.parameter_formula for r in rows)
    text = format_region_table(rows)
    assert "3D+1+(K−1)D(D+1)" in text and text.count("\n") == 4


@settings(max_examples=examples(40), deadline=None)
@given(
    D=st.integers(1, 6),
    K=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_random_nets_stay_within_the_bound_and_match_sampling(D, K, seed):
    net = nn.mlp([1] + [D] * K + [1], seed=seed)
    for layer in net:  # biases spread the kinks over the interval
        if isinstance(layer, nn.Linear):
            layer.bias.data[...] = np.random.default_rng(seed).normal(size=layer.bias.shape)
    regions = count_linear_regions(net, -3, 3)
    assert regions <= (D + 1) ** K
    if K == 1:
        assert regions <= D + 1
    kinks = breakpoints(net, -3, 3)
    gaps = np.diff(np.concatenate([[-3], kinks, [3]]))
    if gaps.min() > 1e-3:  # the grid oracle sees every region wider than a few cells
        assert regions == _sampled_regions(net, -3, 3)


def test_a_unit_whose_kink_changes_nothing_makes_no_region():
    net = shallow_net(3)
    net[2].weight.data[0, 1] = 0.0
    assert count_linear_regions(net, 0, 1) == 3


def test_bad_models_and_intervals_are_named():
    with pytest.raises(ShapeError, match="layer 1 is Tanh, expected ReLU"):
        count_linear_regions(nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1)))
    with pytest.raises(ShapeError, match="one input and one output"):
        count_linear_regions(nn.mlp([2, 3, 1]))
    with pytest.raises(ValueError, match=r"lo < hi, got \[1.0, 0.0\]"):
        count_linear_regions(shallow_net(2), 1, 0)
    with pytest.raises(ValueError, match="D must be a whole number >= 1"):
        sawtooth_net(0, 2)


def test_plot_linear_regions(tmp_path):
    from gradflow.visual.plots import plot_linear_regions

    fig = plot_linear_regions({"shallow": shallow_net(3), "deep": sawtooth_net(2, 3)}, None)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["shallow\n4 regions, 10 parameters", "deep\n8 regions, 19 parameters"]
    assert len(fig.axes[1].patches) == 8  # one shaded span per region
    assert plot_linear_regions({"s": shallow_net(2)}, tmp_path / "r.png").stat().st_size > 1000
