"""Compile a model into a plan: a list of :mod:`stages <gradflow.jit.stages>`.

The plan is read from each layer's class name, ``config()`` and parameter arrays — never by
running the layer's Python ``forward``. Anything the backend cannot run raises
:class:`UnsupportedLayerError` naming the layer *before* any training or compilation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import GradflowError, ShapeError
from ..kernels import activation as act_k
from ..nn.shape import per_sample_shape
from . import stages


class UnsupportedLayerError(GradflowError, NotImplementedError):
    """The jitted backend has no kernel for this layer (train it with ``backend="graph"``)."""


FUSABLE = {"Linear", "Conv1d", "Conv2d"}
CONTAINERS = {"Sequential"}


@dataclass
class Plan:
    """Stages to run; ``train_stages`` may drop a final layer fused into the loss."""

    stages: list
    train_stages: list = field(default_factory=list)
    loss_name: str = ""
    backward_stop: int = 0


class LastState:
    """Marks a recurrent layer whose last hidden state (not the whole sequence) goes on."""

    def __init__(self, layer):
        self.layer = layer


def flatten_layers(model, prefix: str = "") -> list[tuple[str, object]]:
    """(path, layer) pairs of ``model`` in execution order, containers opened up.

    Known composite models are read from their parts: ``SequenceModel`` is its recurrent
    layer (last state) then its head; ``Autoencoder`` is its encoder then its decoder.
    """
    kind = type(model).__name__
    if kind == "SequenceModel":
        return [(f"{prefix}recurrent", LastState(model.recurrent)), (f"{prefix}head", model.head)]
    if kind == "Autoencoder":
        return flatten_layers(model.encoder, f"{prefix}encoder.") + flatten_layers(
            model.decoder, f"{prefix}decoder."
        )
    if kind in CONTAINERS or (hasattr(model, "layers") and isinstance(model.layers, list)):
        out = []
        for k, layer in enumerate(model.layers):
            out.extend(flatten_layers(layer, f"{prefix}{k}."))
        return out
    if hasattr(model, "jit_layers"):  # a model class that states its layer sequence
        out = []
        for k, layer in enumerate(model.jit_layers()):
            out.extend(flatten_layers(layer, f"{prefix}{k}."))
        return out
    return [(prefix.rstrip(".") or "the model's root", model)]


def activation_code(layer) -> tuple[int, float] | None:
    """(kernel code, parameter) for an elementwise activation module, else None."""
    kind = type(layer).__name__
    if kind == "Identity":
        return act_k.IDENTITY, 0.0
    if kind == "Swish":
        cfg = layer.config()
        return None if cfg.get("learnable") else (act_k.SWISH, float(cfg.get("beta", 1.0)))
    op_name = getattr(layer, "op_name", None)
    if op_name in act_k.CODES:
        code, pname, default = act_k.CODES[op_name]
        params = getattr(layer, "params", None) or layer.config()
        return code, float(params.get(pname, default)) if pname else 0.0
    return None


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _single(v) -> tuple[int]:
    return (int(v),) if np.isscalar(v) else (int(v[0]),)


def build_stages(layers: list[tuple[str, object]], dtype, fuse_last: bool = True) -> list:
    """Stages for ``layers``; an activation right after Linear/Conv is fused into it."""
    out = []
    i = 0
    while i < len(layers):
        path, layer = layers[i]
        kind = type(layer).__name__
        shown = type(layer.layer).__name__ if kind == "LastState" else kind
        label = f"{shown} at {path}"
        nxt = activation_code(layers[i + 1][1]) if i + 1 < len(layers) else None
        last_pair = i + 2 == len(layers)
        fuse = kind in FUSABLE and nxt is not None and (fuse_last or not last_pair)
        code, alpha = nxt if fuse else (act_k.IDENTITY, 0.0)
        stage = _stage(label, layer, kind, code, alpha, dtype)
        out.extend(stage if isinstance(stage, list) else [stage])
        i += 2 if fuse else 1
        if kind in ("Conv1d", "Conv2d") and i < len(layers):  # conv → max pool: one kernel
            pool_path, pool = layers[i]
            if type(pool).__name__ == f"MaxPool{kind[-2:]}":
                stage.fuse_max_pool(_stage(f"{type(pool).__name__} at {pool_path}", pool,
                                           type(pool).__name__, 0, 0.0, dtype))  # fmt: skip
                i += 1
    return out


def _grad(p):
    """The gradient view of ``p`` (a placeholder during the support check, before the
    parameters are moved into the flat buffer)."""
    return p.grad if isinstance(p.grad, np.ndarray) else np.zeros_like(p.data)


def _stage(label, layer, kind, code, alpha, dtype):
    if kind == "Linear":
        b = layer.bias
        return stages.Dense(
            label, layer.weight.data, None if b is None else b.data, _grad(layer.weight),
            None if b is None else _grad(b), code, alpha, dtype,
        )  # fmt: skip
    if kind in ("Conv1d", "Conv2d"):
        cfg = layer.config()
        conv = _single if kind == "Conv1d" else _pair
        b = layer.bias
        return stages.Conv(
            label, layer.weight.data, None if b is None else b.data, _grad(layer.weight),
            None if b is None else _grad(b), conv(cfg.get("stride", 1)),
            conv(cfg.get("padding", 0)), code, alpha, dtype,
        )  # fmt: skip
    if kind in ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"):
        cfg = layer.config()
        dims = 1 if kind.endswith("1d") else 2
        conv = _single if dims == 1 else _pair
        k = conv(cfg["kernel_size"])
        s = conv(cfg.get("stride") or cfg["kernel_size"])
        return stages.Pool(label, kind[:3].lower(), dims, k, s, dtype)
    if kind == "Flatten":
        return stages.Flatten(dtype)
    if kind == "Reshape":
        return stages.Reshape(label, _reshape_rule(label, layer.config()["shape"]), dtype)
    if kind == "Dropout":
        cfg = layer.config()
        rng = getattr(layer, "_rng", None) or np.random.default_rng()
        return stages.Dropout(label, cfg.get("p", 0.5), cfg.get("mc", False), rng, dtype)
    if kind in ("Softmax", "LogSoftmax"):
        axis = getattr(layer, "axis", -1)
        if axis not in (-1, 1):
            raise UnsupportedLayerError(f"{label}: the jit backend supports axis=-1 only")
        return stages.Softmax(label, kind == "LogSoftmax", dtype)
    found = activation_code(layer)
    if found is not None:
        return stages.Activation(label, found[0], found[1], dtype)
    extra = _extra_stage(label, layer, kind, dtype)
    if extra is not None:
        return extra
    raise UnsupportedLayerError(
        f"{label}: the jit backend has no kernel for {kind}; train this model with "
        "backend='graph' (or replace the layer)"
    )


def _reshape_rule(label: str, shape):
    """in_shape -> out_shape of a ``Reshape`` layer; a misfit names the layer's place."""
    shape = tuple(shape)

    def rule(in_shape):
        try:
            return per_sample_shape(in_shape, shape)
        except ShapeError as e:
            raise ShapeError(f"{label}: {e}") from None

    return rule


def _extra_stage(label, layer, kind, dtype):
    """Stages defined in other modules (recurrent, normalisation, residual; activations with
    a learned or random slope)."""
    from . import extra_stages, slope_stages

    found = extra_stages.build(label, layer, kind, dtype)
    return found if found is not None else slope_stages.build(label, layer, kind, dtype)


def compile_plan(model, loss_name: str, dtype) -> Plan:
    """The stages for ``model`` and the loss fusion for ``loss_name``."""
    layers = flatten_layers(model)
    last = type(layers[-1][1]).__name__ if layers else ""
    fuse_sigmoid = loss_name == "bce" and last == "Sigmoid"
    all_stages = build_stages(layers, dtype, fuse_last=not fuse_sigmoid)
    train_stages, tail = all_stages, []  # tail: run in prediction only (fused into the loss)
    if fuse_sigmoid:  # σ then BCE  ->  BCE on logits
        train_stages, tail, loss_name = all_stages[:-1], all_stages[-1:], "bce_logits"
    elif loss_name == "nll" and last == "LogSoftmax":  # log-softmax then NLL -> softmax CE
        train_stages, tail, loss_name = all_stages[:-1], all_stages[-1:], "nll_fused"
    train_stages = stages.merge_dense_runs(train_stages)
    plan = Plan(stages=train_stages + tail, train_stages=train_stages, loss_name=loss_name)
    # backprop stops at the first stage with parameters: nothing before it needs ∂L/∂x
    plan.backward_stop = len(plan.train_stages)
    for k, stage in enumerate(plan.train_stages):
        if getattr(stage, "has_params", False):
            stage.need_dx = False
            plan.backward_stop = k
            break
    return plan
