"""Acceptance run of the bit-width search (docs/quant_search.md).

On the built-in digits CNN, for each board: price uniform 8/8, set the latency budget to
``--budget-fraction`` (default 0.9) of its predicted latency -- a budget 8/8 misses -- run
the RLQuant search for ``--episodes`` episodes, then fine-tune, export, deploy and measure
the searched policy and the baselines (uniform 8/8, 4/4, 2/2, the memory-driven rule given
the searched policy's peak SRAM and Flash as its budgets) on the emulated board.  Every number in the table comes from this run: accuracy of the integer
(firmware-arithmetic) model on the digits test split, latency predicted by the search and
measured on the board, peak SRAM and Flash, and the latency ratio to uniform 8/8 measured in
the same run.  ``--doc`` writes the table into docs/quant_search.md.

    python benchmarks/quant_search.py --episodes 20 --doc
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _readme import publish  # noqa: E402

from mcusim.search.quant.budget import Budget  # noqa: E402
from mcusim.search.quant.data import digits_cnn  # noqa: E402
from mcusim.search.quant.search import QuantSearch  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "quant_search.md"


def run_board(board: str, args: argparse.Namespace) -> tuple[list[str], str]:
    g = digits_cnn()
    t0 = time.perf_counter()
    s = QuantSearch(g, board, budget=Budget(), epochs=args.epochs,
                    pretrain_epochs=args.pretrain_epochs, seed=args.seed,
                    progress=lambda m: print(f"[{board}] {m}", file=sys.stderr))
    lat88 = s.price({i: (8, 8) for i in s.layers}).latency_ms
    s.budget = Budget(max_latency_ms=round(args.budget_fraction * lat88, 3))
    res = s.run(args.episodes)
    evals = [s.evaluate("searched (RLQuant)", res.best, epochs=args.final_epochs)]
    # the memory rule gets the searched policy's SRAM and Flash as its budgets
    evals += s.baselines(epochs=args.final_epochs,
                         memory=Budget(None, evals[0].cost.peak_sram_bytes,
                                       evals[0].cost.flash_bytes))
    base = next(e for e in evals if e.name == "uniform 8/8")
    rows = []
    for e in evals:
        bits = " ".join(f"w{w}a{a}" for w, a in (e.policy.bits[i] for i in s.layers))
        ratio = (base.measured_latency_ms / e.measured_latency_ms
                 if e.measured_latency_ms else float("nan"))
        rows.append(f"| {board} | {e.name} | {bits} | {100 * e.accuracy:.1f} | "
                    f"{e.cost.latency_ms:.3f} | {e.measured_latency_ms:.3f} | {ratio:.2f}x | "
                    f"{e.cost.peak_sram_bytes:,} / {e.measured_peak_sram:,} | "
                    f"{e.measured_flash:,} | {'yes' if e.within_budget else 'no'} | "
                    f"{'yes' if e.bit_exact else 'no'} |")
    best = evals[0]
    note = (f"{board}: budget {s.budget.max_latency_ms} ms ({args.budget_fraction:.0%} of uniform "
            f"8/8's predicted {lat88:.3f} ms); searched policy {best.accuracy - base.accuracy:+.3f} "
            f"accuracy vs 8/8 ({'within' if base.accuracy - best.accuracy <= 0.01 else 'NOT within'}"
            f" 1 point), measured latency {best.measured_latency_ms:.3f} ms = "
            f"{best.measured_latency_ms / best.cost.latency_ms - 1:+.1%} vs predicted; "
            f"{args.episodes} episodes in {time.perf_counter() - t0:.0f} s.")
    return rows, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", action="append", help="board(s) (default: both)")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--pretrain-epochs", type=int, default=20)
    ap.add_argument("--final-epochs", type=int, default=3)
    ap.add_argument("--budget-fraction", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--doc", action="store_true", help="write the table into docs/quant_search.md")
    args = ap.parse_args()
    boards = args.board or ["stm32f469i", "stm32f746zg"]
    rows, notes = [], []
    for b in boards:
        r, n = run_board(b, args)
        rows += r
        notes.append(n)
    head = ("| board | policy | bits (conv1..conv4, fc) | accuracy [%] | latency predicted [ms] | "
            "latency measured [ms] | speed vs 8/8 (measured) | peak SRAM predicted / measured [B] "
            "| Flash [B] | within budget | bit-exact |\n|---|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    text = "\n".join([head, *rows, "", *notes,
                      f"Command: `python benchmarks/quant_search.py --episodes {args.episodes} "
                      f"--final-epochs {args.final_epochs} --budget-fraction "
                      f"{args.budget_fraction}{' --doc' if args.doc else ''}`."])
    publish("quant-table", text, DOC, dry=not args.doc)


if __name__ == "__main__":
    main()
