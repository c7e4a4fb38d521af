"""One name per node, the same in every table, graph, player, quiz and LaTeX block.

A node a student sees is called, in this order of preference:

* its label — an exercise's own key (``z11``), a parameter's module path (``fc1.weight``,
  set by :meth:`gradflow.nn.Module.__call__`), or any ``label=`` given in code;
* an unnamed scalar constant: its number (``2``, ``0.001``);
* an unnamed op: a short name derived from its expression with the op table's notation
  (``w111·x``, ``w211·y11 + w212·y12``, ``ytrue − y21``, ``ReLU(z)``), brackets added where
  the order of operations needs them;
* a derived name longer than :data:`MAX_DERIVED` characters: the op's name and a count
  (``matmul1``, ``relu2``); an unnamed array leaf: ``param1`` (trainable) or ``const1``.

Ids ``n1, n2, …`` in topological order come only when asked for (``ids=True``).
The LaTeX name follows the same choice (:func:`gradflow.display.latex_name` for a label, the
op's LaTeX template for a derived name), so a LaTeX block names the nodes as the text does.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from . import display

MAX_DERIVED = 24  # characters; a longer derived name falls back to op name + count


def _top_level(s: str) -> str:
    """``s`` with everything inside brackets removed: what a reader parses first."""
    out, depth = [], 0
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def precedence(name: str) -> int:
    """How tightly a name binds: 3 atom or call (``z11``, ``ReLU(z)``, ``2``), 2 power or
    transpose, 1 product or quotient, 0 sum, difference or a leading sign."""
    if name[:1] == "∂":  # a gradient ∂L/∂w reads as one symbol (bracketed for a power)
        return 2
    top = _top_level(name)
    if name[:1] in "-−" or any(f" {c} " in top for c in "+−-"):
        return 0
    if any(c in top for c in "·×÷/⊙ "):
        return 1
    if any(c in top for c in "^ᵀ⁰¹²³⁴⁵⁶⁷⁸⁹⁻"):
        return 2
    return 3


def wrap(name: str, level: int) -> str:
    """``name`` in brackets when it binds less tightly than ``level`` needs."""
    return f"({name})" if precedence(name) < level else name


_LATEX_OPEN = re.compile(r"\\left\(|\\left\[")


def latex_precedence(tex: str) -> int:
    """:func:`precedence` for a LaTeX string (braces and brackets hide their content)."""
    if tex.startswith("{-") or tex.startswith("-"):
        return 0
    top = _top_level(_LATEX_OPEN.sub("(", tex).replace("\\right)", ")").replace("\\right]", "]"))
    if re.search(r"[+\-]", top):
        return 0
    if "\\cdot" in top or " " in top.strip():
        return 1
    if "^" in top or "\\frac" in top:
        return 2
    return 3


def latex_wrap(tex: str, level: int) -> str:
    return f"\\left({tex}\\right)" if latex_precedence(tex) < level else tex


# How tightly each operator-style op needs its arguments to bind: (left, right).
_ARG_LEVEL = {
    "add": (0, 1),
    "sub": (0, 1),
    "mul": (1, 2),
    "div": (1, 2),
    "neg": (2, 2),
    "pow": (3, 3),
    "powv": (3, 3),
    "transpose": (3, 3),
    "matmul": (1, 2),
}


def arg_level(op: Any, k: int) -> int:
    """The binding an argument ``k`` of ``op`` needs in its text template (a call form
    ``f(...)`` needs none)."""
    levels = _ARG_LEVEL.get(op.name)
    if levels is None:
        return 0 if not op.text or "(" in op.text else 3
    return levels[min(k, 1)]


def _superscripts(text: str) -> str:
    """``x^2`` → ``x²``, ``x^-1`` → ``x⁻¹`` (integer exponents only; ``x^2.5`` stays)."""
    sup = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
    return re.sub(r"\^(-?\d+)(?![\d.])", lambda m: m[1].translate(sup), text)


def derived_name(op: Any, args: list[str], params: dict) -> str:
    """An op applied to its arguments' names in the op table's notation, e.g. ``w·x``."""
    wrapped = wrap_args(op, args)
    try:
        text = op.format_text(wrapped, params, "symbol")
    except (KeyError, IndexError, ValueError):
        text = f"{op.symbol}({', '.join(args)})"
    return _superscripts(text)


def wrap_args(op: Any, args: list[str], latex: bool = False) -> list[str]:
    """The arguments of ``op`` bracketed where the order of operations needs it; a negative
    number as the first argument leads without brackets (−0.001·g)."""
    out = []
    for k, a in enumerate(args):
        if k == 0 and _negative(a):
            out.append(a if latex else _lead(a))
        else:
            out.append(latex_wrap(a, arg_level(op, k)) if latex else wrap(a, arg_level(op, k)))
    return out


def _negative(a: str) -> bool:
    """A negative number, as text (``-0.001``) or LaTeX (``{-0.001}``)."""
    return re.fullmatch(r"\{?-\d[\d.e+-]*\}?", a) is not None


def _lead(a: str) -> str:
    """A negative number as a first argument leads without brackets: −0.001·g."""
    return "−" + a[1:] if a.startswith("-") else a


def derived_latex(op: Any, args: list[str], params: dict) -> str:
    wrapped = wrap_args(op, args, latex=True)
    try:
        return op.format_latex(wrapped, params)
    except (KeyError, IndexError, ValueError):
        return f"\\mathrm{{{op.name}}}({', '.join(args)})"


def _is_scalar(data: Any) -> bool:
    return not isinstance(data, np.ndarray) or data.ndim == 0


def node_names(
    order: list, ids: bool = False, limit: int = MAX_DERIVED
) -> tuple[dict[int, str], dict[int, str]]:
    """``(text, latex)``: one name per node of a graph given in topological order, keyed by
    ``id(node)``; unique within the graph (a repeated derived name gets a prime ′)."""
    text: dict[int, str] = {}
    tex: dict[int, str] = {}
    used: set[str] = set()
    counts: dict[str, int] = {}

    def numbered(stem: str) -> str:
        while True:
            counts[stem] = counts.get(stem, 0) + 1
            name = f"{stem}{counts[stem]}"
            if name not in used:
                return name

    for n in order:
        latex = None
        if n.label:
            name = n.label
        elif n.op is None and not n.requires_grad and _is_scalar(n.data):
            name = display.number(n.data)
            latex = display.latex(n.data)
        elif ids:
            name = numbered("n")
        elif n.op is None:
            name = numbered("param" if n.requires_grad else "const")
        else:
            args = [text[id(i)] for i in n.inputs]
            name = derived_name(n.op, args, n.params)
            latex = derived_latex(n.op, [tex[id(i)] for i in n.inputs], n.params)
            if len(name) > limit:
                name, latex = numbered(n.op.name), None
        primes = ""
        while name in used:
            name += "′"
            primes += "'"
        used.add(name)
        base = latex if latex is not None else display.latex_name(name.rstrip("′"))
        text[id(n)] = name
        tex[id(n)] = latex_wrap(base, 3) + primes if primes else base
    return text, tex


def display_names(order: list, ids: bool = False) -> dict[int, str]:
    """The text names of :func:`node_names`."""
    return node_names(order, ids)[0]
