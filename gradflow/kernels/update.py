"""Optimizer update kernels over the flat parameter/gradient buffers.

Nothing here restates an update rule: the rules are the loops of
:mod:`gradflow.optim.rules`, and this module is the one place that compiles them — for the
jit backend's one flat buffer and for the graph backend's per-parameter flat views alike.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable

import numba
from numba.core.registry import CPUDispatcher

from .cachedir import njit

_COMPILED: dict[tuple[Callable, bool | str], Callable] = {}
#: numba's options for every rule (see :func:`compile_rule`)
_OPTIONS = {"cache": True, "error_model": "numpy"}


def compile_rule(rule: Callable, parallel: bool = False) -> Callable:
    """``njit(cache=True, error_model="numpy", parallel=parallel)`` of a rule, once per process.

    The rule's code is untouched; it is re-bound to a copy of its module's namespace in which
    ``prange`` is ``numba.prange`` (the rules module says ``prange = range`` so that importing
    it does not import numba). With ``parallel=True`` the rule's ``prange`` loop is split over
    the threads; with ``parallel=False`` it is one plain loop. A plain helper function of the
    rule's own module that the rule calls is compiled the same way and bound in its place.
    ``error_model="numpy"``: a division by zero gives inf/nan as numpy does, and loops with a
    division vectorise (see :mod:`gradflow.kernels`).
    """
    if isinstance(rule, CPUDispatcher):
        return rule
    key = (rule, parallel)
    if key in _COMPILED:
        return _COMPILED[key]
    namespace = dict(rule.__globals__)
    namespace["prange"] = numba.prange
    for name in rule.__code__.co_names:
        value = namespace.get(name)
        if isinstance(value, types.FunctionType) and value.__module__ == rule.__module__:
            namespace[name] = compile_rule(value)
    bound = types.FunctionType(
        rule.__code__, namespace, rule.__name__, rule.__defaults__, rule.__closure__
    )
    bound.__module__, bound.__qualname__, bound.__doc__ = (
        rule.__module__,
        rule.__qualname__,
        rule.__doc__,
    )
    # the two variants must not share numba's on-disk index (it is keyed by signature only)
    bound.__qualname__ += "__parallel" if parallel else ""
    _COMPILED[key] = njit(**_OPTIONS, parallel=parallel)(bound)
    if not parallel:  # the compile helper makes the same kernel from the rule's name
        with contextlib.suppress(AttributeError):  # NUMBA_DISABLE_JIT: a plain function
            _COMPILED[key].gradflow_maker = (__name__, "compile_rule")
    return _COMPILED[key]


#: flat buffers from this size update with the rule compiled ``parallel=True``
PARALLEL_FROM = 1 << 17


def rule_for(rule: Callable, size: int) -> Callable:
    """``rule`` compiled for one call over a flat buffer of ``size`` entries.

    Serial below :data:`PARALLEL_FROM` entries, ``parallel=True`` from there
    (:func:`parallel_rule`: serial until the parallel compile is ready). Measured on
    this 2-core machine, float32, 2 threads, µs per update, serial / parallel
    (``benchmarks/rule_threshold.py``; parallel varies with the other core's load):

    =======  ===========  =============  ===============  =================
    entries  Adam serial  Adam parallel  momentum serial  momentum parallel
    =======  ===========  =============  ===============  =================
    1k       1.5          10             0.8              9–45
    16k      17           25             8.2              16
    64k      68–70        60–79          31.5             38.5
    128k     133–139      110–145        63.5             69–75
    256k     265–270      190–261        125              104–128
    1M       1060–1120    560–1090       510              285–480
    =======  ===========  =============  ===============  =================

    Waking the second thread costs ~10 µs, and Adam's loop does ~1 ns of work per entry, so
    the split pays from ~128k entries when the other core is free; momentum is memory-bound
    and barely gains at all. The loop form is why the rules are compiled at every size: the
    numpy array form took 35–37 µs for Adam at 17k (each expression a pass and a temporary).
    """
    if size < PARALLEL_FROM:
        return compile_rule(rule)
    return parallel_rule(rule)


def parallel_rule(rule: Callable) -> Callable:
    """``rule`` compiled ``parallel=True``, twinned with its serial compile
    (:func:`gradflow.kernels.twins.pair`): numba's parallel compile takes about three times
    as long (momentum: 0.33 against 0.11 s), so a cold start updates with the serial loop
    while the background compiles the parallel one, and switches over when it is done. The
    entries are independent, so the two give the same numbers."""
    key = (rule, "twin")
    if key not in _COMPILED:
        from . import twins

        shared = compile_rule(rule, parallel=True)
        # a dispatcher of its own for the same function (so the same cache entries): the
        # twin closes it to compiling once it is ready, which must not close compile_rule's
        bound = getattr(shared, "py_func", None)  # None: NUMBA_DISABLE_JIT, a plain function
        parallel = shared if bound is None else njit(**_OPTIONS, parallel=True)(bound)
        _COMPILED[key] = twins.pair(rule, parallel, compile_rule(rule), (__name__, "parallel_rule"))
    return _COMPILED[key]


@njit(cache=True)
def scale(g, factor):
    """g ← factor·g in place (global-norm clipping applies the factor from the rules)."""
    for i in range(g.size):
        g[i] *= factor
