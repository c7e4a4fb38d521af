"""The jit backend runs the activations with a learned or random slope (PReLU, RReLU,
learnable Swish) and the Reshape layer exactly as the graph engine does: forward outputs and
gradients (float64 to 1e-6, float32 to 1e-4) for hypothesis-chosen shapes, and the same loss
trajectory over several training steps. The kernels are also checked on their own against
formulas written here with numpy and against finite differences."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from jit_helpers import TOL, assert_matches_graph

from gradflow import Tensor, nn
from gradflow.errors import ShapeError
from gradflow.jit import make_stepper
from gradflow.kernels import parametric as par_k
from gradflow.nn import models
from gradflow.optim.optimizers import SGD, Adam
from gradflow.training import GraphStepper

DTYPES = [np.float64, np.float32]
STEPS = 5


def _rng(seed):
    return np.random.default_rng(seed)


# --- the kernels on their own ---------------------------------------------------------------


@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5)),
    shared=st.booleans(),
    seed=st.integers(0, 999),
)
@example(shape=(2, 3, 4), shared=False, seed=0)
def test_prelu_kernels_follow_the_formula(shape, shared, seed):
    """y = x if x > 0 else α_c x; ∂x = ∂y·(1 or α_c); ∂α_c = Σ_{x ≤ 0} ∂y·x — exact zeros
    included, which take the α branch (the op table's kink convention)."""
    r = _rng(seed)
    x = r.normal(size=shape)
    x[r.random(shape) < 0.2] = 0.0
    alpha = r.uniform(0.0, 0.5, 1 if shared else shape[1])
    x3 = x.reshape(1, 1, -1) if shared else x
    dy = r.normal(size=shape)
    y, dx, dalpha = np.empty(shape), np.empty(shape), np.full(alpha.shape, np.nan)
    par_k.prelu_forward(x3, alpha, y.reshape(x3.shape))
    par_k.prelu_backward(x3, alpha, dy.reshape(x3.shape), dx.reshape(x3.shape), dalpha, True)
    a = alpha[0] if shared else alpha[None, :, None]
    np.testing.assert_array_equal(y, np.where(x > 0, x, a * x))
    np.testing.assert_allclose(dx, np.where(x > 0, dy, a * dy), rtol=1e-15)
    neg = np.where(x > 0, 0.0, dy * x)
    want = [neg.sum()] if shared else neg.sum(axis=(0, 2))
    np.testing.assert_allclose(dalpha, want, rtol=1e-12, atol=1e-15)


@given(n=st.integers(1, 40), lower=st.floats(0.0, 0.5), width=st.floats(0.0, 0.5))
def test_rrelu_kernel_draws_the_slopes_generator_uniform_draws(n, lower, width):
    """slope = lower + (upper − lower)·u is bit for bit ``Generator.uniform(lower, upper)``."""
    upper = lower + width
    x = _rng(n).normal(size=n)
    u = _rng(7).random(n)
    slope, y, dx = np.empty(n), np.empty(n), np.empty(n)
    par_k.rrelu_forward(x, u, lower, upper, slope, y)
    want = _rng(7).uniform(lower, upper, n)
    np.testing.assert_array_equal(slope, want)
    np.testing.assert_array_equal(y, np.where(x > 0, x, want * x))
    dy = _rng(n + 1).normal(size=n)
    par_k.rrelu_backward(x, slope, dy, dx)
    np.testing.assert_array_equal(dx, np.where(x > 0, dy, want * dy))


@given(n=st.integers(1, 20), beta=st.floats(-3.0, 3.0), seed=st.integers(0, 999))
def test_swish_kernels_match_finite_differences(n, beta, seed):
    """∂L/∂x and ∂L/∂β of L = Σ w·x σ(βx) against central differences."""
    r = _rng(seed)
    x, w = r.normal(size=n), r.normal(size=n)
    b = np.array([beta])
    y, sig, dx, db = np.empty(n), np.empty(n), np.empty(n), np.empty(1)
    par_k.swish_forward(x, b, y, sig)
    np.testing.assert_allclose(y, x / (1.0 + np.exp(-beta * x)), rtol=1e-12)
    par_k.swish_backward(x, b, sig, w, dx, db, True)

    def loss(xv, bv):
        return float(np.sum(w * xv / (1.0 + np.exp(-bv * xv))))

    h = 1e-6
    num_db = (loss(x, beta + h) - loss(x, beta - h)) / (2 * h)
    num_dx = [(loss(x + h * e, beta) - loss(x - h * e, beta)) / (2 * h) for e in np.eye(n)]
    np.testing.assert_allclose(db[0], num_db, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dx, num_dx, rtol=1e-5, atol=1e-7)


# --- whole models: one step equals the graph engine -------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    batch=st.integers(1, 5),
    n_in=st.integers(1, 5),
    hidden=st.integers(1, 6),
    per_unit=st.booleans(),
    seed=st.integers(0, 99),
)
def test_linear_prelu_linear(dtype, batch, n_in, hidden, per_unit, seed):
    """One shared slope, or one per unit of (B, F) (axis 1), with a random start value."""
    r = _rng(seed)
    prelu = nn.PReLU(hidden if per_unit else 1, init=r.uniform(0.0, 0.5))
    if per_unit:
        prelu.weight.data[:] = r.uniform(0.0, 0.5, hidden)
    model = nn.Sequential(
        nn.Linear(n_in, hidden, seed=seed), prelu, nn.Linear(hidden, 3, seed=seed + 1)
    )
    assert_matches_graph(model, r.normal(size=(batch, n_in)), r.integers(0, 3, batch), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    batch=st.integers(1, 3),
    c_in=st.integers(1, 3),
    channels=st.integers(1, 4),
    size=st.integers(3, 6),
    shared=st.booleans(),
    seed=st.integers(0, 99),
)
def test_conv2d_prelu_per_channel(dtype, batch, c_in, channels, size, shared, seed):
    """Conv2d → PReLU(C) (slopes along axis 1 of (B, C, H, W)) → MaxPool → Flatten → Linear."""
    r = _rng(seed)
    prelu = nn.PReLU(1 if shared else channels)
    prelu.weight.data[:] = r.uniform(0.0, 0.5, prelu.weight.shape)
    model = nn.Sequential(
        nn.Conv2d(c_in, channels, 3, padding=1, seed=seed),
        prelu,
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(channels * (size // 2) ** 2, 2, seed=seed + 1),
    )
    x = r.normal(size=(batch, c_in, size, size))
    assert_matches_graph(model, x, r.integers(0, 2, batch), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_prelu_per_channel(dtype):
    r = _rng(2)
    prelu = nn.PReLU(3)
    prelu.weight.data[:] = [0.05, 0.2, 0.4]
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, seed=1), prelu, nn.Flatten(), nn.Linear(3 * 5, 2, seed=2)
    )
    assert_matches_graph(model, r.normal(size=(4, 2, 7)), r.integers(0, 2, 4), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    batch=st.integers(1, 5),
    hidden=st.integers(1, 6),
    lower=st.floats(0.0, 0.4),
    width=st.floats(0.0, 0.4),
    seed=st.integers(0, 99),
)
def test_rrelu_train_and_eval(dtype, batch, hidden, lower, width, seed):
    """Training draws the same slopes from the layer's generator in both backends (the
    loss and gradients agree); eval uses the mean slope (the eval outputs agree)."""
    r = _rng(seed)
    model = nn.Sequential(
        nn.Linear(3, hidden, seed=seed),
        nn.RReLU(lower, lower + width, seed=seed),
        nn.Linear(hidden, 2, seed=seed + 1),
    )
    assert_matches_graph(model, r.normal(size=(batch, 3)), r.integers(0, 2, batch), dtype=dtype)


def test_rrelu_outputs_are_identical_for_the_same_seed():
    """Bit for bit in float64: training output over several draws, and the eval output is
    leaky ReLU with slope (lower + upper)/2 (written out here)."""
    x = _rng(0).normal(size=(6, 5))
    graph = nn.RReLU(0.1, 0.3, seed=4)
    jitted = nn.RReLU(0.1, 0.3, seed=4)
    from gradflow.jit.slope_stages import RReLU

    stage = RReLU("RReLU at 0", jitted, np.float64)
    stage.resize(x.shape)
    for _ in range(3):  # the generators stay in step
        np.testing.assert_array_equal(stage.forward(x, True), graph(Tensor(x)).data)
    graph.eval()
    want = np.where(x > 0, x, 0.2 * x)
    np.testing.assert_allclose(graph(Tensor(x)).data, want, rtol=1e-15)
    np.testing.assert_allclose(stage.forward(x, False), want, rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    batch=st.integers(1, 5),
    hidden=st.integers(1, 6),
    beta=st.floats(-2.0, 3.0),
    seed=st.integers(0, 99),
)
def test_learnable_swish(dtype, batch, hidden, beta, seed):
    r = _rng(seed)
    model = nn.Sequential(
        nn.Linear(4, hidden, seed=seed),
        nn.Swish(beta, learnable=True),
        nn.Linear(hidden, 3, seed=seed + 1),
    )
    assert_matches_graph(model, r.normal(size=(batch, 4)), r.integers(0, 3, batch), dtype=dtype)


def test_slope_layers_first_in_the_model():
    """A parametrised activation before any Linear: its parameter still gets its gradient
    (no ∂L/∂x is computed for the input)."""
    r = _rng(3)
    model = nn.Sequential(nn.PReLU(4), nn.Swish(0.5, learnable=True), nn.Linear(4, 2, seed=1))
    x = r.normal(size=(5, 4))
    stepper = assert_matches_graph(model, x, r.normal(size=(5, 2)), "mse")
    assert not stepper.plan.train_stages[0].need_dx


def test_prelu_channel_misfit_names_the_layer_and_both_shapes():
    model = nn.Sequential(nn.Linear(3, 4), nn.PReLU(5), nn.Linear(4, 2))
    stepper = make_stepper(model, "cross_entropy", None)
    message = r"PReLU at 1: .*5 slopes .* \(B, 5, \.\.\.\), got \(2, 4\)"
    with pytest.raises(ValueError, match=message):
        stepper.train_batch(np.zeros((2, 3)), np.array([0, 1]))


# --- training: the same loss trajectory -------------------------------------------------------


def _trajectories(model, make_opt, batches, dtype, loss="cross_entropy"):
    """Loss per step and final parameters (by name) for the graph and the jit stepper."""
    out = {}
    for backend in ("graph", "jit"):
        m = copy.deepcopy(model)
        for p in m.parameters():  # both backends compute in ``dtype``
            p.data = p.data.astype(dtype)
        opt = make_opt(m.parameters())
        stepper = GraphStepper(m, loss, opt) if backend == "graph" else make_stepper(m, loss, opt)
        losses = [stepper.train_batch(xb.astype(dtype), yb) for xb, yb in batches]
        out[backend] = (np.array(losses), {n: p.data.copy() for n, p in m.named_parameters()})
    return out


def _mlp_with(act):
    return nn.Sequential(nn.Linear(5, 8, seed=1), act, nn.Linear(8, 3, seed=2))


@pytest.mark.parametrize(
    "make_model,slope",
    [
        (lambda: _mlp_with(nn.PReLU()), "1.weight"),
        (lambda: _mlp_with(nn.PReLU(8, init=0.1)), "1.weight"),
        (lambda: _mlp_with(nn.RReLU(0.05, 0.4, seed=3)), None),
        (lambda: _mlp_with(nn.Swish(1.0, learnable=True)), "1.beta"),
        (
            lambda: nn.Sequential(
                nn.Conv2d(1, 3, 3, seed=1), nn.PReLU(3), nn.Flatten(), nn.Linear(12, 3, seed=2)
            ),
            "1.weight",
        ),
    ],
    ids=["prelu", "prelu-per-unit", "rrelu", "learnable-swish", "conv-prelu"],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_training_follows_the_graph_backend(make_model, slope, dtype):
    """STEPS Adam steps: the same losses and the same final parameters, the learned slope
    included (and it did move)."""
    model = make_model()
    shape = (1, 4, 4) if isinstance(model[0], nn.Conv2d) else (5,)
    r = _rng(11)
    batches = [(r.normal(size=(6, *shape)), r.integers(0, 3, 6)) for _ in range(STEPS)]
    out = _trajectories(model, lambda ps: Adam(ps, lr=0.05), batches, dtype)
    tol = TOL[dtype]
    (g_loss, g_params), (j_loss, j_params) = out["graph"], out["jit"]
    np.testing.assert_allclose(j_loss, g_loss, **tol)
    for name, value in g_params.items():
        np.testing.assert_allclose(j_params[name], value, err_msg=name, **tol)
    if slope is not None:
        start = dict(model.named_parameters())[slope].data
        assert np.abs(j_params[slope] - start).max() > 1e-3


def test_learned_slope_changes_by_the_hand_derived_gradient():
    """One SGD step on PReLU(α = 0.25) alone with L = mean((y − t)²) over one value x = −2,
    t = 0: y = −0.5, ∂L/∂y = 2y = −1, ∂L/∂α = ∂L/∂y · x = 2, so α ← 0.25 − 0.1·2 = 0.05."""
    prelu = nn.PReLU()
    model = nn.Sequential(prelu)
    stepper = make_stepper(model, "mse", SGD(model.parameters(), lr=0.1))
    loss = stepper.train_batch(np.array([[-2.0]]), np.array([[0.0]]))
    assert loss == pytest.approx(0.25)
    assert prelu.weight.data[0] == pytest.approx(0.05)


# --- Reshape ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=st.integers(1, 4), rows=st.integers(1, 5), width=st.integers(1, 4))
def test_reshape_rows_into_a_sequence_model(dtype, batch, rows, width):
    """Reshape(H, W) reads (B, 1, H, W) images as H steps of W features (the rnn recipe)."""
    r = _rng(batch * 100 + rows * 10 + width)
    model = nn.Sequential(nn.Reshape(rows, width), models.SequenceModel("gru", width, 3, 2, seed=1))
    x = r.normal(size=(batch, 1, rows, width))
    assert_matches_graph(model, x, r.integers(0, 2, batch), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_in_the_middle_of_a_model(dtype):
    """Linear → Reshape(2, -1) → Conv1d → Reshape(-1) → Linear: the gradient flows back
    through both reshapes."""
    r = _rng(4)
    model = nn.Sequential(
        nn.Linear(3, 12, seed=1),
        nn.Reshape(2, -1),
        nn.Conv1d(2, 2, 3, seed=2),
        nn.Tanh(),
        nn.Reshape(-1),
        nn.Linear(8, 2, seed=3),
    )
    assert_matches_graph(model, r.normal(size=(5, 3)), r.integers(0, 2, 5), dtype=dtype)


def test_reshape_misfit_names_the_layer_and_both_shapes():
    model = nn.Sequential(nn.Reshape(4, 4), nn.Flatten(), nn.Linear(16, 2))
    stepper = make_stepper(model, "cross_entropy", None)
    with pytest.raises(ShapeError, match=r"Reshape at 0: .*\(3, 15\).*15 values.*\(4, 4\)"):
        stepper.train_batch(np.zeros((3, 15)), np.array([0, 1, 0]))


def test_recipes_use_reshape_layers():
    """`gradflow train` models: Reshape(-1) before the MLP's Linear layers, Reshape(8, 8)
    before a sequence model (digits read as 8 rows of 8 pixels)."""
    from gradflow.training.recipes import prepare

    mlp = prepare("mlp", "digits", 0).model
    assert isinstance(mlp[0], nn.Reshape) and mlp[0].config() == {"shape": (-1,)}
    assert isinstance(mlp[1], nn.Linear) and mlp[1].in_features == 64
    rnn = prepare("gru", "digits", 0).model
    assert rnn[0].config() == {"shape": (8, 8)} and isinstance(rnn[1], models.SequenceModel)


# --- a layer of the user's own: traced, on the generic path ----------------------------------


class _Doubling(nn.Module):
    """A user's own layer: its forward is traced into the ops it applies."""

    def forward(self, x):
        return x * 2.0


def test_a_custom_layer_runs_on_the_generic_path():
    r = _rng(8)
    model = nn.Sequential(nn.Linear(3, 4, seed=1), _Doubling(), nn.Linear(4, 2, seed=2))
    stepper = assert_matches_graph(model, r.normal(size=(5, 3)), r.integers(0, 2, 5))
    assert any(step.stage.name == "mul in _Doubling" for step in stepper.plan.steps)
