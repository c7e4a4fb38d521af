"""``Reshape``: give each sample of a batch a new shape, the batch axis kept.

The input adapter in front of a model: ``Reshape(-1)`` turns images or sequences into feature
vectors for an MLP (like ``Flatten``), ``Reshape(8, 8)`` reads (B, 1, 8, 8) images as
sequences of 8 rows for an RNN. As a layer (not a hidden ``x.reshape`` inside a wrapper's
``forward``) it shows up in ``print(model)`` and renderings, and the jitted backend maps it
to its reshape stage by its name and ``config()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..tensor import Tensor
from .module import Module


def _check_sizes(shape: Sequence[int]) -> tuple[int, ...]:
    """The requested per-sample shape as ints: positive sizes and at most one -1."""
    if not shape:
        raise ArgumentError("Reshape needs at least one size per sample, e.g. Reshape(-1)")
    sizes = []
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ArgumentTypeError(f"Reshape{tuple(shape)}: sizes must be integers, got {s!r}")
        if s < 1 and s != -1:
            raise ArgumentError(f"Reshape{tuple(shape)}: sizes must be positive or -1, got {s}")
        sizes.append(int(s))
    if sizes.count(-1) > 1:
        raise ArgumentError(f"Reshape{tuple(sizes)}: at most one size can be -1 (inferred)")
    return tuple(sizes)


def per_sample_shape(in_shape: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """(B, *shape) for an input of ``in_shape`` = (B, ...), with a -1 in ``shape`` inferred.

    ``per_sample_shape((32, 1, 8, 8), (8, -1)) == (32, 8, 8)``. Raises :class:`ShapeError`
    naming both shapes when the values per sample do not fit.
    """
    in_shape = tuple(int(s) for s in in_shape)
    if len(in_shape) < 1:
        raise ShapeError(f"Reshape{tuple(shape)}: needs a batch axis, got a scalar input")
    batch, values = in_shape[0], int(np.prod(in_shape[1:], dtype=np.int64))
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    out = tuple(shape)
    if -1 in shape:
        if values % known:
            raise ShapeError(
                f"Reshape{out}: input {in_shape} has {values} values per sample, not a "
                f"multiple of {known} (the sizes other than -1)"
            )
        out = tuple(values // known if s == -1 else s for s in shape)
    elif known != values:
        raise ShapeError(
            f"Reshape{out}: input {in_shape} has {values} values per sample, "
            f"but shape {out} holds {known}"
        )
    return (batch, *out)


class Reshape(Module):
    """(B, ...) → (B, *shape); one size may be -1 (inferred). ``Reshape(-1)`` flattens each
    sample, ``Reshape(8, 8)`` makes (B, 1, 8, 8) images (B, 8, 8) sequences of rows. Like
    ``x.view(B, *shape)`` in PyTorch; no parameters, the gradient is reshaped back."""

    def __init__(self, *shape: int):
        super().__init__()
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        self.shape = _check_sizes(shape)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x)
        return x.reshape(per_sample_shape(x.shape, self.shape))

    def config(self) -> dict:
        return {"shape": self.shape}

    def extra_repr(self) -> str:
        return ", ".join(str(s) for s in self.shape)
