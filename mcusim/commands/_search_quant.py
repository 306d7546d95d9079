"""``mcusim search quant``: the RLQuant bit-width search (registered by
:mod:`mcusim.commands.search`)."""

from __future__ import annotations

import argparse
import sys

from mcusim.commands._common import add_board, format_table, print_json

__all__ = ["register_quant", "run_quant_command"]

EXAMPLE = ("example:\n  mcusim search quant digits_cnn -b stm32f469i --dataset digits --episodes 20 "
           "--max-latency-ms 4.5 --out quant-out")


def register_quant(ssub: argparse._SubParsersAction) -> None:
    """Add ``quant`` to the ``search`` subcommands."""
    q = ssub.add_parser(
        "quant", help="RLQuant per-layer bit-width search priced by the packed kernels",
        description="Per-layer (w_bits, a_bits) in {2,4,8}^2 chosen by a REINFORCE agent over "
                    "HAQ's layer features; each episode is fine-tuned with learned step sizes "
                    "(LSQ, Keras) and rewarded with its accuracy; latency comes from the "
                    "packed kernels simulated on the board, peak SRAM and Flash from the "
                    "planner; budgets are enforced by lowering bits from the last layer back. "
                    "The best policy is deployed on the emulated board. Writes bits.json, "
                    "trace.csv, trace.png, model.tflite, fit.txt/fit.json, baselines.csv and "
                    "summary.json to --out. MODEL: digits_cnn, a built-in model (mcusim model "
                    "list) or an int8 .tflite (e.g. from 'mcusim search nas'). Needs the "
                    "'search' extra (pip install -e \".[search]\").\n\n" + EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("model", metavar="MODEL")
    add_board(q)
    q.add_argument("--dataset", default="digits", choices=["digits"], help="data set")
    q.add_argument("--episodes", type=int, default=20, metavar="N")
    q.add_argument("--max-latency-ms", type=float, metavar="MS", help="latency budget")
    q.add_argument("--max-sram", type=int, metavar="BYTES", help="peak SRAM budget")
    q.add_argument("--max-flash", type=int, metavar="BYTES", help="Flash budget")
    q.add_argument("--epochs", type=int, default=1, metavar="E",
                   help="fine-tune epochs per episode (default 1)")
    q.add_argument("--pretrain-epochs", type=int, default=20, metavar="E",
                   help="float pre-training epochs of the starting model (default 20)")
    q.add_argument("--final-epochs", type=int, default=3, metavar="E",
                   help="fine-tune epochs of the deployed policy and the baselines (default 3)")
    q.add_argument("--no-baselines", action="store_true", help="skip the baselines")
    q.add_argument("--seed", type=int, default=0, metavar="S")
    q.add_argument("--out", required=True, metavar="DIR", help="output directory")
    q.add_argument("--json", action="store_true", help="print the summary as JSON")
    q.set_defaults(func=run_quant_command)


def run_quant_command(args: argparse.Namespace) -> int:
    from mcusim.search.quant.budget import Budget
    from mcusim.search.quant.run import run_quant

    if args.episodes < 1:
        print("mcusim: error: --episodes must be at least 1", file=sys.stderr)
        return 2
    progress = None if args.json else print
    res = run_quant(args.model, args.board, dataset=args.dataset, episodes=args.episodes,
                    budget=Budget(args.max_latency_ms, args.max_sram, args.max_flash),
                    out=args.out, epochs=args.epochs, pretrain_epochs=args.pretrain_epochs,
                    final_epochs=args.final_epochs, seed=args.seed,
                    baselines=not args.no_baselines, progress=progress)
    s = res.summary
    if args.json:
        print_json(s)
        return 0
    rows = [{"layer": k, "bits": f"w{v[0]}a{v[1]}", "kernel": s["kernels"][k]}
            for k, v in s["bits"].items()]
    rows += [{"layer": k, "bits": "w8a8", "kernel": f"s8 ({why})"}
             for k, why in s["kept_8_bit"].items()]
    print(format_table(rows, ["layer", "bits", "kernel"]))
    print(f"accuracy {s['accuracy']:.4f}; latency {s['latency_ms']:.3f} ms predicted, "
          f"{s['measured_latency_ms']} ms measured; peak SRAM {s['peak_sram_bytes']:,} B; "
          f"Flash {s['flash_bytes']:,} B")
    print(f"wrote {res.out}/bits.json, trace.csv, trace.png, model.tflite, fit.txt, "
          "baselines.csv, summary.json")
    return 0
