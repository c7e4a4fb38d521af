"""RNN, LSTM and GRU: the equations of contracts.md in plain numpy, BPTT gradcheck, layouts."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradflow.nn as nn
from gradflow import ShapeError, Tensor
from gradflow.nn.checks import gradcheck_module


def sig(x):
    return 1 / (1 + np.exp(-x))


def numpy_rnn(m, x):
    h = np.zeros((x.shape[0], m.hidden_size))
    hs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ m.weight_ih.data.T + h @ m.weight_hh.data.T + m.bias.data)
        hs.append(h)
    return np.stack(hs, 1), h


def numpy_lstm(m, x):
    H = m.hidden_size
    h = c = np.zeros((x.shape[0], H))
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ m.weight_ih.data.T + h @ m.weight_hh.data.T + m.bias.data
        i, f, g, o = (
            sig(z[:, :H]),
            sig(z[:, H : 2 * H]),
            np.tanh(z[:, 2 * H : 3 * H]),
            sig(z[:, 3 * H :]),
        )
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1), (h, c)


def numpy_gru(m, x):
    H = m.hidden_size
    h = np.zeros((x.shape[0], H))
    hs = []
    for t in range(x.shape[1]):
        gi = x[:, t] @ m.weight_ih.data.T + m.bias_ih.data
        gh = h @ m.weight_hh.data.T + m.bias_hh.data
        r = sig(gi[:, :H] + gh[:, :H])
        z = sig(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        h = (1 - z) * n + z * h
        hs.append(h)
    return np.stack(hs, 1), h


sizes = st.tuples(
    st.integers(1, 3),  # batch
    st.integers(1, 4),  # time (1 included)
    st.integers(1, 3),  # input
    st.integers(1, 3),  # hidden
    st.integers(0, 2**16),
)


@pytest.mark.parametrize(
    "cls,ref",
    [(nn.RNN, numpy_rnn), (nn.LSTM, numpy_lstm), (nn.GRU, numpy_gru)],
    ids=["rnn", "lstm", "gru"],
)
@given(case=sizes)
def test_sequence_layers_match_numpy_equations_and_bptt_gradcheck(cls, ref, case):
    B, T, In, H, seed = case
    m = cls(In, H, seed=seed)
    x = np.random.default_rng(seed + 1).normal(size=(B, T, In))
    hs, last = m(Tensor(x))
    want_hs, want_last = ref(m, x)
    np.testing.assert_allclose(hs.data, want_hs, atol=1e-12)
    assert hs.shape == (B, T, H)
    if cls is nn.LSTM:
        np.testing.assert_allclose(last[0].data, want_last[0], atol=1e-12)
        np.testing.assert_allclose(last[1].data, want_last[1], atol=1e-12)
    else:
        np.testing.assert_allclose(last.data, want_last, atol=1e-12)
    assert gradcheck_module(m, Tensor(x)).ok


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
@given(case=sizes)
def test_cells_gradcheck_with_a_given_state(cls, case):
    B, _, In, H, seed = case
    rng = np.random.default_rng(seed)
    cell = cls(In, H, seed=seed)
    x, h = Tensor(rng.normal(size=(B, In))), Tensor(rng.normal(size=(B, H)))
    if cls is nn.LSTMCell:
        c = Tensor(rng.normal(size=(B, H)))
        report = gradcheck_module(_LSTMStep(cell), x, h, c)
    else:
        report = gradcheck_module(cell, x, h)
    assert report.ok, str(report)


class _LSTMStep(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x, h, c):
        return self.cell(x, (h, c))


def test_parameter_names_shapes_and_init_range_follow_the_contract():
    In, H = 3, 4
    shapes = {
        nn.RNN: {"weight_ih": (H, In), "weight_hh": (H, H), "bias": (H,)},
        nn.LSTM: {"weight_ih": (4 * H, In), "weight_hh": (4 * H, H), "bias": (4 * H,)},
        nn.GRU: {
            "weight_ih": (3 * H, In),
            "weight_hh": (3 * H, H),
            "bias_ih": (3 * H,),
            "bias_hh": (3 * H,),
        },
    }
    for cls, want in shapes.items():
        m = cls(In, H, seed=0)
        got = {n: p.shape for n, p in m.named_parameters()}
        assert got == want
        for p in m.parameters():
            assert np.abs(p.data).max() <= 1 / np.sqrt(H)
        again = cls(In, H, seed=0)
        for a, b in zip(m.parameters(), again.parameters()):
            np.testing.assert_array_equal(a.data, b.data)
        assert m.config() == {"input_size": In, "hidden_size": H} | (
            {"nonlinearity": "tanh"} if cls is nn.RNN else {}
        )


def test_sequence_layer_is_its_cell_unrolled():
    rnn = nn.RNN(2, 3, seed=4)
    x = np.random.default_rng(0).normal(size=(1, 2, 2))
    h1 = nn.RNNCell.step(rnn, Tensor(x[:, 0]))
    h2 = nn.RNNCell.step(rnn, Tensor(x[:, 1]), h1)
    np.testing.assert_allclose(rnn(Tensor(x))[1].data, h2.data)


def test_relu_rnn_and_bad_shapes():
    m = nn.RNN(2, 2, nonlinearity="relu", seed=0)
    hs, _ = m(Tensor(np.random.default_rng(0).normal(size=(2, 3, 2))))
    assert (hs.data >= 0).all()
    with pytest.raises(ValueError):
        nn.RNN(2, 2, nonlinearity="sigmoid")
    with pytest.raises(ShapeError, match=r"LSTM.*\(2, 3, 5\).*\(B, T, 2\)"):
        nn.LSTM(2, 2)(Tensor(np.zeros((2, 3, 5))))
    with pytest.raises(ShapeError, match="hidden state"):
        nn.GRU(2, 2)(Tensor(np.zeros((2, 3, 2))), Tensor(np.zeros((3, 2))))
