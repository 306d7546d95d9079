"""The README is a user's guide whose examples run from any directory; the generated tables
live in docs/ and the benchmark scripts' publish helper targets them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has a Python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "[2.5 4.5 6.5]" in out


def _shell_examples() -> list[str]:
    return [b for b in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
            if b.startswith('cd "$(mktemp -d)"')]


@pytest.mark.parametrize("index", range(len(_shell_examples())))
def test_readme_shell_examples_run_in_an_empty_directory(tmp_path, index):
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    shim = tmp_path / "bin" / "mcusim"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mcusim.cli "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               TMPDIR=str(tmp_path))
    script = "set -e\n" + _shell_examples()[index]
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_guide_first_tables_in_docs():
    text = README.read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[:7] == ["Install", "Your own kernel", "Compare boards", "Whole-model fit",
                            "Latency lookup table", "Search", "A custom board"]
    for tag in ("model", "lut", "search"):
        assert f"<!-- guide:{tag} -->" in text
    assert "table:start" not in text
    for link in re.findall(r"\]\(((?:docs|notebooks)/[^)]+)\)", text):
        assert (ROOT / link).is_file(), link


def test_publish_targets_the_docs_pages(tmp_path):
    import _readme   # benchmarks/ is on sys.path (conftest)

    for name, page in _readme.TARGETS.items():
        assert page.parent == ROOT / "docs"
        body = page.read_text()
        assert f"<!-- {name}:start -->" in body and f"<!-- {name}:end -->" in body, page
        copy = tmp_path / page.name
        copy.write_text(body)
        assert _readme.write_section(name, "| new |", copy)
        new = copy.read_text()
        assert f"<!-- {name}:start -->\n| new |\n<!-- {name}:end -->" in new
        assert new.split(f"<!-- {name}:start -->")[0] == body.split(f"<!-- {name}:start -->")[0]
    assert _readme.target("s8-table").name == "kernels_s8.md"
