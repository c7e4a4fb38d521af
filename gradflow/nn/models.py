"""The course's standard models, built from gradflow.nn layers (so they trace, render and run
on the jitted backend): ``mlp``, ``cnn``, ``lenet``, ``rnn``/``lstm``/``gru`` sequence models
and an ``Autoencoder``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor
from .activation import get_activation
from .conv import Conv2d
from .dropout import Dropout
from .linear import Linear
from .module import Module, Sequential
from .norm import BatchNorm1d
from .pool import AvgPool2d, Flatten, MaxPool2d
from .recurrent import GRU, LSTM, RNN

_INIT_FOR = {"relu": "he_uniform", "tanh": "xavier_uniform", "sigmoid": "xavier_uniform"}


def _seeds(seed: int | None, n: int) -> list[int | None]:
    """Independent per-layer seeds derived from one model seed (None stays None)."""
    if seed is None:
        return [None] * n
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    init: str | None = None,
    dropout: float = 0.0,
    batchnorm: bool = False,
    seed: int | None = None,
) -> Sequential:
    """``mlp([64, 32, 10], "relu")``: Linear layers with ``activation`` between them (none after
    the last — it outputs logits/values for the loss). ``init`` defaults to He for ReLU-like
    and Xavier for tanh/sigmoid; optional BatchNorm1d and Dropout after each hidden layer."""
    if len(sizes) < 2:
        raise ArgumentError(f"mlp: sizes needs at least input and output sizes, got {list(sizes)}")
    init = init or _INIT_FOR.get(str(activation), "he_uniform")
    seeds = _seeds(seed, len(sizes))
    layers: list[Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b, init=init, seed=seeds[k]))
        if k < len(sizes) - 2:
            if batchnorm:
                layers.append(BatchNorm1d(b))
            layers.append(get_activation(activation))
            if dropout:
                layers.append(Dropout(dropout, seed=None if seed is None else seeds[-1] + k))
    return Sequential(*layers)


def cnn(
    input_shape: tuple[int, int, int] = (1, 8, 8),
    num_classes: int = 10,
    channels: tuple[int, int] = (16, 32),
    hidden: int = 64,
    seed: int | None = None,
) -> Sequential:
    """A small CNN for 8×8 digits or 28×28 images: two (conv 3×3 pad 1 → ReLU → max-pool 2)
    blocks, then Flatten → Linear(hidden) → ReLU → Linear(num_classes)."""
    c, h, w = input_shape
    c1, c2 = channels
    s = _seeds(seed, 4)
    flat = c2 * (h // 4) * (w // 4)
    return Sequential(
        Conv2d(c, c1, 3, padding=1, seed=s[0]),
        get_activation("relu"),
        MaxPool2d(2),
        Conv2d(c1, c2, 3, padding=1, seed=s[1]),
        get_activation("relu"),
        MaxPool2d(2),
        Flatten(),
        Linear(flat, hidden, seed=s[2]),
        get_activation("relu"),
        Linear(hidden, num_classes, seed=s[3]),
    )


def lenet(
    input_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    activation: str = "relu",
    pool: str = "max",
    seed: int | None = None,
) -> Sequential:
    """LeNet-style: conv 5×5 (6, pad 2) → pool → conv 5×5 (16) → pool → fc 120 → fc 84 →
    classes. For 28×28 this is LeNet-5; for 32×32 RGB the course's OurCNN uses its own sizes."""
    c, h, w = input_shape
    Pool = MaxPool2d if pool == "max" else AvgPool2d
    h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    if h2 < 1 or w2 < 1:
        raise ShapeError(f"lenet: input {input_shape} is too small (needs at least 12×12)")
    s = _seeds(seed, 5)
    return Sequential(
        Conv2d(c, 6, 5, padding=2, seed=s[0]),
        get_activation(activation),
        Pool(2),
        Conv2d(6, 16, 5, seed=s[1]),
        get_activation(activation),
        Pool(2),
        Flatten(),
        Linear(16 * h2 * w2, 120, seed=s[2]),
        get_activation(activation),
        Linear(120, 84, seed=s[3]),
        get_activation(activation),
        Linear(84, num_classes, seed=s[4]),
    )


class SequenceModel(Module):
    """A recurrent layer followed by a Linear head on the last hidden state:
    (B, T, I) → (B, output_size). Classifies (logits) or regresses a sequence."""

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        seed: int | None = None,
    ):
        super().__init__()
        layer = {"rnn": RNN, "lstm": LSTM, "gru": GRU}.get(kind)
        if layer is None:
            raise ArgumentError(f"SequenceModel: kind must be rnn, lstm or gru, got {kind!r}")
        s = _seeds(seed, 2)
        self.kind = kind
        self.recurrent = layer(input_size, hidden_size, seed=s[0])
        self.head = Linear(hidden_size, output_size, init="xavier_uniform", seed=s[1])

    def forward(self, x: Tensor) -> Tensor:
        _, last = self.recurrent(x)
        h = last[0] if isinstance(last, tuple) else last  # LSTM returns (h_T, c_T)
        return self.head(h)

    def config(self) -> dict:
        r = self.recurrent
        return {
            "kind": self.kind,
            "input_size": r.input_size,
            "hidden_size": r.hidden_size,
            "output_size": self.head.out_features,
        }


def rnn(input_size: int, hidden_size: int, output_size: int, seed: int | None = None):
    """Elman RNN + Linear head on the last state."""
    return SequenceModel("rnn", input_size, hidden_size, output_size, seed)


def lstm(input_size: int, hidden_size: int, output_size: int, seed: int | None = None):
    """LSTM + Linear head on the last state."""
    return SequenceModel("lstm", input_size, hidden_size, output_size, seed)


def gru(input_size: int, hidden_size: int, output_size: int, seed: int | None = None):
    """GRU + Linear head on the last state."""
    return SequenceModel("gru", input_size, hidden_size, output_size, seed)


class Autoencoder(Module):
    """``Autoencoder([64, 32, 8], activation="relu")``: an encoder MLP down to the code size
    and a mirrored decoder back up (the code itself is linear, no activation on the
    bottleneck); ``forward`` returns the reconstruction. Train it with
    ``mse(model(x), x)``; ``encode`` gives the bottleneck code."""

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        output_activation: str = "identity",
        seed: int | None = None,
    ):
        super().__init__()
        if len(sizes) < 2:
            raise ArgumentError(f"Autoencoder: sizes needs at least [input, code], got {sizes}")
        s = _seeds(seed, 2)
        self.sizes, self.activation = list(sizes), activation
        self.encoder = mlp(sizes, activation, seed=s[0])
        self.decoder = Sequential(
            *mlp(list(reversed(sizes)), activation, seed=s[1]).layers,
            get_activation(output_activation),
        )

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, code: Tensor) -> Tensor:
        return self.decoder(code)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def config(self) -> dict:
        return {"sizes": self.sizes, "activation": self.activation}


MODELS: dict[str, Any] = {
    "mlp": mlp,
    "cnn": cnn,
    "lenet": lenet,
    "rnn": rnn,
    "lstm": lstm,
    "gru": gru,
}
