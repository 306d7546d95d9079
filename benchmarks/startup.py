"""Start-up cost of mcusim, step by step and per whole process, against raw Unicorn.

Every measurement runs in a fresh Python process (as a sweep that starts mcusim many times
would), after one warm-up process, so caches on disk (firmware build, native hooks, parsed
ELF images, trap sites, decoded blocks) are warm and nothing is warm in memory.

* **steps**: one process times each step of a typical short job in order, set up as
  ``mcusim profile`` sets its process up -- ``import`` (``mcusim.cli``), ``parser``
  (building the argument parser of ``profile``),
  ``board`` (loading the profile), ``build cache hit``, ``Machine()``, ``first call``
  (``mb_dot_repeat`` on two 64-byte buffers), ``profile`` (importing the profile module and
  building the cycle profile and its function table, as plain rows like the command line) -- and the time from process start to
  the first emulated instruction (``set-up``);
* **processes**: whole-process wall and CPU times (start to exit) of ``mcusim --version``,
  ``mcusim run`` and ``mcusim profile`` of that call, and of the raw-Unicorn script
  (``benchmarks/_raw_unicorn.py``) doing the same call on the same ELF; ratios are raw
  Unicorn's time over mcusim's (1.0 = as fast as raw Unicorn).

Best of ``--repeat`` processes each.  Usage: ``python benchmarks/startup.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _readme import publish

Times = tuple[float, float]   # (wall s, CPU s)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BOARD = "stm32f469i"
CALL = ["mb_dot_repeat", "zeros:int8:64", "zeros:int8:64", "64", "1"]

_STEPS = r"""
import time, json, sys
t0, c0 = time.perf_counter(), time.process_time(); laps = {}
def lap(name):
    global t0, c0
    now, cnow = time.perf_counter(), time.process_time()
    laps[name] = (now - t0, cnow - c0); t0, c0 = now, cnow
import mcusim.cli
mcusim.cli.prepare_process("profile")       # as `mcusim profile` does
lap("import")
mcusim.cli.build_parser("profile")
lap("parser")
from mcusim.boards import get_board
board = get_board(BOARD)
lap("board")
from mcusim.build import FIRMWARE_DIR, build_firmware
elf = build_firmware([FIRMWARE_DIR / "microbench" / "mb_programs.c"], board).elf
lap("build cache hit")
from mcusim.machine import Machine
m = Machine(board, elf)
a, b = m.alloc(64), m.alloc(64)
lap("Machine()")
first, first_cpu = time.time(), time.process_time()
res = m.call("mb_dot_repeat", a, b, 64, 1)
lap("first call")
prof = m.profile(res)
prof.function_rows()
lap("profile")
print(json.dumps({"laps": laps, "first_instruction": first, "first_cpu": first_cpu,
                  "elf": str(elf)}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=True).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def steps(repeat: int) -> tuple[dict[str, Times], Times, str]:
    """Best (wall, CPU) of each step and of process start to the first emulated instruction
    (CPU: the child's user + system time up to then, interpreter start included), the ELF."""
    code = f"BOARD = {BOARD!r}\n" + _STEPS
    best: dict[str, Times] = {}
    setup: Times = (float("inf"), float("inf"))
    elf = ""
    for i in range(repeat + 1):
        start = time.time()
        _, _, out = _timed([sys.executable, "-c", code])
        data = json.loads(out)
        if i == 0:
            continue                                   # warm-up: fills the disk caches
        for k, (wall, cpu) in data["laps"].items():
            old = best.get(k, (float("inf"), float("inf")))
            best[k] = (min(old[0], wall), min(old[1], cpu))
        setup = (min(setup[0], data["first_instruction"] - start),
                 min(setup[1], data["first_cpu"]))
        elf = data["elf"]
    return best, setup, elf


def processes(elf: str, repeat: int, call: list[str] = CALL, extra: tuple[str, ...] = (),
              names: tuple[str, ...] | None = None) -> dict[str, Times]:
    """Best (wall, CPU) of whole processes: mcusim commands and the raw-Unicorn script
    (``names``: only these of them)."""
    board_toml = str(ROOT / "profiles" / "boards" / f"{BOARD}.toml")
    mcusim = [sys.executable, "-m", "mcusim.cli"]
    cmds = {
        "raw Unicorn script": [sys.executable, str(HERE / "_raw_unicorn.py"), board_toml, elf,
                               *call],
        "mcusim --version": [*mcusim, "--version"],
        "mcusim run": [*mcusim, "run", elf, "-b", BOARD, "--call", *call, *extra],
        "mcusim profile": [*mcusim, "profile", elf, "-b", BOARD, "--call", *call, *extra],
    }
    if names is not None:
        cmds = {k: v for k, v in cmds.items() if k in names}
    best: dict[str, Times] = {}
    for _ in range(repeat):                            # interleaved: load affects all alike
        for name, cmd in cmds.items():
            wall, cpu, _ = _timed(cmd)
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    return best


def table(laps: dict[str, Times], setup: Times, procs: dict[str, Times]) -> str:
    """The results as Markdown."""
    raw_wall, raw_cpu = procs["raw Unicorn script"]
    lines = [f"Board `{BOARD}`, call `{' '.join(CALL)}`; best of several fresh processes "
             "(disk caches warm), this machine (2 shared cores).", "",
             "| step (one process, in order) | wall ms | CPU ms |", "|---|---:|---:|"]
    lines += [f"| {k} | {w * 1000:.1f} | {c * 1000:.1f} |" for k, (w, c) in laps.items()]
    lines += [f"| **process start to first emulated instruction** | **{setup[0] * 1000:.0f}** | "
              f"**{setup[1] * 1000:.0f}** |",
              "", "| whole process | wall ms | CPU ms | raw Unicorn / this (wall) | (CPU) |",
              "|---|---:|---:|---:|---:|"]
    for name, (wall, cpu) in procs.items():
        lines.append(f"| {name} | {wall * 1000:.0f} | {cpu * 1000:.0f} | "
                     f"{raw_wall / wall:.2f} | {raw_cpu / cpu:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-readme", action="store_true", help="only print the table")
    args = ap.parse_args(argv)
    laps, setup, elf = steps(args.repeat)
    procs = processes(elf, args.repeat)
    text = table(laps, setup, procs)
    publish("startup-table", text, dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
