"""Helpers shared by the visual tests: read the text an SVG shows, build a layered graph."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import gradflow
from gradflow import Value

SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: str | bytes) -> list[str]:
    """Every <text> string of an SVG (entities decoded: "&#45;40" reads "-40")."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def layered_graph(layers: int = 10, width: int = 10) -> tuple[Value, int]:
    """A scalar net of ``layers`` scoped layers (about 5·width ops each); returns (loss, ops)."""
    xs = [Value(0.1 * (i + 1), label=f"x{i}", requires_grad=False) for i in range(width)]
    for k in range(layers):
        with gradflow.scope(f"layer{k}"):
            ws = [Value(0.5 - 0.1 * i, label=f"w{k}_{i}") for i in range(width)]
            xs = [(w * x + 0.1).tanh() for w, x in zip(ws, reversed(xs))]
            total = xs[0]
            for x in xs[1:]:
                total = total + x
            xs = [x + 0.01 * total for x in xs]
    loss = sum(xs[1:], xs[0])
    loss.label = "L"
    ops = sum(1 for n in gradflow.topological_order(loss) if n.op is not None)
    return loss, ops
