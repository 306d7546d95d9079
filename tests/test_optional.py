"""Every command works on the required dependencies, or names the extra to install."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mcusim._optional import require
from mcusim.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parent.parent


def _dist(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def extra_only_modules() -> list[str]:
    """Top-level modules of packages that only an extra (not the required list) installs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {_dist(r) for r in project["dependencies"]}
    extras = {_dist(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    extras -= required | {"mcusim"}
    owners = importlib.metadata.packages_distributions()
    return sorted(m for m, dists in owners.items()
                  if {d.lower().replace("_", "-") for d in dists} & extras and not m.startswith("_"))


def _run_blocked(code: str, blocked: list[str]) -> subprocess.CompletedProcess:
    prelude = f"import sys\nfor _m in {blocked!r}:\n    sys.modules[_m] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_require_names_the_extra():
    assert require("json", "x").dumps(1) == "1"
    with pytest.raises(MissingDependencyError, match=r'pip install "mcusim\[data\]"') as info:
        require("no_such_module_xyz.sub", "data", purpose="a test")
    assert "no_such_module_xyz" in str(info.value) and "a test" in str(info.value)


def test_every_module_imports_without_the_extras():
    blocked = extra_only_modules()
    assert "dask" in blocked and "pytest" in blocked
    code = ("import pkgutil, importlib, mcusim\n"
            "for info in pkgutil.walk_packages(mcusim.__path__, 'mcusim.'):\n"
            "    importlib.import_module(info.name)\n"
            "from mcusim.cli import build_parser\nbuild_parser()\n")
    out = _run_blocked(code, blocked)
    assert out.returncode == 0, out.stderr
