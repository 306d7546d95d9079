"""Turn native block/edge counts into cycles, per instruction, with a core model.

Work is proportional to the number of *distinct* blocks and edges, never to the number of
executed instructions: each block is decoded and costed once (cached across runs by its
address and bytes), each edge once, and the run totals are a product of a small matrix with
the counts.  What a run's costs depend on besides its counts -- which blocks ran, their code
and the edges between them -- is kept per model as a *plan* (:class:`_Plan`), so a run of a
shape costed before is costed again with a few vectorized operations and no Python loop
over its blocks or edges.  The cycles per instruction are computed when first read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import Any, Callable, NamedTuple

import numpy as np

from mcusim.decoder import Block, Decoder, get_decoder
from mcusim.errors import MachineError
from mcusim.timing.base import CoreModel, SiteCosts
from mcusim.timing.classify import classify
from mcusim.timing.memory import memory_cycles

__all__ = ["Accounting", "account", "clear_plans"]

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
        over the run (core cost times executions plus edge, branch and memory extras);
        computed on first use.
    core, branch, pipeline, fetch, data
        Run totals of: the per-block costs, taken-branch refill / prediction costs,
        cross-block pipelining adjustments, instruction-fetch and data miss penalties.
    per_instruction
        Computes :attr:`cycles` (called once, when they are first read).
    """

    blocks: list[Block]
    executions: np.ndarray
    core: int
    branch: int
    pipeline: int
    fetch: int
    data: int
    per_instruction: Callable[[], list[np.ndarray]] = field(repr=False, compare=False)

    @cached_property
    def cycles(self) -> list[np.ndarray]:
        """Cycles of each instruction of each block over the run (see the class)."""
        return self.per_instruction()

    @property
    def total(self) -> int:
        """Total cycles of the run."""
        return self.core + self.branch + self.pipeline + self.fetch + self.data

    @property
    def instructions(self) -> int:
        """Instructions executed (IT-skipped ones included)."""
        return int(sum(int(n) * len(b.insns) for b, n in zip(self.blocks, self.executions)))


#: Run shapes whose plan each model keeps (the oldest is dropped first).
PLAN_CACHE_SIZE = 128


@dataclass(eq=False)
class _Plan:
    """The static costs of one run shape -- its blocks (addresses, sizes, code bytes) and
    the edges between them -- as arrays over the run's *count vector*: the block
    executions, the edge traversals (all edges of the counts, in their order), each
    block's fetch and data stall cycles (:func:`mcusim.timing.memory.memory_cycles`), then
    the block fields ``fields`` of the counts (division cycles and divisions, branch
    switches), ``len(blocks)`` values each.

    The run totals (core, branch, pipeline, fetch, data) are ``totals @ vector``; the
    cycles of instruction ``k`` of the blocks (in order) are the sum of
    ``coef * vector[col]`` over the entries of :attr:`sparse` with ``at == k`` (index
    ``sink``, one past the last instruction, takes what would go to an instruction of an
    empty block).  The costs of branch sites that depend on the counts (``site_costs``)
    and of the run's exit are evaluated per run by the model.
    """

    reads: tuple[tuple[int, int], ...]   # (address, size) of the code pieces read
    code: tuple[bytes, ...]              # and their bytes, to check the code is unchanged
    keys: tuple[_Key, ...]               # (address, bytes) of each block
    blocks: tuple[Block, ...]
    entries: tuple[_BlockCost, ...]      # their costs
    index: dict[int, int]                # block address -> position
    fields: tuple[str, ...]              # block fields at the end of the count vector
    totals: np.ndarray                   # int64 (5, len(count vector))
    edges: list[tuple[int, int, int]]    # costed edges: (position, source, target block)
    taken: list[int]                     # per edge of the counts: taken-branch cycles
    pipe: list[int]                      # ... and pipeline delta (0 when not costed)
    spans: tuple[tuple[int, int], ...]   # flat range of each block's instructions
    last: list[int]                      # flat index of each block's last instruction
    #: the count-dependent costs of the branch sites (blocks with an outgoing costed edge,
    #: in the order of their first one), or None; the positions in the count vector of
    #: their successor edges and of their switches, and their last instructions' indices
    site_costs: SiteCosts | None
    site_cols: np.ndarray
    switch_cols: np.ndarray | None
    site_at: np.ndarray
    exits: dict[int, int] = field(default_factory=dict)  # block -> exit cycles (on use)
    recorded: bool = False               # its keys were given to an ``account(record=)``

    @property
    def sink(self) -> int:
        return self.spans[-1][1] if self.spans else 0

    @cached_property
    def sparse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(at, col, coef)``: the per-instruction cycles as entries of a sparse matrix
        over the count vector (see the class; made on first use)."""
        nb, ne = len(self.blocks), len(self.taken)
        first = [a if a < b else self.sink for a, b in self.spans]
        at = list(range(self.sink))                   # base cost per execution
        col = [i for i, c in enumerate(self.entries) for _ in c.base]
        coef = [x for c in self.entries for x in c.base]
        for e, si, di in self.edges:                  # taken-branch and pipeline cycles
            for k, c in ((self.last[si], self.taken[e]), (first[di], self.pipe[e])):
                if c:
                    at.append(k)
                    col.append(nb + e)
                    coef.append(c)
        at += first + [f + c.first_load for f, c in zip(first, self.entries)]
        col += range(nb + ne, 3 * nb + ne)            # fetch and data stalls
        coef += [1] * (2 * nb)
        if self.fields[:2] == ("divcyc", "divn"):      # per run divisions replace the table
            div_at = [f + c.first_div for f, c in zip(first, self.entries)]
            at += div_at + div_at
            col += range(3 * nb + ne, 5 * nb + ne)
            coef += self.totals[0, 3 * nb + ne:5 * nb + ne].tolist()
        return (np.array(at, dtype=np.intp), np.array(col, dtype=np.intp),
                np.array(coef, dtype=np.int64))


class _BlockCost(NamedTuple):
    """What the accounting keeps of a distinct block (address and bytes)."""

    id: int
    block: Block
    base: list[int]     # cycles of each instruction for one execution
    total: int          # their sum
    first_load: int     # position of the first load (see _first_load)
    first_div: int      # ... of the first SDIV/UDIV (0: none)


class _Costs:
    """Per-model caches of block and edge costs and of run plans.

    ``block`` maps a block's (address, bytes) to its :class:`_BlockCost`; ``edge`` maps a
    pair of block ids to ``(taken cycles, pipeline delta)``; ``plans`` maps a run's shape
    (:func:`_shape_key`) to its :class:`_Plan`.
    """

    def __init__(self, model: CoreModel, decoder: Decoder) -> None:
        self.model = model
        self.decoder = decoder
        self.block: dict[_Key, _BlockCost] = {}
        self.edge: dict[tuple[int, int], tuple[int, int]] = {}
        self.plans: dict[tuple[Any, ...], _Plan] = {}

    def block_cost(self, address: int, code: bytes) -> _BlockCost:
        """The costs of the block of ``code`` at ``address`` (decoded on first use)."""
        cost = self.block.get((address, code))
        if cost is None:
            blk = self.decoder.decode_block(address, code)
            base = [int(c) for c in self.model.block_cycles(blk)]
            cost = self.block[(address, code)] = _BlockCost(
                len(self.block), blk, base, sum(base), _first_load(blk), _first_div(blk))
        return cost

    def edge_cost(self, src: _BlockCost, dst: _BlockCost) -> tuple[int, int]:
        """``(taken cycles, pipeline delta)`` of the edge ``src -> dst``."""
        per = self.edge.get((src.id, dst.id))
        if per is None:
            per = self.edge[(src.id, dst.id)] = (
                self.model.taken_cycles(src.block, dst.block),
                self.model.pipeline_delta(src.block, dst.block))
        return per


def _costs_for(model: CoreModel, decoder: Decoder) -> _Costs:
    """The model's cost caches, created on first use and kept on the model object; they
    hold that decoder's blocks, so another decoder starts them afresh (its blocks are
    then decoded by it, e.g. for the disk cache of decoded blocks)."""
    costs = getattr(model, "_account_costs", None)
    if costs is None or costs.decoder is not decoder:
        costs = _Costs(model, decoder)
        setattr(model, "_account_costs", costs)
    return costs


def clear_plans(model: CoreModel) -> None:
    """Forget the run plans of ``model`` (its per-block and per-edge costs stay), so the
    next :func:`account` plans its run afresh (a reference for the plan cache)."""
    costs = getattr(model, "_account_costs", None)
    if costs is not None:
        costs.plans.clear()


def account(counts: Any, board: Any, read_code: Callable[[int, int], bytes],
            model: CoreModel, *, decoder: Decoder | None = None,
            record: list[_Key] | None = None,
            before_decode: Callable[[], None] | None = None) -> Accounting:
    """Cost a run.

    A run whose shape (block addresses and sizes, edges) the model has a plan for, made
    from the same code bytes as in memory now, reuses it; any other run is planned
    afresh (and its plan kept, :data:`PLAN_CACHE_SIZE` per model).

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
        When given, each block's ``(address, bytes)`` as executed is appended to it, once
        per plan: a run whose plan was recorded before (the same blocks) appends nothing.
    before_decode
        Called before the run is planned (only then can blocks be decoded), e.g. to seed
        the decoder with blocks decoded by earlier processes.

    Returns
    -------
    Accounting
    """
    costs = _costs_for(model, decoder or get_decoder())
    key = _shape_key(counts)
    plan = costs.plans.get(key)
    if plan is None or not _code_unchanged(plan, read_code):
        if before_decode is not None:
            before_decode()
        plan = _make_plan(costs, counts, read_code)
        if len(costs.plans) >= PLAN_CACHE_SIZE:
            costs.plans.pop(next(iter(costs.plans)))
        costs.plans[key] = plan
    if record is not None and not plan.recorded:
        record.extend(plan.keys)
        plan.recorded = True
    return _cost(plan, counts, board, model)


def _shape_key(counts: Any) -> tuple[Any, ...]:
    """What a plan depends on besides the code bytes: the fields of the counts, the
    blocks' addresses and sizes and the edges' ends, in the order of the counts."""
    arr, edges = counts.blocks, counts.edges
    return (arr.dtype.names, len(arr), len(edges), arr["addr"].tobytes(),
            arr["size"].tobytes(), edges["src"].tobytes(), edges["dst"].tobytes())


def _code_unchanged(plan: _Plan, read_code: Callable[[int, int], bytes]) -> bool:
    """Whether the code bytes the plan was made from are still those in memory."""
    try:
        return all(bytes(read_code(a, n)) == c for (a, n), c in zip(plan.reads, plan.code))
    except MachineError:         # no longer mapped: plan afresh (which reports it)
        return False


def _make_plan(costs: _Costs, counts: Any, read_code: Callable[[int, int], bytes]) -> _Plan:
    """Decode and cost (or find in ``costs``) the blocks and edges of the run's shape."""
    model = costs.model
    arr, edges = counts.blocks, counts.edges
    addrs, sizes = arr["addr"].tolist(), arr["size"].tolist()
    reads, pieces, code = _read_pieces(read_code, addrs, sizes)
    entries = [costs.block_cost(a, c) for a, c in zip(addrs, code)]
    index = {a: i for i, a in enumerate(addrs)}
    nb, ne = len(entries), len(edges)
    names = arr.dtype.names
    fields: tuple[str, ...] = ("divcyc", "divn") if "divn" in names and "divcyc" in names \
        else ()
    rows = np.zeros((5, (3 + len(fields)) * nb + ne + ("switches" in names) * nb), np.int64)
    rows[0, :nb] = [c.total for c in entries]
    taken, pipe = [0] * ne, [0] * ne
    kept: list[tuple[int, int, int]] = []
    succ: dict[int, list[Block]] = defaultdict(list)
    succ_at: dict[int, list[int]] = defaultdict(list)     # their positions in the vector
    for e, s, d in zip(range(ne), edges["src"].tolist(), edges["dst"].tolist()):
        si, di = index.get(s), index.get(d)
        if si is None or di is None:
            continue
        src, dst = entries[si], entries[di]
        taken[e], pipe[e] = costs.edge_cost(src, dst)
        kept.append((e, si, di))
        succ[si].append(dst.block)
        succ_at[si].append(nb + e)
    rows[1, nb:nb + ne], rows[2, nb:nb + ne] = taken, pipe
    rows[3, nb + ne:2 * nb + ne] = rows[4, 2 * nb + ne:3 * nb + ne] = 1
    if fields:      # the native hook's operand-timed cycles replace the table's fixed cost
        # (both counts are 0 in a block that ran no division)
        static = model.table.classes["div"].cycles
        rows[0, 3 * nb + ne:4 * nb + ne], rows[0, 4 * nb + ne:5 * nb + ne] = 1, -static
    blocks = tuple(c.block for c in entries)
    site_blocks = list(succ)
    site_costs = model.site_costs([(blocks[si], succ[si]) for si in site_blocks])
    switch_cols = None
    if site_costs is not None and "switches" in names:
        fields += ("switches",)
        switch_cols = np.array(site_blocks, dtype=np.intp) + (2 + len(fields)) * nb + ne
    ends = list(accumulate(len(c.base) for c in entries))
    sink = ends[-1] if ends else 0
    last = [x - 1 if c.base else sink for x, c in zip(ends, entries)]
    return _Plan(
        reads=tuple(reads), code=tuple(pieces), keys=tuple(zip(addrs, code)), blocks=blocks,
        entries=tuple(entries), index=index, fields=fields,
        totals=rows[:, :(3 + len(fields)) * nb + ne], edges=kept, taken=taken, pipe=pipe,
        spans=tuple(zip([x - len(c.base) for x, c in zip(ends, entries)], ends)), last=last,
        site_costs=site_costs,
        site_cols=np.array([c for si in site_blocks for c in succ_at[si]], dtype=np.intp),
        switch_cols=switch_cols, site_at=np.array([last[si] for si in site_blocks], np.intp))


def _cost(plan: _Plan, counts: Any, board: Any, model: CoreModel) -> Accounting:
    """Cost the counts of a run of the plan's shape."""
    arr = counts.blocks
    vec = np.concatenate([arr["count"], counts.edges["count"], *memory_cycles(board, arr),
                          *[arr[f] for f in plan.fields]], dtype=np.int64, casting="unsafe")
    core, branch, pipeline, fetch, data = (plan.totals @ vec).tolist()
    extras: list[tuple[Any, Any]] = []      # (flat indices, cycles) beyond the matrix
    if plan.site_costs is not None:
        extra = plan.site_costs(vec[plan.site_cols],
                                None if plan.switch_cols is None else vec[plan.switch_cols])
        extras.append((plan.site_at, extra))
        branch += int(extra.sum())
    last = plan.index.get(int(counts.last))
    if last is not None and plan.blocks[last].insns:
        extra = plan.exits.get(last)
        if extra is None:
            extra = plan.exits[last] = model.exit_cycles(plan.blocks[last])
        extras.append((plan.last[last], extra))
        branch += extra
    return Accounting(list(plan.blocks), vec[:len(arr)].view(np.uint64), core, branch,
                      pipeline, fetch, data,
                      per_instruction=lambda: _per_instruction(plan, vec, extras))


def _per_instruction(plan: _Plan, vec: np.ndarray,
                     extras: list[tuple[Any, Any]]) -> list[np.ndarray]:
    """The cycles of each instruction of each block of a run (see :class:`_Plan`)."""
    at, col, coef = plan.sparse
    flat = np.zeros(plan.sink + 1, dtype=np.int64)
    np.add.at(flat, at, coef * vec[col])
    for where, extra in extras:
        np.add.at(flat, where, extra)
    return [flat[a:b] for a, b in plan.spans]


#: Blocks closer than this are read from memory in one piece (see _read_pieces).
_SPAN_GAP = 256
_SPAN_MAX = 64 * 1024


def _read_pieces(read_code: Callable[[int, int], bytes], addrs: list[int], sizes: list[int]
                 ) -> tuple[list[tuple[int, int]], list[bytes], list[bytes]]:
    """The code of the blocks, read in few pieces: blocks less than ``_SPAN_GAP`` bytes
    apart (in address order) are read as one span of at most ``_SPAN_MAX`` bytes (a span
    that cannot be read -- it leaves mapped memory -- is read block by block).

    Returns
    -------
    (reads, pieces, blocks)
        The ``(address, size)`` of each piece read, its bytes, and the bytes of each block.
    """
    reads: list[tuple[int, int]] = []
    pieces: list[bytes] = []
    out: list[bytes] = []
    i, n = 0, len(addrs)
    while i < n:
        lo, hi, j = addrs[i], addrs[i] + sizes[i], i + 1
        while (j < n and addrs[j - 1] <= addrs[j] <= hi + _SPAN_GAP
               and addrs[j] + sizes[j] - lo <= _SPAN_MAX):
            hi = max(hi, addrs[j] + sizes[j])
            j += 1
        span = b""
        if j - i > 1:
            try:
                span = bytes(read_code(lo, hi - lo))
            except MachineError:        # e.g. a gap between two mapped regions
                pass
        if j - i > 1 and len(span) == hi - lo:
            reads.append((lo, hi - lo))
            pieces.append(span)
            out += [span[a - lo:a - lo + s] for a, s in zip(addrs[i:j], sizes[i:j])]
        else:
            one = [bytes(read_code(a, s)) for a, s in zip(addrs[i:j], sizes[i:j])]
            reads += zip(addrs[i:j], sizes[i:j])
            pieces += one
            out += one
        i = j
    return reads, pieces, out


def _first_div(block: Block) -> int:
    """Position of the block's first SDIV/UDIV (0 when it has none): the native division
    hook's operand-timed cycles replace the table's fixed cost there."""
    return next((j for j, insn in enumerate(block.insns) if classify(insn) == "div"), 0)


def _first_load(block: Block) -> int:
    for i, insn in enumerate(block.insns):
        if classify(insn).startswith(("load", "fp_load")) or insn.name in ("tbb", "tbh"):
            return i
    return 0
