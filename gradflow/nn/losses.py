"""Losses as functions ``(pred: Tensor, target) -> scalar Tensor``, averaged over the batch.

Every loss is composed from table ops, so it traces, renders and steps like any other part of
the graph. The numerically delicate ones use stable forms rather than the textbook formula:

* cross-entropy on logits uses log_softmax (x − logsumexp x), never log(softmax(x)), which
  underflows to log 0 for a confident wrong prediction;
* BCE on logits uses softplus(z) − t·z (= −t log σ(z) − (1 − t) log(1 − σ(z))), and the
  table's softplus is itself computed stably, so |z| = 1000 is fine;
* Gaussian NLL takes a log-variance (or clamps a given variance), so var → 0 cannot blow up.

``target`` may be a numpy array, a list or a Tensor (its gradient is not needed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ArgumentError, DataError, ShapeError, UnknownNameError
from ..tensor import Tensor

_PROB_EPS = 1e-12


def _t(target: Any, like: Tensor) -> Tensor:
    if isinstance(target, Tensor):
        return target
    return Tensor(np.asarray(target, dtype=like.dtype))


def _same_shape(name: str, pred: Tensor, target: Tensor) -> Tensor:
    if pred.shape != target.shape:
        # (B,) against (B, 1): a common, harmless mismatch (one output column)
        if pred.shape == target.shape + (1,) or target.shape == pred.shape + (1,):
            return target.reshape(pred.shape)
        raise ShapeError(f"{name}: prediction {pred.shape} and target {target.shape} differ")
    return target


def _per_example_mean(x: Tensor) -> Tensor:
    """Sum over everything but the batch axis, then the batch mean."""
    if x.ndim <= 1:
        return x.mean()
    return x.sum(axis=tuple(range(1, x.ndim))).mean()


def _classes(name: str, logits: Tensor, target: Any) -> np.ndarray:
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ShapeError(
            f"{name}: needs scores (B, C) and integer classes (B,), got {logits.shape} and "
            f"{y.shape}"
        )
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        raise DataError(f"{name}: class targets must be integers")
    y = y.astype(np.intp)
    if y.size and (y.min() < 0 or y.max() >= logits.shape[1]):
        raise DataError(f"{name}: class targets must lie in [0, {logits.shape[1]})")
    return y


def one_hot(y: np.ndarray, num_classes: int, dtype: Any = np.float64) -> np.ndarray:
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1.0
    return out


# ------------------------------------------------------------------------- regression


def mse(pred: Tensor, target: Any) -> Tensor:
    """Mean squared error, mean over every element."""
    d = pred - _same_shape("mse", pred, _t(target, pred))
    return (d * d).mean()


def mae(pred: Tensor, target: Any) -> Tensor:
    """Mean absolute error (gradient sign(d), 0 at d = 0)."""
    return abs(pred - _same_shape("mae", pred, _t(target, pred))).mean()


def rmse(pred: Tensor, target: Any) -> Tensor:
    """√MSE, in the target's own units."""
    return mse(pred, target).sqrt()


def sse(pred: Tensor, target: Any) -> Tensor:
    """Sum of squared errors per example (the course's digit cost Σ (aᵢ − yᵢ)²), batch mean."""
    d = pred - _same_shape("sse", pred, _t(target, pred))
    return _per_example_mean(d * d)


def gaussian_nll(
    pred: Tensor, target: Any, var: Tensor | None = None, full: bool = False, eps: float = 1e-6
) -> Tensor:
    """Negative log-likelihood of a Gaussian, heteroskedastic: ½(log σ² + (y − μ)²/σ²).

    Either ``var`` (a Tensor of positive variances, clamped below at ``eps``) is given with
    ``pred`` = μ, or ``pred`` holds [μ, log σ²] split in halves along its last axis — the
    usual way a network predicts its own uncertainty. ``full`` adds ½ log 2π.
    Per-example sums over output dimensions, batch mean.
    """
    if var is None:
        if pred.shape[-1] % 2:
            raise ShapeError(
                f"gaussian_nll: without var, pred {pred.shape} must end in 2·D values [μ, log σ²]"
            )
        d = pred.shape[-1] // 2
        mu, log_var = pred[..., :d], pred[..., d:]
        inv_var = (-log_var).exp()
    else:
        mu = pred
        var = var if isinstance(var, Tensor) else Tensor(np.asarray(var, dtype=pred.dtype))
        v = var.maximum(eps)
        log_var, inv_var = v.log(), 1.0 / v
    y = _same_shape("gaussian_nll", mu, _t(target, pred))
    err = y - mu
    nll = 0.5 * (log_var + err * err * inv_var)
    if full:
        nll = nll + 0.5 * math.log(2 * math.pi)
    return _per_example_mean(nll)


# ---------------------------------------------------------------------- classification


def bce(pred: Tensor, target: Any) -> Tensor:
    """Binary cross-entropy on probabilities p ∈ (0, 1): −[t log p + (1 − t) log(1 − p)].
    p is clipped to [1e-12, 1 − 1e-12] so a saturated sigmoid gives a large finite loss;
    prefer :func:`bce_logits`, which needs no clipping."""
    t = _same_shape("bce", pred, _t(target, pred))
    p = pred.clip(lo=_PROB_EPS, hi=1.0 - _PROB_EPS)
    return -(t * p.log() + (1.0 - t) * (1.0 - p).log()).mean()


def bce_logits(pred: Tensor, target: Any) -> Tensor:
    """Binary cross-entropy on logits z, stable: softplus(z) − t·z; gradient σ(z) − t."""
    t = _same_shape("bce_logits", pred, _t(target, pred))
    return (pred.softplus() - t * pred).mean()


def cross_entropy(logits: Tensor, target: Any, label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy on logits (B, C): −Σ_c q_c log softmax(z)_c, batch mean.

    ``target`` holds integer classes (B,) — then q is one-hot, or with ``label_smoothing`` ε,
    q = (1 − ε)·one-hot + ε/C — or a (B, C) array of class probabilities (soft targets).
    Computed with log_softmax = z − logsumexp(z), so extreme logits stay finite.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ArgumentError(
            f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}"
        )
    logp = logits.log_softmax(axis=-1)
    tgt = np.asarray(target.data if isinstance(target, Tensor) else target)
    if tgt.ndim == 2 and logits.ndim == 2:
        if tgt.shape != logits.shape:
            raise ShapeError(f"cross_entropy: logits {logits.shape} and soft targets {tgt.shape}")
        q = tgt.astype(logits.dtype)
    else:
        y = _classes("cross_entropy", logits, tgt)
        if label_smoothing == 0.0:
            return -logp[np.arange(len(y)), y].mean()
        q = one_hot(y, logits.shape[1], logits.dtype)
    if label_smoothing:
        q = (1.0 - label_smoothing) * q + label_smoothing / logits.shape[1]
    return -(logp * Tensor(q)).sum(axis=1).mean()


def nll(log_probs: Tensor, target: Any) -> Tensor:
    """Negative log-likelihood: −log p_y from log-probabilities (B, C) (a LogSoftmax output)."""
    y = _classes("nll", log_probs, target)
    return -log_probs[np.arange(len(y)), y].mean()


def kl_div(log_pred: Tensor, target: Any) -> Tensor:
    """KL(target ‖ pred) = Σ t (log t − log p), with log p given (as PyTorch's ``kl_div``) and
    0·log 0 = 0; summed over classes, batch mean."""
    t = _same_shape("kl_div", log_pred, _t(target, log_pred))
    td = t.data
    log_t = np.where(td > 0, np.log(np.where(td > 0, td, 1.0)), 0.0)
    return _per_example_mean(t * (Tensor(log_t) - log_pred))


def margin_ranking(pred: Any, target: Any, margin: float = 0.0) -> Tensor:
    """max(0, −y·(s₁ − s₂) + margin): y = +1 when s₁ should rank higher, −1 otherwise.

    ``pred`` is a pair (s₁, s₂) of Tensors (B,), or one Tensor (B, 2) with them as columns.
    """
    if isinstance(pred, (tuple, list)):
        s1, s2 = pred
    else:
        if pred.ndim != 2 or pred.shape[1] != 2:
            raise ShapeError(f"margin_ranking: pred {pred.shape} must be (B, 2) or a pair")
        s1, s2 = pred[:, 0], pred[:, 1]
    y = _same_shape("margin_ranking", s1, _t(target, s1))
    return (margin - y * (s1 - s2)).relu().mean()


def hinge(pred: Tensor, target: Any, margin: float = 1.0) -> Tensor:
    """Max-margin (SVM) loss.

    Binary: scores (B,) or (B, 1) and labels ±1 → mean max(0, margin − y·s).
    Multiclass: scores (B, C) and integer classes → mean over the batch of
    Σ_{j ≠ y} max(0, s_j − s_y + margin) (Weston–Watkins, the CS231n SVM loss).
    """
    if pred.ndim == 2 and pred.shape[1] > 1:
        y = _classes("hinge", pred, target)
        correct = pred[np.arange(len(y)), y].reshape(-1, 1)
        viol = (pred - correct + margin).relu()
        others = Tensor(1.0 - one_hot(y, pred.shape[1], pred.dtype))
        return (viol * others).sum(axis=1).mean()
    t = _same_shape("hinge", pred, _t(target, pred))
    if not np.all(np.isin(t.data, (-1.0, 1.0))):
        raise DataError("hinge: binary labels must be −1 or +1")
    return (margin - t * pred).relu().mean()


# ------------------------------------------------------------- perceptron and ADALINE


def _binary_labels(name: str, pred: Tensor, target: Any) -> np.ndarray:
    """Class labels 0/1 shaped like ``pred`` (a (B,) or (B, 1) column of net inputs z)."""
    t = _same_shape(name, pred, _t(target, pred)).data
    if not np.all(np.isin(t, (0.0, 1.0))):
        raise DataError(f"{name}: targets must be the class labels 0 or 1")
    return t


def perceptron(pred: Tensor, target: Any) -> Tensor:
    """Perceptron criterion on the net input z = w·x + b and labels t ∈ {0, 1}:
    mean of (ŷ − t)·z with ŷ = step(z) (1 where z > 0, else 0) held constant.

    It is 0 for a correctly classified example and |z| for a wrong one, and its gradient is
    (ŷ − t)·x, so SGD with batch size 1 and lr η is Rosenblatt's rule w ← w + η(t − ŷ)x.
    """
    t = _binary_labels("perceptron", pred, target)
    yhat = (pred.data > 0).astype(pred.dtype)
    return (pred * Tensor(yhat - t)).mean()


def adaline(pred: Tensor, target: Any) -> Tensor:
    """ADALINE's LMS (Widrow–Hoff) loss on the linear output z and labels t ∈ {0, 1}:
    mean of ½(d − z)² with the bipolar target d = 2t − 1 (±1).

    Its gradient is −(d − z)·x, so SGD with batch size 1 is the delta rule
    w ← w + η(d − z)x; the class is still read as step(z) (1 where z > 0).
    """
    d = 2.0 * _binary_labels("adaline", pred, target) - 1.0
    e = Tensor(d) - pred
    return (e * e).mean() * 0.5


LOSSES: dict[str, Callable[..., Tensor]] = {
    "mse": mse,
    "mae": mae,
    "rmse": rmse,
    "sse": sse,
    "bce": bce,
    "bce_logits": bce_logits,
    "cross_entropy": cross_entropy,
    "nll": nll,
    "gaussian_nll": gaussian_nll,
    "kl_div": kl_div,
    "margin_ranking": margin_ranking,
    "hinge": hinge,
    "perceptron": perceptron,
    "adaline": adaline,
}


def get_loss(name: str | Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A loss function by name, or the callable itself."""
    if callable(name):
        return name
    try:
        return LOSSES[name]
    except KeyError:
        raise UnknownNameError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None
