"""Benchmark workloads W1–W7: the jitted backend (and the graph engine) against PyTorch eager,
NumPy by hand and micrograd, float32, 2 threads.

Each workload reports the median and 90th-percentile step time after warm-up, the first step
separately (that one includes numba compilation or loading from the cache; ``cold=True``
also measures it with an empty cache in a fresh process), the speed-up over PyTorch eager
(W5, W5m: over micrograd) and over NumPy by hand (``numpy_steps.py``) and the achieved
GFLOP/s as a fraction of the machine's matmul peak (numpy 2048×2048 float32). Run with
``gradflow bench`` or ``python benchmarks/bench.py``.

This harness is not part of the installed library: it lives beside the other benchmarks in
the repository, and ``gradflow bench`` finds it in the source checkout gradflow runs from
(or where ``GRADFLOW_BENCHMARKS`` points).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THREADS = 2
WARMUP = 3

#: speed-up floors over PyTorch eager (W5, W5m: over micrograd as users run it) from the issues
FLOORS = {
    "W1": 6.0, "W2": 1.2, "W3": 1.7, "W4": 1.25, "W4b": 4.0, "W4c": 2.75, "W5": 30.0,
    "W5m": 10.0, "W6": 1.7, "W7": 5.0,
}  # fmt: skip

#: the workloads with a NumPy-by-hand baseline (``numpy_steps.py``)
NUMPY_KEYS = ("W1", "W2", "W3", "W4", "W4b", "W4c")

_HERE = Path(__file__).resolve().parent


def _sibling(name: str):
    """``benchmarks/<name>.py`` beside this file, loaded by path once (this folder is not a
    package and not on ``sys.path``); None when the file is not there."""
    from gradflow.commands.bench import load_by_path

    path = _HERE / f"{name}.py"
    module_name = f"gradflow_bench_{name}"
    if module_name not in sys.modules and not path.is_file():
        return None
    return load_by_path(module_name, path)


def numpy_steps_module():
    """``numpy_steps.py``: the NumPy-by-hand training steps."""
    return _sibling("numpy_steps")


def set_threads(n: int = THREADS) -> None:
    """2 threads: numba's parallel kernels (NUMBA_NUM_THREADS) and torch. The BLAS calls made
    inside gradflow's kernels are small per-step products, for which one BLAS thread is
    faster than two (no hand-off); SciPy's BLAS is loaded after this, so the variable holds."""
    os.environ.setdefault("NUMBA_NUM_THREADS", str(n))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def matmul_peak_gflops(n: int = 2048, repeats: int = 3) -> float:
    """Best-of-``repeats`` GFLOP/s of one n×n float32 numpy matmul."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def _timed(fn: Callable) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@dataclass
class Timing:
    median_s: float
    first_s: float
    steps: int
    threads: int | None = None  # the jit backend's thread count at the end (see jit.threads)
    p90_s: float | None = None  # 90th percentile of the steps after the warm-up


def time_steps(
    step: Callable[[int], object],
    n_steps: int,
    warmup: int = WARMUP,
    after_first: Callable[[], object] | None = None,
) -> Timing:
    """Run ``step(k)`` for k < n_steps; median and 90th percentile of the steps after the
    warm-up. ``after_first`` runs, untimed, after the first step."""
    times = []
    for k in range(n_steps):
        times.append(_timed(lambda k=k: step(k)))
        if k == 0 and after_first is not None:
            after_first()
    rest = times[min(warmup, len(times) - 1) :]
    return Timing(float(np.median(rest)), times[0], n_steps, p90_s=float(np.percentile(rest, 90)))


# ------------------------------------------------------------------------------ data
def _standardize(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)


def data_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return _standardize(d.data).astype(np.float32), d.target.astype(np.int64)


def data_wide(n: int = 8192, d: int = 784, classes: int = 10):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal((d, classes)).astype(np.float32)
    return x, np.argmax(x @ w, axis=1).astype(np.int64)


def data_images(n: int = 4096):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((28 * 28, 10)).astype(np.float32)
    return x, np.argmax(x.reshape(n, -1) @ w, axis=1).astype(np.int64)


def data_sequences(n: int = 2048, t: int = 50, f: int = 16):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, t, f)).astype(np.float32)
    return x, (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)


# ------------------------------------------------------------------------------ specs
@dataclass
class Workload:
    key: str
    name: str
    data: Callable
    batch: int
    epochs: int
    optimizer: str  # "adam" or "momentum"
    lr: float
    flops_per_sample: float  # forward multiply-adds ×2; a training step is ~3× that


def data_course_images(n: int = 2048):
    """Random 3×32×32 images, 10 classes (the course's CIFAR-sized input)."""
    r = np.random.default_rng(6)
    return r.normal(size=(n, 3, 32, 32)).astype(np.float32), r.integers(0, 10, n)


def data_course_points(n: int = 4096):
    """3 features, 2 classes (the course's SmolMultilayerPerceptron)."""
    r = np.random.default_rng(7)
    x = r.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def course_classes(nn, F):
    """The course's two classes (seed 000, slides "Multilayer perceptron" and "Sieci
    splotowe"), the same code for PyTorch (``torch.nn``, ``torch.nn.functional``) and gradflow
    (``gradflow.nn``, ``gradflow.nn.functional``)."""

    class SmolMultilayerPerceptron(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(3, 5)
            self.fc2 = nn.Linear(5, 4)
            self.fc3 = nn.Linear(4, 2)

        def forward(self, x):
            x = F.sigmoid(self.fc1(x))
            x = F.sigmoid(self.fc2(x))
            return self.fc3(x)

    class OurCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 18, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(18, 32, 3)
            self.fc1 = nn.Linear(32 * 6 * 6, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 32 * 6 * 6)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    return {"W6": OurCNN, "W7": SmolMultilayerPerceptron}


def _mlp_flops(sizes):
    return 2.0 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


_LENET_FLOPS = 2.0 * (6 * 24 * 24 * 25 + 16 * 8 * 8 * 150) + _mlp_flops([256, 120, 84, 10])


_COURSE_CNN_FLOPS = 2.0 * (18 * 28 * 28 * 75 + 32 * 12 * 12 * 162) + _mlp_flops([1152, 120, 84, 10])


def _rnn_flops(gates, t=50, i=16, h=64):
    return 2.0 * t * gates * h * (i + h) + _mlp_flops([h, 2])


WORKLOADS = {
    "W1": Workload("W1", "mlp_digits", data_digits, 32, 5, "adam", 1e-3, _mlp_flops([64, 128, 64, 10])),  # noqa: E501
    "W2": Workload("W2", "mlp_wide", data_wide, 128, 2, "momentum", 0.05, _mlp_flops([784, 256, 128, 10])),  # noqa: E501
    "W3": Workload("W3", "cnn_lenet", data_images, 64, 1, "adam", 1e-3, _LENET_FLOPS),
    "W4": Workload("W4", "lstm_seq", data_sequences, 32, 1, "adam", 1e-3, _rnn_flops(4)),
    "W4b": Workload("W4b", "rnn_seq", data_sequences, 32, 1, "adam", 1e-3, _rnn_flops(1)),
    "W4c": Workload("W4c", "gru_seq", data_sequences, 32, 1, "adam", 1e-3, _rnn_flops(3)),
    "W6": Workload("W6", "course_cnn", data_course_images, 64, 2, "adam", 1e-3, _COURSE_CNN_FLOPS),
    "W7": Workload("W7", "course_mlp", data_course_points, 32, 2, "adam", 1e-3, _mlp_flops([3, 5, 4, 2])),  # noqa: E501
}  # fmt: skip


def gradflow_model(key: str):
    """The workload's model as gradflow layers in float32."""
    from gradflow.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
    from gradflow.nn.models import SequenceModel

    f32 = np.float32
    if key in ("W6", "W7"):
        from gradflow import nn
        from gradflow.nn import functional

        nn.manual_seed(0)
        return course_classes(nn, functional)[key]()

    def lin(a, b):
        return Linear(a, b, seed=a * 1000 + b, dtype=f32)

    if key == "W1":
        return Sequential(lin(64, 128), ReLU(), lin(128, 64), ReLU(), lin(64, 10))
    if key == "W2":
        return Sequential(lin(784, 256), ReLU(), lin(256, 128), ReLU(), lin(128, 10))
    if key == "W3":
        return Sequential(
            Conv2d(1, 6, 5, seed=1), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5, seed=2), ReLU(),
            MaxPool2d(2), Flatten(), lin(256, 120), ReLU(), lin(120, 84), ReLU(), lin(84, 10),
        )  # fmt: skip
    kind = {"W4": "lstm", "W4b": "rnn", "W4c": "gru"}[key]
    return SequenceModel(kind, 16, 64, 2, seed=0)


def gradflow_optimizer(w: Workload, params):
    from gradflow.optim.optimizers import Adam, MomentumVelocity

    if w.optimizer == "adam":
        return Adam(params, lr=w.lr)
    return MomentumVelocity(params, lr=w.lr, mu=0.9)  # v ← μv − αg: PyTorch's SGD momentum


def torch_model(key: str):
    import torch.nn as tnn

    if key in ("W6", "W7"):
        import torch.nn.functional as tF

        return course_classes(tnn, tF)[key]()
    if key == "W1":
        return tnn.Sequential(tnn.Linear(64, 128), tnn.ReLU(), tnn.Linear(128, 64), tnn.ReLU(),
                              tnn.Linear(64, 10))  # fmt: skip
    if key == "W2":
        return tnn.Sequential(tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 128), tnn.ReLU(),
                              tnn.Linear(128, 10))  # fmt: skip
    if key == "W3":
        return tnn.Sequential(
            tnn.Conv2d(1, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
            tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(256, 120), tnn.ReLU(),
            tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
        )  # fmt: skip
    layer = {"W4": tnn.LSTM, "W4b": tnn.RNN, "W4c": tnn.GRU}[key]

    class Seq(tnn.Module):
        def __init__(self):
            super().__init__()
            self.rec = layer(16, 64, batch_first=True)
            self.head = tnn.Linear(64, 2)

        def forward(self, x):
            out, _ = self.rec(x)
            return self.head(out[:, -1])

    return Seq()


# ------------------------------------------------------------------------------ runners
def _batches(n: int, batch: int, epochs: int, limit: int | None):
    order = np.random.default_rng(0)
    starts = []
    for _ in range(epochs):
        perm = order.permutation(n)
        starts.extend(perm[s : s + batch] for s in range(0, n - batch + 1, batch))
    return starts[:limit] if limit else starts


def run_gradflow(w: Workload, x, y, backend: str, limit: int | None) -> Timing:
    from gradflow.jit import make_stepper
    from gradflow.kernels import twins

    model = gradflow_model(w.key)
    opt = gradflow_optimizer(w, model.parameters())
    if backend == "jit":
        stepper = make_stepper(model, "cross_entropy", opt, dtype=np.float32)
        train = stepper.train_batch
    else:
        from gradflow.nn.losses import cross_entropy
        from gradflow.tensor import Tensor

        def train(xb, yb):
            opt.zero_grad()
            loss = cross_entropy(model(Tensor(xb)), yb)
            loss.backward()
            opt.step()
            return float(loss.data)

    idx = _batches(len(x), w.batch, w.epochs, limit)
    batches = [(np.ascontiguousarray(x[i]), y[i]) for i in idx]
    # the jit's steady state: kernels that ran as their serial twins (a cache holding only
    # leaf kernels, say after a cold start) are compiled first, not timed while compiling
    settle = twins.settle if backend == "jit" else None
    timing = time_steps(lambda k: train(*batches[k]), len(batches), after_first=settle)
    if backend == "jit":
        timing.threads = stepper.threads.current
    return timing


#: loads this file by path in a fresh interpreter, as `gradflow bench` does (not installed)
_LOAD_HARNESS = (
    "import importlib.util, json, sys; "
    f"spec = importlib.util.spec_from_file_location('gradflow_bench_harness', {__file__!r}); "
    "m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; "
    "spec.loader.exec_module(m); "
)


def _in_subprocess(
    what: str, code: str, env: dict | None = None, first: str = "", alone: bool = False
):
    """Run ``first``, then ``code`` after loading this harness as ``m``, in a fresh
    interpreter; the JSON it prints on its last line. ``alone``: in a session of its own,
    whose processes are ended with it — a cold start leaves gradflow's background compile
    running, which would otherwise slow the next workload's cold start down."""
    group = alone and hasattr(os, "killpg")
    with subprocess.Popen(
        [sys.executable, "-c", first + _LOAD_HARNESS + code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=group,
    ) as proc:
        stdout, stderr = proc.communicate()
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    run = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if run.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def run_torch(w: Workload, x, y, limit: int | None) -> Timing:
    """PyTorch eager in a fresh process on the same machine, so neither library's thread
    pool (both use OpenMP) runs while the other is being timed."""
    code = f"print(json.dumps(m.peer_in_this_process('torch', {w.key!r}, {limit!r})))"
    return Timing(*_in_subprocess(f"torch baseline for {w.key}", code))


def run_numpy(w: Workload, x, y, limit: int | None) -> Timing:
    """NumPy by hand in a fresh process whose BLAS may use up to ``THREADS`` threads (this
    process holds OpenBLAS at one thread for gradflow's in-kernel products); it runs on
    whichever of 1 and ``THREADS`` is faster (:func:`_faster_blas_threads`)."""
    code = f"print(json.dumps(m.peer_in_this_process('numpy', {w.key!r}, {limit!r})))"
    env = os.environ | {"OPENBLAS_NUM_THREADS": str(THREADS), "OMP_NUM_THREADS": str(THREADS)}
    return Timing(*_in_subprocess(f"NumPy baseline for {w.key}", code, env))


def peer_in_this_process(peer: str, key: str, limit: int | None) -> list:
    """The baseline side of :func:`run_torch` / :func:`run_numpy` (runs no numba kernel):
    the fields of its :class:`Timing`."""
    w = WORKLOADS[key]
    x, y = w.data()
    t = (_torch_timing if peer == "torch" else _numpy_timing)(w, x, y, limit)
    return [t.median_s, t.first_s, t.steps, t.threads, t.p90_s]


def _numpy_timing(w: Workload, x, y, limit: int | None) -> Timing:
    """``numpy_steps.py``'s step for the workload, from gradflow's initial weights, on the
    faster BLAS thread count."""
    from threadpoolctl import threadpool_limits

    idx = _batches(len(x), w.batch, w.epochs, limit)
    batches = [(np.ascontiguousarray(x[i]), y[i]) for i in idx]
    build = numpy_steps_module().STEPS[w.key]

    def make_step():
        return build(gradflow_model(w.key), w.optimizer, w.lr, batches)

    threads = _faster_blas_threads(make_step, len(batches))
    with threadpool_limits(threads, user_api="blas"):
        timing = time_steps(make_step(), len(batches))
    timing.threads = threads
    return timing


def _faster_blas_threads(make_step: Callable, n_batches: int, steps: int = 6) -> int:
    """1 or ``THREADS`` BLAS threads, whichever runs ``steps`` steps of a fresh ``make_step()``
    faster (median after the first; two turns each, untimed for the result). gradflow's jit
    backend chooses its thread count by measuring too, and a busy machine turns two BLAS
    threads into a loss of 5–10× (W3 by hand: 14 ms a step on one thread, 60–260 ms on two
    at load average 4–5)."""
    from threadpoolctl import threadpool_limits

    best: dict[int, float] = {}
    for n in (1, THREADS, 1, THREADS):
        with threadpool_limits(n, user_api="blas"):
            step = make_step()
            times = [_timed(lambda k=k: step(k % n_batches)) for k in range(steps)]
        best[n] = min(best.get(n, np.inf), float(np.median(times[1:])))
    return min(best, key=best.get)


def run_cold(key: str) -> dict:
    """The first jitted step of a fresh process with an empty numba cache (a private 0700
    temporary ``NUMBA_CACHE_DIR``, removed afterwards): ``import_s`` for importing gradflow's
    jit backend, ``first_step_s`` for building the model and stepper and running the first
    step (compiling every kernel it needs)."""
    first = (
        "import time; t0 = time.perf_counter(); import gradflow.jit, gradflow.nn; "
        "imported = time.perf_counter() - t0; "
    )
    code = f"print(json.dumps(m.cold_in_this_process({key!r}, imported)))"
    with tempfile.TemporaryDirectory(prefix="gradflow-bench-cold-") as cache:  # mode 0700
        os.chmod(cache, 0o700)  # (whatever the platform's default)
        env = os.environ | {"NUMBA_CACHE_DIR": cache}
        return _in_subprocess(f"cold start of {key}", code, env, first, alone=True)


def cold_in_this_process(key: str, import_s: float) -> dict:
    """The child side of :func:`run_cold` (the data is made before the clock starts)."""
    from gradflow.jit import make_stepper

    set_threads()
    w = WORKLOADS[key]
    x, y = w.data()
    i = _batches(len(x), w.batch, 1, 1)[0]
    xb, yb = np.ascontiguousarray(x[i]), y[i]
    t = time.perf_counter()
    model = gradflow_model(key)
    opt = gradflow_optimizer(w, model.parameters())
    stepper = make_stepper(model, "cross_entropy", opt, dtype=np.float32)
    float(stepper.train_batch(xb, yb))
    return {"import_s": import_s, "first_step_s": time.perf_counter() - t}


def _torch_timing(w: Workload, x, y, limit: int | None) -> Timing:
    import torch

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = torch_model(w.key)
    if w.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=w.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=w.lr, momentum=0.9)
    lossf = torch.nn.functional.cross_entropy
    idx = _batches(len(x), w.batch, w.epochs, limit)
    batches = [(torch.from_numpy(np.ascontiguousarray(x[i])), torch.from_numpy(y[i])) for i in idx]

    def step(k):
        xb, yb = batches[k]
        opt.zero_grad()
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        return float(loss)

    return time_steps(step, len(batches))


def scalar_moons_step(value_cls, mlp_cls, seed: int = 1337):
    """micrograd's demo: MLP(2, [16, 16, 1]) on 100 moons, SVM max-margin loss + L2, full
    batch, lr 1 − 0.9·k/100. Returns ``step(k)`` doing forward, backward and the update."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=100, noise=0.1, random_state=seed)
    y = y * 2 - 1
    model = mlp_cls(2, [16, 16, 1])

    def step(k):
        inputs = [[value_cls(float(a)) for a in row] for row in x]
        scores = [model(row) for row in inputs]
        losses = [(1 + -float(yi) * s).relu() for yi, s in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg = 1e-4 * sum(p * p for p in model.parameters())
        total = data_loss + reg
        model.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
        return total.data

    return step


def _micrograd():
    """micrograd's ``Value`` and ``MLP`` (None, None when it is not installed)."""
    try:
        from micrograd.engine import Value
        from micrograd.nn import MLP
    except ImportError:
        return None, None
    return Value, MLP


def run_w5(limit: int | None, rounds: int = 1) -> dict:
    """W5: gradflow's scalar engine and micrograd take ``rounds`` turns (see :func:`run`)."""
    from gradflow import MLP, Value

    n = min(limit or 20, 20)
    MValue, MMLP = _micrograd()

    def ours() -> Timing:
        return time_steps(scalar_moons_step(Value, MLP), n)

    def theirs() -> Timing:
        return time_steps(scalar_moons_step(MValue, MMLP), max(4, n // 4))

    peers = [("micrograd", theirs if MValue is not None else None)]
    return _compare(*_take_turns(ours, peers, rounds))


def _without_gc(fn: Callable[[], Timing]) -> Timing:
    """``fn()`` with Python's cyclic garbage collector off (then on again, and run once)."""
    gc.collect()
    gc.disable()
    try:
        return fn()
    finally:
        gc.enable()
        gc.collect()


def run_microcode(limit: int | None, rounds: int = 1) -> dict:
    """W5m: micrograd's own ``nn.py`` design (one ``Value`` per ``*`` and ``+``), written
    once in ``microcode.py`` as ``microcode_step(value_cls)``, run with gradflow's ``Value``
    and with micrograd's — with its cyclic collector on, as users run it, and off — in a
    fresh process of its own, as a student's script runs: what else a process holds decides
    what Python's cycle collector costs (with PyTorch imported, gradflow's step took 173 ms
    instead of 108)."""
    code = f"print(json.dumps(m.microcode_in_this_process({limit!r}, {rounds!r})))"
    return _in_subprocess("W5m microcode", code)


def microcode_in_this_process(limit: int | None, rounds: int = 1) -> dict:
    """The child side of :func:`run_microcode`: the row."""
    row = {"name": "microcode"}
    try:
        microcode = _sibling("microcode")
    except Exception as exc:  # a half-written file: say so in the row, run the rest
        microcode, why = None, f"benchmarks/microcode.py failed to load: {exc}"
    else:
        why = "benchmarks/microcode.py is not there"
    if microcode is None:
        return row | {"gradflow_ms": None, "speedup": None, "not_available": why}
    from gradflow import Value

    MValue, _ = _micrograd()
    n = 3 if limit else 6  # steps of 0.1–1.5 s each: one warm-up step

    def timed(value_cls) -> Callable[[], Timing]:
        return lambda: time_steps(microcode.microcode_step(value_cls), n, warmup=1)

    with_gc = timed(MValue) if MValue is not None else None
    without = (lambda: _without_gc(with_gc)) if MValue is not None else None
    peers = [("micrograd", with_gc), ("micrograd_nogc", without)]
    return row | _compare(*_take_turns(timed(Value), peers, rounds))


def _take_turns(ours: Callable[[], Timing], peers: list, rounds: int):
    """``rounds`` turns of ``ours()`` then each peer's ``(name, run)`` in order (``run`` None:
    that baseline is not installed). Returns gradflow's timings and ``{name: timings}``."""
    mine, other = [], {name: [] for name, _ in peers}
    for _ in range(rounds):
        mine.append(ours())
        for name, theirs in peers:
            if theirs is not None:
                other[name].append(theirs())
    return mine, other


def _ms(timings: list[Timing], field: str) -> float | None:
    """Median over the rounds of one field of the timings, in ms."""
    values = [getattr(t, field) for t in timings if getattr(t, field) is not None]
    return float(np.median(values)) * 1e3 if values else None


def _compare(mine: list[Timing], others: dict[str, list[Timing]]) -> dict:
    """gradflow's median of round medians (and of round p90s) and first step; for each
    baseline ``name`` its median of round medians (``<name>_ms``, ``<name>_p90_ms``), the
    speed-up over it and each round's own ratio. The first baseline's speed-up is
    ``speedup`` (the one the floors apply to), the others' ``<name>_speedup``."""
    ours_ms = _ms(mine, "median_s")
    row = {
        "gradflow_ms": ours_ms,
        "gradflow_p90_ms": _ms(mine, "p90_s"),
        # the first step in this process, whatever numba's cache holds (--cold replaces
        # first_step_s with the one measured in a fresh process with an empty cache)
        "first_step_s": mine[0].first_s,
        "first_step_cache": "as found",
        "warm_first_step_s": mine[0].first_s,
    }
    for n, (name, other) in enumerate(others.items()):
        prefix = "" if n == 0 else f"{name}_"
        if not other:
            row |= {f"{name}_ms": None, f"{prefix}speedup": None}
            continue
        theirs_ms = _ms(other, "median_s")
        if other[0].threads is not None:  # NumPy: the BLAS thread count chosen each round
            row[f"{name}_threads"] = [t.threads for t in other]
        row |= {
            f"{name}_ms": theirs_ms,
            f"{name}_p90_ms": _ms(other, "p90_s"),
            f"{prefix}speedup": theirs_ms / ours_ms,
            f"{prefix}round_speedups": [t.median_s / o.median_s for o, t in zip(mine, other)],
        }
    return row


def _have_torch() -> bool:
    """Whether PyTorch is installed, without importing it here: its ~150 000 objects would
    sit in this process, whose Python cycle collector the W5/W5m rows time."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


#: gradflow and PyTorch take turns this many times per workload (see :func:`run`)
ROUNDS = 3


def run(
    keys: list[str] | None = None,
    quick: bool = False,
    log=None,
    rounds: int = ROUNDS,
    cold: bool = False,
) -> dict:
    """Run the workloads ``keys`` (default all); ``quick`` caps the steps per workload and
    runs one round; ``cold`` also times each jit workload's first step in a fresh process
    with an empty numba cache (:func:`run_cold`: compiles every kernel, seconds each).

    Each workload runs ``rounds`` times, gradflow, PyTorch and NumPy in turn, and the
    reported times are the medians of the per-round medians. On a shared machine slow spells
    last seconds; taking turns spreads a spell over every side instead of charging it to
    whichever happened to run then.
    """
    set_threads()
    keys = keys or [*WORKLOADS, "W5", "W5m"]
    limit = 25 if quick else None
    rounds = 1 if quick else max(1, int(rounds))
    peak = matmul_peak_gflops()
    machine = machine_info(peak) | {"rounds": rounds, "load_average_start": os.getloadavg()}
    result = {"machine": machine, "workloads": {}}
    torch_ok = _have_torch()
    for key in keys:
        if log:
            log(f"running {key} ...")
        if key == "W5":
            row = run_w5(limit, rounds)
        elif key == "W5m":
            row = run_microcode(limit, rounds)
        else:
            row = _run_workload(key, limit, rounds, peak, torch_ok)
            if cold:
                cold_run = run_cold(key)
                row |= {"cold_import_s": cold_run["import_s"]}
                row |= {"first_step_s": cold_run["first_step_s"], "first_step_cache": "empty"}
        row["floor"] = FLOORS[key]
        row["meets_floor"] = None if row.get("speedup") is None else row["speedup"] >= FLOORS[key]
        result["workloads"][key] = row
    machine["load_average_end"] = os.getloadavg()
    return result


def _run_workload(key: str, limit: int | None, rounds: int, peak: float, torch_ok: bool) -> dict:
    w = WORKLOADS[key]
    x, y = w.data()
    peers = [("torch", (lambda: run_torch(w, x, y, limit)) if torch_ok else None)]
    if key in NUMPY_KEYS:
        peers.append(("numpy", lambda: run_numpy(w, x, y, limit)))
    mine, other = _take_turns(lambda: run_gradflow(w, x, y, "jit", limit), peers, rounds)
    row = {"name": w.name} | _compare(mine, other)
    gflops = 3.0 * w.flops_per_sample * w.batch / (row["gradflow_ms"] / 1e3) / 1e9
    row |= {"gflops": gflops, "peak_fraction": gflops / peak, "threads": mine[-1].threads}
    if key == "W1":
        graph = run_gradflow(w, x, y, "graph", min(limit or 60, 60))
        row["graph_ms"] = graph.median_s * 1e3
    return row


def machine_info(peak: float) -> dict:
    import numba

    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": THREADS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "peak_gflops": peak,
    }
    from importlib import metadata

    try:
        info["torch"] = metadata.version("torch")  # not imported here (see _have_torch)
    except metadata.PackageNotFoundError:
        info["torch"] = None
    return info


def markdown_table(result: dict) -> str:
    """The benchmark result as a Markdown table (times in ms: medians after warm-up, the
    90th percentile in brackets)."""
    lines = [
        "| workload | gradflow jit ms (p90) | first step s | cold: import + first step s "
        "| graph ms | baseline ms (p90) | speed-up | floor | NumPy ms (p90) | vs NumPy "
        "| GFLOP/s (% peak) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def f(v, fmt):
        return "–" if v is None else format(v, fmt)

    def ms(r, name):
        if r.get(f"{name}_ms") is None:
            return "–"
        return f"{r[f'{name}_ms']:.3f} ({f(r.get(f'{name}_p90_ms'), '.3f')})"

    notes = []
    for key, r in result["workloads"].items():
        base = "micrograd" if "micrograd_ms" in r else "torch"
        name = {"W5": "scalar_moons (vs micrograd)", "W5m": "microcode (vs micrograd)"}.get(
            key, r.get("name")
        )
        perf = f"{r['gflops']:.1f} ({100 * r['peak_fraction']:.0f} %)" if "gflops" in r else "–"
        ok = "" if r.get("meets_floor") in (None, True) else " ✗"
        cold = "–"
        if r.get("first_step_cache") == "empty":
            cold = f"{r['cold_import_s']:.2f} + {r['first_step_s']:.2f}"
        vs_numpy = f"{f(r.get('numpy_speedup'), '.2f')}×" if "numpy_ms" in r else "–"
        lines.append(
            f"| {key} {name} | {ms(r, 'gradflow')} | {f(r.get('warm_first_step_s'), '.2f')} "
            f"| {cold} | {f(r.get('graph_ms'), '.2f')} | {ms(r, base)} | "
            f"{f(r.get('speedup'), '.2f')}×{ok} | {r['floor']}× | {ms(r, 'numpy')} | "
            f"{vs_numpy} | {perf} |"
        )
        if r.get("not_available"):
            notes.append(f"{key}: not available ({r['not_available']}).")
        elif "micrograd_nogc_ms" in r and r["micrograd_nogc_ms"] is not None:
            notes.append(
                f"{key}: micrograd with its garbage collector off {ms(r, 'micrograd_nogc')} ms, "
                f"gradflow {r['micrograd_nogc_speedup']:.2f}× that."
            )
    m = result["machine"]
    lines.append("")
    lines.extend(notes)
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['threads']} threads; numpy {m['numpy']}, "
        f"numba {m['numba']}, torch {m.get('torch')}; matmul peak {m['peak_gflops']:.1f} GFLOP/s; "
        f"medians of {m.get('rounds', 1)} rounds."
    )
    if "load_average_start" in m:
        start, end = m["load_average_start"], m.get("load_average_end", m["load_average_start"])
        lines.append(f"Load average (1 min) {start[0]:.2f} at the start, {end[0]:.2f} at the end.")
    return "\n".join(lines)
