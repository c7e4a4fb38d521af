"""``gradcheck``: the engine's gradients against central finite differences in float64.

A NaN or an infinity on either side is a failure, never a pass: ``|nan − 0| > tol`` is
False, so a plain tolerance test would wave a NaN gradient through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ArgumentError, ArgumentTypeError
from .graph import Node, no_grad
from .tensor import Tensor
from .value import Value


@dataclass
class GradcheckReport:
    """Worst mismatch between analytic and numeric gradients; truthy when within tolerance."""

    ok: bool
    max_abs_error: float
    worst_input: int | None
    worst_index: tuple | None
    analytic: float
    numeric: float
    nonfinite: str = ""  # "engine", "finite difference" or "engine and finite difference"

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "gradcheck passed" if self.ok else "gradcheck FAILED"
        if self.worst_input is None:
            return f"{verdict}: no inputs require grad"
        where = f"input {self.worst_input} index {self.worst_index}"
        numbers = f"engine {self.analytic:.10g} vs finite difference {self.numeric:.10g}"
        if self.nonfinite:
            verb = "are" if " and " in self.nonfinite else "is"
            return (
                f"{verdict}: at {where} {numbers}: the {self.nonfinite} {verb} not finite "
                "(a NaN or Inf cannot be checked)"
            )
        return f"{verdict}: worst at {where}: {numbers} (abs error {self.max_abs_error:.3g})"


def _nonfinite(analytic: float, numeric: float) -> str:
    """Which side of the comparison is NaN or Inf ("" when both are finite)."""
    sides = [
        name
        for name, v in (("engine", analytic), ("finite difference", numeric))
        if not np.isfinite(v)
    ]
    return " and ".join(sides)


def _copy64(x: Any) -> Node:
    if isinstance(x, Value):
        return Value(x.data, label=x.label)
    if isinstance(x, Tensor):
        return Tensor(x.data.astype(np.float64), requires_grad=True, label=x.label)
    raise ArgumentTypeError(f"gradcheck inputs must be Value or Tensor, got {type(x).__name__}")


def _scalar(out: Any) -> float:
    if not isinstance(out, Node) or np.size(out.data) != 1:
        raise ArgumentError("gradcheck: fn must return a scalar Value or a one-element Tensor")
    return float(np.asarray(out.data).reshape(()))


def gradcheck(
    fn: Callable[..., Node], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4
) -> GradcheckReport:
    """Compare ``fn``'s engine gradients with (f(x+ε) − f(x−ε)) / 2ε for every input element."""
    xs = [_copy64(x) for x in inputs]
    out = fn(*xs)
    _scalar(out)
    out.backward()
    worst = (0.0, None, None, 0.0, 0.0)
    bad = ""  # the first non-finite element is reported, whatever the errors elsewhere
    ok = True
    for k, x in enumerate(xs):
        analytic = np.asarray(x.grad if x.grad is not None else np.zeros_like(x.data), float)
        for idx in np.ndindex(np.shape(x.data)):
            num = _numeric(fn, xs, x, idx, eps)
            a = float(analytic[idx])
            err = abs(a - num)
            side = _nonfinite(a, num)
            if side:
                ok = False
                if not bad:
                    bad, worst = side, (err, k, idx, a, num)
                continue
            if not err <= atol + rtol * abs(num):
                ok = False
            if not bad and (worst[1] is None or err > worst[0]):
                worst = (err, k, idx, a, num)
    return GradcheckReport(ok, worst[0], worst[1], worst[2], worst[3], worst[4], bad)


def _numeric(fn, xs, x, idx, eps) -> float:
    def at(delta: float) -> float:
        if isinstance(x, Value):
            old = x.data
            try:  # nudged inside the try: an interrupt right after still puts it back
                x.data = old + delta
                with no_grad():
                    return _scalar(fn(*xs))
            finally:
                x.data = old
        old = x.data[idx]
        try:
            x.data[idx] = old + delta
            with no_grad():
                return _scalar(fn(*xs))
        finally:
            x.data[idx] = old

    return (at(eps) - at(-eps)) / (2 * eps)
