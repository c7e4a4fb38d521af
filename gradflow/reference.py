"""The op reference, generated from the op table so the docs cannot drift from the code."""

from __future__ import annotations

from .ops import OPS, Op

_ARGS = ("x", "y")


def _derivatives(op: Op) -> str:
    if not op.elementwise:
        args = ("A", "B") if op.arity == 2 else ("x",) * (op.arity or 2)
        k_max = len(op.vjp_text) if op.arity is None else op.arity
        return "; ".join(
            f"input {k}: `{op.derivative_text(k, args, out='y')}`" for k in range(k_max)
        )
    if op.arity is None:
        return (
            "$\\partial z/\\partial w_i = x_i,\\ \\partial z/\\partial x_i = w_i,\\ "
            "\\partial z/\\partial b = 1$"
        )
    names = _ARGS[: op.arity]
    return ", ".join(
        f"$\\frac{{\\partial}}{{\\partial {n}}} = {op.derivative_latex(k, names)}$"
        for k, n in enumerate(names)
    )


def _formula(op: Op) -> str:
    args = list(_ARGS[: op.arity]) if op.arity else ["x_1", "x_2"]
    return f"${op.format_latex(args)}$"


def _text(op: Op) -> str:
    """How a graph label and a step table write the op (one entry when they agree)."""
    args = list(_ARGS[: op.arity]) if op.arity else ["x1", "x2", "x3"]
    label, step = op.format_text(args, op.params), op.format_text(args, op.params, "name")
    return f"`{label}`" if label == step else f"`{label}` / `{step}`"


def markdown() -> str:
    """Every op: name, kind, parameters, formula (LaTeX), how graph labels and step tables
    write it, its derivative (LaTeX) or VJP rule, and its doc line."""
    lines = [
        "# Op reference",
        "",
        "Generated from the op table (`gradflow/ops.py`) by `gradflow ops --markdown`; "
        "a test fails when this file and the table disagree.",
        "",
        "Kink convention: at exactly 0 the ReLU family takes the derivative of its x ≤ 0 "
        "branch (ReLU'(0) = 0); max/min give a tie to the first argument.",
        "",
        "| op | kind | parameters | formula | text: graph / steps | derivative / VJP | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in OPS.values():
        kind = "elementwise" if op.elementwise else "tensor"
        params = ", ".join(f"{k}={v}" for k, v in op.params.items()) or "—"
        cells = [f"`{op.name}`", kind, params, _formula(op), _text(op), _derivatives(op), op.doc]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
