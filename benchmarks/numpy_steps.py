"""NumPy by hand: the training steps of W1–W4c written directly in NumPy, the baseline a
student could write without any framework.

Each ``*_step`` function takes the workload's gradflow model (only to copy its initial
weights, as float32 arrays), the optimizer's name and learning rate and a list of batches, and
returns ``step(k)``: forward, softmax cross-entropy (mean over the batch), backward by hand,
the optimizer update in place, and ``float(loss)`` — the same work, data, initial weights and
batch order as gradflow's and PyTorch's steps in :mod:`harness`. Written the way a careful
NumPy user would: matrix products for the layers, an im2col through
``numpy.lib.stride_tricks.sliding_window_view`` for the convolutions, a loop over the time
steps with one product per step (the input projections of all steps in one product up front)
for the recurrent layers, and in-place updates for the optimizer.

``tests/test_bench_numpy.py`` checks the first losses of each against gradflow's graph
engine on the same weights and batches: a baseline that computes something else is worse
than none.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

F32 = np.float32


# ------------------------------------------------------------------------------ optimizers
class Adam:
    """m ← βm + (1−β)g; v ← γv + (1−γ)g²; φ ← φ − α m̂/(√v̂ + ε), in place."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        root = (1.0 - self.b2**self.t) ** 0.5
        a = self.lr * root / (1.0 - self.b1**self.t)  # Python floats: the arrays stay float32
        eps = self.eps * root  # ε on √v̂ moved onto √v
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * (g * g)
            p -= a * m / (np.sqrt(v) + eps)


class Momentum:
    """v ← μv − αg; φ ← φ + v (PyTorch's SGD momentum, gradflow's ``MomentumVelocity``)."""

    def __init__(self, params, lr, mu=0.9):
        self.params, self.lr, self.mu = params, lr, mu
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads):
        for p, g, v in zip(self.params, grads, self.v):
            v *= self.mu
            v -= self.lr * g
            p += v


def optimizer(kind: str, params, lr: float):
    return Adam(params, lr) if kind == "adam" else Momentum(params, lr)


# ------------------------------------------------------------------------------ pieces
def _array(p) -> np.ndarray:
    return np.array(p.data, dtype=F32)  # a copy: gradflow's model is left untouched


def cross_entropy(logits: np.ndarray, y: np.ndarray):
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = np.log(s[:, 0]).mean() - z[rows, y].mean()
    d = e / s
    d[rows, y] -= 1.0
    d /= len(y)
    return loss, d


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)  # σ without exp overflow in float32


def _linear_layers(model):
    from gradflow.nn import Linear

    return [m for m in model.modules() if isinstance(m, Linear)]


# ------------------------------------------------------------------------------ W1, W2
def mlp_step(model, kind: str, lr: float, batches):
    """Linear → ReLU → … → Linear, softmax cross-entropy."""
    layers = _linear_layers(model)
    ws = [_array(m.weight) for m in layers]  # (out, in)
    bs = [_array(m.bias) for m in layers]
    opt = optimizer(kind, [*ws, *bs], lr)

    def step(k):
        x, y = batches[k]
        loss, gw, gb, _ = _dense_pass(x, y, ws, bs, need_dx=False)
        opt.step([*gw, *gb])
        return float(loss)

    return step


def _dense_pass(x, y, ws, bs, need_dx: bool):
    """Linear → ReLU → … → Linear and softmax cross-entropy, forward and backward: the
    loss, ∂L/∂W and ∂L/∂b per layer, and ∂L/∂x if ``need_dx`` (else the last δ)."""
    last = len(ws) - 1
    acts = [x]
    for i, (w, b) in enumerate(zip(ws, bs)):
        z = acts[-1] @ w.T + b
        acts.append(z if i == last else np.maximum(z, 0.0))
    loss, d = cross_entropy(acts[-1], y)
    gw, gb = [None] * len(ws), [None] * len(ws)
    for i in range(last, -1, -1):
        gw[i] = d.T @ acts[i]
        gb[i] = d.sum(axis=0)
        if i or need_dx:
            d = d @ ws[i]
        if i:
            d *= acts[i] > 0
    return loss, gw, gb, d


# ------------------------------------------------------------------------------ W3
def _conv_forward(x, w, b):
    """Cross-correlation, stride 1, no padding, by im2col: (B, C, H, W) → (B, O, H', W')."""
    o, c, kh, kw = w.shape
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))  # (B, C, H', W', kh, kw)
    bsz, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(bsz * ho * wo, c * kh * kw)
    out = cols @ w.reshape(o, -1).T + b
    return out.reshape(bsz, ho, wo, o).transpose(0, 3, 1, 2), cols


def _conv_backward(d, x_shape, w, cols, need_dx):
    """Gradients of :func:`_conv_forward` from ∂L/∂out ``d`` (B, O, H', W')."""
    o, c, kh, kw = w.shape
    bsz, _, ho, wo = d.shape
    dmat = d.transpose(0, 2, 3, 1).reshape(-1, o)
    gw = (dmat.T @ cols).reshape(w.shape)
    gb = dmat.sum(axis=0)
    if not need_dx:
        return None, gw, gb
    dcols = (dmat @ w.reshape(o, -1)).reshape(bsz, ho, wo, c, kh, kw)
    dx = np.zeros(x_shape, dtype=d.dtype)
    for i in range(kh):  # col2im: each kernel offset adds its slice back
        for j in range(kw):
            dx[:, :, i : i + ho, j : j + wo] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx, gw, gb


def _pool_forward(a):
    """2×2 max pooling, stride 2."""
    bsz, c, h, w = a.shape
    blocks = a.reshape(bsz, c, h // 2, 2, w // 2, 2)
    out = blocks.max(axis=(3, 5))
    # ties only occur between zeros of the ReLU before it, where ReLU' is 0 anyway
    mask = blocks == out[:, :, :, None, :, None]
    return out, mask


def _pool_backward(d, mask):
    return (mask * d[:, :, :, None, :, None]).reshape(
        mask.shape[0], mask.shape[1], mask.shape[2] * 2, mask.shape[4] * 2
    )


def lenet_step(model, kind: str, lr: float, batches):
    """conv 5×5 → ReLU → pool 2 → conv 5×5 → ReLU → pool 2 → flatten → Linear stack."""
    from gradflow.nn import Conv2d

    convs = [m for m in model.modules() if isinstance(m, Conv2d)]
    layers = _linear_layers(model)
    cw = [_array(m.weight) for m in convs]
    cb = [_array(m.bias) for m in convs]
    ws = [_array(m.weight) for m in layers]
    bs = [_array(m.bias) for m in layers]
    opt = optimizer(kind, [*cw, *cb, *ws, *bs], lr)

    def step(k):
        x, y = batches[k]
        a, saved = x, []
        for w, b in zip(cw, cb):
            z, cols = _conv_forward(a, w, b)
            pooled, mask = _pool_forward(np.maximum(z, 0.0))
            saved.append((a.shape, cols, z, mask))
            a = pooled
        loss, gw, gb, d = _dense_pass(a.reshape(len(a), -1), y, ws, bs, need_dx=True)
        d = d.reshape(a.shape)
        gcw, gcb = [None] * len(cw), [None] * len(cw)
        for n in range(len(cw) - 1, -1, -1):
            x_shape, cols, z, mask = saved[n]
            d = _pool_backward(d, mask) * (z > 0)
            d, gcw[n], gcb[n] = _conv_backward(d, x_shape, cw[n], cols, need_dx=n > 0)
        opt.step([*gcw, *gcb, *gw, *gb])
        return float(loss)

    return step


# ------------------------------------------------------------------------------ W4, W4b, W4c
def recurrent_step(model, kind: str, lr: float, batches):
    """RNN (tanh) / LSTM / GRU over (B, T, I), Linear head on the last hidden state, backprop
    through time by a loop over the steps in reverse."""
    rec, head = model.recurrent, model.head
    cell = model.kind
    w_ih, w_hh = _array(rec.weight_ih), _array(rec.weight_hh)  # (G·H, I), (G·H, H)
    biases = [_array(getattr(rec, n)) for n in rec.bias_names]
    hw, hb = _array(head.weight), _array(head.bias)
    params = [w_ih, w_hh, *biases, hw, hb]
    opt = optimizer(kind, params, lr)
    hsz = w_hh.shape[1]
    forward, backward = {
        "rnn": (_rnn_forward, _rnn_backward),
        "lstm": (_lstm_forward, _lstm_backward),
        "gru": (_gru_forward, _gru_backward),
    }[cell]

    def step(k):
        x, y = batches[k]
        bsz, steps, isz = x.shape
        xs = x.reshape(bsz * steps, isz)
        # all input projections in one product; the GRU keeps b_hh for the hidden side
        gi = (xs @ w_ih.T + biases[0]).reshape(bsz, steps, -1)
        h_last, tape = forward(gi, w_hh, biases, bsz, hsz)
        loss, d = cross_entropy(h_last @ hw.T + hb, y)
        g_hw, g_hb = d.T @ h_last, d.sum(axis=0)
        dgi, g_whh, g_bhh = backward(d @ hw, tape, w_hh)
        dgi = dgi.reshape(bsz * steps, -1)
        g_wih, g_bih = dgi.T @ xs, dgi.sum(axis=0)
        g_biases = [g_bih] if g_bhh is None else [g_bih, g_bhh]
        opt.step([g_wih, g_whh, *g_biases, g_hw, g_hb])
        return float(loss)

    return step


def _rnn_forward(gi, w_hh, biases, bsz, hsz):
    h = np.zeros((bsz, hsz), dtype=F32)
    hs = [h]
    for t in range(gi.shape[1]):
        h = np.tanh(gi[:, t] + h @ w_hh.T)
        hs.append(h)
    return h, hs


def _rnn_backward(dh, hs, w_hh):
    steps = len(hs) - 1
    dgi = np.empty((dh.shape[0], steps, w_hh.shape[0]), dtype=F32)
    g_whh = np.zeros_like(w_hh)
    for t in range(steps, 0, -1):
        dz = dh * (1.0 - hs[t] * hs[t])
        dgi[:, t - 1] = dz
        g_whh += dz.T @ hs[t - 1]
        dh = dz @ w_hh
    return dgi, g_whh, None


def _lstm_forward(gi, w_hh, biases, bsz, hsz):
    h = np.zeros((bsz, hsz), dtype=F32)
    c = np.zeros((bsz, hsz), dtype=F32)
    tape = [(h, c, None)]
    for t in range(gi.shape[1]):
        z = gi[:, t] + h @ w_hh.T
        i = _sigmoid(z[:, :hsz])
        f = _sigmoid(z[:, hsz : 2 * hsz])
        g = np.tanh(z[:, 2 * hsz : 3 * hsz])
        o = _sigmoid(z[:, 3 * hsz :])
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        tape.append((h, c, (i, f, g, o, tc)))
    return h, tape


def _lstm_backward(dh, tape, w_hh):
    steps = len(tape) - 1
    hsz = w_hh.shape[1]
    dgi = np.empty((dh.shape[0], steps, w_hh.shape[0]), dtype=F32)
    g_whh = np.zeros_like(w_hh)
    dc = np.zeros_like(dh)
    for t in range(steps, 0, -1):
        h_prev, c_prev, _ = tape[t - 1]
        i, f, g, o, tc = tape[t][2]
        dc = dc + dh * o * (1.0 - tc * tc)
        dz = dgi[:, t - 1]
        dz[:, :hsz] = dc * g * i * (1.0 - i)
        dz[:, hsz : 2 * hsz] = dc * c_prev * f * (1.0 - f)
        dz[:, 2 * hsz : 3 * hsz] = dc * i * (1.0 - g * g)
        dz[:, 3 * hsz :] = dh * tc * o * (1.0 - o)
        g_whh += dz.T @ h_prev
        dh = dz @ w_hh
        dc = dc * f
    return dgi, g_whh, None


def _gru_forward(gi, w_hh, biases, bsz, hsz):
    b_hh = biases[1]
    h = np.zeros((bsz, hsz), dtype=F32)
    tape = [(h, None)]
    for t in range(gi.shape[1]):
        x_t = gi[:, t]
        gh = h @ w_hh.T + b_hh
        r = _sigmoid(x_t[:, :hsz] + gh[:, :hsz])
        z = _sigmoid(x_t[:, hsz : 2 * hsz] + gh[:, hsz : 2 * hsz])
        ghn = gh[:, 2 * hsz :]
        n = np.tanh(x_t[:, 2 * hsz :] + r * ghn)
        h = (1.0 - z) * n + z * h
        tape.append((h, (r, z, n, ghn)))
    return h, tape


def _gru_backward(dh, tape, w_hh):
    steps = len(tape) - 1
    hsz = w_hh.shape[1]
    bsz = dh.shape[0]
    dgi = np.empty((bsz, steps, w_hh.shape[0]), dtype=F32)
    dgh = np.empty((bsz, w_hh.shape[0]), dtype=F32)
    g_whh = np.zeros_like(w_hh)
    g_bhh = np.zeros(w_hh.shape[0], dtype=F32)
    for t in range(steps, 0, -1):
        h_prev = tape[t - 1][0]
        r, z, n, ghn = tape[t][1]
        dn = dh * (1.0 - z) * (1.0 - n * n)  # through tanh
        dz = dh * (h_prev - n) * z * (1.0 - z)  # through σ
        dr = dn * ghn * r * (1.0 - r)
        d_in = dgi[:, t - 1]
        d_in[:, :hsz], d_in[:, hsz : 2 * hsz], d_in[:, 2 * hsz :] = dr, dz, dn
        dgh[:, :hsz], dgh[:, hsz : 2 * hsz], dgh[:, 2 * hsz :] = dr, dz, dn * r
        g_whh += dgh.T @ h_prev
        g_bhh += dgh.sum(axis=0)
        dh = dh * z + dgh @ w_hh
    return dgi, g_whh, g_bhh


#: the step builder of each workload
STEPS = {
    "W1": mlp_step,
    "W2": mlp_step,
    "W3": lenet_step,
    "W4": recurrent_step,
    "W4b": recurrent_step,
    "W4c": recurrent_step,
}
