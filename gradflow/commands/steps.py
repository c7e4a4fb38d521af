"""``gradflow steps``: forward and backward tables — the seed-002 worked example, or a formula.

``gradflow steps`` prints the course's seed-002 network (``--x``, ``--ytrue``);
``gradflow steps "softmax(z)" --at "z=[0.02,0.6]"`` the steps of any formula the safe parser
accepts, with numbers, vectors or matrices for its names (the ``--at`` of ``render``).
"""

from __future__ import annotations

import json

from ..formula import MAX_NUMBER
from .arguments import float_within
from .report import json_text


def register(sub) -> None:
    p = sub.add_parser("steps", help="print backprop step by step (seed 002, or a formula)")
    p.add_argument("expr", nargs="?", help='a formula, e.g. "softmax(z)" (default: seed 002)')
    p.add_argument("--at", default="", help="values of the formula's names, e.g. z=[0.02,0.6]")
    # the bound of a number in a formula: the tables stay readable (1e300 would print as an
    # exact 301-digit integer in a local derivative) and nothing overflows to inf
    number = float_within(MAX_NUMBER)
    p.add_argument("--x", type=number, default=4.0, help="seed 002: network input (default 4)")
    p.add_argument("--ytrue", type=number, default=75.0, help="seed 002: target (default 75)")
    p.add_argument("--format", choices=["table", "json", "markdown", "latex"], default="table")
    p.add_argument("--exact", action="store_true", help="every digit, not numbers for reading")
    p.add_argument("--ids", action="store_true", help="unnamed nodes as n1, n2, ... (ids)")
    p.set_defaults(func=run)


def _graph(args):
    """The output node and the backward seed (None for a single number)."""
    if args.expr is None:
        from ..errors import UsageError
        from ..examples import seed002_network

        if args.at:
            raise UsageError('--at needs a formula: gradflow steps "FORMULA" --at x=1')
        return seed002_network(args.x, args.ytrue)["L"], None
    from ..formula import evaluate, parse
    from .render import AssignmentError, parse_assignments, seed

    values = parse_assignments(args.at)
    unused = sorted(set(values) - parse(args.expr).names)
    if unused:
        raise AssignmentError(f"--at: {', '.join(unused)} not used in the formula {args.expr!r}")
    out = evaluate(args.expr, values)
    return out, seed(out)


def run(args) -> int:
    from ..steps import backward_steps, forward_steps

    loss, grad = _graph(args)
    fwd = forward_steps(loss, ids=args.ids)
    bwd = backward_steps(loss, grad, ids=args.ids) if loss.requires_grad else backward_steps(loss)
    fwd.exact = bwd.exact = args.exact
    if args.format == "json":
        # a huge finite --x can still overflow a step to inf: strict JSON writes it as null
        steps = {"forward": json.loads(fwd.to_json()), "backward": json.loads(bwd.to_json())}
        print(json_text(steps))
    elif args.format == "markdown":
        print(fwd.to_markdown(), "", bwd.to_markdown(), sep="\n")
    elif args.format == "latex":
        print(fwd.to_latex(), "", bwd.to_latex(), sep="\n")
    else:
        print(fwd.table(), "", bwd.table(), sep="\n")
    return 0
