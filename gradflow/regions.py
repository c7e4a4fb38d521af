"""Deep vs shallow: the linear regions of a 1-input ReLU network, counted exactly.

A ReLU network computes a piecewise linear function. With one input x, every hidden unit's
pre-activation is linear between the kinks made by the layers before it, so its own kink is
the exact root of a linear function there. :func:`breakpoints` adds the roots layer by layer;
each interval between consecutive breakpoints then has one activation pattern, and the slope
of the network on it is the product W_out·diag(mask_K)·W_K ⋯ diag(mask_1)·W_1 (no finite
differences). Neighbouring intervals with the same slope are one region (a unit whose kink
changes nothing downstream makes no region), so :func:`count_linear_regions` counts pieces
of the function, not kinks of units.

The course's claims (seed 001, after Prince, *Understanding Deep Learning* §4.5):

* a shallow net with D hidden units has 3D + 1 parameters and at most D + 1 regions
  (each unit adds at most one kink): :func:`shallow_net` reaches D + 1;
* a deep net with K layers of D units has 3D + 1 + (K − 1)·D(D + 1) parameters and can make
  up to (D + 1)^K regions, because each layer folds the input space and the next layer's
  kinks are repeated in every fold. :func:`sawtooth_net` folds [0, 1] D times per layer
  (a zig-zag g with D teeth, composed K times) and reaches D^K regions on [0, 1]: exponential
  in K for a parameter count that only grows linearly in K. Its first unit is always on (it
  gives the zig-zag its first slope), so it folds into D pieces, not D + 1.
  :func:`folding_net` reaches the bound (D + 1)^K for D ≥ 3: one or two units face left,
  ReLU(c − x), so the first piece has a slope too, and unequal piece widths make every one
  of the D + 1 pieces map onto all of [0, 1]. With D = 1 every layer is monotone (at most
  K + 1 regions), and with D = 2 no such fold exists (of the three pieces of a combination
  of one left- and one right-facing unit, or two facing the same way, one is flat or two
  neighbours rise together); :func:`deep_net` then uses the sawtooth, which for D = 2 is not
  the most possible (random nets with D = K = 2 reach 7 of the 9 regions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ArgumentError, ShapeError
from .nn.activation import ReLU
from .nn.linear import Linear
from .nn.module import Module, Sequential


def relu_layers(model: Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) of each Linear layer of ``Sequential(Linear, ReLU, Linear, ReLU, …, Linear)``
    with one input and one output; anything else is a ``ShapeError`` naming the layer."""
    layers = list(model) if isinstance(model, Sequential) else [model]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for k, layer in enumerate(layers):
        want_linear = k % 2 == 0
        if want_linear and isinstance(layer, Linear):
            b = layer.bias.data if layer.bias is not None else np.zeros(layer.out_features)
            out.append((np.asarray(layer.weight.data, float), np.asarray(b, float)))
        elif not want_linear and isinstance(layer, ReLU):
            continue
        else:
            want = "Linear" if want_linear else "ReLU"
            raise ShapeError(
                f"linear regions: layer {k} is {type(layer).__name__}, expected {want} "
                "(the model must be Linear, ReLU, Linear, …, Linear)"
            )
    if len(layers) % 2 == 0:
        raise ShapeError("linear regions: the model must end with a Linear layer")
    if out[0][0].shape[1] != 1 or out[-1][0].shape[0] != 1:
        raise ShapeError(
            f"linear regions: need one input and one output, the model maps "
            f"{out[0][0].shape[1]} → {out[-1][0].shape[0]}"
        )
    return out


def _pre_activations(layers, x: np.ndarray) -> list[np.ndarray]:
    """Pre-activations of every hidden layer at the points x, each (len(x), units)."""
    h = x.reshape(-1, 1)
    pre = []
    for W, b in layers[:-1]:
        a = h @ W.T + b
        pre.append(a)
        h = np.maximum(a, 0.0)
    return pre


def _slopes(layers, mids: np.ndarray) -> np.ndarray:
    """dy/dx on each interval, from the activation pattern at its midpoint."""
    pre = _pre_activations(layers, mids)
    out = np.empty(len(mids))
    for i in range(len(mids)):
        g = layers[0][0][:, 0]  # d(first pre-activation)/dx
        for k, (W, _) in enumerate(layers[1:]):
            g = W @ (g * (pre[k][i] > 0))
        out[i] = g[0]
    return out


def breakpoints(model: Module, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """The x in (lo, hi) where the network's slope changes, sorted."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ArgumentError(f"linear regions: the interval needs lo < hi, got [{lo}, {hi}]")
    layers = relu_layers(model)
    pts = np.array([lo, hi])
    tol = 1e-12 * max(1.0, hi - lo)
    for k in range(len(layers) - 1):
        a = _pre_activations(layers, pts)[k]
        left, right = a[:-1], a[1:]
        cross = left * right < 0  # a root strictly inside the interval (exact: a is linear)
        i, _ = np.nonzero(cross)
        t = left[cross] / (left[cross] - right[cross])
        roots = pts[i] + t * (pts[i + 1] - pts[i])
        pts = np.unique(np.concatenate([pts, roots]))
        pts = pts[np.concatenate([[True], np.diff(pts) > tol])]  # one kink met twice
    s = _slopes(layers, (pts[:-1] + pts[1:]) / 2)
    scale = max(1.0, float(np.abs(s).max())) if s.size else 1.0
    bends = np.abs(np.diff(s)) > 1e-9 * scale
    return pts[1:-1][bends]


def count_linear_regions(model: Module, lo: float = -1.0, hi: float = 1.0) -> int:
    """The number of linear pieces of a 1-input ReLU network on [lo, hi] (breakpoints + 1)."""
    return len(breakpoints(model, lo, hi)) + 1


def _set(layer: Linear, W, b) -> None:
    layer.weight.data[...] = W
    layer.bias.data[...] = b


def shallow_net(D: int, lo: float = 0.0, hi: float = 1.0) -> Sequential:
    """One hidden layer of D ReLUs whose kinks sit at D distinct points of (lo, hi) and whose
    output weights alternate in sign: D + 1 regions there, 3D + 1 parameters."""
    D = _whole("D", D)
    net = Sequential(Linear(1, D), ReLU(), Linear(D, 1))
    c = lo + (hi - lo) * (np.arange(D) + 0.5) / D
    _set(net[0], np.ones((D, 1)), -c)
    _set(net[2], ((-1.0) ** np.arange(D) * (1 + np.arange(D) % 3)).reshape(1, D), [0.0])
    return net


def sawtooth_net(D: int, K: int) -> Sequential:
    """K hidden layers of D ReLUs computing g∘g∘⋯∘g on [0, 1], where g(x) = Σᵢ vᵢ ReLU(x − i/D)
    is a zig-zag with D teeth mapping each 1/D-wide piece onto all of [0, 1] (slopes ±D). Each
    layer folds [0, 1] D times, so the net has D^K regions on [0, 1] and
    3D + 1 + (K − 1)·D(D + 1) parameters."""
    D, K = _whole("D", D), _whole("K", K)
    v = np.array([float(D)] + [2.0 * D * (-1) ** i for i in range(1, D)])
    c = np.arange(D) / D
    layers: list[Module] = [Linear(1, D), ReLU()]
    _set(layers[0], np.ones((D, 1)), -c)
    for _ in range(K - 1):
        layer = Linear(D, D)
        _set(layer, np.tile(v, (D, 1)), -c)  # every unit sees g(x), shifted by its kink
        layers += [layer, ReLU()]
    out = Linear(D, 1)
    _set(out, v.reshape(1, D), [0.0])
    layers.append(out)
    return Sequential(*layers)


def folding_net(D: int, K: int) -> Sequential:
    """K hidden layers of D ≥ 3 ReLUs computing f∘f∘⋯∘f on [0, 1], where f is a zig-zag of
    D + 1 pieces, each mapping onto all of [0, 1]: (D + 1)^K regions, the course's bound.

    f has kinks c₁ < … < c_D and slopes σⱼ = (−1)ʲ/wⱼ on the piece of width wⱼ (so it goes
    0 → 1 → 0 → …). Unit i is ReLU(oᵢ(x − cᵢ)) with oᵢ = ±1 and f = a + Σᵢ vᵢ·unitᵢ with
    vᵢ = σᵢ − σᵢ₋₁, the slope change at cᵢ. Right of every kink only the right-facing units
    are on, left of c₁ only the left-facing ones (o = −1): the first slope is σ₀ = −Σ_left vᵢ,
    which the widths are chosen to satisfy — D odd: the last unit faces left and
    1/w₀ = 1/w_{D−1} + 1/w_D; D even: the last two face left and 1/w_{D−2} = 1/w₀ + 1/w_D
    (widths in the ratio 1 : … : 1 : 2 : 2, or 2 : 1 : … : 1 : 2). Every later layer feeds
    f(x) (the previous layer's units, weighted by v, plus a) to the same D units, so each of
    the D + 1 pieces repeats the whole zig-zag below it. 3D + 1 + (K − 1)·D(D + 1)
    parameters, like :func:`sawtooth_net`."""
    D, K = _whole("D", D), _whole("K", K)
    if D < 3:
        raise ArgumentError(
            f"linear regions: folding_net needs D >= 3 units per layer, got D = {D}: with fewer, "
            "no layer folds [0, 1] into D + 1 full pieces (use sawtooth_net, D^K regions)"
        )
    units = np.ones(D + 1)
    if D % 2:
        units[[D - 1, D]] = 2.0
        left = [D]  # kinks (1-based) whose unit faces left
    else:
        units[[0, D]] = 2.0
        left = [D - 1, D]
    w = units / units.sum()
    c = np.cumsum(w)[:-1]
    slopes = (-1.0) ** np.arange(D + 1) / w
    v = np.diff(slopes)
    o = np.ones(D)
    o[[i - 1 for i in left]] = -1.0
    a = -float(sum(v[i - 1] * c[i - 1] for i in left))  # f(0) = 0
    layers: list[Module] = [Linear(1, D), ReLU()]
    _set(layers[0], o.reshape(D, 1), -o * c)
    for _ in range(K - 1):
        layer = Linear(D, D)
        _set(layer, np.outer(o, v), o * (a - c))  # unit i sees oᵢ(f(x) − cᵢ)
        layers += [layer, ReLU()]
    out = Linear(D, 1)
    _set(out, v.reshape(1, D), [a])
    layers.append(out)
    return Sequential(*layers)


def deep_net(D: int, K: int) -> Sequential:
    """The deep net with the most regions gradflow builds: :func:`folding_net` ((D + 1)^K
    regions) for D ≥ 3, :func:`sawtooth_net` (D^K) for D = 1, 2."""
    return folding_net(D, K) if _whole("D", D) >= 3 else sawtooth_net(D, K)


def _whole(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ArgumentError(f"linear regions: {name} must be a whole number >= 1, got {n!r}")
    return int(n)


def shallow_parameters(D: int) -> int:
    """3D + 1: D input weights, D biases, D output weights and one output bias."""
    return 3 * D + 1


def deep_parameters(D: int, K: int) -> int:
    """3D + 1 + (K − 1)·D(D + 1): the shallow count plus K − 1 D×D layers with biases."""
    return 3 * D + 1 + (K - 1) * D * (D + 1)


@dataclass(frozen=True)
class RegionRow:
    """One line of :func:`region_table`."""

    D: int
    K: int
    parameters: int  # counted by model.num_parameters()
    parameter_formula: int  # 3D + 1 (K = 1) or 3D + 1 + (K − 1)D(D + 1)
    regions: int  # counted on [0, 1]
    bound: int  # D + 1 (K = 1) or (D + 1)^K
    net: str = ""  # the construction: "shallow", "folding" or "sawtooth"


def region_table(Ds=(2, 3, 4), Ks=(1, 2, 3)) -> list[RegionRow]:
    """Counted parameters and regions on [0, 1] for :func:`shallow_net` (K = 1) and
    :func:`deep_net` (K > 1: the folding net for D ≥ 3, the sawtooth below), beside the
    course's formulas."""
    rows = []
    for D in Ds:
        for K in Ks:
            kind = "shallow" if K == 1 else "folding" if D >= 3 else "sawtooth"
            net = shallow_net(D) if K == 1 else deep_net(D, K)
            rows.append(
                RegionRow(
                    D, K, net.num_parameters(), deep_parameters(D, K),
                    count_linear_regions(net, 0.0, 1.0), (D + 1) ** K, kind,
                )
            )  # fmt: skip
    return rows


def format_region_table(rows: list[RegionRow]) -> str:
    """The table as text: D, K, parameters (counted and by formula), regions and the bound."""
    head = ("D", "K", "net", "parameters", "3D+1+(K−1)D(D+1)", "regions on [0, 1]",
            "bound (D+1)^K")  # fmt: skip
    body = [(r.D, r.K, r.net, r.parameters, r.parameter_formula, r.regions, r.bound) for r in rows]
    cells = [tuple(str(c) for c in row) for row in [head, *body]]
    widths = [max(len(row[k]) for row in cells) for k in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells)
