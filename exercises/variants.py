"""Per-student variants: the same exercise with other numbers, drawn from a student's ID.

An exercise may declare what can vary, next to its course values (which stay the default)::

    [variants]
    avoid_kinks = true            # default: no ReLU/max/abs input exactly at its kink
    require = ["z11 > 0", "z12 < 0"]   # comparisons of names of the exercise
    decimals = 2                  # every answer a multiple of 0.01 (0: whole numbers)

    [variants.values]
    x = { from = 2, to = 6, step = 1 }     # a range on a grid
    w211 = [1, 2, 3]                        # choices (for a vector value: a list of vectors)

:func:`variant` draws the values from a hash of the exercise name, the seed (a student ID)
and an attempt number — the same variant in every process, on every machine — builds the
exercise through the loader (so everything a file is checked for is checked), and hands it
out only when it satisfies the constraints and every answer agrees three ways (engine, SymPy,
finite differences). Otherwise the next attempt is drawn, deterministically.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradflow.errors import GradflowError
from gradflow.formula import Formula, FormulaError, parse

from .errors import ExerciseError

MAX_ATTEMPTS = 40
MAX_SEED = 64  # characters of a seed (a student ID)
SPEC_KEYS = {"values", "avoid_kinks", "require", "decimals"}
_COMPARE = re.compile(r"^(.*?)(>=|<=|==|!=|>|<)(.*)$")


class VariantError(GradflowError, ValueError):
    """No variant can be made (no [variants] table, a bad seed, every attempt rejected)."""


@dataclass(frozen=True)
class Requirement:
    text: str
    left: Formula
    op: str
    right: Formula

    def holds(self, env: dict) -> bool:
        a = np.asarray(self.left.build(env).data, dtype=float)
        b = np.asarray(self.right.build(env).data, dtype=float)
        ops = {">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal}
        ops |= {"==": np.isclose, "!=": lambda x, y: ~np.isclose(x, y)}
        return bool(np.all(ops[self.op](a, b)))


@dataclass
class VariantSpec:
    """What the ``[variants]`` table of a file declares, and the file to rebuild from."""

    ranges: dict[str, list[Any]]  # name -> the values it may take (numbers or arrays)
    avoid_kinks: bool
    require: list[Requirement]
    decimals: int | None
    data: dict = field(repr=False)  # the parsed file, to rebuild a variant through the loader
    text: str = field(repr=False, default="")


def read_spec(data: dict, text: str, values: dict, fail) -> VariantSpec | None:
    """Validate a file's ``[variants]`` table (``fail(problem, table, key)`` raises the
    loader's one-line error)."""
    raw = data.get("variants")
    if raw is None:
        return None
    extra = set(raw) - SPEC_KEYS
    if extra:
        fail(f"unknown key(s) in [variants]: {', '.join(sorted(extra))}", "variants", None)
    table = raw.get("values", {})
    if not isinstance(table, dict) or not table:
        fail("[variants.values] must name at least one value and its range", "variants", None)
    ranges: dict[str, list[Any]] = {}
    where = "variants.values"
    for name, rule in table.items():
        if name not in values:
            fail(f"[variants.values] {name} is not a name in [values]", where, name)
        shape = np.shape(values[name])
        if isinstance(rule, dict):
            ranges[name] = _grid(rule, name, lambda p, n=name: fail(p, where, n))
        elif isinstance(rule, list) and rule:
            opts = []
            for v in rule:
                if not _numbers(v) or np.shape(v) != shape:
                    fail(f"[variants.values] {name}: every choice must be shaped like {name} "
                         f"{shape or '(a number)'}", where, name)  # fmt: skip
                opts.append(v)
            ranges[name] = opts
        else:
            fail(f"[variants.values] {name} must be {{ from, to, step }} or a list of choices",
                 where, name)  # fmt: skip
    avoid = raw.get("avoid_kinks", True)
    if not isinstance(avoid, bool):
        fail("avoid_kinks must be true or false", "variants", "avoid_kinks")
    decimals = raw.get("decimals")
    if decimals is not None and (
        not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 6
    ):
        fail("decimals must be a whole number from 0 to 6", "variants", "decimals")
    reqs = raw.get("require", [])
    if not isinstance(reqs, list):
        fail('require must be a list like ["y11 > 0"]', "variants", "require")
    known = set(values) | set(data.get("graph", {})) | set(data.get("update", {}))
    require = []
    for r in reqs:
        m = _COMPARE.match(r) if isinstance(r, str) else None
        if m is None:
            fail(f'require {r!r}: write a comparison like "y11 > 0"', "variants", "require")
        try:
            left, right = parse(m[1].strip()), parse(m[3].strip())
        except FormulaError as e:
            fail(f"require {r!r}: {e}", "variants", "require")
        unknown = (left.names | right.names) - known
        if unknown:
            fail(f"require {r!r}: unknown name(s) {', '.join(sorted(unknown))}", "variants",
                 "require")  # fmt: skip
        require.append(Requirement(r, left, m[2], right))
    return VariantSpec(ranges, avoid, require, decimals, data, text)


def _numbers(v: Any) -> bool:
    if isinstance(v, list):
        return bool(v) and all(_numbers(x) for x in v)
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _grid(rule: dict, name: str, fail) -> list[float]:
    if set(rule) - {"from", "to", "step"} or not {"from", "to"} <= set(rule):
        fail(f"[variants.values] {name}: a range is {{ from = 2, to = 6, step = 1 }}")
    lo, hi, step = rule["from"], rule["to"], rule.get("step", 1)
    if not all(_numbers(x) for x in (lo, hi, step)) or step <= 0 or hi < lo:
        fail(f"[variants.values] {name}: from ≤ to and step > 0, all numbers")
    n = math.floor((hi - lo) / step + 1e-9) + 1
    if n > 10_000:
        fail(f"[variants.values] {name}: {n} values in the range (limit 10000)")
    return [round(lo + k * step, 10) for k in range(n)]


# ------------------------------------------------------------------------------ drawing


def _pick(exercise: str, seed: str, attempt: int, name: str, n: int) -> int:
    """A number in range(n) from a hash: the same in every process and Python version."""
    h = hashlib.sha256(f"gradflow-variant\0{exercise}\0{seed}\0{attempt}\0{name}".encode())
    return int.from_bytes(h.digest()[:8], "big") % n


def check_seed(seed: Any) -> str:
    s = str(seed)
    if not s or len(s) > MAX_SEED or not s.isprintable():
        raise VariantError(f"seed {s[:MAX_SEED]!r}: give 1 to {MAX_SEED} printable characters")
    return s


@dataclass
class Variant:
    """A verified variant: the seed, the attempt that passed, the drawn values and the
    exercise built from them (with the three-way check that passed)."""

    seed: str
    attempt: int
    values: dict[str, Any]
    exercise: Any
    report: Any
    rejected: list[str] = field(default_factory=list)  # why earlier attempts were redrawn


def variant(ex, seed: Any, verify: bool = True) -> Variant:
    """The variant of ``ex`` for ``seed`` (a student ID), solved and verified."""
    from .loader import _Reader
    from .runner import check

    spec: VariantSpec | None = getattr(ex, "variants", None)
    if spec is None:
        raise VariantError(f"{ex.name} declares no [variants]: every student gets its numbers")
    seed = check_seed(seed)
    rejected = []
    for attempt in range(MAX_ATTEMPTS):
        values = {
            k: opts[_pick(ex.name, seed, attempt, k, len(opts))] for k, opts in spec.ranges.items()
        }
        data = copy.deepcopy(spec.data)
        data.pop("variants", None)
        data["values"].update(values)
        for item in data["ask"]:
            if isinstance(item, dict):
                item.pop("expected", None)  # the course's numbers are for the course's values
        try:
            vx = _Reader(data, spec.text, ex.path).exercise()
        except ExerciseError as e:
            rejected.append(f"attempt {attempt}: {e.problem}")
            continue
        why = problems(vx, spec)
        report = check(vx) if verify and not why else None
        if report is not None and not report.ok:
            why = "the three ways disagree"
        if why:
            rejected.append(f"attempt {attempt}: {why}")
            continue
        vx.name = ex.name
        return Variant(seed, attempt, values, vx, report, rejected)
    raise VariantError(
        f"{ex.name}: no valid variant for seed {seed!r} in {MAX_ATTEMPTS} draws "
        f"(last: {rejected[-1] if rejected else '?'})"
    )


def problems(vx, spec: VariantSpec) -> str:
    """Why a drawn variant may not be handed out ('' when it may)."""
    sol = vx.solve()
    if spec.avoid_kinks:
        at = kink(sol)
        if at:
            return f"{at} sits on a kink"
    env = {**sol.nodes, **sol.update_nodes}
    env = {k: vx.leaf(k, n.data, False) for k, n in env.items()}
    for r in spec.require:
        try:
            if not r.holds(env):
                return f"require {r.text!r} fails"
        except (GradflowError, ValueError, ArithmeticError) as e:
            return f"require {r.text!r}: {e}"
    if spec.decimals is not None:
        scale = 10.0**spec.decimals
        for q in vx.questions:
            a = vx.answer(q, sol) * scale
            if abs(a - round(a)) > 1e-6 * max(1.0, abs(a)):
                label = q.label(vx.output)
                return f"{label} = {a / scale:.10g} has more than {spec.decimals} decimals"
    return ""


_KINKS: dict[tuple, Any] = {}


def _kink_functions(op, params: dict):
    """The expressions that are 0 exactly at the op's kinks, from its SymPy form in the op
    table (Piecewise conditions, the arguments of Abs, Max, Min, sign, Heaviside), as
    numpy functions of the op's inputs. Cached per op and parameters."""
    key = (op.name, tuple(sorted((k, repr(v)) for k, v in params.items())))
    if key in _KINKS:
        return _KINKS[key]
    import sympy as sp

    n = op.arity or 2
    xs = sp.symbols(f"k0:{n}", real=True)
    try:
        expr = op.sympy(*xs, **{k: v for k, v in params.items() if k in op.params})
    except (TypeError, ValueError):
        _KINKS[key] = []
        return []
    zeros = []
    for pw in expr.atoms(sp.Piecewise):
        for _, cond in pw.args:
            if isinstance(cond, sp.core.relational.Relational):
                zeros.append(cond.lhs - cond.rhs)
    for f in (sp.Abs, sp.sign, sp.Heaviside):
        zeros += [a.args[0] for a in expr.atoms(f)]
    for f in (sp.Max, sp.Min):
        for a in expr.atoms(f):
            zeros += [a.args[i] - a.args[j] for i in range(len(a.args)) for j in range(i)]
    fns = [sp.lambdify(xs, z, "numpy") for z in zeros if z.free_symbols]
    _KINKS[key] = fns
    return fns


def kink(sol) -> str:
    """The name of the first node whose input sits exactly on a kink of its op ('' when
    none): there the derivative is a convention, and finite differences disagree."""
    from gradflow.graph import topological_order

    for node in topological_order(sol.loss):
        op = node.op
        if op is None or not op.elementwise:
            continue
        for fn in _kink_functions(op, node.params):
            with np.errstate(all="ignore"):
                v = np.asarray(fn(*[np.asarray(x.data, dtype=float) for x in node.inputs]))
            if np.any(np.abs(v) < 1e-9):
                return node.label or op.name
    return ""
