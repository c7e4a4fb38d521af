"""The safe formula parser: builds graphs from text, rejects everything else, never runs it."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradflow import check_symbolic
from gradflow.formula import FormulaError, evaluate, normalize_name, parse


def test_seed002_formula():
    y = evaluate("max(max(20*x - 10, 0) - max(40*x - 200, 0), 0)", {"x": 4})
    assert y.data == 70.0
    loss = evaluate("(75 - relu(20*x - 10))**2", {"x": 4})
    loss.backward()
    assert loss.data == 25.0 and check_symbolic(loss).ok


def test_parameters_and_aliases():
    assert evaluate("leaky_relu(x, 0.1)", {"x": -2}).data == pytest.approx(-0.2)
    assert evaluate("leaky_relu(x, alpha=0.2)", {"x": -2}).data == pytest.approx(-0.4)
    assert evaluate("silu(x)", {"x": 1.0}).data == pytest.approx(0.7310585786)
    assert evaluate("2**x", {"x": 3}).data == 8.0
    assert evaluate("-x**2", {"x": 3}).data == -9.0


HOSTILE = [
    "__import__('os').system('echo pwned')",
    "x.__class__",
    "(lambda: 1)()",
    "[i for i in range(10)]",
    "9**9**9",
    "x**100000",
    "open('/etc/passwd')",
    "exec('1')",
    "eval('1')",
    "x if x else 1",
    "x[0]",
    "{'a': 1}",
    "f'{x}'",
    "x; y",
    "x == 1",
    "relu(x, **{'a': 1})",
    "_secret",
    "relu(" * 100 + "x" + ")" * 100,
    "-" * 500 + "x",
    "1e400",
    "True",
    "'text'",
    "relu.__globals__",
    "getattr(x, 'data')",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_rejected_with_a_clear_error(text):
    with pytest.raises(FormulaError) as e:
        evaluate(text, {"x": 1.0, "y": 2.0})
    assert str(e.value)


def test_errors_say_where_and_what():
    with pytest.raises(FormulaError, match="unknown function 'foo' at column 1"):
        parse("foo(x)")
    with pytest.raises(FormulaError, match="exponent 100 too large"):
        parse("x ** 100")
    with pytest.raises(FormulaError, match="no value given for y"):
        evaluate("x + y", {"x": 1})
    with pytest.raises(FormulaError, match="Attribute is not allowed"):
        parse("x.data")


def test_a_misspelt_function_gets_a_suggestion():
    for text, meant in [("Relu(x)", "relu"), ("rleu(x)", "relu"), ("sigmod(x)", "sigmoid")]:
        with pytest.raises(FormulaError, match=f"did you mean {meant}\\?"):
            parse(text)
    with pytest.raises(FormulaError) as e:
        parse("foo(x)")
    assert "did you mean" not in str(e.value)


@given(st.text(max_size=80))
def test_fuzzed_text_only_ever_raises_formula_error(text):
    from gradflow import Value

    try:
        f = parse(text)
        out = f.build({n: Value(0.5, label=n) for n in f.names})
    except FormulaError as e:  # anything else escaping fails the test
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(out, Value) or hasattr(out, "data")


ATOMS = st.sampled_from(["x", "y", "2", "0.5", "relu(x)", "tanh(y)", "max(x, y)", "sigmoid(x)"])


@st.composite
def formulas(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        return draw(ATOMS)
    op = draw(st.sampled_from(["+", "-", "*"]))
    return f"({draw(formulas(depth=depth - 1))} {op} {draw(formulas(depth=depth - 1))})"


@given(formulas(), st.floats(-2, 2), st.floats(-2, 2))
def test_generated_formulas_build_graphs_that_match_sympy(text, x, y):
    out = evaluate(text, {"x": x, "y": y})
    if out.requires_grad:
        assert check_symbolic(out).ok


# ------------------------------------------------------------------ tensor formulas


def _tensors(**arrays):
    from gradflow import Tensor

    return {
        k: Tensor(np.asarray(v, dtype=float), requires_grad=True, label=k)
        for k, v in arrays.items()
    }


def test_matmul_and_tensor_functions_build_a_tensor_graph():
    env = _tensors(W=[[1, 2], [3, 4]], x=[1, -1])
    y = parse("W @ x").build(env)
    assert y.data.tolist() == [-1.0, -1.0]  # [1 − 2, 3 − 4]
    s = parse("sum(transpose(W) @ x)").build(env)
    s.backward()
    # s = Σ_j Σ_i W_ij x_i, so ∂s/∂x_i = Σ_j W_ij (row sums) and ∂s/∂W_ij = x_i
    assert env["x"].grad.tolist() == [3.0, 7.0]
    assert env["W"].grad.tolist() == [[1.0, 1.0], [-1.0, -1.0]]


def test_tensor_function_parameters():
    env = _tensors(A=[[1, 2, 3], [4, 5, 6]])
    assert parse("sum(A, axis=0)").build(env).data.tolist() == [5.0, 7.0, 9.0]
    assert parse("sum(A, 1)").build(env).data.tolist() == [6.0, 15.0]
    assert parse("mean(A, axis=1, keepdims=1)").build(env).data.shape == (2, 1)
    assert np.allclose(parse("sum(softmax(A, axis=1), axis=1)").build(env).data, 1.0)
    assert np.allclose(
        parse("log_softmax(A)").build(env).data, np.log(parse("softmax(A)").build(env).data)
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("sum(A, 0.5)", "parameters of sum\\(\\) must be integers"),
        ("sum(A, axis=x)", "must be integers"),
        ("softmax(A, keepdims=1)", "softmax\\(\\) has no parameter 'keepdims'"),
        ("transpose(A, 1)", "transpose\\(\\) takes one tensor argument"),
        ("sum()", "sum\\(\\) takes one tensor argument"),
        ("sum(A, axis=5)", "axis 5 out of range for shape \\(2, 3\\)"),
        ("A.T", "Attribute is not allowed"),
        ("A[0]", "Subscript is not allowed"),
    ],
)
def test_tensor_formula_errors_are_clear(text, message):
    env = _tensors(A=[[1, 2, 3], [4, 5, 6]], x=[1, 1])
    with pytest.raises(FormulaError, match=message):
        parse(text).build(env)


def test_tensor_syntax_on_scalars_is_refused_with_a_reason():
    with pytest.raises(FormulaError, match="'@' needs matrices or vectors"):
        evaluate("x @ y", {"x": 1, "y": 2})
    with pytest.raises(FormulaError, match="sum\\(\\) works on tensors"):
        evaluate("sum(x)", {"x": 1})


def test_matmul_shape_mismatch_names_both_shapes():
    from gradflow import ShapeError

    env = _tensors(A=[[1, 2, 3], [4, 5, 6]], x=[1, 1])
    with pytest.raises(ShapeError, match=r"matmul \(2, 3\) @ \(2,\)"):
        parse("A @ x").build(env)


def _loop_correlate(x, k, stride=1, padding=0):
    """The course's definition, written as loops: y_ij = Σ_ab k_ab x_{i·s+a, j·s+b}."""
    x = np.pad(x, padding)
    h, w = ((n - m) // stride + 1 for n, m in zip(x.shape, k.shape))
    return np.array(
        [[(x[i * stride : i * stride + k.shape[0], j * stride :][:, : k.shape[1]] * k).sum()
          for j in range(w)] for i in range(h)]
    )  # fmt: skip


grid = st.integers(2, 5).flatmap(
    lambda n: st.lists(st.floats(-3, 3), min_size=n * n, max_size=n * n).map(
        lambda v: np.reshape(v, (n, n))
    )
)


@given(grid, st.integers(1, 2), st.integers(1, 2), st.integers(0, 1), st.integers(0, 99))
def test_conv2d_on_grids_is_the_conv_op_and_matches_loops_and_sympy(x, k, stride, pad, seed):
    kernel = np.random.default_rng(seed).normal(size=(k, k))
    env = _tensors(X=x, K=kernel)
    y = parse(f"conv2d(X, K, stride={stride}, padding={pad})").build(env)
    assert y._op.name == "conv2d" and y.shape == _loop_correlate(x, kernel, stride, pad).shape
    np.testing.assert_allclose(y.data, _loop_correlate(x, kernel, stride, pad), atol=1e-12)
    loss = (y * y).sum()
    assert check_symbolic(loss).ok
    loss.backward()
    # the grid is read as one image, one channel, one filter: the batched op gives the same
    from gradflow import Tensor, nn

    xb = Tensor(x[None, None], requires_grad=True)
    kb = Tensor(kernel[None, None], requires_grad=True)
    (nn.conv2d(xb, kb, stride=stride, padding=pad) ** 2).sum().backward()
    np.testing.assert_allclose(env["X"].grad, xb.grad[0, 0], atol=1e-12)
    np.testing.assert_allclose(env["K"].grad, kb.grad[0, 0], atol=1e-12)


@given(grid, st.sampled_from(["maxpool", "avgpool"]), st.integers(1, 2), st.integers(1, 2))
def test_pooling_on_grids_matches_loops_and_sympy(x, fn, kernel, stride):
    env = _tensors(A=x)
    p = parse(f"{fn}(A, {kernel}, stride={stride})").build(env)
    reduce = np.max if fn == "maxpool" else np.mean
    n = (x.shape[0] - kernel) // stride + 1
    want = [[reduce(x[i * stride : i * stride + kernel, j * stride : j * stride + kernel])
             for j in range(n)] for i in range(n)]  # fmt: skip
    np.testing.assert_allclose(p.data, want, atol=1e-12)
    windows = [x[i * stride : i * stride + kernel, j * stride : j * stride + kernel]
               for i in range(n) for j in range(n)]  # fmt: skip
    assume(fn == "avgpool" or all(np.sum(w == w.max()) == 1 for w in windows))  # no tie: a kink
    assert check_symbolic((p * p).sum()).ok


def test_window_functions_default_to_a_2x2_window_and_work_on_vectors():
    env = _tensors(A=[[1, 3, 2, 0], [4, 2, 1, 5], [0, -1, 3, 2], [2, 1, 1, 0]], v=[1, 5, 2, 0])
    assert parse("maxpool(A)").build(env).data.tolist() == [[4, 5], [2, 3]]
    assert parse("avgpool(A, 2)").build(env).data.tolist() == [[2.5, 2], [0.5, 1.5]]
    assert parse("maxpool(v, 2)").build(env).data.tolist() == [5, 2]
    assert parse("conv1d(v, v)").build(env).data.tolist() == [30]


@pytest.mark.parametrize(
    "text, error, message",
    [
        ("conv2d(X)", FormulaError, r"conv2d\(\) takes 2 tensor arguments"),
        ("conv2d(X, K, 1, 0, 3)", FormulaError, "takes 2 tensor arguments"),
        ("conv2d(X, K, stride=0)", FormulaError, "stride must be at least 1, got 0"),
        ("maxpool(X, 0)", FormulaError, "kernel must be at least 1"),
        ("conv2d(X, K, padding=-1)", FormulaError, "padding must be at least 0"),
        ("conv2d(K, X)", "shape", r"kernel \(3, 3\) is larger than the padded input \(2, 2\)"),
        ("conv2d(X, v)", "shape", r"conv2d: input \(3, 3\) must be .* or both grids"),
        ("maxpool(X, 4)", "shape", r"maxpool: kernel \(4, 4\) is larger than the input"),
        ("maxpool(s)", FormulaError, "needs a vector or a grid"),
    ],
)
def test_window_function_errors_are_one_clear_line(text, error, message):
    from gradflow import ShapeError

    env = _tensors(X=np.ones((3, 3)), K=np.ones((2, 2)), v=[1, 2], s=2)
    with pytest.raises(ShapeError if error == "shape" else error, match=message) as e:
        parse(text).build(env)
    assert "\n" not in str(e.value)


TENSOR_ATOMS = st.sampled_from(["A", "B", "0.5", "relu(A)", "tanh(B)", "softmax(A)", "A @ B"])


@st.composite
def tensor_formulas(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        return draw(TENSOR_ATOMS)
    kind = draw(st.sampled_from(["+", "-", "*", "@", "f"]))
    a, b = draw(tensor_formulas(depth=depth - 1)), draw(tensor_formulas(depth=depth - 1))
    if kind == "f":
        fn = draw(st.sampled_from(["softmax", "log_softmax", "transpose", "sigmoid"]))
        return f"{fn}({a})"
    return f"({a} {kind} {b})"


square = st.lists(st.floats(-2, 2), min_size=4, max_size=4).map(lambda v: np.reshape(v, (2, 2)))


@given(tensor_formulas(), square, square)
def test_generated_tensor_formulas_match_sympy(text, a, b):
    from gradflow import ShapeError

    try:
        out = parse(f"sum({text})").build(_tensors(A=a, B=b))
    except ShapeError as e:  # a number @ a matrix: refused with both shapes, as it should
        assert "matmul" in str(e)
    except FormulaError as e:  # softmax(0.5): an axis op on a number, refused by name
        assert any(f"{fn}()" in str(e) for fn in ("softmax", "log_softmax", "transpose")), e
    else:
        assert not out.requires_grad or check_symbolic(out).ok


@given(st.text(alphabet="AB@()+-*/,=. 0123456789sumeantpxolgfri_", max_size=60))
def test_fuzzed_tensor_text_only_ever_raises_documented_errors(text):
    from gradflow import GradflowError

    try:
        out = parse(text).build(_tensors(A=[[1.0, 2.0], [3.0, 4.0]], B=[[0.5, 0.0], [1.0, -1.0]]))
    except (FormulaError, GradflowError) as e:  # anything else escaping fails the test
        assert str(e) and "\n" not in str(e)
    else:
        assert hasattr(out, "data")


# ------------------------------------------------------------------ size and nesting

FLAT_SUM = " + ".join(f"x{k}" for k in range(1, 501))


def test_a_flat_sum_of_500_terms_is_one_level_not_500():
    from gradflow import Value
    from gradflow.steps import backward_steps, forward_steps

    env = {f"x{k}": Value(float(k), label=f"x{k}") for k in range(1, 501)}
    out = parse(FLAT_SUM).build(env)  # the builder walks the chain with a loop
    assert out.data == 500 * 501 / 2
    out.backward()  # and nothing downstream recurses 500 deep
    assert {leaf.grad for leaf in env.values()} == {1.0}
    assert len(forward_steps(out)) == 999 and len(backward_steps(out)) == 2 * 499
    assert evaluate(" * ".join(["x"] * 300) + " / x", {"x": 1.0}).data == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "(" * 61 + "x" + ")" * 61,
        "(" * 200 + "x" + ")" * 200,  # Python's own limit; the same message as ours
        "-(" * 61 + "x" + ")" * 61,
        "-" * 61 + "x",
        "-" * 5000 + "x",  # Python's parser itself runs out of recursion
        "relu(" * 61 + "x" + ")" * 61,
        "x * (" * 61 + "x" + ")" * 61,
    ],
)
def test_real_nesting_is_refused_with_one_message(text):
    with pytest.raises(FormulaError) as e:
        parse(text)
    assert str(e.value) == "formula nested too deeply (limit 60 levels)"


def test_nesting_up_to_the_limit_is_fine():
    assert evaluate("(" * 60 + "x" + ")" * 60, {"x": 2.0}).data == 2.0
    assert evaluate("-" * 60 + "x", {"x": 2.0}).data == 2.0
    assert evaluate("-(" * 30 + "x" + ")" * 30, {"x": 2.0}).data == 2.0


def test_size_is_limited_and_long_text_is_cut_in_messages():
    with pytest.raises(FormulaError, match=r"formula too large \(4001 .*limit 2000\)"):
        parse(" + ".join(["x"] * 2001))
    with pytest.raises(FormulaError) as e:
        parse("x + " * 1000 + ")")
    assert "… (4001 characters)" in str(e.value) and len(str(e.value)) < 200


@given(
    st.lists(st.tuples(st.sampled_from("+-"), st.floats(-1e3, 1e3)), min_size=1, max_size=80),
    st.lists(st.tuples(st.sampled_from("*/"), st.floats(0.5, 2)), min_size=1, max_size=80),
)
def test_chains_fold_left_to_right(sums, products):
    total, text, values = 0.0, "0", {}
    for k, (op, v) in enumerate(sums):
        text, values[f"a{k}"] = f"{text} {op} a{k}", v
        total = total + v if op == "+" else total - v
    assert evaluate(text, values).data == total
    total, text, values = 1.0, "1", {}
    for k, (op, v) in enumerate(products):
        text, values[f"m{k}"] = f"{text} {op} m{k}", v
        total = total * v if op == "*" else total / v
    assert evaluate(text, values).data == total


def test_look_alike_letters_mean_the_same_name():
    assert normalize_name("ｘ") == normalize_name("𝑥") == "x"
    assert parse("ｘ + 𝑥 * x").names == {"x"}
    assert evaluate("ｘ * 2", {normalize_name("ｘ"): 3.0}).data == 6.0


def test_python_syntax_warnings_never_reach_the_user():
    """'1if x else 2' makes Python's parser warn ("invalid decimal literal") before the
    formula is refused: the user gets the one-line FormulaError, no SyntaxWarning."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for text in ("1if x else 2", "1or 2", "2and x"):
            with pytest.raises(FormulaError):
                parse(text)
    assert not [w for w in seen if issubclass(w.category, SyntaxWarning)]
