"""The start of every NaN/Inf diagnosis, shared by the graph and jit steppers: what already
holds NaN/Inf before a step runs."""

from __future__ import annotations

import numpy as np


def non_finite_before_the_step(model, x: np.ndarray) -> str:
    """What already holds NaN/Inf before a step runs — parameters of ``model`` (named) or the
    input batch ``x`` — as the start of a diagnosis; "" when both are finite."""
    bad = [n for n, p in model.named_parameters() if not np.all(np.isfinite(p.data))]
    if bad:
        return f"parameter(s) {', '.join(bad)} already hold NaN/Inf (the previous update)"
    if not np.all(np.isfinite(x)):
        return "the input batch holds NaN/Inf"
    return ""
