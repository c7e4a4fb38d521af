"""Regularisation of the course outside the loss function's own code: L1/L2 penalties
(weights, not biases, by default), the max-norm constraint, input noise, label smoothing,
image augmentation and ensembling. Early stopping is a training callback
(:class:`gradflow.training.EarlyStopping`); dropout and batch norm are layers.

A :class:`Regularizer` is handed to ``make_stepper`` and both backends run its code (the jit
stepper on views into its flat buffers): the penalty gradient is added after backprop
(:meth:`Regularizer.add_penalty_to`; cheaper than tracing it), the max-norm constraint after
each optimizer step, the input noise before the forward pass. Clipping is the optimizer's
(:func:`gradflow.optim.optimizers.clip_gradients`), for both backends too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ArgumentError, ShapeError
from .optim import rules


@dataclass
class Regularizer:
    """``Regularizer(l1=0, l2=0, max_norm=None, input_noise=0, penalize_biases=False)``.

    The penalty is λ₁‖W‖₁ + λ₂‖W‖² over the weights (arrays with ≥ 2 dimensions: Linear,
    conv and recurrent matrices); biases and BatchNorm's γ, β are left alone unless
    ``penalize_biases``. ``max_norm`` = c keeps every unit's incoming weight vector at
    ‖w‖₂ ≤ c. ``input_noise`` = σ adds N(0, σ²) noise to each training batch.
    """

    l1: float = 0.0
    l2: float = 0.0
    max_norm: float | None = None
    input_noise: float = 0.0
    penalize_biases: bool = False

    def __post_init__(self) -> None:
        for name in ("l1", "l2", "input_noise"):
            if getattr(self, name) < 0:
                raise ArgumentError(f"Regularizer: {name} must be >= 0, got {getattr(self, name)}")
        if self.max_norm is not None and self.max_norm <= 0:
            raise ArgumentError(f"Regularizer: max_norm must be > 0, got {self.max_norm}")

    @property
    def active(self) -> bool:
        return bool(self.l1 or self.l2 or self.max_norm or self.input_noise)

    def penalized(self, param) -> bool:
        """Is this parameter penalised? Weights (ndim ≥ 2) always, others on request."""
        return param.data.ndim >= 2 or self.penalize_biases

    def penalty(self, params: Sequence) -> float:
        """λ₁‖W‖₁ + λ₂‖W‖² (for reporting; the gradient goes in through ``add_penalty_grads``)."""
        return float(
            sum(rules.penalty_value(p.data, self.l1, self.l2) for p in params if self.penalized(p))
        )

    def add_penalty_grads(self, params: Sequence) -> None:
        """grad += λ₁ sign(W) + 2λ₂ W for every penalised parameter that has a gradient
        (the graph stepper: gradients in ``p.grad``)."""
        if not (self.l1 or self.l2):
            return
        pairs = []
        for p in params:
            if p.grad is not None and self.penalized(p):
                if np.shape(p.grad) != p.data.shape:
                    raise ShapeError(
                        f"Regularizer: a parameter of shape {p.data.shape} has a gradient of "
                        f"shape {np.shape(p.grad)}"
                    )
                grad = np.array(p.grad, dtype=p.data.dtype, order="C")
                pairs.append((grad.reshape(-1), p))
                p.grad = grad
        self.add_penalty_to(pairs)

    def add_penalty_to(self, pairs: Sequence) -> None:
        """grad += λ₁ sign(W) + 2λ₂ W for each (flat gradient, parameter) pair whose parameter
        is :meth:`penalized` — the one penalty step of both steppers (the jit stepper passes
        views into its flat gradient buffer)."""
        if not (self.l1 or self.l2):
            return
        from .kernels.update import compile_rule  # numba loads here, not with gradflow

        add_penalty_grad = compile_rule(rules.add_penalty_grad)
        for grad, p in pairs:
            if self.penalized(p):
                flat_data = np.ascontiguousarray(p.data).reshape(-1)
                add_penalty_grad(grad, flat_data, self.l1, self.l2)

    def apply_max_norm(self, params: Sequence) -> None:
        """Project each weight's rows (units) back into the ball ‖w‖₂ ≤ c."""
        if self.max_norm is None:
            return
        from .kernels.update import compile_rule

        max_norm_rows = compile_rule(rules.max_norm_rows)
        for p in params:
            if p.data.ndim >= 2:
                if not p.data.flags.c_contiguous:  # else reshape would rescale a copy
                    p.data = np.ascontiguousarray(p.data)
                max_norm_rows(p.data.reshape(p.data.shape[0], -1), float(self.max_norm))

    def noisy(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The batch plus N(0, σ²) input noise (a copy; σ = 0 returns ``xb``)."""
        if not self.input_noise:
            return xb
        return xb + self.input_noise * rng.standard_normal(xb.shape).astype(xb.dtype)


def smooth_labels(y: np.ndarray, num_classes: int, epsilon: float) -> np.ndarray:
    """Label smoothing: one-hot targets mixed with the uniform distribution,
    (1 − ε)·onehot + ε/K. ``cross_entropy(..., label_smoothing=ε)`` does the same inside the
    loss; this gives the soft targets themselves (e.g. for ``kl_div``)."""
    if not 0 <= epsilon < 1:
        raise ArgumentError(f"smooth_labels: epsilon must be in [0, 1), got {epsilon}")
    y = np.asarray(y, dtype=np.intp)
    out = np.full((len(y), num_classes), epsilon / num_classes)
    out[np.arange(len(y)), y] += 1.0 - epsilon
    return out


@dataclass
class ImageAugmenter:
    """Random augmentation of an image batch (B, C, H, W), a new draw per image:
    horizontal ``flip`` with probability ½, integer ``shift`` of up to ±s pixels (zero fill),
    random ``crop`` (zero-pad by p, cut back to H×W — a shift that keeps the border), and
    Gaussian ``noise`` σ. Called as ``augment(xb, rng)`` by ``fit(..., augment=...)``."""

    flip: bool = False
    shift: int = 0
    crop_padding: int = 0
    noise: float = 0.0

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if xb.ndim != 4:
            raise ShapeError(f"ImageAugmenter: needs images (B, C, H, W), got shape {xb.shape}")
        out = np.array(xb, copy=True)
        if self.flip:
            flip = rng.random(len(out)) < 0.5
            out[flip] = out[flip, :, :, ::-1]
        if self.shift:
            for k in range(len(out)):
                dy, dx = rng.integers(-self.shift, self.shift + 1, 2)
                out[k] = shift_image(out[k], int(dy), int(dx))
        if self.crop_padding:
            p = self.crop_padding
            padded = np.pad(out, ((0, 0), (0, 0), (p, p), (p, p)))
            h, w = out.shape[2:]
            for k in range(len(out)):
                top, left = rng.integers(0, 2 * p + 1, 2)
                out[k] = padded[k, :, top : top + h, left : left + w]
        if self.noise:
            out += self.noise * rng.standard_normal(out.shape)
        return out


def shift_image(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``img`` (C, H, W) moved down by dy and right by dx pixels; vacated pixels are 0."""
    out = np.zeros_like(img)
    h, w = img.shape[-2:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., yd, xd] = img[..., ys, xs]
    return out


class Ensemble:
    """Average the predictions of several trained models (course algorithm 19).

    ``predict_fn(model, X)`` gives one model's output (probabilities for classifiers, values
    for regression); the ensemble returns their mean.
    """

    def __init__(self, models: Sequence, predict_fn: Callable):
        if not models:
            raise ArgumentError("Ensemble needs at least one model")
        self.models, self.predict_fn = list(models), predict_fn

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.mean([self.predict_fn(m, X) for m in self.models], axis=0)


def bootstrap_indices(n: int, rng: np.random.Generator) -> np.ndarray:
    """Bagging: n indices drawn with replacement."""
    return rng.integers(0, n, n)
