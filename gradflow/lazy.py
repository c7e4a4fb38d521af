"""Heavy optional imports, loaded on first use so ``import gradflow`` and the CLI start fast.

SymPy is needed only for symbolic checks and derivative formulas; importing it eagerly costs
about half a second and fills the heap with objects every full garbage collection must walk.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule(ModuleType):
    """A module proxy that imports the real module on first attribute access."""

    def __init__(self, name: str):
        super().__init__(name)
        self._real: ModuleType | None = None

    def __getattr__(self, attr: str):
        if attr == "_real":
            raise AttributeError(attr)
        if self._real is None:
            self._real = importlib.import_module(self.__name__)
        return getattr(self._real, attr)


sympy = LazyModule("sympy")
