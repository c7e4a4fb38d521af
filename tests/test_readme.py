"""The README's two commands are the contract with a new user; CI must run the test one."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_quick_start_has_exactly_two_commands():
    cmds = readme_commands()
    assert len(cmds) == 2 and "gradflow demo" in cmds[0] and "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


def python_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.+?)\n```", text, flags=re.S)


@pytest.mark.slow
@pytest.mark.parametrize("k", range(len(python_blocks())))
def test_every_readme_python_example_runs(k, tmp_path):
    """Each example runs as written in a fresh interpreter and folder, so the README can't rot."""
    script = tmp_path / "example.py"
    script.write_text(python_blocks()[k])
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
