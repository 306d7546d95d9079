"""Features that follow each kernel's loop structure.

:func:`kernel_path` names the code path a configuration takes (the wrappers' choices:
``conv/im2col`` or ``conv/1x1``, ``dwconv/3x3`` or ``dwconv/generic``, ...);
:func:`kernel_features` counts, for that path, how often each loop body of the C kernel
runs: the 4-wide SMLAD inner loops and their leftover loops (``k4``, ``krem``), the
2-channel and odd-channel passes, im2col columns and the memcpy/memset calls and bytes of
their rows, requantised outputs, the clipped pooling/depthwise windows (taps inside the
input), packed drains and blocks, TREC's hashed sub-vectors and clusters.  A cycle count
is then close to linear in these counts, with one coefficient per (path, count).

Examples
--------
>>> row = {"op": "conv", "family": "s8", "in_h": 8, "in_w": 8, "in_c": 3, "out_c": 5,
...        "kh": 3, "kw": 3, "stride": 1, "pad": "1", "w_bits": 8, "a_bits": 8,
...        "trec_l": 0, "trec_h": 0, "activation": "none"}
>>> kernel_path(row)
's8/conv/im2col'
>>> f = kernel_features(row)
>>> f["calls"], f["im2col"], f["outputs"]
(32.0, 64.0, 320.0)
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mcusim.lut.table import out_shape, padding

__all__ = ["feature_table", "kernel_features", "kernel_path", "num_macs"]


def num_macs(row: Mapping[str, Any]) -> int:
    """Multiply-accumulates (or element operations) of a configuration."""
    from mcusim.lut.spaces import macs

    return macs(row)


def kernel_path(row: Mapping[str, Any]) -> str:
    """``family/op/path`` of the kernel code a configuration runs."""
    op, fam = str(row["op"]), str(row["family"])
    kh, kw = int(row["kh"]), int(row["kw"])
    top = padding(row)[0] if op not in ("fc", "add", "softmax") else 0
    if fam == "packed":
        return f"packed/{op}/w{int(row['w_bits'])}a{int(row['a_bits'])}"
    if fam == "trec":
        return "trec/conv/space"
    if op == "conv":
        return "s8/conv/1x1" if kh == 1 and kw == 1 and top == 0 else "s8/conv/im2col"
    if op == "dwconv":
        return "s8/dwconv/3x3" if kh == 3 and kw == 3 and top <= 1 else "s8/dwconv/generic"
    return f"s8/{op}/main"


def _windows(size: int, k: int, stride: int, pad: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output coordinate: first tap inside ``k0`` and end ``k1`` (mnn_s8_clip_window)."""
    start = np.arange(out) * stride - pad
    k0 = np.where(start < 0, -start, 0)
    k1 = np.where(start + k > size, size - start, k)
    return k0, k1


def _split(n: np.ndarray | int, by: int) -> tuple[Any, Any]:
    return n // by, n % by


#: Flash working-set sizes (bytes) tried as thresholds of the data-cache features.
CACHE_STEPS: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


def _pattern(*flags: Any) -> str:
    return "".join("1" if f else "0" for f in flags)


def _stream(f: dict[str, float], passes: float, nbytes: int) -> None:
    """Flash constants read ``passes`` times: 16-byte lines missed on every pass once the
    bytes exceed the cache, else only on the first (thresholds :data:`CACHE_STEPS`)."""
    f["flash_lines"] = nbytes / 16
    for step in CACHE_STEPS:
        f[f"flash_lines>{step}"] = passes * nbytes / 16 if nbytes > step else 0.0


#: Working-set sizes (bytes) tried as thresholds of the data-cache reuse features.
REUSE_STEPS: tuple[int, ...] = (1024, 2048, 3072, 4096, 6144, 8192)
#: Line size the reuse features count in (the F746's L1 D-cache: 32-byte lines; the
#: coefficients absorb any other size).
REUSE_LINE = 32


def _reuse(f: dict[str, float], passes: float, lines: float, working_set: int) -> None:
    """``lines`` cache lines of activations read again on each of ``passes`` passes: they
    miss on every pass once the pass's ``working_set`` (those bytes plus the weights
    streamed through the same data cache) exceeds the cache (thresholds
    :data:`REUSE_STEPS`), e.g. the im2col columns of a large convolution whose data is in
    the F746's SRAM1 behind the 4 KiB L1 D-cache.  Emitted for rows with a ``data_region``
    only (:func:`kernel_features`; the default regions of both boards are not cached), whose
    per-region fit then prices them (at nothing where that region is not cached either)."""
    f["reuse_lines"] = passes * lines
    for step in REUSE_STEPS:
        f[f"reuse_lines>{step}"] = passes * lines if working_set > step else 0.0


def _reuse_features(f: dict[str, float], row: Mapping[str, Any], path: str, pix: int,
                    oc: int) -> None:
    """:func:`_reuse` for the operand each kernel reads again: the two int16 im2col columns
    (against two filter rows) per channel pair of a convolution tile, the two int8 input
    rows of a 1x1 convolution, the input vector of a fully connected layer, and the
    window of a depthwise convolution or max pool, read once per channel group."""
    c, kh, kw = int(row["in_c"]), int(row["kh"]), int(row["kw"])
    passes = oc // 2 + oc % 2
    if path == "s8/conv/im2col":
        k = c * kh * kw
        _reuse(f, f["calls"] * passes, 4 * k / REUSE_LINE, 6 * k)
    elif path == "s8/conv/1x1":
        _reuse(f, (f["r2_calls"] + f["r1_calls"]) * passes, 2 * c / REUSE_LINE, 4 * c)
    elif path == "s8/fc/main":
        k = int(row["in_h"]) * int(row["in_w"]) * c
        _reuse(f, float(passes), k / REUSE_LINE, 3 * k)
    elif path.startswith("s8/dwconv") or path == "s8/maxpool/main":
        lines = kh * min(kw, -(-kw * c // REUSE_LINE))   # lines one channel group touches
        depthwise = path.startswith("s8/dwconv")          # + as many lines of filter taps
        _reuse(f, float(pix * (c // 4 + c % 4)), lines, (1 + depthwise) * lines * REUSE_LINE)
        if depthwise:
            pt, _, pl, _ = padding(row)
            f["l1d_window_misses"] = float(_window_misses(
                int(row["in_h"]), int(row["in_w"]), c, kh, kw, int(row["stride"]), pt, pl))


#: The data cache :func:`_window_misses` simulates: (sets, ways, line bytes) of the F746's
#: L1 D-cache (``profiles/boards/stm32f746zg.toml``, ``caches.l1_d``: 4 KiB, 4-way, 32 B).
WINDOW_DCACHE: tuple[int, int, int] = (32, 4, 32)
#: Where the window simulation puts the buffers, as the sweep's harness does
#: (``Machine.alloc``: 8-byte aligned, 32-byte red zones): the filter at the first
#: host-placed flash constant (0x080038a8, :data:`FLASH_CONST_BASE` into its line), bias,
#: multipliers and shifts after it; the input 32 bytes into the RAM region (its start is
#: 1 KiB aligned on both boards), the output after the input.
_FLASH_LINE0 = 0x0800_38A0
_INPUT_BASE = 32


@functools.lru_cache(maxsize=4096)
def _window_misses(h: int, w: int, c: int, kh: int, kw: int, stride: int, pt: int,
                   pl: int) -> int:
    """L1 D-cache misses of a depthwise convolution with its activations in a cached RAM
    region: the accesses of one output row in the kernel's order (``mnn_s8_dw_pixel``: per
    pixel, per 4-channel group and leftover channel the bias, then over the window's rows
    and columns an input and a filter read, then multiplier, shift and the output,
    write-allocated),
    simulated through a set-associative LRU cache (:data:`WINDOW_DCACHE`) in its steady
    state (the second of two consecutive middle rows), times the output rows.  Where the
    window's rows fall into the cache's sets decides whether a window that outgrows a way
    thrashes, which no loop count shows."""
    sets, ways, lb = WINDOW_DCACHE
    oh = max((h + 2 * pt - kh) // stride + 1, 1)
    ow = max((w + 2 * pl - kw) // stride + 1, 1)

    filt = _FLASH_LINE0 + FLASH_CONST_BASE
    bias, mult, shift = (_FLASH_LINE0 + a for a in _dw_layout(c, kh, kw))
    out_base = _up8(_INPUT_BASE + h * w * c + 2 * _ZONE)
    cache: list[list[int]] = [[] for _ in range(sets)]
    misses = 0

    def touch(addr: int) -> None:
        nonlocal misses
        line = addr // lb
        way = cache[line % sets]
        if line in way:
            way.remove(line)
        else:
            misses += 1
            if len(way) >= ways:
                way.pop(0)
        way.append(line)

    groups = [*range(0, c - c % 4, 4), *range(c - c % 4, c)]   # first channel of each pass
    mid = max(oh // 2 - 1, 0)
    for oy in (mid, min(mid + 1, oh - 1)):
        misses = 0                       # only the second row counts
        y = oy * stride - pt
        ky0, ky1 = max(0, -y), min(kh, h - y)
        for ox in range(ow):
            x = ox * stride - pl
            kx0, kx1 = max(0, -x), min(kw, w - x)
            for ch in groups:
                touch(bias + 4 * ch)
                for ky in range(ky0, ky1):
                    base = _INPUT_BASE + ((y + ky) * w + x) * c + ch
                    for kx in range(kx0, kx1):
                        touch(base + kx * c)
                        touch(filt + (ky * kw + kx) * c + ch)
                touch(mult + 4 * ch)
                touch(shift + 4 * ch)
                touch(out_base + (oy * ow + ox) * c + ch)
    return misses * oh


def _loop(f: dict[str, float], name: str, entries: float, trips: Any) -> None:
    """Back-edge counts of a loop entered ``entries`` times with ``trips`` iterations each
    (a scalar, or per-entry array with ``entries`` as weights): ``name:back`` taken edges
    and ``name:miss`` = min(taken, exits, entries with more than one trip: each of those
    switches the back edge's outcome twice), the mispredictions the Cortex-M7 model charges
    to a conditional branch site (:meth:`mcusim.timing.m7.M7Model.site_cycles`)."""
    t = np.asarray(trips)
    taken = float(np.sum(entries * np.maximum(t - 1, 0)))
    exits = float(np.sum(entries * (t > 0)))
    multi = float(np.sum(entries * (t > 1)))     # entries whose back edge switches outcome
    f[f"{name}:back"] = f.get(f"{name}:back", 0.0) + taken
    f[f"{name}:exits"] = f.get(f"{name}:exits", 0.0) + exits
    f[f"{name}:multi"] = f.get(f"{name}:multi", 0.0) + multi
    f[f"{name}:miss"] = min(f[f"{name}:back"], f[f"{name}:exits"], f[f"{name}:multi"])


def _matmul(f: dict[str, float], prefix: str, calls: float, oc: int, k: int) -> None:
    """Counts of a 2-row x 2-channel SMLAD tile over ``k`` (4-wide loop + leftover).

    ``calls@PATTERN`` counts the calls per pattern of which loops run (4-wide, leftover,
    channel pairs, odd channel): the code a call touches, hence its instruction-cache
    behaviour, depends on it.
    """
    k4, kr = _split(k, 4)
    pairs, odd = _split(oc, 2)
    f[f"{prefix}calls"] = calls
    f[f"{prefix}calls@{_pattern(k4, kr, pairs, odd)}"] = calls
    f[f"{prefix}pairs"] = calls * pairs
    f[f"{prefix}pairs_k4"] = calls * pairs * k4
    f[f"{prefix}pairs_kr"] = calls * pairs * kr
    f[f"{prefix}odd"] = calls * odd
    f[f"{prefix}odd_k4"] = calls * odd * k4
    f[f"{prefix}odd_kr"] = calls * odd * kr
    _loop(f, f"{prefix}oc", calls, pairs)
    _loop(f, f"{prefix}k4", calls * pairs, k4)
    _loop(f, f"{prefix}kr", calls * pairs, kr)
    _loop(f, f"{prefix}odd_k4", calls * odd, k4)
    _loop(f, f"{prefix}odd_kr", calls * odd, kr)


def _copy_counts(f: dict[str, float], name: str, sizes: np.ndarray, weights: np.ndarray) -> None:
    """memcpy/memset calls and bytes (small calls apart: newlib copies them bytewise)."""
    small = sizes < 16
    f[f"{name}_calls"] = float((weights * (sizes > 0)).sum())
    f[f"{name}_bytes"] = float((weights * sizes).sum())
    f[f"{name}_small"] = float((weights * (small & (sizes > 0))).sum())
    f[f"{name}_small_bytes"] = float((weights * sizes * small).sum())
    f[f"{name}_tail"] = float((weights * (sizes % 4) * ~small).sum())


def _conv_im2col(f: dict[str, float], row: Mapping[str, Any], oh: int, ow: int, oc: int) -> None:
    c, kh, kw, s = int(row["in_c"]), int(row["kh"]), int(row["kw"]), int(row["stride"])
    pt, _, pl, _ = padding(row)
    k = c * kh * kw
    pix = oh * ow
    f["im2col"] = pix
    f["im2col_k4"] = pix * (k // 4)
    f["im2col_kr"] = pix * (k % 4)
    y0, y1 = _windows(int(row["in_h"]), kh, s, pt, oh)
    x0, x1 = _windows(int(row["in_w"]), kw, s, pl, ow)
    rows_in = (y1 - y0).astype(np.int64)            # kernel rows inside, per oy
    rows_out = kh - rows_in
    valid = np.maximum(x1 - x0, 0).astype(np.int64)  # columns inside, per ox
    lpad, rpad = x0.astype(np.int64), (kw - x1).astype(np.int64)
    f["rows_in"] = float(rows_in.sum() * ow)
    # memset of whole padded kernel rows (kw*c bytes) and of single padded pixels (c bytes)
    ms_sizes = np.array([kw * c, c])
    ms_w = np.array([rows_out.sum() * ow, rows_in.sum() * (lpad + rpad).sum()])
    _copy_counts(f, "memset", ms_sizes, ms_w)
    # memcpy of the inside span of each kernel row
    sizes, counts = np.unique(valid * c, return_counts=True)
    _copy_counts(f, "memcpy", sizes, counts * rows_in.sum())
    calls = float(-(-pix // 2))
    _matmul(f, "", calls, oc, k)
    _stream(f, calls, k * oc + 12 * oc)


def _conv_1x1(f: dict[str, float], row: Mapping[str, Any], oh: int, ow: int, oc: int) -> None:
    c, s = int(row["in_c"]), int(row["stride"])
    if s == 1:
        calls, rows = 1, oh * ow
    else:
        calls, rows = oh, ow
    f["mm_calls"] = calls
    _matmul(f, "r2_", float(calls * (rows // 2)), oc, c)
    _matmul(f, "r1_", float(calls * (rows % 2)), oc, c)
    _stream(f, float(calls * (rows // 2 + rows % 2)), c * oc + 12 * oc)


def _windowed(f: dict[str, float], row: Mapping[str, Any], oh: int, ow: int, c: int,
              full_k: int | None) -> None:
    """Depthwise / pooling: per output pixel a clipped window, channels by 4 + leftover."""
    kh, kw, s = int(row["kh"]), int(row["kw"]), int(row["stride"])
    pt, _, pl, _ = padding(row)
    y0, y1 = _windows(int(row["in_h"]), kh, s, pt, oh)
    x0, x1 = _windows(int(row["in_w"]), kw, s, pl, ow)
    ry, cx = (y1 - y0).astype(np.int64), (x1 - x0).astype(np.int64)
    c4, cr = _split(c, 4)
    if full_k is None:
        groups = {"": (np.ones_like(ry, bool), np.ones_like(cx, bool))}
    else:
        groups = {"full_": (ry == full_k, cx == full_k), "clip_": (ry != full_k, cx != full_k)}
    f["rows_out"] = oh
    _loop(f, "ox", oh, ow)
    # per pixel: channel loops; per channel group: window rows; per row: window columns
    npix = np.outer(np.ones_like(ry), np.ones_like(cx)).ravel()
    rows_pp = np.outer(ry, np.ones_like(cx)).ravel()
    cols_pp = np.outer(np.ones_like(ry), cx).ravel()
    if row["op"] == "avgpool":   # rows > columns > channels (by 4, leftover); then finish
        _loop(f, "rows", npix, rows_pp)
        _loop(f, "cols", rows_pp, cols_pp)
        _loop(f, "cols2", rows_pp, cols_pp // 2)
        _loop(f, "colsodd", rows_pp, cols_pp % 2)
        taps_pp = rows_pp * cols_pp
        _loop(f, "c4", taps_pp, c4)
        _loop(f, "cr", taps_pp, cr)
        _loop(f, "finish", npix, c)
    else:                        # channels (by 4, leftover) > rows > columns
        for tag, groups_n in (("c4", c4), ("cr", cr)):
            _loop(f, f"{tag}", float(oh * ow), groups_n)
            _loop(f, f"{tag}_rows", npix * groups_n, rows_pp)
            _loop(f, f"{tag}_cols", rows_pp * groups_n, cols_pp)
            if row["op"] == "maxpool":   # its column loop is unrolled by two
                _loop(f, f"{tag}_cols2", rows_pp * groups_n, cols_pp // 2)
                _loop(f, f"{tag}_colsodd", rows_pp * groups_n, cols_pp % 2)
    # pixels per clipped window shape (rows x columns inside the input)
    if full_k is not None or row["op"] == "dwconv":
        _stream(f, float(oh * ow), kh * kw * c + 12 * c)
        _dw_flash_misses(f, ry, cx, y0, x0, kh, kw, c)
    for name, (my, mx) in groups.items():
        if name == "clip_":   # a pixel is clipped when its row or its column is
            pix = oh * ow - groups["full_"][0].sum() * groups["full_"][1].sum()
            rsum = ry.sum() * ow - ry[groups["full_"][0]].sum() * groups["full_"][1].sum()
            taps = ry.sum() * cx.sum() - ry[groups["full_"][0]].sum() * cx[groups["full_"][1]].sum()
        else:
            pix = my.sum() * mx.sum()
            rsum = ry[my].sum() * mx.sum()
            taps = ry[my].sum() * cx[mx].sum()
        f[f"{name}pix"] = float(pix)
        f[f"{name}pix@{_pattern(c4, cr)}"] = float(pix)
        f[f"{name}rows@{_pattern(c4, cr)}"] = float(rsum)
        f[f"{name}pix_c4"] = float(pix * c4)
        f[f"{name}pix_cr"] = float(pix * cr)
        f[f"{name}rows_c4"] = float(rsum * c4)
        f[f"{name}rows_cr"] = float(rsum * cr)
        f[f"{name}taps_c4"] = float(taps * c4)
        f[f"{name}taps_cr"] = float(taps * cr)
        f[f"{name}taps"] = float(taps)
        f[f"{name}rows"] = float(rsum)


#: Flash data caches whose misses :func:`_dw_flash_misses` counts: (name, lines, line bytes);
#: the F469's ART data cache (``profiles/boards/stm32f469i.toml``, ``caches.art_d``).
FLASH_DCACHES: tuple[tuple[str, int, int], ...] = (("art8x16", 8, 16),)
#: Offset of the first host-placed flash constant within a 32-byte line: the end of the s8
#: image's ``.rodata`` plus the red zone (``Machine.alloc``), 0x080038a8 for both boards.
FLASH_CONST_BASE = 8


def _up8(n: int) -> int:
    return -(-n // 8) * 8


#: Red zone either side of a harness buffer (``Machine.alloc``).
_ZONE = 32


def _dw_layout(c: int, kh: int, kw: int) -> tuple[int, int, int]:
    """Offsets (from the flash line of the filter) of the bias, multipliers and shifts the
    harness places after a depthwise filter (``Machine.alloc``: 8-byte aligned, red zones)."""
    bias = _up8(FLASH_CONST_BASE + kh * kw * c + 2 * _ZONE)
    mult = _up8(bias + 4 * c + 2 * _ZONE)
    return bias, mult, _up8(mult + 4 * c + 2 * _ZONE)


def _dw_constants(c: int, kh: int, kw: int, taps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(address, bytes) of the flash constant reads of one depthwise pixel in program order
    (mnn_s8_dw_pixel: per 4-channel group bias, the window's filter words, multiplier and
    shift; then per leftover channel the same with bytes).  The harness places the filter,
    bias, multipliers and shifts one after the other (``Machine.alloc``: 8-byte aligned,
    a 32-byte red zone either side); the first starts at :data:`FLASH_CONST_BASE`."""
    bias, mult, shift = _dw_layout(c, kh, kw)
    w0 = FLASH_CONST_BASE
    seq: list[tuple[int, int]] = []
    c4 = c // 4
    for g in range(c4):
        seq += [(bias + 16 * g + 4 * i, 4) for i in range(4)]
        seq += [(w0 + (ky * kw + kx) * c + 4 * g, 4) for ky, kx in taps]
        for i in range(4):
            seq += [(mult + 16 * g + 4 * i, 4), (shift + 16 * g + 4 * i, 4)]
    for ch in range(4 * c4, c):
        seq.append((bias + 4 * ch, 4))
        seq += [(w0 + (ky * kw + kx) * c + ch, 1) for ky, kx in taps]
        seq += [(mult + 4 * ch, 4), (shift + 4 * ch, 4)]
    return seq


def _lru_misses(seq: list[tuple[int, int]], lines: int, line_bytes: int) -> int:
    """Misses of the second pass of ``seq`` through a fully associative LRU cache (the
    steady state of a run of pixels with the same window)."""
    from collections import OrderedDict

    cache: OrderedDict[int, None] = OrderedDict()
    misses = 0
    for rep in range(2):
        for addr, n in seq:
            for line in range(addr // line_bytes, (addr + n - 1) // line_bytes + 1):
                if line in cache:
                    cache.move_to_end(line)
                    continue
                misses += rep
                cache[line] = None
                if len(cache) > lines:
                    cache.popitem(last=False)
    return misses


def _dw_flash_misses(f: dict[str, float], ry: np.ndarray, cx: np.ndarray, y0: np.ndarray,
                     x0: np.ndarray, kh: int, kw: int, c: int) -> None:
    """Flash-constant cache misses of a depthwise convolution: per clipped-window pattern
    (first row/column inside, rows, columns) the steady-state misses of one pixel
    (:func:`_lru_misses` over :func:`_dw_constants`) times the pixels with that pattern,
    and the 4-byte filter reads that cross a cache line."""
    ys = {}
    for a, b in zip(y0.tolist(), ry.tolist()):
        ys[(a, b)] = ys.get((a, b), 0) + 1
    xs = {}
    for a, b in zip(x0.tolist(), cx.tolist()):
        xs[(a, b)] = xs.get((a, b), 0) + 1
    for name, lines, lb in FLASH_DCACHES:
        total = cross = 0.0
        for (ya, yn), ny in ys.items():
            for (xa, xn), nx in xs.items():
                taps = [(ya + i, xa + j) for i in range(yn) for j in range(xn)]
                seq = _dw_constants(c, kh, kw, taps)
                total += ny * nx * _lru_misses(seq, lines, lb)
                cross += ny * nx * sum(1 for a, n in seq if a // lb != (a + n - 1) // lb)
        f[f"{name}_misses"] = total
        f[f"{name}_cross"] = cross


def _packed(f: dict[str, float], row: Mapping[str, Any], oh: int, ow: int, oc: int) -> None:
    from mcusim.kernels.packed import block_values, drain_interval, select_scheme

    wb, ab = int(row["w_bits"]), int(row["a_bits"])
    if row["op"] == "fc":
        k = int(row["in_h"]) * int(row["in_w"]) * int(row["in_c"])
        kh = 1
    else:
        k = int(row["in_c"]) * int(row["kh"]) * int(row["kw"])
        kh = int(row["kh"])
    v = block_values(wb, ab)
    nb = -(-k // v)
    d = drain_interval(wb, ab)
    drains = (nb // d + 1) if d else nb
    tile2 = 1 if select_scheme(wb, ab).lanes else 0
    pairs, odd = _split(oc, 2)
    pix = oh * ow
    chunks = -(-oc // 16)
    f.update({"pix": pix, "pix_k": pix * k, "pix_rows": pix * kh, "pix_chunks": pix * chunks,
              "outputs": pix * oc, "pairs_nb": pix * pairs * nb, "odd_nb": pix * odd * nb,
              "pairs_drain": pix * pairs * drains, "odd_drain": pix * odd * drains,
              "pairs": pix * pairs, "odd": pix * odd, "tile2": tile2 * pix * oc * nb})


def _trec(f: dict[str, float], row: Mapping[str, Any], oh: int, ow: int, oc: int) -> None:
    c, kh, kw = int(row["in_c"]), int(row["kh"]), int(row["kw"])
    k = c * kh * kw
    ln, hb = int(row["trec_l"]), int(row["trec_h"])
    tile, stack = 64, 64
    pix = oh * ow
    tiles = -(-pix // tile)
    nblk = -(-k // ln)
    vectors = pix * nblk
    est_clusters = tiles * nblk * min(1 << hb, tile, stack, pix)
    f.update({"pix": pix, "tiles": tiles, "pix_k": pix * k, "vectors": vectors,
              "hash": vectors * hb * ln, "addback": vectors * oc, "outputs": pix * oc,
              "clusters": est_clusters, "cluster_mults": est_clusters * ln * oc,
              "tile_k_oc": tiles * k * oc})


def kernel_features(row: Mapping[str, Any]) -> dict[str, float]:
    """Loop-body counts of the kernel path of ``row`` (see the module docstring)."""
    path = kernel_path(row)
    oh, ow, oc = out_shape(row)
    f: dict[str, float] = {"one": 1.0}
    op = str(row["op"])
    if path == "s8/conv/im2col":
        _conv_im2col(f, row, oh, ow, oc)
        f["outputs"] = oh * ow * oc
    elif path == "s8/conv/1x1":
        _conv_1x1(f, row, oh, ow, oc)
        f["outputs"] = oh * ow * oc
    elif op == "fc" and path.startswith("s8"):
        k = int(row["in_h"]) * int(row["in_w"]) * int(row["in_c"])
        _matmul(f, "", 1.0, oc, k)
        _stream(f, 1.0, k * oc + 12 * oc)
        f["outputs"] = oc
    elif path.startswith("s8/dwconv") or op in ("avgpool", "maxpool"):
        _windowed(f, row, oh, ow, oc, 3 if path == "s8/dwconv/3x3" else None)
        f["outputs"] = oh * ow * oc
    elif op in ("add", "softmax"):
        n = oh * ow * oc
        f.update({"n4": n // 4, "nr": n % 4, "outputs": n, "rows": oh * ow})
    elif path.startswith("packed"):
        _packed(f, row, oh, ow, oc)
    else:
        _trec(f, row, oh, ow, oc)
    if row.get("data_region"):
        _reuse_features(f, row, path, oh * ow, oc)
    return {k: float(v) for k, v in f.items()}


def feature_table(X: pd.DataFrame) -> tuple[list[str], list[dict[str, float]]]:
    """Paths and feature dicts of every row of a configuration table (normalised here).

    A row with a ``data_region`` (not the board's default) takes the path
    ``<kernel path>@<region>``: the same loop counts, fitted with their own coefficients,
    since every count's memory accesses cost differently there (e.g. SRAM1 behind the
    F746's D-cache vs zero-wait DTCM).
    """
    from mcusim.lut.table import normalize

    rows = normalize(X).to_dict(orient="records")
    paths = [kernel_path(r) + (f"@{r['data_region']}" if r.get("data_region") else "")
             for r in rows]
    return paths, [kernel_features(r) for r in rows]
