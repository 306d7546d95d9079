"""Benchmark: whole-model latency from the lookup table vs the end-to-end simulated run.

For each board: sweep the ``default`` space (and ``packed``/``trec``; served from the disk
cache when already swept; on a board where a model's arena does not fit the default data
region, e.g. CifarNet on the F746, the ``s8`` spaces once more with ``data_region`` set to
the runner's region, :func:`mcusim.predict.models.graph_data_region`), report the analytical predictor's held-out error per family
(:func:`mcusim.predict.report.error_report`, 70/30 split), fit it on the whole ``s8``
table, run every built-in model (:func:`mcusim.model.run.run_model`) and compare the sum of
the predicted operators plus the runner's per-operator overhead (learned from the *other*
models' runs, :func:`mcusim.predict.models.fit_op_overhead`) with the run's total
(:func:`mcusim.predict.models.model_error_report`).  Writes the tables into ``docs/lut.md``
(block ``lut-table``).

Usage::

    python benchmarks/lut_models.py --jobs 2 [--models tiny cifarnet] [--no-publish]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BOARDS = ("stm32f469i", "stm32f746zg")


def _pct(v: float) -> str:
    return f"{100 * v:+.2f}%"


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from _readme import publish  # type: ignore[import-not-found]
    from mcusim.commands._common import format_table
    from mcusim.lut.spaces import get_space
    from mcusim.lut.sweep import ProcessPool, sweep
    from mcusim.model import zoo
    from mcusim.model.run import run_model
    from mcusim.predict import AnalyticalPredictor
    from mcusim.predict.models import graph_data_region, model_error_report
    from mcusim.predict.report import error_report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: all)")
    ap.add_argument("--models", nargs="+", default=None, help="zoo models (default: all)")
    ap.add_argument("--spaces", nargs="+", default=["default", "packed", "trec"])
    ap.add_argument("--no-publish", action="store_true", help="print, do not write docs/lut.md")
    args = ap.parse_args(argv)
    names = args.models or list(zoo.list_models())
    graphs = [zoo.get_model(n) for n in names]
    tables, predictors, runs, times = [], {}, {}, {}
    for board in BOARDS:
        t0 = time.perf_counter()
        spaces = [get_space(s) for s in args.spaces]
        regions = sorted({graph_data_region(g, board) for g in graphs} - {""})
        for region in regions:
            spaces += [sp.assign(data_region=region) for sp in spaces
                       if (sp["family"] == "s8").all()]
        parts = [sweep(sp, board, executor=ProcessPool(args.jobs)).table for sp in spaces]
        lut = pd.concat(parts, ignore_index=True)
        tables.append(lut)
        s8 = lut[lut["family"] == "s8"]
        predictors[board] = AnalyticalPredictor().fit(s8, s8["cycles"].to_numpy(float))
        t1 = time.perf_counter()
        for g in graphs:
            runs[(g.name, board)] = run_model(g, board)
        times[board] = (t1 - t0, time.perf_counter() - t1)
        print(f"{board}: sweep {t1 - t0:.0f} s, {len(graphs)} model runs "
              f"{times[board][1]:.0f} s", file=sys.stderr, flush=True)
    everything = pd.concat(tables, ignore_index=True)
    everything["data_region"] = everything["data_region"].fillna("").astype(str)
    held_rows = []
    for region, part in everything.groupby("data_region", sort=True):
        held = error_report(part.reset_index(drop=True),
                            models={"analytical": AnalyticalPredictor})
        summ = held.summary
        summ = summ[(summ["split"] == "held-out") & (summ["op"] == "all")]
        held_rows += [{"board": r["board"], "family": r["family"],
                       "data region": region or "default", "held-out rows": r["rows"],
                       "within 5%": f"{100 * r['within_5']:.1f}%",
                       "within 10%": f"{100 * r['within_10']:.1f}%",
                       "mean abs": f"{100 * r['mean_abs']:.2f}%",
                       "max abs": f"{100 * r['max_abs']:.1f}%"}
                      for r in summ.to_dict(orient="records")]
    rep = model_error_report(predictors, graphs, runs)
    model_rows = [{"model": r["model"], "board": r["board"], "ops": r["ops"],
                   "arena in": r["data_region"],
                   "simulated": f"{r['simulated']:,}", "predicted": f"{r['predicted']:,}",
                   "overhead/op": r["op_overhead"], "error": _pct(r["error"]),
                   "within 3%": "yes" if abs(r["error"]) <= 0.03 else "NO",
                   "worst op": f"{r['worst_op']} {_pct(r['worst_op_error'])}"}
                  for r in rep.summary.to_dict(orient="records")]
    bad = rep.summary[rep.summary["error"].abs() > 0.03]
    op_rows = []
    for r in bad.to_dict(orient="records"):
        part = rep.ops[(rep.ops["model"] == r["model"]) & (rep.ops["board"] == r["board"])]
        op_rows += [{"model": o["model"], "board": o["board"], "op": o["name"], "kind": o["kind"],
                     "simulated": f"{int(o['simulated_cycles']):,}",
                     "predicted": f"{int(round(o['predicted_cycles'])):,}",
                     "error": _pct(o["error"])} for o in part.to_dict(orient="records")]
    text = ["Analytical predictor, held-out 30% of each sweep (70/30 split, seed 0), per data "
            "region of the activations (`default`: the board's, DTCM on the F746):", "",
            "```", format_table(held_rows, list(held_rows[0])), "```", "",
            "Whole models: sum of the table's predictions for every operator plus the runner's "
            "per-operator overhead (learned from the other models' runs) vs `run_model`'s total:",
            "", "```", format_table(model_rows, list(model_rows[0])), "```"]
    if op_rows:
        text += ["", "Per operator, models outside +-3%:", "", "```",
                 format_table(op_rows, list(op_rows[0])), "```"]
    jobs = f" --jobs {args.jobs}" if args.jobs else ""
    text += ["", f"Measured by `python benchmarks/lut_models.py{jobs}` ("
             + ", ".join(f"{b}: sweep {a:.0f} s, model runs {m:.0f} s"
                         for b, (a, m) in times.items()) + ")."]
    body = "\n".join(text)
    publish("lut-table", body, dry=args.no_publish)
    return 0


if __name__ == "__main__":
    sys.exit(main())
