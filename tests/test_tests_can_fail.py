"""A small AST lint of the test suite itself: every test must be able to fail.

* A test function asserts something: an ``assert``, ``pytest.raises``/``warns``/``fail``,
  ``np.testing.assert_*``, or a call to a helper (in the tests folder) that does.
* A hypothesis test rejects draws it cannot use with ``assume(...)``, never with a bare
  ``return`` (a ``return`` counts the draw as a pass, so a strategy that only draws unusable
  values passes without testing anything; ``assume`` makes hypothesis draw again and fail a
  health check when nearly every draw is rejected).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ASSERTING_CALLS = {"raises", "warns", "fail", "deprecated_call", "approx"}


def _modules() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(TESTS.glob("*.py"))}


def _called_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _asserts_directly(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in ASSERTING_CALLS or name.startswith("assert"):
                return True
    return False


def _functions(modules) -> dict[str, list[ast.FunctionDef]]:
    out: dict[str, list[ast.FunctionDef]] = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.setdefault(node.name, []).append(node)
    return out


def _asserting_helpers(functions) -> set[str]:
    """Names of functions in the tests folder that assert, directly or through each other."""
    asserting = {name for name, defs in functions.items() if any(map(_asserts_directly, defs))}
    changed = True
    while changed:
        changed = False
        for name, defs in functions.items():
            if name in asserting:
                continue
            calls = {_called_name(c) for d in defs for c in ast.walk(d) if isinstance(c, ast.Call)}
            if calls & asserting:
                asserting.add(name)
                changed = True
    return asserting


def _is_hypothesis_test(fn: ast.FunctionDef) -> bool:
    for dec in fn.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if _called_name(ast.Call(func=target, args=[], keywords=[])) == "given":
            return True
    return False


def _bare_returns(fn: ast.FunctionDef) -> list[int]:
    """Lines of ``return`` without a value in ``fn`` itself (not in nested functions)."""
    lines, stack = [], list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Return) and node.value is None:
            lines.append(node.lineno)
        stack.extend(ast.iter_child_nodes(node))
    return lines


def _tests(modules):
    for path, tree in modules.items():
        if not path.name.startswith("test_"):
            continue
        for node in tree.body:
            defs = [node] if isinstance(node, ast.FunctionDef) else []
            if isinstance(node, ast.ClassDef):
                defs = [n for n in node.body if isinstance(n, ast.FunctionDef)]
            for fn in defs:
                if fn.name.startswith("test_"):
                    yield path, fn


def test_every_test_asserts_something():
    modules = _modules()
    asserting = _asserting_helpers(_functions(modules))
    silent = [
        f"{path.name}:{fn.lineno} {fn.name}"
        for path, fn in _tests(modules)
        if not _asserts_directly(fn)
        and not {_called_name(c) for c in ast.walk(fn) if isinstance(c, ast.Call)} & asserting
    ]
    assert not silent, "tests that assert nothing:\n" + "\n".join(silent)


def test_hypothesis_tests_reject_draws_with_assume():
    modules = _modules()
    found = [
        f"{path.name}:{line} {fn.name}"
        for path, fn in _tests(modules)
        if _is_hypothesis_test(fn)
        for line in _bare_returns(fn)
    ]
    assert not found, "use assume(...) instead of return in hypothesis tests:\n" + "\n".join(found)


def test_the_lint_catches_what_it_should():
    """The lint itself can fail: a silent test and a returning hypothesis test are found."""
    tree = ast.parse(
        "from hypothesis import given\n"
        "def helper(x):\n    assert x\n"
        "def test_silent():\n    print(1)\n"
        "def test_through_helper():\n    helper(1)\n"
        "@given(x=1)\ndef test_returns(x):\n    if x:\n        return\n    assert x\n"
    )
    fns = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    asserting = _asserting_helpers(_functions({Path("x.py"): tree}))
    assert "helper" in asserting and "test_through_helper" in asserting
    assert "test_silent" not in asserting
    assert _is_hypothesis_test(fns["test_returns"]) and _bare_returns(fns["test_returns"])
    assert not _is_hypothesis_test(fns["test_silent"])
