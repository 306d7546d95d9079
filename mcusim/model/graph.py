"""The model graph: tensors, operators and constant data as plain, validated, immutable data.

A :class:`Graph` is what every later step takes: the importer (:mod:`mcusim.model.tflite_io`)
and the built-in zoo (:mod:`mcusim.model.zoo`) produce one; the memory planner, the code
generator, the runner and the report read it and return new plain data.

Conventions (TFLite int8, as the ``s8`` kernels):

- activations are NHWC, batch 1, ``int8`` with per-tensor asymmetric quantisation;
- convolution filters are ``[C_OUT, KH, KW, C_IN]``, depthwise filters ``[1, KH, KW, C]``,
  fully-connected weights ``[C_OUT, C_IN]``, all ``int8`` symmetric per output channel
  (``Quant.axis`` names the channel axis); biases ``int32`` with
  ``scale = input_scale * weight_scale[c]``;
- padding is explicit: ``(top, left, bottom, right)`` in pixels (TFLite's SAME may be
  asymmetric: the extra pixel goes after).

Examples
--------
>>> import numpy as np
>>> q = Quant((0.05,), (-3,))
>>> t = (Tensor("x", (1, 4, 4, 2), "int8", q),
...      Tensor("y", (1, 2, 2, 2), "int8", q))
>>> op = Operator("pool", "maxpool", (0,), (1,), OpParams(filter=(2, 2), stride=(2, 2)))
>>> g = Graph("tiny", t, (op,), inputs=(0,), outputs=(1,))
>>> g.validate().num_operators
1
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterator, Mapping

import numpy as np

from mcusim.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ACTIVATIONS", "DTYPE_BYTES", "FAMILIES", "Graph", "KernelChoice", "OP_KINDS",
    "OpParams", "Operator", "Quant", "Tensor",
]

#: Operator kinds (the names are shared with the lookup-table configuration columns).
OP_KINDS: tuple[str, ...] = (
    "conv", "dwconv", "fc", "avgpool", "maxpool", "add", "reshape", "softmax",
)
#: Fused activations.
ACTIVATIONS: tuple[str, ...] = ("none", "relu", "relu6")
#: Kernel families that can implement an operator.
FAMILIES: tuple[str, ...] = ("s8", "packed", "trec")
#: Bytes per element of the tensor dtypes a graph may hold.
DTYPE_BYTES: Mapping[str, int] = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4}


@dataclass(frozen=True)
class Quant:
    """Quantisation of a tensor: ``real = scale * (q - zero_point)``.

    Parameters
    ----------
    scale, zero_point
        One entry for per-tensor quantisation, or one per channel along ``axis``.
    axis
        The channel axis of per-channel quantisation (``None`` for per-tensor).
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @property
    def scalar(self) -> tuple[float, int]:
        """``(scale, zero_point)`` of a per-tensor quantisation."""
        if self.per_channel:
            raise ModelError("per-channel quantisation has no single scale")
        return float(self.scale[0]), int(self.zero_point[0])


@dataclass(frozen=True, eq=False)
class Tensor:
    """One tensor of a graph.

    Parameters
    ----------
    name
        Unique name.
    shape
        Dimensions (activations NHWC with batch 1, or ``(1, N)`` for vectors).
    dtype
        A key of :data:`DTYPE_BYTES`.
    quant
        Its quantisation (``None`` only for unquantised tensors, which the kernels reject).
    data
        The constant contents (weights, bias) or ``None`` for activations.
    bits
        Storage bit width of ``int8`` elements: 8, or 2/4 when a packed kernel stores them
        packed.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"
    quant: Quant | None = None
    data: np.ndarray | None = field(default=None, repr=False)
    bits: int = 8

    def __eq__(self, other: object) -> bool:
        """Equal fields, and equal constant contents (element by element, same dtype)."""
        if not isinstance(other, Tensor):
            return NotImplemented
        if (self.name, self.shape, self.dtype, self.quant, self.bits) != (
                other.name, other.shape, other.dtype, other.quant, other.bits):
            return False
        if self.data is None or other.data is None:
            return self.data is None and other.data is None
        a, b = np.asarray(self.data), np.asarray(other.data)
        return a.dtype == b.dtype and a.size == b.size and bool(
            np.array_equal(a.reshape(-1), b.reshape(-1)))

    def __hash__(self) -> int:
        return hash((self.name, self.shape, self.dtype))

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        """Bytes the tensor occupies (packed tensors: ``ceil(elements * bits / 8)``)."""
        if self.dtype == "int8" and self.bits < 8:
            return (self.num_elements * self.bits + 7) // 8
        return self.num_elements * DTYPE_BYTES.get(self.dtype, 1)


@dataclass(frozen=True)
class OpParams:
    """Parameters of an operator; fields that do not apply keep their defaults.

    Parameters
    ----------
    stride
        ``(stride_h, stride_w)`` of convolutions and pooling.
    padding
        ``(top, left, bottom, right)`` in pixels.
    filter
        ``(filter_h, filter_w)`` of pooling windows (convolutions take it from the weights).
    activation
        Fused activation, one of :data:`ACTIVATIONS`.
    beta
        Softmax ``beta``.
    """

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    filter: tuple[int, int] = (1, 1)
    activation: str = "none"
    beta: float = 1.0


@dataclass(frozen=True)
class KernelChoice:
    """Which kernel family implements an operator, with the family's parameters.

    Parameters
    ----------
    family
        ``"s8"`` (CMSIS-NN-style int8), ``"packed"`` (LiteEngine-style low bit) or ``"trec"``.
    w_bits, a_bits
        Weight and activation bits (``packed``; 8 and 8 otherwise).
    trec_l, trec_h
        TREC sub-vector length and hash bits (``trec``).
    strategy
        ``packed``: ``"mul"`` (operand packing) or ``"smlad"`` (unpack + SMLAD), see
        :mod:`mcusim.kernels.packed`.
    """

    family: str = "s8"
    w_bits: int = 8
    a_bits: int = 8
    trec_l: int = 0
    trec_h: int = 0
    strategy: str = "mul"


@dataclass(frozen=True)
class Operator:
    """One operator: ``kind`` applied to ``inputs`` (tensor indices) giving ``outputs``.

    Input order follows TFLite: conv/dwconv/fc take ``(input, weights, bias)``; add takes two
    inputs; the others one.
    """

    name: str
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    params: OpParams = OpParams()
    kernel: KernelChoice = KernelChoice()


@dataclass(frozen=True)
class Graph:
    """A model: tensors, operators in execution order, graph inputs and outputs.

    Parameters
    ----------
    name
        Model name (the zoo name or the file stem).
    tensors
        Every tensor; operators refer to them by index.
    operators
        Operators in a valid execution order.
    inputs, outputs
        Tensor indices of the graph inputs and outputs.
    source
        Where the graph came from (a file path, ``zoo:NAME``), for error messages; not
        part of equality (a graph read back from its export equals the original).
    """

    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    source: str = field(default="", compare=False)

    # ------------------------------------------------------------------ queries
    @property
    def num_operators(self) -> int:
        return len(self.operators)

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def activations(self) -> list[int]:
        """Indices of the non-constant tensors (the ones that live in the arena)."""
        return [i for i, t in enumerate(self.tensors) if not t.is_constant]

    def producer(self, tensor: int) -> int | None:
        """Index of the operator that writes ``tensor`` (``None`` for inputs and constants)."""
        for i, op in enumerate(self.operators):
            if tensor in op.outputs:
                return i
        return None

    def consumers(self, tensor: int) -> list[int]:
        """Indices of the operators that read ``tensor``."""
        return [i for i, op in enumerate(self.operators) if tensor in op.inputs]

    def iter_ops(self) -> Iterator[tuple[int, Operator]]:
        return iter(enumerate(self.operators))

    def macs(self, op_index: int) -> int:
        """Multiply-accumulates of one operator (0 for data movement)."""
        op = self.operators[op_index]
        out = self.tensors[op.outputs[0]]
        if op.kind == "conv":
            w = self.tensors[op.inputs[1]]
            return out.num_elements * int(np.prod(w.shape[1:]))
        if op.kind == "dwconv":
            w = self.tensors[op.inputs[1]]
            return out.num_elements * w.shape[1] * w.shape[2]
        if op.kind == "fc":
            w = self.tensors[op.inputs[1]]
            return out.num_elements * w.shape[1]
        return 0

    def total_macs(self) -> int:
        return sum(self.macs(i) for i in range(len(self.operators)))

    def weight_bytes(self) -> int:
        """Bytes of all constant tensors (what goes to Flash besides code)."""
        return sum(t.nbytes for t in self.tensors if t.is_constant)

    def op_weight_bytes(self, op_index: int) -> int:
        """Bytes of the constant inputs (weights, bias) of one operator."""
        return sum(self.tensors[i].nbytes for i in self.operators[op_index].inputs
                   if self.tensors[i].is_constant)

    def op_activation_bytes(self, op_index: int) -> int:
        """Bytes of the activations one operator reads and writes (its minimum live set)."""
        op = self.operators[op_index]
        return sum(self.tensors[i].nbytes for i in op.inputs + op.outputs
                   if not self.tensors[i].is_constant)

    def summary(self) -> "pd.DataFrame":
        """One row per operator: ``name``, ``kind``, ``input_shape``, ``output_shape``,
        ``macs``, ``weight_bytes``, ``activation_bytes`` (read + written) and ``kernel``
        (``s8``, ``packed w4a8``, ``trec L8 H6``)."""
        import pandas as pd

        rows = []
        for i, op in enumerate(self.operators):
            k = op.kernel
            kernel = {"packed": f"packed w{k.w_bits}a{k.a_bits}"
                                + (" smlad" if k.strategy == "smlad" else ""),
                      "trec": f"trec L{k.trec_l} H{k.trec_h}"}.get(k.family, k.family)
            rows.append({
                "name": op.name, "kind": op.kind,
                "input_shape": self.tensors[op.inputs[0]].shape,
                "output_shape": self.tensors[op.outputs[0]].shape,
                "macs": self.macs(i), "weight_bytes": self.op_weight_bytes(i),
                "activation_bytes": self.op_activation_bytes(i), "kernel": kernel,
            })
        cols = ["name", "kind", "input_shape", "output_shape", "macs", "weight_bytes",
                "activation_bytes", "kernel"]
        return pd.DataFrame(rows, columns=cols)

    def with_kernels(self, choices: Mapping[int, KernelChoice]) -> Graph:
        """A copy with the kernels of the given operators replaced."""
        ops = tuple(replace(op, kernel=choices.get(i, op.kernel))
                    for i, op in enumerate(self.operators))
        return replace(self, operators=ops)

    # ------------------------------------------------------------------ validation
    def validate(self) -> Graph:
        """Check the graph's structure; return it, or raise :class:`ModelError`.

        Checks: tensor indices in range, every operator kind / activation / family known,
        every activation read after it is written, one producer per tensor, graph inputs not
        produced, constants never written, and per-kind arity and shapes.
        """
        n = len(self.tensors)
        src = self.source or self.name
        names = [t.name for t in self.tensors]
        if len(set(names)) != len(names):
            dup = next(x for x in names if names.count(x) > 1)
            raise ModelError("duplicate tensor name", model=src, tensor=dup)
        for idx in self.inputs + self.outputs:
            if not 0 <= idx < n:
                raise ModelError(f"graph input/output index {idx} out of range", model=src)
        written: set[int] = set(self.inputs)
        for t_idx, t in enumerate(self.tensors):
            if any(d <= 0 for d in t.shape):
                raise ModelError(f"tensor shape {t.shape} has a non-positive dimension",
                                 model=src, tensor=t.name)
            if t.dtype not in DTYPE_BYTES:
                raise ModelError(f"unsupported dtype {t.dtype!r}", model=src, tensor=t.name)
            if t.is_constant:
                written.add(t_idx)
        for i, op in enumerate(self.operators):
            where = {"model": src, "operator": f"{i} ({op.name}, {op.kind})"}
            if op.kind not in OP_KINDS:
                raise ModelError(f"unknown operator kind {op.kind!r}", **where)
            if op.params.activation not in ACTIVATIONS:
                raise ModelError(f"unknown activation {op.params.activation!r}", **where)
            if op.kernel.family not in FAMILIES:
                raise ModelError(f"unknown kernel family {op.kernel.family!r}", **where)
            for t_idx in op.inputs + op.outputs:
                if not 0 <= t_idx < n:
                    raise ModelError(f"tensor index {t_idx} out of range", **where)
            for t_idx in op.inputs:
                if t_idx not in written:
                    raise ModelError("reads a tensor before any operator writes it",
                                     tensor=self.tensors[t_idx].name, **where)
            for t_idx in op.outputs:
                if t_idx in written:
                    raise ModelError("writes a tensor that is an input, a constant or "
                                     "already written", tensor=self.tensors[t_idx].name, **where)
                written.add(t_idx)
            self._check_shapes(op, where)
        for idx in self.outputs:
            if idx not in written:
                raise ModelError("graph output is never written", model=src,
                                 tensor=self.tensors[idx].name)
        return self

    def _check_shapes(self, op: Operator, where: dict[str, str]) -> None:
        arity = {"conv": 3, "dwconv": 3, "fc": 3, "add": 2}.get(op.kind, 1)
        if len(op.inputs) != arity or len(op.outputs) != 1:
            raise ModelError(f"{op.kind} takes {arity} input(s) and 1 output, got "
                             f"{len(op.inputs)} and {len(op.outputs)}", **where)
        x = self.tensors[op.inputs[0]]
        y = self.tensors[op.outputs[0]]
        p = op.params

        def fail(msg: str) -> None:
            raise ModelError(f"shape mismatch: {msg}", **where)

        if op.kind in ("conv", "dwconv", "avgpool", "maxpool"):
            if len(x.shape) != 4 or len(y.shape) != 4:
                fail(f"input {x.shape} and output {y.shape} must be NHWC")
            if op.kind in ("conv", "dwconv"):
                w = self.tensors[op.inputs[1]]
                if len(w.shape) != 4:
                    fail(f"filter {w.shape} must have 4 dimensions")
                kh, kw = w.shape[1], w.shape[2]
                c_out = w.shape[0] if op.kind == "conv" else w.shape[3]
                if op.kind == "conv" and w.shape[3] != x.shape[3]:
                    fail(f"filter {w.shape} does not match input channels {x.shape[3]}")
                if op.kind == "dwconv" and w.shape[3] != x.shape[3]:
                    fail(f"depthwise filter {w.shape} must have the input's {x.shape[3]} "
                         "channels (depth multiplier 1)")
                b = self.tensors[op.inputs[2]]
                if b.num_elements != c_out:
                    fail(f"bias {b.shape} does not match {c_out} output channels")
            else:
                kh, kw = p.filter
                c_out = x.shape[3]
            top, left, bottom, right = p.padding
            sh, sw = p.stride
            if min(sh, sw) < 1 or min(p.padding) < 0:
                fail(f"stride {p.stride} and padding {p.padding} must be >= 1 and >= 0")
            oh = (x.shape[1] + top + bottom - kh) // sh + 1
            ow = (x.shape[2] + left + right - kw) // sw + 1
            if y.shape != (x.shape[0], oh, ow, c_out):
                fail(f"output {y.shape}, expected {(x.shape[0], oh, ow, c_out)} from input "
                     f"{x.shape}, kernel {(kh, kw)}, stride {p.stride}, padding {p.padding}")
        elif op.kind == "fc":
            w = self.tensors[op.inputs[1]]
            if len(w.shape) != 2 or w.shape[1] != x.num_elements or y.num_elements != w.shape[0]:
                fail(f"weights {w.shape} do not map input {x.shape} to output {y.shape}")
        elif op.kind == "add":
            x2 = self.tensors[op.inputs[1]]
            if not (x.shape == x2.shape == y.shape):
                fail(f"inputs {x.shape}, {x2.shape} and output {y.shape} must be equal "
                     "(no broadcasting)")
        elif op.kind in ("reshape", "softmax"):
            if x.num_elements != y.num_elements:
                fail(f"input {x.shape} and output {y.shape} differ in size")
