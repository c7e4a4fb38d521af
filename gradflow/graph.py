"""The graph core shared by :class:`~gradflow.Value` and :class:`~gradflow.Tensor`.

A node records the op that made it (a record from :mod:`gradflow.ops`), its input nodes and
the op's parameters. Nodes point only at their inputs — no closures, no back-references —
so a graph has no reference cycles and is freed by reference counting alone, without the
cycle collector (micrograd's closure-per-node design spends most of its time there).

Backward rules (documented in the README):

* ``backward()`` walks the graph in an iterative topological order (a 10⁶-node chain is
  fine), so there is no recursion limit.
* Interior nodes get the gradient of *this* pass; leaves **accumulate** (``+=``) so the
  gradients of several losses can be summed, as in PyTorch and micrograd.
* Calling ``backward()`` a second time on the same output would count the leaves' gradients
  twice. gradflow refuses with :class:`BackwardTwiceError` unless the first call passed
  ``retain_graph=True`` — then the second call is an explicit request to accumulate.
* A pass that stops half way (an anomaly found, an error, Ctrl-C) leaves the graph as it
  was — no part-added gradient, the leaves' ``.grad`` untouched — so it can simply run again.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import AnomalyError, BackwardTwiceError


class Mode:
    """Whether ops are recorded, whether anomalies are checked, and the naming scope. One
    object per setting, replaced (never changed in place) by ``no_grad()``, ``scope()`` and
    ``detect_anomaly()``, so a hot path reads the thread's mode once and then plain slots."""

    __slots__ = ("grad", "anomaly", "scope")

    def __init__(self, grad: bool = True, anomaly: bool = False, scope: str = "") -> None:
        self.grad, self.anomaly, self.scope = grad, anomaly, scope

    def replace(self, **changes: Any) -> Mode:
        return Mode(**{"grad": self.grad, "anomaly": self.anomaly, "scope": self.scope, **changes})


# The mode per thread, as PyTorch's grad mode is: a ``no_grad()`` in one thread (a sweep's
# run on a thread pool evaluating its model) must not switch recording off in another. A dict
# shared by all threads did: two overlapping ``no_grad()`` blocks could restore False last
# and leave the whole process without gradients. A context variable is per thread (a new
# thread starts from the default) and per asyncio task, and reading it costs a third of a
# thread-local attribute, which every op of the scalar engine reads once.
# (a Mode is never changed in place, so one default object is safe to share)
PLAIN = Mode()  # the default: recording, no scope, no anomaly checks (hot paths test `is PLAIN`)
_mode: contextvars.ContextVar[Mode] = contextvars.ContextVar("gradflow_mode", default=PLAIN)  # noqa: B039
current_mode = _mode.get  # the calling thread's mode: ``current_mode().grad``


@contextlib.contextmanager
def _switched(**changes: Any) -> Iterator[None]:
    old = _mode.get()
    try:  # set inside the try: a Ctrl-C right after it cannot leave the mode on
        _mode.set(old.replace(**changes))
        yield
    finally:
        _mode.set(old)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Run ops without recording them (evaluation, parameter updates)."""
    with _switched(grad=False):
        yield


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Record ops again inside a ``no_grad()`` block (PyTorch's ``torch.enable_grad``)."""
    with _switched(grad=True):
        yield


@contextlib.contextmanager
def scope(name: str) -> Iterator[None]:
    """Tag the nodes created inside with ``name`` (nested scopes join with "/").

    Renderers use the tag to collapse a group of ops, e.g. every op of one layer, into a box;
    ``Module.__call__`` opens a scope per layer.
    """
    old = _mode.get().scope
    with _switched(scope=f"{old}/{name}" if old else name):
        yield


def current_scope() -> str:
    return _mode.get().scope


def grad_enabled() -> bool:
    return _mode.get().grad


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise :class:`AnomalyError` at the first op whose forward or backward gives NaN/Inf."""
    with _switched(anomaly=True):
        yield


def anomaly_enabled() -> bool:
    return _mode.get().anomaly


_NO_PARAMS: dict = {}


class _Many:
    """The marker in a node's ``_a`` slot saying ``_b`` holds a tuple of its inputs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<many inputs>"

    def __reduce__(self) -> str:
        return "_MANY"  # copies and pickles are the one marker (``a is _MANY`` holds)


_MANY = _Many()
# label, scope, params and "backward ran" of a node whose four are all their defaults (most
# nodes of a scalar graph): see Node._info
_PLAIN = ("", "", _NO_PARAMS, False)


def _info_field(k: int, doc: str) -> property:
    def get(self: Node) -> Any:
        info = self._info
        return _PLAIN[k] if info is None else info[k]

    def set_(self: Node, value: Any) -> None:
        info = list(self._info or _PLAIN)
        info[k] = value
        self._info = tuple(info)

    return property(get, set_, doc=doc)


class Node:
    """A value in a computation graph. Subclasses decide what ``data`` holds.

    A node is kept small, because the cycle collector walks every live node several times
    while a graph grows (a micrograd-style step makes 65k of them; the collector's passes cost
    as much as building them, and their cost grows with each node's size and references):

    * the inputs of a one- or two-input op sit in two slots, ``_a`` and ``_b`` (``_b`` None
      for one input, both None for a leaf), not in a tuple per node; an op with more inputs
      (``linear``, ``concat``) has the marker ``_MANY`` in ``_a`` and their tuple in ``_b``.
      :attr:`inputs` gives the tuple in every case;
    * ``label``, ``scope``, ``params`` and whether backward ran share the slot ``_info``:
      None while all four are their defaults, else a tuple of them (atomic values, which the
      collector stops tracking after its first pass).
    """

    __slots__ = ("data", "grad", "requires_grad", "_op", "_a", "_b", "_g", "_info", "__weakref__")

    label = _info_field(0, "The node's name, as given (``Value(2.0, label='w')``) or ''.")
    scope = _info_field(1, "The scope the node was made in (``gradflow.scope``), or ''.")
    _params = _info_field(2, "The op's parameters (``{'n': 2}`` for ``x ** 2``), or {}.")
    _backprop_done = _info_field(3, "backward() ran from this node without retain_graph.")

    _EMPTY_GRAD: Any = None  # what ``grad`` is before any backward (a Value: 0.0)

    # --- what subclasses provide --------------------------------------------------
    def _seed(self, grad: Any) -> Any:  # pragma: no cover - abstract
        """The gradient of the output with respect to itself (1 for a scalar)."""
        raise NotImplementedError

    def _backward_step(self, record: list | None, anomaly: bool) -> None:  # pragma: no cover
        """Add local derivative × ``self._g`` into each input's ``_g`` (one chain-rule step)."""
        raise NotImplementedError

    def _commit(self) -> None:  # pragma: no cover
        """Move this pass's gradient into ``.grad``: interior nodes set, leaves accumulate."""
        raise NotImplementedError

    def _zero(self) -> None:  # pragma: no cover
        raise NotImplementedError

    # --- what subclasses may provide: a whole pass in one loop ----------------------------
    #: what ``_g`` holds in a node the plain pass's walk has reached and no gradient yet
    _UNSET: Any = None

    @classmethod
    def _walk(cls, root: Node) -> list[Node]:
        """The plain pass's topological order, each node's ``_g`` set to ``_UNSET`` on the
        way. A class may walk faster (the scalar engine: :func:`pending_order`)."""
        return _postorder(root, clear=True)

    @classmethod
    def _backward_pass(cls, nodes: Iterable[Node], unset: Any = None) -> None:
        """The chain-rule steps of one pass, ``nodes`` in reverse topological order, when
        nothing is recorded or checked (``unset``: the ``_g`` of a node no gradient has
        reached). A class whose graphs have many small nodes (the scalar engine: one per
        ``*`` and ``+``) runs them in one loop instead."""
        for node in nodes:
            if node._op is not None and node._g is not unset:
                node._backward_step(None, False)

    @classmethod
    def _commit_pass(cls, nodes: Iterable[Node]) -> None:
        """:meth:`_commit` for every node of a pass that received a gradient; should it stop
        half way (Ctrl-C), every node gets back the ``grad`` it had."""
        done: list[tuple[Node, Any]] = []
        try:
            for node in nodes:
                if node._g is not None:
                    done.append((node, node.grad))
                    node._commit()
        except BaseException:
            for node, grad in done:
                node.grad = grad
            raise

    @classmethod
    def _plain_backward(cls, root: Node, grad: Any, retain_graph: bool) -> list[Node]:
        """A backward pass that records and checks nothing (``root.backward()``): the
        topological order, the chain-rule steps, the commit. Returns the order. A pass that
        stops anywhere (an error, Ctrl-C) leaves the graph as it was: see :func:`_undo`."""
        try:
            order = cls._walk(root)
            root._g = root._seed(grad)
            cls._backward_pass(reversed(order), cls._UNSET)
            root._backprop_done = not retain_graph
            cls._commit_pass(order)
        except BaseException:
            _undo(root)
            raise
        return order

    @property
    def op(self):
        """The :class:`~gradflow.ops.Op` that produced this node (``None`` for a leaf)."""
        return self._op

    @property
    def _inputs(self) -> tuple[Node, ...]:
        """The input nodes (see the class docstring for how they are kept)."""
        a = self._a
        if a is None:
            return ()
        if a is _MANY:
            return self._b
        b = self._b
        return (a,) if b is None else (a, b)

    def _set_inputs(self, inputs: tuple[Node, ...]) -> None:
        n = len(inputs)
        if n == 2:
            self._a, self._b = inputs
        elif n == 1:
            self._a, self._b = inputs[0], None
        elif n == 0:
            self._a = self._b = None
        else:
            self._a, self._b = _MANY, tuple(inputs)

    @property
    def inputs(self) -> tuple[Node, ...]:
        return self._inputs

    @property
    def _prev(self) -> set[Node]:
        """micrograd's name for the set of input nodes (its ``draw_dot`` walks it)."""
        return set(self._inputs)

    @property
    def params(self) -> dict:
        return self._params

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def has_grad(self) -> bool:
        """False until a backward pass has reached this node ("no grad yet")."""
        return self._g is not None

    def detach(self):
        """The same data as a new leaf that does not require grad."""
        return type(self)(self.data, requires_grad=False)

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Back-propagate from this node (see the module docstring for the rules)."""
        backprop(self, grad, retain_graph=retain_graph)

    def clear_grad(self) -> None:
        """Forget this node's gradient, as ``zero_grad(set_to_none=True)`` does in PyTorch:
        ``grad`` becomes None for a Tensor and 0 for a Value (as in micrograd), and no partly
        added gradient of an interrupted backward is left behind. Optimizers and modules call
        this for each parameter."""
        self.grad = self._EMPTY_GRAD
        self._g = None

    def zero_grad(self) -> None:
        """Zero the gradient of every node in this graph and allow backward() again."""
        for n in topological_order(self):
            n._zero()
        self._backprop_done = False


def topological_order(root: Node) -> list[Node]:
    """Nodes reachable from ``root``, inputs before the nodes that use them (iterative DFS)."""
    return _postorder(root, False)


def _postorder(root: Node, clear: bool) -> list[Node]:
    """:func:`topological_order`; ``clear`` also sets each node's ``_g`` to None on the way
    (backward's first pass, without a second walk over 65k nodes).

    A node popped the first time goes back on the stack under a None marker, then its
    inputs not yet seen; when the marker comes off, all its inputs are in ``order``, so the
    node follows. A node can sit on the stack twice (pushed by two users before it was
    expanded); the copy popped later is skipped. An input seen but not finished would be an
    ancestor of its user: a cycle, which a graph built by ops cannot have. The inputs are
    read from the node's slots directly (no tuple or iterator per node), which halves the
    time of the tuple-and-iterator walk this replaced."""
    order: list[Node] = []
    seen: set[Node] = set()  # nodes hash by identity: the set holds the nodes themselves
    stack: list[Node | None] = [root]
    push, pop, add, finish = stack.append, stack.pop, seen.add, order.append
    while stack:
        n = pop()
        if n is None:
            finish(pop())
            continue
        if n in seen:
            continue
        add(n)
        if clear:
            n._g = None
        push(n)
        push(None)
        a = n._a  # inputs pushed last first, so the first input's subtree comes first
        if a is None:
            continue
        if a is _MANY:
            for c in reversed(n._b):
                if c not in seen:
                    push(c)
        else:
            b = n._b
            if b is not None and b not in seen:
                push(b)
            if a not in seen:
                push(a)
    return order


def pending_order(root: Node, pending: Any) -> list[Node]:
    """:func:`topological_order` for a backward pass of the scalar engine, which sets each
    node's ``_g`` to the marker ``pending`` on the way and tells the nodes it has seen by
    that marker rather than by a set (three tenths faster on 65k nodes). The pass that
    follows must replace every marker: by a gradient, or by None where none arrived; should
    the walk or the pass stop half way, :func:`_undo` takes the markers back (left in, they
    would make the next backward() skip their nodes and leave gradients at zero)."""
    order: list[Node] = []
    stack: list[Node | None] = [root]
    push, pop, finish = stack.append, stack.pop, order.append
    while stack:
        n = pop()
        if n is None:
            finish(pop())
            continue
        if n._g is pending:
            continue
        n._g = pending
        push(n)
        push(None)
        a = n._a  # as in _postorder: the first input's subtree comes first
        if a is None:
            continue
        if a is _MANY:
            for c in reversed(n._b):
                if c._g is not pending:
                    push(c)
        else:
            b = n._b
            if b is not None and b._g is not pending:
                push(b)
            if a._g is not pending:
                push(a)
    return order


def _undo(root: Node) -> None:
    """After a committing pass from ``root`` stopped half way (an error, an anomaly, Ctrl-C):
    no node keeps a marker or a part-added gradient (every ``_g`` None, found by a walk
    with a set, which reads no marker), and backward() may run again. ``.grad`` is already
    as it was: the commit is the pass's last step and puts back what it changed."""
    root._backprop_done = False
    _postorder(root, clear=True)


def backprop(
    root: Node,
    grad: Any = None,
    retain_graph: bool = False,
    record: list | None = None,
    commit: bool = True,
    collect: dict | None = None,
) -> list[Node]:
    """Run one backward pass from ``root``; return the topological order used.

    ``record`` (a list) receives one ``(node, i, local, upstream, contribution)`` tuple per
    chain-rule step, in execution order; :func:`gradflow.backward_steps` builds on it.
    With ``commit=False`` ``.grad`` is untouched (a dry run); ``collect`` (a dict) then
    receives ``id(node) -> gradient`` for every node the pass reached.
    """
    if commit and root._backprop_done:
        raise BackwardTwiceError(
            "backward() already ran on this graph; a second call would add the same "
            "gradients to the leaves again. Call zero_grad() (or rebuild the graph), or pass "
            "retain_graph=True to the first backward() if you really want to accumulate."
        )
    anomaly = _mode.get().anomaly
    if commit and record is None and not anomaly:  # a graph holds nodes of one class
        return type(root)._plain_backward(root, grad, retain_graph)
    order: list[Node] = []
    saved: list[Any] = []  # a dry run's _g before it, put back however the run ends
    try:
        if commit:
            order = _postorder(root, clear=True)
        else:
            order = topological_order(root)
            saved = [n._g for n in order]
            for n in order:
                n._g = None
        root._g = root._seed(grad)
        if record is None and not anomaly:
            type(root)._backward_pass(reversed(order))
        else:
            for node in reversed(order):
                if node._op is not None and node._g is not None:
                    node._backward_step(record, anomaly)
        if commit:
            root._backprop_done = not retain_graph
            type(root)._commit_pass(order)
        elif collect is not None:
            collect.update((id(n), n._g) for n in order if n._g is not None)
    except BaseException:  # an anomaly found, Ctrl-C: the graph as it was before the pass
        if commit:
            _undo(root)
        raise
    finally:  # a dry run (backward_steps, check_symbolic) leaves no trace on the graph
        for n, g in zip(order, saved):
            n._g = g
    return order


def check_backward(x: Any, node: Node, i: int) -> None:
    """Anomaly-mode check of one backward contribution."""
    import numpy as np

    if not np.all(np.isfinite(x)):
        where = f"backward of {node._op.name} (gradient for input {i})"
        ins = ", ".join(describe(i) for i in node._inputs)
        raise AnomalyError(f"{where} produced NaN/Inf; inputs: {ins}")


def check_forward(op, out_data: Any, inputs: tuple[Node, ...]) -> None:
    """Anomaly-mode check after a forward op (called by the node constructors)."""
    import numpy as np

    if not np.all(np.isfinite(out_data)):
        ins = ", ".join(describe(i) for i in inputs)
        raise AnomalyError(f"forward of {op.name} produced NaN/Inf; inputs: {ins}")


def describe(node: Node) -> str:
    """Short human description of a node: its name and value or shape."""
    import numpy as np

    name = node.label or (node._op.name if node._op else "leaf")
    data = node.data
    if isinstance(data, np.ndarray) and data.ndim > 0:
        return f"{name} shape {data.shape}"
    return f"{name}={float(data):.6g}"


def display_names(order: list[Node], ids: bool = False) -> dict[int, str]:
    """One deterministic display name per node (:mod:`gradflow.naming`): its label, an
    unnamed constant's number, or a short name derived from the expression (``w·x``);
    ``ids=True`` gives unnamed nodes n1, n2, ... in topological order instead."""
    from .naming import display_names as names

    return names(order, ids)


def _is_scalar(data: Any) -> bool:
    import numpy as np

    return not isinstance(data, np.ndarray) or data.ndim == 0
