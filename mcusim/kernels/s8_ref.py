"""numpy references of the ``s8`` kernels: exactly the integer arithmetic of the firmware.

Every function takes int8 tensors (HWC, batch 1) and the parameter dataclasses of
:mod:`mcusim.kernels.s8_params`, accumulates in int64, wraps to int32 like the Cortex-M
accumulators, requantises with :func:`mcusim.kernels.quant.requantize` and clamps.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mcusim.kernels.quant import requantize, rounding_divide_by_pot
from mcusim.kernels.quant import sat_rounding_doubling_high_mul as fixed_mul
from mcusim.kernels.s8_fixedpoint import exp_on_negative_values, get_reciprocal, wrap32
from mcusim.kernels.s8_params import (
    SOFTMAX_DIFF_INTEGER_BITS, AddParams, ConvParams, PoolParams, SoftmaxParams, out_size,
)

__all__ = [
    "add_s8_ref", "avg_pool_s8_ref", "conv_acc", "conv_s8_ref", "depthwise_conv_s8_ref",
    "fc_s8_ref", "max_pool_s8_ref", "out_size", "softmax_s8_ref",
]


def _windows(x_hwc: np.ndarray, kh: int, kw: int, p: ConvParams | PoolParams,
             fill: int) -> np.ndarray:
    """``[OH, OW, KH, KW, C]`` windows of the padded int64 tensor (asymmetric padding)."""
    top, left, bottom, right = p.pad_tlbr
    sh, sw = p.stride_hw
    h, w = x_hwc.shape[0], x_hwc.shape[1]
    oh, ow = p.out_hw(h, w, kh, kw) if isinstance(p, ConvParams) else p.out_hw(h, w)
    xp = np.pad(x_hwc, ((top, bottom), (left, right), (0, 0)), constant_values=fill)
    win = sliding_window_view(xp, (kh, kw), axis=(0, 1))[::sh, ::sw]  # OH OW C KH KW
    return win[:oh, :ow].transpose(0, 1, 3, 4, 2)


def _finish(acc: np.ndarray, p: ConvParams) -> np.ndarray:
    out = requantize(wrap32(acc), p.multipliers, p.shifts).astype(np.int64) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(np.int8)


def conv_acc(x_hwc: np.ndarray, w_ohwi: np.ndarray, bias: np.ndarray,
             p: ConvParams) -> np.ndarray:
    """int64 accumulators ``bias + sum (x + input_offset) * w``, shape ``[OH, OW, C_OUT]``."""
    co, kh, kw, ci = w_ohwi.shape
    if x_hwc.ndim != 3 or x_hwc.shape[2] != ci:
        raise ValueError(f"input {x_hwc.shape} does not match filter {w_ohwi.shape}")
    x = x_hwc.astype(np.int64) + p.input_offset
    win = _windows(x, kh, kw, p, 0)
    cols = win.reshape(win.shape[0], win.shape[1], kh * kw * ci)
    return cols @ w_ohwi.reshape(co, -1).astype(np.int64).T + bias.astype(np.int64)


def conv_s8_ref(x_hwc: np.ndarray, w_ohwi: np.ndarray, bias: np.ndarray,
                params: ConvParams) -> np.ndarray:
    """Reference of ``mnn_convolve_s8`` / ``mnn_convolve_1x1_s8`` / the wrapper.

    Parameters
    ----------
    x_hwc
        int8 input ``[H, W, C_IN]``.
    w_ohwi
        int8 filter ``[C_OUT, KH, KW, C_IN]``.
    bias
        int32 ``[C_OUT]``.
    params
        Offsets, stride, padding, clamp, per-channel multipliers and shifts.

    Returns
    -------
    numpy.ndarray
        int8 ``[OH, OW, C_OUT]``.
    """
    return _finish(conv_acc(x_hwc, w_ohwi, bias, params), params)


def depthwise_conv_s8_ref(x_hwc: np.ndarray, w_hwc: np.ndarray, bias: np.ndarray,
                          params: ConvParams) -> np.ndarray:
    """Reference of ``mnn_depthwise_conv_s8`` (channel multiplier 1); filter ``[KH, KW, C]``."""
    kh, kw, c = w_hwc.shape
    if x_hwc.ndim != 3 or x_hwc.shape[2] != c:
        raise ValueError(f"input {x_hwc.shape} does not match filter {w_hwc.shape}")
    x = x_hwc.astype(np.int64) + params.input_offset
    win = _windows(x, kh, kw, params, 0)
    acc = np.einsum("yxijc,ijc->yxc", win, w_hwc.astype(np.int64)) + bias.astype(np.int64)
    return _finish(acc, params)


def fc_s8_ref(x: np.ndarray, w_oi: np.ndarray, bias: np.ndarray,
              params: ConvParams) -> np.ndarray:
    """Reference of ``mnn_fully_connected_s8``: ``x`` is ``[K]`` or ``[N, K]``, ``w`` ``[O, K]``.

    Stride and padding of ``params`` are ignored.  Returns ``[O]`` or ``[N, O]`` int8.
    """
    xs = x.astype(np.int64) + params.input_offset
    acc = xs @ w_oi.astype(np.int64).T + bias.astype(np.int64)
    return _finish(acc, params)


def max_pool_s8_ref(x_hwc: np.ndarray, p: PoolParams) -> np.ndarray:
    """Reference of ``mnn_max_pool_s8`` (padding never wins: it is filled with -inf)."""
    fh, fw = p.filter_hw
    win = _windows(x_hwc.astype(np.int64), fh, fw, p, -(1 << 40))
    return np.clip(win.max(axis=(2, 3)), p.act_min, p.act_max).astype(np.int8)


def avg_pool_s8_ref(x_hwc: np.ndarray, p: PoolParams) -> np.ndarray:
    """Reference of ``mnn_avg_pool_s8`` and of TFLite's int8 AVERAGE_POOL_2D.

    The sum over the window's pixels inside the input is divided by their count (padding
    is not counted) as ``(sum +/- count / 2) / count`` in C integer arithmetic: half away
    from zero.
    """
    fh, fw = p.filter_hw
    win = _windows(x_hwc.astype(np.int64), fh, fw, p, 0)
    ones = np.ones(x_hwc.shape[:2] + (1,), dtype=np.int64)
    count = _windows(ones, fh, fw, p, 0).sum(axis=(2, 3))
    s = win.sum(axis=(2, 3))
    half = count // 2
    num = np.where(s > 0, s + half, s - half)
    q = np.abs(num) // count * np.sign(num)          # C division truncates toward zero
    return np.clip(q, p.act_min, p.act_max).astype(np.int8)


def add_s8_ref(a: np.ndarray, b: np.ndarray, p: AddParams) -> np.ndarray:
    """Reference of ``mnn_elementwise_add_s8`` (TFLite int8 ADD)."""
    xa = (a.astype(np.int64) + p.input1_offset) << p.left_shift
    xb = (b.astype(np.int64) + p.input2_offset) << p.left_shift
    sa = requantize(xa, p.input1_multiplier, p.input1_shift).astype(np.int64)
    sb = requantize(xb, p.input2_multiplier, p.input2_shift).astype(np.int64)
    out = requantize(sa + sb, p.output_multiplier, p.output_shift).astype(np.int64)
    return np.clip(out + p.output_offset, p.act_min, p.act_max).astype(np.int8)


#: Integer bits of the sum of exponentials in TFLite's int8 softmax.
SOFTMAX_ACCUM_INTEGER_BITS = 12


def softmax_s8_ref(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    """Reference of ``mnn_softmax_s8``: TFLite's int8 softmax (``reference_ops::Softmax``).

    Along the last axis of ``x``: ``d = x - max(row)``; entries with ``d >= diff_min``
    get ``e = exp(d * input_multiplier * 2^input_left_shift)`` in gemmlowp fixed point
    (Q5.26 in, Q0.31 out), their sum in Q12.19 is inverted by ``GetReciprocal``, and the
    output is ``e / sum`` in units of 1/256, minus 128, clamped; the other entries give -128.

    Parameters
    ----------
    x
        int8 logits, any shape (rows along the last axis).
    p
        From :meth:`mcusim.kernels.s8_params.SoftmaxParams.from_scale`.

    Returns
    -------
    numpy.ndarray
        int8 probabilities of the same shape (scale 1/256, zero point -128).
    """
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    valid = diff >= p.diff_min
    scaled = fixed_mul(wrap32(np.where(valid, diff, 0) << p.input_left_shift),
                       p.input_multiplier)
    exp = exp_on_negative_values(scaled, SOFTMAX_DIFF_INTEGER_BITS)
    terms = rounding_divide_by_pot(exp, SOFTMAX_ACCUM_INTEGER_BITS)   # Rescale Q0.31 -> Q12.19
    sum_of_exps = wrap32(np.where(valid, terms, 0).sum(axis=1))
    scale, bits_over_unit = get_reciprocal(sum_of_exps, SOFTMAX_ACCUM_INTEGER_BITS)
    unsat = rounding_divide_by_pot(fixed_mul(scale[:, None], exp),
                                   (bits_over_unit + 31 - 8)[:, None])
    out = np.where(valid, np.clip(unsat - 128, -128, 127), -128)
    return out.astype(np.int8).reshape(x.shape)
