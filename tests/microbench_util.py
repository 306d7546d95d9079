"""Helpers shared by the timing tests: build and run the assembly microbenchmarks."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcusim.boards import get_board
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.machine import Machine

MICROBENCH_DIR = FIRMWARE_DIR / "microbench"
N_SHORT, N_LONG = 10, 110


def microbench_sources() -> list[Path]:
    """The assembly microbenchmarks (every ``firmware/microbench/mb_*.S``)."""
    return sorted(MICROBENCH_DIR.glob("mb_*.S"))


@functools.lru_cache(maxsize=None)
def microbench_machine(board: str) -> tuple[Machine, int]:
    """A machine with the microbenchmarks loaded and a 64-byte self-pointing buffer."""
    b = get_board(board)
    m = Machine(b, build_firmware(microbench_sources(), b).elf)
    buf = m.alloc(64, fill=0)
    return m, buf


@dataclass(frozen=True)
class LoopTiming:
    """Per-iteration costs of a microbenchmark (difference of two iteration counts)."""

    cycles: float          # total cycles per iteration (incl. memory penalties)
    core_cycles: float     # without instruction-fetch / data miss penalties
    instructions: float
    short_cycles: int      # total cycles of the N_SHORT run
    short_core: int


def run_mb(board: str, func: str, n: int) -> tuple[object, object]:
    """Run ``func(n, buf)`` and return ``(result, profile)``."""
    m, buf = microbench_machine(board)
    m.write(buf, np.full(16, buf, dtype=np.uint32))
    result = m.call(func, n, buf)
    return result, m.profile(result)


def loop_timing(board: str, func: str) -> LoopTiming:
    """Cycles per loop iteration of ``func`` from runs of N_SHORT and N_LONG iterations."""
    _, short = run_mb(board, func, N_SHORT)
    _, long = run_mb(board, func, N_LONG)

    def core(p: object) -> int:
        return p.cycles - p.breakdown["fetch"] - p.breakdown["data"]

    d = N_LONG - N_SHORT
    return LoopTiming((long.cycles - short.cycles) / d, (core(long) - core(short)) / d,
                      (long.instructions - short.instructions) / d, short.cycles, core(short))
