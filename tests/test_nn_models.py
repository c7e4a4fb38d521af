"""Standard models, BatchNorm folding and a tiny autoencoder trained with manual SGD."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradflow.nn as nn
from gradflow import Tensor, no_grad


def sgd(model, lr):
    with no_grad():
        for p in model.parameters():
            p.data -= lr * p.grad


def train_steps(model, x, loss_fn, steps, lr):
    for _ in range(steps):
        loss = loss_fn(model(x))
        model.zero_grad()
        loss.backward()
        sgd(model, lr)


def test_model_shapes_and_seed_determinism():
    assert nn.mlp([4, 8, 3], seed=1)(Tensor(np.zeros((5, 4)))).shape == (5, 3)
    assert nn.cnn((1, 8, 8), seed=1)(Tensor(np.zeros((2, 1, 8, 8)))).shape == (2, 10)
    assert nn.cnn((1, 28, 28), seed=1)(Tensor(np.zeros((1, 1, 28, 28)))).shape == (1, 10)
    assert nn.lenet((1, 28, 28), pool="avg", seed=1)(Tensor(np.zeros((1, 1, 28, 28)))).shape == (
        1,
        10,
    )
    for build in (nn.rnn, nn.lstm, nn.gru):
        m = build(3, 5, 2, seed=4)
        assert m(Tensor(np.zeros((2, 7, 3)))).shape == (2, 2)
        again = build(3, 5, 2, seed=4)
        for a, b in zip(m.parameters(), again.parameters()):
            np.testing.assert_array_equal(a.data, b.data)
    a, b = nn.mlp([3, 4, 2], seed=0), nn.mlp([3, 4, 2], seed=0)
    np.testing.assert_array_equal(a[0].weight.data, b[0].weight.data)
    assert not np.array_equal(a[0].weight.data, nn.mlp([3, 4, 2], seed=1)[0].weight.data)


def test_mlp_options():
    m = nn.mlp([4, 6, 6, 2], activation="tanh", dropout=0.2, batchnorm=True, seed=0)
    kinds = [type(layer).__name__ for layer in m]
    assert kinds == [
        "Linear", "BatchNorm1d", "Tanh", "Dropout",
        "Linear", "BatchNorm1d", "Tanh", "Dropout",
        "Linear",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown activation"):
        nn.mlp([2, 2, 2], activation="nope")


def _bn_net(kind, seed):
    """A net with BatchNorm after Linear/Conv layers (one nested, one without a bias)."""
    if kind == "linear":
        net = nn.Sequential(
            nn.Linear(4, 5, seed=seed),
            nn.BatchNorm1d(5),
            nn.ReLU(),
            nn.Sequential(nn.Linear(5, 2, bias=False, seed=seed), nn.BatchNorm1d(2)),
        )
        return net, (16, 4)
    if kind == "conv2d":
        net = nn.Sequential(
            nn.Conv2d(2, 3, 3, stride=2, padding=1, seed=seed),
            nn.BatchNorm2d(3),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        return net, (8, 2, 7, 7)
    net = nn.Sequential(nn.Conv1d(3, 4, 3, padding=2, seed=seed), nn.BatchNorm1d(4), nn.Tanh())
    return net, (8, 3, 6)


def _trained_bn_net(kind, seed):
    rng = np.random.default_rng(seed)
    net, shape = _bn_net(kind, seed)
    x = rng.normal(size=shape)
    # move γ, β and the running averages away from their defaults
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data[:] = rng.uniform(0.5, 2, m.num_features)
            m.bias.data[:] = rng.normal(size=m.num_features)
    for _ in range(3):
        net(Tensor(x * rng.uniform(0.5, 3) + rng.normal()))
    return net.eval(), x


@pytest.mark.parametrize("kind", ["linear", "conv2d", "conv1d"])
@given(seed=st.integers(0, 1000))
def test_batchnorm_folding_gives_identical_eval_outputs(kind, seed):
    net, x = _trained_bn_net(kind, seed)
    folded = nn.fold_batchnorm(net)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in folded.modules())
    np.testing.assert_allclose(folded(Tensor(x)).data, net(Tensor(x)).data, rtol=1e-10, atol=1e-12)
    assert any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in net.modules())  # a copy


def test_autoencoder_reconstruction_improves_with_manual_sgd():
    rng = np.random.default_rng(0)
    code = rng.normal(size=(64, 2))
    x = Tensor(np.tanh(code @ rng.normal(size=(2, 8))))  # data on a 2-d manifold in 8-d
    ae = nn.Autoencoder([8, 6, 2], activation="tanh", seed=0)
    start = nn.losses.mse(ae(x), x).item()
    train_steps(ae, x, lambda y: nn.losses.mse(y, x), steps=60, lr=0.5)
    end = nn.losses.mse(ae(x), x).item()
    assert end < 0.5 * start
    assert ae.encode(x).shape == (64, 2) and ae.decode(ae.encode(x)).shape == (64, 8)


@pytest.mark.slow
def test_small_cnn_learns_digits_quickly():
    """A few SGD epochs of the small CNN on 8×8 digits take seconds on the graph backend."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    train, test = idx[:1400], idx[1400:]
    model = nn.cnn(seed=0)
    for _ in range(4):
        order = rng.permutation(train)
        for k in range(0, len(order), 32):
            b = order[k : k + 32]
            loss = nn.losses.cross_entropy(model(Tensor(X[b])), y[b])
            model.zero_grad()
            loss.backward()
            sgd(model, 0.05)
    model.eval()
    with no_grad():
        acc = (model(Tensor(X[test])).data.argmax(axis=1) == y[test]).mean()
    assert acc > 0.9


@pytest.mark.parametrize("build", [nn.rnn, nn.gru, nn.lstm])
def test_sequence_models_learn_a_running_sum_with_bptt(build):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(32, 5, 1))
    target = x.sum(axis=1)  # the answer needs every time step: gradients must flow back
    model = build(1, 8, 1, seed=0)
    start = nn.losses.mse(model(Tensor(x)), target).item()
    train_steps(model, Tensor(x), lambda p: nn.losses.mse(p, target), steps=150, lr=0.1)
    assert nn.losses.mse(model(Tensor(x)), target).item() < 0.05 * start
