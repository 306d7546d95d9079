"""The ``mcusim`` command line."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import warnings
from typing import Sequence

from mcusim import __version__
from mcusim.commands import COMMANDS
from mcusim.errors import McusimError

#: Short commands: one machine, one run, little Python work.  Before numpy is imported they
#: keep OpenBLAS from starting its thread pool (its threads spin-wait for a while after
#: start-up: about 40 ms of CPU per process on a 2-core machine, for linear algebra these
#: commands never do), and they run with the cyclic garbage collector off (the collections
#: triggered while importing cost about 5% of a short run).  ``benchmarks/startup.py``.
LIGHT_COMMANDS = frozenset({"boards", "build", "run", "profile"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``mcusim`` argument parser.

    Parameters
    ----------
    command
        Register only this subcommand (what ``mcusim COMMAND ...`` parses identically,
        without importing the modules of the others), or none with ``""`` (what
        ``mcusim --version`` needs); None registers all of them (for ``mcusim`` and
        ``--help``).
    """
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
    for name in COMMANDS if command is None else (command,) if command else ():
        try:
            module = importlib.import_module(f"mcusim.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mcusim.commands.{name}":
                raise
            if command is not None:        # not available: the full parser says so
                return build_parser()
            continue
        module.register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on the command line: one ``mcusim: warning:`` line, no source location."""
    print(f"mcusim: warning: {message}", file=sys.stderr)


def prepare_process(command: str | None) -> bool:
    """Set the process up for ``command`` (see :data:`LIGHT_COMMANDS`); returns whether the
    garbage collector was on (to restore it)."""
    collecting = gc.isenabled()
    if command in LIGHT_COMMANDS:
        if "numpy" not in sys.modules:
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        gc.disable()
    return collecting


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else "" if argv == ["--version"] else None
    collecting = prepare_process(command)
    try:
        return _dispatch(build_parser(command), argv)
    finally:
        if collecting:
            gc.enable()


def _dispatch(parser: argparse.ArgumentParser, argv: list[str]) -> int:
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
