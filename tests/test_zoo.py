"""Built-in models (mcusim.model.zoo), load_model and the graph summary."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim.boards import get_board
from mcusim.errors import ModelError
from mcusim.model import load_model, zoo
from mcusim.model.tflite_io import write_tflite
from mcusim.model.zoo import calibration_images, get_model, list_models, model_info

BOARDS = ("stm32f469i", "stm32f746zg")
#: Flash kept free for the runner's code and tables when checking that the weights fit.
CODE_RESERVE = 64 * 1024


def test_names() -> None:
    assert list_models() == ("tiny", "cifarnet", "squeezenet", "zfnet")
    with pytest.raises(ModelError, match="no built-in model 'alexnet'; known: tiny"):
        model_info("alexnet")


@pytest.mark.parametrize("name", list_models())
def test_model_is_valid_and_quantised(name) -> None:
    g = get_model(name).validate()
    assert g.source == f"zoo:{name}" and g.name == name
    assert g.tensors[g.inputs[0]].shape == model_info(name).input_shape
    assert g.operators[-1].kind == "softmax"
    for t in g.tensors:
        assert t.quant is not None
        assert all(float(np.float32(s)) == s for s in t.quant.scale)   # float32 exact
        if t.is_constant:
            assert not t.data.flags.writeable
            if t.dtype == "int8":
                assert t.data.min() >= -127 and all(z == 0 for z in t.quant.zero_point)


def test_kinds_of_tiny_cover_every_operator() -> None:
    from mcusim.model.graph import OP_KINDS

    assert {op.kind for op in get_model("tiny").operators} == set(OP_KINDS)
    assert get_model("tiny").operators[1].params.padding == (0, 0, 1, 1)


def test_shapes_follow_the_paper_layers() -> None:
    from mcusim.kernels.layers import CIFARNET, SQUEEZENET

    g = get_model("cifarnet")
    convs = [op for op in g.operators if op.kind in ("conv", "fc")]
    assert [g.macs(g.operators.index(op)) for op in convs] == [l.macs for l in CIFARNET]
    sq = get_model("squeezenet")
    stem = sq.operators[0]
    assert sq.tensors[stem.outputs[0]].shape == (1, 32, 32, SQUEEZENET[0].out_c)
    squeeze = sq.operators[2]
    assert sq.tensors[squeeze.inputs[1]].shape == (16, 1, 1, 96)


def test_fire_expand_1x1_half_has_only_the_centre_tap() -> None:
    g = get_model("squeezenet")
    op = next(o for o in g.operators if o.name == "fire2.expand")
    w = g.tensors[op.inputs[1]].data
    assert w.shape == (128, 3, 3, 16)
    off_centre = w[:64].copy()
    off_centre[:, 1, 1, :] = 0
    assert not off_centre.any() and w[:64, 1, 1].any() and w[64:, 0, 0].any()


def test_deterministic() -> None:
    first = get_model("zfnet")
    get_model.cache_clear()
    assert get_model("zfnet") == first and get_model("zfnet") is not first
    a = calibration_images((8, 8, 3), 2, seed=5)
    np.testing.assert_array_equal(a, calibration_images((8, 8, 3), 2, seed=5))
    assert a.min() == 0.0 and a.max() == 1.0


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", list_models())
def test_fits_the_paper_boards(name, board) -> None:
    """The paper runs all three networks on both boards: weights fit the Flash with room for
    code, and the largest operator's live activations fit the board's largest SRAM region."""
    b = get_board(board)
    g = get_model(name)
    assert g.weight_bytes() + CODE_RESERVE <= b.flash_bytes
    biggest_region = max(r.size for r in b.ram_regions())
    assert max(g.op_activation_bytes(i) for i in range(g.num_operators)) < biggest_region


def test_summary() -> None:
    g = get_model("cifarnet")
    df = g.summary()
    assert list(df.columns) == ["name", "kind", "input_shape", "output_shape", "macs",
                                "weight_bytes", "activation_bytes", "kernel"]
    assert df["macs"].sum() == g.total_macs() == 14_693_248
    assert df["weight_bytes"].sum() == g.weight_bytes()
    row = df.iloc[0]
    assert (row["name"], row["output_shape"], row["weight_bytes"]) == (
        "conv1", (1, 28, 28, 64), 64 * 5 * 5 * 3 + 4 * 64)
    assert row["activation_bytes"] == 32 * 32 * 3 + 28 * 28 * 64
    assert set(df["kernel"]) == {"s8"}


def test_load_model(tmp_path) -> None:
    assert load_model("tiny") is get_model("tiny")
    p = write_tflite(get_model("tiny"), tmp_path / "t.tflite")
    assert load_model(p) == get_model("tiny")
    assert load_model(str(p)).source == str(p)
    with pytest.raises(ModelError, match="neither a built-in model"):
        load_model("no_such_model")
    with pytest.raises(ModelError, match="cannot read model"):
        load_model(tmp_path / "missing.tflite")


def test_doctests() -> None:
    import doctest

    import mcusim.model as model_pkg
    from mcusim.model import graph, lower, reference, tflite_io

    for mod in (model_pkg, graph, lower, reference, tflite_io, zoo):
        failures, _ = doctest.testmod(mod)
        assert failures == 0, mod.__name__
