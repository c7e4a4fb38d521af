"""Every op in the table: engine derivative = SymPy derivative = finite difference."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import gradflow as gf
from gradflow import OPS, Tensor, Value, check_symbolic, gradcheck
from gradflow.ops import sym_number

finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
positive = st.floats(0.05, 3, allow_nan=False)
nonzero = finite.filter(lambda v: abs(v) > 0.1)
# Points each op is defined at; 0 is drawn often so the kink convention is exercised.
with_kinks = st.one_of(st.just(0.0), finite)
DOMAINS = {
    "log": (positive,),
    "sqrt": (positive,),
    "div": (finite, nonzero),
    "powv": (positive, st.floats(-2, 2)),
    "pow": (nonzero,),
}
PARAMS = {
    "pow": [{"n": 3}, {"n": 2.5}, {"n": -1}],
    "leaky_relu": [{"alpha": 0.1}],
    "elu": [{"alpha": 0.7}],
    "swish": [{"beta": 1.0}, {"beta": 2.0}],
    "clip": [{"lo": -1.0, "hi": 0.5}],
}
KINKS = {
    "relu": [0.0],
    "leaky_relu": [0.0],
    "elu": [0.0],
    "selu": [0.0],
    "abs": [0.0],
    "clip": [-1.0, 0.5],
    "maximum": [],
    "minimum": [],
}

SCALAR_OPS = [op for op in OPS.values() if op.elementwise and op.arity is not None]


def build(op, xs, params):
    from gradflow.value import apply

    leaves = [Value(x, label=f"x{k}") for k, x in enumerate(xs)]
    return leaves, apply(op, tuple(leaves), {**op.params, **params})


def sympy_derivs(op, xs, params):
    syms = [sp.Symbol(f"x{k}", real=True) for k in range(len(xs))]
    p = {k: sym_number(v) for k, v in {**op.params, **params}.items()}
    expr = op.sympy(*syms, **p)
    vals = {s: sym_number(v) for s, v in zip(syms, xs)}
    return float(expr.xreplace(vals)), [float(sp.diff(expr, s).xreplace(vals)) for s in syms]


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda o: o.name)
@given(data=st.data())
def test_engine_sympy_and_finite_differences_agree(op, data):
    doms = DOMAINS.get(op.name, (with_kinks,) * op.arity)
    xs = [data.draw(d) for d in doms]
    params = data.draw(st.sampled_from(PARAMS.get(op.name, [{}])))
    if not float(params.get("n", 1)).is_integer():  # x^2.5 is real only for x > 0
        xs = [abs(x) for x in xs]
    leaves, out = build(op, xs, params)
    out.backward()
    value, derivs = sympy_derivs(op, xs, params)
    assert out.data == pytest.approx(value, rel=1e-9, abs=1e-12)
    for leaf, d in zip(leaves, derivs):
        assert leaf.grad == pytest.approx(d, rel=1e-8, abs=1e-10), (op.name, xs)
    # finite differences are only meaningful away from kinks and ties
    h = 1e-6
    near_kink = any(abs(x - k) < 1e-4 for x in xs for k in KINKS.get(op.name, []))
    tie = op.arity == 2 and abs(xs[0] - xs[1]) < 1e-4
    assume(not near_kink and not tie)
    for k, leaf in enumerate(leaves):
        hi, lo = list(xs), list(xs)
        hi[k] += h
        lo[k] -= h
        fd = (build(op, hi, params)[1].data - build(op, lo, params)[1].data) / (2 * h)
        assert leaf.grad == pytest.approx(fd, rel=1e-4, abs=1e-5), (op.name, xs)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "selu", "abs"])
def test_kink_convention_is_the_left_branch(name):
    op = OPS[name]
    leaves, out = build(op, [0.0], {})
    out.backward()
    _, (d,) = sympy_derivs(op, [0.0], {})
    left = {
        "relu": 0.0,
        "leaky_relu": 0.01,
        "elu": 1.0,
        "selu": 1.0507009873554805 * 1.6732632423543772,
        "abs": 0.0,
    }[name]
    assert leaves[0].grad == pytest.approx(left) == d


def test_max_min_tie_goes_to_first_argument():
    a, b = Value(2.0), Value(2.0)
    a.maximum(b).backward()
    assert (a.grad, b.grad) == (1.0, 0.0)
    a, b = Value(2.0), Value(2.0)
    a.minimum(b).backward()
    assert (a.grad, b.grad) == (1.0, 0.0)


def test_every_op_has_display_and_sympy_form():
    for op in OPS.values():
        assert op.name and op.symbol and op.latex and op.doc, op.name
        assert callable(op.sympy) and callable(op.forward)
        assert (op.local is not None) if op.elementwise else (op.vjp is not None)


@pytest.mark.parametrize("op", [o for o in SCALAR_OPS if o.arity == 1], ids=lambda o: o.name)
@given(x=st.lists(finite, min_size=1, max_size=6))
def test_elementwise_tensor_matches_scalar_engine(op, x):
    x = [v + 1.5 if op.name in ("log", "sqrt") else v for v in x]
    x = [abs(v) + 0.1 if op.name in ("log", "sqrt", "pow") else v for v in x]
    t = Tensor(x, requires_grad=True)
    getattr(t, op.name)().sum().backward()
    for k, v in enumerate(x):
        s = Value(v)
        getattr(s, op.name)().backward()
        assert t.grad[k] == pytest.approx(s.grad, rel=1e-10, abs=1e-12)


def test_gelu_approximation_is_close_to_exact():
    xs = np.linspace(-3, 3, 61)
    exact = Tensor(xs).gelu().data
    approx = Tensor(xs).gelu_approx().data
    assert np.max(np.abs(exact - approx)) < 0.03


def test_tanh_identity_with_sigmoid():
    for v in np.linspace(-4, 4, 17):
        assert math.tanh(v) == pytest.approx(2 * Value(2 * v).sigmoid().data - 1)


def test_silu_is_swish_beta_one():
    x = Value(0.7)
    assert x.silu().data == pytest.approx(x.swish(1.0).data)


def test_linear_op_is_a_neuron():
    ws = [Value(0.5), Value(-2.0)]
    xs = [Value(3.0), Value(1.0)]
    b = Value(0.25)
    z = gf.value.linear(ws, xs, b)
    assert z.data == pytest.approx(0.5 * 3 - 2 + 0.25)
    assert check_symbolic(z).ok
    assert gradcheck(lambda *a: gf.value.linear(list(a[:2]), list(a[2:4]), a[4]), *ws, *xs, b)
