"""Parameters of the ``s8`` kernels and the Python mirrors of their scratch sizes.

The dataclasses map one-to-one onto the C structs of ``firmware/include/mnn_s8.h``
(``to_struct`` gives the int32 words); the ``*_buffer_size`` functions mirror the
``..._get_buffer_size()`` functions of the firmware, branch for branch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcusim.kernels.quant import QParams, activation_range, quantize_multiplier

__all__ = [
    "AddParams", "ConvParams", "PoolParams", "avg_pool_buffer_size", "conv_buffer_size",
    "conv_wrapper_buffer_size", "uses_1x1_path",
]


@dataclass(eq=False)
class ConvParams:
    """Convolution / depthwise / fully-connected parameters (TFLite int8).

    Parameters
    ----------
    stride, pad
        Square stride (>= 1) and symmetric padding (ignored by fully connected).
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

    stride: int
    pad: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multipliers: np.ndarray
    shifts: np.ndarray

    def __post_init__(self) -> None:
        self.multipliers = np.ascontiguousarray(self.multipliers, dtype=np.int32)
        self.shifts = np.ascontiguousarray(self.shifts, dtype=np.int32)

    def conv_struct(self) -> list[int]:
        """Words of ``mnn_conv_params``."""
        s, p = self.stride, self.pad
        return [self.input_offset, self.output_offset, s, s, p, p, 1, 1,
                self.act_min, self.act_max]

    def fc_struct(self) -> list[int]:
        """Words of ``mnn_fc_params``."""
        return [self.input_offset, self.output_offset, self.act_min, self.act_max]


@dataclass(frozen=True)
class PoolParams:
    """Pooling parameters: square window ``filter``, ``stride``, ``pad`` and the clamp."""

    filter: int
    stride: int
    pad: int = 0
    act_min: int = -128
    act_max: int = 127

    def struct(self) -> list[int]:
        """Words of ``mnn_pool_params``."""
        return [self.stride, self.stride, self.pad, self.pad, self.filter, self.filter,
                self.act_min, self.act_max]


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


def uses_1x1_path(kh: int, kw: int, pad: int) -> bool:
    """The wrapper's choice: 1x1 filter without padding runs ``mnn_convolve_1x1_s8``."""
    return kh == 1 and kw == 1 and pad == 0


def conv_wrapper_buffer_size(in_c: int, kh: int, kw: int, pad: int, *, dsp: bool) -> int:
    """Mirror of ``mnn_convolve_wrapper_s8_get_buffer_size``."""
    return 0 if uses_1x1_path(kh, kw, pad) else conv_buffer_size(in_c, kh, kw, dsp=dsp)


def avg_pool_buffer_size(channels: int, *, dsp: bool) -> int:
    """Mirror of ``mnn_avg_pool_s8_get_buffer_size``: int32 channel sums with DSP, else 0."""
    return 4 * channels if dsp else 0
