"""``gradflow.nn.functional``: the layers, activations and losses as functions, with
PyTorch's names and argument names, so course code written ``import torch.nn.functional as F``
runs with ``from gradflow.nn import functional as F``.

Every function is a thin call of an op of the table (:mod:`gradflow.ops`) or of the layer
and loss functions of :mod:`gradflow.nn`; nothing here restates maths. Where PyTorch offers
an option gradflow has no op for (``reduction="sum"``, ``softplus(beta=2)``, pooling with
padding), the function says so in one line instead of computing something else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..tensor import Tensor
from . import init as _init
from . import losses as _losses
from .conv import conv1d as _conv1d
from .conv import conv2d as _conv2d
from .pool import avg_pool1d as _avg_pool1d
from .pool import avg_pool2d as _avg_pool2d
from .pool import max_pool1d as _max_pool1d
from .pool import max_pool2d as _max_pool2d

__all__ = [
    "avg_pool1d", "avg_pool2d", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "conv1d", "conv2d", "cross_entropy", "dropout", "elu", "gelu", "kl_div", "l1_loss",
    "leaky_relu", "linear", "log_softmax", "margin_ranking_loss", "max_pool1d", "max_pool2d",
    "mish", "mse_loss", "nll_loss", "relu", "selu", "sigmoid", "silu", "softmax", "softplus",
    "tanh",
]  # fmt: skip


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _unsupported(fn: str, what: str) -> UsageError:
    return UsageError(f"F.{fn}: {what} is not supported by gradflow")


# --- activations --------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(0, x) (op ``relu``); ``inplace`` is accepted and ignored (gradflow never
    overwrites a tensor)."""
    return _t(input).relu()


def sigmoid(input: Tensor) -> Tensor:
    """σ(x) (op ``sigmoid``)."""
    return _t(input).sigmoid()


def tanh(input: Tensor) -> Tensor:
    """tanh x (op ``tanh``)."""
    return _t(input).tanh()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else slope·x (op ``leaky_relu``)."""
    return _t(input).leaky_relu(alpha=float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else α(eˣ − 1) (op ``elu``)."""
    return _t(input).elu(alpha=float(alpha))


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """λ·ELU_α(x) (op ``selu``)."""
    return _t(input).selu()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x·Φ(x) (op ``gelu``); ``approximate="tanh"`` is not gradflow's approximation (which is
    x·σ(1.702x), op ``gelu_approx``) and is refused."""
    if approximate != "none":
        raise _unsupported("gelu", f"approximate={approximate!r} (use x.gelu_approx())")
    return _t(input).gelu()


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x·σ(x) (op ``swish`` with β = 1)."""
    return _t(input).swish(beta=1.0)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + eˣ) (op ``softplus``; computed stably, so ``threshold`` is not needed)."""
    if beta != 1.0:
        raise _unsupported("softplus", f"beta={beta}")
    return _t(input).softplus()


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x·tanh(softplus x) (op ``mish``)."""
    return _t(input).mish()


def _dim(fn: str, x: Tensor, dim: int | None) -> int:
    if dim is None:  # PyTorch's legacy default: 1 for 2-D and 4-D inputs, else 0
        return 0 if x.ndim in (0, 1, 3) else 1
    return int(dim)


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """e^x / Σ e^x along ``dim`` (op ``softmax``)."""
    x = _t(input)
    return x.softmax(axis=_dim("softmax", x, dim))


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """x − logsumexp(x) along ``dim`` (op ``log_softmax``)."""
    x = _t(input)
    return x.log_softmax(axis=_dim("log_softmax", x, dim))


# --- layers -----------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x Wᵀ + b, W of shape (out, in) as ``nn.Linear``'s weight."""
    y = _t(input) @ weight.T
    return y + bias if bias is not None else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-d cross-correlation (op ``conv1d``)."""
    _plain_conv("conv1d", dilation, groups)
    return _conv1d(input, weight, bias, stride=stride, padding=padding)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-d cross-correlation (op ``conv2d``)."""
    _plain_conv("conv2d", dilation, groups)
    return _conv2d(input, weight, bias, stride=stride, padding=padding)


def _plain_conv(fn: str, dilation, groups) -> None:
    if np.any(np.asarray(dilation) != 1):
        raise _unsupported(fn, f"dilation={dilation}")
    if groups != 1:
        raise _unsupported(fn, f"groups={groups}")


def _plain_pool(fn: str, padding, dilation, ceil_mode) -> None:
    if np.any(np.asarray(padding) != 0):
        raise _unsupported(fn, f"padding={padding}")
    if np.any(np.asarray(dilation) != 1):
        raise _unsupported(fn, f"dilation={dilation}")
    if ceil_mode:
        raise _unsupported(fn, "ceil_mode=True")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    """Max over windows of ``kernel_size`` (stride defaults to the kernel) (op ``maxpool``)."""
    _plain_pool("max_pool1d", padding, dilation, ceil_mode)
    return _max_pool1d(input, kernel_size, stride)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    """Max over windows of ``kernel_size`` (stride defaults to the kernel) (op ``maxpool``)."""
    _plain_pool("max_pool2d", padding, dilation, ceil_mode)
    return _max_pool2d(input, kernel_size, stride)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False) -> Tensor:
    """Mean over windows of ``kernel_size`` (op ``avgpool``)."""
    _plain_pool("avg_pool1d", padding, 1, ceil_mode)
    return _avg_pool1d(input, kernel_size, stride)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False) -> Tensor:
    """Mean over windows of ``kernel_size`` (op ``avgpool``)."""
    _plain_pool("avg_pool2d", padding, 1, ceil_mode)
    return _avg_pool2d(input, kernel_size, stride)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Inverted dropout with gradflow's global generator (``nn.manual_seed``); the identity
    when ``training`` is False. (The jit backend needs the ``nn.Dropout`` layer: a mask drawn
    inside ``forward`` is a value it cannot trace.)"""
    if not 0.0 <= p < 1.0:
        raise UsageError(f"F.dropout: p must be in [0, 1), got {p}")
    x = _t(input)
    if not training or p == 0.0:
        return x
    keep = _init.rng().random(x.shape) >= p
    return x * Tensor(keep.astype(x.dtype) / (1.0 - p))


# --- losses -----------------------------------------------------------------------------
def _mean_only(fn: str, reduction: str) -> None:
    if reduction != "mean":
        raise _unsupported(fn, f"reduction={reduction!r} (only 'mean')")


def _named(loss_name: str):
    """Mark a function as the loss ``loss_name`` of ``nn.losses.LOSSES`` (the jit backend
    then runs that loss's kernel for it)."""

    def mark(fn):
        fn.loss_name = loss_name
        return fn

    return mark


@_named("cross_entropy")
def cross_entropy(input, target, reduction: str = "mean", label_smoothing: float = 0.0):
    """Softmax cross-entropy on logits (B, C) and integer classes (B,) (or probabilities)."""
    _mean_only("cross_entropy", reduction)
    return _losses.cross_entropy(_t(input), target, label_smoothing=label_smoothing)


@_named("nll")
def nll_loss(input, target, reduction: str = "mean"):
    """−log p_y from log-probabilities (a ``log_softmax`` output)."""
    _mean_only("nll_loss", reduction)
    return _losses.nll(_t(input), target)


@_named("mse")
def mse_loss(input, target, reduction: str = "mean"):
    """Mean of (x − t)² over every element."""
    _mean_only("mse_loss", reduction)
    return _losses.mse(_t(input), target)


@_named("mae")
def l1_loss(input, target, reduction: str = "mean"):
    """Mean of |x − t| over every element."""
    _mean_only("l1_loss", reduction)
    return _losses.mae(_t(input), target)


@_named("bce")
def binary_cross_entropy(input, target, reduction: str = "mean"):
    """−[t log p + (1 − t) log(1 − p)] on probabilities p (a ``sigmoid`` output)."""
    _mean_only("binary_cross_entropy", reduction)
    return _losses.bce(_t(input), target)


@_named("bce_logits")
def binary_cross_entropy_with_logits(input, target, reduction: str = "mean"):
    """Binary cross-entropy on logits, computed stably."""
    _mean_only("binary_cross_entropy_with_logits", reduction)
    return _losses.bce_logits(_t(input), target)


@_named("kl_div")
def kl_div(input, target, reduction: str = "batchmean"):
    """KL(target ‖ pred) with log-probabilities as ``input``, summed per example, batch mean
    (PyTorch's ``reduction="batchmean"``, the one that is the KL divergence)."""
    if reduction != "batchmean":
        raise _unsupported("kl_div", f"reduction={reduction!r} (only 'batchmean')")
    return _losses.kl_div(_t(input), target)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, reduction: str = "mean"):
    """max(0, −y·(s₁ − s₂) + margin), batch mean."""
    _mean_only("margin_ranking_loss", reduction)
    return _losses.margin_ranking((_t(input1), _t(input2)), target, margin=margin)
