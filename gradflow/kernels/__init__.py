"""numba kernels of the jitted backend, one module per family.

Kernels are plain functions over preallocated arrays (shape logic and allocation live in
:mod:`gradflow.jit`). Importing this package first makes sure numba has a writable cache
directory (see :mod:`gradflow.kernels.cachedir`), so ``cache=True`` never breaks an import.
Families: ``activation``, ``parametric`` (learned or random slopes), ``dense``, ``conv``,
``pool``, ``norm``, ``recurrent``, ``loss``, ``update``. Kernels compile with
``error_model="numpy"``: a division by zero gives inf/nan as in numpy (and the graph engine)
instead of raising, and — the reason — loops containing a division vectorise (numba's Python
error model adds a zero check per division that stops LLVM from vectorising: the fast tanh
loop runs 7× faster without it).
"""

import os

from .cachedir import ensure_cache_dir

CACHE_DIR = ensure_cache_dir()
# numba's OpenMP workers otherwise spin after every parallel kernel, taking the core the
# next (serial) kernel needs; on a busy 2-core machine that made a 0.4 ms max-pool cost 8 ms.
# Only a default: a user's own OMP_WAIT_POLICY wins. Read when numba first starts its threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["CACHE_DIR"]
