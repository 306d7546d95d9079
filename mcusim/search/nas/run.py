"""The whole search as one call: build the pieces, run the study, validate, write outputs.

:func:`run_nas` is what ``mcusim search nas`` and ``benchmarks/nas_search.py`` call.  It
checks the bounds against the smallest architectures of the space first (a bound below what
they need gives a clear message and an empty front without training anything), runs the
study, validates the front and a sample of the others on the emulated board when the model
runner is available, and writes into ``out``: ``candidates.csv`` (one row per candidate),
``pareto.png``, ``best_<trial>.tflite`` for the front, ``validation.csv`` and
``summary.json``, next to the study's checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcusim.boards import get_board
from mcusim.errors import MissingDependencyError
from mcusim.search import SearchError
from mcusim.search.nas.compare import mac_comparison
from mcusim.search.nas.data import Dataset, load_dataset
from mcusim.search.nas.evaluate import Evaluator
from mcusim.search.nas.evolution import AgingEvolution
from mcusim.search.nas.executors import make_executor
from mcusim.search.nas.pricing import LatencyModel, MacsLatency, PredictorLatency
from mcusim.search.nas.space import Architecture, ConvBlock, ConvLayer, SearchSpace
from mcusim.search.nas.study import Bounds, Study
from mcusim.search.nas.train import TrainConfig

__all__ = ["CANDIDATE_COLUMNS", "NasResult", "make_latency", "minimal_needs", "run_nas"]

#: Columns of ``candidates.csv`` (first the ones the issue names).
CANDIDATE_COLUMNS: tuple[str, ...] = (
    "trial", "architecture", "description", "accuracy", "error", "test_accuracy",
    "peak_sram_predicted", "peak_sram_measured", "flash_bytes", "latency_ms", "feasible",
    "violations", "status", "message", "macs", "latency_cycles", "weight_bytes", "code_bytes",
    "num_ops", "on_front", "latency_ms_measured", "seed", "duration_s", "tflite_path",
)


@dataclass
class NasResult:
    """Outcome of :func:`run_nas`: the study, tables and a JSON-ready summary."""

    study: Study | None
    candidates: pd.DataFrame
    front: pd.DataFrame
    validation: pd.DataFrame
    message: str
    summary: dict[str, Any] = field(default_factory=dict)


def make_latency(kind: str, board: str, *, predictor: str | None = None,
                 space: SearchSpace | None = None, seed: int = 0) -> LatencyModel:
    """``simulated`` (every layer through the emulated kernels, cached per layer), ``macs``
    (μNAS's proxy), ``predictor`` (a saved file, or fitted on a small sweep of random
    candidates' layers), or ``auto`` (the given predictor file, else simulation)."""
    if kind == "macs":
        return MacsLatency()
    if kind == "simulated" or (kind == "auto" and predictor is None):
        from mcusim.search.nas.simulate import SimulatedLatency

        return SimulatedLatency(board)
    if predictor is not None:
        return PredictorLatency.load(predictor, board=get_board(board).name)
    if kind == "predictor":
        if space is None:
            raise SearchError("fitting a predictor needs the search space")
        from mcusim.search.nas.graphs import untrained_graph

        rng = np.random.default_rng([seed, 99])
        graphs = [untrained_graph(space.random_architecture(rng), space, seed=i)
                  for i in range(8)]
        return PredictorLatency.fit_sweep(get_board(board).name, graphs)
    raise SearchError(f"unknown latency model {kind!r}", known="auto, simulated, macs, predictor")


def minimal_needs(space: SearchSpace, evaluator: Evaluator) -> dict[str, float]:
    """Resources of the smallest architectures of the space (train-free), per objective."""
    tiny = [Architecture((ConvBlock((ConvLayer("conv1x1", 1, 1, 1, True),), pool),))
            for pool in ("none", "max")]
    tiny += [Architecture((ConvBlock((ConvLayer("dwconv", space.kernels[0], 1, 2, True),),
                                     pool),)) for pool in ("none", "max")]
    free = Evaluator(space, evaluator.board, evaluator.latency)
    rows = [free.evaluate(a) for a in tiny if space.is_valid(a)]
    rows = [r for r in rows if r["status"] == "ok"]
    return {k: float(min(r[k] for r in rows)) for k in ("peak_sram", "flash_bytes", "latency_ms")
            } if rows else {}


def run_nas(*, board: str, dataset: str | Dataset | None = "digits", rounds: int = 300,
            bounds: Bounds = Bounds(), out: str | Path | None = None, jobs: int = 1,
            cluster: str | None = None, seed: int = 0, population: int = 100,
            sample: int = 25, batch: int | None = None, latency: str | LatencyModel = "auto",
            predictor: str | None = None, train: TrainConfig = TrainConfig(),
            space: SearchSpace | None = None, validate: int | None = 3,
            progress: bool | None = None) -> NasResult:
    """Run a μNAS search and write its outputs (see the module docstring).

    Parameters
    ----------
    board
        Board the candidates are priced (and validated) on.
    dataset
        A built-in name, a :class:`Dataset`, or ``None`` (train-free: resources only).
    rounds
        Trials, the initial population included.
    bounds
        Fitness bounds and hard limits.
    out
        Output directory (``None``: nothing written, nothing validated).
    jobs, cluster
        Executor (:func:`~mcusim.search.nas.executors.make_executor`).
    seed, population, sample, batch
        Aging evolution (``batch`` default: the number of workers).
    latency, predictor
        Latency model: a name for :func:`make_latency` or a model.
    train
        Training of one candidate.
    space
        Search space (default: μNAS's bounds for the data set's shape).
    validate
        How many non-front trials to validate besides the front (``None``: no validation).
    progress
        Progress bar.
    """
    b = get_board(board)
    data = load_dataset(dataset, seed=seed) if isinstance(dataset, str) else dataset
    if data is not None and importlib.util.find_spec("tensorflow") is None:
        raise MissingDependencyError("the Python package 'tensorflow' is needed for training "
                                     "candidates but is not installed",
                                     hint='pip install "mcusim[search]"')
    if space is None:
        if data is None:
            raise SearchError("a train-free search needs its search space")
        space = SearchSpace(data.input_shape, data.num_classes)
    elif data is not None and (tuple(space.input_shape) != data.input_shape
                               or space.num_classes != data.num_classes):
        raise SearchError("the data set does not match the search space",
                          data_shape=data.input_shape, space_shape=tuple(space.input_shape),
                          data_classes=data.num_classes, space_classes=space.num_classes)
    lat = latency if not isinstance(latency, str) else make_latency(
        latency, b.name, predictor=predictor, space=space, seed=seed)
    evaluator = Evaluator(space, b.name, lat, data, train)
    t0 = time.perf_counter()
    needs = minimal_needs(space, evaluator)
    impossible = [f"{k} <= {lim:g} but the smallest candidates need {needs[k]:g}"
                  for k, lim in bounds.limits().items() if lim is not None and k in needs
                  and lim < needs[k]]
    if impossible:
        msg = "impossible bounds: " + "; ".join(impossible) + ": the Pareto front is empty"
        empty = pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
        res = NasResult(None, empty, empty, pd.DataFrame(), msg,
                        {"message": msg, "board": b.name, "candidates": 0, "feasible": 0,
                         "front": [], "impossible": impossible})
        if out is not None:
            _write(Path(out), res)
        return res
    strategy = AgingEvolution(space, population, sample, batch or max(1, jobs))
    study = Study(evaluator, strategy, bounds, seed=seed, directory=out)
    executor = make_executor(jobs, cluster)
    try:
        study.optimize(rounds, executor=executor, progress=progress)
    finally:
        executor.close()
    search_s = time.perf_counter() - t0
    df = study.dataframe()
    df = df[df["trial"] < rounds].reset_index(drop=True)
    front = study.pareto()
    front = front[front["trial"] < rounds].reset_index(drop=True)
    if data is not None:
        df = _test_accuracy(df, front, data)
        front = front.drop(columns=["test_accuracy"], errors="ignore").merge(
            df[["trial", "test_accuracy"]], on="trial", how="left")
    validation = pd.DataFrame()
    if out is not None and validate is not None and "tflite_path" in df:
        from mcusim.search.nas.validate import choose_for_validation, validate_models

        chosen = choose_for_validation(df, front, sample=validate, seed=seed)
        try:
            x = data.x_test[0] if data is not None else None
            validation = validate_models(df, chosen, b.name, x=x)
        except SearchError as exc:
            validation = pd.DataFrame([{"trial": None, "verdict": str(exc)}])
    cands = _candidates(df, front, validation)
    summary = _summary(study, b.name, cands, front, validation, search_s, bounds)
    res = NasResult(study, cands, front, validation, study.message(), summary)
    if out is not None:
        _write(Path(out), res)
    return res


def _test_accuracy(df: pd.DataFrame, front: pd.DataFrame, data: Dataset) -> pd.DataFrame:
    """Test accuracy (int8 graph, numpy reference) of the front and the best feasible trial."""
    from mcusim.model.tflite_io import read_tflite
    from mcusim.search.nas.evaluate import int8_accuracy

    df = df.copy()
    if "test_accuracy" not in df:
        df["test_accuracy"] = np.nan
    want = set(int(t) for t in front["trial"])
    feas = df[df["feasible"].astype(bool) & df["accuracy"].notna()]
    if not feas.empty:
        want.add(int(feas.loc[feas["accuracy"].idxmax(), "trial"]))
    for t in sorted(want):
        i = df.index[df["trial"] == t][0]
        path = df.at[i, "tflite_path"] if "tflite_path" in df else None
        if pd.isna(df.at[i, "test_accuracy"]) and isinstance(path, str) and Path(path).exists():
            df.at[i, "test_accuracy"] = int8_accuracy(read_tflite(path), data.x_test, data.y_test)
    return df


def _candidates(df: pd.DataFrame, front: pd.DataFrame, validation: pd.DataFrame) -> pd.DataFrame:
    c = df.copy()
    c["peak_sram_predicted"] = c.get("peak_sram")
    c["on_front"] = c["trial"].isin(front["trial"]) if not front.empty else False
    c["peak_sram_measured"] = np.nan
    c["latency_ms_measured"] = np.nan
    if not validation.empty and "peak_sram_measured" in validation:
        v = validation.dropna(subset=["trial"]).set_index("trial")
        for col in ("peak_sram_measured", "latency_ms_measured"):
            if col in v:
                c[col] = c["trial"].map(v[col])
        if "arena_measured" in v:
            c["arena_measured"] = c["trial"].map(v["arena_measured"])
    cols = [k for k in CANDIDATE_COLUMNS if k in c] + [k for k in c if k not in CANDIDATE_COLUMNS
                                                      and k not in ("op_cycles", "peak_sram")]
    return c[cols]


def _summary(study: Study, board: str, cands: pd.DataFrame, front: pd.DataFrame,
             validation: pd.DataFrame, search_s: float, bounds: Bounds) -> dict[str, Any]:
    ok = cands[cands["status"] == "ok"]
    feas = cands[cands["feasible"].astype(bool)]
    best = None
    if not feas.empty and feas["accuracy"].notna().any():
        r = feas.loc[feas["accuracy"].idxmax()]
        best = {"trial": int(r["trial"]), "description": r["description"],
                "accuracy": float(r["accuracy"]), "test_accuracy": float(r["test_accuracy"]),
                "peak_sram": float(r["peak_sram_predicted"]),
                "flash_bytes": float(r["flash_bytes"]), "latency_ms": float(r["latency_ms"])}
    comp = None
    if bounds.latency_ms is not None and study.evaluator.latency.name != "macs" and len(ok) > 1:
        comp = mac_comparison(ok, latency_bound_ms=bounds.latency_ms)
    return {"message": study.message(), "board": board, "latency_model": study.evaluator.latency.name,
            "candidates": int(len(cands)), "evaluated": int(len(ok)),
            "feasible": int(len(feas)), "search_s": round(search_s, 2), "best": best,
            "front": [{"trial": int(r["trial"]), "description": r["description"],
                       **{k: (None if pd.isna(r.get(k)) else float(r.get(k)))
                          for k in ("accuracy", "error", "peak_sram", "flash_bytes", "latency_ms")}}
                      for _i, r in front.iterrows()],
            "validation": validation.to_dict("records") if not validation.empty else [],
            "mac_comparison": comp, "bounds": {k: v for k, v in vars(bounds).items()}}


def _write(out: Path, res: NasResult) -> None:
    out.mkdir(parents=True, exist_ok=True)
    res.candidates.to_csv(out / "candidates.csv", index=False)
    if not res.validation.empty:
        res.validation.to_csv(out / "validation.csv", index=False)
    for _i, r in res.front.iterrows():
        src = r.get("tflite_path")
        if isinstance(src, str) and Path(src).exists():
            shutil.copyfile(src, out / f"best_{int(r['trial']):05d}.tflite")
    _plot(out / "pareto.png", res)
    (out / "summary.json").write_text(json.dumps(res.summary, indent=1, default=_plain) + "\n")


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return str(v)


def _plot(path: Path, res: NasResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = res.candidates
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ycol = "error" if "error" in c and c["error"].notna().any() else "flash_bytes"
    for ax, xcol in zip(axes, ("peak_sram_predicted", "latency_ms")):
        if not c.empty and xcol in c:
            ok = c[c["status"] == "ok"]
            feas = ok["feasible"].astype(bool)
            ax.scatter(ok.loc[~feas, xcol], ok.loc[~feas, ycol], s=10, c="0.7", label="infeasible")
            ax.scatter(ok.loc[feas, xcol], ok.loc[feas, ycol], s=12, c="tab:blue", label="feasible")
            fr = ok[ok["on_front"].astype(bool)]
            ax.scatter(fr[xcol], fr[ycol], s=40, facecolors="none", edgecolors="tab:red",
                       label="Pareto front")
        ax.set_xlabel(xcol)
        ax.set_ylabel(ycol)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(res.message, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
