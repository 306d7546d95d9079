"""Whole-model latency from a lookup table: per-operator predictions vs the simulated run.

:func:`predict_graph` turns every operator of a :class:`~mcusim.model.graph.Graph` into a
configuration row (:func:`mcusim.lut.models.graph_layer_rows`), predicts its cycles with a
fitted predictor and adds the runner's per-operator overhead (the generated
``mcusim_op_<i>`` wrapper around the kernel call: :func:`fit_op_overhead` learns it as one
constant per operator from runs of *other* models, or it is given).  Operators the table
cannot express (``reshape``) are predicted as the overhead alone and flagged
``in_table=False``.

:func:`compare_run` puts the prediction beside a :class:`~mcusim.model.run.ModelRun`
(per operator: simulated, predicted, error); :func:`model_error_report` does it for several
models and boards and gives the whole-model error per (model, board).

Examples
--------
>>> frame = predict_graph(predictor, zoo.get_model("tiny"))          # doctest: +SKIP
>>> frame["predicted_cycles"].sum()                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from mcusim.errors import McusimError
from mcusim.lut.table import CONFIG_COLUMNS

__all__ = ["ModelErrorReport", "compare_run", "fit_op_overhead", "graph_configs",
           "graph_data_region", "model_error_report", "predict_graph", "table_region"]



def table_region(board: Any, region: str) -> str:
    """``region`` as a configuration's ``data_region``: empty for the board's default data
    region (the sweep's default), else the region's name."""
    from mcusim.boards import get_board

    b = get_board(board)
    return "" if region == b.region(b.layout.data).name else region


def graph_data_region(graph: Any, board: Any) -> str:
    """The ``data_region`` of ``graph``'s operators on ``board``: where the generated runner
    puts the arena (:func:`mcusim.model.codegen.data_region_for` of the planned arena, as
    :func:`mcusim.model.run.run_model` does)."""
    from mcusim.boards import get_board
    from mcusim.model import codegen
    from mcusim.model.run import make_plan

    b = get_board(board)
    gen = codegen.generate(graph, make_plan(graph, b))
    return table_region(b, codegen.data_region_for(b, gen.placement.arena_bytes))


def graph_configs(graph: Any, *, data_region: str = "") -> pd.DataFrame:
    """One row per operator of ``graph`` in execution order: ``index``, ``name``, ``kind``,
    ``in_table`` and, for the operators the table can express, the configuration columns
    (``data_region``: the runner's arena region, :func:`graph_data_region`)."""
    from mcusim.lut.models import graph_layer_rows

    by_layer = {r["layer"]: r for r in graph_layer_rows(graph)}
    rows = []
    for i, op in enumerate(graph.operators):
        cfg = by_layer.get(f"{graph.name}.{op.name}")
        row: dict[str, Any] = {"index": i, "name": op.name, "kind": op.kind,
                               "in_table": cfg is not None}
        if cfg is not None:
            row.update({k: cfg.get(k, "") for k in CONFIG_COLUMNS})
            row["data_region"] = data_region
        rows.append(row)
    return pd.DataFrame(rows)


def predict_graph(predictor: Any, graph: Any, *, op_overhead: float = 0.0,
                  board: Any = None, data_region: str | None = None) -> pd.DataFrame:
    """Predicted cycles of every operator of ``graph``.

    Parameters
    ----------
    predictor
        A fitted predictor (``predict(configs) -> cycles``), e.g.
        :class:`~mcusim.predict.analytical.AnalyticalPredictor` fitted on a sweep of the
        board the prediction is for.
    graph
        The model.
    op_overhead
        Cycles the runner adds per operator around the kernel call (:func:`fit_op_overhead`).
    board
        The board: the configurations get the runner's ``data_region``
        (:func:`graph_data_region`) unless ``data_region`` is given.
    data_region
        The arena's RAM region; ``None`` with no ``board``: the board's default.

    Returns
    -------
    pandas.DataFrame
        :func:`graph_configs` plus ``kernel_cycles`` (the table's prediction, 0 for an
        operator not in the table) and ``predicted_cycles`` (with the overhead).
    """
    if data_region is None:
        data_region = graph_data_region(graph, board) if board is not None else ""
    elif board is not None:
        data_region = table_region(board, data_region)
    frame = graph_configs(graph, data_region=data_region)
    frame["kernel_cycles"] = 0.0
    mask = frame["in_table"].to_numpy(bool)
    if mask.any():
        configs = frame.loc[mask, list(CONFIG_COLUMNS)].reset_index(drop=True)
        try:
            frame.loc[mask, "kernel_cycles"] = np.asarray(predictor.predict(configs), float)
        except McusimError as exc:
            raise McusimError(f"model {graph.name!r}: {exc}") from exc
    frame["predicted_cycles"] = frame["kernel_cycles"] + float(op_overhead)
    return frame


def compare_run(predictor: Any, graph: Any, run: Any, *,
                op_overhead: float = 0.0) -> pd.DataFrame:
    """:func:`predict_graph` beside the per-operator cycles of ``run``
    (:class:`~mcusim.model.run.ModelRun`): ``simulated_cycles`` and ``error``
    (predicted / simulated - 1)."""
    frame = predict_graph(predictor, graph, op_overhead=op_overhead, board=run.board,
                          data_region=run.data_region)
    if len(run.ops) != len(frame):
        raise McusimError(f"model {graph.name!r}: the run has {len(run.ops)} operators, "
                          f"the graph {len(frame)}")
    frame["simulated_cycles"] = [float(o.cycles) for o in run.ops]
    frame["error"] = frame["predicted_cycles"] / frame["simulated_cycles"] - 1.0
    frame.insert(0, "model", graph.name)
    frame.insert(1, "board", run.board.name)
    frame["data_region"] = run.data_region
    return frame


def fit_op_overhead(comparisons: Iterable[pd.DataFrame]) -> float:
    """The runner's per-operator overhead ``o`` from :func:`compare_run` frames (made with
    overhead 0): the least-squares fit of ``kernel_cycles + o`` to ``simulated_cycles`` on
    relative error over all operators (small operators, where the overhead matters, weigh
    most; a large kernel's own prediction error barely moves it)."""
    frames = [f for f in comparisons if len(f)]
    if not frames:
        raise McusimError("no runs to learn the runner's per-operator overhead from")
    both = pd.concat(frames, ignore_index=True)
    sim = both["simulated_cycles"].to_numpy(float)
    diff = sim - both["kernel_cycles"].to_numpy(float)
    w = 1.0 / np.maximum(sim, 1.0) ** 2
    return float(np.sum(w * diff) / np.sum(w))


@dataclass
class ModelErrorReport:
    """Per-operator comparison (``ops``) and the whole-model errors (``summary``)."""

    ops: pd.DataFrame
    summary: pd.DataFrame


def model_error_report(predictors: Mapping[str, Any], graphs: Iterable[Any],
                       runs: Mapping[tuple[str, str], Any], *,
                       overhead: str | float = "unseen") -> ModelErrorReport:
    """Whole-model latency predicted from the table vs the simulated runs.

    Parameters
    ----------
    predictors
        Board name -> fitted predictor.
    graphs
        The models.
    runs
        ``(model name, board name)`` -> :class:`~mcusim.model.run.ModelRun`.
    overhead
        ``"unseen"``: per model, the per-operator overhead is learned
        (:func:`fit_op_overhead`) from the runs of the *other* models on the same board (the
        model itself stays unseen; with one model only, 0); or a number of cycles.

    Returns
    -------
    ModelErrorReport
        ``summary``: one row per (model, board): operators, simulated and predicted cycles,
        the overhead used, the RAM region of the run's arena (``data_region``), ``error``
        and the table operator with the largest |error|.
    """
    graphs = list(graphs)
    raw: dict[tuple[str, str], pd.DataFrame] = {}
    for g in graphs:
        for board, pred in predictors.items():
            if (g.name, board) in runs:
                raw[(g.name, board)] = compare_run(pred, g, runs[(g.name, board)])
    frames, summary = [], []
    for (name, board), frame in raw.items():
        if overhead == "unseen":
            others = [f for (n, b), f in raw.items() if b == board and n != name]
            ovh = fit_op_overhead(others) if others else 0.0
        else:
            ovh = float(overhead)
        frame = frame.copy()
        frame["predicted_cycles"] = frame["kernel_cycles"] + ovh
        frame["error"] = frame["predicted_cycles"] / frame["simulated_cycles"] - 1.0
        frames.append(frame)
        sim, pred = frame["simulated_cycles"].sum(), frame["predicted_cycles"].sum()
        table_ops = frame[frame["in_table"]] if frame["in_table"].any() else frame
        worst = table_ops.loc[table_ops["error"].abs().idxmax()]
        summary.append({"model": name, "board": board, "ops": len(frame),
                        "data_region": frame["data_region"].iloc[0],
                        "simulated": int(sim), "predicted": int(round(pred)),
                        "op_overhead": round(ovh, 1), "error": float(pred / sim - 1.0),
                        "worst_op": f"{worst['name']} ({worst['kind']})",
                        "worst_op_error": float(worst["error"])})
    ops = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return ModelErrorReport(ops, pd.DataFrame(summary))
