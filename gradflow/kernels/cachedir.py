"""Where numba caches gradflow's compiled kernels: only in a directory nobody else can write.

numba keeps compiled kernels on disk as pickles (an ``.nbi`` index and ``.nbc`` data files
per kernel) and unpickles them on the next run, so whoever can write into the cache
directory runs code as whoever loads from it. A directory is therefore used only when it is
**trusted** (:func:`directory_problem` returns None):

- it is a real directory, not a symlink (opened with ``O_NOFOLLOW | O_DIRECTORY`` and checked
  through the open descriptor), owned by the current user and not writable by group or
  others, and a file can be created in it;
- every directory above it is owned by root or the current user and is either not writable by
  group/others or sticky (``/tmp``: others may add names there but cannot rename or remove
  ours), and every symlink on the way is owned by root or the user — so nobody else can swap
  a component between this check and numba's use of the path.

Missing directories are created by us with mode 0700 (and checked afterwards, whatever the
umask). The candidates, first trusted one wins:

1. ``NUMBA_CACHE_DIR`` set by the user: an explicit choice, so it is honoured — created if
   missing — but never replaced by another directory behind the user's back. If it is not
   trusted (someone else's, writable by others, a symlink), it is refused: the disk cache is
   switched off with one :class:`CacheWarning` saying why. This is what pip does with a
   cache directory owned by someone else ("the cache has been disabled") and, like OpenSSH's
   ``StrictModes``, a group-writable directory counts as unsafe too: a shared cache would let
   every member of the group run code as every other member.
2. numba's default, the ``__pycache__`` next to the sources (``kernels/`` and ``optim/``, whose
   update rules are compiled too) when both are trusted — then nothing is set.
3. ``$XDG_CACHE_HOME/gradflow/numba``, else ``~/.cache/gradflow/numba``.
4. ``$TMPDIR/gradflow-numba-<uid>`` (the tmp dir of :func:`tempfile.gettempdir`): made with
   ``mkdir(0o700)``, which fails when the name exists; an existing one is used only when it is
   ours, a real directory and not writable by others (then made 0700). A name taken by
   someone else is not worked around with a fresh ``mkdtemp`` directory: no later process would
   find it again, and numba keeps compiled kernels in memory for the process anyway.
5. None of them: gradflow's kernels are compiled without the disk cache (:func:`njit` passes
   ``cache=False``; numba would otherwise stop at import with "no locator available"),
   slower on every start but correct, and one :class:`CacheWarning` names the rejected
   directories.

Kernels use :func:`njit` from here instead of ``numba.njit``; it reads the decision, which is
made once per process when :mod:`gradflow.kernels` is imported (:func:`ensure_cache_dir`).
It also checks the directory numba itself ends up with, should that differ from ours: numba
reads ``.numba_config.yaml`` from the working directory (when PyYAML is installed), so a
file planted in a shared directory one runs gradflow from could name a cache directory too.
Without POSIX ownership (Windows) only writability is checked, as before.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

from ..errors import GradflowWarning

PACKAGE_DIR = Path(__file__).resolve().parent.parent

#: the packages whose functions gradflow compiles with ``cache=True`` (numba's in-tree cache
#: goes to their ``__pycache__``): the kernels and the optimizer rules
IN_TREE = ("kernels", "optim")

_POSIX = hasattr(os, "geteuid")
_MAX_SYMLINKS = 40


class CacheWarning(GradflowWarning):
    """numba's disk cache is off for gradflow's kernels (no trusted directory for it)."""


# the decision of ensure_cache_dir: None until made, then True (disk cache on) or False
_disk_cache: bool | None = None
_chosen: str | None = None


def _uid() -> int:
    return os.geteuid()


def _writers(mode: int) -> str:
    return " and ".join(w for bit, w in ((0o020, "group"), (0o002, "others")) if mode & bit)


def _trusted_owner(st: os.stat_result) -> bool:
    return st.st_uid in (0, _uid())


def _ancestor_problem(path: str, create: bool) -> tuple[str, str | None]:
    """Check every directory above ``path`` (an absolute, normalised path), following symlinks.

    Returns the path with the parents' symlinks resolved and a problem (or None). With
    ``create``, missing parents are made with mode 0700.
    """
    parts = [p for p in path.split(os.sep) if p]
    leaf = parts.pop() if parts else ""
    current, hops = os.sep, 0
    st = os.lstat(current)
    while True:
        if not stat.S_ISDIR(st.st_mode):
            return path, f"{current} is not a directory"
        if not _trusted_owner(st):
            return path, f"{current} is owned by uid {st.st_uid}, not by you or root"
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return path, f"{current} is writable by {_writers(st.st_mode)}"
        if not parts:
            return os.path.join(current, leaf), None
        name = parts.pop(0)
        if name in (".", ".."):  # from a symlink's target; current is a resolved directory
            current = os.path.dirname(current) if name == ".." else current
            st = os.lstat(current)
            continue
        nxt = os.path.join(current, name)
        try:
            st = os.lstat(nxt)
        except FileNotFoundError:
            if not create:
                return path, f"{nxt} does not exist"
            _make_private(nxt)
            st = os.lstat(nxt)
        if stat.S_ISLNK(st.st_mode):
            if not _trusted_owner(st):
                return path, f"{nxt} is a symlink owned by uid {st.st_uid}"
            hops += 1
            if hops > _MAX_SYMLINKS:
                return path, f"{nxt}: too many levels of symlinks"
            target = os.readlink(nxt)  # not normalised: "a/../b" means what the kernel says
            parts = [p for p in target.split(os.sep) if p] + parts
            if os.path.isabs(target):
                current = os.sep
            st = os.lstat(current)
            continue
        current = nxt


def _make_private(path: str) -> None:
    """``mkdir(path, 0o700)``; the mode is set again on the new directory, since a umask such
    as 0o277 leaves it 0o500. A name that exists already is left for the caller's checks."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def directory_problem(directory: str | os.PathLike, *, create: bool = True) -> str | None:
    """None when ``directory`` is trusted for a cache (see the module), else why not.

    With ``create``, a missing directory (and missing parents) is made with mode 0700.
    """
    path = os.path.abspath(os.fspath(directory))
    if not _POSIX:
        return _writability_problem(path, create)
    try:
        path, problem = _ancestor_problem(path, create)
        if problem:
            return problem
        if create:
            _make_private(path)
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except OSError as e:
            if os.path.islink(path):
                return f"{path} is a symlink"
            return f"{path}: {e.strerror}"
        try:
            st = os.fstat(fd)
            if st.st_uid != _uid():
                return f"{path} is owned by uid {st.st_uid}, not by you (uid {_uid()})"
            if st.st_mode & 0o022:
                return f"{path} is writable by {_writers(st.st_mode)}"
        finally:
            os.close(fd)
    except OSError as e:
        return f"{e.filename or path}: {e.strerror}"
    return _writability_problem(path, create=False)


def _writability_problem(path: str, create: bool) -> str | None:
    try:
        if create:
            os.makedirs(path, mode=0o700, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()  # what numba's locator tries too
    except OSError as e:
        return f"{path}: cannot write there ({e.strerror})"
    return None


def _private_temp_dir(directory: Path) -> str | None:
    """Like :func:`directory_problem` for the shared temp dir: also made exactly 0700."""
    problem = directory_problem(directory)
    if problem is None and _POSIX:
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchmod(fd, 0o700)  # ours already (checked); nobody else needs to read it
            finally:
                os.close(fd)
        except OSError as e:
            return f"{directory}: {e.strerror}"
    return problem


def _candidates() -> list[Path]:
    out = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative path is invalid and ignored
        out.append(Path(xdg) / "gradflow" / "numba")
    try:
        out.append(Path.home() / ".cache" / "gradflow" / "numba")
    except RuntimeError:  # no home directory at all
        pass
    return out


def temp_cache_dir() -> Path:
    """The fixed per-user name in the temp dir (last resort before no disk cache)."""
    uid = _uid() if _POSIX else "user"
    return Path(tempfile.gettempdir()) / f"gradflow-numba-{uid}"


class NoTrustedDirectory(Exception):
    """No candidate directory is trusted; ``reasons`` says why for each."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def choose_cache_dir(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The directory to cache kernels in, or None when numba's in-tree default is trusted.

    Raises :class:`NoTrustedDirectory` when no candidate is.
    """
    in_tree = [directory_problem(package_dir / name / "__pycache__") for name in IN_TREE]
    if not any(in_tree):
        return None
    rejected = [p for p in in_tree if p]
    for candidate in _candidates():
        problem = directory_problem(candidate)
        if problem is None:
            return candidate
        rejected.append(problem)
    try:
        temp = temp_cache_dir()
    except OSError as e:  # no usable temp directory at all
        rejected.append(f"no temp directory: {e}")
    else:
        problem = _private_temp_dir(temp)
        if problem is None:
            return temp
        rejected.append(problem)
    raise NoTrustedDirectory(rejected)


def _cache_off(reasons: list[str]) -> None:
    global _disk_cache, _chosen
    _disk_cache, _chosen = False, None
    warnings.warn(
        "numba's disk cache is off for gradflow's kernels (they compile on every start; it "
        "needs a directory you own that nobody else can write): " + "; ".join(reasons),
        CacheWarning,
        stacklevel=3,
    )


def _use(directory: str) -> None:
    os.environ["NUMBA_CACHE_DIR"] = directory
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba was imported before us: its config already read the env
        config.CACHE_DIR = directory


def ensure_cache_dir(package_dir: Path = PACKAGE_DIR) -> str | None:
    """Decide (once per process) where gradflow's kernels are cached; see the module.

    Returns the directory set as ``NUMBA_CACHE_DIR``, or None when numba's in-tree default is
    used or the disk cache is off (:func:`disk_cache_enabled` tells the two apart).
    """
    global _disk_cache, _chosen
    if _disk_cache is not None:
        return _chosen
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        problem = directory_problem(user)
        if problem:
            _cache_off([f"NUMBA_CACHE_DIR refused: {problem}"])
            return None
        _disk_cache, _chosen = True, os.path.abspath(user)
        _use(_chosen)
        return _chosen
    try:
        chosen = choose_cache_dir(package_dir)
    except NoTrustedDirectory as e:
        _cache_off(e.reasons)
        return None
    _disk_cache = True
    if chosen is not None:
        _chosen = str(chosen)
        _use(_chosen)
    return _chosen


def disk_cache_enabled() -> bool:
    """Whether gradflow's kernels are cached on disk in this process."""
    if _disk_cache is None:
        ensure_cache_dir()
    return bool(_disk_cache)


def _numba_dir_trusted() -> bool:
    """numba's own idea of the cache directory, checked too: besides ``NUMBA_CACHE_DIR`` it
    reads ``.numba_config.yaml`` in the working directory (with PyYAML installed), and code
    may set ``numba.core.config.CACHE_DIR``. A directory we did not check is checked here."""
    from numba.core import config

    effective = config.CACHE_DIR
    if not effective or os.path.abspath(effective) == _chosen:
        return True
    if effective not in _checked:
        _checked[effective] = directory_problem(effective)
        if _checked[effective]:
            _cache_off([f"numba's cache directory refused: {_checked[effective]}"])
    return _checked[effective] is None


_checked: dict[str, str | None] = {}


def njit(*args, **options):
    """``numba.njit`` for gradflow's kernels: ``cache=True`` only while a trusted directory
    is in use (with no such directory numba would fail at import: "no locator available").

    A cached kernel's key also holds the op table's fingerprint
    (:func:`gradflow.kernels.fingerprint.fingerprint`): kernels inline the table's forms,
    which live in other files than the kernel, and numba checks a cached kernel against its
    own file only."""
    import numba

    if options.get("cache") and not (disk_cache_enabled() and _numba_dir_trusted()):
        options["cache"] = False
    if not options.get("cache"):
        return numba.njit(*args, **options)
    if args:  # njit(fn, cache=True)
        return _keyed_by_op_table(numba.njit(*args, **options))
    decorate = numba.njit(**options)
    return lambda fn: _keyed_by_op_table(decorate(fn))


def _keyed_by_op_table(dispatcher):
    """``dispatcher`` whose disk-cache key also holds the op table's fingerprint, whether or
    not :mod:`~gradflow.kernels.opforms` has been imported yet (when it registered the part
    on import, a rule compiled before that import got a second entry of the same signature
    and compiled twice)."""
    from .fingerprint import fingerprint

    cache = getattr(dispatcher, "_cache", None)
    index_key = getattr(cache, "_index_key", None)  # numba's; left alone should it change
    if index_key is not None:

        def keyed(sig, codegen):
            return (*index_key(sig, codegen), fingerprint())

        cache._index_key = keyed
    return dispatcher
