"""``mcusim profile``: cycles of a firmware run, by function, line and instruction.

Examples
--------
``mcusim profile fw.elf --board stm32f469i --call mcu_dot_s8 buf:int8:1,2,3 buf:int8:4,5,6 3``
``mcusim profile fw.elf -b stm32f746zg --call f 100 --annotate f --callgrind out.cg --json``
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mcusim.commands._common import (add_board, add_call, format_table, parse_call_args,
                                     print_json)

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``profile`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "profile", help="cycle profile of a firmware run (by function, line, instruction)",
        description="Run firmware under emulation with cycle accounting and report total "
                    "cycles, latency at the board clock and where the cycles go (by "
                    "function, source line and instruction).\n\n"
                    "examples:\n"
                    "  mcusim profile fw.elf --board stm32f469i --call mcu_dot_s8 "
                    "buf:int8:1,2,3 buf:int8:4,5,6 3\n"
                    "  mcusim profile fw.elf -b stm32f746zg --call f 100 --annotate f "
                    "--callgrind out.cg --plot cycles.png\n"
                    "  mcusim profile firmware/basic/mcu_dot_s8.c -b stm32f407-16mhz "
                    "--call mcu_dot_s8 buf:int8:1,2 buf:int8:3,4 2 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("elf", metavar="ELF",
                   help="firmware ELF (or .c/.S sources, built for the board first)",
                   nargs="+")
    add_board(p)
    add_call(p)
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="functions and source lines to list (default 10)")
    p.add_argument("--annotate", metavar="FUNC",
                   help="print FUNC's disassembly with cycles per instruction")
    p.add_argument("--callgrind", metavar="FILE",
                   help="write a callgrind file (callgrind_annotate, KCachegrind)")
    p.add_argument("--csv", metavar="FILE", help="write the per-instruction table as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="save a chart of where cycles go")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (board, core, clock_hz, cycles, "
                        "instructions, latency_us, functions, ...)")
    p.set_defaults(func=run)
    return p


def _elf_path(paths: list[str], board: Any) -> Path:
    from mcusim.build import SOURCE_SUFFIXES, build_firmware

    if len(paths) == 1 and Path(paths[0]).suffix not in SOURCE_SUFFIXES:
        return Path(paths[0])
    return build_firmware(paths, board).elf


def run(args: argparse.Namespace) -> int:
    """Execute ``mcusim profile``; returns the exit status."""
    from mcusim.boards import get_board
    from mcusim.machine import Machine

    board = get_board(args.board)
    machine = Machine(board, _elf_path(args.elf, board))
    if args.call:
        call_args, _ = parse_call_args(machine, args.call[1:], args.region)
        result = machine.call(args.call[0], *call_args, budget=args.budget)
    else:
        result = machine.run(budget=args.budget)
    prof = machine.profile(result)
    if args.callgrind:
        prof.write_callgrind(args.callgrind)
    if args.csv:
        prof.to_csv(args.csv)
    if args.plot:
        prof.plot(args.plot, top=args.top)
    if args.json:
        obj = prof.summary()
        obj["functions"] = obj["functions"][:max(args.top, 0)] if args.top else obj["functions"]
        if args.annotate:
            obj["annotate"] = prof.annotate(args.annotate)
        print_json(obj)
        return 0
    print(f"board {board.name} ({board.core}, {board.clock_hz / 1e6:g} MHz): "
          f"{prof.cycles:,} cycles, {prof.instructions:,} instructions, "
          f"CPI {prof.cpi:.3f}, {prof.latency_us:,.2f} us")
    print("cycles by cause: " + ", ".join(f"{k} {v:,}" for k, v in prof.breakdown.items()))
    print()
    funcs = prof.functions().head(args.top)
    print(format_table(funcs.to_dict("records"),
                       ["name", "self_cycles", "inclusive_cycles", "instructions", "self_pct"]))
    lines = prof.lines().head(args.top)
    if (lines["line"] > 0).any():
        print()
        rows = [{**r, "file": f"{Path(r['file']).name}:{r['line']}"}
                for r in lines.to_dict("records")]
        print(format_table(rows, ["file", "function", "executions", "cycles"]))
    if args.annotate:
        print()
        print(prof.annotate(args.annotate))
    return 0
