"""Per-call overhead: what ``Machine.call`` costs around a short firmware call.

Sweeps, lookup tables and searches make many short calls, so the fixed cost of one call --
arguments and registers, counters reset, stack paint, the red-zone snapshot and checks,
reading the counts back -- matters as much as emulation speed.  Times (wall clock, best of
``--repeat``, alternating) a call of ``mb_branchy(1, work, 1)`` (55 instructions) on a
machine with cycle accounting, on one without (``counting=False``), with its profile, and
the bare ``uc_emu_start`` of the same call on the counting machine's engine (registers set
through the engine, nothing else: the floor), and prints each as a multiple of that floor.  Writes the table into docs/performance.md
between ``<!-- call-table:start -->`` and ``<!-- call-table:end -->`` (``--no-readme``: only
prints it).

Usage: ``python benchmarks/call_overhead.py [--board stm32f469i] [--repeat 2000] [--no-readme]``
"""

from __future__ import annotations

import argparse
import time

from _readme import publish
from _timing import best_times
from emulation_speed import SOURCES
from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.callargs import marshal
from mcusim.machine import Machine


def measure(board_name: str, repeat: int) -> dict[str, float]:
    """Best seconds per call of each variant."""
    board = get_board(board_name)
    elf = build_firmware(SOURCES, board).elf
    counted, raw = Machine(board, elf), Machine(board, elf, counting=False)
    work_c, work_r = counted.alloc(64), raw.alloc(64)
    address = counted._address_of("mb_branchy")[0]
    regs = marshal((1, work_c, 1), None, "mb_branchy")
    engine = counted.engine

    def bare() -> None:
        engine.set_call_registers(list(regs.core), counted._stack_top, counted._trampoline | 1)
        engine.uc.emu_start(address | 1, counted._trampoline)

    fns = {
        "bare uc_emu_start (floor)": bare,
        "Machine.call, counting=False": lambda: raw.call("mb_branchy", 1, work_r, 1),
        "Machine.call with cycle accounting": lambda: counted.call("mb_branchy", 1, work_c, 1),
        "... and its profile": lambda: counted.profile(counted.call("mb_branchy", 1, work_c, 1)),
    }
    for fn in fns.values():
        fn()
    return best_times(fns, repeat, clock=time.perf_counter)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="stm32f469i")
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    args = ap.parse_args(argv)
    best = measure(args.board, args.repeat)
    floor = best["bare uc_emu_start (floor)"]
    lines = [f"Board `{args.board}`, `mb_branchy(1, work, 1)` (55 instructions); wall clock, "
             f"best of {args.repeat} alternating calls, this machine (2 shared cores).", "",
             "| call | µs | × floor |", "|---|---:|---:|"]
    lines += [f"| {name} | {seconds * 1e6:.1f} | {seconds / floor:.1f} |"
              for name, seconds in best.items()]
    publish("call-table", "\n".join(lines), dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
