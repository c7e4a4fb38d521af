"""Demonstrations behind the flash cards that no exercise or notebook section shows.

Each is a function ``name(out)`` that builds something small with gradflow, runs it (a few
seconds at most, graph backend) and prints what a student should see to ``out``. The deck
links to them as ``command = "gradflow exercise demo NAME"``; :data:`DEMONSTRATIONS` lists
them, each with a one-line summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

import numpy as np

from gradflow import nn
from gradflow.display import number
from gradflow.tensor import Tensor, concat


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")


def _rows(out: TextIO, head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    for r in [head, ["─" * w for w in widths], *rows]:
        _say(out, "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


# ------------------------------------------------------------------- cross-validation


def cross_validation(out: TextIO) -> dict:
    """5-fold cross-validation of a small MLP on the 150 irises: five trainings, each
    validated on the fold it did not see; the mean and spread of the five scores."""
    from gradflow.data import load_iris
    from gradflow.data.splits import kfold_indices
    from gradflow.training import cross_validate

    X, y = load_iris()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    k, epochs = 5, 20
    _say(out, f"{k}-fold cross-validation of an MLP 4-8-3 on the {len(y)} irises")
    _say(out, f"(a fresh model per fold, {epochs} epochs of Adam on the other {k - 1} folds):\n")
    result = cross_validate(
        lambda fold: nn.mlp([4, 8, 3], seed=fold),
        X,
        y,
        k=k,
        seed=0,
        epochs=epochs,
        lr=0.05,
        batch_size=32,
        backend="graph",
    )
    folds = kfold_indices(y, k, 0)
    _rows(
        out,
        ["fold", "trained on", "validated on", "validation accuracy"],
        [
            [str(i + 1), str(len(tr)), str(len(va)), f"{f['val_accuracy']:.3f}"]
            for i, ((tr, va), f) in enumerate(zip(folds, result["folds"]))
        ],
    )
    seen = np.sort(np.concatenate([va for _, va in folds]))
    if not np.array_equal(seen, np.arange(len(y))):  # kfold_indices' promise
        # a builtin on purpose: broken folds are a gradflow bug, not bad input
        raise RuntimeError("cross_validation: the folds do not cover every sample once")
    mean, std = result["mean_val_accuracy"], result["std_val_accuracy"]
    _say(out, f"\nmean ± std over the folds: {mean:.3f} ± {std:.3f}")
    _say(out, "Every iris is validated exactly once, by a model that never saw it; the spread")
    _say(out, "of the five scores shows how much one lucky split could mislead. The test set,")
    _say(out, "if there is one, stays aside. Worth it for small data sets; for a deep model on")
    _say(out, "a large data set, k trainings cost too much.")
    return result


# -------------------------------------------------------------------------- autoencoder

_SHADES = " .:-=+*#%@"


def _picture(image: np.ndarray) -> list[str]:
    """An 8×8 image (values 0..1) as 8 lines of characters, darker = larger."""
    levels = np.clip((image * (len(_SHADES) - 1)).round(), 0, len(_SHADES) - 1).astype(int)
    return ["".join(_SHADES[v] * 2 for v in row) for row in levels.reshape(8, 8)]


def autoencoder(out: TextIO) -> list[float]:
    """An autoencoder 64-32-8-32-64 trained on the 8×8 digits to reproduce its input: the
    reconstruction error falls epoch by epoch, and no label is ever used."""
    from gradflow.data import load_digits
    from gradflow.training import fit

    X, _ = load_digits()  # the labels are not used: unsupervised
    X = X / 16.0
    model = nn.Autoencoder([64, 32, 8], activation="relu", output_activation="sigmoid", seed=0)
    _say(out, "An autoencoder on the 1797 8×8 digits: encoder 64 → 32 → 8 (the code),")
    _say(out, "decoder 8 → 32 → 64. Trained on (x, x): the target is the input itself,")
    _say(out, "loss = MSE(x̂, x), backpropagation and Adam as for any network; no labels.\n")
    history = fit(
        model,
        (X, X),
        loss="mse",
        epochs=8,
        lr=0.01,
        batch_size=64,
        backend="graph",
        progress=False,
        seed=0,
    )
    losses = history["train_loss"]
    baseline = float(((X - X.mean(axis=0)) ** 2).mean())
    _say(out, "epoch  reconstruction MSE")
    for i, v in enumerate(losses, 1):
        _say(out, f"{i:>5}  {v:.4f}")
    _say(out, f"(always answering the mean digit: {baseline:.4f})\n")
    x = Tensor(X[:3])
    code = model.encode(x).data
    recon = model(x).data
    _say(out, "Three digits squeezed through 8 numbers and back (input | reconstruction):")
    for k in range(3):
        _say(out, f"  code: [{', '.join(f'{c:.2f}' for c in code[k])}]")
        for left, right in zip(_picture(X[k]), _picture(recon[k])):
            _say(out, f"  {left} | {right}")
    return losses


# ------------------------------------------------------------------- 1×1 convolution


def conv1x1(out: TextIO) -> dict[str, int]:
    """A 1×1 convolution mixes the channels at each pixel (a Linear layer applied at every
    pixel) and cuts the number of feature maps; in front of a 3×3 convolution it saves most
    of the weights."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(1, 6, 4, 4)))
    squeeze = nn.Conv2d(6, 2, kernel_size=1, seed=0)
    squeeze.bias.data[:] = [0.5, -0.5]
    y = squeeze(x)
    w = squeeze.weight.data[:, :, 0, 0]  # (2, 6): one weight per output map and input map
    by_hand = np.einsum("oc,bchw->bohw", w, x.data) + squeeze.bias.data[None, :, None, None]
    _say(out, f"Conv2d(6, 2, kernel_size=1) on 6 feature maps of 4×4: {x.shape} → {y.shape}")
    _say(out, "Each output pixel is a weighted sum of the 6 input maps at that same pixel:")
    _say(out, "y[o, i, j] = Σ_c w[o, c]·x[c, i, j] + b[o] — a Linear(6, 2) applied at every pixel,")
    _say(out, "a learnable 'pooling' of feature maps that keeps height and width.")
    err = float(np.abs(y.data - by_hand).max())
    _say(out, f"  largest difference from that sum by hand: {number(err)}\n")

    direct = nn.Conv2d(256, 256, 3, padding=1)
    reduce, conv = nn.Conv2d(256, 64, 1), nn.Conv2d(64, 256, 3, padding=1)
    counts = {
        "3×3 conv 256 → 256": direct.num_parameters(),
        "1×1 conv 256 → 64": reduce.num_parameters(),
        "3×3 conv 64 → 256": conv.num_parameters(),
    }
    _say(out, "Why bother: a 3×3 convolution from 256 maps to 256 maps, directly or after a")
    _say(out, "1×1 convolution down to 64 maps (the bottleneck of Inception and ResNet):")
    _rows(out, ["layer", "parameters"], [[k, f"{v:,}"] for k, v in counts.items()])
    both = counts["1×1 conv 256 → 64"] + counts["3×3 conv 64 → 256"]
    alone = counts["3×3 conv 256 → 256"]
    _say(
        out,
        f"  with the 1×1 first: {both:,} parameters instead of {alone:,} "
        f"({alone / both:.1f}× fewer)",
    )
    return counts


# ------------------------------------------------------------------------------ VGG


def vgg(out: TextIO) -> dict[int, int]:
    """VGG's idea: many small 3×3 convolutions stacked (between poolings). Two 3×3 layers see
    a 5×5 patch, three see 7×7 — shown by backpropagating from one output pixel to the
    image — with fewer weights than one big filter."""
    _say(out, "VGG stacks many 3×3 convolutions (with pooling between blocks, 3 dense layers")
    _say(out, "and softmax at the end). What a stack of 3×3 layers sees: the gradient of one")
    _say(out, "output pixel with respect to an 11×11 image is nonzero on its receptive field.\n")
    fields: dict[int, int] = {}
    for depth in (1, 2, 3):
        layers = []
        for k in range(depth):
            conv = nn.Conv2d(1, 1, 3, bias=False, seed=k)
            conv.weight.data[:] = np.abs(conv.weight.data) + 0.1  # positive: nothing cancels
            layers.append(conv)
        image = Tensor(np.ones((1, 1, 11, 11)), requires_grad=True)
        y = nn.Sequential(*layers)(image)
        c = y.shape[2] // 2
        y[0, 0, c, c].backward()
        seen = image.grad[0, 0] != 0
        rows, cols = np.nonzero(seen)
        side = int(rows.max() - rows.min() + 1)
        fields[depth] = side
        _say(out, f"{depth} × 3×3 conv: receptive field {side}×{cols.max() - cols.min() + 1}")
        if depth == 2:
            for row in seen:
                _say(out, "    " + " ".join("■" if v else "·" for v in row))
    _say(out, "\nWeights per input-output channel pair, same receptive field:")
    _rows(
        out,
        ["receptive field", "stacked 3×3 layers", "one big filter"],
        [[f"{2 * d + 1}×{2 * d + 1}", f"{d}·9 = {9 * d}", str((2 * d + 1) ** 2)] for d in (2, 3)],
    )
    _say(out, "and a ReLU after each small layer: more nonlinearity for fewer weights.")
    return fields


# ------------------------------------------------------------------ GoogLeNet / Inception


def _pad(x: Tensor, p: int) -> Tensor:
    """Zero padding of the two spatial axes, built from concatenations (keeps the graph)."""
    b, c, h, w = x.shape
    rows = Tensor(np.zeros((b, c, p, w)))
    x = concat([rows, x, rows], axis=2)
    cols = Tensor(np.zeros((b, c, h + 2 * p, p)))
    return concat([cols, x, cols], axis=3)


class InceptionBlock(nn.Module):
    """GoogLeNet's block: 1×1, 3×3 and 5×5 convolutions and a 3×3 max-pool side by side on
    the same input, their feature maps concatenated; 1×1 convolutions cut the channels in
    front of the 3×3 and 5×5 filters and after the pooling."""

    def __init__(self, c_in: int, c1: int, r3: int, c3: int, r5: int, c5: int, cp: int):
        super().__init__()
        self.branch1 = nn.Conv2d(c_in, c1, 1, seed=1)
        self.reduce3 = nn.Conv2d(c_in, r3, 1, seed=2)
        self.branch3 = nn.Conv2d(r3, c3, 3, padding=1, seed=3)
        self.reduce5 = nn.Conv2d(c_in, r5, 1, seed=4)
        self.branch5 = nn.Conv2d(r5, c5, 5, padding=2, seed=5)
        self.pool_proj = nn.Conv2d(c_in, cp, 1, seed=6)
        self.pool = nn.MaxPool2d(3, stride=1)

    def branches(self, x: Tensor) -> list[Tensor]:
        return [
            self.branch1(x).relu(),
            self.branch3(self.reduce3(x).relu()).relu(),
            self.branch5(self.reduce5(x).relu()).relu(),
            self.pool_proj(self.pool(_pad(x, 1))).relu(),  # x ≥ 0 here, so 0-padding is safe
        ]

    def forward(self, x: Tensor) -> Tensor:
        return concat(self.branches(x), axis=1)


def inception(out: TextIO) -> dict[str, int]:
    """One Inception block on 192 feature maps of 8×8 (the sizes of GoogLeNet's block 3a):
    four branches, one output of 256 maps, and how many weights the 1×1 reductions save."""
    rng = np.random.default_rng(0)
    x = Tensor(np.abs(rng.normal(size=(1, 192, 8, 8))), requires_grad=True)  # after a ReLU
    block = InceptionBlock(192, 64, 96, 128, 16, 32, 32)
    names = ["1×1", "1×1 → 3×3", "1×1 → 5×5", "3×3 max-pool → 1×1"]
    _say(out, "GoogLeNet is a deep stack of Inception blocks. One block (sizes of block 3a) on")
    _say(out, f"an input of {x.shape[1]} feature maps of 8×8 runs four branches side by side:")
    branches = block.branches(x)
    _rows(out, ["branch", "output"], [[n, str(b.shape)] for n, b in zip(names, branches)])
    y = block(x)
    _say(out, f"  concatenated along the channels: {y.shape}")
    y.sum().backward()
    _say(
        out,
        f"  and the gradient flows back into the input through every branch "
        f"(∂Σy/∂x has shape {x.grad.shape}).\n",
    )
    naive = (
        nn.Conv2d(192, 128, 3, padding=1).num_parameters()
        + nn.Conv2d(192, 32, 5, padding=2).num_parameters()
    )
    reduced = sum(
        m.num_parameters() for m in (block.reduce3, block.branch3, block.reduce5, block.branch5)
    )
    counts = {"block": block.num_parameters(), "3×3 and 5×5 directly": naive, "with 1×1": reduced}
    _say(out, "The 1×1 convolutions in front of the big filters are what makes this affordable:")
    _rows(
        out,
        ["3×3 and 5×5 branches", "parameters"],
        [["on all 192 maps", f"{naive:,}"], ["after 1×1 reductions to 96 and 16", f"{reduced:,}"]],
    )
    _say(out, f"  {naive / reduced:.1f}× fewer weights; the whole block has {counts['block']:,}.")
    return counts


# --------------------------------------------------------------------------------- ResNet


def resnet(out: TextIO) -> dict[str, list[float]]:
    """A plain stack of 30 sigmoid layers against the same layers with skip connections
    (``nn.Residual``: y = x + F(x)): the gradient reaching the first layer vanishes in one
    and not in the other."""
    depth, width = 30, 16
    rng = np.random.default_rng(0)
    x, target = rng.normal(size=(32, width)), rng.normal(size=(32, width))
    norms: dict[str, list[float]] = {}
    for name, residual in (("plain", False), ("residual", True)):
        h, inputs = Tensor(x, requires_grad=True), []
        for k in range(depth):  # the same initial weights in both stacks (seed k)
            layer = nn.Sequential(
                nn.Linear(width, width, init="xavier_uniform", seed=k), nn.Sigmoid()
            )
            inputs.append(h)
            h = (nn.Residual(layer) if residual else layer)(h)
        nn.losses.mse(h, Tensor(target)).backward()
        norms[name] = [float(np.linalg.norm(v.grad)) for v in inputs]
    _say(out, f"ResNet adds skip connections: a block outputs x + F(x). {depth} layers")
    _say(out, f"Linear({width}, {width}) + sigmoid with the same initial weights, without and with")
    _say(out, "the skip; ‖∂L/∂h‖, the gradient reaching the input h of layer k (L = MSE to random")
    _say(out, "targets, one batch of 32):\n")
    show = [1, 2, 5, 10, 20, depth]
    _rows(
        out,
        ["layer k", "plain stack", "residual stack"],
        [[str(k), f"{norms['plain'][k - 1]:.1e}", f"{norms['residual'][k - 1]:.2f}"] for k in show],
    )
    _say(out, "\nPlain: the gradient is multiplied by σ' ≤ 1/4 and a weight matrix at every layer")
    _say(out, "and has all but vanished at layer 1 — those weights do not learn. Residual:")
    _say(out, "∂(x + F(x))/∂x = I + ∂F/∂x, so the gradient reaches layer 1 through the identity")
    _say(out, "path, as large as at the top; that is why ResNets can be 100+ layers deep.")
    return norms


# name -> (the function, what it shows in one line)
DEMONSTRATIONS: dict[str, tuple[Callable[[TextIO], object], str]] = {
    "cross_validation": (cross_validation, "5-fold cross-validation of an MLP on the irises"),
    "autoencoder": (autoencoder, "an autoencoder learns to reproduce the 8×8 digits"),
    "conv1x1": (conv1x1, "a 1×1 convolution mixes channels and saves weights"),
    "vgg": (vgg, "stacked 3×3 convolutions: receptive field and weights"),
    "inception": (inception, "an Inception block of GoogLeNet, with 1×1 reductions"),
    "resnet": (resnet, "gradient at the first layer with and without skip connections"),
}
