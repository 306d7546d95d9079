"""μNAS on digits priced by simulated latency, and the same search with MACs as the proxy.

1. Runs :func:`mcusim.search.nas.run.run_nas` on scikit-learn's digits for a board (default
   STM32F746ZG, bounds 32 KiB peak SRAM, 64 KiB Flash, a latency bound) with the latency of
   every candidate simulated (each layer through the emulated ``s8`` kernels).
2. Runs the same search (same seed, space, training, bounds) with μNAS's MAC proxy: latency
   = MACs x the median cycles per MAC of search 1's candidates (the best single conversion
   factor), then prices that search's candidates by simulation too.
3. Reports the run times, the best int8 accuracy (validation and test) of the feasible
   candidates, Spearman's rank correlation between MACs and simulated latency over all
   evaluated candidates, and how many candidates the MAC proxy calls feasible that the
   simulated latency rejects (and the reverse) for the latency bound; validation of the front
   on the board (the model runner's fit).  Writes the table into the page of the
   ``nas-table`` block (``<!-- nas-table:start -->`` ... ``<!-- nas-table:end -->``, see
   ``benchmarks/_readme.py``), or prints it.

Usage::

    python benchmarks/nas_search.py [--rounds 300] [--jobs 2] [--out out/nas-bench]
        [--max-latency-ms 2] [--population 100] [--sample 25] [--no-proxy] [--report-only]

Both searches checkpoint into ``--out``; re-running resumes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _readme import publish
from mcusim.boards import get_board
from mcusim.model.tflite_io import read_tflite
from mcusim.search.nas.compare import mac_comparison, spearman
from mcusim.search.nas.pricing import MacsLatency
from mcusim.search.nas.run import run_nas
from mcusim.search.nas.simulate import SimulatedLatency
from mcusim.search.nas.study import Bounds
from mcusim.search.nas.train import TrainConfig


def _best(df: pd.DataFrame, feasible: pd.Series) -> dict:
    ok = df[feasible & df["accuracy"].notna()]
    if ok.empty:
        return {"trial": None, "accuracy": float("nan"), "test_accuracy": float("nan")}
    r = ok.loc[ok["accuracy"].idxmax()]
    return {"trial": int(r["trial"]), "description": r["description"],
            "accuracy": float(r["accuracy"]), "test_accuracy": float(r["test_accuracy"]),
            "peak_sram": int(r["peak_sram_predicted"]), "flash_bytes": int(r["flash_bytes"]),
            "latency_ms": float(r["latency_ms"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="stm32f746zg")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--sample", type=int, default=25)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-sram", type=float, default=32 * 1024)
    ap.add_argument("--max-flash", type=float, default=64 * 1024)
    ap.add_argument("--max-latency-ms", type=float, default=2.0)
    ap.add_argument("--max-error", type=float, default=0.05)
    ap.add_argument("--out", default="out/nas-bench")
    ap.add_argument("--no-proxy", action="store_true", help="skip the MAC-proxy search")
    ap.add_argument("--page", default=None,
                    help="page to write the table into (default: the nas-table block's page)")
    ap.add_argument("--report-only", action="store_true",
                    help="only rewrite the table from <out>/benchmark.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.report_only:
        result = json.loads((out / "benchmark.json").read_text())
        publish("nas-table", _table(result), Path(args.page) if args.page else None)
        return 0
    board = get_board(args.board)
    bounds = Bounds(error=args.max_error, peak_sram=args.max_sram, flash_bytes=args.max_flash,
                    latency_ms=args.max_latency_ms)
    common = dict(board=board.name, dataset="digits", rounds=args.rounds, bounds=bounds,
                  jobs=args.jobs, seed=args.seed, population=args.population,
                  sample=args.sample, train=TrainConfig(epochs=args.epochs), progress=True)

    t0 = time.perf_counter()
    sim = run_nas(out=out / "simulated", latency="simulated", **common)
    t_sim = time.perf_counter() - t0
    a = sim.candidates
    ok = a[a["status"] == "ok"]
    cpm = float(np.median(ok["latency_cycles"] / ok["macs"].clip(lower=1)))
    comp = mac_comparison(ok, latency_bound_ms=args.max_latency_ms)
    result = {"board": board.name, "rounds": args.rounds, "population": args.population,
              "sample": args.sample, "jobs": args.jobs, "epochs": args.epochs,
              "bounds": vars(bounds), "simulated": {
                  "run_s": round(t_sim, 1), "evaluated": int(len(ok)),
                  "feasible": int(a["feasible"].sum()), "front": int(len(sim.front)),
                  "best": _best(a, a["feasible"].astype(bool)),
                  "mean_candidate_s": float(ok["duration_s"].mean())},
              "cycles_per_mac_median": cpm, "mac_comparison": comp,
              "validation": sim.validation.to_dict("records")}

    if not args.no_proxy:
        t0 = time.perf_counter()
        proxy = run_nas(out=out / "macs", latency=MacsLatency(cycles_per_mac=cpm), **common)
        t_proxy = time.perf_counter() - t0
        b = proxy.candidates
        simulate = SimulatedLatency(board.name)
        true_ms = []
        for _i, r in b.iterrows():
            path = r.get("tflite_path")
            if r["status"] != "ok" or not isinstance(path, str):
                true_ms.append(np.nan)
                continue
            true_ms.append(float(simulate.predict_graph(read_tflite(path)).sum())
                           / board.clock_hz * 1e3)
        b = b.assign(latency_ms_simulated=true_ms)
        b.to_csv(out / "macs" / "candidates_simulated.csv", index=False)
        proxy_ok = b["feasible"].astype(bool)
        really = proxy_ok & (b["latency_ms_simulated"] <= args.max_latency_ms)
        okb = b[b["status"] == "ok"]
        result["mac_proxy_search"] = {
            "run_s": round(t_proxy, 1), "evaluated": int(len(okb)),
            "feasible_by_proxy": int(proxy_ok.sum()),
            "rejected_by_simulation": int((proxy_ok & ~really).sum()),
            "best_by_proxy": _best(b, proxy_ok), "best_truly_feasible": _best(b, really),
            "spearman_macs_vs_simulated": spearman(okb["macs"], okb["latency_ms_simulated"])}
    (out / "benchmark.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    publish("nas-table", _table(result), Path(args.page) if args.page else None)
    return 0


def _table(r: dict) -> str:
    s = r["simulated"]
    best = s["best"]
    c = r["mac_comparison"]
    lines = [
        f"μNAS on digits, {r['board']}, {r['rounds']} rounds (population {r['population']}, "
        f"sample {r['sample']}, {r['epochs']} epochs per candidate, {r['jobs']} workers); "
        f"bounds: peak SRAM {r['bounds']['peak_sram']:.0f} B, Flash "
        f"{r['bounds']['flash_bytes']:.0f} B, latency {r['bounds']['latency_ms']} ms "
        "(`python benchmarks/nas_search.py`).", "",
        "| search | wall time of this invocation | candidates | feasible | best feasible int8 accuracy (val / test) "
        "| its peak SRAM / Flash / latency |", "|---|---|---|---|---|---|",
        f"| simulated latency | {s['run_s'] / 60:.1f} min ({s['mean_candidate_s']:.1f} s per "
        f"candidate) | {s['evaluated']} | {s['feasible']} | "
        f"{best['accuracy']:.3f} / {best['test_accuracy']:.3f} | "
        f"{best.get('peak_sram', '-')} B / {best.get('flash_bytes', '-')} B / "
        f"{best.get('latency_ms', float('nan')):.3f} ms |"]
    m = r.get("mac_proxy_search")
    if m:
        bp, bt = m["best_by_proxy"], m["best_truly_feasible"]
        lines.append(
            f"| MACs as latency (x{r['cycles_per_mac_median']:.2f} cycles/MAC) | "
            f"{m['run_s'] / 60:.1f} min | {m['evaluated']} | {m['feasible_by_proxy']} by the "
            f"proxy, {m['rejected_by_simulation']} of them over the bound when simulated | "
            f"{bp['accuracy']:.3f} / {bp['test_accuracy']:.3f} (truly feasible: "
            f"{bt['accuracy']:.3f} / {bt['test_accuracy']:.3f}) | |")
    lines += ["", f"MACs vs simulated latency over the {c['candidates']} candidates of the first "
              f"search: Spearman {c['spearman']:.3f}; with the latency bound as a MAC bound "
              f"({c['mac_bound']:.0f} MACs at the median {c['macs_per_ms']:.0f} MACs/ms), the "
              f"MAC proxy calls {c['proxy_only']} candidates feasible that the simulated "
              f"latency rejects, and rejects {c['latency_only']} that it accepts "
              f"({c['both']} both accept)."]
    v = [x for x in r.get("validation", []) if x.get("latency_ms_measured") is not None]
    if v:
        err = max(abs(float(x["latency_error_pct"])) for x in v)
        same = sum(x["runner_sram_predicted"] == x["peak_sram_measured"] for x in v)
        arena = sum(x["arena_measured"] <= x["peak_sram_predicted"] for x in v)
        gap = [float(x["flash_measured"]) - float(x["flash_bytes_predicted"]) for x in v]
        lines += ["", f"Validation (`mcusim model fit` of {len(v)} exported models: the front and "
                  f"a random sample): every one fits; predicted latency within "
                  f"{err:.2f}% of the simulated whole-model run; runner peak SRAM predicted = "
                  f"measured for {same} of {len(v)}; arena touched <= planned for {arena}; Flash "
                  f"estimate (weights + the kernels the model calls) {min(gap):.0f}-{max(gap):.0f} B "
                  "below the runner's image, which links the whole s8 family, the runtime and "
                  "the generated runner."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
