"""Stages: one compiled layer (or fused layer pair) of a plan, owning its workspaces.

A stage turns a layer's configuration and parameter views into kernel calls. All shape
logic and allocation happen here, in Python, once per input shape (``resize``); the hot
``forward``/``backward`` do nothing but pass preallocated arrays to kernels.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..kernels import activation as act_k
from ..kernels import conv as conv_k
from ..kernels import dense as dense_k
from ..kernels import loss as loss_k
from ..kernels import pool as pool_k

_EMPTY = {}


def empty(dtype) -> np.ndarray:
    """A zero-size array standing for 'no bias' in kernel signatures."""
    key = np.dtype(dtype)
    if key not in _EMPTY:
        _EMPTY[key] = np.zeros(0, dtype=key)
    return _EMPTY[key]


def grad_view(p) -> np.ndarray:
    """The gradient array a stage writes ``p``'s gradient into: its view of the flat gradient
    buffer (a placeholder of zeros before the parameters are moved into it)."""
    return p.grad if isinstance(p.grad, np.ndarray) else np.zeros_like(p.data)


class Stage:
    """Base: ``resize(in_shape) -> out_shape``, ``forward(x, training)``, ``backward(dy)``."""

    name = "stage"
    need_dx = True
    has_params = False

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self._cache: dict[tuple, dict] = {}
        self.ws: dict = {}

    #: workspaces kept per input shape (the training batch, the last batch, predictions…)
    MAX_SHAPES = 8

    def resize(self, in_shape: tuple) -> tuple:
        if in_shape not in self._cache:
            if len(self._cache) >= self.MAX_SHAPES:  # forget the oldest shape's workspaces
                self._cache.pop(next(iter(self._cache)))
            self._cache[in_shape] = self.allocate(in_shape)
        self.ws = self._cache[in_shape]
        return self.ws["out_shape"]

    def allocate(self, in_shape: tuple) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def buf(self, shape) -> np.ndarray:
        return np.zeros(shape, dtype=self.dtype)


class Dense(Stage):
    """Linear layer, optionally fused with the elementwise activation after it."""

    has_params = True

    def __init__(self, name, weight, bias, grad_w, grad_b, code, alpha, dtype):
        super().__init__(dtype)
        self.name = name
        self.w, self.gw = weight, grad_w
        self.b = bias if bias is not None else empty(dtype)
        self.gb = grad_b if grad_b is not None else empty(dtype)
        self.code, self.alpha = code, float(alpha)
        self.large = weight.size >= LARGE_WEIGHTS
        #: joins a chained run of Linear layers in one :class:`DenseStack`
        self.stackable = weight.size <= STACK_WEIGHTS

    def allocate(self, in_shape):
        batch, n_in = in_shape
        if n_in != self.w.shape[1]:
            raise ShapeError(f"{self.name}: expects inputs (B, {self.w.shape[1]}), got {in_shape}")
        shape = (batch, self.w.shape[0])
        z = self.buf(shape)
        a = z if self.code == act_k.IDENTITY else self.buf(shape)
        dz = self.buf(shape)
        split = self.large and is_large(batch, *self.w.shape)
        return {
            "out_shape": shape, "z": z, "a": a, "dz": dz, "dx": self.buf(in_shape),
            "split": split, "dz_t": self.buf((shape[1], batch)) if split else None,
        }  # fmt: skip

    def forward(self, x, training):
        ws = self.ws
        self.x = x
        forward = dense_k.linear_forward_split if ws["split"] else dense_k.linear_forward
        forward(x, self.w, self.b, ws["z"], ws["a"], self.code, self.alpha)
        return ws["a"]

    def backward(self, da):
        ws = self.ws
        dz = da if self.code == act_k.IDENTITY else ws["dz"]
        if ws["split"]:
            dense_k.linear_backward_split(
                self.x, self.w, ws["z"], ws["a"], da, dz, ws["dz_t"], self.gw, self.gb,
                ws["dx"], self.code, self.alpha, self.need_dx,
            )  # fmt: skip
            return ws["dx"]
        dense_k.linear_backward(
            self.x, self.w, ws["z"], ws["a"], da, dz, self.gw, self.gb, ws["dx"],
            self.code, self.alpha, self.need_dx,
        )  # fmt: skip
        return ws["dx"]


class DenseStack(Stage):
    """Consecutive :class:`Dense` stages run by one kernel call each way (an MLP is then one
    dispatch forward and one backward, instead of one per layer)."""

    has_params = True

    def __init__(self, layers: list[Dense], dtype):
        super().__init__(dtype)
        self.layers = layers
        self.name = layers[0].name
        self.ws = {}
        self.w = tuple(d.w for d in layers)
        self.b = tuple(d.b for d in layers)
        self.gw = tuple(d.gw for d in layers)
        self.gb = tuple(d.gb for d in layers)
        self.codes = np.array([d.code for d in layers], dtype=np.int64)
        self.alphas = np.array([d.alpha for d in layers], dtype=np.float64)

    def allocate(self, in_shape):
        shape = in_shape
        per = []
        for d in self.layers:
            shape = d.resize(shape)
            per.append(d.ws)
        ws = {
            "out_shape": shape,
            "z": tuple(w["z"] for w in per),
            "a": tuple(w["a"] for w in per),
            "dz": tuple(w["dz"] for w in per),
            "dx": tuple(w["dx"] for w in per),
        }
        batch = in_shape[0]
        macs = batch * sum(d.w.size for d in self.layers)
        if batch >= 2 and macs >= STACK_HALVES_MACS and numba_threads() >= 2:
            h = batch // 2
            rows = ("z", "a", "dz", "dx")
            ws["halves"] = (
                {k: tuple(v[:h] for v in ws[k]) for k in rows},
                {k: tuple(v[h:] for v in ws[k]) for k in rows},
            )
            ws["grad_parts"] = tuple(
                (tuple(np.zeros_like(g) for g in self.gw), tuple(np.zeros_like(g) for g in self.gb))
                for _ in range(2)
            )
        return ws

    def forward(self, x, training):
        ws = self.ws
        self.x = x
        if "halves" in ws:
            h0, h1 = ws["halves"]
            dense_k.stack_forward_halves(
                x, self.w, self.b, h0["z"], h0["a"], h1["z"], h1["a"], self.codes, self.alphas
            )
        else:
            dense_k.stack_forward(x, self.w, self.b, ws["z"], ws["a"], self.codes, self.alphas)
        return ws["a"][-1]

    def train_softmax_ce(self, x, targets, grad, smoothing) -> float:
        """Forward, softmax cross-entropy (∂L/∂logits into ``grad``) and backward in one
        kernel call, for a plan that is this stack alone (``resize`` done by the caller);
        three calls when the stack runs on two batch halves."""
        ws = self.ws
        self.x = x
        if "halves" in ws:
            self.forward(x, True)
            loss = loss_k.softmax_cross_entropy(ws["a"][-1], targets, grad, smoothing)
            self.backward(grad)
            return loss
        return dense_k.stack_train_softmax_ce(
            x, self.w, self.b, ws["z"], ws["a"], ws["dz"], self.gw, self.gb, ws["dx"],
            self.codes, self.alphas, targets, grad, smoothing, self.need_dx,
        )  # fmt: skip

    def backward(self, da):
        ws = self.ws
        if "halves" in ws:
            h = da.shape[0] // 2
            (h0, h1), ((gw0, gb0), (gw1, gb1)) = ws["halves"], ws["grad_parts"]
            dense_k.stack_backward_halves(
                self.x, self.w, h0["z"], h0["a"], da[:h], h0["dz"], gw0, gb0, h0["dx"],
                h1["z"], h1["a"], da[h:], h1["dz"], gw1, gb1, h1["dx"], self.gw, self.gb,
                self.codes, self.alphas, self.need_dx,
            )  # fmt: skip
            return ws["dx"][0]
        dense_k.stack_backward(
            self.x, self.w, ws["z"], ws["a"], da, ws["dz"], self.gw, self.gb, ws["dx"],
            self.codes, self.alphas, self.need_dx,
        )  # fmt: skip
        return ws["dx"][0]


#: multiply-adds per batch (batch × all weights) from which a Linear stack runs on two batch
#: halves, one per thread (LeNet's 256-120-84-10 head at batch 64: 2.7 M)
STACK_HALVES_MACS = 1 << 20
#: weights up to which a Linear layer joins a stack, large layers too: W2's 784×256 layer
#: (200k) ran 7–12 % faster a step in its MLP's stack on batch halves than on its own
#: two-thread kernels (one parallel region each way instead of one per layer, no serial
#: transpose and δ between them), measured in turns in one process. Beyond it the per-half
#: ∂L/∂W copies and their sum outgrow the cache, and each thread's half-batch product with
#: them, where the split kernels compute disjoint rows of ∂L/∂W over the whole batch.
STACK_WEIGHTS = 1 << 18


def numba_threads() -> int:
    """numba's configured maximum, not the current count: the thread governor may run a step
    on one thread, and a layer's kernels must not change with that."""
    import numba

    return numba.config.NUMBA_NUM_THREADS


#: multiply-adds per product above which a Linear layer splits its rows over two threads:
#: at 4 M a BLAS call takes ~0.1 ms, far more than waking the second thread
LARGE_MACS = 1 << 22
#: weights from which a layer may be large (decided before the batch size is known)
LARGE_WEIGHTS = 1 << 15


def is_large(batch: int, n_out: int, n_in: int) -> bool:
    """Is one product of this layer worth two threads?"""
    return batch >= 2 and batch * n_out * n_in >= LARGE_MACS and numba_threads() >= 2


class Activation(Stage):
    """A standalone elementwise activation (one not directly after a Linear/Conv)."""

    def __init__(self, name, code, alpha, dtype):
        super().__init__(dtype)
        self.name, self.code, self.alpha = name, code, float(alpha)

    def allocate(self, in_shape):
        return {"out_shape": in_shape, "a": self.buf(in_shape), "dz": self.buf(in_shape)}

    def forward(self, x, training):
        self.x = x
        a = self.ws["a"]
        act_k.forward(x.reshape(-1), a.reshape(-1), self.code, self.alpha)
        return a

    def backward(self, da):
        dz = self.ws["dz"]
        act_k.backward(
            self.x.reshape(-1), self.ws["a"].reshape(-1), da.reshape(-1), dz.reshape(-1),
            self.code, self.alpha,
        )  # fmt: skip
        return dz


class Flatten(Stage):
    """(B, ...) -> (B, prod(...))."""

    def __init__(self, dtype, name: str = "flatten"):
        super().__init__(dtype)
        self.name = name

    def allocate(self, in_shape):
        return {"out_shape": (in_shape[0], int(np.prod(in_shape[1:])))}

    def forward(self, x, training):
        self.in_shape = x.shape
        return x.reshape(self.ws["out_shape"])

    def backward(self, dy):
        return dy.reshape(self.in_shape)


class Reshape(Stage):
    """A view with another shape (batch axis kept); ``rule(in_shape) -> out_shape``."""

    def __init__(self, name, rule, dtype):
        super().__init__(dtype)
        self.name, self.rule = name, rule

    def allocate(self, in_shape):
        return {"out_shape": tuple(self.rule(in_shape)), "in_shape": in_shape}

    def forward(self, x, training):
        return x.reshape(self.ws["out_shape"])

    def backward(self, dy):
        return dy.reshape(self.ws["in_shape"])


class Dropout(Stage):
    """Inverted dropout; the mask is drawn from the layer's own generator, so the jit and
    graph backends drop the same units for the same seed."""

    def __init__(self, name, p, mc, rng, dtype):
        super().__init__(dtype)
        self.name, self.p, self.mc, self.rng = name, float(p), bool(mc), rng

    def allocate(self, in_shape):
        return {"out_shape": in_shape, "y": self.buf(in_shape), "mask": self.buf(in_shape)}

    def forward(self, x, training):
        self.active = self.p > 0.0 and (training or self.mc)
        if not self.active:
            return x
        mask, y = self.ws["mask"], self.ws["y"]
        keep = self.rng.random(x.shape) >= self.p
        np.multiply(keep, 1.0 / (1.0 - self.p), out=mask, casting="unsafe")
        np.multiply(x, mask, out=y)
        return y

    def backward(self, dy):
        if not self.active:
            return dy
        return dy * self.ws["mask"]


class Softmax(Stage):
    """Softmax or log-softmax over the last axis of (B, K) (when not fused into a loss)."""

    def __init__(self, name, log, dtype):
        super().__init__(dtype)
        self.name, self.log = name, log

    def allocate(self, in_shape):
        if len(in_shape) != 2:
            raise ShapeError(f"{self.name}: the jit backend supports (B, K) inputs, got {in_shape}")
        return {"out_shape": in_shape, "p": self.buf(in_shape), "y": self.buf(in_shape)}

    def forward(self, x, training):
        p, y = self.ws["p"], self.ws["y"]
        loss_k.softmax_rows(x, p)
        if not self.log:
            return p
        np.log(p, out=y)
        return y

    def backward(self, dy):
        p = self.ws["p"]
        if self.log:  # ∂/∂z log softmax: dy − softmax · Σ dy
            return dy - p * dy.sum(axis=1, keepdims=True)
        return p * (dy - (dy * p).sum(axis=1, keepdims=True))


class Conv(Stage):
    """Conv1d/Conv2d (4-D internally; 1-D has height 1), fused with a following activation."""

    has_params = True

    def __init__(self, name, weight, bias, grad_w, grad_b, stride, padding, code, alpha, dtype):
        super().__init__(dtype)
        self.name = name
        self.dims = weight.ndim - 2
        o, c = weight.shape[:2]
        k = weight.shape[2:]
        self.kh, self.kw = (1, k[0]) if self.dims == 1 else k
        self.sh, self.sw = (1, stride[0]) if self.dims == 1 else stride
        self.ph, self.pw = (0, padding[0]) if self.dims == 1 else padding
        self.w2 = weight.reshape(o, -1)
        self.gw2 = grad_w.reshape(o, -1)
        self.b = bias if bias is not None else empty(dtype)
        self.gb = grad_b if grad_b is not None else empty(dtype)
        self.channels, self.out_channels = c, o
        self.code, self.alpha = code, float(alpha)
        self.pool: tuple[int, int, int, int] | None = None

    def fuse_max_pool(self, pool: Pool) -> None:
        """Run the max pooling ``pool`` that follows this layer inside its kernels."""
        self.pool = (pool.kh, pool.kw, pool.sh, pool.sw)
        self.name = f"{self.name} + {pool.name}"

    def allocate(self, in_shape):
        if len(in_shape) != self.dims + 2 or in_shape[1] != self.channels:
            want = "(B, C, L)" if self.dims == 1 else "(B, C, H, W)"
            raise ShapeError(
                f"{self.name}: expects {want} inputs with C = {self.channels}, got {in_shape}"
            )
        b = in_shape[0]
        h, w = (1, in_shape[2]) if self.dims == 1 else in_shape[2:]
        oh = (h + 2 * self.ph - self.kh) // self.sh + 1
        ow = (w + 2 * self.pw - self.kw) // self.sw + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"{self.name}: input {in_shape} is smaller than the kernel")
        ckk = self.w2.shape[1]
        o = self.out_channels
        out_shape = (b, o, ow) if self.dims == 1 else (b, o, oh, ow)
        z = self.buf((b, o, oh * ow))
        pooled = {}
        if self.pool is not None:
            qh, qw, th, tw = self.pool
            poh, pow_ = (oh - qh) // th + 1, (ow - qw) // tw + 1
            if poh < 1 or pow_ < 1:
                raise ShapeError(f"{self.name}: the pooling window is larger than {out_shape}")
            out_shape = (b, o, pow_) if self.dims == 1 else (b, o, poh, pow_)
            pooled = {
                "y": self.buf((b, o, poh, pow_)),
                "arg": np.zeros((b, o, poh, pow_), dtype=np.int64),
                "zp": self.buf((b, o, poh, pow_)),
            }
        return pooled | {
            "out_shape": out_shape,
            "in_shape": in_shape,
            "in4": (b, self.channels, h, w),
            "oh": oh,
            "ow": ow,
            "cols": self.buf((b, ckk, oh * ow)),
            "z": z,
            "a": z if self.code == act_k.IDENTITY or self.pool else self.buf(z.shape),
            "dz": self.buf(z.shape),
            "dcols": self.buf((2, ckk, oh * ow)),
            "parts": self.buf((2, o, ckk + 1)),
            "tmp": self.buf((2, ckk, o)),
            "dx": self.buf((b, self.channels, h, w)),
        }

    def forward(self, x, training):
        ws = self.ws
        x4 = x.reshape(ws["in4"])
        geometry = (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw, ws["oh"], ws["ow"])
        if self.pool is not None:
            conv_k.conv_pool_forward(
                x4, self.w2, self.b, ws["cols"], ws["z"], ws["zp"], ws["y"], ws["arg"],
                *geometry, self.code, self.alpha, *self.pool,
            )  # fmt: skip
            return ws["y"].reshape(ws["out_shape"])
        conv_k.conv_forward(
            x4, self.w2, self.b, ws["cols"], ws["z"], ws["a"], *geometry, self.code, self.alpha
        )
        return ws["a"].reshape(ws["out_shape"])

    def backward(self, da):
        ws = self.ws
        if self.pool is not None:
            conv_k.conv_pool_backward(
                ws["zp"], ws["y"], da.reshape(ws["y"].shape), ws["arg"], ws["dz"], self.w2,
                ws["cols"], self.gw2, self.gb, ws["dcols"], ws["parts"], ws["tmp"], ws["dx"],
                self.kh, self.kw, self.sh, self.sw, self.ph, self.pw, ws["oh"], ws["ow"],
                self.code, self.alpha, self.need_dx,
            )  # fmt: skip
            return ws["dx"].reshape(ws["in_shape"])
        conv_k.conv_backward(
            ws["z"], ws["a"], da.reshape(ws["z"].shape), ws["dz"], self.w2, ws["cols"],
            self.gw2, self.gb, ws["dcols"], ws["parts"], ws["tmp"], ws["dx"], self.kh, self.kw,
            self.sh, self.sw, self.ph, self.pw, ws["oh"], ws["ow"], self.code, self.alpha,
            self.need_dx,
        )  # fmt: skip
        return ws["dx"].reshape(ws["in_shape"])


class Pool(Stage):
    """Max/Avg pooling 1-D or 2-D (stride defaults to the kernel, no padding)."""

    def __init__(self, name, kind, dims, kernel, stride, dtype):
        super().__init__(dtype)
        self.name, self.kind, self.dims = name, kind, dims
        self.kh, self.kw = (1, kernel[0]) if dims == 1 else kernel
        self.sh, self.sw = (1, stride[0]) if dims == 1 else stride

    def allocate(self, in_shape):
        if len(in_shape) != self.dims + 2:
            raise ShapeError(f"{self.name}: expects {self.dims + 2}-D input, got {in_shape}")
        b, c = in_shape[:2]
        h, w = (1, in_shape[2]) if self.dims == 1 else in_shape[2:]
        oh = (h - self.kh) // self.sh + 1
        ow = (w - self.kw) // self.sw + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"{self.name}: input {in_shape} is smaller than the window")
        out_shape = (b, c, ow) if self.dims == 1 else (b, c, oh, ow)
        return {
            "out_shape": out_shape,
            "in_shape": in_shape,
            "in4": (b, c, h, w),
            "y": self.buf((b, c, oh, ow)),
            "arg": np.zeros((b, c, oh, ow), dtype=np.int64),
            "dx": self.buf((b, c, h, w)),
        }

    def forward(self, x, training):
        ws = self.ws
        x4 = x.reshape(ws["in4"])
        if self.kind == "max":
            pool_k.max_forward(x4, ws["y"], ws["arg"], self.kh, self.kw, self.sh, self.sw)
        else:
            pool_k.avg_forward(x4, ws["y"], self.kh, self.kw, self.sh, self.sw)
        return ws["y"].reshape(ws["out_shape"])

    def backward(self, dy):
        ws = self.ws
        dy4 = dy.reshape(ws["y"].shape)
        if self.kind == "max":
            pool_k.max_backward(dy4, ws["arg"], ws["dx"])
        else:
            pool_k.avg_backward(dy4, ws["dx"], self.kh, self.kw, self.sh, self.sw)
        return ws["dx"].reshape(ws["in_shape"])
