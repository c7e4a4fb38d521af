"""Every tensor op of the table has a case here: gradcheck and SymPy on generated inputs.

A new tensor op fails ``test_every_tensor_op_has_a_case`` until it gets a builder below, so an
op is tested the moment it is declared.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradflow as gf
from gradflow import OPS, Tensor, check_symbolic, gradcheck

distinct = st.integers(-30, 30).map(lambda v: v / 10)  # 0.1 apart: no near-ties for max


def arr(data, shape):
    return data.draw(hnp.arrays(np.float64, shape, elements=distinct, unique=True))


def weights(shape):
    return np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)


# name -> builder(data) -> (function of the leaves returning a scalar, leaves)
BUILDERS = {
    "matmul": lambda d: (
        lambda a, b: ((a @ b) * weights((2, 4))).sum(),
        [arr(d, (2, 3)), arr(d, (3, 4))],
    ),
    "sum": lambda d: (lambda a: (a.sum(axis=1, keepdims=True) ** 2).sum(), [arr(d, (2, 3))]),
    "mean": lambda d: (lambda a: (a.mean(axis=0) ** 2).sum(), [arr(d, (3, 2))]),
    "reshape": lambda d: (lambda a: (a.reshape(3, 2) * weights((3, 2))).sum(), [arr(d, (2, 3))]),
    "broadcast_to": lambda d: (
        lambda a: (a.broadcast_to((3, 2)) * weights((3, 2))).sum(),
        [arr(d, (1, 2))],
    ),
    "transpose": lambda d: (
        lambda a: (a.transpose(1, 0) * weights((3, 2))).sum(),
        [arr(d, (2, 3))],
    ),
    "getitem": lambda d: (lambda a: (a[[0, 1, 1], :] * weights((3, 3))).sum(), [arr(d, (2, 3))]),
    "concat": lambda d: (
        lambda a, b: (gf.concat([a, b], axis=1) * weights((2, 3))).sum(),
        [arr(d, (2, 1)), arr(d, (2, 2))],
    ),
    "stack": lambda d: (
        lambda a, b: (gf.stack([a, b]) * weights((2, 2))).sum(),
        [arr(d, (2,)), arr(d, (2,))],
    ),
    "max": lambda d: (lambda a: (a.max(axis=1) * weights((2,))).sum(), [arr(d, (2, 3))]),
    "logsumexp": lambda d: (
        lambda a: (a.logsumexp(axis=0) * weights((3,))).sum(),
        [arr(d, (2, 3))],
    ),
    "softmax": lambda d: (lambda a: (a.softmax(axis=1) * weights((2, 3))).sum(), [arr(d, (2, 3))]),
    "log_softmax": lambda d: (
        lambda a: (a.log_softmax() * weights((2, 3))).sum(),
        [arr(d, (2, 3))],
    ),
    "where": lambda d: (
        lambda a, b: (gf.where(np.array([[True, False, True]]), a, b) * weights((2, 3))).sum(),
        [arr(d, (2, 3)), arr(d, (1, 3))],
    ),
}

TENSOR_OPS = sorted(n for n, op in OPS.items() if not op.elementwise)


def test_every_tensor_op_has_a_case():
    missing = sorted(set(TENSOR_OPS) - set(BUILDERS) - set(EXTERNAL_CASES))
    assert not missing, f"tensor ops without a gradcheck/SymPy case: {missing}"


# Ops registered by other modules (e.g. convolution) may keep their cases in their own test
# files; list the test file here so the table stays complete.
EXTERNAL_CASES: dict[str, str] = {
    "conv1d": "tests/test_nn_conv.py",
    "conv2d": "tests/test_nn_conv.py",
    "maxpool": "tests/test_nn_conv.py",
    "avgpool": "tests/test_nn_conv.py",
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@given(data=st.data())
def test_tensor_op_gradcheck_and_sympy(name, data):
    fn, arrays = BUILDERS[name](data)
    leaves = [Tensor(a, requires_grad=True, label=f"x{k}") for k, a in enumerate(arrays)]
    assert gradcheck(fn, *leaves)
    report = check_symbolic(fn(*leaves))
    assert report.ok, str(report)
