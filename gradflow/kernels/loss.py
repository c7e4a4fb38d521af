"""Loss kernels: each returns the batch loss and writes ∂L/∂prediction into ``grad``.

Conventions follow :mod:`gradflow.nn.losses`: the loss is a mean over the batch (and over
output elements for the regression losses). Softmax + cross-entropy and sigmoid + BCE are
fused: they take the logits, so ∂L/∂z = (p − t)/B with no division by tiny probabilities.

Per element, the losses run the op table's forms (:mod:`gradflow.kernels.opforms`): the
same ops, in the same composition, as :mod:`gradflow.nn.losses` builds on the graph engine
(BCE on logits softplus(z) − t·z with softplus' = σ, MAE |d| with sign, hinge ReLU(m − t·s),
BCE clip then log, KL log) — no formula restated here. Softmax cross-entropy and NLL are
the fused/indexing kernels, checked against their composition by the equivalence tests.
"""

from __future__ import annotations

import math

from . import opforms
from .cachedir import njit
from .opforms import XP

_SOFTPLUS, _SOFTPLUS_D = opforms.forward("softplus"), opforms.partial("softplus")
_ABS, _ABS_D = opforms.forward("abs"), opforms.partial("abs")
_RELU, _RELU_D = opforms.forward("relu"), opforms.partial("relu")
_LOG, _LOG_D = opforms.forward("log"), opforms.partial("log")
_CLIP, _CLIP_D = opforms.forward("clip"), opforms.partial("clip")


@njit(cache=True, error_model="numpy")
def softmax_cross_entropy(logits, targets, grad, smoothing):
    """L = −(1/B) Σ_b Σ_k t_bk log softmax(z_b)_k, t = (1−ε)·onehot + ε/K; grad = (p − t)/B."""
    n, k = logits.shape
    total = 0.0
    inv_n = 1.0 / n
    for i in range(n):
        mx = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > mx:
                mx = logits[i, j]
        s = 0.0
        for j in range(k):
            e = math.exp(logits[i, j] - mx)
            grad[i, j] = e
            s += e
        lse = mx + math.log(s)
        inv_s = 1.0 / s
        c = targets[i]
        for j in range(k):
            t = smoothing / k
            if j == c:
                t += 1.0 - smoothing
            if t != 0.0:
                total -= t * (logits[i, j] - lse)
            grad[i, j] = (grad[i, j] * inv_s - t) * inv_n
    return total * inv_n


@njit(cache=True, error_model="numpy")
def nll(logp, targets, grad):
    """L = −(1/B) Σ_b logp[b, y_b] on log-probabilities."""
    n = logp.shape[0]
    grad[:] = 0.0
    total = 0.0
    for i in range(n):
        total -= logp[i, targets[i]]
        grad[i, targets[i]] = -1.0 / n
    return total / n


@njit(cache=True, error_model="numpy")
def sigmoid_bce(logits, targets, grad):
    """BCE on logits: mean softplus(z) − t·z; grad = (softplus'(z) − t)/N = (σ(z) − t)/N."""
    z = logits.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = z.size
    total = 0.0
    for i in range(n):
        zi = z[i]
        sp = _SOFTPLUS(XP, zi)
        total += sp - t[i] * zi
        g[i] = (_SOFTPLUS_D(XP, sp, zi) - t[i]) / n
    return total / n


@njit(cache=True, error_model="numpy")
def bce(probs, targets, grad, eps):
    """BCE on probabilities (clipped to [eps, 1 − eps]): −mean(t log p + (1−t) log(1−p));
    no gradient flows through a clipped p (the clip op's derivative)."""
    p = probs.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = p.size
    total = 0.0
    for i in range(n):
        pc = _CLIP(XP, p[i], eps, 1.0 - eps)
        lp, lq = _LOG(XP, pc), _LOG(XP, 1.0 - pc)
        total -= t[i] * lp + (1.0 - t[i]) * lq
        dlog = t[i] * _LOG_D(XP, lp, pc) - (1.0 - t[i]) * _LOG_D(XP, lq, 1.0 - pc)
        g[i] = -dlog * _CLIP_D(XP, pc, p[i], eps, 1.0 - eps) / n
    return total / n


@njit(cache=True, error_model="numpy")
def squared_error(pred, targets, grad, scale):
    """L = scale · Σ (p − t)²; grad = 2·scale·(p − t). scale = 1/N (MSE) or 1/B (SSE)."""
    p = pred.ravel()
    t = targets.ravel()
    g = grad.ravel()
    total = 0.0
    for i in range(p.size):
        d = p[i] - t[i]
        total += d * d
        g[i] = 2.0 * scale * d
    return total * scale


@njit(cache=True, error_model="numpy")
def absolute_error(pred, targets, grad):
    """MAE: mean |p − t|; the table's abs and its derivative sign (0 at 0)."""
    p = pred.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = p.size
    total = 0.0
    for i in range(n):
        d = p[i] - t[i]
        a = _ABS(XP, d)
        total += a
        g[i] = _ABS_D(XP, a, d) / n
    return total / n


@njit(cache=True, error_model="numpy")
def hinge(scores, targets, grad, margin):
    """Max-margin loss, labels ±1: mean ReLU(margin − t·s)."""
    s = scores.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = s.size
    total = 0.0
    for i in range(n):
        m = margin - t[i] * s[i]
        r = _RELU(XP, m)
        total += r
        g[i] = -t[i] * _RELU_D(XP, r, m) / n
    return total / n


@njit(cache=True, error_model="numpy")
def kl_div(logq, p, grad):
    """KL(p ‖ q) with q given as log-probabilities (PyTorch's kl_div): Σ p (log p − log q) / B."""
    n = logq.shape[0]
    lq = logq.ravel()
    pp = p.ravel()
    g = grad.ravel()
    total = 0.0
    for i in range(lq.size):
        if pp[i] > 0.0:  # 0·log 0 = 0
            total += pp[i] * (_LOG(XP, pp[i]) - lq[i])
        g[i] = -pp[i] / n
    return total / n


@njit(cache=True, error_model="numpy")
def softmax_rows(z, out):
    """Row-wise softmax (for predictions and Softmax layers)."""
    n, k = z.shape
    for i in range(n):
        mx = z[i, 0]
        for j in range(1, k):
            mx = max(mx, z[i, j])
        s = 0.0
        for j in range(k):
            out[i, j] = math.exp(z[i, j] - mx)
            s += out[i, j]
        for j in range(k):
            out[i, j] /= s
