"""``mcusim search``: searches priced by the simulator (``nas``: architecture search,
``quant``: bit-width search)."""

from __future__ import annotations

import argparse
import sys

from mcusim.commands._common import add_board, format_table, print_json
from mcusim.commands._search_quant import register_quant

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="searches priced by the simulator ('search nas', 'search quant')",
        description="Searches whose candidates are priced by the simulator.\n\n"
                    "examples:\n"
                    "  mcusim search nas --board stm32f746zg --dataset digits --rounds 300 \\\n"
                    "      --max-sram 32768 --max-flash 65536 --max-latency-ms 20 --out nas-out\n"
                    "  mcusim search quant digits_cnn --board stm32f469i --dataset digits "
                    "--episodes 20 --max-latency-ms 4.5 --out quant-out",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    ssub = p.add_subparsers(dest="search_command", metavar="SUBCOMMAND")
    register_nas(ssub)
    register_quant(ssub)


def register_nas(ssub: argparse._SubParsersAction) -> None:
    n = ssub.add_parser(
        "nas", help="μNAS aging-evolution architecture search under SRAM/Flash/latency bounds",
        description="Aging evolution (μNAS) over conv/1x1/depthwise blocks and dense layers; "
                    "every candidate is trained (Keras), quantised to int8 (TFLite), its "
                    "accuracy measured on the int8 graph, and priced on the board: peak SRAM "
                    "(memory planner), Flash (weights + kernel code), latency (each layer simulated, "
                    "or the lookup-table predictor). "
                    "Writes candidates.csv, pareto.png, best_*.tflite and summary.json to "
                    "--out; re-running with the same --out resumes. Needs the 'search' extra "
                    "(pip install -e \".[search]\").\n\n"
                    "example:\n  mcusim search nas -b stm32f746zg --dataset digits --rounds 50 "
                    "--max-sram 32768 --max-flash 65536 --max-latency-ms 20 --out nas-out",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_board(n)
    n.add_argument("--dataset", default="digits", choices=["digits"],
                   help="data set (default: digits, scikit-learn's 8x8 digits)")
    n.add_argument("--rounds", type=int, default=100, metavar="N",
                   help="candidates to evaluate, the initial population included (default 100)")
    n.add_argument("--max-sram", type=float, metavar="BYTES", help="peak SRAM limit")
    n.add_argument("--max-flash", type=float, metavar="BYTES", help="Flash limit")
    n.add_argument("--max-latency-ms", type=float, metavar="MS", help="latency limit")
    n.add_argument("--max-error", type=float, default=0.1, metavar="E",
                   help="error bound of the fitness (default 0.1)")
    n.add_argument("--out", required=True, metavar="DIR", help="output directory")
    n.add_argument("--jobs", type=int, default=1, metavar="N", help="local worker processes")
    n.add_argument("--cluster", metavar="ADDRESS",
                   help="Dask scheduler address, or 'local' for a LocalCluster of --jobs workers")
    n.add_argument("--seed", type=int, default=0, metavar="S")
    n.add_argument("--population", type=int, default=100, metavar="P")
    n.add_argument("--sample", type=int, default=25, metavar="S")
    n.add_argument("--epochs", type=int, default=8, metavar="E", help="training epochs per candidate")
    n.add_argument("--latency", choices=["auto", "simulated", "predictor", "macs"],
                   default="auto",
                   help="latency model: simulated (each layer through the emulated kernels, "
                        "cached per layer), predictor (the lookup-table predictor: --predictor "
                        "FILE, or fitted on a small sweep), macs (μNAS's proxy); auto: "
                        "--predictor when given, else simulated")
    n.add_argument("--predictor", metavar="FILE", help="a saved latency predictor (mcusim lut fit)")
    n.add_argument("--validate", type=int, default=3, metavar="N",
                   help="besides the Pareto front, run N other candidates on the board (default 3)")
    n.add_argument("--json", action="store_true", help="print the summary as JSON")
    n.set_defaults(func=run_nas_command)


def run_nas_command(args: argparse.Namespace) -> int:
    from mcusim.search.nas.run import run_nas
    from mcusim.search.nas.study import Bounds
    from mcusim.search.nas.train import TrainConfig

    bounds = Bounds(error=args.max_error, peak_sram=args.max_sram, flash_bytes=args.max_flash,
                    latency_ms=args.max_latency_ms)
    res = run_nas(board=args.board, dataset=args.dataset, rounds=args.rounds, bounds=bounds,
                  out=args.out, jobs=args.jobs, cluster=args.cluster, seed=args.seed,
                  population=args.population, sample=args.sample, latency=args.latency,
                  predictor=args.predictor, train=TrainConfig(epochs=args.epochs),
                  validate=args.validate, progress=None if not args.json else False)
    if args.json:
        print_json(res.summary)
    else:
        cols = ["trial", "description", "accuracy", "peak_sram", "flash_bytes", "latency_ms"]
        rows = [{k: r.get(k) for k in cols} for r in res.summary.get("front", [])]
        if rows:
            print(format_table(rows, cols))
        print(res.message)
        print(f"wrote {args.out}/candidates.csv, pareto.png, summary.json")
    if res.summary.get("feasible", 0) == 0:
        print(f"mcusim: {res.message}", file=sys.stderr)
        return 3
    return 0
