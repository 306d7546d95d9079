"""gemmlowp fixed-point arithmetic on int32 raw values, vectorised with numpy.

TFLite's int8 softmax is written with gemmlowp's ``FixedPoint<int32_t, I>`` (``I`` integer
bits, ``31 - I`` fractional bits).  Here a value is its raw int32 held in an int64 array;
products are :func:`mcusim.kernels.quant.sat_rounding_doubling_high_mul` (the ``*`` of
two fixed-point numbers), additions are plain int32 additions (wrapped).  The functions
follow gemmlowp's ``fixedpoint.h`` line by line, so the firmware's C port can be compared
with them bit for bit.

Examples
--------
>>> int(exp_on_negative_values(np.array([0]), 5)[0]) == (1 << 31) - 1    # exp(0) = 1
True
>>> round(int(exp_on_negative_values(np.array([-(1 << 26)]), 5)[0]) / 2**31, 5)  # exp(-1)
0.36788
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mcusim.kernels.quant import INT32_MAX, INT32_MIN, rounding_divide_by_pot
from mcusim.kernels.quant import sat_rounding_doubling_high_mul as mul

__all__ = [
    "count_leading_zeros", "exp_on_negative_values", "get_reciprocal",
    "one_over_one_plus_x_for_x_in_0_1", "sat_shift_left", "wrap32",
]

# exp(-2^e) in Q0.31 for e = -2 .. 4 (gemmlowp's barrel shifter constants)
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def wrap32(x: npt.ArrayLike) -> np.ndarray:
    """int32 two's-complement wrap of int64 values."""
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def sat_shift_left(x: npt.ArrayLike, exponent: int) -> np.ndarray:
    """``SaturatingRoundingMultiplyByPOT<exponent>`` for ``exponent > 0``."""
    x64 = np.asarray(x, dtype=np.int64)
    threshold = (1 << (31 - exponent)) - 1
    out = x64 << exponent
    out = np.where(x64 > threshold, INT32_MAX, out)
    return np.where(x64 < -threshold, INT32_MIN, out)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for Q0.31 ``a`` in [-1/4, 0): Taylor series around -1/8."""
    constant_term = 1895147668          # exp(-1/8)
    constant_1_over_3 = 715827883
    x = a + (1 << 28)                   # a + 1/8
    x2 = mul(x, x)
    x3 = mul(x2, x)
    x4 = mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(mul(x4_over_4 + x3, constant_1_over_3) + x2, 1)
    return wrap32(constant_term + mul(constant_term, wrap32(x + poly)))


def exp_on_negative_values(a: npt.ArrayLike, integer_bits: int) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values``: Q(integer_bits) ``a <= 0`` -> Q0.31 exp(a)."""
    a64 = np.asarray(a, dtype=np.int64)
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    a_mod_quarter_minus_one_quarter = (a64 & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        sat_shift_left(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a64)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = np.int64(1) << (frac + exponent)
            result = np.where(remainder & bit, mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))         # -32 in Q(integer_bits)
        result = np.where(a64 < clamp, 0, result)
    return np.where(a64 == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: npt.ArrayLike) -> np.ndarray:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1``: Q0.31 ``a`` -> Q0.31 1/(1+a)
    by three Newton-Raphson steps in Q2.29."""
    a64 = np.asarray(a, dtype=np.int64)
    s = a64 + INT32_MAX                                  # RoundingHalfSum(a, One)
    half_denominator = np.where(s >= 0, (s + 1) // 2, -((-s + 1) // 2))
    x = wrap32(1515870810 + mul(half_denominator, -1010580540))   # 48/17 - 32/17 d
    for _ in range(3):
        one_minus_half_denominator_times_x = wrap32((1 << 29) - mul(half_denominator, x))
        x = wrap32(x + sat_shift_left(mul(x, one_minus_half_denominator_times_x), 2))
    return sat_shift_left(x, 1)


def count_leading_zeros(x: npt.ArrayLike) -> np.ndarray:
    """Leading zero bits of uint32 values (32 for 0)."""
    v = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    n = np.full(v.shape, 32, dtype=np.int64)
    for shift in (16, 8, 4, 2, 1):
        big = v >= (1 << shift)
        n = np.where(big, n - shift, n)
        v = np.where(big, v >> shift, v)
    return n - (v > 0)


def get_reciprocal(x: npt.ArrayLike, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite ``GetReciprocal``: for ``x > 0`` in Q(x_integer_digits), returns
    ``(shifted_scale, num_bits_over_unit)`` with 1/x = shifted_scale * 2^-num_bits_over_unit."""
    x64 = np.asarray(x, dtype=np.int64)
    headroom_plus_one = count_leading_zeros(x64)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap32(((x64 & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit
