"""Turn native block/edge counts into cycles, per instruction, with a core model.

Work is proportional to the number of *distinct* blocks and edges, never to the number of
executed instructions: each block is decoded and costed once (cached across runs by its
address and bytes), each edge once, and the run total is a dot product with the counts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mcusim.decoder import Block, Decoder, get_decoder
from mcusim.errors import MachineError
from mcusim.timing.base import CoreModel
from mcusim.timing.classify import classify
from mcusim.timing.memory import memory_cycles

__all__ = ["Accounting", "account"]

_Key = tuple[int, bytes]


@dataclass(frozen=True)
class Accounting:
    """Cycles of one run, attributed to the instructions of each executed block.

    Attributes
    ----------
    blocks
        Decoded blocks, in the order of ``counts.blocks``.
    executions
        Executions of each block (uint64 array).
    cycles
        For each block, an int64 array with the total cycles of each of its instructions
        over the run (core cost times executions plus edge, branch and memory extras).
    core, branch, pipeline, fetch, data
        Run totals of: the per-block costs, taken-branch refill / prediction costs,
        cross-block pipelining adjustments, instruction-fetch and data miss penalties.
    """

    blocks: list[Block]
    executions: np.ndarray
    cycles: list[np.ndarray]
    core: int
    branch: int
    pipeline: int
    fetch: int
    data: int

    @property
    def total(self) -> int:
        """Total cycles of the run."""
        return self.core + self.branch + self.pipeline + self.fetch + self.data

    @property
    def instructions(self) -> int:
        """Instructions executed (IT-skipped ones included)."""
        return int(sum(int(n) * len(b.insns) for b, n in zip(self.blocks, self.executions)))


class _Costs:
    """Per-model caches of block and edge costs.

    ``block`` maps a block's (address, bytes) to ``(id, decoded block, cycles per
    instruction, their sum)``; ``edge`` maps a pair of block ids to ``(taken cycles,
    pipeline delta)``.
    """

    def __init__(self, model: CoreModel, decoder: Decoder) -> None:
        self.model = model
        self.decoder = decoder
        self.block: dict[_Key, tuple[int, Block, np.ndarray, int]] = {}
        self.edge: dict[tuple[int, int], tuple[int, int]] = {}


def _costs_for(model: CoreModel, decoder: Decoder) -> _Costs:
    """The model's cost caches, created on first use and kept on the model object; they
    hold that decoder's blocks, so another decoder starts them afresh (its blocks are
    then decoded by it, e.g. for the disk cache of decoded blocks)."""
    costs = getattr(model, "_account_costs", None)
    if costs is None or costs.decoder is not decoder:
        costs = _Costs(model, decoder)
        setattr(model, "_account_costs", costs)
    return costs


def account(counts: Any, board: Any, read_code: Callable[[int, int], bytes],
            model: CoreModel, *, decoder: Decoder | None = None,
            record: list[_Key] | None = None) -> Accounting:
    """Cost a run.

    Parameters
    ----------
    counts
        :class:`mcusim.native.BlockCounts` of the run.
    board
        The board (for wait states of the memory regions).
    read_code
        ``read_code(address, size) -> bytes``: the executed code bytes.
    model
        The core model (:class:`mcusim.timing.m4.M4Model` or ``M7Model``).
    decoder
        Decoder to use (default: the shared one, whose cache persists across runs).
    record
        When given, each block's ``(address, bytes)`` as executed is appended to it.

    Returns
    -------
    Accounting
    """
    dec = decoder or get_decoder()
    costs = _costs_for(model, dec)
    arr = counts.blocks
    ids: list[int] = []
    blocks: list[Block] = []
    index: dict[int, int] = {}
    execs = arr["count"].astype(np.uint64)
    cycles: list[np.ndarray] = []
    core = 0
    addrs, sizes = arr["addr"].tolist(), arr["size"].tolist()
    for i, (addr, code, n) in enumerate(zip(addrs, _block_bytes(read_code, addrs, sizes),
                                            execs.tolist())):
        cached = costs.block.get((addr, code))
        if cached is None:
            blk = dec.decode_block(addr, code)
            base = np.asarray(model.block_cycles(blk), dtype=np.int64)
            cached = costs.block[(addr, code)] = (len(costs.block), blk, base, int(base.sum()))
        ids.append(cached[0])
        blocks.append(cached[1])
        cycles.append(cached[2] * n)
        core += cached[3] * n
        index[addr] = i
        if record is not None:
            record.append((addr, code))
    branch = pipeline = 0
    # extra cycles on the first and last instruction of each block, added in one go
    head, tail = [0] * len(blocks), [0] * len(blocks)
    succ: dict[int, list[tuple[Block, int]]] = defaultdict(list)
    for s, d, n in zip(counts.edges["src"].tolist(), counts.edges["dst"].tolist(),
                       counts.edges["count"].tolist()):
        si, di = index.get(s), index.get(d)
        if si is None or di is None:
            continue
        src, dst = blocks[si], blocks[di]
        ekey = (ids[si], ids[di])
        per = costs.edge.get(ekey)
        if per is None:
            per = costs.edge[ekey] = (model.taken_cycles(src, dst),
                                      model.pipeline_delta(src, dst))
        if per[0]:
            tail[si] += per[0] * n
            branch += per[0] * n
        if per[1]:
            head[di] += per[1] * n
            pipeline += per[1] * n
        succ[si].append((dst, n))
    switches = arr["switches"].tolist() if "switches" in arr.dtype.names else None
    for si, out in succ.items():
        extra = model.site_cycles(blocks[si], out,
                                  None if switches is None else int(switches[si]))
        if extra:
            tail[si] += extra
            branch += extra
    last = index.get(int(counts.last))
    if last is not None and blocks[last].insns:
        extra = model.exit_cycles(blocks[last])
        tail[last] += extra
        branch += extra
    fetch, data = memory_cycles(board, arr)
    for i, (h, t, f) in enumerate(zip(head, tail, fetch.tolist())):
        if h or f:
            cycles[i][0] += h + f
        if t:
            cycles[i][-1] += t
    core += _division_cycles(arr, blocks, cycles, model)
    for i in np.flatnonzero(data).tolist():
        cycles[i][_first_load(blocks[i])] += data[i]
    return Accounting(blocks, execs, cycles, core, branch, pipeline,
                      int(fetch.sum()), int(data.sum()))


#: Blocks closer than this are read from memory in one piece (see _block_bytes).
_SPAN_GAP = 256
_SPAN_MAX = 64 * 1024


def _block_bytes(read_code: Callable[[int, int], bytes], addrs: list[int],
                 sizes: list[int]) -> list[bytes]:
    """The bytes of each block, read in few pieces: blocks less than
    ``_SPAN_GAP`` bytes apart are read as one span of at most ``_SPAN_MAX`` bytes (a span
    that cannot be read -- it leaves mapped memory -- is read block by block)."""
    out: list[bytes] = []
    i, n = 0, len(addrs)
    while i < n:
        lo, hi, j = addrs[i], addrs[i] + sizes[i], i + 1
        while (j < n and addrs[j - 1] <= addrs[j] <= hi + _SPAN_GAP
               and addrs[j] + sizes[j] - lo <= _SPAN_MAX):
            hi = max(hi, addrs[j] + sizes[j])
            j += 1
        if j - i == 1:
            out.append(bytes(read_code(lo, hi - lo)))
        else:
            try:
                span = bytes(read_code(lo, hi - lo))
            except MachineError:        # e.g. a gap between two mapped regions
                span = b""
            if len(span) == hi - lo:
                out += [span[a - lo:a - lo + s] for a, s in zip(addrs[i:j], sizes[i:j])]
            else:
                out += [bytes(read_code(a, s)) for a, s in zip(addrs[i:j], sizes[i:j])]
        i = j
    return out


def _division_cycles(arr: np.ndarray, blocks: list[Block], cycles: list[np.ndarray],
                     model: CoreModel) -> int:
    """Replace the table's fixed SDIV/UDIV cost by the operand-timed cycles the native
    division hook summed per block; returns the change of the run total."""
    if "divn" not in arr.dtype.names:
        return 0
    static = model.table.classes["div"].cycles
    total = 0
    for i in np.nonzero(arr["divn"])[0].tolist():
        extra = int(arr["divcyc"][i]) - static * int(arr["divn"][i])
        at = next((j for j, insn in enumerate(blocks[i].insns) if classify(insn) == "div"), 0)
        cycles[i][at] += extra
        total += extra
    return total


def _first_load(block: Block) -> int:
    for i, insn in enumerate(block.insns):
        if classify(insn).startswith(("load", "fp_load")) or insn.name in ("tbb", "tbh"):
            return i
    return 0
