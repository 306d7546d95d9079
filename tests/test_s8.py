"""The ``s8`` kernels under emulation: bit-exact against numpy on both boards and both
builds (DSP and plain C), scratch use against ``get_buffer_size``, error statuses and
red-zone detection."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from mcusim.boards import get_board
from mcusim.errors import GuardViolation, McusimError
from mcusim.kernels import s8
from mcusim.kernels.firmware import build_family
from mcusim.kernels.layers import BUILTIN_LAYERS, Layer
from mcusim.kernels.quant import QParams, activation_range, output_multipliers, requantize
from mcusim.kernels.s8 import ConvParams, PoolParams, place_struct
from mcusim.machine import Machine

BOARDS = ("stm32f469i", "stm32f746zg")
BUILDS = ("dsp", "plain")
ARG_ERROR = s8.S8_STATUS["MNN_ARG_ERROR"]
NO_SCRATCH = s8.S8_STATUS["MNN_NO_SCRATCH"]


@pytest.fixture(scope="module")
def machines() -> dict[tuple[str, str], Machine]:
    """One machine per (board, build), built once for the module."""
    out = {}
    for name in BOARDS:
        board = get_board(name)
        for build in BUILDS:
            out[(name, build)] = Machine(board, build_family(board, "s8", plain_c=build == "plain"))
    return out


@pytest.fixture(params=[(b, k) for b in BOARDS for k in BUILDS], ids=lambda p: f"{p[0]}-{p[1]}")
def mach(request: pytest.FixtureRequest, machines: dict) -> tuple[Machine, bool]:
    """(machine, dsp) for each board and build."""
    return machines[request.param], request.param[1] == "dsp"


def _conv_params(rng: np.random.Generator, co: int, stride: int, pad: int, *,
                 in_zp: int | None = None, out_zp: int | None = None,
                 scale: float | None = None, k: int = 27) -> ConvParams:
    """Random offsets; without ``scale``, per-channel scales that spread an accumulator of
    ``k`` random full-range products over the int8 range."""
    in_zp = int(rng.integers(-128, 128)) if in_zp is None else in_zp
    out_zp = int(rng.integers(-60, 60)) if out_zp is None else out_zp
    spread = 40.0 / (5500.0 * np.sqrt(k))
    real = rng.uniform(0.5, 2.0, co) * spread if scale is None else np.full(co, scale)
    mult, shift = output_multipliers(1.0, real, 1.0)
    return ConvParams(stride, pad, -in_zp, out_zp, -128, 127, mult, shift)


def _rand_s8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


# (H, W, C_IN, C_OUT, K, stride, pad)
CONV_SHAPES = [
    (7, 9, 5, 7, 3, 1, 1),      # odd channels, padding
    (8, 8, 3, 6, 5, 2, 2),      # 5x5, stride 2, padding
    (9, 7, 6, 5, 5, 1, 0),      # 5x5 valid
    (6, 5, 8, 3, 3, 2, 0),      # 3x3 stride 2 no padding
    (5, 5, 1, 1, 3, 1, 1),      # single channel
    (6, 6, 13, 5, 1, 1, 0),     # 1x1 fast path, odd K
    (9, 7, 4, 8, 1, 2, 0),      # 1x1 stride 2
    (3, 4, 16, 9, 1, 1, 0),     # 1x1, multiple of 4
]


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv_bit_exact(mach: tuple[Machine, bool], shape: tuple[int, ...]) -> None:
    m, dsp = mach
    h, w, ci, co, k, stride, pad = shape
    rng = np.random.default_rng(sum(shape))
    x = _rand_s8(rng, (h, w, ci))
    wt = rng.integers(-127, 128, (co, k, k, ci)).astype(np.int8)
    bias = rng.integers(-5000, 5000, co).astype(np.int32)
    p = _conv_params(rng, co, stride, pad, k=k * k * ci)
    ref = s8.conv_s8_ref(x, wt, bias, p)
    kernels = ["wrapper", "generic"] + (["1x1"] if k == 1 and pad == 0 else [])
    for kernel in kernels:
        run = s8.run_conv_s8(m, x, wt, bias, p, kernel=kernel)
        np.testing.assert_array_equal(run.output, ref, err_msg=kernel)
        want = (s8.conv_wrapper_buffer_size(ci, k, k, pad, dsp=dsp) if kernel == "wrapper"
                else s8.conv_buffer_size(ci, k, k, dsp=dsp) if kernel == "generic" else 0)
        assert run.scratch_bytes == want
        assert run.scratch_used <= run.scratch_bytes
        if kernel == "generic":     # the whole scratch is used: two columns (rounded up)
            assert run.scratch_used >= run.scratch_bytes - 3
    assert len(np.unique(ref)) > 10     # not a saturated, vacuous comparison


@pytest.mark.parametrize("case", ["in_zp_min", "in_zp_max", "out_zp_min", "out_zp_max",
                                  "large_mult", "small_mult", "relu6"])
def test_conv_edge_values(mach: tuple[Machine, bool], case: str) -> None:
    m, _ = mach
    rng = np.random.default_rng(3)
    h, w, ci, co = 6, 5, 7, 5
    x = np.where(rng.random((h, w, ci)) < 0.5, -128, 127).astype(np.int8)
    wt = np.where(rng.random((co, 3, 3, ci)) < 0.5, -127, 127).astype(np.int8)
    bias = rng.integers(-1000, 1000, co).astype(np.int32)
    kw: dict = {"in_zp": 0, "out_zp": 0, "scale": 0.0005}
    if case == "in_zp_min":
        kw["in_zp"] = -128
    elif case == "in_zp_max":
        kw["in_zp"] = 127
    elif case == "out_zp_min":
        kw["out_zp"] = -128
    elif case == "out_zp_max":
        kw["out_zp"] = 127
    elif case == "large_mult":
        kw["scale"] = 3.7               # positive shift: the accumulator is left-shifted
        x = (x // 64).astype(np.int8)
        wt = (wt // 64).astype(np.int8)
    elif case == "small_mult":
        kw["scale"] = 3e-7
    p = _conv_params(rng, co, 1, 1, **kw)
    if case == "relu6":
        p.act_min, p.act_max = activation_range("relu6", QParams(0.1, 0))
    if case == "large_mult":
        assert (p.shifts > 0).all()
    if case == "small_mult":
        assert (p.shifts < -15).all()
    ref = s8.conv_s8_ref(x, wt, bias, p)
    for kernel in ("generic", "wrapper"):
        np.testing.assert_array_equal(s8.run_conv_s8(m, x, wt, bias, p, kernel=kernel).output, ref)
    x1 = x[:, :, :4].copy()
    w1 = wt[:, 1:2, 1:2, :4].copy()
    p1 = _conv_params(rng, co, 1, 0, in_zp=kw["in_zp"], out_zp=kw["out_zp"], scale=kw["scale"])
    np.testing.assert_array_equal(s8.run_conv_s8(m, x1, w1, bias, p1, kernel="1x1").output,
                                  s8.conv_s8_ref(x1, w1, bias, p1))
    wd = wt[0, :, :, :co].copy()                              # [3, 3, C] depthwise filter
    xd = x[:, :, :co].copy()
    for kernel in ("generic", "3x3"):
        np.testing.assert_array_equal(
            s8.run_depthwise_conv_s8(m, xd, wd, bias, p, kernel=kernel).output,
            s8.depthwise_conv_s8_ref(xd, wd, bias, p))
    xf, wf = x.reshape(-1)[:61].copy(), wt.reshape(co, -1)[:, :61].copy()
    np.testing.assert_array_equal(s8.run_fc_s8(m, xf, wf, bias, p).output,
                                  s8.fc_s8_ref(xf, wf, bias, p))
    if case == "relu6":
        assert ref.max() <= p.act_max and ref.min() >= p.act_min


# (H, W, C, K, stride, pad)
DW_SHAPES = [
    (7, 7, 9, 3, 1, 1), (8, 6, 4, 3, 2, 1), (6, 6, 5, 3, 1, 0), (9, 8, 6, 5, 2, 2),
    (5, 7, 3, 2, 1, 0), (4, 4, 13, 3, 2, 0),
]


@pytest.mark.parametrize("shape", DW_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_depthwise_bit_exact(mach: tuple[Machine, bool], shape: tuple[int, ...]) -> None:
    m, _ = mach
    h, w, c, k, stride, pad = shape
    rng = np.random.default_rng(100 + sum(shape))
    x = _rand_s8(rng, (h, w, c))
    wt = rng.integers(-127, 128, (k, k, c)).astype(np.int8)
    bias = rng.integers(-3000, 3000, c).astype(np.int32)
    p = _conv_params(rng, c, stride, pad, k=k * k)
    ref = s8.depthwise_conv_s8_ref(x, wt, bias, p)
    kernels = ["wrapper", "generic"] + (["3x3"] if k == 3 and pad <= 1 else [])
    for kernel in kernels:
        np.testing.assert_array_equal(
            s8.run_depthwise_conv_s8(m, x, wt, bias, p, kernel=kernel).output, ref,
            err_msg=kernel)
    assert len(np.unique(ref)) > 5


@pytest.mark.parametrize("n,k,o", [(1, 37, 11), (1, 64, 10), (3, 19, 6), (2, 1, 1), (1, 5, 2)])
def test_fc_bit_exact(mach: tuple[Machine, bool], n: int, k: int, o: int) -> None:
    m, _ = mach
    rng = np.random.default_rng(n * 1000 + k * 10 + o)
    x = _rand_s8(rng, (n, k) if n > 1 else (k,))
    wt = rng.integers(-127, 128, (o, k)).astype(np.int8)
    bias = rng.integers(-3000, 3000, o).astype(np.int32)
    p = _conv_params(rng, o, 1, 0, scale=0.02 / np.sqrt(k))
    run = s8.run_fc_s8(m, x, wt, bias, p)
    np.testing.assert_array_equal(run.output, s8.fc_s8_ref(x, wt, bias, p))
    assert run.weight_bytes == wt.size + 12 * o


POOL_CASES = [  # (H, W, C, filter, stride, pad, act_min, act_max)
    (8, 8, 5, 2, 2, 0, -128, 127), (7, 9, 6, 3, 2, 1, -128, 127), (5, 5, 3, 3, 1, 1, -20, 90),
    (6, 6, 8, 3, 3, 0, -128, 127), (4, 7, 1, 2, 1, 1, 0, 127),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda s: "x".join(map(str, s)))
def test_pooling_bit_exact(mach: tuple[Machine, bool], case: tuple[int, ...]) -> None:
    m, dsp = mach
    h, w, c, f, stride, pad, lo, hi = case
    rng = np.random.default_rng(sum(case) + 500)
    x = _rand_s8(rng, (h, w, c))
    x.flat[::7] = -128
    x.flat[::11] = 127
    p = PoolParams(f, stride, pad, lo, hi)
    np.testing.assert_array_equal(s8.run_max_pool_s8(m, x, p).output, s8.max_pool_s8_ref(x, p))
    run = s8.run_avg_pool_s8(m, x, p)
    np.testing.assert_array_equal(run.output, s8.avg_pool_s8_ref(x, p))
    assert run.scratch_bytes == s8.avg_pool_buffer_size(c, dsp=dsp)
    assert run.scratch_used <= run.scratch_bytes


def test_avg_pool_rounds_half_away_from_zero(machines: dict) -> None:
    # one 2x2 window, three channels with sums 2, -2 and 6 over 4 pixels: 0.5, -0.5, 1.5
    x = np.zeros((2, 2, 3), np.int8)
    x[0, :, 0], x[0, :, 1], x[0, :, 2] = 1, -1, 3
    p = PoolParams(2, 1, 0)
    assert s8.avg_pool_s8_ref(x, p).ravel().tolist() == [1, -1, 2]
    for build in BUILDS:
        out = s8.run_avg_pool_s8(machines[("stm32f469i", build)], x, p).output
        assert out.ravel().tolist() == [1, -1, 2]


@pytest.mark.parametrize("size", [1, 7, 67])
@pytest.mark.parametrize("act", ["none", "relu", "relu6"])
def test_add_bit_exact(mach: tuple[Machine, bool], size: int, act: str) -> None:
    m, _ = mach
    rng = np.random.default_rng(size)
    q1, q2, qo = QParams(0.05, -3), QParams(0.11, 127), QParams(0.09, -128)
    p = s8.AddParams.from_qparams(q1, q2, qo, activation=act)
    a, b = _rand_s8(rng, (size,)), _rand_s8(rng, (size,))
    a[0], b[-1] = -128, 127
    np.testing.assert_array_equal(s8.run_add_s8(m, a, b, p).output, s8.add_s8_ref(a, b, p))


def test_add_reference_approximates_float() -> None:
    rng = np.random.default_rng(0)
    q1, q2, qo = QParams(0.05, -3), QParams(0.11, 20), QParams(0.09, -10)
    p = s8.AddParams.from_qparams(q1, q2, qo)
    a, b = _rand_s8(rng, (500,)), _rand_s8(rng, (500,))
    real = (a.astype(float) - q1.zero_point) * q1.scale + (b.astype(float) - q2.zero_point) * q2.scale
    want = np.clip(np.round(real / qo.scale) + qo.zero_point, -128, 127)
    assert np.abs(s8.add_s8_ref(a, b, p).astype(int) - want).max() <= 1


def test_requantize_firmware_matches_numpy(mach: tuple[Machine, bool]) -> None:
    m, _ = mach
    rng = np.random.default_rng(9)
    n = 600
    acc = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64)
    acc[: n // 2] >>= 12
    mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64)
    shift = rng.integers(-31, 31, n)
    acc[:4] = [-(1 << 31), -(1 << 31), -1, 3]
    mult[:4] = [-(1 << 31), 1 << 30, 1 << 30, 1 << 30]
    shift[:4] = [0, 0, 0, -1]
    arrays = [acc.astype(np.int32), mult.astype(np.int32), shift.astype(np.int32)]
    m.free_all()
    addrs = [m.place(a) for a in arrays]
    out = m.alloc(4 * n)
    r = m.call("mnn_requantize_s32", *addrs, out, n)
    assert r.return_value == 0
    np.testing.assert_array_equal(m.read(out, n, np.int32), requantize(*arrays))
    assert m.call("mnn_requantize_s32", *addrs, 0, n).return_value == ARG_ERROR


# ------------------------------------------- asymmetric padding, (h, w) strides and windows

SAME = "same"


def _pad(pad: object, in_hw: tuple[int, int], k: tuple[int, int],
         stride: tuple[int, int]) -> object:
    return s8.same_padding(in_hw, k, stride) if pad == SAME else pad


# (H, W, C_IN, C_OUT, (KH, KW), (SH, SW), pad: int | (t, l, b, r) | SAME)
ASYM_CONV_SHAPES = [
    (49, 10, 1, 16, (10, 4), (2, 2), SAME),       # DS-CNN first layer: (4, 1, 5, 1)
    (16, 16, 8, 8, (3, 3), (2, 2), SAME),         # ResNet-8 stride 2: (0, 0, 1, 1)
    (16, 16, 8, 6, (1, 1), (2, 2), SAME),         # ResNet-8 1x1 shortcut, last row unused
    (15, 9, 5, 7, (1, 1), (2, 3), 0),             # 1x1 with (h, w) stride
    (11, 8, 3, 5, (4, 2), (3, 2), SAME),
    (7, 6, 4, 3, (2, 2), (1, 1), (0, 0, 1, 1)),   # padding after only
    (10, 9, 2, 3, (5, 3), (2, 1), 0),             # VALID, leftover rows
    (6, 7, 3, 4, (3, 3), (1, 2), (2, 0, 0, 1)),   # more before than after
]


@pytest.mark.parametrize("shape", ASYM_CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv_asymmetric_bit_exact(mach: tuple[Machine, bool], shape: tuple) -> None:
    m, dsp = mach
    h, w, ci, co, (kh, kw), stride, pad = shape
    pad = _pad(pad, (h, w), (kh, kw), stride)
    rng = np.random.default_rng(len(str(shape)))
    x = _rand_s8(rng, (h, w, ci))
    wt = rng.integers(-127, 128, (co, kh, kw, ci)).astype(np.int8)
    bias = rng.integers(-5000, 5000, co).astype(np.int32)
    p = _conv_params(rng, co, stride, pad, k=kh * kw * ci)
    ref = s8.conv_s8_ref(x, wt, bias, p)
    fast = s8.uses_1x1_path(kh, kw, pad)
    for kernel in ["wrapper", "generic"] + (["1x1"] if fast else []):
        run = s8.run_conv_s8(m, x, wt, bias, p, kernel=kernel)
        np.testing.assert_array_equal(run.output, ref, err_msg=kernel)
        if kernel == "wrapper":
            assert run.scratch_bytes == s8.conv_wrapper_buffer_size(ci, kh, kw, pad, dsp=dsp)
    assert len(np.unique(ref)) > 10


# (H, W, C, (KH, KW), (SH, SW), pad)
ASYM_DW_SHAPES = [
    (25, 5, 12, (3, 3), (1, 1), SAME),            # DS-CNN depthwise
    (12, 11, 5, (3, 3), (2, 2), SAME),            # (0, 1, 1, 1): the 3x3 kernel
    (9, 10, 6, (5, 3), (2, 3), SAME),
    (8, 7, 6, (2, 4), (1, 2), 0),
    (7, 7, 9, (3, 3), (2, 1), (1, 0, 0, 2)),
]


@pytest.mark.parametrize("shape", ASYM_DW_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_depthwise_asymmetric_bit_exact(mach: tuple[Machine, bool], shape: tuple) -> None:
    m, _ = mach
    h, w, c, (kh, kw), stride, pad = shape
    pad = _pad(pad, (h, w), (kh, kw), stride)
    rng = np.random.default_rng(200 + len(str(shape)))
    x = _rand_s8(rng, (h, w, c))
    wt = rng.integers(-127, 128, (kh, kw, c)).astype(np.int8)
    bias = rng.integers(-3000, 3000, c).astype(np.int32)
    p = _conv_params(rng, c, stride, pad, k=kh * kw)
    ref = s8.depthwise_conv_s8_ref(x, wt, bias, p)
    top, left = p.pad_tlbr[:2]
    three = (kh, kw) == (3, 3) and top <= 1 and left <= 1
    for kernel in ["wrapper", "generic"] + (["3x3"] if three else []):
        np.testing.assert_array_equal(
            s8.run_depthwise_conv_s8(m, x, wt, bias, p, kernel=kernel).output, ref,
            err_msg=kernel)
    assert len(np.unique(ref)) > 5


# (H, W, C, (FH, FW), (SH, SW), pad, act_min, act_max)
ASYM_POOL_CASES = [
    (25, 5, 64, (25, 5), (25, 5), 0, -128, 127),  # DS-CNN global average pool
    (8, 8, 64, (8, 8), (8, 8), 0, -128, 127),     # ResNet-8 global average pool
    (7, 9, 5, (3, 3), (2, 2), SAME, -128, 127),
    (10, 7, 3, (2, 3), (3, 2), SAME, -10, 127),
    (6, 11, 4, (4, 2), (1, 3), SAME, -128, 100),
    (9, 9, 6, (3, 5), (2, 2), 0, -128, 127),
    (5, 6, 7, (3, 2), (2, 1), (2, 1, 0, 0), -128, 127),
]


@pytest.mark.parametrize("case", ASYM_POOL_CASES, ids=lambda s: "x".join(map(str, s)))
def test_pooling_asymmetric_bit_exact(mach: tuple[Machine, bool], case: tuple) -> None:
    m, dsp = mach
    h, w, c, f, stride, pad, lo, hi = case
    rng = np.random.default_rng(len(str(case)) + 700)
    x = _rand_s8(rng, (h, w, c))
    x.flat[::5] = -128
    x.flat[::9] = 127
    p = PoolParams(f, stride, _pad(pad, (h, w), f, stride), lo, hi)
    np.testing.assert_array_equal(s8.run_max_pool_s8(m, x, p).output, s8.max_pool_s8_ref(x, p))
    run = s8.run_avg_pool_s8(m, x, p)
    ref = s8.avg_pool_s8_ref(x, p)
    np.testing.assert_array_equal(run.output, ref)
    assert run.scratch_bytes == s8.avg_pool_buffer_size(c, dsp=dsp)
    if ref.size > 20:
        assert len(np.unique(ref)) > 5


def test_avg_pool_excludes_padding(machines: dict) -> None:
    # a 2x2 window at the corner of SAME padding (0, 0, 1, 1) sees one pixel: its value
    x = np.full((3, 3, 1), 9, np.int8)
    p = PoolParams(2, 2, (0, 0, 1, 1))
    assert s8.avg_pool_s8_ref(x, p).ravel().tolist() == [9, 9, 9, 9]
    for build in BUILDS:
        assert s8.run_avg_pool_s8(machines[("stm32f746zg", build)], x, p
                                  ).output.ravel().tolist() == [9, 9, 9, 9]


# ----------------------------------------------------------------------- softmax


@pytest.mark.parametrize("scale", [0.0625, 0.1, 0.2371, 3e-3, 40.0])
@pytest.mark.parametrize("rows,depth", [(1, 12), (1, 10), (3, 37), (2, 1), (5, 7)])
def test_softmax_bit_exact(mach: tuple[Machine, bool], scale: float, rows: int,
                           depth: int) -> None:
    m, _ = mach
    rng = np.random.default_rng(rows * 100 + depth)
    x = _rand_s8(rng, (rows, depth))
    x[0, 0] = 127
    if rows > 2:
        x[1] = x[1, 0]
        x[2] = rng.integers(-3, 3, depth)
    p = s8.SoftmaxParams.from_scale(scale)
    ref = s8.softmax_s8_ref(x, p)
    np.testing.assert_array_equal(s8.run_softmax_s8(m, x, p).output, ref)
    np.testing.assert_array_equal(s8.run_softmax_s8(m, x, p, in_place=True).output, ref)


def test_softmax_spread_and_error_statuses(machines: dict) -> None:
    m = machines[("stm32f469i", "dsp")]
    x = np.arange(-128, 128, dtype=np.int8).reshape(8, 32)
    p = s8.SoftmaxParams.from_scale(0.05)
    out = s8.run_softmax_s8(m, x, p).output
    np.testing.assert_array_equal(out, s8.softmax_s8_ref(x, p))
    assert len(np.unique(out)) > 10
    big = np.zeros((1, 4095), np.int8)               # the largest row: all equal
    np.testing.assert_array_equal(s8.run_softmax_s8(m, big, p).output,
                                  s8.softmax_s8_ref(big, p))
    m.free_all()
    pa = place_struct(m, p.struct())
    buf = m.place(np.zeros(64, np.int8))
    assert m.call("mnn_softmax_s8", pa, buf, 2, 32, buf).return_value == 0
    assert m.call("mnn_softmax_s8", pa, buf, 0, 32, buf).return_value == 0
    for args in ((0, buf, 2, 32, buf), (pa, 0, 2, 32, buf), (pa, buf, 2, 32, 0),
                 (pa, buf, -1, 32, buf), (pa, buf, 2, 0, buf), (pa, buf, 1, 4096, buf)):
        assert m.call("mnn_softmax_s8", *args).return_value == ARG_ERROR, args
    for bad in ([p.input_multiplier, 32, p.diff_min], [p.input_multiplier, -1, p.diff_min],
                [p.input_multiplier, p.input_left_shift, 1], [-5, p.input_left_shift, 0]):
        assert m.call("mnn_softmax_s8", place_struct(m, bad), buf, 2, 32, buf
                      ).return_value == ARG_ERROR, bad


# ----------------------------------------------------------------------- scratch sizes


@pytest.mark.parametrize("ci,k,pad", [(3, 5, 0), (7, 3, 1), (16, 1, 0), (5, 1, 0), (5, 1, 1)])
def test_buffer_size_mirrors(mach: tuple[Machine, bool], ci: int, k: int, pad: int) -> None:
    m, dsp = mach
    m.free_all()
    in_d = place_struct(m, [1, 8, 8, ci])
    f_d = place_struct(m, [4, k, k, ci])
    params = place_struct(m, ConvParams(1, pad, 0, 0, -128, 127, [1], [0]).conv_struct())
    assert m.call("mnn_convolve_s8_get_buffer_size", in_d, f_d).return_value == \
        s8.conv_buffer_size(ci, k, k, dsp=dsp)
    assert m.call("mnn_convolve_wrapper_s8_get_buffer_size", params, in_d, f_d).return_value \
        == s8.conv_wrapper_buffer_size(ci, k, k, pad, dsp=dsp)
    assert m.call("mnn_avg_pool_s8_get_buffer_size", in_d).return_value == \
        s8.avg_pool_buffer_size(ci, dsp=dsp)


def test_builtin_layers_scratch_mirrors(machines: dict) -> None:
    """The scratch of every built-in conv layer, on the DSP and plain builds."""
    for build in BUILDS:
        m = machines[("stm32f746zg", build)]
        for layer in BUILTIN_LAYERS:
            if layer.kind != "conv":
                continue
            m.free_all()
            in_d = place_struct(m, [1, layer.in_h, layer.in_w, layer.in_c])
            f_d = place_struct(m, [layer.out_c, layer.kh, layer.kw, layer.in_c])
            params = place_struct(m, ConvParams(layer.stride, layer.pad, 0, 0, -128, 127,
                                                [1], [0]).conv_struct())
            got = m.call("mnn_convolve_wrapper_s8_get_buffer_size", params, in_d, f_d)
            assert got.return_value == s8.conv_wrapper_buffer_size(
                layer.in_c, layer.kh, layer.kw, layer.pad, dsp=build == "dsp"), layer.name


# ----------------------------------------------------------------------- error paths


class _ConvCall:
    """Arguments of a valid convolution call, to be broken one at a time."""

    def __init__(self, m: Machine, *, dsp: bool) -> None:
        self.m = m
        m.free_all()
        rng = np.random.default_rng(0)
        self.p = _conv_params(rng, 4, 1, 1)
        self.need = s8.conv_buffer_size(3, 3, 3, dsp=dsp)
        scratch = m.alloc(self.need, fill=0xA5)
        self.args = {
            "ctx": place_struct(m, [scratch, self.need]),
            "params": place_struct(m, self.p.conv_struct()),
            "quant": place_struct(m, [m.place(self.p.multipliers), m.place(self.p.shifts)]),
            "in_dims": place_struct(m, [1, 5, 5, 3]),
            "input": m.place(_rand_s8(rng, (5, 5, 3))),
            "f_dims": place_struct(m, [4, 3, 3, 3]),
            "filter": m.place(_rand_s8(rng, (4, 3, 3, 3)), "flash"),
            "bias": m.place(np.zeros(4, np.int32), "flash"),
            "o_dims": place_struct(m, [1, 5, 5, 4]),
            "output": m.alloc(100),
        }
        self.scratch = scratch

    def __call__(self, symbol: str = "mnn_convolve_s8", **changes: int) -> int:
        args = dict(self.args, **changes)
        return self.m.call(symbol, *args.values()).return_value


@pytest.mark.parametrize("symbol", ["mnn_convolve_s8", "mnn_convolve_wrapper_s8"])
@pytest.mark.parametrize("key", [("stm32f469i", "dsp"), ("stm32f746zg", "plain")],
                         ids=lambda k: "-".join(k))
def test_conv_error_statuses(machines: dict, key: tuple[str, str], symbol: str) -> None:
    m, dsp = machines[key], key[1] == "dsp"
    call = _ConvCall(m, dsp=dsp)
    assert call(symbol) == 0
    for name in ("ctx", "params", "quant", "in_dims", "input", "f_dims", "filter", "bias",
                 "o_dims", "output"):
        want = NO_SCRATCH if name == "ctx" else ARG_ERROR
        assert call(symbol, **{name: 0}) == want, name
    bad_dims = {
        "in_dims": [1, 5, 5, 4],      # C_IN differs from the filter
        "f_dims": [4, 3, 3, 2],
        "o_dims": [1, 5, 5, 3],       # C_OUT differs from the filter
    }
    for name, dims in bad_dims.items():
        assert call(symbol, **{name: place_struct(m, dims)}) == ARG_ERROR, name
    # 5 rows, 3x3, pad before 1: OH 4..6 imply a pad after of 0..2; 3 and 7 are impossible
    assert call(symbol, o_dims=place_struct(m, [1, 4, 5, 4])) == 0
    assert call(symbol, o_dims=place_struct(m, [1, 6, 5, 4]), output=m.alloc(120)) == 0
    assert call(symbol, o_dims=place_struct(m, [1, 3, 5, 4])) == ARG_ERROR
    assert call(symbol, o_dims=place_struct(m, [1, 7, 5, 4])) == ARG_ERROR
    assert call(symbol, o_dims=place_struct(m, [1, 5, 7, 4])) == ARG_ERROR
    assert call(symbol, o_dims=place_struct(m, [2, 5, 5, 4])) == ARG_ERROR   # batch
    words = call.p.conv_struct()
    for index, value in ((6, 2), (2, 0), (4, 3), (0, 129), (1, 128), (8, 10)):
        broken = list(words)
        broken[index] = value                  # dilation, stride, pad, offsets, clamp
        if index == 8:
            broken[9] = 5                      # act_min > act_max
        assert call(symbol, params=place_struct(m, broken)) == ARG_ERROR, (index, value)
    small = place_struct(m, [call.scratch, call.need - 1])
    assert call(symbol, ctx=small) == NO_SCRATCH
    assert call(symbol, ctx=place_struct(m, [0, call.need])) == NO_SCRATCH


def test_specialised_kernels_reject_other_shapes(machines: dict) -> None:
    m = machines[("stm32f469i", "dsp")]
    call = _ConvCall(m, dsp=True)
    assert call("mnn_convolve_1x1_s8") == ARG_ERROR               # 3x3 filter
    assert call("mnn_depthwise_conv_3x3_s8") == ARG_ERROR         # not a depthwise filter
    dw = dict(f_dims=place_struct(m, [1, 3, 3, 3]), o_dims=place_struct(m, [1, 5, 5, 3]))
    assert call("mnn_depthwise_conv_3x3_s8", **dw) == 0
    assert call("mnn_depthwise_conv_s8", **dw) == 0
    assert call("mnn_depthwise_conv_s8", **dict(dw, o_dims=place_struct(m, [1, 5, 5, 4]))) \
        == ARG_ERROR
    five = dict(f_dims=place_struct(m, [1, 5, 5, 3]), o_dims=place_struct(m, [1, 3, 3, 3]))
    assert call("mnn_depthwise_conv_3x3_s8", **five) == ARG_ERROR
    assert call("mnn_depthwise_conv_wrapper_s8", **five) == 0
    for name in ("input", "filter", "bias", "output", "quant"):
        assert call("mnn_depthwise_conv_wrapper_s8", **dict(dw, **{name: 0})) == ARG_ERROR


def test_fc_pool_add_error_statuses(machines: dict) -> None:
    m = machines[("stm32f746zg", "dsp")]
    m.free_all()
    p = _conv_params(np.random.default_rng(1), 3, 1, 0)
    fc = {
        "ctx": 0, "params": place_struct(m, p.fc_struct()),
        "quant": place_struct(m, [m.place(p.multipliers), m.place(p.shifts)]),
        "in_dims": place_struct(m, [1, 1, 1, 8]), "input": m.place(np.zeros(8, np.int8)),
        "f_dims": place_struct(m, [3, 1, 1, 8]), "filter": m.place(np.ones(24, np.int8)),
        "bias": m.place(np.zeros(3, np.int32)), "o_dims": place_struct(m, [1, 1, 1, 3]),
        "output": m.alloc(3),
    }

    def fc_call(**ch: int) -> int:
        return m.call("mnn_fully_connected_s8", *dict(fc, **ch).values()).return_value

    assert fc_call() == 0
    assert fc_call(f_dims=place_struct(m, [3, 1, 1, 7])) == ARG_ERROR
    assert fc_call(o_dims=place_struct(m, [1, 1, 1, 4])) == ARG_ERROR
    assert fc_call(input=0) == ARG_ERROR
    assert fc_call(params=place_struct(m, [200, 0, -128, 127])) == ARG_ERROR

    pool = PoolParams(2, 2, 0)
    args = [place_struct(m, pool.struct()), place_struct(m, [1, 4, 4, 3]),
            m.place(np.zeros(48, np.int8)), place_struct(m, [1, 2, 2, 3]), m.alloc(12)]
    assert m.call("mnn_max_pool_s8", *args).return_value == 0
    assert m.call("mnn_max_pool_s8", *args[:3], place_struct(m, [1, 3, 2, 3]),
                  args[4]).return_value == ARG_ERROR
    assert m.call("mnn_max_pool_s8", *args[:4], 0).return_value == ARG_ERROR
    ctx_ok = place_struct(m, [m.alloc(12), 12])
    assert m.call("mnn_avg_pool_s8", ctx_ok, *args).return_value == 0
    assert m.call("mnn_avg_pool_s8", place_struct(m, [m.alloc(8), 8]), *args).return_value \
        == NO_SCRATCH
    assert m.call("mnn_avg_pool_s8", 0, *args).return_value == NO_SCRATCH
    bad_pool = place_struct(m, PoolParams(2, 2, 2).struct())           # pad >= filter
    assert m.call("mnn_avg_pool_s8", ctx_ok, bad_pool, *args[1:]).return_value == ARG_ERROR

    addp = s8.AddParams.from_qparams(QParams(0.1, 0), QParams(0.1, 0), QParams(0.2, 0))
    a = m.place(np.zeros(8, np.int8))
    out = m.alloc(8)
    assert m.call("mnn_elementwise_add_s8", place_struct(m, addp.struct()), a, a, out, 8
                  ).return_value == 0
    bad = list(addp.struct())
    bad[2] = 1                                                          # positive shift
    assert m.call("mnn_elementwise_add_s8", place_struct(m, bad), a, a, out, 8
                  ).return_value == ARG_ERROR
    assert m.call("mnn_elementwise_add_s8", place_struct(m, addp.struct()), a, 0, out, 8
                  ).return_value == ARG_ERROR


def test_runner_raises_on_error_status(machines: dict) -> None:
    m = machines[("stm32f469i", "plain")]
    rng = np.random.default_rng(2)
    x, wt = _rand_s8(rng, (5, 5, 3)), _rand_s8(rng, (4, 3, 3, 3))
    p = _conv_params(rng, 4, 1, 1)
    with pytest.raises(McusimError, match="MNN_NO_SCRATCH"):
        s8.run_conv_s8(m, x, wt, np.zeros(4, np.int32), p, kernel="generic", scratch_bytes=16)


# ----------------------------------------------------------------------- red zones


def test_too_small_output_buffer_is_detected(mach: tuple[Machine, bool]) -> None:
    m, _ = mach
    rng = np.random.default_rng(5)
    x, wt = _rand_s8(rng, (5, 5, 3)), _rand_s8(rng, (4, 3, 3, 3))
    p = _conv_params(rng, 4, 1, 1)
    bias = np.zeros(4, np.int32)
    s8.run_conv_s8(m, x, wt, bias, p, output_bytes=100)          # exactly enough: fine
    with pytest.raises(GuardViolation, match="output"):
        s8.run_conv_s8(m, x, wt, bias, p, output_bytes=96)


def test_scratch_overrun_is_detected(machines: dict) -> None:
    """A context that claims more scratch than the buffer has: the overrun hits the red zone."""
    m = machines[("stm32f746zg", "dsp")]
    call = _ConvCall(m, dsp=True)
    short = m.alloc(call.need - 8, fill=0xA5, name="short_scratch")
    with pytest.raises(GuardViolation, match="short_scratch"):
        call(ctx=place_struct(m, [short, call.need]))


# ----------------------------------------------------------------------- build and problems


@pytest.mark.skipif(shutil.which("arm-none-eabi-objdump") is None, reason="needs objdump")
def test_dsp_switch_selects_smlad() -> None:
    board = get_board("stm32f469i")
    text = {b: subprocess.run(["arm-none-eabi-objdump", "-d", str(build_family(
        board, "s8", plain_c=b == "plain"))], capture_output=True, text=True, check=True).stdout
        for b in BUILDS}
    assert "smlad" in text["dsp"] and "sxtab16" in text["dsp"]
    assert "smlad" not in text["plain"] and "sxtb16" not in text["plain"]


@pytest.mark.parametrize("layer", BUILTIN_LAYERS + (
    Layer("dw", "dwconv", 10, 10, 12, 12, 3, 3, 1, 1),), ids=lambda l: l.name)
def test_make_problem_is_realistic(layer: Layer) -> None:
    x, w, bias, p = s8.make_problem(layer, np.random.default_rng(0))
    if layer.kind == "fc":
        assert x.shape == (layer.in_c,) and w.shape == (layer.out_c, layer.k)
        y = s8.fc_s8_ref(x, w, bias, p)
    elif layer.kind == "dwconv":
        assert w.shape == (layer.kh, layer.kw, layer.in_c)
        y = s8.depthwise_conv_s8_ref(x, w, bias, p)
    else:
        assert w.shape == (layer.out_c, layer.kh, layer.kw, layer.in_c)
        y = s8.conv_s8_ref(x, w, bias, p)
    assert x.dtype == w.dtype == np.int8 and bias.dtype == np.int32
    assert np.abs(w).max() == 127 and p.multipliers.shape == (layer.out_c,)
    assert y.size == layer.out_h * layer.out_w * layer.out_c
    assert len(np.unique(y)) >= min(10, y.size // 2)            # a spread, calibrated output
    assert (y == 127).sum() <= max(1, y.size // 20)              # calibrated: max hits 127 once


def test_make_problem_runs_bit_exact(machines: dict) -> None:
    layer = Layer("small", "conv", 10, 10, 6, 10, 3, 3, 2, 1)
    x, w, bias, p = s8.make_problem(layer, np.random.default_rng(1))
    for build in BUILDS:
        run = s8.run_conv_s8(machines[("stm32f469i", build)], x, w, bias, p)
        np.testing.assert_array_equal(run.output, s8.conv_s8_ref(x, w, bias, p))


def test_bench_rows(machines: dict) -> None:
    from mcusim.kernels import s8_bench
    from mcusim.kernels.registry import REQUIRED_COLUMNS

    board = get_board("stm32f469i")
    layers = (Layer("t.conv", "conv", 8, 8, 8, 8, 3, 3, 1, 1), Layer("t.fc", "fc", 1, 1, 40, 6),
              Layer("t.dw", "dwconv", 6, 6, 8, 8, 3, 3))
    rows = s8_bench.bench(board, layers)
    assert [r["kernel"] for r in rows] == ["s8_conv", "s8_fc", "s8_dwconv", "s8_conv_plainc",
                                           "s8_fc_plainc", "s8_dwconv_plainc"]
    for row in rows:
        assert set(REQUIRED_COLUMNS) <= set(row)
        assert row["family"] == "s8" and row["cycles"] > 0 and row["macs"] > 0
        assert row["cycles_source"] in ("timing-model", "instructions")
        assert row["latency_us"] == pytest.approx(row["cycles"] / board.clock_hz * 1e6, rel=1e-3)
    assert rows[0]["scratch_bytes"] == s8.conv_buffer_size(8, 3, 3, dsp=True)
    assert rows[3]["scratch_bytes"] == s8.conv_buffer_size(8, 3, 3, dsp=False)
    names = {k.name for k in s8_bench.list_kernels()}
    assert {"s8_conv", "s8_conv_plainc", "s8_fc", "s8_fc_plainc"} <= names


# ----------------------------------------------------------------------- parameters


def test_params_modules_doctests() -> None:
    import doctest

    from mcusim.kernels import s8_fixedpoint, s8_params

    for module in (s8_params, s8_fixedpoint):
        failures, tried = doctest.testmod(module)
        assert failures == 0 and tried > 0, module.__name__


@pytest.mark.parametrize("in_hw,k,stride,want", [
    ((49, 10), (10, 4), 2, (4, 1, 5, 1)),        # DS-CNN: 25 x 5 out
    ((32, 32), 3, 2, (0, 0, 1, 1)),              # ResNet-8 stride 2
    ((32, 32), 1, 2, (0, 0, 0, 0)),              # 1x1 shortcut
    ((25, 5), 3, 1, (1, 1, 1, 1)),
    ((7, 6), (2, 5), (3, 1), (0, 2, 1, 2)),
])
def test_same_padding(in_hw: tuple, k: object, stride: object, want: tuple) -> None:
    pad = s8.same_padding(in_hw, k, stride)
    assert pad == want
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    p = ConvParams(stride, pad, 0, 0, -128, 127, [1], [0])
    assert p.out_hw(*in_hw, kh, kw) == (-(-in_hw[0] // sh), -(-in_hw[1] // sw))


def test_param_structs_and_validation() -> None:
    p = ConvParams((2, 3), (1, 2, 0, 1), -5, 7, -128, 127, [1], [0])
    assert p.conv_struct() == [-5, 7, 3, 2, 2, 1, 1, 1, -128, 127]    # tiles are {w, h}
    assert ConvParams(2, 1, 0, 0, -128, 127, [1], [0]).conv_struct()[2:6] == [2, 2, 1, 1]
    assert PoolParams((25, 5), (25, 4), (0, 1, 0, 0)).struct() == [4, 25, 1, 0, 5, 25, -128, 127]
    assert p.out_hw(9, 10, 3, 4) == (4, 4)       # (9+1+0-3)//2+1, (10+2+1-4)//3+1
    for stride, pad in (((0, 1), 0), (1, -1), (1, (1, 2, 3)), ((1, 1, 1), 0)):
        with pytest.raises(ValueError):
            ConvParams(stride, pad, 0, 0, -128, 127, [1], [0])
    with pytest.raises(ValueError, match="smaller than the window"):
        PoolParams(2, 1, (0, 0, 2, 0)).out_hw(5, 5)
    with pytest.raises(ValueError, match="larger than the padded input"):
        PoolParams((7, 1), 1).out_hw(5, 5)
    assert s8.uses_1x1_path(1, 1, 0) and not s8.uses_1x1_path(1, 1, (0, 0, 1, 0))
