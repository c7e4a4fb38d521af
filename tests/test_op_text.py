"""An op applied to its inputs, as text: graph labels (symbols) and step tables (names).

Every op of the table has a case below, built through its public entry point, with both
strings written out by hand. A new op fails ``test_every_op_has_a_text_case`` until it gets
one, so its graph label and step-table formula are checked the moment it is declared.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradflow as gf
from gradflow import OPS, Tensor, Value
from gradflow.graph import display_names, topological_order
from gradflow.nn.conv import conv1d, conv2d
from gradflow.nn.pool import avg_pool2d, max_pool1d
from gradflow.steps import node_formula
from gradflow.value import linear
from gradflow.visual.graph import op_text


def v(label, data=0.5):
    return Value(data, label=label)


def t(label, shape):
    return Tensor(np.linspace(0.1, 0.9, int(np.prod(shape))).reshape(shape), True, label=label)


x, y = (lambda: v("x")), (lambda: v("y"))
A, B = (lambda: t("A", (2, 3))), (lambda: t("B", (3, 2)))

# op name -> [(build the node, graph label, step-table formula)]
CASES = {
    "add": [(lambda: x() + y(), "x + y", "x + y"), (lambda: 2 + x(), "2 + x", "2 + x")],
    "sub": [(lambda: x() - y(), "x − y", "x − y")],
    "mul": [(lambda: x() * y(), "x·y", "x·y"), (lambda: 3 * x(), "3·x", "3·x")],
    "div": [(lambda: x() / y(), "x ÷ y", "x ÷ y")],
    "neg": [(lambda: -x(), "−x", "−x")],
    "pow": [
        (lambda: x() ** 2, "x²", "x ^ 2"),
        (lambda: x() ** 2.5, "x^2.5", "x ^ 2.5"),
        (lambda: x() ** -1, "x⁻¹", "x ^ -1"),
    ],
    "powv": [(lambda: x() ** y(), "x ^ y", "x ^ y")],
    "exp": [(lambda: x().exp(), "exp(x)", "exp(x)")],
    "log": [(lambda: x().log(), "log(x)", "log(x)")],
    "sqrt": [(lambda: x().sqrt(), "√(x)", "sqrt(x)")],
    "abs": [(lambda: abs(x()), "|·|(x)", "abs(x)")],
    "sin": [(lambda: x().sin(), "sin(x)", "sin(x)")],
    "cos": [(lambda: x().cos(), "cos(x)", "cos(x)")],
    "tanh": [(lambda: x().tanh(), "tanh(x)", "tanh(x)")],
    "sigmoid": [(lambda: x().sigmoid(), "σ(x)", "sigmoid(x)")],
    "relu": [(lambda: x().relu(), "ReLU(x)", "relu(x)")],
    "step": [(lambda: x().step(), "step(x)", "step(x)")],
    "leaky_relu": [
        (lambda: x().leaky_relu(0.1), "LReLU(x)", "leaky_relu(x, alpha=0.1)"),
        (lambda: x().leaky_relu(), "LReLU(x)", "leaky_relu(x, alpha=0.01)"),
    ],
    "elu": [(lambda: x().elu(), "ELU(x)", "elu(x, alpha=1.0)")],
    "selu": [(lambda: x().selu(), "SELU(x)", "selu(x)")],
    "gelu": [(lambda: x().gelu(), "GELU(x)", "gelu(x)")],
    "gelu_approx": [(lambda: x().gelu_approx(), "GELU≈(x)", "gelu_approx(x)")],
    "softplus": [(lambda: x().softplus(), "softplus(x)", "softplus(x)")],
    "swish": [
        (lambda: x().swish(beta=2.0), "swish(x)", "swish(x, beta=2.0)"),
        (lambda: x().silu(), "swish(x)", "swish(x, beta=1.0)"),
    ],
    "mish": [(lambda: x().mish(), "mish(x)", "mish(x)")],
    "maximum": [(lambda: x().maximum(y()), "max(x, y)", "maximum(x, y)")],
    "minimum": [(lambda: x().minimum(y()), "min(x, y)", "minimum(x, y)")],
    "clip": [(lambda: x().clip(-1.0, 0.5), "clip(x)", "clip(x, lo=-1.0, hi=0.5)")],
    "linear": [
        (
            lambda: linear([v("w1"), v("w2")], [v("x1"), v("x2")], v("b")),
            "Σ(w1, w2, x1, x2, b)",
            "linear(w1, w2, x1, x2, b)",
        )
    ],
    "matmul": [(lambda: A() @ B(), "A @ B", "matmul(A, B)")],
    "sum": [
        (lambda: A().sum(), "Σ(A)", "sum(A, keepdims=False)"),
        (lambda: A().sum(axis=1, keepdims=True), "Σ(A)", "sum(A, axis=1, keepdims=True)"),
    ],
    "mean": [(lambda: A().mean(axis=0), "mean(A)", "mean(A, axis=0, keepdims=False)")],
    "reshape": [(lambda: A().reshape(3, 2), "reshape(A)", "reshape(A, shape=(3, 2))")],
    "broadcast_to": [
        (
            lambda: t("r", (1, 3)).broadcast_to((2, 3)),
            "bcast(r)",
            "broadcast_to(r, shape=(2, 3))",
        )
    ],
    "transpose": [
        (lambda: A().T, "Aᵀ", "transpose(A)"),
        (lambda: A().transpose(1, 0), "Aᵀ", "transpose(A, axes=(1, 0))"),
    ],
    "getitem": [
        (lambda: A()[1], "[](A)", "getitem(A, index=1)"),
        # the index's repr is 29 characters: too long for a table cell, so it is left out
        (lambda: A()[:, 1], "[](A)", "getitem(A)"),
    ],
    # two different leaves labelled A: the second is A′, so no two nodes share a name
    "concat": [(lambda: gf.concat([A(), A()], axis=1), "concat(A, A′)", "concat(A, A′, axis=1)")],
    "stack": [(lambda: gf.stack([A(), A()]), "stack(A, A′)", "stack(A, A′, axis=0)")],
    "max": [(lambda: A().max(axis=1), "max(A)", "max(A, axis=1, keepdims=False)")],
    "min": [(lambda: A().min(axis=(0, 1)), "min(A)", "min(A, axis=(0, 1), keepdims=False)")],
    "logsumexp": [(lambda: A().logsumexp(), "LSE(A)", "logsumexp(A, keepdims=False)")],
    "softmax": [(lambda: A().softmax(), "softmax(A)", "softmax(A, axis=-1)")],
    "log_softmax": [(lambda: A().log_softmax(axis=0), "log_softmax(A)", "log_softmax(A, axis=0)")],
    # the condition is an array: never printed inline
    "where": [(lambda: gf.where([[True, False, True]], A(), A()), "where(A, A′)", "where(A, A′)")],
    "conv1d": [
        (
            lambda: conv1d(t("x", (1, 2, 5)), t("w", (3, 2, 2)), stride=2),
            "conv1d(x, w)",
            "conv1d(x, w, stride=(2,), padding=(0,))",
        )
    ],
    "conv2d": [
        (
            lambda: conv2d(t("x", (1, 1, 4, 4)), t("w", (2, 1, 3, 3)), padding=1),
            "conv2d(x, w)",
            "conv2d(x, w, stride=(1, 1), padding=(1, 1))",
        )
    ],
    "maxpool": [
        (
            lambda: max_pool1d(t("x", (1, 1, 4)), 2),
            "maxpool(x)",
            "maxpool(x, kernel=(2,), stride=(2,))",
        )
    ],
    "avgpool": [
        (
            lambda: avg_pool2d(t("x", (1, 1, 4, 4)), 2, stride=1),
            "avgpool(x)",
            "avgpool(x, kernel=(2, 2), stride=(1, 1))",
        )
    ],
}

ALL_CASES = [
    pytest.param(build, label, formula, id=f"{name}-{k}")
    for name, cases in CASES.items()
    for k, (build, label, formula) in enumerate(cases)
]


def test_every_op_has_a_text_case():
    missing = sorted(set(OPS) - set(CASES))
    assert not missing, f"ops without a graph-label / step-table case: {missing}"


@pytest.mark.parametrize(("build", "label", "formula"), ALL_CASES)
def test_graph_label_and_step_formula_of_every_op(build, label, formula):
    node = build()
    names = display_names(topological_order(node))
    assert op_text(node, names) == label
    assert node_formula(node, names) == formula


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_builds_the_op_it_is_filed_under(name):
    for build, _, _ in CASES[name]:
        assert build().op is OPS[name]


def test_forward_steps_and_graph_boxes_show_these_texts():
    z = v("w") * v("x")
    a = (z**2).relu()
    steps = gf.forward_steps(a)
    # unnamed nodes are named by their expression, bracketed where the order needs it
    assert [s.name for s in steps if s.op != "leaf"] == ["w·x", "(w·x)²", "ReLU((w·x)²)"]
    assert [s.formula for s in steps if s.op != "leaf"] == ["w·x", "(w·x) ^ 2", "relu((w·x)²)"]
    from gradflow.visual import draw_graph

    source = draw_graph(a).source
    assert 'label="w·x' in source and 'label="(w·x)²' in source and "ReLU((w·x)²)" in source
    labels = re.findall(r'label="([^"]*)"', source)  # DOT node ids stay n0, n1, ...
    assert not any(re.search(r"\bn\d", t) or " = " in t for t in labels), labels
    ids = gf.forward_steps(a, ids=True)
    assert [s.formula for s in ids if s.op != "leaf"] == ["w·x", "n1 ^ 2", "relu(n2)"]


def test_a_leaf_is_given():
    leaf = v("x")
    assert node_formula(leaf, {id(leaf): "x"}) == "given"


# --------------------------------------------------------------- the renderer itself

# display names are user labels: any text at all, braces included
arg_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6)


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda o: o.name)
@given(data=st.data())
def test_every_argument_appears_verbatim_and_in_order(op, data):
    arity = op.arity or data.draw(st.integers(1, 4))
    args = data.draw(st.lists(arg_names, min_size=arity, max_size=arity))
    for style in ("symbol", "name"):
        text = op.format_text(args, op.params, style)
        at = 0
        for a in args:
            found = text.find(a, at)
            assert found >= 0, (op.name, style, args, text)
            at = found + len(a)


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda o: o.name)
def test_tensor_ops_read_as_calls_in_step_tables(op):
    text = op.format_text(["a", "b", "c"][: op.arity or 2], {}, "name")
    if not op.elementwise:
        assert text.startswith(f"{op.name}(")


def test_call_form_lists_only_given_short_parameters():
    relu, leaky, where = OPS["relu"], OPS["leaky_relu"], OPS["where"]
    assert relu.format_text(["z"], {}, "name") == "relu(z)"
    assert leaky.format_text(["z"], {}, "name") == "leaky_relu(z)"
    assert leaky.format_text(["z"], {"alpha": 0.2}, "name") == "leaky_relu(z, alpha=0.2)"
    assert where.format_text(["a", "b"], {"cond": np.ones(3, bool)}, "name") == "where(a, b)"


def test_template_fields_fall_back_to_the_default_parameters():
    assert OPS["pow"].format_text(["x"], {}, "symbol") == "x^2"
    assert OPS["pow"].format_text(["x"], {}, "name") == "x ^ 2"


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="style"):
        OPS["add"].format_text(["a", "b"], {}, "latex")


def test_wrong_number_of_arguments_names_the_op():
    with pytest.raises(ValueError, match=r"add.*2 argument.*got 1"):
        OPS["add"].format_text(["a"], {}, "symbol")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{0} + {2}", "argument 2"),
        ("{0}^{m}", r"uses \{m\}"),
        ("{0}^{n!r}", "conversion"),
        ("{0} + {1", "template"),
    ],
)
def test_a_bad_text_template_fails_when_the_op_is_declared(text, message):
    pow_op = OPS["pow"]
    with pytest.raises(ValueError, match=message) as err:
        gf.ops.Op(
            "pow_bad",
            pow_op.symbol,
            pow_op.latex,
            1,
            True,
            pow_op.forward,
            pow_op.sympy,
            local=pow_op.local,
            params={"n": 2},
            text=text,
        )
    assert "pow_bad" in str(err.value)
