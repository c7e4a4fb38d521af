"""Pick a numba cache directory that is always writable, before any kernel is compiled.

numba caches compiled kernels next to their source (``__pycache__``) or in a user-wide
directory. When gradflow is installed read-only (a system site-packages, a container image)
and ``HOME`` is not writable either, every ``@njit(cache=True)`` fails *at import time*
("no locator available"). We therefore choose a directory ourselves when the package
directory is not writable and the user has not set ``NUMBA_CACHE_DIR``: the user cache dir
(``$XDG_CACHE_HOME`` or ``~/.cache``) if writable, else a per-user temp directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _writable(directory: Path) -> bool:
    """True when we can create (and remove) a file in ``directory``, creating it if needed."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
        return True
    except OSError:
        return False


def _candidates() -> list[Path]:
    out = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        out.append(Path(xdg) / "gradflow" / "numba")
    try:
        out.append(Path.home() / ".cache" / "gradflow" / "numba")
    except RuntimeError:  # no home directory at all
        pass
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    out.append(Path(tempfile.gettempdir()) / f"gradflow-numba-{uid}")
    return out


def choose_cache_dir(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The directory to cache kernels in, or None when numba's default (in-tree) works."""
    if _writable(package_dir / "kernels" / "__pycache__"):
        return None
    for candidate in _candidates():
        if _writable(candidate):
            return candidate
    return None


def ensure_cache_dir() -> str | None:
    """Set ``NUMBA_CACHE_DIR`` unless the user did; returns the directory in use (or None)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    chosen = choose_cache_dir()
    if chosen is None:
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(chosen)
    import sys

    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba was imported before us: its config already read the env
        config.CACHE_DIR = str(chosen)
    return str(chosen)
