"""check_symbolic on deep graphs (SymPy recurses through nested expressions) and on values
where a derivative is NaN or Inf (never a match)."""

from __future__ import annotations

import inspect
import math
import sys

import numpy as np
import pytest

import gradflow as gf
from gradflow import Tensor, Value, check_symbolic
from gradflow.errors import GradflowError, SymbolicLimitError
from gradflow.symbolic import MAX_DEPTH, graph_depth, symbolic_value


def tanh_chain(n: int, x0: float = 0.3) -> tuple[Value, Value]:
    x = Value(x0, label="x")
    y = x
    for _ in range(n):
        y = y.tanh()
    return x, y


def test_depth_counts_ops_on_the_longest_path():
    x, y = tanh_chain(5)
    assert graph_depth(gf.topological_order(y)) == 5
    z = y * x + x  # the longest path still goes through the chain
    assert graph_depth(gf.topological_order(z)) == 7
    assert graph_depth(gf.topological_order(x)) == 0


def test_a_chain_deeper_than_the_callers_recursion_limit_succeeds():
    """A 60-op chain needs ~500 frames inside SymPy; with only ~150 left to the caller it
    used to raise RecursionError (the 200-op chain of the issue did so at the default limit)."""
    x, y = tanh_chain(60)
    old = sys.getrecursionlimit()
    here = len(inspect.stack(0))
    sys.setrecursionlimit(here + 150)
    try:
        report = check_symbolic(y)
        text = str(report)
    finally:
        sys.setrecursionlimit(old)
    assert report.ok and "all derivatives match" in text
    assert sys.getrecursionlimit() == old
    assert report.checks[0].symbolic == pytest.approx(_grad(y, x))


def _grad(y, x):
    y.backward()
    return x.grad


@pytest.mark.slow
def test_a_200_op_chain_checks_out():
    x, y = tanh_chain(200)
    report = check_symbolic(y)
    assert report.ok, str(report)[-500:]
    assert len(str(report)) < 10_000  # the 400 kB LaTeX of the derivative is shortened


@pytest.mark.parametrize("n", [MAX_DEPTH + 1, 2000])
def test_deeper_than_the_limit_is_a_clear_error_naming_it(n):
    _, y = tanh_chain(n)
    with pytest.raises(SymbolicLimitError, match=rf"graph is {n} ops deep \(limit {MAX_DEPTH}\)"):
        check_symbolic(y)
    with pytest.raises(SymbolicLimitError):
        symbolic_value(y)
    assert issubclass(SymbolicLimitError, GradflowError) and issubclass(
        SymbolicLimitError, ValueError
    )


def test_too_many_elements_is_a_gradflow_error():
    t = Tensor(np.ones((70, 70)), requires_grad=True)
    with pytest.raises(SymbolicLimitError, match="limit 4000 elements"):
        check_symbolic((t * t).sum())


def test_recursion_error_inside_sympy_becomes_the_limit_error(monkeypatch):
    from gradflow import symbolic

    monkeypatch.setattr(symbolic, "_FRAMES_PER_LEVEL", 0)
    monkeypatch.setattr(symbolic, "_BASE_FRAMES", 100)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 100)
    try:
        with pytest.raises(SymbolicLimitError, match="ran out of recursion"):
            check_symbolic(tanh_chain(60)[1])
    finally:
        sys.setrecursionlimit(old)


# ---------------------------------------------------------------- NaN and Inf never match


def test_infinite_derivatives_on_both_sides_are_not_a_match():
    """sqrt'(0) is inf in the engine and SymPy's 1/(2·√0) = zoo: np.allclose(inf, inf) is
    True, so this used to read "ok"; SymPy's zoo used to raise a misleading kink error."""
    x = Value(0.0, label="x")
    report = check_symbolic(x.sqrt())
    assert not report.ok
    assert math.isinf(report.checks[0].symbolic) and math.isinf(report.checks[0].engine)
    assert "NaN or Inf: cannot be checked" in str(report) and "MISMATCH" in str(report)


def test_symbolic_value_of_a_tensor_node():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, label="t")
    v = symbolic_value((t * t).sum(axis=0))
    np.testing.assert_allclose(v, [10.0, 20.0])


def test_report_is_one_readable_line_per_parameter():
    """The seed-002 report: compact derivatives at the point (the active ReLU branches, no
    Piecewise), SymPy's and the engine's value, agree — no Python syntax; full() has it all."""
    from gradflow.examples import seed002_network

    report = check_symbolic(seed002_network()["L"])
    lines = str(report).splitlines()
    assert len(lines) == len(report.checks) + 1 and lines[-1] == "all derivatives match"
    w211 = next(line for line in lines if line.startswith("∂L/∂w211 ="))
    assert "2·(b11 + 4·w111)·(b21 + w211·(b11 + 4·w111) − 75)" in w211
    assert "SymPy -700" in w211 and "engine -700" in w211 and w211.endswith("agree")
    assert "Piecewise" not in str(report) and "**" not in str(report) and " if " not in str(report)
    assert len(str(report)) < 1500  # was 13 kB of nested Piecewise
    assert "Piecewise" in report.full()  # the whole expression, one call away


def test_a_kink_at_the_point_keeps_its_piecewise():
    from gradflow import Value

    z = Value(0.0, label="z")
    w = Value(2.0, label="w")
    report = check_symbolic((w * z).relu() + z.relu())  # both ReLUs sit on their kink
    text = str(report)
    assert "for" in text and "otherwise" in text  # {… for w·z > 0; 0 otherwise}
    away = check_symbolic((Value(1.0, label="w") * Value(3.0, label="z")).relu())
    assert "otherwise" not in str(away) and "∂L/∂w = z" in str(away)
