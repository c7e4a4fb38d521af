"""The sweep file of ``gradflow sweep SWEEP.toml`` (the format is documented in
``docs/sweep.md``)::

    [base]                  # settings every run shares
    dataset = "digits"
    epochs = 60
    backend = "jit"

    [grid]                  # one run per combination of these lists
    hidden = [8, 16, 32, 64]
    seed = [0, 1]

    [[runs]]                # single runs on top of [base] (with or instead of [grid])
    hidden = 256
    lr = 0.003

    [plot]                  # what --plot draws (all optional)
    x = "parameters"        # a setting or a metric; default: the first [grid] key
    y = "test_error"        # a metric; default test_error (test_loss without classes)
    lower = "train_error"   # a second, dashed curve
    threshold = 2000        # a vertical line at this x

Everything is checked before the first run, and a problem is one line naming the file and
the entry (``sweep.toml: [grid] lr = -1: lr must be > 0``). The file is only read: plain
TOML, no code.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .recipe import SETTINGS, ConfigError, check_config

TABLES = ("base", "grid", "runs", "plot")
PLOT_KEYS = ("x", "y", "lower", "threshold")
MAX_RUNS = 100_000
MAX_BYTES = 1 << 20


@dataclass
class SweepFile:
    """The configurations of a sweep file, in order (the grid's, then the runs'), and its
    ``[plot]`` settings."""

    path: Path
    configs: list[dict[str, Any]]
    plot: dict[str, Any] = field(default_factory=dict)
    axes: list[str] = field(default_factory=list)


def read_sweep_file(path: str | os.PathLike) -> SweepFile:
    """Read and check a sweep file; raise :class:`UsageError` naming the file and entry."""
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, a device never end
            raise UsageError(f"{path}: not a regular file")
        if st.st_size > MAX_BYTES:
            raise UsageError(f"{path}: {st.st_size} bytes; a sweep file is at most 1 MB")
        raw = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read it: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: not valid UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise UsageError(f"{path}: not valid TOML: nested too deeply") from None
    return _Reader(path, data).read()


class _Reader:
    def __init__(self, path: Path, data: dict[str, Any]):
        self.path, self.data = path, data

    def fail(self, where: str, problem: str):
        raise UsageError(f"{self.path}: {where}{': ' if where else ''}{problem}")

    def table(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            self.fail(f"[{name}]", "must be a table (a [section] of key = value lines)")
        return value

    def settings(self, table: dict[str, Any], where: str) -> None:
        for key, value in table.items():
            if key not in SETTINGS:
                self.fail(where, f"unknown setting {key!r}; known: {', '.join(SETTINGS)}")
            if isinstance(value, dict):
                self.fail(f"{where} {key}", "a value, not a table")

    def read(self) -> SweepFile:
        unknown = [k for k in self.data if k not in TABLES]
        if unknown:
            self.fail("", f"unknown entry {unknown[0]!r}; a sweep file has {', '.join(TABLES)}")
        base, grid = self.table("base"), self.table("grid")
        self.settings(base, "[base]")
        self.settings(grid, "[grid]")
        size = 1
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                self.fail(f"[grid] {key}", f"a non-empty list of values, got {values!r}")
            if key in base:
                self.fail(f"[grid] {key}", "is set in [base] too; keep one")
            size *= len(values)
        runs = self.data.get("runs", [])
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            self.fail("runs", "must be a list of tables ([[runs]] sections)")
        if not grid and not runs:
            self.fail("", "nothing to run: give a [grid] or [[runs]] entries")
        if size + len(runs) > MAX_RUNS:
            self.fail("[grid]", f"{size + len(runs)} runs; at most {MAX_RUNS}")
        configs = []
        from . import grid as combine

        for config in combine(**grid) if grid else []:
            full = {**base, **config}
            self.check(full, lambda key, c=config: self.grid_entry(key, c, base))
            configs.append(full)
        for j, run in enumerate(runs, 1):
            self.settings(run, f"[[runs]] entry {j}")
            full = {**base, **run}
            self.check(full, lambda key, j=j: f"[[runs]] entry {j}")
            configs.append(full)
        from . import check_configs

        try:
            check_configs(configs, builtin=False, has_data=False)
        except UsageError as e:  # two entries that are the same run
            self.fail("", str(e))
        return SweepFile(self.path, configs, self.plot(), list(grid))

    @staticmethod
    def grid_entry(key: str | None, config: dict[str, Any], base: dict[str, Any]) -> str:
        if key in config:
            return f"[grid] {key} = {config[key]!r}"
        if key in base:
            return f"[base] {key}"
        return "[base]"  # a setting that is missing belongs there

    def check(self, config: dict[str, Any], where) -> None:
        try:
            check_config(config, has_data=False)
        except ConfigError as e:
            self.fail(where(e.key), str(e))

    def plot(self) -> dict[str, Any]:
        plot = self.table("plot")
        for key, value in plot.items():
            if key not in PLOT_KEYS:
                self.fail("[plot]", f"unknown key {key!r}; known: {', '.join(PLOT_KEYS)}")
            if key == "threshold":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    self.fail("[plot] threshold", f"a number, got {value!r}")
                if not math.isfinite(value):
                    self.fail("[plot] threshold", f"a finite number, got {value!r}")
            elif not isinstance(value, str) or not value:
                self.fail(f"[plot] {key}", f"a setting or metric name, got {value!r}")
        return plot
