"""Where many independent runs happen: here, one after another; on any
``concurrent.futures.Executor``; or on a Dask cluster — a ``LocalCluster`` started for the
call (``executor="dask"``), one at an address (``"tcp://host:8786"``) or a
``distributed.Client`` the caller made.

:func:`run_tasks` calls ``fn(item, shared)`` for every item and yields ``(index, outcome)``
as runs finish. An outcome is a plain dict: ``{"status": "ok", "result": ..., "seconds",
"worker"}`` or ``{"status": "error", "error": "ValueError: ...", "seconds", "worker"}`` — a
run that raises (or whose worker dies) is reported, never lost, and never stops the others.
Only plain data (dicts, numbers, arrays) and gradflow's own module-level functions cross
processes; no stepper or compiled kernel does.

Workers do not oversubscribe the cores. Dask's nanny caps the BLAS and OpenMP libraries at one
thread per worker but not numba (dask/distributed#9075), so the workers gradflow starts get
``NUMBA_NUM_THREADS=1`` before they start (``distributed.nanny.pre-spawn-environ``), and every
run sets numba's thread count to 1 for its thread (the jit stepper then runs one
thread, without probing for a second). A cluster started elsewhere should be started with
``NUMBA_NUM_THREADS=1``; :func:`worker_info` shows what a worker has. The workers of the
LocalCluster gradflow starts also import the training code as they start (Dask's
``preload``) and run without Dask's statistical profiler (see ``docs/sweep.md``).

numba's disk cache: several processes compiling the same kernels into one cache at once
race (numba/numba#7128 and friends), so the first run goes alone and the others fan out
once it is done — it compiles (or loads) the kernels, the others load them. See
``docs/sweep.md`` for the measurement behind this choice over a cache directory per worker.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import GradflowError, UsageError

DASK_INSTALL = 'pip install "gradflow[dask]"'

#: the environment of the worker processes gradflow starts: one thread for every library
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}

#: what the workers of :func:`local_cluster` import as they start (Dask's ``preload``)
WORKER_PRELOAD = "gradflow.sweep.recipe"

Outcome = dict[str, Any]


class RunFailedError(GradflowError, RuntimeError):
    """A run that a result needs (a fold, an ensemble member) failed on a worker; the message
    names it and gives the worker's error as one line."""

    exit_code = 1


# ------------------------------------------------------------------------ on the worker


def _dask_config(key: str) -> Any:
    dask = sys.modules.get("dask")
    return None if dask is None else dask.config.get(key, None)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_info() -> dict[str, Any]:
    """What a worker runs with: its name, ``NUMBA_NUM_THREADS`` as numba read it, and the
    threads numba would use now (call it on a worker: ``client.run(worker_info)``)."""
    import numba

    return {
        "worker": worker_name(),
        "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS,
        "numba_threads": numba.get_num_threads(),
        "env": os.environ.get("NUMBA_NUM_THREADS"),
        # what local_cluster sets up: Dask's profiler off, the training code imported
        "profiler": _dask_config("distributed.worker.profile.enabled"),
        "preloaded": WORKER_PRELOAD in sys.modules,
    }


@contextlib.contextmanager
def one_thread():
    """numba (for this thread) and the BLAS libraries numba calls (for the process) at one
    thread while the block runs; restored after. Every run of a sweep runs this way, here
    or on a worker: a matrix product OpenBLAS splits over two threads rounds differently
    from one on a single thread, so this is what makes rows bit-identical wherever they ran."""
    import numba

    from .jit.threads import BlasThreads

    before = numba.get_num_threads()
    held: list = []
    try:  # set inside the try: an interrupt right after cannot leave one thread on
        numba.set_num_threads(1)
        held = BlasThreads.hold()
        yield
    finally:
        BlasThreads.release(held)
        numba.set_num_threads(before)


def call_guarded(fn: Callable, item: Any, shared: Any, here: bool = False) -> Outcome:
    """``fn(item, shared)`` on one thread (:func:`one_thread`) as an outcome dict; what it
    raises becomes an error outcome. ``here``: the run is in the caller's process, so the
    outcome keeps the exception object too (it is never sent anywhere)."""
    start = time.perf_counter()
    try:
        with one_thread():
            result = fn(item, shared)
        status = {"status": "ok", "result": result}
    except Exception as e:  # a failing run is a row, not a lost sweep
        status = {"status": "error", "error": error_text(e), "traceback": _short_traceback(e)}
        if here:  # the caller may raise it as it is
            status["exception"] = e
    return {**status, "seconds": time.perf_counter() - start, "worker": worker_name()}


def raise_failure(out: Outcome, what: str):
    """Raise for a failed outcome: a run here raises its own exception, a run elsewhere a
    :class:`RunFailedError` naming ``what`` with the worker's error."""
    if "exception" in out:
        raise out["exception"]
    raise RunFailedError(f"{what} failed: {out['error']}")


def error_text(e: BaseException) -> str:
    """``Type: message`` on one line."""
    text = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _short_traceback(e: BaseException) -> str:
    return "".join(traceback.format_exception(e, limit=-4))[-4000:]


# ------------------------------------------------------------------------ on the client


def run_tasks(
    fn: Callable[[Any, Any], Any],
    items: Sequence[Any],
    shared: Any = None,
    *,
    executor: Any = None,
    workers: int | None = None,
    progress: bool = False,
    label: str = "runs",
    warm_first: bool = True,
) -> Iterator[tuple[int, Outcome]]:
    """Run ``fn(item, shared)`` for every item on ``executor``; yield ``(index, outcome)``
    as each finishes (in order when serial).

    ``executor``: None (here, in order), a ``concurrent.futures.Executor``, ``"dask"`` (a
    LocalCluster of ``workers`` processes — default: one per core — with one thread each,
    closed after), an address such as ``"tcp://host:8786"``, or a ``distributed.Client``.
    On Dask ``shared`` is sent to every worker once (``scatter(..., broadcast=True)``); a
    ``concurrent.futures`` executor gets it with every run. With ``warm_first`` the first run
    finishes before the others start, so only it compiles numba kernels into the cache.
    """
    items = list(items)
    bar = _bar(progress, len(items), label)
    try:
        if executor is None:
            for i, item in enumerate(items):
                out = call_guarded(fn, item, shared, here=True)
                _tick(bar)
                yield i, out
            return
        if isinstance(executor, cf.Executor):
            # BLAS is per process: hold it at one thread here for the whole call, so threads
            # of a pool in this process never restore it under each other's feet
            with one_thread():
                yield from _run_futures(executor, fn, items, shared, warm_first, bar)
            return
        with dask_client(executor, workers) as client:
            yield from _run_dask(client, fn, items, shared, warm_first, bar, progress)
    finally:
        if bar is not None:
            bar.close()


def _bar(progress: bool, total: int, label: str):
    if not progress or total == 0:
        return None
    from tqdm.auto import tqdm

    interval = 0.1 if sys.stderr.isatty() else 5.0  # as the training loop's bar (delay too)
    return tqdm(
        total=total, desc=label, unit="run", file=sys.stderr, mininterval=interval, delay=1.0
    )


def _tick(bar) -> None:
    if bar is not None:
        bar.update(1)


def _run_futures(executor, fn, items, shared, warm_first, bar):
    pending: dict[cf.Future, int] = {}
    start = 0
    if warm_first and items:
        yield 0, _future_outcome(executor.submit(call_guarded, fn, items[0], shared))
        _tick(bar)
        start = 1
    for i in range(start, len(items)):
        pending[executor.submit(call_guarded, fn, items[i], shared)] = i
    for future in cf.as_completed(pending):
        _tick(bar)
        yield pending[future], _future_outcome(future)


def _future_outcome(future) -> Outcome:
    """The outcome a future holds; a future that failed outside ``call_guarded`` (a worker
    process that died, a result that could not be sent back) is an error outcome too."""
    try:
        return future.result()
    except Exception as e:
        return {"status": "error", "error": error_text(e), "seconds": None, "worker": None}


def _run_dask(client, fn, items, shared, warm_first, bar, progress):
    import distributed

    link = getattr(client, "dashboard_link", None)
    if progress and link and _has_bokeh():
        print(f"Dask dashboard: {link}", file=sys.stderr)
    data = client.scatter([shared], broadcast=True)[0] if shared is not None else None
    tag = f"gradflow-{os.getpid()}-{time.time_ns()}"

    def submit(i: int):
        return client.submit(
            call_guarded, fn, items[i], data, key=f"{tag}-{i}", pure=False, retries=0
        )

    futures: dict[str, int] = {}
    submitted = []
    try:
        start = 0
        if warm_first and items:
            first = submit(0)
            submitted.append(first)
            yield 0, _future_outcome(first)
            _tick(bar)
            start = 1
        batch = [submit(i) for i in range(start, len(items))]
        submitted.extend(batch)
        futures.update({f.key: i for f, i in zip(batch, range(start, len(items)))})
        for future in distributed.as_completed(batch):
            _tick(bar)
            yield futures[future.key], _future_outcome(future)
            future.release()
    finally:
        # an interrupted sweep (Ctrl-C, a generator closed early) leaves no runs behind
        with contextlib.suppress(Exception):
            client.cancel([f for f in submitted if not f.done()])
        if data is not None:
            with contextlib.suppress(Exception):
                data.release()


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise UsageError(
            f"executor='dask' needs Dask, which is not installed: {DASK_INSTALL}"
        ) from None
    return distributed


def is_dask_executor(executor: Any) -> bool:
    """``executor`` names a Dask cluster ("dask", an address) or is a ``distributed.Client``."""
    if isinstance(executor, str):
        return True
    client_cls = getattr(sys.modules.get("distributed"), "Client", None)
    return client_cls is not None and isinstance(executor, client_cls)


def check_executor(executor: Any) -> None:
    """Refuse what :func:`run_tasks` cannot use, before any work starts."""
    if executor is None or isinstance(executor, cf.Executor):
        return
    if isinstance(executor, str):
        if executor != "dask" and "://" not in executor:
            raise UsageError(
                f"executor {executor!r}: expected None, 'dask', a scheduler address such as "
                "'tcp://host:8786', a concurrent.futures.Executor or a distributed.Client"
            )
        _import_distributed()
        return
    if not is_dask_executor(executor):
        raise UsageError(
            f"executor: a {type(executor).__name__} is not a concurrent.futures.Executor or a "
            "distributed.Client"
        )


@contextlib.contextmanager
def dask_client(executor: Any, workers: int | None = None):
    """A ``distributed.Client`` for ``executor``: a fresh LocalCluster for ``"dask"`` (closed
    after), a connection to an address (closed after), or the caller's Client as it is."""
    check_executor(executor)
    if not isinstance(executor, str):
        yield executor
        return
    distributed = _import_distributed()
    if executor == "dask":
        with local_cluster(workers) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(executor, timeout="10s")
    except OSError as e:
        raise UsageError(f"cannot reach the Dask scheduler at {executor}: {e}") from None
    with client:
        _warn_threads(client)
        yield client


@contextlib.contextmanager
def local_cluster(workers: int | None = None, **kwargs: Any):
    """A ``dask.distributed.LocalCluster`` of ``workers`` processes (default: one per core),
    one thread each, whose workers start with :data:`WORKER_ENV`; closed on exit."""
    _import_distributed()
    import dask
    from distributed import LocalCluster

    n = workers or os.cpu_count() or 1
    if n < 1:
        raise UsageError(f"workers must be at least 1, got {n}")
    env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENV}
    options = {
        "n_workers": n,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",  # any free port: never clash with a cluster running
        "silence_logs": logging.ERROR,
        # each worker imports gradflow's training code while the cluster starts (all at
        # once), not when its first run arrives (the others then wait on the first run)
        "preload": [WORKER_PRELOAD],
        **kwargs,
    }
    # dask lets a variable already set in this process win over pre-spawn-environ (after
    # `gradflow bench`, NUMBA_NUM_THREADS=2 here gave two-thread workers), and its nannies
    # write pre-spawn-environ into this process's environment: set ours for the start,
    # then give this process its own values back
    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update(WORKER_ENV)
    try:
        # Dask's statistical profiler samples every worker thread's stack every 10 ms, with
        # the GIL: a cost on every run that gradflow's sweeps have no use for
        config = {
            "distributed.nanny.pre-spawn-environ": env,
            "distributed.worker.profile.enabled": False,
        }
        with dask.config.set(config):
            cluster = LocalCluster(**options)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield cluster
    finally:
        cluster.close()


def _warn_threads(client) -> None:
    """A cluster gradflow did not start may run numba on every core in every worker."""
    import warnings

    from .errors import GradflowWarning

    with contextlib.suppress(Exception):
        threads = {w: info["NUMBA_NUM_THREADS"] for w, info in client.run(worker_info).items()}
        many = sorted(w for w, n in threads.items() if n != 1)
        if many:
            warnings.warn(
                f"{len(many)} Dask worker(s) run numba with more than one thread "
                f"({many[0]}: {threads[many[0]]}); start them with NUMBA_NUM_THREADS=1 and "
                "--nthreads 1 so runs do not fight for the cores",
                GradflowWarning,
                stacklevel=3,
            )
