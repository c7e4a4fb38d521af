"""Dense (fully connected) layer kernels: z = x Wᵀ + b, a = f(z), and their backward pass.

The matmuls go through ``np.dot`` inside the kernel (BLAS via SciPy's bindings), which at
these sizes is cheaper than calling numpy from Python: one dispatch per layer, no temporaries.
The activation is fused into the same kernel so a Linear+ReLU pair is one call each way.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .activation import IDENTITY, apply, derivative


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def stack_forward(x, ws, bs, zs, acts, codes, alphas):
    """A run of Linear(+activation) layers in one call: layer k maps acts[k-1] (x for k = 0)
    to zs[k], acts[k]. ``ws`` … ``acts`` are tuples of arrays (one entry per layer), so the
    whole MLP costs one dispatch instead of one per layer."""
    n = len(ws)
    linear_forward(x, ws[0], bs[0], zs[0], acts[0], codes[0], alphas[0])
    for k in range(1, n):
        linear_forward(acts[k - 1], ws[k], bs[k], zs[k], acts[k], codes[k], alphas[k])


@njit(cache=True, error_model="numpy")
def stack_backward(x, ws, zs, acts, da, dzs, gws, gbs, dxs, codes, alphas, need_dx):
    """Backward through :func:`stack_forward`: δ flows from the last layer to the first;
    ``dxs[k]`` receives ∂L/∂(input of layer k) (for k = 0 only when ``need_dx``)."""
    n = len(ws)
    grad = da
    for k in range(n - 1, 0, -1):
        dz = grad if codes[k] == IDENTITY else dzs[k]
        linear_backward(
            acts[k - 1], ws[k], zs[k], acts[k], grad, dz, gws[k], gbs[k], dxs[k], codes[k],
            alphas[k], True,
        )  # fmt: skip
        grad = dxs[k]
    dz = grad if codes[0] == IDENTITY else dzs[0]
    linear_backward(
        x, ws[0], zs[0], acts[0], grad, dz, gws[0], gbs[0], dxs[0], codes[0], alphas[0], need_dx
    )


# --- two-thread variants for large layers ------------------------------------------------
# Each thread runs single-threaded BLAS on its own half of the rows (of x for the forward
# pass and ∂L/∂x, of ∂L/∂W for the weight gradient): independent blocks, no reduction.


@njit(cache=True, error_model="numpy", parallel=True)
def linear_forward_split(x, w, b, z, a, code, alpha):
    n = x.shape[0]
    half = n // 2
    for part in prange(2):
        lo = part * half
        hi = half if part == 0 else n
        linear_forward(x[lo:hi], w, b, z[lo:hi], a[lo:hi], code, alpha)


@njit(cache=True, error_model="numpy", parallel=True)
def _split_products(x, w, dz, dz_t, dw, dx, need_dx):
    n, m = dz.shape
    half_n = n // 2
    half_m = m // 2
    for part in prange(2):
        lo = part * half_m
        hi = half_m if part == 0 else m
        np.dot(dz_t[lo:hi], x, dw[lo:hi])
        if need_dx:
            lo = part * half_n
            hi = half_n if part == 0 else n
            np.dot(dz[lo:hi], w, dx[lo:hi])


@njit(cache=True, error_model="numpy")
def linear_backward_split(x, w, z, a, da, dz, dz_t, dw, db, dx, code, alpha, need_dx):
    """:func:`linear_backward` with the two big products split over two threads."""
    n, m = z.shape
    if code != IDENTITY:
        for i in range(n):
            for j in range(m):
                dz[i, j] = da[i, j] * derivative(code, z[i, j], a[i, j], alpha)
    for i in range(n):
        for j in range(m):
            dz_t[j, i] = dz[i, j]
    if db.size > 0:
        for j in range(m):
            db[j] = 0.0
        for i in range(n):
            for j in range(m):
                db[j] += dz[i, j]
    _split_products(x, w, dz, dz_t, dw, dx, need_dx)
