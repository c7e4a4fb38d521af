"""A sweep's results file: JSON lines, one row per finished run, only ever appended to.

Each row is written with one ``write`` on a descriptor opened with ``O_APPEND`` as soon as
its run finishes, so an interrupted sweep loses at most the row being written. On resume
every line is read back and checked: a line that is not a row of a gradflow sweep stops the
sweep with the line number (nothing is written); a last line cut off in the middle (the
writer was killed during that ``write``) is removed, and its run runs again. Rows are strict
JSON (NaN and infinities as ``null``), readable by ``pandas.read_json(path, lines=True)``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ..commands.arguments import output_file
from ..commands.report import json_text
from ..errors import GradflowError, UsageError

STATUSES = ("ok", "error")


class ResultsWriteError(GradflowError, OSError):
    """A row could not be written (a full disk): the sweep failed (exit code 1); the rows
    written before stay, and ``--resume`` continues from them."""

    exit_code = 1


def _check_row(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise UsageError(f"{where}: not a row of a gradflow sweep (a JSON object per line)")
    for name, kind in (("key", str), ("config", dict), ("status", str)):
        if not isinstance(row.get(name), kind):
            raise UsageError(f"{where}: not a row of a gradflow sweep (no {name!r})")
    if row["status"] not in STATUSES:
        raise UsageError(f"{where}: status {row['status']!r} is not one of {', '.join(STATUSES)}")
    return row


def read_rows(path: str | os.PathLike) -> tuple[list[dict[str, Any]], int | None]:
    """The rows of a results file and, if its last line was cut off, the byte offset where
    that line starts (else None). Raises :class:`UsageError` naming the line that is wrong."""
    data = Path(path).read_bytes()
    rows: list[dict[str, Any]] = []
    offset = 0
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if last:  # no newline after it: the write was cut off
                return rows, start
            raise UsageError(f"{where}: not JSON ({e})") from None
        rows.append(_check_row(row, where))
    return rows, None


class ResultsFile:
    """The results file of one sweep (see the module docstring). ``resume`` continues a file
    that holds rows; without it such a file is refused, never overwritten."""

    def __init__(self, path: str | os.PathLike, resume: bool = False, option: str = "out"):
        self.path = output_file(path, option)
        self.rows, cut = self.check(path, resume, option)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):  # swapped since it was checked
            os.close(self._fd)
            raise UsageError(f"{option} {self.path}: not a regular file")
        if cut is not None:
            os.ftruncate(self._fd, cut)

    @staticmethod
    def check(
        path: str | os.PathLike, resume: bool, option: str = "out"
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Check ``path`` before a sweep starts (nothing is written): a file it may write that
        is new or empty, or — with ``resume`` — a results file. Returns :func:`read_rows`."""
        p = output_file(path, option)
        if not (p.exists() and p.stat().st_size):
            return [], None
        try:
            rows, cut = read_rows(p)
        except UsageError as e:
            raise UsageError(f"{option} {e}") from None
        if not resume:
            how = "--resume" if option.startswith("--") else "resume=True"
            raise UsageError(
                f"{option} {p}: holds {len(rows)} results already; continue it with {how} or "
                "give a new file"
            )
        return rows, cut

    def finished(self) -> dict[str, dict[str, Any]]:
        """The rows of runs that finished without error, by key (the last one wins)."""
        return {row["key"]: row for row in self.rows if row["status"] == "ok"}

    def append(self, row: dict[str, Any]) -> None:
        line = (json_text(row) + "\n").encode("utf-8")
        try:
            written = os.write(self._fd, line)
        except OSError as e:
            raise ResultsWriteError(f"{self.path}: cannot write a result: {e.strerror}") from e
        if written != len(line):  # a full disk: say so; resume cuts the partial row off
            raise ResultsWriteError(f"{self.path}: wrote {written} of {len(line)} bytes of a row")
        self.rows.append(row)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
