"""The ``gradflow`` command. Each subcommand lives in its own module under
``gradflow/commands/`` and exposes ``register(subparsers)``; this file only lists them and
turns what a subcommand raises into one line on stderr and an exit code:

* 0 — done; 1 — the run failed (training diverged, an unexpected error);
* 2 — bad input (argparse's usage errors, and a :class:`~gradflow.errors.GradflowError`,
  ``ValueError`` or ``OSError`` raised by a subcommand);
* 130 — Ctrl-C; 141 — the reader of stdout went away (``gradflow ops | head``).

A traceback is printed only with ``gradflow --debug ...`` (before or after the subcommand)
or ``GRADFLOW_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
import warnings

COMMANDS = ["demo", "steps", "ops", "exercise", "render", "train", "sweep", "bench"]
DEBUG_FLAG = "--debug"
DEBUG_ENV = "GRADFLOW_DEBUG"
HINT = f"run with {DEBUG_FLAG} for the traceback"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradflow",
        description="Step through backprop, see the computation graph, train small models fast.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"gradflow {__version__}")
    parser.add_argument(
        DEBUG_FLAG,
        action="store_true",
        help=f"print the Python traceback of an error (also: {DEBUG_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"gradflow.commands.{name}").register(sub)
    return parser


def split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Take ``--debug`` out of ``argv`` wherever it stands before a ``--`` (so it works after
    the subcommand too); return the rest and whether it was there."""
    end = argv.index("--") if "--" in argv else len(argv)
    rest = [a for a in argv[:end] if a != DEBUG_FLAG] + argv[end:]
    return rest, len(rest) != len(argv)


def main(argv: list[str] | None = None) -> int:
    argv, debug = split_debug(list(sys.argv[1:] if argv is None else argv))
    debug = debug or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with one_line_warnings(f"gradflow {args.command}"):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gradflow exercise list | head`: the reader left, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:
        return report_error(e, f"gradflow {args.command}", debug)


@contextlib.contextmanager
def one_line_warnings(prog: str):
    """Show gradflow's own warnings (no safe cache directory, no renderer) as one line
    ``PROG: warning: ...`` instead of Python's file:line form; other warnings as usual."""
    from .errors import GradflowWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GradflowWarning):
            print(f"{prog}: warning: {message}", file=file or sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    try:
        warnings.showwarning = show
        yield
    finally:
        warnings.showwarning = shown


def exit_code(e: BaseException) -> int:
    """2 for bad input, 1 for a run that failed (see the module docstring)."""
    from .errors import GradflowError

    if isinstance(e, GradflowError):  # each error class says which it is
        return e.exit_code
    return 2 if isinstance(e, ValueError | OSError) else 1


def message(e: BaseException) -> str:
    """The error as one line: an ``OSError`` as ``FILE: reason``, newlines folded."""
    if isinstance(e, OSError) and e.strerror:
        files = [str(f) for f in (e.filename, e.filename2) if f is not None]
        text = f"{' -> '.join(files)}: {e.strerror}" if files else e.strerror
    else:
        text = str(e) or type(e).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def report_error(e: BaseException, prog: str, debug: bool) -> int:
    """Print ``e`` as one line (after its traceback with ``debug``); return the exit code."""
    from .errors import GradflowError

    if debug:
        traceback.print_exception(e)
    expected = isinstance(e, GradflowError | ValueError | OSError)
    if expected:
        print(f"{prog}: error: {message(e)}", file=sys.stderr)
    else:
        hint = "" if debug else f" ({HINT})"
        print(f"{prog}: error: {type(e).__name__}: {message(e)}{hint}", file=sys.stderr)
    return exit_code(e)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
