"""Loss kernels: each returns the batch loss and writes ∂L/∂prediction into ``grad``.

Conventions follow :mod:`gradflow.nn.losses`: the loss is a mean over the batch (and over
output elements for the regression losses). Softmax + cross-entropy and sigmoid + BCE are
fused: they take the logits, so ∂L/∂z = (p − t)/B with no division by tiny probabilities.
"""

from __future__ import annotations

import math

from .cachedir import njit


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
    """BCE on logits, stable: max(z,0) − z t + log(1 + e^{−|z|}); grad = (σ(z) − t)/N."""
    z = logits.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = z.size
    total = 0.0
    for i in range(n):
        zi = z[i]
        total += max(zi, 0.0) - zi * t[i] + math.log1p(math.exp(-abs(zi)))
        if zi >= 0.0:
            s = 1.0 / (1.0 + math.exp(-zi))
        else:
            e = math.exp(zi)
            s = e / (1.0 + e)
        g[i] = (s - t[i]) / n
    return total / n


@njit(cache=True, error_model="numpy")
def bce(probs, targets, grad, eps):
    """BCE on probabilities (clipped to [eps, 1 − eps]): −mean(t log p + (1−t) log(1−p))."""
    p = probs.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = p.size
    total = 0.0
    for i in range(n):
        pi = min(max(p[i], eps), 1.0 - eps)
        total -= t[i] * math.log(pi) + (1.0 - t[i]) * math.log(1.0 - pi)
        g[i] = (pi - t[i]) / (pi * (1.0 - pi)) / n
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
    """MAE: mean |p − t|; sign(0) = 0 as the op table's abs."""
    p = pred.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = p.size
    total = 0.0
    for i in range(n):
        d = p[i] - t[i]
        total += abs(d)
        g[i] = (1.0 if d > 0 else (-1.0 if d < 0 else 0.0)) / n
    return total / n


@njit(cache=True, error_model="numpy")
def hinge(scores, targets, grad):
    """Max-margin loss, labels ±1: mean max(0, 1 − t·s)."""
    s = scores.ravel()
    t = targets.ravel()
    g = grad.ravel()
    n = s.size
    total = 0.0
    for i in range(n):
        m = 1.0 - t[i] * s[i]
        if m > 0.0:
            total += m
            g[i] = -t[i] / n
        else:
            g[i] = 0.0
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
        if pp[i] > 0.0:
            total += pp[i] * (math.log(pp[i]) - lq[i])
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
