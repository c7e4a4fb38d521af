"""Every layer the jit backend supports gives the graph engine's outputs and gradients
(float64 to 1e-6, float32 to 1e-4) for hypothesis-chosen shapes, including edge cases:
batch of 1, odd sizes, padding larger than half the kernel, sequences of length 1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from jit_helpers import assert_matches_graph

from gradflow import Tensor, nn
from gradflow.errors import ShapeError
from gradflow.jit import make_stepper, stages
from gradflow.nn import models

DTYPES = [np.float64, np.float32]
ACTIVATIONS = [
    nn.ReLU,
    lambda: nn.LeakyReLU(0.1),
    lambda: nn.ELU(0.7),
    nn.SELU,
    nn.GELU,
    nn.GELUApprox,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    lambda: nn.Swish(1.5),
    nn.SiLU,
    nn.Mish,
    nn.Identity,
]


def _rng(seed):
    return np.random.default_rng(seed)


def _near_tie_in_a_window(layers, x, k, stride):
    """Whether some max-pooling window of ``layers(x)`` (the graph engine, float64) holds two
    different values closer (1e-5, relative) than float32 arithmetic reliably orders them (a
    saturated tanh gives 0.99984844 and 0.99984845): either may then be the maximum in float32,
    and the gradient goes to another input. Exact ties (ReLU's zeros) are left in: both
    backends take the same one."""
    a = np.asarray(x, dtype=np.float64)
    for layer in layers:
        a = layer(Tensor(a)).data
    b, c, h, w = a.shape
    for y in range(0, h - k + 1, stride):
        for x0 in range(0, w - k + 1, stride):
            top = np.sort(a[:, :, y : y + k, x0 : x0 + k].reshape(b, c, -1), axis=-1)
            if top.shape[-1] > 1:
                gap = top[..., -1] - top[..., -2]
                if ((gap > 0) & (gap < 1e-5 * np.maximum(1.0, np.abs(top[..., -1])))).any():
                    return True
    return False


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_act", ACTIVATIONS)
@given(
    batch=st.integers(1, 5),
    n_in=st.integers(1, 6),
    hidden=st.integers(1, 7),
    seed=st.integers(0, 99),
)
def test_linear_with_every_activation(make_act, dtype, batch, n_in, hidden, seed):
    """Linear → activation (fused in one kernel) → Linear, softmax cross-entropy."""
    r = _rng(seed)
    model = nn.Sequential(
        nn.Linear(n_in, hidden, seed=seed), make_act(), nn.Linear(hidden, 3, seed=seed + 1)
    )
    assert_matches_graph(model, r.normal(size=(batch, n_in)), r.integers(0, 3, batch), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_standalone_activation_and_no_bias(dtype):
    """An activation that does not follow a Linear runs as its own kernel; bias=False works."""
    r = _rng(0)
    model = nn.Sequential(nn.Tanh(), nn.Linear(4, 3, bias=False, seed=1), nn.Sigmoid(), nn.Mish())
    assert_matches_graph(model, r.normal(size=(3, 4)), r.normal(size=(3, 3)), "mse", dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    batch=st.integers(1, 3),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    size=st.integers(3, 9),
    k=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 3),
    seed=st.integers(0, 99),
)
def test_conv2d(dtype, batch, c_in, c_out, size, k, stride, padding, seed):
    """Conv2d with stride and padding (also padding > kernel/2), then ReLU, Flatten, Linear."""
    assume(size + 2 * padding >= k)
    r = _rng(seed)
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, seed=seed)
    out = (size + 2 * padding - k) // stride + 1
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(c_out * out * out, 2, seed=seed))
    x = r.normal(size=(batch, c_in, size, size))
    assert_matches_graph(model, x, r.integers(0, 2, batch), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    batch=st.integers(1, 3),
    c_in=st.integers(1, 3),
    length=st.integers(2, 11),
    k=st.integers(1, 4),
    stride=st.integers(1, 2),
    padding=st.integers(0, 3),
    seed=st.integers(0, 99),
)
def test_conv1d(dtype, batch, c_in, length, k, stride, padding, seed):
    assume(length + 2 * padding >= k)
    r = _rng(seed)
    out = (length + 2 * padding - k) // stride + 1
    model = nn.Sequential(
        nn.Conv1d(c_in, 2, k, stride=stride, padding=padding, seed=seed),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(2 * out, 2, seed=seed),
    )
    assert_matches_graph(
        model, r.normal(size=(batch, c_in, length)), r.integers(0, 2, batch), dtype=dtype
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool", [nn.MaxPool2d, nn.AvgPool2d])
@given(
    size=st.integers(2, 8), k=st.integers(1, 3), stride=st.integers(1, 3), seed=st.integers(0, 99)
)
@example(size=8, k=2, stride=2, seed=0)  # the max-pool kernel's written-out 2×2 path
@example(size=5, k=2, stride=2, seed=3)  # … with a leftover row and column
def test_pool2d(dtype, pool, size, k, stride, seed):
    """Pooling as a stage of its own (after a standalone activation, so it is not fused into
    the convolution), also with overlapping windows (stride < kernel)."""
    assume(size >= k)
    r = _rng(seed)
    out = (size - k) // stride + 1
    model = nn.Sequential(
        nn.Conv2d(1, 2, 1, seed=seed),
        nn.Sigmoid(),
        nn.Tanh(),
        pool(k, stride=stride),
        nn.Flatten(),
        nn.Linear(2 * out * out, 2, seed=seed),
    )
    x = r.normal(size=(2, 1, size, size))
    if pool is nn.MaxPool2d:
        assume(not _near_tie_in_a_window(model.layers[:3], x, k, stride))
    stepper = assert_matches_graph(model, x, r.integers(0, 2, 2), dtype=dtype)
    assert any(isinstance(s, stages.Pool) for s in stepper.plan.train_stages)


def _leaky(slope):
    def make():
        return nn.LeakyReLU(alpha=slope)

    make.__name__ = f"LeakyReLU({slope})"
    return make


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid, _leaky(0.1), None])
@given(
    batch=st.integers(1, 5),
    size=st.integers(3, 9),
    k=st.integers(1, 3),
    padding=st.integers(0, 2),
    pool_k=st.integers(1, 3),
    pool_stride=st.integers(1, 3),
    seed=st.integers(0, 99),
)
@example(batch=3, size=8, k=3, padding=1, pool_k=2, pool_stride=2, seed=0)  # written-out 2×2
def test_conv_then_max_pool_run_as_one_kernel(
    dtype, act, batch, size, k, padding, pool_k, pool_stride, seed
):
    """Conv2d [→ activation] → MaxPool2d is one fused stage and still gives the graph's
    outputs and gradients (odd batches, overlapping and leftover windows, padding)."""
    conv_out = size + 2 * padding - k + 1
    assume(conv_out >= pool_k)
    r = _rng(seed)
    out = (conv_out - pool_k) // pool_stride + 1
    # a 1×1 convolution first, so the fused stage must also return ∂L/∂x (col2im path)
    layers = [nn.Conv2d(2, 2, 1, seed=seed + 1), nn.Conv2d(2, 3, k, padding=padding, seed=seed)]
    layers += [act()] if act else []
    layers += [nn.MaxPool2d(pool_k, stride=pool_stride), nn.Flatten()]
    model = nn.Sequential(*layers, nn.Linear(3 * out * out, 2, seed=seed))
    x = r.normal(size=(batch, 2, size, size))
    assume(not _near_tie_in_a_window(model.layers[: len(layers) - 2], x, pool_k, pool_stride))
    stepper = assert_matches_graph(model, x, r.integers(0, 2, batch), dtype=dtype)
    fused = stepper.plan.train_stages[1]
    assert isinstance(fused, stages.Conv) and fused.pool == (
        pool_k,
        pool_k,
        pool_stride,
        pool_stride,
    )
    assert not any(isinstance(s, stages.Pool) for s in stepper.plan.train_stages)


@given(seed=st.integers(0, 99))
def test_max_pool_after_a_decreasing_activation_is_not_fused(seed):
    """The fused kernel pools W cols before the bias and f (max f(z) = f(max z) for a
    non-decreasing f); a leaky ReLU with a negative slope is not, so its pooling stays a
    stage of its own and the results still match the graph."""
    r = _rng(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, seed=seed), nn.LeakyReLU(alpha=-0.5), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(2 * 3 * 3, 2, seed=seed),
    )  # fmt: skip
    x = r.normal(size=(3, 1, 8, 8))
    assume(not _near_tie_in_a_window(model.layers[:2], x, 2, 2))
    stepper = assert_matches_graph(model, x, r.integers(0, 2, 3))
    conv = stepper.plan.train_stages[0]
    assert isinstance(conv, stages.Conv) and conv.pool is None
    assert any(isinstance(s, stages.Pool) for s in stepper.plan.train_stages)


@given(length=st.integers(3, 12), k=st.integers(1, 3), pool_k=st.integers(1, 3),
       seed=st.integers(0, 99))  # fmt: skip
def test_conv1d_then_max_pool_fused(length, k, pool_k, seed):
    """The same fusion for Conv1d → ReLU → MaxPool1d."""
    assume(length - k + 1 >= pool_k)
    r = _rng(seed)
    out = (length - k + 1) // pool_k
    model = nn.Sequential(
        nn.Conv1d(1, 1, 1, seed=seed + 1), nn.Conv1d(1, 2, k, seed=seed), nn.ReLU(),
        nn.MaxPool1d(pool_k), nn.Flatten(), nn.Linear(2 * out, 2, seed=seed),
    )  # fmt: skip
    stepper = assert_matches_graph(model, r.normal(size=(3, 1, length)), r.integers(0, 2, 3))
    assert stepper.plan.train_stages[1].pool == (1, pool_k, 1, pool_k)


@pytest.mark.parametrize("pool", [nn.MaxPool1d, nn.AvgPool1d])
@given(length=st.integers(2, 9), k=st.integers(1, 3), seed=st.integers(0, 99))
def test_pool1d(pool, length, k, seed):
    assume(length >= k)
    r = _rng(seed)
    model = nn.Sequential(
        nn.Conv1d(2, 2, 1, seed=seed),
        nn.Sigmoid(),
        nn.Tanh(),
        pool(k),
        nn.Flatten(),
        nn.Linear(2 * (length // k), 2, seed=seed),
    )
    assert_matches_graph(model, r.normal(size=(3, 2, length)), r.integers(0, 2, 3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@given(
    batch=st.integers(1, 4),
    steps=st.integers(1, 6),
    n_in=st.integers(1, 4),
    hidden=st.integers(1, 6),
    seed=st.integers(0, 99),
)
def test_recurrent_sequence_models(dtype, kind, batch, steps, n_in, hidden, seed):
    """RNN/LSTM/GRU over whole sequences (BPTT in one kernel), head on the last state."""
    r = _rng(seed)
    model = models.SequenceModel(kind, n_in, hidden, 2, seed=seed)
    x = r.normal(size=(batch, steps, n_in))
    assert_matches_graph(model, x, r.integers(0, 2, batch), dtype=dtype)


def test_relu_rnn():
    r = _rng(3)
    model = models.SequenceModel("rnn", 2, 4, 1, seed=3)
    model.recurrent.nonlinearity = "relu"
    assert_matches_graph(model, r.normal(size=(3, 5, 2)), r.normal(size=(3, 1)), "mse")


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=st.integers(2, 5), features=st.integers(1, 5), seed=st.integers(0, 99))
def test_batchnorm1d_and_residual(dtype, batch, features, seed):
    # Of two samples BatchNorm makes ±1/√(1 + ε/σ²) whatever comes in, so the gradient it
    # passes back is (g₀ − g₁)(1 − x̂²)·…, where 1 − x̂² ≈ ε/σ²: a difference of terms σ²/ε
    # times larger than itself (650× at σ = 0.08), which float32 cannot give to 1e-4 (seed
    # 41: 5e-4 off the float64 graph, old kernels and new alike). float64 checks that case;
    # float32 from three samples on.
    assume(dtype is np.float64 or batch > 2)
    r = _rng(seed)
    model = nn.Sequential(
        nn.Linear(3, features, seed=seed),
        nn.BatchNorm1d(features),
        nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Linear(features, features, seed=seed + 1), nn.Tanh())),
        nn.Linear(features, 2, seed=seed + 2),
    )
    assert_matches_graph(model, r.normal(size=(batch, 3)), r.integers(0, 2, batch), dtype=dtype)


def test_batchnorm_running_statistics_match_graph():
    """The running averages the jit kernel updates equal the graph layer's."""
    import copy

    from gradflow import Tensor

    r = _rng(5)
    x = r.normal(size=(4, 2, 3, 3))
    bn = nn.BatchNorm2d(2)
    model = nn.Sequential(bn, nn.Flatten(), nn.Linear(18, 2, seed=1))
    ref = copy.deepcopy(model)
    ref(Tensor(x))
    make_stepper(model, "cross_entropy", None).train_batch(x, np.array([0, 1, 1, 0]))
    np.testing.assert_allclose(bn.running_mean, ref.layers[0].running_mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, ref.layers[0].running_var, rtol=1e-12)


def test_batchnorm2d_conv():
    r = _rng(1)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, seed=1),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(18, 1, seed=2),
    )
    assert_matches_graph(model, r.normal(size=(3, 1, 5, 5)), r.normal(size=(3, 1)), "mse")


def test_dropout_draws_the_same_masks_as_the_graph_layer():
    r = _rng(2)
    model = nn.Sequential(
        nn.Linear(5, 8, seed=1), nn.ReLU(), nn.Dropout(0.4, seed=7), nn.Linear(8, 3, seed=2)
    )
    assert_matches_graph(model, r.normal(size=(6, 5)), r.integers(0, 3, 6))


@pytest.mark.parametrize(
    "loss,last,target",
    [
        ("mse", None, "real"),
        ("mae", None, "real"),
        ("rmse", None, "real"),
        ("sse", None, "real"),
        ("bce", nn.Sigmoid, "binary"),
        ("bce_logits", None, "binary"),
        ("cross_entropy", None, "class"),
        ("nll", nn.LogSoftmax, "class"),
        ("kl_div", nn.LogSoftmax, "dist"),
        ("hinge", None, "sign"),
        ("hinge", None, "class"),
        ("gaussian_nll", None, "half"),
        ("cross_entropy", nn.Softmax, "class"),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_loss(loss, last, target, dtype):
    """Every loss of gradflow.nn.losses (fused with Sigmoid / LogSoftmax where possible)."""
    r = _rng(4)
    outputs = 1 if target == "sign" else 4  # binary hinge: one score per example
    layers = [nn.Linear(3, outputs, seed=3)] + ([last()] if last else [])
    targets = {
        "real": r.normal(size=(5, 4)),
        "binary": r.integers(0, 2, (5, 4)).astype(float),
        "class": r.integers(0, 4, 5),
        "dist": r.dirichlet(np.ones(4), 5),
        "sign": np.where(r.random((5, 1)) > 0.5, 1.0, -1.0),
        "half": r.normal(size=(5, 2)),
    }[target]
    assert_matches_graph(nn.Sequential(*layers), r.normal(size=(5, 3)), targets, loss, dtype=dtype)


def test_cross_entropy_label_smoothing():
    r = _rng(6)
    model = nn.Sequential(nn.Linear(3, 4, seed=3))
    assert_matches_graph(
        model, r.normal(size=(5, 3)), r.integers(0, 4, 5), "cross_entropy", label_smoothing=0.1
    )


def test_attention_inside_a_sequential_runs_on_the_generic_path():
    """SelfAttention has no kernel: its Linear layers on (B, T, d) and its matmuls and
    softmax run as the op table's numpy forward and vector-Jacobian products."""
    r = _rng(11)
    model = nn.Sequential(nn.Linear(3, 4, seed=1), nn.SelfAttention(4, seed=0), nn.Linear(4, 2))
    x = r.normal(size=(3, 5, 3))
    assert_matches_graph(model, x, r.normal(size=(3, 5, 2)), "mse")


def test_shape_errors_name_the_layer():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    stepper = make_stepper(model, "cross_entropy", None)
    with pytest.raises(ShapeError, match=r"Linear at 0: .*\(2, 5\)"):
        stepper.train_batch(np.zeros((2, 5)), np.array([0, 1]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [2, 3, 5])
def test_two_thread_linear_kernels(monkeypatch, dtype, batch):
    """Large layers split rows over two threads; force the split on small odd shapes."""
    from gradflow.jit import stages

    monkeypatch.setattr(stages, "LARGE_MACS", 1)
    monkeypatch.setattr(stages, "LARGE_WEIGHTS", 1)
    monkeypatch.setattr(stages, "STACK_WEIGHTS", 0)  # each on its own two-thread kernels
    r = _rng(batch)
    model = nn.Sequential(
        nn.Linear(5, 7, seed=1), nn.Tanh(), nn.Linear(7, 3, seed=2), nn.ReLU(), nn.Linear(3, 4)
    )
    stepper = assert_matches_graph(
        model, r.normal(size=(batch, 5)), r.integers(0, 4, batch), dtype=dtype
    )
    assert all(isinstance(s, stages.Dense) for s in stepper.plan.train_stages)


@pytest.mark.parametrize("batch", [3, 6])
def test_large_layers_up_to_stack_weights_join_the_stack(monkeypatch, batch):
    """A large Linear layer (its own two-thread kernels when alone) joins its chained
    neighbours' stack while it has at most STACK_WEIGHTS weights; beyond that it keeps its
    own kernels and the stack goes on without it. Either plan trains as the graph engine."""
    monkeypatch.setattr(stages, "LARGE_MACS", 1)
    monkeypatch.setattr(stages, "LARGE_WEIGHTS", 1)
    monkeypatch.setattr(stages, "STACK_HALVES_MACS", 1)
    monkeypatch.setattr(stages, "STACK_WEIGHTS", 40)  # 5×7 = 35 and 7×3 join, 7×6 = 42 not
    r = _rng(batch)
    x, y = r.normal(size=(batch, 5)), r.integers(0, 3, batch)
    stacked = nn.Sequential(
        nn.Linear(5, 7, seed=1), nn.Tanh(), nn.Linear(7, 3, seed=2), nn.ReLU(), nn.Linear(3, 3)
    )
    plan = assert_matches_graph(stacked, x, y).plan.train_stages
    assert [type(s) for s in plan] == [stages.DenseStack]
    assert len(plan[0].layers) == 3
    assert ("halves" in plan[0].ws) == (stages.numba_threads() >= 2)
    split = nn.Sequential(
        nn.Linear(5, 7, seed=1), nn.Tanh(), nn.Linear(7, 6, seed=2), nn.ReLU(),
        nn.Linear(6, 3, seed=3), nn.ReLU(), nn.Linear(3, 3),
    )  # fmt: skip
    plan = assert_matches_graph(split, x, y).plan.train_stages
    assert [type(s) for s in plan] == [stages.Dense, stages.Dense, stages.DenseStack]
    assert plan[1].ws["split"] == (stages.numba_threads() >= 2)
