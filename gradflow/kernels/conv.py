"""Convolution kernels (cross-correlation, as PyTorch) by im2col + one matmul per pass.

Layout: the unfolded input ``cols`` is (C·kh·kw, B·OH·OW), so the forward pass is ONE
matmul W(O, C·kh·kw) @ cols for the whole batch, and ∂L/∂W = δ(O, B·OH·OW) @ colsᵀ needs
no per-sample reduction (no race between threads). Unfolding, folding back and the
bias/activation/layout shuffles are parallel over the batch: each sample owns its columns.
Conv1d uses the same kernels with a height of 1.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .activation import IDENTITY, apply, derivative


@njit(cache=True, parallel=True)
def im2col(x, cols, kh, kw, sh, sw, ph, pw, oh, ow):
    """cols[(c, i, j), (b, y, x)] = x[b, c, y·sh + i − ph, x·sw + j − pw] (0 outside)."""
    nb, nc, h, w = x.shape
    per = oh * ow
    for b in prange(nb):
        base = b * per
        for c in range(nc):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for y in range(oh):
                        yy = y * sh + i - ph
                        col = base + y * ow
                        if yy < 0 or yy >= h:
                            for xo in range(ow):
                                cols[row, col + xo] = 0.0
                        else:
                            for xo in range(ow):
                                xx = xo * sw + j - pw
                                if xx < 0 or xx >= w:
                                    cols[row, col + xo] = 0.0
                                else:
                                    cols[row, col + xo] = x[b, c, yy, xx]


@njit(cache=True, parallel=True)
def col2im(dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow):
    """Adjoint of :func:`im2col`: dx[b, c, y, x] = Σ over windows covering it."""
    nb, nc, h, w = dx.shape
    per = oh * ow
    for b in prange(nb):
        base = b * per
        for c in range(nc):
            for yy in range(h):
                for xx in range(w):
                    dx[b, c, yy, xx] = 0.0
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for y in range(oh):
                        yy = y * sh + i - ph
                        if yy < 0 or yy >= h:
                            continue
                        col = base + y * ow
                        for xo in range(ow):
                            xx = xo * sw + j - pw
                            if 0 <= xx < w:
                                dx[b, c, yy, xx] += dcols[row, col + xo]


@njit(cache=True, parallel=True)
def _bias_act_unpermute(z2, b, z, a, code, alpha):
    """z[b, o, p] = z2[o, b·P + p] + bias[o]; a = f(z)."""
    nb, no, per = z.shape
    for bb in prange(nb):
        for o in range(no):
            bo = b[o] if b.size > 0 else 0.0
            for p in range(per):
                v = z2[o, bb * per + p] + bo
                z[bb, o, p] = v
                if code != IDENTITY:
                    a[bb, o, p] = apply(code, v, alpha)


@njit(cache=True)
def conv_forward(x, w2, b, cols, z2, z, a, kh, kw, sh, sw, ph, pw, oh, ow, code, alpha):
    """z = W ⋆ x + b, a = f(z). w2 is W as (O, C·kh·kw); z, a are (B, O, OH·OW)."""
    im2col(x, cols, kh, kw, sh, sw, ph, pw, oh, ow)
    np.dot(w2, cols, z2)
    _bias_act_unpermute(z2, b, z, a, code, alpha)


@njit(cache=True, parallel=True)
def _delta_permute(z, a, da, dz2, code, alpha):
    """dz2[o, b·P + p] = da[b, o, p] · f'(z[b, o, p])."""
    nb, no, per = z.shape
    for bb in prange(nb):
        for o in range(no):
            for p in range(per):
                d = da[bb, o, p]
                if code != IDENTITY:
                    d *= derivative(code, z[bb, o, p], a[bb, o, p], alpha)
                dz2[o, bb * per + p] = d


@njit(cache=True)
def conv_backward(
    z,
    a,
    da,
    w2,
    cols,
    dz2,
    dw2,
    db,
    dcols,
    dx,
    kh,
    kw,
    sh,
    sw,
    ph,
    pw,
    oh,
    ow,
    code,
    alpha,
    need_dx,
):
    """δ = ∂L/∂a ⊙ f'(z); ∂L/∂W = δ colsᵀ; ∂L/∂b = Σ δ; ∂L/∂x = col2im(Wᵀ δ)."""
    _delta_permute(z, a, da, dz2, code, alpha)
    np.dot(dz2, cols.T, dw2)
    if db.size > 0:
        for o in range(dz2.shape[0]):
            s = 0.0
            for k in range(dz2.shape[1]):
                s += dz2[o, k]
            db[o] = s
    if need_dx:
        np.dot(w2.T, dz2, dcols)
        col2im(dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow)
