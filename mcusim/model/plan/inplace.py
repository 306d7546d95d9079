"""Which operators may write their output over an input (in-place execution, as TinyEngine),
and how far the output may overlap the input when it cannot sit exactly on it.

An operator runs *in place* when its output tensor is given bytes of one of its inputs: at
the same offset (``shift`` 0) or starting ``-shift`` bytes below it so that the two
overlap. That is safe only if the kernel never reads an input byte after it has written the
output byte at the same address. Each rule below was checked against the loop order of the
kernel in ``firmware/s8`` that the runner calls (through the wrappers), and is tested under
emulation in ``tests/test_plan.py``.

Exactly in place (``shift`` 0):

``reshape``
    No kernel: the output *is* the input (same bytes, another shape). Always aliased.
``add`` (``mnn_elementwise_add_s8``)
    Element ``i`` of the output is written after element ``i`` (on the DSP path the word
    ``i..i+3``) of both inputs is read, and never read again: either input's buffer.
``softmax`` (``mnn_softmax_s8``)
    Per row: the maximum, the sum of exponentials, then ``out[c]`` from ``in[c]`` in
    increasing ``c``; each row reads only itself.
``maxpool`` / ``avgpool`` / ``dwconv`` (``mnn_max_pool_s8``, ``mnn_avg_pool_s8``,
``mnn_depthwise_conv_s8`` / ``..._3x3_s8``)
    Output pixels are written in raster order ``k = oy * OW + ox``, each after its window
    has been read (per channel or per group of four channels; the avgpool DSP path reads the
    whole window into the int32 scratch first). With equal channel counts output pixel ``k``
    overwrites input pixel ``k``, so the operator is exactly in place iff every output pixel's
    clipped window starts at or after input pixel ``k``:
    ``first(k) = max(oy*sh - pad_top, 0) * W + max(ox*sw - pad_left, 0) >= k``
    (:func:`window_in_place_safe`): VALID windows, global pooling, SAME with stride 2.

Overlapping from below (``shift < 0``), from a model of each kernel as *phases* in execution
order, each reading input bytes from ``lo_read`` upwards and writing output bytes below
``hi_write``: the output may start at ``shift`` relative to the input iff no phase writes a
byte that it or a later phase still reads, i.e. ``shift <= lo_read(q) - hi_write(p)`` for
every phase ``p`` and every later phase ``q`` (``q >= p`` when a phase interleaves its reads
and writes, ``q > p`` when it reads everything first). The largest such shift, rounded down
to the alignment, is used:

``maxpool`` / ``avgpool`` / ``dwconv``
    One interleaved phase per output pixel: reads from ``first(k) * C``, writes below
    ``(k + 1) * C``. SAME 3x3 stride 1 gives about ``-(W + 2) * C``: the output overlaps all
    of the input but a row and two pixels.
``conv`` generic (``mnn_convolve_s8``)
    im2col of two output pixels into the scratch, then their outputs from the scratch: one
    read-first phase per pair (and the last odd pixel), reading from the pair's lowest window
    start, writing below the end of its second pixel.
``conv`` 1x1 (``mnn_convolve_1x1_s8`` / ``mnn_nn_mat_mult_s8``)
    Two input pixels (rows) are read again for every pair of output channels while their
    outputs are written: one interleaved phase per pair of output pixels (pairs restart on
    every output row when strided; a last odd pixel goes to ``mnn_nn_vec_mat_mult_s8``, the
    same pattern).
``fc``
    Every output reads the whole input: the output could only sit right below the input,
    which saves nothing; not offered.
``dwconv`` exactly in place with SAME padding and stride 1
    Needs TinyEngine's channel-by-channel depthwise kernel (each input channel copied to a
    one-channel temporary buffer, the output channel written over it), which ``firmware/s8``
    does not have; the overlapping placement above is used instead.

Only ``s8`` kernels are considered; ``packed`` and ``trec`` layers never run in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mcusim.kernels.s8_params import uses_1x1_path
from mcusim.model.plan._base import DEFAULT_ALIGNMENT, align_up

__all__ = ["InPlaceOption", "SOFTMAX_IN_PLACE", "conv_shift", "inplace_options", "overlap_saving",
           "window_in_place_safe", "window_shift"]

#: Whether ``mnn_softmax_s8`` was checked to be safe with its output over its input (its
#: loop order, above; tested under emulation).
SOFTMAX_IN_PLACE = True


@dataclass(frozen=True)
class InPlaceOption:
    """Whether operator ``op`` may write its output over input tensor ``tensor``.

    ``shift`` is the output's offset minus the input's (0: exactly in place; negative: the
    output starts below the input and overlaps it). ``saved`` is the bytes saved at the
    operator against separate buffers. ``applicable`` says if the kernel allows a placement
    that saves bytes; ``reason`` says why (or why not). Whether the input is dead by then
    depends on the operator order and is decided by the planner.
    """

    op: int
    kind: str
    tensor: int
    applicable: bool
    reason: str
    shift: int = 0
    saved: int = 0


# ----------------------------------------------------------------------------- geometry
def _first(in_hw: tuple[int, int], out_hw: tuple[int, int], stride: tuple[int, int],
           pad_top_left: tuple[int, int]) -> np.ndarray:
    """Flat index of the first input pixel of each output pixel's clipped window."""
    oy, ox = np.meshgrid(np.arange(out_hw[0]), np.arange(out_hw[1]), indexing="ij")
    y0 = np.maximum(oy * stride[0] - pad_top_left[0], 0)
    x0 = np.maximum(ox * stride[1] - pad_top_left[1], 0)
    return (y0 * in_hw[1] + x0).reshape(-1)


def window_in_place_safe(in_hw: tuple[int, int], out_hw: tuple[int, int],
                         stride: tuple[int, int], pad_top_left: tuple[int, int]) -> bool:
    """The exact-in-place condition ``first(k) >= k`` of a raster-order windowed kernel with
    equal input and output channel counts."""
    first = _first(in_hw, out_hw, stride, pad_top_left)
    return bool(np.all(first >= np.arange(first.size)))


def _max_shift(lo_read: np.ndarray, hi_write: np.ndarray, *, interleaved: bool) -> int:
    """Largest ``shift`` with ``shift + hi_write[p] <= lo_read[q]`` for all ``q >= p``
    (interleaved) or ``q > p`` (reads first)."""
    suffix = np.minimum.accumulate(lo_read[::-1])[::-1]
    if not interleaved:
        suffix = np.append(suffix[1:], np.iinfo(np.int64).max // 2)
    return int(np.min(suffix - hi_write))


def window_shift(in_hw: tuple[int, int], out_hw: tuple[int, int], stride: tuple[int, int],
                 pad_top_left: tuple[int, int], channels: int) -> int:
    """Largest safe output shift (bytes, <= 0) of a raster-order windowed kernel
    (pooling, depthwise), one interleaved phase per output pixel; 0 when exactly in place."""
    if window_in_place_safe(in_hw, out_hw, stride, pad_top_left):
        return 0
    first = _first(in_hw, out_hw, stride, pad_top_left).astype(np.int64)
    k = np.arange(first.size, dtype=np.int64)
    return min(0, _max_shift(first * channels, (k + 1) * channels, interleaved=True))


def conv_shift(in_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel_hw: tuple[int, int],
               stride: tuple[int, int], padding: tuple[int, int, int, int]) -> int:
    """Largest safe output shift (bytes, <= 0) of the s8 convolution the wrapper picks."""
    _, h, w, cin = in_shape
    _, oh, ow, cout = out_shape
    if uses_1x1_path(kernel_hw[0], kernel_hw[1], padding):
        src = (np.arange(oh)[:, None] * stride[0] * w + np.arange(ow)[None, :] * stride[1])
        src = src.reshape(-1).astype(np.int64)
        if stride == (1, 1):
            pair = np.arange(oh * ow) // 2                  # one mat_mult over all pixels
        else:
            pix = np.arange(ow) // 2                        # one mat_mult per output row
            pair = (np.arange(oh)[:, None] * ((ow + 1) // 2) + pix[None, :]).reshape(-1)
        interleaved = True
    else:
        src = _first((h, w), (oh, ow), stride, (padding[0], padding[1])).astype(np.int64)
        pair = np.arange(oh * ow) // 2                      # im2col of two pixels
        interleaved = False
    n = int(pair.max()) + 1
    lo = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    np.minimum.at(lo, pair, src * cin)
    hi = np.zeros(n, dtype=np.int64)
    np.maximum.at(hi, pair, (np.arange(oh * ow, dtype=np.int64) + 1) * cout)
    return min(0, _max_shift(lo, hi, interleaved=interleaved))


def overlap_saving(x_bytes: int, y_bytes: int, shift: int) -> int:
    """Bytes saved by the output at ``shift`` from the input against separate buffers."""
    union = max(x_bytes, shift + y_bytes) - min(0, shift)
    return x_bytes + y_bytes - union


# ----------------------------------------------------------------------------- options
def inplace_options(graph: Any, *, alignment: int = DEFAULT_ALIGNMENT) -> list[InPlaceOption]:
    """Every (operator, input) pair that could run in place, applicable or not, with why.

    Shifts are rounded down to multiples of ``alignment`` (offsets stay aligned).
    """
    opts: list[InPlaceOption] = []
    for i, op in enumerate(graph.operators):
        x = op.inputs[0]
        if op.kind == "reshape":
            opts.append(InPlaceOption(i, op.kind, x, True, "reshape aliases its input"))
            continue
        if op.kernel.family != "s8":
            if op.kind in ("add", "maxpool", "avgpool", "dwconv", "softmax", "conv"):
                opts.append(InPlaceOption(i, op.kind, x, False,
                                          f"{op.kernel.family} kernels are not checked "
                                          "for in-place use"))
            continue
        y_bytes = graph.tensors[op.outputs[0]].nbytes
        if op.kind == "add":
            for t in op.inputs:
                opts.append(InPlaceOption(i, op.kind, t, True,
                                          "element-wise: out[i] written after in[i] is read",
                                          0, y_bytes))
        elif op.kind == "softmax":
            opts.append(InPlaceOption(i, op.kind, x, SOFTMAX_IN_PLACE,
                                      "row-wise: out[c] written after in[c] is read"
                                      if SOFTMAX_IN_PLACE else
                                      "softmax kernel not checked for in-place use",
                                      0, y_bytes if SOFTMAX_IN_PLACE else 0))
        elif op.kind in ("maxpool", "avgpool", "dwconv", "conv"):
            opts.append(_placed(graph, i, op, alignment))
    return opts


def _placed(graph: Any, i: int, op: Any, alignment: int) -> InPlaceOption:
    xt = graph.tensors[op.inputs[0]]
    yt = graph.tensors[op.outputs[0]]
    p = op.params
    in_hw, out_hw = (xt.shape[1], xt.shape[2]), (yt.shape[1], yt.shape[2])
    if op.kind == "conv":
        w = graph.tensors[op.inputs[1]]
        raw = conv_shift(xt.shape, yt.shape, (w.shape[1], w.shape[2]), p.stride, p.padding)
        what = "1x1" if uses_1x1_path(w.shape[1], w.shape[2], p.padding) else "im2col"
    else:
        raw = window_shift(in_hw, out_hw, p.stride, (p.padding[0], p.padding[1]), xt.shape[3])
        what = "raster"
    shift = -align_up(-raw, alignment)
    saved = overlap_saving(xt.nbytes, yt.nbytes, shift)
    if shift == 0:
        return InPlaceOption(i, op.kind, op.inputs[0], True,
                             "raster order: every window starts at or after the pixel it "
                             "overwrites", 0, saved)
    if saved <= 0:
        return InPlaceOption(i, op.kind, op.inputs[0], False,
                             f"{what} order: the output must start {-shift} B below the "
                             "input, which saves nothing", shift, 0)
    note = ("; exactly in place needs TinyEngine's channel-by-channel depthwise kernel with a "
            "one-channel temp buffer, which firmware/s8 does not have"
            if op.kind == "dwconv" else "")
    return InPlaceOption(i, op.kind, op.inputs[0], True,
                         f"{what} order: output overlaps the input from {-shift} B below{note}",
                         shift, saved)
