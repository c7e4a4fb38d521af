"""An exercise as a LaTeX document: given values, forward pass, backward pass and answers.

Everything in it is set by gradflow's own LaTeX: node names through
:func:`gradflow.naming.node_names` (the names of the tables, the graph and the player),
numbers and matrices through :func:`gradflow.display.latex`, local derivatives from the op
table, prose through :func:`gradflow.display.latex_text` (every non-ASCII character as a
LaTeX command). The document compiles with pdfLaTeX and amsmath; a test compiles every
shipped exercise (``tests/test_latex.py``).
"""

from __future__ import annotations

import numpy as np

from gradflow import display
from gradflow.graph import topological_order
from gradflow.naming import node_names
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
        lines = []
        env = ex.update_env(sol.nodes, sol.grads)
        for k, f in ex.update.items():
            leaves = {r: ex.leaf(r, env[r].data, True) for r in f.names}  # so ops are recorded
            node = f.build(leaves)
            order = topological_order(node)
            _, tex = node_names(order)
            for n in order:  # grad_w is ∂L/∂w
                if n.op is None and n.label.startswith(GRAD_PREFIX):
                    name = display.latex_name(n.label[len(GRAD_PREFIX) :])
                    tex[id(n)] = f"\\frac{{\\partial {out}}}{{\\partial {name}}}"
            lines.append(
                f"{display.latex_name(k)} &= {formula_latex(node, tex)} "
                f"= {display.latex(sol.update_nodes[k].data)}"
            )
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
