"""Lowering: a graph operator's quantisation turned into the arguments of an ``s8`` kernel.

This is the one place where graph quantisation (scales and zero points of
:class:`~mcusim.model.graph.Quant`) becomes kernel arguments (offsets, Q31 multipliers and
shifts, clamps), computed the way TFLite (Micro) prepares its int8 kernels:

- convolution, depthwise and fully connected: ``input_offset = -input_zp``,
  ``output_offset = output_zp``, per output channel ``QuantizeMultiplier(input_scale *
  weight_scale[c] / output_scale)`` in double precision from the float32 scales
  (``PopulateConvolutionQuantizationParams``); per-tensor weights (as fully-connected layers
  usually have) are replicated to every channel;
- strides, windows and ``(top, left, bottom, right)`` padding are passed as the graph holds
  them; pooling gets the window, stride, padding and clamp (it does not requantise);
- add: :meth:`mcusim.kernels.s8_params.AddParams.from_qparams` (TFLite's ``left_shift = 20``
  scheme) with the clamp below;
- softmax: :meth:`mcusim.kernels.s8_params.SoftmaxParams.from_scale` (output checked to be
  scale 1/256, zero point -128 as TFLite Micro requires);
- fused activations: TFLite's ``CalculateActivationRangeQuantized``, i.e.
  ``zero_point + round(x / scale)`` with the division done in float32
  (:func:`mcusim.kernels.quant.activation_range`).

Both the numpy reference (:mod:`mcusim.model.reference`) and the code generator take the
kernel arguments from here, so they cannot disagree.

Examples
--------
>>> from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor
>>> q = Quant((0.05,), (-3,))
>>> t = (Tensor("x", (1, 4, 4, 2), "int8", q), Tensor("y", (1, 2, 2, 2), "int8", q))
>>> op = Operator("pool", "maxpool", (0,), (1,), OpParams(filter=(2, 2), stride=(2, 2),
...                                                       activation="relu"))
>>> p = lower(Graph("tiny", t, (op,), inputs=(0,), outputs=(1,)))[0].params
>>> type(p).__name__, p.act_min, p.act_max       # ReLU clamps at the zero point
('PoolParams', -3, 127)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

from mcusim.errors import ModelError
from mcusim.kernels.quant import QParams, activation_range, output_multipliers
from mcusim.kernels.s8_params import AddParams, ConvParams, PoolParams, SoftmaxParams
from mcusim.model.graph import Graph, Operator, Quant, Tensor

__all__ = ["KernelParams", "LoweredOp", "lower", "lower_op",
           "qparams"]

#: Any of the ``s8`` kernels' parameter objects (``None`` for reshape).
KernelParams = Union[ConvParams, PoolParams, AddParams, SoftmaxParams, None]


@dataclass(frozen=True, eq=False)
class LoweredOp:
    """One operator ready for an ``s8`` kernel call.

    Parameters
    ----------
    index
        Operator index in the graph.
    kind
        The operator kind (see :data:`mcusim.model.graph.OP_KINDS`).
    params
        The kernel's parameter object: :class:`ConvParams` (conv, dwconv, fc),
        :class:`PoolParams` (avgpool, maxpool), :class:`AddParams` (add), :class:`SoftmaxParams`
        (softmax) or ``None`` (reshape, which moves no data).
    weights
        Constant weights in the kernel's layout: conv ``[C_OUT, KH, KW, C_IN]``, dwconv
        ``[KH, KW, C]``, fc ``[C_OUT, C_IN]`` (int8), else ``None``.
    bias
        int32 ``[C_OUT]`` or ``None``.
    inputs, outputs
        Tensor indices of the activations read and written (constants excluded).
    """

    index: int
    kind: str
    params: KernelParams
    weights: np.ndarray | None
    bias: np.ndarray | None
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def qparams(t: Tensor, *, where: dict[str, str] | None = None) -> QParams:
    """The per-tensor :class:`QParams` of an int8 activation tensor (ModelError if absent)."""
    where = where or {}
    if t.quant is None:
        raise ModelError("tensor is not quantised (float models are not supported)",
                         tensor=t.name, **where)
    if t.quant.per_channel:
        raise ModelError("activation tensor has per-channel quantisation", tensor=t.name,
                         **where)
    scale, zp = t.quant.scalar
    if not scale > 0 or not math.isfinite(scale):
        raise ModelError(f"quantisation scale {scale} must be positive", tensor=t.name, **where)
    return QParams(scale, zp)


def _weight_scales(w: Tensor, channels: int, where: dict[str, str]) -> np.ndarray:
    if w.quant is None:
        raise ModelError("weights are not quantised (float models are not supported)",
                         tensor=w.name, **where)
    if any(z != 0 for z in w.quant.zero_point):
        raise ModelError("weights must be symmetric (zero point 0)", tensor=w.name, **where)
    scales = np.asarray(w.quant.scale, dtype=np.float64)
    if scales.size == 1:
        scales = np.full(channels, scales[0])
    if scales.size != channels:
        raise ModelError(f"{scales.size} weight scales for {channels} output channels",
                         tensor=w.name, **where)
    return scales


def _const(g: Graph, idx: int, dtype: str, where: dict[str, str]) -> np.ndarray:
    t = g.tensors[idx]
    if t.data is None:
        raise ModelError("expected a constant tensor", tensor=t.name, **where)
    if t.dtype != dtype:
        raise ModelError(f"expected {dtype}, got {t.dtype}", tensor=t.name, **where)
    return np.asarray(t.data).reshape(t.shape)


def _check_int8(t: Tensor, where: dict[str, str]) -> None:
    if t.dtype != "int8":
        raise ModelError(f"activation dtype {t.dtype} is not supported (int8 only)",
                         tensor=t.name, **where)


def lower_op(graph: Graph, index: int) -> LoweredOp:
    """Lower operator ``index`` of ``graph`` (see the module docstring).

    Raises
    ------
    ModelError
        Naming the operator, when its quantisation or parameters have no ``s8`` kernel.
    """
    op: Operator = graph.operators[index]
    where = {"model": graph.source or graph.name, "operator": f"{index} ({op.name}, {op.kind})"}
    acts = tuple(i for i in op.inputs if not graph.tensors[i].is_constant)
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    for t in (x, y):
        _check_int8(t, where)
    in_q, out_q = qparams(x, where=where), qparams(y, where=where)
    p = op.params
    try:
        lo, hi = activation_range(p.activation, out_q)
    except ValueError as exc:
        raise ModelError(str(exc), **where) from None
    weights = bias = None
    params: KernelParams
    if op.kind in ("conv", "dwconv", "fc"):
        w = _const(graph, op.inputs[1], "int8", where)
        bias = _const(graph, op.inputs[2], "int32", where).reshape(-1)
        c_out = w.shape[0] if op.kind != "dwconv" else w.shape[3]
        w_scales = _weight_scales(graph.tensors[op.inputs[1]], c_out, where)
        mult, shift = output_multipliers(in_q.scale, w_scales, out_q.scale)
        stride, pad = (1, 0) if op.kind == "fc" else (p.stride, p.padding)
        if not -127 <= -in_q.zero_point <= 128:
            raise ModelError(f"input zero point {in_q.zero_point} out of range", **where)
        try:
            params = ConvParams(stride, pad, -in_q.zero_point, out_q.zero_point, lo, hi, mult,
                                shift)
        except ValueError as exc:
            raise ModelError(str(exc), **where) from None
        if op.kind == "dwconv":
            weights = w.reshape(w.shape[1:])          # [1, KH, KW, C] -> [KH, KW, C]
        elif op.kind == "fc":
            weights = w.reshape(w.shape[0], -1)
        else:
            weights = w
    elif op.kind in ("avgpool", "maxpool"):
        if in_q != out_q:
            raise ModelError(f"pooling must keep the quantisation (input {in_q}, output "
                             f"{out_q})", **where)
        try:
            params = PoolParams(p.filter, p.stride, p.padding, lo, hi)
        except ValueError as exc:
            raise ModelError(str(exc), **where) from None
    elif op.kind == "add":
        x2 = graph.tensors[op.inputs[1]]
        _check_int8(x2, where)
        try:
            params = AddParams.from_qparams(in_q, qparams(x2, where=where), out_q,
                                            activation=p.activation)
        except ValueError as exc:
            raise ModelError(str(exc), **where) from None
    elif op.kind == "softmax":
        params = _softmax_params(in_q, out_q, p.beta, where)
    elif op.kind == "reshape":
        if in_q != out_q:
            raise ModelError("reshape must keep the quantisation", **where)
        params = None
    else:  # validate() rejects unknown kinds; keep the error for unvalidated graphs
        raise ModelError(f"no s8 kernel for operator kind {op.kind!r}", **where)
    return LoweredOp(index, op.kind, params, weights, bias, acts, op.outputs)


def _softmax_params(in_q: QParams, out_q: QParams, beta: float,
                    where: dict[str, str]) -> SoftmaxParams:
    # TFLite Micro: TF_LITE_ENSURE_NEAR(scale, 1/256, 0.001/256) and zero point -128
    if abs(out_q.scale - 1.0 / 256.0) > 0.001 / 256.0 or out_q.zero_point != -128:
        raise ModelError(f"softmax output must be quantised with scale 1/256 and zero point "
                         f"-128 (TFLite int8), got {out_q}", **where)
    try:
        return SoftmaxParams.from_scale(in_q.scale, beta)
    except ValueError as exc:
        raise ModelError(str(exc), **where) from None


def lower(graph: Graph) -> tuple[LoweredOp, ...]:
    """Lower every operator of ``graph``, in execution order."""
    return tuple(lower_op(graph, i) for i in range(graph.num_operators))


def quant_of(qp: QParams) -> Quant:
    """The per-tensor :class:`Quant` of a :class:`QParams` (inverse of :func:`qparams`)."""
    return Quant((float(qp.scale),), (int(qp.zero_point),))
