"""``mcusim lut``: sampling spaces, sweeps into lookup tables, predictors fitted on them."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcusim.commands._common import add_board, format_table, print_json

EPILOG = """\
examples:
  mcusim lut spaces
  mcusim lut sweep --board stm32f469i --space default --out lut-f469.parquet --jobs 2
  mcusim lut sweep --board stm32f746zg --configs my_layers.csv --out lut-f746.parquet
  mcusim lut sweep --board stm32f469i --space default --out lut.parquet --cluster tcp://10.0.0.5:8786
  mcusim lut fit lut-f469.parquet -o f469.predictor
  mcusim lut predict f469.predictor --configs my_layers.csv --out pred.csv
  mcusim lut report lut-f469.parquet --plot errors.png
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lut", help="latency lookup tables: sample layer configurations, sweep, fit, predict",
        description="Build latency lookup tables of layer configurations from simulation "
                    "and fit predictors on them.\n\n" + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    lsub = p.add_subparsers(dest="lut_command", metavar="SUBCOMMAND")

    s = lsub.add_parser("spaces", help="list the built-in sampling spaces",
                        description="List the built-in sampling spaces with their sizes and "
                                    "rows per op.\n\nexample:\n  mcusim lut spaces --json",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--seed", type=int, default=0, help="random seed of the spaces (default 0)")
    s.add_argument("--write", nargs=2, metavar=("NAME", "FILE"),
                   help="also write space NAME to FILE (.csv or .parquet)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=run_spaces)

    w = lsub.add_parser(
        "sweep", help="simulate every configuration of a space or file on a board",
        description="Run every configuration on the board under emulation and write one row "
                    "per configuration (cycles, instructions, cycles by cause, scratch, stack, "
                    "weights and activation bytes, latency, mcusim version, firmware hash). "
                    "Results are cached on disk: a repeated or extended sweep only runs new "
                    "rows, an interrupted one resumes. Invalid rows are reported with the "
                    "reason and skipped (or the table rejected with --strict).\n\n" + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_board(w)
    src = w.add_mutually_exclusive_group()
    src.add_argument("--space", default=None, metavar="NAME",
                     help="built-in space (see 'mcusim lut spaces'; default: default)")
    src.add_argument("--configs", metavar="FILE", help="your configurations (.csv or .parquet)")
    w.add_argument("--seed", type=int, default=0, help="seed of the space (default 0)")
    w.add_argument("--out", "-o", required=True, metavar="LUT",
                   help="output table (.parquet or .csv)")
    w.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="worker processes (default: all cores; 1 = in this process)")
    w.add_argument("--cluster", metavar="ADDRESS",
                   help="Dask scheduler address (tcp://host:8786) instead of local processes")
    w.add_argument("--batch", type=int, default=25, metavar="N",
                   help="configurations per task (default 25)")
    w.add_argument("--cache-dir", metavar="DIR", help="result cache (default: ~/.cache/mcusim/lut)")
    w.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    w.add_argument("--strict", action="store_true",
                   help="reject the whole table on the first invalid row")
    w.add_argument("--invalid", metavar="FILE", help="write the invalid rows with their reason")
    w.add_argument("--json", action="store_true", help="print a JSON summary")
    w.set_defaults(func=run_sweep)

    f = lsub.add_parser("fit", help="fit a predictor on a lookup table",
                        description="Fit a predictor on a sweep table (one board) and save it "
                                    "with the board, families and firmware hash.\n\n" + EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("lut", metavar="LUT", help="sweep table (.parquet or .csv)")
    f.add_argument("-o", "--out", required=True, metavar="PREDICTOR", help="predictor file")
    f.add_argument("--model", choices=("analytical", "gbt", "forest"), default="analytical",
                   help="analytical per-kernel model (default) or a tree ensemble")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.set_defaults(func=run_fit)

    q = lsub.add_parser("predict", help="predict cycles of configurations with a predictor",
                        description="Predict the cycles of every configuration; the output "
                                    "holds the input rows in order plus predicted_cycles and "
                                    "predicted_ms.\n\n" + EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("predictor", metavar="PREDICTOR")
    q.add_argument("--configs", required=True, metavar="FILE")
    q.add_argument("--out", "-o", required=True, metavar="PRED", help=".csv or .parquet")
    q.add_argument("--board", "-b", metavar="BOARD",
                   help="board to predict for (default: the predictor's; another is refused)")
    q.add_argument("--force", action="store_true",
                   help="predict even for another board or a changed firmware")
    q.add_argument("--json", action="store_true", help="print the predictions as JSON")
    q.set_defaults(func=run_predict)

    r = lsub.add_parser("report", help="held-out and unseen-model error of the predictors",
                        description="Fit on part of a sweep table and report, per op, family "
                                    "and board, the share of rows within 5%% and 10%%, the mean "
                                    "and max |error| on a random held-out split and on an "
                                    "unseen-model split (all layers of one model held out)."
                                    "\n\n" + EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("luts", nargs="+", metavar="LUT")
    r.add_argument("--test-size", type=float, default=0.3, help="held-out share (default 0.3)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--plot", metavar="PNG", help="predicted vs simulated plot")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=run_report)


def run_spaces(args: argparse.Namespace) -> int:
    from mcusim.lut.spaces import describe_spaces, get_space
    from mcusim.lut.table import write_table

    rows = describe_spaces(args.seed)
    if args.write:
        write_table(get_space(args.write[0], args.seed), args.write[1])
    if args.json:
        print_json(rows)
        return 0
    shown = [{**r, "families": ",".join(r["families"]),
              "ops": " ".join(f"{k}:{v}" for k, v in r["ops"].items())} for r in rows]
    print(format_table(shown, ["name", "configs", "families", "ops", "description"]))
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    import time

    from mcusim.lut.cache import ResultCache
    from mcusim.lut.spaces import get_space
    from mcusim.lut.sweep import make_executor, sweep
    from mcusim.lut.table import read_table, write_table

    if args.configs:
        configs, source = read_table(args.configs), args.configs
    else:
        name = args.space or "default"
        configs, source = get_space(name, args.seed), f"space {name}"
    cache = False if args.no_cache else ResultCache(args.cache_dir)
    start = time.perf_counter()
    res = sweep(configs, args.board, executor=make_executor(args.jobs, args.cluster),
                cache=cache, batch_size=args.batch,
                on_invalid="reject" if args.strict else "skip", source=source)
    seconds = time.perf_counter() - start
    write_table(res.table, args.out)
    if args.invalid and len(res.invalid):
        write_table(res.invalid, args.invalid)
    summary = {"board": args.board, "out": args.out, "rows": len(res.table),
               "simulated": res.ran, "from_cache": res.cached, "invalid": len(res.invalid),
               "seconds": round(seconds, 2),
               "rate_per_s": round(res.ran / seconds, 2) if seconds > 0 else None,
               "hashes": res.hashes}
    if args.json:
        summary["invalid_rows"] = res.invalid[["row", "op", "family", "reason"]].to_dict(
            orient="records") if len(res.invalid) else []
        print_json(summary)
        return 0
    print(f"{summary['rows']} rows -> {args.out} ({res.ran} simulated, {res.cached} from the "
          f"cache, {seconds:.1f} s)")
    if len(res.invalid):
        print(f"{len(res.invalid)} invalid row(s) skipped:")
        print(format_table(res.invalid.to_dict(orient="records"), ["row", "op", "family", "reason"]))
    return 0


def _estimator(model: str):  # -> estimator
    from mcusim.predict.analytical import AnalyticalPredictor
    from mcusim.predict.learned import LearnedPredictor

    return AnalyticalPredictor() if model == "analytical" else LearnedPredictor(model=model)


def run_fit(args: argparse.Namespace) -> int:
    from mcusim.lut.table import read_table
    from mcusim.predict.store import fit_lut

    bound = fit_lut(read_table(args.lut), _estimator(args.model))
    bound.save(args.out)
    info = {"predictor": args.out, "model": args.model, "board": bound.board,
            "families": bound.families, "hashes": bound.hashes, "rows": bound.meta["rows"]}
    if args.json:
        print_json(info)
    else:
        print(f"fitted {args.model} on {info['rows']} rows of {bound.board} "
              f"({', '.join(bound.families)}) -> {args.out}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from mcusim.boards import get_board
    from mcusim.lut.table import read_table, validate, write_table
    from mcusim.predict.store import load_predictor

    bound = load_predictor(args.predictor)
    configs = read_table(args.configs)
    validate(configs, "reject", source=args.configs)
    problems = bound.check(args.board, force=args.force)
    pred = bound.estimator.predict(configs)
    out = configs.copy()
    out["predicted_cycles"] = pred
    out["predicted_ms"] = pred / get_board(args.board or bound.board).clock_hz * 1e3
    write_table(out, args.out)
    if args.json:
        print_json({"out": args.out, "warnings": problems,
                    "rows": out.to_dict(orient="records")})
    else:
        for msg in problems:
            print(f"warning (forced): {msg}")
        print(f"{len(out)} predictions -> {args.out}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    import pandas as pd

    from mcusim.lut.table import read_table
    from mcusim.predict.report import error_report, plot_errors, summary_text

    lut = pd.concat([read_table(p) for p in args.luts], ignore_index=True)
    rep = error_report(lut, test_size=args.test_size, seed=args.seed)
    if args.plot:
        plot_errors(rep, Path(args.plot))
    if args.json:
        print_json(rep.summary.to_dict(orient="records"))
    else:
        print(summary_text(rep))
    return 0
