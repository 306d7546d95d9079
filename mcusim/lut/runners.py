"""Run one layer configuration on a built machine and measure it.

The sweep keeps one :class:`mcusim.machine.Machine` per (family, board, flags)
(:class:`MachineCache`) and calls :func:`run_config` for every row.  Data are synthetic with
the quantisation of each family (the kernels' own problem builders are reused:
:func:`mcusim.kernels.s8_problem.make_problem`, :func:`mcusim.kernels.packed.make_problem`,
:func:`mcusim.kernels.trec.make_problem`); the random generator of a row is seeded by the
row's configuration key, so a row's result does not depend on the executor or the order.

TREC's cycles depend on the data (clusters): its input is a smooth synthetic image (a few
random low-frequency waves plus noise, quantised to int8), which has the spatial redundancy
of natural images that random noise lacks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mcusim import __version__
from mcusim.boards import Board, get_board
from mcusim.kernels import packed, s8, trec
from mcusim.kernels.layers import Layer
from mcusim.kernels.quant import QParams
from mcusim.lut.table import config_key, out_shape, padding

__all__ = ["MachineCache", "RESULT_COLUMNS", "firmware_hash", "has_softmax", "run_config"]

BUDGET = 4_000_000_000
#: Version of the synthetic data of :func:`run_config`; part of the cache key, so cached
#: results are not reused after the data generation changes.
DATA_VERSION = 2
PACKED_STRATEGY = "mul"
#: Columns a sweep adds to each configuration row.
RESULT_COLUMNS: tuple[str, ...] = (
    "board", "cycles", "instructions", "cycles_core", "cycles_branch", "cycles_pipeline",
    "cycles_fetch", "cycles_data", "scratch_bytes", "stack_bytes", "weights_bytes",
    "activations_bytes", "latency_ms", "symbol", "mcusim_version", "hash",
)


def has_softmax() -> bool:
    """Whether the ``s8`` family has a softmax runner."""
    return hasattr(s8, "run_softmax_s8")


def _pad4(row: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` as the s8 parameter structs take it."""
    t, b, l, r = padding(row)
    return t, l, b, r


def _elf(board: Board, family: str, plain_c: bool) -> Path:
    from mcusim.kernels.firmware import build_family

    return build_family(board, family, plain_c=plain_c)


@lru_cache(maxsize=None)
def _hash_of(elf: str, board_path: str, core: str) -> str:
    from mcusim.timing.table import CORES_DIR

    h = hashlib.sha256()
    for path in (Path(elf), Path(board_path), CORES_DIR / f"{core}.toml"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def firmware_hash(board: Board | str, family: str, *, plain_c: bool = False) -> str:
    """Hash of the family's firmware (ELF bytes), the board profile and the core cost table.

    It keys the disk cache and is recorded in every result row and in saved predictors.
    """
    b = get_board(board)
    return _hash_of(str(_elf(b, family, plain_c)), str(b.path), b.core)


@dataclass
class _Entry:
    machine: Any
    hash: str


class MachineCache:
    """One built machine per (family, board, flags), created on first use and reused.

    Examples
    --------
    >>> machines = MachineCache()                                    # doctest: +SKIP
    >>> m, h = machines.get("s8", "stm32f469i")                      # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, bool], _Entry] = {}

    def get(self, family: str, board: str, *, plain_c: bool = False) -> tuple[Any, str]:
        """``(machine, hash)`` of a family on a board."""
        from mcusim.machine import Machine

        key = (family, board, plain_c)
        if key not in self._entries:
            b = get_board(board)
            elf = _elf(b, family, plain_c)
            self._entries[key] = _Entry(Machine(b, elf), firmware_hash(b, family, plain_c=plain_c))
        e = self._entries[key]
        return e.machine, e.hash


def _layer(row: Mapping[str, Any], kind: str) -> Layer:
    """The row as a :class:`Layer` (symmetric padding: the largest side, kept below the
    kernel; the s8 runs then replace it by the row's exact, possibly asymmetric, padding)."""
    top = min(max(padding(row)), int(row["kh"]) - 1, int(row["kw"]) - 1)
    return Layer(f"lut.{row['op']}", kind, int(row["in_h"]), int(row["in_w"]), int(row["in_c"]),
                 int(row["out_c"]), int(row["kh"]), int(row["kw"]), int(row["stride"]), top)


def _rng(row: Mapping[str, Any]) -> np.random.Generator:
    return np.random.default_rng(int(config_key(row), 16) % (1 << 63))


def smooth_image(h: int, w: int, c: int, rng: np.random.Generator) -> np.ndarray:
    """A spatially smooth int8 ``[h, w, c]`` tensor: a few random waves plus a little noise."""
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    img = np.zeros((h, w, c))
    for _ in range(3):
        fy, fx = rng.uniform(0.0, 0.3, size=2)
        phase = rng.uniform(0, 2 * np.pi, size=c)
        amp = rng.uniform(20, 50, size=c)
        img += amp * np.sin(fy * yy[..., None] + fx * xx[..., None] + phase)
    img += rng.normal(0, 4, size=img.shape)
    return np.clip(np.round(img), -128, 127).astype(np.int8)


def _run_s8(m: Any, row: Mapping[str, Any], rng: np.random.Generator) -> tuple[Any, int, int]:
    """Run an s8 row; returns (KernelRun, weights bytes, activations bytes)."""
    op, act = row["op"], row["activation"]
    region = str(row.get("data_region") or "") or "ram"
    oh, ow, oc = out_shape(row)
    in_bytes = int(row["in_h"]) * int(row["in_w"]) * int(row["in_c"])
    if op in ("conv", "dwconv", "fc"):
        if op == "fc":
            layer = Layer("lut.fc", "fc", 1, 1, in_bytes, int(row["out_c"]))
        else:
            layer = _layer(row, op)
        x, w, bias, p = s8.make_problem(layer, rng, activation=act)
        if op != "fc":
            p = replace(p, pad=_pad4(row))       # TFLite SAME may be asymmetric
        fn = {"conv": s8.run_conv_s8, "dwconv": s8.run_depthwise_conv_s8, "fc": s8.run_fc_s8}[op]
        run = fn(m, x, w, bias, p, budget=BUDGET, region=region)
        return run, run.weight_bytes, in_bytes + oh * ow * oc
    shape = (int(row["in_h"]), int(row["in_w"]), int(row["in_c"]))
    x = rng.integers(-128, 128, size=shape, dtype=np.int8)
    if op in ("maxpool", "avgpool"):
        lo, hi = (-128, 127) if act == "none" else (0, 127)
        params = s8.PoolParams((int(row["kh"]), int(row["kw"])), int(row["stride"]),
                               _pad4(row), lo, hi)
        fn = s8.run_max_pool_s8 if op == "maxpool" else s8.run_avg_pool_s8
        run = fn(m, x, params, budget=BUDGET, region=region)
        return run, 0, in_bytes + oh * ow * oc
    if op == "add":
        y = rng.integers(-128, 128, size=shape, dtype=np.int8)
        q1 = QParams(float(rng.uniform(0.01, 0.05)), int(rng.integers(-20, 20)))
        q2 = QParams(float(rng.uniform(0.01, 0.05)), int(rng.integers(-20, 20)))
        qo = QParams(float(rng.uniform(0.03, 0.08)), int(rng.integers(-20, 20)))
        params = s8.AddParams.from_qparams(q1, q2, qo, activation=act)
        run = s8.run_add_s8(m, x, y, params, budget=BUDGET, region=region)
        return run, 0, 3 * in_bytes
    # a fixed input scale (logits within about +-12): the exp's cost depends on the data
    sp = s8.SoftmaxParams.from_scale(float(np.float32(0.1)))
    run = s8.run_softmax_s8(m, x.reshape(-1, shape[2]), sp, budget=BUDGET, region=region)
    return run, 0, 2 * in_bytes


def run_config(machines: MachineCache, board: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Run one valid configuration row on ``board``; returns the row plus the measurements.

    Parameters
    ----------
    machines
        The worker's machines (one per family and board, reused).
    board
        Board name.
    row
        A row of a validated configuration table (:func:`mcusim.lut.table.validate`).

    Returns
    -------
    dict
        The configuration columns of ``row`` plus :data:`RESULT_COLUMNS`.
    """
    family = str(row["family"])
    m, fw_hash = machines.get(family, board)
    rng = _rng(row)
    oh, ow, oc = out_shape(row)
    if family == "s8":
        run, wbytes, abytes = _run_s8(m, row, rng)
        result, scratch, symbol = run.result, run.scratch_bytes, run.symbol
    elif family == "packed":
        kind = "fc" if row["op"] == "fc" else "conv"
        if kind == "fc":
            k = int(row["in_h"]) * int(row["in_w"]) * int(row["in_c"])
            layer = Layer("lut.fc", "fc", 1, 1, k, int(row["out_c"]))
        else:
            layer = _layer(row, "conv")
        p = packed.make_problem(layer, int(row["w_bits"]), int(row["a_bits"]), rng)
        prun = packed.run_kernel(m, p, PACKED_STRATEGY, budget=BUDGET)
        if prun.status != 0:
            raise RuntimeError(f"{packed.symbol(kind, PACKED_STRATEGY)} returned {prun.status}")
        result, scratch, symbol = prun.result, prun.scratch_bytes, packed.symbol(kind, PACKED_STRATEGY)
        wbytes, abytes = p.constant_bytes, p.activation_bytes
    else:
        layer = _layer(row, "conv")
        x = smooth_image(layer.in_h, layer.in_w, layer.in_c, rng)
        act = "relu" if row["activation"] != "none" else "none"
        tp = trec.make_problem(layer, rng, x, act=act)
        cfg = trec.TrecConfig(sub_len=int(row["trec_l"]), hash_bits=int(row["trec_h"]))
        trun = trec.run_trec_conv(m, tp, cfg, "space", budget=BUDGET)
        result, scratch, symbol = trun.result, trun.scratch_bytes, trec.SYMBOLS["space"][0]
        wbytes = tp.w.size + 4 * 3 * layer.out_c
        abytes = tp.x.size + oh * ow * oc
    prof = m.profile(result)
    bd = prof.breakdown
    board_obj = m.board
    out = {k: row[k] for k in row if k != "row"}
    out.update({
        "board": board_obj.name, "cycles": int(prof.cycles), "instructions": int(result.instructions),
        **{f"cycles_{k}": int(v) for k, v in bd.items()},
        "scratch_bytes": int(scratch), "stack_bytes": int(result.stack_used),
        "weights_bytes": int(wbytes), "activations_bytes": int(abytes),
        "latency_ms": prof.cycles / board_obj.clock_hz * 1e3, "symbol": symbol,
        "mcusim_version": __version__, "hash": fw_hash,
    })
    return out
