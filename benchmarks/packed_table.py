"""Measure the packed low-bit kernels on both boards and write the table into docs/kernels_packed.md.

Runs :func:`mcusim.kernels.packed_bench.bench` on STM32F469I and STM32F746ZG for the fully
connected and convolution layers of CifarNet and SqueezeNet (every output checked bit-exactly
against numpy), sums the cycles over the layers per bit-width pair, and writes a markdown
table between ``<!-- packed-table:start -->`` and ``<!-- packed-table:end -->`` in
docs/kernels_packed.md
(or prints it when the markers are missing).  Per pair the table names the fastest of the
operand-packing kernel, the unpack + SMLAD kernel and the int8 baseline, as measured.

Usage::

    python benchmarks/packed_table.py [--doc docs/PAGE.md] [--csv out.csv] [--from-csv in.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from _readme import publish
from mcusim.boards import get_board
from mcusim.kernels import packed_bench
from mcusim.kernels.layers import BUILTIN_LAYERS

BOARDS = ("stm32f469i", "stm32f746zg")
NAMES = {"packed": "packing", "smlad": "unpack+SMLAD", "s8": "int8 (s8)"}


def run() -> pd.DataFrame:
    """All bench rows of both boards."""
    rows = []
    for name in BOARDS:
        rows += packed_bench.bench(get_board(name), BUILTIN_LAYERS,
                                   progress=lambda msg: print(msg, file=sys.stderr))
    return pd.DataFrame(rows)


def totals(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (board, pair): cycles and bytes summed over the layers."""
    out = []
    for (board, bw, ba), g in df.groupby(["board", "w_bits", "a_bits"], sort=False):
        pk, sm = g[g.strategy == "packed"], g[g.strategy == "smlad"]
        cyc = {"packed": pk.cycles.sum(), "smlad": sm.cycles.sum(),
               "s8": pk.s8_cycles.sum()}
        wins = int((pk.set_index("layer").cycles < sm.set_index("layer").cycles).sum())
        beats_s8 = int((pk.cycles < pk.s8_cycles).sum())
        out.append({
            "board": board, "pair": f"w{bw}a{ba}", "packed": cyc["packed"], "smlad": cyc["smlad"],
            "s8": cyc["s8"], "vs_s8": cyc["s8"] / cyc["packed"],
            "vs_smlad": cyc["smlad"] / cyc["packed"], "layer_wins": wins, "layers": len(pk),
            "beats_s8": beats_s8,
            "weights": int(pk.weight_bytes.sum()), "s8_weights": int(pk.s8_weight_bytes.sum()),
            "activations": int(pk.activation_bytes.sum()),
            "fastest": min(cyc, key=lambda k: cyc[k]),
            "lanes": int(pk.lanes.iloc[0]), "lane_bits": int(pk.lane_bits.iloc[0]),
            "drain": int(pk.drain_interval.iloc[0]), "source": g.cycles_source.iloc[0],
        })
    return pd.DataFrame(out)


def _cpi_note(df: pd.DataFrame) -> str:
    """Cycles per instruction of both strategies for the pairs drained after every multiply."""
    parts = []
    for board, g in df.groupby("board", sort=False):
        sel = g[(g.lanes == 4) & (g.drain_interval == 1)]
        sm = g[(g.strategy == "smlad") & g.w_bits.isin(sel.w_bits) & g.a_bits.isin(sel.a_bits)]
        if len(sel) and len(sm):
            parts.append(f"{board} {sel.cycles.sum() / sel.instructions.sum():.2f} vs "
                         f"{sm.cycles.sum() / sm.instructions.sum():.2f}")
    if not parts:
        return ""
    return ("Cycles per instruction of packing vs unpack+SMLAD for the pairs drained after "
            f"every multiply (w2a4, w4a2): {'; '.join(parts)}. ")


def table(df: pd.DataFrame) -> str:
    """Markdown table (one line per board and pair) plus a short summary."""
    t = totals(df)
    lines = ["| board | pair | products / multiply (lane bits, drain) | packing cycles "
             "| unpack+SMLAD cycles | int8 cycles | packing vs int8 | packing vs SMLAD "
             "| layers packing beats SMLAD / int8 | weights packed / int8 [B] | activations [B] | fastest |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in t.itertuples():
        lines.append(
            f"| {r.board} | {r.pair} | {r.lanes} ({r.lane_bits}-bit, every {r.drain}) "
            f"| {r.packed / 1e6:.2f}M | {r.smlad / 1e6:.2f}M | {r.s8 / 1e6:.2f}M "
            f"| {r.vs_s8:.2f}x | {r.vs_smlad:.2f}x | {r.layer_wins}/{r.layers} / {r.beats_s8}/{r.layers} "
            f"| {r.weights:,} / {r.s8_weights:,} | {r.activations:,} | {NAMES[r.fastest]} |")
    layers = ", ".join(sorted(df.layer.unique()))
    lines += [
        "",
        f"Cycles from: {', '.join(sorted(df.cycles_source.unique()))}; summed over {layers}. "
        "Output bits = activation bits; weights = packed filter + per-channel correction, "
        "multiplier and shift in Flash; activations = packed input + output in SRAM. Every "
        "output was checked bit-exactly against the numpy reference.",
    ]
    for board, g in t.groupby("board", sort=False):
        win, lose = g[g.vs_smlad > 1.0], g[g.vs_smlad <= 1.0]
        lines.append(
            f"{board}: packing beats unpack+SMLAD for {', '.join(win.pair) or 'no pair'}; "
            f"not for {', '.join(lose.pair) or 'any other pair'}; the int8 kernel is fastest "
            f"for {', '.join(g[g.fastest == 's8'].pair) or 'no pair'}.")
    lines.append(
        "Why: with 8-bit lanes one MUL yields 4 products (SMLAD: 2); with 16-bit lanes one MLA "
        "yields 2, like one SMLAD, so the two strategies differ only by the drains and the "
        f"generated code. {_cpi_note(df)}The int8 kernels tile 2 output "
        "pixels x 2 channels; the low-bit kernels tile 1 pixel x 2 channels and pay a "
        "per-output requantisation and sub-byte store, which dominates layers with short rows.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc", type=Path, default=None,
                    help="page to update (default: its page in docs/)")
    ap.add_argument("--csv", type=Path, help="also write the raw bench rows here")
    ap.add_argument("--from-csv", type=Path, help="build the table from saved rows instead of running")
    args = ap.parse_args(argv)
    df = pd.read_csv(args.from_csv) if args.from_csv else run()
    if args.csv:
        df.to_csv(args.csv, index=False)
    text = table(df)
    publish("packed-table", text, args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
