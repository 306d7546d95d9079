"""A mixed-precision graph from an int8 graph and a policy, by post-training re-quantisation
(no training library needed).

Weights of each low-bit operator are de-quantised and re-quantised symmetric per output
channel to ``w_bits``; each low-bit activation tensor takes the real range of its int8
quantisation on a ``2^b - 1`` grid (zero point 0 when the range starts at 0, as after a ReLU);
biases are re-quantised with the new ``input_scale * weight_scale``.  Trained low-bit
graphs come from :mod:`mcusim.search.quant.qat` instead; both end in the same
:func:`set_kernels`.

Examples
--------
>>> from mcusim.model import load_model
>>> from mcusim.search.quant.policy import resolve
>>> g = load_model("tiny")
>>> m = requantize_graph(g, resolve(g, {0: (4, 8)}), {0: "mul"})
>>> m.operators[0].kernel.family, m.tensors[m.operators[0].inputs[1]].bits
('packed', 4)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import numpy as np

from mcusim.kernels.packed import max_value
from mcusim.model.graph import Graph, KernelChoice, Quant, Tensor
from mcusim.search.quant.policy import Policy

__all__ = ["activation_quant", "requantize_graph", "set_kernels", "weight_quant"]


def activation_quant(q: Quant, bits: int) -> Quant:
    """The ``bits`` quantisation (unsigned zero point) covering an int8 tensor's range."""
    scale, zp = q.scalar
    lo, hi = scale * (-128 - zp), scale * (127 - zp)
    top = max_value(bits)
    if zp == -128:  # range starts at 0 (ReLU)
        return Quant((float(np.float32(hi / top)),), (0,))
    s = float(np.float32((hi - lo) / top))
    z = int(np.clip(np.round(-lo / s), 0, top))
    return Quant((s,), (z,))


def weight_quant(real: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel (axis 0) quantisation: ``(int8 values, float scales)``."""
    half = 1 << (bits - 1)
    flat = real.reshape(real.shape[0], -1)
    amax = np.abs(flat).max(axis=1)
    scales = np.where(amax > 0, amax / (half - 1 if bits > 2 else half), 1.0)
    scales = scales.astype(np.float32).astype(np.float64)
    q = np.clip(np.round(flat / scales[:, None]), -half, half - 1).astype(np.int8)
    return q.reshape(real.shape), scales


def _dequant_weights(t: Tensor) -> np.ndarray:
    q = np.asarray(t.data, np.float64).reshape(t.shape)
    s = np.asarray(t.quant.scale, np.float64)  # type: ignore[union-attr]
    if s.size == 1:
        return q * s[0]
    shape = [1] * q.ndim
    axis = t.quant.axis if t.quant.axis is not None else 0  # type: ignore[union-attr]
    shape[axis] = s.size
    return q * s.reshape(shape)


def requantize_graph(graph: Graph, policy: Policy, kernels: Mapping[int, str]) -> Graph:
    """Re-quantise ``graph`` to ``policy`` (see the module docstring).

    Parameters
    ----------
    graph
        An int8 graph (all tensors 8 bits).
    policy
        From :func:`mcusim.search.quant.policy.resolve`.
    kernels
        ``op index -> "mul" | "smlad" | "s8"`` for the quantisable operators (see
        :func:`set_kernels`); 8/8 operators absent from it stay ``s8``.
    """
    tensors = list(graph.tensors)
    for t, b in policy.tensor_bits.items():
        if b < 8:
            tensors[t] = replace(tensors[t], quant=activation_quant(tensors[t].quant, b), bits=b)  # type: ignore[arg-type]
    # reshapes keep their input's quantisation
    for op in graph.operators:
        if op.kind == "reshape":
            src = tensors[op.inputs[0]]
            tensors[op.outputs[0]] = replace(tensors[op.outputs[0]], quant=src.quant, bits=src.bits)
    for i, op in enumerate(graph.operators):
        if op.kind not in ("conv", "fc"):
            continue
        w_bits, _ = policy.bits[i]
        x_old, x_new = graph.tensors[op.inputs[0]], tensors[op.inputs[0]]
        wt, bt = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
        if w_bits == 8 and x_old.quant == x_new.quant:
            continue
        real_w = _dequant_weights(wt)
        old_ws = np.asarray(wt.quant.scale, np.float64)  # type: ignore[union-attr]
        old_ws = np.broadcast_to(old_ws, (real_w.shape[0],))
        real_b = np.asarray(bt.data, np.float64) * x_old.quant.scalar[0] * old_ws  # type: ignore[union-attr]
        if w_bits == 8:
            q, ws = np.asarray(wt.data).reshape(wt.shape), old_ws.astype(np.float64)
            wq = wt.quant
        else:
            q, ws = weight_quant(real_w, w_bits)
            wq = Quant(tuple(float(s) for s in ws), (0,) * len(ws), 0)
        new_in = x_new.quant.scalar[0]  # type: ignore[union-attr]
        b = np.round(real_b / (new_in * ws)).astype(np.int64)
        b = np.clip(b, -(1 << 31), (1 << 31) - 1).astype(np.int32)
        tensors[op.inputs[1]] = replace(wt, data=q.astype(np.int8), quant=wq, bits=w_bits)
        tensors[op.inputs[2]] = replace(bt, data=b, quant=Quant(
            tuple(float(new_in * s) for s in ws), (0,) * len(ws), 0))
    g = replace(graph, tensors=tuple(tensors))
    return set_kernels(g, policy, kernels)


def set_kernels(graph: Graph, policy: Policy, kernels: Mapping[int, str]) -> Graph:
    """Set each operator's :class:`KernelChoice` from the policy and ``kernels``
    (``"mul"``/``"smlad"``: the ``packed`` family; ``"s8"`` only at 8/8 with 8-bit tensors
    around it), and the filters' ``bits``.  Validates the result."""
    choices: dict[int, KernelChoice] = {}
    tensors = list(graph.tensors)
    for i, op in enumerate(graph.operators):
        w, a = policy.bits[i]
        kind = kernels.get(i, "s8")
        if op.kind not in ("conv", "fc"):
            continue
        out_bits = policy.tensor_bits.get(op.outputs[0], 8)
        if kind == "s8" and (w, a, out_bits) != (8, 8, 8):
            kind = "mul"
        if kind == "s8":
            choices[i] = KernelChoice()
        else:
            choices[i] = KernelChoice("packed", w, a, strategy=kind)
        tensors[op.inputs[1]] = replace(tensors[op.inputs[1]], bits=w if kind != "s8" else 8)
    return replace(graph, tensors=tuple(tensors)).with_kernels(choices).validate()
