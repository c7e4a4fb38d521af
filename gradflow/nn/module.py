"""``Module``, ``Parameter`` and ``Sequential``: the containers every layer is built from.

Parameters are :class:`~gradflow.Tensor` leaves holding numpy arrays, so the graph engine can
trace them and the jitted backend can re-point ``.data`` at views of one flat buffer — the
*same* model object trains either way. Each layer reports its constructor arguments through
``config()``, so a backend can read the architecture without running Python code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import StateDictError
from ..graph import scope
from ..tensor import Tensor


class Parameter(Tensor):
    """A trainable tensor (``requires_grad=True``), found by ``Module.parameters()``."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, label: str = ""):
        super().__init__(data, requires_grad=True, dtype=dtype, label=label)


class Module:
    """Base class: parameters, buffers, sub-modules, train/eval mode and state dicts.

    Sub-modules and parameters are discovered from attributes in assignment order (also
    inside lists/tuples), so a layer only assigns ``self.weight = Parameter(...)``.
    """

    training: bool = True

    def __init__(self) -> None:
        self.training = True
        self._buffers: dict[str, np.ndarray] = {}

    # --- structure ------------------------------------------------------------------
    def _members(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for k, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{k}", item

    def named_children(self) -> list[tuple[str, Module]]:
        return [(n, m) for n, m in self._members() if isinstance(m, Module)]

    def children(self) -> list[Module]:
        return [m for _, m in self.named_children()]

    def modules(self) -> list[Module]:
        """This module and every module below it, depth first."""
        out = [self]
        for c in self.children():
            out.extend(c.modules())
        return out

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Parameter]]:
        out: list[tuple[str, Parameter]] = []
        seen: set[int] = set()
        for name, m in self._members():
            full = f"{prefix}{name}"
            items = [(full, m)] if isinstance(m, Parameter) else m.named_parameters(full + ".")
            for n, p in items:
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((n, p))
        return out

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """State that is saved but not trained (BatchNorm running averages)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def named_buffers(self, prefix: str = "") -> list[tuple[str, np.ndarray]]:
        out = [(f"{prefix}{n}", getattr(self, n)) for n in getattr(self, "_buffers", {})]
        for name, child in self.named_children():
            out.extend(child.named_buffers(f"{prefix}{name}."))
        return out

    def num_parameters(self) -> int:
        return int(sum(p.data.size for p in self.parameters()))

    # --- modes and gradients -------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[Module]:
        """This module and every one below it in eval mode inside the block, and each back
        in its own mode after, however the block ends (a predict() or a loss landscape
        leaves a model training if it was, and a BatchNorm frozen by hand stays frozen)."""
        saved = [(m, m.training) for m in self.modules()]
        try:
            self.train(False)
            yield self
        finally:
            for m, training in saved:
                m.training = training

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.clear_grad()

    # --- state ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        sd = {n: p.data.copy() for n, p in self.named_parameters()}
        sd.update({n: np.array(b, copy=True) for n, b in self.named_buffers()})
        return sd

    def check_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Raise a ``StateDictError`` naming the entry if :meth:`load_state_dict` would
        refuse ``state``; changes nothing. Each array must have its target's shape, hold real
        numbers (integers for an integer buffer) and no NaN or Inf."""
        targets = self._state_targets()
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected {', '.join(unexpected)}")
            raise StateDictError(f"load_state_dict: {'; '.join(parts)}")
        for name, arr in targets.items():
            if name not in state:
                continue
            new = np.asarray(state[name])
            kinds = "iu" if arr.dtype.kind in "iu" else "fiu"
            if new.dtype.kind not in kinds:
                raise StateDictError(
                    f"load_state_dict: {name!r} holds {new.dtype} values but the model needs "
                    f"{'integers' if kinds == 'iu' else 'real numbers'}"
                )
            if new.shape != arr.shape:
                raise StateDictError(
                    f"load_state_dict: parameter {name!r} has shape {arr.shape} in "
                    f"the model but {new.shape} in the state"
                )
            if new.dtype.kind == "f" and not np.isfinite(new).all():
                raise StateDictError(f"load_state_dict: {name!r} holds NaN or Inf")

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into parameters and buffers in place, after checking all of them
        (:meth:`check_state_dict`): a refused state leaves the model as it was."""
        self.check_state_dict(state, strict)
        for name, arr in self._state_targets().items():
            if name in state:
                arr[...] = np.asarray(state[name])  # in place: views held by a backend stay valid

    def _state_targets(self) -> dict[str, np.ndarray]:
        targets: dict[str, np.ndarray] = {n: p.data for n, p in self.named_parameters()}
        targets.update({n: np.asarray(b) for n, b in self.named_buffers()})
        return targets

    # --- calling and printing -------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __setattr__(self, name: str, value: Any) -> None:
        # A child learns the name its parent gives it ("encoder:Linear", "layers.1:Linear"),
        # so each layer instance gets its own scope and renders as its own box.
        if isinstance(value, Module):
            value.__dict__["_scope_name"] = f"{name}:{type(value).__name__}"
        elif isinstance(value, (list, tuple)) and not name.startswith("_"):
            for k, item in enumerate(value):
                if isinstance(item, Module):
                    item.__dict__["_scope_name"] = f"{name}.{k}:{type(item).__name__}"
        object.__setattr__(self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.__dict__.get("_named"):  # tables and graphs call fc1.weight by that name
            for path, p in self.named_parameters():
                p.label = p.label or path
            self.__dict__["_named"] = True
        name = self.__dict__.get("_scope_name") or type(self).__name__
        with scope(name):  # lets renderings collapse a layer into one box
            return self.forward(*args, **kwargs)

    def config(self) -> dict[str, Any]:
        """Constructor arguments that describe this layer (read by the jitted backend)."""
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config().items())

    def __repr__(self) -> str:
        children = self.named_children()
        head = f"{type(self).__name__}({self.extra_repr()})"
        if not children:
            n = self.num_parameters()
            return head + (f"  # {n:,} params" if n else "")
        lines = [f"{type(self).__name__}("]
        for name, c in children:
            body = repr(c).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(f")  # {self.num_parameters():,} params")
        return "\n".join(lines)


class Sequential(Module):
    """Layers applied one after another: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 3))``."""

    def __init__(self, *layers: Module):
        super().__init__()
        self.layers = list(layers)
        for k, layer in enumerate(self.layers):
            layer.__dict__["_scope_name"] = f"{k}:{type(layer).__name__}"

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def named_children(self) -> list[tuple[str, Module]]:
        return [(str(k), m) for k, m in enumerate(self.layers)]

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Parameter]]:
        out = []
        for name, m in self.named_children():
            out.extend(m.named_parameters(f"{prefix}{name}."))
        return out

    def __getitem__(self, k: int) -> Module:
        return self.layers[k]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)
