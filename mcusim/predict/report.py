"""Error reports of the predictors: held-out and unseen-model splits, per op/family/board.

:func:`error_report` fits the analytical and the learned predictor per board on a training
part of a sweep table and measures them on

- ``held-out``: a random share of the rows (``test_size``);
- ``unseen-model``: for every model named in the table's ``model`` column, all rows of
  that model (its layers and their perturbed copies) are held out and the predictors are
  fitted on the rest.

The result is data first (:class:`ErrorReport`: per-row errors and a summary table);
:func:`summary_text` and :func:`plot_errors` are views of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["ErrorReport", "error_report", "plot_errors", "summarize", "summary_text"]

GROUPS: tuple[str, ...] = ("board", "family", "op")


@dataclass
class ErrorReport:
    """Per-row predictions (``errors``) and the per-group summary (``summary``)."""

    errors: pd.DataFrame
    summary: pd.DataFrame


def _estimators() -> dict[str, Callable[[], Any]]:
    from mcusim.predict.analytical import AnalyticalPredictor
    from mcusim.predict.learned import LearnedPredictor

    return {"analytical": AnalyticalPredictor, "learned": LearnedPredictor}


def _evaluate(train: pd.DataFrame, test: pd.DataFrame, split: str,
              models: dict[str, Callable[[], Any]]) -> list[pd.DataFrame]:
    out = []
    for name, make in models.items():
        est = make().fit(train, train["cycles"].to_numpy(float))
        known = set(getattr(est, "paths_", []))
        part = test
        if known:
            from mcusim.predict.features import feature_table

            paths, _ = feature_table(test)
            part = test[[p in known for p in paths]]
        if part.empty:
            continue
        pred = est.predict(part)
        frame = part[list(GROUPS) + [c for c in ("model", "layer") if c in part]].copy()
        frame["simulated"] = part["cycles"].to_numpy(float)
        frame["predicted"] = pred
        frame["error"] = pred / frame["simulated"] - 1.0
        frame["predictor"], frame["split"] = name, split
        out.append(frame)
    return out


def summarize(errors: pd.DataFrame, by: tuple[str, ...] = GROUPS) -> pd.DataFrame:
    """Share within +-5% and +-10%, mean and max |error| per (split, predictor, *by*)."""
    keys = ["split", "predictor", *by]
    rows = []
    for key, part in errors.groupby(keys):
        e = part["error"].abs()
        rows.append({**dict(zip(keys, key)), "rows": len(part),
                     "within_5": float((e <= 0.05).mean()), "within_10": float((e <= 0.10).mean()),
                     "mean_abs": float(e.mean()), "max_abs": float(e.max())})
    return pd.DataFrame(rows)


def error_report(lut: pd.DataFrame, *, test_size: float = 0.3, seed: int = 0,
                 models: dict[str, Callable[[], Any]] | None = None) -> ErrorReport:
    """Fit and measure the predictors on ``lut`` (one or several boards).

    Parameters
    ----------
    lut
        Sweep table(s) (:func:`mcusim.lut.sweep.sweep`), with ``board`` and ``cycles``.
    test_size
        Held-out share of the random split.
    seed
        Seed of the random split.
    models
        Name -> estimator factory (default: analytical and learned).

    Returns
    -------
    ErrorReport
        Summary rows per (split, predictor, board, family, op) and per (split, predictor,
        board, family) with ``op == "all"``.
    """
    models = models or _estimators()
    parts: list[pd.DataFrame] = []
    for (board, family), table in lut.groupby(["board", "family"]):
        table = table.reset_index(drop=True)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(table))
        cut = int(round(len(table) * (1 - test_size)))
        parts += _evaluate(table.iloc[order[:cut]], table.iloc[order[cut:]], "held-out", models)
        if "model" in table.columns:
            for model in sorted(table["model"].dropna().unique()):
                mask = table["model"] == model
                if mask.all() or not mask.any():
                    continue
                parts += _evaluate(table[~mask], table[mask], f"unseen-model", models)
    errors = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if errors.empty:
        return ErrorReport(errors, pd.DataFrame())
    overall = summarize(errors, ("board", "family"))
    overall["op"] = "all"
    summary = pd.concat([overall, summarize(errors)], ignore_index=True)
    return ErrorReport(errors, summary.sort_values(["split", "predictor", "board", "family",
                                                    "op"]).reset_index(drop=True))


def summary_text(rep: ErrorReport) -> str:
    """The summary as a plain-text table."""
    from mcusim.commands._common import format_table

    if rep.summary.empty:
        return "no rows to report"
    cols = ["split", "predictor", "board", "family", "op", "rows", "within_5", "within_10",
            "mean_abs", "max_abs"]
    return format_table(rep.summary.to_dict(orient="records"), cols)


def plot_errors(rep: ErrorReport, path: str | Path) -> Path:
    """Predicted vs simulated cycles (log-log, one panel per predictor) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    preds = sorted(rep.errors["predictor"].unique()) if not rep.errors.empty else []
    fig, axes = plt.subplots(1, max(1, len(preds)), figsize=(5 * max(1, len(preds)), 4.5),
                             squeeze=False)
    for ax, name in zip(axes[0], preds):
        part = rep.errors[(rep.errors["predictor"] == name) & (rep.errors["split"] == "held-out")]
        for op, sub in part.groupby("op"):
            ax.scatter(sub["simulated"], sub["predicted"], s=8, label=op, alpha=0.7)
        if len(part):
            lo, hi = part["simulated"].min(), part["simulated"].max()
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
            ax.plot([lo, hi], [lo * 1.05, hi * 1.05], "k:", lw=0.6)
            ax.plot([lo, hi], [lo * 0.95, hi * 0.95], "k:", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("simulated cycles")
        ax.set_ylabel("predicted cycles")
        ax.set_title(f"{name} (held-out; dotted: +-5%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
