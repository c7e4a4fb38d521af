"""Why is an answer wrong? Search the mistakes a student could plausibly have made.

Every check is computed from the recorded backward steps of the exercise (local derivative
× upstream = contribution, :func:`gradflow.backward_steps`), never written per exercise: the
steps are *replayed* with one thing changed — a local derivative left out (taken as 1),
the node's value used instead of its derivative, one contribution dropped, the softmax
gradient replaced by ``p`` — and the number that replay gives is compared with the
student's. The first mistake that reproduces the answer is named, in one or two lines::

    Your -10 is ∂L/∂y21 — one step short: multiply by ∂y21/∂z21 = 1[z21 > 0] = 1, then by
    ∂z21/∂w211 = y11 = 70.

The misconceptions, in the order they are tried, are :data:`MISCONCEPTIONS`. Node names and
derivative texts come from the step records, numbers from :mod:`gradflow.display`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from gradflow.display import array, number
from gradflow.ops import unbroadcast
from gradflow.steps import BackwardStep, backward_steps

from .exercise import Exercise, Question, Solution

# Ops that the misconceptions below recognise by what they compute: the averaging reduction
# (batch size), and the softmax family (cross-entropy's p − y).
AVERAGING_OPS = frozenset({"mean"})
SOFTMAX_OPS = frozenset({"softmax", "log_softmax"})


@dataclass(frozen=True)
class Diagnosis:
    """The mistake that reproduces a wrong answer: its key in :data:`MISCONCEPTIONS` and
    the one- or two-line explanation a student reads."""

    misconception: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Candidate:
    """A wrong answer one misconception produces, and how to explain it."""

    misconception: str
    value: float
    message: str  # "{given}" is replaced by the student's number


class Context:
    """One question of one exercise, with its backward steps indexed for the searches."""

    def __init__(self, ex: Exercise, q: Question, sol: Solution):
        self.ex, self.q, self.sol = ex, q, sol
        self.out = ex.output
        self.truth = ex.answer(q, sol)

    @cached_property
    def steps(self) -> list[BackwardStep]:
        return list(backward_steps(self.sol.loss))

    @cached_property
    def target(self):
        name = self.q.target
        return self.sol.nodes.get(name)

    @cached_property
    def into(self) -> dict[int, list[BackwardStep]]:
        """Steps by the node they send a gradient to."""
        out: dict[int, list[BackwardStep]] = {}
        for s in self.steps:
            out.setdefault(id(s.input_node), []).append(s)
        return out

    @cached_property
    def chain(self) -> list[BackwardStep]:
        """The steps on the paths from the output down to the target, in execution order."""
        if self.target is None:
            return []
        found, frontier, seen = [], [self.target], set()
        while frontier:
            n = frontier.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            for s in self.into.get(id(n), []):
                found.append(s)
                frontier.append(s.node)
        return sorted(found, key=lambda s: s.index)

    @cached_property
    def true_grads(self) -> dict[int, Any]:
        return self.replay()

    def replay(
        self,
        local: dict[int, Any] | None = None,
        drop: frozenset[int] = frozenset(),
        replace: dict[int, Any] | None = None,
    ) -> dict[int, Any]:
        """The backward pass run again from the records: step ``k`` uses ``local[k]`` as its
        local derivative, steps in ``drop`` send nothing, a node in ``replace`` (by id) has
        that gradient instead of the sum of its contributions. Returns ``id(node) -> grad``."""
        local, replace = local or {}, replace or {}
        loss = self.sol.loss
        grads: dict[int, Any] = {id(loss): np.ones_like(np.asarray(loss.data, dtype=float))}
        for s in self.steps:
            g = replace.get(id(s.node), grads.get(id(s.node)))
            if g is None or s.index in drop:
                continue
            d = local.get(s.index, s.local)
            inp = s.input_node
            if d is None:
                xs = [x.data for x in s.node.inputs]
                c = np.asarray(s.node.op.vjp(s.input_index, g, s.node.data, xs, s.node.params))
            else:
                c = unbroadcast(np.asarray(g * np.asarray(d, dtype=float)), np.shape(inp.data))
            prev = grads.get(id(inp))
            grads[id(inp)] = c if prev is None else prev + c
        for k, v in replace.items():
            grads[k] = v
        return grads

    def pick(self, a: Any) -> float | None:
        """The asked element of ``a`` (None when ``a`` does not have the target's shape)."""
        a = np.asarray(a, dtype=float)
        if self.q.index is None:
            return float(a) if a.size == 1 else None
        if a.ndim != len(self.q.index) or any(i >= n for i, n in zip(self.q.index, a.shape)):
            return None
        return float(a[self.q.index])

    def answer_from(self, grads: dict[int, Any]) -> float | None:
        """The question's answer if the gradients were ``grads`` (a grad or an update)."""
        if self.q.kind == "value":
            return None
        g = grads.get(id(self.target))
        if g is None:
            g = np.zeros_like(np.asarray(self.target.data, dtype=float))
        v = self.pick(g)
        if v is None or self.q.kind == "grad":
            return v
        w = self.pick(self.ex.values[self.q.target])
        return w - self.q.lr * v

    def grad_name(self, name: str) -> str:
        return f"∂{self.out}/∂{paren(name)}"

    @property
    def asked(self) -> str:
        return self.q.label(self.out)


def paren(name: str) -> str:
    """A node name as it reads after ∂: ``y21``, or ``(ytrue − y21)`` for a compound one."""
    return f"({name})" if any(ch.isspace() for ch in name) else name


def _derivative(s: BackwardStep, top: str | None = None) -> str:
    """``∂y21/∂z21 = 1[z21 > 0] = 1`` — the step's local derivative in the op table's
    notation, with its number when it has one (a tensor op's VJP rule has none)."""
    head = f"∂{paren(top or s.name)}/∂{paren(s.input)}"
    if s.local is None:
        return f"{head}: {s.local_text}"
    value = array(s.local, grid=False)
    if s.local_text.strip() == value:
        return f"{head} = {value}"
    return f"{head} = {s.local_text} = {value}"


def _trivial(s: BackwardStep) -> bool:
    """A step that passes the gradient on unchanged (the local derivative of a sum is 1)."""
    return s.local_text.strip() == "1"


def _labelled(node: Any) -> bool:
    return bool(getattr(node, "label", None))


# ---------------------------------------------------------------------------- the checks


def _sign(c: Context) -> Iterator[tuple[float, str]]:
    if c.q.kind == "value":
        yield -c.truth, f"Your {{given}} has the sign flipped: {c.asked} = {number(c.truth)}."
        return
    if c.q.kind == "update":  # w + γ·g: the update check names it as a step uphill
        return
    negative = [s for s in c.chain if s.local is not None and np.all(np.asarray(s.local) < 0)]
    where = f" — mind the minus in {_derivative(negative[0])}" if negative else ""
    yield -c.truth, f"Your {{given}} has the sign flipped: {c.asked} = {number(c.truth)}{where}."


def _missing_local(c: Context) -> Iterator[tuple[float, str]]:
    for s in c.chain:
        if s.local is None or _trivial(s) or len(s.node.inputs) != 1:
            continue
        v = c.answer_from(c.replay(local={s.index: np.ones_like(np.asarray(s.local))}))
        yield v, f"Your {{given}} leaves out the local derivative {_derivative(s)}: multiply by it."


def _value_for_derivative(c: Context) -> Iterator[tuple[float, str]]:
    for s in c.chain:
        if s.local is None or _trivial(s) or len(s.node.inputs) != 1:
            continue
        v = c.answer_from(c.replay(local={s.index: np.asarray(s.node.data, dtype=float)}))
        value = array(s.node.data, grid=False)
        yield (
            v,
            f"Your {{given}} multiplies by {s.name} = {value}, the node's value, instead of its "
            f"derivative {_derivative(s)}.",
        )


def _missing_path(c: Context) -> Iterator[tuple[float, str]]:
    region = {id(c.target)} | {id(s.node) for s in c.chain}
    for key, steps in c.into.items():
        if key not in region or len(steps) < 2:
            continue
        inp = steps[0].input
        names = ", ".join(s.name for s in steps)
        for s in steps:
            v = c.answer_from(c.replay(drop=frozenset({s.index})))
            part = array(s.contribution, grid=False)
            yield (
                v,
                f"Your {{given}} leaves out a path: {inp} feeds {len(steps)} nodes ({names}), "
                f"so {c.grad_name(inp)} is the sum of their contributions — the one through "
                f"{s.name} ({part}) is missing.",
            )


def _short_path(c: Context, node: Any) -> list[BackwardStep]:
    """One path of steps from ``node`` down to the target."""
    below: dict[int, BackwardStep] = {}  # node id -> the step that leads down from it
    frontier, seen = [c.target], set()
    while frontier:
        n = frontier.pop(0)
        if id(n) in seen:
            continue
        seen.add(id(n))
        for s in c.into.get(id(n), []):
            below.setdefault(id(s.node), s)
            frontier.append(s.node)
    path, at = [], node
    while id(at) in below and at is not c.target:
        s = below[id(at)]
        path.append(s)
        at = s.input_node
    return path


def _upstream_only(c: Context) -> Iterator[tuple[float, str]]:
    """Stopped early: the answer is the gradient of a node between the output and the
    target. Named nodes of the exercise come first, the farthest from the target first."""
    seen: set[int] = set()
    nodes = []
    for s in c.chain:
        if id(s.node) not in seen and s.node is not c.sol.loss:
            seen.add(id(s.node))
            nodes.append(s)
    nodes.sort(key=lambda s: not _labelled(s.node))
    for s in nodes:
        g = c.pick(c.true_grads.get(id(s.node)))
        if g is None:
            continue
        rest: list[str] = []
        top = None
        for step in _short_path(c, s.node):
            top = top or step.name
            if _trivial(step):
                continue
            rest.append(_derivative(step, top))
            top = None
        if not rest:
            continue
        short = "one step short" if len(rest) == 1 else f"{len(rest)} steps short"
        then = "multiply by " + ", then by ".join(rest)
        value = g if c.q.kind == "grad" else c.answer_from({id(c.target): g})
        used = "is" if c.q.kind == "grad" else "uses"
        yield value, f"Your {{given}} {used} {c.grad_name(s.name)} — {short}: {then}."


def _softmax(c: Context) -> Iterator[tuple[float, str]]:
    region = {id(c.target)} | {id(s.node) for s in c.chain}
    done: set[int] = set()
    for s in c.steps:
        z = s.input_node
        if s.node.op.name not in SOFTMAX_OPS or id(z) not in region or id(z) in done:
            continue
        done.add(id(z))
        data = np.asarray(s.node.data, dtype=float)
        p = np.exp(data) if s.node.op.name == "log_softmax" else data
        g = np.asarray(c.true_grads[id(z)], dtype=float)
        dz = c.grad_name(s.input)
        for wrong, text in (
            (p, f"p = softmax({s.input}) alone: {dz} = p − y, subtract the target y"),
            (g - p, f"−y alone: {dz} = p − y, add p = softmax({s.input})"),
        ):
            yield c.answer_from(c.replay(replace={id(z): wrong})), f"Your {{given}} uses {text}."


def _batch(c: Context) -> Iterator[tuple[float, str]]:
    if c.q.kind == "value":
        node = c.sol.nodes.get(c.q.target)
        if node is None:
            return
        from gradflow.graph import topological_order

        means = [n for n in topological_order(node) if n.op and n.op.name in AVERAGING_OPS]
    else:
        means = [s.node for s in c.chain if s.node.op.name in AVERAGING_OPS]
    for m in {id(m): m for m in means}.values():
        n = round(sum(np.size(x.data) for x in m.inputs) / max(np.size(m.data), 1))
        if n < 2:
            continue
        name = m.label or "the mean"
        yield (
            c.truth * n,
            f"Your {{given}} is {n} times the answer: {name} averages over {n} values "
            f"(the batch), so multiply by 1/{n}.",
        )
        yield (
            c.truth / n,
            f"Your {{given}} is the answer divided by {n} once too often: {name} already "
            f"averages over {n} values.",
        )


def _update(c: Context) -> Iterator[tuple[float, str]]:
    if c.q.kind == "update":
        t, lr = c.q.element(), c.q.lr
        w = c.pick(c.ex.values[c.q.target])
        g = c.pick(c.true_grads.get(id(c.target)))
        if g is None:
            return
        rule = f"new {t} = {t} − γ·{c.grad_name(t)} = {number(w)} − {lr:g}·({number(g)})"
        yield w + lr * g, f"Your {{given}} steps uphill (+γ·∂): {rule}."
        yield w - g, f"Your {{given}} leaves out the learning rate γ = {lr:g}: {rule}."
        yield -lr * g, f"Your {{given}} is the step −γ·{c.grad_name(t)}, not the new {t}: {rule}."
    elif c.q.kind == "value" and c.q.target in c.ex.update:
        flipped = {k: -np.asarray(g) for k, g in c.sol.grads.items()}
        env = c.ex.update_env(c.sol.nodes, flipped)
        v = c.pick(env[c.q.target].data)
        yield v, "Your {given} steps in the wrong direction: the update goes against the gradient."


@dataclass(frozen=True)
class Misconception:
    key: str
    title: str
    candidates: Callable[[Context], Iterator[tuple[float, str]]]


MISCONCEPTIONS: dict[str, Misconception] = {
    m.key: m
    for m in (
        Misconception("sign", "sign flipped", _sign),
        Misconception("softmax", "softmax confusion (p instead of p − y)", _softmax),
        Misconception("batch", "off by the batch size / averaging", _batch),
        Misconception("missing_local", "a local derivative left out", _missing_local),
        Misconception(
            "value_for_derivative", "the node's value instead of its derivative",
            _value_for_derivative,
        ),
        Misconception("missing_path", "one of several paths left out", _missing_path),
        Misconception("upstream_only", "upstream gradient only (stopped early)", _upstream_only),
        Misconception("update", "learning-rate step wrong (direction, γ)", _update),
    )
}  # fmt: skip


def candidates(ex: Exercise, q: Question, sol: Solution | None = None) -> list[Candidate]:
    """Every wrong answer a misconception produces for ``q`` (finite, and not the right
    answer), in the order the diagnosis tries them."""
    sol = sol if sol is not None else ex.solve()
    c = Context(ex, q, sol)
    if q.kind != "value" and c.target is None:
        return []
    out = []
    for m in MISCONCEPTIONS.values():
        for value, message in m.candidates(c):
            if value is None or not np.isfinite(value) or ex.close(value, c.truth):
                continue
            out.append(Candidate(m.key, float(value), message))
    return out


def diagnose(
    ex: Exercise, q: Question, given: float, sol: Solution | None = None
) -> Diagnosis | None:
    """The first misconception whose wrong answer matches ``given`` (None when the answer is
    right, not finite, or no misconception explains it)."""
    if not np.isfinite(given):
        return None
    sol = sol if sol is not None else ex.solve()
    if ex.close(given, ex.answer(q, sol)):
        return None
    for cand in candidates(ex, q, sol):
        if ex.close(given, cand.value):
            return Diagnosis(cand.misconception, cand.message.replace("{given}", number(given)))
    return None
