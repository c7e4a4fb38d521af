"""A second process that compiles leaf kernels while this one compiles others: a cold start
on two cores.

A cold start compiles only leaf kernels (:mod:`gradflow.kernels.twins`: the compositions run
as Python until the background has compiled them), one after the other, each 0.1–0.3 s of
numba. The leaves a composition will call are known before it runs: its body is integer
bookkeeping and calls, so running it with every leaf replaced by a recorder
(:meth:`~gradflow.kernels.twins._CompositionTwin.dry_run`) lists them, with their argument
types, in call order. :func:`compile_leaves` then compiles that list from the front while
the helper compiles it from the back into numba's disk cache; where the two meet, this
process loads the helper's kernels from the cache. Each side tells the other which item it
takes before taking it, so at most one item is compiled twice (when both take it at the same
moment); the results are the same kernels either way.

The helper is this Python, isolated from the working directory (``-I``) with gradflow's own
location first on its path, as the background compile of :mod:`~gradflow.kernels.twins`. It
reads its work from a pipe written by this process (pickled numba types, never a file) and
only imports modules of ``gradflow``. A stepper *arms* it when it is made (:func:`arm`) and
lets it go after its first training step (:func:`stop`). Armed, it starts at once when the
cache is cold (the product every model runs is missing: numba has not even been set up, and
the helper sets itself up meanwhile), or else at the first list with at least
:data:`MIN_ITEMS` kernels to compile (a CNN trained after an MLP: the products are cached,
the convolution's kernels are not). A process that finds everything cached never starts
one. Without a disk cache, without numba's JIT, with
``GRADFLOW_BACKGROUND_COMPILE=0``, on one core or off POSIX, there is no helper and the
leaves compile here as before.
"""

from __future__ import annotations

import base64
import os
import pickle
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: seconds to wait for the helper's kernels before compiling them here instead
WAIT_SECONDS = 120.0

#: an armed helper that is not running starts for a list of at least this many kernels to
#: compile (it takes about half a second to be ready; a kernel takes 0.1–0.3 s)
MIN_ITEMS = 4


class _Lines:
    """Lines from a pipe's descriptor, read without blocking when asked (``select`` sees
    only what is still in the pipe, so nothing is left in a Python-level buffer)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = b""
        self.closed = False

    def read(self, timeout: float) -> list[str]:
        """Complete lines that arrive within ``timeout`` seconds (at least one read)."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while not self.closed:
            wait = max(0.0, deadline - time.monotonic())
            if not select.select([self.fd], [], [], wait)[0]:
                break
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.closed = True
                break
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            lines += [line.decode() for line in done]
            if lines:
                break
        return lines


class _State:
    proc: subprocess.Popen | None = None
    lines: _Lines | None = None
    ready = False
    jobs = 0
    armed = False  # a stepper's first step is under way: a helper may start (see arm)
    #: leaves the armed step calls from Python, outside any composition (the optimizer's
    #: update rule): added to the end of the first list, where the helper starts
    extra: list = []
    forbidden = False  # this process compiles leaves ahead for another (twins.leaves_only)


def available() -> bool:
    """Whether a helper may be started here (see the module's docstring)."""
    from numba.core import config

    from . import twins
    from .cachedir import disk_cache_enabled

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        not _State.forbidden
        and os.name == "posix"
        and (cores or 1) >= 2
        and not config.DISABLE_JIT
        and disk_cache_enabled()
        and twins.background_enabled()
    )


def spawn(module: str, function: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """``module.function()`` in a new process of this Python, isolated from the working
    directory (``-I``: a folder named ``gradflow`` there is not imported), with gradflow's own
    location first on its path; its stdin is a pipe from this process. The helper and the
    twins' background compile both start this way. Raises OSError if no process is had."""
    import gradflow

    where = str(Path(gradflow.__file__).resolve().parent.parent)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        f"from {module} import {function}; {function}()"
    )
    return subprocess.Popen(
        [sys.executable, "-I", "-c", code, where],
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
    )


def start() -> None:
    """Start the helper unless one runs (or none may): it imports the kernels and compiles
    one trivial function, so that numba is ready when the first list of leaves arrives."""
    if _State.proc is not None or not available():
        return
    try:
        proc = spawn(__name__, "serve", stdout=subprocess.PIPE)
    except OSError:
        return
    _State.proc, _State.lines, _State.ready = proc, _Lines(proc.stdout.fileno()), False


def arm(extra: Callable[[], list[tuple]] | None = None) -> None:
    """A stepper was made: until its first step is done (:func:`stop`), a list of leaves to
    compile may start a helper (see the module's docstring). Starts it at once if numba's
    disk cache has no entry for the product every Linear layer runs
    (:func:`~gradflow.kernels.dense.gemm`): a cold cache (see :func:`cache_has`).
    ``extra()``: the leaves (dispatcher, argument types) the step will call from Python
    itself, outside any composition (the optimizer's update rule); they join the first
    list, at its end, so the helper takes them first while this process takes the front."""
    _State.armed = available()
    _State.extra = extra() if _State.armed and extra is not None else []
    if _State.proc is not None or not _State.armed:
        return
    from .dense import gemm

    cached = cache_has(gemm)
    if cached is None:  # another numba: cannot tell, so no helper
        _State.armed = False
    elif not cached:
        start()


def cache_has(dispatcher) -> bool | None:
    """Whether numba's disk cache has an index file for ``dispatcher`` (a kernel compiled
    for some types), or None if this numba's cache cannot be read that way. Only the file is
    looked for: asking numba to load the entry would set numba up first (half a second),
    and what is started on a cold cache should start before that."""
    try:
        index = dispatcher._cache._cache_file._index_path  # numba's own cache layout
    except AttributeError:
        return None
    return os.path.exists(index)


def forbid() -> None:
    """No helper in this process, ever (it compiles ahead for another process, which has
    its own: :func:`gradflow.kernels.twins.leaves_only`)."""
    _State.forbidden, _State.armed = True, False


def armed() -> bool:
    """Whether lists of leaves go to :func:`compile_leaves` (a stepper's first step)."""
    return _State.armed


def running() -> bool:
    return _State.proc is not None


def stop() -> None:
    """Let the helper go (its input closes; it exits when its current kernel is done) and
    disarm it."""
    _State.armed, _State.extra = False, []
    proc = _State.proc
    if proc is None:
        return
    _State.proc = _State.lines = None
    try:
        proc.stdin.close()
    except OSError:
        pass
    proc.stdout.close()


def _send(text: str) -> bool:
    try:
        _State.proc.stdin.write(text.encode() + b"\n")
        _State.proc.stdin.flush()
        return True
    except (OSError, ValueError):
        return False


def compile_leaves(items: list[tuple]) -> None:
    """Compile ``items`` ((numba dispatcher, argument types) in call order, none of them
    compiled in this process yet), together with the helper when one runs (an armed one is
    started for :data:`MIN_ITEMS` or more)."""
    from .twins import load_cached

    items, _State.extra = [*items, *_State.extra], []
    todo = [(d, sig) for d, sig in dict.fromkeys(items) if not load_cached(d, sig)]
    if _State.proc is None and _State.armed and len(todo) >= MIN_ITEMS:
        start()
    proc = _State.proc
    if proc is None or len(todo) < 2 or proc.poll() is not None:
        for d, sig in todo:
            d.compile(sig)
        return
    _State.jobs += 1
    job = _State.jobs
    work = [(d.py_func.__module__, d.py_func.__name__, maker_of(d), sig) for d, sig in todo]
    payload = base64.b64encode(pickle.dumps(work)).decode()
    if not _send(f"job {job} {payload}"):
        stop()
        return compile_leaves(todo)
    theirs: set[int] = set()  # items the helper started (it goes from the end)
    finished: set[int] = set()  # ... and finished (compiled into the cache, or failed)
    lowest = len(todo)

    def listen(timeout: float) -> None:
        nonlocal lowest
        for line in _State.lines.read(timeout) if _State.lines else []:
            words = line.split()
            if words == ["ready"]:
                _State.ready = True
            elif len(words) == 3 and words[1] == str(job):
                k = int(words[2])
                if words[0] == "start":
                    theirs.add(k)
                    lowest = min(lowest, k)
                elif words[0] in ("done", "fail"):
                    finished.add(k)

    mine = 0
    while mine < len(todo):
        listen(0.0)
        if mine >= lowest:
            break
        _send(f"take {job} {mine}")
        d, sig = todo[mine]
        d.compile(sig)
        mine += 1
    _send(f"end {job}")
    deadline = time.monotonic() + WAIT_SECONDS
    while any(k >= mine and k not in finished for k in theirs) and time.monotonic() < deadline:
        if _State.lines is None or _State.lines.closed:
            break
        listen(0.5)
    for k in range(mine, len(todo)):
        d, sig = todo[k]
        if not load_cached(d, sig):  # the helper failed, died or never took it
            d.compile(sig)


def maker_of(dispatcher) -> tuple[str, str] | None:
    """(module, function) that makes ``dispatcher`` from the function its module names (an
    update rule: :func:`gradflow.kernels.update.compile_rule`), or None: the module's name
    is the dispatcher itself."""
    return getattr(dispatcher, "gradflow_maker", None)


def resolve(module: str, name: str, maker: tuple[str, str] | None):
    """The kernel a work item names, in a compiling process (the helper, the twins'
    background): ``module.name``, made by ``maker`` from it when there is one."""
    import importlib

    kernel = getattr(importlib.import_module(module), name)
    if maker is not None:
        kernel = getattr(importlib.import_module(maker[0]), maker[1])(kernel)
    return kernel


def serve() -> None:
    """The helper's side: compile the items of each job from its end, into numba's disk
    cache, until this process's parent takes the rest (or ends the job)."""

    import numba

    from . import conv, dense, loss, pool, recurrent  # noqa: F401  (their numba is loaded)

    numba.njit(lambda x: x + 1)(1)  # numba's own first-compile set-up, before any job
    out = sys.stdout.buffer
    lines = _Lines(sys.stdin.fileno())

    def say(text: str) -> None:
        out.write(text.encode() + b"\n")
        out.flush()

    say("ready")
    pending: list[str] = []
    while True:
        if not pending:
            pending = lines.read(3600.0)
            if not pending and lines.closed:
                return
            continue
        words = pending.pop(0).split()
        if len(words) != 3 or words[0] != "job":
            continue
        job = words[1]
        work = pickle.loads(base64.b64decode(words[2]))
        taken, ended = -1, False
        for k in range(len(work) - 1, -1, -1):
            for line in lines.read(0.0):
                w = line.split()
                if len(w) >= 2 and w[1] == job and w[0] == "take":
                    taken = max(taken, int(w[2]))
                elif len(w) >= 2 and w[1] == job and w[0] == "end":
                    ended = True
                else:
                    pending.append(line)
            if ended or k <= taken:
                break
            say(f"start {job} {k}")
            module, name, maker, sig = work[k]
            if not all(m.startswith("gradflow.") for m in (module, *(maker or ())[:1])):
                say(f"fail {job} {k}")  # only gradflow's own kernels
                continue
            try:
                resolve(module, name, maker).compile(sig)
                say(f"done {job} {k}")
            except Exception:  # the parent compiles it instead
                say(f"fail {job} {k}")
        if lines.closed:
            return
