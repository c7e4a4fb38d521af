"""Draw a gradflow graph (``Value`` or ``Tensor``) as a :class:`graphviz.Digraph`.

Every box shows the node's name, its op written with the op table's symbol, its value (a
scalar) or shape and a short summary (a tensor), and its gradient — or "no grad yet" before
any backward pass has reached it, so a student never mistakes an unset gradient for a 0.
Options lay the graph out left-to-right or top-down, write each edge's local derivative
(read from :func:`gradflow.backward_steps`), highlight nodes and edges, hide constants, and
collapse a group of nodes (for instance every op inside one layer) into one box.

The DOT text is deterministic: node ids come from the topological order, never from
``id()``, so the same graph always gives the same text and, rendered, the same SVG.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from gradflow import display
from gradflow.errors import ArgumentError, ArgumentTypeError
from gradflow.graph import Node, topological_order
from gradflow.naming import node_names
from gradflow.steps import BackwardStep, backward_steps

from .render import output_format, render_source, write_source

HIGHLIGHT = "#d62728"
Collapse = bool | str | Sequence[str] | Callable[[Node], str | None] | None
Highlight = Node | tuple[Node, Node] | Iterable[Node | tuple[Node, Node]] | None


def dot_text(lines: list[str]) -> str:
    """Lines of a DOT label: backslashes doubled, so a name like ``a\\b`` prints as typed
    (in DOT a backslash starts an escape such as ``\\l``)."""
    return "\n".join(line.replace("\\", "\\\\") for line in lines)


def fmt_number(x: Any) -> str:
    """A number rounded for reading (:func:`gradflow.display.number`): 4 significant digits,
    float noise snapped to 0, never ``-0``."""
    return display.number(x)


def summarize(data: Any) -> str:
    """A scalar as a number; an array of up to 16 elements in full (a matrix as a grid, one
    row per line); a bigger one as shape, first values and range
    (:func:`gradflow.display.array`)."""
    return display.array(data)


def op_text(node: Node, names: dict[int, str]) -> str:
    """The op applied to its inputs with the op table's symbol: ``w × x``, ``ReLU(z)``
    (:meth:`gradflow.ops.Op.format_text`, style ``"symbol"``)."""
    from gradflow.naming import derived_name

    return derived_name(node.op, [names[id(i)] for i in node.inputs], node.params)


class Drawing(graphviz.Digraph):
    """A :class:`graphviz.Digraph` whose ``pipe()`` — what Jupyter calls to show it inline —
    and ``render()`` go through gradflow's renderer chain (:mod:`gradflow.visual.render`),
    so it displays and saves SVG/PNG without a system Graphviz."""

    @property
    def _render(self):  # graphviz's own hook: render() calls self._render(engine, fmt, ...)
        def run(engine, format, filepath=None, renderer=None, formatter=None, neato_no_op=None,
                quiet=False, *, outfile=None, raise_if_result_exists=False,
                overwrite_filepath=False):  # fmt: skip
            plain = renderer is None and formatter is None and not neato_no_op
            if not (plain and engine in (None, "dot") and format in ("svg", "png")):
                return graphviz.render(
                    engine, format, filepath, renderer, formatter, neato_no_op, quiet,
                    outfile=outfile, raise_if_result_exists=raise_if_result_exists,
                    overwrite_filepath=overwrite_filepath,
                )  # fmt: skip
            out = Path(outfile) if outfile is not None else Path(f"{filepath}.{format}")
            if raise_if_result_exists and out.exists():
                raise graphviz.FileExistsError(f"output file exists: {os.fspath(out)!r}")
            source = Path(filepath).read_text(encoding=self.encoding)
            data, _ = render_source(source, format)
            out.write_bytes(data)
            return os.fspath(out)

        return run

    def pipe(
        self,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> bytes | str:
        fmt = format or self.format
        plain = renderer is None and formatter is None and not neato_no_op
        if plain and engine in (None, "dot") and fmt in ("svg", "png"):
            data, _ = render_source(self.source, fmt)
            return data.decode(encoding) if encoding else data
        return super().pipe(
            format, renderer, formatter, neato_no_op, quiet, engine=engine, encoding=encoding
        )


@dataclass
class GraphState:
    """What a picture shows for each node; the player draws one state per frame.

    ``values`` holds the ids of nodes whose value is known (None: all of them);
    ``grads`` maps node id to the gradient to show (missing: "no grad yet").
    """

    values: set[int] | None = None
    grads: dict[int, Any] = field(default_factory=dict)
    nodes: set[int] = field(default_factory=set)  # highlighted nodes
    edges: set[tuple[int, int]] = field(default_factory=set)  # (input id, node id)
    title: str = ""
    data: dict[int, Any] = field(default_factory=dict)  # node id -> value to show instead
    lines: dict[int, list[str]] = field(default_factory=dict)  # node id -> the box's lines


class GraphView:
    """A graph walked once (order, names, groups) and drawn any number of times."""

    def __init__(
        self,
        root: Node,
        hide_constants: bool = False,
        collapse: Collapse = None,
        show_local: bool = False,
        ids: bool = False,
    ):
        self.root = root
        self.order = topological_order(root)
        self.names, self.latex = node_names(self.order, ids)
        self.index = {id(n): k for k, n in enumerate(self.order)}
        self.hidden = {id(n) for n in self.order if hide_constants and _is_constant(n, root)}
        self.groups = _groups(self.order, root, collapse)
        self.locals = _edge_locals(root, ids) if show_local else {}
        # node_lines by (node, value known, the data and gradient objects shown): the player
        # asks for every node in every frame, and formatting the numbers dominated
        self._lines: dict[tuple, tuple[Any, Any, list[str]]] = {}

    def draw(self, state: GraphState, rankdir: str = "LR", id_prefix: str = "") -> Drawing:
        if rankdir not in ("LR", "TB", "RL", "BT"):
            raise ArgumentError(f"rankdir must be 'LR' or 'TB' (or 'RL', 'BT'), got {rankdir!r}")
        dot = Drawing("gradflow", format="svg")
        dot.attr(rankdir=rankdir, fontname="Helvetica", fontsize="11", nodesep="0.3")
        dot.attr("node", shape="box", style="rounded,filled", fillcolor="white")
        dot.attr("node", fontname="Helvetica", fontsize="11")
        dot.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")
        if state.title:
            dot.attr(label=state.title, labelloc="t", labeljust="l")  # DOT text, escapes kept
        for gid, members in self.groups.box_members.items():
            self._draw_group(dot, gid, members, state, id_prefix)
        for n in self.order:
            key = id(n)
            if key in self.hidden or key in self.groups.of:
                continue
            self._draw_node(dot, n, state, id_prefix)
        self._draw_edges(dot, state, id_prefix)
        return dot

    # --- nodes ---------------------------------------------------------------------
    def node_id(self, n: Node) -> str:
        return self.groups.of.get(id(n)) or f"n{self.index[id(n)]}"

    def node_lines(self, n: Node, state: GraphState) -> list[str]:
        """The lines of a node's box in ``state`` (the player swaps them frame by frame)."""
        known = state.values is None or id(n) in state.values
        data = state.data.get(id(n), n.data)
        g = state.grads.get(id(n)) if n.requires_grad else None
        key = (id(n), known, id(data), id(g))
        hit = self._lines.get(key)
        if hit is not None and hit[0] is data and hit[1] is g:  # the same objects, not reused ids
            return list(hit[2])
        name = self.names[id(n)]
        formula = op_text(n, self.names) if n.op is not None else name
        head = name if formula == name else f"{name} = {formula}"
        lines = [head, *_labelled("data", data)] if known else [head, "data not computed yet"]
        if n.requires_grad:
            lines.extend(["no grad yet"] if g is None else _labelled("grad", g))
        self._lines[key] = (data, g, lines)
        return list(lines)

    def _draw_node(self, dot: graphviz.Digraph, n: Node, state: GraphState, prefix: str) -> None:
        name = self.names[id(n)]
        lines = state.lines.get(id(n)) or self.node_lines(n, state)
        attrs = {"id": f"{prefix}{self.node_id(n)}", "tooltip": dot_text([name])}
        if n.op is None:
            attrs["fillcolor"] = "#eef3fb" if n.requires_grad else "#f2f2f2"
        if id(n) in state.nodes:
            attrs.update(color=HIGHLIGHT, penwidth="3", fillcolor="#fde9e7", **{"class": "hl"})
        dot.node(self.node_id(n), dot_text(lines), **attrs)

    def _draw_group(self, dot, gid: str, members: list[Node], state: GraphState, prefix: str):
        inside = {id(m) for m in members}
        outputs = [m for m in members if m is self.root or self.groups.used_outside(m, inside)]
        n_ops = sum(1 for m in members if m.op is not None)
        n_leaves = len(members) - n_ops
        lines = [self.groups.label[gid], f"{n_ops} ops, {n_leaves} inputs/params inside"]
        if len(outputs) == 1:
            out = outputs[0]
            known = state.values is None or id(out) in state.values
            name = self.names[id(out)]  # ops outside the box refer to it by this name
            lines.append(f"out {name} = {summarize(out.data) if known else 'not computed yet'}")
            g = state.grads.get(id(out))
            if out.requires_grad:
                lines.append("no grad yet" if g is None else f"grad {summarize(g)}")
        attrs = {"id": f"{prefix}{gid}", "shape": "box3d", "style": "filled"}
        attrs["fillcolor"] = "#fff7e0"
        if inside & state.nodes:
            attrs.update(color=HIGHLIGHT, penwidth="3", **{"class": "hl"})
        dot.node(gid, dot_text(lines), **attrs)

    # --- edges ---------------------------------------------------------------------
    def _draw_edges(self, dot: graphviz.Digraph, state: GraphState, prefix: str) -> None:
        drawn: set[tuple[str, str]] = set()
        for n in self.order:
            if n.op is None or id(n) in self.hidden:
                continue
            head = self.node_id(n)
            for i, inp in enumerate(n.inputs):
                if id(inp) in self.hidden:
                    continue
                tail = self.node_id(inp)
                if tail == head:  # both inside one collapsed box
                    continue
                collapsed = id(n) in self.groups.of or id(inp) in self.groups.of
                if collapsed and (tail, head) in drawn:
                    continue
                drawn.add((tail, head))
                attrs = {"id": f"{prefix}e{self.index[id(n)]}_{i}"}
                label = None if collapsed else self.locals.get((id(n), i))
                if label:
                    attrs["label"] = dot_text([label])
                if (id(inp), id(n)) in state.edges:
                    attrs.update(color=HIGHLIGHT, penwidth="3", **{"class": "hl"})
                dot.edge(tail, head, **attrs)


def _labelled(what: str, x: Any) -> list[str]:
    """``data 0.25``, ``data [0.02, 0.6]``, or a matrix's grid under ``data 2×2``."""
    text = summarize(x).split("\n")
    if len(text) == 1:
        return [f"{what} {text[0]}"]
    if np.ndim(x) == 2:  # one row per line, each "[1, 2]", so centred lines line up
        text = [line.strip() for line in text]
        text[0], text[-1] = text[0][1:], text[-1][:-1]
    return [f"{what} {'×'.join(map(str, np.shape(x)))}", *text]


def _is_constant(n: Node, root: Node) -> bool:
    return n.op is None and not n.requires_grad and n is not root


def local_label(s: BackwardStep) -> str:
    """An edge's label: the local derivative ∂node/∂input as "formula = number"."""
    text = s.local_text if len(s.local_text) <= 40 else "…"
    if s.local is not None and np.ndim(s.local) == 0:
        number = fmt_number(s.local)
        text = number if text.replace("−", "-") == number else f"{text} = {number}"
    return text


def _edge_locals(root: Node, ids: bool = False) -> dict[tuple[int, int], str]:
    """``(node id, input index) -> "formula = number"`` from one dry backward pass (from the
    sum of the elements when the root is not a single number)."""
    seed = None if np.size(root.data) == 1 else np.ones_like(root.data)
    steps = backward_steps(root, seed, ids=ids)
    return {(id(s.node), s.input_index): local_label(s) for s in steps}


class _Groups:
    """Collapsed boxes: ``of`` maps node id -> box id; ``box_members`` box id -> nodes."""

    def __init__(self):
        self.of: dict[int, str] = {}
        self.box_members: dict[str, list[Node]] = {}
        self.label: dict[str, str] = {}
        self.consumers: dict[int, list[Node]] = {}

    def used_outside(self, m: Node, inside: set[int]) -> bool:
        return any(id(c) not in inside for c in self.consumers.get(id(m), ()))


def _group_key(collapse: Collapse) -> Callable[[Node], str | None] | None:
    """Turn the ``collapse`` option into a function node -> group name (None: not grouped)."""
    if collapse is None or collapse is False:
        return None
    if collapse is True:
        return lambda n: n.scope or None
    if callable(collapse):
        return collapse
    prefixes = [collapse] if isinstance(collapse, str) else list(collapse)

    def key(n: Node) -> str | None:
        for p in prefixes:
            if n.scope == p or n.scope.startswith(p + "/"):
                return p
        return None

    return key


def _groups(order: list[Node], root: Node, collapse: Collapse) -> _Groups:
    """Group nodes by key, split each key into connected pieces, absorb private leaves.

    Two layers of the same type share a scope name ("Sequential/Linear"), so one key can hold
    several layers; splitting by connectivity gives each its own box. A parameter or an
    unnamed constant whose every consumer sits in one box is drawn inside that box.
    """
    groups = _Groups()
    key = _group_key(collapse)
    if key is None:
        return groups
    for n in order:
        for inp in n.inputs:
            groups.consumers.setdefault(id(inp), []).append(n)
    keyed = {id(n): k for n in order if n.op is not None and (k := key(n))}
    parent = {i: i for i in keyed}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for n in order:
        if id(n) in keyed:
            for inp in n.inputs:
                if keyed.get(id(inp)) == keyed[id(n)]:
                    parent[find(id(inp))] = find(id(n))
    box_of_root: dict[int, str] = {}
    for n in order:  # topological order keeps the box numbering deterministic
        if id(n) not in keyed:
            continue
        r = find(id(n))
        if r not in box_of_root:
            gid = f"g{len(box_of_root)}"
            box_of_root[r] = gid
            groups.box_members[gid] = []
            groups.label[gid] = keyed[id(n)]
        gid = box_of_root[r]
        groups.of[id(n)] = gid
        groups.box_members[gid].append(n)
    for n in order:
        if n.op is not None or n is root or id(n) in groups.of:
            continue
        if not n.requires_grad and n.label:  # a named input (x) stays visible
            continue
        boxes = {groups.of.get(id(c)) for c in groups.consumers.get(id(n), ())}
        if len(boxes) == 1 and None not in boxes:
            gid = boxes.pop()
            groups.of[id(n)] = gid
            groups.box_members[gid].insert(0, n)
    return groups


def _highlight_sets(highlight: Highlight) -> tuple[set[int], set[tuple[int, int]]]:
    if highlight is None:
        return set(), set()
    items = [highlight] if isinstance(highlight, (Node, tuple)) else list(highlight)
    nodes, edges = set(), set()
    for h in items:
        if isinstance(h, Node):
            nodes.add(id(h))
        elif isinstance(h, tuple) and len(h) == 2 and all(isinstance(x, Node) for x in h):
            edges.add((id(h[0]), id(h[1])))
        else:
            raise ArgumentTypeError(
                "highlight takes a node, an edge (input_node, node), or a list of them; "
                f"got {type(h).__name__}"
            )
    return nodes, edges


def current_grads(order: list[Node]) -> dict[int, Any]:
    """The gradient of every node a backward pass has reached (``node.has_grad``)."""
    return {id(n): n.grad for n in order if n.has_grad}


def draw_graph(
    node: Node,
    rankdir: str = "LR",
    show_local: bool = False,
    highlight: Highlight = None,
    hide_constants: bool = False,
    collapse: Collapse = None,
    title: str = "",
    ids: bool = False,
) -> Drawing:
    """The graph that computes ``node``, as a :class:`graphviz.Digraph` (shows inline in Jupyter,
    rendered by the chain of :mod:`visual.render`, so no system Graphviz is needed).

    ``rankdir``: "LR" (left to right) or "TB" (top down). ``show_local``: label each edge
    with the local derivative ∂node/∂input (formula and number). ``highlight``: a node, an
    edge ``(input_node, node)``, or a list of them. ``hide_constants``: leave out constant
    leaves (their value still appears in the op text, e.g. ``2 × x``). ``collapse``: True
    (one box per ``node.scope``, set by ``Module.__call__`` and ``gradflow.scope``), a scope
    prefix or list of prefixes, or a callable ``node -> group name or None``. ``ids``:
    unnamed nodes as n1, n2, ... instead of names derived from their expression.
    """
    if not isinstance(node, Node):
        raise ArgumentTypeError(
            f"draw_graph needs a gradflow Value or Tensor, got {type(node).__name__}"
        )
    view = GraphView(
        node, hide_constants=hide_constants, collapse=collapse, show_local=show_local, ids=ids
    )
    nodes, edges = _highlight_sets(highlight)
    state = GraphState(grads=current_grads(view.order), nodes=nodes, edges=edges, title=title)
    return view.draw(state, rankdir=rankdir)


def render_graph(graph: Any, path: str | os.PathLike, **draw_options: Any) -> Path:
    """Draw ``graph`` (a node, or a ready Digraph) and write it; return the path written.

    The format follows the suffix: ``.svg``, ``.png`` or ``.dot``. With no renderer for the
    format, the DOT text goes to ``path`` with suffix ``.dot`` and a
    :class:`~gradflow.visual.render.NoRendererWarning` says how to render it.
    ``draw_options`` go to :func:`draw_graph` (``rankdir``, ``show_local``, ``collapse``, ...).
    """
    path = Path(path)
    fmt = output_format(path, "render_graph")
    if isinstance(graph, graphviz.Digraph | graphviz.Graph):
        if draw_options:
            raise ArgumentTypeError("drawing options apply to a node, not to a ready Digraph")
        source = graph.source
    else:
        source = draw_graph(graph, **draw_options).source
    return write_source(source, path, fmt)
