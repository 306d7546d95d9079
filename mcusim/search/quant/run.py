"""One bit-width search from a model name to files: what ``mcusim search quant`` runs.

:func:`run_quant` loads the model (a zoo name, ``digits_cnn``, or a ``.tflite`` -- e.g. one
that ``mcusim search nas`` wrote -- whose int8 weights are de-quantised as the starting
point), runs the search, fine-tunes and deploys the best policy (and the baselines unless
``baselines=False``) and writes to ``out``:

- ``bits.json``: the chosen ``(w_bits, a_bits)`` and kernel per layer, and the layers that
  stay at 8 bits with the reason;
- ``trace.csv``: one row per episode (reward, accuracy, latency, peak SRAM, Flash, bits);
- ``trace.png``: reward and latency per episode;
- ``model.tflite``: the deployed mixed-precision model (bits and kernels in its metadata,
  so ``mcusim model fit out/model.tflite`` reproduces the report), when TFLite can express
  it (not for ``digits_cnn``, whose stride-2 layers pad symmetrically as the packed
  convolution requires; ``summary.json`` says why);
- ``fit.txt`` / ``fit.json``: its ``mcusim model fit`` report on the board;
- ``baselines.csv``: uniform 8/8, 4/4, 2/2 and the memory-driven rule;
- ``summary.json``: what ``--json`` prints.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcusim.errors import ModelError
from mcusim.model.graph import Graph
from mcusim.search.quant.budget import Budget
from mcusim.search.quant.data import BUILTIN_MODELS

__all__ = ["QuantRun", "load_start_model", "run_quant"]


@dataclass
class QuantRun:
    """Result of :func:`run_quant`: the summary (plain data) and the output directory."""

    summary: dict[str, Any]
    out: Path


def load_start_model(model: str) -> Graph:
    """A built-in search model, a zoo model or a ``.tflite`` file, as an int8 graph.

    Raises
    ------
    ModelError
        When ``model`` is none of them, or is already mixed-precision.
    """
    if model in BUILTIN_MODELS:
        return BUILTIN_MODELS[model]()
    from mcusim.model import load_model
    from mcusim.model import zoo

    try:
        g = load_model(model)
    except ModelError as exc:
        raise ModelError(f"{exc.message}; the search also knows "
                         f"{', '.join(BUILTIN_MODELS)}", **exc.details) from None
    if model not in zoo.list_models() and any(op.kernel.family != "s8" for op in g.operators):
        raise ModelError("the starting model must be int8 (s8 kernels only)", model=model)
    return g


def run_quant(model: str, board: str, *, dataset: str = "digits", episodes: int = 20,
              budget: Budget = Budget(), out: str | Path, epochs: int = 1,
              pretrain_epochs: int = 20, final_epochs: int = 3, seed: int = 0,
              baselines: bool = True, progress: Any = None) -> QuantRun:
    """Search, deploy and write the outputs (see the module docstring).

    Raises
    ------
    BudgetError
        When no policy meets the budget (the closest policy in the message).
    """
    from mcusim.model.tflite_io import write_tflite
    from mcusim.search.quant.search import QuantSearch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    graph = load_start_model(model)
    s = QuantSearch(graph, board, dataset=dataset, budget=budget, epochs=epochs,
                    pretrain_epochs=pretrain_epochs, seed=seed, progress=progress)
    result = s.run(episodes)
    _write_trace(out, result.trace)
    best = s.evaluate("searched", result.best, epochs=final_epochs)
    rows = [best.row(s.layers)]
    if baselines:
        rows += [b.row(s.layers) for b in s.baselines(epochs=final_epochs)]
    _write_rows(out / "baselines.csv", rows)
    try:
        write_tflite(best.graph, out / "model.tflite")
        model_file: str | None = str(out / "model.tflite")
        model_note = ""
    except ModelError as exc:  # e.g. symmetric padding of a stride-2 layer: no TFLite form
        model_file, model_note = None, f"model.tflite not written: {exc}"
        if progress:
            progress(model_note)
    names = {i: graph.operators[i].name for i in range(graph.num_operators)}
    kept = {names[i]: why for i, why in best.policy.notes.items()}
    if best.report is not None:
        notes = "".join(f"  {k}: {why}\n" for k, why in kept.items())
        (out / "fit.txt").write_text(best.report.text().rstrip("\n") + "\n\nLayers kept at 8 "
                                     "bits or with 8-bit activations:\n" + notes)
        (out / "fit.json").write_text(best.report.to_json(indent=2))
    bits = {names[i]: {"w_bits": best.policy.bits[i][0], "a_bits": best.policy.bits[i][1],
                       "kernel": best.cost.kernels.get(i, "s8")} for i in s.layers}
    (out / "bits.json").write_text(json.dumps({"layers": bits, "kept_8_bit": kept}, indent=2))
    summary = {
        "model": graph.name, "board": s.board.name, "dataset": dataset,
        "episodes": episodes, "budget": {"max_latency_ms": budget.max_latency_ms,
                                          "max_sram": budget.max_sram,
                                          "max_flash": budget.max_flash},
        "bits": {k: [v["w_bits"], v["a_bits"]] for k, v in bits.items()},
        "kernels": {k: v["kernel"] for k, v in bits.items()},
        "kept_8_bit": kept,
        "accuracy": best.accuracy, "keras_accuracy": best.keras_accuracy,
        "latency_ms": best.cost.latency_ms, "measured_latency_ms": best.measured_latency_ms,
        "peak_sram_bytes": best.cost.peak_sram_bytes,
        "measured_peak_sram_bytes": best.measured_peak_sram,
        "flash_bytes": best.cost.flash_bytes, "measured_flash_bytes": best.measured_flash,
        "bit_exact": best.bit_exact, "fits": best.report.fits if best.report else None,
        "model_file": model_file, "model_note": model_note or None,
        "baselines": rows[1:],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return QuantRun(summary, out)


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()})


def _write_trace(out: Path, trace: list[dict[str, Any]]) -> None:
    _write_rows(out / "trace.csv", trace)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    eps = [r["episode"] for r in trace]
    ax.plot(eps, [r["reward"] for r in trace], "o-", label="reward (val. accuracy)")
    ax.set_xlabel("episode")
    ax.set_ylabel("accuracy")
    ax2 = ax.twinx()
    ax2.plot(eps, [r["latency_ms"] for r in trace], "s--", color="tab:red",
             label="latency (predicted)")
    ax2.set_ylabel("latency [ms]")
    fig.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "trace.png", dpi=100)
    plt.close(fig)
