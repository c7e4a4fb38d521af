"""An exercise as a LaTeX document: given values, forward pass, backward pass and answers.

Everything in it is set by gradflow's own LaTeX: node names through
:func:`gradflow.naming.node_names` (the names of the tables, the graph and the player),
numbers and matrices through :func:`gradflow.display.latex`, local derivatives from the op
table, prose through :func:`gradflow.display.latex_text` (every non-ASCII character as a
LaTeX command). The document compiles with pdfLaTeX and amsmath; a test compiles every
shipped exercise (``tests/test_latex.py``).
"""

from __future__ import annotations

import html as _html

import numpy as np

from gradflow import display
from gradflow.graph import topological_order
from gradflow.naming import derived_name, node_names
from gradflow.steps import backward_steps, formula_latex, forward_steps

from .exercise import GRAD_PREFIX, Exercise, Question

PREAMBLE = (
    "\\documentclass{article}\n"
    "\\usepackage[T1]{fontenc}\n"
    "\\usepackage{lmodern}\n"
    "\\usepackage{amsmath}\n"
    "\\usepackage[margin=2cm]{geometry}\n"
)


def standalone(body: str) -> str:
    """``body`` (LaTeX for a document's body, e.g. ``gradflow steps --format latex``) as a
    complete document."""
    return f"{PREAMBLE}\\begin{{document}}\n{body}\n\\end{{document}}\n"


def _display(lines: list[str]) -> str:
    return "\\[\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n\\]"


def _element(name: str, q: Question) -> str:
    tex = display.latex_name(name)
    return tex if q.index is None else f"{tex}[{', '.join(map(str, q.index))}]"


def question_latex(q: Question, output: str) -> str:
    """A question as the maths it asks for: ``y_{11}``, ``∂L/∂w_{111}``, ``w − γ ∂L/∂w``."""
    t, out = _element(q.target, q), display.latex_name(output)
    grad = f"\\frac{{\\partial {out}}}{{\\partial {t}}}"
    if q.kind == "value":
        return t
    if q.kind == "grad":
        return grad
    return f"{t} - {display.latex(q.lr)} \\cdot {grad}"


FULL = 10_000  # an equation is written out in full, however long


def _update_graph(ex: Exercise, sol, name: str):
    """An [update] equation rebuilt over leaves that record ops (the engine's own update
    nodes are constants), with text and LaTeX names; ``grad_w`` reads ∂L/∂w."""
    env = ex.update_env(sol.nodes, sol.grads)
    f = ex.update[name]
    leaves = {}
    for r in f.names:
        leaves[r] = ex.leaf(r, env[r].data, True)
        if r.startswith(GRAD_PREFIX):
            leaves[r].label = f"∂{ex.output}/∂{r[len(GRAD_PREFIX) :]}"
    node = f.build(leaves)
    names, tex = node_names(topological_order(node), limit=FULL)
    return node, names, tex


def equations(ex: Exercise, sol) -> dict[str, tuple[str, str]]:
    """Each [graph] and [update] equation in the course's notation, ``name -> (text,
    LaTeX)``: ``L = (ytrue − y21)²`` where the file says ``(ytrue - y21)**2``."""
    order = topological_order(sol.loss)
    names, tex = node_names(order, limit=FULL)
    out: dict[str, tuple[str, str]] = {}
    for k in ex.graph:
        node = sol.nodes[k]
        if id(node) not in names:  # an equation the output does not depend on
            more, more_tex = node_names(topological_order(node), limit=FULL)
            names, tex = {**more, **names}, {**more_tex, **tex}
        out[k] = (expression(node, names), formula_latex(node, tex))
    for k in ex.update:
        node, names_u, tex_u = _update_graph(ex, sol, k)
        out[k] = (expression(node, names_u), formula_latex(node, tex_u))
    return out


def expression(node, names: dict[int, str]) -> str:
    """A node's op applied to its inputs' names (``w111·x + b11``); a leaf is its name."""
    if node.op is None:
        return names[id(node)]
    return derived_name(node.op, [names[id(i)] for i in node.inputs], node.params)


def document(ex: Exercise) -> str:
    """The whole exercise, worked: a complete LaTeX document."""
    sol = ex.solve()
    t = display.latex_text
    out = display.latex_name(ex.output)
    body = [f"\\section*{{{t(ex.title)}}}", f"\\noindent {t(f'{ex.topic} · {ex.difficulty}')}"]
    body.append(f"\\\\ source: {t(str(ex.source))}")
    given = [
        f"{display.latex_name(k)} &= {display.latex(v)}"
        + ("\\quad\\text{(constant)}" if k in ex.constants else "")
        for k, v in ex.values.items()
    ]
    body += ["\\subsection*{Given}", _display(given)]
    body += ["\\subsection*{Forward pass}", forward_steps(sol.loss).to_latex()]
    body += [
        f"\\subsection*{{Backward pass from ${out}$}}",
        "Each line: local derivative $\\cdot$ upstream gradient $=$ contribution.",
        backward_steps(sol.loss).to_latex(),
    ]
    if ex.update:
        eqs = equations(ex, sol)
        lines = [
            f"{display.latex_name(k)} &= {eqs[k][1]} = {display.latex(sol.update_nodes[k].data)}"
            for k in ex.update
        ]
        body += ["\\subsection*{After the backward pass}", _display(lines)]
    answers = [
        f"{question_latex(q, ex.output)} &= {display.latex(np.float64(ex.answer(q, sol)))}"
        for q in ex.questions
    ]
    body += ["\\subsection*{Answers}", _display(answers)]
    if ex.explanation:
        body += ["\\subsection*{Why}", t(ex.explanation)]
    if ex.hints:
        body += ["\\subsection*{Hints}", "\\begin{itemize}"]
        body += [f"\\item {t(h)}" for h in ex.hints] + ["\\end{itemize}"]
    return standalone("\n".join(body))


def exercise_html(ex: Exercise) -> str:
    """An exercise as a student starts it (Jupyter's view of an :class:`Exercise`): title,
    where it comes from, the given values, the equations in the course's notation and the
    questions — not the answers."""
    e = _html.escape
    given = [
        [k, display.array(v) + (" (constant)" if k in ex.constants else "")]
        for k, v in ex.values.items()
    ]
    eqs = equations(ex, ex.solve())  # the course's notation, not the file's Python syntax
    graph = "".join(f"<li><code>{e(k)} = {e(eqs[k][0])}</code></li>" for k in ex.graph)
    asked = "".join(f"<li>{e(q.label(ex.output))} = ?</li>" for q in ex.questions)
    return (
        f"<div><h4>{e(ex.title)}</h4>"
        f"<p>{e(ex.topic)} · {e(ex.difficulty)} · source: {e(str(ex.source))}</p>"
        f"{display.table(['given', 'value'], given)}<p>Graph:</p><ul>{graph}</ul>"
        f"<p>Questions:</p><ol>{asked}</ol></div>"
    )
