"""A student's progress: which questions of which exercise were answered right.

One small JSON file per user, ``$XDG_DATA_HOME/gradflow/progress.json`` (default
``~/.local/share/gradflow/progress.json``), private (the folder 0700, the file 0600) and
written atomically (a temporary file in the same folder, then a rename), so an interrupted
quiz never leaves half a file. A file that is not what gradflow wrote is an error naming
it — never silently replaced, since it holds someone's work::

    {"format": "gradflow-progress", "version": 1,
     "exercises": {"seed002_network": {"done": ["y11", "grad w211"], "total": 15,
                                        "tries": 4, "updated": "2025-05-01T10:00:00+00:00"}}}

An exercise with a variant seed is kept apart: ``seed002_network@s123``.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gradflow.errors import GradflowError

FORMAT = "gradflow-progress"
VERSION = 1
MAX_BYTES = 1 << 20  # a progress file holds names of questions


class ProgressError(GradflowError, ValueError):
    """The progress file cannot be read or written; the message names it."""


def data_home() -> Path:
    """``$XDG_DATA_HOME/gradflow`` when set to an absolute path, else
    ``~/.local/share/gradflow`` (the XDG base directory rules)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "gradflow"


def progress_path() -> Path:
    return data_home() / "progress.json"


def exercise_key(name: str, seed: str | None = None) -> str:
    return name if seed is None else f"{name}@{seed}"


@dataclass
class Entry:
    done: list[str]
    total: int
    tries: int
    updated: str


class Progress:
    """The progress file, read once; :meth:`record` changes it and saves at once."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else progress_path()
        self.exercises: dict[str, Entry] = self._read()

    # ------------------------------------------------------------------ reading
    def _fail(self, problem: str) -> ProgressError:
        return ProgressError(
            f"progress file {self.path}: {problem} (move it away to start a new one)"
        )

    def _read(self) -> dict[str, Entry]:
        p = self.path
        if not os.path.lexists(p):
            return {}
        try:
            with open(p, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise self._fail("not a regular file")
                raw = f.read(MAX_BYTES + 1)
        except OSError as e:
            raise ProgressError(f"progress file {p}: cannot read it: {e.strerror or e}") from None
        if len(raw) > MAX_BYTES:
            raise self._fail(f"larger than {MAX_BYTES >> 20} MB")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise self._fail("corrupt: not gradflow's JSON") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise self._fail("corrupt: not a gradflow progress file")
        if data.get("version") != VERSION:
            raise self._fail(f"version {data.get('version')!r}, this gradflow reads {VERSION}")
        items = data.get("exercises")
        if not isinstance(items, dict):
            raise self._fail("corrupt: 'exercises' is not a table")
        out = {}
        for key, e in items.items():
            ok = (
                isinstance(e, dict)
                and isinstance(e.get("done"), list)
                and all(isinstance(d, str) for d in e["done"])
                and isinstance(e.get("total"), int)
                and isinstance(e.get("tries"), int)
                and isinstance(e.get("updated"), str)
            )
            if not ok:
                raise self._fail(f"corrupt: the entry {key!r} is malformed")
            out[key] = Entry(list(e["done"]), e["total"], e["tries"], e["updated"])
        return out

    # ------------------------------------------------------------------ changing
    def done(self, key: str) -> set[str]:
        e = self.exercises.get(key)
        return set(e.done) if e else set()

    def record(self, key: str, question: str, correct: bool, total: int) -> None:
        """One answer: a right one joins ``done``; every answer counts as a try."""
        e = self.exercises.setdefault(key, Entry([], total, 0, ""))
        e.total, e.tries = total, e.tries + 1
        if correct and question not in e.done:
            e.done.append(question)
        e.updated = datetime.now(UTC).isoformat(timespec="seconds")
        self.save()

    def restart(self, key: str) -> None:
        if self.exercises.pop(key, None) is not None:
            self.save()

    def save(self) -> None:
        folder = self.path.parent
        data = {
            "format": FORMAT,
            "version": VERSION,
            "exercises": {k: vars(e) for k, e in sorted(self.exercises.items())},
        }
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp makes it 0600
                    json.dump(data, f, indent=1, ensure_ascii=False)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise ProgressError(
                f"progress file {self.path}: cannot write it: {e.strerror or e}"
            ) from None

    def table(self) -> str:
        """What is done, one exercise a line."""
        if not self.exercises:
            return f"no progress yet ({self.path})"
        rows = [("exercise", "done", "tries", "last")]
        for k, e in sorted(self.exercises.items()):
            rows.append((k, f"{len(e.done)}/{e.total}", str(e.tries), e.updated[:16]))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(lines)
