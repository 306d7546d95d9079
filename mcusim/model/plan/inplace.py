"""Which operators may write their output over an input (in-place execution, as TinyEngine).

An operator runs *in place* when its output tensor is given the bytes of one of its inputs.
That is safe only if the kernel never reads an input byte after it has written the output
byte at the same address. Each rule below was checked against the loop order of the kernel
in ``firmware/s8`` that the runner calls:

``reshape``
    No kernel: the output *is* the input (same bytes, another shape). Always aliased.
``add`` (``mnn_elementwise_add_s8``)
    Element ``i`` of the output is written after elements ``i`` (and, on the DSP path, the
    word ``i..i+3``) of both inputs are read, and never read again: the output may take
    either input's buffer (the header says "may alias an input").
``maxpool`` / ``avgpool`` (``mnn_max_pool_s8`` / ``mnn_avg_pool_s8``) and ``dwconv``
    (``mnn_depthwise_conv_s8`` / ``..._3x3_s8`` through the wrapper)
    Output pixels are written in raster order ``k = oy * OW + ox``, each after its whole window
    has been read (per channel or per group of four channels; the avgpool DSP path reads the
    whole window into the int32 scratch first). With the output over the input and equal
    channel counts, output pixel ``k`` overwrites input pixel ``k``. So the operator is safe
    in place iff, for every output pixel ``k``, the first input pixel of its (clipped) window,
    ``max(oy*sh - pad_top, 0) * W + max(ox*sw - pad_left, 0)``, is ``>= k``: no later pixel
    reads an overwritten one. This holds for VALID (unpadded) windows and for global pooling,
    and fails for SAME 3x3 stride 1 (pixel 1 reads pixel 0). :func:`window_in_place_safe`
    evaluates the condition exactly.
``dwconv`` with SAME padding
    Needs TinyEngine's channel-by-channel depthwise kernel (each input channel copied to a
    one-channel temporary buffer, the output channel written over it). ``firmware/s8`` has
    no such kernel, so this option is reported as inapplicable.
``softmax`` (``mnn_softmax_s8``)
    Per row: the maximum, then the sum of exponentials, then ``out[c]`` from ``in[c]`` in
    increasing ``c``; each row reads only itself. An input byte is read before the output
    byte at its address is written and never after: safe in place (the header says "may
    alias input"; see :data:`SOFTMAX_IN_PLACE`).
``conv``, ``fc``
    Every output reads many input pixels / the whole input: not in place.

Only ``s8`` kernels are considered; ``packed`` and ``trec`` layers never run in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["InPlaceOption", "SOFTMAX_IN_PLACE", "inplace_options", "window_in_place_safe"]

#: Whether ``mnn_softmax_s8`` was checked to be safe with its output over its input (its
#: loop order, above; tested under emulation in ``tests/test_plan.py``).
SOFTMAX_IN_PLACE = True


@dataclass(frozen=True)
class InPlaceOption:
    """Whether operator ``op`` may write its output over input tensor ``tensor``.

    ``applicable`` says if the kernel allows it; ``reason`` says why (or why not).
    Whether the input is dead by then depends on the operator order and is decided later.
    """

    op: int
    kind: str
    tensor: int
    applicable: bool
    reason: str


def window_in_place_safe(in_hw: tuple[int, int], out_hw: tuple[int, int],
                         stride: tuple[int, int], pad_top_left: tuple[int, int]) -> bool:
    """The raster-order condition above for a windowed kernel with equal channel counts."""
    h, w = in_hw
    oh, ow = out_hw
    oy, ox = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    y0 = np.maximum(oy * stride[0] - pad_top_left[0], 0)
    x0 = np.maximum(ox * stride[1] - pad_top_left[1], 0)
    first = y0 * w + x0
    return bool(np.all(first >= oy * ow + ox)) and oh * ow <= h * w


def inplace_options(graph: Any) -> list[InPlaceOption]:
    """Every (operator, input) pair that could run in place, applicable or not, with why."""
    opts: list[InPlaceOption] = []
    for i, op in enumerate(graph.operators):
        x = op.inputs[0]
        if op.kind == "reshape":
            opts.append(InPlaceOption(i, op.kind, x, True, "reshape aliases its input"))
            continue
        if op.kernel.family != "s8":
            if op.kind in ("add", "maxpool", "avgpool", "dwconv", "softmax"):
                opts.append(InPlaceOption(i, op.kind, x, False,
                                          f"{op.kernel.family} kernels are not checked "
                                          "for in-place use"))
            continue
        if op.kind == "add":
            for t in op.inputs:
                opts.append(InPlaceOption(i, op.kind, t, True,
                                          "element-wise: out[i] written after in[i] is read"))
        elif op.kind in ("maxpool", "avgpool", "dwconv"):
            opts.append(_windowed(graph, i, op))
        elif op.kind == "softmax":
            opts.append(InPlaceOption(i, op.kind, x, SOFTMAX_IN_PLACE,
                                      "row-wise: out[c] written after in[c] is read"
                                      if SOFTMAX_IN_PLACE else
                                      "softmax kernel not checked for in-place use"))
    return opts


def _windowed(graph: Any, i: int, op: Any) -> InPlaceOption:
    xt = graph.tensors[op.inputs[0]]
    yt = graph.tensors[op.outputs[0]]
    p = op.params
    ok = (xt.shape[3] == yt.shape[3]
          and window_in_place_safe((xt.shape[1], xt.shape[2]), (yt.shape[1], yt.shape[2]),
                                   p.stride, (p.padding[0], p.padding[1])))
    if ok:
        reason = "raster order: every window starts at or after the pixel it overwrites"
    elif op.kind == "dwconv":
        reason = ("a window reads a pixel an earlier output overwrote; needs TinyEngine's "
                  "channel-by-channel depthwise kernel with a one-channel temp buffer, "
                  "which firmware/s8 does not have")
    else:
        reason = "a window reads a pixel an earlier output overwrote"
    return InPlaceOption(i, op.kind, op.inputs[0], ok, reason)
