"""The search checks itself: a candidate's .tflite through the runner's fit on the board,
predicted (simulated per layer, planned) next to measured (whole generated firmware)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mcusim.model.tflite_io import write_tflite
from mcusim.search.nas.evaluate import Evaluator
from mcusim.search.nas.graphs import untrained_graph
from mcusim.search.nas.simulate import SimulatedLatency
from mcusim.search.nas.space import Architecture, ConvBlock, ConvLayer, SearchSpace
from mcusim.search.nas.validate import choose_for_validation, validate_models

SPACE = SearchSpace((8, 8, 1), 10)
ARCH = Architecture((ConvBlock((ConvLayer("conv", 3, 4, 1), ConvLayer("dwconv", 3, 1, 2)),
                               "max"),), (8,))


@pytest.mark.parametrize("board", ["stm32f469i", "stm32f746zg"])
def test_front_model_runs_on_the_board_as_predicted(board, tmp_path):
    g = untrained_graph(ARCH, SPACE, seed=3)
    row = Evaluator(SPACE, board, SimulatedLatency(board)).evaluate(ARCH, seed=3)
    path = write_tflite(g, tmp_path / "t.tflite")
    df = pd.DataFrame([{**row, "trial": 0, "tflite_path": str(path)}])
    v = validate_models(df, [0], board, x=np.linspace(0, 1, 64).reshape(8, 8, 1))
    r = v.iloc[0]
    assert r["fits"] and r["outputs_match"]
    assert abs(r["latency_error_pct"]) < 5.0
    assert r["runner_sram_predicted"] == r["peak_sram_measured"]
    assert r["arena_measured"] <= r["peak_sram_predicted"]


def test_choose_front_then_a_seeded_sample():
    df = pd.DataFrame({"trial": range(6), "status": ["ok"] * 5 + ["failed"],
                       "tflite_path": ["a"] * 6})
    front = df.iloc[[2]]
    a = choose_for_validation(df, front, sample=2, seed=1)
    assert a[0] == 2 and len(a) == 3 and 5 not in a
    assert a == choose_for_validation(df, front, sample=2, seed=1)
