"""``gradflow render "EXPR" --at x=4,w=20 -o graph.svg``: draw a formula's graph.

The formula goes through the safe parser of :mod:`gradflow.formula` (an ``ast`` whitelist:
numbers, names, ``+ - * / **`` and the op table's functions); nothing is evaluated as Python.
Everything is checked before the graph is drawn: each name of ``--at`` given once and used
by the formula, every name of the formula given a value, and ``-o`` a ``.svg``/``.png``/
``.dot`` file in a folder that exists (errors end with exit code 2, through
:func:`gradflow.cli.main`).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..errors import UsageError
from ..formula import normalize_name
from .arguments import output_file


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
    """``"x=4, w=20"`` -> ``{"x": 4.0, "w": 20.0}``; names must be identifiers, each given
    once, values finite. Names are read as the formula parser reads them (``ｘ`` is ``x``)."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        raw, eq, number = (s.strip() for s in part.partition("="))
        if not eq or not raw.isidentifier() or raw.startswith("_"):
            raise AssignmentError(f"--at: expected name=number, got {part!r}")
        name = normalize_name(raw)
        if name in values:
            same = "" if name == raw else f" ({raw!r} is {name!r})"
            raise AssignmentError(f"--at: {name} is given twice{same}")
        try:
            value = float(number)
        except ValueError:
            raise AssignmentError(f"--at: {name} must be a number, got {number!r}") from None
        if not math.isfinite(value):
            raise AssignmentError(f"--at: {name} must be finite, got {number!r}")
        values[name] = value
    return values


def output_path(text: str) -> Path:
    """The ``-o`` file, checked before anything is drawn: a known suffix, and a file this
    user may write in a folder that exists (no folders are made)."""
    from ..visual.render import FORMATS, find_renderer

    path = output_file(text, "-o")
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(
            f"-o {path}: cannot write {'.' + fmt if fmt else 'a file without a suffix'}; "
            "use .svg, .png or .dot"
        )
    if fmt != "dot" and find_renderer(fmt) is None:
        output_file(path.with_suffix(".dot"), "-o")  # the fallback render_graph writes
    return path


def run(args) -> int:
    import warnings

    from ..cli import message
    from ..formula import evaluate, parse
    from ..visual import render_graph
    from ..visual.render import NoRendererWarning, RenderError, find_renderer

    values = parse_assignments(args.at)
    unused = sorted(set(values) - parse(args.expr).names)
    if unused:
        raise AssignmentError(f"--at: {', '.join(unused)} not used in the formula {args.expr!r}")
    output = output_path(args.output)
    out = evaluate(args.expr, values)
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
            path = render_graph(out, output, rankdir=args.rankdir, show_local=args.show_local)
        except RenderError as e:  # the renderer ran and failed: a failed run, not bad input
            print(f"gradflow render: error: {message(e)}", file=sys.stderr)
            return 1
    for w in caught:
        print(f"gradflow render: {w.message}", file=sys.stderr)
    suffix = path.suffix.lstrip(".")
    renderer = "" if suffix == "dot" else f" (renderer: {find_renderer(suffix).name})"
    print(f"wrote {path}{renderer}; {args.expr} = {out.data:g}")
    return 0
