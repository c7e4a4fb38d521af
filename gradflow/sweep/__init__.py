"""gradflow.sweep: many small models at once — a grid or list of configurations → a table of
results, here or on a cluster.

>>> from gradflow.sweep import grid, sweep
>>> rows = sweep(grid(dataset="digits", hidden=[8, 32, 128], seed=[0, 1], epochs=20),
...              executor="dask", out="results.jsonl")                    # doctest: +SKIP

A configuration is a plain dict (see :data:`gradflow.sweep.recipe.SETTINGS`); each becomes one
row: ``{"key", "config", "status": "ok" | "error", "metrics", "history", "error", "seconds",
"worker"}``. A run gives the same numbers wherever it runs — here, in a process pool or on a
Dask worker — because everything it draws comes from its configuration's seeds and numba's
kernels give the same sums on any thread count. ``executor`` is that of
:func:`gradflow.executors.run_tasks`. ``out`` appends each row to a JSON-lines file as its
run finishes; ``resume=True`` skips the runs the file already holds (by :func:`config_key`).
The double-descent curve of seed 001 is :func:`double_descent`. ``docs/sweep.md`` has the
TOML format of ``gradflow sweep`` and the measurements.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..commands.report import json_text
from ..errors import UsageError
from ..executors import check_executor, run_tasks
from .recipe import SETTINGS, ConfigError, check_config, train_config
from .results import ResultsFile, read_rows

__all__ = [
    "SETTINGS",
    "ConfigError",
    "DoubleDescent",
    "check_config",
    "config_key",
    "double_descent",
    "grid",
    "read_rows",
    "summarize",
    "sweep",
    "train_config",
]


def grid(**axes: Any) -> list[dict[str, Any]]:
    """Every combination of the list-valued settings, with the other settings fixed:
    ``grid(hidden=[8, 16], seed=[0, 1], lr=0.01)`` is four configurations (the first axis
    changes slowest). To fix a setting whose value is itself a list, wrap it: ``hidden=[[32,
    32]]``."""
    names = list(axes)
    values = [v if isinstance(v, list | tuple | range) else [v] for v in axes.values()]
    for name, options in zip(names, values):
        if len(options) == 0:
            raise UsageError(f"grid: {name} has no values")
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def plain(value: Any, where: str = "config") -> Any:
    """``value`` as plain JSON data (numpy numbers and arrays become Python numbers and
    lists); anything else — or a NaN or infinity — raises :class:`UsageError` naming it."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"{where}: {value} is not a finite number")
        return value
    if isinstance(value, list | tuple):
        return [plain(v, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise UsageError(f"{where}: key {k!r} is not a string")
            out[k] = plain(v, f"{where}.{k}")
        return out
    kind = type(value).__name__
    raise UsageError(f"{where}: a {kind} is not plain data (numbers, strings, lists, dicts)")


def config_key(config: Mapping[str, Any]) -> str:
    """A stable name of a configuration: the first 16 hex digits of the SHA-256 of its JSON
    with sorted keys (the same dict in any key order, in any process, gives the same key)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe(config: Mapping[str, Any], limit: int = 6) -> str:
    """``hidden=8, seed=1, ...`` for messages."""
    items = [f"{k}={v!r}" for k, v in list(config.items())[:limit]]
    return ", ".join(items) + (", ..." if len(config) > limit else "")


def check_configs(
    configs: Iterable[Mapping[str, Any]], builtin: bool, has_data: bool
) -> list[dict[str, Any]]:
    """The configurations as plain dicts, each checked (the built-in run's keys when
    ``builtin``) and no two the same run; raises :class:`UsageError` naming the first bad one."""
    if isinstance(configs, Mapping):
        raise UsageError("configs: a list of configurations, not one dict (grid(...) makes one)")
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, config in enumerate(configs):
        if not isinstance(config, Mapping):
            raise UsageError(f"config {i}: a dict of settings, not a {type(config).__name__}")
        config = plain(config, f"config {i}")
        if builtin:
            try:
                check_config(config, has_data)
            except ConfigError as e:
                raise UsageError(f"config {i} ({describe(config)}): {e}") from None
        key = config_key(config)
        if key in seen:
            raise UsageError(
                f"configs {seen[key]} and {i} are the same run ({describe(config)}); vary a "
                "setting such as seed"
            )
        seen[key] = i
        out.append(config)
    if not out:
        raise UsageError("configs: nothing to run (an empty list)")
    return out


def make_row(key: str, config: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """The table row of a finished run, as plain JSON data (exactly what the results file
    holds, so resumed rows and fresh ones compare equal)."""
    row: dict[str, Any] = {"key": key, "config": config, "status": outcome["status"]}
    metrics, history, error = None, None, outcome.get("error")
    if outcome["status"] == "ok":
        result = outcome["result"]
        if isinstance(result, Mapping) and "metrics" in result:
            metrics, history = result["metrics"], result.get("history")
        else:
            metrics = result
    row.update(metrics=metrics, history=history, error=error)
    row.update(seconds=outcome.get("seconds"), worker=outcome.get("worker"))
    try:
        return json.loads(json_text(row))
    except (TypeError, ValueError) as e:
        row.update(status="error", metrics=None, history=None, error=f"result is not JSON: {e}")
        return json.loads(json_text(row))


def sweep(
    configs: Iterable[Mapping[str, Any]],
    data: Any = None,
    *,
    run: Callable[[dict[str, Any], Any], Any] | None = None,
    executor: Any = None,
    workers: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    warm_first: bool = True,
) -> list[dict[str, Any]]:
    """Run every configuration; return one row per configuration, in their order.

    ``run(config, data)`` trains one (default :func:`train_config`, the settings of
    ``gradflow train``); it must be importable by the workers (a module-level function) and
    return a dict — ``{"metrics": {...}, "history": [...]}`` or just the metrics. ``data``
    (arrays, a dict of them) goes to every Dask worker once. ``executor`` / ``workers``: see
    :func:`gradflow.executors.run_tasks` (None runs here, one after another). A run that
    raises is a row with ``status`` "error" and the error as one line. ``out``: append each
    row to this JSON-lines file as it finishes; an existing file with rows is refused unless
    ``resume``, which skips the runs it holds without error (runs that failed run again).
    Everything is checked before the first run starts."""
    configs = check_configs(configs, run is None, data is not None)
    check_executor(executor)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise UsageError(f"workers must be a whole number, got {workers!r}")
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    keys = [config_key(c) for c in configs]
    store = ResultsFile(out, resume=resume) if out is not None else None
    try:
        done = store.finished() if store is not None else {}
        rows: list[dict[str, Any] | None] = [done.get(k) for k in keys]
        todo = [i for i, row in enumerate(rows) if row is None]
        outcomes = run_tasks(
            run or train_config,
            [configs[i] for i in todo],
            data,
            executor=executor,
            workers=workers,
            progress=progress,
            label="sweep",
            warm_first=warm_first,
        )
        for j, outcome in outcomes:
            i = todo[j]
            rows[i] = make_row(keys[i], configs[i], outcome)
            if store is not None:
                store.append(rows[i])
    finally:
        if store is not None:
            store.close()
    return rows  # type: ignore[return-value]


# ------------------------------------------------------------------------ double descent


def summarize(
    rows: Sequence[Mapping[str, Any]], by: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Average ``metrics`` over the finished rows that share the setting (or metric) ``by``:
    one dict per value of ``by`` (sorted), with ``runs`` the number averaged."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        value = row["config"].get(by, row["metrics"].get(by))
        groups.setdefault(json.dumps(value, sort_keys=True), []).append(row)
    out = []
    for text, members in groups.items():
        entry: dict[str, Any] = {by: json.loads(text), "runs": len(members)}
        for m in metrics:
            values = [r["metrics"][m] for r in members if r["metrics"].get(m) is not None]
            entry[m] = float(np.mean(values)) if values else None
        out.append(entry)
    return sorted(out, key=lambda e: (isinstance(e[by], str | list), e[by]))


@dataclass
class DoubleDescent:
    """The rows of a double-descent sweep and its curve: per width, the mean ``parameters``,
    ``train_error`` and ``test_error`` over the seeds. ``threshold``: the interpolation
    threshold as measured — the parameters of the narrowest width that fits every training
    label with every seed (None if none does)."""

    rows: list[dict[str, Any]]
    curve: list[dict[str, Any]] = field(default_factory=list)
    threshold: float | None = None

    def plot(self, path: str | Path | None = "double_descent.png"):
        """Test (and train) error against parameters, with the threshold marked."""
        from .plot import plot_curve

        return plot_curve(
            self.curve, "parameters", "test_error", path, lower="train_error",
            threshold=self.threshold, title="Double descent",
        )  # fmt: skip


def double_descent(
    widths: Sequence[int],
    seeds: Sequence[int] = (0, 1),
    *,
    dataset: str = "digits",
    n_train: int = 200,
    label_noise: float = 0.0,
    epochs: int = 100,
    lr: float = 1e-2,
    batch_size: int = 32,
    backend: str = "jit",
    data_seed: int = 0,
    executor: Any = None,
    workers: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    **settings: Any,
) -> DoubleDescent:
    """Seed 001's experiment: an MLP with one hidden layer of each width in ``widths``,
    trained from each seed on ``n_train`` examples of ``dataset`` (optionally with
    ``label_noise``), tested on the held-out split. The data are prepared here once and sent
    to each worker once; ``settings`` are further keys of the configurations (``optimizer``,
    ``l2``, ...)."""
    from ..training.recipes import prepare

    if dataset in ("adding", "sine"):
        raise UsageError(f"double_descent: {dataset} is a regression dataset; it needs classes")
    exp = prepare("mlp", dataset, data_seed)
    data = {"train": exp.train, "test": exp.test}
    base = dict(
        n_train=n_train, epochs=epochs, lr=lr, batch_size=batch_size, backend=backend,
        data_seed=data_seed, **settings,
    )  # fmt: skip
    if label_noise:
        base["label_noise"] = label_noise
    configs = [{"hidden": int(w), "seed": int(s), **base} for w in widths for s in seeds]
    # the narrowest run first (it goes alone and fills the numba cache), then the widest
    # first: the long runs do not end up last on one worker while the others sit idle
    order = sorted(range(len(configs)), key=lambda i: configs[i]["hidden"])
    order = order[:1] + sorted(order[1:], key=lambda i: -configs[i]["hidden"])
    ran = sweep(
        [configs[i] for i in order], data, executor=executor, workers=workers, out=out,
        resume=resume, progress=progress,
    )  # fmt: skip
    rows: list[dict[str, Any]] = [{}] * len(configs)
    for i, row in zip(order, ran):
        rows[i] = row
    curve = summarize(rows, "hidden", ["parameters", "train_error", "test_error"])
    fits = [c["parameters"] for c in curve if c["train_error"] == 0.0]
    return DoubleDescent(rows, curve, threshold=fits[0] if fits else None)
