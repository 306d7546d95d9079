"""``mcusim run``: run a program from reset, or call one function, under emulation."""

from __future__ import annotations

import argparse

from typing import Any

from mcusim.commands._common import (add_board, add_call, board_columns, comparison,
                                     format_table, limits, parse_call_args, print_json, read_buffers)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run an ELF from reset, or call one of its functions",
        description="Load ELF into the board's memory map and run it from the reset vector "
                    "until it exits (exit, return from main, BKPT), or call one function with "
                    "AAPCS arguments. Prints the return value, instructions executed and stop "
                    "reason; faults are reported with address, PC, function and source line.\n\n"
                    "examples:\n"
                    "  mcusim run app.elf --board stm32f469i\n"
                    "  mcusim run dot.elf --board stm32f746zg --call mcu_dot_s8 buf:int8:1,2,3 buf:int8:4,5,6 3\n"
                    "  mcusim run dot.elf -b ./my_board.toml --call mcu_scale_f32 buf:float32:1,2 2 3.0 0.5 --json\n"
                    "  mcusim run dot.elf -b stm32f469i -b stm32f407-16mhz --call mcu_dot_s8 "
                    "buf:int8:1,2 buf:int8:3,4 2   # one column per board",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("elf", metavar="ELF", help="the ELF file to load")
    add_board(p, multiple=True)
    add_call(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (return_value, instructions, stop_reason, ...); "
                        "with several boards {boards, table, by_board}")
    p.set_defaults(func=run)


def execute(args: argparse.Namespace, board: Any, *, elf: Any = None, counting: bool = True):
    """Build the machine for ``board``, run or call; return (machine, result, buffers).

    Shared by ``run`` and ``profile``; ``elf`` defaults to ``args.elf``.
    """
    from mcusim.machine import Machine

    machine = Machine(board, args.elf if elf is None else elf, counting=counting,
                      check_reads=getattr(args, "check_reads", False))
    buffers: list = []
    if args.call:
        symbol, *tokens = args.call
        call_args, buffers = parse_call_args(machine, tokens, args.region)
        result = machine.call(symbol, *call_args, **limits(args))
    else:
        result = machine.run(**limits(args))
    return machine, result, buffers


def _outcome(args: argparse.Namespace, board: str) -> dict[str, Any]:
    machine, result, buffers = execute(args, board)
    return {
        "board": machine.board.name,
        "elf": args.elf,
        "call": args.call[0] if args.call else None,
        "return_type": result.returns or None,
        "return_value": result.value,
        "return_u32": result.r0,
        "s0": result.s0,
        "instructions": result.instructions,
        "stop_reason": result.stop_reason,
        "exit_code": result.exit_code,
        "stack_used": result.stack_used,
        "buffers": read_buffers(machine, buffers),
        "stdout": machine.stdout(),
    }


#: Rows of the side-by-side table with several boards.
COMPARED = ("stop_reason", "return_value", "exit_code", "instructions", "stack_used")


def run(args: argparse.Namespace) -> int:
    outs = board_columns([(o["board"], o) for o in (_outcome(args, b) for b in args.board)])
    if len(outs) > 1:
        by_board = dict(outs)
        flat = {c: {**{k: o[k] for k in COMPARED},
                    **{f"{t}": str(v if len(v) <= 8 else v[:8] + ["..."])
                       for t, v in o["buffers"].items()}} for c, o in outs}
        table = comparison(flat, list(dict.fromkeys(k for r in flat.values() for k in r)))
        if args.json:
            print_json({"boards": list(by_board), "table": table, "by_board": by_board})
        else:
            what = f"call {args.call[0]}" if args.call else "run from reset"
            print(f"{what} of {args.elf}\n")
            print(format_table(table, ["metric", *by_board]))
        return 0
    out = outs[0][1]
    if args.json:
        print_json(out)
        return 0
    what = f"call {out['call']}" if args.call else "run from reset"
    print(f"{what} on {out['board']}: stop reason {out['stop_reason']}")
    if out["return_type"] == "void":
        print("  return value  none (void function)")
    elif isinstance(out["return_value"], float):
        print(f"  return value  {out['return_value']:.7g} ({out['return_type']})")
    elif out["return_type"]:
        print(f"  return value  {out['return_value']} ({out['return_type']}; "
              f"0x{out['return_u32']:08x})")
    else:
        print(f"  return value  {out['return_value']} (0x{out['return_u32']:08x}; "
              f"s0 = {out['s0']:.7g})")
    if out["exit_code"] is not None:
        print(f"  exit code     {out['exit_code']}")
    print(f"  instructions  {out['instructions']:,}")
    print(f"  stack used    {out['stack_used']:,} bytes")
    for token, values in out["buffers"].items():
        shown = values if len(values) <= 16 else values[:16] + ["..."]
        print(f"  {token}: {shown}")
    if out["stdout"]:
        print("  stdout:\n" + "\n".join("    " + l for l in out["stdout"].splitlines()))
    return 0
