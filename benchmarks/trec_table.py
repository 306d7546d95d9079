"""Measure TREC on both boards and write the results table into docs/kernels_trec.md.

Runs :func:`mcusim.kernels.trec_bench.bench` on STM32F469I and STM32F746ZG for CifarNet
conv1/conv2 and SqueezeNet fire2.expand3x3 on photo, digit and noise inputs, and writes a
markdown table between ``<!-- trec-table:start -->`` and ``<!-- trec-table:end -->`` in
docs/kernels_trec.md (or prints it when the markers are missing), next to the seed's claims.

Usage::

    python benchmarks/trec_table.py [--doc docs/PAGE.md] [--csv out.csv] [--sources photo,noise]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from _readme import publish
from mcusim.boards import get_board
from mcusim.kernels import trec_bench

BOARDS = ("stm32f469i", "stm32f746zg")
SHORT = {"stm32f469i": "F469", "stm32f746zg": "F746"}


def run(sources: tuple[str, ...]) -> pd.DataFrame:
    """All bench rows of both boards."""
    rows = []
    for name in BOARDS:
        board = get_board(name)
        rows += trec_bench.bench(board, trec_bench.default_layers(), sources=sources,
                                 progress=lambda msg: print(msg, file=sys.stderr))
    return pd.DataFrame(rows)


def _fmt_speed(v: float) -> str:
    return "does not fit" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}x"


def table(df: pd.DataFrame) -> str:
    """Markdown: one line per (layer, input, L, H), both boards and both layouts."""
    space, orig = df[df.layout == "space"], df[df.layout == "orig"]
    lines = ["| layer | input | L | H | removed | speedup F469 (orig) | speedup F746 (orig) "
             "| TREC cycles F469 / F746 | SRAM overhead space / orig [B] | rel. L2 err "
             "| outputs differ |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = ["layer", "input", "L", "H"]
    for (layer, source, sub, bits), g in space.groupby(keys, sort=False):
        o = orig[(orig.layer == layer) & (orig.input == source) & (orig.L == sub) & (orig.H == bits)]
        by = {r.board: r for r in g.itertuples()}
        ob = {r.board: r for r in o.itertuples()}
        ref = next(iter(by.values()))
        speeds, cycles = [], []
        for b in BOARDS:
            s, so = by.get(b), ob.get(b)
            speeds.append(f"{_fmt_speed(s.speedup_vs_s8) if s else '-'} "
                          f"({_fmt_speed(so.speedup_vs_s8) if so else '-'})")
            cycles.append(f"{s.cycles / 1e6:.2f}M" if s else "-")
        lines.append(
            f"| {layer} | {source} | {sub} | {bits} | {100 * ref.redundancy_removed:.1f}% "
            f"| {speeds[0]} | {speeds[1]} | {' / '.join(cycles)} "
            f"| {int(ref.sram_overhead_space_bytes):,} / {int(ref.sram_overhead_orig_bytes):,} "
            f"| {ref.rel_l2_error:.3f} | {100 * ref.frac_outputs_differ:.0f}% |")
    return "\n".join(lines)


def summary(df: pd.DataFrame) -> str:
    """Sentences comparing mcusim's numbers with the seed's claims (numbers from ``df``)."""
    space = df[(df.layout == "space") & df.fits_sram]
    orig = df[df.layout == "orig"]
    photo, noise = space[space.input == "photo"], space[space.input == "noise"]
    best = photo.loc[photo.groupby("layer").speedup_vs_s8.idxmax()]
    best_txt = ", ".join(f"{r.layer} {r.speedup_vs_s8:.2f}x ({r.kernel}, {r.board})"
                         for r in best.itertuples())
    ratio = (orig.sram_overhead_orig_bytes / orig.sram_overhead_space_bytes)
    n_fit, n_orig = int(orig.fits_sram.sum()), len(orig)
    faster = space.merge(orig[orig.fits_sram], on=["board", "layer", "input", "L", "H"],
                         suffixes=("", "_o"))
    return (
        "**How this compares with the seed.** The seed reports that TREC removes about 96% of "
        "the convolution work and speeds inference up 3.4-5x. On photographs mcusim's "
        "space-efficient kernel removes "
        f"{100 * photo.redundancy_removed.min():.0f}-{100 * photo.redundancy_removed.max():.0f}% "
        "of the sub-vector products (noise: "
        f"{100 * noise.redundancy_removed.min():.0f}-{100 * noise.redundancy_removed.max():.0f}%), "
        "so the redundancy claim holds on natural images, but the measured speedup over the "
        f"int8 SMLAD convolution is {photo.speedup_vs_s8.min():.2f}-{photo.speedup_vs_s8.max():.2f}x "
        f"(best per layer: {best_txt}). Removed products are not removed cycles: per row and "
        "block TREC still gathers the sub-vector, computes H projections, adds it to its "
        "cluster's sum and adds the cluster's C_out-H products back into the row's int32 "
        "accumulators (three memory accesses per add, a cost that shrinks only as 1/L), and "
        "its baseline here is a SIMD kernel rather than a plain loop, so larger L wins on "
        "the MCU even though it removes a little less. The errors are large because the "
        "weights are random and the network was not trained with TREC in the loop (the seed "
        "retrains, and kernel reuse makes the first H channels exact). The original layout "
        f"needs {ratio.min():.1f}-{ratio.max():.1f}x the SRAM of the space-efficient stack; "
        f"only {n_fit} of its {n_orig} configurations fit in the free SRAM of the board"
        + (f", and where it fits it is {(faster.cycles_o / faster.cycles).min():.2f}-"
           f"{(faster.cycles_o / faster.cycles).max():.2f}x slower (it zeroes its 2^H "
           "arrays for every block)." if len(faster) else ".")
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc", type=Path, default=None,
                    help="page to update (default: its page in docs/)")
    ap.add_argument("--csv", type=Path, default=None, help="also write all rows as CSV")
    ap.add_argument("--sources", default="photo,digits,noise")
    args = ap.parse_args(argv)
    df = run(tuple(args.sources.split(",")))
    if args.csv:
        df.to_csv(args.csv, index=False)
    sources = sorted(set(df.cycles_source[df.fits_sram]))
    text = (table(df) + "\n\n" + summary(df) + "\n\nSpeedup = cycles of the int8 `s8` "
            "convolution (`mnn_convolve_wrapper_s8`) / cycles of the TREC kernel, same input and "
            "weights (in parentheses: original layout, `does not fit` = its scratch does not fit the "
            "free SRAM); removed = 1 - clusters / sub-vectors; SRAM overhead = TREC scratch "
            "minus the s8 convolution's scratch (the original layout also stores an H x K hash "
            "matrix in Flash); errors of the space-efficient kernel's int8 output against the "
            "exact int8 convolution; one image per input source, random weights, "
            f"cycles from: {', '.join(sources)}. Generated by `python benchmarks/trec_table.py`.")
    publish("trec-table", text, args.doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
