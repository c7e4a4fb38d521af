"""A safe parser for formulas typed by people: ``max(20*x - 10, 0)``, ``(ytrue - y)**2``.

User text is parsed with :mod:`ast` and then *walked*, never evaluated: only numbers, names,
``+ - * / **``, unary minus and calls of functions from the op table are accepted, with
limits on length, size, nesting and exponent size. Nesting counts what a reader sees as
nesting — brackets on the text; calls, signs and powers in the tree — not the length of a
flat sum: ``x1 + x2 + … + x500`` is one level (Python's tree of it is 499 deep). Nothing
here calls ``eval``, ``exec``, ``compile`` on user text, or SymPy's ``sympify``/
``parse_expr``. The command line (``gradflow render``) and the exercise files both use this
one parser.

When the names are bound to :class:`~gradflow.Tensor` nodes the same formula builds a tensor
graph, and two more things are allowed: matrix products ``W @ x`` and the tensor functions
of :data:`TENSOR_FUNCTIONS` (``sum(x, axis=0)``, ``softmax(z)``, ``transpose(W)``, ...).
Their parameters must be integer constants. The window ops of :mod:`gradflow.ops_conv` work
on grids as the course draws them: ``conv2d(X, K)`` for an image X (H, W) and a kernel
K (kh, kw) (cross-correlation; ``stride=``, ``padding=``), ``maxpool(X, 2)`` and
``avgpool(X, 2)`` for 2×2 windows (stride = the window unless ``stride=`` is given), and
``conv1d(x, k)``, ``maxpool(x, 2)`` for vectors; channels-first batches (B, C, H, W) work too.
"""

from __future__ import annotations

import ast
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

from . import ops_conv
from .errors import GradflowError
from .ops import OPS, bind_params
from .tensor import Tensor
from .tensor import apply as tensor_apply
from .value import Value, apply

MAX_LENGTH = 10_000
MAX_DEPTH = 60
MAX_NODES = 2000  # numbers, names and operations: a graph still worth drawing
MAX_EXPONENT = 64
MAX_NUMBER = 1e12

# Function names a formula may call: every scalar op of the table, plus friendly aliases.
ALIASES = {"max": "maximum", "min": "minimum", "silu": "swish", "sigma": "sigmoid"}
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}
# A left-associated run of operators of one family (a + b - c + d, a * b / c, A @ B @ C) is
# one level of nesting; it is walked as a loop, so a long flat sum does not recurse either.
_FAMILY = {ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*", ast.MatMult: "@"}
_OPENING, _CLOSING = "([{", ")]}"
# Tensor-only functions (ops of the table that are not elementwise) and the parameters a
# formula may pass them: of the table's ops, their integer parameters as the table declares
# them (an axis, or keepdims as 0/1); the window functions take integers that apply to every
# spatial axis (see :meth:`_Builder.window_call`).
_INTEGER_PARAMS = ("axis", "keepdims")
TENSOR_FUNCTIONS: dict[str, tuple[str, ...]] = {
    **{
        name: tuple(p for p in OPS[name].params if p in _INTEGER_PARAMS)
        for name in ("sum", "mean", "logsumexp", "softmax", "log_softmax", "transpose")
    },
    "conv1d": ("stride", "padding"),
    "conv2d": ("stride", "padding"),
    "maxpool": ("kernel", "stride"),
    "avgpool": ("kernel", "stride"),
}
# How many tensor arguments come before the parameters (1 unless listed).
TENSOR_ARITY = {"conv1d": 2, "conv2d": 2}
WINDOW_FUNCTIONS = ("conv1d", "conv2d", "maxpool", "avgpool")


class FormulaError(GradflowError, ValueError):
    """A formula that is malformed or not allowed; the message says where and why."""


@dataclass(frozen=True)
class Formula:
    """A parsed, validated formula: its text, AST and the names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def build(self, env: dict[str, Value] | dict[str, Tensor]) -> Value | Tensor:
        """Build the graph of this formula over the nodes in ``env`` (all Values, or all
        Tensors for a tensor graph)."""
        return _Builder(env, self.text).visit(self.tree)


def normalize_name(name: str) -> str:
    """A name as the parser reads it: Python folds identifiers to Unicode NFKC, so the
    fullwidth ``ｘ`` and the mathematical ``𝑥`` in a formula both mean ``x``. Names given
    from outside (``--at ｘ=4``) go through this too, so both sides agree."""
    return unicodedata.normalize("NFKC", name)


def functions() -> list[str]:
    """Names callable in a formula."""
    ops = [n for n, op in OPS.items() if op.elementwise and op.arity is not None]
    return sorted(set(ops) | set(ALIASES) | set(TENSOR_FUNCTIONS))


def did_you_mean(name: str) -> str:
    """``"; did you mean relu?"`` for a misspelt function name (``Relu``, ``relu2``,
    ``sigmod``), else ``""``."""
    import difflib

    known = functions()
    lower = {k.lower(): k for k in known}
    if name.lower() in lower:
        return f"; did you mean {lower[name.lower()]}?"
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def parse(text: str) -> Formula:
    """Parse and validate ``text``; raise :class:`FormulaError` naming the problem."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula too long ({len(text)} characters, limit {MAX_LENGTH})")
    if "\x00" in text:
        raise FormulaError("formula contains a NUL character")
    _check_brackets(text)
    try:
        with warnings.catch_warnings():  # Python's own SyntaxWarnings ("invalid decimal
            warnings.simplefilter("ignore", SyntaxWarning)  # literal"): the error says it
            tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise FormulaError(f"cannot parse {quote(text)}{col}: {e.msg}") from None
    except RecursionError:  # a run of thousands of signs: - - - ... x
        raise _too_deep() from None
    except (ValueError, MemoryError) as e:
        raise FormulaError(f"cannot parse {quote(text)}: {e}") from None
    size = sum(isinstance(n, ast.expr) for n in ast.walk(tree))
    if size > MAX_NODES:
        raise FormulaError(f"formula too large ({size} numbers, names and operations, limit "
                           f"{MAX_NODES})")  # fmt: skip
    names: set[str] = set()
    _validate(tree, text, names, 0)
    return Formula(text, tree, frozenset(names))


def quote(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message; a long formula is cut, so the error stays one line."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


def _too_deep() -> FormulaError:
    return FormulaError(f"formula nested too deeply (limit {MAX_DEPTH} levels)")


def _check_brackets(text: str) -> None:
    """Bracket nesting, counted on the text: ``((((x))))`` leaves no trace in the tree."""
    depth = 0
    for ch in text:
        if ch in _OPENING:
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep()
        elif ch in _CLOSING:
            depth -= 1


def _family(node: ast.AST) -> str | None:
    return _FAMILY.get(type(node.op)) if isinstance(node, ast.BinOp) else None


def _chain(node: ast.BinOp) -> tuple[ast.expr, list[ast.BinOp]]:
    """``a + b - c + d`` is ``((a + b) - c) + d`` in the tree: return ``a`` and the three
    operations from the innermost out, found with a loop."""
    family, links = _family(node), []
    while _family(node) == family:
        links.append(node)
        node = node.left
    return node, links[::-1]


def _where(node: ast.AST, text: str) -> str:
    col = getattr(node, "col_offset", None)
    return f" at column {col + 1}" if col is not None else ""


def _validate(node: ast.AST, text: str, names: set[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _too_deep()
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise FormulaError(
                f"only numbers are allowed as constants, got {v!r}{_where(node, text)}"
            )
        if abs(v) > MAX_NUMBER:
            raise FormulaError(f"number {v!r} too large (limit {MAX_NUMBER:g}){_where(node, text)}")
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise FormulaError(f"name {node.id!r} is not allowed (names may not start with _)")
        names.add(node.id)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _validate(node.operand, text, names, depth + 1)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        _validate(node.left, text, names, depth + 1)
        _validate(node.right, text, names, depth + 1)
        if any(
            isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node.right)
        ):
            raise FormulaError(
                f"a power inside an exponent (a**b**c) is not allowed{_where(node, text)}"
            )
        exp = _constant(node.right)
        if exp is not None and abs(exp) > MAX_EXPONENT:
            raise FormulaError(
                f"exponent {exp:g} too large (limit {MAX_EXPONENT}){_where(node, text)}"
            )
    elif _family(node) is not None:
        first, links = _chain(node)
        for operand in [first, *(link.right for link in links)]:
            _validate(operand, text, names, depth + 1)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise FormulaError(
                f"only plain function calls like relu(x) are allowed{_where(node, text)}"
            )
        if node.func.id in TENSOR_FUNCTIONS:
            _validate_tensor_call(node, text, names, depth)
            return
        fname = ALIASES.get(node.func.id, node.func.id)
        op = OPS.get(fname)
        if op is None or not op.elementwise or op.arity is None:
            raise FormulaError(
                f"unknown function {node.func.id!r}{_where(node, text)}"
                f"{did_you_mean(node.func.id)}; known: {', '.join(functions())}"
            )
        if node.keywords and any(k.arg is None for k in node.keywords):
            raise FormulaError(f"**kwargs are not allowed{_where(node, text)}")
        n_params = len(node.args) - op.arity + len(node.keywords)
        if len(node.args) < op.arity or n_params > len(op.params):
            raise FormulaError(
                f"{node.func.id}() takes {op.arity} argument(s)"
                + (f" and parameters {list(op.params)}" if op.params else "")
                + f", got {len(node.args) + len(node.keywords)}"
                + _where(node, text)
            )
        for a in node.args[: op.arity]:
            _validate(a, text, names, depth + 1)
        for a in list(node.args[op.arity :]) + [k.value for k in node.keywords]:
            if _constant(a) is None:
                raise FormulaError(
                    f"parameters of {node.func.id}() must be numbers{_where(a, text)}"
                )
        for k in node.keywords:
            if k.arg not in op.params:
                raise FormulaError(f"{node.func.id}() has no parameter {k.arg!r}")
    else:
        kind = type(node).__name__
        raise FormulaError(
            f"{kind} is not allowed in a formula{_where(node, text)}: use "
            "numbers, names, + - * / **, and functions such as relu(x)"
        )


def _validate_tensor_call(node: ast.Call, text: str, names: set[str], depth: int) -> None:
    """``sum(x, axis=0)``, ``conv2d(X, K)``: the tensor arguments, then integer parameters
    by position or name."""
    fname, allowed = node.func.id, TENSOR_FUNCTIONS[node.func.id]
    arity = TENSOR_ARITY.get(fname, 1)
    if any(k.arg is None for k in node.keywords):
        raise FormulaError(f"**kwargs are not allowed{_where(node, text)}")
    if len(node.args) < arity or len(node.args) - arity + len(node.keywords) > len(allowed):
        what = "one tensor argument" if arity == 1 else f"{arity} tensor arguments"
        raise FormulaError(
            f"{fname}() takes {what}"
            + (f" and parameters {list(allowed)}" if allowed else "")
            + f", got {len(node.args) + len(node.keywords)}{_where(node, text)}"
        )
    for a in node.args[:arity]:
        _validate(a, text, names, depth + 1)
    for k in node.keywords:
        if k.arg not in allowed:
            raise FormulaError(f"{fname}() has no parameter {k.arg!r}; it takes {list(allowed)}")
    for a in list(node.args[arity:]) + [k.value for k in node.keywords]:
        v = _constant(a)
        if v is None or not v.is_integer():
            raise FormulaError(f"parameters of {fname}() must be integers{_where(a, text)}")


def _constant(node: ast.AST) -> float | None:
    """The number a constant (possibly negated) node stands for, else None."""
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _constant(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    return None


class _Builder:
    """Walk a validated tree and build nodes through the op table.

    Scalar mode builds :class:`Value` nodes; when any bound name is a :class:`Tensor` the
    whole formula is built as a tensor graph (numbers become 0-d constant tensors).
    """

    def __init__(self, env: dict, text: str):
        self.env = env
        self.text = text
        self.tensor = any(isinstance(v, Tensor) for v in env.values())

    def const(self, v: float):
        if self.tensor:
            return Tensor(float(v))
        return Value(v, requires_grad=False)

    def apply(self, op, args: tuple, params: dict | None = None):
        if self.tensor:
            return tensor_apply(op, args, params or {})
        return apply(op, args, params or {})

    def visit(self, node: ast.AST):
        if isinstance(node, ast.Constant):
            return self.const(node.value)
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise FormulaError(f"undefined name {node.id!r} in {quote(self.text)}")
            return self.env[node.id]
        if isinstance(node, ast.UnaryOp):
            c = _constant(node)
            if c is not None:
                return self.const(c)
            v = self.visit(node.operand)
            return self.apply(OPS["neg"], (v,)) if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exp = _constant(node.right)
            if exp is not None:
                n = int(exp) if float(exp).is_integer() else exp
                return self.apply(OPS["pow"], (self.visit(node.left),), {"n": n})
            return self.apply(OPS["powv"], (self.visit(node.left), self.visit(node.right)))
        if isinstance(node, ast.BinOp):  # a chain a + b - c ...: a loop, not recursion
            first, links = _chain(node)
            out = self.visit(first)
            for link in links:
                if isinstance(link.op, ast.MatMult):
                    out = self.matmul(link, out)
                else:
                    out = self.apply(OPS[_BINOPS[type(link.op)]], (out, self.visit(link.right)))
            return out
        if isinstance(node, ast.Call):
            if node.func.id in TENSOR_FUNCTIONS:
                return self.tensor_call(node)
            op = OPS[ALIASES.get(node.func.id, node.func.id)]
            args = tuple(self.visit(a) for a in node.args[: op.arity])
            extra = tuple(_constant(a) for a in node.args[op.arity :])
            kw = {k.arg: _constant(k.value) for k in node.keywords}
            params = bind_params(op, extra, kw) if (op.params or extra or kw) else {}
            return self.apply(op, args, params)
        raise FormulaError(f"{type(node).__name__} is not allowed")  # unreachable: validated

    def matmul(self, node: ast.BinOp, left):
        """``left @ node.right``, ``left`` being the graph of ``node.left``."""
        if not self.tensor:
            raise FormulaError(
                f"'@' needs matrices or vectors{_where(node, self.text)} in {quote(self.text)}; "
                "every name here is a number"
            )
        return self.apply(OPS["matmul"], (left, self.visit(node.right)))

    def tensor_call(self, node: ast.Call):
        fname = node.func.id
        if not self.tensor:
            raise FormulaError(
                f"{fname}() works on tensors{_where(node, self.text)} in {quote(self.text)}; "
                "every name here is a number"
            )
        arity = TENSOR_ARITY.get(fname, 1)
        xs = [self.visit(a) for a in node.args[:arity]]
        names = TENSOR_FUNCTIONS[fname]
        given = dict(zip(names, (int(_constant(a)) for a in node.args[arity:])))
        given.update({k.arg: int(_constant(k.value)) for k in node.keywords})
        if fname in WINDOW_FUNCTIONS:
            return self.window_call(fname, xs, given)
        x = xs[0]
        if "keepdims" in given:
            given["keepdims"] = bool(given["keepdims"])
        op = OPS[fname]
        params = {**op.params, **given}
        axis = params.get("axis")
        if axis is not None and not -x.ndim <= axis < max(x.ndim, 1):
            raise FormulaError(
                f"{fname}(): axis {axis} out of range for shape {x.shape} in {quote(self.text)}"
            )
        return self.apply(op, (x,), params)

    def window_call(self, fname: str, xs: list, given: dict[str, int]):
        """``conv2d(X, K)``, ``maxpool(X, 2)``: a grid (or a channels-first batch) through the
        op of :mod:`gradflow.ops_conv`; each integer parameter applies to every spatial axis."""
        op, x = OPS[fname], xs[0]
        lowest = {"padding": 0}
        for key, v in given.items():
            if v < lowest.get(key, 1):
                raise FormulaError(
                    f"{fname}(): {key} must be at least {lowest.get(key, 1)}, got {v} in "
                    f"{quote(self.text)}"
                )
        if fname.startswith("conv"):
            d = len(op.params["stride"])
            stride = (given.get("stride", 1),) * d
            padding = (given.get("padding", 0),) * d
            ops_conv.check_conv(fname, x.shape, xs[1].shape, stride, padding, grids=True)
            return self.apply(op, tuple(xs), {"stride": stride, "padding": padding})
        d = x.ndim if x.ndim <= 2 else x.ndim - 2
        if d == 0:
            raise FormulaError(
                f"{fname}() needs a vector or a grid, got a number in {quote(self.text)}"
            )
        kernel = (given.get("kernel", 2),) * d
        stride = (given.get("stride", kernel[0]),) * d
        ops_conv.check_pool(fname, x.shape, kernel, grids=True)
        return self.apply(op, (x,), {"kernel": kernel, "stride": stride})


def evaluate(text: str, values: dict[str, Any], labels: bool = True) -> Value | Tensor:
    """Parse ``text`` and build its graph with a leaf ``Value`` per name from ``values``
    (a leaf ``Tensor`` per name when some value is a vector or matrix).

    >>> evaluate("max(20*x - 10, 0)", {"x": 4}).data
    70.0
    """
    f = parse(text)
    missing = sorted(f.names - set(values))
    if missing:
        raise FormulaError(f"no value given for {', '.join(missing)} in {quote(text)}")
    import numpy as np

    if any(np.ndim(v) for v in values.values()):  # a vector or matrix: a tensor graph
        env = {
            k: Tensor(
                np.asarray(v, dtype=np.float64), requires_grad=True, label=k if labels else ""
            )
            for k, v in values.items()
        }
    else:
        env = {k: Value(float(v), label=k if labels else "") for k, v in values.items()}
    return f.build(env)
