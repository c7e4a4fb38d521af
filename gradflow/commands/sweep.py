"""``gradflow sweep SWEEP.toml``: run every configuration of a sweep file — on a local Dask
cluster (one worker per core, or ``--workers N``), on a running one (``--scheduler
ADDRESS``) or here (``--serial``) — print a line per run, append the rows to ``--out`` as
runs finish (``--resume`` continues such a file) and draw the curve with ``--plot``.
The file format is in ``docs/sweep.md``; every input is checked before the first run."""

from __future__ import annotations

import importlib.util
import sys
import warnings

from .arguments import int_within, output_file

MAX_WORKERS = 256


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="train every configuration of a sweep file (grid, seeds, folds), on Dask",
        description=__doc__.split("\n\n")[0].replace("``", ""),
    )
    p.add_argument("file", metavar="SWEEP.toml", help="the sweep file (see docs/sweep.md)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int_within(1, MAX_WORKERS),
        default=None,
        help="workers of the local Dask cluster started for the sweep (default: one per core)",
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", default=None, help="a running Dask scheduler, tcp://..."
    )
    where.add_argument(
        "--serial", action="store_true", help="run here, one after another (no Dask)"
    )
    p.add_argument("--out", default=None, help="append each result to this JSON-lines file")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue --out: skip the runs it holds (runs that failed run again)",
    )
    p.add_argument("--plot", metavar="PNG", default=None, help="draw the sweep's curve here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import GradflowWarning, UsageError
    from ..executors import DASK_INSTALL, RunFailedError
    from ..sweep import summarize, sweep
    from ..sweep.results import ResultsFile
    from ..sweep.spec import read_sweep_file

    if args.resume and args.out is None:
        raise UsageError("--resume continues the file of --out; give --out")
    if args.out is not None:
        ResultsFile.check(args.out, args.resume, "--out")
    if args.plot is not None:
        output_file(args.plot, "--plot")
    if args.scheduler is not None and "://" not in args.scheduler:
        raise UsageError(f"--scheduler {args.scheduler!r}: an address such as tcp://host:8786")
    spec = read_sweep_file(args.file)
    plot = _plot_settings(spec) if args.plot is not None else None
    executor = args.scheduler or "dask"
    if args.serial:
        executor = None
    elif importlib.util.find_spec("distributed") is None:
        if args.workers is not None or args.scheduler is not None:
            raise UsageError(f"--workers and --scheduler need Dask: {DASK_INSTALL}")
        warnings.warn(
            f"Dask is not installed ({DASK_INSTALL}): running here, one after another",
            GradflowWarning,
            stacklevel=2,
        )
        executor = None
    rows = sweep(
        spec.configs,
        executor=executor,
        workers=args.workers,
        out=args.out,
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    _print_rows(rows, spec.axes)
    if plot is not None:
        from ..sweep.plot import plot_curve

        curve = summarize(rows, plot["x"], [m for m in (plot["y"], plot.get("lower")) if m])
        plot_curve(
            curve, plot["x"], plot["y"], args.plot, lower=plot.get("lower"),
            threshold=plot.get("threshold"),
        )  # fmt: skip
        print(f"plot: {args.plot}")
    failed = sum(row["status"] != "ok" for row in rows)
    if failed:
        where = f" (see {args.out})" if args.out else ""
        raise RunFailedError(f"{failed} of {len(rows)} runs failed{where}")
    return 0


def _plot_settings(spec) -> dict:
    from ..errors import UsageError

    plot = dict(spec.plot)
    if "x" not in plot:
        if not spec.axes:
            raise UsageError(f"{spec.path}: [plot] x: no [grid] to take it from; name one")
        plot["x"] = spec.axes[0]
    plot.setdefault("y", "test_error")
    if plot["y"] == "test_error" and "lower" not in plot:
        plot["lower"] = "train_error"
    return plot


def _print_rows(rows: list[dict], axes: list[str]) -> None:
    shown = ("test_error", "test_loss", "train_error", "val_loss")
    for row in rows:
        config = row["config"]
        what = " ".join(f"{k}={config[k]}" for k in axes if k in config) or row["key"]
        if row["status"] == "ok":
            m = row["metrics"] or {}
            values = "  ".join(f"{k} {m[k]:.4g}" for k in shown if m.get(k) is not None)
            seconds = f"  ({row['seconds']:.1f} s)" if row.get("seconds") is not None else ""
            print(f"ok     {what}  {values}{seconds}")
        else:
            print(f"error  {what}  {row['error']}")
    ok = sum(row["status"] == "ok" for row in rows)
    print(f"{len(rows)} runs: {ok} ok, {len(rows) - ok} failed", file=sys.stderr)
