"""Parameters of the ``s8`` kernels and the Python mirrors of their scratch sizes.

The dataclasses map one-to-one onto the C structs of ``firmware/include/mnn_s8.h``
(``to_struct`` gives the int32 words); the ``*_buffer_size`` functions mirror the
``..._get_buffer_size()`` functions of the firmware, branch for branch.

Strides and windows are ``int`` (square) or ``(h, w)``; padding is ``int`` (the same on
every side) or ``(top, left, bottom, right)``, as TFLite's SAME padding is asymmetric
(:func:`same_padding`).  Only the padding *before* (top, left) goes into the C structs:
the firmware infers the padding after from the output size, as CMSIS-NN does.

Examples
--------
>>> same_padding((49, 10), (10, 4), 2)          # MLPerf Tiny DS-CNN, first convolution
(4, 1, 5, 1)
>>> ConvParams((2, 2), (4, 1, 5, 1), 0, 0, -128, 127, [1], [0]).out_hw(49, 10, 10, 4)
(25, 5)
>>> PoolParams((25, 5), (25, 5)).out_hw(25, 5)
(1, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from mcusim.kernels.quant import (
    QParams, activation_range, output_multipliers, quantize_multiplier,
)

__all__ = [
    "AddParams", "ConvParams", "Pad", "PoolParams", "SoftmaxParams", "Window",
    "avg_pool_buffer_size", "conv_buffer_size", "conv_wrapper_buffer_size", "as_pad4",
    "as_pair", "out_size", "same_padding", "uses_1x1_path",
]

#: A square size or ``(h, w)``.
Window = Union[int, Sequence[int]]
#: Symmetric padding or ``(top, left, bottom, right)``.
Pad = Union[int, Sequence[int]]


def as_pair(value: Window, what: str = "size") -> tuple[int, int]:
    """``(h, w)`` from an ``int`` or a pair; every entry must be >= 1."""
    hw = (int(value), int(value)) if np.ndim(value) == 0 else tuple(int(v) for v in value)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"{what} must be an int >= 1 or (h, w) of them, got {value!r}")
    return hw[0], hw[1]


def as_pad4(value: Pad) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` from an ``int`` or a 4-tuple; entries must be >= 0."""
    if np.ndim(value) == 0:
        p = int(value)
        t = (p, p, p, p)
    else:
        t = tuple(int(v) for v in value)  # type: ignore[assignment]
    if len(t) != 4 or min(t) < 0:
        raise ValueError(f"padding must be an int >= 0 or (top, left, bottom, right), "
                         f"got {value!r}")
    return t[0], t[1], t[2], t[3]


def out_size(size: int, k: int, stride: int, pad: int, pad_after: int | None = None) -> int:
    """Output size of a window ``k``: ``(size + pad + pad_after - k) // stride + 1``.

    ``pad_after`` defaults to ``pad`` (symmetric padding).
    """
    after = pad if pad_after is None else pad_after
    return (size + pad + after - k) // stride + 1


def same_padding(in_hw: Sequence[int], k_hw: Window, stride: Window) -> tuple[int, int, int, int]:
    """TFLite's SAME padding ``(top, left, bottom, right)`` (dilation 1).

    The output is ``ceil(in / stride)``; the total padding ``max((out - 1) * stride + k -
    in, 0)`` is split with the smaller half before (TFLite ``ComputePaddingWithOffset``).
    """
    kh, kw = as_pair(k_hw, "window")
    sh, sw = as_pair(stride, "stride")
    pads = []
    for size, k, s in ((int(in_hw[0]), kh, sh), (int(in_hw[1]), kw, sw)):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return top, left, bottom, right


def _out_hw(in_h: int, in_w: int, kh: int, kw: int, stride: tuple[int, int],
            pad: tuple[int, int, int, int]) -> tuple[int, int]:
    top, left, bottom, right = pad
    if top >= kh or left >= kw or bottom >= kh or right >= kw:
        raise ValueError(f"padding {pad} must be smaller than the window {kh}x{kw}")
    if in_h + top + bottom < kh or in_w + left + right < kw:
        raise ValueError(f"window {kh}x{kw} larger than the padded input "
                         f"{in_h}x{in_w} + {pad}")
    return (out_size(in_h, kh, stride[0], top, bottom),
            out_size(in_w, kw, stride[1], left, right))


class _StridePad:
    """``stride_hw`` and ``pad_tlbr`` of a parameter set with ``stride`` and ``pad`` fields."""

    stride: Window
    pad: Pad

    @property
    def stride_hw(self) -> tuple[int, int]:
        """``(sh, sw)``."""
        return as_pair(self.stride, "stride")

    @property
    def pad_tlbr(self) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)``."""
        return as_pad4(self.pad)


@dataclass(eq=False)
class ConvParams(_StridePad):
    """Convolution / depthwise / fully-connected parameters (TFLite int8).

    Parameters
    ----------
    stride
        ``int`` (square) or ``(sh, sw)``, each >= 1.
    pad
        ``int`` (every side) or ``(top, left, bottom, right)``, each >= 0 and smaller than
        the filter (ignored by fully connected).  Output size per axis:
        ``(in + before + after - k) // stride + 1``.
    input_offset
        ``-input_zero_point``, in [-127, 128].
    output_offset
        Output zero point, in [-128, 127].
    act_min, act_max
        Activation clamp (``-128, 127`` for none; ReLU/ReLU6 via
        :func:`mcusim.kernels.quant.activation_range`).
    multipliers, shifts
        int32 per-output-channel requantisation (from
        :func:`mcusim.kernels.quant.output_multipliers`).
    """

    stride: Window
    pad: Pad
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multipliers: np.ndarray
    shifts: np.ndarray

    def __post_init__(self) -> None:
        as_pair(self.stride, "stride")
        as_pad4(self.pad)
        self.multipliers = np.ascontiguousarray(self.multipliers, dtype=np.int32)
        self.shifts = np.ascontiguousarray(self.shifts, dtype=np.int32)

    def out_hw(self, in_h: int, in_w: int, kh: int, kw: int) -> tuple[int, int]:
        """Output ``(OH, OW)`` of a ``kh x kw`` filter on an ``in_h x in_w`` input.

        Raises
        ------
        ValueError
            A padding not smaller than the filter, or a filter larger than the padded input.
        """
        return _out_hw(in_h, in_w, kh, kw, self.stride_hw, self.pad_tlbr)

    def conv_struct(self) -> list[int]:
        """Words of ``mnn_conv_params`` (``mnn_tile`` is ``{w, h}``; padding before only)."""
        (sh, sw), (top, left, _, _) = self.stride_hw, self.pad_tlbr
        return [self.input_offset, self.output_offset, sw, sh, left, top, 1, 1,
                self.act_min, self.act_max]

    def fc_struct(self) -> list[int]:
        """Words of ``mnn_fc_params``."""
        return [self.input_offset, self.output_offset, self.act_min, self.act_max]

    @classmethod
    def from_qparams(cls, inp: QParams, weight_scales: Sequence[float] | np.ndarray,
                     out: QParams, *, stride: Window = 1, pad: Pad = 0,
                     activation: str = "none") -> ConvParams:
        """TFLite's preparation of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.

        Per-channel multipliers of ``input_scale * weight_scale[c] / output_scale`` (in
        double, in that order, as TFLite's ``PopulateConvolutionQuantizationParams``), the
        offsets from the zero points and the clamp of the fused ``activation``.
        """
        mult, shift = output_multipliers(inp.scale, weight_scales, out.scale)
        lo, hi = activation_range(activation, out)
        return cls(stride, pad, -inp.zero_point, out.zero_point, lo, hi, mult, shift)


@dataclass(frozen=True)
class PoolParams(_StridePad):
    """Pooling parameters: window ``filter`` (``int`` or ``(fh, fw)``), ``stride``
    (``int`` or ``(sh, sw)``), ``pad`` (``int`` or ``(top, left, bottom, right)``, each
    smaller than the window; padded pixels are ignored) and the clamp."""

    filter: Window
    stride: Window
    pad: Pad = 0
    act_min: int = -128
    act_max: int = 127

    def __post_init__(self) -> None:
        as_pair(self.filter, "filter")
        as_pair(self.stride, "stride")
        as_pad4(self.pad)

    @property
    def filter_hw(self) -> tuple[int, int]:
        """``(fh, fw)``."""
        return as_pair(self.filter, "filter")

    def out_hw(self, in_h: int, in_w: int) -> tuple[int, int]:
        """Output ``(OH, OW)`` on an ``in_h x in_w`` input (see :meth:`ConvParams.out_hw`)."""
        fh, fw = self.filter_hw
        return _out_hw(in_h, in_w, fh, fw, self.stride_hw, self.pad_tlbr)

    def struct(self) -> list[int]:
        """Words of ``mnn_pool_params`` (``{w, h}`` tiles; padding before only)."""
        (sh, sw), (top, left, _, _), (fh, fw) = self.stride_hw, self.pad_tlbr, self.filter_hw
        return [sw, sh, left, top, fw, fh, self.act_min, self.act_max]


#: Integer bits of the scaled input differences in TFLite's int8 softmax.
SOFTMAX_DIFF_INTEGER_BITS = 5


@dataclass(frozen=True)
class SoftmaxParams:
    """``mnn_softmax_params``: TFLite int8 SOFTMAX (output scale 1/256, zero point -128).

    Attributes
    ----------
    input_multiplier
        Q31 multiplier of ``beta * input_scale * 2^26`` (with ``input_left_shift``).
    input_left_shift
        Its left shift, in [0, 31].
    diff_min
        Input differences ``x - max(row)`` below this (<= 0) give the output -128.
    """

    input_multiplier: int
    input_left_shift: int
    diff_min: int

    def struct(self) -> list[int]:
        """Words of ``mnn_softmax_params``."""
        return [self.input_multiplier, self.input_left_shift, self.diff_min]

    @classmethod
    def from_scale(cls, input_scale: float, beta: float = 1.0) -> SoftmaxParams:
        """TFLite Micro's ``CalculateSoftmaxParams`` for int8.

        ``PreprocessSoftmaxScaling``: ``real = min(beta * input_scale * 2^(31 - 5),
        2^31 - 1)`` split by ``QuantizeMultiplierGreaterThanOne``; ``diff_min =
        -CalculateInputRadius(5, shift) = -floor((2^5 - 1) * 2^26 / 2^shift)``.
        Pass the float32 values of the model (``float(np.float32(s))``) for bit-exactness.
        """
        bits = SOFTMAX_DIFF_INTEGER_BITS
        real = min(float(beta) * float(input_scale) * float(1 << (31 - bits)),
                   float((1 << 31) - 1))
        if not real > 1.0:
            raise ValueError(f"softmax needs beta * input_scale > 2^-26, got beta={beta}, "
                             f"input_scale={input_scale}")
        # QuantizeMultiplier without TFLITE_SINGLE_ROUNDING: the shift may reach 31
        q, shift = math.frexp(real)
        multiplier = int(math.floor(q * (1 << 31) + 0.5))
        if multiplier == 1 << 31:
            multiplier, shift = multiplier // 2, shift + 1
        radius = math.floor(((1 << bits) - 1) * float(1 << (31 - bits)) / float(1 << shift))
        return cls(multiplier, shift, -int(radius))


@dataclass(frozen=True)
class AddParams:
    """``mnn_add_params``: TFLite int8 ADD (all shifts <= 0)."""

    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    left_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int = -128
    act_max: int = 127

    def struct(self) -> list[int]:
        """Words of ``mnn_add_params``."""
        return [self.input1_offset, self.input1_multiplier, self.input1_shift,
                self.input2_offset, self.input2_multiplier, self.input2_shift,
                self.left_shift, self.output_offset, self.output_multiplier,
                self.output_shift, self.act_min, self.act_max]

    @classmethod
    def from_qparams(cls, in1: QParams, in2: QParams, out: QParams, *,
                     activation: str = "none", left_shift: int = 20) -> AddParams:
        """TFLite's preparation of ADD from the three tensors' scales and zero points."""
        twice_max = 2.0 * max(in1.scale, in2.scale)
        m1, s1 = quantize_multiplier(in1.scale / twice_max)
        m2, s2 = quantize_multiplier(in2.scale / twice_max)
        mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * out.scale))
        if max(s1, s2, so) > 0:
            raise ValueError("ADD needs multipliers smaller than one")
        lo, hi = activation_range(activation, out)
        return cls(-in1.zero_point, m1, s1, -in2.zero_point, m2, s2, left_shift,
                   out.zero_point, mo, so, lo, hi)


def _round4(n: int) -> int:
    return (n + 3) & ~3


def conv_buffer_size(in_c: int, kh: int, kw: int, *, dsp: bool) -> int:
    """Mirror of ``mnn_convolve_s8_get_buffer_size``: two im2col columns (int16 with DSP)."""
    return _round4(2 * in_c * kh * kw * (2 if dsp else 1))


def uses_1x1_path(kh: int, kw: int, pad: Pad) -> bool:
    """The wrapper's choice: a 1x1 filter without padding (any stride) runs
    ``mnn_convolve_1x1_s8``."""
    return kh == 1 and kw == 1 and not any(as_pad4(pad))


def conv_wrapper_buffer_size(in_c: int, kh: int, kw: int, pad: Pad, *, dsp: bool) -> int:
    """Mirror of ``mnn_convolve_wrapper_s8_get_buffer_size``."""
    return 0 if uses_1x1_path(kh, kw, pad) else conv_buffer_size(in_c, kh, kw, dsp=dsp)


def avg_pool_buffer_size(channels: int, *, dsp: bool) -> int:
    """Mirror of ``mnn_avg_pool_s8_get_buffer_size``: int32 channel sums with DSP, else 0."""
    return 4 * channels if dsp else 0
