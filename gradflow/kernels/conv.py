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

from .activation import IDENTITY, apply, derivative


@njit(cache=True, error_model="numpy")
def im2col_one(x, cols, kh, kw, sh, sw, ph, pw, oh, ow):
    """cols[(c, i, j), (y, x)] = x[c, y·sh + i − ph, x·sw + j − pw] (0 outside) for one sample."""
    nc, h, w = x.shape
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
def col2im_one(dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow):
    """Adjoint of :func:`im2col_one`: dx[c, y, x] = Σ over the windows covering it."""
    nc, h, w = dx.shape
    dx[:] = 0.0
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
def _chunk(part, n):
    half = n // 2
    return part * half, (half if part == 0 else n)


@njit(cache=True, error_model="numpy", parallel=True)
def conv_forward(x, w2, b, cols, z, a, kh, kw, sh, sw, ph, pw, oh, ow, code, alpha):
    """z = W ⋆ x + b, a = f(z). w2 is W as (O, C·kh·kw); cols (B, C·kh·kw, OH·OW);
    z, a (B, O, OH·OW)."""
    nb = x.shape[0]
    no, per = z.shape[1], z.shape[2]
    for part in prange(2):
        lo, hi = _chunk(part, nb)
        for s in range(lo, hi):
            im2col_one(x[s], cols[s], kh, kw, sh, sw, ph, pw, oh, ow)
            np.dot(w2, cols[s], z[s])
            for o in range(no):
                bo = b[o] if b.size > 0 else 0.0
                for p in range(per):
                    v = z[s, o, p] + bo
                    z[s, o, p] = v
                    if code != IDENTITY:
                        a[s, o, p] = apply(code, v, alpha)


@njit(cache=True, error_model="numpy", parallel=True)
def conv_backward(
    z, a, da, dz, w2, cols, dw2, db, dcols, parts, tmp, dx, kh, kw, sh, sw, ph, pw, oh, ow,
    code, alpha, need_dx,
):  # fmt: skip
    """δ = ∂L/∂a ⊙ f'(z); ∂L/∂W = Σ_b δ[b] cols[b]ᵀ; ∂L/∂b = Σ δ; ∂L/∂x[b] = col2im(Wᵀ δ[b]).

    ``parts``/``tmp`` (2, O, C·kh·kw) and ``dcols`` (2, C·kh·kw, OH·OW) are per-thread."""
    nb, no, per = z.shape
    for part in prange(2):
        lo, hi = _chunk(part, nb)
        parts[part] = 0.0
        for s in range(lo, hi):
            for o in range(no):
                for p in range(per):
                    d = da[s, o, p]
                    if code != IDENTITY:
                        d *= derivative(code, z[s, o, p], a[s, o, p], alpha)
                    dz[s, o, p] = d
            np.dot(dz[s], cols[s].T, tmp[part])
            parts[part] += tmp[part]
            if need_dx:
                np.dot(w2.T, dz[s], dcols[part])
                col2im_one(dcols[part], dx[s], kh, kw, sh, sw, ph, pw, oh, ow)
    dw2[:] = parts[0] + parts[1]
    if db.size > 0:
        for o in range(no):
            acc = 0.0
            for s in range(nb):
                for p in range(per):
                    acc += dz[s, o, p]
            db[o] = acc
