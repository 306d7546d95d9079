"""Whole-graph numpy reference (mcusim.model.reference) and lowering (mcusim.model.lower):
bit-exact with TensorFlow Lite Micro's own interpreter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mcusim.errors import ModelError
from mcusim.kernels.quant import QParams, quantize_multiplier
from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor
from mcusim.kernels.quant import activation_range
from mcusim.model.lower import lower, lower_op
from mcusim.model.reference import run_reference
from mcusim.model.tflite_io import read_tflite, write_tflite
from mcusim.model.zoo import calibration_images, get_model, list_models
from tests.model_util import SHARED_MODEL_FILES, random_input, shared_model, tflm_invoke



def _check_against_tflm(g: Graph, path, seeds=(0, 1)) -> None:
    shape = g.tensors[g.inputs[0]].shape
    inputs = [random_input(shape, s) for s in seeds]
    if len(shape) == 4:   # one natural-looking input on the model's int8 grid
        img = calibration_images(shape[1:], 1, seed=77)[0]
        inputs.append((np.round(img * 255) - 128).astype(np.int8).reshape(shape))
    for x in inputs:
        expect = tflm_invoke(path, x)
        got = run_reference(g, x)[0]
        assert got.dtype == np.int8 and got.shape == expect.shape
        np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("name", list_models())
def test_zoo_bit_exact_with_tflite_micro(name, tmp_path) -> None:
    g = get_model(name)
    _check_against_tflm(g, write_tflite(g, tmp_path / f"{name}.tflite"))


@pytest.mark.parametrize("name", SHARED_MODEL_FILES)
def test_real_models_bit_exact_with_tflite_micro(name) -> None:
    path = shared_model(name)
    _check_against_tflm(read_tflite(path), path, seeds=(0, 1, 2))


def test_prefix_bit_exact_without_softmax(tmp_path) -> None:
    """CifarNet up to its logits needs no asymmetric padding nor softmax."""
    g = get_model("cifarnet")
    cut = replace(g, operators=g.operators[:-1], outputs=g.operators[-1].inputs)
    _check_against_tflm(cut, write_tflite(cut, tmp_path / "cut.tflite"), seeds=(4,))


def test_intermediates_and_reshape_is_a_no_op() -> None:
    g = get_model("cifarnet")
    cut = replace(g, operators=g.operators[:-1], outputs=g.operators[-1].inputs)
    outs, acts = run_reference(cut, random_input((1, 32, 32, 3), 9), intermediates=True)
    written = {cut.tensors[op.outputs[0]].name for op in cut.operators}
    assert set(acts) == written | {"input"}
    np.testing.assert_array_equal(acts["flatten"].ravel(), acts["pool2"].ravel())
    assert acts["conv1"].shape == (1, 28, 28, 64)
    np.testing.assert_array_equal(outs[0], acts["fc3"])


def test_inputs_by_name_and_bad_inputs() -> None:
    g = get_model("cifarnet")
    g = replace(g, operators=g.operators[:-1], outputs=g.operators[-1].inputs)
    x = random_input((1, 32, 32, 3), 1)
    a = run_reference(g, x)[0]
    np.testing.assert_array_equal(run_reference(g, {"input": x.ravel()})[0], a)
    with pytest.raises(ModelError, match="input must be int8"):
        run_reference(g, x.astype(np.int16))
    with pytest.raises(ModelError, match=r"does not match \(1, 32, 32, 3\)"):
        run_reference(g, x[:, :16])
    with pytest.raises(ModelError, match="unknown input"):
        run_reference(g, {"image": x})
    with pytest.raises(ModelError, match="takes 1 input"):
        run_reference(g, [x, x])


# ---------------------------------------------------------------- lowering
def test_conv_multipliers_are_tflites() -> None:
    g = get_model("cifarnet")
    low = lower_op(g, 0)
    x, w, _ = (g.tensors[i] for i in g.operators[0].inputs)
    y = g.tensors[g.operators[0].outputs[0]]
    for c in (0, 17, 63):
        m, s = quantize_multiplier(x.quant.scale[0] * w.quant.scale[c] / y.quant.scale[0])
        assert (low.params.multipliers[c], low.params.shifts[c]) == (m, s)
    assert low.params.input_offset == -x.quant.zero_point[0]
    assert low.params.act_min == y.quant.zero_point[0]     # fused ReLU
    assert low.weights.shape == (64, 5, 5, 3) and low.bias.dtype == np.int32


def test_fc_per_tensor_weights_replicated() -> None:
    g = get_model("cifarnet")
    i = next(i for i, op in g.iter_ops() if op.name == "fc1")
    assert not g.tensors[g.operators[i].inputs[1]].quant.per_channel
    p = lower_op(g, i).params
    assert p.multipliers.shape == (384,) and len(set(p.multipliers.tolist())) == 1


def test_depthwise_weights_layout() -> None:
    g = get_model("tiny")
    low = lower(g)[1]
    assert low.kind == "dwconv" and low.weights.shape == (3, 3, 8)
    assert low.inputs == (g.operators[1].inputs[0],)


@pytest.mark.parametrize("scale, zp, kind, expect", [
    (0.05, -128, "relu", (-128, 127)),
    (0.05, -10, "relu", (-10, 127)),
    (0.05, -128, "relu6", (-128, -8)),        # -128 + round(6 / 0.05) = -8
    (0.0235, 3, "relu6", (3, 127)),           # 3 + 255 > 127
    (0.1, 0, "none", (-128, 127)),
])
def test_activation_range(scale, zp, kind, expect) -> None:
    assert activation_range(kind, QParams(float(np.float32(scale)), zp)) == expect


def test_relu6_clamp_divides_in_float32_like_tflite_micro(tmp_path) -> None:
    """scale = float32(6 / 7.5): 6 / scale is 7.4999999 in double but 7.5 in float32, so
    TFLite's ``quantize(6)`` (float32) gives zero_point + 8 where double arithmetic gives 7."""
    scale = float(np.float32(6.0 / 7.5))
    assert np.floor(6.0 / scale + 0.5) == 7
    assert activation_range("relu6", QParams(scale, -128)) == (-128, -120)
    q = Quant((scale,), (-128,))
    t = (Tensor("x", (1, 2, 2, 1), "int8", q), Tensor("y", (1, 2, 2, 1), "int8", q))
    op = Operator("p", "maxpool", (0,), (1,), OpParams(filter=(1, 1), activation="relu6"))
    g = Graph("relu6", t, (op,), (0,), (1,))
    x = np.array([-128, -121, -120, 127], np.int8).reshape(1, 2, 2, 1)
    expect = tflm_invoke(write_tflite(g, tmp_path / "relu6.tflite"), x)
    assert expect.max() == -120
    np.testing.assert_array_equal(run_reference(g, x)[0], expect)


def _pool_graph(out_q: Quant) -> Graph:
    q = Quant((0.05,), (-3,))
    t = (Tensor("x", (1, 4, 4, 2), "int8", q), Tensor("y", (1, 2, 2, 2), "int8", out_q))
    op = Operator("p", "maxpool", (0,), (1,), OpParams(filter=(2, 2), stride=(2, 2)))
    return Graph("g", t, (op,), (0,), (1,))


def test_lowering_errors_name_the_operator() -> None:
    with pytest.raises(ModelError, match=r"pooling must keep the quantisation.*operator=0 \(p"):
        lower(_pool_graph(Quant((0.1,), (-3,))))
    g = _pool_graph(Quant((0.05,), (-3,)))
    g = replace(g, tensors=(replace(g.tensors[0], quant=None), g.tensors[1]))
    with pytest.raises(ModelError, match="not quantised.*tensor=x"):
        lower(g)


def test_softmax_output_quantisation_checked() -> None:
    g = get_model("tiny")
    out = g.outputs[0]
    bad = replace(g, tensors=tuple(replace(t, quant=Quant((0.01,), (0,))) if i == out else t
                                   for i, t in enumerate(g.tensors)))
    with pytest.raises(ModelError, match="softmax output must be quantised"):
        lower(bad)
