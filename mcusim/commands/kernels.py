"""``mcusim kernels``: list the bundled kernels, or benchmark them on real layer shapes."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcusim.commands._common import add_board, format_table, print_json
from mcusim.kernels.layers import BUILTIN_LAYERS, get_layer
from mcusim.kernels.registry import FAMILY_MODULES, available_families, get_family

SHOWN = ["board", "family", "kernel", "layer", "macs", "cycles", "macs_per_cycle",
         "latency_us", "scratch_bytes", "weight_bytes"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "kernels", help="list the bundled NN kernels, or benchmark them ('kernels bench')",
        description="List the bundled neural-network kernels (families: "
                    f"{', '.join(FAMILY_MODULES)}), or run 'kernels bench' to measure them on "
                    "the built-in CifarNet and SqueezeNet layer shapes.\n\n"
                    "examples:\n  mcusim kernels\n"
                    "  mcusim kernels bench --board stm32f469i --family s8 --csv s8.csv\n"
                    "  mcusim kernels bench --layer cifarnet.conv1 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_list)
    ksub = p.add_subparsers(dest="kernels_command", metavar="SUBCOMMAND")
    b = ksub.add_parser(
        "bench", help="measure kernels on built-in layer shapes",
        description="Run each kernel under emulation on the built-in layers and print per "
                    "layer: MACs, cycles, MACs/cycle, latency at the board clock, scratch and "
                    "weight bytes. Layers: " + ", ".join(l.name for l in BUILTIN_LAYERS) +
                    "\n\nexample:\n  mcusim kernels bench -b stm32f469i -b stm32f746zg --csv kernels.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_board(b, multiple=True)
    b.add_argument("--family", action="append", choices=list(FAMILY_MODULES),
                   help="kernel family (repeatable; default: all)")
    b.add_argument("--layer", action="append", metavar="LAYER",
                   help="layer name (repeatable; default: all built-in layers)")
    b.add_argument("--csv", metavar="FILE", help="write one row per (board, kernel, layer)")
    b.add_argument("--json", action="store_true", help="print the rows as JSON")
    b.set_defaults(func=run_bench_command)


def run_list(args: argparse.Namespace) -> int:
    rows = []
    for family in available_families():
        for info in get_family(family).list_kernels():
            rows.append({"family": info.family, "kernel": info.name, "symbol": info.symbol,
                         "description": info.description})
    if args.json:
        print_json(rows)
    else:
        print(format_table(rows, ["family", "kernel", "symbol", "description"]))
    return 0


def run_bench_command(args: argparse.Namespace) -> int:
    from mcusim._files import check_output
    from mcusim.kernels.bench import DEFAULT_BOARDS, run_bench  # pandas: only for this command

    for name in args.layer or ():
        get_layer(name)                       # an unknown name fails before any work
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        check_output(args.csv, "--csv file")
    frame = run_bench(args.board or DEFAULT_BOARDS, args.family, args.layer)
    if "macs_per_cycle" not in frame.columns and len(frame):
        frame.insert(6, "macs_per_cycle", frame["macs"] / frame["cycles"])
    if args.csv:
        frame.to_csv(args.csv, index=False)
    if args.json:
        print_json(frame.to_dict(orient="records"))
    else:
        cols = [c for c in SHOWN if c in frame.columns]
        print(format_table(frame.to_dict(orient="records"), cols))
        if args.csv:
            print(f"\nwrote {len(frame)} rows to {args.csv}")
    return 0
