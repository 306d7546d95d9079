"""The model graph's validation (mcusim.model.graph)."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim.errors import ModelError
from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor

Q = Quant((0.05,), (-3,))


def _conv_graph(out_shape: tuple[int, ...], padding=(0, 0, 0, 0), stride=(1, 1)) -> Graph:
    w = Tensor("w", (4, 3, 3, 2), "int8", Quant((0.01,) * 4, (0,) * 4, axis=0),
               data=np.ones((4, 3, 3, 2), np.int8))
    b = Tensor("b", (4,), "int32", Quant((0.0005,) * 4, (0,) * 4), data=np.zeros(4, np.int32))
    tensors = (Tensor("x", (1, 8, 8, 2), "int8", Q), w, b, Tensor("y", out_shape, "int8", Q))
    op = Operator("conv", "conv", (0, 1, 2), (3,), OpParams(stride=stride, padding=padding))
    return Graph("t", tensors, (op,), inputs=(0,), outputs=(3,))


@pytest.mark.parametrize("out_shape, padding, stride", [
    ((1, 6, 6, 4), (0, 0, 0, 0), (1, 1)),
    ((1, 8, 8, 4), (1, 1, 1, 1), (1, 1)),
    ((1, 4, 4, 4), (0, 0, 1, 1), (2, 2)),      # TFLite SAME, stride 2: the extra pixel after
])
def test_valid_conv_shapes(out_shape, padding, stride) -> None:
    g = _conv_graph(out_shape, padding, stride).validate()
    assert g.macs(0) == int(np.prod(out_shape)) * 3 * 3 * 2
    assert g.weight_bytes() == 4 * 3 * 3 * 2 + 4 * 4


def test_shape_mismatch_names_the_operator() -> None:
    with pytest.raises(ModelError, match=r"shape mismatch.*operator=0 \(conv, conv\)"):
        _conv_graph((1, 7, 7, 4)).validate()


def test_read_before_write_and_unknown_kind() -> None:
    t = (Tensor("x", (1, 4), "int8", Q), Tensor("y", (1, 4), "int8", Q))
    with pytest.raises(ModelError, match="before any operator writes it"):
        Graph("t", t, (Operator("s", "softmax", (1,), (0,)),), (0,), (1,)).validate()
    with pytest.raises(ModelError, match="unknown operator kind 'gelu'"):
        Graph("t", t, (Operator("g", "gelu", (0,), (1,)),), (0,), (1,)).validate()
