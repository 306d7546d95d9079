"""TFLite import/export (mcusim.model.tflite_io): real files, round trips, bad files."""

from __future__ import annotations

import struct
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mcusim.errors import ModelError
from mcusim.model import tflite_io
from mcusim.model.graph import Graph, KernelChoice, Operator, OpParams, Quant, Tensor
from mcusim.model.tflite_io import from_tflite_bytes, read_tflite, to_tflite_bytes, write_tflite
from mcusim.model.zoo import get_model, list_models
from tests.model_util import SHARED_MODEL_FILES, random_input, shared_model, tflm_invoke


def test_import_keyword_spotting() -> None:
    g = read_tflite(shared_model("kws_ref_model.tflite"))
    assert [op.kind for op in g.operators] == (
        ["conv"] + ["dwconv", "conv"] * 4 + ["avgpool", "reshape", "fc", "softmax"])
    assert g.operators[0].params.padding == (4, 1, 5, 1)
    assert g.operators[0].params.stride == (2, 2)
    assert g.operators[9].params.filter == (25, 5)
    assert all(op.params.activation == "relu" for op in g.operators[:9])
    assert g.tensors[g.inputs[0]].shape == (1, 49, 10, 1)
    assert g.source.endswith("kws_ref_model.tflite") and g.name == "kws_ref_model"


def test_import_resnet8() -> None:
    g = read_tflite(shared_model("pretrainedResnet_quant.tflite"))
    kinds = [op.kind for op in g.operators]
    assert kinds.count("conv") == 9 and kinds.count("add") == 3
    assert g.operators[4].params.padding == (0, 0, 1, 1)        # SAME, stride 2, asymmetric
    assert g.operators[6].params.padding == (0, 0, 0, 0)        # 1x1 stride 2
    fc = g.operators[14]
    assert fc.kind == "fc" and not g.tensors[fc.inputs[1]].quant.per_channel


@pytest.mark.parametrize("name", SHARED_MODEL_FILES)
def test_real_model_round_trip_and_tflm_agrees(name, tmp_path) -> None:
    src = shared_model(name)
    g = read_tflite(src)
    out = write_tflite(g, tmp_path / name)
    g2 = read_tflite(out)
    assert g2 == g and g2.source == str(out)
    x = random_input(g.tensors[g.inputs[0]].shape, 3)
    np.testing.assert_array_equal(tflm_invoke(out, x), tflm_invoke(src, x))


@pytest.mark.parametrize("name", list_models())
def test_zoo_round_trip(name) -> None:
    g = get_model(name)
    assert from_tflite_bytes(to_tflite_bytes(g)) == g


def test_round_trip_keeps_kernels_and_bits() -> None:
    g = get_model("tiny").with_kernels({0: KernelChoice("packed", 4, 8),
                                        2: KernelChoice("trec", trec_l=8, trec_h=6)})
    w = g.operators[0].inputs[1]
    g = replace(g, tensors=tuple(replace(t, bits=4) if i == w else t
                                 for i, t in enumerate(g.tensors)))
    g2 = from_tflite_bytes(to_tflite_bytes(g))
    assert g2 == g
    assert g2.operators[2].kernel.trec_h == 6 and g2.tensors[w].bits == 4


def test_equality_sees_weights() -> None:
    g = get_model("tiny")
    w = g.operators[0].inputs[1]
    data = g.tensors[w].data.copy()
    data[0, 0, 0, 0] ^= 1
    changed = replace(g, tensors=tuple(replace(t, data=data) if i == w else t
                                       for i, t in enumerate(g.tensors)))
    assert changed != g


def test_export_rejects_padding_tflite_cannot_express() -> None:
    q = Quant((0.05,), (0,))
    w = Tensor("w", (2, 3, 3, 1), "int8", Quant((0.01,), (0,)), np.ones((2, 3, 3, 1), np.int8))
    b = Tensor("b", (2,), "int32", Quant((0.0005,), (0,)), np.zeros(2, np.int32))
    t = (Tensor("x", (1, 8, 8, 1), "int8", q), w, b, Tensor("y", (1, 4, 4, 2), "int8", q))
    op = Operator("c", "conv", (0, 1, 2), (3,), OpParams(stride=(2, 2), padding=(1, 1, 1, 1)))
    with pytest.raises(ModelError, match=r"neither TFLite SAME \(0, 0, 1, 1\) nor VALID"):
        to_tflite_bytes(Graph("g", t, (op,), (0,), (3,)))


# ---------------------------------------------------------------- bad files
def _tiny_bytes() -> bytearray:
    return bytearray(to_tflite_bytes(get_model("tiny")))


def _model(buf: bytearray):
    import tflite

    return tflite.Model.GetRootAs(bytes(buf), 0)


def _write(tmp_path: Path, data: bytes | bytearray) -> Path:
    p = tmp_path / "bad.tflite"
    p.write_bytes(bytes(data))
    return p


def test_unsupported_operator_names_index_type_and_file(tmp_path) -> None:
    buf = _tiny_bytes()
    m = _model(buf)
    oc = m.OperatorCodes(m.Subgraphs(0).Operators(0).OpcodeIndex())   # conv1's code
    struct.pack_into("<i", buf, oc._tab.Pos + oc._tab.Offset(10), 18)      # builtin: MUL
    struct.pack_into("<b", buf, oc._tab.Pos + oc._tab.Offset(4), 18)       # deprecated code
    p = _write(tmp_path, buf)
    with pytest.raises(ModelError, match=r"unsupported operator MUL") as e:
        read_tflite(p)
    assert e.value.details["operator"] == "0 (MUL)" and e.value.details["file"] == str(p)


def test_float_model(tmp_path) -> None:
    buf = _tiny_bytes()
    t = _model(buf).Subgraphs(0).Tensors(0)                                 # the input
    struct.pack_into("<b", buf, t._tab.Pos + t._tab.Offset(6), 0)           # FLOAT32
    p = _write(tmp_path, buf)
    with pytest.raises(ModelError, match=r"float \(non-quantised\) model") as e:
        read_tflite(p)
    assert e.value.details["file"] == str(p) and e.value.details["tensor"] == "input"


def test_shape_mismatch(tmp_path) -> None:
    buf = _tiny_bytes()
    g = get_model("tiny")
    t = _model(buf).Subgraphs(0).Tensors(g.operators[0].outputs[0])
    struct.pack_into("<i", buf, t._tab.Vector(t._tab.Offset(4)) + 4, 7)     # H 8 -> 7
    p = _write(tmp_path, buf)
    with pytest.raises(ModelError, match=r"shape mismatch.*operator=0 \(conv1, conv\)") as e:
        read_tflite(p)
    assert e.value.details["model"] == str(p)


def test_unsupported_fused_activation(tmp_path) -> None:
    import tflite

    buf = _tiny_bytes()
    op = _model(buf).Subgraphs(0).Operators(0)
    opts = tflite.Conv2DOptions()
    tab = op.BuiltinOptions()
    opts.Init(tab.Bytes, tab.Pos)
    struct.pack_into("<b", buf, opts._tab.Pos + opts._tab.Offset(10), 4)    # TANH
    with pytest.raises(ModelError, match=r"unsupported fused activation TANH.*operator=0"):
        from_tflite_bytes(bytes(buf))


def test_missing_bias_becomes_a_zero_bias(tmp_path) -> None:
    """TFLite allows CONV_2D without bias (input -1); TFLite Micro and the reference agree."""
    from mcusim.model.reference import run_reference

    buf = _tiny_bytes()
    op = _model(buf).Subgraphs(0).Operators(0)
    struct.pack_into("<i", buf, op._tab.Vector(op._tab.Offset(6)) + 8, -1)   # inputs[2]
    p = _write(tmp_path, buf)
    g = read_tflite(p)
    bias = g.tensors[g.operators[0].inputs[2]]
    assert bias.name == "op0/zero_bias" and not bias.data.any() and bias.shape == (8,)
    x = random_input((1, 8, 8, 1), 5)
    np.testing.assert_array_equal(run_reference(g, x)[0], tflm_invoke(p, x))


def test_imported_constants_are_read_only() -> None:
    g = from_tflite_bytes(bytes(_tiny_bytes()))
    assert all(not t.data.flags.writeable for t in g.tensors if t.is_constant)


def test_huge_vector_length_fails_fast() -> None:
    buf = _tiny_bytes()
    sg = _model(buf).Subgraphs(0)
    struct.pack_into("<I", buf, sg._tab.Vector(sg._tab.Offset(4)) - 4, 0x7FFFFFFF)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="corrupt TFLite file: tensors claims"):
        from_tflite_bytes(bytes(buf))
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 0.999])
def test_truncated_file(tmp_path, fraction) -> None:
    buf = _tiny_bytes()
    p = _write(tmp_path, buf[:int(len(buf) * fraction)])
    with pytest.raises(ModelError) as e:
        read_tflite(p)
    assert e.value.details["file"] == str(p)


def test_random_corruption_is_a_model_error_or_a_valid_graph() -> None:
    good = bytes(_tiny_bytes())
    rng = np.random.default_rng(0)
    for _ in range(60):
        buf = bytearray(good)
        for pos in rng.integers(8, len(buf), size=4):
            buf[pos] = int(rng.integers(0, 256))
        try:
            g = from_tflite_bytes(bytes(buf))
        except ModelError:
            continue
        assert g.validate() is g


def test_not_a_tflite_file(tmp_path) -> None:
    p = tmp_path / "x.tflite"
    p.write_text("hello, this is text")
    with pytest.raises(ModelError, match="file identifier 'TFL3' missing"):
        read_tflite(p)


def test_missing_directory_and_oversized(tmp_path, monkeypatch) -> None:
    with pytest.raises(ModelError, match="cannot read model"):
        read_tflite(tmp_path / "nope.tflite")
    with pytest.raises(ModelError, match="not a regular file"):
        read_tflite(tmp_path)
    p = _write(tmp_path, _tiny_bytes())
    monkeypatch.setattr(tflite_io, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ModelError, match="exceeds the 1000 byte limit"):
        read_tflite(p)
