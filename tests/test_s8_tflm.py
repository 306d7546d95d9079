"""The numpy references of the ``s8`` family against TensorFlow Lite Micro's own interpreter.

Single-operator ``.tflite`` files are built here (flatbuffers object API of the schema that
ships with the ``tflite-micro`` package) for CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D,
MAX_POOL_2D and SOFTMAX with TFLite's SAME padding (asymmetric), odd strides and windows,
and run by ``tflite_micro``; the references must agree bit for bit.  When the MLPerf Tiny
models of ``../shared/models`` are present, every operator of both is checked on the
interpreter's own intermediate tensors too, by the references and by the firmware kernels
under emulation (both boards, DSP and plain C).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcusim.kernels import s8
from mcusim.kernels.quant import (
    QParams, activation_range, quantize_bias, quantize_weights_per_channel,
)
from mcusim.kernels.s8_params import AddParams, ConvParams, PoolParams, SoftmaxParams

tflm = pytest.importorskip("tflite_micro", reason="needs the tflite-micro test extra")
flatbuffers = pytest.importorskip("flatbuffers")
from tflite_micro.tensorflow.lite.micro.python import (  # noqa: E402
    schema_py_generated as S,
)


def _models_dir() -> Path:
    """``$MCUSIM_SHARED_MODELS``, else the first ``shared/models`` beside the checkout or
    above it (a git worktree sits deeper than the main checkout)."""
    if os.environ.get("MCUSIM_SHARED_MODELS"):
        return Path(os.environ["MCUSIM_SHARED_MODELS"])
    root = Path(__file__).resolve().parents[1]
    for up in root.parents:
        if (up / "shared" / "models").is_dir():
            return up / "shared" / "models"
    return root.parent / "shared" / "models"


MODELS = _models_dir()
_ACT = {"none": S.ActivationFunctionType.NONE, "relu": S.ActivationFunctionType.RELU,
        "relu6": S.ActivationFunctionType.RELU6}
_PAD = {"same": S.Padding.SAME, "valid": S.Padding.VALID}


# ------------------------------------------------------------------ single-op models


class _OneOp:
    """A one-operator TFLite model under construction (object API of the schema)."""

    def __init__(self) -> None:
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [S.BufferT()]

    def tensor(self, shape: tuple[int, ...], scale: Any, zero_point: Any, *,
               data: np.ndarray | None = None, dtype: int = S.TensorType.INT8,
               axis: int = 0) -> int:
        t = S.TensorT()
        t.shape, t.type, t.name = list(shape), dtype, f"t{len(self.tensors)}"
        q = S.QuantizationParametersT()
        q.scale = [float(v) for v in np.atleast_1d(scale)]
        q.zeroPoint = [int(v) for v in np.atleast_1d(zero_point)]
        q.quantizedDimension = axis
        t.quantization = q
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8).tolist()
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def build(self, code: int, options_type: int, options: Any, inputs: list[int],
              outputs: list[int]) -> bytes:
        oc = S.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
        op = S.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, inputs, outputs
        op.builtinOptionsType, op.builtinOptions = options_type, options
        g = S.SubGraphT()
        g.tensors, g.operators = self.tensors, [op]
        g.inputs, g.outputs = [inputs[0]], outputs
        m = S.ModelT()
        m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [oc], [g], self.buffers
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _run_tflm(model: bytes, x: np.ndarray) -> np.ndarray:
    interp = tflm.runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    interp.set_input(x, 0)
    interp.invoke()
    return np.asarray(interp.get_output(0))


def _f32(v: Any) -> Any:
    """The value the model stores (float32), back as float64."""
    return np.float32(v).astype(np.float64) if np.ndim(v) else float(np.float32(v))


def _tflite_pad(padding: str, in_hw: tuple[int, int], k_hw: tuple[int, int],
                stride: tuple[int, int]) -> tuple[int, int, int, int]:
    return s8.same_padding(in_hw, k_hw, stride) if padding == "same" else (0, 0, 0, 0)


def _conv_case(rng: np.random.Generator, h: int, w: int, ci: int, co: int,
               k: tuple[int, int], stride: tuple[int, int], padding: str, act: str,
               depthwise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Build and run one conv / depthwise model; returns (reference, TFLM) outputs."""
    in_q = QParams(_f32(rng.uniform(0.01, 0.05)), int(rng.integers(-100, 100)))
    out_q = QParams(_f32(rng.uniform(0.02, 0.2)), int(rng.integers(-50, 50)))
    kh, kw = k
    cout = ci if depthwise else co
    per_out = 1 if depthwise else ci
    wf = rng.normal(0, 1 / np.sqrt(kh * kw * per_out), (cout, kh, kw, per_out))
    wq, w_scales = quantize_weights_per_channel(wf)
    w_scales = _f32(w_scales)
    bias = quantize_bias(rng.normal(0, 0.3, cout), in_q.scale, w_scales)
    x = rng.integers(-128, 128, (h, w, ci)).astype(np.int8)
    pad = _tflite_pad(padding, (h, w), k, stride)
    p = ConvParams.from_qparams(in_q, w_scales, out_q, stride=stride, pad=pad, activation=act)

    mb = _OneOp()
    ti = mb.tensor((1, h, w, ci), in_q.scale, in_q.zero_point)
    if depthwise:
        w_model = np.ascontiguousarray(wq[:, :, :, 0].transpose(1, 2, 0))[None]   # [1,KH,KW,C]
        tw = mb.tensor(w_model.shape, w_scales, np.zeros(cout, int), data=w_model, axis=3)
        ref = s8.depthwise_conv_s8_ref(x, w_model[0], bias, p)
    else:
        tw = mb.tensor(wq.shape, w_scales, np.zeros(cout, int), data=wq, axis=0)
        ref = s8.conv_s8_ref(x, wq, bias, p)
    tb = mb.tensor((cout,), in_q.scale * w_scales, np.zeros(cout, int), data=bias,
                   dtype=S.TensorType.INT32)
    to = mb.tensor((1,) + ref.shape, out_q.scale, out_q.zero_point)
    if depthwise:
        opt = S.DepthwiseConv2DOptionsT()
        opt.depthMultiplier = 1
        code, otype = S.BuiltinOperator.DEPTHWISE_CONV_2D, S.BuiltinOptions.DepthwiseConv2DOptions
    else:
        opt = S.Conv2DOptionsT()
        code, otype = S.BuiltinOperator.CONV_2D, S.BuiltinOptions.Conv2DOptions
    opt.padding, opt.strideH, opt.strideW = _PAD[padding], stride[0], stride[1]
    opt.dilationHFactor = opt.dilationWFactor = 1
    opt.fusedActivationFunction = _ACT[act]
    model = mb.build(code, otype, opt, [ti, tw, tb], [to])
    return ref, _run_tflm(model, x[None])[0]


# (H, W, C_IN, C_OUT, (KH, KW), (SH, SW), padding, activation)
CONV_CASES = [
    (49, 10, 1, 8, (10, 4), (2, 2), "same", "relu"),     # DS-CNN first layer: pads (4,1,5,1)
    (16, 16, 5, 6, (3, 3), (2, 2), "same", "relu"),      # ResNet-8 stride 2: pads (0,0,1,1)
    (16, 16, 6, 7, (1, 1), (2, 2), "same", "none"),      # ResNet-8 1x1 shortcut
    (9, 7, 3, 4, (3, 3), (1, 1), "same", "relu6"),
    (11, 8, 3, 5, (4, 2), (3, 2), "same", "none"),       # even kernels, odd strides
    (10, 9, 2, 3, (5, 3), (2, 1), "valid", "none"),      # leftover rows with VALID
    (7, 6, 4, 3, (2, 2), (1, 1), "same", "relu"),        # pad after only: (0,0,1,1)
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(map(str, c)))
def test_conv_ref_matches_tflm(case: tuple) -> None:
    h, w, ci, co, k, stride, padding, act = case
    ref, got = _conv_case(np.random.default_rng(len(str(case))), h, w, ci, co, k, stride,
                          padding, act, depthwise=False)
    np.testing.assert_array_equal(ref, got)
    assert len(np.unique(ref)) > 5


# (H, W, C, (KH, KW), (SH, SW), padding, activation)
DW_CASES = [
    (25, 5, 8, (3, 3), (1, 1), "same", "relu"),          # DS-CNN depthwise
    (12, 11, 5, (3, 3), (2, 2), "same", "none"),         # pads (0,0,1,1) / (1,1,1,1)
    (9, 10, 3, (5, 3), (2, 3), "same", "relu6"),
    (8, 7, 6, (2, 4), (1, 2), "valid", "none"),
]


@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: "-".join(map(str, c)))
def test_depthwise_ref_matches_tflm(case: tuple) -> None:
    h, w, c, k, stride, padding, act = case
    ref, got = _conv_case(np.random.default_rng(7 + len(str(case))), h, w, c, c, k, stride,
                          padding, act, depthwise=True)
    np.testing.assert_array_equal(ref, got)
    assert len(np.unique(ref)) > 5


def _pool_model(kind: str, shape: tuple[int, int, int], f: tuple[int, int],
                stride: tuple[int, int], padding: str, act: str, q: QParams) -> bytes:
    mb = _OneOp()
    h, w, c = shape
    pad = _tflite_pad(padding, (h, w), f, stride)
    oh, ow = PoolParams(f, stride, pad).out_hw(h, w)
    ti = mb.tensor((1, h, w, c), q.scale, q.zero_point)
    to = mb.tensor((1, oh, ow, c), q.scale, q.zero_point)
    opt = S.Pool2DOptionsT()
    opt.padding, opt.strideH, opt.strideW = _PAD[padding], stride[0], stride[1]
    opt.filterHeight, opt.filterWidth = f
    opt.fusedActivationFunction = _ACT[act]
    code = (S.BuiltinOperator.AVERAGE_POOL_2D if kind == "avg"
            else S.BuiltinOperator.MAX_POOL_2D)
    return mb.build(code, S.BuiltinOptions.Pool2DOptions, opt, [ti], [to])


# (H, W, C, (FH, FW), (SH, SW), padding, activation)
POOL_CASES = [
    (25, 5, 8, (25, 5), (25, 5), "valid", "none"),       # DS-CNN global average pool
    (8, 8, 6, (8, 8), (8, 8), "valid", "none"),          # ResNet-8 global average pool
    (7, 9, 5, (3, 3), (2, 2), "same", "none"),           # padded pixels not counted
    (10, 7, 3, (2, 3), (3, 2), "same", "relu"),
    (6, 11, 4, (4, 2), (1, 3), "same", "relu6"),
    (9, 9, 3, (3, 5), (2, 2), "valid", "none"),
]


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "-".join(map(str, c)))
def test_pool_ref_matches_tflm(case: tuple, kind: str) -> None:
    h, w, c, f, stride, padding, act = case
    rng = np.random.default_rng(len(str(case)))
    q = QParams(_f32(0.05), int(rng.integers(-20, 20)))
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    lo, hi = activation_range(act, q)
    p = PoolParams(f, stride, _tflite_pad(padding, (h, w), f, stride), lo, hi)
    ref = (s8.avg_pool_s8_ref if kind == "avg" else s8.max_pool_s8_ref)(x, p)
    got = _run_tflm(_pool_model(kind, (h, w, c), f, stride, padding, act, q), x[None])[0]
    np.testing.assert_array_equal(ref, got)


def _softmax_model(n: int, depth: int, q: QParams, beta: float) -> bytes:
    mb = _OneOp()
    ti = mb.tensor((n, depth), q.scale, q.zero_point)
    to = mb.tensor((n, depth), 1.0 / 256, -128)
    opt = S.SoftmaxOptionsT()
    opt.beta = beta
    return mb.build(S.BuiltinOperator.SOFTMAX, S.BuiltinOptions.SoftmaxOptions, opt, [ti], [to])


@pytest.mark.parametrize("scale,beta", [(0.0625, 1.0), (0.1, 1.0), (0.2371, 1.0),
                                        (0.015, 1.0), (0.5, 0.7), (1.3, 2.0), (3e-3, 1.0),
                                        (17.0, 1.0), (40.0, 2.0)])
@pytest.mark.parametrize("n,depth", [(1, 12), (3, 10), (2, 1), (4, 37)])
def test_softmax_ref_matches_tflm(scale: float, beta: float, n: int, depth: int) -> None:
    rng = np.random.default_rng(int(scale * 1000) + n * depth)
    q = QParams(_f32(scale), int(rng.integers(-128, 128)))
    x = rng.integers(-128, 128, (n, depth)).astype(np.int8)
    x[0, 0] = 127
    if n > 2:
        x[1] = x[1, 0]              # a row of equal values
        x[2] = rng.integers(-3, 3, depth)
    p = SoftmaxParams.from_scale(q.scale, _f32(beta))
    ref = s8.softmax_s8_ref(x, p)
    np.testing.assert_array_equal(ref, _run_tflm(_softmax_model(n, depth, q, beta), x))


def test_softmax_params_follow_tflite() -> None:
    # beta * scale * 2^26 = 2^22 exactly: multiplier 2^30, shift 23, radius 31 * 2^3
    assert SoftmaxParams.from_scale(0.0625).struct() == [1 << 30, 23, -248]
    big = SoftmaxParams.from_scale(100.0)         # capped at 2^31 - 1: shift 31, diff_min 0
    assert (big.input_multiplier, big.input_left_shift, big.diff_min) == ((1 << 31) - 1, 31, 0)
    with pytest.raises(ValueError, match="softmax"):
        SoftmaxParams.from_scale(1e-9)


def test_softmax_ref_approximates_float() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (50, 12)).astype(np.int8)
    scale = 0.08
    got = (s8.softmax_s8_ref(x, SoftmaxParams.from_scale(scale)).astype(int) + 128) / 256
    xf = x.astype(np.float64) * scale
    e = np.exp(xf - xf.max(axis=1, keepdims=True))
    assert np.abs(got - e / e.sum(axis=1, keepdims=True)).max() <= 1.5 / 256


# ------------------------------------------------------------------ the MLPerf Tiny models


def _model_ops(path: Path) -> tuple[Any, list[tuple[str, Any]]]:
    m = S.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
    ops = []
    for op in m.subgraphs[0].operators:
        code = m.operatorCodes[op.opcodeIndex]
        ops.append((names[max(code.builtinCode, code.deprecatedBuiltinCode)], op))
    return m, ops


def _qp(t: Any) -> QParams:
    return QParams(float(t.quantization.scale[0]), int(t.quantization.zeroPoint[0]))


def _act_name(code: int) -> str:
    return {v: k for k, v in _ACT.items()}[code]


def _op_problem(m: Any, kind: str, op: Any, ins: list[np.ndarray]) -> tuple[str, list, Any]:
    """One operator of a model as an s8 problem ``(family, arrays, params)`` on the
    interpreter's input tensors (batch dropped)."""
    g = m.subgraphs[0]
    t = [g.tensors[i] for i in op.inputs if i >= 0]
    out_t = g.tensors[op.outputs[0]]
    o = op.builtinOptions
    const = [None if m.buffers[x.buffer].data is None else
             np.frombuffer(bytes(bytearray(m.buffers[x.buffer].data)),
                           np.int32 if x.type == S.TensorType.INT32 else np.int8
                           ).reshape(x.shape) for x in t]
    padding = "same" if getattr(o, "padding", None) == S.Padding.SAME else "valid"
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x = ins[0][0]
        k_hw = (int(t[1].shape[1]), int(t[1].shape[2]))
        stride = (o.strideH, o.strideW)
        p = ConvParams.from_qparams(_qp(t[0]), np.asarray(t[1].quantization.scale),
                                    _qp(out_t), stride=stride,
                                    pad=_tflite_pad(padding, x.shape[:2], k_hw, stride),
                                    activation=_act_name(o.fusedActivationFunction))
        if kind == "CONV_2D":
            return "conv", [x, const[1], const[2]], p
        return "dwconv", [x, const[1][0], const[2]], p
    if kind == "FULLY_CONNECTED":
        scales = np.full(t[1].shape[0], float(t[1].quantization.scale[0]))
        p = ConvParams.from_qparams(_qp(t[0]), scales, _qp(out_t),
                                    activation=_act_name(o.fusedActivationFunction))
        return "fc", [ins[0].reshape(1, -1), const[1], const[2]], p
    if kind == "AVERAGE_POOL_2D":
        x = ins[0][0]
        f, stride = (o.filterHeight, o.filterWidth), (o.strideH, o.strideW)
        return "avgpool", [x], PoolParams(f, stride, _tflite_pad(padding, x.shape[:2], f, stride))
    if kind == "ADD":
        p = AddParams.from_qparams(_qp(t[0]), _qp(t[1]), _qp(out_t),
                                   activation=_act_name(o.fusedActivationFunction))
        return "add", [ins[0], ins[1]], p
    if kind == "SOFTMAX":
        return "softmax", [ins[0]], SoftmaxParams.from_scale(_qp(t[0]).scale, o.beta)
    if kind == "RESHAPE":
        return "reshape", [ins[0]], tuple(out_t.shape)
    raise AssertionError(f"unexpected operator {kind}")


REFERENCES = {
    "conv": lambda a, p: s8.conv_s8_ref(*a, p),
    "dwconv": lambda a, p: s8.depthwise_conv_s8_ref(*a, p),
    "fc": lambda a, p: s8.fc_s8_ref(*a, p), "avgpool": lambda a, p: s8.avg_pool_s8_ref(*a, p),
    "add": lambda a, p: s8.add_s8_ref(*a, p), "softmax": lambda a, p: s8.softmax_s8_ref(*a, p),
    "reshape": lambda a, p: a[0].reshape(p),
}
KERNELS = {
    "conv": s8.run_conv_s8, "dwconv": s8.run_depthwise_conv_s8, "fc": s8.run_fc_s8,
    "avgpool": s8.run_avg_pool_s8, "add": s8.run_add_s8, "softmax": s8.run_softmax_s8,
}


def _model_trace(name: str) -> tuple[Any, list[tuple[str, list, Any, np.ndarray]]]:
    """Run a shared model once in TFLM keeping every tensor; per operator the s8 problem
    and TFLM's output."""
    path = MODELS / name
    if not path.is_file():
        pytest.skip(f"{path} absent (the MLPerf Tiny models of ../shared/models)")
    m, ops = _model_ops(path)
    interp = tflm.runtime.Interpreter.from_file(
        str(path), intrepreter_config=tflm.runtime.InterpreterConfig.kPreserveAllTensors)
    rng = np.random.default_rng(0)
    shape = tuple(interp.get_input_details(0)["shape"])
    interp.set_input(rng.integers(-128, 128, shape).astype(np.int8), 0)
    interp.invoke()
    trace = []
    for kind, op in ops:
        ins = [interp.GetTensor(i, 0)["tensor_data"] for i in op.inputs
               if i >= 0 and m.buffers[m.subgraphs[0].tensors[i].buffer].data is None]
        want = interp.GetTensor(op.outputs[0], 0)["tensor_data"]
        trace.append((kind,) + _op_problem(m, kind, op, ins) + (want,))
    return m, trace


MODEL_NAMES = ["kws_ref_model.tflite", "pretrainedResnet_quant.tflite"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_operators_match_tflm(name: str) -> None:
    _, trace = _model_trace(name)
    for kind, family, arrays, params, want in trace:
        got = REFERENCES[family](arrays, params)
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=kind)
    assert {"conv", "avgpool", "fc", "softmax"} <= {t[1] for t in trace}


@pytest.mark.parametrize("build", ["dsp", "plain"])
@pytest.mark.parametrize("board", ["stm32f469i", "stm32f746zg"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_operators_emulated_match_tflm(name: str, board: str, build: str) -> None:
    """Every operator of the MLPerf Tiny models through the s8 firmware kernels (the
    wrappers pick the path) on TFLM's own intermediate tensors."""
    from mcusim.boards import get_board
    from mcusim.kernels.firmware import build_family
    from mcusim.machine import Machine

    _, trace = _model_trace(name)
    b = get_board(board)
    mach = Machine(b, build_family(b, "s8", plain_c=build == "plain"))
    for i, (kind, family, arrays, params, want) in enumerate(trace):
        if family == "reshape":
            continue
        got = KERNELS[family](mach, *arrays, params).output
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=f"op {i} {kind}")
