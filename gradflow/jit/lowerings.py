"""How each piece of a traced graph becomes a stage.

* **Module lowerings**, registered by class with :func:`lowering` (``@lowering(nn.Linear)``):
  a call of that module (or of a subclass that keeps its ``forward``) runs as one kernel
  stage. A lowering may decline (return ``None``), e.g. a Linear on 3-D input; the call is
  then run as the ops it was made of.
* **Op lowerings**: an elementwise activation op runs on the activation kernel, softmax and
  log-softmax of (B, K) on theirs, a reshape as a view; **every other op** runs as a
  :class:`GenericOp` stage — its forward and its local derivative (elementwise ops) or
  vector-Jacobian product (tensor ops) straight from the op table, over numpy/BLAS.

Nothing here matches a class or an op by a name string: module lowerings are found along the
class's MRO, ops by their record in :mod:`gradflow.ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import nn
from .. import ops as O
from ..errors import ShapeError
from ..kernels import activation as act_k
from ..numerics import ARRAY
from . import extra_stages, slope_stages, stages
from .stages import grad_view

#: module class -> lowering(module, ctx) -> Stage | None
LOWERINGS: dict[type, Callable] = {}


def lowering(*classes: type):
    """Register a function ``(module, ctx) -> Stage | None`` that runs a call of any of
    ``classes`` (and of their subclasses that do not override ``forward``) as one stage."""

    def register(fn):
        for cls in classes:
            LOWERINGS[cls] = fn
        return fn

    return register


def find_lowering(module) -> Callable | None:
    """The lowering for ``module``'s class: its own, else the nearest base class's — unless
    the module overrides that base's ``forward`` (then it is traced as what it computes)."""
    for cls in type(module).__mro__:
        fn = LOWERINGS.get(cls)
        if fn is not None:
            return fn if type(module).forward is cls.forward else None
    return None


@dataclass
class Context:
    """What a lowering knows about the call: its label, the dtype, the traced input shapes
    and which of the module's outputs is used (recurrent layers return several)."""

    label: str
    dtype: np.dtype
    in_shapes: list[tuple[int, ...]]
    out_index: int


def _bias(layer):
    b = layer.bias
    return (None, None) if b is None else (b.data, grad_view(b))


@lowering(nn.Linear)
def _linear(layer, ctx):
    if len(ctx.in_shapes) != 1 or len(ctx.in_shapes[0]) != 2:
        return None  # (B, T, d) and more: the matmul on the generic path
    b, gb = _bias(layer)
    w = layer.weight
    return stages.Dense(ctx.label, w.data, b, grad_view(w), gb, act_k.IDENTITY, 0.0, ctx.dtype)


@lowering(nn.Conv1d, nn.Conv2d)
def _conv(layer, ctx):
    b, gb = _bias(layer)
    w = layer.weight
    return stages.Conv(
        ctx.label, w.data, b, grad_view(w), gb, tuple(layer.stride), tuple(layer.padding),
        act_k.IDENTITY, 0.0, ctx.dtype,
    )  # fmt: skip


@lowering(nn.MaxPool1d, nn.MaxPool2d)
def _max_pool(layer, ctx):
    return stages.Pool(ctx.label, "max", layer.dims, layer.kernel_size, layer.stride, ctx.dtype)


@lowering(nn.AvgPool1d, nn.AvgPool2d)
def _avg_pool(layer, ctx):
    return stages.Pool(ctx.label, "avg", layer.dims, layer.kernel_size, layer.stride, ctx.dtype)


@lowering(nn.Flatten)
def _flatten(layer, ctx):
    return stages.Flatten(ctx.dtype, ctx.label)


@lowering(nn.Dropout)
def _dropout(layer, ctx):
    return stages.Dropout(ctx.label, layer.p, layer.mc, layer.generator, ctx.dtype)


@lowering(nn.RNN, nn.LSTM, nn.GRU)
def _recurrent(layer, ctx):
    if len(ctx.in_shapes) != 1:
        return None  # an initial state given: the unrolled ops
    if ctx.out_index > 1:
        return None  # the LSTM's last cell state used: the unrolled ops
    return extra_stages.Recurrent(ctx.label, layer, ctx.out_index == 1, ctx.dtype)


@lowering(nn.BatchNorm1d, nn.BatchNorm2d)
def _batch_norm(layer, ctx):
    return extra_stages.BatchNorm(ctx.label, layer, ctx.dtype)


@lowering(nn.PReLU)
def _prelu(layer, ctx):
    return slope_stages.PReLU(ctx.label, layer, ctx.dtype)


@lowering(nn.RReLU)
def _rrelu(layer, ctx):
    return slope_stages.RReLU(ctx.label, layer, ctx.dtype)


@lowering(nn.Swish)
def _swish(layer, ctx):
    if layer.beta is None:
        return None  # a constant β: the table's swish op, on the activation kernel
    return slope_stages.LearnableSwish(ctx.label, layer, ctx.dtype)


# --- ops ----------------------------------------------------------------------------------
def activation_code(op: O.Op, params: dict) -> tuple[int, float] | None:
    """(kernel code, parameter) of an elementwise activation op, else None."""
    found = act_k.CODES.get(op.name)
    if found is None or O.OPS.get(op.name) is not op:
        return None
    code, pname, default = found
    return code, float(params.get(pname, default)) if pname else 0.0


def lower_op(label: str, op: O.Op, params: dict, in_shapes, out_shape, dtype):
    """The stage for one op node: a kernel where one exists, else :class:`GenericOp`."""
    if len(in_shapes) == 1:
        found = activation_code(op, params) if op.elementwise else None
        if found is not None:
            return stages.Activation(label, found[0], found[1], dtype)
        if op in (O.SOFTMAX, O.LOG_SOFTMAX) and len(in_shapes[0]) == 2:
            if params.get("axis", -1) in (-1, 1):
                return stages.Softmax(label, op is O.LOG_SOFTMAX, dtype)
        if op is O.RESHAPE:
            shape = tuple(out_shape)
            return stages.Reshape(label, lambda _in, shape=shape: shape, dtype)
    return GenericOp(label, op, params, dtype)


class GenericOp:
    """Any op of the table over numpy arrays: forward as the graph engine runs it, backward
    from the op's local derivatives (elementwise, summed over broadcast axes) or its
    vector-Jacobian product. Takes several inputs; ``backward`` returns one gradient per
    input (``None`` where ``need[i]`` is False)."""

    has_params = False
    multi = True

    def __init__(self, name, op: O.Op, params: dict, dtype):
        self.name, self.op, self.params = name, op, params
        self.dtype = np.dtype(dtype)
        self.need: list[bool] = []

    def forward(self, *xs):
        op, p = self.op, self.params
        with np.errstate(all="ignore"):
            try:
                out = op.forward(ARRAY, *xs, **p) if op.elementwise else op.forward(*xs, **p)
            except (ValueError, IndexError) as e:
                shapes = " and ".join(str(x.shape) for x in xs)
                raise ShapeError(f"{self.name}: on shape(s) {shapes}: {e}") from None
        self.xs = xs
        self.out = np.asarray(out).astype(self.dtype, copy=False)
        return self.out

    def backward(self, g):
        op, p, xs = self.op, self.params, self.xs
        grads = []
        with np.errstate(all="ignore"):
            for i, x in enumerate(xs):
                if not self.need[i]:
                    grads.append(None)
                    continue
                if op.elementwise:
                    local = op.local(i, ARRAY, self.out, list(xs), p)
                    c = O.unbroadcast(np.asarray(g * local), x.shape)
                else:
                    c = np.asarray(op.vjp(i, g, self.out, list(xs), p))
                grads.append(c.astype(self.dtype, copy=False))
        return grads
