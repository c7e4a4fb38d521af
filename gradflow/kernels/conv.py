"""Convolution kernels (cross-correlation, as PyTorch) by per-sample im2col + matmul.

Sample b is unfolded into ``cols[b]`` (C·kh·kw, OH·OW), so its output is one matmul
W(O, C·kh·kw) @ cols[b] written straight into z[b] (O, OH·OW) — the channels-first layout,
no shuffling. Samples are independent, so both passes run over the batch in two chunks on
two threads; ∂L/∂W = Σ_b δ[b] cols[b]ᵀ is accumulated per chunk and the two partial sums are
added at the end (no shared writes). Conv1d uses the same kernels with a height of 1.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .activation import IDENTITY, RELU, apply
from .dense import delta_of


@njit(cache=True, error_model="numpy")
def im2col_one(x, cols, kh, kw, sh, sw, ph, pw, oh, ow):
    """cols[(c, i, j), (y, x)] = x[c, y·sh + i − ph, x·sw + j − pw] (0 outside) for one sample."""
    nc, h, w = x.shape
    if sh == 1 and sw == 1 and ph == 0 and pw == 0:
        _im2col_dense(x, cols, kh, kw, oh, ow)
        return
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for y in range(oh):
                    yy = y * sh + i - ph
                    col = y * ow
                    if yy < 0 or yy >= h:
                        for xo in range(ow):
                            cols[row, col + xo] = 0.0
                    else:
                        for xo in range(ow):
                            xx = xo * sw + j - pw
                            if xx < 0 or xx >= w:
                                cols[row, col + xo] = 0.0
                            else:
                                cols[row, col + xo] = x[c, yy, xx]


@njit(cache=True, error_model="numpy")
def _im2col_dense(x, cols, kh, kw, oh, ow):
    """:func:`im2col_one` for stride 1 and no padding (LeNet's case): every row of a window
    is a plain contiguous copy, with no bounds test or stride product per element."""
    nc = x.shape[0]
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for y in range(oh):
                    col = y * ow
                    for xo in range(ow):
                        cols[row, col + xo] = x[c, y + i, xo + j]


@njit(cache=True, error_model="numpy")
def _col2im_dense(dcols, dx, kh, kw, oh, ow):
    """:func:`col2im_one` for stride 1 and no padding."""
    nc = dx.shape[0]
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for y in range(oh):
                    col = y * ow
                    for xo in range(ow):
                        dx[c, y + i, xo + j] += dcols[row, col + xo]


@njit(cache=True, error_model="numpy")
def col2im_one(dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow):
    """Adjoint of :func:`im2col_one`: dx[c, y, x] = Σ over the windows covering it."""
    nc, h, w = dx.shape
    dx[:] = 0.0
    if sh == 1 and sw == 1 and ph == 0 and pw == 0:
        _col2im_dense(dcols, dx, kh, kw, oh, ow)
        return
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for y in range(oh):
                    yy = y * sh + i - ph
                    if yy < 0 or yy >= h:
                        continue
                    col = y * ow
                    for xo in range(ow):
                        xx = xo * sw + j - pw
                        if 0 <= xx < w:
                            dx[c, yy, xx] += dcols[row, col + xo]


@njit(cache=True, error_model="numpy")
def bias_activation_rows(z, a, b, code, alpha):
    """z[o, :] += b[o] (``b`` empty: none), a = f(z), for one sample's (O, OH·OW) block.
    ReLU and identity run their own loops, which vectorise (the per-element call through
    :func:`apply` does not)."""
    no, per = z.shape
    for o in range(no):
        if b.size > 0:
            bo = b[o]
            for p in range(per):
                z[o, p] += bo
        if code == RELU:
            for p in range(per):
                v = z[o, p]
                a[o, p] = v if v > 0.0 else 0.0
        elif code != IDENTITY:
            for p in range(per):
                a[o, p] = apply(code, z[o, p], alpha)


@njit(cache=True, error_model="numpy")
def _chunk(part, n):
    half = n // 2
    return part * half, (half if part == 0 else n)


@njit(cache=True, error_model="numpy", parallel=True)
def conv_forward(x, w2, b, cols, z, a, kh, kw, sh, sw, ph, pw, oh, ow, code, alpha):
    """z = W ⋆ x + b, a = f(z). w2 is W as (O, C·kh·kw); cols (B, C·kh·kw, OH·OW);
    z, a (B, O, OH·OW)."""
    nb = x.shape[0]
    for part in prange(2):
        lo, hi = _chunk(part, nb)
        for s in range(lo, hi):
            im2col_one(x[s], cols[s], kh, kw, sh, sw, ph, pw, oh, ow)
            np.dot(w2, cols[s], z[s])
            bias_activation_rows(z[s], a[s], b, code, alpha)


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_sum(v):
    """Σ v: reassociation lets LLVM keep several partial sums in vector registers (a plain
    ``acc += v[p]`` loop is one dependent add per element: the bias gradient of LeNet's
    first layer took 0.1 ms that way)."""
    acc = 0.0
    for p in range(v.size):
        acc += v[p]
    return acc


@njit(cache=True, error_model="numpy", parallel=True)
def conv_backward(
    z, a, da, dz, w2, cols, dw2, db, dcols, parts, tmp, dx, kh, kw, sh, sw, ph, pw, oh, ow,
    code, alpha, need_dx,
):  # fmt: skip
    """δ = ∂L/∂a ⊙ f'(z); ∂L/∂W = Σ_b δ[b] cols[b]ᵀ; ∂L/∂b = Σ δ; ∂L/∂x[b] = col2im(Wᵀ δ[b]).

    ``parts`` (2, O, C·kh·kw + 1), ``tmp`` (2, O, C·kh·kw) and ``dcols`` (2, C·kh·kw, OH·OW) are per-thread;
    the last column of ``parts`` collects the bias gradient."""
    nb, no, per = z.shape
    ckk = w2.shape[1]
    for part in prange(2):
        lo, hi = _chunk(part, nb)
        parts[part] = 0.0
        for s in range(lo, hi):
            if code == IDENTITY:
                dz[s] = da[s]
            else:
                delta_of(z[s], a[s], da[s], dz[s], code, alpha)
            np.dot(dz[s], cols[s].T, tmp[part])
            parts[part, :, :ckk] += tmp[part]
            for o in range(no):
                parts[part, o, ckk] += _row_sum(dz[s, o])
            if need_dx:
                np.dot(w2.T, dz[s], dcols[part])
                col2im_one(dcols[part], dx[s], kh, kw, sh, sw, ph, pw, oh, ow)
    dw2[:] = parts[0, :, :ckk] + parts[1, :, :ckk]
    if db.size > 0:
        for o in range(no):
            db[o] = parts[0, o, ckk] + parts[1, o, ckk]
