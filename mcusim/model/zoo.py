"""Built-in seed models: the Space-efficient TREC paper's CIFAR-10 networks and a tiny one.

=============  ==========  =========  ============  ====================================
name           input       MACs       weights [B]   what
=============  ==========  =========  ============  ====================================
``tiny``       8x8x1       ~7 k       ~0.4 k        every operator kind once (fast tests)
``cifarnet``   32x32x3     14.7 M     ~800 k        the TREC paper's CifarNet
``squeezenet`` 32x32x3     ~29 M      ~580 k        SqueezeNet, CIFAR variant (fire 2-7)
``zfnet``      32x32x3     ~18 M      ~700 k        ZfNet, CIFAR variant (5 conv, 3 FC)
=============  ==========  =========  ============  ====================================

Shapes:

- **CifarNet** (as :data:`mcusim.kernels.layers.CIFARNET`): conv 5x5 valid 3->64, ReLU,
  max-pool 2x2, conv 5x5 valid 64->64, ReLU, max-pool 2x2, fully connected
  1600->384->192->10, softmax.
- **SqueezeNet** (CIFAR variant; stem and ``fire2`` as :data:`mcusim.kernels.layers.SQUEEZENET`):
  conv 3x3 same 3->96, max-pool 2x2, fire2 (squeeze 16, expand 64+64), fire3 (16, 64+64),
  max-pool 2x2, fire4 (32, 128+128), fire5 (32, 128+128), max-pool 2x2, fire6
  (48, 192+192), fire7 (48, 192+192), conv 1x1 ->10, global average pool, softmax.  The graph
  has no concatenation, so a fire module's expand 1x1 and expand 3x3 convolutions are one 3x3
  convolution whose first half of the filters is zero except the centre tap: that is
  exactly ``concat(expand1x1, expand3x3)`` with a shared output quantisation (it costs the
  zero taps' MACs and bytes).
- **ZfNet** (CIFAR variant, ZFNet's 7x7 stride-2 first layer and 5 conv + 3 FC layout, scaled
  to 32x32): conv 7x7/2 same 3->64, max-pool 3x3/2 same, conv 5x5 same 64->96, max-pool
  3x3/2 same, conv 3x3 96->128, 128->128, 128->96, max-pool 3x3/2 same, fully connected
  384->256->256->10, softmax.  Its stride-2 SAME layers have asymmetric padding.
- **tiny**: conv 3x3 same 1->8, depthwise 3x3/2 same (asymmetric padding), conv 1x1, add
  (residual), max-pool 2x2, average pool 2x2, reshape, fully connected 8->10, softmax.

Sizes: the Space-efficient TREC paper runs CifarNet, ZfNet and SqueezeNet on both the
STM32F469I (324 KB SRAM, 2048 KB Flash) and the STM32F746ZG (320 KB SRAM, 1024 KB Flash);
every model here is sized to fit both (weights under 1 MB, activations well under 320 KB).

Weights are deterministic, not trained: He-normal float weights from
``numpy.random.default_rng(seed)`` (seed fixed per model), quantised symmetric int8 per output
channel (fully connected: per tensor, as TFLite's converter does), int32 biases with scale
``input_scale * weight_scale``.  Activation quantisation is calibrated by running the float
model (with the de-quantised weights) on a deterministic calibration batch -- smooth random
images from the same seeded generator, values in [0, 1] -- and taking each tensor's min/max
(:func:`mcusim.kernels.quant.choose_qparams`); pooling and reshape keep their input's
quantisation and softmax outputs use TFLite's fixed 1/256, -128.  Every scale is rounded to
float32, as a ``.tflite`` file stores it, so an exported model reads back identical.

Examples
--------
>>> list_models()
('tiny', 'cifarnet', 'squeezenet', 'zfnet')
>>> get_model("tiny").num_operators
9
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mcusim.errors import ModelError
from mcusim.kernels.quant import QParams, choose_qparams, quantize_bias
from mcusim.kernels.s8_params import same_padding
from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor

__all__ = ["GraphBuilder", "ZooModel", "calibration_images", "get_model", "list_models", "model_info"]


@dataclass(frozen=True)
class ZooModel:
    """One built-in model: its name, a one-line description and its input shape."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    seed: int


def _f32(x: float) -> float:
    return float(np.float32(x))


def _q(qp: QParams) -> Quant:
    return Quant((_f32(qp.scale),), (int(qp.zero_point),))


_INPUT_Q = QParams(_f32(1.0 / 255.0), -128)
_SOFTMAX_Q = QParams(1.0 / 256.0, -128)


def calibration_images(shape: tuple[int, int, int], count: int, seed: int) -> np.ndarray:
    """Deterministic smooth random images in [0, 1], ``[count, H, W, C]`` float32.

    Each image is a sum of a few random low-frequency cosines per channel plus a little
    noise, normalised to [0, 1] (natural-image-like local correlation, no dataset needed).
    """
    h, w, c = shape
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    imgs = np.zeros((count, h, w, c), np.float64)
    for n in range(count):
        for ch in range(c):
            img = np.zeros((h, w))
            for _ in range(4):
                fy, fx = rng.uniform(0.5, 3.0, size=2)
                img += rng.normal() * np.cos(2 * np.pi * (fy * yy + fx * xx + rng.uniform()))
            img += 0.1 * rng.normal(size=(h, w))
            imgs[n, :, :, ch] = img
        lo, hi = imgs[n].min(), imgs[n].max()
        imgs[n] = (imgs[n] - lo) / (hi - lo)
    # the int8 input grid, so the float calibration sees what the model gets
    return (np.round(imgs * 255.0) / 255.0).astype(np.float32)


class GraphBuilder:
    """Builds a graph layer by layer while running its float model on a calibration batch.

    The zoo's models and the μNAS search space's candidates
    (:mod:`mcusim.search.nas.graphs`) are built with it: seeded weights and activation
    ranges calibrated on ``images``.
    """

    def __init__(self, name: str, images: np.ndarray, seed: int) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed + 1)
        self.tensors: list[Tensor] = []
        self.ops: list[Operator] = []
        self.vals: dict[int, np.ndarray] = {}
        x = self._act("input", images.shape[1:], _INPUT_Q)
        self.vals[x] = images
        self.input = x

    # ------------------------------------------------------------ helpers
    def _act(self, name: str, shape: tuple[int, ...], qp: QParams) -> int:
        self.tensors.append(Tensor(name, (1,) + tuple(shape), "int8", _q(qp)))
        return len(self.tensors) - 1

    def _const(self, name: str, data: np.ndarray, quant: Quant) -> int:
        data = np.ascontiguousarray(data)
        data.flags.writeable = False
        self.tensors.append(Tensor(name, data.shape, str(data.dtype), quant, data))
        return len(self.tensors) - 1

    def _qp(self, t: int) -> QParams:
        s, z = self.tensors[t].quant.scalar  # type: ignore[union-attr]
        return QParams(s, z)

    def _calibrated(self, name: str, y: np.ndarray) -> int:
        qp = choose_qparams(float(y.min()), float(y.max()))
        t = self._act(name, y.shape[1:], QParams(_f32(qp.scale), qp.zero_point))
        self.vals[t] = y
        return t

    def _op(self, name: str, kind: str, ins: tuple[int, ...], out: int, **params: object) -> int:
        self.ops.append(Operator(name, kind, ins, (out,), OpParams(**params)))  # type: ignore[arg-type]
        return out

    def _weights(self, name: str, shape: tuple[int, ...], fan_in: int, x: int, *,
                 per_channel_axis: int | None, mask: np.ndarray | None = None
                 ) -> tuple[int, int, np.ndarray, np.ndarray]:
        """Quantised weights and bias; returns tensor indices and their float values."""
        wf = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        if mask is not None:
            wf = wf * mask
        bf = self.rng.normal(0.0, 0.05, size=shape[0 if per_channel_axis != 3 else 3])
        if per_channel_axis is None:
            scales = np.array([_f32(max(np.abs(wf).max(), 1e-8) / 127.0)])
            bshape = (1,) * wf.ndim
        else:
            moved = np.moveaxis(wf, per_channel_axis, 0).reshape(wf.shape[per_channel_axis], -1)
            scales = np.array([_f32(max(a, 1e-8) / 127.0) for a in np.abs(moved).max(axis=1)])
            bshape = tuple(-1 if i == per_channel_axis else 1 for i in range(wf.ndim))
        wq = np.clip(np.round(wf / scales.reshape(bshape)), -127, 127).astype(np.int8)
        in_scale = self._qp(x).scale
        c_out = bf.size
        w_scales = np.broadcast_to(scales, (c_out,)) if scales.size == 1 else scales
        bq = quantize_bias(bf, in_scale, w_scales)
        w_axis = per_channel_axis if scales.size > 1 else None
        w = self._const(f"{name}.weights", wq,
                        Quant(tuple(float(s) for s in scales), (0,) * scales.size, w_axis))
        b_scales = tuple(_f32(in_scale * s) for s in w_scales)
        b = self._const(f"{name}.bias", bq,
                        Quant(b_scales, (0,) * c_out, 0 if c_out > 1 else None))
        w_deq = wq.astype(np.float64) * scales.reshape(bshape)
        b_deq = bq.astype(np.float64) * in_scale * np.asarray(w_scales)
        return w, b, w_deq, b_deq

    @staticmethod
    def _padding(size_hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
                 mode: str) -> tuple[int, int, int, int]:
        if mode == "valid":
            return (0, 0, 0, 0)
        return same_padding(size_hw, k, s)

    @staticmethod
    def _windows(x: np.ndarray, k: tuple[int, int], s: tuple[int, int],
                 pad: tuple[int, int, int, int], fill: float) -> np.ndarray:
        t, l, b, r = pad
        xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=fill)
        win = sliding_window_view(xp, k, axis=(1, 2))[:, ::s[0], ::s[1]]  # N OH OW C KH KW
        oh = (x.shape[1] + t + b - k[0]) // s[0] + 1
        ow = (x.shape[2] + l + r - k[1]) // s[1] + 1
        return win[:, :oh, :ow]

    @staticmethod
    def _act_fn(y: np.ndarray, activation: str) -> np.ndarray:
        if activation == "relu":
            return np.maximum(y, 0.0)
        if activation == "relu6":
            return np.clip(y, 0.0, 6.0)
        return y

    # ------------------------------------------------------------ layers
    def conv(self, name: str, x: int, c_out: int, k: int, *, stride: int = 1,
             padding: str = "same", activation: str = "relu",
             mask: Callable[[int, int, int], np.ndarray] | None = None) -> int:
        xv = self.vals[x]
        c_in = xv.shape[3]
        pad = self._padding(xv.shape[1:3], (k, k), (stride, stride), padding)
        m = mask(c_out, k, c_in) if mask is not None else None
        w, b, wd, bd = self._weights(name, (c_out, k, k, c_in), k * k * c_in, x,
                                     per_channel_axis=0, mask=m)
        win = self._windows(xv, (k, k), (stride, stride), pad, 0.0)  # N OH OW C KH KW
        y = np.einsum("nyxcij,oijc->nyxo", win, wd, optimize=True) + bd
        y = self._act_fn(y, activation)
        out = self._calibrated(name, y)
        return self._op(name, "conv", (x, w, b), out, stride=(stride, stride), padding=pad,
                        activation=activation)

    def dwconv(self, name: str, x: int, k: int, *, stride: int = 1, padding: str = "same",
               activation: str = "relu") -> int:
        xv = self.vals[x]
        c = xv.shape[3]
        pad = self._padding(xv.shape[1:3], (k, k), (stride, stride), padding)
        w, b, wd, bd = self._weights(name, (1, k, k, c), k * k, x, per_channel_axis=3)
        win = self._windows(xv, (k, k), (stride, stride), pad, 0.0)
        y = np.einsum("nyxcij,ijc->nyxc", win, wd[0], optimize=True) + bd
        out = self._calibrated(name, self._act_fn(y, activation))
        return self._op(name, "dwconv", (x, w, b), out, stride=(stride, stride), padding=pad,
                        activation=activation)

    def fc(self, name: str, x: int, c_out: int, *, activation: str = "relu") -> int:
        xv = self.vals[x].reshape(self.vals[x].shape[0], -1)
        w, b, wd, bd = self._weights(name, (c_out, xv.shape[1]), xv.shape[1], x,
                                     per_channel_axis=None)
        y = self._act_fn(xv @ wd.T + bd, activation)
        out = self._calibrated(name, y)
        return self._op(name, "fc", (x, w, b), out, activation=activation)

    def pool(self, name: str, kind: str, x: int, k: int, *, stride: int | None = None,
             padding: str = "valid") -> int:
        xv = self.vals[x]
        s = stride or k
        pad = self._padding(xv.shape[1:3], (k, k), (s, s), padding)
        if kind == "maxpool":
            y = self._windows(xv, (k, k), (s, s), pad, -np.inf).max(axis=(4, 5))
        else:
            tot = self._windows(xv, (k, k), (s, s), pad, 0.0).sum(axis=(4, 5))
            cnt = self._windows(np.ones_like(xv[:1, :, :, :1]), (k, k), (s, s), pad,
                                0.0).sum(axis=(4, 5))
            y = tot / cnt
        out = self._act(name, y.shape[1:], self._qp(x))
        self.vals[out] = y
        return self._op(name, kind, (x,), out, filter=(k, k), stride=(s, s), padding=pad)

    def add(self, name: str, a: int, b: int, *, activation: str = "relu") -> int:
        y = self._act_fn(self.vals[a] + self.vals[b], activation)
        return self._op(name, "add", (a, b), self._calibrated(name, y), activation=activation)

    def reshape(self, name: str, x: int, shape: tuple[int, ...]) -> int:
        xv = self.vals[x]
        out = self._act(name, shape[1:], self._qp(x))
        self.vals[out] = xv.reshape((xv.shape[0],) + shape[1:])
        return self._op(name, "reshape", (x,), out)

    def softmax(self, name: str, x: int) -> int:
        xv = self.vals[x]
        e = np.exp(xv - xv.max(axis=-1, keepdims=True))
        out = self._act(name, xv.shape[1:], _SOFTMAX_Q)
        self.vals[out] = e / e.sum(axis=-1, keepdims=True)
        return self._op(name, "softmax", (x,), out, beta=1.0)

    def graph(self, out: int) -> Graph:
        return Graph(self.name, tuple(self.tensors), tuple(self.ops), inputs=(self.input,),
                     outputs=(out,), source=f"zoo:{self.name}").validate()


# ---------------------------------------------------------------- the models
def _tiny(b: GraphBuilder) -> int:
    x = b.conv("conv1", b.input, 8, 3)
    d = b.dwconv("dw2", x, 3, stride=2)                   # 8 -> 4, padding (0, 0, 1, 1)
    p = b.conv("pw3", d, 8, 1, activation="none")
    a = b.add("add4", d, p)
    m = b.pool("maxpool5", "maxpool", a, 2)
    v = b.pool("avgpool6", "avgpool", m, 2)
    r = b.reshape("flatten7", v, (1, 8))
    f = b.fc("fc8", r, 10, activation="none")
    return b.softmax("softmax9", f)


def _cifarnet(b: GraphBuilder) -> int:
    x = b.conv("conv1", b.input, 64, 5, padding="valid")
    x = b.pool("pool1", "maxpool", x, 2)
    x = b.conv("conv2", x, 64, 5, padding="valid")
    x = b.pool("pool2", "maxpool", x, 2)
    x = b.reshape("flatten", x, (1, 1600))
    x = b.fc("fc1", x, 384)
    x = b.fc("fc2", x, 192)
    x = b.fc("fc3", x, 10, activation="none")
    return b.softmax("softmax", x)


def _expand_mask(e1: int) -> Callable[[int, int, int], np.ndarray]:
    """Filters ``[:e1]`` are 1x1 (only the centre tap), the rest full 3x3."""
    def mask(c_out: int, k: int, c_in: int) -> np.ndarray:
        m = np.ones((c_out, k, k, c_in))
        m[:e1] = 0.0
        m[:e1, k // 2, k // 2, :] = 1.0
        return m
    return mask


def _fire(b: GraphBuilder, name: str, x: int, squeeze: int, expand: int) -> int:
    s = b.conv(f"{name}.squeeze", x, squeeze, 1)
    return b.conv(f"{name}.expand", s, 2 * expand, 3, mask=_expand_mask(expand))


def _squeezenet(b: GraphBuilder) -> int:
    x = b.conv("stem", b.input, 96, 3)
    x = b.pool("pool1", "maxpool", x, 2)
    x = _fire(b, "fire2", x, 16, 64)
    x = _fire(b, "fire3", x, 16, 64)
    x = b.pool("pool3", "maxpool", x, 2)
    x = _fire(b, "fire4", x, 32, 128)
    x = _fire(b, "fire5", x, 32, 128)
    x = b.pool("pool5", "maxpool", x, 2)
    x = _fire(b, "fire6", x, 48, 192)
    x = _fire(b, "fire7", x, 48, 192)
    x = b.conv("conv10", x, 10, 1)
    x = b.pool("avgpool", "avgpool", x, 4)
    x = b.reshape("flatten", x, (1, 10))
    return b.softmax("softmax", x)


def _zfnet(b: GraphBuilder) -> int:
    x = b.conv("conv1", b.input, 64, 7, stride=2)         # 32 -> 16, padding (2, 2, 3, 3)
    x = b.pool("pool1", "maxpool", x, 3, stride=2, padding="same")
    x = b.conv("conv2", x, 96, 5)
    x = b.pool("pool2", "maxpool", x, 3, stride=2, padding="same")
    x = b.conv("conv3", x, 128, 3)
    x = b.conv("conv4", x, 128, 3)
    x = b.conv("conv5", x, 96, 3)
    x = b.pool("pool5", "maxpool", x, 3, stride=2, padding="same")
    x = b.reshape("flatten", x, (1, 384))
    x = b.fc("fc6", x, 256)
    x = b.fc("fc7", x, 256)
    x = b.fc("fc8", x, 10, activation="none")
    return b.softmax("softmax", x)


_MODELS: dict[str, tuple[ZooModel, Callable[[GraphBuilder], int]]] = {
    m.name: (m, fn) for m, fn in [
        (ZooModel("tiny", "digits-sized model with every operator kind once", (1, 8, 8, 1), 9),
         _tiny),
        (ZooModel("cifarnet", "CifarNet (Space-efficient TREC paper), CIFAR-10", (1, 32, 32, 3),
                  1), _cifarnet),
        (ZooModel("squeezenet", "SqueezeNet, CIFAR variant (fire 2-7)", (1, 32, 32, 3), 2),
         _squeezenet),
        (ZooModel("zfnet", "ZfNet, CIFAR variant (5 conv, 3 fully connected)", (1, 32, 32, 3),
                  3), _zfnet),
    ]
}

#: Images in each model's calibration batch.
CALIBRATION_IMAGES = 4


def list_models() -> tuple[str, ...]:
    """Names of the built-in models."""
    return tuple(_MODELS)


def model_info(name: str) -> ZooModel:
    """Description of the built-in model ``name`` (ModelError listing the names if unknown)."""
    if name not in _MODELS:
        raise ModelError(f"no built-in model {name!r}; known: {', '.join(_MODELS)}")
    return _MODELS[name][0]


@functools.lru_cache(maxsize=None)
def get_model(name: str) -> Graph:
    """The built-in model ``name`` as a validated graph (built once per process).

    The constant tensors are read-only, so the cached graph cannot be changed by accident.
    """
    info = model_info(name)
    fn = _MODELS[name][1]
    images = calibration_images(info.input_shape[1:], CALIBRATION_IMAGES,  # type: ignore[arg-type]
                                info.seed)
    b = GraphBuilder(name, images, info.seed)
    return b.graph(fn(b))
