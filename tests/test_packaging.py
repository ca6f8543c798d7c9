"""Packaging rules: every package folder is installed, and the library never imports kfp."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11 (CI's); 3.10 skips this check

REPO = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(settings["packages"])
    roots = {"genomeflow": REPO / "src/genomeflow"} | {
        name: REPO / folder for name, folder in settings["package-dir"].items() if name
    }
    found = set()
    for package, root in roots.items():
        for init in root.rglob("__init__.py"):
            parts = init.parent.relative_to(root).parts
            found.add(".".join((package, *parts)))
    assert found == listed, f"add to pyproject's packages: {sorted(found - listed)}"


def test_the_library_never_imports_kfp():
    pattern = re.compile(r"^\s*(import kfp|from kfp[ .])", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "src/genomeflow").rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        f"src/genomeflow must not import kfp (components/, pipelines/ do): {offenders}"
    )
