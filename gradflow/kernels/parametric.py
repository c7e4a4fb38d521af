"""Activations whose slope is a parameter: learned (PReLU α, Swish β) or drawn (RReLU).

Unlike :mod:`gradflow.kernels.activation`, the parameter is an array read at every call (the
optimizer updates it in place between steps), and backward also returns its gradient. The
forward and input derivative are the op table's (leaky ReLU with the slope as its α, swish's
sigmoid), compiled in :mod:`gradflow.kernels.activation`; the kink convention is the
table's: at x = 0 the ``x ≤ 0`` branch (slope α) is taken.

Parameter gradients are *written* (not added), as every kernel of the backend does: the
flat gradient buffer holds one step's gradient.
"""

from __future__ import annotations

from .activation import leaky_relu, leaky_relu_derivative, sigmoid
from .cachedir import njit


@njit(cache=True, error_model="numpy")
def prelu_forward(x, alpha, y):
    """y = x if x > 0 else α_c x over (B, C, S); channel c of x uses α[c]."""
    nb, nc, ns = x.shape
    for b in range(nb):
        for c in range(nc):
            a = alpha[c]
            for s in range(ns):
                v = x[b, c, s]
                y[b, c, s] = leaky_relu(v, a)


@njit(cache=True, error_model="numpy")
def prelu_backward(x, alpha, dy, dx, dalpha, need_dx):
    """∂L/∂x = ∂L/∂y · (1 if x > 0 else α_c);  ∂L/∂α_c = Σ_{x ≤ 0 in channel c} ∂L/∂y · x."""
    nb, nc, ns = x.shape
    for c in range(nc):
        dalpha[c] = 0.0
    for b in range(nb):
        for c in range(nc):
            a = alpha[c]
            acc = 0.0
            for s in range(ns):
                v = x[b, c, s]
                g = dy[b, c, s]
                if v > 0.0:
                    if need_dx:
                        dx[b, c, s] = g
                else:
                    acc += g * v
                    if need_dx:
                        dx[b, c, s] = a * g
            dalpha[c] += acc


@njit(cache=True, error_model="numpy")
def rrelu_forward(x, uniform, lower, upper, slope, y):
    """Training RReLU over flat arrays: slope = lower + (upper − lower)·u, with u the
    generator's U[0, 1) draws (exactly how ``Generator.uniform`` scales them, so the slopes
    equal the graph layer's); y = x if x > 0 else slope·x. ``slope`` is kept for backward."""
    width = upper - lower
    for i in range(x.size):
        slope[i] = lower + width * uniform[i]
        v = x[i]
        y[i] = leaky_relu(v, slope[i])


@njit(cache=True, error_model="numpy")
def rrelu_backward(x, slope, dy, dx):
    """∂L/∂x = ∂L/∂y · (1 if x > 0 else the slope drawn for this element)."""
    for i in range(x.size):
        dx[i] = dy[i] * leaky_relu_derivative(x[i], slope[i])


@njit(cache=True, error_model="numpy")
def swish_forward(x, beta, y, sig):
    """y = x σ(βx) over flat arrays; σ(βx) is kept in ``sig`` for backward."""
    b = beta[0]
    for i in range(x.size):
        s = sigmoid(b * x[i])
        sig[i] = s
        y[i] = x[i] * s


@njit(cache=True, error_model="numpy")
def swish_backward(x, beta, sig, dy, dx, dbeta, need_dx):
    """With s = σ(βx) and σ' = s(1 − s):
    ∂y/∂x = s + βx·s(1 − s);  ∂y/∂β = x²·s(1 − s);  ∂L/∂β = Σ ∂L/∂y · ∂y/∂β."""
    b = beta[0]
    acc = 0.0
    for i in range(x.size):
        v = x[i]
        s = sig[i]
        ds = s * (1.0 - s)
        acc += dy[i] * v * v * ds
        if need_dx:
            dx[i] = dy[i] * (s + b * v * ds)
    dbeta[0] = acc
