"""TREC convolution (transient redundancy elimination): numpy models and emulated calls.

The firmware is ``firmware/trec/`` with the API in ``firmware/include/mnn_trec.h``; this
module holds

- :func:`trec_conv_ref` / :func:`trec_orig_conv_ref`: numpy models of exactly the same
  fixed-point algorithms (space-efficient and original layout), bit-exact with the C kernels,
  including tiling, first-seen stack order, centroid rounding and the stack-full path;
- :func:`exact_conv_acc`: the exact int8 convolution's accumulators (the TREC model with
  ``max_clusters = 0``; tests check it against the int8 family);
- :func:`trec_conv_float`: a float model of TREC (exact means, float projections);
- :func:`get_buffer_size`: mirrors of the kernels' ``..._get_buffer_size``;
- :func:`run_trec_conv`: calls a kernel under emulation and returns output, call result,
  cluster statistics and the measured scratch use.

The im2col row of an output position has length ``K = kh * kw * C_in`` in ``[ky][kx][c]``
order with the input offset added and zero padding; weights are ``[C_out, kh, kw, C_in]``.

Examples
--------
>>> import numpy as np
>>> from mcusim.kernels.layers import Layer
>>> p = make_problem(Layer("t", "conv", 6, 6, 2, 4, 3, 3), np.random.default_rng(0))
>>> out, st = trec_conv_ref(p, TrecConfig(sub_len=6, hash_bits=2, max_clusters=0))
>>> bool((out == exact_conv_ref(p)).all()), st.overflow == st.vectors
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from mcusim.kernels import quant
from mcusim.kernels.layers import Layer

__all__ = [
    "TrecConfig", "TrecStats", "TrecProblem", "TrecRun", "make_problem", "make_hash_matrix",
    "im2col", "exact_conv_acc", "exact_conv_ref", "trec_conv_ref", "trec_orig_conv_ref",
    "trec_conv_float", "trec_conv_acc", "get_buffer_size", "build_trec",
    "s8_params", "s8_reference", "finish", "run_trec_conv", "SYMBOLS",
]

Layout = Literal["space", "orig"]

#: C symbols of the two layouts (kernel, buffer-size sibling).
SYMBOLS: dict[str, tuple[str, str]] = {
    "space": ("mnn_trec_conv_s8", "mnn_trec_conv_s8_get_buffer_size"),
    "orig": ("mnn_trec_conv_orig_s8", "mnn_trec_conv_orig_s8_get_buffer_size"),
}


@dataclass(frozen=True)
class TrecConfig:
    """TREC parameters (``mnn_trec_params``).

    Parameters
    ----------
    sub_len
        L, the sub-vector length (1 <= L <= K; the last block is shorter if L does not divide K).
    hash_bits
        H, hash bits per sub-vector (1..15; the space-efficient layout needs H <= C_out).
    max_clusters
        Stack capacity per block (space-efficient layout only); rows with a new ID when the
        stack is full are computed exactly.
    tile_rows
        Output positions clustered together.
    """

    sub_len: int
    hash_bits: int
    max_clusters: int = 64
    tile_rows: int = 64

    def words(self) -> np.ndarray:
        """The ``mnn_trec_params`` struct as int32 words."""
        return np.array([self.sub_len, self.hash_bits, self.max_clusters, self.tile_rows], np.int32)


@dataclass(frozen=True)
class TrecStats:
    """Cluster statistics (``mnn_trec_stats``).

    ``vectors`` sub-vectors were hashed, ``clusters`` clusters formed (summed over tiles and
    blocks), ``overflow`` sub-vectors computed exactly because the stack was full,
    ``peak_clusters`` the most clusters of one block.
    """

    vectors: int
    clusters: int
    overflow: int
    peak_clusters: int

    @property
    def redundancy_removed(self) -> float:
        """``1 - (clusters + overflow) / vectors``: share of sub-vector products not computed."""
        return 1.0 - (self.clusters + self.overflow) / self.vectors if self.vectors else 0.0


@dataclass(frozen=True)
class TrecProblem:
    """One int8 convolution (TFLite semantics) to run with TREC.

    ``x`` is ``[H, W, C_in]`` int8, ``w`` ``[C_out, kh, kw, C_in]`` int8, ``bias`` int32,
    ``multiplier``/``shift`` per channel, ``input_offset = -input_zero_point``.
    """

    layer: Layer
    x: np.ndarray
    w: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    input_offset: int = 128
    output_offset: int = 0
    act_min: int = -128
    act_max: int = 127
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def w2d(self) -> np.ndarray:
        """Weights as ``[C_out, K]``."""
        return self.w.reshape(self.w.shape[0], -1)

    def conv_words(self) -> np.ndarray:
        """The ``mnn_trec_conv_params`` struct as 20 int32 words."""
        ly = self.layer
        return np.array([1, ly.in_h, ly.in_w, ly.in_c, ly.out_c, ly.kh, ly.kw, ly.in_c,
                         1, ly.out_h, ly.out_w, ly.out_c, ly.stride, ly.stride, ly.pad, ly.pad,
                         self.input_offset, self.output_offset, self.act_min, self.act_max],
                        dtype=np.int32)


def make_problem(layer: Layer, rng: np.random.Generator, x: np.ndarray | None = None, *,
                 act: str = "none") -> TrecProblem:
    """A TREC problem for ``layer`` with random per-channel int8 weights.

    The requantisation is calibrated on the exact accumulators of ``x`` (random int8 when
    None), as post-training quantisation does: per channel, the largest ``|acc|`` maps to
    127 (``act="none"``, output zero point 0) or the 99.9th percentile of the positive part
    maps to 255 levels (``act="relu"``, zero point -128).

    Parameters
    ----------
    layer
        A ``conv`` layer.
    rng
        Source of the weights (and of ``x`` when not given).
    x
        int8 input ``[in_h, in_w, in_c]``.
    act
        ``"none"`` or ``"relu"``.
    """
    if layer.kind != "conv":
        raise ValueError(f"TREC runs conv layers, not {layer.kind!r} ({layer.name})")
    if x is None:
        x = rng.integers(-128, 128, size=(layer.in_h, layer.in_w, layer.in_c), dtype=np.int8)
    if x.shape != (layer.in_h, layer.in_w, layer.in_c):
        raise ValueError(f"input shape {x.shape} does not match {layer.name}")
    wf = rng.normal(0.0, 1.0, size=(layer.out_c, layer.kh, layer.kw, layer.in_c))
    w, _ = quant.quantize_weights_per_channel(wf)
    bias = rng.integers(-200, 201, size=layer.out_c).astype(np.int32)
    probe = TrecProblem(layer, x, w, bias, np.zeros(layer.out_c, np.int32),
                        np.zeros(layer.out_c, np.int32))
    acc = exact_conv_acc(probe) + bias
    if act == "relu":
        top = np.maximum(np.percentile(np.maximum(acc, 0), 99.9, axis=0), 1.0)
        mult, shift = quant.quantize_multipliers(255.0 / top)
        return replace(probe, multiplier=mult, shift=shift, output_offset=-128, act_min=-128)
    if act != "none":
        raise ValueError(f"unknown activation {act!r}")
    top = np.maximum(np.abs(acc).max(axis=0), 1.0)
    mult, shift = quant.quantize_multipliers(127.0 / top)
    return replace(probe, multiplier=mult, shift=shift)


def make_hash_matrix(hash_bits: int, k: int, seed: int = 0) -> np.ndarray:
    """Random int8 hash matrix ``[H, K]`` of the original TREC layout (Gaussian, quantised)."""
    g = np.random.default_rng(seed).normal(0.0, 1.0, size=(hash_bits, k))
    return np.clip(np.round(g * 127.0 / max(np.abs(g).max(), 1e-9)), -127, 127).astype(np.int8)


def im2col(p: TrecProblem) -> np.ndarray:
    """im2col rows ``[out_h * out_w, K]`` (int64, offset added, zero padding), ``[ky][kx][c]``."""
    ly = p.layer
    xo = p.x.astype(np.int64) + p.input_offset
    xp = np.zeros((ly.in_h + 2 * ly.pad, ly.in_w + 2 * ly.pad, ly.in_c), np.int64)
    xp[ly.pad:ly.pad + ly.in_h, ly.pad:ly.pad + ly.in_w] = xo
    s = ly.stride
    cols = np.empty((ly.out_h, ly.out_w, ly.kh, ly.kw, ly.in_c), np.int64)
    for ky in range(ly.kh):
        for kx in range(ly.kw):
            cols[:, :, ky, kx] = xp[ky:ky + s * ly.out_h:s, kx:kx + s * ly.out_w:s]
    return cols.reshape(ly.out_h * ly.out_w, -1)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer matrix product through float64 BLAS (all sums here are < 2^53)."""
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def exact_conv_acc(p: TrecProblem) -> np.ndarray:
    """Accumulators (without bias) of the exact convolution, ``[positions, C_out]`` int64."""
    return _mm(im2col(p), p.w2d.T)


def finish(p: TrecProblem, acc: np.ndarray) -> np.ndarray:
    """Bias, requantisation, output offset and clamp: accumulators -> int8 ``[oh, ow, C_out]``."""
    v = quant.requantize(acc + p.bias, p.multiplier, p.shift).astype(np.int64) + p.output_offset
    out = np.clip(v, p.act_min, p.act_max).astype(np.int8)
    return out.reshape(p.layer.out_h, p.layer.out_w, p.layer.out_c)


def exact_conv_ref(p: TrecProblem) -> np.ndarray:
    """Exact int8 convolution ``[oh, ow, C_out]``."""
    return finish(p, exact_conv_acc(p))


def s8_params(p: TrecProblem) -> Any:
    """The problem's :class:`mcusim.kernels.s8_params.ConvParams` (int8 family)."""
    from mcusim.kernels.s8 import ConvParams

    ly = p.layer
    return ConvParams(stride=ly.stride, pad=ly.pad, input_offset=p.input_offset,
                      output_offset=p.output_offset, act_min=p.act_min, act_max=p.act_max,
                      multipliers=p.multiplier, shifts=p.shift)


def s8_reference(p: TrecProblem) -> np.ndarray:
    """The int8 family's exact convolution (``conv_s8_ref``) of the problem."""
    from mcusim.kernels.s8 import conv_s8_ref

    return conv_s8_ref(p.x, p.w, p.bias, s8_params(p))


def _first_seen_slots(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Slot of every row when distinct IDs get slots 0, 1, ... in first-seen order."""
    uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), np.int64)
    rank[np.argsort(first)] = np.arange(len(uniq))
    return rank[inv.ravel()], len(uniq)


def _centroids(xb: np.ndarray, slot: np.ndarray, n: int) -> np.ndarray:
    """Rounded means ``sign(s) * ((|s| + c // 2) // c)`` of the rows of each slot ``< n``."""
    sums = np.zeros((n, xb.shape[1]), np.int64)
    np.add.at(sums, slot, xb)
    cnt = np.bincount(slot, minlength=n)[:n, None].astype(np.int64)
    return np.sign(sums) * ((np.abs(sums) + cnt // 2) // cnt)


def _ids(proj: np.ndarray) -> np.ndarray:
    return ((proj > 0).astype(np.int64) << np.arange(proj.shape[1])).sum(axis=1)


def _tile_blocks(cols: np.ndarray, cfg: TrecConfig) -> Iterator[tuple[slice, slice]]:
    """``(rows, block)``: tiles of ``cfg.tile_rows`` output positions, then sub-vectors of
    ``cfg.sub_len`` columns, in the kernel's order."""
    n, k = cols.shape
    for r0 in range(0, n, cfg.tile_rows):
        rows = slice(r0, min(r0 + cfg.tile_rows, n))
        for k0 in range(0, k, cfg.sub_len):
            yield rows, slice(k0, min(k0 + cfg.sub_len, k))


def trec_conv_ref(p: TrecProblem, cfg: TrecConfig) -> tuple[np.ndarray, TrecStats]:
    """Fixed-point model of ``mnn_trec_conv_s8`` (space-efficient layout), bit-exact.

    Returns
    -------
    tuple
        ``(output int8 [oh, ow, C_out], TrecStats)``.
    """
    acc, stats = trec_conv_acc(p, cfg)
    return finish(p, acc), stats


def trec_conv_acc(p: TrecProblem, cfg: TrecConfig) -> tuple[np.ndarray, TrecStats]:
    """Accumulators ``[positions, C_out]`` (int64, no bias) of :func:`trec_conv_ref`."""
    cols, w2d, nh = im2col(p), p.w2d.astype(np.int64), cfg.hash_bits
    if nh > w2d.shape[0]:
        raise ValueError("kernel reuse needs hash_bits <= C_out")
    acc = np.zeros((cols.shape[0], w2d.shape[0]), np.int64)
    vectors = clusters = overflow = peak = 0
    for rows, blk in _tile_blocks(cols, cfg):
        a = acc[rows]
        xb = cols[rows, blk]
        proj = _mm(xb, w2d[:nh, blk].T)
        a[:, :nh] += proj                      # kernel reuse: exact partial sums
        slot, nslots = _first_seen_slots(_ids(proj))
        inside = slot < cfg.max_clusters
        used = min(nslots, cfg.max_clusters)
        if used:
            prod = _mm(_centroids(xb[inside], slot[inside], used), w2d[nh:, blk].T)
            a[inside, nh:] += prod[slot[inside]]
        if (~inside).any():                    # stack full: exact rows
            a[~inside, nh:] += _mm(xb[~inside], w2d[nh:, blk].T)
        vectors += xb.shape[0]
        clusters += used
        overflow += int((~inside).sum())
        peak = max(peak, used)
    return acc, TrecStats(vectors, clusters, overflow, peak)


def trec_orig_conv_ref(p: TrecProblem, cfg: TrecConfig,
                       hash_matrix: np.ndarray) -> tuple[np.ndarray, TrecStats]:
    """Fixed-point model of ``mnn_trec_conv_orig_s8`` (stored hash matrix ``[H, K]``), bit-exact."""
    cols, w2d = im2col(p), p.w2d.astype(np.int64)
    hm = np.asarray(hash_matrix, np.int64)
    acc = np.zeros((cols.shape[0], w2d.shape[0]), np.int64)
    vectors = clusters = peak = 0
    for rows, blk in _tile_blocks(cols, cfg):
        xb = cols[rows, blk]
        slot, n = _first_seen_slots(_ids(_mm(xb, hm[:, blk].T)))
        acc[rows] += _mm(_centroids(xb, slot, n), w2d[:, blk].T)[slot]
        vectors += xb.shape[0]
        clusters += n
        peak = max(peak, n)
    return finish(p, acc), TrecStats(vectors, clusters, 0, peak)


def trec_conv_float(cols: np.ndarray, w2d: np.ndarray, cfg: TrecConfig,
                    hash_matrix: np.ndarray | None = None) -> tuple[np.ndarray, TrecStats]:
    """Float model of TREC on real-valued im2col rows (no quantisation, exact means).

    With ``hash_matrix=None`` it uses kernel reuse (projections = first H channels, which
    are therefore exact) and the stack capacity/tiling of ``cfg``; otherwise the given
    ``[H, K]`` projections, unbounded clusters and centroids for all channels.

    Parameters
    ----------
    cols
        ``[positions, K]`` float rows.
    w2d
        ``[C_out, K]`` float weights.

    Returns
    -------
    tuple
        ``(accumulators float64 [positions, C_out], TrecStats)``.
    """
    cols = np.asarray(cols, np.float64)
    w = np.asarray(w2d, np.float64)
    reuse = hash_matrix is None
    nh = cfg.hash_bits if reuse else 0
    cap = cfg.max_clusters if reuse else np.inf
    acc = np.zeros((cols.shape[0], w.shape[0]))
    vectors = clusters = overflow = peak = 0
    for rows, blk in _tile_blocks(cols, cfg):
        a = acc[rows]
        xb = cols[rows, blk]
        hm = w[:cfg.hash_bits, blk] if reuse else np.asarray(hash_matrix, np.float64)[:, blk]
        proj = xb @ hm.T
        if reuse:
            a[:, :nh] += proj
        slot, nslots = _first_seen_slots(_ids(proj))
        inside = slot < cap
        used = int(min(nslots, cap))
        if used:
            sums = np.zeros((used, xb.shape[1]))
            np.add.at(sums, slot[inside], xb[inside])
            mean = sums / np.bincount(slot[inside], minlength=used)[:, None]
            a[inside, nh:] += (mean @ w[nh:, blk].T)[slot[inside]]
        a[~inside, nh:] += xb[~inside] @ w[nh:, blk].T
        vectors += xb.shape[0]
        clusters += used
        overflow += int((~inside).sum())
        peak = max(peak, used)
    return acc, TrecStats(vectors, clusters, overflow, peak)


def get_buffer_size(layer: Layer, cfg: TrecConfig, layout: Layout = "space") -> int:
    """Mirror of ``mnn_trec_conv_s8_get_buffer_size`` / ``..._orig_...`` (bytes)."""
    def a4(n: int) -> int:
        return (n + 3) & ~3
    rows, cout, lp = cfg.tile_rows, layer.out_c, (cfg.sub_len + 1) & ~1
    common = rows * cout * 4 + rows * lp * 2 + a4(rows * 2) + lp * 2
    if layout == "space":
        if cfg.hash_bits > cout:
            return 0
        s = cfg.max_clusters
        slot_words = max(cfg.sub_len, cout - cfg.hash_bits)
        return common + a4((1 << cfg.hash_bits) * 2) + a4(s * 2) + s * 4 + s * slot_words * 4
    if layout == "orig":
        return common + (1 << cfg.hash_bits) * (cout + 1 + cfg.sub_len) * 4
    raise ValueError(f"unknown layout {layout!r}")


@dataclass
class TrecRun:
    """Result of :func:`run_trec_conv`.

    ``output`` int8 ``[oh, ow, C_out]``; ``result`` the machine's CallResult; ``stats`` the
    kernel's cluster statistics; ``scratch_bytes`` the C ``get_buffer_size``;
    ``scratch_used`` the measured high-water mark of the scratch buffer.
    """

    output: np.ndarray
    result: Any
    stats: TrecStats
    scratch_bytes: int
    scratch_used: int
    status: int


def build_trec(board: Any, *, plain_c: bool = False) -> Path:
    """ELF of the ``trec`` family for ``board`` (DSP path unless ``plain_c``)."""
    from mcusim.kernels.firmware import build_family

    return build_family(board, "trec", plain_c=plain_c)


def run_trec_conv(m: Any, p: TrecProblem, cfg: TrecConfig, layout: Layout = "space", *,
                  hash_matrix: np.ndarray | None = None, budget: int = 2_000_000_000) -> TrecRun:
    """Run a TREC kernel under emulation on machine ``m`` (built from the ``trec`` family).

    Weights, bias, quantisation and the hash matrix go to Flash (as deployed), the input,
    output, structs and scratch to SRAM.  The scratch is filled with ``0xA5`` and its
    high-water mark measured after the call.  Host buffers are freed first.

    Raises
    ------
    RuntimeError
        When the kernel returns a status other than ``MNN_OK``.
    """
    kernel, sizer = SYMBOLS[layout]
    m.free_all()
    conv = m.place(p.conv_words(), region="ram")
    tp = m.place(cfg.words(), region="ram")
    size = int(m.call(sizer, conv, tp).return_value)
    mult = m.place(np.asarray(p.multiplier, np.int32), region="flash")
    shift = m.place(np.asarray(p.shift, np.int32), region="flash")
    qp = m.place(np.array([mult, shift], dtype=np.uint32).view(np.int32), region="ram")
    x = m.place(np.ascontiguousarray(p.x, np.int8), region="ram")
    w = m.place(np.ascontiguousarray(p.w, np.int8), region="flash")
    b = m.place(np.asarray(p.bias, np.int32), region="flash")
    out = m.alloc(p.layer.out_h * p.layer.out_w * p.layer.out_c, region="ram", fill=0)
    st = m.alloc(16, region="ram", fill=0)
    scratch = m.alloc(max(size, 4), region="ram", fill=0xA5)
    ctx = m.place(np.array([scratch, size], dtype=np.uint32).view(np.int32), region="ram")
    if layout == "space":
        r = m.call(kernel, ctx, conv, tp, qp, x, w, b, out, st, budget=budget)
    else:
        if hash_matrix is None:
            raise ValueError("the original layout needs a hash matrix")
        hm = m.place(np.ascontiguousarray(hash_matrix, np.int8), region="flash")
        r = m.call(kernel, ctx, conv, tp, qp, x, w, b, hm, out, st, budget=budget)
    if r.return_value != 0:
        raise RuntimeError(f"{kernel} returned status {r.return_value}")
    y = m.read(out, p.layer.out_h * p.layer.out_w * p.layer.out_c, np.int8)
    s = TrecStats(*(int(v) for v in m.read(st, 4, np.int32)))
    used = int(m.high_water(scratch, size, fill=0xA5))
    return TrecRun(y.reshape(p.layer.out_h, p.layer.out_w, p.layer.out_c), r, s, size, used,
                   int(r.return_value))
