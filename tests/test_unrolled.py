"""BPTT gradient norms per time step and the unrolled drawing of RNN, LSTM and GRU."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_counts import examples

from gradflow.errors import ShapeError, UsageError
from gradflow.experiments.bptt import bptt_gradient_norms
from gradflow.nn import GRU, LSTM, RNN, Linear, LSTMCell


@settings(max_examples=examples(30), deadline=None)
@given(st.floats(0.1, 2.0), st.integers(1, 8), st.integers(1, 5))
def test_a_linear_recurrence_scales_the_gradient_by_rho_per_step(rho, T, H):
    # W_ih = 0, b = 0: every hₜ is 0, tanh'(0) = 1, so ∂L/∂hₜ = (ρI)^(T−t)·1 for L = Σ h_T
    rnn = RNN(2, H, seed=0)
    rnn.weight_ih.data[:] = 0
    rnn.bias.data[:] = 0
    rnn.weight_hh.data = rho * np.eye(H)
    norms = bptt_gradient_norms(rnn, np.ones((T, 2)))
    expected = rho ** (T - np.arange(1, T + 1)) * np.sqrt(H)
    np.testing.assert_allclose(norms.hidden, expected, rtol=1e-12)
    assert norms.ratio == pytest.approx(rho ** (T - 1))
    assert not norms.inputs.any()  # W_ih = 0: no gradient reaches the inputs


@pytest.mark.parametrize("layer", [RNN, LSTM, GRU, LSTMCell])
def test_every_cell_gets_gradient_at_every_step_and_sum_h_T_gives_sqrt_H(layer):
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    norms = bptt_gradient_norms(layer(3, 4, seed=1), x)
    assert norms.hidden.shape == norms.inputs.shape == (6,)
    assert norms.hidden[-1] == pytest.approx(np.sqrt(2 * 4))  # ∂(Σ h_T)/∂h_T = 1, batch 2
    assert np.all(norms.hidden > 0) and np.all(norms.inputs > 0)
    # default initialisation, tanh/sigmoid gates: the gradient shrinks going back
    assert norms.ratio < 1
    assert norms.cell == {RNN: "RNN", LSTM: "LSTM", GRU: "GRU", LSTMCell: "LSTM"}[layer]


def test_relu_rnn_with_large_recurrent_weights_explodes():
    rnn = RNN(2, 4, nonlinearity="relu", seed=0)
    rnn.weight_hh.data = 1.6 * np.eye(4)
    x = 0.01 * np.random.default_rng(0).standard_normal((8, 2))
    norms = bptt_gradient_norms(rnn, x)
    assert norms.ratio > 10
    assert np.all(np.diff(norms.hidden) < 0)  # larger the further back


def test_bad_models_and_shapes_are_one_line():
    with pytest.raises(UsageError, match="Linear is not a recurrent layer"):
        bptt_gradient_norms(Linear(2, 2), np.ones((3, 2)))
    with pytest.raises(ShapeError) as err:
        bptt_gradient_norms(RNN(2, 3), np.ones((3, 5)))
    assert "must be (T, 2) or (B, T, 2)" in str(err.value) and "\n" not in str(err.value)


def test_drawing_has_one_box_per_step_and_a_bar_per_step(tmp_path):
    from gradflow.visual import draw_unrolled

    T = 5
    x = np.random.default_rng(0).standard_normal((T, 2))
    fig = draw_unrolled(GRU(2, 3, seed=0), x, path=None)
    top, bottom = fig.axes
    texts = [t.get_text() for t in top.texts]
    assert texts.count("GRU\ncell") == T
    assert [f"x{s}" for s in "₁₂₃₄₅"] == [t for t in texts if t.startswith("x")]
    assert any(t.startswith("shared weights: weight_ih 9×2, weight_hh 9×3") for t in texts)
    assert len(bottom.patches) == T and bottom.get_yscale() == "log"
    norms = bptt_gradient_norms(GRU(2, 3, seed=0), x).hidden
    np.testing.assert_allclose([bar.get_height() for bar in bottom.patches], norms)
    assert "the gradient vanishes" in bottom.get_title() or "holds" in bottom.get_title()
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        out = draw_unrolled(GRU(2, 3, seed=0), x, path=tmp_path / f"u{suffix}")
        assert out.read_bytes()[:5].startswith(magic)
