"""Update rules of the course as pure, in-place loops over flat numpy arrays.

Each rule takes the parameter ``p``, its gradient ``g`` (never modified), the optimizer state
arrays (updated in place), the 1-based step number ``t`` and float hyperparameters. All
arrays are 1-D and of one length: a parameter's flat view ``p.data.reshape(-1)``, or the jit
backend's one flat buffer holding every parameter. Nothing comes out. The graph backend's
optimizer classes and the jit backend both run them compiled by
:func:`gradflow.kernels.update.rule_for`, so both backends run literally the same machine
code; without numba (``NUMBA_DISABLE_JIT=1``) they run as the Python loops written here —
slow, but the same numbers.

Why one loop per rule and not numpy array expressions: numba compiles each array expression
to its own loop with its own temporary, and plain numpy does the same in C; one loop reads
each entry once and keeps the intermediates (``d``, ``m̂``…) in registers. Adam over 17k
float32 parameters: numpy 35 µs, this loop compiled 18 µs.

``prange`` is plain ``range`` here, so importing gradflow does not import numba;
:func:`~gradflow.kernels.update.compile_rule` binds it to ``numba.prange``, which makes the
loop multi-threaded in the ``parallel=True`` compile (entries are independent) and a plain
loop otherwise. Rules call no Python function of their own (only ``math``/``np`` scalars),
which is why the weight-decay line is repeated in each.

Notation follows the lecture notes (seed 001): α = ``lr``, β = ``beta``/``beta1``,
γ = ``beta2``, ρ = ``rho``, ε = ``eps``. ``weight_decay`` (λ) is the coupled L2 form
d = g + λφ (the gradient of L + (λ/2)‖φ‖²) for every rule except :func:`adamw`, whose decay
is decoupled φ ← (1 − αλ)φ. Scalars are float64, so float32 parameters are updated with
float64 intermediates and rounded once when stored: a rule keeps each new state value in a
local and updates φ from that, not from the state entry it has just rounded (φ + v with φ ≈
−v lost the difference to float32 rounding of v otherwise). The one exception is the step
of the adaptive rules, α·m̂/(√v̂ + ε) and its kin: its square root and division are taken
in φ's own precision (``f = p.dtype.type``), as PyTorch takes them for float32 parameters.
They were most of such a rule's time in float64 (Adam over 17k float32 entries: 24 µs
against 11), the step is rounded to φ's precision anyway, and the state (m, v, s) keeps its
float64 intermediates. For float64 parameters nothing changes.
"""

from __future__ import annotations

import math

import numpy as np

#: ``numba.prange`` once compiled (see the module docstring); ``range`` in plain Python
prange = range


def sgd(p, g, lr, weight_decay):
    """GD / SGD / minibatch GD: φ ← φ − α g."""
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        p[i] -= lr * d


def momentum(p, g, m, lr, beta, weight_decay):
    """Momentum, first course form: m ← βm + (1 − β)g; φ ← φ − α m."""
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        mi = beta * m[i] + (1.0 - beta) * d
        m[i] = mi
        p[i] -= lr * mi


def momentum_velocity(p, g, v, lr, mu, weight_decay):
    """Momentum, second course form (velocity): v ← μv − γg; φ ← φ + v (γ = ``lr``)."""
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        vi = mu * v[i] - lr * d
        v[i] = vi
        p[i] += vi


def nesterov(p, g, m, lr, beta, weight_decay):
    """Nesterov: m ← βm + (1 − β)∇L[φ − αβm]; φ ← φ − α m.

    The stored parameter is the look-ahead point θ = φ − αβm, so the gradient the model
    computes is already taken there. Substituting gives θ ← θ − α(βm_new + (1 − β)g).
    """
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λθ
        mi = beta * m[i] + (1.0 - beta) * d
        m[i] = mi
        p[i] -= lr * (beta * mi + (1.0 - beta) * d)


def normalized(p, g, lr, eps, weight_decay):
    """Normalised GD (course form): v = g², φ ← φ − α g/(√v + ε), each step in [−α, α]."""
    f, e = p.dtype.type, p.dtype.type(eps)  # the step in φ's precision (module docstring)
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        p[i] -= f(lr * d) / (math.sqrt(f(d * d)) + e)


def adagrad(p, g, s, lr, eps, weight_decay):
    """AdaGrad: s ← s + g²; φ ← φ − α g/(√s + ε)."""
    f, e = p.dtype.type, p.dtype.type(eps)
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        si = s[i] + d * d
        s[i] = si
        p[i] -= f(lr * d) / (math.sqrt(f(si)) + e)


def adadelta(p, g, s, u, lr, rho, eps, weight_decay):
    """AdaDelta (Zeiler): s ← ρs + (1−ρ)g²; Δ = √(u+ε)/√(s+ε)·g; u ← ρu + (1−ρ)Δ²; φ ← φ − αΔ."""
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        si = rho * s[i] + (1.0 - rho) * d * d
        s[i] = si
        delta = math.sqrt(u[i] + eps) / math.sqrt(si + eps) * d
        u[i] = rho * u[i] + (1.0 - rho) * delta * delta
        p[i] -= lr * delta


def rmsprop(p, g, s, lr, rho, eps, weight_decay):
    """RMSProp: s ← ρs + (1 − ρ)g²; φ ← φ − α g/(√s + ε)."""
    f, e = p.dtype.type, p.dtype.type(eps)
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        si = rho * s[i] + (1.0 - rho) * d * d
        s[i] = si
        p[i] -= f(lr * d) / (math.sqrt(f(si)) + e)


def adam(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """Adam: m ← βm + (1−β)g; v ← γv + (1−γ)g²; m̂ = m/(1−βᵗ); v̂ = v/(1−γᵗ);
    φ ← φ − α m̂/(√v̂ + ε)."""
    mhat_scale = 1.0 / (1.0 - beta1**t)  # m̂ = m · mhat_scale
    vhat_scale = 1.0 / (1.0 - beta2**t)  # v̂ = v · vhat_scale
    f, e = p.dtype.type, p.dtype.type(eps)
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        mi = beta1 * m[i] + (1.0 - beta1) * d
        vi = beta2 * v[i] + (1.0 - beta2) * d * d
        m[i], v[i] = mi, vi
        p[i] -= f(lr * (mi * mhat_scale)) / (math.sqrt(f(vi * vhat_scale)) + e)


def adamw(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """AdamW: decoupled weight decay φ ← (1 − αλ)φ, then an Adam step on the raw gradient."""
    decay = 1.0 - lr * weight_decay
    mhat_scale = 1.0 / (1.0 - beta1**t)  # m̂ = m · mhat_scale
    vhat_scale = 1.0 / (1.0 - beta2**t)  # v̂ = v · vhat_scale
    f, e = p.dtype.type, p.dtype.type(eps)
    for i in prange(p.size):
        mi = beta1 * m[i] + (1.0 - beta1) * g[i]
        vi = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i]
        m[i], v[i] = mi, vi
        p[i] = p[i] * decay - f(lr * (mi * mhat_scale)) / (math.sqrt(f(vi * vhat_scale)) + e)


def nadam(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay, momentum_decay):
    """NAdam as Dozat states it (2016): Adam whose step applies the *next* momentum now.

    m ← μm + (1−μ)g; v ← γv + (1−γ)g²; v̂ = v/(1−γᵗ);
    m̂ = μ_{t+1}·m/(1 − μ₁⋯μ_{t+1}) + (1−μₜ)·g/(1 − μ₁⋯μₜ);  φ ← φ − α m̂/(√v̂ + ε).

    With ``momentum_decay`` ψ = 0 (the default) μₜ = β is constant and the corrections are
    1/(1−β^{t+1}) on the momentum and 1/(1−βᵗ) on the gradient — the course's NAdam. With
    ψ > 0, μₜ = β(1 − ½·0.96^{tψ}) is PyTorch's momentum-decay schedule (``torch.optim.NAdam``
    uses ψ = 0.004); the products μ₁⋯μₜ are then recomputed each step (t multiplications).
    """
    if momentum_decay == 0.0:
        mu_t, mu_next = beta1, beta1
        prod_t, prod_next = beta1**t, beta1 ** (t + 1)
    else:
        prod_t = 1.0
        for i in range(1, t + 1):
            prod_t *= beta1 * (1.0 - 0.5 * 0.96 ** (i * momentum_decay))
        mu_t = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        prod_next = prod_t * mu_next
    m_scale = mu_next / (1.0 - prod_next)  # on the momentum m
    g_scale = (1.0 - mu_t) / (1.0 - prod_t)  # on the gradient g
    vhat_scale = 1.0 / (1.0 - beta2**t)
    f, e = p.dtype.type, p.dtype.type(eps)
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        mi = beta1 * m[i] + (1.0 - beta1) * d
        vi = beta2 * v[i] + (1.0 - beta2) * d * d
        m[i], v[i] = mi, vi
        p[i] -= f(lr * (m_scale * mi + g_scale * d)) / (math.sqrt(f(vi * vhat_scale)) + e)


def adamax(p, g, m, u, t, lr, beta1, beta2, eps, weight_decay):
    """AdaMax: m ← βm + (1−β)g; u ← max(γu, |g|); φ ← φ − α/(1−βᵗ) · m/(u + ε)."""
    step = lr / (1.0 - beta1**t)
    f, e = p.dtype.type, p.dtype.type(eps)
    for i in prange(p.size):
        d = g[i] + weight_decay * p[i]  # g + λφ
        mi = beta1 * m[i] + (1.0 - beta1) * d
        ui = max(beta2 * u[i], abs(d))
        m[i], u[i] = mi, ui
        p[i] -= f(step * mi) / (f(ui) + e)


# --- gradient and weight transforms shared by both backends --------------------------


def clip_by_value(g, clip):
    """Clip every entry of the flat gradient to [−c, c] in place (the course clips to [−1, 1]).
    NaN entries stay NaN, as with ``np.clip``."""
    for i in prange(g.size):
        if g[i] > clip:
            g[i] = clip
        elif g[i] < -clip:
            g[i] = -clip


def sum_of_squares(g):
    """‖g‖² of one array; the global norm is the root of the sum over all parameters."""
    total = 0.0
    flat = g.ravel()
    for i in prange(flat.size):  # a sum: numba's parallel compile reduces per thread
        total += flat[i] * flat[i]
    return total


def clip_scale(global_norm, max_norm):
    """The factor that rescales all gradients so their global norm is at most ``max_norm``."""
    if global_norm > max_norm:
        return max_norm / (global_norm + 1e-12)
    return 1.0


def add_penalty_grad(g, p, l1, l2):
    """g ← g + λ₁ sign(φ) + 2λ₂ φ: gradient of λ₁‖φ‖₁ + λ₂‖φ‖² added in place (flat arrays)."""
    two_l2 = 2.0 * l2
    for i in prange(g.size):
        with_l1 = g[i] + l1 * np.sign(p[i])
        g[i] = with_l1 + two_l2 * p[i]


def penalty_value(p, l1, l2):
    """λ₁‖φ‖₁ + λ₂‖φ‖² for one array (reported in the loss, not differentiated).

    Any shape; numpy, not a loop: it runs in plain Python, once per reported loss."""
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
    for r in prange(w2d.shape[0]):
        total = 0.0
        for j in range(w2d.shape[1]):
            total += w2d[r, j] * w2d[r, j]
        norm = math.sqrt(total)
        if norm > c:
            factor = c / (norm + 1e-12)
            for j in range(w2d.shape[1]):
                w2d[r, j] *= factor
