"""The perceptron and ADALINE: their rules as SGD on the "perceptron" / "adaline" losses,
checked against the rules computed by hand, learned with fit, and the boundary plot."""

import numpy as np
import pytest

from gradflow import Tensor
from gradflow.nn import Adaline, Perceptron, adaline_step, losses, perceptron_step
from gradflow.optim import SGD
from gradflow.training import ParameterSnapshots, fit


def _blobs(n=20, seed=0, gap=1.0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(-gap, 0.4, (n, 2)), rng.normal(gap, 0.4, (n, 2))])
    return X, np.r_[np.zeros(n, int), np.ones(n, int)]


def _one_sgd_step(model, x, t, lr):
    opt = SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    losses.LOSSES[model.loss](model(Tensor(np.asarray([x], float))), [t]).backward()
    opt.step()
    return model.boundary()


@pytest.mark.parametrize(
    "w, b, x, t",
    [
        ([-0.5, 1.0], 0.5, [2.0, 1.0], 0),  # z = 0.5 > 0 but t = 0: w ← w − ηx
        ([0.0, 0.0], 0.0, [1.0, -2.0], 1),  # z = 0 is class 0 (step(0) = 0): w ← w + ηx
        ([1.0, 1.0], -1.0, [3.0, 0.5], 1),  # right: nothing changes
    ],
)
def test_perceptron_rule_is_sgd_on_the_perceptron_loss(w, b, x, t):
    m = Perceptron(2)
    m.weight.data[...] = [w]
    m.bias.data[...] = b
    w_new, b_new = _one_sgd_step(m, x, t, lr=0.5)
    hand_w, hand_b, yhat = perceptron_step(w, b, x, t, lr=0.5)
    np.testing.assert_allclose(w_new, hand_w)
    assert b_new == pytest.approx(hand_b)
    assert yhat == int(np.dot(w, x) + b > 0)


def test_hand_computed_perceptron_and_adaline_updates():
    w, b, yhat = perceptron_step([-0.5, 1.0], 0.5, [2.0, 1.0], 0, lr=1.0)
    assert (list(w), b, yhat) == ([-2.5, 0.0], -0.5, 1)
    # ADALINE: z = 0.2·1 − 0.4·2 + 0.1 = −0.5, d = +1, error 1.5; η = 0.1
    w, b, z = adaline_step([0.2, -0.4], 0.1, [1.0, 2.0], 1, lr=0.1)
    np.testing.assert_allclose(w, [0.35, -0.1])
    assert (b, z) == (pytest.approx(0.25), pytest.approx(-0.5))


def test_adaline_rule_is_sgd_on_the_adaline_loss():
    m = Adaline(2)
    m.weight.data[...] = [[0.2, -0.4]]
    m.bias.data[...] = 0.1
    w_new, b_new = _one_sgd_step(m, [1.0, 2.0], 1, lr=0.1)
    np.testing.assert_allclose(w_new, [0.35, -0.1])
    assert b_new == pytest.approx(0.25)


def test_losses_refuse_labels_other_than_0_and_1():
    for name in ("perceptron", "adaline"):
        with pytest.raises(ValueError, match=f"{name}: targets must be the class labels 0 or 1"):
            losses.LOSSES[name](Tensor(np.zeros((2, 1))), [-1, 1])


def test_perceptron_shapes_and_arguments_are_checked():
    with pytest.raises(ValueError, match="in_features must be a whole number >= 1"):
        Perceptron(0)
    with pytest.raises(Exception, match=r"Perceptron\(2\): input \(3, 3\) must be \(B, 2\)"):
        Perceptron(2)(Tensor(np.zeros((3, 3))))


@pytest.mark.parametrize("cls, lr", [(Perceptron, 0.1), (Adaline, 0.01)])
def test_fit_learns_separable_blobs_and_records_the_boundary(cls, lr):
    X, y = _blobs()
    m = cls(2)
    snaps = ParameterSnapshots()
    h = fit(m, (X, y), loss=m.loss, optimizer=SGD(m.parameters(), lr=lr), batch_size=1,
            epochs=5, callbacks=[snaps], progress=False)  # fmt: skip
    assert h.epochs[-1]["train_accuracy"] == 1.0
    assert (m.classify(X) == y).all()
    assert len(snaps.snapshots) == 6  # before training, then after each epoch
    assert not np.allclose(snaps.snapshots[0]["weight"], snaps.snapshots[-1]["weight"])


def test_perceptron_stops_changing_once_every_example_is_right():
    X, y = _blobs(gap=2.0)
    m = Perceptron(2)
    snaps = ParameterSnapshots()
    fit(m, (X, y), loss="perceptron", optimizer=SGD(m.parameters(), lr=1.0), batch_size=1,
        epochs=4, callbacks=[snaps], progress=False)  # fmt: skip
    # separable and far apart: right after the first epoch, then no update ever again
    for s in snaps.snapshots[2:]:
        np.testing.assert_array_equal(s["weight"], snaps.snapshots[1]["weight"])


def test_decision_boundary_plot(tmp_path):
    from gradflow.visual.plots import plot_decision_boundaries

    X, y = _blobs()
    snaps = [([0.0, 0.0], 0.0), ([1.0, 0.5], 0.0), ([1.0, 1.0], -0.1)]
    fig = plot_decision_boundaries(X, y, snaps, path=None)
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # w = 0 has no line; the two others are drawn
    assert plot_decision_boundaries(X, y, snaps, tmp_path / "b.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="snapshot 0: a 2-input neuron has 2 weights, got 3"):
        plot_decision_boundaries(X, y, [([1, 2, 3], 0)], path=None)
