"""Benchmark: LUT sweeps of the ``default`` space on both boards, the cache, predictor error.

For each board: a cold sweep of the ``default`` space (about 1,000 s8 configurations) into
an empty cache with a process pool over ``--jobs`` cores (time and rate), then the same
sweep again, served from the cache (the baseline measured in the same run: its time is
reported as a ratio to the cold one).  The ``packed`` and ``trec`` spaces are swept too,
then :func:`mcusim.predict.report.error_report` fits the analytical and learned predictors
on a 70/30 held-out split and on an unseen-model split and prints the summary.

Usage::

    python benchmarks/lut_sweep.py --jobs 2 --out out/lut [--plot out/lut/errors.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BOARDS = ("stm32f469i", "stm32f746zg")


def main(argv: list[str] | None = None) -> int:
    from mcusim.commands._common import format_table
    from mcusim.lut.cache import ResultCache
    from mcusim.lut.spaces import get_space
    from mcusim.lut.sweep import ProcessPool, sweep
    from mcusim.lut.table import write_table
    from mcusim.predict.report import error_report, plot_errors

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: all)")
    ap.add_argument("--out", default="out/lut", help="folder for the tables")
    ap.add_argument("--spaces", nargs="+", default=["default", "packed", "trec"])
    ap.add_argument("--plot", help="predicted-vs-simulated plot (PNG)")
    ap.add_argument("--trees", type=int, default=150, help="boosting iterations (learned)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    timings, tables = [], []
    with tempfile.TemporaryDirectory(prefix="mcusim-lut-bench-") as tmp:
        cache = ResultCache(tmp)
        for board in BOARDS:
            for space in args.spaces:
                configs = get_space(space)
                t0 = time.perf_counter()
                cold = sweep(configs, board, executor=ProcessPool(args.jobs), cache=cache)
                t1 = time.perf_counter()
                warm = sweep(configs, board, executor=ProcessPool(args.jobs), cache=cache)
                t2 = time.perf_counter()
                same = cold.table.equals(warm.table)
                timings.append({
                    "board": board, "space": space, "configs": len(configs),
                    "simulated": cold.ran, "invalid": len(cold.invalid),
                    "cold_s": round(t1 - t0, 1), "rate_cfg_per_s": round(cold.ran / (t1 - t0), 1),
                    "cached_s": round(t2 - t1, 2), "cached_ran": warm.ran,
                    "cached_vs_cold": round((t2 - t1) / (t1 - t0), 4), "same_table": same})
                print(json.dumps(timings[-1]), file=sys.stderr, flush=True)
                write_table(cold.table, out / f"lut_{space}_{board}.parquet")
                tables.append(cold.table)
    import pandas as pd

    from mcusim.predict import AnalyticalPredictor, LearnedPredictor

    models = {"analytical": AnalyticalPredictor,
              "learned": lambda: LearnedPredictor(n_estimators=args.trees)}
    t3 = time.perf_counter()
    rep = error_report(pd.concat(tables, ignore_index=True), models=models)
    print(f"error report: {time.perf_counter() - t3:.0f} s", file=sys.stderr)
    if args.plot:
        plot_errors(rep, args.plot)
    if args.json:
        print(json.dumps({"sweeps": timings, "errors": rep.summary.to_dict(orient="records")},
                         indent=2))
        return 0
    print(format_table(timings, list(timings[0])))
    print()
    cols = ["split", "predictor", "board", "family", "op", "rows", "within_5", "within_10",
            "mean_abs", "max_abs"]
    print(format_table(rep.summary.to_dict(orient="records"), cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
