"""numba's cache must never break an import: a read-only package directory with an
unwritable home falls back to a temp dir (which directories are trusted at all:
tests/test_cache_security.py). Also runs the kernel tests with numba switched off
(``NUMBA_DISABLE_JIT=1``), so coverage sees the kernels' Python source."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gradflow.kernels import cachedir

ROOT = Path(__file__).resolve().parent.parent

TRAIN_ONE_STEP = """
import numpy as np
from gradflow.jit import make_stepper
from gradflow.nn import models
from gradflow.optim.optimizers import Adam
import gradflow.kernels as k
m = models.mlp([3, 4, 2], seed=0)
s = make_stepper(m, "cross_entropy", Adam(m.parameters(), lr=0.1))
loss = s.train_batch(np.ones((2, 3)), np.array([0, 1]))
assert np.isfinite(loss)
print("CACHE", k.CACHE_DIR)
"""

# the same guarantee at the cost of one small kernel (the quick loop): it imports, compiles
# with cache=True and writes its cache entry into the fallback directory
COMPILE_ONE_KERNEL = """
import gradflow.kernels as k
from gradflow.kernels.activation import relu
assert relu(-1.5) == 0.0 and relu(2.0) == 2.0
print("CACHE", k.CACHE_DIR)
"""


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env.update(extra)
    return env


def _read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(COMPILE_ONE_KERNEL, id="one-kernel"),
        # compiles every kernel of a training step from nothing (~10 s): CI only
        pytest.param(TRAIN_ONE_STEP, id="train", marks=pytest.mark.slow),
    ],
)
def test_read_only_package_and_unwritable_home_still_import_and_train(tmp_path, script):
    """Without the guard numba raises "no locator available" at import. File modes make the
    copies read-only; since root ignores modes, every ``__pycache__`` is also a plain file and
    HOME lies below a file, so no directory can be created there even by root."""
    site = tmp_path / "site"
    shutil.copytree(
        ROOT / "gradflow", site / "gradflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    for package in [site / "gradflow", *(site / "gradflow").rglob("*")]:
        if package.is_dir():
            (package / "__pycache__").write_text("not a directory")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing can be created below it")
    home = blocker / "home"
    temp = tmp_path / "tmp"
    temp.mkdir()
    _read_only(site)
    try:
        env = _clean_env(PYTHONPATH=str(site), HOME=str(home), TMPDIR=str(temp))
        run = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        used = run.stdout.split("CACHE", 1)[1].strip()
        assert used.startswith(str(temp)), used
        assert any(Path(used).rglob("*.nbi")), "kernels were cached in the fallback directory"
    finally:
        for path in [site, *site.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_choose_cache_dir_order(monkeypatch, tmp_path):
    """Package dir trusted: numba's default. Else the XDG/home cache, else the temp dir, else
    no directory at all (the disk cache goes off, see tests/test_cache_security.py)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cachedir.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert cachedir.choose_cache_dir(tmp_path / "pkg") is None
    assert (tmp_path / "pkg" / "kernels" / "__pycache__").is_dir()
    read_only = tmp_path / "ro"
    for name in cachedir.IN_TREE:
        (read_only / name).mkdir(parents=True)
        (read_only / name / "__pycache__").write_text("a file, not a directory")
    xdg = tmp_path / "xdg" / "gradflow" / "numba"
    assert cachedir.choose_cache_dir(read_only) == xdg
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "blocker"))
    (tmp_path / "blocker").write_text("a file")
    assert cachedir.choose_cache_dir(read_only) == tmp_path / "home/.cache/gradflow/numba"
    monkeypatch.setenv("HOME", str(tmp_path / "blocker" / "home"))
    temp = cachedir.choose_cache_dir(read_only)
    assert temp == tmp_path / "tmp" / f"gradflow-numba-{os.geteuid()}"
    for made in (xdg, xdg.parent, tmp_path / "home/.cache", temp):  # created private
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


@pytest.mark.slow  # a second run of six test files (~10 s): CI only
def test_kernels_without_jit():
    """The layer, training, thread and update-rule tests (small shapes, few examples) with numba's
    compiler switched off: kernels and rules run as the Python loops they are written as."""
    env = _clean_env(NUMBA_DISABLE_JIT="1", HYPOTHESIS_PROFILE="dev")
    tests = ROOT / "tests"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "--hypothesis-seed=0",
            str(tests / "test_jit_layers.py"),
            str(tests / "test_jit_training.py"),
            str(tests / "test_jit_slope_layers.py"),
            str(tests / "test_jit_threads.py"),
            str(tests / "test_optim_rules.py"),
            str(tests / "test_optim.py"),
            "-k",
            "not fit_with",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def test_every_cached_kernel_key_holds_the_op_table_fingerprint_from_the_start():
    """The fingerprint is in a kernel's disk-cache key even when the kernel is made before
    kernels.opforms is imported (it used to join the key only on that import, so a rule
    compiled early was cached twice under one signature)."""
    script = (
        "import sys\n"
        "from gradflow.kernels import cachedir, update\n"
        "from gradflow.optim import rules\n"
        "assert 'gradflow.kernels.opforms' not in sys.modules\n"
        "from gradflow.kernels.fingerprint import fingerprint\n"
        "kernel = update.compile_rule(rules.sgd)\n"
        "if not cachedir.disk_cache_enabled():\n"
        "    print('no disk cache'); raise SystemExit(0)\n"
        "before = kernel._cache._index_key((), kernel.targetctx.codegen())\n"
        "import gradflow.kernels.opforms\n"
        "after = kernel._cache._index_key((), kernel.targetctx.codegen())\n"
        "assert before == after and before[-1] == fingerprint(), (before, after)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip() in ("ok", "no disk cache")
