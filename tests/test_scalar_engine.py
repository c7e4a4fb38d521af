"""The scalar engine's fast path: operators from the shared mixin, nodes with their inputs in
slots, the one-loop backward pass; each checked against the general path it shortcuts."""

from __future__ import annotations

import gc
import linecache
import math
import operator
import re
import weakref

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import gradflow as gf
from gradflow import AnomalyError, Tensor, Value, arithmetic
from gradflow import ops as O
from gradflow.graph import backprop, topological_order
from gradflow.value import linear

OPERATORS = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.pow,
    lambda a, b: a.maximum(b) if isinstance(a, Value | Tensor) else b.minimum(a),
]
NUMPY_SCALARS = [np.int8, np.int64, np.uint16, np.float16, np.float32, np.float64]


def test_value_and_tensor_share_one_set_of_operators():
    """The dunders come from gradflow.arithmetic for both classes (no second copy). The
    scalar engine's operators and one-input methods are made per op from one template each
    by ``Value._binary_method`` / ``Value._unary_method`` (one Python call per node), with
    the op's formula written in where the table declares one."""
    binary = [(name, op) for name, rname, op, _ in arithmetic.BINARY for name in (name, rname)]
    binary += list(arithmetic.BINARY_METHODS)
    unary = list(arithmetic.UNARY) + [("relu", O.RELU), ("tanh", O.TANH), ("log", O.LOG)]
    for name, op in binary + unary:
        code = getattr(Value, name).__code__
        assert code.co_filename.startswith("<gradflow.value: "), name
        assert op.name in code.co_filename, name
        # no closure inside (a lambda in an ``except``): every local it read would be a
        # cell, allocated on each call — 30 ns of a 260 ns ``a * b``
        assert not code.co_cellvars, name
        assert getattr(Tensor, name).__module__ == "gradflow.arithmetic", name
    source = "".join(linecache.getlines(Value.__mul__.__code__.co_filename))
    assert "data = a * b" in source  # mul is declared by formula: no call of its forward
    source = "".join(linecache.getlines(Value.log.__code__.co_filename))
    assert "data = forward(xp, a)" in source  # log by a function: the function is called
    names = ["__pow__", "__rpow__", "silu"]
    for name in names:
        v, t = getattr(Value, name), getattr(Tensor, name)
        assert v.__code__ is t.__code__, name  # the same function body, made per class
        assert v.__module__ == "gradflow.arithmetic", name


@pytest.mark.parametrize("kind", NUMPY_SCALARS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("fn", OPERATORS, ids=["add", "sub", "mul", "div", "pow", "max/min"])
def test_numpy_scalars_on_both_sides_for_both_classes(kind, fn):
    """A numpy scalar acts as the Python number would, left or right, on a Value and on a
    Tensor (Tensor ** np.int64(2) used to raise TypeError)."""
    for left in (True, False):
        for make in (Value, lambda x: Tensor([x], requires_grad=True)):
            node, same = make(1.5), make(1.5)
            got = fn(node, kind(2)) if left else fn(kind(2), node)
            want = fn(same, 2) if left else fn(2, same)
            assert type(got) is type(node)
            (got if isinstance(got, Value) else got.sum()).backward()
            (want if isinstance(want, Value) else want.sum()).backward()
            assert np.allclose(got.data, want.data, rtol=1e-3)
            assert np.allclose(node.grad, same.grad, rtol=1e-3)


@pytest.mark.parametrize("cls", [Value, Tensor])
@pytest.mark.parametrize("symbol,fn", [("+", operator.add), ("*", operator.mul), ("**", pow)])
def test_an_operand_that_is_no_number_is_refused_naming_the_class(cls, symbol, fn):
    node = cls(1.0)
    with pytest.raises(TypeError, match=rf"for {re.escape(symbol)}: {cls.__name__} and str"):
        fn(node, "2")


values = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 3))


@given(x=values, y=values)
def test_value_and_tensor_agree_on_every_binary_operator(x, y):
    for fn in OPERATORS[:4]:
        assume(fn is not operator.truediv or y != 0)
        a, b = Value(x), Value(y)
        ta, tb = Tensor([x], requires_grad=True), Tensor([y], requires_grad=True)
        v, t = fn(a, b), fn(ta, tb)
        v.backward()
        t.sum().backward()
        assert v.data == pytest.approx(float(t.data[0]), rel=1e-12, abs=1e-12)
        assert a.grad == pytest.approx(float(ta.grad[0]), rel=1e-12, abs=1e-12)
        assert b.grad == pytest.approx(float(tb.grad[0]), rel=1e-12, abs=1e-12)


# ----------------------------------------------------------------- the node layout


def test_inputs_read_the_same_for_every_arity():
    x, y = Value(1.0, label="x"), Value(2.0, label="y")
    assert x.inputs == () and x.is_leaf
    assert (-x).inputs == (x,)
    assert (x * y).inputs == (x, y)
    z = linear([x, y], [y, x], x)
    assert z.inputs == (x, y, y, x, x)
    assert (x * y)._prev == {x, y}  # micrograd's name


def test_a_deep_copy_keeps_every_arity_of_inputs():
    import copy

    x, y = Value(1.0, label="x"), Value(2.0, label="y")
    root = linear([x, y], [y, x], x) * (-x) ** 2
    clone = copy.deepcopy(root)
    z = clone.inputs[0]
    assert len(z.inputs) == 5 and [i.label for i in z.inputs] == ["x", "y", "y", "x", "x"]
    clone.backward()
    assert clone.inputs[1].params == {"n": 2}
    root.backward()
    assert clone.data == root.data and clone.grad == root.grad


def test_a_scalar_op_node_is_one_object_for_the_cycle_collector():
    """A tuple of inputs per node doubled the collector's work on micrograd-style graphs;
    the inputs now sit in the node's own slots."""
    x, w = Value(1.0), Value(2.0)
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        nodes = [x * w for _ in range(1000)]
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert 1000 <= grown < 1010, grown
    assert not any(isinstance(r, tuple) for r in gc.get_referents(nodes[0]))


def test_a_scalar_graph_is_freed_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        x = Value(0.5)
        y = x
        for _ in range(1000):
            y = (y * 0.9 + 0.1).tanh()
        y.backward()
        probe = weakref.ref(y.inputs[0])
        del y
        assert probe() is None  # reference counting alone freed the graph
    finally:
        gc.enable()


# ----------------------------------------------------------------- backward


def test_a_deep_chain_gets_exact_gradients_without_recursion():
    n = 300_000
    x, w = Value(0.5), Value(1.0 - 1e-6)
    y = x
    for _ in range(n):
        y = y * w
    y.backward()
    assert x.grad == pytest.approx(w.data**n, rel=1e-9)
    assert w.grad == pytest.approx(n * 0.5 * w.data ** (n - 1), rel=1e-6)


@st.composite
def scalar_dags(draw):
    """A random DAG of Values over three leaves, ops chosen among every kind the fast pass
    handles (binary, unary, parameters, variadic, constants on either side)."""
    leaves = [Value(draw(values), label=f"x{k}") for k in range(3)]
    nodes = list(leaves)
    for _ in range(draw(st.integers(1, 12))):
        a, b = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
        kind = draw(st.integers(0, 7))
        n = [
            lambda: a + b,
            lambda: a * b,
            lambda: a - 2.0 * b,
            lambda: (a * 0.3).tanh(),
            lambda: a.relu() + b,
            lambda: a.leaky_relu(0.1) * b,  # a parameter: the general step
            lambda: a**2 + 1.0,  # pow has the parameter n
            lambda: linear([a, b], [b, a], a),  # variadic
        ][kind]()
        nodes.append(n)
    return leaves, sum(nodes[3:], nodes[-1])


@given(scalar_dags())
def test_the_one_loop_pass_matches_the_general_step_by_step_pass(dag):
    """backward() runs Value._backward_pass; a recorded dry run goes through _backward_step
    for every node. Both give the same gradient to every node."""
    leaves, root = dag
    general: dict[int, float] = {}
    record: list = []
    order = backprop(root, record=record, commit=False, collect=general)
    root.backward()
    for n in order:
        want = general.get(id(n))
        if want is None:
            continue
        assert n.grad == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert record  # the general path did run


def test_division_by_zero_gives_the_tensor_engines_ieee_answers():
    """Python floats raise on 1/0; the fast pass hands such a node to the general step,
    which gives numpy's inf/nan, and nothing is added twice."""
    for x, y in [(1.0, 0.0), (0.0, 0.0), (-2.0, 0.0)]:
        a, b = Value(x), Value(y)
        ta, tb = Tensor([x], requires_grad=True), Tensor([y], requires_grad=True)
        (a / b + a * b).backward()
        with np.errstate(all="ignore"):
            (ta / tb + ta * tb).sum().backward()
        np.testing.assert_array_equal([a.grad, b.grad], [ta.grad[0], tb.grad[0]])
    z = Value(0.0)
    (z / z).backward()  # both local derivatives raise: one node, two uses of z
    assert math.isnan(z.grad)


# every op the table declares by formula, with the Value method that runs it
FORMULA_OPS = [op for op in O.OPS.values() if op.forward_formula]
METHOD_OF = {op: name for name, _, op, _ in arithmetic.BINARY} | {
    op: name for name, op in arithmetic.UNARY
}
EDGE_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, 710.0, -710.0]),
)


def test_the_hot_ops_are_declared_by_formula():
    """The ops of micrograd-style code are the ones the scalar engine inlines."""
    names = {op.name for op in FORMULA_OPS}
    assert {"add", "sub", "mul", "div", "neg", "relu", "tanh", "sigmoid", "exp"} <= names
    for op in FORMULA_OPS:
        assert len(op.derivs_formula) == op.arity == len(op.derivs) and not op.params


@pytest.mark.parametrize("op", FORMULA_OPS, ids=lambda op: op.name)
@given(xs=st.lists(EDGE_FLOATS, min_size=2, max_size=2))
def test_a_formula_in_the_hot_path_gives_what_the_tables_functions_give(op, xs):
    """The generated method and backward loop (the formula written in) against the general
    path (the table's forward and derivative functions, numpy's IEEE answers where Python's
    floats raise): the same output and the same gradients, inf and nan included."""
    xs = xs[: op.arity]
    fast = [Value(x) for x in xs]
    ref = [Value(x) for x in xs]
    method = getattr(Value, METHOD_OF.get(op, op.name))
    with np.errstate(all="ignore"):
        out = method(*fast)
        want = gf.value.apply(op, tuple(ref))
        np.testing.assert_array_equal(out.data, want.data)
        out.backward()
        backprop(want, record=[])  # the step-by-step path: op.locals, node by node
    np.testing.assert_array_equal([x.grad for x in fast], [x.grad for x in ref])


def test_backward_leaves_no_marker_behind():
    """backward() marks the nodes it has seen in their ``_g`` slot; a node no gradient
    reached (a constant) ends with none, and a pass stopped by an error leaves none."""
    a, c = Value(2.0), Value(3.0, requires_grad=False)
    y = (a * c).tanh() + c
    y.backward()
    assert a.has_grad and not c.has_grad
    order = topological_order(y)
    assert all(n._g is None or type(n._g) is float for n in order)
    y.zero_grad()
    with pytest.raises(ValueError):
        y.backward(grad="one")  # the seed fails after the walk has marked every node
    assert all(n._g is None for n in order)
    y.backward()  # and the graph still works
    assert a.grad == pytest.approx(3.0 * (1.0 - math.tanh(6.0) ** 2))


def test_topological_order_lists_each_node_once_inputs_first():
    x, y = Value(1.0), Value(2.0)
    n = x * y
    root = (n + x) * (n - y) + n.relu()
    order = topological_order(root)
    assert len(order) == len({id(v) for v in order})
    pos = {id(v): i for i, v in enumerate(order)}
    assert all(pos[id(i)] < pos[id(v)] for v in order for i in v.inputs)
    # the first input's subtree comes first, as the order of a recursive walk
    assert order[:3] == [x, y, n]


# ----------------------------------------------------------------- modes on the fast path


def test_no_grad_scope_and_anomaly_hold_on_the_fast_path():
    a, b = Value(2.0), Value(3.0)
    with gf.no_grad():
        c = a * b
    assert not c.requires_grad and c.is_leaf and c.data == 6.0
    with gf.scope("layer1"):
        d = a + b
    assert d.scope == "layer1" and d.op.name == "add"
    with pytest.raises(AnomalyError, match="div"), gf.detect_anomaly():
        a / Value(0.0)


def test_constants_on_both_sides_get_no_gradient():
    a = Value(2.0)
    y = 3 * a + a * 4 - 1 / a
    y.backward()
    assert a.grad == pytest.approx(3 + 4 + 1 / 4)
    assert all(not i.requires_grad for i in y.inputs[1].inputs if i is not a)
