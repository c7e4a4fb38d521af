"""The per-batch work of training behind a two-method protocol, so backends plug in.

``fit`` only ever calls ``stepper.train_batch(xb, yb)`` and ``stepper.predict(xb)`` (and,
when a loss comes out NaN/Inf, ``stepper.diagnose(xb, yb)`` to name where). The graph
stepper below runs the model on :class:`gradflow.Tensor` (traceable, renderable); the jit
backend (``gradflow.jit``) runs the same model object through numba kernels. Both get the
same optimizer object (its ``rule``, ``hparams``, ``state``, ``clip_value``, ``clip_norm``)
and the same :class:`~gradflow.regularization.Regularizer` (``l1``, ``l2``, ``max_norm``,
``penalize_biases``). Input noise and augmentation happen in ``fit``, before the stepper.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..errors import AnomalyError, GradflowError, UnknownNameError
from ..graph import detect_anomaly, no_grad
from ..nan_check import non_finite_before_the_step
from ..optim.optimizers import Optimizer
from ..regularization import Regularizer
from ..tensor import Tensor


class BackendError(GradflowError, RuntimeError):
    """A training backend that is unknown or not available in this installation."""


class Stepper(Protocol):
    """What a backend provides to ``fit``."""

    def train_batch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """Forward, loss, backward and one optimizer step; returns the batch loss."""
        ...

    def predict(self, xb: np.ndarray) -> np.ndarray:
        """The model's output for ``xb`` in eval mode (no gradients)."""
        ...

    def diagnose(self, xb: np.ndarray, yb: np.ndarray) -> str:
        """Where NaN/Inf first appears for this batch (a parameter, a layer or op, the loss)."""
        ...


def resolve_loss(loss: str | Callable, **loss_kwargs: Any) -> Callable:
    """A loss function from its name in ``gradflow.nn.losses.LOSSES`` (or a callable as is)."""
    if callable(loss):
        fn = loss
    else:
        from ..nn.losses import LOSSES

        if loss not in LOSSES:
            raise UnknownNameError(f"unknown loss {loss!r}; known: {', '.join(sorted(LOSSES))}")
        fn = LOSSES[loss]
    return functools.partial(fn, **loss_kwargs) if loss_kwargs else fn


def _param_dtype(model) -> np.dtype:
    params = model.parameters()
    return params[0].data.dtype if params else np.dtype(np.float64)


class GraphStepper:
    """Train on the graph engine: every batch builds a graph, backprops, steps the optimizer."""

    def __init__(
        self,
        model,
        loss: str | Callable,
        optimizer: Optimizer,
        regularizer: Regularizer | None = None,
        loss_kwargs: dict | None = None,
    ):
        self.model = model
        self.loss_fn = resolve_loss(loss, **(loss_kwargs or {}))
        self.optimizer = optimizer
        self.regularizer = regularizer or Regularizer()
        self.params = model.parameters()
        self.dtype = _param_dtype(model)

    def train_batch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        self.model.train()
        self.optimizer.zero_grad()
        out = self.model(Tensor(np.asarray(xb, dtype=self.dtype)))
        loss = self.loss_fn(out, yb)
        loss.backward()
        self.regularizer.add_penalty_grads(self.params)
        self.optimizer.step()
        self.regularizer.apply_max_norm(self.params)
        return float(loss.item())

    def predict(self, xb: np.ndarray) -> np.ndarray:
        with no_grad(), self.model.evaluating():
            return self.model(Tensor(np.asarray(xb, dtype=self.dtype))).data

    def diagnose(self, xb: np.ndarray, yb: np.ndarray) -> str:
        """Where NaN/Inf first appears for this batch: a parameter already holding it, or the
        first op whose forward or backward produces it (the batch rerun under
        :func:`~gradflow.graph.detect_anomaly` on a copy of the model)."""
        x = np.asarray(xb, dtype=self.dtype)
        found = non_finite_before_the_step(self.model, x)
        if found:
            return found
        model = copy.deepcopy(self.model)
        try:
            with detect_anomaly():
                self.loss_fn(model(Tensor(x)), yb).backward()
        except AnomalyError as e:
            return str(e)
        return "no op produced NaN/Inf when the batch was run again"


BACKENDS = ("graph", "jit")


def make_stepper(
    model,
    loss: str | Callable,
    optimizer: Optimizer,
    backend: str = "graph",
    regularizer: Regularizer | None = None,
    loss_kwargs: dict | None = None,
) -> Stepper:
    """The stepper of ``backend``: "graph" here, "jit" from ``gradflow.jit.make_stepper``."""
    if backend == "graph":
        return GraphStepper(model, loss, optimizer, regularizer, loss_kwargs)
    if backend == "jit":
        try:
            import gradflow.jit as jit
        except ImportError as e:
            raise BackendError(
                f"backend 'jit' needs the numba backend gradflow.jit, which cannot be imported "
                f"here ({e}); use backend='graph'"
            ) from None
        kwargs: dict[str, Any] = {"regularizer": regularizer or Regularizer()}
        if loss_kwargs:
            kwargs["loss_kwargs"] = loss_kwargs
        return jit.make_stepper(model, loss, optimizer, **kwargs)
    raise BackendError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
