"""ruff is the project's linter and formatter; the tree stays clean."""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.skipif(RUFF is None, reason="needs ruff (installed with the test extra)")
def test_ruff_check_passes():
    r = subprocess.run([RUFF, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(RUFF is None, reason="needs ruff (installed with the test extra)")
def test_ruff_format_is_clean():
    r = subprocess.run([RUFF, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
