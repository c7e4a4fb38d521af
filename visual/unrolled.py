"""The unrolled view of a recurrent network: T copies of one cell with shared weights, and
the BPTT gradient that reaches each copy as a bar under it (log scale), so a vanishing or
exploding gradient is visible at a glance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradflow.experiments.bptt import bptt_gradient_norms, last_state_sum

if TYPE_CHECKING:
    from .plots import PathLike

# matplotlib is imported where a figure is drawn: ``import gradflow.visual`` (the graph
# renderer and the step player need none of it) stays light, and a first run's font cache
# is built only when a figure needs it


def _fmt(v: float) -> str:
    """A norm for reading: 3 significant digits, no '-0', powers of ten as ×10ⁿ."""
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.3g}"
    mant, exp = f"{v:.2e}".split("e")
    sup = str(int(exp)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{float(mant):.3g}×10{sup}"


def _arrow(ax, a, b, **kw) -> None:
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, lw=1.1, **kw))


def draw_unrolled(
    model: Any,
    x: Any,
    path: PathLike = "unrolled.png",
    loss: Callable = last_state_sum,
    loss_text: str = r"$L = \sum h_T$",
) -> Path | Any:
    """``model`` (RNN, LSTM, GRU or a cell of gradflow.nn) unrolled over the T steps of ``x``
    ((T, I) or (B, T, I)): one box per step, all drawn from the one set of weights above them,
    h passed left to right, xₜ entering from below; under each copy a bar of ‖∂L/∂hₜ‖ after
    backpropagating ``loss`` through time (log scale, the value printed). PNG or SVG by the
    suffix of ``path``; ``path=None`` returns the figure."""
    from matplotlib.patches import FancyBboxPatch

    from .plots import _figure, _finish

    norms = bptt_gradient_norms(model, x, loss)
    T, name = len(norms.hidden), norms.cell
    fig = _figure(max(7.0, 1.25 * T + 1.6), 6.2)
    top, bottom = fig.subplots(2, 1, height_ratios=[1.35, 1], sharex=True)
    xs = np.arange(1, T + 1)

    # --- the copies
    top.set_xlim(0.2, T + 0.8)
    top.set_ylim(-1.25, 2.6)
    top.axis("off")
    shapes = ", ".join(
        f"{n} {'×'.join(str(s) for s in p.shape)}" for n, p in model.named_parameters()
    )
    top.text(
        (T + 1) / 2, 2.35, f"shared weights: {shapes}", ha="center", va="center", fontsize=9,
        bbox={"boxstyle": "round,pad=0.35", "fc": "#fff3d6", "ec": "#b8860b"},
    )  # fmt: skip
    for t in xs:
        top.add_patch(
            FancyBboxPatch(
                (t - 0.36, 0.0), 0.72, 1.0, boxstyle="round,pad=0.04", fc="#dbe8f6", ec="#2b5d8a"
            )
        )
        top.text(t, 0.5, f"{name}\ncell", ha="center", va="center", fontsize=8.5)
        top.plot([t, (T + 1) / 2], [1.06, 2.18], ls=":", lw=0.8, color="#b8860b")
        _arrow(top, (t, -0.8), (t, -0.04), color="0.3")
        top.text(t, -1.0, f"x{_sub(t)}", ha="center", va="center", fontsize=9)
        if t < T:
            _arrow(top, (t + 0.38, 0.5), (t + 0.62, 0.5), color="k")
            top.text(t + 0.5, 0.63, f"h{_sub(t)}", ha="center", fontsize=8)
    _arrow(top, (0.3, 0.5), (0.62, 0.5), color="0.5")
    top.text(0.45, 0.63, "h₀ = 0", ha="center", fontsize=8, color="0.4")
    _arrow(top, (T + 0.38, 0.5), (T + 0.7, 0.5), color="k")
    top.text(T + 0.55, 0.63, f"h{_sub(T)} → L", ha="center", fontsize=8)
    top.set_title(f"{name} unrolled over T = {T} steps: {T} copies of one cell", fontsize=11)

    # --- the gradient reaching each copy
    h = norms.hidden
    positive = h[h > 0]
    floor = positive.min() / 3 if positive.size else 1e-12
    colors = ["#d62728" if v > h[-1] * 1.0001 else "#1f77b4" for v in h]
    bottom.bar(xs, np.maximum(h, floor), width=0.55, color=colors)
    bottom.set_yscale("log")
    bottom.set_ylim(floor, max(h.max(), floor) * 8)
    for t, v in zip(xs, h):
        bottom.text(t, max(v, floor) * 1.35, _fmt(v), ha="center", fontsize=7.5)
    bottom.set_xticks(xs, [f"t = {t}" for t in xs], fontsize=8)
    bottom.set_ylabel(r"$\|\partial L/\partial h_t\|$" + f",  {loss_text}")
    trend = "vanishes" if norms.ratio < 0.1 else "explodes" if norms.ratio > 10 else "holds"
    bottom.set_title(
        "backpropagation through time ←   "
        r"$\|\partial L/\partial h_1\| \,/\, \|\partial L/\partial h_T\|$"
        f" = {_fmt(norms.ratio)}: "
        f"the gradient {trend}",
        fontsize=10,
    )
    for side in ("top", "right"):
        bottom.spines[side].set_visible(False)
    return _finish(fig, path)


def _sub(t: int) -> str:
    return str(t).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
