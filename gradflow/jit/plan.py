"""Compile a model into a plan: trace ``forward`` once, lower the op graph to stages, fuse.

1. :mod:`~gradflow.jit.trace` runs ``forward`` on the graph engine with the model's real
   parameters and a batch of the right shape, giving an op graph whose leaves are the input,
   the parameters and constants; calls of modules with a registered lowering are nodes too.
2. :mod:`~gradflow.jit.lowerings` turns each node into a stage (a kernel where one exists,
   the op table's own forward and derivative on numpy otherwise).
3. Fusion: an activation after a Linear/Conv runs inside its kernel, a max-pool after a Conv
   too, consecutive Linear layers become one stack (one kernel call per pass), and the last
   sigmoid/log-softmax joins a BCE/NLL loss (``bce_logits`` / softmax cross-entropy).

A plan is a list of steps over numbered slots (slot = node of the traced graph). A plan that
is a plain chain (each step takes the previous step's output, no parameter used outside a
module) also exposes ``stages``/``train_stages`` and runs through the chain loop, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import GradflowError
from ..kernels import activation as act_k
from . import stages
from .lowerings import Context, GenericOp, find_lowering, lower_op
from .trace import TraceError, build_graph, run_traced, signature


class UnsupportedLayerError(GradflowError, NotImplementedError):
    """Kept for code that catches it: since plans are traced, a model the graph engine runs
    is never unsupported (an op without a kernel runs on the generic path)."""


@dataclass
class Step:
    stage: object
    ins: tuple[int, ...]
    out: int


@dataclass
class Plan:
    """Steps to run; the first ``n_train`` in training (the rest are fused into the loss)."""

    steps: list[Step]
    n_train: int
    slots: int
    input_slot: int
    output: int
    train_output: int
    loss_name: str
    preset: dict[int, np.ndarray] = field(default_factory=dict)
    loose: dict[int, np.ndarray] = field(default_factory=dict)  # slot -> parameter grad view
    needs: list[bool] = field(default_factory=list)
    chain: bool = False
    stages: list = field(default_factory=list)
    train_stages: list = field(default_factory=list)
    backward_stop: int = 0

    # --- running ----------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool, train: bool = False, check=None):
        """The output (``train``: the training output, before the stages fused into the
        loss). ``check(step, value)`` sees every step's output (the NaN diagnosis)."""
        if self.chain:
            run = self.train_stages if train else self.stages
            shape = x.shape
            for s in run:
                shape = s.resize(shape)
            for s in run:
                x = s.forward(x, training)
                if check is not None:
                    check(s, x)
            return x
        vals = self._values = [None] * self.slots
        for k, v in self.preset.items():
            vals[k] = v
        vals[self.input_slot] = x
        for step in self.steps[: self.n_train] if train else self.steps:
            st = step.stage
            if getattr(st, "multi", False):
                y = st.forward(*[vals[i] for i in step.ins])
            else:
                xin = vals[step.ins[0]]
                st.resize(xin.shape)
                y = st.forward(xin, training)
            vals[step.out] = y
            if check is not None:
                check(st, y)
        return vals[self.train_output if train else self.output]

    def backward(self, g: np.ndarray, check=None) -> None:
        """Backpropagate ∂L/∂(training output) through the training steps."""
        if self.chain:
            run = self.train_stages
            for k in range(len(run) - 1, self.backward_stop - 1, -1):
                g = run[k].backward(g)
                if check is not None:
                    check(run[k], g)
            return
        for v in self.loose.values():
            v[...] = 0.0
        needs = self.needs
        grads: list = [None] * self.slots
        grads[self.train_output] = g
        for step in reversed(self.steps[: self.n_train]):
            g = grads[step.out]
            grads[step.out] = None
            if g is None or not needs[step.out]:
                continue
            st = step.stage
            if getattr(st, "multi", False):
                for i, gi in zip(step.ins, st.backward(g)):
                    self._accumulate(grads, i, gi)
            else:
                gi = st.backward(g)
                self._accumulate(grads, step.ins[0], gi)
            if check is not None:
                check(st, g)

    def _accumulate(self, grads: list, slot: int, g) -> None:
        if g is None or not self.needs[slot]:
            return
        view = self.loose.get(slot)
        if view is not None:
            view += g.reshape(view.shape)
        elif grads[slot] is None:
            grads[slot] = g
        else:
            grads[slot] = grads[slot] + g


def _lowerable(module) -> bool:
    return find_lowering(module) is not None


def _decide(rec, xt, out, dtype) -> tuple[set[int], dict[int, object]]:
    """Which module calls run as their lowering (ids of the calls) and their stages.

    A call is opened up into its ops when its lowering declines, or when one of its
    parameters is also used elsewhere — by an op, or by another call (a module called twice,
    a shared weight): the kernels overwrite their gradient views."""
    candidates = {id(c): c for c in rec.calls}
    built: dict[int, object] = {}
    while True:
        graph = build_graph(rec, xt, out, set(candidates))
        used: dict[int, set[int]] = {}
        for n in graph.nodes:
            if n.kind == "module":
                used.setdefault(id(n.call), set()).add(n.out_index)
        loose = _params_used_by_ops(graph)
        owner: dict[int, int] = {}
        declined = {cid for cid in candidates if cid not in used}
        for cid, call in candidates.items():
            if cid in declined:
                continue
            for p in call.module.parameters():
                if id(p) in loose or owner.setdefault(id(p), cid) != cid:
                    declined.add(cid)
                    declined.add(owner[id(p)])
            if len(used[cid]) != 1:
                declined.add(cid)
        for cid, call in candidates.items():
            if cid in declined or cid in built:
                continue
            ctx = Context(call.label, dtype, [a.shape for a in call.args], min(used[cid]))
            stage = find_lowering(call.module)(call.module, ctx)
            if stage is None:
                declined.add(cid)
            else:
                built[cid] = stage
        if not declined:
            return set(candidates), built
        for cid in declined:
            candidates.pop(cid, None)
            built.pop(cid, None)


def _params_used_by_ops(graph) -> set[int]:
    out = set()
    for n in graph.nodes:
        if n.kind == "op":
            for i in n.inputs:
                if graph.nodes[i].kind == "param":
                    out.add(id(graph.nodes[i].value))
    return out


def _graph_for(model, x, dtype):
    rec, xt, out = run_traced(model, x, _lowerable)
    accepted, built = _decide(rec, xt, out, dtype)
    graph = build_graph(rec, xt, out, accepted)
    order = [k for k, c in enumerate(rec.calls) if id(c) in accepted]
    return graph, built, order


def _check_same_path(model, x, graph, order: list[int]) -> None:
    """A second trace on other values must record the same graph."""
    rng = np.random.default_rng(12345)
    scale = float(np.abs(x).mean()) + 1.0 if x.size else 1.0
    x2 = (x + rng.standard_normal(x.shape) * scale).astype(x.dtype)
    rec2, xt2, out2 = run_traced(model, x2, _lowerable)
    calls2 = {id(rec2.calls[k]) for k in order if k < len(rec2.calls)}
    g2 = build_graph(rec2, xt2, out2, calls2)
    a, b = signature(graph), signature(g2)
    if a == b:
        return
    k = next((i for i, (u, v) in enumerate(zip(a, b)) if u != v), min(len(a), len(b)))
    where = graph.nodes[k].label if k < len(graph.nodes) else "the end of forward"
    raise TraceError(
        f"{type(model).__name__}.forward runs differently for different input values (first "
        f"difference: {where}): a Python branch on tensor values (t.data) or a random draw "
        "inside forward; the jit backend traces forward once — use tensor ops (gradflow.where) "
        "and layers (nn.Dropout) instead, or train with backend='graph'"
    )


def compile_plan(model, x: np.ndarray, training: bool, loss_name: str, dtype) -> Plan:
    """Trace ``model`` on the batch ``x`` (in ``training`` mode or not) and lower it."""
    dtype = np.dtype(dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    was = model.training
    model.train(training)
    try:
        graph, built, order = _graph_for(model, x, dtype)
        _check_same_path(model, x, graph, order)
    finally:
        model.train(was)
    return lower(graph, built, loss_name, dtype)


def lower(graph, built: dict, loss_name: str, dtype) -> Plan:
    nodes = graph.nodes
    steps: list[Step] = []
    preset: dict[int, np.ndarray] = {}
    loose: dict[int, np.ndarray] = {}
    input_slot = 0
    for k, n in enumerate(nodes):
        if n.kind == "input":
            input_slot = k
        elif n.kind == "param":
            preset[k] = n.value.data
            loose[k] = stages.grad_view(n.value)
        elif n.kind == "const":
            preset[k] = np.ascontiguousarray(n.value, dtype=dtype)
        elif n.kind == "module":
            steps.append(Step(built[id(n.call)], n.inputs, k))
        else:
            shapes = [nodes[i].shape for i in n.inputs]
            steps.append(
                Step(lower_op(n.label, n.op, n.params, shapes, n.shape, dtype), n.inputs, k)
            )
    consumers = graph.consumers()
    plan = Plan(steps, len(steps), len(nodes), input_slot, graph.output, graph.output,
                loss_name, preset, loose)  # fmt: skip
    _fuse_loss(plan, consumers)
    _fuse_activations(plan, consumers)
    _fuse_dense_runs(plan, consumers)
    _mark_needs(plan)
    _as_chain(plan)
    return plan


def _producer(plan: Plan, slot: int) -> int | None:
    for k, s in enumerate(plan.steps):
        if s.out == slot:
            return k
    return None


def _fuse_loss(plan: Plan, consumers) -> None:
    """σ then BCE -> BCE on logits; log-softmax then NLL -> softmax cross-entropy: the last
    stage runs in prediction only."""
    if not plan.steps or plan.steps[-1].out != plan.output:
        return
    last = plan.steps[-1]
    st = last.stage
    fused = None
    if plan.loss_name == "bce" and isinstance(st, stages.Activation) and st.code == act_k.SIGMOID:
        fused = "bce_logits"
    elif plan.loss_name == "nll" and isinstance(st, stages.Softmax) and st.log:
        fused = "nll_fused"
    if fused is None:
        return
    plan.loss_name = fused
    plan.n_train = len(plan.steps) - 1
    plan.train_output = last.ins[0]


def _single_chain(plan: Plan, consumers, k: int) -> int | None:
    """The index of the step producing step k's only input, when that output feeds step k
    alone (so the two may run as one)."""
    s = plan.steps[k]
    if len(s.ins) != 1 or consumers[s.ins[0]] != 1:
        return None
    j = _producer(plan, s.ins[0])
    if j is None or (k >= plan.n_train) != (j >= plan.n_train):
        return None
    return j


def _fuse_activations(plan: Plan, consumers) -> None:
    """Linear/Conv + activation, Conv + max-pool: one kernel."""
    k = 0
    while k < len(plan.steps):
        st = plan.steps[k].stage
        j = _single_chain(plan, consumers, k)
        prev = plan.steps[j].stage if j is not None else None
        merge = False
        if isinstance(st, stages.Activation) and isinstance(prev, (stages.Dense, stages.Conv)):
            fusable = st.code in act_k.FUSED_CODES  # others stay a stage of their own
            if fusable and prev.code == act_k.IDENTITY and getattr(prev, "pool", None) is None:
                prev.code, prev.alpha = st.code, st.alpha
                merge = True
        elif isinstance(st, stages.Pool) and st.kind == "max" and isinstance(prev, stages.Conv):
            monotone = act_k.non_decreasing(prev.code, prev.alpha)  # pooled before f
            if prev.pool is None and prev.dims == st.dims and monotone:
                prev.fuse_max_pool(st)
                merge = True
        if merge:
            plan.steps[j].out = plan.steps[k].out
            if k < plan.n_train:
                plan.n_train -= 1
            del plan.steps[k]
            continue
        k += 1


def _fuse_dense_runs(plan: Plan, consumers) -> None:
    """Each run of ≥ 2 chained Linear stages of at most :data:`~stages.STACK_WEIGHTS`
    weights each -> one :class:`~stages.DenseStack`."""
    out: list[Step] = []
    run: list[Step] = []
    n_train = plan.n_train

    def flush():
        nonlocal n_train
        if len(run) >= 2:
            stack = stages.DenseStack([s.stage for s in run], run[0].stage.dtype)
            out.append(Step(stack, run[0].ins, run[-1].out))
            n_train -= len(run) - 1
        else:
            out.extend(run)
        run.clear()

    for k, s in enumerate(plan.steps):
        small = isinstance(s.stage, stages.Dense) and s.stage.stackable and k < plan.n_train
        if small and run and s.ins == (run[-1].out,) and consumers[run[-1].out] == 1:
            run.append(s)
            continue
        flush()
        if small:
            run.append(s)
        else:
            out.append(s)
    flush()
    plan.steps = out
    plan.n_train = n_train


def _mark_needs(plan: Plan) -> None:
    """Which slots need a gradient (a parameter is upstream); stages skip ∂L/∂x otherwise."""
    needs = [False] * plan.slots
    for k in plan.loose:
        needs[k] = True
    for s in plan.steps:
        st = s.stage
        needs[s.out] = getattr(st, "has_params", False) or any(needs[i] for i in s.ins)
        if isinstance(st, GenericOp):
            st.need = [needs[i] for i in s.ins]
        else:
            st.need_dx = needs[s.ins[0]]
    plan.needs = needs


def _as_chain(plan: Plan) -> None:
    prev = plan.input_slot
    for s in plan.steps:
        if len(s.ins) != 1 or s.ins[0] != prev or getattr(s.stage, "multi", False):
            return
        prev = s.out
    if plan.preset or prev != plan.output:
        return
    plan.chain = True
    plan.stages = [s.stage for s in plan.steps]
    plan.train_stages = plan.stages[: plan.n_train]
    plan.backward_stop = len(plan.train_stages)
    for k in range(len(plan.train_stages)):
        if plan.needs[plan.steps[k].out]:
            plan.backward_stop = k
            break
