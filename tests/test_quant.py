"""Tests of mcusim.kernels.quant against a scalar transliteration of TFLite's C++ code."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from mcusim.kernels import quant
from mcusim.kernels.quant import (
    QParams, activation_range, choose_qparams, quantize, dequantize, quantize_multiplier,
    quantize_weights_per_channel, requantize,
)

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def _to_i32(v: int) -> int:
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _srdhm(a: int, b: int) -> int:
    if a == I32_MIN and b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _c_div(ab + nudge, 1 << 31)


def _rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > thr else 0)


def _mbqm(x: int, m: int, s: int) -> int:
    left = s if s > 0 else 0
    right = 0 if s > 0 else -s
    return _rdbpot(_srdhm(_to_i32(x * (1 << left)), m), right)


def test_module_doctests() -> None:
    failures, tried = doctest.testmod(quant)
    assert tried >= 2 and failures == 0


@pytest.mark.parametrize("real", [1e-9, 1e-6, 0.0003, 0.25, 0.5, 0.7, 0.999999999, 1.0, 3.5, 1234.5])
def test_quantize_multiplier_approximates(real: float) -> None:
    m, s = quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31)
    assert -31 <= s <= 30
    assert math.isclose(m * 2.0 ** s / 2 ** 31, real, rel_tol=1e-9)


def test_quantize_multiplier_edges() -> None:
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(1e-20) == (0, 0)          # shift below -31
    assert quantize_multiplier(2.0 ** 40) == (I32_MAX, 30)
    # rounding to 2^31 bumps the shift
    assert quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)
    with pytest.raises(ValueError):
        quantize_multiplier(-1.0)


def test_requantize_matches_scalar_reference_random() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    acc = rng.integers(I32_MIN, I32_MAX, n, endpoint=True, dtype=np.int64)
    acc[: n // 2] //= 1 << int(rng.integers(0, 20))
    mult = rng.integers(1 << 30, I32_MAX, n, endpoint=True, dtype=np.int64)
    shift = rng.integers(-31, 31, n, dtype=np.int64)
    got = requantize(acc, mult, shift)
    want = [_mbqm(int(a), int(m), int(s)) for a, m, s in zip(acc, mult, shift)]
    assert got.dtype == np.int32
    assert got.tolist() == want


@pytest.mark.parametrize("acc,mult,shift", [
    (I32_MIN, I32_MIN, 0),           # the saturating case
    (I32_MIN, I32_MAX, 0), (I32_MAX, I32_MAX, 0), (-1, 1 << 30, 0), (1, 1 << 30, 0),
    (-3, 1 << 30, -1), (3, 1 << 30, -1), (-(1 << 30), 1 << 30, -31), (5, 1 << 30, 30),
    (I32_MAX, 1 << 30, 1), (-5, (1 << 30) + 1, -2), (0, 0, 0), (12345, 0, 5),
])
def test_requantize_edges(acc: int, mult: int, shift: int) -> None:
    assert int(requantize(acc, mult, shift)) == _mbqm(acc, mult, shift)


def test_requantize_tie_rules() -> None:
    half = 1 << 30   # multiplier 0.5
    # the doubling high multiply rounds negative ties up (TFLite's nudge 1 - 2^30) ...
    assert requantize([1, 3, -1, -3], half, 0).tolist() == [1, 2, 0, -1]
    # ... while the power-of-two division rounds ties away from zero
    assert requantize([2, 6, -2, -6], half, -1).tolist() == [1, 2, -1, -2]


def test_choose_qparams_and_roundtrip() -> None:
    qp = choose_qparams(-1.0, 3.0)
    assert qp.scale == pytest.approx(4.0 / 255)
    assert -128 <= qp.zero_point <= 127
    x = np.linspace(-1.0, 3.0, 101)
    err = np.abs(dequantize(quantize(x, qp), qp) - x)
    assert err.max() <= qp.scale / 2 + 1e-12
    assert choose_qparams(0.0, 0.0) == QParams(1.0, 0)
    assert choose_qparams(0.0, 2.0).zero_point == -128


def test_weights_per_channel() -> None:
    w = np.array([[0.5, -1.0], [0.0, 0.0], [2.0, 1.0]])
    q, s = quantize_weights_per_channel(w)
    assert q.dtype == np.int8
    assert q.tolist() == [[64, -127], [0, 0], [127, 64]]
    assert s.tolist() == pytest.approx([1 / 127, 1.0, 2 / 127])


def test_activation_range() -> None:
    qp = QParams(0.05, -10)
    assert activation_range("none", qp) == (-128, 127)
    assert activation_range("relu", qp) == (-10, 127)
    assert activation_range("relu6", qp) == (-10, 110)
    with pytest.raises(ValueError):
        activation_range("gelu", qp)
