# %% [markdown]
# # 2. Backprop by hand, then by the engine
#
# Seed 002 (slides 6-8) trains a tiny ReLU network by hand. Two hidden neurons and one output:
#
# $$y_{11} = \max(w_{111}x + b_{11}, 0),\quad y_{12} = \max(w_{121}x + b_{12}, 0),\quad
# y_{21} = \max(w_{211}y_{11} + w_{212}y_{12} + b_{21}, 0)$$
#
# with $w_{111} = 20$, $b_{11} = -10$, $w_{121} = 40$, $b_{12} = -200$, $w_{211} = 1$,
# $w_{212} = -1$, $b_{21} = 0$, one training example $x = 4$, $y_{true} = 75$ and the loss
# $L = (y_{true} - y_{21})^2$. We do every step on paper first (in plain Python floats), then
# let gradflow do it and compare: step tables, SymPy and finite differences must all agree.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
from IPython.display import Math

from gradflow import Value, backward_steps, check_symbolic, display, forward_steps, gradcheck
from gradflow.examples import SEED002_WEIGHTS, seed002_network

# %% [markdown]
# ## Forward pass by hand
#
# $z_{11} = 20\cdot 4 - 10 = 70$, $y_{11} = \max(70, 0) = 70$;
# $z_{12} = 40\cdot 4 - 200 = -40$, $y_{12} = \max(-40, 0) = 0$;
# $z_{21} = 1\cdot 70 - 1\cdot 0 + 0 = 70$, $y_{21} = 70$; $L = (75 - 70)^2 = 25$.

# %%
W = dict(SEED002_WEIGHTS)
x, ytrue = 4.0, 75.0
z11 = W["w111"] * x + W["b11"]
y11 = max(z11, 0.0)
z12 = W["w121"] * x + W["b12"]
y12 = max(z12, 0.0)
z21 = W["w211"] * y11 + W["w212"] * y12 + W["b21"]
y21 = max(z21, 0.0)
L = (ytrue - y21) ** 2
print(f"y11 = {y11:g}, y12 = {y12:g}, y21 = {y21:g}, L = {L:g}")

# %% [markdown]
# ## Backward pass by hand (the chain rule)
#
# $\dfrac{\partial L}{\partial w} = \dfrac{\partial L}{\partial y}\,
# \dfrac{\partial y}{\partial z}\,\dfrac{\partial z}{\partial w}$, starting from the output:
#
# * $\partial L/\partial y_{21} = 2y_{21} - 2y_{true} = -10$
# * ReLU: $\partial y/\partial z = 1$ if $z > 0$, else $0$; so
#   $\partial L/\partial z_{21} = -10$
# * $\partial z_{21}/\partial w_{211} = y_{11}$, so
#   $\partial L/\partial w_{211} = -10 \cdot 70 = -700$;
#   $\partial L/\partial w_{212} = -10\cdot y_{12} = 0$; $\partial L/\partial b_{21} = -10$
# * into the hidden layer: $\partial L/\partial y_{11} = -10 \cdot w_{211} = -10$,
#   $z_{11} = 70 > 0$ so $\partial L/\partial w_{111} = -10\cdot x = -40$ and
#   $\partial L/\partial b_{11} = -10$
# * $z_{12} = -40 < 0$: the ReLU blocks the gradient, so $\partial L/\partial w_{121} =
#   \partial L/\partial b_{12} = 0$

# %%
relu_d = lambda z: 1.0 if z > 0 else 0.0  # the course's 0/1 derivative (0 at the kink)
dL_dy21 = 2 * y21 - 2 * ytrue
dL_dz21 = dL_dy21 * relu_d(z21)
dL_dz11 = dL_dz21 * W["w211"] * relu_d(z11)
dL_dz12 = dL_dz21 * W["w212"] * relu_d(z12)
by_hand = {
    "w211": dL_dz21 * y11,
    "w212": dL_dz21 * y12,
    "b21": dL_dz21,
    "w111": dL_dz11 * x,
    "b11": dL_dz11,
    "w121": dL_dz12 * x,
    "b12": dL_dz12,
}
for name, g in by_hand.items():
    print(f"∂L/∂{name} = {g + 0.0:g}")  # + 0.0 prints −0 as 0

# %% [markdown]
# ## The same network in gradflow
#
# `seed002_network()` builds the graph from `Value`s, naming every intermediate as on the
# slides. `forward_steps` is the forward pass as a table.

# %%
net = seed002_network(x=4.0, ytrue=75.0)
loss = net["L"]
print(forward_steps(loss))

# %% [markdown]
# `backward_steps` lists every chain-rule step in the order backprop executes it: the node,
# the input it sends gradient to, the local derivative (formula and number), the upstream
# gradient $\partial L/\partial\text{node}$, their product (the *contribution*) and the input's
# gradient after adding it. Read it from the top: it is the list of bullets above.

# %%
steps = backward_steps(loss)
print(steps)

# %% [markdown]
# One step, spelled out:

# %%
step = next(s for s in steps if s.input == "w211")
print(step.equation)

# %% [markdown]
# Now run the real backward pass and compare the engine's `.grad` with the hand results.

# %%
loss.backward()
for name, hand in by_hand.items():
    engine = net[name].grad
    # display.number rounds for reading: 0 where the hand product is -10 · 0 = -0.0
    print(f"∂L/∂{name:5s} by hand {display.number(hand):>8}   engine {display.number(engine):>8}")
    assert engine == hand

# %% [markdown]
# ## Two independent checks
#
# `check_symbolic` rebuilds the whole graph as one SymPy expression, differentiates it with
# respect to every leaf and compares with the engine. `gradcheck` uses central finite
# differences instead. (At the kink, $z = 0$, SymPy uses the same 0-convention as the engine.)

# %%
report = check_symbolic(seed002_network()["L"])
print(report)  # per weight: SymPy's derivative at this point, its value, the engine's
assert report.ok


# %%
def network_loss(w111, b11, w121, b12, w211, w212, b21):
    x, ytrue = 4.0, 75.0
    y11 = (w111 * x + b11).relu()
    y12 = (w121 * x + b12).relu()
    y21 = (w211 * y11 + w212 * y12 + b21).relu()
    return (ytrue - y21) ** 2


weights = [Value(v) for v in SEED002_WEIGHTS.values()]
print(gradcheck(network_loss, *weights))

# %% [markdown]
# ## One SGD update: $\Delta w = -\gamma\,\partial L/\partial w$
#
# The last line of slide 8: move each weight against its gradient,
# $w^{n+1} = w^n - \gamma\,\partial L/\partial w$. With $\gamma = 10^{-4}$ the weight
# $w_{211}$ changes by $-10^{-4}\cdot(-700) = +0.07$. A few steps drive the loss towards 0.

# %%
gamma = 1e-4
net = seed002_network()
net["L"].backward()
for name in SEED002_WEIGHTS:
    delta = -gamma * net[name].grad
    new = net[name].data + delta
    print(f"{name:5s} ∂L/∂w = {net[name].grad:7g}   Δw = {delta + 0.0:+.4f}   new w = {new:g}")

# %% [markdown]
# `print(report)` writes each derivative at this point: every ReLU's active branch taken.
# `report.full()` shows the whole expression and every derivative in LaTeX. They are long,
# because every ReLU is a case split. Fix every weight except $w_{211}$ at the slide's value
# and SymPy's derivative becomes readable: $\partial L/\partial w_{211} =
# 2\cdot 70\,(70\,w_{211} - 75)$, which is $-700$ at $w_{211} = 1$.

# %%
d_w211 = next(c for c in report.checks if c.name == "w211").derivative
others = {
    s: sp.Integer(int(SEED002_WEIGHTS[s.name])) for s in d_w211.free_symbols if s.name != "w211"
}
Math(r"\frac{\partial L}{\partial w_{211}} = " + sp.latex(sp.simplify(d_w211.subs(others))))

# %% [markdown]
# Repeating this is gradient descent. `network_loss` above takes the weights as arguments, so
# the training loop of slide 8 is four lines: forward, `backward()`, update, zero the
# gradients. (With $\gamma = 10^{-4}$ this one example is fitted almost in one step; a
# smaller $\gamma = 2\cdot10^{-5}$ shows the descent.)

# %%
gamma = 2e-5
weights = [Value(v, label=n) for n, v in SEED002_WEIGHTS.items()]
losses = []
for _ in range(15):
    loss = network_loss(*weights)
    losses.append(loss.data)
    loss.backward()
    for wv in weights:
        wv.data -= gamma * wv.grad
        wv.grad = 0.0
print("loss per step:", np.round(losses, 3))
assert math.isclose(losses[0], 25.0) and losses[-1] < losses[0]

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(losses, "-o", ms=3)
ax.set_xlabel("SGD step")
ax.set_ylabel("L")
ax.set_title("Gradient descent on one example (γ = 2e-5)")
plt.show()

# %% [markdown]
# ## Vanishing and exploding gradients: a chain of neurons
#
# Seed 002 chains the same neuron four times. With $y = \max(20x - 10, 0)$ from $x = 1$ the
# values explode: 10, 190, 3790, 75790, and by the chain rule the derivative of the output
# with respect to $x$ is $20^4 = 160000$. With $y = \max(0.2x, 0)$ they vanish: 0.2, 0.04,
# 0.008, 0.0016, with derivative $0.2^4 = 0.0016$. Every layer multiplies the gradient by
# its local derivative, so deep chains multiply many factors: above 1 they explode, below 1
# they vanish.


# %%
def chain(x0: float, weight: float, bias: float, depth: int):
    x = Value(x0, label="x")
    y = x
    values = []
    for k in range(depth):
        y = (weight * y + bias).relu()
        y.label = f"y{k + 1}"
        values.append(y.data)
    y.backward()
    return values, x.grad


for w_, b_ in ((20.0, -10.0), (0.2, 0.0)):
    values, grad = chain(1.0, w_, b_, 4)
    neuron = f"max({w_:g}x {'+' if b_ >= 0 else '−'} {abs(b_):g}, 0)"
    print(f"y = {neuron} ×4: values {np.round(values, 6).tolist()}, ∂y4/∂x = {grad:g}")

assert chain(1.0, 20.0, -10.0, 4)[0] == [10.0, 190.0, 3790.0, 75790.0]
assert math.isclose(chain(1.0, 0.2, 0.0, 4)[1], 0.0016)

# %%
depths = range(1, 13)
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for w_, b_ in ((20.0, -10.0), (0.2, 0.0), (1.0, 0.0)):
    grads = [chain(1.0, w_, b_, d)[1] for d in depths]
    ax.semilogy(
        list(depths),
        grads,
        "-o",
        ms=3,
        label=f"max({w_:g}x {'+' if b_ >= 0 else '−'} {abs(b_):g}, 0)",
    )
ax.set_xlabel("depth (number of chained neurons)")
ax.set_ylabel("∂y/∂x")
ax.set_title("The gradient through a chain: explode, vanish, or stay")
ax.legend()
plt.show()

# %% [markdown]
# The same arithmetic in a real network is the subject of notebook 6. To practise:
# `gradflow exercise quiz seed002_network` asks you for every number of this notebook and
# shows the chain-rule step when an answer is wrong; `gradflow exercise show exploding_chain`
# and `gradflow exercise show vanishing_chain` trace the two chains step by step.
#
# **Next:** [3. Computation graphs](03_computation_graphs.ipynb).
