"""Convolution and pooling: four tensor ops for the op table (conv1d, conv2d, maxpool, avgpool).

Data is channels-first: inputs ``(B, C, *spatial)`` with one (Conv1d, pooling 1-d) or two
(Conv2d, pooling 2-d) spatial axes. Weights are ``(out, in, *kernel)``. Like PyTorch, the
"convolution" is a **cross-correlation** (the kernel is not flipped in the forward pass):

    out[b, o, i, j] = Σ_c Σ_p Σ_q  x_pad[b, c, i·s + p, j·s + q] · w[o, c, p, q]

The forward passes use numpy stride tricks: ``sliding_window_view`` gives every receptive
field as a view (no copy) and one ``tensordot`` contracts it with the kernel, so the graph
backend trains a small CNN in seconds.

Backward rules (the VJPs declared below, once):

* ∂L/∂w — the same windows contracted with the upstream gradient: the gradient of a shared
  weight is the sum over every position it was used at.
* ∂L/∂x — a **full convolution of the upstream gradient with the flipped kernel**: put the
  stride back by inserting s − 1 zeros between gradient entries, pad by k − 1 on every side,
  cross-correlate with the kernel rotated by 180° (and its in/out channels swapped), then cut
  off the padding. This is the course's "convolution vs cross-correlation" remark at work.
* max-pool sends each upstream entry to the index of its window's winner (the first maximum
  on ties), everything else gets 0; avg-pool spreads each entry as 1/(N·N) over its window.

A **grid** — one image with no batch or channel axis, ``x`` (H, W) and ``w`` (kh, kw), as in
the course's hand-worked exercises (``conv2d(X, K)`` in a formula) — is read as one image of
one channel and one filter: every rule above runs on it unchanged (``_on_grids``), and the
result is a grid again.

Each op also has a SymPy form written with plain loops over object arrays — deliberately not
the stride-trick code — so :func:`gradflow.check_symbolic` checks the fast path independently.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ShapeError
from .lazy import sympy as sp
from .ops import tensor_op

# ------------------------------------------------------------------------ shape helpers


def out_size(n: int, k: int, s: int, p: int = 0) -> int:
    """Output length of a window op: ⌊(n + 2p − k) / s⌋ + 1."""
    return (n + 2 * p - k) // s + 1


def _pad(x: np.ndarray, padding: tuple[int, ...]) -> np.ndarray:
    if not any(padding):
        return x
    return np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])


def _windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...]) -> np.ndarray:
    """Every receptive field as a view: (B, C, *out, *kernel)."""
    d = len(kernel)
    v = sliding_window_view(x, kernel, axis=tuple(range(2, 2 + d)))
    return v[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)]


def _lift(a):
    return a[np.newaxis, np.newaxis] if isinstance(a, np.ndarray) else a


def _on_grids(fn, spatial):
    """A forward or SymPy form ``fn(*arrays, **params)`` over channels-first arrays, also
    taking grids: when the first array has only its ``spatial(params)`` spatial axes, every
    array gets a batch and a channel axis of length 1 and the result loses them again. So a
    grid runs the very same rule as a batch."""

    def wrapped(*arrays, **params):
        if np.ndim(arrays[0]) != spatial(params):
            return fn(*arrays, **params)
        return fn(*(_lift(np.asarray(a)) for a in arrays), **params)[0, 0]

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def _vjp_on_grids(vjp, spatial):
    """The VJP ``vjp(i, g, out, xs, p)`` of an op wrapped by :func:`_on_grids`."""

    def wrapped(i, g, out, xs, p):
        if np.ndim(xs[0]) != spatial(p):
            return vjp(i, g, out, xs, p)
        lifted = [_lift(np.asarray(x)) for x in xs]
        return vjp(i, _lift(np.asarray(g)), _lift(np.asarray(out)), lifted, p)[0, 0]

    wrapped.__name__, wrapped.__doc__ = vjp.__name__, vjp.__doc__
    return wrapped


def _conv_axes(p) -> int:
    return len(p["stride"])


def _pool_axes(p) -> int:
    return len(p["kernel"])


def check_conv(
    name: str, x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple, grids: bool = False
) -> None:
    """Raise a ShapeError naming ``name`` and the shapes unless x (B, C, *S) and w (O, C, *K)
    fit with this stride and padding; with ``grids``, x (*S) and w (*K) fit too."""
    d = len(stride)
    grid = grids and len(x_shape) == d and len(w_shape) == d
    if not grid and (len(x_shape) != d + 2 or len(w_shape) != d + 2):
        spatial, kernel = ("L", "k") if d == 1 else ("H, W", "kh, kw")
        raise ShapeError(
            f"{name}: input {x_shape} must be (B, C, {spatial}) and weight {w_shape} (out, in, "
            f"{kernel})" + (f", or both grids ({spatial}) and ({kernel})" if grids else "")
        )
    if not grid and x_shape[1] != w_shape[1]:
        raise ShapeError(
            f"{name}: input {x_shape} has {x_shape[1]} channels but weight {w_shape} "
            f"expects {w_shape[1]}"
        )
    sizes = [n + 2 * p for n, p in zip(x_shape[-d:], padding)]
    if any(k > n for k, n in zip(w_shape[-d:], sizes)):
        raise ShapeError(
            f"{name}: kernel {tuple(w_shape[-d:])} is larger than the padded input "
            f"{tuple(sizes)} (input {x_shape}, padding {padding})"
        )


def check_pool(name: str, x_shape: tuple, kernel: tuple, grids: bool = False) -> None:
    """Raise a ShapeError naming ``name`` unless the windows fit x (B, C, *S) (or, with
    ``grids``, a grid x (*S))."""
    d = len(kernel)
    if len(x_shape) != d + 2 and not (grids and len(x_shape) == d):
        raise ShapeError(
            f"{name}: input {x_shape} must have {d + 2} axes (B, C, *spatial)"
            + (f" or be a grid of {d}" if grids else "")
        )
    if any(k > n for k, n in zip(kernel, x_shape[-d:])):
        raise ShapeError(f"{name}: kernel {kernel} is larger than the input {x_shape}")


# ------------------------------------------------------------------------------ conv


def _correlate(x: np.ndarray, w: np.ndarray, stride: tuple[int, ...]) -> np.ndarray:
    """Cross-correlation of an already padded x (B, C, *S) with w (O, C, *K) -> (B, O, *out)."""
    d = w.ndim - 2
    win = _windows(x, w.shape[2:], stride)  # (B, C, *out, *K)
    axes_win = [1] + list(range(2 + d, 2 + 2 * d))
    out = np.tensordot(win, w, axes=(axes_win, [1] + list(range(2, 2 + d))))  # (B, *out, O)
    return np.moveaxis(out, -1, 1)


def conv_forward(x, w, stride, padding):
    return _correlate(_pad(x, padding), w, stride)


def _conv_grad_input(g, x_shape, w, stride, padding):
    """Full convolution of the (zero-dilated) upstream gradient with the flipped kernel."""
    d = w.ndim - 2
    kernel = w.shape[2:]
    out = g.shape[2:]
    dil_shape = g.shape[:2] + tuple((n - 1) * s + 1 for n, s in zip(out, stride))
    gd = np.zeros(dil_shape, dtype=g.dtype)
    gd[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = g
    gd = _pad(gd, tuple(k - 1 for k in kernel))
    flipped = np.flip(w, axis=tuple(range(2, 2 + d))).swapaxes(0, 1)  # (C, O, *K) rotated 180°
    covered = _correlate(gd, flipped, (1,) * d)  # gradient w.r.t. the padded input's covered part
    padded_shape = tuple(n + 2 * p for n, p in zip(x_shape[2:], padding))
    dx = np.zeros(x_shape[:2] + padded_shape, dtype=g.dtype)
    dx[(slice(None), slice(None)) + tuple(slice(0, n) for n in covered.shape[2:])] = covered
    return dx[
        (slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(padding, x_shape[2:]))
    ]


def _conv_vjp(i, g, out, xs, p):
    x, w = xs
    if i == 0:
        return _conv_grad_input(g, x.shape, w, p["stride"], p["padding"])
    win = _windows(_pad(x, p["padding"]), w.shape[2:], p["stride"])  # (B, C, *out, *K)
    d = w.ndim - 2
    axes = [0] + list(range(2, 2 + d))
    return np.tensordot(g, win, axes=(axes, axes))  # (O, C, *K)


def _sym_conv(x, w, stride, padding):
    """Loop form of the cross-correlation over SymPy object arrays (independent of the views)."""
    x = _pad(np.asarray(x, dtype=object), padding)
    w = np.asarray(w, dtype=object)
    kernel = w.shape[2:]
    outs = [out_size(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    res = np.empty((x.shape[0], w.shape[0], *outs), dtype=object)
    for b, o, *pos in np.ndindex(res.shape):
        terms = []
        for c in range(w.shape[1]):
            for off in np.ndindex(kernel):
                src = tuple(q * s + k for q, s, k in zip(pos, stride, off))
                terms.append(x[(b, c) + src] * w[(o, c) + off])
        res[(b, o, *pos)] = sp.Add(*terms)
    return res


_CONV_DOC = (
    "cross-correlation of x (B, C, *S) with w (O, C, *K) (or of a grid x (*S) with a kernel "
    "w (*K)), given stride and zero padding; ∂/∂x is the full convolution of g with the "
    "flipped kernel"
)
_CONV_TEXT = ("full_conv(dilate(g, s), rot180({1}))", "Σ_positions g ⊗ window({0})")
_CONV_LATEX = (
    "\\mathrm{{full\\_conv}}(g, \\mathrm{{rot}}_{{180}}({1}))",
    "\\textstyle\\sum_{{\\mathrm{{pos}}}} g \\otimes \\mathrm{{window}}({0})",
)

CONV1D = tensor_op(
    "conv1d",
    "conv1d",
    "{0} \\star {1}",
    _on_grids(conv_forward, _conv_axes),
    _vjp_on_grids(_conv_vjp, _conv_axes),
    _on_grids(_sym_conv, _conv_axes),
    _CONV_TEXT,
    arity=2,
    params={"stride": (1,), "padding": (0,)},
    doc="1-d " + _CONV_DOC,
    vjp_latex=_CONV_LATEX,
)
CONV2D = tensor_op(
    "conv2d",
    "conv2d",
    "{0} \\star {1}",
    _on_grids(conv_forward, _conv_axes),
    _vjp_on_grids(_conv_vjp, _conv_axes),
    _on_grids(_sym_conv, _conv_axes),
    _CONV_TEXT,
    arity=2,
    params={"stride": (1, 1), "padding": (0, 0)},
    doc="2-d " + _CONV_DOC,
    vjp_latex=_CONV_LATEX,
)

# --------------------------------------------------------------------------- pooling


def _flat_windows(x, kernel, stride):
    win = _windows(x, kernel, stride)
    return win.reshape(win.shape[: 2 + len(kernel)] + (-1,))  # (B, C, *out, N)


def _maxpool_forward(x, kernel, stride):
    return _flat_windows(x, kernel, stride).max(axis=-1)


def _maxpool_vjp(i, g, out, xs, p):
    """Route each upstream entry to its window's winner (first maximum on ties)."""
    x, kernel, stride = xs[0], p["kernel"], p["stride"]
    win = _flat_windows(x, kernel, stride)
    arg = win.argmax(axis=-1)  # (B, C, *out), flat offset inside the window
    offsets = np.unravel_index(arg, kernel)
    grid = np.indices(arg.shape, sparse=True)
    index = tuple(grid[:2]) + tuple(
        grid[2 + k] * stride[k] + offsets[k] for k in range(len(kernel))
    )
    dx = np.zeros_like(x)
    np.add.at(dx, index, g)  # overlapping windows (stride < kernel) may share a winner
    return dx


def _avgpool_forward(x, kernel, stride):
    return _flat_windows(x, kernel, stride).mean(axis=-1)


def _avgpool_vjp(i, g, out, xs, p):
    """Spread each upstream entry evenly, 1/(N·N), over its window."""
    x, kernel, stride = xs[0], p["kernel"], p["stride"]
    share = g / int(np.prod(kernel))
    dx = np.zeros_like(x)
    n_out = g.shape[2:]
    for off in np.ndindex(kernel):
        region = tuple(slice(o, o + s * n, s) for o, s, n in zip(off, stride, n_out))
        dx[(slice(None), slice(None)) + region] += share
    return dx


def _sym_pool(reduce):
    def form(x, kernel, stride):
        x = np.asarray(x, dtype=object)
        outs = [out_size(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
        res = np.empty(x.shape[:2] + tuple(outs), dtype=object)
        for b, c, *pos in np.ndindex(res.shape):
            cells = [
                x[(b, c) + tuple(q * s + k for q, s, k in zip(pos, stride, off))]
                for off in itertools.product(*map(range, kernel))
            ]
            res[(b, c, *pos)] = reduce(cells)
        return res

    return form


MAXPOOL = tensor_op(
    "maxpool",
    "maxpool",
    "\\mathrm{{maxpool}}({0})",
    _on_grids(_maxpool_forward, _pool_axes),
    _vjp_on_grids(_maxpool_vjp, _pool_axes),
    _on_grids(_sym_pool(lambda cells: sp.Max(*cells)), _pool_axes),
    ("g routed to each window's argmax",),
    vjp_latex=("g \\text{{ routed to each window's argmax}}",),
    params={"kernel": (2, 2), "stride": (2, 2)},
    doc="max over each window of x (B, C, *S) or of a grid x (*S), 1-d or 2-d by the kernel's "
    "length",
)
AVGPOOL = tensor_op(
    "avgpool",
    "avgpool",
    "\\mathrm{{avgpool}}({0})",
    _on_grids(_avgpool_forward, _pool_axes),
    _vjp_on_grids(_avgpool_vjp, _pool_axes),
    _on_grids(_sym_pool(lambda cells: sp.Add(*cells) / len(cells)), _pool_axes),
    ("g / (N·N) spread over each window",),
    vjp_latex=("g / N^{{2}} \\text{{ spread over each window}}",),
    params={"kernel": (2, 2), "stride": (2, 2)},
    doc="mean over each window of x (B, C, *S) or of a grid x (*S), 1-d or 2-d by the kernel's "
    "length",
)
