"""INTERIM stand-ins for ``mcusim.model.lower``, ``mcusim.model.plan`` and
``mcusim.model.reference`` until those modules land on main.

REMOVE this module when they do: :mod:`mcusim.model.codegen` and :mod:`mcusim.model.run`
import the real modules first and fall back to these only when they are missing.  It covers
square strides and symmetric padding (what ``mcusim.kernels.s8_params`` supports today).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcusim.errors import ModelError
from mcusim.kernels.quant import QParams, activation_range, output_multipliers
from mcusim.kernels.s8_params import (
    AddParams, ConvParams, PoolParams, avg_pool_buffer_size, conv_wrapper_buffer_size,
)
from mcusim.kernels import s8_ref
from mcusim.model.graph import Graph


def _qp(graph: Graph, t: int) -> QParams:
    q = graph.tensors[t].quant
    if q is None:
        raise ModelError("tensor is not quantised", tensor=graph.tensors[t].name)
    s, z = q.scalar
    return QParams(s, z)


def lower_operator(graph: Graph, i: int) -> Any:
    """Kernel parameter object of operator ``i`` (``None`` for reshape)."""
    op = graph.operators[i]
    p = op.params
    if op.kind == "reshape":
        return None
    x = _qp(graph, op.inputs[0])
    y = _qp(graph, op.outputs[0])
    lo, hi = activation_range(p.activation, y)
    if op.kind in ("conv", "dwconv", "fc"):
        wq = graph.tensors[op.inputs[1]].quant
        assert wq is not None
        n_out = graph.tensors[op.outputs[0]].shape[-1]
        scales = np.broadcast_to(np.asarray(wq.scale, dtype=np.float64), (n_out,))
        mult, shift = output_multipliers(x.scale, scales, y.scale)
        return ConvParams(p.stride, p.padding, -x.zero_point, y.zero_point, lo, hi,
                          mult, shift)
    if op.kind in ("maxpool", "avgpool"):
        return PoolParams(p.filter, p.stride, p.padding, lo, hi)
    if op.kind == "add":
        return AddParams.from_qparams(x, _qp(graph, op.inputs[1]), y, activation=p.activation)
    raise ModelError(f"interim lowering: no kernel for {op.kind}", operator=op.name)


def lower_graph(graph: Graph) -> list[Any]:
    return [lower_operator(graph, i) for i in range(graph.num_operators)]


def scratch_bytes(graph: Graph, i: int) -> int:
    op = graph.operators[i]
    if op.kind == "conv":
        w = graph.tensors[op.inputs[1]]
        return conv_wrapper_buffer_size(w.shape[3], w.shape[1], w.shape[2],
                                        op.params.padding, dsp=True)
    if op.kind == "avgpool":
        return avg_pool_buffer_size(graph.tensors[op.outputs[0]].shape[-1], dsp=True)
    return 0


@dataclass
class LinearPlan:
    """No reuse: every activation and scratch buffer at its own 8-aligned offset."""

    order: tuple[int, ...]
    tensor_offsets: dict[int, int]
    tensor_sizes: dict[int, int]
    scratch_offsets: dict[int, int]
    scratch_sizes: dict[int, int]
    arena_bytes: int
    strategy: str = "interim-linear"
    extra: dict[str, Any] = field(default_factory=dict)


def linear_plan(graph: Graph) -> LinearPlan:
    off = 0
    t_off, t_size, s_off, s_size = {}, {}, {}, {}
    for t in graph.activations():
        t_off[t] = off
        t_size[t] = graph.tensors[t].nbytes
        off = (off + t_size[t] + 7) & ~7
    for i in range(graph.num_operators):
        n = scratch_bytes(graph, i)
        if n:
            s_off[i], s_size[i] = off, n
            off = (off + n + 7) & ~7
    end = max([t_off[t] + t_size[t] for t in t_off] + [s_off[i] + s_size[i] for i in s_off])
    return LinearPlan(tuple(range(graph.num_operators)), t_off, t_size, s_off, s_size, end)


def reference(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    """numpy execution of the graph with the ``s8`` references (outputs in graph order)."""
    lowered = lower_graph(graph)
    vals: dict[int, np.ndarray] = {graph.inputs[0]: np.asarray(x, dtype=np.int8)}
    for i, op in graph.iter_ops():
        a = vals[op.inputs[0]]
        p = lowered[i]
        shape = graph.tensors[op.outputs[0]].shape
        if op.kind == "conv":
            y = s8_ref.conv_s8_ref(a[0], graph.tensors[op.inputs[1]].data,
                                   graph.tensors[op.inputs[2]].data, p)
        elif op.kind == "dwconv":
            y = s8_ref.depthwise_conv_s8_ref(a[0], graph.tensors[op.inputs[1]].data[0],
                                             graph.tensors[op.inputs[2]].data, p)
        elif op.kind == "fc":
            y = s8_ref.fc_s8_ref(a.reshape(-1), graph.tensors[op.inputs[1]].data,
                                 graph.tensors[op.inputs[2]].data, p)
        elif op.kind == "maxpool":
            y = s8_ref.max_pool_s8_ref(a[0], p)
        elif op.kind == "avgpool":
            y = s8_ref.avg_pool_s8_ref(a[0], p)
        elif op.kind == "add":
            y = s8_ref.add_s8_ref(a, vals[op.inputs[1]], p)
        elif op.kind == "reshape":
            y = a
        else:
            raise ModelError(f"interim reference: no {op.kind}", operator=op.name)
        vals[op.outputs[0]] = np.asarray(y, dtype=np.int8).reshape(shape)
    return [vals[t] for t in graph.outputs]
