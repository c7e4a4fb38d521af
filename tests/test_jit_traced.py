# ruff: noqa: E501  (the table of example models reads best one model a line)
"""The jit backend's traced plans: the course's own PyTorch-style classes, models written in
``forward`` (residual, attention, a custom activation), and registry-driven equivalence over
every activation op, every loss and every registered lowering."""

from __future__ import annotations

import copy
import pathlib
import re

import numpy as np
import pytest
from jit_helpers import assert_matches_graph

import gradflow
from gradflow import nn
from gradflow.jit import make_stepper
from gradflow.jit.lowerings import LOWERINGS
from gradflow.jit.trace import TraceError
from gradflow.nn import functional as F
from gradflow.nn.losses import LOSSES
from gradflow.optim.optimizers import SGD, Adam
from gradflow.training.backends import GraphStepper


# --- the course's classes, pasted with only the imports changed --------------------------------
class SmolMultilayerPerceptron(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 5)
        self.fc2 = nn.Linear(5, 4)
        self.fc3 = nn.Linear(4, 2)

    def forward(self, x):
        x = F.sigmoid(self.fc1(x))
        x = F.sigmoid(self.fc2(x))
        return self.fc3(x)


class OurCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 18, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(18, 32, 3)
        self.fc1 = nn.Linear(32 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 32 * 6 * 6)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def _losses_both_backends(model, x, y, steps, dtype, make_opt=lambda p: Adam(p, lr=0.01)):
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    a, b = copy.deepcopy(model), copy.deepcopy(model)
    graph = GraphStepper(a, "cross_entropy", make_opt(a.parameters()))
    jit = make_stepper(b, "cross_entropy", make_opt(b.parameters()), dtype=dtype)
    x = x.astype(dtype)
    got = [(graph.train_batch(x, y), jit.train_batch(x, y)) for _ in range(steps)]
    return np.array(got), jit


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_the_course_mlp_trains_alike_on_both_backends(dtype, tol):
    nn.manual_seed(0)
    model = SmolMultilayerPerceptron()
    r = np.random.default_rng(0)
    x, y = r.normal(size=(32, 3)), r.integers(0, 2, 32)
    losses, jit = _losses_both_backends(model, x, y, 6, dtype)
    np.testing.assert_allclose(losses[:, 1], losses[:, 0], rtol=tol, atol=tol)
    assert losses[-1, 1] < losses[0, 1]
    assert jit.plan.one_stack  # sigmoid fused into the Linear kernels: one call per step


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_the_course_cnn_trains_alike_on_both_backends(dtype, tol):
    nn.manual_seed(1)
    model = OurCNN()
    r = np.random.default_rng(1)
    x, y = r.normal(size=(4, 3, 32, 32)), r.integers(0, 10, 4)
    losses, jit = _losses_both_backends(model, x, y, 3, dtype)
    np.testing.assert_allclose(losses[:, 1], losses[:, 0], rtol=tol, atol=tol)
    names = [s.name for s in jit.plan.stages]
    assert names[0] == "Conv2d at conv1 + MaxPool2d at pool"  # relu and pool fused
    assert names[1] == "Conv2d at conv2 + MaxPool2d at pool"


def test_course_code_steps_on_the_graph_engine():
    """The PyTorch loop: zero_grad, forward, loss, backward, step, loss.item()."""
    nn.manual_seed(0)
    model = SmolMultilayerPerceptron()
    opt = SGD(model.parameters(), lr=0.5)
    x = gradflow.tensor(np.random.default_rng(2).normal(size=(16, 3)))
    y = (x.data[:, 0] > 0).astype(int)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first


# --- models written in forward --------------------------------------------------------------
class ResidualBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4, seed=1), nn.Linear(4, 4, seed=2)
        self.out = nn.Linear(4, 3, seed=3)

    def forward(self, x):
        h = F.relu(self.a(x))
        h = h + self.b(h)
        return self.out(F.gelu(h))


class WithAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.att = nn.SelfAttention(6, seed=0)
        self.fc = nn.Linear(6, 3, seed=2)

    def forward(self, x):
        return self.fc(self.att(x).mean(axis=1))


def my_activation(x):
    return x * (1.5 * x).sigmoid() + 0.1 * x.tanh()


class WithCustomActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 5, seed=1), nn.Linear(5, 3, seed=2)

    def forward(self, x):
        return self.b(my_activation(self.a(x)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "model, shape",
    [(ResidualBlock, (5, 4)), (WithAttention, (4, 5, 6)), (WithCustomActivation, (5, 3))],
)
def test_models_written_in_forward_match_the_graph(model, shape, dtype):
    r = np.random.default_rng(3)
    assert_matches_graph(model(), r.normal(size=shape), r.integers(0, 3, shape[0]), dtype=dtype)


class _MyLinear(nn.Linear):
    """A subclass that keeps Linear's forward."""


def test_a_subclass_of_linear_lowers_like_linear():
    r = np.random.default_rng(4)
    model = nn.Sequential(_MyLinear(3, 4, seed=1), nn.ReLU(), _MyLinear(4, 2, seed=2))
    stepper = assert_matches_graph(model, r.normal(size=(5, 3)), r.integers(0, 2, 5))
    assert [type(s).__name__ for s in stepper.plan.stages] == ["DenseStack"]


# --- value-dependent control flow ----------------------------------------------------------
class _BranchOnItem(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2, seed=1)

    def forward(self, x):
        y = self.a(x)
        return y if y.sum().item() > 0 else -y


class _BranchOnData(_BranchOnItem):
    def forward(self, x):
        y = self.a(x)
        return y if y.data.sum() > 0 else -y


def test_a_branch_on_item_is_named_at_its_line():
    stepper = make_stepper(_BranchOnItem(), "mse", None)
    with pytest.raises(TraceError, match=r"test_jit_traced\.py:\d+: .*\.item\(\)"):
        stepper.train_batch(np.ones((4, 3)), np.zeros((4, 2)))


def test_a_branch_on_data_is_found_by_a_second_trace():
    stepper = make_stepper(_BranchOnData(), "mse", None)
    x = np.random.default_rng(5).normal(size=(64, 3))
    with pytest.raises(TraceError, match="runs differently for different input values"):
        for k in range(8):  # the second trace may take the same branch; it will not 8 times
            stepper._plans.clear()
            stepper.train_batch(x * (-1) ** k, np.zeros((64, 2)))


# --- registry-driven: every activation op, every loss, every lowering ----------------------
@pytest.mark.parametrize("name", sorted(nn.ACTIVATIONS))
def test_every_activation_op_through_forward(name):
    act = nn.ACTIVATIONS[name]()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4, seed=1), nn.Linear(4, 2, seed=2)

        def forward(self, x):
            return self.b(act(self.a(x)) * 0.5 + act(x).sum(axis=1, keepdims=True))

    r = np.random.default_rng(6)
    assert_matches_graph(Net(), r.normal(size=(5, 3)), r.integers(0, 2, 5))


def _loss_case(name, r):
    """(output layer size, targets) for each loss of LOSSES."""
    b = 6
    cases = {
        "cross_entropy": (3, r.integers(0, 3, b)),
        "nll": (3, r.integers(0, 3, b)),
        "bce": (1, r.integers(0, 2, (b, 1)).astype(float)),
        "kl_div": (3, r.dirichlet(np.ones(3), b)),
        "margin_ranking": (2, r.choice([-1.0, 1.0], b)),
        "hinge": (1, r.choice([-1.0, 1.0], (b, 1))),
        "perceptron": (1, r.integers(0, 2, (b, 1)).astype(float)),
        "adaline": (1, r.integers(0, 2, (b, 1)).astype(float)),
        "gaussian_nll": (2, r.normal(size=(b, 1))),
    }
    return cases.get(name, (2, r.normal(size=(b, 2))))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_matches_the_graph(name):
    r = np.random.default_rng(7)
    width, y = _loss_case(name, r)
    last = {"bce": [nn.Sigmoid()], "nll": [nn.LogSoftmax()], "kl_div": [nn.LogSoftmax()]}
    model = nn.Sequential(
        nn.Linear(3, 4, seed=1), nn.Tanh(), nn.Linear(4, width, seed=2), *last.get(name, [])
    )
    assert_matches_graph(model, r.normal(size=(6, 3)), y, name)


#: one example model per registered lowering (a new lowering fails here until it has one)
LOWERED_EXAMPLES = {
    nn.Linear: (lambda: nn.Sequential(nn.Linear(3, 2, seed=1)), (5, 3)),
    nn.Conv1d: (lambda: nn.Sequential(nn.Conv1d(2, 3, 2, seed=1), nn.Flatten()), (4, 2, 5)),
    nn.Conv2d: (lambda: nn.Sequential(nn.Conv2d(2, 3, 2, seed=1), nn.Flatten()), (4, 2, 4, 4)),
    nn.MaxPool1d: (lambda: nn.Sequential(nn.MaxPool1d(2), nn.Flatten(), nn.Linear(4, 2)), (4, 2, 4)),
    nn.MaxPool2d: (lambda: nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2)), (4, 2, 4, 4)),
    nn.AvgPool1d: (lambda: nn.Sequential(nn.AvgPool1d(2), nn.Flatten(), nn.Linear(4, 2)), (4, 2, 4)),
    nn.AvgPool2d: (lambda: nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 2)), (4, 2, 4, 4)),
    nn.Flatten: (lambda: nn.Sequential(nn.Flatten(), nn.Linear(6, 2, seed=1)), (4, 2, 3)),
    nn.Dropout: (lambda: nn.Sequential(nn.Linear(3, 4, seed=1), nn.Dropout(0.3, seed=2), nn.Linear(4, 2)), (5, 3)),
    nn.RNN: (lambda: nn.models.SequenceModel("rnn", 3, 4, 2, seed=0), (4, 5, 3)),
    nn.LSTM: (lambda: nn.models.SequenceModel("lstm", 3, 4, 2, seed=0), (4, 5, 3)),
    nn.GRU: (lambda: nn.models.SequenceModel("gru", 3, 4, 2, seed=0), (4, 5, 3)),
    nn.BatchNorm1d: (lambda: nn.Sequential(nn.Linear(3, 4, seed=1), nn.BatchNorm1d(4), nn.Linear(4, 2)), (5, 3)),
    nn.BatchNorm2d: (lambda: nn.Sequential(nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2)), (4, 2, 2, 2)),
    nn.PReLU: (lambda: nn.Sequential(nn.Linear(3, 4, seed=1), nn.PReLU(4), nn.Linear(4, 2)), (5, 3)),
    nn.RReLU: (lambda: nn.Sequential(nn.Linear(3, 4, seed=1), nn.RReLU(seed=3), nn.Linear(4, 2)), (5, 3)),
    nn.Swish: (lambda: nn.Sequential(nn.Linear(3, 4, seed=1), nn.Swish(0.7, learnable=True), nn.Linear(4, 2)), (5, 3)),
}  # fmt: skip


def test_every_lowering_has_an_example():
    assert set(LOWERINGS) == set(LOWERED_EXAMPLES)


@pytest.mark.parametrize("cls", list(LOWERED_EXAMPLES), ids=lambda c: c.__name__)
def test_every_lowering_matches_the_graph(cls):
    make, shape = LOWERED_EXAMPLES[cls]
    r = np.random.default_rng(8)
    model = make()
    stepper = assert_matches_graph(model, r.normal(size=shape), r.integers(0, 2, shape[0]))
    stages = [s.stage for s in stepper.plan.steps]
    assert not any(type(s).__name__ == "GenericOp" and "Linear" in s.name for s in stages)


def test_no_class_name_strings_in_jit():
    """Layers are found by class (the lowering registry), never by their names."""
    names = {c.__name__ for c in LOWERINGS} | {"Sequential", "SequenceModel", "Autoencoder"}
    jit = pathlib.Path(gradflow.__file__).parent / "jit"
    for path in jit.glob("*.py"):
        text = path.read_text()
        for name in names:
            assert not re.search(rf"[\"']{name}[\"']", text), f"{path.name}: '{name}'"


def test_a_trace_records_only_its_own_thread():
    """Tracing swaps Module.__call__ for one forward; a model running in another thread at
    that moment (a sweep on a thread pool) must run normally and stay out of the trace."""
    import threading

    from gradflow.jit.trace import run_traced
    from gradflow.nn.module import Module

    inside, other_done = threading.Event(), threading.Event()

    class Waits(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2, seed=0)

        def forward(self, x):
            inside.set()
            assert other_done.wait(10)  # the other thread runs its model meanwhile
            return self.fc(x)

    other = nn.Sequential(nn.Linear(3, 4, seed=1), nn.ReLU())
    seen = {}

    def run_other():
        assert inside.wait(10)
        seen["out"] = other(gradflow.tensor(np.ones((2, 3)))).data
        other_done.set()

    original = Module.__call__
    thread = threading.Thread(target=run_other)
    thread.start()
    rec, _, out = run_traced(Waits(), np.ones((2, 3)), lambda m: True)
    thread.join(10)
    called = {type(c.module).__name__ for c in rec.calls}
    assert called <= {"Waits", "Linear"} and "ReLU" not in called and "Sequential" not in called
    np.testing.assert_allclose(seen["out"], other.forward(gradflow.tensor(np.ones((2, 3)))).data)
    assert Module.__call__ is original and out.shape == (2, 2)
