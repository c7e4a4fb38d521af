"""The one error an exercise file can raise, and how it finds the line a problem is on.

``tomllib`` reports syntax errors with a line and column but forgets positions once a file
is parsed, so semantic errors (an unknown function in ``[graph]``, a missing ``lr``) are
located by scanning the text for the table header and key, which is what a person does.
"""

from __future__ import annotations

import re
from pathlib import Path

from gradflow.errors import GradflowError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


class ExerciseError(GradflowError, ValueError):
    """A malformed exercise file: the message is ``FILE:LINE: problem``."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class LineFinder:
    """Find the line (1-based) where ``[table]`` ``key = ...`` sits in a TOML text."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def find(self, table: str | None = None, key: str | None = None, item: int = 0) -> int | None:
        """Line of ``key`` inside ``[table]`` (or the ``item``-th ``[[table]]``); top level
        when ``table`` is None; the header line when ``key`` is None or not found."""
        current: str | None = None
        seen = -1
        header_line: int | None = None
        key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=") if key else None
        for n, line in enumerate(self.lines, start=1):
            m = _HEADER.match(line)
            if m:
                current = m.group(2).strip()
                if current == table:
                    seen += 1
                    if seen == item:
                        header_line = n
                continue
            in_place = (table is None and current is None) or (
                current == table and seen == item and table is not None
            )
            if in_place and key_re and key_re.match(line):
                return n
        if header_line is None and table is not None:  # an inline table: graph = { y = ... }
            return self.find(None, table)
        return header_line
