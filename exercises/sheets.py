"""Instructor export: per student, a worksheet and an answer key with the student's own numbers.

``gradflow exercise sheet NAME… --seeds roster.csv --out DIR`` writes ``DIR/<id>/`` with
``worksheet.md``, ``worksheet.html``, ``key.md``, ``key.html`` and, when a LaTeX engine is
installed, ``worksheet.pdf`` and ``key.pdf``. Each file is numbered (exercise 1, question
1.3) and self-contained (an HTML page has its style inline and needs nothing else). An
exercise with a ``[variants]`` table gets the student's variant (verified three ways); one
without gives everyone the course's numbers.

The roster is a CSV file with a header row and an ``id`` column (``student_id`` and ``seed``
are accepted too) and optionally ``name``. An ID becomes a folder name, so it is 1-64 of
``A-Z a-z 0-9 . _ - @ +`` and does not start with a dot.
"""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gradflow.commands.arguments import read_user_text
from gradflow.display import STYLE, array, latex, latex_name, number, table
from gradflow.errors import ToolError, UsageError

from .exercise import Exercise

MAX_ROSTER_BYTES = 1 << 20
MAX_STUDENTS = 2000
ID = re.compile(r"[A-Za-z0-9_@+\-][A-Za-z0-9._@+\-]{0,63}")
ID_COLUMNS = ("id", "student_id", "seed")
LATEX_ENGINES = ("lualatex", "xelatex", "pdflatex")
LATEX_TIMEOUT = 120  # seconds for one PDF


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    line: int


def read_roster(path: str) -> list[Student]:
    """The students of a roster CSV; every problem is one :class:`UsageError` naming the file
    and the line."""
    where = f"--seeds {path}"
    # a spreadsheet's export may start with a BOM
    text = read_user_text(path, "--seeds", "a roster", MAX_ROSTER_BYTES, encoding="utf-8-sig")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise UsageError(f"{where}: not a CSV file: {e}") from None
    if not rows:
        raise UsageError(f"{where}: empty; give a header row with an 'id' column")
    header = [h.strip().lower() for h in rows[0]]
    col = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    if col is None:
        raise UsageError(f"{where}:1: no 'id' column in the header ({', '.join(rows[0])})")
    name_col = header.index("name") if "name" in header else None
    students: list[Student] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(students) >= MAX_STUDENTS:
            raise UsageError(f"{where}:{n}: more than {MAX_STUDENTS} students")
        sid = row[col].strip() if col < len(row) else ""
        if not ID.fullmatch(sid):
            raise UsageError(
                f"{where}:{n}: student id {sid[:70]!r} must be 1-64 of A-Z a-z 0-9 . _ - @ + "
                "(not starting with a dot)"
            )
        if sid in seen:
            raise UsageError(f"{where}:{n}: student id {sid!r} again (first on line {seen[sid]})")
        seen[sid] = n
        name = row[name_col].strip() if name_col is not None and name_col < len(row) else ""
        students.append(Student(sid, name[:200], n))
    if not students:
        raise UsageError(f"{where}: no students below the header")
    return students


def latex_engine() -> str | None:
    return next((e for e in LATEX_ENGINES if shutil.which(e)), None)


def sheet_files(roster: list[Student]) -> dict[str, list[str]]:
    """The files written per student."""
    kinds = ["md", "html"] + (["pdf"] if latex_engine() else [])
    files = [f"{doc}.{k}" for doc in ("worksheet", "key") for k in kinds]
    return {s.id: files for s in roster}


# -------------------------------------------------------------------------- documents


@dataclass
class Part:
    """One exercise of a sheet: the (variant) exercise and its answers."""

    ex: Exercise
    seed: str | None
    answers: list[float]


def parts_for(exercises: list[Exercise], student: Student) -> list[Part]:
    from .variants import variant

    out = []
    for ex in exercises:
        vx = ex if ex.variants is None else variant(ex, student.id).exercise
        sol = vx.solve()
        out.append(Part(vx, None if ex.variants is None else student.id, [
            vx.answer(q, sol) for q in vx.questions
        ]))  # fmt: skip
    return out


def markdown(parts: list[Part], student: Student, key: bool) -> str:
    who = f"{student.name} ({student.id})" if student.name else student.id
    lines = [f"# {'Answer key' if key else 'Worksheet'} — {who}", ""]
    for k, p in enumerate(parts, start=1):
        ex = p.ex
        lines += [f"## {k}. {ex.title}", ""]
        if p.seed is None:
            lines += ["*The course's numbers.*", ""]
        lines += ["| given | value |", "|---|---|"]
        for name, v in ex.values.items():
            lines.append(f"| {name} | {array(v, grid=False)} |")
        lines += ["", "Graph:", ""]
        lines += [f"    {equation(name, f.text)}" for name, f in ex.graph.items()]
        if ex.update:
            lines += ["", "After the backward pass:", ""]
            lines += [f"    {equation(name, f.text)}" for name, f in ex.update.items()]
        lines += ["", "Questions:" if not key else "Answers:", ""]
        for j, (q, a) in enumerate(zip(ex.questions, p.answers), start=1):
            lines.append(f"{k}.{j}. {q.label(ex.output)} = {number(a) if key else '?'}")
            lines.append("")
    return "\n".join(lines)


def html_page(parts: list[Part], student: Student, key: bool) -> str:
    e = html.escape
    who = f"{student.name} ({student.id})" if student.name else student.id
    title = f"{'Answer key' if key else 'Worksheet'} — {who}"
    body = [f"<h1>{e(title)}</h1>"]
    for k, p in enumerate(parts, start=1):
        ex = p.ex
        body.append(f"<h2>{k}. {e(ex.title)}</h2>")
        if p.seed is None:
            body.append("<p><i>The course's numbers.</i></p>")
        rows = [[name, array(v, grid=False)] for name, v in ex.values.items()]
        body.append(table(["given", "value"], rows).replace(STYLE, ""))
        eqs = [*ex.graph.items(), *ex.update.items()]
        body.append("<pre>" + e("\n".join(equation(n, f.text) for n, f in eqs)) + "</pre>")
        items = "".join(
            f"<li>{k}.{j}. {e(q.label(ex.output))} = "
            f"{e(number(a)) if key else '<span class=blank></span>'}</li>"
            for j, (q, a) in enumerate(zip(ex.questions, p.answers), start=1)
        )
        body.append(f"<ol class='q' data-exercise='{k}'>{items}</ol>")
    css = (
        "body{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.4}"
        "pre{background:#f6f6f6;padding:.5em}.blank{display:inline-block;width:8em;"
        "border-bottom:1px solid #333}ol.q{list-style:none;padding-left:1em}ol.q li{margin:.4em 0}"
    )
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"{STYLE}<style>{css}</style></head><body>{''.join(body)}</body></html>\n"
    )


def equation(name: str, text: str) -> str:
    """An equation as the course writes it: ``L = (ytrue − y21)^2``, ``w111·x``, not Python's
    ``**`` and ``*``."""
    text = text.replace("**", "^").replace("*", "·").replace(" - ", " − ")
    return f"{name} = {text}"


def _tex_text(s: str) -> str:
    specials = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#"}
    specials |= {"%": r"\%", "&": r"\&", "$": r"\$", "^": r"\^{}", "~": r"\~{}"}
    return "".join(specials.get(c, c) for c in s)


def _tex_label(ex: Exercise, q) -> str:
    t = latex_name(q.target)
    if q.index is not None:
        t += "[" + ",".join(map(str, q.index)) + "]"
    d = f"\\frac{{\\partial {latex_name(ex.output)}}}{{\\partial {t}}}"
    if q.kind == "value":
        return t
    if q.kind == "grad":
        return d
    return f"{t} - {latex(q.lr)}\\,{d}"


def tex(parts: list[Part], student: Student, key: bool) -> str:
    who = f"{student.name} ({student.id})" if student.name else student.id
    title = f"{'Answer key' if key else 'Worksheet'} --- {_tex_text(who)}"
    out = [
        r"\documentclass[11pt]{article}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\usepackage{amsmath}",
        r"\setlength{\parindent}{0pt}",
        r"\begin{document}",
        f"\\section*{{{title}}}",
    ]
    for k, p in enumerate(parts, start=1):
        ex = p.ex
        out.append(f"\\subsection*{{{k}. {_tex_text(ex.title)}}}")
        given = ", ".join(f"${latex_name(n)} = {latex(v)}$" for n, v in ex.values.items())
        out.append(f"Given: {given}\\par\\medskip")
        eqs = [*ex.graph.items(), *ex.update.items()]
        out.append(r"\begin{flushleft}\ttfamily")
        for n, f in eqs:  # ASCII in the source: every engine's typewriter font has it
            line = _tex_text(equation(n, f.text)).replace("·", r"$\cdot$").replace("−", "-")
            out.append(line + r"\\")
        out.append(r"\end{flushleft}")
        out.append(r"\begin{enumerate}")
        for j, (q, a) in enumerate(zip(ex.questions, p.answers), start=1):
            ans = latex(a) if key else r"\underline{\hspace{3cm}}"
            out.append(f"\\item[{k}.{j}.] $ {_tex_label(ex, q)} = {ans} $")
        out.append(r"\end{enumerate}")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def pdf(source: str, engine: str) -> bytes:
    """Compile LaTeX in a private temporary folder (no shell escape); the PDF's bytes."""
    with tempfile.TemporaryDirectory(prefix="gradflow-sheet-") as tmp:
        Path(tmp, "sheet.tex").write_text(source, encoding="utf-8")
        cmd = [engine, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error"]
        try:
            r = subprocess.run(
                [*cmd, "sheet.tex"],
                cwd=tmp,
                capture_output=True,
                timeout=LATEX_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"{engine} took more than {LATEX_TIMEOUT} s") from None
        out = Path(tmp, "sheet.pdf")
        if r.returncode != 0 or not out.exists():
            tail = r.stdout.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise ToolError(f"{engine} failed: {' / '.join(tail)}")
        return out.read_bytes()


def write_sheets(exercises: list[Exercise], roster: list[Student], folder: Path) -> list[Path]:
    """Every student's sheets: all variants are made and verified first, then written."""
    engine = latex_engine()
    docs: dict[str, dict[str, str | bytes]] = {}
    for s in roster:
        parts = parts_for(exercises, s)
        files: dict[str, str | bytes] = {}
        for key, doc in ((False, "worksheet"), (True, "key")):
            files[f"{doc}.md"] = markdown(parts, s, key)
            files[f"{doc}.html"] = html_page(parts, s, key)
            if engine:
                files[f"{doc}.pdf"] = pdf(tex(parts, s, key), engine)
        docs[s.id] = files
    written = []
    folder.mkdir(exist_ok=True)
    for sid, files in docs.items():
        sub = folder / sid
        sub.mkdir(exist_ok=True)
        for name, content in files.items():
            path = sub / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            written.append(path)
    return written
