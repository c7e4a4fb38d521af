"""The flash-card deck of seed 004: question, answer, and a demonstration to run.

Cards are TOML files in ``exercises/cards`` (installed as ``gradflow/exercises/cards``), each
a list of ``[[card]]`` tables with ``topic``, ``question``, ``answer`` and exactly one
demonstration: ``exercise = NAME`` (a shipped exercise), ``notebook = "NN"`` with
``section = "heading"`` (a section of tutorial notebook NN) or ``command = "gradflow …"`` (a
gradflow command, split with ``shlex`` and run in-process — never a shell). Nothing in a card
file is evaluated. ``gradflow exercise cards`` drills them.
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gradflow.errors import UsageError

CARDS = Path(__file__).resolve().parent / "cards"
DEMOS = ("exercise", "notebook", "command")
_KEYS = {"topic", "question", "answer", "exercise", "notebook", "section", "command"}


@dataclass(frozen=True)
class Card:
    topic: str
    question: str
    answer: str
    demo: str  # "exercise" | "notebook" | "command"
    target: str  # the exercise name, the notebook number or the command line
    section: str = ""  # the notebook section's heading

    def describe(self) -> str:
        """The demonstration as a student reads it."""
        if self.demo == "exercise":
            return f"gradflow exercise show {self.target}"
        if self.demo == "notebook":
            return f"notebook {self.target}, section “{self.section}”"
        return self.target


def _card(path: Path, k: int, raw: object) -> Card:
    where = f"{path}: card {k}"
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key in ("topic", "question", "answer"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise UsageError(f"{where}: needs a non-empty text {key!r}")
    demos = [d for d in DEMOS if d in raw]
    if len(demos) != 1:
        raise UsageError(f"{where}: needs exactly one of {', '.join(DEMOS)}, has {len(demos)}")
    demo, target = demos[0], raw[demos[0]]
    if not isinstance(target, str) or not target.strip():
        raise UsageError(f"{where}: {demo} must be a non-empty text")
    section = raw.get("section", "")
    if (demo == "notebook") != bool(section):
        raise UsageError(f"{where}: 'section' goes with 'notebook' (and only with it)")
    if demo == "command" and shlex.split(target)[:1] != ["gradflow"]:
        raise UsageError(f"{where}: command must start with 'gradflow', got {target!r}")
    return Card(raw["topic"], raw["question"], raw["answer"], demo, target, section)


def load_cards(folder: str | Path | None = None) -> list[Card]:
    """Every card of every ``*.toml`` file in ``folder`` (default: the shipped deck), in
    file-name order; a malformed card is a :class:`UsageError` naming the file and card."""
    folder = Path(folder) if folder is not None else CARDS
    if not folder.is_dir():
        raise UsageError(f"--path {folder}: not a folder of card files")
    cards: list[Card] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: {e}") from None
        raws = data.get("card", [])
        if not isinstance(raws, list) or set(data) - {"card"}:
            raise UsageError(f"{path}: holds only [[card]] tables")
        cards += [_card(path, k + 1, raw) for k, raw in enumerate(raws)]
    return cards


def topics(cards: list[Card]) -> list[str]:
    return sorted({c.topic for c in cards})


def select(cards: list[Card], topic: str | None) -> list[Card]:
    """The cards of ``topic`` (case-insensitive); an unknown topic lists the known ones."""
    if topic is None:
        return cards
    chosen = [c for c in cards if c.topic.lower() == topic.lower()]
    if not chosen:
        raise UsageError(f"--topic {topic!r}: no such topic; known: {', '.join(topics(cards))}")
    return chosen


def notebook_section_exists(card: Card, docs: Path) -> bool:
    """Whether the notebook source ``docs/src/NN_*.py`` has a heading ``card.section``."""
    for src in docs.glob(f"src/{card.target}_*.py"):
        headings = [line.lstrip("# ").strip() for line in src.read_text().splitlines()]
        if card.section in headings:
            return True
    return False


def run_demo(card: Card, out: TextIO) -> int:
    """Run a card's demonstration, writing to ``out``; the exit code of what ran."""
    if card.demo == "exercise":
        from .loader import find
        from .runner import show

        show(find(card.target), out)
        return 0
    if card.demo == "notebook":
        docs = Path(__file__).resolve().parent.parent / "docs"
        where = f"docs/{card.target}_*.ipynb, section “{card.section}”"
        if docs.is_dir() and not notebook_section_exists(card, docs):
            raise UsageError(f"card {card.question!r}: no section “{card.section}” in {where}")
        print(f"open the tutorial notebook {where}", file=out)
        return 0
    from contextlib import redirect_stdout

    from gradflow.cli import main

    with redirect_stdout(out):
        return main(shlex.split(card.target)[1:])
