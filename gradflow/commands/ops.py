"""``gradflow ops``: list the op table (or print the Markdown op reference)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("ops", help="list every op of the op table")
    p.add_argument("--markdown", action="store_true", help="print the docs/ops.md reference")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..ops import OPS
    from ..reference import markdown

    if args.markdown:
        print(markdown(), end="")
        return 0
    width = max(len(n) for n in OPS)
    for op in OPS.values():
        kind = "elementwise" if op.elementwise else "tensor"
        print(f"{op.name.ljust(width)}  {kind:<11}  {op.doc}")
    return 0
