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

import inspect
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError, UnknownNameError
from ..ops import Op, ops_with_role
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


# The module of each activation op of the table (role "activation"): its class name and
# docstring. The classes are made from the table below (``_op_module``): the op's parameters
# become the constructor's keyword arguments with the op's defaults (``LeakyReLU(alpha=0.01)``).
# An activation op missing here still gets a module, named after its symbol; ``swish`` has
# its own class (β may be learned).
_MODULE_TEXT: dict[str, tuple[str, str]] = {
    "relu": ("ReLU", "max(0, x)."),
    "step": (
        "Step",
        "step(x) = 1 if x > 0 else 0: the threshold of the McCulloch–Pitts neuron (its\n"
        "    derivative is 0, so no gradient passes it; see :mod:`gradflow.nn.perceptron`).",
    ),
    "leaky_relu": ("LeakyReLU", "x if x > 0 else αx."),
    "elu": ("ELU", "x if x > 0 else α(eˣ − 1)."),
    "selu": ("SELU", "λ·ELU_α(x), self-normalising with LeCun init."),
    "gelu": ("GELU", "x·Φ(x), exact erf form."),
    "gelu_approx": ("GELUApprox", "x·σ(1.702x)."),
    "sigmoid": ("Sigmoid", "1/(1 + e⁻ˣ)."),
    "tanh": ("Tanh", "tanh x."),
    "softplus": ("Softplus", "log(1 + eˣ), a smooth ReLU."),
    "mish": ("Mish", "x·tanh(softplus x)."),
}
_OWN_CLASS = {"swish"}


def _op_module(op: Op) -> type[_OpActivation]:
    """The module class that applies ``op``: keyword (or positional) arguments are the op's
    parameters, floats, with the op's defaults."""
    name, doc = _MODULE_TEXT.get(op.name, (_class_name(op), op.doc))
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(
                k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=v, annotation=float
            )
            for k, v in op.params.items()
        ]
    )

    def __init__(self, *args: Any, **kwargs: Any):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        params = {k: float(v) for k, v in bound.arguments.items() if k != "self"}
        _OpActivation.__init__(self, **params)

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{name}.__init__"
    namespace = {"__doc__": doc, "__module__": __name__, "op_name": op.name, "__init__": __init__}
    return type(name, (_OpActivation,), namespace)


def _class_name(op: Op) -> str:
    symbol = op.symbol if op.symbol.isidentifier() else op.name
    return "".join(part[:1].upper() + part[1:] for part in symbol.split("_"))


_GENERATED = {
    op.name: _op_module(op) for op in ops_with_role("activation") if op.name not in _OWN_CLASS
}
globals().update({cls.__name__: cls for cls in _GENERATED.values()})
ReLU, Step, LeakyReLU, ELU, SELU, GELU, GELUApprox, Sigmoid, Tanh, Softplus, Mish = (
    _GENERATED[n] for n in _MODULE_TEXT
)


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
        raise ShapeError(f"PReLU with {n} slopes needs input (B, {n}, ...), got {x.shape}")
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
            raise ArgumentError(f"RReLU needs 0 ≤ lower ≤ upper, got {lower}, {upper}")
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


#: activation op of the table → the module that applies it (every op whose role is "activation")
ACTIVATIONS: dict[str, type[Module]] = {
    op.name: Swish if op.name == "swish" else _GENERATED[op.name]
    for op in ops_with_role("activation")
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
        raise UnknownNameError(
            f"unknown activation {name!r}; known: {', '.join(ACTIVATION_NAMES)}"
        ) from None
