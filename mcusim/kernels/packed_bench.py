"""Bench module of the ``packed`` family (see :mod:`mcusim.kernels.registry`).

For each fully connected or convolution layer and each weight/activation bit-width pair in
{2, 4, 8} x {2, 4, 8}, the operand-packing kernel (``packed_w{bw}a{ba}``) and the
unpack-to-16-bit + SMLAD kernel (``smlad_w{bw}a{ba}``) run under emulation on the same
problem (output bits = activation bits) and are checked bit-exactly against the numpy
reference; the int8 kernel of the ``s8`` family runs once per layer as the baseline.

Cycles come from the timing model (``Machine.profile(result).cycles``, see
:func:`mcusim.kernels.cost.measure`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from mcusim.kernels import packed as P
from mcusim.kernels.cost import Cost, measure
from mcusim.kernels.layers import Layer
from mcusim.kernels.registry import KernelInfo

FAMILY = "packed"
#: Strategy name in :mod:`mcusim.kernels.packed` -> kernel-name prefix.
PREFIX = {"mul": "packed", "smlad": "smlad"}


def kernel_name(strategy: str, w_bits: int, a_bits: int) -> str:
    """``packed_w{bw}a{ba}`` or ``smlad_w{bw}a{ba}``."""
    return f"{PREFIX[strategy]}_w{w_bits}a{a_bits}"


def list_kernels() -> list[KernelInfo]:
    """The family's kernels: both strategies for every bit-width pair."""
    out = []
    for bw, ba in P.PAIRS:
        s = P.select_scheme(bw, ba)
        out.append(KernelInfo(
            FAMILY, kernel_name("mul", bw, ba), "mnn_convolve_packed_lb, mnn_fully_connected_packed_lb",
            f"operand packing, {bw}-bit weights x {ba}-bit activations: {s.lanes} products per "
            f"{'UMLAL' if s.wide else 'MUL'} (lanes of {s.lane_bits} bits), drained every "
            f"{P.drain_interval(bw, ba)} multiplies"))
        out.append(KernelInfo(
            FAMILY, kernel_name("smlad", bw, ba), "mnn_convolve_smlad_lb, mnn_fully_connected_smlad_lb",
            f"unpack to 16-bit lanes + SMLAD (CMix-NN way), {bw}-bit weights x {ba}-bit activations"))
    return out


def _build_s8(board: Any) -> Any:
    from mcusim.kernels.firmware import build_family

    return build_family(board, "s8")


def run_s8_baseline(m: Any, layer: Layer, rng: np.random.Generator) -> tuple[Cost, int]:
    """Run the int8 family's kernel for ``layer``; returns its cost and Flash constant bytes."""
    from mcusim.kernels import s8
    from mcusim.kernels.s8_problem import make_problem

    x, w, bias, params = make_problem(layer, rng)
    if layer.kind == "fc":
        run = s8.run_fc_s8(m, x, w, bias, params, budget=2_000_000_000)
    else:
        run = s8.run_conv_s8(m, x, w, bias, params, budget=2_000_000_000)
    return measure(m, run.result), int(run.weight_bytes)


def bench(board: Any, layers: tuple[Layer, ...], *,
          progress: Callable[[str], None] = lambda msg: None,
          pairs: tuple[tuple[int, int], ...] = P.PAIRS,
          baseline: bool = True) -> list[dict[str, Any]]:
    """Run both strategies for every pair on every fc/conv layer; one row per (kernel, layer).

    Parameters
    ----------
    board
        A :class:`mcusim.boards.Board`.
    layers
        Layers to measure; depthwise layers are skipped (no packed depthwise kernel).
    progress
        Called with a message before each long step.
    pairs
        ``(w_bits, a_bits)`` pairs (default: all nine).
    baseline
        Run the ``s8`` baseline for ``speedup_vs_s8`` (NaN when off or unavailable).

    Returns
    -------
    list of dict
        The registry's required columns plus ``cycles_source, instructions, strategy,
        w_bits, a_bits, out_bits, lane_bits, lanes, drain_interval, filter_bytes,
        activation_bytes, s8_cycles, s8_weight_bytes, speedup_vs_s8, speedup_vs_smlad``.
    """
    from mcusim.machine import Machine

    m = Machine(board, P.build(board))
    m_s8 = None
    if baseline:
        try:
            m_s8 = Machine(board, _build_s8(board))
        except Exception as exc:  # noqa: BLE001 - the baseline is optional, report why
            progress(f"packed: s8 baseline unavailable ({type(exc).__name__}: {exc})")
    rows: list[dict[str, Any]] = []
    for layer in layers:
        if layer.kind not in ("fc", "conv"):
            continue
        s8_cost, s8_bytes = None, 0
        if m_s8 is not None:
            progress(f"packed: {board.name} {layer.name} s8 baseline")
            s8_cost, s8_bytes = run_s8_baseline(m_s8, layer, np.random.default_rng(11))
        for bw, ba in pairs:
            progress(f"packed: {board.name} {layer.name} w{bw}a{ba}")
            p = P.make_problem(layer, bw, ba, np.random.default_rng(bw * 10 + ba))
            ref = p.reference()
            costs: dict[str, tuple[Cost, P.PackedRun]] = {}
            for strategy in P.STRATEGIES:
                run = P.run_kernel(m, p, strategy)
                if run.status != 0 or not np.array_equal(run.output, ref):
                    raise AssertionError(f"{kernel_name(strategy, bw, ba)} on {layer.name}: "
                                         f"status {run.status} or output differs from numpy")
                costs[strategy] = (measure(m, run.result), run)
            for strategy, (cost, run) in costs.items():
                rows.append(_row(board, layer, p, strategy, cost, run, costs["smlad"][0],
                                 s8_cost, s8_bytes))
    return rows


def _row(board: Any, layer: Layer, p: P.PackedProblem, strategy: str, cost: Cost,
         run: P.PackedRun, smlad: Cost, s8_cost: Cost | None, s8_bytes: int) -> dict[str, Any]:
    s = P.select_scheme(p.w_bits, p.a_bits)
    mul = strategy == "mul"
    s8_cycles = s8_cost.cycles if s8_cost is not None else float("nan")
    return {
        "board": board.name, "family": FAMILY,
        "kernel": kernel_name(strategy, p.w_bits, p.a_bits), "layer": layer.name,
        "macs": layer.macs, "cycles": cost.cycles, "cycles_source": cost.source,
        "latency_us": cost.cycles / board.clock_hz * 1e6, "instructions": cost.instructions,
        "scratch_bytes": run.scratch_bytes, "weight_bytes": p.constant_bytes,
        "filter_bytes": p.weight_bytes, "activation_bytes": p.activation_bytes,
        "strategy": PREFIX[strategy], "w_bits": p.w_bits, "a_bits": p.a_bits,
        "out_bits": p.out_bits, "lane_bits": s.lane_bits if mul else 16,
        "lanes": s.lanes if mul else 2,
        "drain_interval": P.drain_interval(p.w_bits, p.a_bits) if mul else 0,
        "s8_cycles": s8_cycles, "s8_weight_bytes": s8_bytes,
        "speedup_vs_s8": s8_cycles / cost.cycles, "speedup_vs_smlad": smlad.cycles / cost.cycles,
    }
