"""Pooling kernels over (B, C, H, W) (1-D pooling uses H = 1), no padding.

Max pooling remembers the flat index of each window's maximum (first one on ties, as the
op table's ``max``), so the backward pass routes the gradient to exactly that input.
Average pooling runs in parallel over (batch × channel) planes (each plane is read and
written by one iteration); max pooling serially, see below.
"""

from __future__ import annotations

from numba import prange

from .cachedir import njit
from .twins import parallel_kernel


@njit(cache=True, error_model="numpy")
def max_2x2(xp, yp, ap):
    """Max pooling of one (H, W) plane with the common 2×2, stride-2 window into yp
    (OH, OW); ap gets each window's flat argmax (first one on ties). Written out, four
    compares and no inner loops: the generic loop nest ran at ~1.7 ns per input element on
    LeNet's first pooling layer."""
    w = xp.shape[1]
    oh, ow = yp.shape
    for i in range(oh):
        r0 = 2 * i
        for j in range(ow):
            c0 = 2 * j
            best = xp[r0, c0]
            arg = r0 * w + c0
            v = xp[r0, c0 + 1]
            if v > best:
                best = v
                arg = r0 * w + c0 + 1
            v = xp[r0 + 1, c0]
            if v > best:
                best = v
                arg = (r0 + 1) * w + c0
            v = xp[r0 + 1, c0 + 1]
            if v > best:
                best = v
                arg = (r0 + 1) * w + c0 + 1
            yp[i, j] = best
            ap[i, j] = arg


@njit(cache=True, error_model="numpy")
def max_window(xp, yp, ap, kh, kw, sh, sw):
    """Max pooling of one (H, W) plane with any window and stride (see :func:`max_2x2`)."""
    w = xp.shape[1]
    oh, ow = yp.shape
    for i in range(oh):
        for j in range(ow):
            y0 = i * sh
            x0 = j * sw
            best = xp[y0, x0]
            arg = y0 * w + x0
            for u in range(kh):
                for v in range(kw):
                    val = xp[y0 + u, x0 + v]
                    if val > best:
                        best = val
                        arg = (y0 + u) * w + x0 + v
            yp[i, j] = best
            ap[i, j] = arg


@njit(cache=True, error_model="numpy")
def max_planes_2x2(x, y, arg):
    """:func:`max_2x2` over (N, H, W) planes."""
    for p in range(x.shape[0]):
        max_2x2(x[p], y[p], arg[p])


@njit(cache=True, error_model="numpy")
def max_planes_window(x, y, arg, kh, kw, sh, sw):
    """:func:`max_window` over (N, H, W) planes."""
    for p in range(x.shape[0]):
        max_window(x[p], y[p], arg[p], kh, kw, sh, sw)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def max_planes(x, y, arg, kh, kw, sh, sw):
    """Max pooling of (N, H, W) planes into y (N, OH, OW), each window's flat argmax in
    ``arg``: the 2×2, stride-2 window by its own kernel, any other by the generic one."""
    if kh == 2 and kw == 2 and sh == 2 and sw == 2:
        max_planes_2x2(x, y, arg)
    else:
        max_planes_window(x, y, arg, kh, kw, sh, sw)


# Max pooling runs on one thread: after the written-out 2×2 window it is ~0.1 ms per LeNet
# layer, less than what a parallel region costs when the second core is busy (W3 on a
# machine with one other busy process: 2.4–2.9 ms per step with parallel pooling, 1.8–2.0
# serial). Average pooling keeps its parallel loops.
@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def max_forward(x, y, argmax, kh, kw, sh, sw):
    nb, nc, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    max_planes(x.reshape((nb * nc, h, w)), y.reshape((nb * nc, oh, ow)),
               argmax.reshape((nb * nc, oh, ow)), kh, kw, sh, sw)  # fmt: skip


@njit(cache=True, error_model="numpy")
def max_backward(dy, argmax, dx):
    nb, nc, h, w = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    for bc in range(nb * nc):
        b = bc // nc
        c = bc % nc
        flat = dx[b, c].reshape(h * w)  # a view: dx is C-contiguous
        flat[:] = 0.0
        dyp = dy[b, c]
        ap = argmax[b, c]
        for i in range(oh):
            for j in range(ow):
                flat[ap[i, j]] += dyp[i, j]


@parallel_kernel(error_model="numpy")
def avg_forward(x, y, kh, kw, sh, sw):
    nb, nc, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    inv = 1.0 / (kh * kw)
    for bc in prange(nb * nc):
        b = bc // nc
        c = bc % nc
        for i in range(oh):
            for j in range(ow):
                s = 0.0
                for u in range(kh):
                    for v in range(kw):
                        s += x[b, c, i * sh + u, j * sw + v]
                y[b, c, i, j] = s * inv


@parallel_kernel(error_model="numpy")
def avg_backward(dy, dx, kh, kw, sh, sw):
    nb, nc, h, w = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    inv = 1.0 / (kh * kw)
    for bc in prange(nb * nc):
        b = bc // nc
        c = bc % nc
        for i in range(h):
            for j in range(w):
                dx[b, c, i, j] = 0.0
        for i in range(oh):
            for j in range(ow):
                g = dy[b, c, i, j] * inv
                for u in range(kh):
                    for v in range(kw):
                        dx[b, c, i * sh + u, j * sw + v] += g
