"""The kernels' elementwise maths is the op table's: activations and per-element loss terms run
each op's own forward and local derivative compiled by numba (gradflow.kernels.opforms), the
fused ReLU loops included; the two steppers share one regularisation and clipping policy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradflow
from gradflow import nn
from gradflow.jit import make_stepper
from gradflow.kernels import activation as act
from gradflow.kernels import dense as dense_k
from gradflow.kernels import opforms
from gradflow.numerics import ARRAY
from gradflow.ops import OPS
from gradflow.optim import optimizers
from gradflow.optim.optimizers import SGD
from gradflow.regularization import Regularizer

#: edges of every activation: its kink at 0 (both zeros), saturation, overflow of exp
X = np.concatenate([np.linspace(-40.0, 40.0, 1601), [0.0, -0.0, 1e-300, -1e-300, 710.0, -710.0]])


def _table(name, x, param):
    op = OPS[name]
    kw = {next(iter(op.params)): param} if op.params else {}
    out = op.forward(ARRAY, x, **kw)
    return out, op.local(0, ARRAY, out, (x,), kw)


@pytest.mark.parametrize("name", [n for n in act.CODES if n != "identity"])
def test_every_coded_activation_runs_its_op_table_forms(name):
    """forward/backward by code, and the dense kernel's fused bias+activation and δ loops
    (for the activations it fuses), equal the op table's forward and local derivative
    (graph engine's numpy forms)."""
    code, _, default = act.CODES[name]
    for param in {default, 0.3}:
        ref, dref = _table(name, X, param)
        a, dz = np.empty_like(X), np.empty_like(X)
        act.forward(X, a, code, param)
        act.backward(X, a, np.ones_like(X), dz, code, param)
        np.testing.assert_allclose(a, ref, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(dz, dref, rtol=1e-13, atol=1e-15)
        if code not in act.FUSED_CODES:
            continue
        z = X.reshape(1, -1).copy()
        fused = np.empty_like(z)
        dense_k.bias_activation(z, fused, np.zeros(0), code, param)  # ReLU: its own loop
        np.testing.assert_allclose(fused[0], ref, rtol=1e-14, atol=1e-15)
        delta = np.empty_like(z)
        dense_k.delta_of(z, fused, np.full_like(z, 2.0), delta, code, param)
        np.testing.assert_allclose(delta[0], 2.0 * dref, rtol=1e-13, atol=1e-15)


def test_relu_of_nan_is_nan_as_in_the_graph_engine():
    """The fused ReLU loop is the table's max(a, 0): NaN stays NaN (the NaN check sees it)."""
    z = np.array([[np.nan, -1.0, 2.0]])
    a = np.empty_like(z)
    dense_k.bias_activation(z, a, np.zeros(0), act.RELU, 0.0)
    assert np.isnan(a[0, 0]) and a[0, 1] == 0.0 and a[0, 2] == 2.0


_EDGES = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0]) | st.floats(-1e6, 1e6)


@given(_EDGES, _EDGES, st.sampled_from([np.float32, np.float64]))
def test_compiled_maximum_and_minimum_are_numpys(a, b, dtype):
    """XP.maximum/minimum (written as comparisons so the fused ReLU loops vectorise: numba's
    max() kept LeNet's conv+ReLU+pool kernel 13 % slower) are np.maximum/np.minimum, NaN in
    either place included."""
    a, b = dtype(a), dtype(b)
    for mine, numpys in ((opforms.XP.maximum, np.maximum), (opforms.XP.minimum, np.minimum)):
        got, want = mine(a, b), numpys(a, b)
        assert (np.isnan(got) and np.isnan(want)) or got == want, (mine, a, b, got, want)


def _fixed_arity(op) -> bool:
    """Forms with a fixed argument list (numba compiles no ``*xs, **params`` catch-alls;
    linear is variadic)."""
    if op.arity is None:
        return False
    forms = [op.forward, *opforms._partials(op)]
    return not any(f.__code__.co_flags & 0x0C for f in forms)  # CO_VARARGS | CO_VARKEYWORDS


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [n for n, op in OPS.items() if op.elementwise and _fixed_arity(op)]
)
def test_every_elementwise_op_compiles_from_the_table(name):
    """Any elementwise op of the table with a fixed argument list, not only the coded
    activations, compiles with numba and agrees with its numpy form."""
    op = OPS[name]
    r = np.random.default_rng(0)
    xs = [r.uniform(0.2, 2.0) for _ in range(op.arity)]
    params = [r.uniform(0.2, 2.0) if name != "clip" else v for v in op.params.values()]
    if name == "clip":
        params = [0.5, 1.5]
    kw = dict(zip(op.params, params))
    out = float(opforms.forward(name)(opforms.XP, *xs, *params))
    assert out == pytest.approx(float(op.forward(ARRAY, *map(np.float64, xs), **kw)), rel=1e-12)
    for i in range(op.arity):
        d = float(opforms.partial(name, i)(opforms.XP, out, *xs, *params))
        ref = op.local(i, ARRAY, np.float64(out), tuple(map(np.float64, xs)), kw)
        assert d == pytest.approx(float(ref), rel=1e-12), i


def test_sigmoid_is_written_once():
    """The stable sigmoid 1/(1 + e^−x), e^x/(1 + e^x) appears in one module of gradflow
    (numerics); kernels, losses and recurrent gates call it."""
    pattern = re.compile(r"1(\.0)?\s*/\s*\(\s*1(\.0)?\s*\+\s*(math|np)\.exp\(\s*-")
    root = Path(gradflow.__file__).parent
    found = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text())
    )
    assert found == ["numerics.py"], found


def test_the_jit_hinge_kernel_takes_the_margin():
    from gradflow.jit.losses import LossHead
    from gradflow.nn.losses import hinge
    from gradflow.tensor import Tensor

    r = np.random.default_rng(1)
    s, y = r.normal(size=(6, 1)), np.where(r.random((6, 1)) > 0.5, 1.0, -1.0)
    head = LossHead("hinge", np.float64, kwargs={"margin": 2.0})
    value = head.value_and_grad(s, y)
    pred = Tensor(s.copy(), requires_grad=True)
    loss = hinge(pred, y, margin=2.0)
    loss.backward()
    assert value == pytest.approx(float(loss.data), rel=1e-14)
    np.testing.assert_allclose(head.grad, pred.grad, rtol=1e-14)


def test_both_steppers_regularise_and_clip_by_one_implementation(monkeypatch):
    """The jit stepper's penalties, max-norm and clipping are the graph stepper's code
    (Regularizer.add_penalty_to / apply_max_norm, optimizers.clip_gradients)."""
    calls = []
    for owner, name in (
        (Regularizer, "add_penalty_to"),
        (Regularizer, "apply_max_norm"),
        (optimizers, "clip_gradients"),
    ):
        original = getattr(owner, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    import gradflow.jit.stepper as stepper_module

    monkeypatch.setattr(stepper_module, "clip_gradients", optimizers.clip_gradients)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = SGD(model.parameters(), lr=0.1, clip_norm=0.5)
    stepper = make_stepper(model, "cross_entropy", opt, regularizer=Regularizer(l2=0.1, max_norm=1))
    r = np.random.default_rng(0)
    stepper.train_batch(r.normal(size=(5, 3)), r.integers(0, 2, 5))
    assert calls == ["add_penalty_to", "clip_gradients", "apply_max_norm"]
    with pytest.raises(ValueError, match="l2 must be >= 0"):  # the keyword form: same checks
        make_stepper(model, "cross_entropy", opt, l2=-1.0)


@pytest.mark.parametrize("name", ["relu", "gelu", "tanh", "elu"])
def test_only_the_fused_activations_are_fused_into_a_linear(name):
    """Linear + an activation of ``act.FUSED`` is one stage; any other activation stays a stage
    of its own (the fused kernels compile only those forms), and both train as the graph."""
    model = nn.Sequential(nn.Linear(3, 4, seed=1), nn.get_activation(name), nn.Linear(4, 2, seed=2))
    stepper = make_stepper(model, "mse", SGD(model.parameters(), lr=0.1))
    x = np.linspace(-1.0, 1.0, 15).reshape(5, 3)
    out = stepper.forward(x, False)
    kinds = [type(step.stage).__name__ for step in stepper.plan_for(x, False).steps]
    fused = act.CODES[name][0] in act.FUSED_CODES
    assert ("Activation" in kinds) != fused, kinds
    want = model(gradflow.Tensor(x)).data
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
