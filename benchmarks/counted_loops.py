"""Whole models with and without counted loops: the same inference and cycles, in host
instructions (callgrind: deterministic, unlike CPU time on a shared machine).

:mod:`mcusim.loops` runs the one-block loops whose executions follow from an induction
register without hooks (``Machine(counted_loops=True)``, the default) and retires, in the
run, those whose entries run too few executions to pay for the loop hook.  This script runs
one inference of built-in models (``mcusim.model.run_model``: every operator called on the
emulated board) in a child process under ``valgrind --tool=callgrind``, once with counted
loops and once with every block hooked (``counted_loops=False``), counts the host
instructions inside Unicorn's ``vm_start`` (the emulation, all calls), checks that both
give the same cycles per operator, and prints the two counts, their ratio and the share of
the executed instructions that ran in the blocks of loops still counted at the end.

Writes the table into docs/performance.md between ``<!-- loops-table:start -->`` and
``<!-- loops-table:end -->`` (``--no-readme``: only prints it).  Needs valgrind.  Usage:
``python benchmarks/counted_loops.py [--models cifarnet] [--board stm32f469i stm32f746zg]
[--no-readme]`` (a few minutes per model and board).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _callgrind import have_valgrind  # noqa: E402
from _callgrind import host_instructions as callgrind  # noqa: E402
from _readme import publish  # noqa: E402


def _child(model: str, board: str, counted: bool) -> None:
    """One inference; prints its cycles per operator, instructions, and those run in the
    blocks of the loops counted at the end of each call."""
    from mcusim.machine import Machine
    from mcusim.model import run as model_run
    from mcusim.model.zoo import get_model

    looped, executed = [0], [0]
    call = Machine.call

    def counting_call(self: Machine, *args: object, **kwargs: object) -> object:
        res = call(self, *args, **kwargs)  # type: ignore[arg-type]
        executed[0] += res.instructions
        loops = {loop.start for loop, _ in self._loops}
        looped[0] += sum(int(b["count"]) * int(b["ninstr"]) for b in res.counts.blocks
                         if int(b["addr"]) in loops)
        return res

    Machine.call = counting_call  # type: ignore[method-assign]
    model_run.Machine = (lambda *a, **k:  # type: ignore[assignment]
                         Machine(*a, counted_loops=counted, **k))
    run = model_run.run_model(get_model(model), board)
    print("result", json.dumps({"cycles": [op.cycles for op in run.ops],
                                "instructions": executed[0], "looped": looped[0]}))


def measure(model: str, board: str, counted: bool) -> tuple[int, dict]:
    """(host instructions of the emulation, the child's result)."""
    count, out = callgrind(__file__, ["--child", model, board, str(int(counted))])
    result = next(json.loads(line.split(None, 1)[1]) for line in out.splitlines()
                  if line.startswith("result "))
    return count, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["cifarnet"])
    ap.add_argument("--board", nargs="+", default=["stm32f469i", "stm32f746zg"])
    ap.add_argument("--no-readme", action="store_true",
                    help="only print the table (do not update docs/performance.md)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], args.child[2] == "1")
        return 0
    if not have_valgrind():
        return 1
    lines = ["One inference (`run_model`: every operator called and costed); host instructions "
             "(callgrind) inside Unicorn's `vm_start`, all calls.  The cycles per operator are "
             "the same both ways.", "",
             "| board | model | instructions | in loops still counted | every block hooked | "
             "counted loops | counted / hooked |", "|---|---|---:|---:|---:|---:|---:|"]
    for board in args.board:
        for model in args.models:
            hooked, plain = measure(model, board, False)
            counted, result = measure(model, board, True)
            if plain["cycles"] != result["cycles"]:
                raise SystemExit(f"{model} on {board}: the cycles differ without counted loops")
            lines.append(f"| {board} | {model} | {result['instructions']:,} | "
                         f"{result['looped'] / result['instructions']:.0%} | {hooked:,} | "
                         f"{counted:,} | {counted / hooked:.3f} |")
            print(lines[-1], flush=True)
    publish("loops-table", "\n".join(lines), dry=args.no_readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
