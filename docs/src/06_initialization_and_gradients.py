# %% [markdown]
# # 6. Initialization, and gradients that vanish or explode
#
# Notebook 2 showed a chain of neurons whose gradient is a product of local derivatives:
# factors above 1 explode, below 1 vanish. In a real network those factors are the weights
# and the activations' slopes, so *how we draw the initial weights* decides whether the
# signal (forward) and the gradient (backward) survive many layers. This notebook follows
# seeds 001, 002 and 004: the symmetry problem, the initialization schemes, the variance of
# activations through depth, and per-layer gradient histograms.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from gradflow import Tensor, fit, no_grad
from gradflow.data import Standardizer, load_digits, moons
from gradflow.nn import Linear, get_activation, init, losses, mlp
from gradflow.visual import plots

# %% [markdown]
# ## Why not start from equal weights? The symmetry problem
#
# If every hidden neuron starts with the same weights, they compute the same output, receive
# the same gradient, and get the same update, forever: the layer behaves like a single
# neuron. Random initialization *breaks the symmetry*. Below, an MLP 2-8-1 on the moons data,
# once with every weight set to 0.5, once with the default initialization (Xavier, for tanh).

# %%
X_moons, y_moons = moons(n=300, noise=0.15, seed=0)
y_moons = y_moons.reshape(-1, 1).astype(float)

symmetric = mlp([2, 8, 1], activation="tanh", seed=0)
for p in symmetric.parameters():
    p.data[...] = 0.5
random_init = mlp([2, 8, 1], activation="tanh", seed=0)

for name, model in (("all weights 0.5", symmetric), ("random (Xavier)", random_init)):
    history = fit(
        model, (X_moons, y_moons), loss="bce_logits",
        optimizer="adam", lr=0.05, epochs=40, batch_size=32, progress=False,
    )  # fmt: skip
    W1 = model.parameters()[0].data  # (8, 2): one row per hidden neuron
    distinct = len(np.unique(W1.round(10), axis=0))
    final = history.epochs[-1]["train_loss"]
    print(f"{name:16s} final loss {final:.3f}; distinct hidden neurons: {distinct}")

# %% [markdown]
# ## The schemes of the course
#
# Each draws $w \sim \mathcal{N}(0, s^2)$ or $U(-a, a)$ with a scale set by the fan-in
# $n_\text{in}$ (inputs of the layer) and fan-out $n_\text{out}$:
#
# | scheme | variance | meant for |
# |---|---|---|
# | $\mathcal{N}(0, 0.01^2)$ | $10^{-4}$ | tiny nets only |
# | simple $U(\pm a/\sqrt{n_\text{in}})$ | $a^2/3n_\text{in}$ | $a$ = 2.38 σ, √2 ReLU, 1 tanh |
# | LeCun | $1/n_\text{in}$ | SELU |
# | Xavier/Glorot | $2/(n_\text{in} + n_\text{out})$ | tanh, sigmoid |
# | He/Kaiming | $2/n_\text{in}$ | ReLU |
#
# Uniform variants use $a = \sqrt{3\cdot\text{variance}}$. gradflow's initializers, measured:

# %%
fan_in, fan_out = 256, 128
print(f"{'initializer':16s} {'measured var':>12s} {'formula':>10s}")
expected = {
    "normal": 1e-4, "lecun_normal": 1 / fan_in, "lecun_uniform": 1 / fan_in,
    "xavier_normal": 2 / (fan_in + fan_out), "xavier_uniform": 2 / (fan_in + fan_out),
    "he_normal": 2 / fan_in, "he_uniform": 2 / fan_in, "simple_relu": 2 / (3 * fan_in),
}  # fmt: skip
for name, variance in expected.items():
    w = init.initialize(name, (fan_out, fan_in), seed_or_rng=0)
    print(f"{name:16s} {w.var():12.3e} {variance:10.3e}")
    assert math.isclose(w.var(), variance, rel_tol=0.05)

# %% [markdown]
# ## Activations through depth
#
# Feed a batch of standard-normal inputs through 20 layers of width 256 and watch the standard
# deviation of each layer's output. With too small weights the signal dies; with too large
# ones tanh saturates (outputs stuck near ±1, derivatives near 0) and ReLU explodes. The
# matched schemes keep it steady: Xavier for tanh, He for ReLU. (Seed 001: for ReLU,
# $\mathbb{E}[\mathrm{ReLU}(a)^2] = \sigma^2/2$ — half the variance is lost per layer, which
# He's factor 2 gives back.)


# %%
def layer_stds(weight_init: str, activation: str, depth: int = 20, width: int = 256):
    x = Tensor(np.random.default_rng(0).normal(size=(512, width)))
    act = get_activation(activation)
    stds = []
    with no_grad():
        for k in range(depth):
            x = act(Linear(width, width, init=weight_init, seed=k)(x))
            stds.append(float(x.data.std()))
    return stds


fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for ax, activation, inits in (
    (axes[0], "tanh", ("normal", "xavier_normal", "simple_tanh", "he_normal")),
    (axes[1], "relu", ("normal", "lecun_normal", "he_normal", "xavier_normal")),
):
    for name in inits:
        ax.semilogy(range(1, 21), layer_stds(name, activation), "-o", ms=3, label=name)
    ax.set_title(f"{activation}: std of each layer's output")
    ax.set_xlabel("layer")
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# A quick check of the proposition $\mathbb{E}[\mathrm{ReLU}(a)^2] = \sigma^2/2$ for
# $a \sim \mathcal{N}(0, \sigma^2)$:

# %%
a = np.random.default_rng(1).normal(0, 3.0, 1_000_000)
print(f"E[ReLU(a)²] = {np.mean(np.maximum(a, 0) ** 2):.3f}, σ²/2 = {9 / 2}")

# %% [markdown]
# ## Gradients per layer: spotting vanishing gradients
#
# The course's good practice (seed 004): plot each layer's gradients to spot dead or
# saturated layers. `visual.plots.layer_grads(model)` groups a model's gradients by layer and
# `plot_grad_histograms` draws $\log_{10}|g|$ per layer with its norm. A deep sigmoid network
# with $\mathcal{N}(0, 0.01^2)$ weights: each layer multiplies the gradient by at most
# $\sigma'(z) \le 1/4$ times tiny weights, so the first layers get almost nothing. (Panels
# are named by the layer's index in the `Sequential`: 0, 2, 4, … are the `Linear` layers, the
# odd indices are the activations, which have no parameters.)

# %%
X_digits, y_digits = load_digits()
X_digits = Standardizer().fit_transform(X_digits)
batch, labels = Tensor(X_digits[:256]), y_digits[:256]


def gradients_of(model):
    loss = losses.cross_entropy(model(batch), labels)
    loss.backward()
    return plots.layer_grads(model)


deep_sigmoid = mlp([64, 64, 64, 64, 64, 64, 10], activation="sigmoid", init="normal", seed=0)
plots.plot_grad_histograms(gradients_of(deep_sigmoid), path=None)

# %% [markdown]
# The same depth with ReLU and He initialization: gradients of comparable size everywhere.

# %%
deep_relu = mlp([64, 64, 64, 64, 64, 64, 10], activation="relu", init="he_normal", seed=0)
grads = gradients_of(deep_relu)
plots.plot_grad_histograms(grads, path=None)

# %%
for title, model in (("sigmoid, N(0, 0.01²)", deep_sigmoid), ("ReLU, He", deep_relu)):
    norms = [np.linalg.norm(model.parameters()[2 * k].grad) for k in range(6)]
    print(f"{title:22s} ‖∂L/∂W‖ per layer (input → output):", " ".join(f"{n:.1e}" for n in norms))

# %% [markdown]
# And it matters for learning: three epochs on the digits.

# %%
for title, activation, weight_init in (
    ("sigmoid, N(0, 0.01²)", "sigmoid", "normal"),
    ("ReLU, He", "relu", "he_normal"),
):
    model = mlp([64, 64, 64, 64, 64, 64, 10], activation=activation, init=weight_init, seed=0)
    history = fit(model, (X_digits, y_digits), optimizer="sgd", lr=0.1, epochs=3, progress=False)
    print(
        f"{title:22s} training accuracy after 3 epochs: {history.epochs[-1]['train_accuracy']:.2f}"
    )

# %% [markdown]
# **Remedies** covered in the course: matched initialization (this notebook), non-saturating
# activations (ReLU family, notebook 1), batch normalization and residual connections
# (`gradflow.nn.BatchNorm1d`, `Residual`), and for exploding gradients, gradient clipping
# (notebook 9).
#
# **Next:** [7. Regularization and double descent](07_regularization_and_double_descent.ipynb).
