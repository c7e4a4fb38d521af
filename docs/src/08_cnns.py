# %% [markdown]
# # 8. Convolutional networks
#
# An image has structure an MLP ignores: nearby pixels belong together, and a stroke means
# the same thing wherever it appears. A convolutional layer (seeds 000, 001, 002) slides a
# small bank of filters over the input and shares their weights across positions. This
# notebook does the arithmetic by hand — cross-correlation, output shapes, the backward pass
# of convolution and pooling — and then trains a small CNN on the 8×8 digits.

# %%
import matplotlib.pyplot as plt
import numba
import numpy as np
from IPython.display import display
from scipy import signal

from gradflow import Tensor, fit, gradcheck, no_grad, visual
from gradflow.data import load_digits, train_val_test_split
from gradflow.metrics import accuracy, confusion_matrix
from gradflow.nn import Conv2d, cnn, conv1d, conv2d, losses, max_pool2d
from gradflow.nn.pool import avg_pool2d
from gradflow.training import predict
from gradflow.visual import plots

# %% [markdown]
# ## Convolution in deep learning is cross-correlation
#
# A 1-D layer with kernel $k$ computes $y_i = \sum_j k_j\,x_{i+j} + b$: the kernel slides
# over the input *without* being flipped. Mathematicians call that cross-correlation; true
# convolution flips the kernel first ($\sum_j k_j x_{i-j}$, the kernel "rotated by 180°").
# Frameworks (gradflow, like PyTorch) compute cross-correlation and call it convolution:
# since the kernel is learned, the flip does not matter.

# %%
x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
k = np.array([1.0, 0.0, -1.0])
by_hand = np.array([sum(k[j] * x[i + j] for j in range(3)) for i in range(3)])
engine = conv1d(Tensor(x.reshape(1, 1, 5)), Tensor(k.reshape(1, 1, 3))).data.ravel()
print("by hand            :", by_hand)
print("gradflow conv1d    :", engine)
print("np.correlate       :", np.correlate(x, k, "valid"))
print(
    "np.convolve (flips):",
    np.convolve(x, k, "valid"),
    "= convolve with the flipped kernel:",
    np.convolve(x, k[::-1], "valid"),
)
assert np.allclose(engine, by_hand)

# %% [markdown]
# In 2-D the same: a 3×3 kernel over an image. Two hand-made edge detectors (Sobel filters)
# on one digit: each output map lights up where its pattern occurs.

# %%
images, labels = load_digits(images=True)
digit = images[0:1] / 16.0  # (1, 1, 8, 8): batch, channels, height, width
sobel_x = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
kernels = Tensor(np.stack([sobel_x, sobel_x.T])[:, None])  # (2 filters, 1 channel, 3, 3)
maps = conv2d(Tensor(digit), kernels, padding=1).data
assert np.allclose(
    maps[0, 0], signal.correlate2d(digit[0, 0], sobel_x, mode="same", boundary="fill")
)

fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
for ax, img, title in zip(
    axes, (digit[0, 0], maps[0, 0], maps[0, 1]), ("digit", "vertical edges", "horizontal edges")
):
    ax.imshow(img, cmap="gray" if title == "digit" else "RdBu")
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Output-shape arithmetic
#
# For input size $H$, kernel $K$, padding $P$ and stride $S$:
#
# $$H_\text{out} = \Big\lfloor \frac{H + 2P - K}{S} \Big\rfloor + 1.$$
#
# "Same" padding $P = (K-1)/2$ with stride 1 keeps the size; stride 2 halves it. A layer with
# $C_\text{in}$ input and $C_\text{out}$ output channels has $C_\text{out}(C_\text{in}K^2 + 1)$
# parameters, however large the image. Checked against `Conv2d`:

# %%
print(f"{'H':>3} {'K':>2} {'P':>2} {'S':>2} {'formula':>8} {'Conv2d':>7} {'params':>7}")
for H, K, P, S in (
    (8, 3, 0, 1),
    (8, 3, 1, 1),
    (8, 3, 1, 2),
    (28, 5, 0, 1),
    (28, 5, 2, 1),
    (32, 5, 0, 2),
    (8, 1, 0, 1),
):
    layer = Conv2d(3, 6, K, stride=S, padding=P, seed=0)
    with no_grad():
        out = layer(Tensor(np.zeros((1, 3, H, H))))
    formula = (H + 2 * P - K) // S + 1
    n_params = sum(p.data.size for p in layer.parameters())
    assert out.shape[-1] == formula and n_params == 6 * (3 * K * K + 1)
    print(f"{H:3d} {K:2d} {P:2d} {S:2d} {formula:8d} {out.shape[-1]:7d} {n_params:7d}")

# %% [markdown]
# (The last row is a 1×1 convolution: it mixes channels at each pixel, a per-pixel linear
# layer, used to change the number of channels cheaply.)
#
# ## The backward pass of a convolution
#
# Each weight is used at every position, so its gradient is a *sum over positions*:
# $\partial L/\partial k_{ab} = \sum_{ij} G_{ij}\,x_{i+a,j+b}$ — a cross-correlation of the
# input with the upstream gradient $G$. The gradient with respect to the input is a *full*
# convolution of $G$ with the kernel (i.e. cross-correlation with the kernel flipped).

# %%
rng = np.random.default_rng(0)
img = Tensor(rng.normal(size=(1, 1, 5, 5)), requires_grad=True)
kernel = Tensor(rng.normal(size=(1, 1, 3, 3)), requires_grad=True)
G = rng.normal(size=(1, 1, 3, 3))  # an upstream gradient ∂L/∂y
(conv2d(img, kernel) * Tensor(G)).sum().backward()

dk = signal.correlate2d(img.data[0, 0], G[0, 0], mode="valid")
dx = signal.convolve2d(G[0, 0], kernel.data[0, 0], mode="full")
print("∂L/∂kernel = x ⋆ G          :", np.allclose(kernel.grad[0, 0], dk))
print("∂L/∂x = G * kernel (full)    :", np.allclose(img.grad[0, 0], dx))
print(
    gradcheck(
        lambda a, w: (conv2d(a, w, stride=2, padding=1) ** 2).sum(),
        Tensor(img.data),
        Tensor(kernel.data),
    )
)

# %% [markdown]
# ## Pooling and its backward pass
#
# Max pooling keeps the largest value of each window; its gradient goes entirely to that
# winner and the other inputs get 0. Average pooling spreads the gradient evenly,
# $1/(N\cdot N)$ to each input of an $N\times N$ window.

# %%
a = Tensor(
    np.array(
        [[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 1.0, 5.0], [0.0, 1.0, 3.0, 2.0], [2.0, 6.0, 1.0, 1.0]]
    ).reshape(1, 1, 4, 4),
    requires_grad=True,
)
max_pool2d(a, 2).sum().backward()
print("input:\n", a.data[0, 0])
print("max-pool output:\n", max_pool2d(a, 2).data[0, 0])
print("∂/∂input (max): 1 at each window's winner\n", a.grad[0, 0])
b = Tensor(a.data, requires_grad=True)
avg_pool2d(b, 2).sum().backward()
print("∂/∂input (average): 1/4 everywhere\n", b.grad[0, 0])

# %% [markdown]
# ## A small CNN on the 8×8 digits
#
# Two blocks of (3×3 convolution, padding 1 → ReLU → 2×2 max pooling), then a hidden dense
# layer and 10 outputs: `gradflow.nn.cnn()`. Its graph for a batch of 4 images, each layer
# collapsed into one box that shows the shape of its output (batch × channels × height ×
# width) and of its gradient — the conv blocks go 1×8×8 → 16×8×8 → 16×4×4 → 32×4×4 → 32×2×2:

# %%
X, y = load_digits(images=True)
X = X / 16.0
(X_train, y_train), (X_val, y_val), (X_test, y_test) = train_val_test_split(X, y, seed=0)
model = cnn(input_shape=(1, 8, 8), channels=(16, 32), hidden=64, seed=0)
print(model)
loss = losses.cross_entropy(model(Tensor(X_train[:4])), y_train[:4])
loss.backward()
visual.draw_graph(loss, collapse=True, rankdir="TB")

# %% [markdown]
# Training it. gradflow has two backends that train the *same* model object: `"graph"` (the
# engine you have been stepping through, every op recorded) and `"jit"` (numba-compiled
# kernels, much faster). We use the jit backend when this installation has it. (For batches
# this small one thread is the fastest; the notebooks are built and tested with
# `NUMBA_NUM_THREADS=1`.)

# %%
try:
    import gradflow.jit  # noqa: F401

    backend = "jit"
except ImportError:
    backend = "graph"

model = cnn(input_shape=(1, 8, 8), channels=(16, 32), hidden=64, seed=0)
history = fit(
    model, (X_train, y_train), (X_val, y_val),
    optimizer="adam", lr=3e-3, epochs=6, batch_size=32, seed=0, backend=backend, progress=False,
)  # fmt: skip
test_pred = predict(model, X_test)
test_accuracy = accuracy(y_test, test_pred)
first, rest = history.epochs[0]["seconds"], [e["seconds"] for e in history.epochs[1:]]
threads = f", {numba.get_num_threads()} numba thread(s)" if backend == "jit" else ""
print(f"backend {backend}{threads}: first epoch {first:.1f} s (with any compilation), then")
print(f"{np.mean(rest):.2f} s per epoch = {len(X_train) / np.mean(rest):,.0f} training samples/s")
print(f"test accuracy: {test_accuracy:.3f}")
assert test_accuracy > 0.9
plots.plot_history(history.epochs, path=None)

# %% [markdown]
# Which digits does it confuse? Rows are the true class, columns the prediction.

# %%
cm = confusion_matrix(y_test, test_pred, num_classes=10)
plots.plot_confusion_matrix(cm, labels=range(10), path=None)

# %% [markdown]
# ## What the first layer learned
#
# The 16 learned 3×3 filters, and the feature maps they produce on one test digit:

# %%
filters = model.parameters()[0].data[:, 0]  # (16, 3, 3)
with no_grad():
    feature_maps = model.layers[1](model.layers[0](Tensor(X_test[:1]))).data[0]  # after ReLU
fig, axes = plt.subplots(2, 16, figsize=(14, 2.2))
for j in range(16):
    axes[0, j].imshow(filters[j], cmap="RdBu")
    axes[1, j].imshow(feature_maps[j], cmap="gray")
    axes[0, j].axis("off")
    axes[1, j].axis("off")
fig.suptitle(
    f"first-layer filters (top) and their ReLU feature maps on a test '{y_test[0]}' (bottom)"
)
plt.show()

# %% [markdown]
# ## Filters and feature maps with gradflow.visual
#
# `plot_filters(layer)` draws every kernel of a conv layer on one colour scale centred on 0;
# `plot_feature_maps(model, image)` runs one image through the model and shows what each conv
# layer outputs, one row per layer.

# %%
display(plots.plot_filters(model[0], None))
plots.plot_feature_maps(model, X_test[0], None, max_maps=8)

# %% [markdown]
# **Exercises:** `conv1d`, `conv2d`, `maxpool_backward`, `avgpool_backward`.
#
# **Next:** [9. RNN, LSTM and GRU](09_rnn_lstm_gru.ipynb).
