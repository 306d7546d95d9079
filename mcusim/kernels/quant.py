"""TFLite-style int8 quantisation helpers and the exact integer requantisation.

Conventions (TFLite int8):

- activations are asymmetric: ``real = scale * (q - zero_point)``, ``q`` in [-128, 127];
- weights are symmetric per output channel (``zero_point = 0``, ``q`` in [-127, 127]);
- bias is int32 with ``scale = input_scale * weight_scale[c]``;
- an int32 accumulator is brought back to int8 by a Q31 fixed-point ``multiplier`` and a
  power-of-two ``shift`` (:func:`quantize_multiplier`), with TFLite's rounding
  (:func:`requantize`, mirrored bit-exactly by ``mnn_requantize`` in
  ``firmware/include/mnn_requant.h``).

Examples
--------
>>> quantize_multiplier(0.5)
(1073741824, 0)
>>> int(requantize(1000, *quantize_multiplier(0.25)))
250
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

__all__ = [
    "QParams", "activation_range", "choose_qparams", "dequantize", "quantize",
    "quantize_bias", "quantize_multiplier", "quantize_multipliers",
    "quantize_weights_per_channel", "requantize", "rounding_divide_by_pot",
    "sat_rounding_doubling_high_mul", "output_multipliers",
]


@dataclass(frozen=True)
class QParams:
    """Asymmetric int8 quantisation parameters: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int


def _round_half_away(x: float) -> int:
    """``std::round``: round half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real ~= multiplier * 2^shift / 2^31``.

    Parameters
    ----------
    real
        A non-negative real multiplier (``input_scale * weight_scale / output_scale``).

    Returns
    -------
    tuple of int
        ``(multiplier, shift)`` with ``multiplier`` in [2^30, 2^31) (0 for ``real == 0``)
        and ``shift`` in [-31, 30] (positive = left shift).
    """
    if real < 0:
        raise ValueError(f"multiplier must be non-negative, got {real}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return int(q_fixed), int(shift)


def quantize_multipliers(reals: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of :func:`quantize_multiplier`; returns two int32 arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(np.asarray(reals, dtype=np.float64))]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 two's complement (still held in int64)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def sat_rounding_doubling_high_mul(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values (returns int64 array)."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    ab = a64 * b64
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    v = ab + nudge
    # C integer division truncates toward zero.
    hi = np.where(v >= 0, v >> 31, -((-v) >> 31))
    return np.where((a64 == INT32_MIN) & (b64 == INT32_MIN), np.int64(INT32_MAX), hi)


def rounding_divide_by_pot(x: npt.ArrayLike, exponent: npt.ArrayLike) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2^exponent`` rounded half away from zero."""
    x64 = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return (x64 >> e) + (remainder > threshold)


def requantize(acc: npt.ArrayLike, multiplier: npt.ArrayLike, shift: npt.ArrayLike) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier``, element-wise with broadcasting.

    Parameters
    ----------
    acc
        int32 accumulators.
    multiplier
        Q31 multipliers (from :func:`quantize_multiplier`).
    shift
        Shifts in [-31, 30], positive = left.

    Returns
    -------
    numpy.ndarray
        int32 results, not clamped; the left shift wraps like int32 arithmetic in C.
    """
    s = np.asarray(shift, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    x = _wrap32(np.asarray(acc, dtype=np.int64) << left)
    out = rounding_divide_by_pot(sat_rounding_doubling_high_mul(x, multiplier), right)
    return out.astype(np.int32)


def choose_qparams(rmin: float, rmax: float) -> QParams:
    """Asymmetric int8 parameters covering ``[rmin, rmax]`` (the range always includes 0)."""
    rmin = min(float(rmin), 0.0)
    rmax = max(float(rmax), 0.0)
    if rmax == rmin:
        return QParams(1.0, 0)
    scale = (rmax - rmin) / 255.0
    zero_point = int(np.clip(_round_half_away(-128 - rmin / scale), -128, 127))
    return QParams(scale, zero_point)


def quantize(x: npt.ArrayLike, qp: QParams) -> np.ndarray:
    """Float -> int8 with ``q = clamp(round(x / scale) + zero_point)``."""
    q = np.round(np.asarray(x, dtype=np.float64) / qp.scale) + qp.zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: npt.ArrayLike, qp: QParams) -> np.ndarray:
    """int8 -> float."""
    return (np.asarray(q, dtype=np.float64) - qp.zero_point) * qp.scale


def quantize_weights_per_channel(w: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 weights (axis 0 is the output channel).

    Returns
    -------
    tuple
        ``(w_q int8 in [-127, 127], scales float64 [C_OUT])``.
    """
    wf = np.asarray(w, dtype=np.float64)
    amax = np.abs(wf.reshape(wf.shape[0], -1)).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    shape = (-1,) + (1,) * (wf.ndim - 1)
    q = np.clip(np.round(wf / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def quantize_bias(b: npt.ArrayLike, input_scale: float, weight_scales: npt.ArrayLike) -> np.ndarray:
    """int32 bias with scale ``input_scale * weight_scales[c]``."""
    s = input_scale * np.asarray(weight_scales, dtype=np.float64)
    q = np.round(np.asarray(b, dtype=np.float64) / s)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def output_multipliers(input_scale: float, weight_scales: npt.ArrayLike,
                       output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multiplier, shift)`` for ``input_scale * weight_scale[c] / output_scale``."""
    return quantize_multipliers(input_scale * np.asarray(weight_scales, dtype=np.float64) / output_scale)


def activation_range(kind: str, qp: QParams) -> tuple[int, int]:
    """Clamp bounds of a fused activation in the output's quantised domain.

    TFLite's ``CalculateActivationRangeQuantized``: ``quantize(x) = zero_point +
    round(float(x) / float(scale))`` with the division in float32 and rounding half away
    from zero (``TfLiteRound``); ReLU clamps below at ``quantize(0)``, ReLU6 also above at
    ``quantize(6)``.  (In double precision the ReLU6 bound differs at some scales, e.g.
    ``float32(6 / 7.5)``: -120 in float32, -121 in double.)

    Parameters
    ----------
    kind
        ``"none"``, ``"relu"`` or ``"relu6"``.
    qp
        Output quantisation parameters.

    Returns
    -------
    tuple of int
        ``(act_min, act_max)`` within [-128, 127].
    """
    lo, hi = -128, 127
    if kind == "none":
        return lo, hi
    if kind not in ("relu", "relu6"):
        raise ValueError(f"unknown activation {kind!r}; use none, relu or relu6")

    def quantize(x: float) -> int:
        return qp.zero_point + _round_half_away(float(np.float32(x) / np.float32(qp.scale)))

    lo = max(lo, quantize(0.0))
    if kind == "relu6":
        hi = min(hi, quantize(6.0))
    return lo, hi
    if kind not in ("relu", "relu6"):
        raise ValueError(f"unknown activation {kind!r}; use none, relu or relu6")
    lo = max(lo, qp.zero_point)
    if kind == "relu6":
        hi = min(hi, qp.zero_point + _round_half_away(6.0 / qp.scale))
    return lo, hi
