"""Host instructions of cycle accounting, counted by callgrind (deterministic, unlike CPU time).

For each program of ``benchmarks/emulation_speed.py`` (``int8``, ``branchy``) and board, runs
the call twice in a child process under ``valgrind --tool=callgrind``, once on a machine
without hooks (raw Unicorn) and once with the native counting hooks, and counts the host
instructions inside Unicorn's ``vm_start`` (the emulation: JIT code, Unicorn, the hooks) of
the second, warm call.  Also counts the call on plain Unicorn (its default TLB, as in
``benchmarks/emulation_speed.py``).  Prints the three, the ratios of the accounted run to both
(the share of their speed if time followed instructions) and the extra host instructions per
executed block over the engine without hooks.  A machine
shared with other jobs changes CPU times a lot, these counts not at all.

Writes the table into docs/performance.md between ``<!-- hooks-table:start -->`` and
``<!-- hooks-table:end -->`` (``--no-readme``: only prints it).  Needs valgrind.  Usage: ``python benchmarks/hook_instructions.py [--board stm32f469i ...]
[--programs int8 branchy] [--baseline CHECKOUT]`` (about a minute per run; ``--baseline``
adds the counts of another source tree's hooks, e.g. before a change).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _callgrind import have_valgrind  # noqa: E402
from _callgrind import host_instructions as callgrind  # noqa: E402
from _readme import publish  # noqa: E402


def _child(board_name: str, program: str, mode: str) -> None:
    """Run the program twice (the first call translates the code) and print its blocks."""
    from emulation_speed import SOURCES, _workloads

    from mcusim.boards import get_board
    from mcusim.build import build_firmware
    from mcusim.machine import Machine

    board = get_board(board_name)
    m = Machine(board, build_firmware(SOURCES, board).elf, counting=mode == "counted")
    if mode == "plain":                   # Unicorn's default TLB (see emulation_speed.py)
        m.engine.use_mpu_tlb()
    job = _workloads(m)[program]
    for _ in range(2):
        result = job()
    if mode == "counted":
        print("blocks", int(result.counts.blocks["count"].sum()))


def host_instructions(board_name: str, program: str, mode: str,
                      checkout: str | None = None) -> tuple[int, int]:
    """(host instructions of the warm call's emulation, blocks it executed; 0 when raw),
    with the mcusim of ``checkout`` (a source tree) when given."""
    count, out = callgrind(__file__, ["--child", board_name, program, mode], dump=2,
                           checkout=checkout)
    blocks = next((int(line.split()[1]) for line in out.splitlines()
                   if line.startswith("blocks ")), 0)
    return count, blocks


def _commit(checkout: str) -> str:
    """Short commit id of a git checkout (its path when it is none)."""
    out = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or checkout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", nargs="+", default=["stm32f469i"])
    ap.add_argument("--programs", nargs="+", default=["int8", "branchy"])
    ap.add_argument("--baseline", metavar="CHECKOUT",
                    help="also count the hooks of another source tree (e.g. a worktree of "
                         "the main branch), in a column of its own")
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    if not have_valgrind():
        return 1
    base = " | baseline | engine / baseline" if args.baseline else ""
    lines = ["Host instructions (callgrind) inside Unicorn's `vm_start` for the second, warm "
             "call of each program of `benchmarks/emulation_speed.py`"
             + (f"; baseline: the hooks of commit {_commit(args.baseline)}" if args.baseline
                else "") + ".",
             "",
             f"| board | program | blocks | plain Unicorn | engine, no hooks{base} | with cycle "
             "accounting | accounted / plain | accounted / engine | extra per block |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.baseline else "")]
    for board in args.board:
        for program in args.programs:
            plain, _ = host_instructions(board, program, "plain")
            raw, _ = host_instructions(board, program, "raw")
            counted, blocks = host_instructions(board, program, "counted")
            cols = f"{plain:,} | {raw:,}"
            if args.baseline:
                old, _ = host_instructions(board, program, "counted", args.baseline)
                cols += f" | {old:,} | {raw / old:.1%}"
            lines.append(f"| {board} | {program} | {blocks:,} | {cols} | {counted:,} | "
                         f"{plain / counted:.1%} | {raw / counted:.1%} | "
                         f"{(counted - raw) / blocks:.1f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    publish("hooks-table", text, dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
