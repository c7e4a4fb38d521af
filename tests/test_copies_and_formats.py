"""Graphs pickle and deep-copy whole, with their ops still the table's; a Value and a
one-element Tensor work with ``float``, ``int`` and format specs, as PyTorch's tensors do."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow import OPS, Tensor, Value, topological_order
from gradflow.errors import ShapeError


def _scalar_graph():
    a, b = Value(0.7, label="a"), Value(-1.3, label="b")
    y = (a * b + 2).tanh() - (a / b).relu() + a.exp() * b.sigmoid() + a**2
    return y, (a, b)


def _tensor_graph():
    w = Tensor(np.array([[0.5, -1.0], [2.0, 0.25]]), requires_grad=True, label="W")
    x = Tensor(np.array([1.0, -2.0]), label="x")
    y = ((w @ x).tanh() * (w @ x)).sum()
    return y, (w,)


@pytest.mark.parametrize("make", [_scalar_graph, _tensor_graph], ids=["Value", "Tensor"])
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_graph_copies_whole_and_its_ops_stay_the_tables(make, how):
    y, leaves = make()
    y.backward()
    dup = copy.deepcopy(y) if how == "deepcopy" else pickle.loads(pickle.dumps(y))
    old, new = topological_order(y), topological_order(dup)
    assert len(old) == len(new) and all(m is not n for m, n in zip(old, new))
    for m, n in zip(old, new):
        assert n.op is m.op and (n.op is None or n.op is OPS[n.op.name])
        assert n.label == m.label
        np.testing.assert_array_equal(n.data, m.data)
        np.testing.assert_array_equal(n.grad, m.grad)
    dup.zero_grad()  # and the copy trains: the same gradients again, through the fast path
    dup.backward()
    copies = [n for n in new if n.label in {leaf.label for leaf in leaves}]
    for leaf, twin in zip(leaves, copies):
        np.testing.assert_array_equal(twin.grad, leaf.grad)


@given(x=st.floats(-1e6, 1e6), spec=st.sampled_from([".3f", ".2e", "8.1f", "+.0f", "g"]))
def test_a_value_and_a_scalar_tensor_format_as_their_number(x, spec):
    for node in (Value(x), Tensor(np.array(x)), Tensor(np.array([[x]]))):
        assert f"{node:{spec}}" == format(x, spec)
        assert float(node) == x and int(node) == int(x)
    assert f"{Value(x)}" == repr(Value(x))  # no spec: the repr, as str()


def test_a_bigger_tensor_says_it_has_more_than_one_element():
    t = Tensor(np.zeros((2, 3)))
    for call, what in ((float, "float()"), (int, "int()"), (lambda t: f"{t:.2f}", "'.2f'")):
        with pytest.raises(ShapeError, match=rf"{what}.*one element.*\(2, 3\)"):
            call(t)
    assert f"{t}" == repr(t)


@pytest.mark.parametrize(
    "data, words",
    [
        ("abc", r"got str: 'abc'"),
        ("3.5", r"got str: '3.5'"),  # text is the caller's to parse, as Tensor says too
        (None, r"got NoneType"),
        (1 + 2j, r"got complex"),
        ([1.0, 2.0], r"got list: \[1.0, 2.0\]"),
        (np.arange(100.0), r"got ndarray of shape \(100,\): array\(\[ 0\., .*\.\.\.$"),
    ],
)
def test_a_value_of_something_else_says_what_came(data, words):
    from gradflow.errors import ArgumentTypeError

    with pytest.raises(ArgumentTypeError, match=r"^Value\(data\): data must be a number, " + words):
        Value(data)


def test_a_value_too_large_for_a_float_says_so_briefly():
    from gradflow.errors import ArgumentError

    with pytest.raises(ArgumentError, match=r"^Value\(data\): 1000+\.\.\. is too large") as e:
        Value(10**400)
    assert len(str(e.value)) < 120
    assert Value(np.array(2.5)).data == 2.5 and Value(np.float32(0.5)).data == 0.5
