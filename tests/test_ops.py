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
    "step": [0.0],
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


# --- limits at boundary points: the values PyTorch documents (torch is not a dependency) ---
# pow_backward: exponent == 0 gives 0; pow_backward_self: where(exponent == 0, 0, b·a^(b−1));
# pow_backward_exponent: where(a == 0 & b >= 0, 0, a^b·ln a).
POW_LIMITS = [
    # (a, b, ∂/∂a, ∂/∂b) for a ** b with both a Value / Tensor
    (0.0, 0.0, 0.0, 0.0),
    (0.0, 2.0, 0.0, 0.0),
    (0.0, 1.0, 1.0, 0.0),
    (0.0, 0.5, math.inf, 0.0),
    (0.0, -1.0, -math.inf, -math.inf),
    (2.0, 3.0, 12.0, 8.0 * math.log(2.0)),
    (-2.0, 2.0, -4.0, math.nan),
]


def _same(got, want):
    return (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("a, b, da, db", POW_LIMITS)
def test_pow_limits_match_pytorch_scalar_and_tensor(a, b, da, db):
    x, e = Value(a), Value(b)
    (x**e).backward()
    assert _same(x.grad, da) and _same(e.grad, db), (a, b, x.grad, e.grad)
    tx, te = Tensor([a], requires_grad=True), Tensor([b], requires_grad=True)
    with np.errstate(all="ignore"):
        (tx**te).sum().backward()
    assert _same(tx.grad[0], da) and _same(te.grad[0], db), (a, b, tx.grad, te.grad)


@pytest.mark.parametrize("a", [0.0, 3.0, -2.0])
def test_constant_exponent_zero_has_derivative_zero(a):
    x = Value(a)
    (x**0).backward()
    assert x.grad == 0.0  # was 0·0^(−1) = NaN at a = 0
    t = Tensor([a, 1.0], requires_grad=True)
    (t**0).sum().backward()
    assert t.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("a, b", [(0.0, 0.0), (0.0, 2.0), (0.0, 1.0), (2.0, 3.0)])
def test_pow_limits_agree_with_sympy(a, b):
    x, e = Value(a, label="x"), Value(b, label="e")
    report = check_symbolic((x**e) * 3.0)
    assert report.ok, str(report)
    assert check_symbolic(Value(a, label="x") ** 0 + Value(a, label="y")).ok


def test_pow_derivative_text_is_course_notation():
    d = OPS["pow"].derivative_text
    assert OPS["powv"].derivative_text(0, ("x", "y")) == "y·x^(y − 1)"
    assert OPS["powv"].derivative_text(1, ("x", "y")) == "x^y·ln x"
    assert d(0, ("x",), {"n": 3}) == "3x²" and d(0, ("e",), {"n": 2}) == "2e"
    assert d(0, ("ytrue − y21",), {"n": 2}) == "2(ytrue − y21)"  # a sum is bracketed
    assert d(0, ("x",), {"n": -1}) == "−x⁻²" and d(0, ("x",), {"n": 1}) == "1"
    assert OPS["pow"].derivative_latex(0, ("w_{1}",), {"n": 3}) == "3\\,w_{1}^{2}"


def test_gradcheck_fails_on_nan_or_inf_and_says_which_side():
    r = gradcheck(lambda x: x**0 * 1.0, Value(0.0))  # engine used to give NaN here
    assert r.ok  # now defined as 0, and 0 is what finite differences give
    nan_engine = gradcheck(lambda x: _nan_grad(x), Value(1.0))
    assert not nan_engine and "engine is not finite" in str(nan_engine), str(nan_engine)
    assert "passed" not in str(nan_engine)
    inf_both = gradcheck(lambda x: x.sqrt(), Value(0.0))
    assert not inf_both and "engine and finite difference are not finite" in str(inf_both)
    fd_only = gradcheck(lambda x: _nan_forward_off_point(x), Value(1.0))
    assert not fd_only and "the finite difference is not finite" in str(fd_only), str(fd_only)


def _nan_grad(x):
    """x·1 whose local derivative is NaN: the engine side is broken, the function is fine."""
    y = x * 1.0
    y._op = gf.ops.Op(
        "mul_nan", "×", "{0}", 2, True, gf.ops.MUL.forward, gf.ops.MUL.sympy,
        local=lambda i, xp, out, xs, p: math.nan,
    )  # fmt: skip
    return y


def _nan_forward_off_point(x):
    """x exactly at 1, NaN a hair away: only finite differences see the NaN."""
    return x * 1.0 if x.data == 1.0 else x * math.nan


@pytest.mark.parametrize("a, n", [(-10.0, 309), (10.0, 309), (-10.0, 310), (0.0, -1), (-0.0, -1)])
def test_scalar_overflow_keeps_numpys_sign(a, n):
    """Python raises OverflowError for (-10.0) ** 309; the scalar engine answered +inf where
    numpy (and the tensor engine) give -inf."""
    with np.errstate(all="ignore"):
        want = float(np.power(np.float64(a), n))
        tensor = (Tensor([a]) ** n).data[0]
    assert (Value(a) ** n).data == want == tensor
    assert (Value(a) ** Value(float(n))).data == want
