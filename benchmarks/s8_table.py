"""Measure the int8 (``s8``) kernels on both boards and write the table into docs/kernels_s8.md.

Runs :func:`mcusim.kernels.s8_bench.bench` on STM32F469I and STM32F746ZG over the built-in
CifarNet and SqueezeNet layers, DSP build next to plain-C build with the speedup, and writes
the markdown table between ``<!-- s8-table:start -->`` and ``<!-- s8-table:end -->`` in
docs/kernels_s8.md (or prints it when the markers are missing).

Usage::

    python benchmarks/s8_table.py [--doc docs/PAGE.md] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from _readme import publish
from mcusim.boards import get_board
from mcusim.kernels import s8_bench
from mcusim.kernels.layers import BUILTIN_LAYERS

BOARDS = ("stm32f469i", "stm32f746zg")


def run() -> pd.DataFrame:
    """All bench rows of both boards."""
    rows = []
    for name in BOARDS:
        rows += s8_bench.bench(get_board(name), BUILTIN_LAYERS,
                               progress=lambda msg: print(msg, file=sys.stderr))
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> str:
    """Markdown: one line per (board, layer), DSP and plain-C side by side."""
    lines = ["| board | layer | MACs | DSP cycles | DSP MACs/cycle | DSP latency [ms] "
             "| plain-C cycles | plain-C MACs/cycle | plain-C latency [ms] | DSP speedup "
             "| scratch DSP / plain-C [B] | weights [B] |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    dsp = df[df.path == "dsp"]
    plain = df[df.path == "plain-c"].set_index(["board", "layer"])
    for r in dsp.itertuples():
        q = plain.loc[(r.board, r.layer)]
        lines.append(
            f"| {r.board} | {r.layer} | {r.macs:,} | {r.cycles:,} | {r.macs_per_cycle:.3f} "
            f"| {r.latency_us / 1000:.2f} | {int(q.cycles):,} | {q.macs_per_cycle:.3f} "
            f"| {q.latency_us / 1000:.2f} | {q.cycles / r.cycles:.2f}x "
            f"| {r.scratch_bytes:,} / {int(q.scratch_bytes):,} | {r.weight_bytes:,} |")
    sources = ", ".join(sorted(set(df.cycles_source)))
    conv = df[df.kernel.str.startswith("s8_conv")]
    ratios = []
    for board, g in conv.groupby("board", sort=False):
        dsp_sum = g[g.path == "dsp"].cycles.sum()
        ratios.append(f"{board} {g[g.path == 'plain-c'].cycles.sum() / dsp_sum:.2f}x")
    lines += ["", f"Cycles from: {sources}. All convolution layers together, the DSP path "
              f"(SMLAD on SXTB16 pairs) is faster than the plain-C path by: {', '.join(ratios)}. "
              "Weights = filter + bias + multipliers + shifts in Flash; every output is "
              "checked bit-exactly against the numpy reference."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the bench on both boards, write docs/kernels_s8.md (and optionally a CSV)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc", type=Path, default=None,
                    help="page to update (default: its page in docs/)")
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args(argv)
    df = run()
    if args.csv:
        df.to_csv(args.csv, index=False)
    text = table(df)
    publish("s8-table", text, args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
