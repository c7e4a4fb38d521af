"""How many threads the jitted kernels use, chosen by measuring while training.

Every parallel kernel of :mod:`gradflow.kernels` splits its work into the same parts whatever
the thread count (two fixed halves of the batch, or independent channels and entries), so a
step gives bit-identical results on one thread or two; only its speed differs. On a quiet
machine two threads win. When another process holds a core, waking the second thread can
cost more than the work it takes over: on this project's 2-core machine a LeNet step went
from 1.6 ms to 9 ms with a busy neighbour, while one thread took 2.4 ms.

:class:`ThreadGovernor` therefore times the steps it runs, per sample, and now and then runs
a few steps on the other thread count. It switches when those are clearly faster, and probes
less and less often while they are not. What it costs, and when:

- the first probe comes early (after 2 untimed steps and 4 timed ones: 4 steps on the other
  count from step 7 on), so a busy machine is noticed within the first dozen steps;
- a probe that loses is paid for in its slow steps: losing by a factor r costs
  ``probe·(r − 1)`` step times, so the next probe waits until that is at most ``budget``
  (1 %) of the steps in between, and at least twice as long as the last wait and 32 steps
  (up to 2048 steps). On a steady machine where one thread is 1.8× slower: probes at steps
  7–10 and ~330, then after waits of 640, 1280 and 2048 steps — 3.2 step times of probing
  in the first 330 steps (1 %), less after; when the two counts are about as fast, probes
  at steps 7, ~43, ~111, ~243…, which then cost next to nothing;
- after a switch it probes the count it left under the same budget: 32 steps later after a
  narrow win, up to 2048 after a clear one (two threads 10× slower on a busy machine: a
  probe of them costs 36 step times);
- whatever the wait, it probes at once when each of the last 4 steps on two threads took
  more than twice as long (per sample) as at the last decision (a neighbour took a core),
  or each of the last 4 on one thread less than half as long (the neighbour left): such a
  change is noticed within about 8 steps, not after a wait of up to 2048. One thread
  getting slower, or two faster, triggers nothing (the probe would lose again). A change
  that affects both counts alike costs one probe, and the new level becomes the
  reference.

Every step is timed (two clock reads, well under a microsecond). The
probe steps themselves are the tail the governor adds to a run's step times: 4 slower steps
out of the first ~330 on a steady machine, below the 90th percentile.

While a step runs on more than one thread, the BLAS libraries of the process are held at one
thread each (:class:`BlasThreads`, restored after the step): the kernels call ``np.dot``
inside numba's own parallel loops, and an OpenBLAS starting two threads of its own in each of
them put four threads on two cores — LeNet steps took 7.9 ms instead of 1.3, LSTM steps
24 ms instead of 1.6, for anyone who had not set ``OPENBLAS_NUM_THREADS=1``.

A governor that may switch counts holds BLAS at one thread on its one-thread steps too
(1.5 µs a step for NumPy's and SciPy's OpenBLAS, through their own C functions). Left to
its own two threads there, OpenBLAS kept a worker spinning for a while after each product,
which took a core from the next two-thread step: with ``OPENBLAS_NUM_THREADS`` unset (as on
a student's machine) W2's probes of two threads took 18–24 ms instead of 1.1, the governor
stayed on one thread, and W2 ran 1.29–1.36 ms a step instead of 1.06–1.16 (the benchmark,
which sets the variable, never saw it). A governor of one thread (``NUMBA_NUM_THREADS=1``,
one core) leaves BLAS to the user's setting.
"""

from __future__ import annotations

import ctypes
import time
from collections import deque
from collections.abc import Callable
from statistics import median
from typing import TypeVar

import numba

T = TypeVar("T")


class BlasThreads:
    """The process's BLAS libraries (found once with threadpoolctl), set to one thread for
    the duration of a step (see the module docstring).

    An OpenBLAS on its own threads (``pthreads``, the wheels' build) is read and set through
    its own two C functions, found once in the library threadpoolctl found: 0.2 µs a call,
    where threadpoolctl's methods take 0.3–0.6 µs — 3.4 µs a step for the two OpenBLAS
    builds NumPy and SciPy bring, a sixth of a small MLP's step. Any other library (MKL,
    BLIS, an OpenBLAS on OpenMP, whose limits are per thread) goes through threadpoolctl.
    Each library is a pair ``(get, set)`` of callables."""

    _libs: list | None = None
    _pairs: list[tuple[Callable[[], int | None], Callable[[int], object]]] | None = None

    @classmethod
    def libraries(cls) -> list:
        if cls._libs is None:
            try:
                import scipy.linalg.cython_blas  # noqa: F401 - the BLAS numba's np.dot calls
                from threadpoolctl import ThreadpoolController

                found = ThreadpoolController().lib_controllers
                cls._libs = [lib for lib in found if lib.user_api == "blas"]
            except ImportError:  # no SciPy BLAS loaded: numba's np.dot is unavailable anyway
                cls._libs = []
        return cls._libs

    @classmethod
    def pairs(cls) -> list[tuple[Callable[[], int | None], Callable[[int], object]]]:
        """``(get_num_threads, set_num_threads)`` of each library, the fastest found."""
        if cls._pairs is None:
            cls._pairs = [_openblas_functions(lib) or (lib.get_num_threads, lib.set_num_threads)
                          for lib in cls.libraries()]  # fmt: skip
        return cls._pairs

    @classmethod
    def hold(cls) -> list[tuple[Callable[[int], object], int]]:
        """Set each BLAS running more than one thread to one; returns what to restore."""
        held = []
        for get, set_ in cls.pairs():
            n = get()
            if n is not None and n > 1:
                set_(1)
                held.append((set_, n))
        return held

    @staticmethod
    def release(held: list[tuple[Callable[[int], object], int]]) -> None:
        for set_, n in held:
            set_(n)


def _openblas_functions(lib) -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """``openblas_get_num_threads``/``openblas_set_num_threads`` of a pthreads OpenBLAS that
    threadpoolctl found, under whichever of its builds' names (``scipy_…64_``) it exports;
    None for any other library, or if they are not there."""
    if (getattr(lib, "internal_api", None), getattr(lib, "threading_layer", None)) != (
        "openblas",
        "pthreads",
    ):
        return None
    try:
        dll = ctypes.CDLL(lib.filepath)  # already loaded: the same handle, nothing re-run
    except (OSError, TypeError, AttributeError):
        return None
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64"):
            get = getattr(dll, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(dll, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


class ThreadGovernor:
    """Runs steps with 1 or ``max_threads`` numba threads, whichever measures faster.

    ``probe`` steps under the other count are compared with the last ``probe`` steps under
    the current one (median time per sample); the other count must be faster by the factor
    ``margin`` to be chosen (``down_margin`` for fewer threads than now). The first probe
    comes after ``first_period`` steps, later ones ``period`` or more steps after a switch;
    after each probe that does not switch, the wait at least doubles (and is at least
    ``period``). Either wait grows to ``probe·(r − 1)/budget`` steps when the next probe will
    run r times slower (as measured), so probing costs at most ``budget`` of the time (up to
    ``max_period`` steps). When each of the last ``probe`` steps took ``slowdown`` times
    longer (on several threads) or shorter (on one) than at the last decision, it probes at
    once. ``adaptive=False`` always uses ``max_threads``. ``clock`` is for tests.
    """

    def __init__(
        self,
        max_threads: int | None = None,
        *,
        adaptive: bool = True,
        probe: int = 4,
        period: int = 32,
        max_period: int = 2048,
        margin: float = 0.85,
        down_margin: float = 0.7,
        warmup: int = 2,
        first_period: int | None = None,
        budget: float = 0.01,
        slowdown: float = 2.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.max_threads = int(max_threads or numba.get_num_threads())
        self.current = self.max_threads
        self.adaptive = adaptive and self.max_threads > 1
        self.probe, self.base_period, self.max_period = probe, period, max_period
        self.period = min(period, first_period or probe)  # the first decision comes early
        self.margin, self.budget, self.slowdown = margin, budget, slowdown
        self.down_margin = min(down_margin, margin)
        #: time per sample of the chosen count at the last decision (None before the first)
        self._settled: float | None = None
        self.clock = clock
        self._skip = warmup  # the first steps compile or load kernels: not timed
        self._recent: deque[float] = deque(maxlen=probe)
        self._trial: list[float] = []
        self._since_probe = 0
        #: (step, threads) each time the choice changed, for reports and tests
        self.switches: list[tuple[int, int]] = []
        self.steps = 0

    def _threads_now(self) -> int:
        probing = (
            self.adaptive and self._since_probe >= self.period and len(self._recent) == self.probe
        )
        if not probing:
            return self.current
        return 1 if self.current > 1 else self.max_threads

    def run(self, step: Callable[[], T], samples: int) -> T:
        """``step()`` on the chosen thread count; the caller's count is restored after.

        Every step after the warm-up is timed (two clock reads), so that a sudden slowdown
        of the chosen count is noticed (see :meth:`_record`)."""
        threads = self._threads_now()
        timed = self.adaptive and self._skip == 0
        start = self.clock() if timed else 0.0
        result = self._on(threads, step)
        if self.adaptive:
            per_sample = (self.clock() - start) / max(samples, 1) if timed else None
            self._record(threads, per_sample)
        return result

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the current choice, untimed (predictions: not what is being tuned)."""
        return self._on(self.current, fn)

    def _on(self, threads: int, fn: Callable[[], T]) -> T:
        """``fn()`` with ``threads`` numba threads, and BLAS held at one thread if that is
        more than one or if the governor may switch counts (see the module docstring)."""
        before = numba.get_num_threads()
        held: list[tuple[Callable[[int], object], int]] = []
        try:  # set inside the try: an interrupt right after still restores both
            if before != threads:
                numba.set_num_threads(threads)
            if threads > 1 or self.adaptive:
                held = BlasThreads.hold()
            return fn()
        finally:
            BlasThreads.release(held)
            if before != threads:
                numba.set_num_threads(before)

    def reconsider(self) -> None:
        """The kernels changed under the governor (serial twins replaced by their parallel
        kernels, :mod:`gradflow.kernels.twins`): forget the timings taken so far and compare
        the thread counts again soon, instead of after a long back-off."""
        self._recent.clear()
        self._trial = []
        self._settled = None
        self.period = self.base_period
        self._since_probe = self.period

    def _record(self, threads: int, per_sample: float | None) -> None:
        self.steps += 1
        if self._skip > 0:
            self._skip -= 1
            return
        if threads == self.current:
            if per_sample is not None:
                self._recent.append(per_sample)
            self._since_probe += 1
            if self._settled is not None and len(self._recent) == self.probe:
                # the machine changed: probe now, not after a wait of up to 2048 steps,
                # against steps all taken since the change. A neighbour taking a core
                # slows several threads most (one may now win); one leaving speeds up a
                # single thread (several may now win). The other way round, the probe
                # would only lose again, slowly.
                if self.current > 1:
                    changed = min(self._recent) > self.slowdown * self._settled
                else:
                    changed = max(self._recent) * self.slowdown < self._settled
                if changed:
                    self._since_probe = max(self._since_probe, self.period)
            return
        self._trial.append(per_sample)
        if len(self._trial) < self.probe:
            return
        ratio = median(self._trial) / median(self._recent)
        # fewer threads must win clearly: four noisy steps early in a run once put W1 and
        # W4c on one thread, 25-40 % slower, on a quiet machine (a busy neighbour makes two
        # threads several times slower, far beyond this margin)
        if ratio < (self.down_margin if threads < self.current else self.margin):
            self.current = threads
            self._recent = deque(self._trial, maxlen=self.probe)
            self.switches.append((self.steps, threads))
            self._settled = median(self._trial)
            # probing back will cost probe·(1/ratio − 1) step times of the new count
            wait = max(self.base_period, self._paid_back(1.0 / ratio))
        else:
            self._settled = median(self._recent)
            wait = max(2 * self.period, self.base_period, self._paid_back(ratio))
        self.period = min(wait, self.max_period)
        self._trial = []
        self._since_probe = 0

    def _paid_back(self, slower: float) -> int:
        """Steps after which ``probe`` steps ``slower`` times slower cost ``budget`` of them:
        the probe's slow steps cost probe·(slower − 1) step times."""
        return int(self.probe * max(slower - 1.0, 0.0) / self.budget)
