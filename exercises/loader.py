"""Read exercise files (TOML, see ``exercises/format.md``) into :class:`Exercise` objects.

Everything that can be wrong with a file is found here, at load time, and reported as one
:class:`ExerciseError` naming the file, the line and the problem: TOML syntax, unknown or
missing keys, values that are not numbers, formulas the safe parser rejects, undefined
names, cycles among the equations, shapes that do not fit, and questions about names that
do not exist.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from gradflow.errors import GradflowError
from gradflow.formula import Formula, FormulaError, parse

from .errors import ExerciseError, LineFinder
from .exercise import GRAD_PREFIX, MAX_ELEMENTS, EquationError, Exercise, Question, Source
from .variants import read_spec

TOP_KEYS = {
    "title": str,
    "topic": str,
    "difficulty": str,
    "explanation": str,
    "hints": list,
    "source": dict,
    "values": dict,
    "constants": list,
    "graph": dict,
    "output": str,
    "update": dict,
    "ask": list,
    "rtol": (int, float),
    "atol": (int, float),
    "variants": dict,
}
REQUIRED = ("title", "topic", "difficulty", "source", "values", "graph", "ask")
DIFFICULTIES = ("easy", "medium", "hard")
ASK_KEYS = {"value", "grad", "update", "index", "lr", "expected", "hint"}


def data_dir() -> Path:
    """The folder of exercises shipped with the package."""
    return Path(str(resources.files("gradflow.exercises") / "data"))


def exercise_files(path: str | Path | None = None) -> list[Path]:
    """The ``*.toml`` files of a folder (default: the shipped ones), sorted by name."""
    folder = Path(path) if path is not None else data_dir()
    if not folder.is_dir():
        raise ExerciseError(folder, None, "not a folder of exercise files")
    return sorted(folder.glob("*.toml"))


def load_all(path: str | Path | None = None) -> list[Exercise]:
    return [load(f) for f in exercise_files(path)]


# The course's topics in the order it teaches them (docs/course_topics.md, the seeds).
TOPICS = (
    "the neuron",
    "neurons and MLPs",
    "activations",
    "backpropagation",
    "losses",
    "softmax and cross-entropy",
    "optimisation",
    "vanishing and exploding gradients",
    "regularisation and normalisation",
    "convolutional networks",
    "recurrent networks",
)


def course_order(exercises: list[Exercise]) -> list[Exercise]:
    """Exercises as the course meets them: by topic (:data:`TOPICS`; a topic the course
    does not list comes after, alphabetically), then easy before hard, then by name."""

    def key(e: Exercise):
        topic = TOPICS.index(e.topic) if e.topic in TOPICS else len(TOPICS)
        return (topic, e.topic, DIFFICULTIES.index(e.difficulty), e.name)

    return sorted(exercises, key=key)


def find(name: str, path: str | Path | None = None) -> Exercise:
    """The exercise called ``name`` (file stem) in a folder, or a path to a file."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.is_file():
        return load(candidate)
    for f in exercise_files(path):
        if f.stem == name:
            return load(f)
    known = ", ".join(f.stem for f in exercise_files(path))
    raise ExerciseError(name, None, f"no exercise named {name!r}; known: {known}")


def load(path: str | Path) -> Exercise:
    """Load and validate one exercise file; raise :class:`ExerciseError` on any problem."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():  # a FIFO would block, a device never end
            raise ExerciseError(path, None, "not a regular file")
        raw = path.read_bytes()
    except OSError as e:
        raise ExerciseError(path, None, f"cannot read file: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ExerciseError(path, line, "file is not valid UTF-8") from None
    return loads(text, path)


def loads(text: str, path: str | Path = "<string>") -> Exercise:
    """Load an exercise from TOML text; ``path`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None) or _line_from_message(str(e))
        raise ExerciseError(path, line, f"invalid TOML: {e}") from None
    except RecursionError:
        raise ExerciseError(path, None, "invalid TOML: nested too deeply") from None
    return _Reader(data, text, Path(path)).exercise()


def _line_from_message(msg: str) -> int | None:
    """tomllib says ``... (at line 3, column 7)``; older versions have no ``lineno``."""
    marker = "(at line "
    if marker in msg:
        digits = msg.split(marker, 1)[1].split(",", 1)[0].split(")", 1)[0]
        if digits.strip().isdigit():
            return int(digits)
    return None


class _Reader:
    """Turns the parsed TOML dict into an :class:`Exercise`, checking as it goes."""

    def __init__(self, data: dict, text: str, path: Path):
        self.data = data
        self.path = path
        self.text = text
        self.lines = LineFinder(text)

    def fail(self, problem: str, table: str | None = None, key: str | None = None, item=0):
        raise ExerciseError(self.path, self.lines.find(table, key, item), problem)

    # ------------------------------------------------------------------ top level
    def exercise(self) -> Exercise:
        d = self.data
        for k, v in d.items():
            if k not in TOP_KEYS:
                self.fail(f"unknown key {k!r}; known keys: {', '.join(TOP_KEYS)}", None, k)
            if not isinstance(v, TOP_KEYS[k]) or isinstance(v, bool):
                self.fail(f"{k} must be {_kind(TOP_KEYS[k])}, got {_kind(type(v))}", None, k)
        for k in REQUIRED:
            if k not in d:
                self.fail(f"missing required key {k!r}")
        if d["difficulty"] not in DIFFICULTIES:
            self.fail(f"difficulty must be one of {', '.join(DIFFICULTIES)}", None, "difficulty")
        values = self.values()
        constants = self.constants(values)
        graph = self.graph(values)
        output = d.get("output", next(reversed(graph)) if graph else "")
        if output not in graph:
            self.fail(f"output {output!r} is not an equation of [graph]", None, "output")
        update = self.update(values, graph)
        ex = Exercise(
            name=self.path.stem,
            path=self.path,
            title=d["title"],
            topic=d["topic"],
            difficulty=d["difficulty"],
            source=self.source(),
            explanation=d.get("explanation", "").strip(),
            hints=self.hints(),
            values=values,
            constants=constants,
            graph=graph,
            output=output,
            update=update,
            rtol=self.tolerance("rtol", 0.01),
            atol=self.tolerance("atol", 1e-6),
        )
        solution = self.solve(ex)
        ex.questions = self.questions(ex, solution)
        ex.variants = read_spec(d, self.text, values, self.fail)  # see variants.py
        return ex

    def tolerance(self, key: str, default: float) -> float:
        v = float(self.data.get(key, default))
        if not (0 <= v < 1):
            self.fail(f"{key} must be in [0, 1), got {v:g}", None, key)
        return v

    def source(self) -> Source:
        s = self.data["source"]
        seed = s.get("seed")
        if not isinstance(seed, str) or not seed:
            self.fail('source.seed must name the seed file, e.g. seed = "002"', "source", "seed")
        where = s.get("where", "")
        if not isinstance(where, str):
            self.fail("source.where must be text (slide or section)", "source", "where")
        extra = set(s) - {"seed", "where"}
        if extra:
            self.fail(f"unknown key(s) in [source]: {', '.join(sorted(extra))}", "source")
        return Source(seed, where)

    def hints(self) -> list[str]:
        hints = self.data.get("hints", [])
        if not all(isinstance(h, str) for h in hints):
            self.fail("hints must be a list of strings", None, "hints")
        return hints

    # ------------------------------------------------------------------ values
    def values(self) -> dict[str, np.ndarray]:
        out = {}
        for name, v in self.data["values"].items():
            self.check_name(name, "values")
            arr = self.number_array(v, "values", name)
            out[name] = arr
        if not out:
            self.fail("[values] is empty: give at least one input", "values")
        return out

    def number_array(self, v: Any, table: str, name: str) -> np.ndarray:
        def ok(x: Any) -> bool:
            if isinstance(x, list):
                return bool(x) and all(ok(y) for y in x)
            return isinstance(x, (int, float)) and not isinstance(x, bool)

        if not ok(v):
            self.fail(f"{name} must be a number or a (nested) list of numbers", table, name)
        try:
            arr = np.array(v, dtype=np.float64)
        except (ValueError, OverflowError):
            self.fail(f"{name} is a ragged list: every row needs the same length", table, name)
        if arr.size > MAX_ELEMENTS:
            self.fail(f"{name} has {arr.size} elements (limit {MAX_ELEMENTS})", table, name)
        if not np.all(np.isfinite(arr)):
            self.fail(f"{name} must be finite (no inf or nan)", table, name)
        return arr

    def check_name(self, name: str, table: str) -> None:
        if not name.isidentifier() or name.startswith("_") or not name.isascii():
            self.fail(f"{name!r} is not a valid name (letters, digits, _)", table, name)
        if name.startswith(GRAD_PREFIX):
            self.fail(
                f"names starting with {GRAD_PREFIX!r} are reserved for gradients", table, name
            )

    def constants(self, values: dict) -> frozenset[str]:
        cs = self.data.get("constants", [])
        for c in cs:
            if not isinstance(c, str) or c not in values:
                self.fail(f"constant {c!r} is not a name in [values]", None, "constants")
        return frozenset(cs)

    # ------------------------------------------------------------------ equations
    def formula(self, table: str, name: str, text: Any) -> Formula:
        if not isinstance(text, str):
            self.fail(f'{name} must be a formula in quotes, e.g. {name} = "relu(z)"', table, name)
        try:
            f = parse(text)
        except FormulaError as e:
            self.fail(f"[{table}] {name} = {text!r}: {e}", table, name)
        if not f.names:
            self.fail(
                f"[{table}] {name} = {text!r} has no names: put numbers in [values]", table, name
            )
        return f

    def graph(self, values: dict) -> dict[str, Formula]:
        eqs: dict[str, Formula] = {}
        for name, text in self.data["graph"].items():
            self.check_name(name, "graph")
            if name in values:
                self.fail(f"{name} is both a value and an equation", "graph", name)
            eqs[name] = self.formula("graph", name, text)
        if not eqs:
            self.fail("[graph] is empty: write at least one equation", "graph")
        known = set(values) | set(eqs)
        for name, f in eqs.items():
            for ref in sorted(f.names):
                if ref.startswith(GRAD_PREFIX):
                    self.fail(
                        f"[graph] {name}: gradients ({ref}) can only be used in [update]",
                        "graph",
                        name,
                    )
                if ref not in known:
                    self.fail(
                        f"[graph] {name} = {f.text!r}: undefined name {ref!r} "
                        "(not in [values] and not an equation)",
                        "graph",
                        name,
                    )
        return self.ordered(eqs, "graph")

    def ordered(self, eqs: dict[str, Formula], table: str) -> dict[str, Formula]:
        """Equations in dependency order (file order where free); a cycle is an error."""
        done: dict[str, Formula] = {}
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, path: list[str]) -> None:
            stack = [(name, iter(sorted(eqs[name].names & eqs.keys())))]
            state[name] = 1
            path.append(name)
            while stack:
                node, deps = stack[-1]
                dep = next(deps, None)
                if dep is None:
                    stack.pop()
                    path.pop()
                    state[node] = 2
                    done[node] = eqs[node]
                elif state.get(dep) == 1:
                    cycle = path[path.index(dep) :] + [dep]
                    self.fail(f"cycle in [{table}]: {' → '.join(cycle)}", table, dep)
                elif dep not in state:
                    state[dep] = 1
                    path.append(dep)
                    stack.append((dep, iter(sorted(eqs[dep].names & eqs.keys()))))

        for name in eqs:
            if name not in state:
                visit(name, [])
        return done

    def update(self, values: dict, graph: dict) -> dict[str, Formula]:
        table = self.data.get("update", {})
        eqs: dict[str, Formula] = {}
        known = set(values) | set(graph)
        for name, text in table.items():
            self.check_name(name, "update")
            if name in known:
                self.fail(f"{name} is already a value or an equation of [graph]", "update", name)
            eqs[name] = self.formula("update", name, text)
        allowed = known | set(eqs) | {GRAD_PREFIX + k for k in known}
        for name, f in eqs.items():
            for ref in sorted(f.names - allowed):
                self.fail(f"[update] {name} = {f.text!r}: undefined name {ref!r}", "update", name)
        return self.ordered(eqs, "update")

    # ------------------------------------------------------------------ build once
    def solve(self, ex: Exercise):
        """Build and differentiate once, so shape errors and NaNs surface at load time."""
        try:
            sol = ex.solve()
        except EquationError as e:
            self.fail(str(e), e.table, e.name)
        except (GradflowError, ValueError, ArithmeticError) as e:
            self.fail(f"cannot compute the exercise: {e}", "graph", ex.output)
        if np.size(sol.loss.data) != 1:
            self.fail(
                f"output {ex.output} must be a single number, got shape {np.shape(sol.loss.data)}",
                "graph",
                ex.output,
            )
        for name, node in {**sol.nodes, **sol.update_nodes}.items():
            if not np.all(np.isfinite(node.data)):
                table = "update" if name in ex.update else "graph"
                self.fail(f"{name} is not finite ({node.data}) for the given values", table, name)
        for name, g in sol.grads.items():  # e.g. sqrt(x) at x = 0: ∂/∂x = inf
            if not np.all(np.isfinite(g)):
                table = "values" if name in ex.values else "graph"
                self.fail(
                    f"∂{ex.output}/∂{name} is not finite ({g}) for the given values", table, name
                )
        return sol

    # ------------------------------------------------------------------ questions
    def questions(self, ex: Exercise, sol) -> list[Question]:
        out: list[Question] = []
        for k, item in enumerate(self.data["ask"]):
            if not isinstance(item, dict):
                self.fail('ask must be an array of tables: [[ask]] value = "y"', None, "ask")
            out.extend(self.question(ex, sol, k, item))
        if not out:
            self.fail("no questions: add at least one [[ask]]", None, "ask")
        return out

    def question(self, ex: Exercise, sol, k: int, item: dict) -> list[Question]:
        def fail(problem: str, key: str | None = None):
            self.fail(f"[[ask]] #{k + 1}: {problem}", "ask", key, k)

        extra = set(item) - ASK_KEYS
        if extra:
            fail(f"unknown key(s) {', '.join(sorted(extra))}; known: {', '.join(sorted(ASK_KEYS))}")
        kinds = [kind for kind in ("value", "grad", "update") if kind in item]
        if len(kinds) != 1:
            fail('give exactly one of value = "name", grad = "name", update = "name"')
        kind = kinds[0]
        target = item[kind]
        line = self.lines.find("ask", kind, k)
        if not isinstance(target, str):
            fail(f"{kind} must be a name in quotes", kind)
        if kind == "value" and target not in sol.nodes and target not in sol.update_nodes:
            fail(f"{target!r} is not a value, an equation or an [update] name", kind)
        if kind in ("grad", "update") and target not in sol.grads:
            why = (
                "is a constant"
                if target in ex.constants
                else "does not influence the output"
                if target in sol.nodes
                else "is not a value or an equation of [graph]"
            )
            fail(f"cannot ask for the gradient of {target!r}: it {why}", kind)
        lr = item.get("lr")
        if kind == "update":
            if target not in ex.values:
                fail(f"update needs a value from [values], {target!r} is an equation", kind)
            if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
                fail(
                    "update needs a positive learning rate: lr = 0.001",
                    "lr" if "lr" in item else kind,
                )
            lr = float(lr)
        elif lr is not None:
            fail('lr only goes with update = "name"', "lr")
        expected = item.get("expected")
        if expected is not None and (
            not isinstance(expected, (int, float)) or isinstance(expected, bool)
        ):
            fail("expected must be a number (the course's value)", "expected")
        hint = item.get("hint", "")
        if not isinstance(hint, str):
            fail("hint must be text", "hint")
        shape = np.shape(sol.value(target) if kind == "value" else sol.grads[target])
        index = item.get("index")
        if index is not None:
            idx = (
                (index,)
                if isinstance(index, int)
                else tuple(index)
                if isinstance(index, list)
                else None
            )
            if (
                idx is None
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in idx)
                or len(idx) != len(shape)
                or not all(0 <= i < n for i, n in zip(idx, shape))
            ):
                fail(f"index {index!r} does not fit {target} of shape {shape}", "index")
            indices = [idx]
        else:
            indices = [None] if shape == () else [tuple(map(int, i)) for i in np.ndindex(shape)]
            if expected is not None and shape != ():
                fail("expected needs an index when the answer is a vector or matrix", "expected")
        qs = [
            Question(kind, target, i, lr, None if expected is None else float(expected), hint, line)
            for i in indices
        ]
        for q in qs:
            if q.expected is not None and not math.isclose(
                ex.answer(q, sol), q.expected, rel_tol=ex.rtol, abs_tol=ex.atol
            ):
                fail(
                    f"the course value {q.expected:g} for {q.label(ex.output)} does not match "
                    f"the computed {ex.answer(q, sol):.6g}",
                    "expected",
                )
        return qs


def _kind(t: Any) -> str:
    names = {str: "text", list: "a list", dict: "a table", int: "a number", float: "a number"}
    if isinstance(t, tuple):
        return "a number"
    return names.get(t, t.__name__)
