"""The course's worked examples as graphs, shared by the demo, the exercises and the tests."""

from __future__ import annotations

from .value import Value

# Seed 002, slides 6-8: a 1-2-1 ReLU network with hand-picked weights.
SEED002_WEIGHTS = {
    "w111": 20.0,
    "b11": -10.0,
    "w121": 40.0,
    "b12": -200.0,
    "w211": 1.0,
    "w212": -1.0,
    "b21": 0.0,
}


def seed002_network(x: float = 4.0, ytrue: float = 75.0) -> dict[str, Value]:
    """y11 = max(w111·x + b11, 0), y12 = max(w121·x + b12, 0),
    y21 = max(w211·y11 + w212·y12 + b21, 0), L = (ytrue − y21)².

    Returns every named node; with x = 4, ytrue = 75: y11 = 70, y12 = 0, y21 = 70, L = 25.
    """
    v = {name: Value(val, label=name) for name, val in SEED002_WEIGHTS.items()}
    v["x"] = Value(x, label="x", requires_grad=False)
    v["ytrue"] = Value(ytrue, label="ytrue", requires_grad=False)

    def named(node: Value, name: str) -> Value:
        node.label = name
        v[name] = node
        return node

    named(v["w111"] * v["x"], "p11")
    named(v["p11"] + v["b11"], "z11")
    named(v["z11"].relu(), "y11")
    named(v["w121"] * v["x"], "p12")
    named(v["p12"] + v["b12"], "z12")
    named(v["z12"].relu(), "y12")
    named(v["w211"] * v["y11"], "p21")
    named(v["w212"] * v["y12"], "p22")
    named(v["p21"] + v["p22"], "s21")
    named(v["s21"] + v["b21"], "z21")
    named(v["z21"].relu(), "y21")
    named(v["ytrue"] - v["y21"], "e")
    named(v["e"] ** 2, "L")
    return v
