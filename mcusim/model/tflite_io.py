"""Import and export of TFLite int8 flatbuffers (``.tflite``) without TensorFlow.

Import parses the file with the PyPI ``tflite`` package (the flatc-generated reader of the
TFLite schema) into a validated :class:`~mcusim.model.graph.Graph`:

- operators ``CONV_2D``, ``DEPTHWISE_CONV_2D`` (depth multiplier 1), ``FULLY_CONNECTED``,
  ``AVERAGE_POOL_2D``, ``MAX_POOL_2D``, ``ADD``, ``RESHAPE`` and ``SOFTMAX``; fused
  activations ``NONE``, ``RELU`` and ``RELU6``; dilation 1;
- ``SAME`` padding becomes explicit ``(top, left, bottom, right)`` pixels as TFLite computes
  it (``out = ceil(in / stride)``, total ``max((out - 1) * stride + k - in, 0)``, the odd
  pixel after), ``VALID`` is no padding;
- int8 activations with per-tensor quantisation, int8 weights (per channel or per tensor),
  int32 biases (a missing bias becomes a zero bias); the shape input of ``RESHAPE`` is
  dropped (the output tensor's shape is authoritative).

Anything else -- another operator or tensor type, a float model, several subgraphs, a
corrupt, truncated, oversized or non-regular file, inconsistent shapes -- raises
:class:`~mcusim.errors.ModelError` naming the file, and the operator index and type where
there is one.

Export writes a graph as a TFLite flatbuffer (schema version 3) that TFLite Micro's
interpreter runs.  The graph name, operator names, kernel choices and packed bit widths,
which TFLite has no field for, go into a ``mcusim`` metadata entry (TFLite ignores unknown
metadata), so ``read_tflite(write_tflite(g, path)) == g``.

Examples
--------
>>> from mcusim.model.zoo import get_model
>>> g = get_model("tiny")
>>> from_tflite_bytes(to_tflite_bytes(g)) == g
True
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mcusim.errors import ModelError
from mcusim.kernels.s8_params import same_padding
from mcusim.model.graph import (
    FAMILIES, Graph, KernelChoice, Operator, OpParams, Quant, Tensor,
)

__all__ = ["MAX_FILE_BYTES", "from_tflite_bytes", "read_tflite", "to_tflite_bytes",
           "write_tflite"]

#: Largest ``.tflite`` file read (models for microcontrollers are far smaller).
MAX_FILE_BYTES = 64 << 20
_FILE_ID = b"TFL3"
_META_KEY = "mcusim"

# TFLite enums (schema.fbs), kept here so the reader never trusts an unknown value.
_OPS = {3: "conv", 4: "dwconv", 9: "fc", 1: "avgpool", 17: "maxpool", 0: "add",
        22: "reshape", 25: "softmax"}
_OP_CODE = {v: k for k, v in _OPS.items()}
_OP_VERSION = {"conv": 3, "dwconv": 3, "fc": 4, "avgpool": 2, "maxpool": 2, "add": 2,
               "reshape": 1, "softmax": 2}
_ACTS = {0: "none", 1: "relu", 3: "relu6"}
_ACT_CODE = {v: k for k, v in _ACTS.items()}
_TYPES = {9: "int8", 2: "int32", 3: "uint8", 7: "int16", 0: "float32"}
_TYPE_CODE = {v: k for k, v in _TYPES.items()}
_SAME, _VALID = 0, 1


def _tfl() -> Any:
    import tflite  # deferred: importing the generated package takes ~0.1 s

    return tflite


def _op_name_table() -> dict[int, str]:
    bo = _tfl().BuiltinOperator
    return {v: k for k, v in vars(bo).items() if not k.startswith("_") and isinstance(v, int)}


def _type_name(code: int) -> str:
    tt = _tfl().TensorType
    names = {v: k for k, v in vars(tt).items() if not k.startswith("_") and isinstance(v, int)}
    return names.get(code, f"type {code}")


# ====================================================================== import
def read_tflite(path: str | os.PathLike[str]) -> Graph:
    """Read a ``.tflite`` file into a validated :class:`Graph` named after the file stem.

    Raises
    ------
    ModelError
        For a missing, non-regular, oversized, corrupt or truncated file, or a model that is
        not a supported int8 TFLite graph (names the file, operator index and type).
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ModelError(f"cannot read model: {exc.strerror}", file=str(p)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelError("not a regular file", file=str(p))
    if st.st_size > MAX_FILE_BYTES:
        raise ModelError(f"file of {st.st_size} bytes exceeds the {MAX_FILE_BYTES} byte "
                         "limit for microcontroller models", file=str(p))
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"cannot read model: {exc.strerror}", file=str(p)) from None
    return from_tflite_bytes(data, source=str(p), name=p.stem)


def from_tflite_bytes(data: bytes, *, source: str = "<bytes>", name: str = "model") -> Graph:
    """Parse the bytes of a ``.tflite`` flatbuffer (see :func:`read_tflite`)."""
    if len(data) > MAX_FILE_BYTES:
        raise ModelError(f"{len(data)} bytes exceed the {MAX_FILE_BYTES} byte limit",
                         file=source)
    if len(data) < 8 or data[4:8] != _FILE_ID:
        raise ModelError("not a TFLite flatbuffer (file identifier 'TFL3' missing)",
                         file=source)
    try:
        return _Reader(bytes(data), source, name).graph()
    except ModelError:
        raise
    except (IndexError, struct.error, ValueError, TypeError, AttributeError, OverflowError,
            UnicodeDecodeError, KeyError) as exc:
        raise ModelError(f"corrupt or truncated TFLite file ({type(exc).__name__}: {exc})",
                         file=source) from None


class _Reader:
    """One parse of a TFLite buffer; every length is checked against the buffer size."""

    def __init__(self, buf: bytes, source: str, name: str) -> None:
        self.buf = buf
        self.source = source
        self.name = name
        self.model = _tfl().Model.GetRootAs(buf, 0)

    def _count(self, n: int, elem: int, what: str) -> int:
        if n < 0 or n * elem > len(self.buf):
            raise ModelError(f"corrupt TFLite file: {what} claims {n} entries", file=self.source)
        return n

    def _ints(self, n: int, as_numpy: Callable[[], Any], what: str) -> list[int]:
        """An int32 vector (numpy checks it lies inside the buffer)."""
        if self._count(n, 4, what) == 0:
            return []
        arr = as_numpy()
        if not isinstance(arr, np.ndarray) or arr.size != n:
            raise ModelError(f"corrupt TFLite file: {what} vector", file=self.source)
        return [int(v) for v in arr]

    def graph(self) -> Graph:
        m = self.model
        n_sub = self._count(m.SubgraphsLength(), 4, "subgraphs")
        if n_sub != 1:
            raise ModelError(f"{n_sub} subgraphs; only single-subgraph models are supported",
                             file=self.source)
        self.sg = sg = m.Subgraphs(0)
        n_ops = self._count(sg.OperatorsLength(), 4, "operators")
        self.n_tensors = self._count(sg.TensorsLength(), 4, "tensors")
        self.n_buffers = self._count(m.BuffersLength(), 4, "buffers")
        n_codes = self._count(m.OperatorCodesLength(), 4, "operator codes")
        meta = self._metadata()
        op_meta = meta.get("operators", [])
        op_names = _op_name_table()

        # Tensors by TFLite index (synthesised zero biases after the file's tensors); the
        # graph keeps the file's order, so an export reads back unchanged.
        self.by_key: dict[int, Tensor] = {}
        ops: list[Operator] = []
        for i in range(n_ops):
            top = sg.Operators(i)
            oc_idx = top.OpcodeIndex()
            if not 0 <= oc_idx < n_codes:
                raise ModelError(f"operator code index {oc_idx} out of range",
                                 file=self.source, operator=i)
            oc = m.OperatorCodes(oc_idx)
            code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
            type_name = op_names.get(code, f"builtin {code}")
            if code == 32:  # CUSTOM
                cc = oc.CustomCode()
                type_name = f"CUSTOM ({cc.decode(errors='replace') if cc else '?'})"
            where = {"file": self.source, "operator": f"{i} ({type_name})"}
            if code not in _OPS:
                raise ModelError(f"unsupported operator {type_name}", **where)
            kind = _OPS[code]
            ins = self._ints(top.InputsLength(), top.InputsAsNumpy, "operator inputs")
            outs = self._ints(top.OutputsLength(), top.OutputsAsNumpy, "operator outputs")
            extra = op_meta[i] if i < len(op_meta) and isinstance(op_meta[i], dict) else {}
            ops.append(self._operator(i, kind, top, ins, outs, where, extra))

        g_ins = self._ints(sg.InputsLength(), sg.InputsAsNumpy, "graph inputs")
        g_outs = self._ints(sg.OutputsLength(), sg.OutputsAsNumpy, "graph outputs")
        for t in g_ins + g_outs:
            self._tensor(t, {"file": self.source})
        keys = sorted(self.by_key)
        index = {k: j for j, k in enumerate(keys)}
        bits = meta.get("bits", {})
        tensors: list[Tensor] = []
        seen: set[str] = set()
        for k in keys:
            t = self.by_key[k]
            name, n = t.name, 1
            while name in seen:
                name, n = f"{t.name}#{n}", n + 1
            seen.add(name)
            tensors.append(replace(t, name=name, bits=int(bits.get(name, 8))))
        ops = [replace(op, inputs=tuple(index[t] for t in op.inputs),
                       outputs=tuple(index[t] for t in op.outputs)) for op in ops]
        graph = Graph(str(meta.get("name", self.name)), tuple(tensors), tuple(ops),
                      inputs=tuple(index[t] for t in g_ins),
                      outputs=tuple(index[t] for t in g_outs), source=self.source)
        for idx in graph.inputs:
            if graph.tensors[idx].dtype != "int8":
                raise ModelError(f"graph input is {graph.tensors[idx].dtype}; only int8 "
                                 "models are supported", file=self.source,
                                 tensor=graph.tensors[idx].name)
        return graph.validate()

    def _metadata(self) -> dict[str, Any]:
        m = self.model
        for j in range(self._count(m.MetadataLength(), 4, "metadata")):
            md = m.Metadata(j)
            if md.Name() == _META_KEY.encode():
                raw = self._buffer(md.Buffer(), {"file": self.source})
                try:
                    obj = json.loads(raw.decode())
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise ModelError("corrupt mcusim metadata", file=self.source) from None
                return obj if isinstance(obj, dict) else {}
        return {}

    def _buffer(self, b_idx: int, where: dict[str, str]) -> bytes:
        if not 0 <= b_idx < self.n_buffers:
            raise ModelError(f"buffer index {b_idx} out of range", **where)
        b = self.model.Buffers(b_idx)
        off, size = int(b.Offset()), int(b.Size())
        if off > 1:   # data stored after the flatbuffer (models > 2 GB)
            if off + size > len(self.buf):
                raise ModelError("tensor data beyond the end of the file (truncated?)", **where)
            return self.buf[off:off + size]
        n = self._count(b.DataLength(), 1, "buffer bytes")
        if n == 0:
            return b""
        arr = b.DataAsNumpy()
        if arr.size != n:
            raise ModelError("truncated buffer", **where)
        return arr.tobytes()

    def _tensor(self, t_idx: int, where: dict[str, str]) -> int:
        """Read TFLite tensor ``t_idx`` once; returns its key (the TFLite index)."""
        if t_idx in self.by_key:
            return t_idx
        if not 0 <= t_idx < self.n_tensors:
            raise ModelError(f"tensor index {t_idx} out of range", **where)
        tt = self.sg.Tensors(t_idx)
        raw_name = tt.Name()
        name = raw_name.decode(errors="replace") if raw_name else f"t{t_idx}"
        shape = tuple(self._ints(tt.ShapeLength(), tt.ShapeAsNumpy, "tensor shape"))
        if len(shape) > 6:
            raise ModelError(f"tensor of rank {len(shape)} (6 at most)", tensor=name, **where)
        if tt.Sparsity() is not None:
            raise ModelError("sparse tensors are not supported", tensor=name, **where)
        code = int(tt.Type())
        if code == 0:
            raise ModelError("float (non-quantised) model: tensor is FLOAT32; only int8 "
                             "quantised models are supported", tensor=name, **where)
        if code not in (9, 2):
            raise ModelError(f"unsupported tensor type {_type_name(code)} (int8 activations "
                             "and weights, int32 biases only)", tensor=name, **where)
        dtype = _TYPES[code]
        if any(d <= 0 for d in shape):
            raise ModelError(f"tensor shape {shape} has a non-positive dimension",
                             tensor=name, **where)
        quant = self._quant(tt, name, where)
        if dtype == "int8" and quant is None:
            raise ModelError("int8 tensor without quantisation parameters (float model?)",
                             tensor=name, **where)
        raw = self._buffer(int(tt.Buffer()), {**where, "tensor": name})
        data = None
        if raw:
            expect = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if len(raw) != expect:
                raise ModelError(f"tensor data has {len(raw)} bytes, shape {shape} needs "
                                 f"{expect}", tensor=name, **where)
            data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(
                dtype).reshape(shape)
            data.flags.writeable = False   # the graph is immutable
        self.by_key[t_idx] = Tensor(name, shape, dtype, quant, data)
        return t_idx

    def _quant(self, tt: Any, name: str, where: dict[str, str]) -> Quant | None:
        q = tt.Quantization()
        if q is None:
            return None
        n = self._count(q.ScaleLength(), 4, "scales")
        if n == 0:
            return None
        scales = tuple(float(x) for x in q.ScaleAsNumpy())
        zps = tuple(int(x) for x in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * n
        if len(zps) == 1 and n > 1:
            zps = zps * n
        if len(zps) != n:
            raise ModelError(f"{n} scales but {len(zps)} zero points", tensor=name, **where)
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise ModelError("quantisation scales must be positive", tensor=name, **where)
        return Quant(scales, zps, int(q.QuantizedDimension()) if n > 1 else None)

    def _options(self, top: Any, cls_name: str, expect_type: int) -> Any:
        if top.BuiltinOptionsType() != expect_type or top.BuiltinOptions() is None:
            return None
        obj = getattr(_tfl(), cls_name)()
        tab = top.BuiltinOptions()
        obj.Init(tab.Bytes, tab.Pos)
        return obj

    def _operator(self, i: int, kind: str, top: Any, ins: list[int], outs: list[int],
                  where: dict[str, str], extra: dict[str, Any]) -> Operator:
        need = {"conv": (2, 3), "dwconv": (2, 3), "fc": (2, 3), "add": (2, 2),
                "reshape": (1, 2)}.get(kind, (1, 1))
        if not need[0] <= len(ins) <= need[1] or len(outs) != 1:
            raise ModelError(f"{len(ins)} inputs and {len(outs)} outputs do not fit {kind}",
                             **where)
        if kind == "reshape":
            ins = ins[:1]
        if any(t < 0 for t in ins[:2]) or outs[0] < 0:
            raise ModelError("missing (-1) input or output tensor", **where)
        x = self._tensor(ins[0], where)
        g_ins = [x]
        act_code, params = 0, OpParams()
        if kind in ("conv", "dwconv", "avgpool", "maxpool"):
            xs = self.by_key[x].shape
            if len(xs) != 4:
                raise ModelError(f"shape mismatch: input {xs} must be NHWC", **where)
            if kind in ("conv", "dwconv"):
                opts = self._options(top, "Conv2DOptions" if kind == "conv"
                                     else "DepthwiseConv2DOptions", 1 if kind == "conv" else 2)
                if opts is None:
                    raise ModelError("missing convolution options", **where)
                if (opts.DilationHFactor(), opts.DilationWFactor()) != (1, 1):
                    raise ModelError(f"dilation {(opts.DilationHFactor(), opts.DilationWFactor())}"
                                     " is not supported (1 only)", **where)
                if kind == "dwconv" and opts.DepthMultiplier() not in (0, 1):
                    raise ModelError(f"depth multiplier {opts.DepthMultiplier()} is not "
                                     "supported (1 only)", **where)
                w = self._tensor(ins[1], where)
                ws = self.by_key[w].shape
                if len(ws) != 4:
                    raise ModelError(f"shape mismatch: filter {ws} must have 4 dimensions",
                                     **where)
                kh, kw = ws[1], ws[2]
                g_ins += [w, self._bias(ins, x, w, ws[0] if kind == "conv" else ws[3], i,
                                        where)]
            else:
                opts = self._options(top, "Pool2DOptions", 5)
                if opts is None:
                    raise ModelError("missing pooling options", **where)
                kh, kw = int(opts.FilterHeight()), int(opts.FilterWidth())
            sh, sw = int(opts.StrideH()), int(opts.StrideW())
            if min(sh, sw, kh, kw) < 1:
                raise ModelError(f"stride {(sh, sw)} and window {(kh, kw)} must be >= 1",
                                 **where)
            pad_code = int(opts.Padding())
            if pad_code == _SAME:
                pad = same_padding(xs[1:3], (kh, kw), (sh, sw))
            elif pad_code == _VALID:
                pad = (0, 0, 0, 0)
            else:
                raise ModelError(f"unknown padding {pad_code}", **where)
            act_code = int(opts.FusedActivationFunction())
            params = OpParams(stride=(sh, sw), padding=pad,
                              filter=(kh, kw) if kind in ("avgpool", "maxpool") else (1, 1))
        elif kind == "fc":
            opts = self._options(top, "FullyConnectedOptions", 8)
            if opts is not None:
                if opts.WeightsFormat() != 0:
                    raise ModelError("shuffled fully-connected weights are not supported",
                                     **where)
                act_code = int(opts.FusedActivationFunction())
            w = self._tensor(ins[1], where)
            g_ins += [w, self._bias(ins, x, w, self.by_key[w].shape[0], i, where)]
        elif kind == "add":
            opts = self._options(top, "AddOptions", 11)
            act_code = int(opts.FusedActivationFunction()) if opts is not None else 0
            g_ins.append(self._tensor(ins[1], where))
        elif kind == "softmax":
            opts = self._options(top, "SoftmaxOptions", 9)
            beta = float(opts.Beta()) if opts is not None else 1.0
            params = OpParams(beta=beta)
        if act_code not in _ACTS:
            at = _tfl().ActivationFunctionType
            nm = {v: k for k, v in vars(at).items() if not k.startswith("_")}.get(act_code,
                                                                                 act_code)
            raise ModelError(f"unsupported fused activation {nm}", **where)
        params = replace(params, activation=_ACTS[act_code])
        y = self._tensor(outs[0], where)
        for t in g_ins[:1] + [y]:
            if self.by_key[t].dtype != "int8":
                raise ModelError(f"activation is {self.by_key[t].dtype}; only int8 is "
                                 "supported", tensor=self.by_key[t].name, **where)
        kernel = KernelChoice()
        if isinstance(extra.get("kernel"), dict):
            try:
                kernel = KernelChoice(**extra["kernel"])
            except TypeError:
                raise ModelError("corrupt mcusim metadata (kernel)", **where) from None
            if kernel.family not in FAMILIES:
                raise ModelError(f"unknown kernel family {kernel.family!r}", **where)
        name = str(extra.get("name", f"{i:02d}_{kind}"))
        return Operator(name, kind, tuple(g_ins), (y,), params, kernel)

    def _bias(self, ins: list[int], x: int, w: int, c_out: int, i: int,
              where: dict[str, str]) -> int:
        if len(ins) > 2 and ins[2] >= 0:
            return self._tensor(ins[2], where)
        xq, wq = self.by_key[x].quant, self.by_key[w].quant
        scale = tuple(xq.scale[0] * s for s in wq.scale) if xq and wq else (1.0,)
        key = self.n_tensors + i
        self.by_key[key] = Tensor(f"op{i}/zero_bias", (c_out,), "int32",
                                  Quant(scale, (0,) * len(scale), 0 if len(scale) > 1 else None),
                                  np.zeros(c_out, np.int32))
        return key


# ====================================================================== export
def write_tflite(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` as a ``.tflite`` file; returns the path."""
    p = Path(path)
    data = to_tflite_bytes(graph)
    try:
        p.write_bytes(data)
    except OSError as exc:
        raise ModelError(f"cannot write model: {exc.strerror}", file=str(p)) from None
    return p


def _padding_code(graph: Graph, op: Operator, kh: int, kw: int,
                  where: dict[str, str]) -> int:
    x = graph.tensors[op.inputs[0]].shape
    sh, sw = op.params.stride
    same = same_padding(x[1:3], (kh, kw), (sh, sw))
    if op.params.padding == (0, 0, 0, 0):
        y = graph.tensors[op.outputs[0]].shape
        valid = ((x[1] - kh) // sh + 1, (x[2] - kw) // sw + 1)
        if y[1:3] == valid:
            return _VALID
    if op.params.padding == same:
        return _SAME
    raise ModelError(f"padding {op.params.padding} is neither TFLite SAME {same} nor "
                     "VALID; TFLite cannot express it", **where)


def to_tflite_bytes(graph: Graph) -> bytes:
    """The ``.tflite`` flatbuffer of ``graph`` (validated first).

    Raises
    ------
    ModelError
        If the graph cannot be expressed in TFLite (padding neither SAME nor VALID, a tensor
        dtype TFLite int8 models do not use).
    """
    import flatbuffers

    tfl = _tfl()
    graph.validate()
    src = graph.source or graph.name
    b = flatbuffers.Builder(1024 + graph.weight_bytes())

    # Buffers: 0 is the empty sentinel, then one per constant tensor, then the metadata.
    buffer_of: dict[int, int] = {}
    payloads: list[bytes] = [b""]
    for i, t in enumerate(graph.tensors):
        if t.dtype not in ("int8", "int32"):
            raise ModelError(f"dtype {t.dtype} cannot be exported (int8/int32 only)",
                             model=src, tensor=t.name)
        if t.is_constant:
            arr = np.ascontiguousarray(np.asarray(t.data).reshape(-1), dtype=t.dtype)
            buffer_of[i] = len(payloads)
            payloads.append(arr.astype(np.dtype(t.dtype).newbyteorder("<")).tobytes())
    meta = {
        "name": graph.name,
        "operators": [{"name": op.name, "kernel": asdict(op.kernel)} for op in graph.operators],
        "bits": {t.name: t.bits for t in graph.tensors if t.bits != 8},
    }
    meta_buffer = len(payloads)
    payloads.append(json.dumps(meta, sort_keys=True).encode())

    buf_offs = []
    for data in payloads:
        vec = None
        if data:
            b.StartVector(1, len(data), 16)  # 16-byte aligned tensor data
            b.head = b.head - len(data)
            b.Bytes[b.head:b.head + len(data)] = data
            vec = b.EndVector()
        tfl.BufferStart(b)
        if vec is not None:
            tfl.BufferAddData(b, vec)
        buf_offs.append(tfl.BufferEnd(b))

    tensor_offs = []
    for i, t in enumerate(graph.tensors):
        name = b.CreateString(t.name)
        shape = b.CreateNumpyVector(np.array(t.shape, dtype=np.int32))
        q_off = None
        if t.quant is not None:
            scale = b.CreateNumpyVector(np.array(t.quant.scale, dtype=np.float32))
            zp = b.CreateNumpyVector(np.array(t.quant.zero_point, dtype=np.int64))
            tfl.QuantizationParametersStart(b)
            tfl.QuantizationParametersAddScale(b, scale)
            tfl.QuantizationParametersAddZeroPoint(b, zp)
            tfl.QuantizationParametersAddQuantizedDimension(b, t.quant.axis or 0)
            q_off = tfl.QuantizationParametersEnd(b)
        tfl.TensorStart(b)
        tfl.TensorAddShape(b, shape)
        tfl.TensorAddType(b, _TYPE_CODE[t.dtype])
        tfl.TensorAddBuffer(b, buffer_of.get(i, 0))
        tfl.TensorAddName(b, name)
        if q_off is not None:
            tfl.TensorAddQuantization(b, q_off)
        tensor_offs.append(tfl.TensorEnd(b))

    kinds = sorted({op.kind for op in graph.operators}, key=lambda k: _OP_CODE[k])
    code_index = {k: j for j, k in enumerate(kinds)}
    op_offs = []
    for i, op in enumerate(graph.operators):
        where = {"model": src, "operator": f"{i} ({op.name}, {op.kind})"}
        opt_type, opt_off = _export_options(b, tfl, graph, op, where)
        ins = b.CreateNumpyVector(np.array(op.inputs, dtype=np.int32))
        outs = b.CreateNumpyVector(np.array(op.outputs, dtype=np.int32))
        tfl.OperatorStart(b)
        tfl.OperatorAddOpcodeIndex(b, code_index[op.kind])
        tfl.OperatorAddInputs(b, ins)
        tfl.OperatorAddOutputs(b, outs)
        if opt_off is not None:
            tfl.OperatorAddBuiltinOptionsType(b, opt_type)
            tfl.OperatorAddBuiltinOptions(b, opt_off)
        op_offs.append(tfl.OperatorEnd(b))

    def table_vector(offs: list[int]) -> int:
        b.StartVector(4, len(offs), 4)
        for off in reversed(offs):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    tensors_vec = table_vector(tensor_offs)
    ops_vec = table_vector(op_offs)
    g_in = b.CreateNumpyVector(np.array(graph.inputs, dtype=np.int32))
    g_out = b.CreateNumpyVector(np.array(graph.outputs, dtype=np.int32))
    sg_name = b.CreateString("main")
    tfl.SubGraphStart(b)
    tfl.SubGraphAddTensors(b, tensors_vec)
    tfl.SubGraphAddInputs(b, g_in)
    tfl.SubGraphAddOutputs(b, g_out)
    tfl.SubGraphAddOperators(b, ops_vec)
    tfl.SubGraphAddName(b, sg_name)
    sg_off = tfl.SubGraphEnd(b)

    code_offs = []
    for k in kinds:
        tfl.OperatorCodeStart(b)
        tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(_OP_CODE[k], 127))
        tfl.OperatorCodeAddBuiltinCode(b, _OP_CODE[k])
        tfl.OperatorCodeAddVersion(b, _OP_VERSION[k])
        code_offs.append(tfl.OperatorCodeEnd(b))

    meta_name = b.CreateString(_META_KEY)
    tfl.MetadataStart(b)
    tfl.MetadataAddName(b, meta_name)
    tfl.MetadataAddBuffer(b, meta_buffer)
    meta_off = tfl.MetadataEnd(b)

    codes_vec = table_vector(code_offs)
    subgraphs_vec = table_vector([sg_off])
    buffers_vec = table_vector(buf_offs)
    meta_vec = table_vector([meta_off])
    desc = b.CreateString(f"mcusim export of {graph.name}")
    tfl.ModelStart(b)
    tfl.ModelAddVersion(b, 3)
    tfl.ModelAddOperatorCodes(b, codes_vec)
    tfl.ModelAddSubgraphs(b, subgraphs_vec)
    tfl.ModelAddDescription(b, desc)
    tfl.ModelAddBuffers(b, buffers_vec)
    tfl.ModelAddMetadata(b, meta_vec)
    b.Finish(tfl.ModelEnd(b), file_identifier=_FILE_ID)
    return bytes(b.Output())


def _export_options(b: Any, tfl: Any, graph: Graph, op: Operator,
                    where: dict[str, str]) -> tuple[int, int | None]:
    p = op.params
    act = _ACT_CODE[p.activation]
    if op.kind in ("conv", "dwconv"):
        w = graph.tensors[op.inputs[1]].shape
        pad = _padding_code(graph, op, w[1], w[2], where)
        pre = "Conv2DOptions" if op.kind == "conv" else "DepthwiseConv2DOptions"
        getattr(tfl, pre + "Start")(b)
        getattr(tfl, pre + "AddPadding")(b, pad)
        getattr(tfl, pre + "AddStrideH")(b, p.stride[0])
        getattr(tfl, pre + "AddStrideW")(b, p.stride[1])
        getattr(tfl, pre + "AddFusedActivationFunction")(b, act)
        getattr(tfl, pre + "AddDilationHFactor")(b, 1)
        getattr(tfl, pre + "AddDilationWFactor")(b, 1)
        if op.kind == "dwconv":
            tfl.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
        return (1 if op.kind == "conv" else 2), getattr(tfl, pre + "End")(b)
    if op.kind in ("avgpool", "maxpool"):
        pad = _padding_code(graph, op, p.filter[0], p.filter[1], where)
        tfl.Pool2DOptionsStart(b)
        tfl.Pool2DOptionsAddPadding(b, pad)
        tfl.Pool2DOptionsAddStrideH(b, p.stride[0])
        tfl.Pool2DOptionsAddStrideW(b, p.stride[1])
        tfl.Pool2DOptionsAddFilterHeight(b, p.filter[0])
        tfl.Pool2DOptionsAddFilterWidth(b, p.filter[1])
        tfl.Pool2DOptionsAddFusedActivationFunction(b, act)
        return 5, tfl.Pool2DOptionsEnd(b)
    if op.kind == "fc":
        tfl.FullyConnectedOptionsStart(b)
        tfl.FullyConnectedOptionsAddFusedActivationFunction(b, act)
        return 8, tfl.FullyConnectedOptionsEnd(b)
    if op.kind == "add":
        tfl.AddOptionsStart(b)
        tfl.AddOptionsAddFusedActivationFunction(b, act)
        return 11, tfl.AddOptionsEnd(b)
    if op.kind == "softmax":
        if act != 0:
            raise ModelError("softmax cannot fuse an activation in TFLite", **where)
        tfl.SoftmaxOptionsStart(b)
        tfl.SoftmaxOptionsAddBeta(b, p.beta)
        return 9, tfl.SoftmaxOptionsEnd(b)
    if op.kind == "reshape":
        if act != 0:
            raise ModelError("reshape cannot fuse an activation in TFLite", **where)
        shape = b.CreateNumpyVector(np.array(graph.tensors[op.outputs[0]].shape, np.int32))
        tfl.ReshapeOptionsStart(b)
        tfl.ReshapeOptionsAddNewShape(b, shape)
        return 17, tfl.ReshapeOptionsEnd(b)
    raise ModelError(f"operator kind {op.kind!r} cannot be exported", **where)
