"""Bench module of the ``s8`` family (see :mod:`mcusim.kernels.registry`).

Every convolution, depthwise and fully-connected layer runs twice, on the DSP build
(``s8_conv``, ``s8_dwconv``, ``s8_fc``: SMLAD on SXTB16 pairs) and on the plain-C build
(``..._plainc``: ``MNN_FORCE_PLAIN_C``), on a problem from
:func:`mcusim.kernels.s8_problem.make_problem`; each output is checked bit-exactly against the
numpy reference before its row is written.

Cycles come from the timing model (``Machine.profile(result).cycles``, see
:func:`mcusim.kernels.cost.measure`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mcusim.kernels import s8
from mcusim.kernels.cost import measure
from mcusim.kernels.layers import Layer
from mcusim.kernels.registry import KernelInfo

FAMILY = "s8"
BUDGET = 4_000_000_000

#: layer kind -> (kernel base name, C symbol, description)
_KINDS: dict[str, tuple[str, str, str]] = {
    "conv": ("s8_conv", "mnn_convolve_wrapper_s8",
             "int8 convolution: im2col to int16 + 2x2 SMLAD tile, 1x1 fast path"),
    "dwconv": ("s8_dwconv", "mnn_depthwise_conv_wrapper_s8",
               "int8 depthwise convolution: 3x3 specialisation + generic"),
    "fc": ("s8_fc", "mnn_fully_connected_s8",
           "int8 fully connected: SMLAD on SXTAB16/SXTB16 pairs, 2 channels x 2 rows"),
}
_OTHERS: tuple[tuple[str, str, str], ...] = (
    ("s8_maxpool", "mnn_max_pool_s8", "int8 max pooling, SSUB8/SEL (not in the layer bench)"),
    ("s8_avgpool", "mnn_avg_pool_s8", "int8 average pooling (not in the layer bench)"),
    ("s8_add", "mnn_elementwise_add_s8", "int8 element-wise add (not in the layer bench)"),
)


def kernel_name(kind: str, plain_c: bool) -> str:
    """Bench name of the kernel for a layer kind: ``s8_conv`` or ``s8_conv_plainc`` etc."""
    return _KINDS[kind][0] + ("_plainc" if plain_c else "")


def list_kernels() -> list[KernelInfo]:
    """The family's kernels (DSP and plain-C builds of each benchmarked kernel)."""
    out = []
    for _kind, (name, symbol, desc) in _KINDS.items():
        out.append(KernelInfo(FAMILY, name, symbol, desc + " (DSP build)"))
        out.append(KernelInfo(FAMILY, name + "_plainc", symbol, desc + " (plain-C build)"))
    for name, symbol, desc in _OTHERS:
        out.append(KernelInfo(FAMILY, name, symbol, desc))
    return out


def run_layer(machine: Any, layer: Layer, rng: np.random.Generator) -> s8.KernelRun:
    """Run ``layer`` on a fresh problem and check the output against the reference."""
    x, w, bias, p = s8.make_problem(layer, rng)
    if layer.kind == "conv":
        run = s8.run_conv_s8(machine, x, w, bias, p, budget=BUDGET)
        ref = s8.conv_s8_ref(x, w, bias, p)
    elif layer.kind == "dwconv":
        run = s8.run_depthwise_conv_s8(machine, x, w, bias, p, budget=BUDGET)
        ref = s8.depthwise_conv_s8_ref(x, w, bias, p)
    else:
        run = s8.run_fc_s8(machine, x, w, bias, p, budget=BUDGET)
        ref = s8.fc_s8_ref(x, w, bias, p)
    if not np.array_equal(run.output, ref):
        raise AssertionError(f"s8 output differs from the numpy reference on {layer.name}")
    return run


def bench(board: Any, layers: tuple[Layer, ...], *,
          progress: Callable[[str], None] = lambda msg: None) -> list[dict[str, Any]]:
    """Run the DSP and plain-C builds on ``layers``; one row per (kernel, layer).

    Parameters
    ----------
    board
        A :class:`mcusim.boards.Board`.
    layers
        Layers to run (kinds ``conv``, ``dwconv``, ``fc``; others are skipped).
    progress
        Called with a message before each run.

    Returns
    -------
    list of dict
        The registry's required columns plus ``cycles_source, instructions, macs_per_cycle,
        scratch_used, stack_bytes, path, symbol``.
    """
    from mcusim.kernels.firmware import build_family
    from mcusim.machine import Machine

    rows: list[dict[str, Any]] = []
    for plain in (False, True):
        machine = Machine(board, build_family(board, "s8", plain_c=plain))
        for layer in layers:
            if layer.kind not in _KINDS:
                continue
            name = kernel_name(layer.kind, plain)
            progress(f"s8: {board.name} {name} {layer.name}")
            run = run_layer(machine, layer, np.random.default_rng(4))
            cost = measure(machine, run.result)
            cycles, source = cost.cycles, cost.source
            rows.append({
                "board": board.name, "family": FAMILY, "kernel": name, "layer": layer.name,
                "macs": layer.macs, "cycles": int(round(cycles)),
                "latency_us": cycles / board.clock_hz * 1e6,
                "scratch_bytes": run.scratch_bytes, "weight_bytes": run.weight_bytes,
                "cycles_source": source, "instructions": int(run.result.instructions),
                "macs_per_cycle": layer.macs / cycles if cycles else 0.0,
                "scratch_used": run.scratch_used, "stack_bytes": int(run.result.stack_used),
                "path": "plain-c" if plain else "dsp", "symbol": run.symbol,
            })
    return rows
