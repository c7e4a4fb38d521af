"""Stages for the activations with a parameter that is not a constant: ``PReLU`` (learned
slope α), ``RReLU`` (random slopes in training) and ``Swish(learnable=True)`` (learned β).

They run as their own stages (not fused into a Linear/Conv before them): their parameter
lives in the flat buffer and is read at every call, and they write its gradient into the
parameter's gradient view, like BatchNorm's γ and β.
"""

from __future__ import annotations

import numpy as np

from ..errors import CallOrderError, ShapeError
from ..kernels import activation as act_k
from ..kernels import parametric as par_k
from .stages import Stage
from .stages import grad_view as _grad


class PReLU(Stage):
    """y = x if x > 0 else α x; α = ``weight`` of shape (1,) (shared) or (C,) (per channel,
    axis 1 of (B, C), (B, C, L) or (B, C, H, W)). Runs over a (B, C, S) view of the input."""

    has_params = True

    def __init__(self, name, layer, dtype):
        super().__init__(dtype)
        self.name = name
        self.alpha, self.dalpha = layer.weight.data, _grad(layer.weight)
        self.num = self.alpha.shape[0]

    def allocate(self, in_shape):
        if self.num == 1:  # one slope for every value
            shape3 = (1, 1, int(np.prod(in_shape, dtype=np.int64)))
        elif len(in_shape) < 2 or in_shape[1] != self.num:
            raise ShapeError(
                f"{self.name}: {self.num} slopes (one per channel) need input "
                f"(B, {self.num}, ...), got {in_shape}"
            )
        else:
            shape3 = (in_shape[0], self.num, int(np.prod(in_shape[2:], dtype=np.int64)))
        return {
            "out_shape": in_shape,
            "shape3": shape3,
            "y": self.buf(in_shape),
            "dx": self.buf(in_shape),
        }

    def forward(self, x, training):
        ws = self.ws
        self.x3 = x.reshape(ws["shape3"])
        par_k.prelu_forward(self.x3, self.alpha, ws["y"].reshape(ws["shape3"]))
        return ws["y"]

    def backward(self, dy):
        ws = self.ws
        shape3 = ws["shape3"]
        par_k.prelu_backward(self.x3, self.alpha, dy.reshape(shape3), ws["dx"].reshape(shape3),
                             self.dalpha, self.need_dx)  # fmt: skip
        return ws["dx"]


class RReLU(Stage):
    """Training: y = x if x > 0 else a x with a ~ U(lower, upper) drawn per element from the
    layer's own generator, the same draws as the graph layer (so both backends agree for the
    same seed). Eval: leaky ReLU with the mean slope (lower + upper)/2."""

    def __init__(self, name, layer, dtype):
        super().__init__(dtype)
        self.name = name
        cfg = layer.config()
        self.lower, self.upper = float(cfg["lower"]), float(cfg["upper"])
        self.rng = layer.generator  # the generator the graph layer draws its slopes from

    def allocate(self, in_shape):
        return {
            "out_shape": in_shape,
            "uniform": np.zeros(in_shape, dtype=np.float64),  # the generator's float64 draws
            "slope": self.buf(in_shape),
            "y": self.buf(in_shape),
            "dx": self.buf(in_shape),
        }

    def forward(self, x, training):
        ws = self.ws
        self.x, self.training = x, training
        y = ws["y"].reshape(-1)
        if not training:
            act_k.forward(x.reshape(-1), y, act_k.LEAKY_RELU, (self.lower + self.upper) / 2)
            return ws["y"]
        self.rng.random(out=ws["uniform"])
        par_k.rrelu_forward(x.reshape(-1), ws["uniform"].reshape(-1), self.lower, self.upper,
                            ws["slope"].reshape(-1), y)  # fmt: skip
        return ws["y"]

    def backward(self, dy):
        ws = self.ws
        if not self.training:  # pragma: no cover - the stepper backpropagates training passes
            raise CallOrderError(f"{self.name}: backward after an eval-mode forward")
        par_k.rrelu_backward(self.x.reshape(-1), ws["slope"].reshape(-1), dy.reshape(-1),
                             ws["dx"].reshape(-1))  # fmt: skip
        return ws["dx"]


class LearnableSwish(Stage):
    """y = x σ(βx) with β a Parameter of shape (1,); backward gives ∂L/∂x and ∂L/∂β."""

    has_params = True

    def __init__(self, name, layer, dtype):
        super().__init__(dtype)
        self.name = name
        self.beta, self.dbeta = layer.beta.data, _grad(layer.beta)

    def allocate(self, in_shape):
        return {
            "out_shape": in_shape,
            "y": self.buf(in_shape),
            "sig": self.buf(in_shape),
            "dx": self.buf(in_shape),
        }

    def forward(self, x, training):
        ws = self.ws
        self.x = x
        par_k.swish_forward(x.reshape(-1), self.beta, ws["y"].reshape(-1), ws["sig"].reshape(-1))
        return ws["y"]

    def backward(self, dy):
        ws = self.ws
        par_k.swish_backward(self.x.reshape(-1), self.beta, ws["sig"].reshape(-1),
                             dy.reshape(-1), ws["dx"].reshape(-1), self.dbeta,
                             self.need_dx)  # fmt: skip
        return ws["dx"]
