"""``JitStepper``: forward, loss, backward and the optimizer update over flat buffers."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..kernels import helper, twins
from ..kernels import update as update_k
from ..nan_check import non_finite_before_the_step
from ..nn.conv import _ConvNd
from ..nn.linear import Linear
from ..nn.recurrent import _Cell
from ..optim.optimizers import clip_gradients
from ..regularization import Regularizer
from .buffer import FlatParameters
from .losses import LossHead
from .plan import Plan, compile_plan
from .stages import DenseStack, Flatten, Reshape
from .threads import ThreadGovernor


def loss_name_of(loss: Any) -> tuple[str, dict]:
    """The registry name of ``loss`` (a name, a function of ``LOSSES`` or a partial of one)."""
    kwargs: dict = {}
    if isinstance(loss, tuple):  # (name, keyword arguments)
        loss, kwargs = loss[0], dict(loss[1])
    if isinstance(loss, functools.partial):
        kwargs = dict(loss.keywords or {})
        loss = loss.func
    if isinstance(loss, str):
        return loss, kwargs
    if isinstance(getattr(loss, "loss_name", None), str):  # nn.functional's PyTorch-named losses
        return loss.loss_name, kwargs
    try:
        from ..nn.losses import LOSSES

        for name, fn in LOSSES.items():
            if fn is loss:
                return name, kwargs
    except ImportError:  # pragma: no cover - losses live on another branch until merged
        pass
    return getattr(loss, "__name__", repr(loss)), kwargs


class FlatOptimizer:
    """Runs ``optimizer.rule`` (compiled) once per step over the flat buffers.

    The optimizer object stays the owner of ``t``, ``hparams`` (so schedules that set
    ``optimizer.lr`` act here too) and ``state`` (re-pointed to views of the flat state).
    """

    def __init__(self, optimizer, flat: FlatParameters):
        self.opt = optimizer
        self.flat = flat
        order = []
        for p in optimizer.params:
            try:
                order.append(flat.index(p))
            except KeyError:
                raise ArgumentError(
                    "the optimizer holds a parameter that is not in the model; build it "
                    "from model.parameters()"
                ) from None
        if sorted(order) != list(range(len(flat.params))):
            raise ArgumentError(
                "the jit backend updates all parameters at once: the optimizer must hold "
                f"every model parameter exactly once ({len(order)} given, "
                f"{len(flat.params)} in the model)"
            )
        self.rule = update_k.rule_for(type(optimizer).rule, flat.data.size)
        self.states = []
        for name in optimizer.state_names:
            per_model_order = [None] * len(order)
            for i, k in enumerate(order):
                per_model_order[k] = optimizer.state[name][i]
            flat_state = flat.flat_state(per_model_order)
            for i, k in enumerate(order):  # the optimizer now sees views of the flat state
                optimizer.state[name][i] = per_model_order[k]
            self.states.append(flat_state)
        self.uses_t = optimizer.uses_t
        self.hparam_order = optimizer.hparam_order

    def leaves(self) -> list[tuple]:
        """(dispatcher, argument types) of the update rule as the first step calls it (a
        twinned rule: its serial form), for the compile helper; [] without numba's JIT."""
        import numba

        rule = getattr(self.rule, "serial", self.rule)
        if not hasattr(rule, "compile"):
            return []
        return [(rule, tuple(numba.typeof(a) for a in self._args(self.opt.t + 1)))]

    def _args(self, t: int) -> tuple:
        """The rule's arguments at step ``t``: parameters, gradients, states, t (for the
        rules that use it) and the hyperparameters in the rule's order."""
        opt = self.opt
        hp = [opt.hparams[n] for n in self.hparam_order]
        if self.uses_t:
            return (self.flat.data, self.flat.grad, *self.states, t, *hp)
        return (self.flat.data, self.flat.grad, *self.states, *hp)

    def step(self) -> None:
        self.opt.t += 1
        self.rule(*self._args(self.opt.t))


class JitStepper:
    """The Stepper protocol of :mod:`gradflow.training` on numba kernels."""

    def __init__(
        self,
        model,
        loss: Any = "cross_entropy",
        optimizer=None,
        regularizer=None,
        threads: int | str = "auto",
        *,
        dtype=None,
        l1: float = 0.0,
        l2: float = 0.0,
        max_norm: float | None = None,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        label_smoothing: float | None = None,
        penalize_biases: bool = False,
        loss_kwargs: dict | None = None,
    ):
        if regularizer is None:  # the keyword form; either way one policy for both steppers
            regularizer = Regularizer(
                l1=l1, l2=l2, max_norm=max_norm, penalize_biases=penalize_biases
            )
        if loss_kwargs:
            loss = functools.partial(loss, **loss_kwargs) if callable(loss) else (loss, loss_kwargs)
        named = model.named_parameters()
        if not named:
            raise ArgumentError("the model has no parameters to train")
        self.model = model
        self.dtype = np.dtype(dtype or named[0][1].data.dtype)
        name, kwargs = loss_name_of(loss)
        smoothing = (
            label_smoothing if label_smoothing is not None else kwargs.get("label_smoothing", 0.0)
        )
        self.flat = FlatParameters(named, self.dtype)
        self._loss_name = name
        self._smoothing = smoothing
        self._loss_extra = {k: v for k, v in kwargs.items() if k != "label_smoothing"}
        self._heads: dict[str, LossHead] = {}
        #: plans by (input shape, training): each traced on the first batch of its shape
        self._plans: dict[tuple, Plan] = {}
        self.plan: Plan | None = None
        self.optimizer = FlatOptimizer(optimizer, self.flat) if optimizer is not None else None
        self.regularizer = regularizer
        self.clip_value = (
            clip_value if clip_value is not None else getattr(optimizer, "clip_value", None)
        )
        self.clip_norm = (
            clip_norm if clip_norm is not None else getattr(optimizer, "clip_norm", None)
        )
        self.params = [p for _, p in named]
        # (flat gradient view, parameter) of each parameter the regularizer penalises
        self._penalty_pairs = [
            (self.flat.grad_of(p).reshape(-1), p) for p in self.params if regularizer.penalized(p)
        ]
        self.threads = ThreadGovernor(_max_threads(threads), adaptive=threads == "auto")
        self._steps = 0
        self._twin_switches = twins.switches()
        # a cold cache: a second process compiles with us, the update rule among its work
        helper.arm(self.optimizer.leaves if self.optimizer is not None else None)

    @property
    def warm(self) -> bool:
        """True once a training step has run: its kernels are compiled (or were loaded)."""
        return self._steps > 0

    def compile_estimate(self) -> float:
        """About how many seconds compiling this model's kernels takes when numba's cache
        is cold (:data:`COMPILE_SECONDS`); a warm cache loads them in a fraction of a
        second. Quoted by the progress display while the first step runs."""
        modules = self.model.modules()
        return BASE_COMPILE_SECONDS + sum(
            seconds for cls, seconds in COMPILE_SECONDS if any(isinstance(m, cls) for m in modules)
        )

    # --- plans ------------------------------------------------------------------------------
    #: plans kept (input shapes × train/eval); the oldest is dropped beyond this
    MAX_PLANS = 8

    def plan_for(self, x: np.ndarray, training: bool) -> Plan:
        """The plan for batches shaped like ``x`` (traced on ``x`` the first time)."""
        key = (x.shape, training)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            plan = compile_plan(self.model, x, training, self._loss_name, self.dtype)
            plan.one_stack = _one_stack(plan)
            self._plans[key] = plan
        if training:
            self.plan = plan
        return plan

    def head_for(self, plan: Plan) -> LossHead:
        head = self._heads.get(plan.loss_name)
        if head is None:
            head = LossHead(plan.loss_name, self.dtype, self._smoothing, kwargs=self._loss_extra)
            self._heads[plan.loss_name] = head
        return head

    # --- the protocol ---------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        return self.plan_for(x, training).forward(x, training)

    def train_batch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One step: forward, loss, backward, penalties/clipping, update. Returns the batch loss
        (without the L1/L2 penalty, as the graph stepper). Runs on the thread count the
        :class:`~gradflow.jit.threads.ThreadGovernor` measures to be faster."""
        loss = self.threads.run(lambda: self._train_batch(xb, yb), len(xb))
        self._steps += 1
        twins.after_step()  # parallel kernels compiled in the background switch in here
        if twins.switches() != self._twin_switches:  # time the thread counts afresh
            self._twin_switches = twins.switches()
            self.threads.reconsider()
        return loss

    def _train_batch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        if not self.model.training:
            self.model.train()
        x = np.ascontiguousarray(xb, dtype=self.dtype)
        plan = self.plan_for(x, True)
        head = self.head_for(plan)
        if plan.one_stack and head.fuses_softmax(yb):  # an MLP: one kernel call
            *views, stack = plan.train_stages
            for view in views:
                view.resize(x.shape)
                x = view.forward(x, True)
            shape = stack.resize(x.shape)
            t = head.targets(yb, shape)
            loss = float(stack.train_softmax_ce(x, t, head.grad_buffer(shape), head.smoothing))
        else:
            out = plan.forward(x, True, train=True)
            loss = head.value_and_grad(out, yb)
            plan.backward(head.grad)
        self._regularize()
        if self.optimizer is not None:
            self.optimizer.step()
            self.regularizer.apply_max_norm(self.params)
        return loss

    def diagnose(self, xb: np.ndarray, yb: np.ndarray) -> str:
        """Where NaN/Inf first appears for this batch: a parameter already holding it, else
        the first stage whose forward output, the loss, or the first stage (from the top) whose
        backward output holds it. Reruns the batch stage by stage (gradients are overwritten:
        meant for after training has failed)."""
        x = np.ascontiguousarray(xb, dtype=self.dtype)
        found = non_finite_before_the_step(self.model, x)
        if found:
            return found
        plan = self.plan_for(x, True)
        head = self.head_for(plan)
        params = [p for _, p in self.model.named_parameters()]

        class Found(Exception):
            pass

        def forward_check(stage, value):
            if not np.all(np.isfinite(value)):
                raise Found(f"forward of {stage.name} produced NaN/Inf")

        def backward_check(stage, g):
            if not all(np.all(np.isfinite(p.grad)) for p in params):
                raise Found(f"backward of {stage.name} produced NaN/Inf")

        try:
            out = plan.forward(x, True, train=True, check=forward_check)
            value = head.value_and_grad(out, yb)
            if not (np.isfinite(value) and np.all(np.isfinite(head.grad))):
                return f"the loss {plan.loss_name} produced NaN/Inf (or its gradient did)"
            plan.backward(head.grad, check=backward_check)
        except Found as e:
            return str(e)
        return "no stage produced NaN/Inf when the batch was run again"

    def predict(self, xb: np.ndarray) -> np.ndarray:
        """The model's output in eval mode (copied: workspaces are reused), on the thread
        count training uses."""
        x = np.ascontiguousarray(xb, dtype=self.dtype)
        with self.model.evaluating():
            return self.threads.call(lambda: self.forward(x, False).copy())

    # --- regularisation -----------------------------------------------------------------
    def _regularize(self) -> None:
        """Penalty gradients and clipping by the graph stepper's code: the regularizer's
        penalty step on views into the flat gradient, the optimizers' clipping on the
        buffer."""
        self.regularizer.add_penalty_to(self._penalty_pairs)
        if self.clip_value is not None or self.clip_norm is not None:
            clip_gradients([self.flat.grad], self.clip_value, self.clip_norm)


#: about how long the first step waits for numba to compile the kernels of each layer family
#: (wall seconds with an empty cache, the leaf kernels on two cores, measured on a quiet 2-core
#: x86-64 machine in 2026-12: LeNet ~3 s, an LSTM ~3 s, an MLP ~1.5 s);
#: :meth:`JitStepper.compile_estimate` adds up those a model uses
COMPILE_SECONDS = ((_ConvNd, 1.5), (_Cell, 1.5), (Linear, 0.6))
#: numba's own set-up and the loss and optimizer kernels every model compiles
BASE_COMPILE_SECONDS = 1.0


def _one_stack(plan: Plan) -> bool:
    """Is the trained part of ``plan`` one Linear stack after views only (Reshape, Flatten)?
    (train_batch's fast path: one kernel call for the whole MLP)"""
    if not plan.chain or not plan.train_stages:
        return False
    *views, last = plan.train_stages
    return isinstance(last, DenseStack) and all(isinstance(v, (Reshape, Flatten)) for v in views)


def _max_threads(threads: int | str) -> int:
    """The most threads the kernels may use: numba's count (``NUMBA_NUM_THREADS``) for
    ``"auto"``, else the given number (at least 1, at most numba's)."""
    import numba

    if threads == "auto":
        return numba.get_num_threads()
    if not isinstance(threads, int) or threads < 1:
        raise ArgumentError(f"threads must be 'auto' or a positive int, got {threads!r}")
    return min(threads, numba.config.NUMBA_NUM_THREADS)


def make_stepper(model, loss: Any = "cross_entropy", optimizer=None, **settings: Any) -> JitStepper:
    """A :class:`JitStepper` for ``model``; ``settings``: ``regularizer`` (a
    :class:`gradflow.regularization.Regularizer`) or l1, l2, max_norm, penalize_biases;
    clip_value, clip_norm (default: the optimizer's); dtype; loss_kwargs / label_smoothing;
    threads ("auto": 1 or numba's count, whichever measures faster; or a fixed number).
    Raises :class:`UnsupportedLayerError` naming the layer the backend cannot run, before
    anything is compiled or trained."""
    return JitStepper(model, loss, optimizer, **settings)
