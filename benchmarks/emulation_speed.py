"""Emulation speed: raw Unicorn vs full cycle accounting, on the same ELFs, in one process.

Programs (built for the board at -O2):

* ``int8``: the int8 dot-product kernel loop (``mb_dot_s8``, the loop of ``mcu_dot_s8``, over
  16 KiB vectors, 96 times: ``mb_dot_repeat``);
* ``branchy``: ``mb_branchy`` (Collatz steps, a switch, an insertion sort: data-dependent
  branches and calls; ``firmware/microbench/mb_programs.c``);
* ``alias``: ``mb_alias_sweep`` (``firmware/microbench/mb_alias.c``), a loop storing to every
  word of a 32 KiB global table that covers the SRAM addresses whose Unicorn RAM offsets used
  to coincide with the Flash code's (issue 14); it must run as fast as the others.

Each runs on three machines, timed alternately (CPU time of this thread, best of
``--repeat``), so load on the shared machine hits all alike:

* **plain Unicorn**: ``counting=False`` with Unicorn's default TLB (its Cortex-M MPU model,
  whose default memory map makes RAM executable: every store then takes Unicorn's checked
  slow path, as in a hand-written Unicorn script);
* **engine**: ``counting=False`` as mcusim sets Unicorn up (``Engine.use_data_tlb``: stores
  to data pages at host speed), no hooks;
* **accounted**: the native counting hooks, the run then turned into a cycle profile (decode
  + timing model);
* **every block hooked**: the same with ``counted_loops=False``: the counted loops of
  :mod:`mcusim.loops` (one-block loops run without hooks, their executions worked out from
  their induction register) go through the block hook like every other block.

Prints million instructions per second for each and the ratios of the accounted run to both
baselines, the one-off set-up (machine creation, first profile build), and the
**whole-process** ratio: process start to exit of ``mcusim profile`` against
the raw-Unicorn script ``benchmarks/_raw_unicorn.py`` running the same ELF and call, on a
long int8 loop (``mb_dot_repeat`` 4380 times: 359 million instructions).  Writes the table
into docs/performance.md between ``<!-- speed-table:start -->`` and
``<!-- speed-table:end -->`` when those markers exist (else prints it).

Usage: ``python benchmarks/emulation_speed.py [--board stm32f469i] [--repeat 5] [--no-process]``
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

import startup
from _readme import publish
from _timing import best_times
from mcusim.boards import get_board
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.machine import Machine
from mcusim.profile import build_profile  # noqa: F401  (import time is not set-up time)

SOURCES = [FIRMWARE_DIR / "microbench" / "mb_programs.c", FIRMWARE_DIR / "microbench" / "mb_alias.c"]
LONG_CALL = ["mb_dot_repeat", "zeros:int8:16384", "zeros:int8:16384", "16384", "4380"]


def _workloads(m: Machine) -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    n = 16 * 1024
    a = m.place(rng.integers(-128, 128, n, dtype=np.int8))
    b = m.place(rng.integers(-128, 128, n, dtype=np.int8))
    work = m.alloc(4 * 400)
    return {
        "int8": lambda: m.call("mb_dot_repeat", a, b, n, 96),
        "branchy": lambda: m.call("mb_branchy", 3000, work, 400),
        "alias": lambda: m.call("mb_alias_sweep", 100),
    }


def measure(board_name: str, repeat: int) -> tuple[list[dict], dict[str, float]]:
    """Rows per program (instructions, raw/counted MIPS, ratio) and set-up times (s)."""
    board = get_board(board_name)
    t0 = time.thread_time()
    elf = build_firmware(SOURCES, board).elf
    t_build = time.thread_time() - t0
    t0 = time.thread_time()
    counted = Machine(board, elf)
    t_machine = time.thread_time() - t0
    hooked = Machine(board, elf, counted_loops=False)
    raw = Machine(board, elf, counting=False)
    plain = Machine(board, elf, counting=False)
    plain.engine.use_mpu_tlb()                             # Unicorn's default TLB
    plain_jobs, raw_jobs, cnt_jobs = _workloads(plain), _workloads(raw), _workloads(counted)
    hooked_jobs = _workloads(hooked)
    rows = []
    setup = {"build (cached)": t_build, "machine with native hooks": t_machine}
    for name in raw_jobs:
        plain_jobs[name]()                                 # warm Unicorn's translation cache
        raw_jobs[name]()
        hooked_jobs[name]()
        result = cnt_jobs[name]()
        t0 = time.thread_time()
        counted.profile(result)
        first_profile = time.thread_time() - t0

        def accounted(job: Callable[[], object] = cnt_jobs[name], m: Machine = counted) -> object:
            return m.profile(job())

        best, last = best_times({"plain": plain_jobs[name], "raw": raw_jobs[name],
                                 "counted": accounted,
                                 "hooked": lambda job=hooked_jobs[name]: accounted(job, hooked)},
                                repeat)
        t_plain, t_raw, t_cnt, prof = best["plain"], best["raw"], best["counted"], last["counted"]
        if last["hooked"].cycles != prof.cycles:
            raise SystemExit(f"{name}: the cycles differ without counted loops")
        n = prof.instructions
        rows.append({"program": name, "instructions": n, "cycles": prof.cycles,
                     "plain_mips": n / t_plain / 1e6, "raw_mips": n / t_raw / 1e6,
                     "counted_mips": n / t_cnt / 1e6, "ratio_plain": t_plain / t_cnt,
                     "ratio": t_raw / t_cnt, "hooked_plain": t_plain / best["hooked"]})
        setup[f"first decode + cost ({name})"] = first_profile
    return rows, setup


def whole_process(board_name: str, repeat: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) of ``mcusim profile`` and of the raw-Unicorn script on LONG_CALL."""
    elf = str(build_firmware(SOURCES, get_board(board_name)).elf)
    startup.BOARD = board_name
    procs = startup.processes(elf, repeat, LONG_CALL, ("--budget", "1000000000"),
                              names=("raw Unicorn script", "mcusim profile"))
    return procs


def table(rows: list[dict], setup: dict[str, float], board: str,
          procs: dict[str, tuple[float, float]] | None = None) -> str:
    """The results as a Markdown table."""
    lines = [f"Board `{board}`; CPU time, best of several alternating runs, this machine "
             "(2 shared cores).", "",
             "| program | instructions | plain Unicorn MIPS | engine, no hooks MIPS | "
             "with cycle accounting MIPS | accounted / plain | accounted / engine | "
             "every block hooked / plain |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['program']} | {r['instructions']:,} | {r['plain_mips']:.1f} | "
                     f"{r['raw_mips']:.1f} | {r['counted_mips']:.1f} | "
                     f"{r['ratio_plain']:.0%} | {r['ratio']:.0%} | {r['hooked_plain']:.0%} |")
    lines.append("")
    lines.append("One-off set-up: " + ", ".join(f"{k} {v * 1000:.0f} ms"
                                                for k, v in setup.items()) + ".")
    if procs:
        (rw, rc), (mw, mc) = procs["raw Unicorn script"], procs["mcusim profile"]
        lines += ["", f"Whole process, start to exit, `{' '.join(LONG_CALL)}` (359 million "
                  "instructions): raw-Unicorn script (`benchmarks/_raw_unicorn.py`) "
                  f"{rw:.2f} s wall / {rc:.2f} s CPU, `mcusim profile` {mw:.2f} s wall / "
                  f"{mc:.2f} s CPU: ratio {rw / mw:.2f} (wall), {rc / mc:.2f} (CPU)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="stm32f469i")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-process", action="store_true",
                    help="skip the whole-process measurement (a few seconds per process)")
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    args = ap.parse_args(argv)
    rows, setup = measure(args.board, args.repeat)
    for r in rows:
        print(f"{r['program']:8s} {r['instructions']:>12,} instr  plain {r['plain_mips']:7.1f}"
              f"  engine {r['raw_mips']:7.1f}  counted {r['counted_mips']:7.1f} MIPS  ratio "
              f"{r['ratio_plain']:.0%} (plain) {r['ratio']:.0%} (engine), every block hooked "
              f"{r['hooked_plain']:.0%} (plain)")
    for k, v in setup.items():
        print(f"setup: {k}: {v * 1000:.0f} ms")
    procs = None if args.no_process else whole_process(args.board, max(1, args.repeat // 2))
    text = table(rows, setup, args.board, procs)
    publish("speed-table", text, dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
