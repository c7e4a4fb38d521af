"""``gradflow render "EXPR" --at x=4,w=20 -o graph.svg``: draw a formula's graph.

The formula goes through the safe parser of :mod:`gradflow.formula` (an ``ast`` whitelist:
numbers, names, ``+ - * / **`` and the op table's functions); nothing is evaluated as Python.
"""

from __future__ import annotations

import math
import sys


def register(sub) -> None:
    p = sub.add_parser("render", help="draw the graph of a formula as SVG, PNG or DOT")
    p.add_argument("expr", help='a formula, e.g. "max(w*x - 10, 0)"')
    p.add_argument("--at", default="", help="values of the names, e.g. x=4,w=20")
    p.add_argument("-o", "--output", default="graph.svg", help="output file: .svg, .png, .dot")
    p.add_argument("--backward", action="store_true", help="run backward() to show gradients")
    p.add_argument("--rankdir", choices=["LR", "TB"], default="LR", help="layout direction")
    p.add_argument("--show-local", action="store_true", help="local derivatives on the edges")
    p.set_defaults(func=run)


class AssignmentError(ValueError):
    """A malformed ``--at`` list."""


def parse_assignments(text: str) -> dict[str, float]:
    """``"x=4, w=20"`` -> ``{"x": 4.0, "w": 20.0}``; names must be identifiers, values finite."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, number = (s.strip() for s in part.partition("="))
        if not eq or not name.isidentifier() or name.startswith("_"):
            raise AssignmentError(f"--at: expected name=number, got {part!r}")
        try:
            value = float(number)
        except ValueError:
            raise AssignmentError(f"--at: {name} must be a number, got {number!r}") from None
        if not math.isfinite(value):
            raise AssignmentError(f"--at: {name} must be finite, got {number!r}")
        values[name] = value
    return values


def run(args) -> int:
    import warnings

    from visual.render import NoRendererWarning, RenderError, find_renderer, render_graph

    from ..formula import FormulaError, evaluate

    try:
        out = evaluate(args.expr, parse_assignments(args.at))
    except (FormulaError, AssignmentError) as e:
        print(f"gradflow render: {e}", file=sys.stderr)
        return 2
    if args.backward:
        if not out.requires_grad:
            print(
                "gradflow render: no names in the formula, nothing to differentiate",
                file=sys.stderr,
            )
        else:
            out.backward()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NoRendererWarning)
        try:
            path = render_graph(out, args.output, rankdir=args.rankdir, show_local=args.show_local)
        except (RenderError, ValueError) as e:
            print(f"gradflow render: {e}", file=sys.stderr)
            return 1
    for w in caught:
        print(f"gradflow render: {w.message}", file=sys.stderr)
    suffix = path.suffix.lstrip(".")
    renderer = "" if suffix == "dot" else f" (renderer: {find_renderer(suffix).name})"
    print(f"wrote {path}{renderer}; {args.expr} = {out.data:g}")
    return 0
