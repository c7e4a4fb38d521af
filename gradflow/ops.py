"""The op table: every primitive op of gradflow, declared once.

Each :class:`Op` holds what every other part of the library needs to know about it:
its name, display symbol, LaTeX and plain-text templates, the forward computation, its
local partial derivatives (elementwise ops) or vector-Jacobian products (tensor ops), and its
SymPy form.
The backward pass (:mod:`gradflow.graph`), the step-by-step trace (:mod:`gradflow.steps`),
graph labels (:mod:`visual`), the symbolic checks (:mod:`gradflow.symbolic`) and the op
reference in the docs all read these records; none of them repeats per-op knowledge.

Two kinds of op:

* **elementwise** ops work on Python floats (scalar engine) and on numpy arrays with
  broadcasting (tensor engine). ``forward(xp, *xs, **params)`` and
  ``local(i, xp, out, xs, params)`` are written against a math namespace ``xp`` from
  :mod:`gradflow.numerics`. The gradient sent to input ``i`` is ``local_i × upstream``.
  ``sympy(*symbols, **params)`` returns the scalar SymPy expression. An op without
  parameters whose forward and derivatives are one expression each (``+``, ``×``, ReLU,
  tanh, ...) is declared by those formulas as text (``"a * b"``; ``("b", "a")``): the
  functions are made from them, and the scalar engine writes the formulas into its
  generated hot path (see :func:`elementwise`).
* **tensor** ops (matmul, reductions, reshapes, softmax, ...) work on numpy arrays only.
  ``vjp(i, g, out, xs, params)`` returns the vector-Jacobian product for input ``i``;
  ``sympy(*object_arrays, **params)`` maps numpy object arrays of SymPy expressions.

Kink convention: at exactly 0 the ReLU family takes the derivative of its ``x ≤ 0`` branch
(0 for ReLU, α for leaky ReLU, αλ for SELU); ``max``/``min`` give the tie to the first
argument; ``clip`` counts its bounds as inside; ``abs`` has derivative 0 at 0. Every SymPy
form is a ``Piecewise`` written to agree with this, so symbolic and engine values match even
at the kink.
"""

from __future__ import annotations

import functools
import math
import operator
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, ShapeError, UnknownNameError
from .lazy import sympy as sp
from .numerics import SELU_ALPHA, SELU_SCALE

# --------------------------------------------------------------------------- the record

TextStyle = Literal["symbol", "name"]
TEXT_STYLES: tuple[str, ...] = get_args(TextStyle)

# What an op is for, read wherever code needs "the activations" (nn's activation modules,
# the activation plot, the jit's activation kernel): "activation" (an elementwise activation
# function of the course: ReLU, σ, tanh, ...), "math" (the other elementwise ops: arithmetic
# and elementary functions), "tensor" (ops on whole tensors: matmul, reductions, reshaping,
# softmax, convolution, pooling). An elementwise op is "math" and a tensor op "tensor"
# unless its declaration says otherwise.
Role = Literal["math", "activation", "tensor"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive operation. See the module docstring for the two kinds."""

    name: str
    symbol: str
    latex: str
    arity: int | None  # None: variadic
    elementwise: bool
    forward: Callable[..., Any]
    sympy: Callable[..., Any]
    local: Callable[..., Any] | None = None
    locals: Callable[..., Any] | None = None  # all local derivatives at once (scalar engine)
    # an elementwise op's derivatives, one per input, each ``d(xp, out, *xs, **params)``
    # (``local`` and ``locals`` call them; the scalar engine's hot path calls them directly)
    derivs: tuple[Callable[..., Any], ...] = ()
    # An elementwise op declared by formula (see :func:`elementwise`): its forward and its
    # derivatives as the Python expressions ``forward`` and ``derivs`` were made from, which
    # the scalar engine writes into its generated hot path (:mod:`gradflow.value`); empty
    # for an op declared by functions.
    forward_formula: str = ""
    derivs_formula: tuple[str, ...] = ()
    vjp: Callable[..., Any] | None = None
    vjp_text: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    doc: str = ""
    # How the op reads its ``axis`` parameter: "reduce" (sum, max, ...: None for every axis,
    # an int or a tuple of ints; the axes go away unless keepdims) or "along" (softmax: the
    # same forms, the shape stays). Checked by :func:`check_axis` before the op runs.
    axis_kind: str = ""
    # The op applied to its arguments as plain text: {0}, {1}, ... (or {args}, all of them),
    # {symbol}, and {param} for a parameter. See format_text for where each one is used.
    text: str = ""  # graph labels: "{0}·{1}", "−{0}", "{0}ᵀ"; "" means "{symbol}({args})"
    name_text: str = ""  # step tables, only where they differ from text: pow's "{0} ^ {n}"
    # The local derivative in the course's notation, one template per input, as text and as
    # LaTeX (``ReLU'(z) = 1[z > 0]``, ``σ(z)(1 − σ(z))``; for tensor ops ``vjp_text`` and
    # ``vjp_latex`` hold the vector-Jacobian rule, with g the upstream gradient). Fields:
    # {0}, {1} the arguments' names; {p0}, {p1} the same bracketed when they bind less than
    # a product; {q0}, {q1} bracketed unless atoms (before a power or a transpose); {out}
    # the node's own name; the op's parameters as numbers. Every renderer reads them
    # through derivative_text / derivative_latex.
    d_text: tuple[str, ...] = ()
    d_latex: tuple[str, ...] = ()
    d_format: Callable[..., str] | None = None  # (i, args, params, latex) -> str: pow, linear
    vjp_latex: tuple[str, ...] = ()
    role: str = ""  # one of ROLES; "" takes the kind's default ("math" or "tensor")
    # The result's shape from the inputs' shapes and the params, ``shape(op, shapes,
    # params)``, raising ShapeError (naming the op and the shapes) when they do not fit:
    # checked before numpy runs, and the size limit reads it. Elementwise ops broadcast
    # (the default); None for a tensor op whose result is never larger than an input and
    # whose own forward names a bad shape.
    shape: Callable[..., tuple] | None = None

    def __reduce__(self) -> Any:
        """A registered op pickles as its name (its functions are made from formulas and
        lambdas, which pickle cannot name): a graph of Values or Tensors pickles whole, and
        the copy's nodes point at the very ops of the table."""
        if OPS.get(self.name) is self:
            return (_registered, (self.name,))
        return super().__reduce__()

    def __post_init__(self):
        if not self.role:
            object.__setattr__(self, "role", "math" if self.elementwise else "tensor")
        if self.shape is None and self.elementwise:
            object.__setattr__(self, "shape", broadcast_shape)
        if self.role not in ROLES:
            raise ArgumentError(f"op {self.name!r}: role {self.role!r} is not one of {ROLES}")
        for template in (self.text, self.name_text):
            _check_text_template(self, template)
        if self.locals is None and self.local is not None:
            local = self.local
            object.__setattr__(
                self,
                "locals",
                lambda xp, out, xs, p: [local(i, xp, out, xs, p) for i in range(len(xs))],
            )

    def __repr__(self) -> str:
        return f"Op({self.name})"

    # micrograd's nodes keep their op as a string (``n._op``) and drawing code written for it
    # does ``uid + n._op``; an Op reads as its symbol there, so that code runs unchanged.
    def __str__(self) -> str:
        return self.symbol

    def __radd__(self, other: str) -> str:
        return other + self.symbol

    def __add__(self, other: str) -> str:
        return self.symbol + other

    def format_latex(self, args: list[str], params: dict[str, Any] | None = None) -> str:
        """The op applied to LaTeX argument strings, e.g. ``\\max(0, z)``."""
        p = {**self.params, **(params or {})}
        if self.arity is None:
            return self.latex.format(args=", ".join(args), **p)
        return self.latex.format(*args, **p)

    def format_text(
        self,
        args: Sequence[str],
        params: Mapping[str, Any] | None = None,
        style: TextStyle = "symbol",
    ) -> str:
        """The op applied to argument names as plain text, in one of two styles.

        ``"symbol"``, for graph labels, where space is short and the maths notation reads
        best: the ``text`` template (``w·x``, ``x^2``, ``Aᵀ``), else the symbol as a
        function (``ReLU(z)``, ``Σ(A)``).

        ``"name"``, for step tables, which a student reads and searches by op name: a call
        with the parameters the node was given (``leaky_relu(z, alpha=0.1)``,
        ``sum(A, axis=1, keepdims=False)``, ``matmul(A, B)``). Elementwise operators keep
        their ``text`` notation (``w·x``, ``−x``), or ``name_text`` where it differs
        (``x ^ 2``).

        ``params`` are the node's own parameters. A template field falls back to the op's
        default; the call form lists only the given parameters that are short enough to
        read inline (no arrays, see :func:`short_param`).
        """
        if style not in TEXT_STYLES:
            raise ArgumentError(
                f"{self.name}: text style must be one of {TEXT_STYLES}, got {style!r}"
            )
        if self.arity is not None and len(args) != self.arity:
            raise ArgumentError(
                f"{self.name} takes {self.arity} argument(s), got {len(args)}: {list(args)}"
            )
        if style == "symbol":
            template = self.text or "{symbol}({args})"
        else:
            template = self.name_text or (self.text if self.elementwise else "")
        if not template:
            return self._call_text(args, params or {})
        fields = {**self.params, **(params or {})}
        return template.format(*args, args=", ".join(args), symbol=self.symbol, **fields)

    def _call_text(self, args: Sequence[str], params: Mapping[str, Any]) -> str:
        shown = [f"{k}={v}" for k, v in params.items() if k in self.params and short_param(v)]
        return f"{self.name}({', '.join([*args, *shown])})"

    def derivative_expr(self, i: int, names: tuple, params: tuple = ()) -> Any:
        """SymPy expression of ∂op/∂(input i); ``names`` holds a symbol name or a number
        (a constant input) per argument."""
        return _derivative_expr(self, i, names, params)

    def derivative_text(
        self, i: int, names: Sequence[Any], params: dict | None = None, out: str = ""
    ) -> str:
        """The local derivative ∂op/∂(input i) (elementwise) or the VJP rule (tensor) in the
        course's notation, e.g. ``1[z > 0]``, ``2(ytrue − y21)``, ``g @ W1ᵀ``. ``names``
        holds each argument's name, or a number for a constant argument; ``out`` is the
        node's own name."""
        return self._derivative(i, names, params, out, latex=False)

    def derivative_latex(
        self, i: int, names: Sequence[Any], params: dict | None = None, out: str = ""
    ) -> str:
        """:meth:`derivative_text` as LaTeX; ``names`` are LaTeX names (or numbers)."""
        return self._derivative(i, names, params, out, latex=True)

    def _derivative(self, i, names, params, out, latex: bool) -> str:
        from . import display
        from .naming import latex_wrap, wrap

        p = {**self.params, **(params or {})}
        args = [_arg_text(a, latex) for a in names]
        if self.d_format is not None:
            return self.d_format(i, args, p, latex)
        if self.elementwise:
            templates = self.d_latex if latex else self.d_text
        else:
            templates = (self.vjp_latex or self.vjp_text) if latex else self.vjp_text
        if not templates:
            return "\\mathrm{vjp}" if latex else "vjp"
        template = templates[min(i, len(templates) - 1)]
        bracket = latex_wrap if latex else wrap
        fields = {f"p{k}": bracket(a, 2) for k, a in enumerate(args)}
        fields |= {f"q{k}": bracket(a, 3) for k, a in enumerate(args)}  # before ^ or ᵀ
        for k, v in p.items():
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                fields[k] = display.latex(v) if latex else display.number(v)
        text = template.format(*args, out=out or "y", **fields)
        if latex and not self.vjp_latex and not self.elementwise:
            return display.text_latex(text)
        return text


def _arg_text(a: Any, latex: bool) -> str:
    """An argument of a derivative template: a name as given, a constant as its number."""
    from . import display

    if isinstance(a, str):
        return a
    return display.latex(a) if latex else display.number(a)


def short_param(v: Any) -> bool:
    """A parameter value short enough to print inline in a formula (``alpha=0.1``,
    ``shape=(3, 2)``); arrays and long indices are left out rather than flood a table."""
    return v is not None and not isinstance(v, np.ndarray) and len(repr(v)) < 24


_TEXT_FIELDS = ("args", "symbol")


def _check_text_template(op: Op, template: str) -> None:
    """Refuse a text template that could not be rendered, when the op is declared rather
    than when a student first draws a graph that uses it."""
    where = f"op {op.name!r}: text template {template!r}"
    clash = set(_TEXT_FIELDS) & set(op.params)
    if clash:
        raise ArgumentError(f"op {op.name!r}: parameter name(s) {sorted(clash)} are reserved")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ArgumentError(f"{where}: {e}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion:
            raise ArgumentError(f"{where}: no conversion or format spec allowed in {{{name}}}")
        if name.isdigit():
            if op.arity is not None and int(name) >= op.arity:
                raise ArgumentError(
                    f"{where} uses argument {name}, but the op takes {op.arity} argument(s)"
                )
        elif name not in (*_TEXT_FIELDS, *op.params):
            raise ArgumentError(
                f"{where} uses {{{name}}}: not an argument number, 'args', 'symbol' or one "
                f"of the op's parameters {list(op.params)}"
            )


@functools.lru_cache(maxsize=4096)
def _derivative_expr(op: Op, i: int, names: tuple[str, ...], params: tuple) -> Any:
    syms = [sp.Symbol(n, real=True) if isinstance(n, str) else sym_number(n) for n in names]
    p = {**op.params, **dict(params)}
    return sp.diff(op.sympy(*syms, **{k: sym_number(v) for k, v in p.items()}), syms[i])


def sym_number(v: Any) -> Any:
    """A Python number as a SymPy number: integers stay exact so formulas read ``20 x - 10``."""
    if isinstance(v, (bool, np.bool_)):
        return v
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        return sp.Float(float(v), 17)
    return v


OPS: dict[str, Op] = {}


def ops_with_role(role: str) -> list[Op]:
    """The ops of the table with ``role`` (one of :data:`ROLES`), in table order."""
    if role not in ROLES:
        raise UnknownNameError(f"unknown op role {role!r}; roles: {', '.join(ROLES)}")
    return [op for op in OPS.values() if op.role == role]


def _registered(name: str) -> Op:
    """The op of the table called ``name``: how a pickled graph finds its ops again."""
    return OPS[name]


def register(op: Op) -> Op:
    """Add an op to the table (later issues register their own, e.g. convolution)."""
    if op.name in OPS:
        raise ArgumentError(f"op {op.name!r} is already registered")
    OPS[op.name] = op
    return op


def _formula(name: str, suffix: str, args: str, expr: str) -> Callable[..., Any]:
    """``lambda args: expr`` for an op declared by formula. ``expr`` is one of this module's
    own constants (never user text), compiled with this module's globals as the op's other
    functions are."""
    if not isinstance(expr, str) or not expr.strip():
        raise TypeError(f"op {name}: a formula must be a Python expression, not {expr!r}")
    fn = eval(compile(f"lambda {args}: ({expr})", f"<op {name}{suffix}>", "eval"), globals())
    fn.__qualname__ = f"{name}{suffix}"
    return fn


def elementwise(
    name,
    symbol,
    latex,
    forward,
    derivs,
    sympy,
    params=None,
    doc="",
    text="",
    name_text="",
    d_text=(),
    d_latex=(),
    d_format=None,
    role="math",
):
    """Declare an elementwise op from its forward and one derivative per input.

    Each derivative is ``d(xp, out, *xs, **params)``; ``out`` lets ops such as tanh and
    sigmoid reuse their output (tanh' = 1 − out²), as a course derivation does.

    An op without parameters may be declared by formula instead: ``forward`` a Python
    expression in the inputs ``a`` (and ``b``) and the namespace ``xp`` (``"a * b"``), each
    derivative one in ``o`` (the output), the inputs and ``xp`` (``"b"``, ``"1.0 - o * o"``).
    The functions are made from them here, and the scalar engine writes the formulas
    themselves into its generated operator methods and backward loop, one Python call per
    node fewer (:mod:`gradflow.value`).
    """
    derivs = tuple(derivs)
    forward_formula, derivs_formula = "", ()
    if isinstance(forward, str):
        if params:
            raise TypeError(f"op {name}: an op with parameters is declared by functions")
        inputs = ", ".join("ab"[: len(derivs)])
        forward_formula, derivs_formula = forward, derivs
        forward = _formula(name, "", f"xp, {inputs}", forward)
        derivs = tuple(
            _formula(name, f"_d{i}", f"xp, o, {inputs}", d) for i, d in enumerate(derivs)
        )

    def local(i, xp, out, xs, p):
        return derivs[i](xp, out, *xs, **p)

    def locals_(xp, out, xs, p):
        return [d(xp, out, *xs, **p) for d in derivs]

    return register(
        Op(
            name,
            symbol,
            latex,
            len(derivs),
            True,
            forward,
            sympy,
            local=local,
            locals=locals_,
            derivs=derivs,
            forward_formula=forward_formula,
            derivs_formula=derivs_formula,
            params=dict(params or {}),
            doc=doc,
            text=text,
            name_text=name_text,
            d_text=tuple(d_text),
            d_latex=tuple(d_latex),
            d_format=d_format,
            role=role,
        )
    )


def tensor_op(
    name,
    symbol,
    latex,
    forward,
    vjp,
    sympy,
    vjp_text,
    arity=1,
    params=None,
    doc="",
    text="",
    axis_kind="",
    vjp_latex=(),
    shape=None,
):
    """Declare a tensor op from its forward and its vector-Jacobian product."""
    return register(
        Op(
            name,
            symbol,
            latex,
            arity,
            False,
            forward,
            sympy,
            vjp=vjp,
            vjp_text=tuple(vjp_text),
            params=dict(params or {}),
            doc=doc,
            text=text,
            axis_kind=axis_kind,
            vjp_latex=tuple(vjp_latex),
            shape=shape,
        )
    )


# ------------------------------------------------------------------ shape rules
# ``Op.shape`` of the ops whose result can be larger than their inputs, or whose inputs must
# fit together: each returns the result's shape or raises a ShapeError naming op and shapes.


def broadcast_shape(op: Op, shapes: Sequence[tuple], params: Mapping) -> tuple:
    """Elementwise ops: numpy broadcasting."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"{op.name}: shapes {' and '.join(map(str, shapes))} cannot be broadcast together"
        ) from None


def _matmul_shape(op: Op, shapes: Sequence[tuple], params: Mapping) -> tuple:
    a, b = shapes
    if len(a) == 0 or len(b) == 0:
        raise ShapeError(f"matmul {a} @ {b}: both operands need at least one dimension")
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        raise ShapeError(f"matmul {a} @ {b}: inner dimensions {k_a} and {k_b} differ")
    try:
        batch = np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        raise ShapeError(
            f"matmul {a} @ {b}: batch dimensions {a[:-2]} and {b[:-2]} cannot be broadcast"
        ) from None
    return batch + a[-2:-1] + b[-1:] if len(b) > 1 else batch + a[-2:-1]


def _where_shape(op: Op, shapes: Sequence[tuple], params: Mapping) -> tuple:
    try:
        return np.broadcast_shapes(np.shape(params["cond"]), *shapes)
    except ValueError:
        raise ShapeError(
            f"where: condition {np.shape(params['cond'])} and operands "
            f"{' and '.join(map(str, shapes))} cannot be broadcast"
        ) from None


def _broadcast_to_shape(op: Op, shapes: Sequence[tuple], params: Mapping) -> tuple:
    (shape,) = shapes
    target = params["shape"]
    target = (target,) if isinstance(target, int) else tuple(target)
    try:
        if np.broadcast_shapes(shape, target) == target:
            return target
    except ValueError:
        pass
    raise ShapeError(f"broadcast_to: {shape} cannot be broadcast to {target}")


def _join_axis(op: Op, shapes: Sequence[tuple], params: Mapping, ndim: int) -> int:
    """The ``axis`` of concat/stack as a non-negative int (one axis, in range)."""
    axis = params["axis"]
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise ArgumentTypeError(f"{op.name}: axis must be one integer, not {axis!r}")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op.name}: axis {axis} is out of range for {ndim} axes")
    return int(axis) % ndim


def _concat_shape(op: Op, shapes: Sequence[tuple], params: Mapping) -> tuple:
    if not shapes:
        raise ShapeError("concat: nothing to concatenate")
    first = shapes[0]
    if len(first) == 0:
        raise ShapeError("concat: zero-dimensional arrays cannot be concatenated")
    axis = _join_axis(op, shapes, params, len(first))
    for s in shapes[1:]:
        if len(s) != len(first) or any(
            a != b for k, (a, b) in enumerate(zip(s, first)) if k != axis
        ):
            raise ShapeError(
                f"concat along axis {axis}: shapes {' and '.join(map(str, shapes))} differ "
                "outside that axis"
            )
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1 :]


def _stack_shape(op: Op, shapes: Sequence[tuple], params: Mapping) -> tuple:
    if not shapes:
        raise ShapeError("stack: nothing to stack")
    first = shapes[0]
    if any(s != first for s in shapes[1:]):
        raise ShapeError(f"stack: shapes {' and '.join(map(str, shapes))} differ")
    axis = _join_axis(op, shapes, params, len(first) + 1)
    return first[:axis] + (len(shapes),) + first[axis:]


# ------------------------------------------------------------------ SymPy helpers


def _relu_like(x, neg):
    """The kink convention in one place: x > 0 takes x, everything else (0 included) ``neg``."""
    return sp.Piecewise((x, x > 0), (neg, True))


def _sym_sigmoid(x):
    return 1 / (1 + sp.exp(-x))


def _sym_softplus(x):
    return sp.log(1 + sp.exp(x))


def _vec(fn):
    """Apply a scalar SymPy function to every element of an object array."""
    return np.vectorize(fn, otypes=[object])


# ---------------------------------------------------------- scalar and elementwise ops

ADD = elementwise(
    "add",
    "+",
    "{0} + {1}",
    "a + b",
    ("1.0", "1.0"),
    lambda a, b: a + b,
    doc="a + b",
    text="{0} + {1}",
    d_text=(
        "1",
        "1",
    ),
    d_latex=(
        "1",
        "1",
    ),
)
SUB = elementwise(
    "sub",
    "−",
    "{0} - {1}",
    "a - b",
    ("1.0", "-1.0"),
    lambda a, b: a - b,
    doc="a − b",
    text="{0} − {1}",
    d_text=(
        "1",
        "−1",
    ),
    d_latex=(
        "1",
        "-1",
    ),
)
MUL = elementwise(
    "mul",
    "×",
    "{0} \\cdot {1}",
    "a * b",
    ("b", "a"),
    lambda a, b: a * b,
    doc="a · b",
    text="{0}·{1}",
    d_text=(
        "{1}",
        "{0}",
    ),
    d_latex=(
        "{1}",
        "{0}",
    ),
)
DIV = elementwise(
    "div",
    "÷",
    "\\frac{{{0}}}{{{1}}}",
    "a / b",
    ("1.0 / b", "-a / (b * b)"),
    lambda a, b: a / b,
    doc="a / b",
    text="{0} ÷ {1}",
    d_text=(
        "1/{p1}",
        "−{p0}/{q1}²",
    ),
    d_latex=(
        "\\frac{{1}}{{{1}}}",
        "-\\frac{{{0}}}{{{q1}^{{2}}}}",
    ),
)
NEG = elementwise(
    "neg",
    "−",
    "-{0}",
    "-a",
    ("-1.0",),
    lambda a: -a,
    doc="−a",
    text="−{0}",
    d_text=("−1",),
    d_latex=("-1",),
)


def _pow_d_base(xp, a, b):
    """∂(a^b)/∂a = b·a^(b−1), and 0 where b = 0: a^0 = 1 is constant, so 0^0 gets 0 rather
    than 0·0^(−1) = 0·∞ = NaN (PyTorch's pow backward does the same). The exponent b − 1 is
    taken as 0 there, so no NaN is ever formed."""
    return b * xp.pow(a, xp.where(b == 0, 1.0, b) - 1)


def _pow_d_exponent(xp, o, a, b):
    """∂(a^b)/∂b = a^b·ln a, and 0 where a = 0 and b ≥ 0: 0^b is constant 0 for b > 0, and
    PyTorch takes the same 0 at b = 0 (a^b·ln a would be 0·(−∞) = NaN there). a < 0 stays
    NaN: a^b is not real for most b."""
    at_zero = (a == 0) & (b >= 0)
    return xp.where(at_zero, 0.0, o * xp.log(xp.where(at_zero, 1.0, a)))


@functools.cache
def _sym_powv():
    """SymPy's a^b, but differentiated with the limits of :func:`_pow_d_base` and
    :func:`_pow_d_exponent`, so the symbolic check agrees with the engine at a = 0.

    Only a power whose base is a symbol (or 0) and whose exponent is a symbol needs it; any
    other evaluates to SymPy's own power (a numeric exponent b differentiates to b·a^(b−1),
    with a^0 = 1 giving 0 by itself). It prints as a plain power.
    """

    class powv(sp.Function):
        nargs = 2

        @classmethod
        def eval(cls, a, b):
            if b.is_number or (a.is_number and a != 0):
                return a**b
            return None

        def fdiff(self, argindex=1):
            a, b = self.args
            if argindex == 1:
                return sp.Piecewise((0, sp.Eq(b, 0)), (b * powv(a, b - 1), True))
            return sp.Piecewise((0, sp.Eq(a, 0) & (b >= 0)), (self * sp.log(a), True))

        def _eval_evalf(self, prec):
            return sp.Pow(*self.args)._eval_evalf(prec)

        def _latex(self, printer, exp=None):
            text = printer._print(sp.Pow(*self.args, evaluate=False))
            return f"\\left({text}\\right)^{{{exp}}}" if exp else text

        def _sympystr(self, printer):
            return printer._print(sp.Pow(*self.args, evaluate=False))

    return powv


def _power_text(base: str, m: float, latex: bool) -> str:
    """``base`` to the power ``m`` as a reader writes it: ``e``, ``e²``, ``x^0.5``."""
    from . import display
    from .naming import latex_wrap, wrap

    if m == 1:
        return base
    if latex:
        return f"{latex_wrap(base, 3)}^{{{display.number(m)}}}"
    exp = display.number(m)
    if float(m).is_integer():
        return wrap(base, 3) + exp.translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"))
    return f"{wrap(base, 3)}^({exp})" if m < 0 else f"{wrap(base, 3)}^{exp}"


def _coefficient(c: float, rest: str, latex: bool) -> str:
    """``c·rest`` written short: ``2e``, ``−e``, ``0.5·x^−0.5``, ``2(ytrue − y21)``."""
    from . import display
    from .naming import latex_wrap, wrap

    if c == 0:
        return "0"
    if rest in ("", "1"):
        return display.number(c)
    sign = "-" if latex else "−"
    if abs(c) == 1:
        return rest if c > 0 else sign + (latex_wrap(rest, 2) if latex else wrap(rest, 2))
    num = display.number(abs(c))
    body = latex_wrap(rest, 2) if latex else wrap(rest, 2)
    joint = "\\," if latex else ("" if body[:1].isalpha() or body[:1] in "(\\" else "·")
    return ("" if c > 0 else sign) + num + joint + body


def _pow_rule(i: int, args: list[str], p: dict, latex: bool) -> str:
    """n·a^(n−1): ``2e``, ``3x²``, ``−x⁻²``; 0 for n = 0."""
    n = float(p["n"])
    return _coefficient(n, _power_text(args[0], n - 1, latex) if n != 1 else "1", latex)


def _powv_rule(i: int, args: list[str], p: dict, latex: bool) -> str:
    """∂(a^b)/∂a = b·a^(b−1), ∂(a^b)/∂b = a^b·ln a (the limits at 0 are in the doc)."""
    from .naming import latex_wrap, wrap

    a, b = args
    if latex:
        aw, bw = latex_wrap(a, 3), latex_wrap(b, 2)
        return f"{bw}\\,{aw}^{{{b} - 1}}" if i == 0 else f"{aw}^{{{b}}} \\ln {aw}"
    aw, bw = wrap(a, 3), wrap(b, 2)
    return f"{bw}·{aw}^({b} − 1)" if i == 0 else f"{aw}^{wrap(b, 3)}·ln {aw}"


POW = elementwise(
    "pow",
    "^",
    "{0}^{{{n}}}",
    lambda xp, a, n: xp.pow(a, n),
    (lambda xp, o, a, n: _pow_d_base(xp, a, n),),
    lambda a, n: a**n,
    params={"n": 2},
    doc="a^n, constant exponent n; derivative n·a^(n−1), 0 when n = 0 (also at a = 0)",
    text="{0}^{n}",
    name_text="{0} ^ {n}",
    d_format=_pow_rule,
)
POWV = elementwise(
    "powv",
    "^",
    "{0}^{{{1}}}",
    lambda xp, a, b: xp.pow(a, b),
    (lambda xp, o, a, b: _pow_d_base(xp, a, b), _pow_d_exponent),
    lambda a, b: _sym_powv()(a, b),
    doc="a^b, variable exponent; ∂/∂a = b·a^(b−1) (0 where b = 0), ∂/∂b = a^b·ln a "
    "(0 where a = 0 and b ≥ 0, as in PyTorch; NaN for a < 0)",
    text="{0} ^ {1}",
    d_format=_powv_rule,
)
EXP = elementwise(
    "exp",
    "exp",
    "e^{{{0}}}",
    "xp.exp(a)",
    ("o",),
    lambda a: sp.exp(a),
    doc="e^a",
    d_text=("exp({0})",),
    d_latex=("e^{{{0}}}",),
)
LOG = elementwise(
    "log",
    "log",
    "\\log {0}",
    lambda xp, a: xp.log(a),
    (lambda xp, o, a: 1.0 / a,),
    lambda a: sp.log(a),
    doc="natural logarithm",
    d_text=("1/{p0}",),
    d_latex=("\\frac{{1}}{{{0}}}",),
)
SQRT = elementwise(
    "sqrt",
    "√",
    "\\sqrt{{{0}}}",
    lambda xp, a: xp.sqrt(a),
    (lambda xp, o, a: 0.5 / o,),
    lambda a: sp.sqrt(a),
    doc="square root",
    d_text=("1/(2√{p0})",),
    d_latex=("\\frac{{1}}{{2\\sqrt{{{0}}}}}",),
)
ABS = elementwise(
    "abs",
    "|·|",
    "\\left|{0}\\right|",
    lambda xp, a: xp.abs(a),
    (lambda xp, o, a: xp.sign(a),),
    lambda a: sp.Abs(a),
    doc="absolute value (derivative 0 at 0)",
    d_text=("sign({0})",),
    d_latex=("\\operatorname{{sign}}({0})",),
)
SIN = elementwise(
    "sin",
    "sin",
    "\\sin {0}",
    lambda xp, a: xp.sin(a),
    (lambda xp, o, a: xp.cos(a),),
    lambda a: sp.sin(a),
    doc="sine",
    d_text=("cos({0})",),
    d_latex=("\\cos({0})",),
)
COS = elementwise(
    "cos",
    "cos",
    "\\cos {0}",
    lambda xp, a: xp.cos(a),
    (lambda xp, o, a: -xp.sin(a),),
    lambda a: sp.cos(a),
    doc="cosine",
    d_text=("−sin({0})",),
    d_latex=("-\\sin({0})",),
)
TANH = elementwise(
    "tanh",
    "tanh",
    "\\tanh {0}",
    "xp.tanh(a)",
    ("1.0 - o * o",),
    lambda a: sp.tanh(a),
    doc="tanh; tanh' = 1 − tanh²",
    role="activation",
    d_text=("1 − tanh²({0})",),
    d_latex=("1 - \\tanh^{{2}}({0})",),
)
SIGMOID = elementwise(
    "sigmoid",
    "σ",
    "\\sigma({0})",
    "xp.sigmoid(a)",
    ("o * (1.0 - o)",),
    _sym_sigmoid,
    doc="logistic 1/(1+e^−a); σ' = σ(1 − σ)",
    role="activation",
    d_text=("σ({0})(1 − σ({0}))",),
    d_latex=("\\sigma({0})\\,(1 - \\sigma({0}))",),
)
RELU = elementwise(
    "relu",
    "ReLU",
    "\\max(0, {0})",
    "xp.maximum(a, 0.0)",
    ("xp.where(a > 0, 1.0, 0.0)",),
    lambda a: _relu_like(a, 0),
    doc="max(0, a); derivative 0 at a = 0",
    role="activation",
    d_text=("1[{0} > 0]",),
    d_latex=("\\mathbf{{1}}[{0} > 0]",),
)
STEP = elementwise(
    "step",
    "step",
    "\\mathrm{{step}}({0})",
    lambda xp, a: xp.where(a > 0, 1.0, 0.0),
    (lambda xp, o, a: xp.where(a > 0, 0.0, 0.0),),
    lambda a: sp.Piecewise((1, a > 0), (0, True)),
    doc="1 if a > 0 else 0 (the perceptron's threshold); derivative 0 (no gradient flows)",
    role="activation",
    d_text=("0",),
    d_latex=("0",),
)
LEAKY_RELU = elementwise(
    "leaky_relu",
    "LReLU",
    "\\mathrm{{LReLU}}_{{{alpha}}}({0})",
    lambda xp, a, alpha: xp.where(a > 0, a, alpha * a),
    (lambda xp, o, a, alpha: xp.where(a > 0, 1.0, alpha),),
    lambda a, alpha: _relu_like(a, alpha * a),
    params={"alpha": 0.01},
    doc="a if a > 0 else α·a; derivative α at 0",
    role="activation",
    d_text=("1[{0} > 0] + {alpha}·1[{0} ≤ 0]",),
    d_latex=("\\mathbf{{1}}[{0} > 0] + {alpha}\\,\\mathbf{{1}}[{0} \\le 0]",),
)
ELU = elementwise(
    "elu",
    "ELU",
    "\\mathrm{{ELU}}_{{{alpha}}}({0})",
    lambda xp, a, alpha: xp.where(a > 0, a, alpha * xp.expm1(xp.minimum(a, 0.0))),
    (lambda xp, o, a, alpha: xp.where(a > 0, 1.0, alpha * xp.exp(xp.minimum(a, 0.0))),),
    lambda a, alpha: _relu_like(a, alpha * (sp.exp(a) - 1)),
    params={"alpha": 1.0},
    doc="a if a > 0 else α(e^a − 1); derivative α at 0",
    role="activation",
    d_text=("1[{0} > 0] + {alpha}·exp({0})·1[{0} ≤ 0]",),
    d_latex=("\\mathbf{{1}}[{0} > 0] + {alpha}\\,e^{{{0}}}\\,\\mathbf{{1}}[{0} \\le 0]",),
)
SELU = elementwise(
    "selu",
    "SELU",
    "\\mathrm{{SELU}}({0})",
    lambda xp, a: SELU_SCALE * xp.where(a > 0, a, SELU_ALPHA * xp.expm1(xp.minimum(a, 0.0))),
    (lambda xp, o, a: SELU_SCALE * xp.where(a > 0, 1.0, SELU_ALPHA * xp.exp(xp.minimum(a, 0.0))),),
    lambda a: sym_number(SELU_SCALE) * _relu_like(a, sym_number(SELU_ALPHA) * (sp.exp(a) - 1)),
    doc="λ·ELU_α(a), λ ≈ 1.0507, α ≈ 1.6733 (self-normalising)",
    role="activation",
    d_text=("λ(1[{0} > 0] + α·exp({0})·1[{0} ≤ 0])",),
    d_latex=(
        "\\lambda\\left(\\mathbf{{1}}[{0} > 0] "
        "+ \\alpha\\,e^{{{0}}}\\,\\mathbf{{1}}[{0} \\le 0]\\right)",
    ),
)
_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
GELU = elementwise(
    "gelu",
    "GELU",
    "\\mathrm{{GELU}}({0})",
    lambda xp, a: 0.5 * a * (1.0 + xp.erf(a / _SQRT2)),
    (lambda xp, o, a: 0.5 * (1.0 + xp.erf(a / _SQRT2)) + a * _INV_SQRT2PI * xp.exp(-0.5 * a * a),),
    lambda a: a / 2 * (1 + sp.erf(a / sp.sqrt(2))),
    doc="a·Φ(a), exact erf form",
    role="activation",
    d_text=("Φ({0}) + {p0}·φ({0})",),
    d_latex=("\\Phi({0}) + {p0}\\,\\varphi({0})",),
)
GELU_APPROX = elementwise(
    "gelu_approx",
    "GELU≈",
    "{0}\\,\\sigma(1.702\\,{0})",
    lambda xp, a: a * xp.sigmoid(1.702 * a),
    (lambda xp, o, a: _swish_d(xp, a, 1.702),),
    lambda a: a * _sym_sigmoid(sym_number(1.702) * a),
    doc="a·σ(1.702a), sigmoid approximation",
    role="activation",
    d_text=("σ(1.702{p0})(1 + 1.702{p0}(1 − σ(1.702{p0})))",),
    d_latex=("\\sigma(1.702\\,{p0})\\left(1 + 1.702\\,{p0}\\,(1 - \\sigma(1.702\\,{p0}))\\right)",),
)
SOFTPLUS = elementwise(
    "softplus",
    "softplus",
    "\\log(1 + e^{{{0}}})",
    lambda xp, a: xp.softplus(a),
    (lambda xp, o, a: xp.sigmoid(a),),
    _sym_softplus,
    doc="log(1 + e^a); derivative σ(a)",
    role="activation",
    d_text=("σ({0})",),
    d_latex=("\\sigma({0})",),
)


def _swish_d(xp, a, beta):
    s = xp.sigmoid(beta * a)
    return s + beta * a * s * (1.0 - s)


SWISH = elementwise(
    "swish",
    "swish",
    "{0}\\,\\sigma({beta}\\,{0})",
    lambda xp, a, beta: a * xp.sigmoid(beta * a),
    (lambda xp, o, a, beta: _swish_d(xp, a, beta),),
    lambda a, beta: a * _sym_sigmoid(beta * a),
    params={"beta": 1.0},
    doc="a·σ(βa); SiLU is β = 1",
    role="activation",
    d_text=("σ({beta}{p0})(1 + {beta}{p0}(1 − σ({beta}{p0})))",),
    d_latex=(
        "\\sigma({beta}\\,{p0})\\left(1 + {beta}\\,{p0}\\,(1 - \\sigma({beta}\\,{p0}))\\right)",
    ),
)


def _mish_d(xp, o, a):
    t = xp.tanh(xp.softplus(a))
    return t + a * (1.0 - t * t) * xp.sigmoid(a)


MISH = elementwise(
    "mish",
    "mish",
    "{0}\\tanh(\\log(1 + e^{{{0}}}))",
    lambda xp, a: a * xp.tanh(xp.softplus(a)),
    (_mish_d,),
    lambda a: a * sp.tanh(_sym_softplus(a)),
    doc="a·tanh(softplus(a))",
    role="activation",
    d_text=("tanh(softplus({0})) + {p0}·sech²(softplus({0}))·σ({0})",),
    d_latex=(
        "\\tanh(\\operatorname{{softplus}}({0})) + {p0}\\,"
        "\\operatorname{{sech}}^{{2}}(\\operatorname{{softplus}}({0}))\\,\\sigma({0})",
    ),
)
MAXIMUM = elementwise(
    "maximum",
    "max",
    "\\max({0}, {1})",
    lambda xp, a, b: xp.where(a >= b, a, b),
    (
        lambda xp, o, a, b: xp.where(a >= b, 1.0, 0.0),
        lambda xp, o, a, b: xp.where(a >= b, 0.0, 1.0),
    ),
    lambda a, b: sp.Piecewise((a, a >= b), (b, True)),
    doc="max(a, b); a tie goes to a",
    d_text=(
        "1[{0} ≥ {1}]",
        "1[{0} < {1}]",
    ),
    d_latex=(
        "\\mathbf{{1}}[{0} \\ge {1}]",
        "\\mathbf{{1}}[{0} < {1}]",
    ),
)
MINIMUM = elementwise(
    "minimum",
    "min",
    "\\min({0}, {1})",
    lambda xp, a, b: xp.where(a <= b, a, b),
    (
        lambda xp, o, a, b: xp.where(a <= b, 1.0, 0.0),
        lambda xp, o, a, b: xp.where(a <= b, 0.0, 1.0),
    ),
    lambda a, b: sp.Piecewise((a, a <= b), (b, True)),
    doc="min(a, b); a tie goes to a",
    d_text=(
        "1[{0} ≤ {1}]",
        "1[{0} > {1}]",
    ),
    d_latex=(
        "\\mathbf{{1}}[{0} \\le {1}]",
        "\\mathbf{{1}}[{0} > {1}]",
    ),
)
CLIP = elementwise(
    "clip",
    "clip",
    "\\mathrm{{clip}}({0}, {lo}, {hi})",
    lambda xp, a, lo, hi: xp.minimum(xp.maximum(a, lo), hi),
    (lambda xp, o, a, lo, hi: xp.where((a >= lo) & (a <= hi), 1.0, 0.0),),
    lambda a, lo, hi: sp.Piecewise((lo, a < lo), (hi, a > hi), (a, True)),
    params={"lo": -1.0, "hi": 1.0},
    doc="clip to [lo, hi]; derivative 1 on the closed interval",
    d_text=("1[{lo} ≤ {0} ≤ {hi}]",),
    d_latex=("\\mathbf{{1}}[{lo} \\le {0} \\le {hi}]",),
)


def _linear_forward(xp, *xs):
    n = len(xs) // 2
    return sum(map(operator.mul, xs[:n], xs[n : 2 * n]), xs[-1])


def _linear_local(i, xp, out, xs, p):
    n = len(xs) // 2
    if i < n:
        return xs[n + i]
    if i < 2 * n:
        return xs[i - n]
    return 1.0


def _linear_locals(xp, out, xs, p):
    n = len(xs) // 2
    return xs[n : 2 * n] + xs[:n] + [1.0]


def _linear_sympy(*xs):
    n = len(xs) // 2
    return sum((xs[k] * xs[n + k] for k in range(n)), xs[-1])


def _linear_rule(i: int, args: list[str], p: dict, latex: bool) -> str:
    """∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1."""
    n = len(args) // 2
    return args[n + i] if i < n else args[i - n] if i < 2 * n else "1"


LINEAR = register(
    Op(
        "linear",
        "Σ",
        "\\sum_i w_i x_i + b",
        None,
        True,
        _linear_forward,
        _linear_sympy,
        local=_linear_local,
        locals=_linear_locals,
        d_format=_linear_rule,
        doc="a neuron's pre-activation z = Σ wᵢxᵢ + b over inputs (w₁…wₙ, x₁…xₙ, b); "
        "∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1",
    )
)

# --------------------------------------------------------------------------- tensor ops


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back down to ``shape`` (the reverse of numpy broadcasting)."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _matmul_vjp(i, g, out, xs, p):
    a, b = xs
    a2 = a if a.ndim > 1 else a[None, :]
    b2 = b if b.ndim > 1 else b[:, None]
    # 1-d operands were promoted; put the dropped unit axes back into g
    g2 = np.reshape(
        g, np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1])
    )
    if i == 0:
        r = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape)
        return r.reshape(a.shape)
    r = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape)
    return r.reshape(b.shape)


MATMUL = tensor_op(
    "matmul",
    "@",
    "{0} {1}",
    lambda a, b: a @ b,
    _matmul_vjp,
    lambda a, b: np.asarray(a @ b, dtype=object),
    (
        "g @ {q1}ᵀ",
        "{q0}ᵀ @ g",
    ),
    arity=2,
    doc="matrix product A @ B (numpy matmul rules, batched)",
    text="{0} @ {1}",
    vjp_latex=(
        "g\\,{q1}^{{T}}",
        "{q0}^{{T}} g",
    ),
    shape=_matmul_shape,
)


def check_axis(op: Op, axis: Any, shape: tuple[int, ...]) -> Any:
    """``axis`` of a reduction or softmax, checked against ``shape``: None, an int or a
    tuple of ints (a list becomes a tuple), each in [−ndim, ndim), no axis twice. Otherwise
    a ShapeError naming the op, the axis and the shape (numpy would raise its own error, or
    crash later in the backward pass)."""
    if axis is None:
        return None
    many = isinstance(axis, (tuple, list))
    items = tuple(axis) if many else (axis,)
    if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in items):
        raise ArgumentTypeError(
            f"{op.name}: axis must be None, an int or a tuple of ints, got {axis!r}"
        )
    items = tuple(int(a) for a in items)
    shown = items if many else items[0]
    ndim = len(shape)
    where = f"{op.name}: axis {shown} for shape {shape}"
    if ndim == 0 and items:
        raise ShapeError(f"{where}: a 0-d tensor has no axes (use axis=None)")
    for a in items:
        if not -ndim <= a < ndim:
            which = f": {a}" if many else ""
            raise ShapeError(f"{where}{which} is out of range (axes -{ndim}..{ndim - 1})")
    if len({a % ndim for a in items}) != len(items):
        raise ShapeError(f"{where}: an axis appears twice")
    return shown


def reduced_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The axes a (checked) ``axis`` parameter names, as sorted non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in items))


def _expand_reduced(g, shape, axis, keepdims):
    """Reinsert the axes a reduction removed, so ``g`` broadcasts against the input."""
    axes = reduced_axes(axis, len(shape))
    return np.broadcast_to(
        np.reshape(g, [1 if k in axes else n for k, n in enumerate(shape)]), shape
    )


def _obj(x):
    return np.asarray(x, dtype=object)


SUM = tensor_op(
    "sum",
    "Σ",
    "\\sum {0}",
    lambda a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims),
    lambda i, g, out, xs, p: _expand_reduced(g, xs[0].shape, p["axis"], p["keepdims"]),
    lambda a, axis, keepdims: _obj(np.sum(a, axis=axis, keepdims=keepdims)),
    ("g broadcast to the shape of {0}",),
    params={"axis": None, "keepdims": False},
    doc="sum over axes (None, an int or a tuple)",
    axis_kind="reduce",
    vjp_latex=("\\mathrm{{broadcast}}(g)",),
)


def _count(shape, axis):
    return int(np.prod([shape[k] for k in reduced_axes(axis, len(shape))]))


MEAN = tensor_op(
    "mean",
    "mean",
    "\\overline{{{0}}}",
    lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims),
    lambda i, g, out, xs, p: (
        _expand_reduced(g, xs[0].shape, p["axis"], p["keepdims"]) / _count(xs[0].shape, p["axis"])
    ),
    lambda a, axis, keepdims: _obj(
        np.sum(a, axis=axis, keepdims=keepdims) / sp.Integer(_count(a.shape, axis))
    ),
    ("g / N broadcast to the shape of {0}",),
    params={"axis": None, "keepdims": False},
    doc="mean over axes (None, an int or a tuple)",
    axis_kind="reduce",
    vjp_latex=("\\mathrm{{broadcast}}(g) / N",),
)
RESHAPE = tensor_op(
    "reshape",
    "reshape",
    "{0}",
    lambda a, shape: np.reshape(a, shape),
    lambda i, g, out, xs, p: np.reshape(g, xs[0].shape),
    lambda a, shape: np.reshape(a, shape),
    ("g reshaped to the shape of {0}",),
    params={"shape": None},
    doc="reshape (same elements)",
    vjp_latex=("\\mathrm{{reshape}}(g)",),
)
BROADCAST_TO = tensor_op(
    "broadcast_to",
    "bcast",
    "{0}",
    lambda a, shape: np.broadcast_to(a, shape),
    lambda i, g, out, xs, p: unbroadcast(g, xs[0].shape),
    lambda a, shape: _obj(np.broadcast_to(a, shape)),
    ("sum g over broadcast axes",),
    params={"shape": None},
    doc="explicit numpy broadcasting",
    shape=_broadcast_to_shape,
)


def _inverse_axes(axes, ndim):
    if axes is None:
        return None
    return tuple(np.argsort([a % ndim for a in axes]))  # transpose(-1, 0) is (1, 0)


TRANSPOSE = tensor_op(
    "transpose",
    "ᵀ",
    "{0}^{{T}}",
    lambda a, axes: np.transpose(a, axes),
    lambda i, g, out, xs, p: np.transpose(g, _inverse_axes(p["axes"], g.ndim)),
    lambda a, axes: np.transpose(a, axes),
    ("gᵀ",),
    params={"axes": None},
    doc="transpose / permute axes",
    text="{0}ᵀ",
    vjp_latex=("g^{{T}}",),
)


def _getitem_vjp(i, g, out, xs, p):
    full = np.zeros_like(xs[0])
    np.add.at(full, p["index"], g)
    return full


GETITEM = tensor_op(
    "getitem",
    "[]",
    "{0}[\\cdot]",
    lambda a, index: a[index],
    _getitem_vjp,
    lambda a, index: _obj(a[index]),
    ("scatter-add g into zeros",),
    params={"index": None},
    doc="indexing and slicing; repeated indices accumulate",
)


def _split_vjp(i, g, out, xs, p):
    axis = p["axis"]
    start = sum(x.shape[axis] for x in xs[:i])
    return np.take(g, np.arange(start, start + xs[i].shape[axis]), axis=axis)


CONCAT = tensor_op(
    "concat",
    "concat",
    "[{args}]",
    lambda *xs, axis: np.concatenate(xs, axis=axis),
    _split_vjp,
    lambda *xs, axis: np.concatenate(xs, axis=axis),
    ("slice of g",),
    arity=None,
    params={"axis": 0},
    doc="concatenate along an existing axis",
    shape=_concat_shape,
)
STACK = tensor_op(
    "stack",
    "stack",
    "[{args}]",
    lambda *xs, axis: np.stack(xs, axis=axis),
    lambda i, g, out, xs, p: np.take(g, i, axis=p["axis"]),
    lambda *xs, axis: np.stack(xs, axis=axis),
    ("g[i] along the new axis",),
    arity=None,
    params={"axis": 0},
    doc="stack along a new axis",
    shape=_stack_shape,
)


def _to_last(a, axes):
    """``a`` with the reduced ``axes`` moved to the end and merged into one: (kept…, N)."""
    keep = [k for k in range(a.ndim) if k not in axes]
    moved = np.transpose(a, keep + list(axes))
    return moved.reshape(moved.shape[: len(keep)] + (-1,)), keep


def _first_winner(a, axis, arg):
    """A mask with one True per reduced slice: the first extreme element in row-major order
    over the reduced axes (``arg`` is np.argmax or np.argmin), whatever the number of axes."""
    axes = reduced_axes(axis, a.ndim)
    flat, keep = _to_last(a, axes)
    mask = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(mask, arg(flat, axis=-1)[..., None], True, axis=-1)
    mask = mask.reshape([a.shape[k] for k in keep + list(axes)])
    return np.transpose(mask, np.argsort(keep + list(axes)))


def _extreme_vjp(arg):
    """Route the gradient to the first winner (the max-pool rule), for one or more axes."""

    def vjp(i, g, out, xs, p):
        a = xs[0]
        gg = _expand_reduced(g, a.shape, p["axis"], p["keepdims"])
        return np.where(_first_winner(a, p["axis"], arg), gg, 0.0).astype(g.dtype, copy=False)

    return vjp


@functools.cache
def _first_extreme(kind: str):
    """SymPy's max or min of some values (``kind``), differentiated with the engine's tie
    rule: the first winner takes the whole gradient. ``sp.Max`` differentiates to Heaviside
    steps, which split a tie or hand it to every tied value. Value k wins when it beats each
    earlier value strictly and ties or beats each later one; the condition is built only
    when a derivative is taken, so the expression itself stays as small as ``Max(...)``."""
    beats, ties, plain = (
        (operator.gt, operator.ge, sp.Max) if kind == "max" else (operator.lt, operator.le, sp.Min)
    )

    class extreme(sp.Function):
        @classmethod
        def eval(cls, *v):
            if len(v) == 1:
                return v[0]
            if all(x.is_number for x in v):
                return plain(*v)
            return None

        def fdiff(self, argindex=1):
            v, k = self.args, argindex - 1
            wins = [beats(v[k], u) for u in v[:k]] + [ties(v[k], u) for u in v[k + 1 :]]
            return sp.Piecewise((1, sp.And(*wins)), (0, True))

        def _eval_evalf(self, prec):
            return plain(*self.args)._eval_evalf(prec)

        def _latex(self, printer, exp=None):
            text = printer._print(plain(*self.args, evaluate=False))
            return f"\\left({text}\\right)^{{{exp}}}" if exp else text

        def _sympystr(self, printer):
            return printer._print(plain(*self.args, evaluate=False))

    extreme.__name__ = kind
    return extreme


def _sym_extreme(fn):
    def form(a, axis, keepdims):
        a = _obj(a)
        axes = reduced_axes(axis, a.ndim)
        flat, keep = _to_last(a, axes)
        r = _obj(np.empty(flat.shape[:-1], dtype=object))
        for idx in np.ndindex(r.shape):
            r[idx] = fn(*flat[idx])
        if keepdims:
            r = r.reshape([1 if k in axes else n for k, n in enumerate(a.shape)])
        return r

    return form


MAX = tensor_op(
    "max",
    "max",
    "\\max {0}",
    lambda a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims),
    _extreme_vjp(np.argmax),
    _sym_extreme(lambda *v: _first_extreme("max")(*v)),
    ("g routed to the argmax",),
    params={"axis": None, "keepdims": False},
    doc="maximum over axes (None, an int or a tuple); the gradient goes to the first "
    "maximal element in row-major order",
    axis_kind="reduce",
)
MIN = tensor_op(
    "min",
    "min",
    "\\min {0}",
    lambda a, axis, keepdims: np.min(a, axis=axis, keepdims=keepdims),
    _extreme_vjp(np.argmin),
    _sym_extreme(lambda *v: _first_extreme("min")(*v)),
    ("g routed to the argmin",),
    params={"axis": None, "keepdims": False},
    doc="minimum over axes (None, an int or a tuple); the gradient goes to the first "
    "minimal element in row-major order",
    axis_kind="reduce",
)


def _logsumexp(a, axis, keepdims):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    r = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return r if keepdims else (np.squeeze(r, axis=axis) if axis is not None else r.reshape(()))


LOGSUMEXP = tensor_op(
    "logsumexp",
    "LSE",
    "\\log\\sum e^{{{0}}}",
    _logsumexp,
    lambda i, g, out, xs, p: (
        _expand_reduced(g, xs[0].shape, p["axis"], p["keepdims"])
        * np.exp(xs[0] - _expand_reduced(out, xs[0].shape, p["axis"], p["keepdims"]))
    ),
    lambda a, axis, keepdims: _vec(sp.log)(
        _obj(np.sum(_vec(sp.exp)(a), axis=axis, keepdims=keepdims))
    ),
    ("g · softmax({0})",),
    params={"axis": None, "keepdims": False},
    doc="log Σ e^x over axes, computed stably with the max subtracted",
    axis_kind="reduce",
    vjp_latex=("g\\,\\mathrm{{softmax}}({0})",),
)


def _softmax(a, axis):
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _sym_softmax(a, axis):
    e = _vec(sp.exp)(a)
    return e / np.sum(e, axis=axis, keepdims=True)


SOFTMAX = tensor_op(
    "softmax",
    "softmax",
    "\\mathrm{{softmax}}({0})",
    lambda a, axis: _softmax(a, axis),
    lambda i, g, out, xs, p: out * (g - np.sum(g * out, axis=p["axis"], keepdims=True)),
    _sym_softmax,
    ("s·(g − Σ g·s) with s = {out}",),
    params={"axis": -1},
    doc="e^x / Σ e^x along an axis (or a tuple of them)",
    axis_kind="along",
    vjp_latex=("s \\odot \\left(g - \\textstyle\\sum g \\odot s\\right),\\ s = {out}",),
)
LOG_SOFTMAX = tensor_op(
    "log_softmax",
    "log_softmax",
    "\\log\\mathrm{{softmax}}({0})",
    lambda a, axis: a - _logsumexp(a, axis, True),
    lambda i, g, out, xs, p: g - np.exp(out) * np.sum(g, axis=p["axis"], keepdims=True),
    lambda a, axis: a - _vec(sp.log)(_obj(np.sum(_vec(sp.exp)(a), axis=axis, keepdims=True))),
    ("g − softmax({0}) Σ g",),
    params={"axis": -1},
    doc="x − logsumexp(x) along an axis (or a tuple of them)",
    axis_kind="along",
    vjp_latex=("g - \\mathrm{{softmax}}({0}) \\textstyle\\sum g",),
)


def _where_vjp(i, g, out, xs, p):
    mask = p["cond"] if i == 0 else ~np.asarray(p["cond"])
    return unbroadcast(np.where(mask, g, 0.0).astype(g.dtype, copy=False), xs[i].shape)


WHERE = tensor_op(
    "where",
    "where",
    "\\mathrm{{where}}(c, {0}, {1})",
    lambda a, b, cond: np.where(cond, a, b),
    _where_vjp,
    lambda a, b, cond: _obj(np.where(cond, a, b)),
    ("g where c, else 0", "g where not c, else 0"),
    arity=2,
    params={"cond": None},
    doc="pick a where the (constant) condition holds, else b",
    shape=_where_shape,
)


def bind_params(op: Op, args: tuple, kwargs: dict) -> dict:
    """Positional and keyword parameters of ``op`` merged over its defaults, checked by name."""
    names = list(op.params)
    if len(args) > len(names):
        raise ArgumentTypeError(
            f"{op.name}() takes {len(names)} parameter(s) {names}, got {len(args)}"
        )
    p = dict(op.params)
    p.update(zip(names, args))
    for k, v in kwargs.items():
        if k not in p:
            raise ArgumentTypeError(f"{op.name}() has no parameter {k!r}; it takes {names}")
        p[k] = v
    return p


def unary_elementwise() -> list[Op]:
    """The ops that become methods ``x.relu()``, ``x.tanh()``, ... on Value and Tensor."""
    return [op for op in OPS.values() if op.elementwise and op.arity == 1]
