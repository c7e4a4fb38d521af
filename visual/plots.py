"""The course's figures with matplotlib: activations, neurons, training curves, optimizers, metrics.

Every function takes plain data (numpy arrays, the ``history.epochs`` list of dicts) so it
works with either training backend, draws on a fresh :class:`~matplotlib.figure.Figure`
with the Agg canvas (no pyplot, no GUI, no global state), writes the image to ``path`` and
returns the :class:`~pathlib.Path`. Pass ``path=None`` to get the Figure instead: a notebook
shows it inline.

Activation curves read the op table (:data:`gradflow.OPS`): forward and derivative come from
the op records, never restated here. Optimizer paths use the update rules of
:mod:`gradflow.optim.rules` when that module exists (see :func:`optimizer_paths`).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gradflow.errors import ArgumentError, ShapeError, UnknownNameError
from gradflow.numerics import ARRAY
from gradflow.ops import OPS, Op, ops_with_role

PathLike = str | os.PathLike | None


class InlineFigure(Figure):
    """A Figure that Jupyter shows inline by itself (``_repr_png_``), without pyplot."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    fig = InlineFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure, path: PathLike) -> Path | Figure:
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


# --------------------------------------------------------------------------- activations


def activation_ops() -> list[Op]:
    """Every activation of the op table (the ops whose role is "activation"), in table order."""
    return ops_with_role("activation")


def activation_curve(op: Op, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f(x)`` and ``f'(x)`` of one op, from its forward and local derivative records."""
    with np.errstate(all="ignore"):
        y = np.asarray(op.forward(ARRAY, x, **op.params), dtype=float)
        dy = np.asarray(op.local(0, ARRAY, y, [x], op.params), dtype=float)
    return y, np.broadcast_to(dy, x.shape)


def plot_activations(path: PathLike = "activations.png", x_range: float = 4.0) -> Path | Figure:
    """Each activation of the op table (solid) with its derivative (dashed)."""
    ops = activation_ops()
    cols = 4
    rows = math.ceil(len(ops) / cols)
    fig = _figure(3.2 * cols, 2.5 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    x = np.linspace(-x_range, x_range, 801)
    for ax, op in zip(axes, ops):
        y, dy = activation_curve(op, x)
        ax.plot(x, y, label=op.format_text(["x"]))
        ax.plot(x, dy, "--", label="derivative")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(op.name)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(ops) :]:
        ax.set_visible(False)
    fig.suptitle("Activations and their derivatives")
    return _finish(fig, path)


# --------------------------------------------------------------------------- neuron


def plot_neuron_surfaces(
    path: PathLike = "neuron_surfaces.png",
    w: tuple[float, float] = (1.0, 2.0),
    b: float = -0.5,
) -> Path | Figure:
    """A 2-input neuron y = f(w₁x₁ + w₂x₂ + b) as a 3-D surface and a contour plot,
    for f = identity, sigmoid and ReLU (forwards from the op table)."""
    acts: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [("identity", lambda z: z)]
    for name in ("sigmoid", "relu"):
        op = OPS[name]
        acts.append((name, lambda z, op=op: op.forward(ARRAY, z, **op.params)))
    g = np.linspace(-3, 3, 61)
    x1, x2 = np.meshgrid(g, g)
    z = w[0] * x1 + w[1] * x2 + b
    fig = _figure(13, 8)
    for k, (name, f) in enumerate(acts):
        y = f(z)
        ax3 = fig.add_subplot(2, 3, k + 1, projection="3d")
        ax3.plot_surface(x1, x2, y, cmap="viridis", linewidth=0)
        ax3.set_title(f"{name}: surface")
        ax3.set_xlabel("x₁")
        ax3.set_ylabel("x₂")
        ax = fig.add_subplot(2, 3, k + 4)
        cs = ax.contourf(x1, x2, y, levels=15, cmap="viridis")
        fig.colorbar(cs, ax=ax)
        ax.set_title(f"{name}: contour")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    fig.suptitle(f"Neuron y = f({_terms([(w[0], 'x₁'), (w[1], 'x₂'), (b, '')])})")
    return _finish(fig, path)


def _terms(terms: Sequence[tuple[float, str]]) -> str:
    """``w₁·x₁ + w₂·x₂ + b`` with the signs a reader writes: ``2·x₁ − 1·x₂ − 0.5``."""
    from gradflow import display

    out = ""
    for k, (c, name) in enumerate(terms):
        num = display.number(abs(c))
        body = f"{num}·{name}" if name else num
        if k == 0:
            out = ("−" if c < 0 and num != "0" else "") + body
        else:
            out += (" − " if c < 0 and num != "0" else " + ") + body
    return out


# --------------------------------------------------------------------------- training


def plot_history(
    history_epochs: Sequence[dict], path: PathLike = "history.png", title: str = ""
) -> Path | Figure:
    """Train vs validation curves, one panel per metric (``train_loss``/``val_loss``, ...),
    from ``history.epochs`` (a list of dicts with an ``"epoch"`` key); whole epochs on the
    x-axis. ``title`` names what was trained, e.g. "MLP on digits, cross-entropy loss"."""
    from matplotlib.ticker import MaxNLocator

    if not history_epochs:
        raise ArgumentError("plot_history: the history is empty (no epochs recorded)")
    keys: list[str] = []
    for row in history_epochs:
        keys += [k for k in row if k not in keys]
    metrics = [k[6:] for k in keys if k.startswith("train_")]
    metrics += [k[4:] for k in keys if k.startswith("val_") and k[4:] not in metrics]
    if not metrics:
        raise ArgumentError(f"plot_history: no train_*/val_* keys in the history (keys: {keys})")
    fig = _figure(4.5 * len(metrics), 3.5)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history_epochs)]
    for ax, metric in zip(axes, metrics):
        for split, style in (("train", "-o"), ("val", "--s")):
            pts = [
                (e, row[f"{split}_{metric}"])
                for e, row in zip(epochs, history_epochs)
                if row.get(f"{split}_{metric}") is not None
            ]
            if pts:
                ax.plot(*zip(*pts), style, ms=3, label=split)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs 1, 2, 3 — not 2.5
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def layer_grads(model: Any) -> dict[str, np.ndarray]:
    """The gradients of a ``gradflow.nn`` model's parameters, grouped by layer
    (``"0.weight"`` and ``"0.bias"`` go to layer ``"0"``), ready for
    :func:`plot_grad_histograms`."""
    grouped: dict[str, list[np.ndarray]] = {}
    kinds = _module_kinds(model)
    for name, p in model.named_parameters():
        layer = name.rpartition(".")[0] or name
        label = f"{layer} {kinds[layer]}" if layer in kinds else layer  # "0 Linear", "fc1 Linear"
        grouped.setdefault(label, []).append(np.ravel(np.asarray(p.grad, dtype=float)))
    return {layer: np.concatenate(gs) for layer, gs in grouped.items()}


def _module_kinds(model: Any, prefix: str = "") -> dict[str, str]:
    """Dotted path of every sub-module -> its class name (``"0" -> "Linear"``)."""
    out: dict[str, str] = {}
    for name, child in getattr(model, "named_children", lambda: [])():
        path = f"{prefix}{name}"
        out[path] = type(child).__name__
        out.update(_module_kinds(child, path + "."))
    return out


def plot_grad_histograms(
    grads_by_layer: dict[str, np.ndarray], path: PathLike = "grad_histograms.png"
) -> Path | Figure:
    """Per layer, a histogram of gradient magnitudes log₁₀|g| with the layer's norm ‖g‖ and
    its share of exact zeros: a layer whose gradients pile up near zero is dead or saturated
    (vanishing gradients); a wide right tail explodes. Each value is the layer's gradient
    entries (see :func:`layer_grads`; stack several steps to see a run), or a series of
    per-step gradient norms."""
    if not grads_by_layer:
        raise ArgumentError("plot_grad_histograms: no layers given")
    fig = _figure(3.2 * len(grads_by_layer), 3.0)
    axes = fig.subplots(1, len(grads_by_layer), squeeze=False, sharex=True)[0]
    logs = [np.log10(m[m > 0]) for m in (np.abs(np.ravel(g)) for g in grads_by_layer.values())]
    finite = np.concatenate([v for v in logs if v.size]) if any(v.size for v in logs) else None
    bins = np.linspace(finite.min(), finite.max() + 1e-9, 31) if finite is not None else 30
    for ax, (name, g) in zip(axes, grads_by_layer.items()):  # one x-axis: layers compare
        mag = np.abs(np.asarray(g, dtype=float).ravel())
        zero = np.mean(mag == 0) if mag.size else 0.0
        nz = mag[mag > 0]
        if nz.size:
            ax.hist(np.log10(nz), bins=bins, color="tab:blue")
        ax.set_title(f"{name}\n‖g‖ = {np.linalg.norm(mag):.3g}, {100 * zero:.0f}% zero")
        ax.set_xlabel("log₁₀ |g|")
    axes[0].set_ylabel("count")
    return _finish(fig, path)


# --------------------------------------------------------------------------- metrics


def plot_confusion_matrix(
    cm: np.ndarray, labels: Sequence[Any] | None = None, path: PathLike = "confusion_matrix.png"
) -> Path | Figure:
    """Counts per (true class, predicted class), with the numbers written in the cells."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ShapeError(f"plot_confusion_matrix: need a square matrix, got shape {cm.shape}")
    labels = list(labels) if labels is not None else list(range(cm.shape[0]))
    if len(labels) != cm.shape[0]:
        raise ShapeError(f"plot_confusion_matrix: {len(labels)} labels for shape {cm.shape}")
    size = 1.5 + 0.5 * len(labels)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ticks = range(len(labels))
    ax.set_xticks(ticks, [str(x) for x in labels])
    ax.set_yticks(ticks, [str(x) for x in labels])
    high = cm.max() / 2 if cm.size else 0
    for i in ticks:
        for j in ticks:
            ax.text(
                j, i, f"{cm[i, j]:g}", ha="center", va="center",
                color="white" if cm[i, j] > high else "black", fontsize=8,
            )  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    return _finish(fig, path)


def plot_roc(
    fpr: np.ndarray, tpr: np.ndarray, auc: float, path: PathLike = "roc.png"
) -> Path | Figure:
    """The ROC curve (true vs false positive rate) with its AUC and the chance diagonal."""
    fpr, tpr = np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float)
    if fpr.shape != tpr.shape:
        raise ShapeError(f"plot_roc: fpr has shape {fpr.shape} but tpr has {tpr.shape}")
    fig = _figure(4.5, 4.5)
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"AUC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC curve (AUC = {auc:.3f})")
    ax.legend(loc="lower right")
    return _finish(fig, path)


def plot_double_descent(
    sizes: Sequence[float],
    test_errors: Sequence[float],
    path: PathLike = "double_descent.png",
    train_errors: Sequence[float] | None = None,
    threshold: float | None = None,
) -> Path | Figure:
    """Test error against model size; the peak near the interpolation ``threshold``
    (parameters ≈ training points) is the double-descent bump."""
    sizes, test_errors = np.asarray(sizes, dtype=float), np.asarray(test_errors, dtype=float)
    if sizes.shape != test_errors.shape:
        raise ShapeError(
            f"plot_double_descent: {sizes.shape} sizes but {test_errors.shape} test errors"
        )
    fig = _figure(6, 4)
    ax = fig.subplots()
    ax.plot(sizes, test_errors, "-o", ms=3, label="test error")
    if train_errors is not None:
        ax.plot(sizes, np.asarray(train_errors, dtype=float), "--", label="train error")
    if threshold is not None:
        ax.axvline(threshold, color="grey", ls=":", label="interpolation threshold")
    if sizes.size and sizes.min() > 0 and sizes.max() / sizes.min() > 50:
        ax.set_xscale("log")
    ax.set_xlabel("model size (parameters)")
    ax.set_ylabel("error")
    ax.set_title("Double descent")
    ax.legend()
    return _finish(fig, path)


# --------------------------------------------------------------------------- optimizers

# Two course surfaces: f(p), ∇f(p), start point, plot window, per-optimizer learning rates.
SURFACES: dict[str, dict[str, Any]] = {
    "ravine": {
        "f": lambda x, y: 0.05 * x**2 + 2.0 * y**2,
        "grad": lambda p: np.array([0.1 * p[0], 4.0 * p[1]]),
        "start": (-9.0, 1.5),
        "minimum": (0.0, 0.0),
        "window": ((-10, 2), (-2, 2)),
        "lr": {"GD": 0.45, "momentum": 0.45, "Nesterov": 0.45, "AdaGrad": 1.5,
               "RMSProp": 0.1, "Adam": 0.3},
        "steps": 120,
    },
    "Rosenbrock": {
        "f": lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        "grad": lambda p: np.array(
            [-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)]
        ),
        "start": (-1.5, 2.0),
        "minimum": (1.0, 1.0),
        "window": ((-2, 2), (-1, 3)),
        "lr": {"GD": 0.001, "momentum": 0.002, "Nesterov": 0.002, "AdaGrad": 0.2,
               "RMSProp": 0.005, "Adam": 0.03},
        "steps": 1500,
    },
}  # fmt: skip


def _rules() -> Any:
    """``gradflow.optim.rules`` if this gradflow has it, else the fallback below."""
    try:
        from gradflow.optim import rules
    except ImportError:
        return _FallbackRules
    return rules


class _FallbackRules:
    """FALLBACK ONLY, for a gradflow without ``gradflow.optim``: the course's update rules
    with the same signatures as ``gradflow.optim.rules`` (in place on numpy arrays).
    Delete once ``gradflow.optim`` is always present."""

    @staticmethod
    def sgd(p, g, lr, weight_decay):
        p -= lr * (g + weight_decay * p)

    @staticmethod
    def momentum(p, g, m, lr, beta, weight_decay):
        m *= beta
        m += (1 - beta) * (g + weight_decay * p)
        p -= lr * m

    @staticmethod
    def nesterov(p, g, m, lr, beta, weight_decay):  # p is the look-ahead point
        d = g + weight_decay * p
        m *= beta
        m += (1 - beta) * d
        p -= lr * (beta * m + (1 - beta) * d)

    @staticmethod
    def adagrad(p, g, s, lr, eps, weight_decay):
        d = g + weight_decay * p
        s += d * d
        p -= lr * d / (np.sqrt(s) + eps)

    @staticmethod
    def rmsprop(p, g, s, lr, rho, eps, weight_decay):
        d = g + weight_decay * p
        s *= rho
        s += (1 - rho) * d * d
        p -= lr * d / (np.sqrt(s) + eps)

    @staticmethod
    def adam(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
        d = g + weight_decay * p
        m *= beta1
        m += (1 - beta1) * d
        v *= beta2
        v += (1 - beta2) * d * d
        p -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def _updates(rules: Any, lr: dict[str, float]) -> dict[str, tuple[int, Callable]]:
    """Optimizer name -> (number of state arrays, step(p, g, state, t))."""
    return {
        "GD": (0, lambda p, g, s, t: rules.sgd(p, g, lr["GD"], 0.0)),
        "momentum": (1, lambda p, g, s, t: rules.momentum(p, g, s[0], lr["momentum"], 0.9, 0.0)),
        "Nesterov": (1, lambda p, g, s, t: rules.nesterov(p, g, s[0], lr["Nesterov"], 0.9, 0.0)),
        "AdaGrad": (1, lambda p, g, s, t: rules.adagrad(p, g, s[0], lr["AdaGrad"], 1e-8, 0.0)),
        "RMSProp": (
            1,
            lambda p, g, s, t: rules.rmsprop(p, g, s[0], lr["RMSProp"], 0.9, 1e-8, 0.0),
        ),
        "Adam": (
            2,
            lambda p, g, s, t: rules.adam(p, g, s[0], s[1], t, lr["Adam"], 0.9, 0.999, 1e-8, 0.0),
        ),
    }


def optimizer_paths(surface: str = "ravine", steps: int | None = None) -> dict[str, np.ndarray]:
    """The points each optimizer visits on a surface: name -> array (steps + 1, 2)."""
    if surface not in SURFACES:
        raise UnknownNameError(f"unknown surface {surface!r}; known: {', '.join(SURFACES)}")
    spec = SURFACES[surface]
    steps = spec["steps"] if steps is None else steps
    paths = {}
    for name, (n_state, update) in _updates(_rules(), spec["lr"]).items():
        p = np.array(spec["start"], dtype=float)
        state = [np.zeros(2) for _ in range(n_state)]
        points = [p.copy()]
        for t in range(1, steps + 1):
            update(p, spec["grad"](p), state, t)
            points.append(p.copy())
        paths[name] = np.array(points)
    return paths


def plot_optimizer_paths(
    path: PathLike = "optimizer_paths.png", surfaces: Sequence[str] = ("ravine", "Rosenbrock")
) -> Path | Figure:
    """GD, momentum, Nesterov, AdaGrad, RMSProp and Adam from one start on each surface."""
    fig = _figure(6.5 * len(surfaces), 5)
    axes = fig.subplots(1, len(surfaces), squeeze=False)[0]
    for ax, name in zip(axes, surfaces):
        spec = SURFACES[name]
        (x0, x1), (y0, y1) = spec["window"]
        gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
        ax.contour(gx, gy, np.log1p(spec["f"](gx, gy)), levels=25, cmap="Greys", linewidths=0.6)
        for opt, pts in optimizer_paths(name).items():
            ax.plot(pts[:, 0], pts[:, 1], "-", lw=1.2, label=opt)
        ax.plot(*spec["start"], "ko", ms=4)
        ax.plot(*spec["minimum"], "k*", ms=10)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(f"{name}")
        ax.set_xlabel("φ₁")
        ax.set_ylabel("φ₂")
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Optimizer paths")
    return _finish(fig, path)


# --------------------------------------------------------------------------- single neurons


def _boundary_pairs(snapshots: Sequence[Any]) -> list[tuple[np.ndarray, float]]:
    """(w, b) pairs from ``(w, b)`` tuples or ``state_dict()``\\ s with weight and bias."""
    pairs = []
    for k, s in enumerate(snapshots):
        if isinstance(s, dict):
            if "weight" not in s or "bias" not in s:
                raise ArgumentError(f"snapshot {k}: needs 'weight' and 'bias', has {sorted(s)}")
            w, b = s["weight"], s["bias"]
        else:
            w, b = s
        w = np.asarray(w, dtype=float).reshape(-1)
        if w.shape != (2,):
            raise ShapeError(f"snapshot {k}: a 2-input neuron has 2 weights, got {w.size}")
        pairs.append((w, float(np.asarray(b, dtype=float).reshape(-1)[0])))
    return pairs


def plot_decision_boundaries(
    X: np.ndarray,
    y: np.ndarray,
    snapshots: Sequence[Any],
    path: PathLike = "decision_boundaries.png",
    title: str = "Decision boundary over the epochs",
) -> Path | Figure:
    """The line w₁x₁ + w₂x₂ + b = 0 of a 2-input neuron after each epoch, light (early) to
    dark (last), over the two classes of (X, y). ``snapshots``: ``(w, b)`` pairs or the
    ``state_dict()``\\ s of :class:`gradflow.training.ParameterSnapshots` (first = before
    training); the region the last boundary calls class 1 is shaded."""
    X, y = np.asarray(X, dtype=float), np.asarray(y).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) != len(y):
        raise ShapeError(f"plot_decision_boundaries: X {X.shape} must be (n, 2) with n labels")
    pairs = _boundary_pairs(snapshots)
    if not pairs:
        raise ArgumentError("plot_decision_boundaries: no snapshots")
    pad = 0.15 * (X.max(axis=0) - X.min(axis=0) + 1e-9)
    (x0, y0), (x1, y1) = X.min(axis=0) - pad, X.max(axis=0) + pad
    fig = _figure(6, 5)
    ax = fig.subplots()
    w, b = pairs[-1]
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    ax.contourf(gx, gy, (w[0] * gx + w[1] * gy + b > 0).astype(float), levels=[-0.5, 0.5, 1.5],
                colors=["#dbe8f6", "#f8e0d0"], alpha=0.8)  # fmt: skip
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap, norm = colormaps["viridis"], Normalize(0, max(len(pairs) - 1, 1))
    xs = np.array([x0, x1])
    for k, (w, b) in enumerate(pairs):
        if abs(w[1]) > 1e-12:
            line = (xs, -(w[0] * xs + b) / w[1])
        elif abs(w[0]) > 1e-12:
            line = (np.full(2, -b / w[0]), np.array([y0, y1]))
        else:
            continue  # w = 0: no boundary yet (every point on one side)
        last = k == len(pairs) - 1
        ax.plot(*line, color=cmap(norm(k)), lw=2.8 if last else 1.3, zorder=3,
                ls="-" if last else "--")  # fmt: skip
    for cls, (marker, colour) in zip((0, 1), (("o", "tab:blue"), ("s", "tab:orange"))):
        pts = X[y == cls]
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, c=colour, edgecolors="k",
                   linewidths=0.5, s=30, label=f"class {cls}", zorder=4)  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title)
    ax.legend(loc="best")
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax)
    bar.set_label("epoch (0 = before training)")
    return _finish(fig, path)


# --------------------------------------------------------------------------- linear regions


def plot_linear_regions(
    models: dict[str, Any],
    path: PathLike = "linear_regions.png",
    lo: float = 0.0,
    hi: float = 1.0,
) -> Path | Figure:
    """Each 1-input ReLU network of ``models`` ({title: model}) on [lo, hi], one panel each,
    its linear regions shaded in alternating colours (breakpoints from
    :func:`gradflow.regions.breakpoints`), with the region and parameter counts in the title."""
    from gradflow.regions import breakpoints, relu_layers

    if not models:
        raise ArgumentError("plot_linear_regions: no models")
    fig = _figure(4.6 * len(models), 3.6)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, (name, model) in zip(axes, models.items()):
        kinks = breakpoints(model, lo, hi)
        edges = np.concatenate([[lo], kinks, [hi]])
        x = np.unique(np.concatenate([np.linspace(lo, hi, 2001), kinks]))
        h = x.reshape(-1, 1)
        layers = relu_layers(model)
        for k, (W, b) in enumerate(layers):
            h = h @ W.T + b
            if k < len(layers) - 1:
                h = np.maximum(h, 0.0)
        for k in range(len(edges) - 1):
            ax.axvspan(edges[k], edges[k + 1], color=("#dbe8f6", "#f8e0d0")[k % 2], lw=0)
        ax.plot(x, h[:, 0], color="k", lw=1.4)
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(
            f"{name}\n{len(edges) - 1} regions, {model.num_parameters()} parameters", fontsize=10
        )
    return _finish(fig, path)


# --------------------------------------------------------------------------- attention


def plot_attention(
    weights: np.ndarray,
    path: PathLike = "attention.png",
    queries: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    title: str = "Attention weights",
) -> Path | Figure:
    """Attention weights as heat maps, one panel per head: rows are the positions that
    attend (queries), columns the positions attended to (keys), each row sums to 1.
    ``weights``: (Tq, Tk) or (heads, Tq, Tk) — e.g. ``MultiheadAttention.attention_weights[b]``."""
    w = np.asarray(weights, dtype=float)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ShapeError(f"plot_attention: weights {w.shape} must be (Tq, Tk) or (heads, Tq, Tk)")
    heads, tq, tk = w.shape
    queries = [str(q) for q in (queries if queries is not None else range(tq))]
    keys = [str(k) for k in (keys if keys is not None else range(tk))]
    if len(queries) != tq or len(keys) != tk:
        raise ShapeError(
            f"plot_attention: {len(queries)} query and {len(keys)} key labels for weights "
            f"of {tq}×{tk}"
        )
    fig = _figure(0.6 + 2.9 * heads + 0.8, 3.4)
    axes = fig.subplots(1, heads, squeeze=False)[0]
    image = None
    for h, ax in enumerate(axes):
        image = ax.imshow(w[h], cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(tk), keys)
        ax.set_yticks(range(tq), queries)
        ax.set_xlabel("attends to (key)")
        if h == 0:
            ax.set_ylabel("position (query)")
        ax.set_title(f"head {h + 1}" if heads > 1 else "")
    fig.colorbar(image, ax=list(axes), shrink=0.85, label="weight")
    fig.suptitle(title)
    return _finish(fig, path)


# --------------------------------------------------------------------------- conv filters


def _layer_name(layer: Any, fallback: str) -> str:
    """The name a parent gave the layer ("0:Conv2d", "conv1:Conv2d"), else ``fallback``."""
    return getattr(layer, "__dict__", {}).get("_scope_name") or fallback


def _grid(n: int, max_cols: int = 8) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def plot_filters(
    layer: Any, path: PathLike = "filters.png", max_filters: int = 32
) -> Path | Figure:
    """The kernels of a ``Conv2d`` (out, in, kh, kw) or ``Conv1d`` (out, in, k) layer: one row
    of tiles per filter (up to ``max_filters``), one tile per input channel (a Conv1d filter is
    one in × k image), all on one colour scale centred on 0 (blue negative, red positive)."""
    w = np.asarray(getattr(layer, "weight", None).data if hasattr(layer, "weight") else layer)
    if w.ndim not in (3, 4):
        raise ArgumentError(
            f"plot_filters: needs a Conv1d/Conv2d layer (weight (out, in, k) or (out, in, kh, "
            f"kw)), got weight shape {w.shape}"
        )
    name = _layer_name(layer, type(layer).__name__)
    w = w[:max_filters]
    tiles = w if w.ndim == 4 else w[:, None]  # a Conv1d filter: one in × k image
    n_out, n_in = tiles.shape[:2]
    lim = float(np.abs(w).max()) or 1.0
    fig = _figure(1.0 + 1.1 * n_in, 0.6 + 1.0 * n_out) if n_in > 1 else None
    if fig is None:  # one input channel: lay the filters out in a grid
        rows, cols = _grid(n_out)
        fig = _figure(1.2 + 1.1 * cols, 0.7 + 1.1 * rows)
        axes = fig.subplots(rows, cols, squeeze=False)
        cells = [(axes[k // cols][k % cols], tiles[k, 0], f"filter {k}") for k in range(n_out)]
        for k in range(n_out, rows * cols):
            axes[k // cols][k % cols].axis("off")
    else:
        axes = fig.subplots(n_out, n_in, squeeze=False)
        cells = [
            (axes[o][i], tiles[o, i], f"filter {o}, in {i}" if o == 0 or i == 0 else "")
            for o in range(n_out)
            for i in range(n_in)
        ]
    image = None
    for ax, tile, label in cells:
        image = ax.imshow(np.atleast_2d(tile), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=7)
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="weight")
    fig.suptitle(f"{name}: {w.shape[0]} filters of shape {tuple(w.shape[1:])}")
    return _finish(fig, path)


def feature_maps(model: Any, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, output) of every Conv1d/Conv2d layer of a ``Sequential`` model for one input
    ``x`` (without its batch axis), in eval mode and without gradients."""
    from gradflow.graph import no_grad
    from gradflow.nn import Conv1d, Conv2d, Sequential
    from gradflow.tensor import Tensor

    if not isinstance(model, Sequential):
        raise ArgumentError(
            f"feature_maps: needs a Sequential model (its layers run one by one), got "
            f"{type(model).__name__}"
        )
    h = Tensor(np.asarray(x, dtype=float)[None])
    out = []
    model.eval()
    with no_grad():
        for k, layer in enumerate(model):
            h = layer(h)
            if isinstance(layer, (Conv1d, Conv2d)):
                out.append((_layer_name(layer, f"{k}:{type(layer).__name__}"), h.data[0]))
    model.train()
    if not out:
        raise ArgumentError("feature_maps: the model has no Conv1d/Conv2d layer")
    return out


def plot_feature_maps(
    model: Any, x: np.ndarray, path: PathLike = "feature_maps.png", max_maps: int = 16
) -> Path | Figure:
    """The input and the output channels of each conv layer of ``model`` for one input ``x``
    (C, H, W) or (C, L): one row per layer, up to ``max_maps`` channels each, every row on its
    own colour scale shared by its channels, the layer's name beside it."""
    maps = feature_maps(model, x)
    x = np.asarray(x, dtype=float)
    rows = [("input", x)] + maps
    cols = min(max(len(m) for _, m in rows), max_maps)
    fig = _figure(1.0 + 1.25 * cols, 0.5 + 1.35 * len(rows))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (name, m) in enumerate(rows):
        lim_lo, lim_hi = float(m.min()), float(m.max())
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= min(len(m), max_maps):
                ax.axis("off")
                continue
            ch = m[c] if m.ndim == 3 else m[c][None]  # a Conv1d channel: a 1 × L strip
            ax.imshow(ch, cmap="gray" if r == 0 else "viridis", vmin=lim_lo, vmax=lim_hi,
                      aspect="auto" if m.ndim == 2 else "equal")  # fmt: skip
            ax.set_title(f"channel {c}", fontsize=7)
        axes[r][0].set_ylabel(f"{name}\n{tuple(m.shape)}", fontsize=8)
    fig.suptitle("Feature maps")
    return _finish(fig, path)


# --------------------------------------------------------------------------- experiments


def plot_implicit_regularization(
    paths: Any,
    table: Sequence[dict[str, float]] | None = None,
    path: PathLike = "implicit_regularization.png",
    loss: Callable | None = None,
) -> Path | Figure:
    """GD against the gradient flows of L and of L + (α/4)‖∇L‖² (an
    :class:`gradflow.experiments.implicit.ImplicitPaths` of a 2-parameter loss): the three
    paths over the contours of L with a zoom on their ends, GD's distance to each flow over
    time, and (given ``table`` from ``distance_table``) the largest distances against α on
    log–log axes, where the plain flow's fall like α and the modified flow's like α²."""
    from gradflow.experiments.implicit import product_loss
    from gradflow.value import Value

    loss = product_loss if loss is None else loss
    lines = (
        (paths.flow, "gradient flow of L", "#1f77b4", "-"),
        (paths.modified_flow, "flow of L + (α/4)‖∇L‖²", "#d62728", "-"),
        (paths.gd, f"GD, α = {paths.lr:g}", "k", "o"),
    )
    fig = _figure(15 if table else 10.5, 4.4)
    axes = fig.subplots(1, 3 if table else 2)
    ax = axes[0]
    pts = np.concatenate([paths.gd, paths.flow, paths.modified_flow])
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * max(x1 - x0, y1 - y0)
    gx, gy = np.meshgrid(np.linspace(x0 - pad, x1 + pad, 120), np.linspace(y0 - pad, y1 + pad, 120))
    try:  # a loss written with plain arithmetic takes whole arrays at once
        gz = np.broadcast_to(np.asarray(loss([gx, gy]), float), gx.shape)
    except (TypeError, ValueError):
        gz = np.vectorize(lambda a, b: loss([Value(a), Value(b)]).data)(gx, gy)
    ax.contour(gx, gy, np.log1p(gz), levels=20, cmap="Greys", linewidths=0.6)
    for pts_, label, color, style in lines:
        if style == "o":
            ax.plot(pts_[:, 0], pts_[:, 1], "o", color=color, ms=2.5, label=label)
        else:
            ax.plot(pts_[:, 0], pts_[:, 1], style, color=color, lw=1.4, label=label)
    ax.set_xlabel("φ₁")
    ax.set_ylabel("φ₂")
    ax.set_title("Paths from one start")
    ax.legend(fontsize=8, loc="lower right")
    # zoom on the ends, where the paths have drifted apart the most
    ends = np.array([paths.gd[-1], paths.flow[-1], paths.modified_flow[-1]])
    centre, half = ends.mean(axis=0), max(3 * np.ptp(ends, axis=0).max(), 1e-6)
    inset = ax.inset_axes([0.04, 0.54, 0.42, 0.42])
    for pts_, _label, color, style in lines:
        if style == "o":
            inset.plot(pts_[:, 0], pts_[:, 1], "o", color=color, ms=3)
        else:
            inset.plot(pts_[:, 0], pts_[:, 1], style, color=color, lw=1.4)
    inset.set_xlim(centre[0] - half, centre[0] + half)
    inset.set_ylim(centre[1] - half, centre[1] + half)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_title("the ends, zoomed", fontsize=8)
    ax.indicate_inset_zoom(inset, edgecolor="0.4")

    ax = axes[1]
    t = paths.lr * np.arange(len(paths.gd))
    ax.plot(
        t, np.linalg.norm(paths.gd - paths.flow, axis=1), color=lines[0][2], label="to flow of L"
    )
    ax.plot(
        t,
        np.linalg.norm(paths.gd - paths.modified_flow, axis=1),
        color=lines[1][2],
        label="to flow of L + (α/4)‖∇L‖²",
    )
    ax.set_xlabel("time t = kα")
    ax.set_ylabel("‖φₖ − φ(t)‖")
    ax.set_title(f"GD's distance to each flow (α = {paths.lr:g})")
    ax.legend(fontsize=8)
    if table:
        ax = axes[2]
        lr = np.array([r["lr"] for r in table])
        for key, (label, color) in {
            "distance_to_flow": ("to flow of L", lines[0][2]),
            "distance_to_modified_flow": ("to flow of L + (α/4)‖∇L‖²", lines[1][2]),
        }.items():
            d = np.array([r[key] for r in table])
            ax.loglog(lr, d, "o-", color=color, label=label)
        d0 = table[0]["distance_to_flow"]
        d1 = table[0]["distance_to_modified_flow"]
        ax.loglog(lr, d0 * lr / lr[0], ":", color="0.5", label="∝ α")
        ax.loglog(lr, d1 * (lr / lr[0]) ** 2, "--", color="0.5", label="∝ α²")
        ax.set_xticks(lr, [f"{v:g}" for v in lr])
        ax.minorticks_off()
        ax.set_xlabel("step α")
        ax.set_ylabel("largest distance")
        ax.set_title("Halving α: distance ÷2 vs ÷4")
        ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_bias_variance(rows: Sequence[Any], path: PathLike = "bias_variance.png") -> Path | Figure:
    """bias², variance, noise, their sum and the measured test error against the model's
    complexity (rows of :func:`gradflow.experiments.bias_variance.bias_variance`), log scale."""
    if not rows:
        raise ArgumentError("plot_bias_variance: no rows")
    c = np.array([r.complexity for r in rows])
    fig = _figure(6.8, 4.4)
    ax = fig.subplots()
    ax.semilogy(c, [r.bias2 for r in rows], "o-", color="#1f77b4", label="bias²")
    ax.semilogy(c, [r.variance for r in rows], "o-", color="#d62728", label="variance")
    ax.semilogy(c, [r.noise for r in rows], "-", color="0.5", label="noise σ²")
    ax.semilogy(
        c, [r.expected_error for r in rows], "-", color="k", lw=2, label="bias² + variance + σ²"
    )
    ax.semilogy(
        c, [r.test_error for r in rows], "x", color="#2ca02c", ms=8, label="measured test error"
    )
    best = min(rows, key=lambda r: r.bias2 + r.variance)
    ax.axvline(best.complexity, color="0.7", ls=":", lw=1)
    ax.set_xlabel("complexity (polynomial degree)")
    ax.set_ylabel("mean squared error")
    ax.set_title(f"Bias–variance trade-off (best: {best.complexity})")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_loss_landscape(
    landscape: Any, path: PathLike = "loss_landscape.png", title: str = "Loss landscape"
) -> Path | Figure:
    """A :class:`gradflow.experiments.landscape.Landscape` as contours (log scale of the loss,
    the trained weights marked at the centre) beside the same grid as a 3-D surface."""
    from matplotlib import colors

    a, b, z = landscape.a, landscape.b, landscape.losses
    ga, gb = np.meshgrid(a, b)
    fig = _figure(11, 4.6)
    ax = fig.add_subplot(1, 2, 1)
    positive = z[z > 0]
    lo, hi = (positive.min(), z.max()) if positive.size else (1e-12, 1.0)
    levels = np.geomspace(lo, hi, 25) if hi > lo else 10
    cs = ax.contourf(ga, gb, z, levels=levels, cmap="viridis", norm=colors.LogNorm(lo, hi))
    ax.contour(ga, gb, z, levels=levels, colors="k", linewidths=0.3)
    fig.colorbar(cs, ax=ax, label="loss (log scale)", format="%.3g")
    ax.plot(0, 0, "r*", ms=10, label=f"trained weights, loss {landscape.centre:.3g}")
    ax.set_xlabel("a (direction δ)")
    ax.set_ylabel("b (direction η)")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{title}: contours")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    ax3.plot_surface(ga, gb, z, cmap="viridis", linewidth=0, antialiased=True, alpha=0.95)
    ticks = [a[0], 0.0, a[-1]]
    labels = [f"{t:g}".replace("-", "−") for t in ticks]
    ax3.set_xticks(ticks, labels)
    ax3.set_yticks(ticks, labels)
    ax3.set_box_aspect(None, zoom=0.85)  # room for the z label
    ax3.set_xlabel("a")
    ax3.set_ylabel("b")
    ax3.set_zlabel("loss", labelpad=10)
    ax3.set_title(f"{title}: surface")
    return _finish(fig, path)
