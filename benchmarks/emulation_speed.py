"""Emulation speed: raw Unicorn vs full cycle accounting, on the same ELFs, in one process.

Programs (built for the board at -O2):

* ``int8``: the int8 dot-product kernel loop (``mb_dot_s8``, the loop of ``mcu_dot_s8``, over
  16 KiB vectors, 96 times: ``mb_dot_repeat``);
* ``branchy``: ``mb_branchy`` (Collatz steps, a switch, an insertion sort: data-dependent
  branches and calls; ``firmware/microbench/mb_programs.c``).

Each runs on a machine created with ``counting=False`` (no hooks: raw Unicorn) and on one
with the native counting hooks, whose run is then turned into a cycle profile
(decode + timing model).  Prints million instructions per second for both and their ratio,
the one-off set-up (machine creation, first and cached profile build), and writes the
table into docs/performance.md between ``<!-- speed-table:start -->`` and
``<!-- speed-table:end -->``
when those markers exist (else prints it).

Usage: ``python benchmarks/emulation_speed.py [--board stm32f469i] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from _readme import publish
from mcusim.boards import get_board
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.machine import Machine
from mcusim.profile import build_profile  # noqa: F401  (import time is not set-up time)

SOURCES = [FIRMWARE_DIR / "microbench" / "mb_programs.c"]


def _workloads(m: Machine) -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    n = 16 * 1024
    a = m.place(rng.integers(-128, 128, n, dtype=np.int8))
    b = m.place(rng.integers(-128, 128, n, dtype=np.int8))
    work = m.alloc(4 * 400)
    return {
        "int8": lambda: m.call("mb_dot_repeat", a, b, n, 96),
        "branchy": lambda: m.call("mb_branchy", 3000, work, 400),
    }


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def measure(board_name: str, repeat: int) -> tuple[list[dict], dict[str, float]]:
    """Rows per program (instructions, raw/counted MIPS, ratio) and set-up times (s)."""
    board = get_board(board_name)
    t0 = time.perf_counter()
    elf = build_firmware(SOURCES, board).elf
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    counted = Machine(board, elf)
    t_machine = time.perf_counter() - t0
    raw = Machine(board, elf, counting=False)
    raw_jobs, cnt_jobs = _workloads(raw), _workloads(counted)
    rows = []
    setup = {"build (cached)": t_build, "machine with native hooks": t_machine}
    for name in raw_jobs:
        raw_jobs[name]()                                   # warm Unicorn's translation cache
        result = cnt_jobs[name]()
        t0 = time.perf_counter()
        counted.profile(result)
        first_profile = time.perf_counter() - t0
        t_raw, _ = _best(raw_jobs[name], repeat)

        def accounted() -> object:
            r = cnt_jobs[name]()
            return counted.profile(r)

        t_cnt, prof = _best(accounted, repeat)
        n = prof.instructions
        rows.append({"program": name, "instructions": n, "cycles": prof.cycles,
                     "raw_mips": n / t_raw / 1e6, "counted_mips": n / t_cnt / 1e6,
                     "ratio": t_raw / t_cnt})
        setup[f"first decode + cost ({name})"] = first_profile
    return rows, setup


def table(rows: list[dict], setup: dict[str, float], board: str) -> str:
    """The results as a Markdown table."""
    lines = [f"Board `{board}`; best of several runs, this machine (2 shared cores).", "",
             "| program | instructions | raw Unicorn MIPS | with cycle accounting MIPS | ratio |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['program']} | {r['instructions']:,} | {r['raw_mips']:.1f} | "
                     f"{r['counted_mips']:.1f} | {r['ratio']:.0%} |")
    lines.append("")
    lines.append("One-off set-up: " + ", ".join(f"{k} {v * 1000:.0f} ms"
                                                for k, v in setup.items()) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="stm32f469i")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    args = ap.parse_args(argv)
    rows, setup = measure(args.board, args.repeat)
    for r in rows:
        print(f"{r['program']:8s} {r['instructions']:>12,} instr  raw {r['raw_mips']:7.1f} MIPS"
              f"  counted {r['counted_mips']:7.1f} MIPS  ratio {r['ratio']:.0%}")
    for k, v in setup.items():
        print(f"setup: {k}: {v * 1000:.0f} ms")
    text = table(rows, setup, args.board)
    if args.no_readme:
        print(f"\n{text}")
    else:
        publish("speed-table", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
