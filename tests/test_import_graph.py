"""No import cycles among gradflow's modules (issue 17), so they stay gone.

The graph is read from the source with ``ast`` (nothing is imported): every module of every
package listed in ``pyproject.toml`` (``gradflow.visual`` and ``gradflow.exercises``
included, from the folders ``package-dir`` maps them to). An edge ``a -> b`` is an
import in ``a`` that runs ``b``: ``import b``, ``from b import name``, ``from pkg import b``
for a submodule ``b``, and the ``__init__`` of each package ``b`` lies in (unless ``a`` lies
in it too: that one is already running when ``a`` runs). Imports under ``if TYPE_CHECKING:``
never run and do not count.

Imports at module level and imports inside functions are counted separately:

* module level: no cycle at all (a cycle there breaks, or works only by import order);
* module level and functions together: the packages form layers (``LAYERS``: the core
  graph engine and its text, then models/optimizers/training/jit, then pictures and
  exercises, then the command line), and no import — not even one inside a function — goes
  from a lower layer up to a higher one (``gradflow.display`` reaching into
  ``gradflow.exercises`` was one). Inside one layer a function-level import may close a
  circle: that is how rich displays work (``Value._repr_html_`` imports ``display``, which
  formats values), and it costs nothing at import time. A cycle listed in ``KNOWN_CYCLES``
  (with the issue that removes it) is tolerated at module level and function level alike,
  and the test fails when the cycle is gone so the entry goes too.
"""

from __future__ import annotations

import ast
import pkgutil
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Known module-level cycles, each with the issue that removes it (none today).
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def modules(packages: list[str], package_dir: dict[str, str]) -> dict[str, Path]:
    """Every module of ``packages`` (dotted name -> file), in the folders setuptools installs
    them from (``package_dir``, else the dotted name as a path). Nothing is imported, so a
    module that fails to import (someone's work in progress) does not hide the graph."""
    found: dict[str, Path] = {}
    for package in packages:
        folder = ROOT / package_dir.get(package, package.replace(".", "/"))
        found[package] = folder / "__init__.py"
        for info in pkgutil.iter_modules([str(folder)]):
            if not info.ispkg:
                found[f"{package}.{info.name}"] = folder / f"{info.name}.py"
    return found


def _targets(importer: str, node: ast.Import | ast.ImportFrom, known: dict[str, Path]):
    """The modules of ``known`` that ``node`` (in module ``importer``) names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                yield name
        return
    if node.level:
        is_package = known[importer].name == "__init__.py"
        parts = (importer if is_package else importer.rpartition(".")[0]).split(".")
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            yield sub
        elif base in known:
            yield base


def _with_packages(importer: str, target: str):
    """``target`` and the packages it lies in, except those ``importer`` lies in too."""
    own = {importer.rsplit(".", k)[0] for k in range(importer.count(".") + 1)}
    for k in range(target.count(".") + 1):
        name = target.rsplit(".", k)[0]
        if name != importer and name not in own:
            yield name


def import_edges(known: dict[str, Path]) -> dict[str, dict[str, set[tuple[str, int]]]]:
    """``{"module": {a: {(b, line), ...}}, "function": {...}}``: who imports whom, and where."""
    edges: dict[str, dict[str, set[tuple[str, int]]]] = {"module": {}, "function": {}}

    def visit(name: str, node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(name, child, True)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(name, other, in_function)
            elif isinstance(child, ast.Import | ast.ImportFrom):
                kind = "function" if in_function else "module"
                for target in _targets(name, child, known):
                    for t in _with_packages(name, target):
                        edges[kind].setdefault(name, set()).add((t, child.lineno))
            else:
                visit(name, child, in_function)

    for name, path in known.items():
        visit(name, ast.parse(path.read_text(encoding="utf-8")), False)
    return edges


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _graph(edges, kinds: tuple[str, ...]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for kind in kinds:
        for a, targets in edges[kind].items():
            graph.setdefault(a, set()).update(t for t, _ in targets)
    return graph


def _describe(component: frozenset[str], edges) -> str:
    lines = [" <-> ".join(sorted(component))]
    for kind in ("module", "function"):
        for a in sorted(component):
            for t, line in sorted(edges[kind].get(a, ())):
                if t in component:
                    lines.append(f"  {a}:{line} imports {t} ({kind} level)")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def gradflow_edges():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    known = modules(setuptools["packages"], setuptools.get("package-dir", {}))
    return known, import_edges(known)


def test_the_graph_covers_every_package(gradflow_edges):
    known, edges = gradflow_edges
    for name in ("gradflow.visual.render", "gradflow.exercises.loader", "gradflow.jit.stepper"):
        assert name in known
    assert len(known) > 100
    imported_by_graph = {t for t, _ in edges["module"]["gradflow.visual.graph"]}
    assert {"gradflow.visual.render", "gradflow.steps"} <= imported_by_graph
    assert edges["function"], "no function-level import found: the walk misses function bodies"


def test_no_import_cycle_at_module_level(gradflow_edges):
    _, edges = gradflow_edges
    found = [c for c in cycles(_graph(edges, ("module",))) if c not in KNOWN_CYCLES]
    assert not found, "\n".join(_describe(c, edges) for c in found)


# The layers, lowest first. A module belongs to the layer of its longest listed prefix, so a
# module can sit below its package (the command line's path and JSON helpers are used by the
# library too); a module of no layer fails the test, so a new package is placed on purpose.
LAYERS: list[tuple[str, ...]] = [
    (
        "gradflow.errors",
        "gradflow.numerics",
        "gradflow.lazy",
        "gradflow.state",
        "gradflow.commands.arguments",  # path and number checks, for the library too
        "gradflow.commands.report",  # strict JSON
    ),
    (
        "gradflow.ops",
        "gradflow.ops_conv",
        "gradflow.arithmetic",
        "gradflow.graph",
        "gradflow.value",
        "gradflow.tensor",
        "gradflow.display",
        "gradflow.naming",
        "gradflow.steps",
        "gradflow.symbolic",
        "gradflow.formula",
        "gradflow.gradcheck",
        "gradflow.examples",
        "gradflow.reference",
        "gradflow.metrics",
        "gradflow.scalar_nn",
        "gradflow.nan_check",
    ),
    (
        "gradflow.nn",
        "gradflow.optim",
        "gradflow.data",
        "gradflow.kernels",
        "gradflow.jit",
        "gradflow.training",
        "gradflow.regularization",
        "gradflow.executors",
        "gradflow.regions",
        "gradflow.experiments",
    ),
    ("gradflow.visual", "gradflow.exercises", "gradflow.sweep"),
    (
        "gradflow.commands",
        "gradflow.cli",
        "gradflow.__main__",
        "gradflow.exercises.cards",  # a card's demonstration is a gradflow command
    ),
    ("gradflow",),  # the package's __init__ re-exports from every layer below it
]


def layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for k, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[0]):
                best = (len(p), k)
    return None if best is None else best[1]


def _runs_nothing(path: Path) -> bool:
    """A module without imports (an empty package ``__init__``) cannot close a circle or pull
    a higher layer in, whatever its package's layer."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return not any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(tree))


def test_every_module_has_a_layer(gradflow_edges):
    known, _ = gradflow_edges
    assert not [m for m in known if layer(m) is None]


def test_no_import_goes_up_a_layer_even_inside_a_function(gradflow_edges):
    known, edges = gradflow_edges
    up = [
        f"{a}:{line} imports {t} ({kind} level)"
        for kind in ("module", "function")
        for a, targets in sorted(edges[kind].items())
        for t, line in sorted(targets)
        if layer(t) is not None
        and layer(a) is not None
        and layer(t) > layer(a)
        and not _runs_nothing(known[t])
    ]
    assert not up, "imports from a lower layer up to a higher one:\n" + "\n".join(up)


def test_known_cycles_still_exist(gradflow_edges):
    """An exception outlives its cycle only until this test runs: remove the entry."""
    _, edges = gradflow_edges
    found = set(cycles(_graph(edges, ("module",))))
    gone = [f"{sorted(c)} ({why})" for c, why in KNOWN_CYCLES.items() if c not in found]
    assert not gone, "cycles gone, remove them from KNOWN_CYCLES: " + "; ".join(gone)


def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return {
        rel.removesuffix("/__init__.py").removesuffix(".py").replace("/", "."): tmp_path / rel
        for rel in files
    }


def test_the_check_finds_cycles_of_each_kind(tmp_path):
    known = _package(
        tmp_path,
        {
            "p/__init__.py": "from .a import f\n",
            "p/a.py": "from . import b\n\ndef f():\n    from .c import g\n",
            "p/b.py": "from .a import f\n",  # module level: a <-> b
            "p/c.py": "from p.a import f\n",  # a -> c only inside a function
            "p/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .e import x\n",
            "p/e.py": "from .d import y\n",  # d -> e never runs
            "p/sub/__init__.py": "from p import q\n",
            "p/q.py": "from p.sub import z\n",  # the package p.sub, not only its module
            "p/sub/z.py": "",
        },
    )
    edges = import_edges(known)
    assert cycles(_graph(edges, ("module",))) == [
        frozenset({"p.a", "p.b"}),
        frozenset({"p.q", "p.sub"}),
    ]
    both = cycles(_graph(edges, ("module", "function")))
    assert frozenset({"p.a", "p.b", "p.c"}) in both
    assert not any("p.d" in c for c in both)
    assert ("p.c", 4) in edges["function"]["p.a"]
