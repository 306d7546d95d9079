"""Start-up: what a fresh process imports for the parser, the boards and cycle counting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "unicorn", "elftools", "capstone", "matplotlib", "numba")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    return {m.split(".")[0] for m in json.loads(out.splitlines()[-1])}


@pytest.mark.parametrize("code, allowed", [
    ("import mcusim.cli; mcusim.cli.build_parser()", ()),          # mcusim --version, --help
    ("from mcusim.boards import get_board; get_board('stm32f469i')", ()),
    ("import mcusim.profile, mcusim.machine", ("numpy", "unicorn")),   # parser, decoder: lazy
])
def test_modules_import_only_what_they_use(code, allowed):
    heavy = _imported_after(code) & set(HEAVY)
    assert heavy <= set(allowed), f"{code!r} imported {sorted(heavy - set(allowed))}"


def test_a_warm_machine_and_profile_need_neither_pyelftools_nor_capstone():
    """With the disk caches warm (parsed image, trap sites, decoded blocks), a new process
    builds the machine, runs and profiles without importing the ELF parser or Capstone."""
    code = ("from mcusim.build import FIRMWARE_DIR, build_firmware\n"
            "from mcusim.machine import Machine\n"
            "elf = build_firmware([FIRMWARE_DIR / 'microbench' / 'mb_programs.c'], "
            "'stm32f469i').elf\n"
            "m = Machine('stm32f469i', elf)\n"
            "a = m.alloc(64)\n"
            "m.profile(m.call('mb_dot_repeat', a, a, 64, 2)).function_rows()\n")
    _imported_after(code)                                   # warms the caches
    assert not _imported_after(code) & {"elftools", "capstone"}
