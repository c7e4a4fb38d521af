"""``gradflow demo``: the main job — everything gradflow is for, in one command.

1. The seed-002 worked example step by step, its graph (SVG) and the HTML step player.
2. A SymPy check of that example.
3. An MLP and a small CNN trained on the bundled 8×8 digits with the jitted backend, with
   held-out accuracy, samples per second, loss curves, confusion matrices and per-layer
   gradient histograms.
4. A list of every file written and what to open next.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from ..errors import UsageError
from .arguments import files_to_write, non_negative_int, output_folder

DEFAULT_DIR = "gradflow-demo"
MODELS = ("mlp", "cnn")
# every file the demo may write (seed002_graph.dot only if no SVG renderer is found)
FILES = (
    "seed002_graph.svg", "seed002_graph.dot", "seed002_player.html", "seed002_symbolic.txt",
    *(f"{m}_{kind}.png" for m in MODELS for kind in ("curves", "confusion", "gradients")),
)  # fmt: skip


class OutFolderNotEmptyError(UsageError, FileExistsError):
    """``--out`` names a folder with files in it and ``--force`` was not given; a
    ``FileExistsError`` as well, as it was before it became a :class:`UsageError`."""


def register(sub) -> None:
    p = sub.add_parser("demo", help="the tour: backprop step by step, graphs, fast training")
    p.add_argument(
        "--out",
        default=None,
        help=f"folder for the files (default: a new ./{DEFAULT_DIR}[-N])",
    )
    p.add_argument("--force", action="store_true", help="write into an existing --out folder")
    p.add_argument(
        "--backend", choices=["jit", "graph"], default="jit", help="training backend (default: jit)"
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def output_dir(out: str | Path | None, force: bool) -> Path:
    """A fresh folder: ``out`` if it is new or empty (or ``force``), else an error.

    Without ``out``, the first of ./gradflow-demo, ./gradflow-demo-2, ... that does not exist,
    so earlier results are never overwritten. Checked before any work: ``out`` must be a
    folder this user can write in, or a new name in one (only that last level is made);
    with ``force``, each file the demo writes must be absent or a regular file.
    """
    if out is None:
        base = Path.cwd() / DEFAULT_DIR
        out, k = base, 1
        while os.path.lexists(out):
            k += 1
            out = base.with_name(f"{DEFAULT_DIR}-{k}")
    out = output_folder(out, "--out")
    if out.exists():
        if any(out.iterdir()) and not force:
            raise OutFolderNotEmptyError(
                f"--out {out} exists and is not empty; pass --force to write into it or "
                "choose another --out"
            )
        files_to_write(out, FILES, "--out", force=True)
    out.mkdir(exist_ok=True)
    return out


def _heading(text: str) -> None:
    print(f"\n{'═' * 78}\n{text}\n{'═' * 78}")


def backprop_tour(out: Path) -> tuple[list[tuple[Path, str]], bool]:
    """Parts 1 and 2: print the worked example, render it, check it with SymPy."""
    from ..examples import seed002_network
    from ..steps import backward_steps, forward_steps
    from ..symbolic import check_symbolic
    from ..visual import render_graph, write_player

    nodes = seed002_network()
    loss = nodes["L"]
    _heading("1. Backprop step by step — seed 002, slides 6-8")
    print("y11 = max(20x − 10, 0), y12 = max(40x − 200, 0), y21 = max(y11 − y12, 0),")
    print("L = (ytrue − y21)², at x = 4, ytrue = 75\n")
    print("Forward pass")
    print(forward_steps(loss).table(), "\n")
    print("Backward pass: local derivative × upstream gradient = contribution")
    print(backward_steps(loss).table(), "\n")
    loss.backward()
    names = ("w111", "b11", "w121", "b12", "w211", "w212", "b21")
    print(", ".join(f"∂L/∂{k} = {nodes[k].grad:g}" for k in names))
    print(f"SGD update with γ = 0.001: Δw211 = −γ ∂L/∂w211 = {-0.001 * nodes['w211'].grad:g}")
    files = [
        (render_graph(loss, out / "seed002_graph.svg", show_local=True),
         "the seed-002 graph with values, gradients and local derivatives"),
        (write_player(loss, out / "seed002_player.html", lr=0.001),
         "step-by-step backprop player (open in a browser; arrow keys step)"),
    ]  # fmt: skip

    _heading("2. Symbolic check with SymPy")
    report = check_symbolic(loss)
    print(report)  # per parameter: the derivative at this point, SymPy, engine, agree
    print("verdict:", "every derivative matches the engine" if report.ok else "MISMATCH")
    (out / "seed002_symbolic.txt").write_text(str(report) + "\n")
    files.append((out / "seed002_symbolic.txt", "every derivative: SymPy's formula and value"))
    return files, report.ok


def _train_args(model_name: str, backend: str, seed: int, quiet: bool):
    """The arguments of ``gradflow train --model NAME --dataset digits`` as the demo runs it."""
    from ..cli import build_parser

    argv = ["train", "--model", model_name, "--dataset", "digits", "--backend", backend,
            "--seed", str(seed)] + (["--quiet"] if quiet else [])  # fmt: skip
    return build_parser().parse_args(argv)


def train_digits(model_name: str, out: Path, backend: str, seed: int, quiet: bool):
    """Part 3 for one model: ``gradflow train --model NAME --dataset digits``, then pictures."""
    from .train import run_training

    with _compiles(backend == "jit") as compiled:
        report, exp = run_training(_train_args(model_name, backend, seed, quiet))
    final, config = report["final"], report["config"]
    print(
        f"\n{model_name.upper()}: {config['parameters']:,} parameters, "
        f"{config['split']['train']} training images, {config['epochs']} epochs"
    )
    # the first epoch includes compiling (or loading cached) kernels; quote the steady state
    seconds = [row["seconds"] for row in report["history"]]
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    speed = config["split"]["train"] / steady
    first = f"first epoch {seconds[0]:.1f} s"
    if compiled is not None:
        first += ", compiling kernels once" if compiled else ", kernels from the cache"
    print(
        f"held-out test accuracy {100 * final['test_accuracy']:.2f} %   "
        f"({speed:,.0f} samples/s; {first})"
    )
    grads = _layer_gradients(exp.model, exp, seed)
    from ..visual import plots  # matplotlib: after training (see _font_list_meanwhile)

    files = [
        (plots.plot_history(report["history"], out / f"{model_name}_curves.png",
                            title=f"{model_name.upper()} on the 8×8 digits, {exp.loss} loss"),
         f"{model_name.upper()} loss and accuracy, train vs validation"),
        (plots.plot_confusion_matrix(final["confusion_matrix"], [str(k) for k in range(10)],
                                     out / f"{model_name}_confusion.png"),
         f"{model_name.upper()} confusion matrix on the held-out test set"),
        (plots.plot_grad_histograms(grads, out / f"{model_name}_gradients.png"),
         f"{model_name.upper()} per-layer gradient histogram (dead or saturated layers?)"),
    ]  # fmt: skip
    return files, final["test_accuracy"], speed


def _font_list_meanwhile() -> None:
    """The first time matplotlib draws text for a user, it lists the machine's fonts (about
    a second here) and keeps the list in its cache folder. If the list is not there, a
    process of its own makes it while the demo works through the backprop example and
    trains the MLP, so the first figure finds it ready instead of making it then. Nothing
    is started if matplotlib's cache folder is a temporary one (its configuration folder is
    not writable: every process would list the fonts again)."""
    import subprocess
    import sys
    import tempfile

    import matplotlib  # its configuration only: no fonts yet

    cache = Path(matplotlib.get_cachedir())
    temporary = cache.name.startswith("matplotlib-") and cache.parent == Path(tempfile.gettempdir())
    if temporary or any(cache.glob("fontlist-v*.json")):
        return
    try:  # -I: nothing from the working folder; matplotlib writes only its cache
        subprocess.Popen(
            [sys.executable, "-I", "-c", "import matplotlib.font_manager"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:  # no process to be had: the first figure lists the fonts itself
        pass


class _Ahead:
    proc = None  # the compile-ahead process (kept so that it is not reaped as garbage)


def _cnn_kernels_meanwhile(seed: int) -> None:
    """On a cold cache the CNN's kernels were most of the demo's wait: its first epoch
    compiled them (2 s of the 10) after the MLP's. A process of its own now compiles them
    into numba's disk cache from the start, on the core the backprop example leaves free
    and at the MLP's side, so the CNN finds them there (its first epoch: 0.3 s). It makes
    the CNN the demo trains and runs one training step and one evaluation on it, compiling
    only leaf kernels (:func:`gradflow.kernels.twins.leaves_only`): the same kernels, by
    the same numba, that this process would compile. Nothing is started where the compile
    helper could not be (:func:`gradflow.kernels.helper.available`: one core, no disk
    cache, ``NUMBA_DISABLE_JIT``, ``GRADFLOW_BACKGROUND_COMPILE=0``) or when the cache
    already holds the convolution's kernels."""
    from ..kernels import helper

    if not helper.available():
        return
    from ..kernels.conv import _row_sum  # the bias gradient of every convolution

    if helper.cache_has(_row_sum) is not False:
        return
    try:  # the work goes down a pipe from this process; the process reads no file
        proc = helper.spawn(__name__, "_compile_cnn_kernels")
        proc.stdin.write(f"{seed}\n".encode())
        proc.stdin.close()
    except OSError:  # no process to be had: the CNN compiles its kernels itself
        return
    _Ahead.proc = proc


def _compile_cnn_kernels() -> None:
    """The compile-ahead process (see :func:`_cnn_kernels_meanwhile`): the seed from stdin."""
    import sys

    from ..kernels import twins
    from ..optim import make_optimizer
    from ..training.backends import make_stepper
    from ..training.recipes import prepare

    args = _train_args("cnn", "jit", int(sys.stdin.read()), quiet=True)
    twins.leaves_only()
    exp = prepare(args.model, args.dataset, args.seed)
    optimizer = make_optimizer(args.optimizer, exp.model.parameters(), lr=exp.defaults["lr"])
    stepper = make_stepper(exp.model, exp.loss, optimizer, backend="jit")
    (X, y), n = exp.train, exp.defaults["batch_size"]
    stepper.train_batch(X[:n], y[:n])
    stepper.forward(X[:n], training=False)


class _compiles:
    """Counts numba's compiles in this process inside the block (a kernel loaded from the
    disk cache is not one): ``as`` gives a list that is non-empty if any ran, or None when
    numba does not compile here (the graph backend, ``NUMBA_DISABLE_JIT``)."""

    def __init__(self, jit: bool):
        self.jit = jit
        self.listener = None

    def __enter__(self):
        from numba.core import config, event

        if not self.jit or config.DISABLE_JIT:
            return None
        self.seen: list[str] = []
        seen = self.seen

        class Listener(event.Listener):
            def on_start(self, ev):
                seen.append(ev.kind)

            def on_end(self, ev):
                pass

        self.listener = Listener()
        event.register("numba:compile", self.listener)
        return seen

    def __exit__(self, *exc):
        if self.listener is not None:
            from numba.core import event

            event.unregister("numba:compile", self.listener)
        return False


def _layer_gradients(model, exp, seed: int):
    """One graph-engine backward pass on a training batch of the trained model — the same
    model object the jitted backend just trained — grouped by layer."""
    import numpy as np

    from ..nn import losses
    from ..tensor import Tensor
    from ..visual import plots

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(exp.train[1]), size=min(256, len(exp.train[1])), replace=False)
    model.zero_grad()
    loss = losses.LOSSES[exp.loss](model(Tensor(exp.train[0][idx])), exp.train[1][idx])
    loss.backward()
    return plots.layer_grads(model)


def run(args) -> int:
    started = time.perf_counter()
    out = output_dir(args.out, args.force)  # bad --out: exit code 2 before any work
    _font_list_meanwhile()
    if args.backend == "jit":
        _cnn_kernels_meanwhile(args.seed)
    files, symbolic_ok = backprop_tour(out)

    _heading(f"3. Training on the 8×8 digits ({args.backend} backend)")
    accuracies = {}
    for name in MODELS:
        written, accuracies[name], _ = train_digits(name, out, args.backend, args.seed, args.quiet)
        files.extend(written)

    _heading("4. What the demo wrote")
    for path, what in files:
        print(f"  {path.name:<24} {what}")
    print(f"\nall in {out}   ({time.perf_counter() - started:.0f} s in total)")
    print("\nNext: open seed002_player.html in a browser; try `gradflow exercise list` and")
    print("`gradflow exercise quiz seed002_network`; the tutorials are in docs/*.ipynb.")
    return 0 if symbolic_ok else 1
