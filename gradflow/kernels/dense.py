"""Dense (fully connected) layer kernels: z = x Wᵀ + b, a = f(z), and their backward pass.

The matmuls go through ``np.dot`` inside the kernel (BLAS via SciPy's bindings), which at
these sizes is cheaper than calling numpy from Python: one dispatch per layer, no temporaries.
The activation is fused into the same kernel so a Linear+ReLU pair is one call each way.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .activation import IDENTITY, RELU, relu, relu_derivative
from .activation import apply_fused as apply
from .activation import derivative_fused as derivative
from .cachedir import njit
from .loss import softmax_cross_entropy
from .twins import parallel_kernel


@njit(cache=True, error_model="numpy")
def gemm(a, b, out):
    """out = a b by BLAS, for the compositions (numba's ``np.dot``: the same library whether
    the caller runs compiled or, at a cold start, as Python)."""
    np.dot(a, b, out)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def linear_forward(x, w, b, z, a, code, alpha):
    """z = x Wᵀ + b (x (B, in), W (out, in), b (out,) or empty); a = f(z) unless identity."""
    gemm(x, w.T, z)
    bias_activation(z, a, b, code, alpha)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def bias_activation(z, a, b, code, alpha):
    """z += b (per column; ``b`` empty: none), a = f(z). Each case is its own kernel, so a
    cold start compiles only the activations its model uses."""
    if code == RELU:
        bias_relu(z, a, b)
    else:
        add_bias(z, b)
        if code != IDENTITY:
            activate(z, a, code, alpha)


@njit(cache=True, error_model="numpy")
def bias_relu(z, a, b):
    """z += b, a = ReLU(z) in one loop, which vectorises (the per-element call through
    :func:`apply` does not: W1's forward pass spent as long there as in its three matmuls)."""
    n, m = z.shape
    if b.size > 0:
        for i in range(n):
            for j in range(m):
                v = z[i, j] + b[j]
                z[i, j] = v
                a[i, j] = relu(v)
    else:
        for i in range(n):
            for j in range(m):
                a[i, j] = relu(z[i, j])


@njit(cache=True, error_model="numpy")
def add_bias(z, b):
    """z += b per column (``b`` empty: nothing)."""
    if b.size > 0:
        n, m = z.shape
        for i in range(n):
            for j in range(m):
                z[i, j] += b[j]


@njit(cache=True, error_model="numpy")
def activate(z, a, code, alpha):
    """a = f(z) for the fused activations (:data:`~gradflow.kernels.activation.FUSED`)."""
    n, m = z.shape
    for i in range(n):
        for j in range(m):
            a[i, j] = apply(code, z[i, j], alpha)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def delta_of(z, a, da, dz, code, alpha):
    """δ = ∂L/∂a ⊙ f'(z) (nothing to do for identity, where the caller passes dz = da)."""
    if code == RELU:
        relu_delta(z, da, dz)
    elif code != IDENTITY:
        activation_delta(z, a, da, dz, code, alpha)


@njit(cache=True, error_model="numpy")
def relu_delta(z, da, dz):
    """δ = ∂L/∂a ⊙ ReLU'(z) by its own vectorising loop (f' = 1 where z > 0, the op table's
    kink convention)."""
    n, m = z.shape
    for i in range(n):
        for j in range(m):
            dz[i, j] = da[i, j] * relu_derivative(z[i, j])


@njit(cache=True, error_model="numpy")
def activation_delta(z, a, da, dz, code, alpha):
    """δ = ∂L/∂a ⊙ f'(z) for the fused activations."""
    n, m = z.shape
    for i in range(n):
        for j in range(m):
            dz[i, j] = da[i, j] * derivative(code, z[i, j], a[i, j], alpha)


@njit(cache=True, error_model="numpy")
def copy_2d(src, dst):
    """dst = src for 2-D arrays, as a loop: ``dst[:] = src`` makes numba compile its
    shape-mismatch error message (string formatting included), about 3 s of a cold start."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]


@njit(cache=True, error_model="numpy")
def column_sums(d, out):
    """out[j] = Σ_i d[i, j] (the bias gradient)."""
    n, m = d.shape
    for j in range(m):
        out[j] = 0.0
    for i in range(n):
        for j in range(m):
            out[j] += d[i, j]


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def linear_backward(x, w, z, a, da, dz, dw, db, dx, code, alpha, need_dx):
    """Course notation: δ = ∂L/∂a ⊙ f'(z); ∂L/∂W = δᵀ x; ∂L/∂b = Σ_batch δ; ∂L/∂x = δ W.

    ``dz`` may be the same array as ``da`` (identity activation). ``db`` empty: no bias.
    """
    delta_of(z, a, da, dz, code, alpha)
    gemm(dz.T, x, dw)
    if db.size > 0:
        column_sums(dz, db)
    if need_dx:
        gemm(dz, w, dx)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def stack_forward(x, ws, bs, zs, acts, codes, alphas):
    """A run of Linear(+activation) layers in one call: layer k maps acts[k-1] (x for k = 0)
    to zs[k], acts[k]. ``ws`` … ``acts`` are tuples of arrays (one entry per layer), so the
    whole MLP costs one dispatch instead of one per layer."""
    n = len(ws)
    linear_forward(x, ws[0], bs[0], zs[0], acts[0], codes[0], alphas[0])
    for k in range(1, n):
        linear_forward(acts[k - 1], ws[k], bs[k], zs[k], acts[k], codes[k], alphas[k])


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def stack_backward(x, ws, zs, acts, da, dzs, gws, gbs, dxs, codes, alphas, need_dx):
    """Backward through :func:`stack_forward`: δ flows from the last layer to the first;
    ``dxs[k]`` receives ∂L/∂(input of layer k) (for k = 0 only when ``need_dx``)."""
    n = len(ws)
    grad = da
    for k in range(n - 1, 0, -1):
        dz = grad if codes[k] == IDENTITY else dzs[k]
        linear_backward(
            acts[k - 1],
            ws[k],
            zs[k],
            acts[k],
            grad,
            dz,
            gws[k],
            gbs[k],
            dxs[k],
            codes[k],
            alphas[k],
            k > 0,
        )  # fmt: skip  (k > 0 is True: a literal True compiled linear_backward a second time)
        grad = dxs[k]
    dz = grad if codes[0] == IDENTITY else dzs[0]
    linear_backward(
        x, ws[0], zs[0], acts[0], grad, dz, gws[0], gbs[0], dxs[0], codes[0], alphas[0], need_dx
    )


# --- two-thread variants for large layers ------------------------------------------------
# Each thread runs single-threaded BLAS on its own half of the rows (of x for the forward
# pass and ∂L/∂x, of ∂L/∂W for the weight gradient): independent blocks, no reduction.


@parallel_kernel(composition=True, error_model="numpy")
def linear_forward_split(x, w, b, z, a, code, alpha):
    n = x.shape[0]
    half = n // 2
    for part in prange(2):
        lo = part * half
        hi = half if part == 0 else n
        linear_forward(x[lo:hi], w, b, z[lo:hi], a[lo:hi], code, alpha)


@njit(cache=True, error_model="numpy")
def transpose_into(w, wt):
    """wt = wᵀ as a C-contiguous copy (BLAS runs products with it about twice as fast)."""
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            wt[j, i] = w[i, j]


@parallel_kernel(composition=True, error_model="numpy")
def _split_products(x, w, dz, dz_t, dw, dx, need_dx):
    n, m = dz.shape
    half_n = n // 2
    half_m = m // 2
    for part in prange(2):
        lo = part * half_m
        hi = half_m if part == 0 else m
        gemm(dz_t[lo:hi], x, dw[lo:hi])
        if need_dx:
            lo = part * half_n
            hi = half_n if part == 0 else n
            gemm(dz[lo:hi], w, dx[lo:hi])


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def linear_backward_split(x, w, z, a, da, dz, dz_t, dw, db, dx, code, alpha, need_dx):
    """:func:`linear_backward` with the two big products split over two threads."""
    delta_of(z, a, da, dz, code, alpha)
    transpose_into(dz, dz_t)
    if db.size > 0:
        column_sums(dz, db)
    _split_products(x, w, dz, dz_t, dw, dx, need_dx)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def stack_train_softmax_ce(
    x, ws, bs, zs, acts, dzs, gws, gbs, dxs, codes, alphas, targets, grad, smoothing, need_dx
):  # fmt: skip
    """One training pass of an MLP with softmax cross-entropy in one call: forward
    (:func:`stack_forward`), the fused loss and ∂L/∂logits (:func:`~gradflow.kernels.loss.
    softmax_cross_entropy`), backward (:func:`stack_backward`). Returns the batch loss.

    Nothing new is computed here; it only saves the three Python-level dispatches, which
    were a tenth of a 0.08 ms W1 step."""
    stack_forward(x, ws, bs, zs, acts, codes, alphas)
    loss = softmax_cross_entropy(acts[len(acts) - 1], targets, grad, smoothing)
    stack_backward(x, ws, zs, acts, grad, dzs, gws, gbs, dxs, codes, alphas, need_dx)
    return loss


# --- a Linear stack over two batch halves -------------------------------------------------
# Each thread runs the whole stack on its half of the batch (its rows of every z, a, δ, dx:
# contiguous views made by the caller), with its own ∂L/∂W, ∂L/∂b buffers; the two partial
# gradients are added at the end. The halves are fixed, so the result does not depend on
# the thread count.


@parallel_kernel(composition=True, error_model="numpy")
def stack_forward_halves(x, ws, bs, zs0, acts0, zs1, acts1, codes, alphas):
    """:func:`stack_forward` with rows [0, h) on one thread and [h, B) on the other,
    h = B // 2 (``zs0``/``acts0`` and ``zs1``/``acts1``: the per-layer row views)."""
    h = x.shape[0] // 2
    for part in prange(2):
        if part == 0:
            stack_forward(x[:h], ws, bs, zs0, acts0, codes, alphas)
        else:
            stack_forward(x[h:], ws, bs, zs1, acts1, codes, alphas)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def add_halves(gws, gbs, gws0, gbs0, gws1, gbs1):
    """∂L/∂W = part 0 + part 1 for every layer (and the same for ∂L/∂b)."""
    for k in range(len(gws)):
        add_matrices(gws[k], gws0[k], gws1[k])
        add_vectors(gbs[k], gbs0[k], gbs1[k])


@njit(cache=True, error_model="numpy")
def add_matrices(g, g0, g1):
    """g = g0 + g1 (2-D)."""
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            g[i, j] = g0[i, j] + g1[i, j]


@njit(cache=True, error_model="numpy")
def add_vectors(b, b0, b1):
    """b = b0 + b1 (1-D)."""
    for i in range(b.size):
        b[i] = b0[i] + b1[i]


@parallel_kernel(composition=True, error_model="numpy")
def stack_backward_halves(
    x, ws, zs0, acts0, da0, dzs0, gws0, gbs0, dxs0, zs1, acts1, da1, dzs1, gws1, gbs1, dxs1,
    gws, gbs, codes, alphas, need_dx,
):  # fmt: skip
    """:func:`stack_backward` per batch half into per-half gradient buffers, then
    ∂L/∂W = part 0 + part 1 (and the same for ∂L/∂b)."""
    h = x.shape[0] // 2
    for part in prange(2):
        if part == 0:
            stack_backward(x[:h], ws, zs0, acts0, da0, dzs0, gws0, gbs0, dxs0, codes, alphas,
                           need_dx)  # fmt: skip
        else:
            stack_backward(x[h:], ws, zs1, acts1, da1, dzs1, gws1, gbs1, dxs1, codes, alphas,
                           need_dx)  # fmt: skip
    add_halves(gws, gbs, gws0, gbs0, gws1, gbs1)
