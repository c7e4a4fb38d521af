"""numba unpickles its cache files, so gradflow caches kernels only where nobody else can write
(issue 11, item 1): unit tests of each rejection, then the attack end to end — an index file
planted where gradflow used to cache must be neither loaded nor break training. The tests
with a second user need root (CI runs as root) and skip elsewhere."""

from __future__ import annotations

import os
import pickle
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from gradflow.kernels import cachedir

ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes")

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
print("CACHE", k.CACHE_DIR, k.cachedir.disk_cache_enabled())
"""


class WriteMarker:
    """Unpickling this creates ``path``: what an attacker's planted cache file would run."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def _train(env: dict, cwd: Path, prefix: list[str] | None = None, **kwargs):
    return subprocess.run(
        [*(prefix or []), sys.executable, "-c", TRAIN_ONE_STEP],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def _cache_line(run) -> list[str]:
    return run.stdout.split("CACHE", 1)[1].split()


def _poison(cache: Path, marker: Path) -> list[Path]:
    """Replace every index file under ``cache`` by a pickle that creates ``marker``."""
    indexes = sorted(cache.rglob("*.nbi"))
    assert indexes, f"no numba index files in {cache}"
    for index in indexes:
        index.write_bytes(pickle.dumps(WriteMarker(marker)))
    return indexes


def _snapshot(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in tree.rglob("*") if p.is_file()}


@pytest.fixture
def fresh_decision(monkeypatch):
    """Let a test decide the cache directory again, restoring the process's decision after."""
    monkeypatch.setattr(cachedir, "_disk_cache", None)
    monkeypatch.setattr(cachedir, "_chosen", None)
    monkeypatch.setattr(cachedir, "_checked", {})
    monkeypatch.setenv("NUMBA_CACHE_DIR", "")  # recorded, so the test's value is undone
    import numba.core.config as config

    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)


# ------------------------------------------------------------------ what counts as trusted


def test_own_private_directory_is_trusted(tmp_path):
    own = tmp_path / "own"
    own.mkdir(mode=0o755)
    assert cachedir.directory_problem(own) is None


@pytest.mark.parametrize(
    "mode, who", [(0o777, "group and others"), (0o757, "others"), (0o775, "group")]
)
def test_directory_writable_by_others_is_refused(tmp_path, mode, who):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    assert cachedir.directory_problem(shared) == f"{shared} is writable by {who}"


def test_symlink_is_refused_even_to_a_trusted_directory(tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert cachedir.directory_problem(tmp_path / "link") == f"{tmp_path / 'link'} is a symlink"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert cachedir.directory_problem(tmp_path / "dangling") is not None
    assert not (tmp_path / "nowhere").exists()  # nothing created through the link


def test_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    assert "Not a directory" in cachedir.directory_problem(tmp_path / "f")


def test_directory_of_another_user_is_refused(tmp_path, monkeypatch):
    """Simulated: the process claims another uid, so the test's own directory is foreign."""
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    me = os.geteuid()
    monkeypatch.setattr(cachedir, "_uid", lambda: me + 4242)
    assert cachedir.directory_problem(theirs) == (
        f"{theirs} is owned by uid {me}, not by you (uid {me + 4242})"
    )


def test_directory_chowned_to_another_user_is_refused(tmp_path):
    if not IS_ROOT:
        pytest.skip("chown to another uid needs root (simulated in the test above)")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    assert cachedir.directory_problem(theirs) == (
        f"{theirs} is owned by uid 65534, not by you (uid 0)"
    )


def test_parent_writable_by_others_is_refused_unless_sticky(tmp_path):
    """In a world-writable directory anyone can rename ours and put theirs in its place;
    the sticky bit (as on /tmp) forbids that."""
    parent = tmp_path / "parent"
    (parent / "cache").mkdir(parents=True, mode=0o700)
    parent.chmod(0o777)
    assert (
        cachedir.directory_problem(parent / "cache") == f"{parent} is writable by group and others"
    )
    parent.chmod(0o1777)
    assert cachedir.directory_problem(parent / "cache") is None


def test_symlinked_parent_is_followed_and_checked(tmp_path):
    (tmp_path / "real" / "cache").mkdir(parents=True, mode=0o700)
    (tmp_path / "alias").symlink_to("real")  # relative, as ~/.cache often is
    assert cachedir.directory_problem(tmp_path / "alias" / "cache") is None
    (tmp_path / "real").chmod(0o777)  # the target is checked, not only the link
    assert cachedir.directory_problem(tmp_path / "alias" / "cache") == (
        f"{tmp_path / 'real'} is writable by group and others"
    )
    (tmp_path / "real").chmod(0o755)
    # ".." in a link's target is taken from where the link points, as the kernel does:
    # lnk/x is other/x (writable by all), not real/x (what "real/sub/.." would read as text)
    (tmp_path / "real" / "x").mkdir(mode=0o700)
    (tmp_path / "other" / "deep").mkdir(parents=True)
    (tmp_path / "other" / "x").mkdir()
    (tmp_path / "other" / "x").chmod(0o777)
    (tmp_path / "real" / "sub").symlink_to("../other/deep")
    (tmp_path / "lnk").symlink_to("real/sub/..")
    assert cachedir.directory_problem(tmp_path / "lnk" / "x") == (
        f"{tmp_path / 'other' / 'x'} is writable by group and others"
    )
    if IS_ROOT:  # a link owned by someone else could be pointed elsewhere later
        os.lchown(tmp_path / "alias", 65534, 65534)
        assert cachedir.directory_problem(tmp_path / "alias" / "cache") == (
            f"{tmp_path / 'alias'} is a symlink owned by uid 65534"
        )


def test_missing_directories_are_created_private_whatever_the_umask(tmp_path):
    for umask in (0o000, 0o277):
        target = tmp_path / f"u{umask:o}" / "a" / "b"
        old = os.umask(umask)
        try:
            assert cachedir.directory_problem(target) is None
        finally:
            os.umask(old)
        for made in (target, target.parent, target.parent.parent):
            assert stat.S_IMODE(made.stat().st_mode) == 0o700, (umask, made)


def test_nothing_is_created_below_an_untrusted_parent(tmp_path):
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)
    assert (
        cachedir.directory_problem(parent / "x" / "y")
        == f"{parent} is writable by group and others"
    )
    assert not (parent / "x").exists()


# ------------------------------------------------------------------ the temp-dir fallback


@pytest.fixture
def only_temp(monkeypatch, tmp_path):
    """No trusted in-tree or home cache, and a sticky world-writable temp dir like /tmp."""
    package = tmp_path / "package"
    for name in cachedir.IN_TREE:
        (package / name).mkdir(parents=True)
        (package / name / "__pycache__").write_text("not a directory")
    (tmp_path / "blocker").write_text("a file, so no home cache below it")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "blocker" / "home"))
    temp = tmp_path / "tmp"
    temp.mkdir()
    temp.chmod(0o1777)
    monkeypatch.setattr(cachedir.tempfile, "tempdir", str(temp))
    return package, temp / f"gradflow-numba-{os.geteuid()}"


def test_temp_fallback_is_made_0700(only_temp):
    package, fixed = only_temp
    old = os.umask(0)
    try:
        assert cachedir.choose_cache_dir(package) == fixed
    finally:
        os.umask(old)
    assert stat.S_IMODE(fixed.stat().st_mode) == 0o700


def test_own_existing_temp_dir_is_reused_and_made_0700(only_temp):
    package, fixed = only_temp
    fixed.mkdir(mode=0o755)
    (fixed / "kept").write_text("an earlier run's cache")
    assert cachedir.choose_cache_dir(package) == fixed
    assert stat.S_IMODE(fixed.stat().st_mode) == 0o700
    assert (fixed / "kept").exists()


@pytest.mark.parametrize("plant", ["mode 777", "symlink", "someone else's"])
def test_planted_temp_dir_is_refused_and_cache_goes_off(only_temp, monkeypatch, plant):
    package, fixed = only_temp
    if plant == "mode 777":
        fixed.mkdir()
        fixed.chmod(0o777)
        why = f"{fixed} is writable by group and others"
    elif plant == "symlink":
        (fixed.parent / "elsewhere").mkdir(mode=0o700)
        fixed.symlink_to(fixed.parent / "elsewhere")
        why = f"{fixed} is a symlink"
    else:
        fixed.mkdir(mode=0o755)
        me = os.geteuid()
        monkeypatch.setattr(cachedir, "_uid", lambda: me + 4242)
        fixed = fixed.parent / f"gradflow-numba-{me + 4242}"  # the name for that uid
        fixed.mkdir(mode=0o755)
        why = f"{fixed} is owned by uid {me}, not by you (uid {me + 4242})"
    with pytest.raises(cachedir.NoTrustedDirectory) as refused:
        cachedir.choose_cache_dir(package)
    assert refused.value.reasons[-1] == why
    assert len(refused.value.reasons) == len(cachedir.IN_TREE) + 2  # in-tree, home, temp


def test_no_trusted_directory_turns_the_disk_cache_off_once(only_temp, fresh_decision):
    package, fixed = only_temp
    fixed.mkdir()
    fixed.chmod(0o777)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert cachedir.ensure_cache_dir(package) is None
    assert not cachedir.disk_cache_enabled()
    [warning] = [w for w in caught if issubclass(w.category, cachedir.CacheWarning)]
    assert "disk cache is off" in str(warning.message)
    assert f"{fixed} is writable by group and others" in str(warning.message)

    def add(a, b):
        return a + b

    kernel = cachedir.njit(cache=True)(add)
    assert kernel(1, 2) == 3
    assert type(kernel._cache).__name__ == "NullCache"  # numba's "no disk cache"
    assert not any(fixed.iterdir())


# ------------------------------------------------------------------ NUMBA_CACHE_DIR


def test_user_cache_dir_is_honoured_and_created_private(tmp_path, monkeypatch, fresh_decision):
    chosen = tmp_path / "somewhere" / "chosen"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(chosen))
    assert cachedir.ensure_cache_dir() == str(chosen)
    assert cachedir.disk_cache_enabled()
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o700


def test_untrusted_user_cache_dir_is_refused_not_replaced(tmp_path, monkeypatch, fresh_decision):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(shared))
    with pytest.warns(cachedir.CacheWarning) as caught:
        assert cachedir.ensure_cache_dir() is None
    assert len(caught) == 1
    assert f"NUMBA_CACHE_DIR refused: {shared} is writable by group and others" in str(
        caught[0].message
    )
    assert not cachedir.disk_cache_enabled()


def test_cache_dir_set_in_numba_config_is_checked_too(tmp_path, fresh_decision):
    """numba also takes its directory from ``.numba_config.yaml`` in the working directory;
    whatever set it, a directory gradflow did not choose is checked before use."""
    import numba.core.config as config

    assert cachedir.ensure_cache_dir() is None  # the checkout's in-tree cache is trusted
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    config.CACHE_DIR = str(shared)

    def add(a, b):
        return a + b

    with pytest.warns(cachedir.CacheWarning, match=f"{shared} is writable by group and others"):
        kernel = cachedir.njit(cache=True)(add)
    assert kernel(1, 2) == 3
    assert not any(shared.iterdir())


# ------------------------------------------------------------------ the attack, end to end


@pytest.fixture(scope="module")
def planted_cache(tmp_path_factory):
    """A real numba cache of the one-step training (this checkout), every index poisoned."""
    base = tmp_path_factory.mktemp("planted")
    run = _train(_clean_env(NUMBA_CACHE_DIR=str(base / "cache")), base)
    assert run.returncode == 0, run.stderr[-3000:]
    _poison(base / "cache", base / "MARKER-NOT-USED")
    return base / "cache"


def _copy_with_marker(planted: Path, to: Path, marker: Path) -> None:
    shutil.copytree(planted, to)
    _poison(to, marker)


@pytest.mark.slow
def test_planted_numba_cache_dir_is_not_loaded(planted_cache, tmp_path):
    """NUMBA_CACHE_DIR names a directory anyone may write, holding an index planted for the
    very kernels the run compiles. The old code let numba unpickle it (the marker appeared);
    now the directory is refused with one warning, and training still works."""
    marker = tmp_path / "pwned"
    shared = tmp_path / "shared"
    _copy_with_marker(planted_cache, shared, marker)
    # control: trusted (private), the same plant is loaded — so the test can see an attack
    shared.chmod(0o700)
    control = _train(_clean_env(NUMBA_CACHE_DIR=str(shared)), tmp_path)
    assert control.returncode == 0, control.stderr[-3000:]
    assert marker.exists(), "numba did not read the planted index: the test proves nothing"
    marker.unlink()

    _copy_with_marker(planted_cache, tmp_path / "shared2", marker)
    for d in [tmp_path / "shared2", *(tmp_path / "shared2").rglob("*")]:
        if d.is_dir():
            d.chmod(0o777)
    before = _snapshot(tmp_path / "shared2")
    run = _train(_clean_env(NUMBA_CACHE_DIR=str(tmp_path / "shared2")), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not marker.exists()
    assert _cache_line(run) == ["None", "False"]
    assert run.stderr.count("CacheWarning") == 1, run.stderr
    assert f"{tmp_path / 'shared2'} is writable by group and others" in run.stderr
    assert _snapshot(tmp_path / "shared2") == before


# ---- as another user (root only)

VICTIM, ATTACKER = "gradflow-victim", "gradflow-attacker"


@pytest.fixture(scope="module")
def users():
    """The victim and the attacker: system users without a home, removed again after if
    this test made them."""
    if not IS_ROOT:
        pytest.skip("needs root to create a second user (CI runs as root)")
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd (Debian: apt-get install passwd)")
    made = []
    for name in (VICTIM, ATTACKER):
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                check=True,
                capture_output=True,
            )
            made.append(name)
    yield pwd.getpwnam(VICTIM), pwd.getpwnam(ATTACKER)
    for name in made:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture(scope="module")
def victim_site(users):
    """A world-readable, read-only copy of gradflow in a fresh directory under /tmp, a sticky
    world-writable temp dir (like /tmp) for the victim, an unwritable HOME, and the prefix
    that runs a command as the victim with this checkout's venv python."""
    victim, _ = users
    base = Path(tempfile.mkdtemp(prefix="gradflow-victim-test-", dir="/tmp"))
    try:
        base.chmod(0o755)
        site = base / "site"
        shutil.copytree(
            ROOT / "gradflow", site / "gradflow", ignore=shutil.ignore_patterns("__pycache__")
        )
        for path in [site, *site.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        (base / "blocker").write_text("a file, so no home cache below it")
        prefix = _victim_prefix(victim, base)
        yield base, site, prefix
    finally:
        for path in [base, *base.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o700)
        shutil.rmtree(base)


def _victim_prefix(victim: pwd.struct_passwd, base: Path) -> list[str]:
    """Run as the victim. The venv's python may live below a home only root can enter
    (/root/.pyenv here): then the victim gets CAP_DAC_READ_SEARCH, which lets it read and
    traverse anything but write nothing it could not write before — what the test is about."""
    probe = [sys.executable, "-c", "import numba, numpy, threadpoolctl"]
    ids = [f"--reuid={victim.pw_uid}", f"--regid={victim.pw_gid}", "--clear-groups"]
    plain = ["setpriv", *ids, "--"]
    caps = ["setpriv", *ids, "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    caps.append("--")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (Debian: util-linux) to run as the victim")
    tried = []
    for prefix in (plain, caps):
        run = subprocess.run([*prefix, *probe], capture_output=True, text=True, cwd=base)
        if run.returncode == 0:
            return prefix
        tried.append(run.stderr.strip().splitlines()[-1:] or ["?"])
    pytest.skip(f"needs {sys.executable} and its packages readable by a second user: {tried}")


@pytest.fixture(scope="module")
def victim_cache(victim_site):
    """A real numba cache of the one-step training for the victim's copy of gradflow."""
    base, site, _ = victim_site
    fresh = base / "fresh"
    run = _train(_clean_env(PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(fresh)), base)
    assert run.returncode == 0, run.stderr[-3000:]
    return fresh


@pytest.mark.slow
@pytest.mark.parametrize("mode", [0o777, 0o755])
def test_temp_dir_planted_by_another_user(users, victim_site, victim_cache, mode):
    """The attack of issue 11: a read-only install, an unwritable HOME, and another user has
    made ``<tmp>/gradflow-numba-<victim uid>`` first, holding an index for the victim's
    kernels. Mode 777: the old code used it and numba ran the attacker's pickle as the victim.
    Mode 755: the old code could not write there and every run failed with "cannot cache
    function …: no locator available". Now: refused, one warning, training works."""
    victim, attacker = users
    base, site, prefix = victim_site
    temp = base / f"tmp{mode:o}"
    temp.mkdir()
    temp.chmod(0o1777)
    marker = temp / "pwned"
    planted = temp / f"gradflow-numba-{victim.pw_uid}"
    _copy_with_marker(victim_cache, planted, marker)
    for path in [planted, *planted.rglob("*")]:
        os.chown(path, attacker.pw_uid, attacker.pw_gid)
        path.chmod(mode if path.is_dir() else 0o644)
    before = _snapshot(planted)
    env = _clean_env(PYTHONPATH=str(site), HOME=str(base / "blocker" / "home"), TMPDIR=str(temp))
    run = _train(env, base, prefix)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "no locator available" not in run.stderr
    assert not marker.exists(), "the attacker's pickle ran as the victim"
    assert _cache_line(run) == ["None", "False"]
    assert run.stderr.count("CacheWarning") == 1, run.stderr
    owner = f"{planted} is owned by uid {attacker.pw_uid}, not by you (uid {victim.pw_uid})"
    assert owner in run.stderr
    assert _snapshot(planted) == before

    # control: the same plant owned by the victim and private is trusted and loaded, so the
    # assertions above would have seen the attack
    shutil.rmtree(planted)
    _copy_with_marker(victim_cache, planted, marker)
    for path in [planted, *planted.rglob("*")]:
        os.chown(path, victim.pw_uid, victim.pw_gid)
    planted.chmod(0o700)
    control = _train(env, base, prefix)
    assert control.returncode == 0, control.stderr[-3000:]
    assert _cache_line(control) == [str(planted), "True"]
    assert marker.exists(), "numba did not read the planted index: the test proves nothing"


@pytest.mark.slow
def test_victim_without_a_plant_gets_a_private_temp_cache(users, victim_site):
    victim, _ = users
    base, site, prefix = victim_site
    temp = base / "tmp-clean"
    temp.mkdir()
    temp.chmod(0o1777)
    env = _clean_env(PYTHONPATH=str(site), HOME=str(base / "blocker" / "home"), TMPDIR=str(temp))
    run = _train(env, base, prefix)
    assert run.returncode == 0, run.stderr[-3000:]
    made = temp / f"gradflow-numba-{victim.pw_uid}"
    assert _cache_line(run) == [str(made), "True"]
    st = made.lstat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (victim.pw_uid, 0o700)
    assert any(made.rglob("*.nbi"))
    assert "CacheWarning" not in run.stderr
