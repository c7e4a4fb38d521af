"""Parallel kernels start as serial twins (gradflow.kernels.twins): the twin computes the
bit-identical result, so switching to the parallel kernel once a background process has
compiled it changes nothing but the speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba.core.dispatcher import Dispatcher

from gradflow import nn
from gradflow.jit import make_stepper
from gradflow.kernels import cachedir, helper, twins
from gradflow.nn.models import SequenceModel
from gradflow.optim.optimizers import Adam

pytestmark = pytest.mark.skipif(
    not twins.KERNELS, reason="no twins without numba's JIT and a disk cache"
)


def _models():
    """One model per family of parallel kernels: the two-thread Linear stack and split
    Linear, conv (+ max-pool fused, and alone), average pooling, batch norm, a large
    activation map that is not fused, an LSTM."""
    f32 = np.float32
    yield "mlp", lambda: nn.Sequential(
        nn.Linear(300, 600, seed=1, dtype=f32), nn.ReLU(), nn.Linear(600, 40, seed=2, dtype=f32),
        nn.ReLU(), nn.Linear(40, 3, seed=3, dtype=f32),
    ), (64, 300)  # fmt: skip
    yield "cnn", lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, seed=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, seed=2),
        nn.GELU(), nn.AvgPool2d(2), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3, seed=3),
    ), (8, 2, 14, 14)  # fmt: skip
    yield "lstm", lambda: SequenceModel("lstm", 5, 16, 3, seed=0), (8, 7, 5)
    yield "rnn", lambda: SequenceModel("rnn", 5, 16, 3, seed=0), (8, 7, 5)
    yield "gru", lambda: SequenceModel("gru", 5, 16, 3, seed=0), (8, 7, 5)
    # a strided, padded convolution with a sigmoid (the strided im2col/col2im leaves, the
    # other-activation leaves) and a convolution pooled with no activation (identity)
    yield "strided cnn", lambda: nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1, seed=1), nn.Sigmoid(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 2, seed=2), nn.MaxPool2d(1), nn.Flatten(), nn.Linear(4, 3, seed=3),
    ), (8, 2, 8, 8)  # fmt: skip
    # a small MLP trains in one fused call (stack_train_softmax_ce), whose twin is the
    # composition of its three kernels, made from Python
    yield (
        "small mlp",
        lambda: nn.Sequential(
            nn.Linear(6, 8, seed=1, dtype=f32), nn.Tanh(), nn.Linear(8, 3, seed=2, dtype=f32)
        ),
        (8, 6),
    )


@pytest.mark.parametrize(
    ("name", "build", "shape"), list(_models()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_serial_twins_train_bit_identically_to_the_parallel_kernels(
    name, build, shape, monkeypatch
):
    monkeypatch.setenv("GRADFLOW_BACKGROUND_COMPILE", "0")
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=shape) for _ in range(3)]
    ys = [rng.integers(0, 3, shape[0]) for _ in range(3)]

    def train(serial: bool):
        model = build()
        stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01),
                               threads=2)  # fmt: skip
        if serial:
            with twins.serial_only():
                losses = [stepper.train_batch(x, y) for x, y in zip(xs, ys)]
        else:
            stepper.train_batch(xs[0], ys[0])  # the twins ran: compile their parallel forms
            model = build()
            stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01),
                                   threads=2)  # fmt: skip
            twins.compile_all_here()
            losses = [stepper.train_batch(x, y) for x, y in zip(xs, ys)]
        return losses, [p.data.copy() for p in model.parameters()]

    serial_losses, serial_params = train(serial=True)
    parallel_losses, parallel_params = train(serial=False)
    used = [k.__name__ for k in twins.KERNELS if k.ready and k.parallel.signatures]
    assert used, "no parallel kernel ran"
    if name == "small mlp":
        assert "stack_train_softmax_ce" in used
    if name == "mlp":
        assert {"stack_forward_halves", "stack_backward_halves"} <= set(used)
    if name == "lstm":
        assert {"lstm_forward", "lstm_backward"} <= set(used)
    if name in ("rnn", "gru"):
        assert {f"{name}_forward", f"{name}_backward"} <= set(used)
    if name == "strided cnn":
        assert {"conv_pool_forward", "conv_pool_backward"} <= set(used)
    assert serial_losses == parallel_losses
    for a, b in zip(serial_params, parallel_params):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_cold_start_trains_on_twins_and_switches_to_parallel_kernels_compiled_elsewhere(
    tmp_path,
):
    """Empty private cache: the first step compiles only serial twins; a background process
    compiles the parallel kernels into the cache; this process loads them (compiling none
    itself) and uses them."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    script = textwrap.dedent(
        """
        import time, numpy as np
        from gradflow import nn
        from gradflow.jit import make_stepper
        from gradflow.kernels import twins
        model = nn.Sequential(nn.Conv2d(1, 3, 3, seed=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(3 * 3 * 3, 2, seed=2))
        stepper = make_stepper(model, "cross_entropy", threads=2)
        x, y = np.ones((4, 1, 8, 8)), np.array([0, 1, 0, 1])
        stepper.train_batch(x, y)
        conv = [k for k in twins.KERNELS if k.__name__ == "conv_pool_forward"][0]
        assert not conv.ready and conv.serial.signatures, "the first step ran the twin"
        deadline = time.time() + 300
        while not conv.ready and time.time() < deadline:
            stepper.train_batch(x, y)
            time.sleep(0.05)
        assert conv.ready, "the parallel kernel never arrived"
        stepper.train_batch(x, y)
        assert not conv.parallel._cache_misses, "compiled here instead of loading"
        print("switched", twins._State.started)
        """
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), GRADFLOW_BACKGROUND_COMPILE="1")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "switched 1" in done.stdout


@pytest.mark.slow
def test_settle_waits_for_the_background_and_switches_every_kernel_over(tmp_path):
    """A benchmark's steady state (``twins.settle``): after a cold first step, it returns once
    the background has compiled every signature that ran serially; every kernel that ran
    then runs its compiled form (the optimizer's parallel update rule among them: the
    background makes it with ``update.parallel_rule``), and the next step compiles nothing
    here."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    script = textwrap.dedent(
        """
        import numpy as np
        from numba.core import event
        from gradflow import nn
        from gradflow.jit import make_stepper
        from gradflow.kernels import twins, update
        update.PARALLEL_FROM = 1  # this small model's update rule compiled parallel=True
        from gradflow.optim.optimizers import Adam
        model = nn.Sequential(nn.Linear(6, 8, seed=1), nn.ReLU(), nn.Linear(8, 2, seed=2))
        opt = Adam(model.parameters(), lr=0.01)
        stepper = make_stepper(model, "cross_entropy", opt, threads=2)
        x, y = np.ones((4, 6)), np.array([0, 1, 0, 1])
        stepper.train_batch(x, y)
        rule = stepper.optimizer.rule
        assert isinstance(rule, twins.ParallelKernel) and rule.pending(), "the rule ran serially"
        pending = sum(len(k.pending()) for k in twins.KERNELS)
        settled = twins.settle()
        ran = [k for k in twins.KERNELS if k.serial.signatures]
        compiles = []
        class Count(event.Listener):
            def on_start(self, ev):
                compiles.append(ev)
            def on_end(self, ev):
                pass
        event.register("numba:compile", Count())
        stepper.train_batch(x, y)
        assert rule.ready and rule in ran
        print(pending, settled, all(k.ready for k in ran),
              sum(len(k.pending()) for k in twins.KERNELS), len(compiles))
        """
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), GRADFLOW_BACKGROUND_COMPILE="1")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    pending, settled, ready, left, compiles = done.stdout.split()
    assert int(pending) > 0, "the cold first step ran nothing serially"
    assert (settled, ready, left, compiles) == ("True", "True", "0", "0")


def test_a_large_buffer_updates_with_the_rule_twinned_with_its_serial_compile():
    """From ``PARALLEL_FROM`` entries an update rule is the pair (parallel compile, serial
    compile), made once per process, and the background process makes the same pair from
    the rule's name (``maker``); on a cold cache the first updates run the serial loop."""
    from gradflow.kernels import update
    from gradflow.optim import rules

    kernel = update.rule_for(rules.momentum, update.PARALLEL_FROM)
    assert isinstance(kernel, twins.ParallelKernel)
    # the same function as compile_rule's parallel compile, in a dispatcher of its own (the
    # twin closes it to compiling when it is ready, which must not close compile_rule's)
    shared = update.compile_rule(rules.momentum, parallel=True)
    assert kernel.parallel is not shared and kernel.parallel.py_func is shared.py_func
    assert kernel.parallel.targetoptions == shared.targetoptions
    assert kernel.serial is update.compile_rule(rules.momentum)
    assert update.rule_for(rules.momentum, update.PARALLEL_FROM + 5) is kernel
    module, name = kernel.maker
    import importlib

    remade = getattr(importlib.import_module(module), name)(
        getattr(importlib.import_module(kernel.__module__), kernel.__name__)
    )
    assert remade is kernel  # in a fresh process: the same two compiles
    p, g, v = (np.full(8, 1.5), np.linspace(-1, 1, 8), np.zeros(8))
    p2, v2 = p.copy(), v.copy()
    kernel.serial(p, g, v, 0.1, 0.9, 0.01)
    kernel.parallel(p2, g, v2, 0.1, 0.9, 0.01)
    np.testing.assert_array_equal(p, p2)
    np.testing.assert_array_equal(v, v2)


def test_the_update_rule_is_work_for_the_compile_helper_by_its_name():
    """A stepper arms the helper with the update rule as its first step calls it: the
    serial form (a twinned rule's too), with the argument types the step then compiles; the
    helper process makes the same dispatcher from the rule's module and name
    (``maker_of``)."""
    import importlib

    for size in (8, 1 << 18):  # a serial rule, and one twinned with its parallel compile
        model = nn.Sequential(nn.Linear(size // 8, 8, seed=1), nn.ReLU(), nn.Linear(8, 2, seed=2))
        stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01))
        [(rule, sig)] = stepper.optimizer.leaves()
        assert rule is getattr(stepper.optimizer.rule, "serial", stepper.optimizer.rule)
        module, name = helper.maker_of(rule)
        named = getattr(importlib.import_module(rule.py_func.__module__), rule.py_func.__name__)
        assert getattr(importlib.import_module(module), name)(named) is rule
        with twins.serial_only():
            stepper.train_batch(np.ones((4, size // 8)), np.array([0, 1, 0, 1]))
        assert sig in rule.overloads, "the step ran other types than the helper was given"


def test_without_a_disk_cache_there_are_no_twins(monkeypatch):
    monkeypatch.setattr(cachedir, "disk_cache_enabled", lambda: False)
    kernel = twins.parallel_kernel(error_model="numpy")(lambda a: a)
    assert not isinstance(kernel, twins.ParallelKernel)


def _first_calls(build, shape) -> list:
    """(composition twin, arguments) of the first call of each composition that one
    training step of the model makes from Python, run on the twins."""
    calls = []
    original = twins._CompositionTwin.__call__

    def spy(self, *args):
        if not any(twin is self for twin, _ in calls):
            calls.append((self, args))
        return original(self, *args)

    rng = np.random.default_rng(0)
    model = build()
    stepper = make_stepper(model, "cross_entropy", Adam(model.parameters(), lr=0.01),
                           threads=2)  # fmt: skip
    with twins.serial_only(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(twins._CompositionTwin, "__call__", spy)
        stepper.train_batch(rng.normal(size=shape), rng.integers(0, 3, shape[0]))
    return calls


@pytest.mark.parametrize(
    ("name", "build", "shape"), list(_models()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_dry_run_lists_the_leaf_calls_the_body_makes(name, build, shape, monkeypatch):
    """The compile helper compiles what the dry run lists before the body runs: the list
    must be the leaf kernels, with the argument types, that the body then calls, in order."""
    calls = _first_calls(build, shape)
    assert calls, "no composition ran"
    for twin, args in calls:
        dry = twin.dry_run(args)
        assert dry, f"{twin.py_func.__name__}: the dry run failed or found no leaf"
        assert all(isinstance(d, Dispatcher) for d, _ in dry)
        traced = []
        with monkeypatch.context() as mp:  # the real run, each leaf call recorded and made
            mp.setattr(twins, "_recorder", lambda d, out: lambda *a: (
                out.append((d, tuple(numba.typeof(v) for v in a))), d(*a))[1])  # fmt: skip
            twin._dry_body(traced)(*args)
        assert dry == traced, twin.py_func.__name__


def _kernels():
    """(name, kernel) of every numba kernel gradflow defines, twinned or plain."""
    import importlib
    import pkgutil

    import gradflow.kernels
    import gradflow.optim

    for package in (gradflow.kernels, gradflow.optim):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, value in vars(module).items():
                if isinstance(value, (Dispatcher, twins.ParallelKernel)):
                    if getattr(value.py_func, "__module__", None) == module.__name__:
                        yield f"{module.__name__}.{name}", value


def test_only_compositions_call_compositions_and_they_compute_nothing_themselves():
    """A kernel numba compiles in this process must not call a composition (its dispatcher
    may be closed to compiling once ready), and a composition's body must not compute on
    array elements: ``np.dot`` there would run numpy's BLAS in the twin and numba's in the
    kernel (they are different builds), so products go through ``dense.gemm``."""
    compositions = {id(k) for _, k in _kernels() if getattr(k, "composition", False)}
    assert len(compositions) >= 20
    for name, kernel in _kernels():
        code, names = kernel.py_func.__code__, kernel.py_func.__globals__
        called = [names.get(n) for n in code.co_names]
        if getattr(kernel, "composition", False):
            assert "dot" not in code.co_names, f"{name} calls np.dot: use gemm"
            assert not {"sum", "exp", "tanh", "maximum"} & set(code.co_names), name
        else:
            offenders = [n for n, v in zip(code.co_names, called) if id(v) in compositions]
            assert not offenders, f"{name} (not a composition) calls {offenders}"


@pytest.mark.slow
@pytest.mark.skipif(not helper.available(), reason="no compile helper (one core, or not POSIX)")
def test_a_cold_start_compiles_leaves_on_two_cores_and_trains_the_same(tmp_path):
    """Empty private caches: with the helper, part of the first step's leaf kernels are
    compiled by it and loaded here from the cache; the losses are bit-identical to a cold
    start without it (GRADFLOW_BACKGROUND_COMPILE=0: no helper, no twins' background).
    An MLP trains first, so its stepper starts the helper at once (the product is not
    cached); the CNN's stepper after it does not (the product is cached), and the helper
    starts for the first list of enough convolution leaves."""
    script = textwrap.dedent(
        """
        import json, numpy as np
        from gradflow import nn
        from gradflow.jit import make_stepper
        from gradflow.kernels import helper, twins
        from gradflow.optim.optimizers import Adam
        loaded, starts = [], []
        original, start = twins.load_cached, helper.start
        def spy(dispatcher, sig):
            found = original(dispatcher, sig)
            loaded.append(found)
            return found
        def spy_start():
            starts.append(helper.running())
            start()
        twins.load_cached, helper.start = spy, spy_start
        rng = np.random.default_rng(0)
        mlp = nn.Sequential(nn.Linear(6, 8, seed=1), nn.ReLU(), nn.Linear(8, 2, seed=2))
        adam = Adam(mlp.parameters(), lr=0.01)  # its rule is work for the helper too
        stepper = make_stepper(mlp, "cross_entropy", adam, threads=2)
        started = helper.running()
        losses = [float(stepper.train_batch(rng.normal(size=(4, 6)), rng.integers(0, 2, 4)))]
        cnn = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, seed=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(3, 4, 3, padding=1, seed=2), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(4 * 2 * 2, 8, seed=3), nn.ReLU(),
                            nn.Linear(8, 2, seed=4))
        stepper = make_stepper(cnn, "cross_entropy", threads=2)
        armed_only = helper.armed() and not helper.running()
        losses += [float(stepper.train_batch(rng.normal(size=(4, 1, 8, 8)),
                                             rng.integers(0, 2, 4))) for _ in range(3)]
        print(json.dumps({"started": started, "armed_only": armed_only, "starts": len(starts),
                          "jobs": helper._State.jobs, "loaded": sum(loaded),
                          "running": helper.running(), "losses": losses}))
        """
    )

    def run(name: str, background: str) -> dict:
        cache = tmp_path / name
        cache.mkdir(mode=0o700)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), GRADFLOW_BACKGROUND_COMPILE=background)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    with_helper, alone = run("helper", "1"), run("alone", "0")
    assert with_helper["started"] and with_helper["armed_only"] and with_helper["starts"] == 2
    assert with_helper["jobs"] >= 2
    assert with_helper["loaded"] >= 1, "nothing the helper compiled was loaded here"
    assert not with_helper["running"], "the helper outlived the first step"
    assert not alone["started"] and alone["starts"] == 0 and alone["loaded"] == 0
    assert with_helper["losses"] == alone["losses"]


_LAYOUTS = {
    "C": lambda a: a,
    "F": lambda a: np.asfortranarray(a),
    "strided": lambda a: a[..., ::2],
    "transposed": lambda a: a.T,
    "read-only": lambda a: _read_only(a),
}


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@given(
    st.lists(
        st.tuples(
            st.sampled_from([np.float32, np.float64, np.int64]),
            st.integers(1, 3),
            st.sampled_from(sorted(_LAYOUTS)),
            st.sampled_from([None, 3, 2.5, (1, 2)]),
        ),
        min_size=2,
        max_size=6,
    )
)
@settings(max_examples=60, deadline=None)
def test_a_twin_types_its_arguments_by_numbas_fingerprint(specs):
    """A composition twin looks its arguments up by numba's fingerprint instead of typing
    them (numba.typeof) at every call: equal fingerprints must mean equal numba types, and
    every distinct type must give a distinct fingerprint."""
    values = []
    for dtype, ndim, layout, extra in specs:
        a = _LAYOUTS[layout](np.zeros((4,) * ndim, dtype=dtype))
        values.append((a,) if extra is None else (a, extra))
    for x in values:
        for y in values:
            same_types = tuple(map(numba.typeof, x)) == tuple(map(numba.typeof, y))
            assert (twins._fingerprint(x) == twins._fingerprint(y)) == same_types, (x, y)
