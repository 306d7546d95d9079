"""Where the int8 loop's accounting time goes: variants of the block hook's fast path, timed.

The int8 program of ``benchmarks/emulation_speed.py`` is one block repeated 1.57 million times
per call.  With that block hooked (``Machine(counted_loops=False)``), its accounting cost is
the block hook's fast repeat (a compare with the armed block and a decrement) plus Unicorn's
call into it; by default it is a counted loop (:mod:`mcusim.loops`) and no hook sees its
repeats (the ``counted loop`` row).  This script compiles variants of
``mcusim/_native_hooks.c`` in which only that fast path (the body of ``block_hook_body`` up to
the slow path) is replaced, loads each into its own machine in one process, and times the
int8 call on each and on plain Unicorn, alternating in a shuffled order (CPU time of this
thread, best of ``--repeat``).  The variants do not count correctly (except ``current``):
they measure what a hook that does less would cost.

* ``counted loop``: the hooks as built, the int8 loop run as a counted loop (translated
  without hooks, its executions worked out from its induction register), as machines run it
  by default; all the others hook every block;
* ``current``: the hook as built;
* ``returns``: returns at once (the floor of any block hook);
* ``never-matches``: compares the address with the armed block, which is never armed (an
  empty ``asm`` on the match keeps the compiler from folding the compare away);
* ``preset-match``: the same compare, with the hot block armed from Python before the call
  (it matches on every repeat; the hook never writes its state);
* ``arm-once``: the same compare; the first block of each call arms itself (one store by
  the hook into the word the compare reads), so the hot block never matches;
* ``arm-each``: every block that does not match arms itself; the hot block matches;
* ``preset-count``: ``preset-match`` plus a decrement, on each match, of a spare state word
  (index 55, unused by the hooks): the counting a fast repeat needs, without arming;
* ``store-each``: ``never-matches`` plus a plain store of the address into that spare word on
  every call (a store that does not depend on the word's previous value).

Prints the milliseconds and the share of plain Unicorn's speed of each, and writes the table
into docs/performance.md between ``<!-- variants-table:start -->`` and
``<!-- variants-table:end -->`` (``--no-readme``: only prints it).  The host C compiler of
:mod:`mcusim.native` builds the variants.

Usage: ``python benchmarks/hook_variants.py [--board stm32f469i] [--repeat 21] [--no-readme]``
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from _readme import publish
from _timing import best_times
from emulation_speed import SOURCES, _workloads
from mcusim import _native_build, native
from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.machine import Machine

#: The fast path of block_hook_body as the source has it (replaced in the variants).
FAST_PATH = """    if (address == st[H_FAST_KEY] && size == (uint32_t)st[H_FAST_SIZE]) {
        if (--st[H_FAST_LEFT] == 0)
            budget_stop(st, uc);
        return;
    }"""
#: (the empty asm keeps the compiler from folding `if (c) return; return;` into a return)
COMPARE = "    if (address == st[H_FAST_KEY]) {\n        __asm__ volatile(\"\");\n        return;\n    }\n"
VARIANTS = {
    "returns": "    return;",
    "never-matches": COMPARE + "    return;",
    "preset-match": COMPARE + "    return;",
    "arm-once": COMPARE + "    if (st[H_FAST_KEY] == NO_FAST)\n        st[H_FAST_KEY] = address;\n"
                          "    return;",
    "arm-each": COMPARE + "    st[H_FAST_KEY] = address;\n    return;",
    "preset-count": "    if (address == st[H_FAST_KEY]) {\n        --st[SPARE];\n        return;\n    }\n"
                    "    return;",
    "store-each": "    st[SPARE] = address;\n" + COMPARE + "    return;",
}
SPARE = 55      # a state word the hooks do not use (see mcusim/_native_layout.py)


def _compile(directory: Path) -> dict[str, Path]:
    """The variant libraries (the source with its fast path replaced), by name."""
    source = _native_build.SOURCE.read_text()
    if FAST_PATH not in source:
        raise SystemExit("the fast path of _native_hooks.c changed: update FAST_PATH")
    libs = {}
    for name, body in VARIANTS.items():
        src, lib = directory / f"{name}.c", directory / f"{name}.so"
        src.write_text(source.replace(FAST_PATH, body.replace("SPARE", str(SPARE))))
        run = subprocess.run([native._host_compiler(), *_native_build.flags(), "-o", str(lib),
                              str(src)], capture_output=True, text=True, check=False)
        if run.returncode:
            raise SystemExit(run.stderr)
        libs[name] = lib
    return libs


def _machine_with(board, elf: Path, lib: Path | None) -> Machine:
    """A counting machine whose hooks come from ``lib`` (None: the normal library), every
    block through the block hook (``counted_loops=False``: the int8 loop is a counted loop,
    which runs without hooks otherwise)."""
    native.forget_library()
    if lib is not None:
        native.hook_library = lambda: lib        # (this process only)
    return Machine(board, elf, counted_loops=False)


def measure(board_name: str, repeat: int) -> dict[str, float]:
    """Best seconds of the int8 call per variant (and on plain Unicorn)."""
    board = get_board(board_name)
    elf = build_firmware(SOURCES, board).elf
    plain = Machine(board, elf, counting=False)
    plain.engine.use_mpu_tlb()                            # Unicorn's default TLB
    machines = {"plain Unicorn": plain, "current": _machine_with(board, elf, None),
                "counted loop": Machine(board, elf)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, lib in _compile(Path(tmp)).items():
            machines[name] = _machine_with(board, elf, lib)
    jobs = {name: _workloads(m)["int8"] for name, m in machines.items()}
    first = jobs["current"]().counts                      # the int8 loop's block
    if native.loop_runs(machines["current"]._state):
        raise SystemExit("the variants' machines run counted loops")
    hot = int(first.blocks["addr"][first.blocks["count"].argmax()])
    reset = native.reset_counts

    def preset(state) -> None:   # arm the hot block from Python, before each call
        reset(state)
        if state is machines["preset-match"]._state or state is machines["preset-count"]._state:
            state[native.H_FAST_KEY] = hot

    native.reset_counts = preset
    for job in jobs.values():
        job()
    best, _ = best_times(jobs, repeat, shuffle=True)
    native.reset_counts = reset
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="stm32f469i")
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    args = ap.parse_args(argv)
    best = measure(args.board, args.repeat)
    base = best["plain Unicorn"]
    lines = [f"Board `{args.board}`, the int8 call; CPU time, best of {args.repeat}, shuffled "
             "alternation, this machine (2 shared cores).", "",
             "| hook | ms | share of plain Unicorn's speed |", "|---|---:|---:|"]
    lines += [f"| {name} | {seconds * 1e3:.2f} | {base / seconds:.0%} |"
              for name, seconds in best.items()]
    publish("variants-table", "\n".join(lines), dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
