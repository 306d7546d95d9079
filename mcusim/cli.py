"""The ``mcusim`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Sequence

from mcusim import __version__
from mcusim.commands import COMMANDS
from mcusim.errors import McusimError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcusim",
        description="Instruction-level simulator and cycle model for Arm Cortex-M4/M7 "
                    "microcontrollers: build C kernels for a board, run them under emulation, "
                    "and measure cycles, latency and memory without hardware.\n\n"
                    "examples:\n"
                    "  mcusim boards\n"
                    "  mcusim build firmware/basic/mcu_dot_s8.c -b stm32f746zg -o dot.elf\n"
                    "  mcusim run dot.elf -b stm32f746zg --call mcu_dot_s8 buf:int8:1,2 buf:int8:3,4 2\n"
                    "  mcusim profile dot.elf -b stm32f469i --call mcu_dot_s8 buf:int8:1,2 buf:int8:3,4 2\n"
                    "  mcusim kernels bench --board stm32f469i --csv s8.csv\n"
                    "  mcusim demo",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mcusim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"mcusim.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mcusim.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on the command line: one ``mcusim: warning:`` line, no source location."""
    print(f"mcusim: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except McusimError as exc:
        print(f"mcusim: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mcusim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
