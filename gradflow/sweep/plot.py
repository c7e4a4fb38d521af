"""The curve of a sweep (a metric against a setting, averaged over the other settings) drawn
with the course's double-descent plot, relabelled for what was swept."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ArgumentError


def plot_curve(
    curve: Sequence[dict[str, Any]],
    x: str,
    y: str,
    path: str | Path | None,
    lower: str | None = None,
    threshold: float | None = None,
    title: str | None = None,
):
    """Plot ``y`` (and ``lower``, dashed, e.g. the training error) against ``x`` from the
    entries of :func:`gradflow.sweep.summarize`; saved to ``path`` (the figure if None)."""
    from ..visual import plots  # the one import of the plotting package in gradflow.sweep

    points = [e for e in curve if isinstance(e.get(x), int | float) and e.get(y) is not None]
    if not points:
        raise ArgumentError(f"plot: no finished run has a number for both {x!r} and {y!r}")
    points.sort(key=lambda e: e[x])
    lows = None
    if lower is not None and all(e.get(lower) is not None for e in points):
        lows = [e[lower] for e in points]
    fig = plots.plot_double_descent(
        [e[x] for e in points], [e[y] for e in points], None, train_errors=lows,
        threshold=threshold,
    )  # fmt: skip
    ax = fig.axes[0]
    ax.set_xlabel("model size (parameters)" if x == "parameters" else x)
    errors = y.endswith("_error") and (lower is None or lower.endswith("_error"))
    ax.set_ylabel("error" if errors else y if lower is None else f"{y} / {lower}")
    ax.set_title(title or f"{y} against {x}")
    for line, label in zip(ax.get_lines(), (y, lower)):
        if label:
            line.set_label(label.replace("_", " "))
    ax.legend()
    if path is None:
        return fig
    fig.savefig(path, dpi=110)
    return Path(path)
