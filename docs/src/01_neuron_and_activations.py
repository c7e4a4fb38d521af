# %% [markdown]
# # 1. The neuron and its activations
#
# The course starts with one neuron (seed notes 000 and 003):
#
# $$f(\mathbf{x}) = \sigma(\mathbf{w}\cdot\mathbf{x} + b) = \sigma\Big(\sum_i w_i x_i + b\Big)$$
#
# $\mathbf{w}$ are the weights, $b$ the bias, $z = \mathbf{w}\cdot\mathbf{x} + b$ the
# pre-activation and $\sigma$ the activation function. In this notebook we build the neuron
# with gradflow's scalar engine, see why the bias is just one more weight, read the neuron as a
# *direction detector*, and look at every activation of the op table with its derivative.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
from IPython.display import Markdown, display
from sklearn.datasets import load_iris

import gradflow
from gradflow import Value, forward_steps, gradcheck
from gradflow.nn import Adaline, Perceptron, perceptron_step
from gradflow.optim import SGD
from gradflow.regions import deep_net, format_region_table, region_table, shallow_net
from gradflow.training import ParameterSnapshots, fit
from gradflow.visual import plots

# %% [markdown]
# ## A neuron with three inputs
#
# Every arithmetic operation on a `Value` records one node of a graph.
# `forward_steps` lists them in evaluation order: that is exactly the forward pass you would
# write down by hand.

# %%
x = [Value(0.5, label="x1"), Value(-1.0, label="x2"), Value(2.0, label="x3")]
w = [Value(0.8, label="w1"), Value(0.2, label="w2"), Value(-0.5, label="w3")]
b = Value(0.1, label="b")

z = w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + b
z.label = "z"
a = z.sigmoid()
a.label = "a"
print(forward_steps(a))

# %% [markdown]
# ## The bias is a weight on a constant input 1
#
# Append $x_0 = 1$ to the input and $w_0 = b$ to the weights:
# $\mathbf{w}\cdot\mathbf{x} + b = \tilde{\mathbf{w}}\cdot\tilde{\mathbf{x}}$ with
# $\tilde{\mathbf{x}} = (1, x_1, \dots, x_n)$, $\tilde{\mathbf{w}} = (b, w_1, \dots, w_n)$.
# Nothing else changes, which is why the slides often draw the bias as an extra input.

# %%
x_np = np.array([v.data for v in x])
w_np = np.array([v.data for v in w])
x_tilde = np.concatenate([[1.0], x_np])
w_tilde = np.concatenate([[b.data], w_np])
print("w·x + b   =", w_np @ x_np + b.data)
print("w̃·x̃       =", w_tilde @ x_tilde)
print("engine z  =", z.data)
assert math.isclose(w_tilde @ x_tilde, z.data)

# %% [markdown]
# ## The neuron as a direction detector
#
# $\mathbf{w}\cdot\mathbf{x} = |\mathbf{w}|\,|\mathbf{x}|\cos\alpha$, where $\alpha$ is the
# angle between the two vectors. For inputs of a fixed length the neuron's pre-activation is
# largest when $\mathbf{x}$ points the same way as $\mathbf{w}$, zero when it is orthogonal
# and most negative when it points away: the neuron *detects* the direction $\mathbf{w}$.
# Below, unit inputs go round the circle and we plot what a sigmoid neuron with
# $\mathbf{w} = (2, 1)$, $b = 0$ answers.

# %%
w2 = np.array([2.0, 1.0])
angles = np.linspace(-np.pi, np.pi, 361)
inputs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
pre = inputs @ w2
alpha = angles - math.atan2(w2[1], w2[0])
assert np.allclose(pre, np.linalg.norm(w2) * np.cos(alpha))

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(np.degrees(angles), pre, label="w·x = |w| |x| cos α")
ax.plot(np.degrees(angles), 1 / (1 + np.exp(-pre)), label="σ(w·x)")
ax.axvline(np.degrees(math.atan2(w2[1], w2[0])), color="grey", ls=":", label="direction of w")
ax.set_xlabel("direction of the unit input x (degrees)")
ax.legend()
plt.show()

# %% [markdown]
# ## Every activation and its derivative
#
# The activations live in gradflow's op table (`gradflow.OPS`): one record per op holds its
# forward function, its local derivative and its SymPy form. The plot below reads those
# records, so it shows exactly what the engine computes (solid: $f(x)$, dashed: $f'(x)$).

# %%
plots.plot_activations(path=None)

# %% [markdown]
# The same records give the formulas. (The ReLU family takes derivative 0 at exactly
# $x = 0$: one convention, shared by the engine and the SymPy forms.)

# %%
rows = ["| activation | f(x) | f'(x) |", "|---|---|---|"]
for op in plots.activation_ops():
    rows.append(
        f"| `{op.name}` | ${op.format_latex(['x'])}$ | ${op.derivative_latex(0, ('x',))}$ |"
    )
Markdown("\n".join(rows))

# %% [markdown]
# A few activations of the course are not separate ops:
#
# * the **step** of the McCulloch-Pitts perceptron has derivative 0 wherever it is defined,
#   so gradient descent cannot train it — the reason smooth activations replaced it;
# * **identity** (no activation) is used on regression outputs;
# * **PReLU** and **RReLU** are the leaky ReLU with a learned $\alpha$
#   (`gradflow.nn.PReLU`) or a random one during training (`gradflow.nn.RReLU`);
# * **SiLU** is swish with $\beta = 1$; **softmax** acts on a whole vector (notebook 4).
#
# Are the derivatives right? `gradcheck` compares the engine's gradient with the central
# finite difference $\big(f(x+\varepsilon) - f(x-\varepsilon)\big)/2\varepsilon$. We check
# every activation at a few points away from the kink at 0.

# %%
for op in plots.activation_ops():
    for point in (-1.3, 0.4, 2.1):
        report = gradcheck(lambda v, name=op.name: getattr(v, name)(), Value(point))
        assert report.ok, (op.name, point, str(report))
print(f"{len(plots.activation_ops())} activations × 3 points: every gradient matches")

# %% [markdown]
# ### Saturation and the dying ReLU
#
# The sigmoid's derivative is at most $\sigma'(0) = 1/4$ and vanishes for large $|z|$ (the
# neuron *saturates*); ReLU's derivative is exactly 0 for $z < 0$. A ReLU neuron whose
# pre-activation is negative on every training example never gets a gradient again: it is
# *dead*. Seed 002 shows this on the first ten Iris flowers with weights
# $\mathbf{w} = (0.2, -0.4, 0.1, -0.5)$ and $b = 0$: the first row gives $z = -0.34$, and no
# row is positive.

# %%
iris = load_iris().data[:10]
w_dead = [Value(v, label=f"w{k + 1}") for k, v in enumerate([0.2, -0.4, 0.1, -0.5])]
loss = Value(0.0)
pre_activations = []
for row in iris:
    z_row = sum((wi * float(xi) for wi, xi in zip(w_dead, row)), Value(0.0))
    pre_activations.append(z_row.data)
    loss = loss + z_row.relu()
loss.backward()
print("z for the ten rows:", np.round(pre_activations, 2))
print("∂loss/∂w:", [wi.grad for wi in w_dead], "→ no gradient, the neuron cannot recover")
assert math.isclose(pre_activations[0], -0.34) and max(pre_activations) <= 0

# %% [markdown]
# ## A neuron with two inputs: surfaces and contours
#
# With two inputs the neuron $y = f(w_1x_1 + w_2x_2 + b)$ is a surface over the plane. The
# identity gives a tilted plane, the sigmoid a smooth step, ReLU a folded plane. The level
# sets (contours) are always straight lines orthogonal to $\mathbf{w}$: one neuron can only
# split the input space with a line (a hyperplane in higher dimension).

# %%
plots.plot_neuron_surfaces(path=None, w=(1.0, 2.0), b=-0.5)

# %% [markdown]
# ## tanh is a rescaled sigmoid: $\tanh(x) = 2\sigma(2x) - 1$
#
# Since $\sigma(x) = 1/(1 + e^{-x})$,
# $2\sigma(2x) - 1 = \dfrac{2 - 1 - e^{-2x}}{1 + e^{-2x}} = \dfrac{e^{x} - e^{-x}}{e^{x} + e^{-x}}
# = \tanh x$. SymPy agrees, and so does the engine, for values and derivatives.

# %%
s = sp.symbols("x")
sigma = lambda u: 1 / (1 + sp.exp(-u))
print(
    "tanh(x) − (2σ(2x) − 1) simplifies to",
    sp.simplify((sp.tanh(s) - (2 * sigma(2 * s) - 1)).rewrite(sp.exp)),
)

for point in np.linspace(-3, 3, 7):
    u = Value(point)
    lhs = u.tanh()
    lhs.backward()
    d_lhs = u.grad
    v = Value(point)
    rhs = 2 * (2 * v).sigmoid() - 1
    rhs.backward()
    assert math.isclose(lhs.data, rhs.data, abs_tol=1e-12)
    assert math.isclose(d_lhs, v.grad, abs_tol=1e-12)
print("values and derivatives agree at 7 points; tanh'(0) =", 1 - math.tanh(0) ** 2)

# %% [markdown]
# So tanh is a sigmoid stretched to $(-1, 1)$ and made twice as steep: its derivative at 0 is
# 1 instead of 1/4, and it is centred at 0, which is why it often trains better than the
# sigmoid in hidden layers.

# %% [markdown]
# ## The perceptron and ADALINE
#
# Before backprop there were single neurons with a threshold. The perceptron reads the class
# as ŷ = step(z), z = w·x + b, and Rosenblatt's rule moves the weights only after a mistake:
# w ← w + η(t − ŷ)x. ADALINE measures the error on z itself, before the threshold, and
# follows the delta (LMS) rule w ← w + η(d − z)x with d = 2t − 1 = ±1. Both rules are SGD
# with batch size 1 on a loss (`"perceptron"`: (ŷ − t)·z, `"adaline"`: ½(d − z)²), so `fit`
# trains them; `ParameterSnapshots` keeps the weights after every epoch.

# %%
rng = np.random.default_rng(0)
X2 = np.vstack([rng.normal([-0.6, -0.5], 0.5, (30, 2)), rng.normal([1.0, 0.8], 0.5, (30, 2))])
y2 = np.r_[np.zeros(30, int), np.ones(30, int)]
w_new, b_new, y_hat = perceptron_step([-0.5, 1.0], 0.5, [2, 1], 0)
print(f"one perceptron step by hand: ŷ = {y_hat}, w = {w_new.tolist()}, b = {b_new}")
for model, lr in ((Perceptron(2, seed=3), 0.1), (Adaline(2, seed=3), 0.005)):
    snaps = ParameterSnapshots()
    history = fit(model, (X2, y2), loss=model.loss, optimizer=SGD(model.parameters(), lr=lr),
                  batch_size=1, epochs=8, callbacks=[snaps], progress=False)  # fmt: skip
    name = type(model).__name__
    accuracy = [round(r["train_accuracy"], 3) for r in history.epochs]
    print(f"{name}: training accuracy per epoch {accuracy}")
    title = f"{name}: the boundary over 8 epochs"
    display(plots.plot_decision_boundaries(X2, y2, snaps.snapshots, None, title=title))

# %% [markdown]
# The perceptron jumps (each mistake moves the line by ηx) and keeps jumping while a point is
# on the wrong side; ADALINE glides, because every example pulls z towards ±1, right or wrong.
# Exercises: `perceptron_rule`, `adaline_rule`.
#
# ## Deep vs shallow: linear regions
#
# A ReLU network computes a piecewise linear function. With one input, a shallow net of D
# units has 3D + 1 parameters and at most D + 1 linear regions. A deep net with K layers of D
# units has 3D + 1 + (K − 1)·D(D + 1) parameters and can make up to (D + 1)^K regions, because
# every layer folds the input and the next layer repeats its kinks in every fold.
# `gradflow.regions` counts the regions exactly, from the kinks.

# %%
print(format_region_table(region_table(Ds=(2, 3, 4), Ks=(1, 2, 3))))
nets = {"shallow, D = 17": shallow_net(17), "deep, D = 4, K = 3": deep_net(4, 3)}
plots.plot_linear_regions(nets, None)

# %% [markdown]
# With about the same number of parameters (52 and 53) the deep net makes 125 regions, the
# shallow one 18. For D ≥ 3 the folding net reaches the course's bound (D + 1)^K: each layer
# is a zig-zag of D + 1 pieces of unequal widths, each mapping onto all of [0, 1] (one or two
# units face left, ReLU(c − x), so even the first piece slopes). With D = 2 no layer folds
# like that, and the table shows the sawtooth's D^K.

# %% [markdown]
# **Next:** [2. Backprop by hand vs the engine](02_backprop_by_hand.ipynb). Try the
# exercises too: `gradflow exercise list` shows the activation-derivative ones.
#
# *gradflow version:* printed below, so you know which version produced these outputs.

# %%
print(gradflow.__version__)
