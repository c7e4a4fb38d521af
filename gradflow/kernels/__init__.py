"""numba kernels of the jitted backend, one module per family.

Kernels are plain functions over preallocated arrays (shape logic and allocation live in
:mod:`gradflow.jit`). Importing this package first decides where numba may cache them
(:mod:`gradflow.kernels.cachedir`): only in a directory that the user owns and nobody else
can write, since numba unpickles what it finds there; with none, the kernels compile without
the disk cache, so ``cache=True`` never breaks an import. Kernels are decorated with
:func:`gradflow.kernels.cachedir.njit`, which applies that decision.
Families: ``activation``, ``dense``, ``conv``, ``pool``, ``norm``, ``recurrent``, ``loss``,
``parametric`` (PReLU, RReLU, learnable Swish), ``update``; their elementwise maths is the op
table's, compiled by ``opforms`` (no kernel restates an op's formula). Kernels compile with
``error_model="numpy"``: a division by zero gives inf/nan as in numpy (and the graph engine)
instead of raising, and — the reason — loops containing a division vectorise (numba's
Python error model adds a zero check per division that stops LLVM from vectorising: the
fast tanh loop runs 7× faster without it).

OpenMP's wait policy is left alone: the default (workers spin briefly after a parallel
kernel, then sleep) is what keeps two-thread steps fast — with ``OMP_WAIT_POLICY=PASSIVE``
every kernel waited for a sleeping worker to wake (LeNet step 1.3 → 1.7–2.2 ms, W2 1.0 →
1.3 ms). On a machine where another process holds a core, the thread governor
(:mod:`gradflow.jit.threads`) moves training to one thread instead.
"""

from .cachedir import ensure_cache_dir

CACHE_DIR = ensure_cache_dir()

__all__ = ["CACHE_DIR"]
