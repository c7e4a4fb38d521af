"""The jitted training backend: the same model objects, trained through numba kernels.

``make_stepper(model, loss, optimizer)`` compiles the model into a plan of kernel calls
(see :mod:`gradflow.jit.plan`), moves every parameter into one flat buffer (the model's
``Parameter.data`` become views of it, so both backends train the same object) and returns
a :class:`JitStepper` with ``train_batch(xb, yb) -> float`` and ``predict(xb)``.
"""

from __future__ import annotations

from .plan import UnsupportedLayerError, compile_plan
from .stepper import JitStepper, make_stepper

__all__ = ["JitStepper", "UnsupportedLayerError", "compile_plan", "make_stepper"]
