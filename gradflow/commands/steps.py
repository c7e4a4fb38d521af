"""``gradflow steps``: the seed-002 worked example as forward and backward tables."""

from __future__ import annotations

import json

from ..formula import MAX_NUMBER
from .arguments import float_within
from .report import json_text


def register(sub) -> None:
    p = sub.add_parser("steps", help="print the seed-002 backprop example step by step")
    # the bound of a number in a formula: the tables stay readable (1e300 would print as an
    # exact 301-digit integer in a local derivative) and nothing overflows to inf
    number = float_within(MAX_NUMBER)
    p.add_argument("--x", type=number, default=4.0, help="network input (default 4)")
    p.add_argument("--ytrue", type=number, default=75.0, help="target (default 75)")
    p.add_argument("--format", choices=["table", "json", "markdown", "latex"], default="table")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..examples import seed002_network
    from ..steps import backward_steps, forward_steps

    loss = seed002_network(args.x, args.ytrue)["L"]
    fwd, bwd = forward_steps(loss), backward_steps(loss)
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
