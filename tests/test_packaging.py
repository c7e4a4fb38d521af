"""What `pip install .` puts into site-packages: only `gradflow` (visual/ and exercises/ of the
repository become gradflow.visual and gradflow.exercises), with the exercise files."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]


def test_every_package_folder_is_installed_under_gradflow():
    """A new subpackage that is not listed would be missing from a non-editable install."""
    config = _config()
    folders = {
        "gradflow": ROOT / "gradflow",
        **{k: ROOT / v for k, v in config["package-dir"].items()},
    }
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            if "__pycache__" not in rel:
                found.add(".".join((name, *rel)))
    assert sorted(config["packages"]) == sorted(found)
    assert all(p == "gradflow" or p.startswith("gradflow.") for p in config["packages"])


@pytest.mark.slow
def test_a_wheel_holds_only_gradflow(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    import zipfile

    (wheel,) = wheel_dir.glob("gradflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"gradflow"}
    assert "gradflow/visual/render.py" in names and "gradflow/exercises/loader.py" in names
    assert "gradflow/exercises/data/seed002_network.toml" in names
    # installed on its own, `import visual` fails and gradflow.visual works
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('visual') is None\n"
        "assert importlib.util.find_spec('exercises') is None\n"
        "from gradflow.exercises.loader import load_all\n"
        "from gradflow import visual\n"
        "print(len(load_all()), visual.__file__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n" + probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    count, where = run.stdout.split()
    assert int(count) >= 28 and where.startswith(str(site))
