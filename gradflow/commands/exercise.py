"""``gradflow exercise``: list, show, quiz and check the backprop exercises.

The exercises are TOML files (format in ``exercises/format.md``) shipped in
``exercises/data``; ``--path DIR`` points at a folder of your own.

Errors (a malformed exercise file, a missing answers file, ``--render`` at a file that
exists) raise and end in :func:`gradflow.cli.main` as one line with exit code 2.
"""

from __future__ import annotations

import sys

from ..errors import UsageError
from . import exercise_tutor
from .arguments import files_to_write, output_folder
from .exercise_tutor import answers_text, find_exercise


def register(sub) -> None:
    p = sub.add_parser("exercise", help="step-through backprop exercises from the course")
    esub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def with_path(q):
        q.add_argument("--path", metavar="DIR", help="folder of exercise files (default: shipped)")
        return q

    with_path(esub.add_parser("list", help="every exercise in course order: topic, seed, level"))
    s = with_path(esub.add_parser("show", help="forward table, backward steps and answers"))
    s.add_argument("name", help="exercise name (see `gradflow exercise list`) or a .toml file")
    s.add_argument("--render", metavar="DIR", help="also write the graph SVG and HTML player")
    s.add_argument("--force", action="store_true", help="replace files --render would write")
    s.add_argument("--latex", action="store_true", help="the worked exercise as a LaTeX document")
    q = with_path(esub.add_parser("quiz", help="answer the questions, get a score"))
    q.add_argument("name", help="exercise name or a .toml file")
    q.add_argument("--answers", metavar="FILE", help="one answer per line: run non-interactively")
    q.add_argument("--steps", action="store_true", help="ask each chain-rule step of a gradient")
    q.add_argument("--seed", metavar="ID", help="your own variant of the numbers")
    q.add_argument("--restart", action="store_true", help="ask again what you answered right")
    c = with_path(esub.add_parser("check", help="verify answers: engine, SymPy, finite diff."))
    c.add_argument("name", nargs="?", help="exercise name or a .toml file")
    c.add_argument("--all", action="store_true", help="check every exercise")
    c.add_argument("-v", "--verbose", action="store_true", help="print every answer's checks")
    k = esub.add_parser("cards", help="the flash-card deck: question, answer, demonstration")
    k.add_argument("--topic", metavar="T", help="only the cards of topic T")
    k.add_argument("--reveal", action="store_true", help="print every answer (no prompts)")
    k.add_argument("--run", action="store_true", help="also run each card's demonstration")
    k.add_argument("--path", metavar="DIR", help="folder of card files (default: shipped)")
    d = esub.add_parser("demo", help="run a demonstration behind a flash card")
    d.add_argument("name", nargs="?", help="the demonstration (without a name: list them)")
    exercise_tutor.register(esub, with_path)  # progress, variant, grade, sheet
    p.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "path", None) == "":
        raise UsageError("--path: the path is empty")
    return ACTIONS[args.action](args)


def _list(args) -> int:
    from ..exercises.loader import course_order, load_all

    rows = [("name", "topic", "seed", "difficulty", "title")]
    rows += [
        (e.name, e.topic, e.source.seed, e.difficulty, e.title)
        for e in course_order(load_all(args.path))  # in the order the course teaches
    ]
    widths = [max(len(r[k]) for r in rows) for k in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def _show(args) -> int:
    from ..exercises.runner import render, show

    ex = find_exercise(args.name, args.path)
    if args.latex:
        from ..exercises.latex import document

        print(document(ex), end="")
        return 0
    if args.render is not None:  # checked before anything is printed or written
        folder = output_folder(args.render, "--render")
        files_to_write(folder, [f"{ex.name}.svg", f"{ex.name}.html"], "--render", force=args.force)
        files_to_write(folder, [f"{ex.name}.dot"], "--render", force=True)  # no-renderer fallback
    show(ex, sys.stdout)
    if args.render is not None:
        folder.mkdir(exist_ok=True)
        for path in render(ex, str(folder)):
            print(f"wrote {path}")
    return 0


def _quiz(args) -> int:
    from ..exercises.runner import quiz, read_answers

    ex = exercise_tutor.exercise_for(args)
    answers = None if args.answers is None else read_answers(answers_text(args.answers))
    if args.steps or answers is None or args.seed is not None:  # step mode, progress file
        return exercise_tutor.quiz(args, ex, answers)
    result = quiz(ex, answers, sys.stdout)
    return 0 if result.passed else 1


def _check(args) -> int:
    from ..exercises.loader import load_all
    from ..exercises.runner import check

    if args.all == (args.name is not None):
        raise UsageError("give an exercise NAME or --all (one of them)")
    exercises = load_all(args.path) if args.all else [find_exercise(args.name, args.path)]
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


def _cards(args) -> int:
    """Drill the deck. At a terminal (without ``--reveal``): each question, Enter shows the
    answer, then "run the demonstration? [y/N]". Otherwise (a pipe, a test, ``--reveal``)
    every question is printed with its answer and demonstration, nothing is read from stdin;
    ``--run`` then runs every demonstration and the exit code is 1 if one failed."""
    from ..exercises.cards import load_cards, run_demo, select

    cards = select(load_cards(args.path), args.topic)
    interactive = sys.stdin.isatty() and not args.reveal
    failed = 0
    for n, card in enumerate(cards, 1):
        print(f"[{n}/{len(cards)}] ({card.topic}) {card.question}")
        run = args.run
        if interactive:
            input("  (Enter shows the answer) ")
        print(f"  answer: {card.answer}")
        print(f"  see it: {card.describe()}")
        if interactive and not run:
            run = input("  run the demonstration? [y/N] ").strip().lower() in ("y", "yes")
        if run:
            failed += run_demo(card, sys.stdout) != 0
        print()
    return 1 if failed else 0


def _demo(args) -> int:
    """Run one demonstration of ``gradflow.exercises.demonstrations`` (or list them)."""
    from ..exercises.demonstrations import DEMONSTRATIONS

    if args.name is None:
        for name, (_, summary) in DEMONSTRATIONS.items():
            print(f"{name:<17} {summary}")
        return 0
    if args.name not in DEMONSTRATIONS:
        raise UsageError(
            f"no demonstration named {args.name!r}; known: {', '.join(DEMONSTRATIONS)}"
        )
    DEMONSTRATIONS[args.name][0](sys.stdout)
    return 0


ACTIONS = {
    "list": _list,
    "show": _show,
    "quiz": _quiz,
    "check": _check,
    "cards": _cards,
    "demo": _demo,
}
ACTIONS.update(exercise_tutor.ACTIONS)
