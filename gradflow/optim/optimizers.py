"""Optimizer classes: thin owners of state around the pure update rules in :mod:`.rules`.

An optimizer holds the parameters, a dict of float hyperparameters (``hparams``), one state
array per parameter for each state name (``state``) and the step counter ``t``. ``step()``
clips the gradients (by value, then by global norm, if asked), increments ``t`` and calls
``rule(p, g, *state, [t], *hparams)`` per parameter, on flat (1-D) views of the parameter and
its state. The argument order is read from the rule's signature, so a backend that owns one
flat buffer can call the same rule the same way; both run the rule compiled by
:func:`gradflow.kernels.update.rule_for` (numba is imported on the first step, not with
gradflow).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ShapeError, StateDictError, UnknownNameError
from . import rules


def _compiled(transform: Callable) -> Callable:
    """A gradient transform of :mod:`.rules`, compiled (imports numba on first use)."""
    from ..kernels import update

    return update.compile_rule(transform)


def clip_gradients(
    grads: list[np.ndarray], clip_value: float | None, clip_norm: float | None
) -> float | None:
    """Clip flat gradients in place: each entry to [−c, c] (``clip_value``), then all of them
    together to global norm ≤ ``clip_norm``; returns the global norm before the second clip
    (None without ``clip_norm``). The one clipping policy of both backends: the graph
    optimizers pass each parameter's flat gradient, the jit backend its one flat buffer."""
    if clip_value is not None:
        clip = _compiled(rules.clip_by_value)
        for g in grads:
            clip(g, float(clip_value))
    if clip_norm is None:
        return None
    sum_of_squares = _compiled(rules.sum_of_squares)
    norm = math.sqrt(sum(float(sum_of_squares(g)) for g in grads))
    scale = rules.clip_scale(norm, float(clip_norm))
    if scale != 1.0:
        for g in grads:
            g *= scale
    return norm


def _rule_for(rule: Callable, size: int) -> Callable:
    """The same compile of ``rule`` the jit backend would run over ``size`` entries."""
    from ..kernels import update

    return update.rule_for(rule, size)


class Optimizer:
    """Base class. Subclasses set ``rule``, ``state_names`` and default hyperparameters."""

    rule: Callable = staticmethod(rules.sgd)
    state_names: tuple[str, ...] = ()
    defaults: dict[str, float] = {}

    def __init__(
        self,
        params: Iterable,
        lr: float | None = None,
        *,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        **hparams: float,
    ):
        if lr is not None:
            hparams["lr"] = lr
        self.params = list(params)
        if not self.params:
            raise ArgumentError(f"{type(self).__name__}: got an empty parameter list")
        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise ArgumentTypeError(
                f"{type(self).__name__}: unknown hyperparameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(self.defaults)}"
            )
        self.hparams: dict[str, float] = {k: float(v) for k, v in self.defaults.items()}
        self.hparams.update({k: float(v) for k, v in hparams.items()})
        check_hyperparameters(type(self).__name__, self.hparams)
        for name, clip in (("clip_value", clip_value), ("clip_norm", clip_norm)):
            if clip is not None and not (math.isfinite(clip) and clip > 0):
                raise ArgumentError(
                    f"{type(self).__name__}: {name} must be a finite number > 0, got {clip}"
                )
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.t = 0
        # C order whatever the parameter's layout: the rules update flat views of the state
        self.state: dict[str, list[np.ndarray]] = {
            name: [np.zeros(p.data.shape, p.data.dtype) for p in self.params]
            for name in self.state_names
        }
        self._kernels: list[Callable] | None = None  # the compiled rule per parameter
        names = list(inspect.signature(type(self).rule).parameters)
        self.uses_t = "t" in names
        #: hyperparameter names in the order the rule takes them (after p, g, state, t)
        self.hparam_order: tuple[str, ...] = tuple(
            n for n in names if n not in ("p", "g", "t") and n not in self.state_names
        )

    # --- the learning rate schedules act on ------------------------------------------
    @property
    def lr(self) -> float:
        return self.hparams["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and value >= 0):  # a schedule gone wrong stops here
            raise ArgumentError(
                f"{type(self).__name__}: lr must be a finite number >= 0, got {value}"
            )
        self.hparams["lr"] = value

    # --- stepping ----------------------------------------------------------------------
    def zero_grad(self) -> None:
        for p in self.params:
            p.clear_grad()

    def clip_gradients(self, grads: list[np.ndarray]) -> float | None:
        """Clip flat gradients in place by value, then by global norm (:func:`clip_gradients`
        with this optimizer's settings)."""
        return clip_gradients(grads, self.clip_value, self.clip_norm)

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        active = [i for i, p in enumerate(self.params) if p.grad is not None]
        clipping = self.clip_value is not None or self.clip_norm is not None
        grads = [self._flat_grad(i, copy=clipping) for i in active]
        if clipping:
            self.clip_gradients(grads)
        self.t += 1
        hp = [self.hparams[n] for n in self.hparam_order]
        t = (self.t,) if self.uses_t else ()
        if self._kernels is None:  # compiled (or loaded from numba's cache) on the first step
            self._kernels = [_rule_for(type(self).rule, p.data.size) for p in self.params]
        for i, g in zip(active, grads):
            state = [self.state[name][i].reshape(-1) for name in self.state_names]
            self._kernels[i](self._flat_data(i), g, *state, *t, *hp)

    def _flat_grad(self, i: int, copy: bool) -> np.ndarray:
        """Parameter ``i``'s gradient, flat, C-ordered, in the parameter's dtype. The rules
        only read it; a ``copy`` is for clipping, which must not change ``.grad``. A gradient
        of another shape is an error here rather than a read past its end in the loop."""
        p = self.params[i]
        if np.shape(p.grad) != p.data.shape:
            raise ShapeError(
                f"{type(self).__name__}.step: parameter {i} has shape {p.data.shape} but its "
                f"gradient has shape {np.shape(p.grad)}"
            )
        if copy:
            return np.array(p.grad, dtype=p.data.dtype, order="C").reshape(-1)
        return np.ascontiguousarray(p.grad, dtype=p.data.dtype).reshape(-1)

    def _flat_data(self, i: int) -> np.ndarray:
        """A flat view of parameter ``i``, so the rule updates ``p.data`` itself.

        Parameters are C-contiguous unless a user assigned e.g. a transpose to ``.data``;
        such a parameter gets a C-ordered copy of its values once (same shape and values,
        and its ``.data`` from then on), instead of ``reshape`` silently updating a copy.
        """
        p = self.params[i]
        if not p.data.flags.c_contiguous:
            p.data = np.ascontiguousarray(p.data)
        return p.data.reshape(-1)

    # --- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat arrays: ``t``, ``hparam.<name>`` and ``<state>.<k>`` (k = parameter index)."""
        out: dict[str, np.ndarray] = {"t": np.array(self.t)}
        out.update({f"hparam.{k}": np.array(v) for k, v in self.hparams.items()})
        for name, arrays in self.state.items():
            out.update({f"{name}.{k}": a.copy() for k, a in enumerate(arrays)})
        return out

    def check_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Raise a ``StateDictError`` naming the entry if :meth:`load_state_dict` would
        refuse ``state``; changes nothing. ``t`` must be an integer >= 0, hyperparameters
        valid (see :func:`check_hyperparameters`), state arrays real, finite and shaped like
        their parameter."""
        who = f"{type(self).__name__}.load_state_dict"
        needed = ["t"] + [f"{name}.{k}" for name in self.state for k in range(len(self.params))]
        missing = [k for k in needed if k not in state]
        if missing:
            raise StateDictError(f"{who}: missing {', '.join(missing)}")
        known = set(needed) | {f"hparam.{k}" for k in self.hparams}
        unknown = sorted(set(state) - known)
        if unknown:
            raise StateDictError(
                f"{who}: unknown entr{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}"
            )
        t = np.asarray(state["t"])
        if t.shape != () or t.dtype.kind not in "iu" or not 0 <= int(t) < 2**62:
            raise StateDictError(f"{who}: t must be a step count (an integer >= 0), got {t!r}")
        hparams = dict(self.hparams)
        for k in self.hparams:
            if f"hparam.{k}" in state:
                v = np.asarray(state[f"hparam.{k}"])
                if v.shape != () or v.dtype.kind not in "fiu":
                    raise StateDictError(f"{who}: hparam.{k} must be a real number, got {v!r}")
                hparams[k] = float(v)
        check_hyperparameters(type(self).__name__, hparams)
        for name, arrays in self.state.items():
            for k, a in enumerate(arrays):
                new = np.asarray(state[f"{name}.{k}"])
                if new.dtype.kind not in "fiu":
                    raise StateDictError(
                        f"{who}: state {name}.{k} holds {new.dtype} values, not real numbers"
                    )
                if new.shape != a.shape:
                    raise StateDictError(
                        f"{who}: state {name}.{k} has shape {a.shape} for "
                        f"parameter {k} but {new.shape} in the saved state"
                    )
                if not np.isfinite(new).all():
                    raise StateDictError(f"{who}: state {name}.{k} holds NaN or Inf")

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore ``t``, hyperparameters and state arrays, all checked first
        (:meth:`check_state_dict`), so a refused state changes nothing."""
        self.check_state_dict(state)
        for name, arrays in self.state.items():
            for k, a in enumerate(arrays):
                a[...] = np.asarray(state[f"{name}.{k}"])  # in place: backends hold views
        self.t = int(state["t"])
        for k in self.hparams:
            if f"hparam.{k}" in state:
                self.hparams[k] = float(state[f"hparam.{k}"])

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v:g}" for k, v in self.hparams.items())
        return f"{type(self).__name__}({hp})"


#: hyperparameters that are decay rates of a running average, in [0, 1)
DECAY_RATES = ("beta", "beta1", "beta2", "mu", "rho")


def check_hyperparameters(who: str, hparams: dict[str, float]) -> None:
    """Every hyperparameter a finite number >= 0, decay rates below 1; an ``ArgumentError``
    names the first one that is not."""
    for k, v in hparams.items():
        if not math.isfinite(v) or v < 0:
            raise ArgumentError(f"{who}: hyperparameter {k} must be a finite number >= 0, got {v}")
        if k in DECAY_RATES and v >= 1:
            raise ArgumentError(f"{who}: hyperparameter {k} must be below 1, got {v}")


_ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}


class SGD(Optimizer):
    """Gradient descent φ ← φ − αg: full-batch GD, single-sample SGD or minibatch SGD by the
    batch size ``fit`` is given (``len(X)``, 1 or anything between)."""

    rule = staticmethod(rules.sgd)
    state_names = ()
    defaults = {"lr": 0.01, "weight_decay": 0.0}


class Momentum(Optimizer):
    """Momentum, course form 1: m ← βm + (1 − β)g; φ ← φ − αm."""

    rule = staticmethod(rules.momentum)
    state_names = ("m",)
    defaults = {"lr": 0.01, "beta": 0.9, "weight_decay": 0.0}


class MomentumVelocity(Optimizer):
    """Momentum, course form 2 (velocity): v ← μv − γg; φ ← φ + v."""

    rule = staticmethod(rules.momentum_velocity)
    state_names = ("v",)
    defaults = {"lr": 0.01, "mu": 0.9, "weight_decay": 0.0}


class Nesterov(Optimizer):
    """Nesterov momentum: the gradient is taken at the look-ahead point φ − αβm."""

    rule = staticmethod(rules.nesterov)
    state_names = ("m",)
    defaults = {"lr": 0.01, "beta": 0.9, "weight_decay": 0.0}


class NormalizedGD(Optimizer):
    """Normalised GD: φ ← φ − α g/(√(g²) + ε), every step at most α per weight."""

    rule = staticmethod(rules.normalized)
    state_names = ()
    defaults = {"lr": 0.01, "eps": 1e-8, "weight_decay": 0.0}


class AdaGrad(Optimizer):
    """AdaGrad: s ← s + g²; φ ← φ − α g/(√s + ε)."""

    rule = staticmethod(rules.adagrad)
    state_names = ("s",)
    defaults = {"lr": 0.01, "eps": 1e-10, "weight_decay": 0.0}


class AdaDelta(Optimizer):
    """AdaDelta: RMS of past updates over RMS of gradients as each weight's step."""

    rule = staticmethod(rules.adadelta)
    state_names = ("s", "u")
    defaults = {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}


class RMSProp(Optimizer):
    """RMSProp: s ← ρs + (1 − ρ)g²; φ ← φ − α g/(√s + ε)."""

    rule = staticmethod(rules.rmsprop)
    state_names = ("s",)
    defaults = {"lr": 1e-3, "rho": 0.9, "eps": 1e-8, "weight_decay": 0.0}


class Adam(Optimizer):
    """Adam with bias correction (the course's β = 0.9, γ = 0.999)."""

    rule = staticmethod(rules.adam)
    state_names = ("m", "v")
    defaults = _ADAM


class NAdam(Optimizer):
    """NAdam (Dozat): Adam with a Nesterov look-ahead momentum step, the momentum corrected
    by 1/(1 − β^{t+1}) and the gradient by 1/(1 − βᵗ) (see :func:`.rules.nadam`).

    ``momentum_decay`` ψ = 0 (default) keeps μ = β constant, the form the course and Dozat's
    paper state; ψ = 0.004 is PyTorch's schedule μₜ = β(1 − ½·0.96^{tψ}) (``torch.optim.NAdam``'s
    default), for matching PyTorch's numbers."""

    rule = staticmethod(rules.nadam)
    state_names = ("m", "v")
    defaults = {**_ADAM, "lr": 2e-3, "momentum_decay": 0.0}


class AdaMax(Optimizer):
    """AdaMax: Adam with v ← max(γv, |g|)."""

    rule = staticmethod(rules.adamax)
    state_names = ("m", "u")
    defaults = {**_ADAM, "lr": 2e-3}


class AdamW(Optimizer):
    """AdamW: Adam with decoupled weight decay φ ← (1 − αλ)φ."""

    rule = staticmethod(rules.adamw)
    state_names = ("m", "v")
    defaults = {**_ADAM, "weight_decay": 1e-2}


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "gd": SGD,
    "momentum": Momentum,
    "momentum_velocity": MomentumVelocity,
    "nesterov": Nesterov,
    "normalized": NormalizedGD,
    "adagrad": AdaGrad,
    "adadelta": AdaDelta,
    "rmsprop": RMSProp,
    "adam": Adam,
    "nadam": NAdam,
    "adamax": AdaMax,
    "adamw": AdamW,
}


def make_optimizer(name: str, params: Iterable, **kwargs) -> Optimizer:
    """``make_optimizer("adam", model.parameters(), lr=1e-3)``; unknown names list the known."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise UnknownNameError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](params, **kwargs)
