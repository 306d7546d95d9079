"""The ``s8`` family: CMSIS-NN-style int8 kernels run under emulation.

Each ``run_*`` function places the activations in SRAM and the constants (filter, bias,
multipliers, shifts) in Flash, as deployed, allocates the output and the caller-owned scratch
with a fill pattern, calls the firmware and returns a :class:`KernelRun`.  The numpy
references of the same integer arithmetic are re-exported from :mod:`mcusim.kernels.s8_ref`,
the parameter dataclasses from :mod:`mcusim.kernels.s8_params`.

Every ``run_*`` starts with ``machine.free_all()``: buffers placed earlier are dropped.

Examples
--------
>>> from mcusim.boards import get_board                      # doctest: +SKIP
>>> from mcusim.kernels.firmware import build_family         # doctest: +SKIP
>>> board = get_board("stm32f469i")                          # doctest: +SKIP
>>> m = Machine(board, build_family(board, "s8"))            # doctest: +SKIP
>>> x, w, b, p = make_problem(get_layer("squeezenet.fire2.squeeze"), rng)  # doctest: +SKIP
>>> run = run_conv_s8(m, x, w, b, p)                         # doctest: +SKIP
>>> bool((run.output == conv_s8_ref(x, w, b, p)).all())      # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mcusim.errors import McusimError
from mcusim.kernels.s8_params import (
    AddParams, ConvParams, PoolParams, SoftmaxParams, avg_pool_buffer_size, conv_buffer_size,
    conv_wrapper_buffer_size, same_padding, uses_1x1_path,
)
from mcusim.kernels.s8_problem import make_problem
from mcusim.kernels.s8_ref import (
    add_s8_ref, avg_pool_s8_ref, conv_s8_ref, depthwise_conv_s8_ref, fc_s8_ref,
    max_pool_s8_ref, softmax_s8_ref,
)

__all__ = [
    "AddParams", "ConvParams", "KernelRun", "PoolParams", "S8_STATUS", "SoftmaxParams",
    "add_s8_ref", "avg_pool_buffer_size", "avg_pool_s8_ref", "conv_buffer_size",
    "conv_s8_ref", "conv_wrapper_buffer_size", "depthwise_conv_s8_ref", "fc_s8_ref",
    "make_problem", "max_pool_s8_ref", "place_struct", "run_add_s8", "run_avg_pool_s8",
    "run_conv_s8", "run_depthwise_conv_s8", "run_fc_s8", "run_max_pool_s8", "run_softmax_s8",
    "same_padding", "softmax_s8_ref", "uses_1x1_path",
]

#: Status codes of ``mnn_status`` (mnn_types.h).
S8_STATUS: dict[str, int] = {"MNN_OK": 0, "MNN_ARG_ERROR": -1, "MNN_NO_SCRATCH": -2}

SCRATCH_FILL = 0xA5
OUTPUT_FILL = 0x5A

CONV_SYMBOLS: dict[str, str] = {
    "wrapper": "mnn_convolve_wrapper_s8",
    "generic": "mnn_convolve_s8",
    "1x1": "mnn_convolve_1x1_s8",
}
DEPTHWISE_SYMBOLS: dict[str, str] = {
    "wrapper": "mnn_depthwise_conv_wrapper_s8",
    "generic": "mnn_depthwise_conv_s8",
    "3x3": "mnn_depthwise_conv_3x3_s8",
}


@dataclass
class KernelRun:
    """The outcome of one kernel call under emulation.

    Attributes
    ----------
    output
        The int8 output tensor read back from SRAM.
    result
        The machine's :class:`mcusim.machine.CallResult` (instructions, counts, stack use).
    scratch_bytes
        Scratch the firmware's ``..._get_buffer_size()`` reported (0 without scratch).
    scratch_used
        Bytes of that scratch the kernel actually wrote (fill-pattern high-water mark).
    weight_bytes
        Constant bytes in Flash: filter, bias, multipliers and shifts.
    symbol
        The C function that ran.
    """

    output: np.ndarray
    result: Any
    scratch_bytes: int
    scratch_used: int
    weight_bytes: int
    symbol: str = ""


def _limit(budget: int | None) -> dict[str, int]:
    """``budget=`` for :meth:`Machine.call` (``None``: the machine's default budget)."""
    return {} if budget is None else {"budget": budget}


def place_struct(machine: Any, words: Sequence[int], region: str = "ram") -> int:
    """Place a C struct of int32/pointer words (two's complement) and return its address."""
    arr = np.array([int(v) & 0xFFFFFFFF for v in words], dtype=np.uint32)
    return int(machine.place(arr, region))


def _dims(n: int, h: int, w: int, c: int) -> list[int]:
    return [n, h, w, c]


def _check(symbol: str, result: Any) -> None:
    status = result.return_value
    if status != 0:
        name = {v: k for k, v in S8_STATUS.items()}.get(status, str(status))
        raise McusimError(f"{symbol} returned {name}", symbol=symbol, status=status)


def _scratch(machine: Any, size: int, override: int | None,
             region: str = "ram") -> tuple[int, int, int]:
    """Allocate scratch in ``region``; returns (ctx address, buffer address, allocated bytes)."""
    nbytes = size if override is None else override
    buf = int(machine.alloc(nbytes, region, fill=SCRATCH_FILL, name="scratch")) if nbytes else 0
    return place_struct(machine, [buf, nbytes]), buf, nbytes


def _constants(machine: Any, w: np.ndarray, bias: np.ndarray,
               p: ConvParams) -> tuple[int, int, int, int]:
    """Filter, bias and quant struct in Flash; returns (w, bias, quant, bytes)."""
    wa = int(machine.place(np.ascontiguousarray(w, dtype=np.int8), "flash", name="filter"))
    ba = int(machine.place(np.ascontiguousarray(bias, dtype=np.int32), "flash", name="bias"))
    ma = int(machine.place(p.multipliers, "flash", name="multipliers"))
    sa = int(machine.place(p.shifts, "flash", name="shifts"))
    qa = place_struct(machine, [ma, sa])
    nbytes = w.size + 4 * (bias.size + p.multipliers.size + p.shifts.size)
    return wa, ba, qa, nbytes


def _out(machine: Any, nbytes: int, override: int | None, region: str = "ram") -> int:
    size = nbytes if override is None else override
    return int(machine.alloc(size, region, fill=OUTPUT_FILL, name="output"))


def _run_conv_like(machine: Any, symbol: str, size_symbol: str | None, x: np.ndarray,
                   w_flash: np.ndarray, bias: np.ndarray, p: ConvParams, filter_dims: list[int],
                   out_shape: tuple[int, int, int], size_args: str, scratch_override: int | None,
                   output_bytes: int | None, budget: int | None,
                   region: str = "ram") -> KernelRun:
    machine.free_all()
    h, wd, c = x.shape
    in_dims = place_struct(machine, _dims(1, h, wd, c))
    f_dims = place_struct(machine, filter_dims)
    o_dims = place_struct(machine, _dims(1, *out_shape))
    params = place_struct(machine, p.conv_struct())
    wa, ba, qa, wbytes = _constants(machine, w_flash, bias, p)
    xa = int(machine.place(np.ascontiguousarray(x, dtype=np.int8), region, name="input"))
    need = 0
    if size_symbol is not None:
        args = (params, in_dims, f_dims) if size_args == "wrapper" else (in_dims, f_dims)
        need = machine.call(size_symbol, *args).return_value
    ctx, buf, nbytes = _scratch(machine, need, scratch_override, region)
    oa = _out(machine, int(np.prod(out_shape)), output_bytes, region)
    r = machine.call(symbol, ctx, params, qa, in_dims, xa, f_dims, wa, ba, o_dims, oa,
                     **_limit(budget))
    _check(symbol, r)
    out = machine.read(oa, int(np.prod(out_shape)), np.int8).reshape(out_shape).copy()
    used = machine.high_water(buf, nbytes, SCRATCH_FILL) if nbytes else 0
    return KernelRun(out, r, need, used, wbytes, symbol)


def run_conv_s8(machine: Any, x_hwc: np.ndarray, w_ohwi: np.ndarray, bias: np.ndarray,
                params: ConvParams, *, kernel: str = "wrapper", scratch_bytes: int | None = None,
                output_bytes: int | None = None, budget: int | None = None,
                region: str = "ram") -> KernelRun:
    """Run an int8 convolution under emulation.

    Parameters
    ----------
    machine
        A :class:`mcusim.machine.Machine` loaded with the ``s8`` family.
    x_hwc, w_ohwi, bias, params
        As for :func:`conv_s8_ref`.
    kernel
        ``"wrapper"`` (picks the path), ``"generic"`` (im2col) or ``"1x1"``.
    scratch_bytes, output_bytes
        Override the allocated scratch / output sizes (tests of the error paths).
    budget
        Instruction budget of the call (``None``: the machine's).
    region
        Where the input, output and scratch go (``"ram"``: the data region first, or a
        region name such as ``"sram1"``); weights, bias and quantisation stay in Flash.

    Returns
    -------
    KernelRun
        Output ``[OH, OW, C_OUT]`` and the measurements.

    Raises
    ------
    McusimError
        The kernel returned an error status.
    """
    co, kh, kw, ci = w_ohwi.shape
    oh, ow = params.out_hw(x_hwc.shape[0], x_hwc.shape[1], kh, kw)
    size_symbol = {"wrapper": "mnn_convolve_wrapper_s8_get_buffer_size",
                   "generic": "mnn_convolve_s8_get_buffer_size", "1x1": None}[kernel]
    return _run_conv_like(machine, CONV_SYMBOLS[kernel], size_symbol, x_hwc, w_ohwi, bias,
                          params, _dims(co, kh, kw, ci), (oh, ow, co), kernel, scratch_bytes,
                          output_bytes, budget, region)


def run_depthwise_conv_s8(machine: Any, x_hwc: np.ndarray, w_hwc: np.ndarray,
                          bias: np.ndarray, params: ConvParams, *, kernel: str = "wrapper",
                          output_bytes: int | None = None, budget: int | None = None,
                          region: str = "ram") -> KernelRun:
    """Run an int8 depthwise convolution (filter ``[KH, KW, C]``); ``kernel`` is
    ``"wrapper"``, ``"generic"`` or ``"3x3"``.  See :func:`run_conv_s8`."""
    kh, kw, c = w_hwc.shape
    oh, ow = params.out_hw(x_hwc.shape[0], x_hwc.shape[1], kh, kw)
    return _run_conv_like(machine, DEPTHWISE_SYMBOLS[kernel], None, x_hwc, w_hwc, bias,
                          params, _dims(1, kh, kw, c), (oh, ow, c), kernel, None,
                          output_bytes, budget, region)


def run_fc_s8(machine: Any, x: np.ndarray, w: np.ndarray, bias: np.ndarray,
              params: ConvParams, *, output_bytes: int | None = None,
              budget: int | None = None, region: str = "ram") -> KernelRun:
    """Run ``mnn_fully_connected_s8``: ``x`` ``[K]`` or ``[N, K]``, ``w`` ``[O, K]``.

    Returns the output ``[O]`` or ``[N, O]``.  See :func:`run_conv_s8`.
    """
    machine.free_all()
    xb = np.atleast_2d(x)
    n, k = xb.shape
    o = w.shape[0]
    in_dims = place_struct(machine, _dims(n, 1, 1, k))
    f_dims = place_struct(machine, _dims(o, 1, 1, k))
    o_dims = place_struct(machine, _dims(n, 1, 1, o))
    pa = place_struct(machine, params.fc_struct())
    wa, ba, qa, wbytes = _constants(machine, w, bias, params)
    xa = int(machine.place(np.ascontiguousarray(xb, dtype=np.int8), region, name="input"))
    oa = _out(machine, n * o, output_bytes, region)
    symbol = "mnn_fully_connected_s8"
    r = machine.call(symbol, 0, pa, qa, in_dims, xa, f_dims, wa, ba, o_dims, oa, **_limit(budget))
    _check(symbol, r)
    out = machine.read(oa, n * o, np.int8).reshape(n, o).copy()
    return KernelRun(out if x.ndim == 2 else out[0], r, 0, 0, wbytes, symbol)


def _run_pool(machine: Any, symbol: str, size_symbol: str | None, x: np.ndarray,
              p: PoolParams, output_bytes: int | None, budget: int | None,
              region: str = "ram") -> KernelRun:
    machine.free_all()
    h, w, c = x.shape
    oh, ow = p.out_hw(h, w)
    in_dims = place_struct(machine, _dims(1, h, w, c))
    o_dims = place_struct(machine, _dims(1, oh, ow, c))
    pa = place_struct(machine, p.struct())
    xa = int(machine.place(np.ascontiguousarray(x, dtype=np.int8), region, name="input"))
    oa = _out(machine, oh * ow * c, output_bytes, region)
    need, buf, nbytes = 0, 0, 0
    if size_symbol is None:
        r = machine.call(symbol, pa, in_dims, xa, o_dims, oa, **_limit(budget))
    else:
        need = machine.call(size_symbol, o_dims).return_value
        ctx, buf, nbytes = _scratch(machine, need, None, region)
        r = machine.call(symbol, ctx, pa, in_dims, xa, o_dims, oa, **_limit(budget))
    _check(symbol, r)
    out = machine.read(oa, oh * ow * c, np.int8).reshape(oh, ow, c).copy()
    used = machine.high_water(buf, nbytes, SCRATCH_FILL) if nbytes else 0
    return KernelRun(out, r, need, used, 0, symbol)


def run_max_pool_s8(machine: Any, x_hwc: np.ndarray, params: PoolParams, *,
                    output_bytes: int | None = None, budget: int | None = None,
                    region: str = "ram") -> KernelRun:
    """Run ``mnn_max_pool_s8`` on ``[H, W, C]``; see :func:`max_pool_s8_ref` (``region``:
    see :func:`run_conv_s8`)."""
    return _run_pool(machine, "mnn_max_pool_s8", None, x_hwc, params, output_bytes, budget,
                     region)


def run_avg_pool_s8(machine: Any, x_hwc: np.ndarray, params: PoolParams, *,
                    output_bytes: int | None = None, budget: int | None = None,
                    region: str = "ram") -> KernelRun:
    """Run ``mnn_avg_pool_s8`` (with its scratch) on ``[H, W, C]``; see :func:`avg_pool_s8_ref`."""
    return _run_pool(machine, "mnn_avg_pool_s8", "mnn_avg_pool_s8_get_buffer_size", x_hwc,
                     params, output_bytes, budget, region)


def run_add_s8(machine: Any, a: np.ndarray, b: np.ndarray, params: AddParams, *,
               output_bytes: int | None = None, budget: int | None = None,
               region: str = "ram") -> KernelRun:
    """Run ``mnn_elementwise_add_s8`` on two int8 tensors of the same shape (``region``: see
    :func:`run_conv_s8`)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    machine.free_all()
    pa = place_struct(machine, params.struct())
    a1 = int(machine.place(np.ascontiguousarray(a, dtype=np.int8), region, name="input1"))
    a2 = int(machine.place(np.ascontiguousarray(b, dtype=np.int8), region, name="input2"))
    oa = _out(machine, a.size, output_bytes, region)
    symbol = "mnn_elementwise_add_s8"
    r = machine.call(symbol, pa, a1, a2, oa, a.size, **_limit(budget))
    _check(symbol, r)
    out = machine.read(oa, a.size, np.int8).reshape(a.shape).copy()
    return KernelRun(out, r, 0, 0, 0, symbol)


def run_softmax_s8(machine: Any, x: np.ndarray, params: SoftmaxParams, *,
                   in_place: bool = False, output_bytes: int | None = None,
                   budget: int | None = None, region: str = "ram") -> KernelRun:
    """Run ``mnn_softmax_s8`` along the last axis of ``x``; see :func:`softmax_s8_ref`.

    ``in_place`` writes the output over the input (the kernel allows the alias).
    """
    machine.free_all()
    rows = np.ascontiguousarray(x, dtype=np.int8).reshape(-1, x.shape[-1])
    pa = place_struct(machine, params.struct())
    xa = int(machine.place(rows, region, name="input"))
    oa = xa if in_place else _out(machine, rows.size, output_bytes, region)
    symbol = "mnn_softmax_s8"
    r = machine.call(symbol, pa, xa, rows.shape[0], rows.shape[1], oa, budget=budget)
    _check(symbol, r)
    out = machine.read(oa, rows.size, np.int8).reshape(x.shape).copy()
    return KernelRun(out, r, 0, 0, 0, symbol)
