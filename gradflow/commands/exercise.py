"""``gradflow exercise``: list, show, quiz and check the backprop exercises.

The exercises are TOML files (format in ``exercises/format.md``) shipped in
``exercises/data``; ``--path DIR`` points at a folder of your own.
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("exercise", help="step-through backprop exercises from the course")
    esub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def with_path(q):
        q.add_argument("--path", metavar="DIR", help="folder of exercise files (default: shipped)")
        return q

    with_path(esub.add_parser("list", help="name, title, topic and difficulty of each exercise"))
    s = with_path(esub.add_parser("show", help="forward table, backward steps and answers"))
    s.add_argument("name", help="exercise name (see `gradflow exercise list`) or a .toml file")
    s.add_argument("--render", metavar="DIR", help="also write the graph SVG and HTML player")
    q = with_path(esub.add_parser("quiz", help="answer the questions, get a score"))
    q.add_argument("name", help="exercise name or a .toml file")
    q.add_argument("--answers", metavar="FILE", help="one answer per line: run non-interactively")
    c = with_path(esub.add_parser("check", help="verify answers: engine, SymPy, finite diff."))
    c.add_argument("name", nargs="?", help="exercise name or a .toml file")
    c.add_argument("--all", action="store_true", help="check every exercise")
    c.add_argument("-v", "--verbose", action="store_true", help="print every answer's checks")
    p.set_defaults(func=run)


def run(args) -> int:
    from exercises.errors import ExerciseError

    try:
        return ACTIONS[args.action](args)
    except ExerciseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _list(args) -> int:
    from exercises.loader import load_all

    rows = [("name", "title", "topic", "difficulty")]
    rows += [(e.name, e.title, e.topic, e.difficulty) for e in load_all(args.path)]
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def _show(args) -> int:
    from exercises.loader import find
    from exercises.runner import render, show

    ex = find(args.name, args.path)
    show(ex, sys.stdout)
    if args.render:
        for path in render(ex, args.render):
            print(f"wrote {path}")
    return 0


def _quiz(args) -> int:
    from exercises.loader import find
    from exercises.runner import quiz, read_answers

    ex = find(args.name, args.path)
    answers = None
    if args.answers:
        try:
            with open(args.answers, encoding="utf-8") as f:
                answers = read_answers(f.read())
        except OSError as e:
            print(f"error: cannot read answers file {args.answers}: {e.strerror}", file=sys.stderr)
            return 2
    result = quiz(ex, answers, sys.stdout)
    return 0 if result.passed else 1


def _check(args) -> int:
    from exercises.loader import find, load_all
    from exercises.runner import check

    if args.all == bool(args.name):
        print("error: give an exercise NAME or --all", file=sys.stderr)
        return 2
    exercises = load_all(args.path) if args.all else [find(args.name, args.path)]
    bad = 0
    for ex in exercises:
        report = check(ex)
        mark = "ok " if report.ok else "BAD"
        print(f"[{mark}] {ex.name}: {len(report.answers)} answers, engine = SymPy = finite diff.")
        if args.verbose or not report.ok:
            print("\n".join("      " + line for line in report.table().splitlines()))
        bad += not report.ok
    print(f"{len(exercises) - bad}/{len(exercises)} exercises check out")
    return 1 if bad else 0


ACTIONS = {"list": _list, "show": _show, "quiz": _quiz, "check": _check}
