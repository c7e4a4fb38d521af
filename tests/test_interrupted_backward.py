"""Ctrl-C during backward(): whatever line the interrupt lands on, the graph is left either as
it was before the call (no marker, no part-added gradient, every ``.grad`` as it was), so
that running backward() again gives the gradients of one uninterrupted pass, or with the
pass complete.

The interrupt is injected by a trace function at the k-th line Python runs inside the call,
for every k up to the number of lines the call runs: the walk, the seed, the chain-rule
loop, the commit and the clean-up code itself are all hit."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import numpy as np
import pytest

import gradflow as gf
from gradflow import Tensor, Value, topological_order
from gradflow.graph import backprop


class _Interrupt:
    """A trace function raising KeyboardInterrupt at the ``k``-th line event (once)."""

    def __init__(self, k: int) -> None:
        self.k, self.seen, self.fired = k, 0, False

    def __call__(self, frame, event, arg):
        if event == "line" and not self.fired:
            self.seen += 1
            if self.seen == self.k:
                self.fired = True
                raise KeyboardInterrupt
        return self


def _interrupted(call: Callable[[], object], k: int) -> bool:
    """Run ``call`` with an interrupt at its k-th line; True if the interrupt fired."""
    trace = _Interrupt(k)
    old = sys.gettrace()
    sys.settrace(trace)
    try:
        call()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(old)
    return trace.fired


def _state(root) -> list:
    """What a stopped backward pass must leave as it was: every node's ``_g``, and the
    ``grad`` of every leaf (an interior node's ``grad`` is this pass's gradient alone, which
    a stopped commit may already have set: the retry sets the same)."""
    return [
        (n._g, np.array(n.grad, copy=True) if n.is_leaf and n.grad is not None else None)
        for n in topological_order(root)
    ]


def _same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for (ga, ka), (gb, kb) in zip(a, b):
        if (ga is None) != (gb is None) or (ka is None) != (kb is None):
            return False
        if ga is not None and (type(ga) is not type(gb) or not np.array_equal(ga, gb)):
            return False
        if ka is not None and not np.array_equal(ka, kb):
            return False
    return True


def _scalar_graph():
    a, b = Value(0.7, label="a"), Value(-1.3, label="b")
    c = Value(2.0, label="c", requires_grad=False)
    h = (a * b + c).tanh()
    y = h * h - (a / c).relu() + (b - h).sigmoid() * a.exp()
    return y, [a, b]


def _tensor_graph():
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(3, 2)), requires_grad=False)
    w = Tensor(rng.normal(size=(2, 4)), requires_grad=True)
    b = Tensor(rng.normal(size=4), requires_grad=True)
    y = ((x @ w + b).relu() * (x @ w).tanh()).sum()
    return y, [w, b]


GRAPHS = {"Value": _scalar_graph, "Tensor": _tensor_graph}
# how backward() is called, and the mode around it (entered outside the traced lines: a
# `with` block interrupted inside contextlib's own __enter__ is Python's matter, not ours)
PASSES = {
    "backward": (lambda y: y.backward(), contextlib.nullcontext),
    "anomaly mode": (lambda y: y.backward(), gf.detect_anomaly),
    "retain_graph": (lambda y: y.backward(retain_graph=True), contextlib.nullcontext),
}


def _grads(leaves) -> list[np.ndarray]:
    return [np.array(p.grad, copy=True) for p in leaves]


@pytest.mark.parametrize("run, mode", PASSES.values(), ids=PASSES.keys())
@pytest.mark.parametrize("make", GRAPHS.values(), ids=GRAPHS.keys())
def test_an_interrupted_backward_leaves_the_graph_as_it_was(make, run, mode):
    y, leaves = make()
    with mode():
        run(y)
    want = _grads(leaves)  # one uninterrupted pass from zero
    assert all(np.any(w != 0) for w in want), "a leaf without gradient proves nothing"
    k, fired = 0, True
    while fired:
        k += 1
        y, leaves = make()
        before = _state(y)
        with mode():
            fired = _interrupted(lambda y=y: run(y), k)
            if fired and _same(_state(y), before):
                run(y)  # the retry: the same gradients as one uninterrupted pass
        # else the interrupt came after the pass had finished: every gradient is there
        for got, w in zip(_grads(leaves), want):
            np.testing.assert_array_equal(got, w, err_msg=f"interrupt at line {k}")
    assert k > 20, "the trace function saw too few lines: the test proves nothing"
    assert not gf.graph.current_mode().anomaly


@pytest.mark.parametrize("make", GRAPHS.values(), ids=GRAPHS.keys())
def test_an_interrupted_dry_run_leaves_no_trace(make):
    """backward_steps (a pass that commits nothing) stopped anywhere changes nothing."""
    y, leaves = make()
    y.backward(retain_graph=True)  # gradients already there, which the dry run must keep
    before = _state(y)
    k, fired = 0, True
    while fired:
        k += 1
        fired = _interrupted(lambda: backprop(y, record=[], commit=False), k)
        assert _same(_state(y), before), f"interrupt at line {k} left a trace"
    assert k > 20


def test_a_scalar_walk_stopped_half_way_takes_its_markers_back():
    """The case that silently broke: Ctrl-C during the walk of a long chain left markers in
    the nodes, and the next backward() skipped them (every gradient 0)."""
    x, w = Value(0.5), Value(0.999)
    y = x
    for _ in range(200):
        y = y * w
    assert _interrupted(y.backward, 150)  # the walk runs ~10 lines a node: well inside it
    assert all(n._g is None for n in topological_order(y))
    y.backward()
    assert x.grad == pytest.approx(0.999**200) and w.grad == pytest.approx(200 * 0.5 * 0.999**199)
