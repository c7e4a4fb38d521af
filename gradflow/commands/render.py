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
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..formula import normalize_name
from .arguments import output_file


def register(sub) -> None:
    p = sub.add_parser("render", help="draw the graph of a formula as SVG, PNG or DOT")
    p.add_argument("expr", help='a formula, e.g. "max(w*x - 10, 0)"')
    p.add_argument("--at", default="", help="values of the names, e.g. x=4,w=20 or z=[0.02,0.6]")
    p.add_argument("-o", "--output", default="graph.svg", help="output file: .svg, .png, .dot")
    p.add_argument("--backward", action="store_true", help="run backward() to show gradients")
    p.add_argument("--rankdir", choices=["LR", "TB"], default="LR", help="layout direction")
    p.add_argument("--show-local", action="store_true", help="local derivatives on the edges")
    p.set_defaults(func=run)


class AssignmentError(UsageError):
    """A malformed ``--at`` list."""


MAX_AT_ELEMENTS = 400  # a vector or matrix given on the command line is read by a person
MAX_AT_DEPTH = 4


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets: ``x=[1,2], w=3`` → two parts."""
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AssignmentError(f"--at: {name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise AssignmentError(f"--at: {name} must be finite, got {text!r}")
    return value


def _array(name: str, text: str):
    """``[0.02, 0.6]`` or ``[[1, 2], [3, 4]]`` read by a small parser (never eval): numbers,
    brackets and commas only, rectangular, finite, at most MAX_AT_ELEMENTS numbers."""
    import numpy as np

    tokens = [t for t in _TOKEN.findall(text) if not t.isspace()]
    if "".join(tokens) != "".join(text.split()):
        raise AssignmentError(f"--at: {name} must be a number or a list like [1, 2], got {text!r}")
    pos = 0

    def value(depth: int):
        nonlocal pos
        if depth > MAX_AT_DEPTH:
            raise AssignmentError(f"--at: {name} is nested too deeply (limit {MAX_AT_DEPTH})")
        if pos < len(tokens) and tokens[pos] == "[":
            pos += 1
            items = []
            while pos < len(tokens) and tokens[pos] != "]":
                items.append(value(depth + 1))
                if pos < len(tokens) and tokens[pos] == ",":
                    pos += 1
                elif pos < len(tokens) and tokens[pos] != "]":
                    raise AssignmentError(f"--at: {name}: expected ',' or ']' in {text!r}")
            if pos >= len(tokens):
                raise AssignmentError(f"--at: {name}: a '[' is not closed in {text!r}")
            pos += 1
            if not items:
                raise AssignmentError(f"--at: {name}: an empty list in {text!r}")
            return items
        if pos >= len(tokens) or tokens[pos] in "[],":
            raise AssignmentError(f"--at: {name}: expected a number in {text!r}")
        pos += 1
        return _number(name, tokens[pos - 1])

    nested = value(0)
    if pos != len(tokens):
        raise AssignmentError(f"--at: {name}: unexpected text after the list in {text!r}")
    try:
        arr = np.array(nested, dtype=np.float64)
    except ValueError:
        raise AssignmentError(f"--at: {name} is ragged: every row needs the same length") from None
    if arr.size > MAX_AT_ELEMENTS:
        raise AssignmentError(f"--at: {name} has {arr.size} numbers (limit {MAX_AT_ELEMENTS})")
    return arr


_TOKEN = re.compile(r"\[|\]|,|[^\[\],\s]+|\s+")


def parse_assignments(text: str) -> dict[str, Any]:
    """``"x=4, w=20"`` -> ``{"x": 4.0, "w": 20.0}``; ``"z=[0.02,0.6]"`` and nested lists
    (``W=[[1,2],[3,4]]``) give numpy arrays. Names must be identifiers, each given once,
    values finite; a list holds at most MAX_AT_ELEMENTS numbers. Names are read as the
    formula parser reads them (``ｘ`` is ``x``)."""
    values: dict[str, Any] = {}
    for part in _split_top(text):
        raw, eq, number = (s.strip() for s in part.partition("="))
        if not eq or not raw.isidentifier() or raw.startswith("_"):
            raise AssignmentError(f"--at: expected name=number, got {part!r}")
        name = normalize_name(raw)
        if name in values:
            same = "" if name == raw else f" ({raw!r} is {name!r})"
            raise AssignmentError(f"--at: {name} is given twice{same}")
        if number.startswith("[") or "]" in number:
            values[name] = _array(name, number)
        else:
            values[name] = _number(name, number)
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


def seed(out) -> Any:
    """The backward seed: None (1) for a single number; for a vector or matrix output every
    element's gradient 1, i.e. the gradient of sum(out), said on stderr."""
    import numpy as np

    if np.size(out.data) == 1:
        return None
    print(
        "note: the output has several elements: backward from sum(output) "
        "(every element's upstream gradient is 1)",
        file=sys.stderr,
    )
    return np.ones_like(out.data)


def run(args) -> int:
    import warnings

    import numpy as np

    from .. import display
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
            out.backward(seed(out))
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
    shown = (  # a number to 6 digits (float noise snapped to 0), a vector in full
        f"{display.snap(out.data):g}"
        if np.ndim(out.data) == 0
        else display.array(out.data, grid=False)
    )
    print(f"wrote {path}{renderer}; {args.expr} = {shown}")
    return 0
