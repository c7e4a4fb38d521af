"""``gradflow exercise`` actions for tutoring and grading: ``quiz --steps``/``--seed`` and the
progress file, ``progress``, ``variant``, ``grade`` and ``sheet``.

Kept apart from :mod:`gradflow.commands.exercise` (list, show, quiz, check); that module
registers these actions through :func:`register`. Every input is checked before anything is
written: answers files and rosters are user input (one-line errors naming file and line),
output paths go through :mod:`gradflow.commands.arguments`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import UsageError
from .arguments import files_to_write, output_file, output_folder, read_user_text

MAX_ANSWERS_BYTES = 1 << 20  # an answers file holds a few numbers

FORMATS = ("text", "json", "gradescope", "junit")


def register(esub, with_path) -> None:
    p = esub.add_parser("progress", help="what you have done (the progress file)")
    p.add_argument("--restart", metavar="NAME", help="forget the progress of one exercise")
    p.set_defaults(path=None)
    v = with_path(esub.add_parser("variant", help="a student's own numbers for an exercise"))
    v.add_argument("name", help="exercise name or a .toml file")
    v.add_argument("--seed", metavar="ID", required=True, help="the student's ID")
    v.add_argument("--key", action="store_true", help="also print the answers")
    g = with_path(esub.add_parser("grade", help="score an answers file, with feedback"))
    g.add_argument("name", help="exercise name or a .toml file")
    g.add_argument("--answers", metavar="FILE", required=True, help="one answer a line or name = v")
    g.add_argument("--seed", metavar="ID", help="the student's variant")
    g.add_argument("--format", choices=FORMATS, default="text", help="output format")
    g.add_argument("--out", metavar="FILE", help="write the result here (default: stdout)")
    g.add_argument("--reveal", action="store_true", help="give the right answer in the feedback")
    s = with_path(esub.add_parser("sheet", help="worksheets and answer keys for a roster"))
    s.add_argument("names", nargs="+", metavar="NAME", help="exercises, in sheet order")
    s.add_argument("--seeds", metavar="CSV", required=True, help="roster: an 'id' column")
    s.add_argument("--out", metavar="DIR", required=True, help="folder for the sheets")
    s.add_argument("--force", action="store_true", help="replace sheets that exist")


def find_exercise(name: str, path: str | None):
    """The exercise ``name`` — a name from the folder, or a ``.toml`` file (which must be a
    regular file: a FIFO would block, a directory is no exercise)."""
    from ..exercises.errors import ExerciseError
    from ..exercises.loader import find

    candidate = Path(name)
    if candidate.suffix == ".toml" and os.path.lexists(candidate) and not candidate.is_file():
        kind = "a directory" if candidate.is_dir() else "not a regular file"
        raise ExerciseError(candidate, None, f"{kind}, not an exercise file")
    return find(name, path)


def answers_text(path: str) -> str:
    """The text of an ``--answers`` file (or pipe: ``--answers /dev/stdin``), UTF-8; every
    problem is a :class:`UsageError` naming the file."""
    return read_user_text(path, "--answers", "a file of answers", MAX_ANSWERS_BYTES, pipes=True)


def exercise_for(args):
    """The exercise of ``args.name``, or its variant for ``args.seed``."""
    from ..exercises.variants import variant

    ex = find_exercise(args.name, args.path)
    seed = getattr(args, "seed", None)
    return ex if seed is None else variant(ex, seed).exercise


def quiz(args, ex, answers) -> int:
    """``quiz`` with ``--steps``, and the progress file when the student types the answers."""
    from ..exercises.answers import question_key
    from ..exercises.progress import Progress, exercise_key
    from ..exercises.runner import quiz as plain_quiz
    from ..exercises.stepmode import quiz_steps

    run = quiz_steps if args.steps else plain_quiz
    if answers is not None:  # a file of answers: a check, not the student's progress
        return 0 if run(ex, answers, sys.stdout).passed else 1
    progress = Progress()
    key = exercise_key(ex.name, args.seed)
    if args.restart:
        progress.restart(key)
    done = progress.done(key)
    skip = [q for q in ex.questions if question_key(q) in done]
    if len(skip) == len(ex.questions):
        print(f"{ex.name}: every question already answered right; starting over")
        progress.restart(key)
        skip = []
    elif skip:
        print(f"resuming: {len(skip)}/{len(ex.questions)} right earlier (--restart to redo them)")

    def record(q, right: bool) -> None:
        progress.record(key, question_key(q), right, len(ex.questions))

    result = run(ex, None, sys.stdout, ask=lambda p: input(p), skip=skip, on_answer=record)
    return 0 if result.passed else 1


def _progress(args) -> int:
    from ..exercises.progress import Progress

    progress = Progress()
    if args.restart:
        if args.restart not in progress.exercises:
            raise UsageError(f"--restart {args.restart}: no progress kept for it")
        progress.restart(args.restart)
        print(f"forgot the progress of {args.restart}")
        return 0
    print(progress.table())
    return 0


def _variant(args) -> int:
    from ..display import array, number
    from ..exercises.variants import variant

    ex = find_exercise(args.name, args.path)
    v = variant(ex, args.seed)
    vx = v.exercise
    print(f"{vx.title} — variant {v.seed}")
    print("Given:")
    for k, val in vx.values.items():
        print(f"  {k} = {array(val, grid=False)}" + (" (constant)" if k in vx.constants else ""))
    print("Graph:")
    for k, f in vx.graph.items():
        print(f"  {k} = {f.text}")
    sol = vx.solve() if args.key else None
    print("Questions:" if not args.key else "Answers:")
    for n, q in enumerate(vx.questions, start=1):
        a = f" = {number(vx.answer(q, sol))}" if args.key else " = ?"
        print(f"  {n}. {q.label(vx.output)}{a}")
    print(f"verified: engine = SymPy = finite differences ({len(v.report.answers)} answers)")
    return 0


def _grade(args) -> int:
    from ..exercises.answers import read_answers_file
    from ..exercises.grading import grade

    out = output_file(args.out, "--out") if args.out is not None else None
    ex = exercise_for(args)
    answers = read_answers_file(ex, answers_text(args.answers), args.answers)
    result = grade(ex, answers, seed=args.seed, reveal=args.reveal)
    text = result.render(args.format)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(result.summary())
    return 0 if result.passed else 1


def _sheet(args) -> int:
    from ..exercises.sheets import read_roster, sheet_files, write_sheets

    folder = output_folder(args.out, "--out")
    roster = read_roster(args.seeds)
    exercises = [find_exercise(n, args.path) for n in args.names]
    names = sheet_files(roster)
    for student, files in names.items():
        if (folder / student).exists():
            sub = output_folder(folder / student, "--out")
            files_to_write(sub, files, "--out", force=args.force)
    written = write_sheets(exercises, roster, folder)
    print(f"wrote {len(written)} files for {len(roster)} students into {folder}")
    return 0


ACTIONS = {"progress": _progress, "variant": _variant, "grade": _grade, "sheet": _sheet}
