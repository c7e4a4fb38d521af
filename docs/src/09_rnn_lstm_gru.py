# %% [markdown]
# # 9. Recurrent networks: RNN, LSTM, GRU
#
# A recurrent network reads a sequence one step at a time and carries a hidden state
# $h_t$ from step to step, with the *same* weights at every step (seeds 002, 004):
#
# $$h_t = \tanh(x_t W_{ih}^\top + h_{t-1} W_{hh}^\top + b).$$
#
# Unrolled in time it is just a deep feed-forward graph whose layers share weights, so
# backprop works unchanged: *backpropagation through time* (BPTT). And like any deep graph it
# suffers from vanishing and exploding gradients, which is what gradient clipping and the
# gated cells (LSTM, GRU) are for.

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from gradflow import Tensor, Value, backward_steps, visual
from gradflow.data import adding_problem
from gradflow.nn import (
    LSTM,
    RNN,
    LSTMCell,
    RNNCell,
    SequenceTransformer,
    gru,
    lstm,
    rnn,
    sequence_cross_entropy,
)
from gradflow.nn.transformer import digit_sequences
from gradflow.optim import SGD, rules
from gradflow.training import fit, predict
from gradflow.visual import plots

# %% [markdown]
# ## An RNN unrolled, by hand
#
# A scalar RNN, $h_t = \tanh(w_x x_t + w_h h_{t-1} + b)$, over three steps with
# $h_0 = 0$ and loss $L = (h_3 - y)^2$. The graph shows the same three weights feeding
# every step.

# %%
w_x, w_h, b = Value(0.5, label="w_x"), Value(0.8, label="w_h"), Value(0.1, label="b")
xs, target = [1.0, -0.5, 2.0], 0.3
h = Value(0.0, label="h0", requires_grad=False)
for t, x_t in enumerate(xs, start=1):
    r = w_h * h  # the recurrent term, named so the step table below can refer to it
    r.label = f"r{t}"
    h = (w_x * x_t + r + b).tanh()
    h.label = f"h{t}"
loss = (h - target) ** 2
loss.label = "L"
loss.backward()
visual.draw_graph(loss, hide_constants=True)

# %% [markdown]
# ## Backprop through time
#
# Because $w_h$ is used at every step, its gradient is the *sum* of one contribution per
# time step: $\partial L/\partial w_h = \sum_t \frac{\partial L}{\partial h_t}
# \frac{\partial h_t}{\partial w_h}\big|_\text{local}$. With the recurrent term
# $r_t = w_h h_{t-1}$, the local derivative is $\partial r_t/\partial w_h = h_{t-1}$.
# `backward_steps` shows the contributions being accumulated, latest time step first (at
# $t = 1$ it is 0, because $h_0 = 0$):

# %%
contributions = [s for s in backward_steps(loss) if s.input == "w_h"]
for s in contributions:
    step = int(s.name[1:])
    print(
        f"t = {step}: ∂{s.name}/∂w_h = h{step - 1} = {s.local:.4f}, "
        f"× ∂L/∂{s.name} = {s.upstream:.4f} → {s.contribution:+.4f}   (sum {s.accumulated:+.4f})"
    )
print("engine ∂L/∂w_h =", round(w_h.grad, 6))
assert np.isclose(sum(s.contribution for s in contributions), w_h.grad)

# %% [markdown]
# ## Vanishing and exploding through time
#
# The gradient that reaches $h_0$ from $h_T$ is a product of $T$ Jacobians,
# $\partial h_T/\partial h_0 = \prod_t \operatorname{diag}(1 - h_t^2)\,W_{hh}$. Near
# $h = 0$ the tanh slopes are 1 and the product behaves like the $T$-th power of $W_{hh}$,
# governed by its spectral radius $\rho$ (largest absolute eigenvalue): below 1 the gradient
# vanishes
# geometrically, above 1 it grows — until the states saturate the tanh, whose small slopes
# then cap it. We scale a random $W_{hh}$ to a chosen $\rho$ and measure
# $\|\partial h_T/\partial h_0\|$.


# %%
def gradient_to_start(scale: float, steps: int, hidden: int = 16) -> float:
    cell = RNNCell(1, hidden, seed=0)
    W = np.random.default_rng(0).normal(size=(hidden, hidden))
    cell.weight_hh.data[...] = scale * W / np.max(np.abs(np.linalg.eigvals(W)))
    cell.bias.data[...] = 0.0
    h0 = Tensor(np.full((1, hidden), 1e-3), requires_grad=True)
    h = h0
    for _ in range(steps):
        h = cell(Tensor(np.zeros((1, 1))), h)
    h.sum().backward()
    return float(np.linalg.norm(h0.grad))


steps = list(range(1, 41, 3))
fig, ax = plt.subplots(figsize=(6, 3.3))
for scale in (0.5, 0.9, 1.1, 1.5):
    ax.semilogy(
        steps, [gradient_to_start(scale, T) for T in steps], "-o", ms=3, label=f"ρ(W_hh) = {scale}"
    )
ax.set_xlabel("time steps T")
ax.set_ylabel("‖∂h_T/∂h_0‖")
ax.legend()
plt.show()

# %% [markdown]
# ## The unrolled view: T copies of one cell
#
# `visual.draw_unrolled(model, x)` draws what "unrolled in time" means: one copy of the cell
# per step, all fed by the *one* set of weights at the top (which is why BPTT adds the
# gradients of all copies into the same `weight_hh.grad`), $h$ passed from copy to copy and
# $x_t$ entering from below. Under each copy is the gradient that reaches its hidden state,
# $\|\partial L/\partial h_t\|$ for $L = \sum h_T$, on a log scale: the error signal a step
# far back gets to learn from. First a tanh RNN as initialised, then a ReLU RNN whose
# $W_{hh} = 1.6\,I$, then an LSTM on the same sequence.

# %%
sequence = np.random.default_rng(0).standard_normal((10, 2))
display(visual.draw_unrolled(RNN(2, 4, seed=0), sequence, path=None))

exploding = RNN(2, 4, nonlinearity="relu", seed=0)
exploding.weight_hh.data = 1.6 * np.eye(4)
display(visual.draw_unrolled(exploding, 0.01 * sequence, path=None))

display(visual.draw_unrolled(LSTM(2, 4, seed=0), sequence, path=None))

# %% [markdown]
# With tanh and the default initialisation the gradient shrinks at every step back (by 1.3
# to 2.7 times here): the first step gets about 1 % of what the last gets, so a plain RNN
# learns mostly from the recent past. With ReLU and $\rho(W_{hh}) = 1.6$ every step back multiplies
# it by 1.6 (the bars grow to the left: exploding, which clipping tames). The LSTM's
# gradient also fades at initialisation, but its cell state gives it an additive path
# ($c_t = f \odot c_{t-1} + i \odot g$) that training can open by pushing the forget gate
# towards 1, which is what the adding problem below needs.

# %% [markdown]
# ## Gradient clipping
#
# The standard fix for *exploding* gradients: clip every entry to $[-c, c]$ (the course uses
# $[-1, 1]$), or — better, since it keeps the direction — rescale the whole gradient when its
# global norm exceeds a threshold, $g \leftarrow g\cdot\frac{c}{\|g\|}$. gradflow's
# optimizers take `clip_value=` and `clip_norm=` and use these rules:

# %%
g = np.array([3.0, -4.0, 0.5])
by_value = g.copy()
rules.clip_by_value(by_value, 1.0)
norm = np.sqrt(rules.sum_of_squares(g))
by_norm = g * rules.clip_scale(norm, 1.0)
print("gradient        :", g, " norm", round(norm, 3))
print("clip by value 1 :", by_value, " (direction changed)")
print("clip by norm 1  :", np.round(by_norm, 4), " norm", round(np.linalg.norm(by_norm), 3))
optimizer = SGD([np.zeros(3)], lr=0.1, clip_norm=1.0)
print(
    "SGD(..., clip_norm=1.0) hyperparameters:", optimizer.hparams, "clip_norm", optimizer.clip_norm
)

# %% [markdown]
# ## Gated cells: LSTM and GRU
#
# Vanishing gradients are the harder problem: the network cannot learn what it cannot
# "hear" from far back. The LSTM adds a *cell state* $c_t$ updated additively, with gates
# (sigmoids in $[0, 1]$) deciding what to forget, write and show:
#
# $$i, f, o = \sigma(\cdot),\quad g = \tanh(\cdot),\quad c_t = f\odot c_{t-1} + i\odot g,\quad
# h_t = o\odot\tanh(c_t).$$
#
# Along the cell state $\partial c_t/\partial c_{t-1} = f$: when the forget gate is near 1 the
# gradient passes through many steps almost unchanged. The GRU does the same with two gates:
# $h_t = (1 - z)\odot n + z\odot h_{t-1}$, an update gate $z$ interpolating between the old
# state and new content $n$ (which a reset gate $r$ computes). One LSTM step, its gates
# visible (gate order i, f, g, o as in PyTorch):

# %%
cell = LSTMCell(2, 3, seed=0)
x = Tensor(np.array([[1.0, -1.0]]))
h_prev, c_prev = Tensor(np.zeros((1, 3))), Tensor(np.array([[0.5, -0.2, 1.0]]))
z = (x @ cell.weight_ih.T + h_prev @ cell.weight_hh.T + cell.bias).data[0]
sig = lambda v: 1 / (1 + np.exp(-v))
i, f, g_, o = sig(z[0:3]), sig(z[3:6]), np.tanh(z[6:9]), sig(z[9:12])
for name, gate in (("input i", i), ("forget f", f), ("candidate g", g_), ("output o", o)):
    print(f"{name:12s}", np.round(gate, 3))
h_new, c_new = cell(x, (h_prev, c_prev))
print(
    "c_t = f⊙c + i⊙g:",
    np.round(c_new.data[0], 4),
    " by hand:",
    np.round(f * c_prev.data[0] + i * g_, 4),
)
assert np.allclose(c_new.data[0], f * c_prev.data[0] + i * g_)
assert np.allclose(h_new.data[0], o * np.tanh(c_new.data[0]))

# %% [markdown]
# ## The adding problem
#
# Each sequence has $T = 20$ steps of two features: a random number in $[0, 1]$ and a marker
# that is 1 at exactly two steps (one in each half). The target is the sum of the two marked
# numbers. Predicting the mean gives MSE ≈ 1/6; to beat it, a model must remember a number
# for up to 20 steps while ignoring the others. Same hidden size (16), optimizer and data for
# a plain RNN, an LSTM and a GRU, trained with BPTT on the graph engine.

# %%
X_train, y_train = adding_problem(1000, 20, seed=0)
X_test, y_test = adding_problem(500, 20, seed=1)
baseline = float(np.mean((y_test - y_train.mean()) ** 2))
print(f"baseline MSE (always predict the mean): {baseline:.3f}")

curves, final = {}, {}
for name, make in (("RNN", rnn), ("LSTM", lstm), ("GRU", gru)):
    model = make(2, 16, 1, seed=0)
    history = fit(
        model, (X_train, y_train), (X_test, y_test), loss="mse",
        optimizer="adam", lr=1e-2, epochs=20, batch_size=32, seed=0, progress=False,
    )  # fmt: skip
    curves[name] = [e["val_loss"] for e in history.epochs]
    final[name] = float(np.mean((predict(model, X_test) - y_test) ** 2))
    print(f"{name:4s}: test MSE {final[name]:.4f} ({final[name] / baseline:.0%} of the baseline)")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, curve in curves.items():
    ax.plot(range(1, len(curve) + 1), curve, "-o", ms=3, label=name)
ax.axhline(baseline, color="grey", ls=":", label="predict the mean")
ax.set_xlabel("epoch")
ax.set_ylabel("test MSE")
ax.set_yscale("log")
ax.legend()
plt.show()
assert min(final["LSTM"], final["GRU"]) < 0.2 * baseline

# %% [markdown]
# ## Attention and a transformer block
#
# Attention replaces recurrence: each position takes a weighted average of all positions,
# softmax(QKᵀ/√d_k)V. A transformer block is multi-head self-attention and a position-wise
# feed-forward layer, each with a residual connection and a LayerNorm; sinusoidal positional
# encodings tell it where each token is. One block learns to reverse 5 digits on the graph
# backend in a few seconds.

# %%
X_seq, y_seq = digit_sequences(2000, 5, "reverse", seed=0)
X_new, y_new = digit_sequences(500, 5, "reverse", seed=1)
transformer = SequenceTransformer(10, d_model=32, num_heads=2, d_ff=64, num_layers=1, seed=0)
history = fit(transformer, (X_seq, y_seq), loss=sequence_cross_entropy, optimizer="adam",
              lr=3e-3, epochs=4, batch_size=32, progress=False)  # fmt: skip
print("loss per epoch", [round(r["train_loss"], 4) for r in history.epochs])
guess = predict(transformer, X_new).argmax(-1)
print("digits right on new sequences:", (guess == y_new).mean())
predict(transformer, X_new[:1])
digits = X_new[0].argmax(-1)
plots.plot_attention(transformer.attention_weights()[0][0], None, keys=[str(d) for d in digits],
                     title=f"reversing {digits}: who attends to whom")  # fmt: skip

# %% [markdown]
# Each output position t looks at input position 4 − t: the anti-diagonal.

# %% [markdown]
# The gated cells learn to keep the marked numbers in their state; the plain RNN, whose
# gradient from the first marked step has to pass through up to 20 tanh layers, learns far
# slower (if at all, at this budget). Try `T = 10` (easier) or `T = 50` (harder) above.
#
# **Exercises:** `rnn_bptt` (a 3-step RNN by hand) and `lstm_cell` (one LSTM step forward and
# backward).
#
# **Back to:** [the course path](index.md).
