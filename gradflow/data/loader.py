"""``DataLoader``: minibatches with seeded shuffling.

The permutation of epoch e comes from ``default_rng([seed, e])``, so it depends only on the
seed and the epoch number — a run resumed from a checkpoint at epoch e sees exactly the
batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import ArgumentError, ShapeError


class DataLoader:
    """``DataLoader(X, y, batch_size=32, shuffle=True, seed=0, drop_last=False)``.

    Iterating yields ``(xb, yb)`` numpy batches; each full iteration is one epoch and moves
    ``epoch`` on by one (set it to restart from a given epoch).
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        X, y = np.asarray(X), np.asarray(y)
        if len(X) != len(y):
            raise ShapeError(f"DataLoader: X has {len(X)} samples but y has {len(y)}")
        if batch_size < 1:
            raise ArgumentError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.X, self.y = X, y
        self.batch_size, self.shuffle, self.seed, self.drop_last = (
            batch_size,
            shuffle,
            seed,
            drop_last,
        )
        self.epoch = 0

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch`` (a permutation when shuffling)."""
        if not self.shuffle:
            return np.arange(len(self.X))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.X))

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        idx = self.order(self.epoch)
        self.epoch += 1
        for k in range(len(self)):
            batch = idx[k * self.batch_size : (k + 1) * self.batch_size]
            yield self.X[batch], self.y[batch]
