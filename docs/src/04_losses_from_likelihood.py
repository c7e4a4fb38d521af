# %% [markdown]
# # 4. Losses from maximum likelihood
#
# The course (seed 001, following Prince's *Understanding Deep Learning*, ch. 5) does not pick
# losses from a list: it derives them. Let the network output the parameters $\theta$ of a
# probability distribution over the target, $\theta = f(\mathbf{x}; \phi)$, and choose the
# weights $\phi$ that make the training targets most likely:
#
# $$\hat\phi = \arg\max_\phi \prod_i p(y_i \mid f(\mathbf{x}_i;\phi))
# = \arg\min_\phi \Big[-\sum_i \log p(y_i \mid f(\mathbf{x}_i;\phi))\Big].$$
#
# The negative log-likelihood (NLL) *is* the loss. Choose the distribution, get the loss:
# Gaussian → mean squared error, Bernoulli → binary cross-entropy, categorical → softmax
# cross-entropy, Gaussian with a predicted variance → heteroskedastic Gaussian NLL. For each
# we also check the famous gradient $\partial L/\partial z = p - y$.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from gradflow import Tensor, check_symbolic, fit, gradcheck
from gradflow.nn import losses, mlp

# %% [markdown]
# ## Gaussian likelihood → mean squared error
#
# With $y \sim \mathcal{N}(\mu, \sigma^2)$ and $\mu = f(\mathbf{x};\phi)$:
#
# $$-\log p(y\mid\mu) = \frac{(y - \mu)^2}{2\sigma^2} + \tfrac12\log(2\pi\sigma^2).$$
#
# For a fixed $\sigma$ the second term is a constant and the first is the squared error
# divided by $2\sigma^2$: minimising the Gaussian NLL and minimising MSE pick the same $\phi$.
# Below: a line $\mu = ax + b$ fitted to noisy data; the NLL and the MSE differ only by a
# constant factor and offset, so their minimum is at the same $(a, b)$.

# %%
rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, 50)
y = 1.5 * x - 0.5 + rng.normal(0, 0.4, 50)
sigma = 0.4

slopes = np.linspace(0.5, 2.5, 81)
mse_values, nll_values = [], []
for a in slopes:
    mu = Tensor(a * x - 0.5)
    mse_values.append(losses.mse(mu, y).item())
    var = Tensor(np.full(50, sigma**2))
    nll_values.append(
        losses.gaussian_nll(mu.reshape(50, 1), y.reshape(50, 1), var.reshape(50, 1)).item()
    )
mse_values, nll_values = np.array(mse_values), np.array(nll_values)

# NLL = MSE / (2σ²) + ½ log σ²  (gradflow leaves out the constant ½ log 2π unless full=True)
assert np.allclose(nll_values, mse_values / (2 * sigma**2) + 0.5 * math.log(sigma**2))
print(
    "best slope by MSE:",
    slopes[mse_values.argmin()],
    " by Gaussian NLL:",
    slopes[nll_values.argmin()],
)

fig, ax = plt.subplots(1, 2, figsize=(10, 3.3))
ax[0].plot(x, y, ".", label="data")
ax[0].plot(np.sort(x), slopes[mse_values.argmin()] * np.sort(x) - 0.5, label="best line")
ax[0].legend()
ax[1].plot(slopes, mse_values, label="MSE")
ax[1].plot(slopes, nll_values, label="Gaussian NLL (σ = 0.4)")
ax[1].set_xlabel("slope a")
ax[1].legend()
plt.show()

# %% [markdown]
# The gradient of the squared error $\tfrac12(\mu - y)^2$ with respect to the output is
# $\mu - y$: prediction minus target. The MSE over $N$ outputs adds the factor $2/N$.

# %%
mu = Tensor(np.array([0.5, 2.0, -1.0]), requires_grad=True)
target = np.array([1.0, 1.0, 1.0])
loss = losses.mse(mu, target)
loss.backward()
print("engine ∂MSE/∂μ:", mu.grad, "  2(μ − y)/N:", 2 * (mu.data - target) / 3)
assert np.allclose(mu.grad, 2 * (mu.data - target) / 3)

# %% [markdown]
# ## Bernoulli likelihood → binary cross-entropy
#
# For a binary target $y \in \{0, 1\}$ the network outputs one logit $z$ and
# $p = \sigma(z) = P(y = 1)$. The Bernoulli likelihood is $p^y(1-p)^{1-y}$, so
#
# $$L = -\big[y\log p + (1-y)\log(1-p)\big],\qquad
# \frac{\partial L}{\partial z} = \sigma(z) - y = p - y.$$
#
# (Use $\partial L/\partial p = -y/p + (1-y)/(1-p)$ and $\sigma' = p(1-p)$.) gradflow computes
# it from the logit as $\mathrm{softplus}(z) - yz$, which never takes $\log 0$.

# %%
z = Tensor(np.array([-3.0, -0.5, 0.0, 0.8, 4.0]), requires_grad=True)
y_bin = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
loss = losses.bce_logits(z, y_bin) * len(y_bin)  # undo the batch mean: one gradient per example
loss.backward()
p = 1 / (1 + np.exp(-z.data))
print("engine ∂L/∂z:", np.round(z.grad, 4))
print("p − y       :", np.round(p - y_bin, 4))
assert np.allclose(z.grad, p - y_bin)
print(gradcheck(lambda t: losses.bce_logits(t, y_bin), Tensor(z.data)))

# %%
zs = np.linspace(-6, 6, 200)
fig, ax = plt.subplots(figsize=(6, 3.2))
for label in (1.0, 0.0):
    ax.plot(
        zs,
        [losses.bce_logits(Tensor(np.array([v])), np.array([label])).item() for v in zs],
        label=f"y = {label:g}",
    )
ax.set_xlabel("logit z")
ax.set_ylabel("BCE")
ax.set_title("BCE is large only when the network is confidently wrong")
ax.legend()
plt.show()

# %% [markdown]
# ## Categorical likelihood → softmax cross-entropy
#
# For $K$ classes the network outputs $K$ logits and softmax turns them into probabilities,
# $p_k = e^{z_k}/\sum_j e^{z_j}$. The categorical NLL of the true class $c$ is
# $L = -\log p_c = -z_c + \log\sum_j e^{z_j}$ and its gradient is again
# $\partial L/\partial z_k = p_k - [k = c]$.
#
# Seed 002's fruit example: the logits $[0.02, 0.6]$ give $\approx[0.36, 0.64]$ and
# $[1.7, 0.6]$ give $\approx[0.75, 0.25]$.

# %%
for logits in ([0.02, 0.6], [1.7, 0.6]):
    print(logits, "→", np.round(Tensor(np.array(logits)).softmax().data, 2))

logits = Tensor(np.array([[1.7, 0.6, -0.3]]), requires_grad=True)
loss = losses.cross_entropy(logits, np.array([0]))
loss.backward()
p = logits.softmax(axis=-1).data
print("engine ∂L/∂z:", np.round(logits.grad, 4), "  p − one-hot:", np.round(p - [1, 0, 0], 4))
assert np.allclose(logits.grad, p - np.array([[1.0, 0.0, 0.0]]))

# %% [markdown]
# SymPy agrees, symbol by symbol (a small tensor graph gets one symbol per element):

# %%
small = Tensor(np.array([[0.02, 0.6]]), requires_grad=True, label="z")
report = check_symbolic(losses.cross_entropy(small, np.array([1])))
for c in report.checks:
    print(
        c.name,
        "SymPy:",
        np.round(np.asarray(c.symbolic, dtype=float), 4),
        " engine:",
        np.round(c.engine, 4),
    )
print("all match:", report.ok)

# %% [markdown]
# Why the $\log\sum\exp$ form? Computing softmax and then its log overflows for large
# logits; $\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}$ with $m = \max_j z_j$ does not.

# %%
big = np.array([1000.0, 1001.0])
with np.errstate(all="ignore"):
    naive = np.log(np.exp(big) / np.exp(big).sum())
stable = Tensor(big).log_softmax().data
print("naive log softmax:", naive, "  logsumexp form:", np.round(stable, 4))

# %% [markdown]
# ## A Gaussian with a predicted variance: heteroskedastic regression
#
# If the noise is not the same everywhere, let the network predict it too: two outputs per
# input, $\mu(\mathbf{x})$ and $\log\sigma^2(\mathbf{x})$ (the log keeps the variance
# positive). The NLL is now
#
# $$L = \tfrac12\Big[\log\sigma^2(x) + \frac{(y - \mu(x))^2}{\sigma^2(x)}\Big]:$$
#
# a large predicted variance forgives a large error but costs $\log\sigma^2$. We train a
# small MLP on a sine whose noise grows from left to right (`loss="gaussian_nll"`, the
# network's output holding $[\mu, \log\sigma^2]$).

# %%
rng = np.random.default_rng(1)
X = rng.uniform(-3, 3, (400, 1))
noise_std = 0.05 + 0.25 * (X[:, 0] + 3) / 6
Y = np.sin(X) + rng.normal(0, 1, (400, 1)) * noise_std[:, None]

model = mlp([1, 32, 32, 2], activation="tanh", seed=0)
history = fit(
    model,
    (X, Y),
    loss="gaussian_nll",
    optimizer="adam",
    lr=0.01,
    epochs=60,
    batch_size=64,
    progress=False,
)
first, last = history.epochs[0]["train_loss"], history.epochs[-1]["train_loss"]
print(f"NLL: epoch 1 {first:.3f} → epoch 60 {last:.3f}")

grid = np.linspace(-3, 3, 200)[:, None]
out = model(Tensor(grid)).data
mean, std = out[:, 0], np.exp(0.5 * out[:, 1])
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(X, Y, ".", ms=3, alpha=0.5, label="data")
ax.plot(grid, mean, label="predicted μ(x)")
ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.25, label="μ ± 2σ(x)")
ax.plot(grid, np.sin(grid), "k:", lw=1, label="sin x")
ax.legend(fontsize=8)
ax.set_title("Heteroskedastic Gaussian NLL: the network learns where it is unsure")
plt.show()
ratio = std[-20:].mean() / std[:20].mean()
print(f"predicted σ on the right / on the left: {ratio:.1f} (true ratio {0.3 / 0.05:.0f})")
assert ratio > 2

# %% [markdown]
# ## Every loss in gradflow
#
# `gradflow.nn.losses.LOSSES` is the registry the training loop reads (`fit(..., loss=NAME)`):

# %%
for name, fn in losses.LOSSES.items():
    print(f"{name:16s} {(fn.__doc__ or '').strip().splitlines()[0]}")

# %% [markdown]
# **Exercises:** `mse_gradient`, `bce_gradient`, `softmax_cross_entropy`, `softmax_fruit` and
# `digit_cost` (the squared-error cost of one digit, ≈ 3.37, from seed 003).
#
# **Next:** [5. Optimizers](05_optimizers.ipynb).
