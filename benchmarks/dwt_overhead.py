"""What reading the DWT cycle counter costs the rest of a run.

Firmware that times itself with DWT CYCCNT (``firmware/microbench/mb_dwt.c``: the int8 loop
of ``benchmarks/emulation_speed.py`` between two CYCCNT reads) gets its counter reads served
with the modelled cycles.  Times (CPU time of this thread, best of ``--repeat``, alternating)
the plain int8 loop ``mb_dot_repeat`` and the timed ``mb_timed_dot`` of the same ELF on a
machine that serves CYCCNT (``cyccnt=None``: on, since the image holds the DWT address) and
on one that does not (``cyccnt=False``, the baseline of the same run), and prints the ratio:
1.0 when serving the counter slows nothing but the two reads.  It uses only the public
Machine API, so ``PYTHONPATH=OTHER_CHECKOUT python benchmarks/dwt_overhead.py`` measures
another tree the same way.

Usage: ``python benchmarks/dwt_overhead.py [--board stm32f469i] [--repeat 7]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _timing import best_times
from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.machine import Machine

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware" / "microbench"
SOURCES = [FIRMWARE / "mb_programs.c", FIRMWARE / "mb_dwt.c"]


def measure(board_name: str, repeat: int) -> list[tuple[str, float, float, int]]:
    """``(call, seconds serving CYCCNT, seconds without, value returned)`` per call."""
    board = get_board(board_name)
    elf = build_firmware(SOURCES, board).elf
    served, plain = Machine(board, elf), Machine(board, elf, cyccnt=False)
    rng = np.random.default_rng(0)
    vectors = [rng.integers(-128, 128, 16384, dtype=np.int8) for _ in range(2)]
    args = {id(m): [m.place(v) for v in vectors] for m in (served, plain)}
    rows = []
    for symbol in ("mb_dot_repeat", "mb_timed_dot"):
        best, last = best_times(
            {name: (lambda m=m: m.call(symbol, *args[id(m)], 16384, 24))
             for name, m in (("served", served), ("plain", plain))}, repeat)
        rows.append((symbol, best["served"], best["plain"], last["served"].r0))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="stm32f469i")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"Board `{args.board}`, 24 dot products of 16 KiB; CPU time, best of {args.repeat}.\n")
    print("| call | serving CYCCNT ms | cyccnt=False ms | ratio | r0 |\n|---|---:|---:|---:|---:|")
    for symbol, served, plain, value in measure(args.board, args.repeat):
        print(f"| {symbol} | {served * 1e3:.2f} | {plain * 1e3:.2f} | {served / plain:.2f} | "
              f"{value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
