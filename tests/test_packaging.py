"""The install ships every package of the source tree (a package missing from pyproject's explicit list
imports from a checkout, where the tests run, and fails after `pip install .`, where users run)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_package_of_the_tree_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "isingvar").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
