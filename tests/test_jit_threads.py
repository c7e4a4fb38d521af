"""The thread governor: one thread or two give bit-identical training, and the governor
picks whichever is faster, probing the other less and less often while it loses."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from gradflow import nn
from gradflow.jit import make_stepper, stages
from gradflow.jit.threads import ThreadGovernor
from gradflow.nn.models import SequenceModel
from gradflow.optim.optimizers import Adam

two_threads = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="needs numba with at least 2 threads"
)


class FakeMachine:
    """A clock that a step advances by ``cost[threads in use] × samples``."""

    def __init__(self, cost):
        self.cost, self.now, self.used = dict(cost), 0.0, []

    def clock(self):
        return self.now

    def step(self, samples):
        threads = numba.get_num_threads()
        self.used.append(threads)
        self.now += self.cost[threads] * samples
        return threads


@two_threads
def test_governor_keeps_the_faster_count_and_backs_off_its_probes():
    machine = FakeMachine({2: 1.0, 1: 1.6})
    gov = ThreadGovernor(2, period=8, probe=3, clock=machine.clock)
    for _ in range(400):
        gov.run(lambda: machine.step(32), 32)
    assert gov.current == 2 and gov.switches == []
    probes = machine.used.count(1)
    assert 0 < probes <= 3 * 6  # periods 8, 16, 32, 64, 128, 256: at most six probes
    assert gov.period > 8


@two_threads
def test_governor_moves_to_one_thread_under_load_and_back_when_it_ends():
    machine = FakeMachine({2: 1.0, 1: 1.6})
    gov = ThreadGovernor(2, period=8, probe=3, max_period=64, clock=machine.clock)
    for _ in range(100):
        gov.run(lambda: machine.step(16), 16)
    machine.cost[2] = 6.0  # a busy neighbour: the second thread wakes late
    for _ in range(200):
        gov.run(lambda: machine.step(16), 16)
    assert gov.current == 1
    assert machine.used[-1] == 1
    machine.cost[2] = 1.0
    for _ in range(300):
        gov.run(lambda: machine.step(16), 16)
    assert gov.current == 2
    assert [t for _, t in gov.switches] == [1, 2]


@two_threads
def test_governor_reconsiders_soon_after_the_kernels_change():
    """While the serial twins ran, one thread was as fast as two and the probes backed off;
    when the parallel kernels arrive, reconsider() gets two threads back within a probe."""
    machine = FakeMachine({2: 1.6, 1: 1.0})  # two threads slower: the governor settles on one
    gov = ThreadGovernor(2, period=8, probe=3, max_period=4096, clock=machine.clock)
    for _ in range(400):
        gov.run(lambda: machine.step(16), 16)
    assert gov.current == 1 and gov.period > 64
    machine.cost[2] = 0.5  # the parallel kernels are in
    gov.reconsider()
    for _ in range(3 + 3 + 1):  # refill the recent timings, one probe
        gov.run(lambda: machine.step(16), 16)
    assert gov.current == 2


@two_threads
@pytest.mark.parametrize("slowdown", [1.2, 1.8, 3.0])
def test_governor_probing_costs_about_its_budget_on_a_steady_machine(slowdown):
    """The probes' slow steps are paid back: once the first decision is made, probing costs
    at most about ``budget`` (1 %) of the time, and the steps on the other count stay below
    the 90th percentile of a run of a few hundred steps."""
    machine = FakeMachine({2: 1.0, 1: slowdown})
    gov = ThreadGovernor(2, clock=machine.clock)
    for _ in range(400):
        gov.run(lambda: machine.step(8), 8)
    assert gov.current == 2 and gov.switches == []
    first = machine.used[:12].count(1)
    later = machine.used[12:].count(1)
    assert first == 4  # the first decision: 4 steps on one thread within the first 12
    extra = later * (slowdown - 1.0)
    assert extra <= 0.012 * len(machine.used[12:]) + (slowdown - 1.0) * gov.probe
    assert machine.used.count(1) < 0.1 * len(machine.used)


@two_threads
def test_governor_decides_within_the_first_dozen_steps_on_a_busy_machine():
    machine = FakeMachine({2: 6.0, 1: 1.6})  # a neighbour holds the second core
    gov = ThreadGovernor(2, clock=machine.clock)
    for _ in range(12):
        gov.run(lambda: machine.step(8), 8)
    assert gov.current == 1 and gov.switches == [(10, 1)]


@two_threads
def test_governor_notices_a_neighbour_at_once_however_long_its_wait():
    """Long back-off on a steady machine, then the second core gets busy: the slowdown
    of two threads triggers a probe within a few steps; one thread slowing down does not."""
    machine = FakeMachine({2: 1.0, 1: 3.0})
    gov = ThreadGovernor(2, clock=machine.clock)
    for _ in range(500):
        gov.run(lambda: machine.step(8), 8)
    assert gov.period >= 512 and gov.switches == []  # long waits: probes cost 4·2 steps
    machine.cost[2] = 6.0
    for _ in range(10):
        gov.run(lambda: machine.step(8), 8)
    assert gov.current == 1 and gov.switches == [(508, 1)]
    machine.cost[1] = machine.cost[2] = 30.0  # on one thread, slower: no probe of two
    start = len(machine.used)
    for _ in range(24):
        gov.run(lambda: machine.step(8), 8)
    assert gov.current == 1 and machine.used[start:].count(2) == 0


@two_threads
def test_governor_after_a_clear_switch_waits_and_comes_back_when_the_neighbour_leaves():
    """Two threads 2.4× slower (busy machine): after switching to one it does not probe two
    again within 200 steps (each probe would cost 4·1.4 step times), but one thread getting
    twice as fast (the neighbour left) makes it probe, and switch back, at once."""
    machine = FakeMachine({2: 6.0, 1: 2.5})
    gov = ThreadGovernor(2, clock=machine.clock)
    for _ in range(200):
        gov.run(lambda: machine.step(8), 8)
    assert gov.switches == [(10, 1)] and machine.used[10:].count(2) == 0
    machine.cost.update({2: 1.0, 1: 1.2})
    for _ in range(10):
        gov.run(lambda: machine.step(8), 8)
    assert gov.current == 2 and gov.switches[-1][0] <= 210


@two_threads
def test_governor_restores_the_callers_thread_count():
    before = numba.get_num_threads()
    gov = ThreadGovernor(2, adaptive=False)
    assert gov.run(numba.get_num_threads, 1) == 2
    assert numba.get_num_threads() == before
    assert ThreadGovernor(1).run(numba.get_num_threads, 1) == 1


def _lenet_like(seed):
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, seed=seed + 1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(4, 8, seed=seed + 2), nn.ReLU(), nn.Linear(8, 3, seed=seed + 3),
    )  # fmt: skip


@two_threads
@pytest.mark.parametrize(
    "make, shape",
    [(_lenet_like, (5, 1, 10, 10)), (lambda s: SequenceModel("lstm", 3, 6, 3, seed=s), (5, 4, 3))],
)
def test_one_thread_and_two_threads_train_bit_identically(monkeypatch, make, shape):
    """Every parallel kernel splits its work the same way whatever the thread count (the
    Linear layers here count as large, so their two-thread kernels run too)."""
    monkeypatch.setattr(stages, "LARGE_MACS", 1)
    monkeypatch.setattr(stages, "LARGE_WEIGHTS", 1)
    monkeypatch.setattr(stages, "STACK_WEIGHTS", 0)  # each on its own two-thread kernels
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    y = rng.integers(0, 3, shape[0])
    final = {}
    for threads in (1, 2):
        model = make(3)
        stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01),
                               threads=threads)  # fmt: skip
        losses = [stepper.train_batch(x, y) for _ in range(4)]
        final[threads] = (losses, [p.data.copy() for p in model.parameters()])
    assert final[1][0] == final[2][0]
    for a, b in zip(final[1][1], final[2][1]):
        assert np.array_equal(a, b)


def test_threads_setting_is_checked():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="threads"):
        make_stepper(model, "mse", None, threads=0)


@two_threads
def test_blas_is_held_at_one_thread_during_a_multithreaded_step_only():
    """np.dot inside numba's parallel loops must not start BLAS threads of its own; a
    one-thread step leaves BLAS alone, and the caller's setting comes back after either."""
    from threadpoolctl import threadpool_limits

    from gradflow.jit.threads import BlasThreads

    libs = BlasThreads.libraries()
    if not libs:
        pytest.skip("no BLAS library found by threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        seen = {}
        for threads in (2, 1):
            gov = ThreadGovernor(threads, adaptive=False)
            seen[threads] = gov.run(lambda: [lib.get_num_threads() for lib in libs], 1)
            assert [lib.get_num_threads() for lib in libs] == [2] * len(libs)
            # predictions (untimed) run under the same rule
            assert gov.call(lambda: [lib.get_num_threads() for lib in libs]) == seen[threads]
    assert seen[2] == [1] * len(libs)
    assert seen[1] == [2] * len(libs)


@two_threads
def test_a_governor_that_may_switch_holds_blas_on_its_one_thread_steps_too():
    """An adaptive governor's one-thread steps (its choice, or a probe) run BLAS on one
    thread as well: a multi-threaded OpenBLAS left a worker spinning after them, which took a
    core from the next two-thread step (18–24 ms W2 steps with OPENBLAS_NUM_THREADS unset)."""
    from threadpoolctl import threadpool_limits

    from gradflow.jit.threads import BlasThreads

    libs = BlasThreads.libraries()
    if not libs:
        pytest.skip("no BLAS library found by threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        gov = ThreadGovernor(2)
        assert gov.adaptive
        gov.current = 1  # as after a decision for one thread
        inside = gov.run(lambda: (numba.get_num_threads(), [n.get_num_threads() for n in libs]), 1)
        assert inside == (1, [1] * len(libs))
        assert [lib.get_num_threads() for lib in libs] == [2] * len(libs)  # and back after


@two_threads
def test_a_linear_stack_on_batch_halves_trains_bit_identically_on_one_or_two_threads(monkeypatch):
    monkeypatch.setattr(stages, "STACK_HALVES_MACS", 1)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, 3, 7)
    final = {}
    for threads in (1, 2):
        model = nn.mlp([5, 8, 6, 3], seed=2)
        stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01),
                               threads=threads)  # fmt: skip
        losses = [stepper.train_batch(x, y) for _ in range(4)]
        assert "halves" in stepper.plan.train_stages[-1].ws
        final[threads] = (losses, [p.data.copy() for p in model.parameters()])
    assert final[1][0] == final[2][0]
    for a, b in zip(final[1][1], final[2][1]):
        assert np.array_equal(a, b)


@two_threads
def test_governor_needs_a_clear_win_to_drop_to_one_thread():
    """One thread measured 20 % faster in four steps is noise on a quiet machine (two threads
    stay); 50 % faster, or two threads several times slower under load, is not."""
    for one, expect in ((0.8, 2), (0.5, 1)):
        machine = FakeMachine({2: 1.0, 1: one})
        gov = ThreadGovernor(2, clock=machine.clock)
        for _ in range(12):
            gov.run(lambda: machine.step(8), 8)
        assert gov.current == expect, (one, gov.switches)


def test_blas_held_through_openblas_own_functions_reads_and_sets_what_threadpoolctl_sees():
    """A pthreads OpenBLAS is held through its own C functions (3.4 → 1.5 µs a step for the
    two OpenBLAS builds NumPy and SciPy bring); they must act on the very library
    threadpoolctl reports. Any other library falls back to threadpoolctl's methods."""
    from threadpoolctl import threadpool_limits

    from gradflow.jit.threads import BlasThreads, _openblas_functions

    libs = BlasThreads.libraries()
    if not libs:
        pytest.skip("no BLAS library found by threadpoolctl")
    before = [lib.get_num_threads() for lib in libs]
    with threadpool_limits(limits=2, user_api="blas"):
        for lib, (get, set_) in zip(libs, BlasThreads.pairs(), strict=True):
            assert get() == lib.get_num_threads() == 2
            set_(1)
            assert lib.get_num_threads() == 1 and get() == 1
            set_(2)
            assert lib.get_num_threads() == 2
            if lib.internal_api == "openblas" and lib.threading_layer == "pthreads":
                assert get is not lib.get_num_threads  # the raw function was found
    assert [lib.get_num_threads() for lib in libs] == before

    class Mkl:  # another library: threadpoolctl's own methods are used
        internal_api, threading_layer, filepath = "mkl", "intel", "/nonexistent/libmkl_rt.so"

    assert _openblas_functions(Mkl()) is None
    Mkl.internal_api, Mkl.threading_layer = "openblas", "pthreads"  # a path that will not load
    assert _openblas_functions(Mkl()) is None
