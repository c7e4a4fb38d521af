"""Pooling kernels over (B, C, H, W) (1-D pooling uses H = 1), no padding.

Max pooling remembers the flat index of each window's maximum (first one on ties, as the
op table's ``max``), so the backward pass routes the gradient to exactly that input.
Parallel over (batch × channel) planes: each plane is read and written by one iteration.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, error_model="numpy", parallel=True)
def max_forward(x, y, argmax, kh, kw, sh, sw):
    nb, nc, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    for bc in prange(nb * nc):
        b = bc // nc
        c = bc % nc
        for i in range(oh):
            for j in range(ow):
                y0 = i * sh
                x0 = j * sw
                best = x[b, c, y0, x0]
                arg = y0 * w + x0
                for u in range(kh):
                    for v in range(kw):
                        val = x[b, c, y0 + u, x0 + v]
                        if val > best:
                            best = val
                            arg = (y0 + u) * w + x0 + v
                y[b, c, i, j] = best
                argmax[b, c, i, j] = arg


@njit(cache=True, error_model="numpy", parallel=True)
def max_backward(dy, argmax, dx):
    nb, nc, h, w = dx.shape
    oh, ow = dy.shape[2], dy.shape[3]
    for bc in prange(nb * nc):
        b = bc // nc
        c = bc % nc
        for i in range(h):
            for j in range(w):
                dx[b, c, i, j] = 0.0
        for i in range(oh):
            for j in range(ow):
                k = argmax[b, c, i, j]
                dx[b, c, k // w, k % w] += dy[b, c, i, j]


@njit(cache=True, error_model="numpy", parallel=True)
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


@njit(cache=True, error_model="numpy", parallel=True)
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
