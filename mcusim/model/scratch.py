"""Scratch bytes each operator's kernel asks for, from the kernels' ``get_buffer_size`` mirrors.

The generated runner calls the wrappers (``mnn_convolve_wrapper_s8``,
``mnn_depthwise_conv_wrapper_s8``, ...), so the size here is the wrapper's: it follows the
same shape test as the C wrapper and then the chosen kernel's ``..._get_buffer_size()``
mirror in :mod:`mcusim.kernels.s8_params` (``packed`` and ``trec`` layers use the mirrors in
:mod:`mcusim.kernels.packed` and :mod:`mcusim.kernels.trec`).

Per ``s8`` operator kind (see ``firmware/s8``):

- ``conv``: 0 on the 1x1 / unpadded path, else two im2col columns
  (:func:`~mcusim.kernels.s8_params.conv_wrapper_buffer_size`);
- ``avgpool``: ``4 * C`` int32 channel sums with the DSP extension, 0 without;
- ``dwconv``, ``fc``, ``maxpool``, ``add``, ``reshape``, ``softmax``: none (the kernels
  ignore ``ctx``; softmax has no ``get_buffer_size``).

Examples
--------
>>> from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor
>>> q = Quant((0.05,), (0,))
>>> t = (Tensor("x", (1, 4, 4, 8), "int8", q), Tensor("y", (1, 1, 1, 8), "int8", q))
>>> op = Operator("gap", "avgpool", (0,), (1,), OpParams(filter=(4, 4), stride=(4, 4)))
>>> g = Graph("g", t, (op,), (0,), (1,))
>>> scratch_bytes(g, 0, dsp=True), scratch_bytes(g, 0, dsp=False)
(32, 0)
"""

from __future__ import annotations

from os import PathLike
from typing import Any

from mcusim.errors import ModelError
from mcusim.kernels import s8_params

__all__ = ["CORE_HAS_DSP", "board_has_dsp", "scratch_bytes"]

#: Whether a core implements the DSP extension (``__ARM_FEATURE_DSP``): both ARMv7E-M cores
#: do (Arm Cortex-M4 TRM r0p1 section 3.1; Cortex-M7 TRM r1p2 section 3.1, instruction set).
CORE_HAS_DSP: dict[str, bool] = {"cortex-m4": True, "cortex-m7": True}


def board_has_dsp(board: Any | None) -> bool:
    """``True`` when ``board``'s core has the DSP extension (``None``: the built-in boards,
    which all do).  ``board`` is a :class:`mcusim.boards.Board`, a built-in name or a profile
    path.

    Raises
    ------
    ModelError
        For a core mcusim does not know.
    """
    if board is None:
        return True
    if isinstance(board, (str, PathLike)):
        from mcusim.boards import get_board

        board = get_board(board)
    core = getattr(board, "core", None)
    if core not in CORE_HAS_DSP:
        raise ModelError(f"unknown core {core!r}: cannot tell whether it has the DSP extension",
                         board=getattr(board, "name", None))
    return CORE_HAS_DSP[core]


def scratch_bytes(graph: Any, op_index: int, *, dsp: bool) -> int:
    """Scratch bytes the kernel of operator ``op_index`` of ``graph`` needs.

    Parameters
    ----------
    graph
        A :class:`mcusim.model.graph.Graph`.
    op_index
        Index into ``graph.operators``.
    dsp
        Whether the firmware is built with ``MNN_DSP`` (the board's core has the DSP
        extension).

    Returns
    -------
    int
        Bytes, exactly what the C ``..._get_buffer_size()`` returns (0 when none).

    Raises
    ------
    ModelError
        For an operator index out of range or a kernel family with no mirror for the kind.
    """
    if not 0 <= op_index < len(graph.operators):
        raise ModelError(f"operator index {op_index} out of range",
                         model=graph.source or graph.name)
    op = graph.operators[op_index]
    family = op.kernel.family
    if family == "s8":
        return _s8(graph, op, dsp=dsp)
    if op.kind in ("conv", "fc") and family in ("packed", "trec"):
        return _low_bit(graph, op, family)
    if op.kind in ("reshape",):
        return 0
    raise ModelError(f"no scratch-size mirror for a {family!r} {op.kind!r} kernel",
                     model=graph.source or graph.name, operator=f"{op_index} ({op.name})")


def _s8(graph: Any, op: Any, *, dsp: bool) -> int:
    if op.kind == "conv":
        w = graph.tensors[op.inputs[1]]
        x = graph.tensors[op.inputs[0]]
        return s8_params.conv_wrapper_buffer_size(x.shape[3], w.shape[1], w.shape[2],
                                                  op.params.padding, dsp=dsp)
    if op.kind == "avgpool":
        y = graph.tensors[op.outputs[0]]
        return s8_params.avg_pool_buffer_size(y.shape[-1], dsp=dsp)
    return 0


def _low_bit(graph: Any, op: Any, family: str) -> int:
    from mcusim.kernels.layers import Layer

    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    w = graph.tensors[op.inputs[1]]
    if op.kind == "fc":
        layer = Layer(op.name, "fc", 1, 1, x.num_elements, y.num_elements)
    else:
        layer = Layer(op.name, "conv", x.shape[1], x.shape[2], x.shape[3], y.shape[3],
                      w.shape[1], w.shape[2], op.params.stride[0], max(op.params.padding))
    k = op.kernel
    if family == "packed":
        from mcusim.kernels.packed import conv_buffer_size

        return conv_buffer_size(layer, k.w_bits, k.a_bits)
    from mcusim.kernels.trec import TrecConfig, get_buffer_size

    return get_buffer_size(layer, TrecConfig(k.trec_l, k.trec_h))
