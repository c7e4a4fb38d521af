"""Checks of command-line input shared by the subcommands, all made before any work starts.

* argparse types for numbers: ``type=positive_float`` refuses ``nan``, ``inf``, ``0`` and
  ``-1`` with a message argparse prefixes with the option (``argument --lr: must be > 0,
  got '0'``), so a bad value ends with exit code 2 before anything is trained or written;
* output paths: :func:`output_file` and :func:`output_folder` look at what is there (nothing
  is created): a new name in an existing, writable folder, or an existing regular file — never
  a directory, a device, a FIFO or a symbolic link to nothing. Folders are not made on the
  way: a typo in ``-o reslts/g.svg`` is an error, not a new directory tree.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError

# ------------------------------------------------------------------------------ numbers


def finite_float(text: str) -> float:
    """A number that is not NaN or ±Inf."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def float_within(limit: float):
    """The argparse type of a finite number between ``-limit`` and ``limit``."""

    def number(text: str) -> float:
        value = finite_float(text)
        if abs(value) > limit:
            raise argparse.ArgumentTypeError(
                f"must be between {-limit:g} and {limit:g}, got {text!r}"
            )
        return value

    return number


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate, a clipping norm)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number ≥ 0 (a penalty weight; 0 turns it off)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value + 0.0  # -0.0 -> 0.0


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (epochs, a batch size, a width, rounds)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def int_within(low: int, high: int):
    """The argparse type of a whole number from ``low`` to ``high`` (a width that would not
    fit in memory is refused here, not by an allocation failing minutes later)."""

    def number(text: str) -> int:
        value = _integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text!r}")
        return value

    return number


def non_negative_int(text: str) -> int:
    """A whole number ≥ 0 (a seed)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


# -------------------------------------------------------------------------------- paths


def output_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` if the command may write it: a new name in an existing folder it can write
    in, or an existing regular file it can write (through a symbolic link only if that ends
    at one). Raises :class:`UsageError` naming ``option`` and the problem."""
    if not str(path):
        raise UsageError(f"{option}: the path is empty")
    p = Path(path)
    _check_writable_file(p, option)
    if not os.path.lexists(p):
        _check_folder(p.parent, f"{option} {p}")
    return p


def output_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` if the command may write files into it: an existing folder it can write in,
    or a new name in one (the caller makes it, one level; no missing parents are made)."""
    if not str(path):
        raise UsageError(f"{option}: the path is empty")
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise UsageError(f"{option} {p}: a symbolic link to nothing; give the real path")
    if os.path.lexists(p):
        _check_folder(p, option)
    else:
        _check_folder(p.parent, f"{option} {p}")
    return p


def files_to_write(folder: Path, names: Iterable[str], option: str, *, force: bool) -> None:
    """Check the files a command will write into ``folder``: each is absent, or (with
    ``force``) an existing regular file it can write. Nothing is replaced without ``--force``."""
    for name in names:
        p = folder / name
        if not os.path.lexists(p):
            continue
        _check_writable_file(p, option)
        if not force:
            raise UsageError(f"{option}: {p} exists; pass --force to replace it")


def _check_writable_file(p: Path, option: str) -> None:
    if not os.path.lexists(p):
        return
    try:
        mode = p.stat().st_mode  # follows a symbolic link to what it points at
    except FileNotFoundError:
        raise UsageError(f"{option} {p}: a symbolic link to nothing; give the real path") from None
    except OSError as e:
        raise UsageError(f"{option} {p}: cannot check it: {e.strerror}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{option} {p}: is a directory; give a file name")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{option} {p}: not a regular file (a device, FIFO or socket)")
    if not os.access(p, os.W_OK):
        raise UsageError(f"{option} {p}: permission denied (the file is not writable)")


def _check_folder(folder: Path, what: str) -> None:
    folder = folder if str(folder) else Path(".")
    if not folder.exists():
        # name the first missing part, or the file that sits where a folder should be
        probe = folder
        while not os.path.lexists(probe.parent) and probe.parent != probe:
            probe = probe.parent
        if os.path.lexists(probe.parent) and not probe.parent.is_dir():
            raise UsageError(f"{what}: {probe.parent} is not a folder")
        raise UsageError(f"{what}: folder {folder} does not exist (it is not created)")
    if not folder.is_dir():
        raise UsageError(f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{what}: permission denied (cannot write in folder {folder})")


def read_user_text(
    path: str,
    option: str,
    what: str,
    limit: int,
    *,
    pipes: bool = False,
    encoding: str = "utf-8",
) -> str:
    """The text of a file the user names with ``option`` (an answers file, a roster): at most
    ``limit`` bytes, UTF-8, a regular file (or, with ``pipes``, a pipe such as /dev/stdin);
    every problem is one :class:`UsageError` naming the option, the file and, for bad UTF-8,
    the line. The file is opened without blocking, so a FIFO given where none is allowed is
    refused instead of waiting for a writer."""
    if not path:
        raise UsageError(f"{option}: the path is empty")
    where = f"{option} {path}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise UsageError(f"{where}: is a directory, not {what}") from None
    except OSError as e:
        raise UsageError(f"{where}: cannot read it: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UsageError(f"{where}: is a directory, not {what}")
        if not (stat.S_ISREG(mode) or (pipes and stat.S_ISFIFO(mode))):
            raise UsageError(f"{where}: not a regular file")
        os.set_blocking(fd, True)  # a pipe's writer may still be on its way
        with os.fdopen(fd, "rb") as f:
            fd = -1
            raw = f.read(limit + 1)
    except OSError as e:
        raise UsageError(f"{where}: cannot read it: {e.strerror or e}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > limit:
        raise UsageError(f"{where}: larger than {limit >> 20} MB")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UsageError(f"{where}:{line}: not valid UTF-8") from None
