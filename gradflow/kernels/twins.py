"""Parallel kernels that start serial: the first step does not wait for numba's parallel
compiler.

A kernel compiled ``parallel=True`` takes three to four times as long to compile as the same
function compiled serially (LeNet's conv+pool forward: about 4.3 s of CPU against 1.1 s), and
on a cold cache those compiles were most of the wait before the first jitted step. Every
parallel kernel of :mod:`gradflow.kernels` splits its work into the same parts whatever the
thread count (see :mod:`gradflow.jit.threads`), so the same function compiled serially —
``prange`` as ``range``, the parts one after the other — computes the bit-identical result.

:func:`parallel_kernel` therefore compiles each such kernel twice, as a serial twin and as the
parallel kernel, cached apart. A call runs the parallel kernel when it is compiled for the
arguments' types (or numba's disk cache holds it: a warm start uses it from the first call)
and the serial twin otherwise. :func:`after_step` (the jit stepper calls it after each training
step) hands the signatures that ran serially to one background process, which compiles the
parallel kernels into the disk cache while training goes on; once it has finished, the
kernels are loaded from the cache and calls switch to them. Results do not depend on when
that happens. Nothing is started in the background without a disk cache (the process could
not hand its work over), and ``GRADFLOW_BACKGROUND_COMPILE=0`` turns it off: the parallel
kernels then compile in this process at the first call, as before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import time
import types

import numba
from numba.core import config
from numba.core.dispatcher import Dispatcher
from numba.extending import typeof_impl

from . import helper

#: every twinned kernel, in definition order
KERNELS: list[ParallelKernel] = []

#: background compiles started per process at most (each picks up what ran serially since)
MAX_BACKGROUND = 4


class _State:
    proc: subprocess.Popen | None = None
    sent: list = []  # (kernel, signature) the running background process compiles
    started = 0
    #: a serial twin compiled a signature the parallel kernel does not have
    dirty = False
    #: how many times kernels switched to their parallel form (steppers compare it)
    switches = 0


def background_enabled() -> bool:
    """Whether :func:`after_step` compiles in a background process (the default)."""
    return os.environ.get("GRADFLOW_BACKGROUND_COMPILE", "1") != "0"


class ParallelKernel:
    """A parallel kernel and its serial twin (see the module's docstring). Called like the
    kernel; ``parallel`` and ``serial`` are the two numba dispatchers."""

    def __init__(
        self, fn, options: dict, composition: bool = False, parallel: bool = True,
        compiled: tuple | None = None, maker: tuple[str, str] | None = None,
    ):  # fmt: skip
        from .cachedir import njit

        self.__name__, self.__qualname__ = fn.__name__, fn.__qualname__
        self.__module__, self.__doc__ = fn.__module__, fn.__doc__
        self.py_func = fn
        self.composition = composition
        #: (module, function) that makes this kernel from ``fn`` in the background process,
        #: for a kernel its owner builds (:func:`pair`); None: ``fn``'s module holds it
        self.maker = maker
        if compiled is not None:  # (parallel, serial) dispatchers its owner compiled
            self.parallel, self.serial = compiled
        elif composition:
            self.parallel = njit(cache=True, parallel=parallel, **options)(fn)
            self.serial = _CompositionTwin(fn)
        else:
            self.parallel = njit(cache=True, parallel=parallel, **options)(fn)
            twin = types.FunctionType(
                fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
            )
            twin.__module__ = fn.__module__
            twin.__qualname__ = fn.__qualname__ + "__serial"  # its own cache files
            self.serial = njit(cache=True, **options)(twin)
        self.ready = False  # the parallel kernel has a compiled signature: try it first
        self.checked = False  # numba's disk cache was asked for the first call's signature
        KERNELS.append(self)

    def __call__(self, *args):
        if self.ready:
            try:
                return self.parallel(*args)
            except TypeError:  # not compiled for these types (compiling is left to after_step)
                pass
        elif not self.checked:
            self.checked = True
            if not background_enabled():
                self._compile_here()
            elif load_cached(self.parallel, tuple(numba.typeof(a) for a in args)):
                self._now_ready()
            if self.ready:
                return self.parallel(*args)
        compiled = len(self.serial.overloads)
        result = self.serial(*args)
        if len(self.serial.overloads) != compiled:
            _State.dirty = True
        return result

    def pending(self) -> list[tuple]:
        """Signatures the serial twin ran that the parallel kernel lacks."""
        have = self.parallel.overloads
        return [sig for sig in self.serial.signatures if tuple(sig) not in have]

    def _now_ready(self) -> None:
        self.ready = True
        self.parallel.disable_compile()

    def _compile_here(self) -> None:
        """Let the parallel kernel compile at its calls, in this process (no background).
        Every kernel is opened to compiling again: a composition compiled here compiles the
        compositions it calls for its own argument types, ready ones included."""
        self.ready = True
        for kernel in KERNELS:
            kernel.parallel.disable_compile(False)


def parallel_kernel(*, composition: bool = False, parallel: bool = True, **options):
    """Decorator: ``njit(cache=True, parallel=True, **options)`` with a serial twin. Called
    from Python, the wrapper picks the form (see the module's docstring); called from other
    numba code, it is the numba kernel itself (numba types the wrapper as its dispatcher).
    Without numba's JIT or without a disk cache there is no background to hand work to: the
    plain kernel.

    ``composition``: the kernel only strings other kernels together (a Linear layer is a
    product and a bias+activation loop; an MLP pass is its layers; a convolution is its
    samples), and compiling it re-optimises all of them inlined, at every level again. Its
    serial twin is then its own body run as Python (``prange`` is ``range`` there), calling
    any composition it uses by that one's Python body too: the same leaf kernels in the same
    order, so a cold start compiles only the leaves, which it needs anyway; the composed
    kernel (``parallel=False``: a plain ``njit``) is compiled in the background. Its body must
    hold nothing but those calls, views of its arrays and integer bookkeeping, which Python
    runs as numba does: no arithmetic on array elements (``np.dot`` included: numba and
    numpy may use different BLAS builds; call :func:`gradflow.kernels.dense.gemm`). A
    kernel that is not a composition must not call one (numba compiles it in this process,
    where a composition's dispatcher may be closed to compiling)."""
    from .cachedir import disk_cache_enabled, njit

    def decorate(fn):
        if config.DISABLE_JIT or not disk_cache_enabled():
            return njit(cache=True, parallel=parallel, **options)(fn)
        return ParallelKernel(fn, options, composition=composition, parallel=parallel)

    return decorate


def pair(fn, parallel, serial, maker: tuple[str, str]):
    """A twinned kernel of two dispatchers another module compiled from ``fn`` (an
    optimizer's update rule, :func:`gradflow.kernels.update.parallel_rule`): ``parallel``
    and its serial form ``serial``, which must compute the same numbers. ``maker``
    (module, function) makes the same pair from ``fn`` in the background process. Without
    numba's JIT or a disk cache: ``parallel`` itself."""
    from .cachedir import disk_cache_enabled

    if config.DISABLE_JIT or not disk_cache_enabled():
        return parallel
    return ParallelKernel(fn, {}, compiled=(parallel, serial), maker=maker)


class _CompositionTwin:
    """A composition kernel's own body run as Python, standing in for its serial twin: it
    records the argument types of its calls (``signatures``, as a dispatcher's) for the
    background compile. Inside the body, a composition it calls runs as that one's body
    (:meth:`body`): the background compiles the outer kernel with all it calls, so only the
    outermost call's types are needed (a convolution's per-sample compositions would
    otherwise type their arguments hundreds of times a step)."""

    def __init__(self, fn):
        self.py_func = fn
        self.signatures: list[tuple] = []
        self.overloads: dict[tuple, bool] = {}
        self._body = None
        #: numba's fingerprints of the argument tuples seen: the same fingerprint is the same
        #: numba types (numba's dispatchers key their own typing cache by it). Looking it up
        #: takes a tenth of a microsecond; ``numba.typeof`` of every argument took half of a
        #: twin step of the demo's CNN (its views are new objects every step).
        self._seen: set[bytes] = set()

    def body(self):
        """The kernel's function with its module's names of compositions bound to their
        bodies (made at the first call, when every module it names is imported)."""
        if self._body is None:
            fn = self.py_func
            names = dict(fn.__globals__)
            for name in fn.__code__.co_names:
                value = names.get(name)
                if isinstance(value, ParallelKernel) and value.composition:
                    names[name] = value.serial.body()
            self._body = types.FunctionType(
                fn.__code__, names, fn.__name__, fn.__defaults__, fn.__closure__
            )
        return self._body

    def __call__(self, *args):
        try:  # numba's own fingerprint of the arguments' types, computed in C
            key = _fingerprint(args)
        except Exception:  # a value numba cannot fingerprint (its typeof still may)
            key = None
        if key is None or key not in self._seen:
            if key is not None:
                self._seen.add(key)
            sig = tuple(numba.typeof(a) for a in args)
            if sig not in self.overloads:
                self.overloads[sig] = True
                self.signatures.append(sig)
                if helper.armed():  # a first step: compile its leaves on two cores first
                    helper.compile_leaves(self.dry_run(args))
        return self.body()(*args)

    def dry_run(self, args) -> list[tuple]:
        """(dispatcher, argument types) of every leaf kernel the body calls for ``args``, in
        call order, found by running the body with each leaf replaced by a recorder (nothing
        is computed; a composition's own fills of its buffers are repeated by the real run).
        Empty if the body does not run that way."""
        calls: list[tuple] = []
        try:
            self._dry_body(calls)(*args)
        except Exception:  # not worth a failed step: the leaves compile as they are called
            return []
        return calls

    def _dry_body(self, calls: list):
        fn = self.py_func
        names = dict(fn.__globals__)
        for name in fn.__code__.co_names:
            value = names.get(name)
            if isinstance(value, ParallelKernel):
                if value.composition:
                    names[name] = value.serial._dry_body(calls)
                else:
                    names[name] = _recorder(value.serial, calls)
            elif isinstance(value, Dispatcher):
                names[name] = _recorder(value, calls)
        return types.FunctionType(fn.__code__, names, fn.__name__, fn.__defaults__, fn.__closure__)


def _fingerprint(args: tuple) -> bytes:
    from numba import _dispatcher

    return _dispatcher.compute_fingerprint(args)


def _recorder(dispatcher, calls: list):
    def record(*args):
        calls.append((dispatcher, tuple(numba.typeof(a) for a in args)))

    return record


def _typeof_kernel(kernel, c):
    """numba's type of a twinned kernel named in numba code: its numba kernel's dispatcher
    (registered below), so compiled callers call the compiled kernel directly."""
    return numba.core.types.Dispatcher(kernel.parallel)


typeof_impl.register(ParallelKernel)(_typeof_kernel)


def load_cached(dispatcher, sig: tuple) -> bool:
    """Whether ``dispatcher`` has ``sig``, loading it from numba's disk cache if it is there;
    never compiles (numba's own loading steps, from ``Dispatcher.compile``)."""
    from numba.core.compiler_lock import global_compiler_lock

    sig = tuple(sig)
    if sig in dispatcher.overloads:
        return True
    cache = getattr(dispatcher, "_cache", None)
    if cache is None:
        return False
    with global_compiler_lock:
        try:
            cres = cache.load_overload(sig, dispatcher.targetctx)
        except Exception:  # an unreadable entry: the kernel compiles later instead
            return False
        if cres is None:
            return False
        dispatcher.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        dispatcher.add_overload(cres)
    return True


def switches() -> int:
    """How many background compiles have been picked up in this process so far."""
    return _State.switches


def after_step() -> None:
    """Called after each training step: lets the compile helper go (the step compiled what
    it needs), picks up a finished background compile (switching the kernels it compiled to
    their parallel form) and starts one for what ran serially."""
    helper.stop()
    proc = _State.proc
    if proc is not None:
        if proc.poll() is None:
            return
        _State.proc = None
        for kernel, sig in _State.sent:
            if load_cached(kernel.parallel, sig):
                kernel._now_ready()
        _State.sent = []
        _State.switches += 1
    if not _State.dirty or _State.started >= MAX_BACKGROUND or not background_enabled():
        return
    _State.dirty = False
    work = [(kernel, sig) for kernel in KERNELS for sig in kernel.pending()]
    if work:
        _start(work)


def settle(timeout: float = 600.0) -> bool:
    """Wait until the background has compiled everything that ran serially, and switch the
    kernels over: the steady state a benchmark times (training never waits: it switches
    over by itself when the background is done). Returns whether nothing is left pending
    (False after ``timeout`` seconds, or with more signatures than :data:`MAX_BACKGROUND`
    background compiles could take)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = _State.proc
        if proc is not None:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        after_step()  # picks the finished compile up, starts one for what is still serial
        if _State.proc is None:
            return not any(kernel.pending() for kernel in KERNELS)


def leaves_only() -> None:
    """This process only compiles leaf kernels into the disk cache for another process (the
    demo's compile-ahead): it starts no compile helper and no background compile; its
    compositions keep running as Python."""
    helper.forbid()
    _State.started = MAX_BACKGROUND


def compile_all_here() -> None:
    """Compile every pending parallel kernel in this process now (tests compare the two
    forms; a user never needs this). Every dispatcher is open to compiling until all are
    done: a composition compiles the compositions it calls for its own argument types."""
    for kernel in KERNELS:
        kernel.parallel.disable_compile(False)
    for kernel in KERNELS:
        for sig in kernel.pending():
            kernel.parallel.compile(sig)
    for kernel in KERNELS:
        if kernel.parallel.signatures:
            kernel._now_ready()


@contextlib.contextmanager
def serial_only():
    """Every twinned kernel runs its serial twin inside the block (tests compare the forms)."""
    saved = [(kernel, kernel.ready, kernel.checked) for kernel in KERNELS]
    try:
        for kernel in KERNELS:
            kernel.ready, kernel.checked = False, True
        yield
    finally:
        for kernel, ready, checked in saved:
            kernel.ready, kernel.checked = ready, checked


def _start(work: list) -> None:
    """The background process (:func:`~gradflow.kernels.helper.spawn`: this Python, isolated
    from the working directory, gradflow's own location first on its path), compiling
    ``work`` read as a pickle from its stdin — written here, by this process, not read from
    any file."""
    payload = pickle.dumps([(k.__module__, k.__name__, k.maker, sig) for k, sig in work])
    try:
        proc = helper.spawn(__name__, "_compile_from_stdin")
        proc.stdin.write(payload)
        proc.stdin.close()
    except OSError:  # no process to be had: the kernels compile here when next needed
        for kernel, _ in work:
            kernel._compile_here()
        return
    _State.proc, _State.sent = proc, work
    _State.started += 1


def _compile_from_stdin() -> None:
    """The background process's work: compile each (module, kernel, signature) in the
    parallel form into numba's disk cache, at a lower priority than the training it waits
    for (and than the compile helper of a cold start, :mod:`~gradflow.kernels.helper`)."""

    if hasattr(os, "nice"):
        os.nice(10)

    for module, name, maker, sig in pickle.loads(sys.stdin.buffer.read()):
        helper.resolve(module, name, maker).parallel.compile(sig)
