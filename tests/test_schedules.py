"""Learning-rate schedules at chosen steps (values worked out by hand) and the LR range test."""

import math

import numpy as np
import pytest

from gradflow.nn import Linear, Parameter
from gradflow.optim import (
    SGD,
    Constant,
    Exponential,
    OneCycle,
    PiecewiseConstant,
    Power,
    ReduceOnPlateau,
)
from gradflow.training import lr_range_test


def opt(lr=0.1):
    return SGD([Parameter(np.zeros(1))], lr=lr)


def test_constant():
    s = Constant(opt(0.3))
    assert [s.step() for _ in range(3)] == [0.3, 0.3, 0.3]


def test_power_schedule():
    s = Power(opt(0.1), s=10, c=1)
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(10) == pytest.approx(0.05)  # 0.1 / 2
    assert s.lr_at(30) == pytest.approx(0.025)  # 0.1 / 4
    assert Power(opt(0.1), s=10, c=2).lr_at(10) == pytest.approx(0.025)  # 0.1 / 2²


def test_exponential_schedule():
    s = Exponential(opt(0.1), gamma=0.1, s=10)
    assert s.lr_at(10) == pytest.approx(0.01)
    assert s.lr_at(20) == pytest.approx(0.001)
    assert s.lr_at(5) == pytest.approx(0.1 / math.sqrt(10))
    # the course's γ0·e^(−dn) with d = ln(10)/10
    assert s.lr_at(7) == pytest.approx(0.1 * math.exp(-math.log(10) / 10 * 7))


def test_step_writes_the_optimizer_rate():
    o = opt(0.1)
    s = Power(o, s=1)
    s.step()
    assert o.lr == pytest.approx(0.05)
    s.step()
    assert o.lr == pytest.approx(0.1 / 3)


def test_piecewise_constant():
    o = opt()
    s = PiecewiseConstant(o, boundaries=[5, 10], values=[1.0, 0.5, 0.1])
    assert o.lr == 1.0
    assert [s.lr_at(t) for t in (0, 4, 5, 9, 10, 100)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="2 boundaries need 3 values"):
        PiecewiseConstant(o, boundaries=[5, 10], values=[1.0])


def test_reduce_on_plateau():
    o = opt(1.0)
    s = ReduceOnPlateau(o, factor=0.5, patience=2)
    lrs = [s.step(v) for v in [1.0, 0.9, 0.95, 0.92, 0.91, 0.8, 0.85, 0.86, 0.87]]
    # improvement at 1.0, 0.9; three epochs without (0.95, 0.92, 0.91) → halve at the third;
    # 0.8 improves; 0.85, 0.86, 0.87 → halve again
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_one_cycle():
    o = opt()
    s = OneCycle(o, max_lr=1.0, total_steps=10)
    assert o.lr == pytest.approx(0.1)  # α0 = α1/10
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(2) == pytest.approx(0.1 + 0.9 * 2 / 5)
    assert s.lr_at(5) == pytest.approx(1.0)
    assert s.lr_at(10) == pytest.approx(1e-4)  # α0 lowered by three orders of magnitude
    assert s.lr_at(7) == pytest.approx(1.0 + (1e-4 - 1.0) * 2 / 5)


def test_schedule_state_round_trip():
    o = opt(0.1)
    s = ReduceOnPlateau(o, factor=0.5, patience=0)
    s.step(1.0)
    s.step(2.0)
    o2 = opt(0.1)
    s2 = ReduceOnPlateau(o2, factor=0.5, patience=0)
    s2.load_state_dict(s.state_dict())
    assert (o2.lr, s2.best, s2.t) == (o.lr, 1.0, 2)


def test_lr_range_test_on_linear_regression():
    # y = X w + noise with X ~ N(0, 1) in 4-D: the MSE's Hessian is 2·XᵀX/B ≈ 2I, so gradient
    # descent diverges for α above 2/λ ≈ 1; the (smoothed, hence slightly late) rise must be
    # found near there, and well after the loss has stopped falling (α ≈ 0.1).
    g = np.random.default_rng(0)
    X = g.standard_normal((512, 4))
    y = X @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.5 * g.standard_normal((512, 1))
    model = Linear(4, 1, seed=0)
    before = model.state_dict()
    result = lr_range_test(model, X, y, loss="mse", start_lr=1e-5, end_lr=100, factor=1.2)
    assert 0.2 < result.rise_lr < 2.0
    assert result.lrs[-1] < 100  # stopped when the loss diverged
    assert result.suggested_lr == pytest.approx(result.rise_lr / 10)
    assert result.lrs == sorted(result.lrs)
    # the weights are untouched, and the suggested rate trains well
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    from gradflow.training import fit

    fit(
        model,
        (X, y),
        loss="mse",
        optimizer=SGD(model.parameters(), lr=result.suggested_lr),
        epochs=30,
        progress=False,
    )
    np.testing.assert_allclose(model.weight.data.ravel(), [1.0, -2.0, 0.5, 3.0], atol=0.1)
