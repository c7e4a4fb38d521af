"""``gradcheck_module``: finite-difference check of a layer's gradients, inputs and parameters.

A layer's backward is never written by hand in gradflow (it is the op table's VJPs, chained),
but a student building a new layer from ops still wants proof that the whole thing is right.
This wraps :func:`gradflow.gradcheck`: it swaps each parameter for a float64 copy the check
can perturb, reduces the output(s) to a scalar with fixed random weights (so every output
element matters, with a different weight each) and puts the parameters back afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..gradcheck import GradcheckReport, gradcheck
from ..tensor import Tensor
from .module import Module


def _owner(module: Module, dotted: str) -> tuple[Any, str]:
    obj: Any = module
    *path, attr = dotted.split(".")
    for part in path:
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj, attr


def _tensors(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def gradcheck_module(module: Module, *inputs: Tensor, seed: int = 0, **kw: Any) -> GradcheckReport:
    """gradcheck ``module(*inputs)`` w.r.t. every input Tensor and every parameter.

    Outputs that are tuples (RNN's (all states, last state)) are all included. ``kw`` goes to
    :func:`gradflow.gradcheck` (``eps``, ``atol``, ``rtol``).
    """
    named = module.named_parameters()
    owners = [_owner(module, n) for n, _ in named]
    originals = [p for _, p in named]
    g = np.random.default_rng(seed)
    weights: dict[int, np.ndarray] = {}
    n_in = len(inputs)

    def fn(*xs):
        for (obj, attr), p in zip(owners, xs[n_in:]):
            setattr(obj, attr, p)
        total = None
        for k, t in enumerate(_tensors(module(*xs[:n_in]))):
            if k not in weights:
                weights[k] = g.normal(size=t.shape)
            term = (t * Tensor(weights[k])).sum()
            total = term if total is None else total + term
        return total

    try:
        return gradcheck(fn, *inputs, *originals, **kw)
    finally:
        for (obj, attr), p in zip(owners, originals):
            setattr(obj, attr, p)
