"""Shared by the callgrind benchmarks: host instructions of a child process's emulation.

Callgrind counts instructions, so these measurements do not move with the load of a shared
machine.  The child is one of the scripts themselves (``--child ...``); only what runs inside
Unicorn's ``vm_start`` (the emulation: translated code, Unicorn, the native hooks) is counted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def have_valgrind() -> bool:
    """Whether valgrind is installed (printing how to get it when not)."""
    if shutil.which("valgrind") is None:
        print("valgrind is needed (apt-get install valgrind)", file=sys.stderr)
        return False
    return True


def host_instructions(script: str, args: list[str], *, dump: int | None = None,
                      checkout: str | None = None) -> tuple[int, str]:
    """``(host instructions inside vm_start, the child's stdout)`` of ``python script args``.

    Parameters
    ----------
    dump
        Count only the ``dump``-th call of ``vm_start`` (e.g. 2: the warm second call);
        None: all of them.
    checkout
        Run the mcusim of this source tree (put first on ``PYTHONPATH``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=vm_start_arm",
               *(["--dump-after=vm_start_arm"] if dump else []),
               f"--callgrind-out-file={out}", sys.executable, script, *args]
        run = subprocess.run(cmd, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                 ([checkout] if checkout else []) + sys.path)})
        profile = Path(f"{out}.{dump}") if dump else out
        summary = next(line for line in profile.read_text().splitlines()
                       if line.startswith("summary:"))
        return int(summary.split()[1]), run.stdout
