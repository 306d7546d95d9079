"""numpy references of the ``s8`` kernels: exactly the integer arithmetic of the firmware.

Every function takes int8 tensors (HWC, batch 1) and the parameter dataclasses of
:mod:`mcusim.kernels.s8_params`, accumulates in int64, wraps to int32 like the Cortex-M
accumulators, requantises with :func:`mcusim.kernels.quant.requantize` and clamps.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mcusim.kernels.quant import requantize
from mcusim.kernels.s8_params import AddParams, ConvParams, PoolParams

__all__ = [
    "add_s8_ref", "avg_pool_s8_ref", "conv_acc", "conv_s8_ref", "depthwise_conv_s8_ref",
    "fc_s8_ref", "max_pool_s8_ref", "out_size",
]


def out_size(size: int, k: int, stride: int, pad: int) -> int:
    """Output size of a window ``k`` with ``stride`` and symmetric ``pad``."""
    return (size + 2 * pad - k) // stride + 1


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _windows(x_hwc: np.ndarray, kh: int, kw: int, stride: int, pad: int,
             fill: int) -> np.ndarray:
    """``[OH, OW, KH, KW, C]`` windows of the padded int64 tensor."""
    xp = np.pad(x_hwc, ((pad, pad), (pad, pad), (0, 0)), constant_values=fill)
    win = sliding_window_view(xp, (kh, kw), axis=(0, 1))[::stride, ::stride]  # OH OW C KH KW
    oh = out_size(x_hwc.shape[0], kh, stride, pad)
    ow = out_size(x_hwc.shape[1], kw, stride, pad)
    return win[:oh, :ow].transpose(0, 1, 3, 4, 2)


def _finish(acc: np.ndarray, p: ConvParams) -> np.ndarray:
    out = requantize(_wrap32(acc), p.multipliers, p.shifts).astype(np.int64) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(np.int8)


def conv_acc(x_hwc: np.ndarray, w_ohwi: np.ndarray, bias: np.ndarray,
             p: ConvParams) -> np.ndarray:
    """int64 accumulators ``bias + sum (x + input_offset) * w``, shape ``[OH, OW, C_OUT]``."""
    co, kh, kw, ci = w_ohwi.shape
    if x_hwc.ndim != 3 or x_hwc.shape[2] != ci:
        raise ValueError(f"input {x_hwc.shape} does not match filter {w_ohwi.shape}")
    x = x_hwc.astype(np.int64) + p.input_offset
    win = _windows(x, kh, kw, p.stride, p.pad, 0)
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
    win = _windows(x, kh, kw, params.stride, params.pad, 0)
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
    win = _windows(x_hwc.astype(np.int64), p.filter, p.filter, p.stride, p.pad, -(1 << 40))
    return np.clip(win.max(axis=(2, 3)), p.act_min, p.act_max).astype(np.int8)


def avg_pool_s8_ref(x_hwc: np.ndarray, p: PoolParams) -> np.ndarray:
    """Reference of ``mnn_avg_pool_s8``: mean over valid pixels, ties away from zero."""
    win = _windows(x_hwc.astype(np.int64), p.filter, p.filter, p.stride, p.pad, 0)
    ones = np.ones(x_hwc.shape[:2] + (1,), dtype=np.int64)
    count = _windows(ones, p.filter, p.filter, p.stride, p.pad, 0).sum(axis=(2, 3))
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
