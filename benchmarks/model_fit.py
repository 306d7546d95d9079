"""Fit every built-in model and the MLPerf Tiny models on both boards; write docs/models.md.

For each (model, board): the arena of each planner (and TensorFlow Lite Micro's planned
"head" where the shared README states it), peak SRAM predicted by the plan and the static stack
analysis next to what the emulated board measured, Flash, cycles and latency of one inference
(sum of the operators, and one ``mcusim_model_invoke()`` with the runner's overhead), and the
verdict.  Published board latencies of the MLPerf Tiny models are listed next to them for
orientation (other boards, engines and compilers: not a like-for-like comparison).

Usage::

    python benchmarks/model_fit.py [--shared ../shared/models] [--doc docs/models.md] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from _readme import publish
from mcusim._paths import shared_models_dir
from mcusim.model import load_model
from mcusim.model.plan import plan_summary
from mcusim.model.report import fit
from mcusim.model.zoo import list_models

BOARDS = ("stm32f469i", "stm32f746zg")
#: TFLite Micro's planned "head" (non-persistent arena) for the shared models, from
#: shared/models/README.md (``print_allocations()`` of the PyPI tflite-micro interpreter).
TFLM_HEAD = {"kws_ref_model": 16_000, "pretrainedResnet_quant": 49_152}
#: Published MLPerf Tiny latencies (shared/models/README.md): DISCO-F746NG, Cortex-M7 216 MHz,
#: Plumerai's engine, v1.0.
PUBLISHED_F746_MS = {"kws_ref_model": 19.1, "pretrainedResnet_quant": 64.8}


def shared_models(folder: Path | None) -> list[Path]:
    """The ``.tflite`` files of the shared models folder (empty when it is absent)."""
    folder = shared_models_dir(folder)
    return sorted(folder.glob("*.tflite")) if folder.is_dir() else []


def run(models: list[str | Path]) -> pd.DataFrame:
    rows = []
    for spec in models:
        graph = load_model(spec)
        for board in BOARDS:
            print(f"{graph.name} on {board}", file=sys.stderr)
            arenas = plan_summary(graph, board).set_index("planner").arena_bytes
            rep = fit(graph, board, planner="best", invoke=True)
            r = rep.run
            rows.append({
                "model": graph.name, "board": board, "macs": graph.total_macs(),
                "weights": graph.weight_bytes(),
                "arena_linear": int(arenas["linear"]), "arena_greedy": int(arenas["greedy"]),
                "arena_best": int(arenas["best"]), "tflm_head": TFLM_HEAD.get(graph.name),
                "fits": rep.fits,
                "peak_predicted": r.peak_sram_predicted if r else None,
                "peak_measured": r.peak_sram_measured if r else None,
                "stack_predicted": r.stack_predicted if r else None,
                "stack_measured": r.stack_measured if r else None,
                "flash": r.flash_bytes if r else None,
                "cycles": r.cycles if r else None,
                "invoke_cycles": r.extra.get("invoke_cycles") if r else None,
                "latency_ms": r.latency_ms if r else None,
                "published_f746_ms": PUBLISHED_F746_MS.get(graph.name) if board == "stm32f746zg"
                else None,
                "verdict": rep.verdict,
            })
    return pd.DataFrame(rows)


def _n(v: object) -> str:
    return "–" if v is None or (isinstance(v, float) and pd.isna(v)) else f"{int(v):,}"


def table(df: pd.DataFrame) -> str:
    lines = ["| model | board | MACs | weights [B] | arena linear / greedy / best [B] "
             "| TFLM head [B] | peak SRAM predicted / measured [B] | stack pred. / meas. [B] "
             "| Flash [B] | cycles (operators) | cycles (invoke) | latency [ms] | verdict |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in df.itertuples():
        diff = ""
        if r.peak_predicted is not None and r.peak_measured is not None \
                and r.peak_predicted != r.peak_measured:
            diff = f" (differ by {int(r.peak_measured) - int(r.peak_predicted):+,})"
        lat = "–" if r.latency_ms is None or pd.isna(r.latency_ms) else f"{r.latency_ms:.2f}"
        if r.published_f746_ms is not None and not pd.isna(r.published_f746_ms):
            lat += f" (published {r.published_f746_ms})"
        lines.append(
            f"| {r.model} | {r.board} | {r.macs:,} | {r.weights:,} "
            f"| {r.arena_linear:,} / {r.arena_greedy:,} / {r.arena_best:,} | {_n(r.tflm_head)} "
            f"| {_n(r.peak_predicted)} / {_n(r.peak_measured)}{diff} "
            f"| {_n(r.stack_predicted)} / {_n(r.stack_measured)} | {_n(r.flash)} "
            f"| {_n(r.cycles)} | {_n(r.invoke_cycles)} | {lat} | {r.verdict.split(':')[0]} |")
    equal = df.dropna(subset=["peak_measured"])
    same = int((equal.peak_predicted == equal.peak_measured).sum())
    below = df.dropna(subset=["tflm_head"])
    lines += ["", f"Peak SRAM predicted = measured to the byte in {same} of {len(equal)} runs. "
              + (f"The best planner's arena is below TFLite Micro's planned head for "
                 f"{int((below.arena_best <= below.tflm_head).sum())} of {len(below)} "
                 f"(model, board) pairs of the shared models. " if len(below) else "")
              + "Latency = sum of the operators at the board clock; 'invoke' is one "
              "`mcusim_model_invoke()` including the runner's own code. Published latencies "
              "(MLPerf Tiny v1.0, DISCO-F746NG, Plumerai's engine) are for orientation: another "
              "engine and compiler. Generated by `python benchmarks/model_fit.py`."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=None, help="folder of .tflite models")
    ap.add_argument("--doc", type=Path, default=None, help="page to write (default docs/models.md)")
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args(argv)
    df = run(list(list_models()) + shared_models(args.shared))
    if args.csv:
        df.to_csv(args.csv, index=False)
    publish("models-table", table(df), args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
