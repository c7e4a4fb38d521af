"""visual.draw_graph: labels, grads ("no grad yet" before backward), options, collapsing."""

import re
import time

import numpy as np
import pytest
from visual_helpers import layered_graph, svg_texts

import gradflow
from gradflow import Tensor, Value, visual
from gradflow.examples import seed002_network
from gradflow.nn import Linear


def labels(dot) -> dict[str, str]:
    """node id -> label text of a Digraph's source."""
    return dict(re.findall(r'^\t(\w+) \[label="(.*?)"', dot.source, flags=re.M | re.S))


def label_of(dot, name: str) -> str:
    (found,) = [t for t in labels(dot).values() if t.split("\n")[0].split(" = ")[0] == name]
    return found


def test_seed002_labels_show_op_symbol_value_and_no_grad_before_backward():
    nodes = seed002_network()
    dot = visual.draw_graph(nodes["L"])
    assert label_of(dot, "p11").split("\n")[:2] == ["p11 = w111·x", "data 80"]
    assert label_of(dot, "y11").startswith("y11 = ReLU(z11)\ndata 70")  # symbol from the table
    assert label_of(dot, "w111").endswith("no grad yet")
    assert "grad" not in label_of(dot, "x")  # a constant input has no gradient to show
    assert not any("\ngrad " in t for t in labels(dot).values())


def test_seed002_grads_after_backward_are_the_course_numbers():
    nodes = seed002_network()
    nodes["L"].backward()
    dot = visual.draw_graph(nodes["L"])
    # slides 6-8: ∂L/∂w111 = 2(y21 − 75)·w211·x = −40, ∂L/∂w211 = −10·y11 = −700,
    # y12's ReLU is off so w121 and b12 get 0 — a real 0, not "no grad yet".
    assert label_of(dot, "w111").endswith("grad -40")
    assert label_of(dot, "w211").endswith("grad -700")
    assert label_of(dot, "w121").endswith("grad 0")
    assert "no grad yet" not in dot.source


def test_layout_direction_and_bad_direction():
    loss = seed002_network()["L"]
    assert "rankdir=TB" in visual.draw_graph(loss, rankdir="TB").source
    assert "rankdir=LR" in visual.draw_graph(loss).source
    with pytest.raises(ValueError, match="rankdir"):
        visual.draw_graph(loss, rankdir="sideways")
    with pytest.raises(TypeError, match="Value or Tensor"):
        visual.draw_graph(3.0)


def test_local_derivatives_on_edges():
    nodes = seed002_network()
    src = visual.draw_graph(nodes["L"], show_local=True).source
    # L = e², e = 5: ∂L/∂e = 2e = 10; e = ytrue − y21: ∂e/∂y21 = −1; y11 = ReLU(70): 1
    edge_labels = [lab.strip('"') for lab in re.findall(r'-> \w+ \[label=("[^"]*"|\S+)', src)]
    assert "2e = 10" in edge_labels  # the op table's notation, not SymPy's 2*e
    assert "-1" in edge_labels and "4" in edge_labels  # ∂(w111·x)/∂w111 = x = 4
    assert any(lab.endswith("= 1") and "z11" in lab for lab in edge_labels)


def test_highlight_node_and_edge():
    nodes = seed002_network()
    dot = visual.draw_graph(nodes["L"], highlight=[nodes["y11"], (nodes["z11"], nodes["y11"])])
    highlighted = re.findall(r"class=hl[^\[\]]*?id=(\w+)", dot.source)
    ids = {id(n): k for k, n in enumerate(gradflow.topological_order(nodes["L"]))}
    y11, z11 = ids[id(nodes["y11"])], ids[id(nodes["z11"])]
    assert highlighted == [f"n{y11}", f"e{y11}_0"]  # the node, then the edge z11 → y11
    assert re.search(rf"n{z11} -> n{y11} \[.*id=e{y11}_0", dot.source)
    with pytest.raises(TypeError, match="highlight"):
        visual.draw_graph(nodes["L"], highlight=[42])


def test_hide_constants_keeps_them_in_the_op_text():
    nodes = seed002_network()
    dot = visual.draw_graph(nodes["L"], hide_constants=True)
    names = {t.split("\n")[0].split(" = ")[0] for t in labels(dot).values()}
    assert "ytrue" not in names and "x" not in names and "w111" in names
    assert label_of(dot, "e").startswith("e = ytrue − y21")


def test_tensor_nodes_show_shape_and_summary():
    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, label="A")
    out = (a * 2.0).sum()
    out.label = "s"
    before = visual.draw_graph(out)
    # up to 16 elements in full, a matrix as a grid (one row per line)
    assert label_of(before, "A").split("\n")[1:4] == ["data 2×3", "[0, 1, 2]", "[3, 4, 5]"]
    out.backward()
    assert label_of(visual.draw_graph(out), "A").endswith("grad 2×3\n[2, 2, 2]\n[2, 2, 2]")
    v = Tensor(np.array([0.02, 0.6]), requires_grad=True, label="z")
    assert label_of(visual.draw_graph(v.softmax().sum()), "z").split("\n")[1] == "data [0.02, 0.6]"
    big = Tensor(np.arange(20.0), requires_grad=True, label="big")
    assert label_of(visual.draw_graph(big.sum()), "big").split("\n")[1] == (
        "data 20: 0, 1, 2, 3, … (min 0, max 19)"
    )


def test_same_graph_gives_the_same_dot_text():
    a = visual.draw_graph(seed002_network()["L"], show_local=True).source
    b = visual.draw_graph(seed002_network()["L"], show_local=True).source
    assert a == b


def box_labels(dot) -> list[str]:
    return re.findall(r'^\t(g\d+) \[label="(.*?)"', dot.source, flags=re.M | re.S)


def test_collapse_500_op_graph_by_scope_is_correct_and_fast():
    loss, n_ops = layered_graph(layers=10, width=10)
    assert n_ops >= 500
    start = time.perf_counter()
    dot = visual.draw_graph(loss, collapse=True)
    svg, renderer = visual.render.render_source(dot.source, "svg")
    seconds = time.perf_counter() - start
    boxes = box_labels(dot)
    assert [label.split("\n")[0] for _, label in boxes] == [f"layer{k}" for k in range(10)]
    inside = sum(int(re.search(r"(\d+) ops", label).group(1)) for _, label in boxes)
    outside = [t for i, t in labels(dot).items() if i.startswith("n") and " = " in t]
    assert inside + len(outside) == n_ops  # every op is drawn once, in a box or on its own
    # each layer feeds the next: the boxes form a chain
    for k in range(9):
        assert re.search(rf"\tg{k} -> g{k + 1} ", dot.source)
    assert "layer9" in " ".join(svg_texts(svg))
    assert seconds < 5.0, f"draw + render ({renderer}) of {n_ops} ops took {seconds:.2f}s"


def test_collapse_by_prefix_and_by_callable():
    loss, _ = layered_graph(layers=4, width=3)
    one = visual.draw_graph(loss, collapse="layer2")
    assert [label.split("\n")[0] for _, label in box_labels(one)] == ["layer2"]
    two = visual.draw_graph(
        loss, collapse=lambda n: "early" if n.scope in ("layer0", "layer1") else None
    )
    assert [label.split("\n")[0] for _, label in box_labels(two)] == ["early"]


def test_two_layers_with_one_scope_name_get_two_boxes():
    x = Value(1.0, label="x", requires_grad=False)
    w1, w2 = Value(2.0, label="w1"), Value(3.0, label="w2")
    with gradflow.scope("Linear"):
        h = w1 * x + 1.0
    a = h.relu()
    with gradflow.scope("Linear"):
        y = w2 * a + 1.0
    dot = visual.draw_graph(y, collapse=True)
    boxes = box_labels(dot)
    assert [label.split("\n")[0] for _, label in boxes] == ["Linear", "Linear"]
    # the parameters sit inside their own box; the output box shows the value and no grad yet
    assert "2 ops, 2 inputs/params inside" in boxes[0][1]
    y.label = "y"
    assert box_labels(visual.draw_graph(y, collapse=True))[1][1].endswith("out y = 10\nno grad yet")


def test_collapse_real_layers():
    """Linear layers tag their ops through Module.__call__; the ReLU between them is outside."""
    lin1, lin2 = Linear(3, 4, seed=0), Linear(4, 2, seed=1)
    x = Tensor(np.ones((5, 3)), label="x")
    h = lin1(x).relu()
    h.label = "h"
    loss = (lin2(h) ** 2).mean()
    loss.label = "L"
    loss.backward()
    dot = visual.draw_graph(loss, collapse=True)
    boxes = [label for _, label in box_labels(dot)]
    assert [b.split("\n")[0] for b in boxes] == ["Linear", "Linear"]
    assert all("2 inputs/params inside" in b for b in boxes)  # weight and bias
    inner = label_of(dot, "h").split("\n")[0]  # h = ReLU(<the first box's output>)
    out_line = boxes[0].split("\n")[2]  # "out NAME = value"
    assert inner == f"h = ReLU({out_line[len('out ') : out_line.index(' = ')]})"
    # the parameters are called by their module path (Linear called alone: weight, bias)
    assert inner == "h = ReLU(x @ weightᵀ + bias)"
    assert "\ngrad 5×4" in boxes[0] and "x" in {t.split("\n")[0] for t in labels(dot).values()}


def test_odd_labels_render_as_typed():
    a, b = Value(2.0, label='a\\b"c'), Value(3.0, label="q\\")
    y = a * b
    y.label = "y\\l"
    svg, _ = visual.render.render_source(visual.draw_graph(y, show_local=True).source, "svg")
    texts = svg_texts(svg)
    assert 'a\\b"c' in texts and "q\\" in texts and 'y\\l = a\\b"c·q\\' in texts
