"""What an entry into a counted loop costs, in host instructions (callgrind): the constants of
the machine's rule for which loops to count (``mcusim.loops.ENTRY_COST``, ``WALK_COST``,
``REPEAT_COST``).

Runs the int8 loop of ``benchmarks/emulation_speed.py`` (``mb_dot_repeat``) with vectors of
``n`` bytes, so that each entry into the loop runs ``n - 1`` executions of it (the first runs
in the block before), about 60,000 entries per call, under ``valgrind --tool=callgrind`` in a
child process, on a machine that counts the loop (retiring switched off) and on one that
hooks every block, with and without 32 more native code hooks registered on an address that
never runs (Unicorn walks every code hook each time a hooked instruction runs, the loop's
closing branch included).  From the host instructions of the warm call's emulation:

* ``REPEAT_COST``: what the block hook costs per repeat of a one-block loop (the difference
  between the two machines changes by that much per execution per entry, n = 4 against
  n = 32);
* ``WALK_COST``: what each code hook adds to an entry;
* ``ENTRY_COST``: what an entry costs the counted loop beyond the hooked one, the walk over
  the code hooks aside (the loop hook, its register reads, Unicorn's exit check after it,
  the count).

Prints the counts and the three constants, and writes the table into docs/performance.md
between ``<!-- entry-table:start -->`` and ``<!-- entry-table:end -->`` (``--no-readme``:
only prints it).  Needs valgrind.  Usage: ``python benchmarks/loop_entry_cost.py [--board
stm32f469i] [--no-readme]`` (about a minute).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _callgrind import have_valgrind  # noqa: E402
from _callgrind import host_instructions as callgrind  # noqa: E402
from _readme import publish  # noqa: E402

EXECUTIONS = 240_000    # loop executions per call (entries: EXECUTIONS / (n - 1))
EXTRA_HOOKS = 32


def _child(board_name: str, n: int, counted: bool, extra: int) -> None:
    """Run the call twice (the first translates the code); print its entries."""
    from emulation_speed import SOURCES

    from mcusim import machine as machine_module
    from mcusim import native
    from mcusim.boards import get_board
    from mcusim.build import build_firmware
    from mcusim.machine import Machine

    machine_module.min_executions = lambda hooks: 0.0   # (no retiring: price every entry)
    board = get_board(board_name)
    m = Machine(board, build_firmware(SOURCES, board).elf, counted_loops=counted)
    hook, _, _ = native.loop_functions()
    idle = np.zeros(native.LOOP_WORDS, dtype=np.uint64)   # L_SIZE 0: the hook returns at once
    never = m.board.region("flash").end - 4
    print("hooks", m.engine.native_code_hooks)         # the image's own
    for _ in range(extra):
        m.engine.add_native_code_hook(hook, idle, never)
    a = m.alloc(n)
    reps = EXECUTIONS // (n - 1)
    for _ in range(2):
        m.call("mb_dot_repeat", a, a, n, reps)
    print("entries", reps)


def host_instructions(board_name: str, n: int, counted: bool,
                      extra: int) -> tuple[int, int, int]:
    """(host instructions of the warm call's emulation, entries into the loop, native code
    hooks of the machine before the extra ones)."""
    count, out = callgrind(__file__, ["--child", board_name, str(n), str(int(counted)),
                                      str(extra)], dump=2)
    found = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
             if line.startswith(("entries ", "hooks "))}
    return count, found["entries"], found["hooks"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="stm32f469i")
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        b, n, counted, extra = args.child
        _child(b, int(n), counted == "1", int(extra))
        return 0
    if not have_valgrind():
        return 1
    per_entry: dict[tuple[int, int], float] = {}
    lines = [f"Board `{args.board}`, the int8 loop in entries of n - 1 executions "
             f"({EXECUTIONS:,} executions per call); host instructions (callgrind) of the "
             "second call's emulation.", "",
             "| n | extra code hooks | entries | every block hooked | counted loop | "
             "difference per entry |", "|---:|---:|---:|---:|---:|---:|"]
    for extra in (0, EXTRA_HOOKS):
        for n in (4, 32):
            hooked, entries, _ = host_instructions(args.board, n, False, extra)
            counted, _, own = host_instructions(args.board, n, True, extra)
            per_entry[(n, extra)] = (counted - hooked) / entries
            lines.append(f"| {n} | {extra} | {entries:,} | {hooked:,} | {counted:,} | "
                         f"{per_entry[(n, extra)]:+.0f} |")
            print(lines[-1], flush=True)
    repeat = (per_entry[(4, 0)] - per_entry[(32, 0)]) / (32 - 4)
    walk = (per_entry[(4, EXTRA_HOOKS)] - per_entry[(4, 0)]) / EXTRA_HOOKS
    entry = per_entry[(4, 0)] + 3 * repeat - walk * own
    lines += ["", f"The image's own native code hooks: {own}.  REPEAT_COST {repeat:.1f}, "
              f"ENTRY_COST {entry:.0f}, WALK_COST {walk:.1f} host instructions: a loop pays "
              "for its hook when its entries run more than (ENTRY_COST + WALK_COST x code "
              f"hooks) / REPEAT_COST executions on average ({(entry + walk * own) / repeat:.0f} "
              f"with this image's {own})."]
    publish("entry-table", "\n".join(lines), dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
