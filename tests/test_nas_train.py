"""Trained search end to end: Keras -> TFLite int8 -> mcusim graph, accuracy on the int8 graph.

Needs the ``search`` extra (TensorFlow); skipped with the reason when it is missing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="tensorflow-cpu (the 'search' extra) is not installed")

from mcusim.cli import main  # noqa: E402
from mcusim.model.reference import run_reference  # noqa: E402
from mcusim.model.tflite_io import from_tflite_bytes, read_tflite  # noqa: E402
from mcusim.search.nas.data import load_dataset  # noqa: E402
from mcusim.search.nas.evaluate import Evaluator, int8_accuracy, quantize_input  # noqa: E402
from mcusim.search.nas.graphs import untrained_graph  # noqa: E402
from mcusim.search.nas.pricing import graph_configs, peak_sram  # noqa: E402
from mcusim.search.nas.run import run_nas  # noqa: E402
from mcusim.search.nas.space import Architecture, ConvBlock, ConvLayer, SearchSpace  # noqa: E402
from mcusim.search.nas.study import Bounds  # noqa: E402
from mcusim.search.nas.train import TrainConfig, train_candidate  # noqa: E402

from tests.model_util import tflm_invoke  # noqa: E402

TINY = SearchSpace((8, 8, 1), 10, max_blocks=1, max_layers=2, max_channels=8, init_channels=6,
                   max_dense=2, max_units=16, init_units=12)
FAST = TrainConfig(epochs=2, batch_size=32, representative=20)
ARCH = Architecture((ConvBlock((ConvLayer("conv", 3, 6, 1), ConvLayer("dwconv", 5, 1, 2)),
                               "max"),), (12,))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="module")
def trained(digits):
    return train_candidate(ARCH, TINY, digits, FAST, seed=1)


def test_converted_candidate_matches_its_untrained_twin(trained):
    g = from_tflite_bytes(trained)
    twin = untrained_graph(ARCH, TINY)
    assert [op.kind for op in g.operators] == [op.kind for op in twin.operators]
    assert graph_configs(g).equals(graph_configs(twin))   # same layers: same latency and code
    assert peak_sram(g, "stm32f746zg") == peak_sram(twin, "stm32f746zg")
    assert g.weight_bytes() == twin.weight_bytes()


def test_int8_accuracy_is_the_firmware_reference_and_tflm_agrees(trained, digits, tmp_path):
    g = from_tflite_bytes(trained)
    path = tmp_path / "c.tflite"
    path.write_bytes(trained)
    q = quantize_input(g, digits.x_val[:8])
    shape = g.tensors[g.inputs[0]].shape
    for i in range(len(q)):
        ours = run_reference(g, q[i].reshape(shape))[0]
        np.testing.assert_array_equal(ours.reshape(-1), tflm_invoke(path, q[i].reshape(shape))
                                      .reshape(-1))
    acc = int8_accuracy(g, digits.x_val, digits.y_val)
    assert 0.3 < acc <= 1.0          # two epochs are well above chance (0.1) on digits


def test_training_is_deterministic_with_a_seed(trained, digits):
    assert train_candidate(ARCH, TINY, digits, FAST, seed=1) == trained


def test_tiny_trained_search_end_to_end(digits, tmp_path):
    res = run_nas(board="stm32f746zg", dataset=digits, space=TINY, rounds=3, population=2,
                  sample=2, bounds=Bounds(error=0.5, peak_sram=32768, flash_bytes=65536,
                                          latency_ms=5.0),
                  out=tmp_path, latency="macs", train=FAST, validate=None, progress=False)
    c = res.candidates
    assert len(c) == 3 and (c["status"] == "ok").all()
    assert c["accuracy"].between(0, 1).all() and np.allclose(c["error"], 1 - c["accuracy"])
    assert not res.front.empty
    for t in res.front["trial"]:
        best = tmp_path / f"best_{int(t):05d}.tflite"
        g = read_tflite(best)
        assert peak_sram(g, "stm32f746zg") == int(c.loc[c["trial"] == t, "peak_sram_predicted"]
                                                  .iloc[0])
    for f in ("candidates.csv", "pareto.png", "summary.json", "trials.jsonl", "study.json"):
        assert (tmp_path / f).exists()
    row = Evaluator(TINY, "stm32f746zg", dataset=digits, train=FAST).evaluate(
        Architecture.from_json(c.loc[0, "architecture"]), seed=int(c.loc[0, "seed"]))
    assert row["accuracy"] == c.loc[0, "accuracy"]        # a trial re-evaluates identically


def test_cli_search_nas_json(tmp_path, capsys):
    code = main(["search", "nas", "-b", "stm32f469i", "--rounds", "2", "--population", "2",
                 "--sample", "1", "--epochs", "1", "--max-sram", "65536", "--max-flash",
                 "200000", "--max-latency-ms", "50", "--out", str(tmp_path), "--latency",
                 "macs", "--validate", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["candidates"] == 2 and out["board"] == "stm32f469i"
    assert code == (0 if out["feasible"] else 3)
    assert (tmp_path / "candidates.csv").read_text().startswith("trial,architecture,")
