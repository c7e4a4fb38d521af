"""Elementwise activations by integer code, forward and backward, compiled from the op table.

Nothing here restates an activation: each code runs its op's own ``forward`` and local
derivative from :mod:`gradflow.ops`, compiled by :mod:`gradflow.kernels.opforms` (numba with
a compiled :data:`gradflow.numerics.SCALAR` in place of ``xp``). :func:`apply` and
:func:`derivative` dispatch on the code over the table's forms (built from the table at
import); the fused dense/conv kernels call :func:`apply_fused` / :func:`derivative_fused`
(the activations of :data:`FUSED` only), or :func:`relu` /
:func:`relu_derivative` in their own vectorising ReLU loops. ``alpha`` carries the op's one
parameter (leaky slope, ELU α, swish β). The op table's kink convention comes with the forms
(derivative of the ``x ≤ 0`` branch at exactly 0), NaN included: ReLU(NaN) is NaN, and
∂L/∂a = NaN at a ReLU's zero gives NaN, as in the graph engine.
"""

from __future__ import annotations

from numba import prange

from ..ops import ops_with_role
from . import opforms
from .cachedir import njit
from .opforms import XP
from .twins import parallel_kernel

# op-table name -> (code, name of the op parameter carried in ``alpha``, its default): code 0
# is the identity (no activation), then every op of role "activation" in table order, so a
# new activation op gets its code, forward and derivative here by being declared
CODES = {"identity": (0, "", 0.0)}
for _code, _op in enumerate(ops_with_role("activation"), start=1):
    _param, _default = next(iter(_op.params.items()), ("", 0.0))
    CODES[_op.name] = (_code, _param, float(_default))
if any(len(op.params) > 1 for op in ops_with_role("activation")):
    # a builtin on purpose: an op table gradflow ships that its kernels cannot compile is a bug
    raise TypeError("an activation op with more than one parameter: alpha carries only one")

IDENTITY = CODES["identity"][0]
RELU, LEAKY_RELU, SIGMOID = CODES["relu"][0], CODES["leaky_relu"][0], CODES["sigmoid"][0]


def _forms(name):
    """(code, f(xp, x[, alpha]), f'(xp, y, x[, alpha]), has a parameter) of one op, compiled."""
    code, param, _ = CODES[name]
    return code, opforms.forward(name), opforms.partial(name), bool(param)


def _dispatch(which: str, names) -> object:
    """One compiled function ``f(code, x, alpha)`` (forward) or ``f(code, x, y, alpha)``
    (derivative): a test per op of ``names`` (activations of the table), calling that op's
    form; any other code is the identity.

    Generated as source text from the codes (integers) alone, so that numba types and
    compiles one function with every form inlined (a chain of compiled closures took
    six times as long to compile)."""
    forward = which == "forward"
    head = "code, x, alpha" if forward else "code, x, y, alpha"
    lines = [f"def {which}_by_code({head}):"]
    namespace = {"XP": XP}
    for i, (code, f, d, has_param) in enumerate(_forms(name) for name in names):
        namespace[f"form{i}"] = f if forward else d
        args = ("x" if forward else "y, x") + (", alpha" if has_param else "")
        lines += [f"    if code == {int(code)}:", f"        return form{i}(XP, {args})"]
    lines.append("    return x + 0.0" if forward else "    return 1.0")  # identity
    label = "every activation" if len(names) == len(CODES) - 1 else ", ".join(names)
    exec(compile("\n".join(lines), f"<{which} of {label} from the op table>", "exec"), namespace)
    return njit(error_model="numpy")(namespace[f"{which}_by_code"])


#: every coded activation but identity
_ALL = tuple(name for name in CODES if name != "identity")
_APPLY, _DERIVATIVE = _dispatch("forward", _ALL), _dispatch("derivative", _ALL)

#: the activations the fused Linear/Conv kernels compute in their own loops: those of the
#: course's networks. Any other runs as an :class:`~gradflow.jit.stages.Activation` stage of
#: its own after the layer, so the fused kernels do not compile every activation's forms
#: (about a third of a cold W1 step went into that) for models that use none of them.
FUSED = ("relu", "leaky_relu", "sigmoid", "tanh")
FUSED_CODES = frozenset(CODES[name][0] for name in FUSED)


def non_decreasing(code: int, alpha: float) -> bool:
    """Whether f is non-decreasing, so that a max pooling may run before it (max f(z) =
    f(max z)): identity and every fused activation but leaky ReLU with a negative slope."""
    return code == IDENTITY or (code in FUSED_CODES and (code != LEAKY_RELU or alpha >= 0))


_FUSED_APPLY, _FUSED_DERIVATIVE = _dispatch("forward", FUSED), _dispatch("derivative", FUSED)
_RELU_F, _RELU_D = opforms.forward("relu"), opforms.partial("relu")
_LEAKY_F, _LEAKY_D = opforms.forward("leaky_relu"), opforms.partial("leaky_relu")
_SIGMOID_F = opforms.forward("sigmoid")


@njit(cache=True, error_model="numpy")
def apply(code, x, alpha):
    """f(x) for one scalar (identity for an unknown code)."""
    return _APPLY(code, x, alpha)


@njit(cache=True, error_model="numpy")
def derivative(code, x, y, alpha):
    """f'(x) for one scalar, given y = f(x) (sigmoid and tanh take theirs from y)."""
    return _DERIVATIVE(code, x, y, alpha)


@njit(cache=True, error_model="numpy")
def apply_fused(code, x, alpha):
    """:func:`apply` for the codes of :data:`FUSED` (identity for any other)."""
    return _FUSED_APPLY(code, x, alpha)


@njit(cache=True, error_model="numpy")
def derivative_fused(code, x, y, alpha):
    """:func:`derivative` for the codes of :data:`FUSED` (1 for any other)."""
    return _FUSED_DERIVATIVE(code, x, y, alpha)


@njit(cache=True, error_model="numpy")
def relu(x):
    """ReLU(x), the table's form (the fused kernels' vectorising ReLU loops)."""
    return _RELU_F(XP, x)


@njit(cache=True, error_model="numpy")
def relu_derivative(x):
    """ReLU'(x) = 1[x > 0], the table's form."""
    return _RELU_D(XP, _RELU_F(XP, x), x)  # out unused by ReLU' is optimised away


@njit(cache=True, error_model="numpy")
def leaky_relu(x, alpha):
    """Leaky ReLU with slope α, the table's form (PReLU/RReLU run it with their slopes)."""
    return _LEAKY_F(XP, x, alpha)


@njit(cache=True, error_model="numpy")
def leaky_relu_derivative(x, alpha):
    return _LEAKY_D(XP, _LEAKY_F(XP, x, alpha), x, alpha)


@njit(cache=True, error_model="numpy")
def sigmoid(x):
    """σ(x), the table's (stable) form: for kernels that fuse it with other work."""
    return _SIGMOID_F(XP, x)


@njit(cache=True, error_model="numpy")
def forward(z, a, code, alpha):
    """a = f(z) elementwise over flat (1-D) arrays."""
    for i in range(z.size):
        a[i] = apply(code, z[i], alpha)


@njit(cache=True, error_model="numpy")
def backward(z, a, da, dz, code, alpha):
    """dz = da ⊙ f'(z) elementwise over flat arrays (``dz`` may alias ``da``)."""
    for i in range(z.size):
        dz[i] = da[i] * derivative(code, z[i], a[i], alpha)


@parallel_kernel(error_model="numpy")
def forward_parallel(z, a, code, alpha):
    """As :func:`forward`, split over threads (for large conv feature maps)."""
    for i in prange(z.size):
        a[i] = apply(code, z[i], alpha)


@parallel_kernel(error_model="numpy")
def backward_parallel(z, a, da, dz, code, alpha):
    for i in prange(z.size):
        dz[i] = da[i] * derivative(code, z[i], a[i], alpha)
