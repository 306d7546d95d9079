"""Cost of building the cycle profile right after a call, against the call's own time.

For each program of ``benchmarks/emulation_speed.py`` (``int8``, ``branchy``, ``alias``) on a
machine with the native counting hooks, runs the call, then times ``Machine.profile`` of its
result (CPU time of this thread; the call has just filled the host caches with Unicorn's
code, as in a sweep), in turn in two ways:

* **planned**: the timing model keeps a plan per run shape (:func:`mcusim.timing.account`),
  so a repeated shape is costed with a few vectorized operations;
* **replanned**: the model's plans are cleared before each build
  (:func:`mcusim.timing.account.clear_plans`), so every build decodes-from-cache and costs
  all blocks and edges again, as for a run of a new shape (and as every build did before
  the plans).

Prints the best of ``--repeat`` for each, as milliseconds and as a share of the call's own
time (best of the same runs), and the speed-up.  ``--baseline CHECKOUT`` adds the profile
build of another source tree (e.g. the main branch before this change), measured the same
way in a child process.  Writes the tables into docs/performance.md between
``<!-- profile-table:start -->`` and ``<!-- profile-table:end -->`` (``--no-readme``: only
prints them).

Usage: ``python benchmarks/profile_build.py [--board stm32f469i stm32f746zg] [--repeat 41]
[--programs int8 branchy alias] [--baseline CHECKOUT]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _readme import publish  # noqa: E402

PROGRAMS = ["int8", "branchy", "alias"]


def _best_after_call(call: Callable[[], object], builds: list[Callable[[object], object]],
                     repeat: int) -> tuple[float, list[float]]:
    """Best CPU time of ``call`` and of each build, each build timed right after a call
    of its own (the builds take turns)."""
    best_call, best = float("inf"), [float("inf")] * len(builds)
    for _ in range(repeat):
        for i, build in enumerate(builds):
            t0 = time.thread_time()
            result = call()
            t1 = time.thread_time()
            build(result)
            t2 = time.thread_time()
            best_call, best[i] = min(best_call, t1 - t0), min(best[i], t2 - t1)
    return best_call, best


def measure(board_name: str, programs: list[str], repeat: int, *,
            replanned: bool = True) -> dict[str, dict[str, float]]:
    """Per program: ``call``, ``planned`` (and ``replanned``) best CPU seconds, blocks and
    edges of the run."""
    from emulation_speed import SOURCES, _workloads

    from mcusim.boards import get_board
    from mcusim.build import build_firmware
    from mcusim.machine import Machine
    from mcusim.timing import get_core_model

    board = get_board(board_name)
    m = Machine(board, build_firmware(SOURCES, board).elf)
    jobs = _workloads(m)
    builds: list[Callable[[object], object]] = [m.profile]
    if replanned:
        from mcusim.timing.account import clear_plans
        model = get_core_model(board.core)

        def replan(result: object) -> object:
            clear_plans(model)
            return m.profile(result)

        builds.append(replan)
    out = {}
    for name in programs:
        result = jobs[name]()
        m.profile(result)                       # decode once; later builds find the blocks
        call, best = _best_after_call(jobs[name], builds, repeat)
        row = {"call": call, "planned": best[0], "blocks": len(result.counts.blocks),
               "edges": len(result.counts.edges)}
        if replanned:
            row["replanned"] = best[1]
        out[name] = row
    return out


def _baseline(checkout: str, board: str, programs: list[str], repeat: int
              ) -> dict[str, dict[str, float]]:
    """:func:`measure` (builds as they are there) with the mcusim of ``checkout``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([checkout, str(HERE)])}
    run = subprocess.run([sys.executable, __file__, "--child", board, "--repeat", str(repeat),
                          "--programs", *programs], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(run.stdout)


def table(board: str, rows: dict[str, dict[str, float]],
          base: dict[str, dict[str, float]] | None) -> str:
    """The results as a Markdown table."""
    head = "| program | blocks / edges | call ms | planned ms | % of call | replanned ms | " \
           "% of call | speed-up |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|"
    if base:
        head += " baseline ms | % of call | speed-up |"
        rule += "---:|---:|---:|"
    lines = [f"Board `{board}`: `Machine.profile` right after the call, CPU time, best of "
             "alternating runs.", "", head, rule]
    for name, r in rows.items():
        line = (f"| {name} | {r['blocks']} / {r['edges']} | {r['call'] * 1e3:.2f} | "
                f"{r['planned'] * 1e3:.3f} | {r['planned'] / r['call']:.1%} | "
                f"{r['replanned'] * 1e3:.3f} | {r['replanned'] / r['call']:.1%} | "
                f"{r['replanned'] / r['planned']:.1f}x |")
        if base:
            b = base[name]
            line += (f" {b['planned'] * 1e3:.3f} | {b['planned'] / b['call']:.1%} | "
                     f"{b['planned'] / r['planned']:.1f}x |")
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", nargs="+", default=["stm32f469i"])
    ap.add_argument("--repeat", type=int, default=41,
                    help="runs per program and way of building (best is kept)")
    ap.add_argument("--programs", nargs="+", default=PROGRAMS, choices=PROGRAMS)
    ap.add_argument("--baseline", metavar="CHECKOUT",
                    help="also time the profile build of another source tree (e.g. a "
                         "worktree of the main branch), in columns of its own")
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the tables (do not update docs/performance.md)")
    ap.add_argument("--child", metavar="BOARD", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:      # a baseline tree: time its builds as they are, print JSON
        print(json.dumps(measure(args.child, args.programs, args.repeat, replanned=False)))
        return 0
    tables = []
    for board in args.board:
        base = _baseline(args.baseline, board, args.programs, args.repeat) \
            if args.baseline else None
        tables.append(table(board, measure(board, args.programs, args.repeat), base))
        print(tables[-1] + "\n", file=sys.stderr, flush=True)   # progress (publish prints or
                                                                # writes them all at the end)
    publish("profile-table", "\n\n".join(tables), dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
