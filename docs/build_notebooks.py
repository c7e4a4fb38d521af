"""Build the tutorial notebooks ``docs/NN_*.ipynb`` from their sources ``docs/src/NN_*.py``.

Each source is a plain Python file in the "percent" format: ``# %%`` starts a code cell,
``# %% [markdown]`` a Markdown cell whose lines are comments (``# `` is stripped). Keeping
the text in ``.py`` files means ruff formats and lints it and diffs stay readable; the
``.ipynb`` files are what ships, executed, with their outputs, so they read well on GitHub.

    python docs/build_notebooks.py            # build and execute every notebook
    python docs/build_notebooks.py 01 03      # only the ones whose name starts with 01 or 03

Notebooks run in a temporary directory, so the files they write (SVGs, the HTML player)
do not litter the repository. ``tests/test_notebooks.py`` checks that each shipped notebook
matches its source and executes without error.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

DOCS = Path(__file__).resolve().parent
SOURCES = DOCS / "src"
CELL_MARK = re.compile(r"^# %%(?P<markdown> \[markdown\])?\s*$")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
CELL_TIMEOUT = 180  # seconds per cell; the whole notebook should take well under a minute


def parse_cells(text: str) -> list[tuple[str, str]]:
    """``(kind, source)`` pairs of a percent-format file, kind being "code" or "markdown"."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        mark = CELL_MARK.match(line)
        if mark:
            cells.append(("markdown" if mark["markdown"] else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"code before the first '# %%' marker: {line!r}")
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [_uncomment(line) for line in lines]
        source = "\n".join(lines).strip("\n")
        if source:
            out.append((kind, source))
    return out


def _uncomment(line: str) -> str:
    if line in ("#", ""):
        return ""
    if not line.startswith("# "):
        raise ValueError(f"a markdown cell line must start with '# ': {line!r}")
    return line[2:]


def notebook_from_source(path: Path) -> nbformat.NotebookNode:
    """A fresh (unexecuted) notebook from one source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in parse_cells(path.read_text(encoding="utf-8")):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source))
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = CELL_TIMEOUT) -> None:
    """Run every cell in order in a python3 kernel started in ``cwd`` (raises on error).

    The kernel inherits this process's environment. Unless told otherwise it runs numba
    single-threaded: the tutorials' batches are tiny, and on a busy 2-core machine numba's
    worker threads fight other processes for the cores and make the jit backend many times
    slower than one thread.
    """
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        coalesce_streams=True,  # one output block per cell, however the prints were flushed
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()


def _stable(nb: nbformat.NotebookNode) -> None:
    """Drop per-run noise so a rebuild only changes what really changed: numbered cell ids,
    no execution metadata, and no ``text/plain`` beside a picture (it holds a memory address,
    e.g. ``<visual.graph.Drawing at 0x7f...>``, and nobody reads it under the image)."""
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{k:02d}"
        cell.get("metadata", {}).pop("execution", None)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if {"image/png", "image/svg+xml"} & set(data):
                data.pop("text/plain", None)


def build(path: Path) -> Path:
    """Execute the notebook built from ``path`` and save it, with outputs, next to docs/."""
    nb = notebook_from_source(path)
    with tempfile.TemporaryDirectory(prefix="gradflow-nb-") as tmp:
        execute(nb, Path(tmp))
    _stable(nb)
    target = DOCS / f"{path.stem}.ipynb"
    nbformat.write(nb, target)
    return target


def main(argv: list[str]) -> int:
    sources = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if argv:
        sources = [s for s in sources if any(s.stem.startswith(a) for a in argv)]
    if not sources:
        print(f"no notebook sources match {argv} in {SOURCES}", file=sys.stderr)
        return 1
    for src in sources:
        start = time.perf_counter()
        target = build(src)
        print(f"{target.relative_to(DOCS.parent)}  ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
