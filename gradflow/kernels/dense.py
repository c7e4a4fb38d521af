"""Dense (fully connected) layer kernels: z = x Wᵀ + b, a = f(z), and their backward pass.

The matmuls go through ``np.dot`` inside the kernel (BLAS via SciPy's bindings), which at
these sizes is cheaper than calling numpy from Python: one dispatch per layer, no temporaries.
The activation is fused into the same kernel so a Linear+ReLU pair is one call each way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .activation import IDENTITY, apply, derivative


@njit(cache=True)
def linear_forward(x, w, b, z, a, code, alpha):
    """z = x Wᵀ + b (x (B, in), W (out, in), b (out,) or empty); a = f(z) unless identity."""
    np.dot(x, w.T, z)
    n, m = z.shape
    if b.size > 0:
        for i in range(n):
            for j in range(m):
                z[i, j] += b[j]
    if code != IDENTITY:
        for i in range(n):
            for j in range(m):
                a[i, j] = apply(code, z[i, j], alpha)


@njit(cache=True)
def linear_backward(x, w, z, a, da, dz, dw, db, dx, code, alpha, need_dx):
    """Course notation: δ = ∂L/∂a ⊙ f'(z); ∂L/∂W = δᵀ x; ∂L/∂b = Σ_batch δ; ∂L/∂x = δ W.

    ``dz`` may be the same array as ``da`` (identity activation). ``db`` empty: no bias.
    """
    n, m = z.shape
    if code != IDENTITY:
        for i in range(n):
            for j in range(m):
                dz[i, j] = da[i, j] * derivative(code, z[i, j], a[i, j], alpha)
    np.dot(dz.T, x, dw)
    if db.size > 0:
        for j in range(m):
            db[j] = 0.0
        for i in range(n):
            for j in range(m):
                db[j] += dz[i, j]
    if need_dx:
        np.dot(dz, w, dx)
