"""``mcusim demo``: the main job on built-in defaults (both boards, the bundled kernels)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mcusim._paths import shared_models_dir
from mcusim.commands._common import format_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="kernels, whole models and a small lookup table on both boards",
        description="The main job on built-in defaults: for STM32F469I and STM32F746ZG, build "
                    "the first firmware set and check it against numpy, profile it, "
                    "benchmark every bundled kernel family on the CifarNet/SqueezeNet layers "
                    "(kernels.csv, kernels_cycles.png), fit every built-in model and the "
                    "shared .tflite models on the board (models.json, models.txt, one memory "
                    "plot per model and board), and build a small cached lookup table per "
                    "board with its predictor's error summary. Writes into --out.\n\n"
                    "examples:\n  mcusim demo\n  mcusim demo --out out --family s8 --no-models",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--board", "-b", action="append", metavar="BOARD",
                   help="board(s) (default: stm32f469i and stm32f746zg)")
    p.add_argument("--family", action="append", help="kernel families (default: all)")
    p.add_argument("--layer", action="append", help="layers (default: all built-in)")
    p.add_argument("--model", action="append", metavar="MODEL",
                   help="models to fit (default: every built-in model and the .tflite files "
                        "in --models-dir)")
    p.add_argument("--models-dir", default=None, metavar="DIR",
                   help="folder of real .tflite models (default: $MCUSIM_SHARED_MODELS or "
                        "../shared/models next to the repository; skipped when absent)")
    p.add_argument("--no-kernels", action="store_true", help="skip the kernel benchmarks")
    p.add_argument("--no-models", action="store_true", help="skip the model fit reports")
    p.add_argument("--no-lut", action="store_true", help="skip the small lookup table")
    p.set_defaults(func=run)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _basic_checks(board_name: str) -> dict[str, object]:
    import numpy as np

    from mcusim.boards import get_board
    from mcusim.build import FIRMWARE_DIR, build_firmware
    from mcusim.machine import Machine

    board = get_board(board_name)
    elf = build_firmware(sorted((FIRMWARE_DIR / "basic").glob("*.c")), board).elf
    machine = Machine(board, elf)
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, 4096, dtype=np.int8)
    b = rng.integers(-128, 128, 4096, dtype=np.int8)
    res = machine.call("mcu_dot_s8", machine.place(a), machine.place(b, "flash"), len(a))
    expected = int(a.astype(np.int64) @ b.astype(np.int64))
    if res.return_value != expected:
        raise SystemExit(f"demo: mcu_dot_s8 on {board.name} returned {res.return_value}, "
                         f"numpy says {expected}")
    row: dict[str, object] = {"board": board.name, "function": "mcu_dot_s8 (n=4096)",
                              "result_ok": True, "instructions": res.instructions}
    try:
        prof = machine.profile(res)
        row.update(cycles=prof.cycles, latency_us=round(prof.latency_us, 2))
    except ImportError:
        row.update(cycles="(timing model not installed)")
    return row


def run(args: argparse.Namespace) -> int:
    from mcusim.kernels.bench import DEFAULT_BOARDS, run_bench  # pandas: only when run

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    boards = args.board or list(DEFAULT_BOARDS)
    start = time.perf_counter()
    _say(f"demo: boards {', '.join(boards)}; output in {out}/")
    rows = [_basic_checks(b) for b in boards]
    print(format_table(rows, list(rows[0])))
    print()
    if not args.no_lut:
        _lut(boards, out)
    if not args.no_models:
        _models(args, boards, out)
    if args.no_kernels:
        _say(f"demo: done in {time.perf_counter() - start:.0f} s")
        return 0
    frame = run_bench(boards, args.family, args.layer, progress=_say)
    csv = out / "kernels.csv"
    frame.to_csv(csv, index=False)
    if len(frame):
        frame["macs_per_cycle"] = frame["macs"] / frame["cycles"]
        cols = ["board", "family", "kernel", "layer", "macs", "cycles", "macs_per_cycle",
                "latency_us", "scratch_bytes", "weight_bytes"]
        print(format_table(frame.to_dict(orient="records"), cols))
        _plot(frame, out / "kernels_cycles.png")
    _say(f"demo: done in {time.perf_counter() - start:.0f} s; wrote {csv}"
         f"{' and ' + str(out / 'kernels_cycles.png') if len(frame) else ''}")
    return 0


#: Random s8 configurations of the demo's lookup table (plus the 'tiny' model's layers).
DEMO_LUT_CONFIGS = 72


def _lut(boards: list[str], out: Path) -> None:
    """A small LUT per board (cached on disk), the analytical predictor's held-out error and
    the 'tiny' model's latency predicted from the table vs its simulated run."""
    import pandas as pd

    from mcusim.lut.models import graph_layer_rows
    from mcusim.lut.spaces import Bounds, random_space
    from mcusim.lut.sweep import ProcessPool, sweep
    from mcusim.lut.table import write_table
    from mcusim.model import zoo
    from mcusim.model.run import run_model
    from mcusim.predict import AnalyticalPredictor
    from mcusim.predict.models import model_error_report
    from mcusim.predict.report import error_report, summary_text

    tiny = zoo.get_model("tiny")
    configs = pd.concat([random_space(DEMO_LUT_CONFIGS, 0, bounds=Bounds(max_macs=100_000)),
                         pd.DataFrame(graph_layer_rows(tiny))], ignore_index=True)
    tables, predictors, runs = [], {}, {}
    for board in boards:
        res = sweep(configs, board, executor=ProcessPool(), progress=False)
        _say(f"demo: LUT of {len(configs)} configurations on {board}: {res.ran} simulated, "
             f"{res.cached} from the cache")
        write_table(res.table, out / f"lut_{board}.parquet")
        tables.append(res.table)
        predictors[board] = AnalyticalPredictor().fit(res.table, res.table["cycles"])
        runs[(tiny.name, board)] = run_model(tiny, board)
    rep = error_report(pd.concat(tables, ignore_index=True),
                       models={"analytical": AnalyticalPredictor})
    rep.summary = rep.summary[(rep.summary["op"] == "all") & (rep.summary["split"] == "held-out")]
    print(summary_text(rep))
    print()
    whole = model_error_report(predictors, [tiny], runs, overhead=0.0).summary
    print(format_table(whole.to_dict(orient="records"),
                       ["model", "board", "ops", "simulated", "predicted", "error", "worst_op"]))
    print()


def _plot(frame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boards = list(dict.fromkeys(frame["board"]))
    fig, axes = plt.subplots(1, len(boards), figsize=(7 * len(boards), 6), squeeze=False)
    for ax, board in zip(axes[0], boards):
        sub = frame[frame["board"] == board]
        pivot = sub.pivot_table(index="layer", columns="family", values="latency_us",
                                aggfunc="min")
        pivot.plot.barh(ax=ax, logx=True)
        ax.set_title(f"{board}: fastest kernel per family")
        ax.set_xlabel("latency (µs, log scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _models(args: argparse.Namespace, boards: list[str], out: Path) -> None:
    """Fit every model on every board; write models.json, models.txt and one memory plot
    per model and board."""
    import json

    from mcusim.boards import get_board
    from mcusim.commands.model import _builtin_names, load
    from mcusim.errors import McusimError
    from mcusim.model.report import fit, multi_board_text

    specs = list(args.model or _builtin_names())
    if not args.model:
        folder = shared_models_dir(args.models_dir)
        if folder.is_dir():
            specs += [str(p) for p in sorted(folder.glob("*.tflite"))]
        else:
            _say(f"demo: no real models ({folder} is absent)")
    objs, texts = [], []
    for spec in specs:
        try:
            graph = load(spec)
        except McusimError as exc:
            _say(f"demo: skipping model {spec}: {exc}")
            continue
        reports = []
        for board in boards:
            _say(f"demo: fitting {graph.name} on {board}")
            try:
                rep = fit(graph, board)
            except McusimError as exc:
                _say(f"demo: {graph.name} on {board} failed: {exc}")
                continue
            reports.append(rep)
            objs.append(rep.to_dict())
            texts.append(rep.text())
            rep.plot(out / f"model_{graph.name}_{get_board(board).name}_memory.png")
        if reports:
            texts.append(multi_board_text(reports))
            print(multi_board_text(reports))
            print()
    (out / "models.json").write_text(json.dumps(objs, indent=2, default=str))
    (out / "models.txt").write_text("\n\n".join(texts) + "\n")
    _say(f"demo: wrote {out / 'models.json'}, {out / 'models.txt'} and the memory plots")
