"""Lowering of mixed-precision graphs: operators of the ``packed`` family turned into
arguments of the LiteEngine-style low-bit kernels (``firmware/packed``), their numpy
reference and their generated C.

Storage convention of a mixed-precision graph (:class:`~mcusim.model.graph.Tensor.bits`):

- an activation tensor of 8 bits is always stored as TFLite int8 (signed, ``q`` in
  [-128, 127], zero point in the same domain), whoever produced it, so the ``s8`` kernels,
  the graph inputs and outputs never change;
- an activation tensor of 2 or 4 bits is stored packed (:func:`mcusim.kernels.packed.pack_values`):
  unsigned values ``u`` in ``[0, 2^b)`` with an unsigned zero point, ``real = scale (u - zp)``;
  only ``packed`` operators produce or read it;
- low-bit weights (``bits`` 2/4/8 of a ``packed`` operator's filter) hold signed values in
  ``[-2^(b-1), 2^(b-1) - 1]`` (symmetric, per output channel); the kernels get them offset
  by ``2^(b-1)`` and packed in their layout (:func:`mcusim.kernels.packed.pack_weights`).

The packed kernels read and write *unsigned* 8-bit activations (``u = q + 128``), so a
``packed`` operator whose input is 8 bits flips the sign bit of that input in place before
its call (and back after it when the tensor is read later), and one whose output is 8 bits
flips its output after the call: ``q XOR 0x80 = q + 128 mod 256``.  The flips are inside the
operator's generated function (its cycles include them) and need no memory.

Only ``conv`` (symmetric padding, equal strides) and ``fc`` have low-bit kernels; every
other kind stays ``s8`` (see :func:`low_bit_support`).

Examples
--------
>>> low_bit_support("dwconv")
'no low-bit depthwise kernel (firmware/packed has fc and conv only)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mcusim.errors import ModelError
from mcusim.kernels import packed as P
from mcusim.kernels.layers import Layer
from mcusim.kernels.quant import QParams, activation_range, output_multipliers
from mcusim.model.graph import Graph, Operator
from mcusim.model.lower import qparams

__all__ = ["PackedLowered", "emit_packed", "flip_cycles_estimate", "low_bit_support",
           "lower_packed_op", "op_layer", "run_reference_mixed"]

#: The in-place sign flip the generated runner defines when a packed operator needs it.
FLIP_HELPER = """static void mcusim_flip(uint8_t *p, int32_t n)
{
    /* q XOR 0x80: int8 <-> unsigned 8-bit with zero point + 128 (packed kernels' domain) */
    int32_t i = 0;
    if (((uintptr_t)p & 3u) == 0) {
        uint32_t *w = (uint32_t *)p;
        for (; i + 4 <= n; i += 4) { *w++ ^= 0x80808080u; }
    }
    for (; i < n; i++) { p[i] ^= 0x80u; }
}

"""


def low_bit_support(kind: str, padding: Sequence[int] = (0, 0, 0, 0),
                    stride: Sequence[int] = (1, 1)) -> str:
    """Why an operator has no low-bit kernel (``""`` when it has one)."""
    if kind == "dwconv":
        return "no low-bit depthwise kernel (firmware/packed has fc and conv only)"
    if kind not in ("conv", "fc"):
        return f"no low-bit {kind} kernel (firmware/packed has fc and conv only)"
    if kind == "conv":
        t, l, b, r = padding
        if not t == l == b == r:
            return f"asymmetric padding {tuple(padding)} (the packed convolution pads symmetrically)"
        if stride[0] != stride[1]:
            return f"unequal strides {tuple(stride)}"
    return ""


def op_layer(graph: Graph, index: int) -> Layer:
    """The :class:`~mcusim.kernels.layers.Layer` of a conv or fc operator."""
    op = graph.operators[index]
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    if op.kind == "fc":
        return Layer(op.name, "fc", 1, 1, x.num_elements, y.num_elements)
    w = graph.tensors[op.inputs[1]]
    return Layer(op.name, "conv", x.shape[1], x.shape[2], x.shape[3], y.shape[3], w.shape[1],
                 w.shape[2], op.params.stride[0], op.params.padding[0])


def _unsigned_q(graph: Graph, t_idx: int, where: dict[str, str]) -> tuple[float, int, int]:
    """``(scale, unsigned zero point, bits)`` of an activation tensor."""
    t = graph.tensors[t_idx]
    qp = qparams(t, where=where)
    if t.bits == 8:
        return qp.scale, qp.zero_point + 128, 8
    if t.bits not in (2, 4):
        raise ModelError(f"activation bits {t.bits} not in (2, 4, 8)", tensor=t.name, **where)
    if not 0 <= qp.zero_point <= P.max_value(t.bits):
        raise ModelError(f"zero point {qp.zero_point} out of range for {t.bits} bits",
                         tensor=t.name, **where)
    return qp.scale, qp.zero_point, t.bits


def _clamp(kind: str, scale: float, zp_u: int, bits: int) -> tuple[int, int]:
    """Fused activation bounds in the unsigned domain of ``bits``."""
    if bits == 8:
        lo, hi = activation_range(kind, QParams(scale, zp_u - 128))
        return lo + 128, hi + 128
    hi = P.max_value(bits)
    if kind == "none":
        return 0, hi
    lo = max(zp_u, 0)
    if kind == "relu6":
        six = zp_u + int(math.floor(float(np.float32(6.0) / np.float32(scale)) + 0.5))
        hi = min(hi, six)
    return min(lo, hi), hi


@dataclass(frozen=True, eq=False)
class PackedLowered:
    """One ``packed`` operator ready for its kernel call.

    Attributes
    ----------
    index
        Operator index.
    layer
        Its shape.
    strategy
        ``"mul"`` (operand packing) or ``"smlad"`` (unpack + SMLAD).
    w_bits, a_bits, out_bits
        Bit widths (``a_bits`` = the input tensor's bits).
    w_u
        Unsigned weights ``[N, K]`` (im2col order).
    bias, multiplier, shift
        int32 per output channel.
    input_zero_point, output_zero_point, act_min, act_max
        In the kernels' unsigned domain.
    flip_input, restore_input, flip_output
        Sign flips around the call (see the module docstring).
    """

    index: int
    layer: Layer
    strategy: str
    w_bits: int
    a_bits: int
    out_bits: int
    w_u: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    flip_input: bool
    restore_input: bool
    flip_output: bool

    def problem(self, x_u: np.ndarray) -> P.PackedProblem:
        """The kernel problem on unsigned input values ``x_u``."""
        ly = self.layer
        return P.PackedProblem(ly, self.w_bits, self.a_bits, self.out_bits,
                               np.asarray(x_u, np.int64).reshape(ly.in_h, ly.in_w, ly.in_c),
                               self.w_u, self.bias, self.multiplier, self.shift,
                               self.input_zero_point, self.output_zero_point, self.act_min,
                               self.act_max)

    def struct(self) -> np.ndarray:
        """The C ``mnn_packed_layer`` words."""
        return P.layer_struct(self.problem(np.zeros(self.layer.in_h * self.layer.in_w
                                                     * self.layer.in_c, np.int64)))


def lower_packed_op(graph: Graph, index: int,
                    order: Sequence[int] | None = None) -> PackedLowered:
    """Lower the ``packed`` operator ``index`` (see the module docstring).

    Raises
    ------
    ModelError
        Naming the operator, for a kind/padding without a low-bit kernel, bits that do not
        match the tensors, or weights out of range.
    """
    op: Operator = graph.operators[index]
    where = {"model": graph.source or graph.name, "operator": f"{index} ({op.name}, {op.kind})"}
    why = low_bit_support(op.kind, op.params.padding, op.params.stride)
    if why:
        raise ModelError(f"packed kernel unavailable: {why}", **where)
    k = op.kernel
    strategy = getattr(k, "strategy", "mul") or "mul"
    if strategy not in P.STRATEGIES:
        raise ModelError(f"unknown packed strategy {strategy!r}", **where)
    x_idx, w_idx, b_idx, y_idx = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
    s_in, zp_in, a_bits = _unsigned_q(graph, x_idx, where)
    s_out, zp_out, out_bits = _unsigned_q(graph, y_idx, where)
    if a_bits != k.a_bits:
        raise ModelError(f"kernel a_bits {k.a_bits} but the input tensor has {a_bits} bits",
                         **where)
    wt = graph.tensors[w_idx]
    if wt.bits != k.w_bits or k.w_bits not in P.BITS:
        raise ModelError(f"kernel w_bits {k.w_bits} but the weights have {wt.bits} bits", **where)
    if wt.data is None or graph.tensors[b_idx].data is None:
        raise ModelError("weights and bias must be constant", **where)
    w = np.asarray(wt.data).astype(np.int64).reshape(wt.shape[0], -1)
    half = 1 << (k.w_bits - 1)
    if w.min() < -half or w.max() > half - 1:
        raise ModelError(f"weights out of the signed {k.w_bits}-bit range", tensor=wt.name,
                         **where)
    n = w.shape[0]
    if wt.quant is None or any(z != 0 for z in wt.quant.zero_point):
        raise ModelError("weights must be symmetric (zero point 0)", tensor=wt.name, **where)
    scales = np.asarray(wt.quant.scale, np.float64)
    scales = np.full(n, scales[0]) if scales.size == 1 else scales
    mult, shift = output_multipliers(s_in, scales, s_out)
    lo, hi = _clamp(op.params.activation, s_out, zp_out, out_bits)
    later = _read_later(graph, index, x_idx, order)
    return PackedLowered(index, op_layer(graph, index), strategy, k.w_bits, a_bits, out_bits,
                         w + half, np.asarray(graph.tensors[b_idx].data, np.int32).reshape(-1),
                         mult, shift, zp_in, zp_out, lo, hi, a_bits == 8,
                         a_bits == 8 and later, out_bits == 8)


def _read_later(graph: Graph, index: int, tensor: int,
                order: Sequence[int] | None = None) -> bool:
    """Whether ``tensor`` (or a reshape of it) is read by an operator after ``index`` in
    ``order`` (default: graph order), or is a graph output."""
    order = list(range(graph.num_operators)) if order is None else list(order)
    aliases = {tensor}
    for j in order:  # reshapes alias their input's bytes
        op = graph.operators[j]
        if op.kind == "reshape" and op.inputs[0] in aliases:
            aliases.add(op.outputs[0])
    if any(t in graph.outputs for t in aliases):
        return True
    after = order[order.index(index) + 1:]
    return any(t in aliases for j in after for t in graph.operators[j].inputs)


# ----------------------------------------------------------------------------- reference
def _to_unsigned(v: np.ndarray, bits: int) -> np.ndarray:
    return v.astype(np.int64) + 128 if bits == 8 else v.astype(np.int64)


def run_reference_mixed(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    """numpy execution of a mixed-precision graph: ``s8`` operators by
    :func:`mcusim.model.reference.run_op`, ``packed`` ones by
    :meth:`mcusim.kernels.packed.PackedProblem.reference` (the firmware's integer arithmetic).

    Low-bit activations are held as unsigned values; the outputs are int8 as
    :func:`mcusim.model.reference.run_reference` returns them.
    """
    from mcusim.model.lower import lower_op
    from mcusim.model.reference import _bind_inputs, run_op

    graph.validate()
    values: dict[int, np.ndarray] = _bind_inputs(graph, x)
    for i, op in enumerate(graph.operators):
        y = graph.tensors[op.outputs[0]]
        if op.kernel.family == "packed":
            lo = lower_packed_op(graph, i)
            xin = _to_unsigned(values[op.inputs[0]], lo.a_bits)
            out = lo.problem(xin).reference()
            values[op.outputs[0]] = (out - 128).astype(np.int8).reshape(y.shape) \
                if lo.out_bits == 8 else out.astype(np.int8).reshape(y.shape)
        elif op.kind == "reshape":
            values[op.outputs[0]] = values[op.inputs[0]].reshape(y.shape)
        else:
            values[op.outputs[0]] = run_op(lower_op(graph, i), graph, values)
    return [values[i] for i in graph.outputs]


# ----------------------------------------------------------------------------- codegen
def flip_cycles_estimate(nbytes: int) -> int:
    """Cycles of one in-place sign flip of ``nbytes`` (an estimate used by the latency
    prediction: about 4 cycles per aligned word -- LDR, EOR, STR and the loop -- plus a
    call; the measured run includes the real cost)."""
    return 20 + 4 * (nbytes // 4) + 6 * (nbytes % 4)


def emit_packed(writer: Any, index: int) -> None:
    """Add the generated function of ``packed`` operator ``index`` to a codegen writer
    (:class:`mcusim.model.codegen._Writer`): packed filter, correction, multipliers and
    shifts as const arrays (Flash), the layer struct, the kernel call at the planned offsets
    and the sign flips."""
    g = writer.g
    op = g.operators[index]
    lo = lower_packed_op(g, index, writer.p.order)
    pre = f"op{index}"
    x, y = op.inputs[0], op.outputs[0]
    filt = writer._array("uint8_t", f"{pre}_filter",
                         P.pack_weights(lo.w_u, lo.w_bits, lo.a_bits, lo.strategy), 32)
    corr = writer._array("int32_t", f"{pre}_correction",
                         P.correction(lo.w_u, lo.bias, lo.input_zero_point, lo.w_bits), 8)
    mult = writer._array("int32_t", f"{pre}_multiplier", lo.multiplier, 8)
    shift = writer._array("int32_t", f"{pre}_shift", lo.shift, 16)
    writer._decl(f"const mnn_per_channel_quant {pre}_quant = {{{mult}, {shift}}};\n",
                 f"extern const mnn_per_channel_quant {pre}_quant;")
    words = [int(v) for v in lo.struct()]
    writer._decl(f"const mnn_packed_layer {pre}_layer = {{{', '.join(map(str, words))}}};\n",
                 f"extern const mnn_packed_layer {pre}_layer;")
    scr = writer.p.scratch.get(index)
    ctx = "0"
    if scr:
        writer._decl(f"const mnn_context {pre}_ctx = {{mcusim_arena + {scr[0]}, {scr[1]}}};\n",
                     f"extern const mnn_context {pre}_ctx;")
        ctx = f"&{pre}_ctx"
    kernel = P.symbol(lo.layer.kind, lo.strategy)
    xo = writer.p.tensor_offsets[x]
    yo = writer.p.tensor_offsets[y]
    xin = writer._arena(x, const=True)
    yout = writer._arena(y, const=False)
    call = (f"{kernel}({ctx}, &{pre}_layer, &{pre}_quant, (const uint8_t *){xin}, {filt}, "
            f"{corr}, (uint8_t *){yout})")
    body = ""
    if lo.flip_input:
        body += f"    mcusim_flip(mcusim_arena + {xo}, {g.tensors[x].nbytes});\n"
    body += f"    mnn_status s = {call};\n"
    if lo.restore_input:
        body += f"    mcusim_flip(mcusim_arena + {xo}, {g.tensors[x].nbytes});\n"
    if lo.flip_output:
        body += f"    if (s == MNN_OK) mcusim_flip(mcusim_arena + {yo}, {g.tensors[y].nbytes});\n"
    body += "    return s;\n"
    desc = (f"w{lo.w_bits}a{lo.a_bits} -> {lo.out_bits}-bit output, "
            f"{'operand packing' if lo.strategy == 'mul' else 'unpack + SMLAD'}")
    writer._emit_body(index, op, kernel, body, desc)


def uses_packed(graph: Graph) -> bool:
    """Whether any operator of ``graph`` uses the ``packed`` family."""
    return any(op.kernel.family == "packed" for op in graph.operators)


def packed_lowered(graph: Graph) -> Mapping[int, PackedLowered]:
    """Every ``packed`` operator of ``graph`` lowered, by index."""
    return {i: lower_packed_op(graph, i) for i, op in enumerate(graph.operators)
            if op.kernel.family == "packed"}
