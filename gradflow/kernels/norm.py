"""Batch normalisation over (B, C, S) (S = 1 for (B, F), L for 1-D, H·W for 2-D).

Training: x̂ = (x − μ)/√(σ² + ε) with the batch mean and biased variance per channel,
y = γ x̂ + β; running averages updated as PyTorch (unbiased variance). Backward, per channel
with N = B·S values: ∂x = γ/(N·σ̂) · (N ∂y − Σ∂y − x̂ Σ(∂y x̂)). Parallel over channels.
"""

from __future__ import annotations

import math

from numba import prange

from .twins import parallel_kernel


@parallel_kernel(error_model="numpy")
def forward_train(x, gamma, beta, y, xhat, inv_std, running_mean, running_var, eps, momentum):
    nb, nc, ns = x.shape
    n = nb * ns
    for c in prange(nc):
        s = 0.0
        for b in range(nb):
            for k in range(ns):
                s += x[b, c, k]
        mean = s / n
        v = 0.0
        for b in range(nb):
            for k in range(ns):
                d = x[b, c, k] - mean
                v += d * d
        var = v / n
        istd = 1.0 / math.sqrt(var + eps)
        inv_std[c] = istd
        for b in range(nb):
            for k in range(ns):
                xh = (x[b, c, k] - mean) * istd
                xhat[b, c, k] = xh
                y[b, c, k] = gamma[c] * xh + beta[c]
        running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean
        running_var[c] = (1.0 - momentum) * running_var[c] + momentum * var * n / (n - 1)


@parallel_kernel(error_model="numpy")
def forward_eval(x, gamma, beta, y, running_mean, running_var, eps):
    nb, nc, ns = x.shape
    for c in prange(nc):
        istd = 1.0 / math.sqrt(running_var[c] + eps)
        for b in range(nb):
            for k in range(ns):
                y[b, c, k] = gamma[c] * (x[b, c, k] - running_mean[c]) * istd + beta[c]


@parallel_kernel(error_model="numpy")
def backward(dy, xhat, gamma, inv_std, dx, dgamma, dbeta):
    nb, nc, ns = dy.shape
    n = nb * ns
    for c in prange(nc):
        sdy = 0.0
        sdyx = 0.0
        for b in range(nb):
            for k in range(ns):
                sdy += dy[b, c, k]
                sdyx += dy[b, c, k] * xhat[b, c, k]
        dgamma[c] = sdyx
        dbeta[c] = sdy
        f = gamma[c] * inv_std[c] / n
        for b in range(nb):
            for k in range(ns):
                dx[b, c, k] = f * (n * dy[b, c, k] - sdy - xhat[b, c, k] * sdyx)
