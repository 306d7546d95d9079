"""``mcusim search``: searches priced by the simulator (``quant``: bit-width search)."""

from __future__ import annotations

import argparse

from mcusim.commands._search_quant import register_quant

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="searches priced by the simulator ('search quant')",
        description="Searches whose candidates are priced by the simulator.\n\n"
                    "examples:\n"
                    "  mcusim search quant digits_cnn --board stm32f469i --dataset digits "
                    "--episodes 20 --max-latency-ms 4.5 --out quant-out",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    ssub = p.add_subparsers(dest="search_command", metavar="SUBCOMMAND")
    register_quant(ssub)
