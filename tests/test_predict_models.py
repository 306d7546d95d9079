"""Whole-model latency from a lookup table (mcusim.predict.models) vs the simulated run."""

from __future__ import annotations

import pandas as pd
import pytest

from mcusim.errors import McusimError
from mcusim.lut.cache import ResultCache
from mcusim.lut.models import graph_layer_rows
from mcusim.lut.sweep import sweep
from mcusim.model import zoo
from mcusim.model.run import run_model
from mcusim.predict import AnalyticalPredictor
from mcusim.predict.models import (
    compare_run, fit_op_overhead, graph_configs, model_error_report, predict_graph,
)

BOARDS = ("stm32f469i", "stm32f746zg")


@pytest.fixture(scope="module")
def tiny():
    return zoo.get_model("tiny")


@pytest.fixture(scope="module", params=BOARDS)
def fitted(request, tiny, tmp_path_factory):
    """(board, predictor fitted on a sweep of the tiny model's layers, run of the model)."""
    board = request.param
    configs = pd.DataFrame(graph_layer_rows(tiny))
    lut = sweep(configs, board, cache=ResultCache(tmp_path_factory.mktemp("lut")),
                progress=False).table
    pred = AnalyticalPredictor().fit(lut, lut["cycles"].to_numpy(float))
    return board, pred, run_model(tiny, board)


def test_graph_configs_one_row_per_operator(tiny):
    frame = graph_configs(tiny)
    assert list(frame["name"]) == [op.name for op in tiny.operators]
    assert not frame.loc[frame["kind"] == "reshape", "in_table"].any()
    assert frame.loc[frame["kind"] != "reshape", "in_table"].all()


def test_tiny_whole_model_within_3_percent(fitted, tiny):
    board, pred, run = fitted
    rep = model_error_report({board: pred}, [tiny], {(tiny.name, board): run}, overhead=0.0)
    row = rep.summary.iloc[0]
    assert row["simulated"] == run.cycles
    assert abs(row["error"]) <= 0.03, rep.ops[["name", "simulated_cycles", "predicted_cycles"]]


def test_report_content(fitted, tiny):
    board, pred, run = fitted
    ops = compare_run(pred, tiny, run)
    assert len(ops) == len(run.ops)
    assert list(ops["simulated_cycles"]) == [o.cycles for o in run.ops]
    assert (ops["error"] == ops["predicted_cycles"] / ops["simulated_cycles"] - 1).all()
    ovh = fit_op_overhead([ops])
    shifted = predict_graph(pred, tiny, op_overhead=ovh)
    assert (shifted["predicted_cycles"] - shifted["kernel_cycles"]).round(6).eq(round(ovh, 6)).all()
    rep = model_error_report({board: pred}, [tiny], {(tiny.name, board): run}, overhead=ovh)
    assert set(rep.summary.columns) >= {"model", "board", "ops", "simulated", "predicted",
                                        "op_overhead", "error", "worst_op", "worst_op_error"}
    assert rep.summary.iloc[0]["predicted"] == round(ops["kernel_cycles"].sum() + ovh * len(ops))


def test_unfitted_path_names_the_model(tiny):
    lut = pd.DataFrame(graph_layer_rows(tiny))
    fc = lut[lut["op"] == "fc"].copy()
    fc["cycles"] = 1000.0
    pred = AnalyticalPredictor().fit(fc, fc["cycles"])
    with pytest.raises(McusimError, match="tiny"):
        predict_graph(pred, tiny)
