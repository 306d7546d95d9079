"""Bench module of the ``trec`` family (see :mod:`mcusim.kernels.registry`).

For each TREC layer (CifarNet conv1/conv2, SqueezeNet fire2.expand3x3), each input source
(``photo``, ``digits``, ``noise``; :mod:`mcusim.kernels.trec_data`) and each (L, H) of
:data:`CONFIGS`, the space-efficient kernel (``trec_L{L}_H{H}``) and the original layout
(``trec_orig_L{L}_H{H}``) run under emulation; the exact int8 convolution of the ``s8`` family
runs on the same problem for the speedup.  One row per (kernel, layer, input).

Cycles come from the timing model (``Machine.profile(result).cycles``, see
:func:`mcusim.kernels.cost.measure`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

import numpy as np

from mcusim.kernels import trec
from mcusim.kernels.cost import Cost, measure
from mcusim.kernels.layers import Layer, get_layer
from mcusim.kernels.registry import KernelInfo
from mcusim.kernels.trec_data import INPUT_SOURCES, layer_input

FAMILY = "trec"

#: (L, H) pairs benchmarked, one kernel name per layout each.
CONFIGS: tuple[tuple[int, int], ...] = ((16, 8), (32, 8), (64, 8), (32, 12))
#: Layers TREC is measured on (others passed to :func:`bench` are skipped).
TREC_LAYERS: tuple[str, ...] = ("cifarnet.conv1", "cifarnet.conv2", "squeezenet.fire2.expand3x3")
#: Bytes of int32 tile accumulators aimed at when choosing ``tile_rows``.
ACC_BUDGET = 32 * 1024


def kernel_name(sub_len: int, hash_bits: int, layout: str = "space") -> str:
    """``trec_L{L}_H{H}`` or ``trec_orig_L{L}_H{H}``."""
    return f"trec_{'orig_' if layout == 'orig' else ''}L{sub_len}_H{hash_bits}"


def list_kernels() -> list[KernelInfo]:
    """The family's kernels (one per layout and (L, H) of :data:`CONFIGS`)."""
    out = []
    for sub, bits in CONFIGS:
        out.append(KernelInfo(FAMILY, kernel_name(sub, bits), trec.SYMBOLS["space"][0],
                              f"space-efficient TREC conv, L={sub}, H={bits}: kernel-reuse "
                              "hash, reversed ID table, slot stack"))
        out.append(KernelInfo(FAMILY, kernel_name(sub, bits, "orig"), trec.SYMBOLS["orig"][0],
                              f"original-layout TREC conv, L={sub}, H={bits}: stored hash "
                              "matrix, fixed 2^H cluster arrays"))
    return out


def config_for(layer: Layer, sub_len: int, hash_bits: int) -> trec.TrecConfig:
    """Tile rows: whole output rows within :data:`ACC_BUDGET`; stack: half the tile."""
    positions = layer.out_h * layer.out_w
    rows = ACC_BUDGET // (4 * layer.out_c)
    rows = max(layer.out_w, rows // layer.out_w * layer.out_w)
    rows = min(rows, positions)
    return trec.TrecConfig(sub_len, hash_bits, max(1, rows // 2), rows)


def _errors(out: np.ndarray, exact: np.ndarray, zero_point: int) -> tuple[float, float]:
    y = out.astype(np.float64) - zero_point
    e = exact.astype(np.float64) - zero_point
    return (float(np.linalg.norm(y - e)) / max(float(np.linalg.norm(e)), 1e-12),
            float((out != exact).mean()))


def _float_error(p: trec.TrecProblem, cfg: trec.TrecConfig,
                 hash_matrix: np.ndarray | None) -> float:
    cols = trec.im2col(p).astype(np.float64)
    w = p.w2d.astype(np.float64)
    acc, _ = trec.trec_conv_float(cols, w, cfg, hash_matrix)
    exact = cols @ w.T
    return float(np.linalg.norm(acc - exact)) / max(float(np.linalg.norm(exact)), 1e-12)


def run_s8(m: Any, p: trec.TrecProblem) -> Any:
    """The int8 family's convolution (``mnn_convolve_wrapper_s8`` via
    :func:`mcusim.kernels.s8.run_conv_s8`) on ``p``; returns its ``KernelRun``."""
    from mcusim.kernels.s8 import run_conv_s8

    return run_conv_s8(m, p.x, p.w, p.bias, trec.s8_params(p), budget=2_000_000_000)


def bench(board: Any, layers: tuple[Layer, ...], *,
          progress: Callable[[str], None] = lambda msg: None,
          sources: tuple[str, ...] = INPUT_SOURCES,
          configs: tuple[tuple[int, int], ...] = CONFIGS) -> list[dict[str, Any]]:
    """Run the TREC kernels and the exact int8 convolution; one row per (kernel, layer, input).

    Parameters
    ----------
    board
        A :class:`mcusim.boards.Board`.
    layers
        Layers to measure; only those in :data:`TREC_LAYERS` are run.
    progress
        Called with a message before each long step.
    sources, configs
        Input sources and (L, H) pairs (defaults: all).

    Returns
    -------
    list of dict
        Rows with the registry's required columns plus ``input, layout, L, H, tile_rows,
        max_clusters, redundancy_removed, clusters, vectors, overflow, s8_cycles,
        speedup_vs_s8, sram_overhead_bytes, scratch_used_bytes, hash_matrix_bytes, fits_sram,
        rel_l2_error, rel_l2_error_float, frac_outputs_differ, cycles_source, instructions``.
    """
    from mcusim.kernels.firmware import build_family
    from mcusim.machine import Machine

    wanted = [ly for ly in layers if ly.name in TREC_LAYERS]
    m = Machine(board, trec.build_trec(board))
    m_s8 = Machine(board, build_family(board, "s8"))
    rows: list[dict[str, Any]] = []
    for layer in wanted:
        for source in sources:
            progress(f"trec: {board.name} {layer.name} input={source}")
            p = trec.make_problem(layer, np.random.default_rng(7), layer_input(layer, source))
            exact = trec.exact_conv_ref(p)
            base = run_s8(m_s8, p)
            if not np.array_equal(base.output, exact):
                raise AssertionError(f"s8 convolution disagrees with the exact reference on {layer.name}")
            base_cost = measure(m_s8, base.result)
            for sub, bits in configs:
                cfg = config_for(layer, sub, bits)
                hm = trec.make_hash_matrix(bits, layer.k, seed=1)
                sizes = {lay: trec.get_buffer_size(layer, cfg, lay) for lay in ("space", "orig")}
                layouts: tuple[Literal["space", "orig"], ...] = ("space", "orig")
                for lay in layouts:
                    row = _row(m, board, layer, source, p, cfg, lay, hm, exact, sizes,
                               base.scratch_bytes, base_cost)
                    rows.append(row)
    return rows


def _row(m: Any, board: Any, layer: Layer, source: str, p: trec.TrecProblem,
         cfg: trec.TrecConfig, lay: Literal["space", "orig"], hm: np.ndarray, exact: np.ndarray,
         sizes: dict[str, int], s8_scratch: int, base: Cost) -> dict[str, Any]:
    from mcusim.errors import MachineError

    run = None
    try:
        run = trec.run_trec_conv(m, p, cfg, lay, hash_matrix=hm)
    except MachineError as exc:     # the scratch does not fit in any SRAM region
        if "no room" not in str(exc):
            raise
    fits = run is not None
    row: dict[str, Any] = {
        "board": board.name, "family": FAMILY, "kernel": kernel_name(cfg.sub_len, cfg.hash_bits, lay),
        "layer": layer.name, "input": source, "layout": lay, "L": cfg.sub_len, "H": cfg.hash_bits,
        "tile_rows": cfg.tile_rows, "max_clusters": cfg.max_clusters if lay == "space" else 1 << cfg.hash_bits,
        "macs": layer.macs, "scratch_bytes": sizes[lay],
        "sram_overhead_bytes": sizes[lay] - s8_scratch,
        "sram_overhead_space_bytes": sizes["space"] - s8_scratch,
        "sram_overhead_orig_bytes": sizes["orig"] - s8_scratch,
        "hash_matrix_bytes": layer.k * cfg.hash_bits if lay == "orig" else 0,
        "weight_bytes": layer.num_weights + 4 * layer.out_c
        + (layer.k * cfg.hash_bits if lay == "orig" else 0),
        "fits_sram": fits, "s8_cycles": base.cycles,
    }
    if run is None:
        row.update({"cycles": math.nan, "latency_us": math.nan, "cycles_source": "does-not-fit",
                    "instructions": 0, "speedup_vs_s8": math.nan, "scratch_used_bytes": 0})
        ref, stats = (trec.trec_conv_ref(p, cfg) if lay == "space"
                      else trec.trec_orig_conv_ref(p, cfg, hm))
        out = ref
    else:
        ref, want = (trec.trec_conv_ref(p, cfg) if lay == "space"
                     else trec.trec_orig_conv_ref(p, cfg, hm))
        if not np.array_equal(run.output, ref) or run.stats != want:
            raise AssertionError(f"{row['kernel']} on {layer.name}: C and numpy model disagree")
        cost = measure(m, run.result)
        out, stats = run.output, run.stats
        row.update({"cycles": cost.cycles, "latency_us": cost.cycles / board.clock_hz * 1e6,
                    "cycles_source": cost.source, "instructions": cost.instructions,
                    "speedup_vs_s8": base.cycles / cost.cycles,
                    "scratch_used_bytes": run.scratch_used})
    rel, frac = _errors(out, exact, p.output_offset)
    row.update({"redundancy_removed": stats.redundancy_removed, "clusters": stats.clusters,
                "vectors": stats.vectors, "overflow": stats.overflow,
                "rel_l2_error": rel, "frac_outputs_differ": frac,
                "rel_l2_error_float": _float_error(p, cfg, hm if lay == "orig" else None)})
    return row


def default_layers() -> tuple[Layer, ...]:
    """The layers TREC is measured on."""
    return tuple(get_layer(n) for n in TREC_LAYERS)
