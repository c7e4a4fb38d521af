"""Update rules of the course as pure, in-place functions over numpy arrays.

Each rule takes the parameter ``p``, its gradient ``g`` (never modified), the optimizer state
arrays (updated in place), the 1-based step number ``t`` and float hyperparameters. Only
float arrays and Python numbers go in, nothing comes out, so the SAME functions run
(a) from the graph backend's optimizer classes, once per parameter array, and
(b) under ``numba.njit(cache=True)`` in the jit backend, once over one flat buffer.

Rules call no other Python function (numba resolves globals at compile time), which is why
the weight-decay line is repeated in each.

Notation follows the lecture notes (seed 001): α = ``lr``, β = ``beta``/``beta1``,
γ = ``beta2``, ρ = ``rho``, ε = ``eps``. ``weight_decay`` (λ) is the coupled L2 form
g ← g + λφ for every rule except :func:`adamw`, whose decay is decoupled φ ← (1 − αλ)φ.
"""

from __future__ import annotations

import math

import numpy as np


def sgd(p, g, lr, weight_decay):
    """GD / SGD / minibatch GD: φ ← φ − α g."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    p -= lr * d


def momentum(p, g, m, lr, beta, weight_decay):
    """Momentum, first course form: m ← βm + (1 − β)g; φ ← φ − α m."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    m *= beta
    m += (1.0 - beta) * d
    p -= lr * m


def momentum_velocity(p, g, v, lr, mu, weight_decay):
    """Momentum, second course form (velocity): v ← μv − γg; φ ← φ + v (γ = ``lr``)."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    v *= mu
    v -= lr * d
    p += v


def nesterov(p, g, m, lr, beta, weight_decay):
    """Nesterov: m ← βm + (1 − β)∇L[φ − αβm]; φ ← φ − α m.

    The stored parameter is the look-ahead point θ = φ − αβm, so the gradient the model
    computes is already taken there. Substituting gives θ ← θ − α(βm_new + (1 − β)g).
    """
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    m *= beta
    m += (1.0 - beta) * d
    p -= lr * (beta * m + (1.0 - beta) * d)


def normalized(p, g, lr, eps, weight_decay):
    """Normalised GD (course form): v = g², φ ← φ − α g/(√v + ε), each step in [−α, α]."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    p -= lr * d / (np.sqrt(d * d) + eps)


def adagrad(p, g, s, lr, eps, weight_decay):
    """AdaGrad: s ← s + g²; φ ← φ − α g/(√s + ε)."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    s += d * d
    p -= lr * d / (np.sqrt(s) + eps)


def adadelta(p, g, s, u, lr, rho, eps, weight_decay):
    """AdaDelta (Zeiler): s ← ρs + (1−ρ)g²; Δ = √(u+ε)/√(s+ε)·g; u ← ρu + (1−ρ)Δ²; φ ← φ − αΔ."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    s *= rho
    s += (1.0 - rho) * d * d
    delta = np.sqrt(u + eps) / np.sqrt(s + eps) * d
    u *= rho
    u += (1.0 - rho) * delta * delta
    p -= lr * delta


def rmsprop(p, g, s, lr, rho, eps, weight_decay):
    """RMSProp: s ← ρs + (1 − ρ)g²; φ ← φ − α g/(√s + ε)."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    s *= rho
    s += (1.0 - rho) * d * d
    p -= lr * d / (np.sqrt(s) + eps)


def adam(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """Adam: m ← βm + (1−β)g; v ← γv + (1−γ)g²; m̂ = m/(1−βᵗ); v̂ = v/(1−γᵗ);
    φ ← φ − α m̂/(√v̂ + ε)."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    m *= beta1
    m += (1.0 - beta1) * d
    v *= beta2
    v += (1.0 - beta2) * d * d
    mhat_scale = 1.0 / (1.0 - beta1**t)
    vhat_scale = 1.0 / (1.0 - beta2**t)
    p -= lr * (m * mhat_scale) / (np.sqrt(v * vhat_scale) + eps)


def adamw(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """AdamW: decoupled weight decay φ ← (1 − αλ)φ, then an Adam step on the raw gradient."""
    p *= 1.0 - lr * weight_decay
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * g * g
    mhat_scale = 1.0 / (1.0 - beta1**t)
    vhat_scale = 1.0 / (1.0 - beta2**t)
    p -= lr * (m * mhat_scale) / (np.sqrt(v * vhat_scale) + eps)


def nadam(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """NAdam (Dozat, without the momentum-decay schedule): Adam whose step looks ahead by
    one momentum step, φ ← φ − α (β m̂ + (1−β) g/(1−βᵗ)) / (√v̂ + ε)."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    m *= beta1
    m += (1.0 - beta1) * d
    v *= beta2
    v += (1.0 - beta2) * d * d
    bc1 = 1.0 - beta1**t
    vhat_scale = 1.0 / (1.0 - beta2**t)
    p -= lr * (beta1 * m / bc1 + (1.0 - beta1) * d / bc1) / (np.sqrt(v * vhat_scale) + eps)


def adamax(p, g, m, u, t, lr, beta1, beta2, eps, weight_decay):
    """AdaMax: m ← βm + (1−β)g; u ← max(γu, |g|); φ ← φ − α/(1−βᵗ) · m/(u + ε)."""
    d = g.copy()  # g + λφ, the gradient of L + (λ/2)‖φ‖²; g itself stays untouched
    if weight_decay != 0.0:
        d += weight_decay * p
    m *= beta1
    m += (1.0 - beta1) * d
    u[:] = np.maximum(beta2 * u, np.abs(d))
    p -= (lr / (1.0 - beta1**t)) * m / (u + eps)


# --- gradient and weight transforms shared by both backends --------------------------


def clip_by_value(g, clip):
    """Clip every gradient entry to [−c, c] in place (the course clips to [−1, 1])."""
    np.clip(g, -clip, clip, g)


def sum_of_squares(g):
    """‖g‖² of one array; the global norm is the root of the sum over all parameters."""
    total = 0.0
    flat = g.ravel()
    for i in range(flat.size):
        total += flat[i] * flat[i]
    return total


def clip_scale(global_norm, max_norm):
    """The factor that rescales all gradients so their global norm is at most ``max_norm``."""
    if global_norm > max_norm:
        return max_norm / (global_norm + 1e-12)
    return 1.0


def add_penalty_grad(g, p, l1, l2):
    """g ← g + λ₁ sign(φ) + 2λ₂ φ: gradient of λ₁‖φ‖₁ + λ₂‖φ‖² added in place."""
    if l1 != 0.0:
        g += l1 * np.sign(p)
    if l2 != 0.0:
        g += (2.0 * l2) * p


def penalty_value(p, l1, l2):
    """λ₁‖φ‖₁ + λ₂‖φ‖² for one array (reported in the loss, not differentiated)."""
    value = 0.0
    if l1 != 0.0:
        value += l1 * np.abs(p).sum()
    if l2 != 0.0:
        value += l2 * (p * p).sum()
    return value


def max_norm_rows(w2d, c):
    """Max-norm constraint: rescale each unit's incoming weight row so that ‖w‖₂ ≤ c.

    ``w2d`` is the weight viewed as (units, fan_in) — a Linear weight as is, a conv
    kernel (out, in, k...) reshaped; rescaled in place.
    """
    for r in range(w2d.shape[0]):
        row = w2d[r]
        norm = math.sqrt((row * row).sum())
        if norm > c:
            w2d[r] *= c / (norm + 1e-12)
