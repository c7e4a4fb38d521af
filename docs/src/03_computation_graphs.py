# %% [markdown]
# # 3. Computation graphs
#
# Backprop works on a *computation graph*: every node is one primitive operation, every edge
# carries a value forward and a gradient backward. gradflow records that graph as you compute,
# and `visual.draw_graph` draws it (it returns a `graphviz.Digraph`, so a notebook shows it
# inline; rendering needs no system Graphviz). We use the network of seed 002 again
# (notebook 2), then a small MLP, then tensors.

# %%
from pathlib import Path

import numpy as np
from IPython.display import SVG, Markdown

from gradflow import Tensor, Value, backward_steps, forward_steps, scope, visual
from gradflow.examples import seed002_network
from gradflow.nn import Linear, Sequential

OUT = Path("gradflow-output")  # the files this notebook writes; git ignores the folder
OUT.mkdir(exist_ok=True)

# %% [markdown]
# ## Before backward: values, and "no grad yet"
#
# Each node shows its name, the operation that produced it and its value. Before
# `backward()` no gradient exists yet, and the drawing says so instead of showing a
# misleading 0.

# %%
net = seed002_network()
loss = net["L"]
visual.draw_graph(loss)

# %% [markdown]
# ## After backward: every node's gradient $\partial L/\partial\text{node}$
#
# Compare with the hand derivation of notebook 2: $\partial L/\partial w_{211} = -700$,
# $\partial L/\partial w_{111} = -40$, and the dead neuron $y_{12}$ passes nothing to
# $w_{121}$ and $b_{12}$.

# %%
loss.backward()
visual.draw_graph(loss)

# %% [markdown]
# ## Local derivatives on the edges
#
# `show_local=True` labels each edge with the local derivative
# $\partial\,\text{node}/\partial\,\text{input}$, formula and number. Backprop multiplies
# these along every path from the loss: $\partial L/\partial w_{211} = 2e \cdot (-1) \cdot 1
# \cdot 1 \cdot 1 \cdot y_{11} = 10 \cdot (-1) \cdot 70 = -700$. Top-down layout
# (`rankdir="TB"`) and hiding the constants keep it compact; `highlight` marks one node or
# one edge, here the edge that delivers $\partial L/\partial w_{211}$.

# %%
visual.draw_graph(
    loss,
    show_local=True,
    rankdir="TB",
    hide_constants=True,
    highlight=(net["w211"], net["p21"]),
)

# %% [markdown]
# ## The step player
#
# `visual.player(loss)` replays the forward pass and then every backward step of
# `backward_steps(loss)`, right here in the notebook: the node sending the gradient and the
# input receiving it are highlighted, the edge between them carries the local derivative,
# and the panel reads *local · upstream = contribution* in maths notation. Given a learning
# rate, a last step updates every parameter, $w \leftarrow w - \gamma\,\partial L/\partial w$.
# Click into it, then use the arrow keys or the buttons; click a row of the table to jump.

# %%
visual.player(loss, lr=0.001)

# %% [markdown]
# `visual.write_player` writes the same page as one self-contained HTML file (no network
# needed) to open in a browser.

# %%
player = visual.write_player(loss, OUT / "seed002_player.html", lr=0.001)
print(f"wrote {player} ({player.stat().st_size // 1024} KiB)")
Markdown(f"[Open the step player]({player}) (a file in the folder {OUT}/)")

# %% [markdown]
# The same frames as SVG files, one per step (`visual.write_frames`), are handy for slides.
# Here is the backward step that computes $\partial L/\partial w_{211}$:

# %%
frames = visual.write_frames(loss, OUT / "seed002_frames")
n_ops = sum(1 for s in forward_steps(loss) if s.op != "leaf")
k = next(s.index for s in backward_steps(loss) if s.input == "w211")
# frame 0 shows the inputs, then one frame per op, the seed ∂L/∂L = 1, and the backward steps
n_backward = len(frames) - n_ops - 2
print(f"{len(frames)} frames: inputs, {n_ops} forward ops, the seed, {n_backward} backward steps")
SVG(filename=str(frames[n_ops + 1 + k]))

# %% [markdown]
# ## Writing a graph to a file
#
# `visual.render_graph(node, path)` picks the format from the suffix (`.svg`, `.png`,
# `.dot`). The same graph always gives byte-identical SVG, so you can keep it under version
# control.

# %%
svg = visual.render_graph(loss, OUT / "seed002.svg", show_local=True)
dot = visual.render_graph(loss, OUT / "seed002.dot")
print(svg, svg.stat().st_size, "bytes;", dot, dot.stat().st_size, "bytes")
print(Path(dot).read_text().splitlines()[0])

# %% [markdown]
# ## A small MLP: collapse the layers
#
# A network with two `Linear` layers already has many op nodes. Calls of a module run inside
# `gradflow.scope(...)`, which tags every node with the layer it belongs to, so
# `collapse=True` draws each layer as one box (with its number of ops and parameters). The
# tensors' *shapes* are shown instead of values: the batch has 5 rows and 3 features, the
# hidden layer 4 units.

# %%
model = Sequential(Linear(3, 4, seed=0), Linear(4, 2, seed=1))
X = Tensor(np.random.default_rng(0).normal(size=(5, 3)), label="X")
out = model(X)
out.label = "out"
mse = (out**2).mean()
mse.label = "L"
mse.backward()
visual.draw_graph(mse)

# %%
visual.draw_graph(mse, collapse=True)

# %% [markdown]
# You can also name your own groups with `gradflow.scope` and collapse some of them only
# (`collapse="layer"` collapses every scope whose name starts with that prefix).

# %%
x = Value(1.5, label="x", requires_grad=False)
w1, b1, w2, b2 = (
    Value(0.8, label="w1"),
    Value(0.1, label="b1"),
    Value(-1.2, label="w2"),
    Value(0.3, label="b2"),
)
with scope("layer1"):
    h = (w1 * x + b1).tanh()
with scope("layer2"):
    y = (w2 * h + b2).sigmoid()
y.label = "y"
visual.draw_graph(y, collapse="layer1")

# %% [markdown]
# ## Tensor graphs: shapes and vector-Jacobian products
#
# With tensors, a node's local derivative is a Jacobian matrix, which backprop never builds:
# it only needs the *vector-Jacobian product* of the upstream gradient. For $Y = XW^\top + b$
# with upstream $G = \partial L/\partial Y$: $\partial L/\partial X = GW$,
# $\partial L/\partial W = G^\top X$, $\partial L/\partial b = \sum_\text{rows} G$ (the bias was
# broadcast over the batch, so its gradient is summed back). `backward_steps` prints these
# rules with the shapes.

# %%
X = Tensor(np.arange(6.0).reshape(2, 3) / 5, label="X")
W = Tensor(np.array([[0.5, -1.0, 0.25], [1.0, 0.5, -0.5]]), requires_grad=True, label="W")
b = Tensor(np.array([0.15, -0.2]), requires_grad=True, label="b")
Y = X @ W.T + b
Y.label = "Y"
L = (Y.relu() ** 2).sum()
L.label = "L"
print(forward_steps(L))
print()
print(backward_steps(L))

# %%
L.backward()
G = 2 * np.maximum(Y.data, 0) * (Y.data > 0)  # ∂L/∂Y through the ReLU, by hand
assert np.allclose(W.grad, G.T @ X.data) and np.allclose(b.grad, G.sum(axis=0))
visual.draw_graph(L, show_local=True)

# %% [markdown]
# **Next:** losses from maximum likelihood (notebook 4). The exercises
# (`gradflow exercise list`) include graphs to work through by hand, and
# `gradflow exercise show NAME --render DIR` writes the same drawings and the player for each.
