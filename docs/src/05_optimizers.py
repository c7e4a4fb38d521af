# %% [markdown]
# # 5. Optimizers compared on a surface
#
# Gradient descent moves the parameters $\phi$ against the gradient,
# $\phi \leftarrow \phi - \alpha\,\nabla L(\phi)$ (seed 002 writes the learning rate as
# $\gamma$). Its weak spots are the course's "adventures on the gradient trail": narrow
# ravines where it zig-zags, flat regions where it crawls, and a learning rate that is either
# too small or too large. The other optimizers of the course fix these with two ideas:
#
# * **momentum** (and Nesterov): average the gradients, $m \leftarrow \beta m + (1-\beta)g$,
#   $\phi \leftarrow \phi - \alpha m$, so zig-zags cancel and consistent directions speed up;
# * **per-parameter step sizes** (AdaGrad, RMSProp, Adam): divide by a running size of the
#   gradient, $\phi \leftarrow \phi - \alpha\,g/(\sqrt{s} + \varepsilon)$, so steep and flat
#   directions get comparable steps.
#
# In gradflow each optimizer is a small pure function in `gradflow.optim.rules`: one loop over
# the entries of flat numpy arrays, updating them in place. Both training backends run these
# same functions (compiled by numba), so what you see on a 2-D surface is exactly what runs in
# training.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

from gradflow import fit
from gradflow.data import Standardizer, load_digits, train_val_test_split
from gradflow.nn import Parameter, mlp
from gradflow.optim import (
    SGD,
    Exponential,
    NAdam,
    OneCycle,
    PiecewiseConstant,
    Power,
    rules,
)
from gradflow.training import lr_range_test
from gradflow.visual import plots

# %% [markdown]
# ## One rule, read it
#
# Adam with its bias correction ($\hat m = m/(1-\beta_1^t)$, $\hat v = v/(1-\beta_2^t)$), as
# gradflow runs it:

# %%
print(inspect.getsource(rules.adam))

# %% [markdown]
# ## Six optimizers on a ravine and on Rosenbrock's banana
#
# The ravine $f = 0.05\varphi_1^2 + 2\varphi_2^2$ is 40 times steeper across than along.
# Rosenbrock's $f = (1-\varphi_1)^2 + 100(\varphi_2 - \varphi_1^2)^2$ has a curved, flat
# valley with its minimum at $(1, 1)$ (the star). Same start for everyone (the dot), learning
# rates tuned per optimizer.

# %%
plots.plot_optimizer_paths(path=None)

# %% [markdown]
# How close does each one get? (distance to the minimum after the last step)

# %%
minima = {"ravine": np.array([0.0, 0.0]), "Rosenbrock": np.array([1.0, 1.0])}
for surface, minimum in minima.items():
    paths = plots.optimizer_paths(surface)
    steps = len(next(iter(paths.values()))) - 1
    distances = {name: np.linalg.norm(pts[-1] - minimum) for name, pts in paths.items()}
    print(
        f"{surface} after {steps} steps: " + ", ".join(f"{n} {d:.2g}" for n, d in distances.items())
    )

# %% [markdown]
# ## The learning rate of plain GD
#
# On the ravine the steep direction has curvature $4$, so GD is stable only for $\alpha < 2/4$.
# Below that it converges (slowly along the flat direction); just above it, it diverges.
# We call the rule directly: `rules.sgd(p, g, lr, weight_decay)` updates `p` in place.


# %%
def ravine_grad(p):
    return np.array([0.1 * p[0], 4.0 * p[1]])


def ravine(p):
    return 0.05 * p[0] ** 2 + 2 * p[1] ** 2


fig, ax = plt.subplots(figsize=(6, 3.3))
for lr in (0.05, 0.3, 0.45, 0.51):
    p = np.array([-9.0, 1.5])
    values = []
    for _ in range(60):
        values.append(ravine(p))
        rules.sgd(p, ravine_grad(p), lr, 0.0)
    ax.semilogy(values, label=f"α = {lr}")
ax.set_xlabel("step")
ax.set_ylabel("f(φ)")
ax.set_title("GD on the ravine: too small crawls, above 2/curvature diverges")
ax.legend()
plt.show()

# %% [markdown]
# ## The same optimizers training a network
#
# An MLP 64-32-10 on the 8×8 digits (standardised), five epochs per optimizer, same seed and
# same initial weights for all. In the course's first momentum form,
# $m \leftarrow \beta m + (1-\beta)g$, the step has the same scale as SGD's, so they share
# $\alpha$; the adaptive methods divide by $\sqrt{s}$ and want a much smaller one.

# %%
X, y = load_digits()
(X_train, y_train), (X_val, y_val), (X_test, y_test) = train_val_test_split(X, y, seed=0)
scaler = Standardizer().fit(X_train)
X_train, X_val, X_test = (
    scaler.transform(X_train),
    scaler.transform(X_val),
    scaler.transform(X_test),
)

settings = {
    "sgd": 0.1,
    "momentum": 0.1,
    "nesterov": 0.1,
    "adagrad": 0.05,
    "rmsprop": 0.002,
    "adam": 0.003,
}
results = {}
for name, lr in settings.items():
    model = mlp([64, 32, 10], seed=0)
    history = fit(
        model, (X_train, y_train), (X_val, y_val),
        optimizer=name, lr=lr, epochs=5, batch_size=32, seed=0, progress=False,
    )  # fmt: skip
    results[name] = history.epochs
    accuracy = history.epochs[-1]["val_accuracy"]
    print(f"{name:9s} α = {lr:<6g} val accuracy after 5 epochs: {accuracy:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, epochs in results.items():
    ax.plot([e["epoch"] for e in epochs], [e["val_loss"] for e in epochs], "-o", ms=3, label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("validation loss")
ax.legend()
plt.show()

# %% [markdown]
# ## Learning-rate schedules
#
# A rate that suits the start is too large at the end. The course's schedules, each an object
# with `lr_at(t)` that sets `optimizer.lr` when stepped (per epoch or per batch):
#
# * power: $\alpha(t) = \alpha_0/(1 + t/s)^c$
# * exponential: $\alpha(t) = \alpha_0\,\gamma^{t/s}$ (the course's $\alpha_0 e^{-dt}$)
# * piecewise constant: fixed values between chosen boundaries
# * 1cycle: up linearly from $\alpha_1/10$ to $\alpha_1$, then down to almost 0
#
# (and reduce-on-plateau, which divides $\alpha$ when the validation loss stops improving).


# %%
def make_opt():
    return SGD([np.zeros(1)], lr=0.1)


schedules = {
    "power (s=20, c=1)": Power(make_opt(), s=20),
    "exponential (γ=0.1, s=50)": Exponential(make_opt(), gamma=0.1, s=50),
    "piecewise (30, 70)": PiecewiseConstant(
        make_opt(), boundaries=[30, 70], values=[0.1, 0.03, 0.01]
    ),
    "1cycle (max 0.1)": OneCycle(make_opt(), max_lr=0.1, total_steps=100),
}
fig, ax = plt.subplots(figsize=(6.5, 3.3))
for name, schedule in schedules.items():
    ax.plot(range(101), [schedule.lr_at(t) for t in range(101)], label=name)
ax.set_xlabel("step t")
ax.set_ylabel("α(t)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Choosing α with the LR range test
#
# Start with a tiny rate and multiply it by a constant after every batch while training. The
# loss first stays flat (α too small to matter), then falls, then shoots up (α too large).
# The course's rule: take one tenth of the rate where the loss starts to rise.
# `lr_range_test` runs this on a copy of the training and restores the weights afterwards.

# %%
model = mlp([64, 32, 10], seed=0)
finder = lr_range_test(
    model, X_train, y_train, optimizer="sgd", start_lr=1e-4, end_lr=10.0, factor=1.15
)
print(f"loss starts rising near α = {finder.rise_lr:.3g}; suggested α = {finder.suggested_lr:.3g}")

fig, ax = plt.subplots(figsize=(6, 3.3))
ax.semilogx(finder.lrs, finder.losses)
ax.axvline(finder.rise_lr, color="tab:red", ls=":", label="loss starts rising")
ax.axvline(finder.suggested_lr, color="tab:green", ls="--", label="suggested α (÷10)")
ax.set_xlabel("learning rate α")
ax.set_ylabel("smoothed training loss")
ax.legend()
plt.show()

history = fit(
    model, (X_train, y_train), (X_val, y_val),
    optimizer="sgd", lr=finder.suggested_lr, epochs=5, seed=0, progress=False,
)  # fmt: skip
accuracy = history.epochs[-1]["val_accuracy"]
print(f"SGD with the suggested α: val accuracy {accuracy:.3f} after 5 epochs")
plots.plot_history(history.epochs, path=None)

# %% [markdown]
# ## NAdam
#
# NAdam (Dozat) is Adam with Nesterov's look-ahead: the step already uses the next momentum,
# m̂ = β·m/(1 − β^(t+1)) + (1 − β)·g/(1 − βᵗ). With a constant gradient 1 and α = 0.01 the
# first step is −0.01 · (0.9·0.1/0.19 + 0.1/0.1) = −0.014737. `momentum_decay=0.004` switches
# on PyTorch's schedule for μ (first step −0.010565).

# %%
for psi in (0.0, 0.004):
    p = Parameter(np.zeros(1))
    opt = NAdam([p], lr=0.01, momentum_decay=psi)
    moves = []
    for _ in range(3):
        before = p.data[0]
        p.grad = np.ones(1)
        opt.step()
        moves.append(round(float(p.data[0] - before), 6))
    print(f"momentum_decay = {psi}: first steps {moves}")

# %% [markdown]
# **Exercises:** one step each of `momentum`, `nesterov`, `adagrad`, `rmsprop` and `adam` by
# hand (`gradflow exercise quiz adam`).
#
# **Next:** [6. Initialization and gradients](06_initialization_and_gradients.ipynb).
