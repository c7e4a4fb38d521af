"""Convolution kernels (cross-correlation, as PyTorch) by per-sample im2col + matmul.

Sample b is unfolded into ``cols[b]`` (C·kh·kw, OH·OW), so its output is one matmul
W(O, C·kh·kw) @ cols[b] written straight into z[b] (O, OH·OW) — the channels-first layout,
no shuffling. Samples are independent, so both passes run over the batch in two chunks on
two threads; ∂L/∂W = Σ_b δ[b] cols[b]ᵀ is accumulated per chunk and the two partial sums are
added at the end (no shared writes). Conv1d uses the same kernels with a height of 1.

A max pooling right after the convolution (LeNet's conv → ReLU → pool) runs inside the same
per-sample loop (``conv_pool_forward``/``conv_pool_backward``): each sample's activations
are pooled while still in cache, on the thread that computed them, and the backward pass
routes the pooled gradient straight into δ — one parallel region per pass instead of a
parallel convolution followed by a serial pooling pass.
"""

from __future__ import annotations

from numba import prange

from .activation import IDENTITY, RELU, relu, relu_derivative
from .activation import derivative_fused as derivative
from .cachedir import njit
from .dense import activate, copy_2d, delta_of, gemm
from .pool import max_planes
from .twins import parallel_kernel


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def im2col_one(x, cols, kh, kw, sh, sw, ph, pw, oh, ow):
    """cols[(c, i, j), (y, x)] = x[c, y·sh + i − ph, x·sw + j − pw] (0 outside) for one sample."""
    if sh == 1 and sw == 1 and ph == 0 and pw == 0:
        _im2col_dense(x, cols, kh, kw, oh, ow)
    else:
        _im2col_strided(x, cols, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(cache=True, error_model="numpy")
def _im2col_strided(x, cols, kh, kw, sh, sw, ph, pw, oh, ow):
    """:func:`im2col_one` for any stride and padding."""
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


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def col2im_one(dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow):
    """Adjoint of :func:`im2col_one`: dx[c, y, x] = Σ over the windows covering it."""
    if sh == 1 and sw == 1 and ph == 0 and pw == 0:
        _col2im_dense(dcols, dx, kh, kw, oh, ow)
    else:
        _col2im_strided(dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(cache=True, error_model="numpy")
def _col2im_dense(dcols, dx, kh, kw, oh, ow):
    """:func:`col2im_one` for stride 1 and no padding."""
    nc, h, w = dx.shape
    for c in range(nc):
        for y in range(h):
            for xo in range(w):
                dx[c, y, xo] = 0.0
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for y in range(oh):
                    col = y * ow
                    for xo in range(ow):
                        dx[c, y + i, xo + j] += dcols[row, col + xo]


@njit(cache=True, error_model="numpy")
def _col2im_strided(dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow):
    """:func:`col2im_one` for any stride and padding."""
    nc, h, w = dx.shape
    for c in range(nc):
        for y in range(h):
            for xo in range(w):
                dx[c, y, xo] = 0.0
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


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def bias_activation_rows(z, a, b, code, alpha):
    """z[o, :] += b[o] (``b`` empty: none), a = f(z), for one sample's (O, OH·OW) block;
    each case its own kernel, as :func:`~gradflow.kernels.dense.bias_activation`."""
    if code == RELU:
        bias_relu_rows(z, a, b)
    else:
        add_bias_rows(z, b)
        if code != IDENTITY:
            activate(z, a, code, alpha)


@njit(cache=True, error_model="numpy")
def bias_relu_rows(z, a, b):
    """z[o, :] += b[o], a = ReLU(z): plain loops, which vectorise."""
    no, per = z.shape
    for o in range(no):
        bo = b[o] if b.size > 0 else 0.0
        for p in range(per):
            v = z[o, p] + bo
            z[o, p] = v
            a[o, p] = relu(v)


@njit(cache=True, error_model="numpy")
def add_bias_rows(z, b):
    """z[o, :] += b[o] (``b`` empty: nothing)."""
    if b.size > 0:
        no, per = z.shape
        for o in range(no):
            bo = b[o]
            for p in range(per):
                z[o, p] += bo


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def _forward_sample(x, w2, b, cols, z, a, kh, kw, sh, sw, ph, pw, oh, ow, code, alpha):
    """One sample: cols = im2col(x), z = W cols + b, a = f(z)."""
    im2col_one(x, cols, kh, kw, sh, sw, ph, pw, oh, ow)
    gemm(w2, cols, z)
    bias_activation_rows(z, a, b, code, alpha)


@parallel_kernel(composition=True, error_model="numpy")
def conv_forward(x, w2, b, cols, z, a, kh, kw, sh, sw, ph, pw, oh, ow, code, alpha):
    """z = W ⋆ x + b, a = f(z). w2 is W as (O, C·kh·kw); cols (B, C·kh·kw, OH·OW);
    z, a (B, O, OH·OW)."""
    nb = x.shape[0]
    for part in prange(2):
        lo, hi = part * (nb // 2), (nb // 2 if part == 0 else nb)
        for s in range(lo, hi):
            _forward_sample(x[s], w2, b, cols[s], z[s], a[s], kh, kw, sh, sw, ph, pw, oh, ow,
                            code, alpha)  # fmt: skip


@parallel_kernel(composition=True, error_model="numpy")
def conv_pool_forward(
    x, w2, b, cols, z, zp, y, arg, kh, kw, sh, sw, ph, pw, oh, ow, code, alpha, qh, qw, th, tw,
):  # fmt: skip
    """:func:`conv_forward` followed by max pooling (window qh×qw, stride th×tw) into y
    (B, O, POH, POW), with each window's flat argmax in ``arg``.

    The fused activations are monotone (non-decreasing), so max_window f(z + b) =
    f(max_window z + b): each sample's W cols is pooled first (``z`` holds it without the
    bias), and the bias and f are applied to the pooled quarter only — no full-size bias or
    activation pass. ``zp`` keeps the pooled pre-activations for f'."""
    nb, no = z.shape[0], z.shape[1]
    per = zp.shape[2] * zp.shape[3]
    for part in prange(2):
        lo, hi = part * (nb // 2), (nb // 2 if part == 0 else nb)
        for s in range(lo, hi):
            im2col_one(x[s], cols[s], kh, kw, sh, sw, ph, pw, oh, ow)
            gemm(w2, cols[s], z[s])
            max_planes(z[s].reshape((no, oh, ow)), zp[s], arg[s], qh, qw, th, tw)
            zps, ys = zp[s].reshape((no, per)), y[s].reshape((no, per))
            bias_activation_rows(zps, ys, b, code, alpha)
            if code == IDENTITY:
                copy_2d(zps, ys)


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_sum(v):
    """Σ v: reassociation lets LLVM keep several partial sums in vector registers (a plain
    ``acc += v[p]`` loop is one dependent add per element: the bias gradient of LeNet's
    first layer took 0.1 ms that way)."""
    acc = 0.0
    for p in range(v.size):
        acc += v[p]
    return acc


@njit(cache=True, error_model="numpy")
def _accumulate(dz, tmp, parts, part):
    """This thread's ∂L/∂W and ∂L/∂b sums (``parts[part]``) += one sample's δ colsᵀ (in
    ``tmp[part]``, transposed) and Σ δ."""
    no, ckk = dz.shape[0], tmp.shape[1]
    for o in range(no):
        for k in range(ckk):
            parts[part, o, k] += tmp[part, k, o]
        parts[part, o, ckk] += _row_sum(dz[o])


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def _products(dz, w2, cols, part, parts, tmp, dcols, dx, kh, kw, sh, sw, ph, pw, oh, ow, need_dx):
    """One sample's products with δ = ``dz``: add δ colsᵀ and Σ δ to this thread's ``parts``;
    dx = col2im(Wᵀ δ) if needed."""
    gemm(cols, dz.T, tmp[part])  # (δ colsᵀ)ᵀ: 18-27 % faster than δ colsᵀ for these shapes
    _accumulate(dz, tmp, parts, part)
    if need_dx:
        gemm(w2.T, dz, dcols[part])
        col2im_one(dcols[part], dx, kh, kw, sh, sw, ph, pw, oh, ow)


@njit(cache=True, error_model="numpy")
def _sum_parts(parts, dw2, db):
    """∂L/∂W and ∂L/∂b from the two threads' partial sums. (Loops, not array expressions:
    a sliced array assignment makes numba compile its shape-mismatch error message, string
    formatting included — seconds of cold compile for nothing.)"""
    no, ckk = dw2.shape
    for o in range(no):
        for k in range(ckk):
            dw2[o, k] = parts[0, o, k] + parts[1, o, k]
        if db.size > 0:
            db[o] = parts[0, o, ckk] + parts[1, o, ckk]


@parallel_kernel(composition=True, error_model="numpy")
def conv_backward(
    z, a, da, dz, w2, cols, dw2, db, dcols, parts, tmp, dx, kh, kw, sh, sw, ph, pw, oh, ow,
    code, alpha, need_dx,
):  # fmt: skip
    """δ = ∂L/∂a ⊙ f'(z); ∂L/∂W = Σ_b δ[b] cols[b]ᵀ; ∂L/∂b = Σ δ; ∂L/∂x[b] = col2im(Wᵀ δ[b]).

    ``parts`` (2, O, C·kh·kw + 1), ``tmp`` (2, C·kh·kw, O) and ``dcols`` (2, C·kh·kw, OH·OW)
    are per-thread; the last column of ``parts`` collects the bias gradient."""
    nb = z.shape[0]
    for part in prange(2):
        lo, hi = part * (nb // 2), (nb // 2 if part == 0 else nb)
        parts[part] = 0.0
        for s in range(lo, hi):
            if code == IDENTITY:
                copy_2d(da[s], dz[s])
            else:
                delta_of(z[s], a[s], da[s], dz[s], code, alpha)
            _products(dz[s], w2, cols[s], part, parts, tmp, dcols, dx[s], kh, kw, sh, sw, ph, pw,
                      oh, ow, need_dx)  # fmt: skip
    _sum_parts(parts, dw2, db)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def unpool_delta(dz, dy, arg, zp, y, code, alpha):
    """One sample's δ of a pooled convolution: zero but at each window's argmax, which gets
    ∂L/∂y · f'(pooled pre-activation) (added: overlapping windows may share one)."""
    if code == RELU:
        unpool_relu_delta(dz, dy, arg, zp)
    else:
        unpool_activation_delta(dz, dy, arg, zp, y, code, alpha)


@njit(cache=True, error_model="numpy")
def unpool_relu_delta(dz, dy, arg, zp):
    """:func:`unpool_delta` for ReLU."""
    for o in range(dz.shape[0]):
        row = dz[o]
        for p in range(row.size):
            row[p] = 0.0
        dyp, ap, zpo = dy[o], arg[o], zp[o]
        for i in range(dyp.shape[0]):
            for j in range(dyp.shape[1]):
                row[ap[i, j]] += dyp[i, j] * relu_derivative(zpo[i, j])


@njit(cache=True, error_model="numpy")
def unpool_activation_delta(dz, dy, arg, zp, y, code, alpha):
    """:func:`unpool_delta` for the other fused activations (and identity)."""
    for o in range(dz.shape[0]):
        row = dz[o]
        for p in range(row.size):
            row[p] = 0.0
        dyp, ap, zpo, yo = dy[o], arg[o], zp[o], y[o]
        for i in range(dyp.shape[0]):
            for j in range(dyp.shape[1]):
                row[ap[i, j]] += dyp[i, j] * derivative(code, zpo[i, j], yo[i, j], alpha)


@parallel_kernel(composition=True, error_model="numpy")
def conv_pool_backward(
    zp, y, dy, arg, dz, w2, cols, dw2, db, dcols, parts, tmp, dx, kh, kw, sh, sw, ph, pw, oh, ow,
    code, alpha, need_dx,
):  # fmt: skip
    """:func:`conv_backward` of :func:`conv_pool_forward`: δ by :func:`unpool_delta`, then on
    as in conv_backward."""
    nb = dz.shape[0]
    for part in prange(2):
        lo, hi = part * (nb // 2), (nb // 2 if part == 0 else nb)
        parts[part] = 0.0
        for s in range(lo, hi):
            unpool_delta(dz[s], dy[s], arg[s], zp[s], y[s], code, alpha)
            _products(dz[s], w2, cols[s], part, parts, tmp, dcols, dx[s], kh, kw, sh, sw, ph, pw,
                      oh, ow, need_dx)  # fmt: skip
    _sum_parts(parts, dw2, db)
