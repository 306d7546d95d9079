"""Pricing of candidates: layer configuration rows, latency models, peak SRAM, Flash."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim.boards import get_board
from mcusim.model.plan import plan_graph
from mcusim.model.zoo import get_model
from mcusim.search import SearchError
from mcusim.search.nas.evaluate import Evaluator
from mcusim.search.nas.graphs import untrained_graph
from mcusim.search.nas.pricing import (
    MacsLatency, PredictorLatency, code_bytes, flash_bytes, graph_configs, latency_ms, peak_sram,
)
from mcusim.search.nas.simulate import SimulatedLatency
from mcusim.search.nas.space import Architecture, ConvBlock, ConvLayer, SearchSpace

SPACE = SearchSpace((8, 8, 1), 10)
ARCH = Architecture((ConvBlock((ConvLayer("conv", 3, 8, 2), ConvLayer("conv1x1", 1, 12, 1),
                                ConvLayer("dwconv", 5, 1, 1, False)), "avg"),
                     ConvBlock((ConvLayer("conv", 3, 6, 1),), "max")), (16,))
BOARDS = ("stm32f469i", "stm32f746zg")


def test_graph_configs_rows():
    g = untrained_graph(ARCH, SPACE)
    f = graph_configs(g)
    assert f["op"].tolist() == ["conv", "conv", "dwconv", "avgpool", "conv", "maxpool",
                                "reshape", "fc", "fc"]
    first = f.iloc[0]
    assert (first["in_h"], first["in_c"], first["out_c"], first["kh"], first["stride"],
            first["pad"]) == (8, 1, 8, 3, 2, "same")          # SAME, asymmetric at stride 2
    assert f.iloc[1]["pad"] == "valid" and f.iloc[3]["pad"] == "valid"
    assert (f.iloc[7]["in_c"], f.iloc[7]["out_c"]) == (6, 16)   # fc on the flattened 1x1x6
    assert f.iloc[2]["activation"] == "none" and f.iloc[0]["activation"] == "relu"


def test_macs_latency_is_the_mac_count():
    g = untrained_graph(ARCH, SPACE)
    c = MacsLatency(cycles_per_mac=2.0).predict_graph(g)
    assert c.tolist() == [2.0 * g.macs(i) for i in range(g.num_operators)]
    assert latency_ms(c, "stm32f746zg") == pytest.approx(c.sum() / 216e6 * 1e3)


@pytest.mark.parametrize("board", BOARDS)
def test_simulated_latency_per_layer(board):
    g = untrained_graph(ARCH, SPACE)
    sim = SimulatedLatency(board)
    cycles = sim.predict_graph(g)
    kinds = [op.kind for op in g.operators]
    assert all((c > 0) == (k != "reshape") for c, k in zip(cycles, kinds))
    assert cycles[0] > cycles[3]             # a 3x3 conv costs more than a 2x2 pooling
    n = len(sim.cache)
    again = SimulatedLatency(board).predict_graph(untrained_graph(ARCH, SPACE, seed=5))
    np.testing.assert_array_equal(again, cycles)   # cached per layer configuration
    assert len(sim.cache) == n


def test_boards_price_differently():
    g = get_model("tiny")
    m4 = SimulatedLatency("stm32f469i").predict_graph(g)
    m7 = SimulatedLatency("stm32f746zg").predict_graph(g)
    assert not np.array_equal(m4, m7)


@pytest.mark.parametrize("board", BOARDS)
def test_peak_sram_is_the_best_plan(board):
    g = untrained_graph(ARCH, SPACE)
    assert peak_sram(g, board) == plan_graph(g, "best", board=get_board(board)).arena_bytes
    assert peak_sram(g, board) <= plan_graph(g, "linear", board=get_board(board)).arena_bytes


def test_flash_is_weights_plus_the_kernels_code():
    g = untrained_graph(ARCH, SPACE)
    fc_only = untrained_graph(Architecture((ConvBlock((ConvLayer("conv1x1", 1, 1, 1),)),)), SPACE)
    assert flash_bytes(g, "stm32f746zg") == g.weight_bytes() + code_bytes(g, "stm32f746zg")
    pool_code = code_bytes(g, "stm32f746zg")
    assert pool_code > code_bytes(fc_only, "stm32f746zg") > 0   # pooling and depthwise code


def test_predictor_latency_wraps_a_fitted_estimator():
    compose = pytest.importorskip("sklearn.compose")
    linear = pytest.importorskip("sklearn.linear_model")
    pipeline = pytest.importorskip("sklearn.pipeline")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(0)
    graphs = [untrained_graph(SPACE.random_architecture(rng), SPACE, seed=i) for i in range(4)]
    sim = SimulatedLatency("stm32f746zg")
    frames = [graph_configs(g) for g in graphs]
    X = __import__("pandas").concat(frames, ignore_index=True)
    y = np.concatenate([sim.predict_graph(g) for g in graphs])
    keep = (X["op"] != "reshape").to_numpy()
    X, y = X[keep].reset_index(drop=True), y[keep]
    X = X.assign(macs=[g.macs(i) for g in graphs for i in range(g.num_operators)
                       if g.operators[i].kind != "reshape"])
    est = pipeline.make_pipeline(
        compose.make_column_transformer((preprocessing.OneHotEncoder(handle_unknown="ignore"),
                                         ["op"]), ("passthrough", ["in_c", "out_c"])),
        linear.LinearRegression()).fit(X, y)
    model = PredictorLatency(est)
    c = model.predict_graph(graphs[0])
    assert len(c) == graphs[0].num_operators and (c >= 0).all()
    assert c[[i for i, op in enumerate(graphs[0].operators) if op.kind == "reshape"]].sum() == 0
    with pytest.raises(SearchError, match="no predict"):
        PredictorLatency(object())


def test_evaluator_rejects_a_latency_model_without_the_interface():
    with pytest.raises(SearchError, match="latency model"):
        Evaluator(SPACE, "stm32f746zg", latency=object())


def test_lookup_table_predictor_fitted_on_a_sweep(tmp_path):
    """The lut predictor fitted on a sweep of two candidates' layers prices those candidates
    like the simulation, and survives a save/load round trip."""
    pytest.importorskip("mcusim.predict.store", reason="the lookup-table predictor is absent")
    rng = np.random.default_rng(1)
    graphs = [untrained_graph(SPACE.random_architecture(rng), SPACE, seed=i) for i in range(2)]
    model = PredictorLatency.fit_sweep("stm32f746zg", graphs)
    sim = SimulatedLatency("stm32f746zg")
    for g in graphs:
        assert model.predict_graph(g).sum() == pytest.approx(sim.predict_graph(g).sum(), rel=0.05)
    model.predictor.save(tmp_path / "p.pkl")
    again = PredictorLatency.load(tmp_path / "p.pkl", board="stm32f746zg")
    np.testing.assert_allclose(again.predict_graph(graphs[0]), model.predict_graph(graphs[0]))
