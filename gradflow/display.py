"""Numbers, arrays and names as a student reads them: text, LaTeX, MathML and HTML.

One place for the rounding every picture, table and notebook display uses:

* :func:`number` — 4 significant digits; ``|x| < 1e-12·scale`` snaps to 0 (``2.8e-17`` is
  float noise, not a value), and there is no ``-0``;
* :func:`array` — up to :data:`FULL` elements in full (a matrix as a grid of aligned
  columns), a bigger array as its shape, a few values and its range;
* :func:`latex` / :func:`latex_name` / :func:`mathml` — the same in LaTeX, and LaTeX as
  MathML (which browsers render natively, so a page needs no script or font for maths);
* :func:`html` — the same as an HTML fragment for Jupyter's rich display.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

import numpy as np

FULL = 16  # arrays with at most this many elements print in full
SNAP = 1e-12  # |x| below SNAP·scale prints as 0
PREVIEW = 4  # values shown of a bigger array


def _scale(a: np.ndarray) -> float:
    finite = np.abs(a[np.isfinite(a)]) if a.size else a
    return max(1.0, float(finite.max())) if finite.size else 1.0


def snap(x: Any, scale: float | None = None) -> Any:
    """``x`` with float noise (``|x| < 1e-12·scale``) set to 0 and ``-0`` made ``0``; the scale
    is the largest magnitude of the array (at least 1)."""
    a = np.asarray(x, dtype=float)
    s = _scale(a) if scale is None else scale
    out = np.where(np.abs(a) < SNAP * s, 0.0, a) + 0.0
    return float(out) if out.ndim == 0 else out


def number(x: Any, scale: float | None = None) -> str:
    """One number rounded for reading: ``0.25``, ``-10``, ``1.235e+05``, ``0`` (never ``-0``)."""
    v = float(snap(x, scale))
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:.4g}"


def _shape(a: np.ndarray) -> str:
    return "×".join(map(str, a.shape)) if a.ndim else "scalar"


def _cells(a: np.ndarray) -> np.ndarray:
    """Every element as text, rounded against the scale of the whole array."""
    s = _scale(a)
    return np.vectorize(lambda v: number(v, s), otypes=[object])(a)


def array(x: Any, grid: bool = True) -> str:
    """A scalar as a number; a small array in full (a matrix as a grid, one row per line;
    ``grid=False``: on one line); a bigger array as shape, first values and range."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return number(a)
    if a.size == 0:
        return f"{_shape(a)} (empty)"
    if a.size > FULL:
        return summary(a)
    cells = _cells(a)
    if a.ndim == 1 or not grid:
        return _nested(cells.tolist())
    rows = cells.reshape(-1, a.shape[-1])
    width = [max(len(c) for c in rows[:, j]) for j in range(rows.shape[1])]
    lines = ["[" + ", ".join(c.rjust(w) for c, w in zip(r, width)) + "]" for r in rows]
    opening = "[" * (a.ndim - 1)
    return "\n".join(
        (opening if k == 0 else " " * (a.ndim - 1)) + line for k, line in enumerate(lines)
    ) + "]" * (a.ndim - 1)


def _nested(cells: Any) -> str:
    if isinstance(cells, list):
        return "[" + ", ".join(_nested(c) for c in cells) + "]"
    return cells


def summary(x: Any) -> str:
    """A big array in one line: ``10×4: 0.02, 0.6, -1.3, 0.8, … (min -2.1, max 3.4)``."""
    a = np.asarray(x, dtype=float)
    cells = _cells(a.reshape(-1)[:PREVIEW])
    lo, hi = (number(np.nanmin(a)), number(np.nanmax(a))) if a.size else ("–", "–")
    more = ", …" if a.size > PREVIEW else ""
    return f"{_shape(a)}: {', '.join(cells)}{more} (min {lo}, max {hi})"


# --- LaTeX and MathML -------------------------------------------------------------------

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "nu",
    "pi", "rho", "sigma", "tau", "phi", "psi", "omega",
}  # fmt: skip


def latex_name(name: str) -> str:
    """A node name as LaTeX: ``w111`` → ``w_{111}``, ``h_prev`` → ``h_{\\mathrm{prev}}``,
    ``ytrue`` → ``\\mathit{ytrue}``, ``sigma`` → ``\\sigma``, ``fc1.weight`` upright."""
    m = re.fullmatch(r"∂([^/]+)/∂(.+)", name)  # a gradient: ∂L/∂w211
    if m:
        return f"\\frac{{\\partial {latex_name(m[1])}}}{{\\partial {latex_name(m[2])}}}"
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        return f"{latex_name(m[1])}_{{{m[2]}}}"
    m = re.fullmatch(r"([A-Za-z]+)((?:_\d+){2,})", name)  # W_0_1: an element of W
    if m:
        return f"{latex_name(m[1])}_{{{','.join(m[2].split('_')[1:])}}}"
    m = re.fullmatch(r"([A-Za-z]+)_([A-Za-z0-9]+)", name)
    if m:
        sub = m[2] if len(m[2]) == 1 or m[2].isdigit() else f"\\mathrm{{{m[2]}}}"
        return f"{latex_name(m[1])}_{{{sub}}}"
    if name in _GREEK:
        return "\\" + name
    if re.fullmatch(r"[A-Za-z]", name):
        return name
    if re.fullmatch(r"[A-Za-z]+", name):
        return f"\\mathit{{{name}}}"
    return f"\\mathrm{{{_latex_text(name)}}}"


_SPECIAL = {"\\": r"\ensuremath{\backslash}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#"}
_SPECIAL |= {"%": r"\%", "&": r"\&", "$": r"\$", "^": r"\text{\textasciicircum}"}
_SPECIAL |= {"~": r"\text{\textasciitilde}"}
_MATH_CHARS = {
    "−": "-", "∂": r"\partial", "·": r"\cdot", "×": r"\times", "≈": r"\approx", "≤": r"\le",
    "≥": r"\ge", "≠": r"\ne", "←": r"\leftarrow", "→": r"\rightarrow", "⊙": r"\odot",
    "⊗": r"\otimes", "√": r"\surd", "‖": r"\|", "°": r"^\circ", "½": r"\tfrac12", "∞": r"\infty",
    "…": r"\ldots", "′": "'", "∈": r"\in", "±": r"\pm", "∑": r"\Sigma", "∇": r"\nabla",
    "ℓ": r"\ell", "⌊": r"\lfloor", "⌋": r"\rfloor", "ϕ": r"\phi", "ε": r"\varepsilon",
}  # fmt: skip
_TEXT_CHARS = {"—": r"\textemdash{}", "–": r"\textendash{}", "ł": r"\l{}", "Ł": r"\L{}",
               "ß": r"\ss{}", "‘": "`", "’": "'", "“": "``", "”": "''", "„": ",,"}  # fmt: skip
_ACCENTS = {"\u0301": "'", "\u0300": "`", "\u0302": "^", "\u0303": "~", "\u0308": '"',
            "\u0307": ".", "\u0328": "k", "\u030c": "v", "\u0327": "c", "\u0304": "="}  # fmt: skip
_GREEK_CAPS = {"Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
               "Omega"}  # fmt: skip


def _latex_char(c: str) -> str:
    """One non-ASCII character as LaTeX that works in text and in maths (with amsmath and
    the T1 font encoding): ``σ`` → ``\\ensuremath{\\sigma}``, ``ę`` → ``\\text{\\k{e}}``,
    ``₁`` → ``\\ensuremath{_{1}}``; an unknown character is named by its code point."""
    import unicodedata

    if c in _MATH_CHARS:
        return f"\\ensuremath{{{_MATH_CHARS[c]}}}"
    if c in _TEXT_CHARS:
        return f"\\text{{{_TEXT_CHARS[c]}}}"
    name = unicodedata.name(c, "")
    if name.startswith("GREEK"):
        letter = name.split()[-1].capitalize().replace("Lamda", "Lambda")
        if "SMALL" in name:
            return f"\\ensuremath{{\\{letter.lower()}}}"
        return f"\\ensuremath{{\\{letter}}}" if letter in _GREEK_CAPS else letter[0]
    base = unicodedata.normalize("NFKC", c)
    if base != c and base.isascii() and len(base) == 1:
        if "SUBSCRIPT" in name:
            return f"\\ensuremath{{_{{{base}}}}}"
        if "SUPERSCRIPT" in name or "MODIFIER" in name:
            return f"\\ensuremath{{^{{{base}}}}}"
    parts = unicodedata.normalize("NFD", c)
    if parts[0].isascii() and all(m in _ACCENTS for m in parts[1:]) and len(parts) > 1:
        out = parts[0]
        for m in parts[1:]:
            out = f"\\{_ACCENTS[m]}{{{out}}}"
        return f"\\text{{{out}}}"
    return f"\\text{{[U+{ord(c):04X}]}}"


def _latex_text(s: str) -> str:
    """Text escaped for LaTeX, in text or in maths: special characters, and every
    non-ASCII character as a LaTeX command (:func:`_latex_char`), so pdfLaTeX compiles it."""
    import unicodedata

    return "".join(
        _SPECIAL.get(c, c) if c.isascii() else _latex_char(c)
        for c in unicodedata.normalize("NFC", s)
    )


def latex_text(s: str) -> str:
    """Prose (a title, an explanation) as LaTeX text: :func:`_latex_text` for a document body."""
    return _latex_text(s)


def text_latex(s: str) -> str:
    """Plain text set upright inside maths, special characters escaped."""
    return f"\\text{{{_latex_text(s)}}}"


def latex(x: Any, signed: bool = False) -> str:
    """A number or small array as LaTeX (a matrix as ``bmatrix``; a big array as text).
    ``signed``: put a negative number in parentheses, for use after an operator."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        s = number(a)
        s = s.replace("∞", "\\infty").replace("nan", "\\text{NaN}")
        if "e" in s and "nan" not in s:
            mant, exp = s.split("e")
            s = f"{mant} \\cdot 10^{{{int(exp)}}}"
        if s.startswith("-"):  # braced, so MathML sets the sign as a prefix, not a binary −
            return f"({{{s}}})" if signed else f"{{{s}}}"
        return s
    if a.size == 0 or a.size > FULL or a.ndim > 2:
        return text_latex(array(a) if a.size <= FULL else summary(a))
    rows = np.atleast_2d(_cells(a))
    body = " \\\\ ".join(" & ".join(r) for r in rows)
    return f"\\begin{{bmatrix}} {body} \\end{{bmatrix}}"


_ENTITY = re.compile(r"&#x([0-9A-Fa-f]+);")
_KEEP = {0x3C, 0x3E, 0x26, 0x22}  # < > & " stay escaped


def mathml(tex: str, display: bool = False) -> str:
    """LaTeX as a MathML ``<math>`` element (needs the ``latex2mathml`` package; without it,
    the LaTeX source in a ``<code>`` element)."""
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover - a dependency of gradflow
        return f"<code>{_html.escape(tex)}</code>"
    out = convert(tex, display="block" if display else "inline")
    out = out.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "")
    out = out.replace(' stretchy="false"', "")
    # literal characters instead of entities: the page is UTF-8 and half the size
    return _ENTITY.sub(lambda m: m[0] if int(m[1], 16) in _KEEP else chr(int(m[1], 16)), out)


# --- HTML for Jupyter -------------------------------------------------------------------

STYLE = (
    "<style>.gf-t{border-collapse:collapse;font-size:13px;margin:2px 0}"
    ".gf-t td,.gf-t th{border:1px solid #ccc;padding:2px 8px;text-align:right;"
    "font-variant-numeric:tabular-nums}.gf-t th{background:#f4f4f4}"
    ".gf-t td.l,.gf-t th.l{text-align:left}.gf-m{border-collapse:collapse;"
    "display:inline-table;vertical-align:middle;border-left:2px solid #555;"
    "border-right:2px solid #555}.gf-m td{padding:0 6px;text-align:right;"
    "font-variant-numeric:tabular-nums}</style>"
)


def html(x: Any) -> str:
    """A number, a vector, a matrix grid (an HTML table) or a big array's summary, escaped."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 2 and 0 < a.size <= FULL:
        rows = "".join(
            "<tr>" + "".join(f"<td>{_html.escape(c)}</td>" for c in r) + "</tr>" for r in _cells(a)
        )
        return f'<table class="gf-m">{rows}</table>'
    return _html.escape(array(a))


def table(head: list[str], rows: list[list[str]], left: int = 1, raw: bool = False) -> str:
    """An HTML table; the first ``left`` columns are left-aligned (names), the rest numbers.
    Cells are escaped unless ``raw`` (then they are HTML already)."""
    esc = (lambda s: s) if raw else _html.escape

    def cell(tag: str, k: int, s: str) -> str:
        cls = ' class="l"' if k < left else ""
        return f"<{tag}{cls}>{esc(s)}</{tag}>"

    th = "".join(cell("th", k, _html.escape(h) if raw else h) for k, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(cell("td", k, c) for k, c in enumerate(r)) + "</tr>" for r in rows
    )
    return f'{STYLE}<table class="gf-t"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


# --- rich display of gradflow objects (the _repr_html_ methods call these) -------------------


def node_html(node: Any) -> str:
    """A ``Value`` or ``Tensor`` as a small table: name, op, value and gradient."""
    kind = type(node).__name__
    name = node.label or kind
    op = node.op.name if node.op is not None else ("parameter" if node.requires_grad else "given")
    rows = [["op", _html.escape(op)]]
    if np.ndim(node.data):
        rows.append(["shape", "×".join(map(str, np.shape(node.data)))])
    rows.append(["data", html(node.data)])
    if node.requires_grad:
        g = node.grad
        shown = g is not None and (node.has_grad or bool(np.any(np.asarray(g) != 0)))
        rows.append(["grad", html(g) if shown else "no grad yet"])
    head = [_html.escape(f"{kind} {name}"), ""]
    return table(head, rows, left=1, raw=True)


def node_latex(node: Any) -> str | None:
    """``$w_{111} = 20$`` for a named scalar or small array (None for a big one)."""
    if np.size(node.data) > FULL:
        return None
    name = latex_name(node.label) if node.label else type(node).__name__
    return f"${name} = {latex(node.data)}$"


def steps_html(steps: Any) -> str:
    """A forward or backward step list as an HTML table (the same columns as its text)."""
    return table(list(steps.columns), steps.rows(), left=len(steps.columns))


def history_html(epochs: list[dict[str, Any]], most: int = 12) -> str:
    """A training history: a small loss plot (PNG, inline) above a table of the epochs
    (the first and last ones when there are many)."""
    import base64

    if not epochs:
        return "<p>History: no epochs yet</p>"
    keys = [k for k in epochs[0] if any(r.get(k) is not None for r in epochs)]
    shown = epochs if len(epochs) <= most else epochs[: most // 2] + epochs[-most // 2 :]
    rows = []
    for k, r in enumerate(shown):
        if len(shown) < len(epochs) and k == most // 2:
            rows.append(["…"] * len(keys))
        rows.append([_cell(r.get(key)) for key in keys])
    png = base64.b64encode(history_png(epochs)).decode("ascii")
    img = f'<img alt="loss per epoch" src="data:image/png;base64,{png}" style="width:360px">'
    title = f"<p><b>History</b>: {len(epochs)} epochs</p>"
    return f"<div>{title}{img}{table(keys, rows, left=0)}</div>"


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)) or isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, (float, np.floating)):
        return number(v)
    return str(v)


def history_png(epochs: list[dict[str, Any]]) -> bytes:
    """Train and validation loss per epoch, 4 × 2.4 inches, integer epoch ticks."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(4, 2.4), dpi=90)  # no pyplot: nothing else shows it a second time
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = [r.get("epoch", k + 1) for k, r in enumerate(epochs)]
    for key, label in (("train_loss", "train loss"), ("val_loss", "validation loss")):
        y = [r.get(key) for r in epochs]
        if any(v is not None for v in y):
            ax.plot(x, [np.nan if v is None else v for v in y], marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def report_html(report: Any) -> str:
    """A symbolic check (:func:`gradflow.check_symbolic`): per parameter the derivative,
    SymPy's value, the engine's value and whether they agree."""
    from .symbolic import text

    rows = []
    for c in report.checks:
        d = text(c.short)  # at this point, compact: the active branch of each kink
        d = d if len(d) <= 120 else d[:120] + " …"
        mark = "✓ agree" if c.ok else "✗ DISAGREE"
        rows.append([f"∂L/∂{c.name}", d, array(c.symbolic), array(c.engine), mark])
    verdict = "every derivative matches the engine" if report.ok else "MISMATCH"
    head = ["derivative", "SymPy expression", "SymPy value", "engine value", ""]
    return f"<div><p><b>Symbolic check</b>: {verdict}</p>{table(head, rows, left=2)}</div>"
