"""Scalar ``Neuron``, ``Layer`` and ``MLP`` with micrograd's signatures.

The course teaches the single neuron first: z = Σ wᵢxᵢ + b, a = f(z). Each neuron records
its pre-activation as one ``linear`` node (∂z/∂wᵢ = xᵢ, ∂z/∂xᵢ = wᵢ, ∂z/∂b = 1) and its
activation as a second node, so a graph of ``MLP(2, [16, 16, 1])`` stays readable and fast.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .value import Value, linear


class Module:
    """micrograd's Module: ``parameters()`` and ``zero_grad()``."""

    def parameters(self) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.clear_grad()


class Neuron(Module):
    """One neuron: ``Neuron(nin, nonlin=True)``; weights uniform in [−1, 1], bias 0."""

    def __init__(
        self,
        nin: int,
        nonlin: bool = True,
        activation: str = "relu",
        rng: random.Random | None = None,
    ):
        r = rng or random
        self.w = [Value(r.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin
        self.activation = activation

    def __call__(self, x: Sequence[Value | float]) -> Value:
        z = linear(self.w, list(x), self.b)
        return getattr(z, self.activation)() if self.nonlin else z

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        kind = self.activation.capitalize() if self.nonlin else "Linear"
        return f"{kind}Neuron({len(self.w)})"


class Layer(Module):
    """``Layer(nin, nout, **kwargs)``: ``nout`` neurons reading the same inputs."""

    def __init__(self, nin: int, nout: int, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """``MLP(nin, [sizes...])``: ReLU hidden layers, a linear last layer (as micrograd).

    ``seed`` makes the initial weights reproducible without touching the global RNG.
    """

    def __init__(
        self, nin: int, nouts: list[int], activation: str = "relu", seed: int | None = None
    ):
        rng = random.Random(seed) if seed is not None else None
        sz = [nin] + list(nouts)
        self.layers = [
            Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1, activation=activation, rng=rng)
            for i in range(len(nouts))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
