"""The TensorFlow parts of the bit-width search: LSQ step learning, the export's integer
arithmetic against the emulated board, and a tiny search end to end (skipped without the
``search`` extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="the 'search' extra (tensorflow-cpu) is absent")

from mcusim.model import load_model  # noqa: E402
from mcusim.model.lower_packed import run_reference_mixed  # noqa: E402
from mcusim.model.run import run_model  # noqa: E402
from mcusim.search.quant.data import digits_cnn, load_dataset, to_int8  # noqa: E402
from mcusim.search.quant.policy import resolve, uniform  # noqa: E402
from mcusim.search.quant.qat import QatModel, _layers  # noqa: E402


@pytest.mark.parametrize("bits", [2, 4])
def test_lsq_step_learning_reduces_quantisation_error(bits):
    """A toy layer: the step of an LSQ quantiser trained to reproduce its input lowers the
    quantisation error from a poor initial step."""
    layers = _layers(tf)
    aq = layers["ActQuant"](False)
    x = tf.constant(np.random.default_rng(0).normal(size=(256, 16)).astype(np.float32))
    aq(x)
    aq.bits.assign(float(bits))
    aq.enabled.assign(1.0)
    aq.step.assign(3.0)  # far too coarse

    def err():
        return float(tf.reduce_mean((aq(x) - x) ** 2))

    before = err()
    opt = tf.keras.optimizers.Adam(0.05)
    for _ in range(150):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((aq(x) - x) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, [aq.step]), [aq.step]))
    assert err() < 0.5 * before


@pytest.mark.parametrize("board", ["stm32f469i", "stm32f746zg"])
def test_exported_low_bit_model_runs_bit_exactly(board):
    g = digits_cnn()
    d = load_dataset("digits")
    qm = QatModel(g)
    qm.pretrain(d.x_train[:300], d.y_train[:300], epochs=1)
    pol = resolve(g, {0: (4, 8), 1: (2, 4), 2: (4, 2), 3: (2, 2), 5: (4, 4)})
    qm.apply(pol, d.x_train[:64])
    qm.finetune(d.x_train[:300], d.y_train[:300], epochs=1)
    m = qm.export(pol, {0: "mul", 1: "smlad", 2: "mul", 3: "mul", 5: "smlad"})
    assert m.tensors[m.operators[3].inputs[1]].bits == 2
    xi = to_int8(d.x_test[:2])
    for k in range(2):
        ref = run_reference_mixed(m, xi[k:k + 1])[0]
        assert np.array_equal(run_model(m, board, xi[k:k + 1]).outputs[0], ref)


def test_tiny_search_end_to_end(tmp_path):
    from mcusim.cli import main

    out = tmp_path / "q"
    rc = main(["search", "quant", "tiny", "-b", "stm32f469i", "--episodes", "2", "--epochs",
               "1", "--pretrain-epochs", "1", "--final-epochs", "1", "--no-baselines",
               "--out", str(out), "--json"])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert set(s["bits"]) == {"conv1", "pw3", "fc8"}
    assert "depthwise" in s["kept_8_bit"]["dw2"]
    for key in ("accuracy", "latency_ms", "measured_latency_ms", "peak_sram_bytes",
                "flash_bytes"):
        assert s[key] is not None
    assert s["bit_exact"] is True
    for f in ("bits.json", "trace.csv", "trace.png", "model.tflite", "fit.txt", "fit.json"):
        assert (out / f).is_file(), f
    assert len((out / "trace.csv").read_text().splitlines()) == 3
    assert "dw2: no low-bit depthwise kernel" in (out / "fit.txt").read_text()
    # the written model reads back with its bits and kernels, and fits
    from mcusim.model.report import fit

    g = load_model(str(out / "model.tflite"))
    assert any(op.kernel.family == "packed" for op in g.operators)
    assert fit(g, "stm32f469i").fits


def test_search_with_impossible_budget_is_a_clear_error(tmp_path, capsys):
    from mcusim.cli import main

    rc = main(["search", "quant", "tiny", "-b", "stm32f469i", "--episodes", "1",
               "--pretrain-epochs", "0", "--max-latency-ms", "0.001", "--out",
               str(tmp_path / "q")])
    err = capsys.readouterr().err
    assert rc == 1 and "no policy meets the budget" in err and "closest" in err


def test_uniform_policies_exist_for_zoo_models():
    g = load_model("tiny")
    assert uniform(g, 2, 2).bits[0] == (2, 8)
