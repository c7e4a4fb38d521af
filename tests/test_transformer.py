"""The transformer block: LayerNorm, multi-head attention, feed-forward, positional
encodings — against numpy formulas and gradcheck; a tiny sequence task learned (slow)."""

import numpy as np
import pytest

from gradflow import Tensor
from gradflow.errors import ShapeError
from gradflow.nn import (
    FeedForward,
    LayerNorm,
    MultiheadAttention,
    PositionalEncoding,
    SequenceTransformer,
    TransformerBlock,
    gradcheck_module,
    positional_encoding,
    sequence_cross_entropy,
)
from gradflow.nn.transformer import digit_sequences


def _x(shape, seed=0):
    return Tensor(np.random.default_rng(seed).normal(size=shape))


def _np_softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_layernorm_matches_the_formula_and_gradchecks():
    ln = LayerNorm(4)
    ln.weight.data[...] = [1.0, 2.0, 0.5, -1.0]
    ln.bias.data[...] = [0.0, 0.1, -0.2, 0.3]
    x = _x((2, 3, 4))
    mean = x.data.mean(-1, keepdims=True)
    var = x.data.var(-1, keepdims=True)  # biased, as PyTorch's LayerNorm
    want = (x.data - mean) / np.sqrt(var + 1e-5) * ln.weight.data + ln.bias.data
    np.testing.assert_allclose(ln(x).data, want, rtol=1e-12)
    assert gradcheck_module(ln, _x((2, 3, 4), 1)).ok
    with pytest.raises(ShapeError, match=r"LayerNorm\(4\): input \(2, 5\) must end with 4"):
        ln(_x((2, 5)))


def _np_mha(m, x, causal=False):
    def lin(layer, h):
        return h @ layer.weight.data.T + layer.bias.data

    B, T, D = x.shape
    H, dk = m.num_heads, m.d_k

    def split(h):
        return h.reshape(B, T, H, dk).transpose(0, 2, 1, 3)

    q, k, v = split(lin(m.query, x)), split(lin(m.key, x)), split(lin(m.value, x))
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dk)
    if causal:
        s = np.where(np.tril(np.ones((T, T), bool)), s, -1e9)
    w = _np_softmax(s)
    out = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
    return lin(m.out, out), w


@pytest.mark.parametrize("heads, causal", [(1, False), (2, False), (4, True)])
def test_multihead_attention_matches_numpy_and_gradchecks(heads, causal):
    m = MultiheadAttention(8, heads, causal=causal, seed=3)
    for layer in (m.query, m.key, m.value, m.out):
        layer.bias.data[...] = np.random.default_rng(1).normal(size=8) * 0.1
    x = _x((2, 5, 8))
    want, weights = _np_mha(m, x.data, causal)
    np.testing.assert_allclose(m(x).data, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.attention_weights, weights, rtol=1e-10, atol=1e-12)
    assert m.attention_weights.shape == (2, heads, 5, 5)
    np.testing.assert_allclose(m.attention_weights.sum(-1), 1.0)
    if causal:  # no position attends to a later one
        assert np.all(m.attention_weights[..., np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]]
                      < 1e-12)  # fmt: skip
    assert gradcheck_module(m, _x((2, 3, 8), 2)).ok


def test_multihead_attention_checks_its_arguments():
    with pytest.raises(ValueError, match="d_model 6 must split into num_heads 4"):
        MultiheadAttention(6, 4)
    with pytest.raises(ShapeError, match=r"query \(2, 8\) must be \(B, T, 8\)"):
        MultiheadAttention(8, 2)(_x((2, 8)))


def test_positional_encoding_values():
    pe = positional_encoding(50, 6)
    t, i = 7, 1  # PE(t, 2i) = sin(t / 10000^(2i/d)), PE(t, 2i+1) = cos(...)
    assert pe[t, 2 * i] == pytest.approx(np.sin(t / 10000 ** (2 * i / 6)))
    assert pe[t, 2 * i + 1] == pytest.approx(np.cos(t / 10000 ** (2 * i / 6)))
    np.testing.assert_array_equal(pe[0], [0, 1, 0, 1, 0, 1])
    x = _x((2, 4, 6))
    np.testing.assert_allclose(PositionalEncoding(6)(x).data, x.data + pe[:4])
    assert PositionalEncoding(6).num_parameters() == 0


def test_feed_forward_acts_on_each_position_alone():
    ff = FeedForward(4, 8, seed=0)
    x = _x((1, 3, 4))
    whole = ff(x).data
    for t in range(3):
        np.testing.assert_allclose(ff(Tensor(x.data[:, t : t + 1])).data[:, 0], whole[:, t])
    assert gradcheck_module(ff, _x((2, 3, 4), 1)).ok


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_block_residuals_and_gradcheck(norm_first):
    block = TransformerBlock(8, 2, 16, norm_first=norm_first, seed=0)
    x = _x((2, 4, 8))
    ln1, ln2, att, ff = block.norm1, block.norm2, block.attention, block.feed_forward
    if norm_first:
        h = x.data + att(ln1(x)).data
        want = h + ff(ln2(Tensor(h))).data
    else:
        h = ln1(Tensor(x.data + att(x).data)).data
        want = ln2(Tensor(h + ff(Tensor(h)).data)).data
    np.testing.assert_allclose(block(x).data, want, rtol=1e-10, atol=1e-12)
    assert gradcheck_module(block, _x((1, 3, 8), 1)).ok


def test_sequence_model_shapes_and_loss():
    m = SequenceTransformer(10, d_model=8, num_heads=2, d_ff=16, num_layers=2, seed=0)
    X, y = digit_sequences(4, 5, "sort", seed=0)
    assert X.shape == (4, 5, 10) and (np.diff(y, axis=1) >= 0).all()
    out = m(Tensor(X))
    assert out.shape == (4, 5, 10)
    assert [w.shape for w in m.attention_weights()] == [(4, 2, 5, 5)] * 2
    loss = sequence_cross_entropy(out, y)
    logp = out.data - np.log(np.exp(out.data).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp, y[..., None], -1).mean()
    assert loss.item() == pytest.approx(want)
    with pytest.raises(ShapeError, match="sequence_cross_entropy"):
        sequence_cross_entropy(out, y[:, :3])


def test_plot_attention(tmp_path):
    from gradflow.visual.plots import plot_attention

    m = MultiheadAttention(8, 2, seed=0)
    m(_x((1, 4, 8)))
    fig = plot_attention(m.attention_weights[0], None, keys=list("abcd"))
    assert [ax.get_title() for ax in fig.axes[:2]] == ["head 1", "head 2"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abcd")
    assert plot_attention(m.attention_weights[0, 0], tmp_path / "a.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="3 query and 4 key labels"):
        plot_attention(m.attention_weights[0], None, queries=list("abc"))


@pytest.mark.slow
@pytest.mark.parametrize("task, layers, epochs", [("reverse", 1, 4), ("sort", 2, 12)])
def test_a_small_transformer_learns_a_digit_task_on_the_graph_backend(task, layers, epochs):
    import time

    from gradflow.training import fit, predict

    X, y = digit_sequences(2000, 5, task, seed=0)
    Xt, yt = digit_sequences(500, 5, task, seed=1)
    m = SequenceTransformer(10, d_model=32, num_heads=2, d_ff=64, num_layers=layers, seed=0)
    start = time.perf_counter()
    fit(m, (X, y), loss=sequence_cross_entropy, optimizer="adam", lr=3e-3, epochs=epochs,
        batch_size=32, progress=False)  # fmt: skip
    assert time.perf_counter() - start < 60
    pred = predict(m, Xt).argmax(-1)
    assert (pred == yt).mean() > 0.98  # per digit, on sequences never seen
    if task == "reverse":  # the last position attends to the first, and so on
        predict(m, Xt[:1])
        w = m.attention_weights()[0][0].mean(0)
        assert (w.argmax(-1) == np.arange(5)[::-1]).all()
