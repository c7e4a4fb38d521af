"""The op reference in docs/ is generated from the op table and must not drift."""

import pathlib

from gradflow.cli import main
from gradflow.reference import markdown

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_docs_ops_md_is_up_to_date():
    assert (ROOT / "docs" / "ops.md").read_text() == markdown(), (
        "docs/ops.md is stale: run `python -m gradflow ops --markdown > docs/ops.md`"
    )


def test_every_op_is_in_the_reference():
    from gradflow import OPS

    text = markdown()
    assert all(f"| `{name}` |" in text for name in OPS)


def test_cli_lists_ops(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "relu" in out and "matmul" in out
