"""The search checks itself: chosen models run end to end on the emulated board.

:func:`validate_models` runs each chosen trial's ``.tflite`` (the front, and a seeded random
sample of the others) through the model runner's fit (:func:`mcusim.model.report.fit`:
generated firmware, one inference under emulation) and puts the search's predictions next to
the measurements: latency (predicted by the search's latency model, measured as the sum of
the operators' simulated cycles), the activation arena (planned, and the bytes the run
touched), the runner's own predicted and measured peak SRAM (static data + arena + stack),
and Flash (estimated, and the linked image's).  The run's outputs are compared with the
numpy reference on the same input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mcusim.errors import McusimError
from mcusim.model.reference import run_reference
from mcusim.search import SearchError

__all__ = ["choose_for_validation", "validate_models"]


def choose_for_validation(df: pd.DataFrame, front: pd.DataFrame, *, sample: int = 3,
                          seed: int = 0) -> list[int]:
    """Trial indices: every front member, then ``sample`` other evaluated trials (seeded)."""
    chosen = [int(t) for t in front["trial"]] if not front.empty else []
    others = df[(df["status"] == "ok") & ~df["trial"].isin(chosen)]
    if "tflite_path" in others:
        others = others[others["tflite_path"].notna()]
    if sample > 0 and len(others):
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(others), size=min(sample, len(others)), replace=False)
        chosen += [int(others.iloc[int(i)]["trial"]) for i in sorted(pick)]
    return chosen


def validate_models(df: pd.DataFrame, trials: Sequence[int], board: str, *,
                    x: np.ndarray | None = None) -> pd.DataFrame:
    """Run the ``.tflite`` of every trial in ``trials`` with the runner's fit on ``board``.

    Parameters
    ----------
    df
        The study's trials (with ``tflite_path``, ``latency_ms``, ``peak_sram``, ``flash_bytes``).
    trials
        Trial indices to run.
    board
        Board name.
    x
        Float input image (one, in [0, 1]); default: the runner's default input.

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``trial, fits, verdict, latency_ms_predicted,
        latency_ms_measured, latency_error_pct, peak_sram_predicted, arena_measured,
        runner_sram_predicted, peak_sram_measured, flash_bytes_predicted, flash_measured,
        outputs_match``.
    """
    try:
        from mcusim.model.report import fit
    except ModuleNotFoundError as exc:
        raise SearchError("validation needs the model runner (mcusim.model.report), which "
                          "this mcusim lacks", missing=exc.name) from None
    from mcusim.model.tflite_io import read_tflite
    from mcusim.search.nas.evaluate import quantize_input

    rows = []
    by_trial = df.set_index("trial")
    for t in trials:
        rec = by_trial.loc[t]
        path = rec.get("tflite_path")
        row: dict[str, Any] = {"trial": int(t), "latency_ms_predicted": rec["latency_ms"],
                               "peak_sram_predicted": rec.get("peak_sram", rec.get("peak_sram_predicted")),
                               "flash_bytes_predicted": rec["flash_bytes"]}
        if not isinstance(path, str) or not Path(path).exists():
            rows.append({**row, "fits": False, "verdict": "no .tflite for this trial"})
            continue
        try:
            graph = read_tflite(path)
            xin = None
            if x is not None:
                xin = quantize_input(graph, x).reshape(graph.tensors[graph.inputs[0]].shape)
            rep = fit(graph, board, planner="best", x=xin)
        except McusimError as exc:
            rows.append({**row, "fits": False, "verdict": f"failed: {exc}"})
            continue
        run = rep.run
        row.update(fits=bool(rep.fits), verdict=rep.verdict)
        if run is not None:
            measured = float(rep.latency_ms)
            pred = float(rec["latency_ms"])
            ref = run_reference(graph, xin if xin is not None else _runner_input(graph))[0]
            row.update(latency_ms_measured=measured,
                       latency_error_pct=100.0 * (pred - measured) / measured if measured else np.nan,
                       arena_measured=int(run.arena_high_water),
                       runner_sram_predicted=rep.peak_sram["predicted"],
                       peak_sram_measured=rep.peak_sram["measured"],
                       flash_measured=rep.flash_bytes,
                       outputs_match=bool(np.array_equal(np.asarray(run.outputs[0]).reshape(-1),
                                                         ref.reshape(-1))))
        rows.append(row)
    return pd.DataFrame(rows)


def _runner_input(graph: Any) -> np.ndarray:
    from mcusim.model.run import default_input

    return default_input(graph)
