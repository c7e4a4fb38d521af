"""A safe parser for formulas typed by people: ``max(20*x - 10, 0)``, ``(ytrue - y)**2``.

User text is parsed with :mod:`ast` and then *walked*, never evaluated: only numbers, names,
``+ - * / **``, unary minus and calls of functions from the op table are accepted, with
limits on length, nesting and exponent size. Nothing here calls ``eval``, ``exec``,
``compile`` on user text, or SymPy's ``sympify``/``parse_expr``. The command line
(``gradflow render``) and the exercise files both use this one parser.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .errors import GradflowError
from .ops import OPS, bind_params
from .value import Value, apply

MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_EXPONENT = 64
MAX_NUMBER = 1e12

# Function names a formula may call: every scalar op of the table, plus friendly aliases.
ALIASES = {"max": "maximum", "min": "minimum", "silu": "swish", "sigma": "sigmoid"}
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}


class FormulaError(GradflowError, ValueError):
    """A formula that is malformed or not allowed; the message says where and why."""


@dataclass(frozen=True)
class Formula:
    """A parsed, validated formula: its text, AST and the names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def build(self, env: dict[str, Value]) -> Value:
        """Build the scalar graph of this formula over the nodes in ``env``."""
        return _Builder(env, self.text).visit(self.tree)


def functions() -> list[str]:
    """Names callable in a formula."""
    ops = [n for n, op in OPS.items() if op.elementwise and op.arity is not None]
    return sorted(set(ops) | set(ALIASES))


def parse(text: str) -> Formula:
    """Parse and validate ``text``; raise :class:`FormulaError` naming the problem."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula too long ({len(text)} characters, limit {MAX_LENGTH})")
    if "\x00" in text:
        raise FormulaError("formula contains a NUL character")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise FormulaError(f"cannot parse {text!r}{col}: {e.msg}") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise FormulaError(f"cannot parse {text!r}: {e}") from None
    names: set[str] = set()
    _validate(tree, text, names, 0)
    return Formula(text, tree, frozenset(names))


def _where(node: ast.AST, text: str) -> str:
    col = getattr(node, "col_offset", None)
    return f" at column {col + 1}" if col is not None else ""


def _validate(node: ast.AST, text: str, names: set[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FormulaError(f"formula nested too deeply (limit {MAX_DEPTH})")
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
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _validate(node.left, text, names, depth + 1)
        _validate(node.right, text, names, depth + 1)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise FormulaError(
                f"only plain function calls like relu(x) are allowed{_where(node, text)}"
            )
        fname = ALIASES.get(node.func.id, node.func.id)
        op = OPS.get(fname)
        if op is None or not op.elementwise or op.arity is None:
            raise FormulaError(
                f"unknown function {node.func.id!r}{_where(node, text)}; "
                f"known: {', '.join(functions())}"
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
    """Walk a validated tree and build Value nodes through the op table."""

    def __init__(self, env: dict[str, Value], text: str):
        self.env = env
        self.text = text

    def visit(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Constant):
            return Value(node.value, requires_grad=False)
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise FormulaError(f"undefined name {node.id!r} in {self.text!r}")
            return self.env[node.id]
        if isinstance(node, ast.UnaryOp):
            c = _constant(node)
            if c is not None:
                return Value(c, requires_grad=False)
            v = self.visit(node.operand)
            return apply(OPS["neg"], (v,)) if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                exp = _constant(node.right)
                if exp is not None:
                    n = int(exp) if float(exp).is_integer() else exp
                    return apply(OPS["pow"], (self.visit(node.left),), {"n": n})
                return apply(OPS["powv"], (self.visit(node.left), self.visit(node.right)))
            return apply(
                OPS[_BINOPS[type(node.op)]], (self.visit(node.left), self.visit(node.right))
            )
        if isinstance(node, ast.Call):
            op = OPS[ALIASES.get(node.func.id, node.func.id)]
            args = tuple(self.visit(a) for a in node.args[: op.arity])
            extra = tuple(_constant(a) for a in node.args[op.arity :])
            kw = {k.arg: _constant(k.value) for k in node.keywords}
            params = bind_params(op, extra, kw) if (op.params or extra or kw) else {}
            if node.func.id == "silu":
                params = {"beta": 1.0}
            return apply(op, args, params)
        raise FormulaError(f"{type(node).__name__} is not allowed")  # unreachable: validated


def evaluate(text: str, values: dict[str, float], labels: bool = True) -> Value:
    """Parse ``text`` and build its graph with a leaf ``Value`` per name from ``values``.

    >>> evaluate("max(20*x - 10, 0)", {"x": 4}).data
    70.0
    """
    f = parse(text)
    missing = sorted(f.names - set(values))
    if missing:
        raise FormulaError(f"no value given for {', '.join(missing)} in {text!r}")
    env = {k: Value(float(v), label=k if labels else "") for k, v in values.items()}
    return f.build(env)
