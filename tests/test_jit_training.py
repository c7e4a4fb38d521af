"""Training with the jit backend follows the graph backend step for step: same losses, same
parameters, for every optimizer, schedule and regulariser, on the same model object."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from gradflow import nn
from gradflow.jit import make_stepper, stages
from gradflow.nn import models
from gradflow.optim import schedules
from gradflow.optim.optimizers import OPTIMIZERS, Adam, MomentumVelocity
from gradflow.regularization import Regularizer
from gradflow.training import GraphStepper, fit
from gradflow.training import make_stepper as make_backend_stepper

STEPS = 6


def _batches(seed, n, shape, classes):
    r = np.random.default_rng(seed)
    return [(r.normal(size=(n, *shape)), r.integers(0, classes, n)) for _ in range(STEPS)]


def _trajectories(model, make_opt, batches, loss="cross_entropy", regularizer=None, schedule=None):
    """Loss per step and final parameters for the graph and the jit stepper."""
    out = {}
    for backend in ("graph", "jit"):
        m = copy.deepcopy(model)
        opt = make_opt(m.parameters())
        sched = schedule(opt) if schedule else None
        if backend == "graph":
            stepper = GraphStepper(m, loss, opt, regularizer)
        else:
            stepper = make_stepper(m, loss, opt, regularizer=regularizer)
        losses = []
        for xb, yb in batches:
            losses.append(stepper.train_batch(xb, yb))
            if sched:
                sched.step()
        out[backend] = (np.array(losses), [p.data.copy() for p in m.parameters()], opt)
    return out


def _assert_same(out, rtol=1e-6):
    g_loss, g_params, g_opt = out["graph"]
    j_loss, j_params, j_opt = out["jit"]
    np.testing.assert_allclose(j_loss, g_loss, rtol=rtol, atol=1e-10)
    for a, b in zip(j_params, g_params):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-9)
    assert j_opt.t == g_opt.t == STEPS
    for name in g_opt.state:  # the optimizer object holds the same state either way
        for a, b in zip(j_opt.state[name], g_opt.state[name]):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-9)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_follows_the_graph_backend(monkeypatch, name, compiled):
    """Small buffers run the rule's serial compile, large ones its parallel compile: force
    each path and compare with the graph backend."""
    from gradflow.kernels import update

    monkeypatch.setattr(update, "PARALLEL_FROM", 1 if compiled else 1 << 60)
    # the parallel compile itself, not its serial twin (which a cold cache would run first)
    monkeypatch.setattr(update, "parallel_rule", lambda rule: update.compile_rule(rule, True))
    model = models.mlp([4, 6, 3], "tanh", seed=1)
    batches = _batches(0, 5, (4,), 3)
    out = _trajectories(model, lambda ps: OPTIMIZERS[name](ps, lr=0.05), batches)
    _assert_same(out)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - {"gd"}))
def test_graph_and_flat_optimizer_steps_are_bit_identical(monkeypatch, name, dtype, parallel):
    """The graph optimizer runs the compiled rule per parameter (flat views), the jit
    backend once over the flat buffer: the same machine code, entry by entry, so after N
    steps with the same gradients (and weight decay) the parameters and states are equal to
    the last bit, in float32 as in float64."""
    from gradflow.kernels import update

    monkeypatch.setattr(update, "PARALLEL_FROM", 1 if parallel else 1 << 60)
    # the parallel compile itself, not its serial twin (which a cold cache would run first)
    monkeypatch.setattr(update, "parallel_rule", lambda rule: update.compile_rule(rule, True))
    model = models.mlp([5, 7, 3], "tanh", seed=11)
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    graph_model, jit_model = copy.deepcopy(model), copy.deepcopy(model)
    graph_opt = OPTIMIZERS[name](graph_model.parameters(), lr=0.03, weight_decay=0.01)
    jit_opt = OPTIMIZERS[name](jit_model.parameters(), lr=0.03, weight_decay=0.01)
    stepper = make_stepper(jit_model, "cross_entropy", jit_opt)
    rng = np.random.default_rng(12)
    for _ in range(STEPS):
        for gp, jp in zip(graph_model.parameters(), jit_model.parameters()):
            g = rng.normal(size=gp.data.shape).astype(dtype)
            gp.grad = g
            stepper.flat.grad_of(jp)[...] = g
        graph_opt.step()
        stepper.optimizer.step()
    for gp, jp in zip(graph_model.parameters(), jit_model.parameters()):
        assert jp.data.dtype == gp.data.dtype == dtype
        np.testing.assert_array_equal(jp.data, gp.data)
    for state in graph_opt.state:
        for a, b in zip(jit_opt.state[state], graph_opt.state[state]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "reg",
    [
        Regularizer(l1=0.01),
        Regularizer(l2=0.05),
        Regularizer(max_norm=0.5),
        Regularizer(l1=0.01, l2=0.01, penalize_biases=True),
    ],
)
def test_regularizers_follow_the_graph_backend(reg):
    model = models.mlp([4, 6, 3], "relu", seed=2)
    out = _trajectories(
        model, lambda ps: Adam(ps, lr=0.05), _batches(1, 5, (4,), 3), regularizer=reg
    )
    _assert_same(out)


@pytest.mark.parametrize("clip", [dict(clip_value=0.01), dict(clip_norm=0.05)])
def test_gradient_clipping_follows_the_graph_backend(clip):
    model = models.mlp([4, 6, 3], "relu", seed=3)
    out = _trajectories(
        model, lambda ps: MomentumVelocity(ps, lr=0.1, **clip), _batches(2, 5, (4,), 3)
    )
    _assert_same(out)


@pytest.mark.parametrize(
    "schedule",
    [
        lambda o: (
            schedules.Exponential(o, 0.5, per="batch")
            if _takes_two(schedules.Exponential)
            else schedules.Power(o, s=2.0)
        ),
        lambda o: schedules.Power(o, s=2.0, per="batch"),
    ],
)
def test_schedules_act_on_the_jit_optimizer(schedule):
    model = models.mlp([4, 5, 3], "relu", seed=4)
    out = _trajectories(
        model, lambda ps: Adam(ps, lr=0.1), _batches(3, 5, (4,), 3), schedule=schedule
    )
    _assert_same(out)
    assert out["jit"][2].lr < 0.1


def _takes_two(cls) -> bool:
    import inspect

    return len(inspect.signature(cls).parameters) >= 2


def test_cnn_and_lstm_training_follow_the_graph_backend():
    cnn = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, seed=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8, 3, seed=2),
    )
    _assert_same(_trajectories(cnn, lambda ps: Adam(ps, lr=0.01), _batches(4, 3, (1, 4, 4), 3)))
    lstm = models.SequenceModel("lstm", 2, 3, 2, seed=5)
    _assert_same(_trajectories(lstm, lambda ps: Adam(ps, lr=0.01), _batches(5, 3, (4, 2), 2)))


def test_float32_training_trajectory():
    model = models.mlp([4, 6, 3], "relu", seed=6)
    out = {}
    for backend in ("graph", "jit"):
        m = copy.deepcopy(model)
        for p in m.parameters():
            p.data = p.data.astype(np.float32)
        opt = Adam(m.parameters(), lr=0.01)
        stepper = (
            GraphStepper(m, "cross_entropy", opt)
            if backend == "graph"
            else make_stepper(m, "cross_entropy", opt)
        )
        out[backend] = np.array(
            [stepper.train_batch(x.astype(np.float32), y) for x, y in _batches(7, 5, (4,), 3)]
        )
    np.testing.assert_allclose(out["jit"], out["graph"], rtol=1e-4)


def test_the_same_model_object_trains_in_both_backends():
    """Parameters become views of the flat buffer; the graph engine keeps training them."""
    model = models.mlp([4, 6, 3], "relu", seed=8)
    opt = Adam(model.parameters(), lr=0.05)
    jit = make_backend_stepper(model, "cross_entropy", opt, backend="jit")
    graph = make_backend_stepper(model, "cross_entropy", opt, backend="graph")
    batches = _batches(8, 6, (4,), 3)
    jit.train_batch(*batches[0])
    flat = jit.flat.data
    assert all(np.shares_memory(p.data, flat) for p in model.parameters())
    graph.train_batch(*batches[1])  # in-place updates: still views of the flat buffer
    assert all(np.shares_memory(p.data, flat) for p in model.parameters())
    before = flat.copy()
    jit.train_batch(*batches[2])
    assert not np.allclose(flat, before)
    np.testing.assert_allclose(jit.predict(batches[3][0]), graph.predict(batches[3][0]), rtol=1e-12)


def test_fit_with_the_jit_backend_matches_the_graph_backend():
    r = np.random.default_rng(9)
    x, y = r.normal(size=(40, 4)), r.integers(0, 3, 40)
    histories = {}
    for backend in ("graph", "jit"):
        model = models.mlp([4, 8, 3], "relu", seed=9)
        h = fit(
            model,
            (x, y),
            (x[:10], y[:10]),
            epochs=2,
            batch_size=8,
            backend=backend,
            progress=False,
            seed=1,
        )
        histories[backend] = h
    for key in ("train_loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(histories["jit"][key], histories["graph"][key], rtol=1e-6)


@pytest.mark.parametrize("recipe", ["mlp", "rnn"])
def test_training_recipes_wrappers_follow_the_graph_backend(recipe):
    """The recipes' input adapters (flatten for an MLP, image rows for an RNN) are read as
    reshapes, so `gradflow train --backend jit` runs every recipe model."""
    from gradflow.training.recipes import prepare

    exp = prepare(recipe, "digits", 0)
    x, y = exp.train
    batches = [(x[k : k + 8], y[k : k + 8]) for k in range(0, 8 * STEPS, 8)]
    _assert_same(_trajectories(exp.model, lambda ps: Adam(ps, lr=0.01), batches, loss=exp.loss))


@pytest.mark.parametrize("view", [lambda: nn.Reshape(-1), nn.Flatten])
def test_an_mlp_after_a_view_trains_in_one_kernel_call_like_the_graph(view):
    """Images into an MLP (the mlp recipe's Reshape(-1), or Flatten): the one-call fast path
    is taken, and the trajectory is the graph backend's."""
    model = nn.Sequential(view(), nn.Linear(12, 7, seed=1), nn.ReLU(), nn.Linear(7, 3, seed=2))
    stepper = make_stepper(copy.deepcopy(model), "cross_entropy", None)
    stepper.train_batch(np.zeros((5, 3, 4)), np.zeros(5, dtype=int))
    assert stepper.plan.one_stack
    _assert_same(_trajectories(model, lambda p: Adam(p, lr=0.05), _batches(3, 5, (1, 3, 4), 3)))


@pytest.mark.skipif(stages.numba_threads() < 2, reason="needs numba with at least 2 threads")
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_a_linear_stack_on_two_batch_halves_follows_the_graph_backend(monkeypatch, loss):
    """Stacks above STACK_HALVES_MACS run each batch half on its own thread with per-half
    weight gradients added at the end (odd batches: halves of 2 and 3 rows; with one numba
    thread there are no halves, so it skips). The fused softmax-CE step and the general path
    both follow the graph backend."""
    monkeypatch.setattr(stages, "STACK_HALVES_MACS", 1)
    model = nn.Sequential(
        nn.Linear(6, 9, seed=1), nn.ReLU(), nn.Linear(9, 7, seed=2), nn.Tanh(),
        nn.Linear(7, 3, seed=3),
    )  # fmt: skip
    stepper = make_stepper(copy.deepcopy(model), loss, None)
    stepper.train_batch(
        np.ones((5, 6)), np.zeros(5, dtype=int) if loss != "mse" else np.zeros((5, 3))
    )
    assert "halves" in stepper.plan.train_stages[0].ws
    r = np.random.default_rng(4)
    if loss == "mse":
        batches = [(r.normal(size=(5, 6)), r.normal(size=(5, 3))) for _ in range(STEPS)]
    else:
        batches = _batches(4, 5, (6,), 3)
    _assert_same(_trajectories(model, lambda p: Adam(p, lr=0.05), batches, loss=loss))
