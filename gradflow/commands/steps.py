"""``gradflow steps``: the seed-002 worked example as forward and backward tables."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("steps", help="print the seed-002 backprop example step by step")
    p.add_argument("--x", type=float, default=4.0, help="network input (default 4)")
    p.add_argument("--ytrue", type=float, default=75.0, help="target (default 75)")
    p.add_argument("--format", choices=["table", "json", "markdown", "latex"], default="table")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..examples import seed002_network
    from ..steps import backward_steps, forward_steps

    loss = seed002_network(args.x, args.ytrue)["L"]
    fwd, bwd = forward_steps(loss), backward_steps(loss)
    if args.format == "json":
        print(
            json.dumps(
                {"forward": json.loads(fwd.to_json()), "backward": json.loads(bwd.to_json())}
            )
        )
    elif args.format == "markdown":
        print(fwd.to_markdown(), "", bwd.to_markdown(), sep="\n")
    elif args.format == "latex":
        print(fwd.to_latex(), "", bwd.to_latex(), sep="\n")
    else:
        print(fwd.table(), "", bwd.table(), sep="\n")
    return 0
