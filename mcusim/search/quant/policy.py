"""Bit-width policies on a graph: which operators can go low-bit, and the consistent
``(w_bits, a_bits)`` of every operator for a requested policy.

A layer's ``a_bits`` are the bits of its *input* tensor (as in HAQ and MCUQ), so they are
also the output bits of the producer of that tensor.  Consistency rules (from the storage
convention of :mod:`mcusim.model.lower_packed`):

- only ``conv`` and ``fc`` operators with a low-bit kernel (:func:`low_bit_support`) are
  *quantisable*; every other operator stays ``s8`` at 8/8 and its reason is recorded;
- a tensor can be below 8 bits only when its producer and all its consumers are
  quantisable (reshapes are looked through) and it is neither a graph input nor output;
  its bits are the smallest requested by its consumers, and every consumer gets them.

Examples
--------
>>> from mcusim.model import load_model
>>> g = load_model("tiny")
>>> p = resolve(g, {0: (2, 2), 2: (4, 4)})
>>> p.bits[0], p.bits[2], p.notes[1][:30]
((2, 8), (4, 8), 'no low-bit depthwise kernel (fi')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from mcusim.errors import ModelError
from mcusim.kernels.packed import BITS
from mcusim.model.graph import Graph
from mcusim.model.lower_packed import low_bit_support

__all__ = ["Policy", "quantisable", "resolve", "uniform"]


@dataclass(frozen=True)
class Policy:
    """A consistent bit-width assignment.

    Attributes
    ----------
    bits
        ``op index -> (w_bits, a_bits)`` for every operator (8/8 for the fixed ones).
    tensor_bits
        ``tensor index -> bits`` for every activation tensor.
    notes
        ``op index -> why it stays at 8 bits`` (fixed operators) or why its ``a_bits`` were
        forced to 8 (neighbours without a low-bit kernel, graph input/output).
    """

    bits: Mapping[int, tuple[int, int]]
    tensor_bits: Mapping[int, int]
    notes: Mapping[int, str] = field(default_factory=dict)

    def layer_bits(self, layers: list[int]) -> list[tuple[int, int]]:
        """The bits of ``layers`` in order."""
        return [self.bits[i] for i in layers]


def quantisable(graph: Graph) -> tuple[list[int], dict[int, str]]:
    """Indices of the operators with a low-bit kernel, and why each other one has none."""
    layers, why = [], {}
    for i, op in enumerate(graph.operators):
        reason = low_bit_support(op.kind, op.params.padding, op.params.stride)
        if reason:
            if op.kind != "reshape":
                why[i] = reason
        else:
            layers.append(i)
    return layers, why


def _through_reshapes(graph: Graph, tensor: int) -> tuple[list[int], bool]:
    """Consumers of ``tensor`` seen through reshapes, and whether a reshaped alias is a
    graph output."""
    out, is_output = [], tensor in graph.outputs
    for j in graph.consumers(tensor):
        op = graph.operators[j]
        if op.kind == "reshape":
            sub, o = _through_reshapes(graph, op.outputs[0])
            out += sub
            is_output = is_output or o
        else:
            out.append(j)
    return out, is_output


def resolve(graph: Graph, requested: Mapping[int, tuple[int, int]]) -> Policy:
    """The consistent policy closest to ``requested`` (``op index -> (w_bits, a_bits)``;
    missing operators: 8/8).

    Raises
    ------
    ModelError
        For bit widths outside {2, 4, 8} or operator indices out of range.
    """
    layers, why = quantisable(graph)
    ok = set(layers)
    for i, (w, a) in requested.items():
        if not 0 <= i < graph.num_operators:
            raise ModelError(f"operator index {i} out of range", model=graph.name)
        if w not in BITS or a not in BITS:
            raise ModelError(f"bits w{w}a{a} not in {BITS}", model=graph.name,
                             operator=f"{i} ({graph.operators[i].name})")
    notes = dict(why)
    tensor_bits: dict[int, int] = {}
    for t in graph.activations():
        tensor_bits[t] = 8
    for j, op in enumerate(graph.operators):
        if op.kind == "reshape":
            continue
        for t in op.outputs:
            cons, is_out = _through_reshapes(graph, t)
            if j not in ok or is_out or not cons or any(c not in ok for c in cons):
                for c in cons:
                    if c in ok and requested.get(c, (8, 8))[1] < 8:
                        notes.setdefault(c, "a_bits 8: its input comes from or also goes to "
                                            "an operator without a low-bit kernel, or is a "
                                            "graph input/output")
                continue
            tensor_bits[t] = min(requested.get(c, (8, 8))[1] for c in cons)
    for i in graph.inputs:
        for c in _through_reshapes(graph, i)[0]:
            if c in ok and requested.get(c, (8, 8))[1] < 8:
                notes.setdefault(c, "a_bits 8: its input is the int8 graph input")
    # reshapes carry their input's bits
    for op in graph.operators:
        if op.kind == "reshape":
            tensor_bits[op.outputs[0]] = tensor_bits.get(op.inputs[0], 8)
    bits: dict[int, tuple[int, int]] = {}
    for i, op in enumerate(graph.operators):
        if i in ok:
            bits[i] = (requested.get(i, (8, 8))[0], tensor_bits.get(op.inputs[0], 8))
        else:
            bits[i] = (8, 8)
    return Policy(bits, tensor_bits, notes)


def uniform(graph: Graph, w_bits: int, a_bits: int) -> Policy:
    """The same request for every quantisable operator."""
    layers, _ = quantisable(graph)
    return resolve(graph, {i: (w_bits, a_bits) for i in layers})
