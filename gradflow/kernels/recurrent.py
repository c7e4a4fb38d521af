"""RNN, LSTM and GRU over whole sequences: forward and backprop through time in one call.

Layout inside the kernels is time-major, (T, B, ·), so every time step is a contiguous
(B, ·) block for BLAS. The input projection x Wᵢₕᵀ (+ b) of ALL steps is one matmul before
the time loop, and ∂L/∂Wᵢₕ, ∂L/∂Wₕₕ, ∂L/∂b are one matmul each after the backward loop
(δ of every step is stored); only the recurrence h_{t−1} Wₕₕᵀ (forward) and δ_t Wₕₕ (backward)
are per-step matmuls. Gate order as PyTorch: LSTM i, f, g, o; GRU r, z, n.

Arguments named ``d_all`` carry ∂L/∂h_t for every step (T, B, H) (size 0 when the model only
reads the last state); ``d_last`` carries ∂L/∂h_T (B, H).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from . import activation as act
from .cachedir import njit
from .dense import add_bias, add_matrices, column_sums, copy_2d, gemm, transpose_into
from .twins import parallel_kernel

# Reassociation and fused multiply-adds in the per-step loops: they then vectorise. The float64
# results still match the graph engine to 1e-6 (checked in tests/test_jit_layers.py).
FAST = {"contract", "reassoc", "nsz", "arcp"}


F32 = np.float32
#: 1 as a float32 constant: exact, so float64 arithmetic is unchanged, while float32 gate
#: derivatives such as 1 − g² stay float32 (a float64 literal widens the whole loop)
ONE = F32(1.0)


@njit(cache=True, error_model="numpy", inline="always")
def fast_tanh(x):
    """tanh by a rational approximation (Eigen's float kernel, |error| < 3e-7): pure
    arithmetic, so the time-step loops vectorise. Used for float32 only; float64 keeps
    ``math.tanh`` so the float64 checks against the graph engine stay at 1e-6.

    The constants are float32, so a float32 ``x`` is computed in float32 throughout: with
    float64 constants numba widened every gate to float64 and the loops ran 4 lanes wide
    instead of 8 (tanh over an LSTM pass's gates: 219 → 95 µs)."""
    x = min(max(x, F32(-7.90531110763549805)), F32(7.90531110763549805))
    x2 = x * x
    p = x2 * F32(-2.76076847742355e-16) + F32(2.00018790482477e-13)
    p = x2 * p + F32(-8.60467152213735e-11)
    p = x2 * p + F32(5.12229709037114e-08)
    p = x2 * p + F32(1.48572235717979e-05)
    p = x2 * p + F32(6.37261928875436e-04)
    p = x2 * p + F32(4.89352455891786e-03)
    p = x * p
    q = x2 * F32(1.19825839466702e-06) + F32(1.18534705686654e-04)
    q = x2 * q + F32(2.26843463243900e-03)
    q = x2 * q + F32(4.89352518554385e-03)
    return p / q


@njit(cache=True, error_model="numpy", inline="always")
def _tanh(x, fast):
    if fast:
        return fast_tanh(x)
    return math.tanh(x)


@njit(cache=True, error_model="numpy", inline="always")
def _sigmoid(x, fast):
    if fast:  # σ(x) = (1 + tanh(x/2))/2
        return F32(0.5) + F32(0.5) * fast_tanh(F32(0.5) * x)
    return act.sigmoid(x)  # the op table's


@njit(cache=True, error_model="numpy")
def swap_batch_time(src, dst):
    """dst[j, i, :] = src[i, j, :]: (B, T, ·) to time-major (T, B, ·) and back again."""
    n0, n1, ni = src.shape
    for i in range(n0):
        for j in range(n1):
            for k in range(ni):
                dst[j, i, k] = src[i, j, k]


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def _project(x, w_ih, b, xt, xw):
    """xw (T·B, G) = xt Wᵢₕᵀ + b for all steps at once."""
    nb, nt, ni = x.shape
    swap_batch_time(x, xt)
    xw2 = xw.reshape(nt * nb, w_ih.shape[0])
    gemm(xt.reshape(nt * nb, ni), w_ih.T, xw2)
    add_bias(xw2, b)


@parallel_kernel(composition=True, error_model="numpy")
def tn_product(a, b, out):
    """out = aᵀ b over the T·B rows, the two halves of the rows on two threads (each its own
    partial product, summed after: no shared writes)."""
    n = a.shape[0]
    half = n // 2
    parts = np.empty((2, out.shape[0], out.shape[1]), dtype=out.dtype)
    for part in prange(2):
        lo = part * half
        hi = half if part == 0 else n
        gemm(a[lo:hi].T, b[lo:hi], parts[part])
    add_matrices(out, parts[0], parts[1])


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def _weight_grads(d, xt, hs, w_ih, dw_ih, dw_hh, db, dxt, dx, need_dx):
    """∂Wᵢₕ = Σ_t δ_tᵀ x_t, ∂Wₕₕ = Σ_t δ_tᵀ h_{t−1}, ∂b = Σ δ, ∂x = δ Wᵢₕ (all steps at once).

    ``d`` is (T, B, G) with the gate-input gradients that multiply the hidden state
    (for GRU the caller passes its hidden-side δ separately)."""
    nt, nb, g = d.shape
    ni = xt.shape[2]
    d2 = d.reshape(nt * nb, g)
    tn_product(d2, xt.reshape(nt * nb, ni), dw_ih)
    h = hs.shape[2]
    tn_product(d2, hs[:nt].reshape(nt * nb, h), dw_hh)
    column_sums(d2, db)
    if need_dx:
        gemm(d2, w_ih, dxt.reshape(nt * nb, ni))
        swap_batch_time(dxt, dx)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def rnn_forward(x, w_ih, w_hh, b, xt, xw, hs, tmp, w_t, relu, fast):
    """h_t = f(x_t Wᵢₕᵀ + h_{t−1} Wₕₕᵀ + b), f = tanh (or ReLU); hs[0] = 0, hs[t+1] = h_t."""
    nb, nt, ni = x.shape
    m = nb * w_hh.shape[0]
    _project(x, w_ih, b, xt, xw)
    transpose_into(w_hh, w_t)
    hs[0] = 0.0
    xwf = xw.reshape(nt, m)
    hsf = hs.reshape(nt + 1, m)
    tmpf = tmp.reshape(m)
    for t in range(nt):
        gemm(hs[t], w_t, tmp)
        rnn_cell(xwf[t], tmpf, hsf[t + 1], relu, fast)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def rnn_cell(xw_t, tmp, h_new, relu, fast):
    """h_t = f(x_t Wᵢₕᵀ + b + h_{t−1} Wₕₕᵀ) over one step's (B·H) values."""
    for k in range(h_new.size):
        v = xw_t[k] + tmp[k]
        if relu:
            h_new[k] = act.relu(v)
        else:
            h_new[k] = _tanh(v, fast)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def rnn_backward(
    xt, w_ih, w_hh, hs, d_all, d_last, delta, dh, dw_ih, dw_hh, db, dxt, dx, relu, need_dx
):
    """BPTT: δ_t = (∂L/∂h_t + δ_{t+1} Wₕₕ) ⊙ f'(·); weight gradients summed over steps."""
    nt = delta.shape[0]
    copy_2d(d_last, dh)
    for t in range(nt - 1, -1, -1):
        rnn_delta(t, dh, d_all, hs, delta, relu)
        gemm(delta[t], w_hh, dh)
    _weight_grads(delta, xt, hs, w_ih, dw_ih, dw_hh, db, dxt, dx, need_dx)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def rnn_delta(t, dh, d_all, hs, delta, relu):
    """One step of BPTT: ∂L/∂h_t += the loss's own (``d_all``, if any); δ_t = ∂L/∂h_t ⊙ f'."""
    nb, nh = dh.shape
    if d_all.size > 0:
        for i in range(nb):
            for j in range(nh):
                dh[i, j] += d_all[t, i, j]
    for i in range(nb):
        for j in range(nh):
            h = hs[t + 1, i, j]
            if relu:
                delta[t, i, j] = dh[i, j] * act.relu_derivative(h)  # h > 0 iff z > 0
            else:
                delta[t, i, j] = dh[i, j] * (ONE - h * h)


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def _lstm_gates(row, xw_row, tmp_row, nh, fast):
    """One sample's gates: row = act(xw_row + tmp_row), σ on i, f, o and tanh on g.

    Each gate block is a 1-D view looped from 0: written with 2-D indices and offset ranges
    (gt[i, 2H + k]) the loops did not vectorise (gates of one LSTM pass: 574 → 144 µs)."""
    for k in range(row.size):
        row[k] = xw_row[k] + tmp_row[k]
    a = row[: 2 * nh]
    for k in range(a.size):
        a[k] = _sigmoid(a[k], fast)
    g = row[2 * nh : 3 * nh]
    for k in range(g.size):
        g[k] = _tanh(g[k], fast)
    o = row[3 * nh :]
    for k in range(o.size):
        o[k] = _sigmoid(o[k], fast)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def _lstm_steps(lo, hi, xw, hs, cs, gates, tanh_c, tmp, w_t, fast):
    """The forward time loop for batch rows [lo, hi): each sequence is independent."""
    for t in range(xw.shape[0]):
        gemm(hs[t][lo:hi], w_t, tmp[lo:hi])
        lstm_cell(lo, hi, gates[t], xw[t], tmp, cs[t], cs[t + 1], tanh_c[t], hs[t + 1], fast)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def lstm_cell(lo, hi, gt, xwt, tmp, c_prev, c_new, tc_t, h_new, fast):
    """One step for batch rows [lo, hi) (``tmp`` = h_{t−1} Wₕₕᵀ): the gates, then
    c_t = f⊙c_{t−1} + i⊙g and h_t = o⊙tanh(c_t)."""
    nh = c_new.shape[1]
    for i in range(lo, hi):
        _lstm_gates(gt[i], xwt[i], tmp[i], nh, fast)
    for i in range(lo, hi):
        for j in range(nh):
            c_new[i, j] = gt[i, nh + j] * c_prev[i, j] + gt[i, j] * gt[i, 2 * nh + j]
        for j in range(nh):
            tc = _tanh(c_new[i, j], fast)
            tc_t[i, j] = tc
            h_new[i, j] = gt[i, 3 * nh + j] * tc


@parallel_kernel(composition=True, error_model="numpy")
def lstm_forward(x, w_ih, w_hh, b, xt, xw, hs, cs, gates, tanh_c, tmp, w_t, fast):
    """i, f, g, o = σ, σ, tanh, σ of x_t Wᵢₕᵀ + h_{t−1} Wₕₕᵀ + b; c_t = f⊙c + i⊙g;
    h_t = o⊙tanh(c_t). ``gates`` (T, B, 4H) keeps the activated gates for BPTT.

    The two halves of the batch run their whole time loops on two threads (sequences are
    independent: one thread hand-off per pass, not one per step). Each step runs simple loops
    (pre-activations, gate nonlinearities per contiguous gate block, cell update): they
    vectorise."""
    _project(x, w_ih, b, xt, xw)
    transpose_into(w_hh, w_t)
    hs[0] = 0.0
    cs[0] = 0.0
    nb = x.shape[0]
    for part in prange(2):
        lo, hi = part * (nb // 2), (nb // 2 if part == 0 else nb)  # this thread's rows
        if hi > lo:
            _lstm_steps(lo, hi, xw, hs, cs, gates, tanh_c, tmp, w_t, fast)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def _lstm_back_steps(lo, hi, w_hh, cs, gates, tanh_c, d_all, d_last, d_cell, delta, dh, dc):
    """The backward time loop for batch rows [lo, hi)."""
    lstm_delta_start(lo, hi, d_last, d_cell, dh, dc)
    for t in range(delta.shape[0] - 1, -1, -1):
        lstm_delta(lo, hi, t, d_all, gates[t], delta[t], tanh_c[t], cs[t], dh, dc)
        gemm(delta[t][lo:hi], w_hh, dh[lo:hi])


@njit(cache=True, error_model="numpy")
def lstm_delta_start(lo, hi, d_last, d_cell, dh, dc):
    """∂L/∂h_T and ∂L/∂c_T (none: 0) for batch rows [lo, hi)."""
    for i in range(lo, hi):
        for j in range(dh.shape[1]):
            dh[i, j] = d_last[i, j]
            dc[i, j] = d_cell[i, j] if d_cell.size > 0 else 0.0


@njit(cache=True, error_model="numpy", fastmath=FAST)
def lstm_delta(lo, hi, t, d_all, gt, dt, tct, c_prev, dh, dc):
    """One step of LSTM BPTT for batch rows [lo, hi): the four gates' δ into ``dt`` and
    ∂L/∂c_{t−1} into ``dc`` (∂L/∂h_{t−1} follows from δ Wₕₕ)."""
    nh = dh.shape[1]
    if d_all.size > 0:
        for i in range(lo, hi):
            for j in range(nh):
                dh[i, j] += d_all[t, i, j]
    for i in range(lo, hi):  # 1-D views per gate block: these loops vectorise
        g_i, g_f = gt[i, :nh], gt[i, nh : 2 * nh]
        g_g, g_o = gt[i, 2 * nh : 3 * nh], gt[i, 3 * nh :]
        d_i, d_f = dt[i, :nh], dt[i, nh : 2 * nh]
        d_g, d_o = dt[i, 2 * nh : 3 * nh], dt[i, 3 * nh :]
        tc_i, cp_i, dh_i, dc_i = tct[i], c_prev[i], dh[i], dc[i]
        for j in range(nh):
            gi = g_i[j]
            gf = g_f[j]
            gg = g_g[j]
            go = g_o[j]
            tc = tc_i[j]
            d_h = dh_i[j]
            d_c = dc_i[j] + d_h * go * (ONE - tc * tc)
            d_i[j] = d_c * gg * gi * (ONE - gi)
            d_f[j] = d_c * cp_i[j] * gf * (ONE - gf)
            d_g[j] = d_c * gi * (ONE - gg * gg)
            d_o[j] = d_h * tc * go * (ONE - go)
            dc_i[j] = d_c * gf


@parallel_kernel(composition=True, error_model="numpy")
def lstm_backward(
    xt, w_ih, w_hh, hs, cs, gates, tanh_c, d_all, d_last, d_cell, delta, dh, dc,
    dw_ih, dw_hh, db, dxt, dx, need_dx,
):  # fmt: skip
    """BPTT through the LSTM cell; ``d_cell`` is ∂L/∂c_T (B, H) (size 0: none). The batch
    halves run on two threads, then the weight gradients are summed over all steps."""
    nb = delta.shape[1]
    for part in prange(2):
        lo, hi = part * (nb // 2), (nb // 2 if part == 0 else nb)  # this thread's rows
        if hi > lo:
            _lstm_back_steps(lo, hi, w_hh, cs, gates, tanh_c, d_all, d_last, d_cell, delta,
                             dh, dc)  # fmt: skip
    _weight_grads(delta, xt, hs, w_ih, dw_ih, dw_hh, db, dxt, dx, need_dx)


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def gru_forward(x, w_ih, w_hh, b_ih, b_hh, xt, xw, hs, gates, hn, tmp, w_t, fast):
    """r = σ(x Wᵢᵣᵀ + bᵢᵣ + h Wₕᵣᵀ + bₕᵣ), z likewise, n = tanh(x Wᵢₙᵀ + bᵢₙ + r⊙(h Wₕₙᵀ + bₕₙ)),
    h' = (1 − z)⊙n + z⊙h. Keeps r, z, n in ``gates`` and h Wₕₙᵀ + bₕₙ in ``hn``."""
    nt = x.shape[1]
    _project(x, w_ih, b_ih, xt, xw)
    transpose_into(w_hh, w_t)
    hs[0] = 0.0
    for t in range(nt):
        gemm(hs[t], w_t, tmp)
        gru_cell(gates[t], xw[t], hn[t], hs[t], hs[t + 1], tmp, b_hh, fast)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def gru_cell(gt, xwt, hnt, h_prev, h_new, tmp, b_hh, fast):
    """One step of :func:`gru_forward` (``tmp`` = h_{t−1} Wₕₕᵀ)."""
    nb, nh = h_new.shape
    for i in range(nb):
        for k in range(2 * nh):
            gt[i, k] = _sigmoid(xwt[i, k] + tmp[i, k] + b_hh[k], fast)
        for j in range(nh):
            hnt[i, j] = tmp[i, 2 * nh + j] + b_hh[2 * nh + j]
        for j in range(nh):
            gt[i, 2 * nh + j] = _tanh(xwt[i, 2 * nh + j] + gt[i, j] * hnt[i, j], fast)
        for j in range(nh):
            z = gt[i, nh + j]
            h_new[i, j] = (ONE - z) * gt[i, 2 * nh + j] + z * h_prev[i, j]


@parallel_kernel(composition=True, parallel=False, error_model="numpy")
def gru_backward(
    xt, w_ih, w_hh, hs, gates, hn, d_all, d_last, delta_x, delta_h, dh, dh_prev,
    dw_ih, dw_hh, db_ih, db_hh, dxt, dx, need_dx,
):  # fmt: skip
    """BPTT through the GRU cell: the input side and the hidden side of the n gate differ
    (the hidden side is multiplied by r), so two δ arrays are kept."""
    nt, nb, g3 = delta_x.shape
    nh = g3 // 3
    copy_2d(d_last, dh)
    for t in range(nt - 1, -1, -1):
        gru_delta(t, dh, dh_prev, d_all, hs, gates, hn, delta_x, delta_h)
        gemm(delta_h[t], w_hh, dh)
        add_matrices(dh, dh, dh_prev)
    ni = xt.shape[2]
    dx2 = delta_x.reshape(nt * nb, g3)
    dh2 = delta_h.reshape(nt * nb, g3)
    tn_product(dx2, xt.reshape(nt * nb, ni), dw_ih)
    tn_product(dh2, hs[:nt].reshape(nt * nb, nh), dw_hh)
    column_sums(dx2, db_ih)
    column_sums(dh2, db_hh)
    if need_dx:
        gemm(dx2, w_ih, dxt.reshape(nt * nb, ni))
        swap_batch_time(dxt, dx)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def gru_delta(t, dh, dh_prev, d_all, hs, gates, hn, delta_x, delta_h):
    """One step of GRU BPTT: the gates' δ (input and hidden side) and the part of
    ∂L/∂h_{t−1} that flows through z (``dh_prev``)."""
    nb, nh = dh.shape
    if d_all.size > 0:
        for i in range(nb):
            for j in range(nh):
                dh[i, j] += d_all[t, i, j]
    for i in range(nb):
        for j in range(nh):
            r = gates[t, i, j]
            z = gates[t, i, nh + j]
            n = gates[t, i, 2 * nh + j]
            d = dh[i, j]
            dn = d * (ONE - z) * (ONE - n * n)
            dz = d * (hs[t, i, j] - n) * z * (ONE - z)
            dr = dn * hn[t, i, j] * r * (ONE - r)
            delta_x[t, i, j] = dr
            delta_x[t, i, nh + j] = dz
            delta_x[t, i, 2 * nh + j] = dn
            delta_h[t, i, j] = dr
            delta_h[t, i, nh + j] = dz
            delta_h[t, i, 2 * nh + j] = dn * r
            dh_prev[i, j] = d * z
