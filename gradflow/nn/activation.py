"""Activation functions as modules, one per activation op of the table (plus Identity,
Softmax, LogSoftmax).

Most are stateless wrappers around an op, so a traced graph shows the op itself (``relu``,
``gelu``...) with the table's derivative. Three hold state:

* ``PReLU`` learns its negative slope α (a Parameter ``weight``, one per channel or shared);
* ``Swish(beta, learnable=True)`` learns β (a Parameter ``beta``);
* ``RReLU`` draws a random slope U(lower, upper) per element in training and uses the mean
  slope (lower + upper)/2 in eval, as in the RReLU paper and PyTorch.

The learnable ones are composed from table ops (``where``, ``mul``, ``sigmoid``) so their
gradients w.r.t. the parameter come from the same records; at x = 0 they follow the table's
kink convention (the x ≤ 0 branch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, where
from . import init as _init
from .module import Module, Parameter


class _OpActivation(Module):
    """An activation that is exactly one elementwise op of the table."""

    op_name = ""

    def __init__(self, **params: Any):
        super().__init__()
        self.params = params

    def forward(self, x: Tensor) -> Tensor:
        return getattr(x, self.op_name)(**self.params)

    def config(self) -> dict:
        return dict(self.params)


class ReLU(_OpActivation):
    """max(0, x)."""

    op_name = "relu"


class Step(_OpActivation):
    """step(x) = 1 if x > 0 else 0: the threshold of the McCulloch–Pitts neuron (its
    derivative is 0, so no gradient passes it; see :mod:`gradflow.nn.perceptron`)."""

    op_name = "step"


class LeakyReLU(_OpActivation):
    """x if x > 0 else αx."""

    op_name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__(alpha=float(alpha))


class ELU(_OpActivation):
    """x if x > 0 else α(eˣ − 1)."""

    op_name = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__(alpha=float(alpha))


class SELU(_OpActivation):
    """λ·ELU_α(x), self-normalising with LeCun init."""

    op_name = "selu"


class GELU(_OpActivation):
    """x·Φ(x), exact erf form."""

    op_name = "gelu"


class GELUApprox(_OpActivation):
    """x·σ(1.702x)."""

    op_name = "gelu_approx"


class Sigmoid(_OpActivation):
    """1/(1 + e⁻ˣ)."""

    op_name = "sigmoid"


class Tanh(_OpActivation):
    """tanh x."""

    op_name = "tanh"


class Softplus(_OpActivation):
    """log(1 + eˣ), a smooth ReLU."""

    op_name = "softplus"


class Mish(_OpActivation):
    """x·tanh(softplus x)."""

    op_name = "mish"


class SiLU(_OpActivation):
    """x·σ(x) (Swish with β = 1)."""

    op_name = "swish"

    def __init__(self):
        super().__init__(beta=1.0)


class Identity(Module):
    """f(x) = x (a linear output layer, or a placeholder)."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class Swish(Module):
    """x·σ(βx). With ``learnable=True`` β is a Parameter ``beta`` (shape (1,)) trained with
    the weights; otherwise it is the table's ``swish`` op with a constant β."""

    def __init__(self, beta: float = 1.0, learnable: bool = False):
        super().__init__()
        self.learnable = learnable
        self.beta_value = float(beta)
        self.beta = Parameter(np.array([beta], dtype=np.float64)) if learnable else None

    def forward(self, x: Tensor) -> Tensor:
        if self.beta is None:
            return x.swish(beta=self.beta_value)
        return x * (x * self.beta).sigmoid()

    def config(self) -> dict:
        beta = float(self.beta.data[0]) if self.beta is not None else self.beta_value
        return {"beta": beta, "learnable": self.learnable}


def _channel_shape(x: Tensor, n: int) -> tuple[int, ...]:
    """Shape that lines a per-channel vector (n,) up with axis 1 of x."""
    if n == 1:
        return (1,)
    if x.ndim < 2 or x.shape[1] != n:
        raise ValueError(f"PReLU with {n} slopes needs input (B, {n}, ...), got {x.shape}")
    return (1, n) + (1,) * (x.ndim - 2)


class PReLU(Module):
    """x if x > 0 else αx with learnable α: ``weight`` of shape (num,) (num = 1 shares one α,
    num = C learns one per channel, axis 1), initialised to ``init`` (0.25)."""

    def __init__(self, num: int = 1, init: float = 0.25):
        super().__init__()
        self.num = int(num)
        self.weight = Parameter(np.full(self.num, float(init)))

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.weight.reshape(_channel_shape(x, self.num))
        return where(x.data > 0, x, x * alpha)

    def config(self) -> dict:
        return {"num": self.num}


class RReLU(Module):
    """Randomized leaky ReLU: slope U(lower, upper) per element in training, the mean slope
    (lower + upper)/2 in eval. ``seed`` makes the draws reproducible."""

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3, seed: int | None = None):
        super().__init__()
        if not 0 <= lower <= upper:
            raise ValueError(f"RReLU needs 0 ≤ lower ≤ upper, got {lower}, {upper}")
        self.lower, self.upper = float(lower), float(upper)
        self._rng = _init.rng(seed)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x.leaky_relu(alpha=(self.lower + self.upper) / 2)
        slopes = self._rng.uniform(self.lower, self.upper, x.shape).astype(x.dtype)
        return where(x.data > 0, x, x * Tensor(slopes))

    @property
    def generator(self):
        """The numpy Generator the slopes are drawn from (shared with the jit backend)."""
        return self._rng

    def config(self) -> dict:
        return {"lower": self.lower, "upper": self.upper}


class Softmax(Module):
    """e^x / Σ e^x along ``axis``."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(axis=self.axis)

    def config(self) -> dict:
        return {"axis": self.axis}


class LogSoftmax(Softmax):
    """x − logsumexp(x) along ``axis`` (pairs with the ``nll`` loss)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.log_softmax(axis=self.axis)


#: activation op of the table → the module that applies it
ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU,
    "step": Step,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "selu": SELU,
    "gelu": GELU,
    "gelu_approx": GELUApprox,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
    "swish": Swish,
    "mish": Mish,
}

#: names accepted by ``activation=`` arguments (models.mlp, ...)
ACTIVATION_NAMES: dict[str, type[Module]] = {
    **ACTIVATIONS,
    "silu": SiLU,
    "prelu": PReLU,
    "rrelu": RReLU,
    "identity": Identity,
    "linear": Identity,
}


def get_activation(name: str | Module) -> Module:
    """A fresh activation module by name (``"relu"``) or the module itself."""
    if isinstance(name, Module):
        return name
    try:
        return ACTIVATION_NAMES[name.lower()]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; known: {', '.join(ACTIVATION_NAMES)}"
        ) from None
