"""The bias–variance decomposition over many training sets: the identity, its terms against
cases with known answers, the measured test error, the plot."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples

from gradflow.errors import UsageError
from gradflow.experiments.bias_variance import best_complexity, bias_variance, polynomial_fit


def cubic(x):
    return 2 * x**3 - x + 0.5


def test_noise_free_cubic_is_fitted_exactly_from_degree_three():
    rows = bias_variance(range(6), function=cubic, noise=0.0, datasets=5, n_train=10)
    for r in rows:
        assert r.noise == 0
        if r.complexity >= 3:
            assert r.bias2 < 1e-20 and r.variance < 1e-20 and r.test_error < 1e-20
        else:
            assert r.bias2 > 1e-3  # a parabola cannot bend like a cubic


@settings(max_examples=examples(25), deadline=None)
@given(
    st.integers(0, 8),
    st.integers(5, 15),
    st.floats(0.0, 1.0),
    st.integers(0, 2**16),
)
def test_bias2_plus_variance_is_the_mean_squared_distance_to_the_truth(degree, n, noise, seed):
    # the decomposition is an identity for the sample itself: mean_D (f_D − μ)² = bias² + var.
    # Recompute it from the fits with the same seed.
    rows = bias_variance([degree], n_train=n, noise=noise, datasets=6, n_test=30, seed=seed)
    rng = np.random.default_rng(seed)
    bins = (np.arange(n) + rng.uniform(size=(6, n))) / n
    ys = np.sin(2 * np.pi * bins) + noise * rng.standard_normal(bins.shape)
    x_test = np.linspace(0, 1, 30)
    preds = np.array([polynomial_fit(x, y, degree)(x_test) for x, y in zip(bins, ys)])
    direct = np.mean((preds - np.sin(2 * np.pi * x_test)) ** 2)
    assert rows[0].bias2 + rows[0].variance == pytest.approx(direct, rel=1e-9, abs=1e-12)


def test_the_three_terms_add_up_to_the_measured_test_error():
    rows = bias_variance(range(0, 11), datasets=300)
    for r in rows:
        assert r.noise == pytest.approx(0.09)
        assert r.test_error == pytest.approx(r.expected_error, rel=0.04)
    # degree 0: the fit is the mean of the targets, its variance about σ²/n (plus a little
    # from where the x fall), its bias² the variance of sin(2πx) on [0, 1], ½
    assert 0.09 / 20 < rows[0].variance < 1.5 * 0.09 / 20
    assert rows[0].bias2 == pytest.approx(0.5, rel=0.02)
    # beyond the sweet spot every extra degree adds variance
    variances = [r.variance for r in rows[3:]]
    assert all(a < b for a, b in zip(variances, variances[1:]))
    assert best_complexity(rows) == 3


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"n_train": 0}, "n_train must be an integer ≥ 1, got 0"),
        ({"datasets": 1}, "datasets must be an integer ≥ 2, got 1"),
        ({"complexities": []}, "complexities is empty"),
        ({"complexities": [2, -1]}, "each complexity must be an integer ≥ 0, got -1"),
        ({"noise": -0.1}, "noise must be a number ≥ 0, got -0.1"),
        ({"x_range": (1, 0)}, "x_range must be (lo, hi) with lo < hi"),
    ],
)
def test_bad_arguments_are_one_line(kwargs, words):
    with pytest.raises(UsageError) as err:
        bias_variance(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_plot_marks_the_best_complexity(tmp_path):
    from gradflow.visual import plots

    rows = bias_variance(range(0, 8), datasets=50)
    fig = plots.plot_bias_variance(rows, path=None)
    assert fig.axes[0].get_title() == f"Bias–variance trade-off (best: {best_complexity(rows)})"
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == [
        "bias²",
        "variance",
        "noise σ²",
        "bias² + variance + σ²",
        "measured test error",
    ]
    out = plots.plot_bias_variance(rows, path=tmp_path / "bv.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
