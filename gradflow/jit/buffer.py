"""One flat parameter buffer (and one flat gradient buffer) shared with the model.

Every :class:`~gradflow.nn.Parameter` of the model gets its ``.data`` re-pointed to a view
into :attr:`FlatParameters.data` (and ``.grad`` to a view into :attr:`FlatParameters.grad`),
so the jitted backend and the graph backend train the *same* model object, and optimizer
kernels sweep all parameters in one call.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnknownNameError


class FlatParameters:
    """Parameters of ``model`` laid out one after another in a flat array of ``dtype``."""

    def __init__(self, named_parameters: list, dtype: np.dtype):
        self.names = [n for n, _ in named_parameters]
        self.params = [p for _, p in named_parameters]
        self.dtype = np.dtype(dtype)
        sizes = [p.data.size for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        total = int(self.offsets[-1])
        self.data = np.empty(total, dtype=self.dtype)
        self.grad = np.zeros(total, dtype=self.dtype)
        for k, p in enumerate(self.params):
            view = self.view(self.data, k)
            view[...] = p.data
            p.data = view
            p.grad = self.view(self.grad, k)

    def view(self, flat: np.ndarray, k: int) -> np.ndarray:
        """Parameter ``k``'s slice of ``flat`` in that parameter's shape."""
        lo, hi = int(self.offsets[k]), int(self.offsets[k + 1])
        return flat[lo:hi].reshape(self.params[k].data.shape)

    def index(self, param) -> int:
        for k, p in enumerate(self.params):
            if p is param:
                return k
        raise UnknownNameError("parameter is not part of this model")

    def data_of(self, param) -> np.ndarray:
        return self.view(self.data, self.index(param))

    def grad_of(self, param) -> np.ndarray:
        return self.view(self.grad, self.index(param))

    def flat_state(self, per_param: list[np.ndarray]) -> np.ndarray:
        """Concatenate per-parameter optimizer state into one flat array; re-point the list
        entries to views of it, so the optimizer object keeps seeing its state."""
        flat = np.zeros(self.data.size, dtype=self.dtype)
        for k, arr in enumerate(per_param):
            view = self.view(flat, k)
            if arr is not None:
                view[...] = np.asarray(arr).reshape(view.shape)
            per_param[k] = view
        return flat
