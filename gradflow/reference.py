"""The op reference, generated from the op table so the docs cannot drift from the code."""

from __future__ import annotations

from .ops import OPS, Op

_ARGS = ("x", "y")


def _derivatives(op: Op) -> str:
    if not op.elementwise:
        return "; ".join(f"input {k}: `{t}`" for k, t in enumerate(op.vjp_text))
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


def markdown() -> str:
    """Every op: name, kind, parameters, formula and derivative (LaTeX), and its doc line."""
    lines = [
        "# Op reference",
        "",
        "Generated from the op table (`gradflow/ops.py`) by `gradflow ops --markdown`; "
        "a test fails when this file and the table disagree.",
        "",
        "Kink convention: at exactly 0 the ReLU family takes the derivative of its x ≤ 0 "
        "branch (ReLU'(0) = 0); max/min give a tie to the first argument.",
        "",
        "| op | kind | parameters | formula | derivative / VJP | notes |",
        "|---|---|---|---|---|---|",
    ]
    for op in OPS.values():
        kind = "elementwise" if op.elementwise else "tensor"
        params = ", ".join(f"{k}={v}" for k, v in op.params.items()) or "—"
        cells = [f"`{op.name}`", kind, params, _formula(op), _derivatives(op), op.doc]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
