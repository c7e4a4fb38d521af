"""Shared helpers for the jit-backend tests: run a model through the graph engine and the
jitted backend on the same data and compare outputs, losses and gradients."""

from __future__ import annotations

import copy
import os

import numpy as np
from hypothesis import HealthCheck, settings

from gradflow import Tensor
from gradflow.jit import make_stepper
from gradflow.nn.losses import LOSSES

if os.environ.get("NUMBA_DISABLE_JIT") == "1":  # kernels as plain Python: few, small examples
    settings.register_profile(
        "jit-as-python", deadline=None, max_examples=3, suppress_health_check=list(HealthCheck)
    )
    settings.load_profile("jit-as-python")

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}


def graph_reference(model, x, y, loss: str, dtype=None, **loss_kwargs):
    """(loss value, {name: grad}, eval output) from the graph engine on a copy of ``model``
    with its parameters in ``dtype`` (default: as they are). The jit in float32 is compared
    with the graph engine in float32: against float64, a near-tie in a max-pool window or a
    cancelling sum makes both float32 engines differ from it by ~1e-4 while agreeing with
    each other to ~1e-7."""
    ref = copy.deepcopy(model)
    if dtype is not None:
        for p in ref.parameters():
            p.data = np.asarray(p.data, dtype=dtype)
    ref.train()
    value = LOSSES[loss](ref(Tensor(x)), y, **loss_kwargs)
    value.backward()
    grads = {n: np.array(p.grad, dtype=np.float64) for n, p in ref.named_parameters()}
    ref.eval()
    out = np.asarray(ref(Tensor(x)).data, dtype=np.float64)
    return float(value.data), grads, out


def assert_matches_graph(model, x, y, loss="cross_entropy", dtype=np.float64, **loss_kwargs):
    """One jit forward/backward equals the graph engine's (loss, every gradient, eval output)."""
    x = np.asarray(x, dtype=dtype)
    want_loss, want_grads, want_out = graph_reference(model, x, y, loss, dtype, **loss_kwargs)
    stepper = make_stepper(model, loss, None, dtype=dtype, **loss_kwargs)
    got_loss = stepper.train_batch(x, y)
    tol = TOL[dtype]
    # equal_nan=False: NaN on both sides is a failure, not a match (numpy defaults to True)
    np.testing.assert_allclose(got_loss, want_loss, equal_nan=False, **tol)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, want_grads[name], err_msg=name, equal_nan=False, **tol)
    np.testing.assert_allclose(stepper.predict(x), want_out, equal_nan=False, **tol)
    return stepper
