"""Trace a model's ``forward`` once on the graph engine into an op graph.

The model runs on a real batch with its real parameter objects. Every op it applies is
recorded by the graph engine as usual; a call of a module that has a registered lowering
(:mod:`gradflow.jit.lowerings`) is also recorded as one call, so the plan can run it as one
kernel stage — or, when the lowering declines (a Linear on 3-D input, a weight shared with
another op), as the ops it was made of.

Python control flow that depends on tensor *values* cannot be traced: ``if`` on a tensor,
``.item()``, ``float(t)`` raise :class:`TraceError` naming the line; a second trace on other
values must give the same graph (this catches branches on ``t.data`` and random draws).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ops as O
from ..errors import GradflowError
from ..graph import enable_grad
from ..nn.module import Module
from ..tensor import Tensor, apply


class TraceError(GradflowError, TypeError):
    """``forward`` does something the jit backend cannot record once and replay."""


@dataclass
class Call:
    """One call of a module with a lowering: its tensor arguments and (flattened) outputs."""

    module: Module
    args: tuple[Tensor, ...]
    outputs: list[Tensor]  # the markers standing for the module's tensor outputs
    inner: list[Tensor]  # the tensors the module's own ops returned
    label: str


@dataclass
class Node:
    """A node of the traced graph. ``kind``: input, param, const, op or module."""

    kind: str
    inputs: tuple[int, ...]
    shape: tuple[int, ...]
    label: str = ""
    op: O.Op | None = None
    params: dict = field(default_factory=dict)
    call: Call | None = None
    out_index: int = 0
    value: Any = None  # param: the Parameter; const: the array


@dataclass
class Graph:
    nodes: list[Node]
    output: int

    def consumers(self) -> list[int]:
        count = [0] * len(self.nodes)
        for n in self.nodes:
            for i in n.inputs:
                count[i] += 1
        count[self.output] += 1
        return count


def module_paths(model: Module) -> dict[int, str]:
    """id(module) -> its dotted place in ``model`` ("0", "fc1", "encoder.2"; a Sequential's
    ``layers.`` left out, as its layers are numbered)."""
    out = {id(model): ""}

    def walk(m, prefix):
        for name, child in m.named_children():
            path = f"{prefix}{name}".replace("layers.", "")
            out.setdefault(id(child), path)
            walk(child, path + ".")

    walk(model, "")
    return out


class _Slot(int):
    """The place of a tensor in a flattened module result."""


def _flatten(obj, out: list) -> Any:
    """The tensors of a module's result in order; the structure with each replaced by its
    :class:`_Slot` in ``out``."""
    if isinstance(obj, Tensor):
        out.append(obj)
        return _Slot(len(out) - 1)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_flatten(o, out) for o in obj)
    return obj


def _rebuild(struct, tensors: list) -> Any:
    if isinstance(struct, _Slot):
        return tensors[struct]
    if isinstance(struct, (tuple, list)):
        return type(struct)(_rebuild(s, tensors) for s in struct)
    return struct


def _forward_line() -> str:
    """file:line of the innermost ``forward`` on the stack (where a value was read)."""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "forward":
            return f"{f.f_code.co_filename}:{f.f_lineno}"
        f = f.f_back
    return "forward"


class _Recorder:
    def __init__(self, model: Module, lowerable: Callable[[Module], bool]):
        self.model = model
        self.lowerable = lowerable
        self.paths = module_paths(model)
        self.calls: list[Call] = []
        self.markers: dict[int, tuple[Call, int]] = {}
        self.opaque = 0  # > 0 inside a module with a lowering (its values may be read)
        self.stack: list[str] = []

    def label(self, m: Module) -> str:
        path = self.paths.get(id(m))
        name = type(m).__name__
        return f"{name} at {path}" if path else f"{name} (the model's root)"

    def call(self, original, module: Module, args, kwargs):
        label = self.label(module)
        record = (
            self.opaque == 0
            and not kwargs
            and args
            and all(isinstance(a, Tensor) for a in args)
            and self.lowerable(module)
        )
        self.stack.append(label)
        try:
            if not record:
                return original(module, *args, **kwargs)
            self.opaque += 1
            was = module.training
            module.train(False)  # no running averages updated, no random draws while tracing
            try:
                result = original(module, *args, **kwargs)
            finally:
                module.train(was)
                self.opaque -= 1
        except (GradflowError, ValueError) as e:
            if not getattr(e, "_named", False) and self.stack:
                e.args = (f"{self.stack[-1]}: {e.args[0] if e.args else ''}",) + e.args[1:]
                e._named = True
            raise
        finally:
            self.stack.pop()
        inner: list[Tensor] = []
        struct = _flatten(result, inner)
        markers = [apply(O.RESHAPE, (t,), {"shape": t.shape}) for t in inner]
        call = Call(module, tuple(args), markers, inner, label)
        self.calls.append(call)
        for k, m in enumerate(markers):
            self.markers[id(m)] = (call, k)
        return _rebuild(struct, markers)

    def value_read(self, what: str):
        if self.opaque:
            return
        where = self.stack[-1] if self.stack else "the model"
        raise TraceError(
            f"{_forward_line()}: {where} reads a tensor's value ({what}) in forward; the jit "
            "backend traces forward once, so a Python decision on values cannot be replayed — "
            "write it with tensor ops (gradflow.where, relu, maximum) or train with "
            "backend='graph'"
        )


# Tracing swaps Module.__call__ and a few Tensor methods for the duration of one forward.
# Those are class attributes, seen by every thread: one trace at a time (the lock), and the
# swapped methods act only for the thread that is tracing — a model running in another
# thread (a sweep on a thread pool) goes through the originals, unrecorded.
_TRACE_LOCK = threading.Lock()
_tracing = threading.local()


def run_traced(model: Module, x: np.ndarray, lowerable: Callable[[Module], bool]):
    """(recorder, input tensor, output tensor) of one traced forward of ``model`` on ``x``."""
    rec = _Recorder(model, lowerable)
    with _TRACE_LOCK:
        original_call = Module.__call__
        saved = {k: Tensor.__dict__.get(k) for k in ("__bool__", "item", "__float__", "__int__")}

        def traced_call(self, *args, **kwargs):
            if getattr(_tracing, "rec", None) is not rec:
                return original_call(self, *args, **kwargs)
            return rec.call(original_call, self, args, kwargs)

        def guard(name, what, fallback):
            own = saved[name]

            def method(self, *a):
                if getattr(_tracing, "rec", None) is rec:
                    rec.value_read(what)
                return (own or fallback)(self, *a)

            return method

        Module.__call__ = traced_call
        Tensor.__bool__ = guard("__bool__", "a truth test, `if t:`", lambda t: bool(t.data))
        Tensor.item = guard("item", ".item()", lambda t: t.data.item())
        Tensor.__float__ = guard("__float__", "float(t)", lambda t: float(t.data))
        Tensor.__int__ = guard("__int__", "int(t)", lambda t: int(t.data))
        _tracing.rec = rec
        try:
            with enable_grad():
                xt = Tensor(x, requires_grad=True)
                out = model(xt)
        finally:
            _tracing.rec = None
            Module.__call__ = original_call
            for k, v in saved.items():
                if v is None:
                    delattr(Tensor, k)
                else:
                    setattr(Tensor, k, v)
    if not isinstance(out, Tensor):
        raise TraceError(
            f"{type(model).__name__}.forward returns {type(out).__name__}; the jit backend "
            "trains a model whose forward returns one Tensor"
        )
    return rec, xt, out


def build_graph(rec: _Recorder, xt: Tensor, out: Tensor, accepted: set[int]) -> Graph:
    """The op graph from ``out`` back to the input and leaves; calls whose id is in
    ``accepted`` become module nodes, the others are opened up into their ops."""
    nodes: list[Node] = []
    index: dict[int, int] = {}
    params = {id(p) for p in rec.model.parameters()}

    def visit_order(root: Tensor) -> list[Tensor]:
        order, seen, stack = [], set(), [(root, False)]
        while stack:
            t, done = stack.pop()
            if done:
                order.append(t)
                continue
            if id(t) in seen:
                continue
            seen.add(id(t))
            stack.append((t, True))
            for parent in reversed(parents(t)):
                if id(parent) not in seen:
                    stack.append((parent, False))
        return order

    def parents(t: Tensor) -> tuple[Tensor, ...]:
        hit = rec.markers.get(id(t))
        if hit is not None:
            call, k = hit
            return call.args if id(call) in accepted else (call.inner[k],)
        if t is xt:
            return ()
        return tuple(t._inputs) if t._op is not None else ()

    for t in visit_order(out):
        hit = rec.markers.get(id(t))
        ins = tuple(index[id(p)] for p in parents(t))
        if hit is not None:
            call, k = hit
            if id(call) in accepted:
                node = Node("module", ins, t.shape, call.label, call=call, out_index=k)
            else:  # an opened-up call: its marker is the identity
                index[id(t)] = ins[0]
                continue
        elif t is xt:
            node = Node("input", (), t.shape, "the input")
        elif t._op is not None:
            where = t.scope.split("/")[-1].split(":")[-1] if t.scope else ""
            label = f"{t._op.name} in {where}" if where else f"{t._op.name} in forward"
            node = Node("op", ins, t.shape, label, op=t._op, params=dict(t._params))
        elif id(t) in params:
            node = Node("param", (), t.shape, "parameter", value=t)
        else:
            node = Node("const", (), t.shape, "constant", value=np.array(t.data))
        index[id(t)] = len(nodes)
        nodes.append(node)
    return Graph(nodes, index[id(out)])


def signature(graph: Graph) -> list:
    """What must not change between two traces on different values: every node's kind, op,
    parameters, inputs and constants."""

    def frozen(v):
        if isinstance(v, np.ndarray):
            return (v.shape, v.dtype.str, v.tobytes())
        if isinstance(v, dict):
            return tuple((k, frozen(x)) for k, x in sorted(v.items()))
        if isinstance(v, (tuple, list)):
            return tuple(frozen(x) for x in v)
        if isinstance(v, slice):
            return ("slice", v.start, v.stop, v.step)
        return v

    out = []
    for n in graph.nodes:
        value = frozen(n.value) if n.kind == "const" else id(n.value)
        call = type(n.call.module) if n.call else None
        name = n.op.name if n.op else None
        out.append((n.kind, name, frozen(n.params), n.inputs, n.shape, value, call, n.out_index))
    return out
