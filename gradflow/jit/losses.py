"""Loss heads of the jitted backend: the batch loss and ∂L/∂(model output) in one kernel.

Names are those of :data:`gradflow.nn.losses.LOSSES`. Two fusions with the model's last
layer: ``cross_entropy`` takes logits (softmax + CE in one pass) and ``nll`` after a
``LogSoftmax`` layer becomes the same kernel; ``bce`` after a ``Sigmoid`` layer becomes
``bce_logits`` (stable, and no division by p(1 − p)).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError, UnknownNameError
from ..kernels import loss as loss_k

SUPPORTED = (
    "mse", "mae", "rmse", "sse", "bce", "bce_logits", "cross_entropy", "nll", "hinge", "kl_div",
    "nll_fused",
)  # fmt: skip
_INT64 = np.dtype(np.int64)


def graph_loss_and_grad(fn, out: np.ndarray, y, kwargs: dict) -> tuple[float, np.ndarray]:
    """Loss and ∂L/∂output through the graph engine, for losses without a kernel.

    Only the loss head runs as a graph (a handful of nodes on the output array); the model
    itself stays compiled. Used for Gaussian NLL, margin ranking, multiclass hinge and
    cross-entropy with soft targets."""
    from ..tensor import Tensor

    pred = Tensor(out, requires_grad=True)
    loss = fn(pred, y, **kwargs)
    loss.backward()
    return float(loss.data), np.asarray(pred.grad)


class LossHead:
    """``value_and_grad(output, targets) -> float``, filling :attr:`grad` (same shape)."""

    def __init__(
        self, name: str, dtype, label_smoothing: float = 0.0, eps: float = 1e-12, fn=None,
        kwargs: dict | None = None,
    ):  # fmt: skip
        if name not in SUPPORTED and fn is None:
            from ..nn.losses import LOSSES

            if name not in LOSSES:
                raise UnknownNameError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
            fn = LOSSES[name]
        self.fn, self.kwargs = fn, dict(kwargs or {})
        self.name, self.dtype = name, np.dtype(dtype)
        self.smoothing, self.eps = float(label_smoothing), float(eps)
        self.integer_targets = name in ("cross_entropy", "nll", "nll_fused")
        self._grads: dict[tuple, np.ndarray] = {}

    def targets(self, y: np.ndarray, out_shape: tuple) -> np.ndarray:
        if self.integer_targets:
            # labels as a loader gives them (int64, one per row) skip the conversions:
            # 0.9 µs of a small MLP's 20 µs step
            ready = type(y) is np.ndarray and y.dtype is _INT64 and y.ndim == 1
            if not (ready and y.flags.c_contiguous):
                y = np.asarray(y).reshape(-1)
                if not np.issubdtype(y.dtype, np.integer):
                    y = y.astype(np.int64)
                y = np.ascontiguousarray(y, dtype=np.int64)
            if y.shape[0] != out_shape[0]:
                raise ShapeError(f"loss {self.name}: {y.shape[0]} targets for {out_shape[0]} rows")
            return y
        y = np.ascontiguousarray(y, dtype=self.dtype)
        if y.size != int(np.prod(out_shape)):
            raise ShapeError(
                f"loss {self.name}: targets {y.shape} do not match outputs {out_shape}"
            )
        return y.reshape(out_shape)

    def grad_buffer(self, shape: tuple) -> np.ndarray:
        """The (reused) ∂L/∂output array for outputs of ``shape``; also :attr:`grad`."""
        if shape not in self._grads:
            self._grads[shape] = np.zeros(shape, dtype=self.dtype)
        self.grad = self._grads[shape]
        return self.grad

    def fuses_softmax(self, y) -> bool:
        """Is this softmax cross-entropy on integer labels (the kernel a Linear stack can run
        together with its forward and backward passes)?"""
        return self.name in ("cross_entropy", "nll_fused") and np.ndim(y) == 1

    def value_and_grad(self, out: np.ndarray, y: np.ndarray) -> float:
        shape = out.shape
        g = self.grad_buffer(shape)
        n = self.name
        if self._needs_graph(n, out, y):
            value, grad = graph_loss_and_grad(self._graph_fn(), out, y, self.kwargs)
            g[...] = grad
            return value
        t = self.targets(y, shape)
        if n in ("cross_entropy", "nll_fused"):
            return float(loss_k.softmax_cross_entropy(out, t, g, self.smoothing))
        if n == "nll":
            return float(loss_k.nll(out, t, g))
        if n == "bce_logits":
            return float(loss_k.sigmoid_bce(out, t, g))
        if n == "bce":
            return float(loss_k.bce(out, t, g, self.eps))
        if n == "mse":
            return float(loss_k.squared_error(out, t, g, 1.0 / out.size))
        if n == "sse":
            return float(loss_k.squared_error(out, t, g, 1.0 / shape[0]))
        if n == "rmse":
            mse = float(loss_k.squared_error(out, t, g, 1.0 / out.size))
            root = math.sqrt(mse)
            g *= 0.5 / max(root, 1e-12)
            return root
        if n == "mae":
            return float(loss_k.absolute_error(out, t, g))
        if n == "hinge":
            return float(loss_k.hinge(out, t, g, float(self.kwargs.get("margin", 1.0))))
        return float(loss_k.kl_div(out, t, g))

    def _needs_graph(self, n: str, out: np.ndarray, y) -> bool:
        if n not in SUPPORTED:
            return True
        if n == "hinge" and out.ndim == 2 and out.shape[1] > 1:  # multiclass (Weston–Watkins)
            return True
        if n in ("cross_entropy", "nll_fused") and np.ndim(y) == 2:  # soft targets
            return True
        return False

    def _graph_fn(self):
        if self.fn is not None:
            return self.fn
        from ..nn.losses import LOSSES

        name = {"nll_fused": "cross_entropy"}.get(self.name, self.name)
        if name == "cross_entropy" and self.smoothing:
            self.kwargs.setdefault("label_smoothing", self.smoothing)
        self.fn = LOSSES[name]
        return self.fn
