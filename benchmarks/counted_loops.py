"""Whole models with and without counted loops: the same inference, the same cycles, timed.

:mod:`mcusim.loops` runs the one-block loops whose executions follow from an induction
register without hooks (``Machine(counted_loops=True)``, the default).  This script runs one
inference of built-in models (``mcusim.model.run_model``: every operator called on the
emulated board, its cycles measured) on machines with counted loops and on machines with
every block hooked (``counted_loops=False``), alternately (CPU time of this process, best
of ``--repeat``), checks that both give the same cycles per operator, and prints the
seconds, the speed-up and the share of the executed instructions that ran in counted loops.

A second table prices one entry into a counted loop: the int8 loop of
``benchmarks/emulation_speed.py`` (``mb_dot_repeat``) with vectors of ``n`` bytes, called so
that it runs about 400,000 loop executions in entries of ``n - 1`` executions each (the
first runs in the block before the loop), on a machine that counts the loop (retiring it
switched off) and on one that hooks every block.  Where the two meet is about the average
number of executions per entry below which a machine retires a loop
(``mcusim.loops.min_executions``, whose constants ``benchmarks/loop_entry_cost.py`` counts).

Writes both tables into docs/performance.md between ``<!-- loops-table:start -->`` and
``<!-- loops-table:end -->`` (``--no-readme``: only prints them).

Usage: ``python benchmarks/counted_loops.py [--models cifarnet squeezenet] [--board
stm32f469i stm32f746zg] [--repeat 3] [--no-readme]``
"""

from __future__ import annotations

import argparse
import time

from _readme import publish
from mcusim import native
from mcusim.machine import Machine
from mcusim.model import run as model_run
from mcusim.model.zoo import get_model


def _inference(model: str, board: str, counted: bool) -> tuple[float, list[int], int, int]:
    """CPU seconds of one inference, the cycles per operator, the instructions its calls
    executed and those executed in counted loops (a loop that ran with the hooks included:
    the ones whose translation was dropped in a call)."""
    graph = get_model(model)

    def machine(*args: object, **kwargs: object) -> Machine:
        return Machine(*args, counted_loops=counted, **kwargs)  # type: ignore[arg-type]

    looped, executed = [0], [0]
    call = Machine.call

    def counting_call(self: Machine, *args: object, **kwargs: object) -> object:
        res = call(self, *args, **kwargs)  # type: ignore[arg-type]
        executed[0] += res.instructions
        if self._state is not None and native.loop_runs(self._state):
            loops = {loop.start for loop, _ in self._loops}
            blocks = res.counts.blocks
            inside = [b for b in blocks if int(b["addr"]) in loops]   # (few blocks)
            looped[0] += sum(int(b["count"]) * int(b["ninstr"]) for b in inside)
        return res

    model_run.Machine = machine  # type: ignore[assignment]
    Machine.call = counting_call  # type: ignore[method-assign]
    try:
        t0 = time.process_time()
        run = model_run.run_model(graph, board)
        seconds = time.process_time() - t0
    finally:
        model_run.Machine = Machine  # type: ignore[assignment]
        Machine.call = call  # type: ignore[method-assign]
    return seconds, [op.cycles for op in run.ops], executed[0], looped[0]


def measure(models: list[str], boards: list[str], repeat: int) -> list[dict]:
    rows = []
    for board in boards:
        for model in models:
            best = {True: float("inf"), False: float("inf")}
            seen: dict[bool, tuple] = {}
            _inference(model, board, True)                  # builds (cached) and warms up
            for _ in range(repeat):
                for counted in (True, False):
                    seconds, cycles, instructions, looped = _inference(model, board, counted)
                    best[counted] = min(best[counted], seconds)
                    seen[counted] = (cycles, instructions, looped)
            if seen[True][0] != seen[False][0]:
                raise SystemExit(f"{model} on {board}: the cycles differ without counted loops")
            rows.append({"board": board, "model": model, "cycles": sum(seen[True][0]),
                         "instructions": seen[True][1], "looped": seen[True][2],
                         "hooked_s": best[False], "counted_s": best[True]})
            print(f"{board} {model}: every block hooked {best[False]:.2f} s, counted loops "
                  f"{best[True]:.2f} s", flush=True)
    return rows


def per_entry(board_name: str, repeat: int) -> list[dict]:
    """CPU seconds of the int8 loop in entries of ``n - 1`` executions, counted and hooked."""
    from _timing import best_times
    from emulation_speed import SOURCES
    from mcusim import machine as machine_module
    from mcusim.boards import get_board
    from mcusim.build import build_firmware

    board = get_board(board_name)
    elf = build_firmware(SOURCES, board).elf
    rows = []
    keep = machine_module.min_executions
    machine_module.min_executions = lambda hooks: 0.0  # (no retiring: price every entry)
    try:
        counted, hooked = Machine(board, elf), Machine(board, elf, counted_loops=False)
        for n in (2, 4, 8, 16, 32, 64, 128):
            reps = 400_000 // n
            jobs = {}
            for name, m in (("counted", counted), ("hooked", hooked)):
                a = m.alloc(n)
                jobs[name] = lambda m=m, a=a, n=n, reps=reps: m.call("mb_dot_repeat", a, a, n,
                                                                      reps)
                jobs[name]()
            best, _ = best_times(jobs, repeat)
            rows.append({"n": n, "entries": reps, "counted": best["counted"],
                         "hooked": best["hooked"]})
    finally:
        machine_module.min_executions = keep
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["cifarnet", "squeezenet"])
    ap.add_argument("--board", nargs="+", default=["stm32f469i", "stm32f746zg"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    args = ap.parse_args(argv)
    rows = measure(args.models, args.board, args.repeat)
    lines = [f"One inference (`run_model`: build cached, every operator called and costed); CPU "
             f"time, best of {args.repeat} alternating runs, this machine (2 shared cores). The "
             "cycles per operator are the same both ways.", "",
             "| board | model | instructions | in counted loops | every block hooked s | "
             "counted loops s | speed-up |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['board']} | {r['model']} | {r['instructions']:,} | "
              f"{r['looped'] / r['instructions']:.0%} | {r['hooked_s']:.2f} | "
              f"{r['counted_s']:.2f} | {r['hooked_s'] / r['counted_s']:.2f}x |" for r in rows]
    entry = per_entry(args.board[0], max(3, args.repeat))
    lines += ["", f"Board `{args.board[0]}`, the int8 loop in entries of n - 1 executions "
              "(400,000 executions in all); CPU time, best of alternating runs.", "",
              "| executions per entry | entries | every block hooked ms | counted loop ms | "
              "counted / hooked |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['n'] - 1} | {r['entries']:,} | {r['hooked'] * 1e3:.1f} | "
              f"{r['counted'] * 1e3:.1f} | {r['counted'] / r['hooked']:.2f} |" for r in entry]
    publish("loops-table", "\n".join(lines), dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
