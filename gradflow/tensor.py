"""``Tensor``: a node holding a numpy array, with numpy broadcasting and gradients.

Every op goes through the op table (:mod:`gradflow.ops`): elementwise ops use their local
derivatives (``∂out/∂x ⊙ upstream``, summed back over broadcast axes), tensor ops their
vector-Jacobian products. float64 by default; float32 inputs stay float32.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import ops as O
from .arithmetic import Arithmetic, refuse
from .errors import ArgumentTypeError, ShapeError
from .graph import _NO_PARAMS, Node, check_backward, check_forward, current_mode
from .numerics import ARRAY

_limit: dict[str, int | None] = {"elements": None}


@contextlib.contextmanager
def element_limit(n: int) -> Iterator[None]:
    """Refuse to compute any node with more than ``n`` elements inside this block: the size
    of a result is worked out from the shapes *before* numpy allocates it, so four
    400-element vectors shaped to broadcast against each other fail at once with a
    ShapeError naming the op and the size, instead of asking for 191 GiB. Exercise files
    are built under it (``gradflow.exercises``)."""
    old = _limit["elements"]
    try:  # set inside the try, as every block that sets and restores: see graph._switched
        _limit["elements"] = n if old is None else min(n, old)
        yield
    finally:
        _limit["elements"] = old


def _result_shape(op: O.Op, shapes: list[tuple[int, ...]], params: dict) -> tuple | None:
    """The shape an op will produce, from the input shapes alone (its ``Op.shape`` rule);
    None for the ops without one (their result is never larger than an input)."""
    return op.shape(op, shapes, params) if op.shape is not None else None


def _check_size(op: O.Op, xs: list[np.ndarray], params: dict, limit: int) -> None:
    shapes = [x.shape for x in xs]
    try:
        shape = _result_shape(op, shapes, params)
    except (ValueError, TypeError, KeyError):
        return  # a shape error of its own, reported when the op runs
    if shape is not None and math.prod(shape) > limit:
        ins = " and ".join(map(str, shapes))
        raise ShapeError(
            f"{op.name} of {ins} would make {math.prod(shape)} elements {tuple(shape)} "
            f"(limit {limit})"
        )


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, Node):
        raise ArgumentTypeError("Tensor(data): data must be array-like, not a graph node")
    if dtype is not None:
        return np.array(data, dtype=dtype)
    arr = np.array(data)
    if arr.dtype.kind != "f":
        if arr.dtype.kind not in "biu":
            raise ArgumentTypeError(
                f"Tensor(data): cannot make a float tensor from dtype {arr.dtype}"
            )
        arr = arr.astype(np.float64)
    return arr


class Tensor(Node, Arithmetic):
    """An n-d array with a gradient: ``Tensor(data, requires_grad=False, dtype=None, label='')``."""

    __slots__ = ()
    # numpy arrays and scalars on the left of an operator defer to Tensor's reflected method
    # (np.ones(2) * t, np.float64(3) * t) instead of iterating the Tensor as a sequence
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, label: str = ""):
        self.data = _as_array(data, dtype)
        self.grad = None
        self.requires_grad = requires_grad
        self._op = self._a = self._b = self._g = self._info = None
        self.label = label
        self.scope = current_mode().scope

    # --- graph core protocol ----------------------------------------------------------
    def _seed(self, grad: Any) -> np.ndarray:
        if grad is None:
            if self.data.size != 1:
                raise ShapeError(
                    f"backward() without a gradient needs a scalar output, got shape "
                    f"{self.data.shape}; pass backward(grad) with that shape"
                )
            return np.ones_like(self.data)
        g = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
        if g.shape != self.data.shape:
            raise ShapeError(
                f"backward(grad): grad shape {g.shape} differs from output shape {self.data.shape}"
            )
        return g

    def _backward_step(self, record: list | None, anomaly: bool) -> None:
        op, ins, g, p = self._op, self._inputs, self._g, self._params
        xs = [x.data for x in ins]
        for i, inp in enumerate(ins):
            if not inp.requires_grad:
                continue
            if op.elementwise:
                local = op.local(i, ARRAY, self.data, xs, p)
                c = O.unbroadcast(np.asarray(g * local), inp.data.shape)
            else:
                local = None
                c = np.asarray(op.vjp(i, g, self.data, xs, p))
            c = c.astype(inp.data.dtype, copy=False)
            if anomaly:
                check_backward(c, self, i)
            inp._g = c if inp._g is None else inp._g + c
            if record is not None:
                record.append((self, i, local, g, c))

    def _commit(self) -> None:
        if self._op is None:
            self.grad = self._g.copy() if self.grad is None else self.grad + self._g
        else:
            self.grad = self._g

    def _zero(self) -> None:
        self.grad = None if self.grad is None else np.zeros_like(self.data)
        self._g = None

    # --- numpy-like surface -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        """The number of elements (numpy's ``a.size``); called, PyTorch's ``x.size()`` — the
        shape — or ``x.size(dim)``, one axis's length."""
        return _Size(self.data.size, self.data.shape)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def _scalar(self, what: str) -> Any:
        """The one element, for ``float(t)``, ``int(t)`` and ``f"{t:.3f}"`` (PyTorch's rule)."""
        if self.data.size != 1:
            raise ShapeError(
                f"{what} needs a tensor of one element; this one has shape {self.data.shape}"
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __int__(self) -> int:
        return int(self._scalar("int()"))

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a tensor of one element (an empty spec: the repr)."""
        return format(self._scalar(f"the format {spec!r}"), spec) if spec else str(self)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        lab = f", label={self.label!r}" if self.label else ""
        body = np.array2string(self.data, precision=4, threshold=20)
        return f"Tensor({body}{lab}, requires_grad={self.requires_grad})"

    def _repr_html_(self) -> str:  # Jupyter: shape, the values (a grid) and the gradient
        from .display import node_html

        return node_html(self)

    def _repr_latex_(self) -> str | None:
        from .display import node_latex

        return node_latex(self)

    # --- arithmetic (operators from gradflow.arithmetic) -----------------------------------
    def _lift(self, other: Any, symbol: str) -> Tensor:
        """A number, numpy scalar, array or list as a constant tensor of this one's dtype."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, np.ndarray, np.number, list)) and not isinstance(
            other, bool
        ):
            return Tensor(np.asarray(other, dtype=self.data.dtype))
        raise refuse(Tensor, symbol, other)

    @staticmethod
    def _apply(op: O.Op, inputs: tuple[Tensor, ...], params: dict) -> Tensor:
        return apply(op, inputs, params)  # defined below the class

    def __matmul__(self, o):
        return apply(O.MATMUL, (self, self._lift(o, "@")))

    def __rmatmul__(self, o):
        return apply(O.MATMUL, (self._lift(o, "@"), self))

    # --- tensor ops ---------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(O.SUM, (self,), {"axis": _axis(axis), "keepdims": keepdims})

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(O.MEAN, (self,), {"axis": _axis(axis), "keepdims": keepdims})

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(O.MAX, (self,), {"axis": _axis(axis), "keepdims": keepdims})

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(O.MIN, (self,), {"axis": _axis(axis), "keepdims": keepdims})

    def logsumexp(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(O.LOGSUMEXP, (self,), {"axis": _axis(axis), "keepdims": keepdims})

    def softmax(self, axis: int | tuple[int, ...] = -1) -> Tensor:
        return apply(O.SOFTMAX, (self,), {"axis": _axis(axis)})

    def log_softmax(self, axis: int | tuple[int, ...] = -1) -> Tensor:
        return apply(O.LOG_SOFTMAX, (self,), {"axis": _axis(axis)})

    def reshape(self, *shape) -> Tensor:
        shape = (
            tuple(shape[0])
            if len(shape) == 1 and isinstance(shape[0], (tuple, list))
            else tuple(shape)
        )
        return apply(O.RESHAPE, (self,), {"shape": shape})

    def broadcast_to(self, shape) -> Tensor:
        return apply(O.BROADCAST_TO, (self,), {"shape": tuple(shape)})

    def transpose(self, *axes) -> Tensor:
        axes = (
            tuple(axes[0])
            if len(axes) == 1 and isinstance(axes[0], (tuple, list))
            else (tuple(axes) or None)
        )
        return apply(O.TRANSPOSE, (self,), {"axes": axes})

    permute = transpose

    @property
    def T(self) -> Tensor:
        return self.transpose()

    # --- PyTorch-style shape methods (all of them the table's reshape/transpose ops) ---------
    def view(self, *shape) -> Tensor:
        """PyTorch's ``x.view(-1, 32 * 6 * 6)``: the same values in another shape (one size
        may be -1); here a ``reshape`` (gradflow never shares storage between tensors)."""
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Axes ``start_dim`` … ``end_dim`` merged into one: ``x.flatten(1)`` is (B, C·H·W)."""
        n = self.ndim
        if n == 0:
            return self.reshape(1)
        s, e = _axis_index("flatten", start_dim, n), _axis_index("flatten", end_dim, n)
        if s > e:
            raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        shape = self.shape
        merged = int(np.prod(shape[s : e + 1], dtype=np.int64))
        return self.reshape(shape[:s] + (merged,) + shape[e + 1 :])

    def unsqueeze(self, dim: int) -> Tensor:
        """A new axis of length 1 at ``dim`` (negative counts from the end of the result)."""
        d = _axis_index("unsqueeze", dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def squeeze(self, dim: int | None = None) -> Tensor:
        """Axes of length 1 removed (all of them, or only ``dim`` when it has length 1)."""
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        if self.ndim == 0:
            return self
        d = _axis_index("squeeze", dim, self.ndim)
        if self.shape[d] != 1:
            return self
        return self.reshape(self.shape[:d] + self.shape[d + 1 :])

    def __getitem__(self, index) -> Tensor:
        if isinstance(index, Tensor):
            index = index.data.astype(np.intp)
        return apply(O.GETITEM, (self,), {"index": index})


class _Size(int):
    """``Tensor.size``: an int (the element count, as numpy's ``a.size``) that can also be
    called as PyTorch's ``x.size()`` (the shape) or ``x.size(dim)``."""

    def __new__(cls, count: int, shape: tuple[int, ...]):
        out = super().__new__(cls, count)
        out.shape = shape
        return out

    def __call__(self, dim: int | None = None):
        if dim is None:
            return tuple(self.shape)
        return self.shape[_axis_index("size", dim, len(self.shape))]


def _axis_index(fn: str, dim: int, ndim: int) -> int:
    """``dim`` as an index in [0, ndim), negative counting from the end; a ShapeError
    naming ``fn`` otherwise."""
    d = int(dim)
    if not -ndim <= d < ndim:
        raise ShapeError(f"{fn}: dim {dim} is out of range for {ndim} axes")
    return d % ndim


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _check_shapes(op: O.Op, xs: list[np.ndarray], params: dict) -> dict:
    """Raise a ShapeError naming the op and the shapes before numpy does it less clearly (the
    op's ``Op.shape`` rule); return the params with the axis checked (a list of axes becomes
    a tuple)."""
    shapes = [x.shape for x in xs]
    if op.axis_kind:
        axis = O.check_axis(op, params.get("axis"), shapes[0])
        if axis != params.get("axis"):
            params = {**params, "axis": axis}
    if op.shape is not None and (len(xs) > 1 or not op.elementwise):
        op.shape(op, shapes, params)
    return params


def apply(op: O.Op, inputs: tuple[Tensor, ...], params: dict = _NO_PARAMS) -> Tensor:
    """Run a tensor op forward and record it (unless inside ``no_grad()``)."""
    xs = [x.data for x in inputs]
    params = _check_shapes(op, xs, params)
    if _limit["elements"] is not None:
        _check_size(op, xs, params, _limit["elements"])
    try:
        with np.errstate(all="ignore"):
            if op.elementwise:
                data = op.forward(ARRAY, *xs, **params)
            else:
                data = op.forward(*xs, **params)
    except (ValueError, IndexError) as e:
        shapes = " and ".join(str(x.shape) for x in xs)
        raise ShapeError(f"{op.name} on shape(s) {shapes}: {e}") from None
    dtype = np.result_type(*xs) if xs else np.float64
    out = Tensor.__new__(Tensor)
    out.data = np.asarray(data).astype(dtype, copy=False)
    out.grad = None
    out._g = out._info = out._op = out._a = out._b = None
    mode = current_mode()
    out.scope = mode.scope
    out.requires_grad = False
    if mode.grad and any(x.requires_grad for x in inputs):
        out.requires_grad = True
        out._op = op
        out._params = params
        out._set_inputs(inputs)
    if mode.anomaly:
        check_forward(op, out.data, inputs)
    return out


def _tensors(xs: Sequence[Any]) -> tuple[Tensor, ...]:
    return tuple(x if isinstance(x, Tensor) else Tensor(x) for x in xs)


def concat(xs: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Concatenate tensors along an existing axis."""
    return apply(O.CONCAT, _tensors(xs), {"axis": axis})


def stack(xs: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Stack tensors along a new axis."""
    return apply(O.STACK, _tensors(xs), {"axis": axis})


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where the constant condition holds, else ``b`` (gradients flow to both)."""
    cond = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    a, b = _tensors((a, b))
    return apply(O.WHERE, (a, b), {"cond": cond})


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """``gradflow.tensor([[1.0, 2.0]])``: a :class:`Tensor` from array-like data (PyTorch's
    ``torch.tensor``)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


class _CallableModule(type(np)):
    """This module's type: ``gradflow.tensor`` is both this module and, called, the
    :func:`tensor` constructor."""

    def __call__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
        return tensor(data, requires_grad=requires_grad, dtype=dtype)


__import__("sys").modules[__name__].__class__ = _CallableModule
