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

from mcusim.commands._common import (add_board, add_call, board_columns, comparison,
                                     format_table, import_in_background, print_json)

__all__ = ["register", "run"]

#: File formats ``--plot`` writes (by extension, through matplotlib).
PLOT_FORMATS = (".png", ".svg", ".pdf")


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
                    "  mcusim profile my_kernel.c -b stm32f407-16mhz "
                    "--call my_kernel buf:int8:1,2 buf:int8:3,4 2 --json\n"
                    "  mcusim profile my_kernel.c -b stm32f469i -b stm32f746zg --call my_kernel 100"
                    "   # one column per board",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("elf", metavar="ELF",
                   help="firmware ELF (or .c/.S sources, built for the board first)",
                   nargs="+")
    add_board(p, multiple=True)
    add_call(p)
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="functions and source lines to list (default 10)")
    p.add_argument("--annotate", metavar="FUNC",
                   help="print FUNC's disassembly with cycles per instruction")
    p.add_argument("--callgrind", metavar="FILE",
                   help="write a callgrind file (callgrind_annotate, KCachegrind)")
    p.add_argument("--csv", metavar="FILE", help="write the per-instruction table as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="save a chart of where cycles go (.png, .svg or .pdf)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (board, core, clock_hz, cycles, instructions, "
                        "latency_us, latency_ms, stop_reason, return_value, functions, lines, "
                        "...); with several boards {boards, table, by_board}")
    p.set_defaults(func=run)
    return p


def _elf_path(paths: list[str], board: Any) -> Path:
    from mcusim.build import SOURCE_SUFFIXES, build_firmware

    if len(paths) == 1 and Path(paths[0]).suffix not in SOURCE_SUFFIXES:
        return Path(paths[0])
    return build_firmware(paths, board).elf


#: Rows of the side-by-side table of ``profile`` with several boards (keys of the summary).
COMPARED = ("core", "clock_hz", "cycles", "instructions", "cpi", "latency_us", "latency_ms",
            "stop_reason", "return_value")


def _profile(board_spec: str, args: argparse.Namespace) -> Any:
    """Build (if sources were given), run and profile on one board."""
    from mcusim.boards import get_board
    from mcusim.commands.run import execute

    board = get_board(board_spec)
    machine, result, _ = execute(args, board, elf=_elf_path(args.elf, board))
    return machine.profile(result)


def _exports(prof: Any, args: argparse.Namespace, suffix: str) -> None:
    def name(path: str) -> str:
        p = Path(path)
        return str(p.with_name(f"{p.stem}.{suffix}{p.suffix}")) if suffix else path

    if args.callgrind:
        prof.write_callgrind(name(args.callgrind))
    if args.csv:
        prof.to_csv(name(args.csv))
    if args.plot:
        prof.plot(name(args.plot), top=args.top)


def run(args: argparse.Namespace) -> int:
    """Execute ``mcusim profile``; returns the exit status."""
    from mcusim._files import check_output

    for option, suffixes in (("callgrind", ()), ("csv", ()), ("plot", PLOT_FORMATS)):
        if getattr(args, option):   # checked before any work is done
            check_output(getattr(args, option), f"--{option} file", suffixes)
    import_in_background("mcusim.profile")   # loaded meanwhile (Capstone only if needed)
    top = args.top if args.top and args.top > 0 else None
    runs = [_profile(spec, args) for spec in args.board]
    profiles = board_columns([(prof.board.name, prof) for prof in runs])
    several = len(profiles) > 1
    for column, prof in profiles:
        _exports(prof, args, column if several else "")
    if several:
        return _compare(profiles, args, top)
    prof = profiles[0][1]
    board = prof.board
    if args.json:
        obj = prof.summary(top=top)
        if args.annotate:
            obj["annotate"] = prof.annotate(args.annotate)
        print_json(obj)
        return 0
    print(f"board {board.name} ({board.core}, {board.clock_hz / 1e6:g} MHz): "
          f"{prof.cycles:,} cycles, {prof.instructions:,} instructions, "
          f"CPI {prof.cpi:.3f}, {prof.latency_us:,.3f} us = {prof.latency_ms:,.6f} ms")
    res = prof.result
    if res is not None:
        value = "none (void)" if res.returns == "void" else res.value
        print(f"stop reason {res.stop_reason}, return value {value}")
    print("cycles by cause: " + ", ".join(f"{k} {v:,}" for k, v in prof.breakdown.items()))
    print()
    funcs = prof.function_rows()[:args.top]
    print(format_table([r._asdict() for r in funcs],
                       ["name", "self_cycles", "inclusive_cycles", "instructions", "self_pct"]))
    lines = prof.line_rows()[:args.top]
    if any(r.line > 0 for r in lines):
        print()
        rows = [{**r._asdict(), "file": f"{Path(r.file).name}:{r.line}"} for r in lines]
        print(format_table(rows, ["file", "function", "executions", "cycles"]))
    if args.annotate:
        print()
        print(prof.annotate(args.annotate))
    return 0


def _compare(profiles: list[tuple[str, Any]], args: argparse.Namespace, top: int | None) -> int:
    """Several boards: one table (one JSON object) with a column per board."""
    summaries = {column: prof.summary(top=top) for column, prof in profiles}
    flat = {}
    for column, summ in summaries.items():
        row = {k: summ[k] for k in COMPARED}
        row.update({f"cycles: {k}": v for k, v in summ["breakdown"].items()})
        row.update({f"self cycles: {f['name']}": f["self_cycles"] for f in summ["functions"]})
        flat[column] = row
    metrics = list(dict.fromkeys(k for row in flat.values() for k in row))
    table = comparison(flat, metrics)
    if args.json:
        obj: dict[str, Any] = {"boards": list(summaries), "table": table, "by_board": summaries}
        if args.annotate:
            obj["annotate"] = {c: p.annotate(args.annotate) for c, p in profiles}
        print_json(obj)
        return 0
    print(format_table(table, ["metric", *summaries]))
    if args.annotate:
        for column, prof in profiles:
            print(f"\n{column}:\n{prof.annotate(args.annotate)}")
    return 0

