"""Packed low-bit kernels (MCUQ LiteEngine style): layout, scheme selection, numpy reference
and emulated calls.

Values are unsigned ``b``-bit integers (``b`` in {2, 4, 8}); activations carry a zero point,
weights the fixed offset ``2^(b_w-1)`` (symmetric).  Tensors are dense little-endian bit
streams (:func:`pack_values`); weight rows are permuted inside blocks so that one AND puts
them into the multiply lanes (:func:`pack_weights`).  Two strategies compute the unsigned
dot product: ``"mul"`` (operand packing, several products per MUL/UMLAL, lanes drained before
the proven bound :func:`max_run`) and ``"smlad"`` (unpack to 16-bit lanes + SMLAD).  The layout
and the proof are documented in ``firmware/include/mnn_packed.h``.

Examples
--------
>>> s = select_scheme(2, 2)
>>> (s.lane_bits, s.lanes, s.max_run, s.drain_blocks)
(8, 4, 7, 1)
>>> unpack_values(pack_values(np.array([1, 2, 3, 0, 3]), 2), 2, 5).tolist()
[1, 2, 3, 0, 3]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mcusim.kernels.layers import Layer
from mcusim.kernels.quant import quantize_multipliers, requantize

if TYPE_CHECKING:  # pragma: no cover
    from mcusim.machine import Machine

BITS: tuple[int, ...] = (2, 4, 8)
PAIRS: tuple[tuple[int, int], ...] = tuple((bw, ba) for bw in BITS for ba in BITS)
STRATEGIES: tuple[str, ...] = ("mul", "smlad")
LAYER_WORDS = 23  # int32 words of mnn_packed_layer
SCHEME_WORDS = 7  # int32 words of mnn_packed_scheme
_SYMBOLS = {
    ("fc", "mul"): "mnn_fully_connected_packed_lb",
    ("fc", "smlad"): "mnn_fully_connected_smlad_lb",
    ("conv", "mul"): "mnn_convolve_packed_lb",
    ("conv", "smlad"): "mnn_convolve_smlad_lb",
}


def max_value(bits: int) -> int:
    """Largest unsigned ``bits``-bit value."""
    return (1 << bits) - 1


# --------------------------------------------------------------------------- schemes
@dataclass(frozen=True)
class Scheme:
    """A packing scheme; field for field the C ``mnn_packed_scheme``.

    Attributes
    ----------
    lane_bits
        Lane width ``s``.
    lanes
        Lanes ``n`` (products per multiply).
    wide
        1 when the product is 64-bit (UMLAL), else 0.
    max_run
        ``R_max = floor((2^s - 1) / (n M))``, ``M = (2^b_a - 1)(2^b_w - 1)``.
    block_values
        ``V = 32 / min(b_w, b_a)`` values per unrolled block.
    block_mults
        ``V / n`` multiplies per block.
    drain_blocks
        Blocks between drains, ``floor(R_max / block_mults)`` (0: drain every multiply).
    """

    lane_bits: int
    lanes: int
    wide: int
    max_run: int
    block_values: int
    block_mults: int
    drain_blocks: int

    def as_tuple(self) -> tuple[int, ...]:
        """The seven fields in C order."""
        return (self.lane_bits, self.lanes, self.wide, self.max_run, self.block_values,
                self.block_mults, self.drain_blocks)


def max_run(lane_bits: int, lanes: int, w_bits: int, a_bits: int) -> int:
    """Packed products that can be summed before lane ``n-1`` may overflow.

    Parameters
    ----------
    lane_bits, lanes
        ``s`` and ``n``.
    w_bits, a_bits
        Operand widths.

    Returns
    -------
    int
        ``floor((2^s - 1) / (n (2^b_a - 1)(2^b_w - 1)))`` (0 when one product already overflows).
    """
    return ((1 << lane_bits) - 1) // (lanes * max_value(w_bits) * max_value(a_bits))


def _candidates(w_bits: int, a_bits: int) -> list[tuple[int, int, int]]:
    """Lane layouts one AND can extract from a dense word: ``(s, n, wide)``."""
    out = [(8, 4, 0), (16, 2, 0)]
    if w_bits == 8 and a_bits == 8:  # bytes (0, 3) and (2, 1) are 24 bits apart
        out.append((24, 2, 1))
    return out


def select_scheme(w_bits: int, a_bits: int) -> Scheme:
    """Scheme of a bit-width pair, mirrored from the C table ``MNN_PK_SCHEMES``.

    Among the extractable layouts that hold at least one product per lane, maximise the
    products per multiply ``n``, then the run between drains, then prefer a 32-bit product.

    Raises
    ------
    ValueError
        For bit widths outside {2, 4, 8}.
    """
    if w_bits not in BITS or a_bits not in BITS:
        raise ValueError(f"unsupported bit widths w{w_bits}a{a_bits}; use 2, 4 or 8")
    feasible = [(n, max_run(s, n, w_bits, a_bits), -wide, s)
                for s, n, wide in _candidates(w_bits, a_bits) if max_run(s, n, w_bits, a_bits) >= 1]
    n, run, neg_wide, s = max(feasible)
    v = 32 // min(w_bits, a_bits)
    mb = v // n
    return Scheme(s, n, -neg_wide, run, v, mb, run // mb)


def drain_interval(w_bits: int, a_bits: int) -> int:
    """Multiplies the ``"mul"`` kernel sums between two drains (``<= max_run``)."""
    s = select_scheme(w_bits, a_bits)
    return s.drain_blocks * s.block_mults if s.drain_blocks else 1


def lane_map(bits: int, lane_bits: int, wide: int) -> list[list[int]]:
    """In-word value indices per sub-register and lane.

    ``lane_map(b, s, wide)[t][l]`` is the index (within one 32-bit word of ``b``-bit values)
    of the value that sub-register ``t`` (``(x >> b t) & mask``, or ``ror(x, 16 t) & 0xFF0000FF``
    when wide) holds in lane ``l``.
    """
    if wide:
        return [[0, 3], [2, 1]]
    sub = lane_bits // bits
    return [[t + sub * lane for lane in range(32 // lane_bits)] for t in range(sub)]


def weight_permutation(w_bits: int, a_bits: int, strategy: str) -> np.ndarray:
    """Permutation of one weight block: ``stored[j] = logical[perm[j]]``.

    Parameters
    ----------
    w_bits, a_bits
        The bit-width pair.
    strategy
        ``"mul"`` (weight lane ``l`` meets activation lane ``n-1-l``) or ``"smlad"`` (lane ``l``).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use {STRATEGIES}")
    if strategy == "mul":
        sch = select_scheme(w_bits, a_bits)
        s, n, wide = sch.lane_bits, sch.lanes, sch.wide
    else:
        s, n, wide = 16, 2, 0
    v = 32 // min(w_bits, a_bits)
    amap, wmap = lane_map(a_bits, s, wide), lane_map(w_bits, s, wide)
    perm = np.full(v, -1, dtype=np.int64)
    for m in range(v // n):
        a_word, a_sub = divmod(m, len(amap))
        w_word, w_sub = divmod(m, len(wmap))
        for lane in range(n):
            a_lane = n - 1 - lane if strategy == "mul" else lane
            act = a_word * (32 // a_bits) + amap[a_sub][a_lane]
            perm[w_word * (32 // w_bits) + wmap[w_sub][lane]] = act
    return perm


# --------------------------------------------------------------------------- storage
def block_values(w_bits: int, a_bits: int) -> int:
    """Values per block of the pair, ``V = 32 / min(b_w, b_a)``."""
    return 32 // min(w_bits, a_bits)


def row_bytes(k: int, bits: int, w_bits: int, a_bits: int) -> int:
    """Bytes of a row of ``k`` ``bits``-bit values padded to whole blocks of the pair
    (mirror of ``mnn_packed_row_bytes``)."""
    v = block_values(w_bits, a_bits)
    return -(-k // v) * v * bits // 8


def pack_values(values: npt.ArrayLike, bits: int) -> np.ndarray:
    """Pack unsigned values densely: value ``i`` at bits ``[bits i, bits i + bits)``.

    Returns
    -------
    numpy.ndarray
        uint8 array of ``ceil(len * bits / 8)`` bytes.
    """
    v = np.asarray(values, dtype=np.int64).ravel()
    if v.size and (v.min() < 0 or v.max() > max_value(bits)):
        raise ValueError(f"values out of range for {bits} bits")
    per = 8 // bits
    padded = np.zeros(-(-v.size // per) * per, dtype=np.int64)
    padded[:v.size] = v
    shifts = np.arange(per, dtype=np.int64) * bits
    return (padded.reshape(-1, per) << shifts).sum(axis=1).astype(np.uint8)


def unpack_values(buf: npt.ArrayLike, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_values`: the first ``count`` values as int64."""
    b = np.asarray(buf, dtype=np.uint8).astype(np.int64)
    shifts = np.arange(8 // bits, dtype=np.int64) * bits
    return ((b[:, None] >> shifts) & max_value(bits)).ravel()[:count]


def pack_weights(w_u: npt.ArrayLike, w_bits: int, a_bits: int, strategy: str) -> np.ndarray:
    """Weight rows ``[N, K]`` (unsigned) in the kernel layout of ``strategy``.

    Each row: ``ceil(K / V)`` blocks permuted by :func:`weight_permutation`, the last one
    padded with zero weights.  Returns uint8 ``[N * row_bytes(K, w_bits, w_bits, a_bits)]``.
    """
    w = np.asarray(w_u, dtype=np.int64)
    n, k = w.shape
    v = block_values(w_bits, a_bits)
    perm = weight_permutation(w_bits, a_bits, strategy)
    padded = np.zeros((n, -(-k // v) * v), dtype=np.int64)
    padded[:, :k] = w
    blocks = padded.reshape(n, -1, v)[:, :, perm].reshape(n, -1)
    return np.concatenate([pack_values(row, w_bits) for row in blocks])


# --------------------------------------------------------------------------- reference
def correction(w_u: npt.ArrayLike, bias: npt.ArrayLike, input_zero_point: int,
               w_bits: int) -> np.ndarray:
    """``bias[o] - z_a sum_k w_u[o,k] + K z_a 2^(b_w-1)`` as int32 (the C ``correction``)."""
    w = np.asarray(w_u, dtype=np.int64)
    k = w.shape[1]
    c = 1 << (w_bits - 1)
    corr = np.asarray(bias, dtype=np.int64) - input_zero_point * w.sum(axis=1) + k * input_zero_point * c
    return corr.astype(np.int32)


def packed_dot(a: npt.ArrayLike, w: npt.ArrayLike, w_bits: int, a_bits: int,
               run: int | None = None) -> int:
    """The ``"mul"`` kernel's dot product in numpy, lane arithmetic and register wrap included.

    The operands are zero-padded to whole blocks (as the kernels' rows are), consecutive
    groups of ``n`` values are packed (``A = sum a_i 2^(s i)``, weights reversed), multiplied
    modulo the register width and drained every ``run`` multiplies (default: the kernel's
    :func:`drain_interval`); a too long ``run`` reproduces the overflow.
    """
    sch = select_scheme(w_bits, a_bits)
    s, n = sch.lane_bits, sch.lanes
    width = 64 if sch.wide else 32
    run = drain_interval(w_bits, a_bits) if run is None else run
    size = -(-np.size(a) // sch.block_values) * sch.block_values
    av = [0] * size
    wv = [0] * size
    av[:np.size(a)] = [int(x) for x in np.ravel(a)]
    wv[:np.size(w)] = [int(x) for x in np.ravel(w)]
    acc, p = 0, 0
    groups = size // n
    for g in range(groups):
        pa = sum(av[g * n + i] << (s * i) for i in range(n))
        pw = sum(wv[g * n + j] << (s * (n - 1 - j)) for j in range(n))
        p = (p + pa * pw) % (1 << width)
        if (g + 1) % run == 0 or g == groups - 1:
            acc += (p >> (s * (n - 1))) & ((1 << s) - 1)
            p = 0
    return acc


def accumulators(a_rows: np.ndarray, w_u: np.ndarray, corr: np.ndarray, w_bits: int) -> np.ndarray:
    """``corr[o] + sum a_u w_u - 2^(b_w-1) sum a_u`` for im2col rows ``[P, K]`` -> ``[P, N]`` int64."""
    a = a_rows.astype(np.int64)
    dots = a @ w_u.astype(np.int64).T
    return corr.astype(np.int64)[None, :] + dots - (a.sum(axis=1, keepdims=True) << (w_bits - 1))


def im2col(x: np.ndarray, layer: Layer, pad_value: int) -> np.ndarray:
    """im2col rows ``[H_out W_out, kh kw C_in]`` of an ``[H, W, C]`` tensor (padding = ``pad_value``)."""
    p = layer.pad
    xp = np.pad(x, ((p, p), (p, p), (0, 0)), constant_values=pad_value)
    rows = np.empty((layer.out_h, layer.out_w, layer.kh, layer.kw, layer.in_c), dtype=x.dtype)
    for ky in range(layer.kh):
        for kx in range(layer.kw):
            rows[:, :, ky, kx, :] = xp[ky:ky + layer.stride * layer.out_h:layer.stride,
                                       kx:kx + layer.stride * layer.out_w:layer.stride, :]
    return rows.reshape(layer.out_h * layer.out_w, -1)


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class PackedProblem:
    """One layer's data for a packed kernel (all values unsigned; see the module docstring).

    Attributes
    ----------
    layer
        Shape (``kind`` ``"fc"`` or ``"conv"``; ``fc`` uses ``in_c = K``, ``out_c = N``).
    w_bits, a_bits, out_bits
        Bit widths.
    x
        Input ``[H, W, C_in]`` (``[1, 1, K]`` for fc), int64 in ``[0, 2^a_bits)``.
    w
        Weights ``[N, K]`` (im2col order ``[kh, kw, C_in]``), int64 in ``[0, 2^w_bits)``.
    bias, multiplier, shift
        int32 per output channel.
    input_zero_point, output_zero_point, act_min, act_max
        Zero points and output clamp.
    """

    layer: Layer
    w_bits: int
    a_bits: int
    out_bits: int
    x: np.ndarray
    w: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int

    @property
    def correction(self) -> np.ndarray:
        """The precomputed C ``correction`` term."""
        return correction(self.w, self.bias, self.input_zero_point, self.w_bits)

    def rows(self) -> np.ndarray:
        """im2col rows ``[P, K]`` (one row for fc)."""
        if self.layer.kind == "fc":
            return self.x.reshape(1, -1)
        return im2col(self.x, self.layer, self.input_zero_point)

    def reference(self) -> np.ndarray:
        """Expected output values ``[P * N]`` (NHWC order), the kernel's integer arithmetic."""
        acc = accumulators(self.rows(), self.w, self.correction, self.w_bits)
        acc32 = ((acc + (1 << 31)) % (1 << 32)) - (1 << 31)
        out = requantize(acc32, self.multiplier[None, :], self.shift[None, :]).astype(np.int64)
        return np.clip(out + self.output_zero_point, self.act_min, self.act_max).ravel()

    @property
    def weight_bytes(self) -> int:
        """Bytes of the packed weights in Flash."""
        return self.layer.out_c * row_bytes(self.layer.k, self.w_bits, self.w_bits, self.a_bits)

    @property
    def constant_bytes(self) -> int:
        """Flash bytes of weights plus per-channel correction, multiplier and shift."""
        return self.weight_bytes + 12 * self.layer.out_c

    @property
    def activation_bytes(self) -> int:
        """Bytes of the packed input plus output activations in SRAM."""
        outs = self.layer.out_h * self.layer.out_w * self.layer.out_c
        return -(-self.x.size * self.a_bits // 8) + -(-outs * self.out_bits // 8)


def make_problem(layer: Layer, w_bits: int, a_bits: int, rng: np.random.Generator, *,
                 out_bits: int | None = None, worst_case: bool = False) -> PackedProblem:
    """Random (or worst-case) data for ``layer`` at the given bit widths.

    Parameters
    ----------
    layer
        ``"fc"`` or ``"conv"`` layer.
    w_bits, a_bits
        Operand widths; ``out_bits`` defaults to ``a_bits``.
    rng
        Random generator.
    worst_case
        All-max operands (``2^b - 1``), input zero point 0 and an identity requantisation
        whose bias puts the exact accumulator at a distinct in-range value per channel, so
        that any error of the dot product changes the output.
    """
    if layer.kind not in ("fc", "conv"):
        raise ValueError(f"packed kernels support fc and conv layers, not {layer.kind!r}")
    out_bits = a_bits if out_bits is None else out_bits
    shape = (layer.in_h, layer.in_w, layer.in_c)
    n, k = layer.out_c, layer.k
    omax = max_value(out_bits)
    if worst_case:
        x = np.full(shape, max_value(a_bits), dtype=np.int64)
        w = np.full((n, k), max_value(w_bits), dtype=np.int64)
        mult = np.full(n, 1 << 30, dtype=np.int32)  # 2^30 * 2^1 / 2^31 = 1
        shift = np.ones(n, dtype=np.int32)
        base = _plain_problem(layer, w_bits, a_bits, out_bits, x, w, mult, shift)
        exact = accumulators(base.rows()[:1], w, base.correction, w_bits)[0]
        target = (np.arange(n) % (omax + 1)).astype(np.int64)
        bias = (target - exact).astype(np.int32)
        return replace(base, bias=bias)
    x = rng.integers(0, max_value(a_bits) + 1, size=shape, dtype=np.int64)
    w = rng.integers(0, max_value(w_bits) + 1, size=(n, k), dtype=np.int64)
    z_a = int(rng.integers(0, max_value(a_bits) + 1))
    spread = 3.0 * np.sqrt(k) * (2 ** a_bits) * (2 ** w_bits) / 12.0 + 1.0
    real = (omax + 1) / (2.0 * spread) * rng.uniform(0.5, 1.5, size=n)
    mult, shift = quantize_multipliers(real)
    bias = rng.integers(-int(spread), int(spread) + 1, size=n).astype(np.int32)
    z_out = (omax + 1) // 2
    lo = int(rng.integers(0, z_out + 1)) if rng.random() < 0.5 else 0
    return PackedProblem(layer, w_bits, a_bits, out_bits, x, w, bias, mult, shift, z_a, z_out,
                         lo, omax)


def _plain_problem(layer: Layer, w_bits: int, a_bits: int, out_bits: int, x: np.ndarray,
                 w: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> PackedProblem:
    """A problem with zero bias, zero points 0 and the full output range (worst-case helper)."""
    return PackedProblem(layer, w_bits, a_bits, out_bits, x, w, np.zeros(len(mult), np.int32),
                         mult, shift, 0, 0, 0, max_value(out_bits))


# --------------------------------------------------------------------------- emulation
def layer_struct(p: PackedProblem) -> np.ndarray:
    """The C ``mnn_packed_layer`` of a problem as 23 int32 words."""
    ly = p.layer
    words = np.array([1, ly.in_h, ly.in_w, ly.in_c,
                     ly.out_c, ly.kh, ly.kw, ly.in_c,
                     1, ly.out_h, ly.out_w, ly.out_c,
                     ly.stride, ly.stride, ly.pad, ly.pad,
                     p.w_bits, p.a_bits, p.out_bits, p.input_zero_point, p.output_zero_point,
                     p.act_min, p.act_max], dtype=np.int32)
    assert words.size == LAYER_WORDS
    return words


def conv_buffer_size(layer: Layer, w_bits: int, a_bits: int) -> int:
    """Scratch bytes of the convolution kernels, one im2col row in whole blocks (mirror of
    ``mnn_convolve_*_lb_get_buffer_size``; 0 for fully connected layers)."""
    return row_bytes(layer.k, a_bits, w_bits, a_bits) if layer.kind == "conv" else 0


def symbol(kind: str, strategy: str) -> str:
    """C symbol of the ``kind`` (``"fc"``/``"conv"``) kernel of ``strategy``."""
    try:
        return _SYMBOLS[(kind, strategy)]
    except KeyError:
        raise ValueError(f"no packed kernel for {kind!r} / {strategy!r}") from None


@dataclass
class PackedRun:
    """Output of one emulated kernel call.

    Attributes
    ----------
    output
        Unpacked output values (int64, NHWC order).
    result
        The :class:`mcusim.machine.CallResult`.
    status
        The kernel's return status (0 = ``MNN_OK``).
    scratch_bytes
        Scratch given to the kernel.
    raw
        The packed output bytes as read back.
    """

    output: np.ndarray
    result: Any
    status: int
    scratch_bytes: int
    raw: np.ndarray


def run_kernel(m: Machine, p: PackedProblem, strategy: str, *, scratch_bytes: int | None = None,
               budget: int = 2_000_000_000) -> PackedRun:
    """Run the fc or conv kernel of ``strategy`` on ``p`` under emulation.

    Weights, corrections and requantisation constants go to Flash (as deployed);
    activations, scratch and output to SRAM.  The
    machine's host buffers are freed first.

    Parameters
    ----------
    m
        A :class:`mcusim.machine.Machine` loaded with the packed family's ELF.
    p
        The problem.
    strategy
        ``"mul"`` or ``"smlad"``.
    scratch_bytes
        Scratch given to a convolution (default :func:`conv_buffer_size`; tests of the
        error path pass less).
    budget
        Instruction budget of the call.
    """
    m.free_all()
    kind = p.layer.kind
    outs = p.layer.out_h * p.layer.out_w * p.layer.out_c
    layer = m.place(layer_struct(p), region="ram")
    mult = m.place(p.multiplier.astype(np.int32), region="flash")
    shift = m.place(p.shift.astype(np.int32), region="flash")
    quant = m.place(np.array([mult, shift], dtype=np.uint32), region="ram")
    x = m.place(pack_values(p.x, p.a_bits), region="ram")
    w = m.place(pack_weights(p.w, p.w_bits, p.a_bits, strategy), region="flash")
    corr = m.place(p.correction, region="flash")
    out_len = -(-outs * p.out_bits // 8)
    out = m.alloc(out_len, region="ram", fill=0xA5)
    scratch = conv_buffer_size(p.layer, p.w_bits, p.a_bits) if scratch_bytes is None else scratch_bytes
    if scratch:
        buf = m.alloc(scratch, region="ram", fill=0xA5)
        ctx = m.place(np.array([buf, scratch], dtype=np.uint32), region="ram")
    else:
        ctx = m.place(np.array([0, 0], dtype=np.uint32), region="ram")
    r = m.call(symbol(kind, strategy), ctx, layer, quant, x, w, corr, out, budget=budget)
    raw = m.read(out, out_len, np.uint8).copy()
    return PackedRun(unpack_values(raw, p.out_bits, outs), r, int(r.return_value), scratch, raw)


def get_scheme(m: Machine, w_bits: int, a_bits: int) -> tuple[int, tuple[int, ...]]:
    """Call ``mnn_packed_get_scheme`` under emulation: ``(status, the seven fields)``."""
    buf = m.alloc(4 * SCHEME_WORDS, region="ram", fill=0)
    r = m.call("mnn_packed_get_scheme", w_bits, a_bits, buf)
    return int(r.return_value), tuple(int(v) for v in m.read(buf, SCHEME_WORDS, np.int32))


def get_buffer_size(m: Machine, p: PackedProblem, strategy: str) -> int:
    """Call the conv kernel's ``..._get_buffer_size`` under emulation."""
    name = "mnn_convolve_packed_lb_get_buffer_size" if strategy == "mul" \
        else "mnn_convolve_smlad_lb_get_buffer_size"
    layer = m.place(layer_struct(p), region="ram")
    return int(m.call(name, layer).return_value)


def build(board: Any, *, plain_c: bool = False) -> Any:
    """ELF of the packed family for ``board`` (``firmware/packed/*.c``)."""
    from mcusim.kernels.firmware import build_family

    return build_family(board, "packed", plain_c=plain_c)
