"""numba kernels of the jitted backend, one module per family.

Kernels are plain functions over preallocated arrays (shape logic and allocation live in
:mod:`gradflow.jit`). Importing this package first makes sure numba has a writable cache
directory (see :mod:`gradflow.kernels.cachedir`), so ``cache=True`` never breaks an import.
"""

from .cachedir import ensure_cache_dir

CACHE_DIR = ensure_cache_dir()

__all__ = ["CACHE_DIR"]
