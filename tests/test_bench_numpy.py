"""The NumPy-by-hand baseline of ``gradflow bench`` computes what gradflow computes: its first
losses on each workload's model (same initial weights, same batches, same optimizer) match
gradflow's graph engine. Small batches (and short sequences) keep it quick."""

import numpy as np
import pytest

from gradflow.commands.bench import load_harness

harness = load_harness()  # benchmarks/harness.py: found by path, it is not installed
numpy_steps = harness.numpy_steps_module()


def _batches(key, batch, steps, seq_len=None):
    w = harness.WORKLOADS[key]
    x, y = w.data()
    if seq_len is not None:
        x = x[:, :seq_len]
    idx = harness._batches(len(x), batch, 1, steps)
    return w, [(np.ascontiguousarray(x[i]), y[i]) for i in idx]


def _graph_losses(w, model, batches):
    from gradflow.nn.losses import cross_entropy
    from gradflow.tensor import Tensor

    opt = harness.gradflow_optimizer(w, model.parameters())
    losses = []
    for xb, yb in batches:
        opt.zero_grad()
        loss = cross_entropy(model(Tensor(xb)), yb)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    return losses


@pytest.mark.parametrize(
    "key, batch, seq_len",
    [("W1", 16, None), ("W2", 8, None), ("W3", 4, None), ("W4", 4, 6), ("W4b", 4, 6),
     ("W4c", 4, 6)],
)  # fmt: skip
def test_numpy_baseline_losses_match_the_graph_engine(key, batch, seq_len):
    w, batches = _batches(key, batch, 4, seq_len)
    model = harness.gradflow_model(key)
    step = numpy_steps.STEPS[key](model, w.optimizer, w.lr, batches)  # copies the weights
    ours = [step(k) for k in range(len(batches))]
    expected = _graph_losses(w, model, batches)
    assert all(isinstance(v, float) for v in ours)
    np.testing.assert_allclose(ours, expected, rtol=2e-4, atol=1e-5)
    assert len(set(np.round(ours, 6))) > 1  # the optimizer moved the weights


def test_numpy_baseline_copies_the_weights_and_leaves_the_model_alone():
    w, batches = _batches("W1", 8, 2)
    model = harness.gradflow_model("W1")
    before = [p.data.copy() for p in model.parameters()]
    step = numpy_steps.STEPS["W1"](model, w.optimizer, w.lr, batches)
    step(0), step(1)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
