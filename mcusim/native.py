"""Native Unicorn hooks that count executed blocks at emulation speed.

This module keeps the one speed trick of mcusim in one place.  Python callbacks cost about
1 µs per block; instead the block and memory-read callbacks are C functions
(``mcusim/_native_hooks.c``), compiled into a plain shared library -- in a wheel at build
time (``setup.py``), in a checkout once with the host C compiler into the build cache
(:func:`hook_library`) -- loaded with ctypes and registered with Unicorn's C
``uc_hook_add`` / ``uc_mmio_map`` by :mod:`mcusim.engine`.  A warm start only loads the
library (about a millisecond: no compiler, no JIT).  The hooks update one flat ``uint64``
state array (the ``user_data`` pointer) and never call back into Python:

* an open-addressing hash table of blocks, keyed by start address: size, instructions
  (counted once, at first sight, with a Thumb length decode of the block's bytes read through
  ``uc_mem_read``), executions, instruction-cache misses, data reads from wait-state regions
  and their data-cache misses;
* a hash table of edges (previous block -> next block), which gives taken/not-taken
  branch counts, call edges and the fall-through pairs the timing model needs.  Each block
  row remembers its last two successors with their edge rows, so a repeated edge (a loop's
  back edge, either side of a branch) is counted without hashing;
* set-associative LRU models of the instruction-fetch cache and the data cache in front of
  the wait-state memories (the STM32F4 ART accelerator, the Cortex-M7 L1 caches), so that
  only misses are charged the Flash wait states.  A way predictor finds hits without a scan
  of the set (results and LRU stamps are those of a full scan).  Instruction fetches are
  modelled per block; data reads are seen through *MMIO callbacks* on the data part of
  Flash (everything above the code: ``.rodata``, ``.data``'s load image, host-placed
  weights), because a Unicorn memory hook -- even a native one on a small range -- sends
  every load of the whole program through Unicorn's slow path, while an MMIO mapping slows
  only the loads that go there.  Literal pools inside ``.text`` stay in the fast mapping and
  are costed by the core model (treated as data-cache hits).  RAM behind a data cache (the
  Cortex-M7's SRAM1/SRAM2 on AXI) is mapped the same way when the board gives it a miss
  cost, so its loads and stores run the D-cache model while TCM and uncached RAM keep
  Unicorn's fast path.  Each costed range has its own caches (ITCM Flash: the ART; AXI
  Flash: the L1 caches), a current-line buffer and a prefetch buffer where the profile has
  them, and its own miss costs; the cycles are summed per block (``istall``, ``dstall``);
* operand-timed division: a ``UC_HOOK_CODE`` callback registered on the address of each
  SDIV/UDIV only (Unicorn instruments just those instructions) reads the two operands and
  adds the early-terminating divider's cycles to the block (``divcyc``, ``divn``);
* branch outcome changes: per block the successor it went to last time and how often that
  successor changed (``switches``), from which the M7 model estimates a dynamic predictor's
  mispredictions (counted only for core models that use them: :func:`count_switches`
  registers a block hook compiled without that work for the others);
* the instruction budget, counted down (:func:`set_budget`): when the executed
  instructions reach it the hook calls ``uc_emu_stop``;
* the lowest stack pointer: at first sight each block is marked when it holds an instruction
  that can lower SP (PUSH, SUB SP, STMDB/STR/VPUSH with SP writeback, MOV/ADD to SP); only at
  the start of the block that follows a marked one does the hook read SP (``uc_reg_read``),
  so the check costs one load per block.  Below the stack bottom the hook stops the run
  (:data:`STOP_STACK`), even when the memory below the stack is mapped.

What runs per executed block is kept small, since it runs hundreds of millions of times:
what a block needs on every execution (its instruction count, its cache and fetch lines,
whether it may lower SP) is worked out once, when the block is first seen; a repeat of a
one-block loop is a compare and a decrement; a block entered along an edge its
predecessor's memo holds, with fetch lines that hit in the line buffer or the cache's
most recently used pair, touches two rows and the cache descriptor and calls nothing (a
block whose lines were in that pair when it last ran, with the pair unchanged since -- the
cache's epoch -- is not even checked), and only the rest takes the general path.  Built with ``-DMCUSIM_HOOKS_REFERENCE`` (a test
does, see ``tests/test_native.py``), every block takes the general path and every fetch line
the model one by one, for comparing the shortcuts' counts against.

The C entry points ``uc_emu_stop`` and ``uc_mem_read`` are called through addresses stored
in the state array, so the library holds no process-specific pointer and links against
nothing.  The state layout (the ``H_*`` indices and row sizes below) is passed to the
compiler as ``-D`` flags: it is defined once, in :mod:`mcusim._native_layout` (the flags
and the key of a build: :mod:`mcusim._native_build`).

After the run :func:`read_counts` turns the state into a :class:`BlockCounts` (plain numpy
arrays), which is all the timing model sees.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mcusim import _native_build
from mcusim._native_layout import (  # noqa: F401  (the layout, re-exported)
    H_RUN, H_LEFT, H_LIMIT, NO_BUDGET, H_SWITCHES, H_STOPPED, H_TCAP, H_ECAP, H_FN_STOP,
    H_FN_READ, H_ENTRY, H_TICK, H_SCRATCH, H_BLOCKS_OFF, H_EDGES_OFF, H_NRANGES,
    H_CACHES, CACHE_WORDS, MAX_CACHES, C_SETS, C_WAYS, C_SHIFT, C_FLAGS, C_TAGS, C_MRU1,
    C_MRU2, C_PRED, C_CUR, C_EPOCH, PRED_ENTRIES, H_RANGES, RANGE_WORDS, MAX_WAIT_RANGES,
    H_DIV_MIN, H_DIV_MAX, B_ISTALL, B_DSTALL, B_DIVCYC, B_DIVN, B_SWITCHES, H_FAULT_ADDR, H_FN_REG,
    H_SP_REGID, H_SP_LIMIT, H_MIN_SP, H_MIN_SP_BLOCK, H_SP_VALUE, H_LAST_ROW,
    H_RUN_EDGE, H_FAST_KEY, H_FAST_SIZE, NO_FAST, H_FAST_LEFT, H_FAST_BASE, H_NBLOCKS, H_NEDGES, H_BUSED_OFF, H_EUSED_OFF, HEADER, SCRATCH_WORDS, BLOCK_FIELDS, EDGE_FIELDS,
    STOP_BUDGET, STOP_BLOCK_TABLE, STOP_EDGE_TABLE, STOP_FLASH_WRITE, STOP_STACK,
    H_LOOP, H_LOOP_N, H_RESUME, H_RESUME_LOOP, H_LOOP_RUNS, H_LOOP_MIN, H_RETIRE,
    LOOP_MIN_ENTRIES, L_STATE, L_START, L_SIZE, L_REG,
    L_STEP, L_CMP_REG, L_CMP_VALUE, L_BEFORE, L_UPDATE, L_HOOKED, L_COND, L_STATS, LOOP_WORDS,
    NO_REG,
)

if TYPE_CHECKING:
    from mcusim.loops import CountedLoop

BLOCK_DTYPE = np.dtype([
    ("addr", "<u4"), ("size", "<u4"), ("ninstr", "<u4"), ("count", "<u8"),
    ("imiss", "<u8"), ("dreads", "<u8"), ("dmiss", "<u8"), ("istall", "<u8"),
    ("dstall", "<u8"), ("divcyc", "<u8"), ("divn", "<u8"), ("switches", "<u8"),
])
EDGE_DTYPE = np.dtype([("src", "<u4"), ("dst", "<u4"), ("count", "<u8")])


@dataclass(frozen=True)
class CacheGeometry:
    """A set-associative LRU cache as the native hooks model it.

    Parameters
    ----------
    lines
        Number of lines in the whole cache.
    line_bytes
        Line size in bytes (a power of two): the unit of a miss.
    ways
        Associativity (``ways == lines`` is fully associative).
    prefetch
        A one-line sequential prefetch buffer (the STM32 ART prefetch): after an access to
        line ``L`` the next access to ``L + 1`` hits, with or without the cache array.
    enabled
        False: no cache array (every line that is not in the current-line or prefetch buffer
        misses).
    line_buffer
        The memory interface keeps the line it read last, so re-reading it hits (the Flash
        interface's current instruction line); used on the instruction stream.
    """

    lines: int
    line_bytes: int
    ways: int
    prefetch: bool = False
    enabled: bool = True
    line_buffer: bool = False

    @property
    def sets(self) -> int:
        return max(1, self.lines // self.ways) if self.enabled else 0


@dataclass(frozen=True)
class CostedRange:
    """A memory range whose accesses go through cache models and cost cycles on a miss.

    Parameters
    ----------
    lo, hi
        Address range ``[lo, hi)``.
    icache, dcache
        Indices into the ``caches`` list of :func:`new_state` for the instruction and data
        streams of this range.
    fetch_cycles, data_cycles
        Cycles charged per instruction-line miss and per data-line miss.
    """

    lo: int
    hi: int
    icache: int
    dcache: int
    fetch_cycles: int
    data_cycles: int


@dataclass(frozen=True)
class BlockCounts:
    """What the native hooks counted during one run (plain data).

    Attributes
    ----------
    blocks
        Structured array (:data:`BLOCK_DTYPE`): ``addr`` (block start, Thumb bit clear),
        ``size`` (bytes), ``ninstr`` (instructions, IT-skipped ones included), ``count``
        (executions), ``imiss`` (instruction-cache line misses in wait-state memory charged to
        the block), ``dreads`` (data reads from wait-state memory), ``dmiss`` (their
        data-cache misses).
    edges
        Structured array (:data:`EDGE_DTYPE`): ``src`` (start of a block), ``dst`` (start of
        the block executed right after it), ``count``.
    entry
        Address of the first block executed (it has no incoming edge).
    last
        Address of the last block executed (its exit has no outgoing edge).
    """

    blocks: np.ndarray
    edges: np.ndarray
    entry: int
    last: int

    @property
    def instructions(self) -> int:
        """Instructions executed (block counts times block lengths)."""
        return int(np.dot(self.blocks["count"].astype(np.uint64),
                          self.blocks["ninstr"].astype(np.uint64)))

    @staticmethod
    def empty() -> "BlockCounts":
        return BlockCounts(np.zeros(0, BLOCK_DTYPE), np.zeros(0, EDGE_DTYPE), 0, 0)


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def new_state(*, code_bytes: int, budget: int, fn_stop: int, fn_read: int,
              ranges: Sequence[CostedRange] = (),
              caches: Sequence[CacheGeometry] = ()) -> np.ndarray:
    """Allocate and initialise the state array for one run.

    Parameters
    ----------
    code_bytes
        Bytes of executable memory; sizes the block table (at most one block can start at
        each halfword, and the table is kept at most half full).
    budget
        Instruction budget (0 for none).
    fn_stop, fn_read
        C addresses of ``uc_emu_stop`` and ``uc_mem_read``.
    ranges
        Memory ranges whose instruction fetches and data reads go through the cache models
        (at most :data:`MAX_WAIT_RANGES`).
    caches
        The cache models the ranges refer to (at most :data:`MAX_CACHES`); one model shared
        by two ranges is one cache (e.g. the L1 D-cache in front of Flash and SRAM).

    Returns
    -------
    numpy.ndarray
        The ``uint64`` state array to pass as the hooks' ``user_data``.
    """
    if len(ranges) > MAX_WAIT_RANGES:
        raise ValueError(f"at most {MAX_WAIT_RANGES} costed memory ranges")
    if len(caches) > MAX_CACHES:
        raise ValueError(f"at most {MAX_CACHES} cache models")
    tcap = min(1 << 20, max(1 << 12, _pow2_at_least(code_bytes)))
    ecap = 2 * tcap
    blocks_off = HEADER + SCRATCH_WORDS + BLOCK_FIELDS   # after the "no block" row
    edges_off = blocks_off + tcap * BLOCK_FIELDS
    end = edges_off + ecap * EDGE_FIELDS
    offsets = []
    for geom in caches:
        if geom.line_bytes & (geom.line_bytes - 1):
            raise ValueError("cache line size must be a power of two")
        offsets.append(end)
        if geom.sets:
            end += geom.sets * geom.ways * 2 + PRED_ENTRIES
    bused = end
    eused = bused + tcap
    state = np.zeros(eused + ecap, dtype=np.uint64)
    state[H_BUSED_OFF] = bused
    state[H_EUSED_OFF] = eused
    set_budget(state, budget)
    state[H_MIN_SP] = 1 << 32
    state[H_TCAP] = tcap
    state[H_ECAP] = ecap
    state[H_FN_STOP] = fn_stop
    state[H_FN_READ] = fn_read
    state[H_SCRATCH] = HEADER
    state[H_BLOCKS_OFF] = blocks_off
    state[H_EDGES_OFF] = edges_off
    state[H_LAST_ROW] = blocks_off - BLOCK_FIELDS
    state[H_FAST_KEY] = NO_FAST
    state[H_NRANGES] = len(ranges)
    for i, rng in enumerate(ranges):
        if not (0 <= rng.icache < len(caches) and 0 <= rng.dcache < len(caches)):
            raise ValueError("a costed range names a cache model that is not given")
        row = H_RANGES + RANGE_WORDS * i
        state[row:row + RANGE_WORDS] = (rng.lo, rng.hi, rng.icache, rng.dcache,
                                        rng.fetch_cycles, rng.data_cycles)
    for i, (geom, off) in enumerate(zip(caches, offsets)):
        base = H_CACHES + CACHE_WORDS * i
        state[base + C_SETS] = geom.sets
        state[base + C_WAYS] = geom.ways
        state[base + C_SHIFT] = geom.line_bytes.bit_length() - 1
        state[base + C_FLAGS] = int(geom.prefetch) | (int(geom.line_buffer) << 1)
        state[base + C_TAGS] = off
        state[base + C_PRED] = off + geom.sets * geom.ways * 2
        state[base + C_EPOCH] = 1
    return state


def set_budget(state: np.ndarray, budget: int | None) -> None:
    """Stop runs after ``budget`` instructions (0 or None: no budget), counted from now;
    :func:`reset_counts` starts the count again from the same budget."""
    state[H_LIMIT] = budget or NO_BUDGET
    state[H_LEFT] = state[H_LIMIT]


def count_switches(state: np.ndarray, core: str) -> bool:
    """Count branch-outcome changes (``switches``) when the core's timing model uses them
    (the Cortex-M7's, :attr:`mcusim.timing.m7.M7Model.uses_switches`); returns whether it
    does, which also selects the block hook (:func:`hook_addresses`)."""
    on = core == "cortex-m7"
    state[H_SWITCHES] = int(on)
    return on


def set_division_timing(state: np.ndarray, fastest: int, slowest: int) -> None:
    """Time SDIV/UDIV from their operands: ``fastest`` cycles with no quotient bits up to
    ``slowest`` with 32 (see :func:`division_cycles`), for the divisions hooked with
    :func:`division_descriptor`."""
    state[H_DIV_MIN] = fastest
    state[H_DIV_MAX] = slowest


def division_cycles(dividend: int, divisor: int, fastest: int, slowest: int,
                    signed: bool) -> int:
    """Cycles of one division with early termination (the rule the native hook applies).

    The number of quotient bits to produce is ``clz(|divisor|) - clz(|dividend|) + 1``
    (0 when the dividend is smaller; the form of Arm's Cortex-R4 TRM divide timing); the
    cycles grow linearly from ``fastest`` (no bits, or a divisor of 0) to ``slowest``
    (32 bits), rounded up.

    >>> division_cycles(100, 7, 2, 12, False), division_cycles(3, 7, 2, 12, False)
    (4, 2)
    >>> division_cycles(0xFFFF_FFFF, 1, 2, 12, False)
    12
    """
    a, b = dividend & 0xFFFF_FFFF, divisor & 0xFFFF_FFFF
    if signed:
        a = (-a) & 0xFFFF_FFFF if a >> 31 else a
        b = (-b) & 0xFFFF_FFFF if b >> 31 else b
    if b == 0:
        return fastest
    bits = max(0, a.bit_length() - b.bit_length() + 1) if a else 0
    return fastest + -(-(slowest - fastest) * bits // 32)


def division_descriptor(state: np.ndarray, rn_regid: int, rm_regid: int,
                        signed: bool) -> np.ndarray:
    """The user data of the division hook of one SDIV/UDIV site: ``[state address, Unicorn
    register id of the dividend, of the divisor, signed]``."""
    return np.array([state.ctypes.data, rn_regid, rm_regid, int(signed)], dtype=np.uint64)


def loop_descriptor(state: np.ndarray, loop: "CountedLoop", regid: int,
                    compare_regid: int | None, stats: np.ndarray) -> np.ndarray:
    """The user data of the code hook on a counted loop's closing branch (``L_*`` fields
    of :mod:`mcusim._native_layout`): the loop of :mod:`mcusim.loops` with Unicorn's ids of
    its induction register and of the register it is compared with (None: an immediate);
    the hook adds its entries and their executions to ``stats`` (two ``uint64``, kept alive
    by the caller)."""
    from mcusim.loops import CONDITION_CODES

    d = np.zeros(LOOP_WORDS, dtype=np.uint64)
    d[L_STATE] = state.ctypes.data
    d[L_START], d[L_SIZE] = loop.start, loop.size
    d[L_REG] = regid
    d[L_STEP] = loop.step & 0xFFFF_FFFF_FFFF_FFFF
    d[L_CMP_REG] = NO_REG if compare_regid is None else compare_regid
    d[L_CMP_VALUE] = loop.compare_value
    d[L_BEFORE] = int(loop.compared_before_update)
    d[L_UPDATE] = loop.update
    d[L_COND] = CONDITION_CODES[loop.condition]
    d[L_STATS] = stats.ctypes.data
    return d


def settle_stopped_loop(state: np.ndarray, uc_handle: object, pc: int) -> None:
    """After a run that stopped while a counted loop's executions were pending (a fault in
    it, a timeout), count those that started (``loop_stopped`` in the C hooks)."""
    if state[H_LOOP]:
        fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64)(
            loop_functions()[1])
        fn(state.ctypes.data, uc_handle, pc)


def resume_point(state: np.ndarray) -> tuple[int, int, bool]:
    """``(address, descriptor address, retire)`` where a run that the loop hook stopped is
    to resume once the loop's hook-free translation is dropped (``(0, 0, False)``: it did not
    stop one), and whether the loop is to be retired (its hook removed) as well."""
    return int(state[H_RESUME]), int(state[H_RESUME_LOOP]), bool(state[H_RETIRE])


def set_loop_minimum(state: np.ndarray, executions: float) -> None:
    """Retire, in the run, a counted loop whose first :data:`LOOP_MIN_ENTRIES` (or more)
    entries ran fewer than ``executions`` executions on average (``0``: never)."""
    state[H_LOOP_MIN] = max(0, math.ceil(executions))


def loop_runs(state: np.ndarray) -> int:
    """Passages of counted loops counted without hooks since the last reset."""
    return int(state[H_LOOP_RUNS])


def set_stack_check(state: np.ndarray, fn_reg: int, sp_regid: int, limit: int) -> None:
    """Stop runs whose SP goes below ``limit`` (``fn_reg``: address of ``uc_reg_read``)."""
    state[H_FN_REG] = fn_reg
    state[H_SP_REGID] = sp_regid
    state[H_SP_LIMIT] = limit


def lowest_sp(state: np.ndarray) -> tuple[int, int]:
    """``(lowest SP seen, start of the block that lowered it)``; SP is ``2**32`` when no
    SP-lowering block ran."""
    return int(state[H_MIN_SP]), int(state[H_MIN_SP_BLOCK])


def reset_counts(state: np.ndarray) -> None:
    """Clear the counters and tables but keep configuration and cache contents.

    Keeping the cache contents between calls models a warm accelerator; call
    :func:`flush_caches` for a cold one.
    """
    state[H_MIN_SP] = 1 << 32
    state[H_MIN_SP_BLOCK] = 0
    state[H_RUN] = 0
    state[H_LEFT] = state[H_LIMIT]
    state[H_STOPPED] = state[H_ENTRY] = state[H_RUN_EDGE] = 0
    none = int(state[H_BLOCKS_OFF]) - BLOCK_FIELDS
    state[H_LAST_ROW] = none
    state[none:none + BLOCK_FIELDS] = 0     # the "no block" row (the first block's predecessor)
    state[H_FAST_LEFT] = state[H_FAST_BASE] = 0
    state[H_FAST_KEY] = NO_FAST
    state[H_LOOP] = state[H_LOOP_RUNS] = state[H_RESUME] = state[H_RETIRE] = 0
    # only the rows the hooks created (listed by them) are cleared: a short call costs
    # little however large the tables are
    off = int(state[H_BUSED_OFF])
    slots = state[off:off + int(state[H_NBLOCKS])].astype(np.intp)
    rows = slots[:, None] * BLOCK_FIELDS + (int(state[H_BLOCKS_OFF]) + _BLOCK_WORDS)
    state[rows.ravel()] = 0
    off = int(state[H_EUSED_OFF])
    erows = state[off:off + int(state[H_NEDGES])].astype(np.intp)
    state[erows] = 0
    state[erows + 1] = 0
    state[H_NBLOCKS] = state[H_NEDGES] = 0


_BLOCK_WORDS = np.arange(BLOCK_FIELDS)


#: State indices of every cache descriptor's base, and of their line buffers and MRU pairs.
_CACHE_BASES = H_CACHES + CACHE_WORDS * np.arange(MAX_CACHES)
_CACHE_BUFFERS = (_CACHE_BASES[:, None] + np.array([C_MRU1, C_MRU2, C_CUR])).ravel()


def flush_caches(state: np.ndarray) -> None:
    """Invalidate the cache models and their line buffers (a cold start)."""
    state[_CACHE_BUFFERS] = 0
    state[_CACHE_BASES + C_EPOCH] += np.uint64(1)   # the blocks' B_EPOCH no longer match
    for base in _CACHE_BASES[state[_CACHE_BASES + C_SETS] != 0].tolist():
        off = int(state[base + C_TAGS])
        n = int(state[base + C_SETS]) * int(state[base + C_WAYS]) * 2
        state[off:off + n] = 0          # the way predictor only holds hints: left as is


#: BLOCK_DTYPE fields and the block row fields they come from.
_BLOCK_COLUMNS = (("addr", 0), ("size", 1), ("ninstr", 2), ("count", 3), ("imiss", 4),
                  ("dreads", 5), ("dmiss", 6), ("istall", B_ISTALL), ("dstall", B_DSTALL),
                  ("divcyc", B_DIVCYC), ("divn", B_DIVN), ("switches", B_SWITCHES))


def _row_view(dtype: np.dtype, columns: tuple[tuple[str, int], ...], words: int) -> np.dtype:
    """A structured dtype that reads ``dtype``'s fields out of rows of ``words`` native uint64
    (field ``name`` from word ``column``; a 4-byte field from the word's low half)."""
    def offset(name: str, column: int) -> int:
        small = dtype.fields[name][0].itemsize == 4
        return 8 * column + (4 if small and sys.byteorder == "big" else 0)

    return np.dtype({"names": [n for n, _ in columns],
                     "formats": [dtype.fields[n][0].newbyteorder("=") for n, _ in columns],
                     "offsets": [offset(n, c) for n, c in columns], "itemsize": 8 * words})


_BLOCK_ROW = _row_view(BLOCK_DTYPE, _BLOCK_COLUMNS, BLOCK_FIELDS)


def read_counts(state: np.ndarray) -> BlockCounts:
    """Turn the state array after a run into :class:`BlockCounts`."""
    boff = int(state[H_BLOCKS_OFF])
    off = int(state[H_BUSED_OFF])
    slots = state[off:off + int(state[H_NBLOCKS])].astype(np.intp)
    slots = slots[np.argsort(state[boff + slots * BLOCK_FIELDS])]   # by address (one row each)
    rows = state[(boff + slots * BLOCK_FIELDS)[:, None] + _BLOCK_WORDS]
    rows[:, 0] -= np.uint64(1)              # key (start address + 1) -> address
    blocks = rows.view(_BLOCK_ROW).ravel().astype(BLOCK_DTYPE)
    # Repeats of the last block the hooks had not added to it and its self edge yet (added
    # here to the copy: read_counts must not change the state, it also runs mid-run).
    run = _pending_run(state)
    if run:
        slot = (int(state[H_LAST_ROW]) - boff) // BLOCK_FIELDS
        blocks["count"][np.flatnonzero(slots == slot)[0]] += run
    off = int(state[H_EUSED_OFF])
    erows = state[off:off + int(state[H_NEDGES])].astype(np.intp)
    keys = state[erows] - np.uint64(1)
    ends = np.empty((len(erows), 2), dtype=np.intp)          # source and target slots
    ends[:, 0] = keys >> np.uint64(32)
    ends[:, 1] = keys & np.uint64(0xFFFFFFFF)
    edges = np.empty(len(erows), EDGE_DTYPE)
    addrs = state[boff + (ends - 1) * BLOCK_FIELDS] - np.uint64(1)
    edges["src"], edges["dst"] = addrs[:, 0], addrs[:, 1]
    edges["count"] = state[erows + 1]
    if run:
        edges["count"][np.flatnonzero(erows == int(state[H_RUN_EDGE]))[0]] += run
    entry = int(state[H_ENTRY]) - 1 if state[H_ENTRY] else 0
    last = current_block(state)
    eorder = np.lexsort((edges["dst"], edges["src"]))   # each (src, dst) has one row
    return BlockCounts(blocks, edges[eorder], entry, last)


def _pending_run(state: np.ndarray) -> int:
    """Repeats of the current block not yet added to its count (the fast path's included)."""
    return int(state[H_RUN]) + int(state[H_FAST_BASE]) - int(state[H_FAST_LEFT])


def stop_reason(state: np.ndarray) -> int:
    """0 when the hooks did not stop the run, else one of the ``STOP_*`` codes."""
    return int(state[H_STOPPED])


def executed_instructions(state: np.ndarray) -> int:
    """Instructions executed, the pending repeats of the last block included."""
    run = _pending_run(state)
    ninstr = int(state[int(state[H_LAST_ROW]) + 2]) if run else 0
    return (int(state[H_LIMIT]) - int(state[H_LEFT])) % (1 << 64) + run * ninstr


# ---------------------------------------------------------------------------------------
# The compiled hooks.

def current_block(state: np.ndarray) -> int:
    """Start address of the block being executed when the run stopped."""
    return max(0, int(state[int(state[H_LAST_ROW])]) - 1)


def fault_address(state: np.ndarray) -> int:
    """The Flash address a store targeted (after :data:`STOP_FLASH_WRITE`)."""
    return int(state[H_FAULT_ADDR])


def mmio_descriptor(state: np.ndarray, host: np.ndarray, base: int) -> np.ndarray:
    """The user data of the MMIO callbacks for host bytes ``host`` mapped at ``base`` (the
    Flash data callbacks and the cached-RAM callbacks take the same): ``[state address, host
    address, base, 0]`` (the hooks keep the costed range they found last in the last word)."""
    return np.array([state.ctypes.data, host.ctypes.data, base, 0], dtype=np.uint64)


def _host_compiler() -> str:
    from mcusim.errors import ToolchainError

    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        path = shutil.which(name) if name else None
        if path:
            return path
    raise ToolchainError("no host C compiler to build mcusim's native hooks (needed once)",
                         hint="install one with: sudo apt-get install gcc (or set $CC)")


def prebuilt_library(directory: Path | None = None) -> Path | None:
    """The library built with the wheel (``setup.py``), or None when there is none or it is
    stale (its recorded key is not the key of the installed source and layout)."""
    directory = directory or Path(__file__).parent
    lib = directory / _native_build.PREBUILT
    try:
        key = (directory / _native_build.PREBUILT_KEY).read_text().strip()
    except OSError:
        return None
    return lib if lib.is_file() and key == _native_build.source_key() else None


def hook_library() -> Path:
    """The shared library of the C hooks: the wheel's prebuilt one when it matches the
    source, else one built with the host compiler on first use and cached.

    The cache key covers the source, the flags (with the state layout) and the compiler
    (its path, size and modification time), so a changed layout or compiler rebuilds it.
    Concurrent processes may build it at the same time: each writes a private file and
    renames it into place.
    """
    prebuilt = prebuilt_library()
    if prebuilt is not None:
        return prebuilt
    from mcusim.build import cache_dir
    from mcusim.errors import ToolchainError

    cc = _host_compiler()
    stat = os.stat(cc)
    key = hashlib.sha256("\0".join([_native_build.source_key(), cc, str(stat.st_size),
                                     str(stat.st_mtime_ns)]).encode()).hexdigest()[:16]
    lib = cache_dir() / "native" / key / "mcusim_hooks.so"
    if lib.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_name(f".{os.getpid()}.{lib.name}")
    out = _native_build.compile_hooks(cc, tmp)
    if out.returncode != 0:
        raise ToolchainError("building mcusim's native hooks failed",
                             command=" ".join(out.args), output=out.stderr.strip()[-2000:])
    os.replace(tmp, lib)
    return lib


@cache
def hook_addresses(switches: bool = True) -> tuple[int, int, int]:
    """Load (building once if needed) the C hooks; return their addresses.

    Parameters
    ----------
    switches
        Whether the block hook counts branch-outcome changes (see :func:`count_switches`;
        without, a hook compiled without that work).

    Returns
    -------
    (block_hook, mmio_read, mmio_write)
        Addresses of ``void block_hook(uc_engine*, uint64_t addr, uint32_t size, void*)``,
        ``uint64_t mmio_read(uc_engine*, uint64_t offset, unsigned size, void*)`` and
        ``void mmio_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void*)``.
    """
    block = "block_hook" if switches else "block_hook_no_switches"
    return _addresses(block, "mmio_read", "mmio_write")  # type: ignore[return-value]


@cache
def model_hook_addresses() -> tuple[int, int, int]:
    """Addresses of the cached-RAM and division hooks.

    Returns
    -------
    (ram_read, ram_write, division)
        ``ram_read``/``ram_write``: MMIO callbacks for RAM behind a data cache (they read and
        write the host bytes and run the D-cache model; signatures as ``mmio_read`` /
        ``mmio_write``); ``division``: a ``UC_HOOK_CODE`` callback registered on the address
        of one SDIV/UDIV, which times that division from its operands (user data:
        :func:`division_descriptor`).
    """
    return _addresses("ram_read", "ram_write", "division_hook")  # type: ignore[return-value]


@cache
def loop_functions() -> tuple[int, int, bool]:
    """``(loop_hook, loop_stopped, supported)``: the counted-loop code hook (user data:
    :func:`loop_descriptor`), the function :func:`settle_stopped_loop` calls, and whether
    the library counts loops at all (not the tests' reference build)."""
    hook, stopped, supported = _addresses("loop_hook", "loop_stopped", "loops_supported")
    flag = ctypes.CFUNCTYPE(ctypes.c_int)(supported)()
    return hook, stopped, bool(flag)


def _addresses(*names: str) -> tuple[int, ...]:
    if not _LOADED:
        _LOADED.append(ctypes.CDLL(str(hook_library())))  # kept for the process's life
    lib = _LOADED[0]
    return tuple(int(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0)
                 for name in names)


_LOADED: list[ctypes.CDLL] = []


@cache
def tlb_fill_address() -> int:
    """Address of the TLB-fill callback of :meth:`mcusim.engine.Engine.use_data_tlb`:
    ``bool tlb_fill(uc_engine*, uint64_t vaddr, uc_mem_type, uc_tlb_entry*, uint64_t *pages)``
    (user data: :func:`tlb_pages`)."""
    return _addresses("tlb_fill")[0]


def tlb_pages(page_bytes: int) -> np.ndarray:
    """User data of the TLB-fill callback for pages of ``page_bytes``: the page shift, then a
    bitmap over the 32-bit address space of the pages code has been fetched from (none)."""
    shift = page_bytes.bit_length() - 1
    if page_bytes != 1 << shift or shift < 6:
        raise ValueError(f"page size must be a power of two >= 64, got {page_bytes}")
    pages = np.zeros(1 + (1 << (32 - shift - 6)), dtype=np.uint64)
    pages[0] = shift
    return pages


@cache
def trap_hook_address() -> int:
    """Address of the code hook of :mod:`mcusim.traps` in the C hooks library:
    ``void trap_hook(uc_engine*, uint64_t addr, uint32_t size, uint64_t *desc)``."""
    return _addresses("trap_hook")[0]


def forget_library() -> None:
    """Forget the loaded hooks library and every address taken from it, so that the next
    machine loads :func:`hook_library` again (for tests and benchmarks that swap it)."""
    for fn in (hook_addresses, model_hook_addresses, trap_hook_address, loop_functions,
               tlb_fill_address):
        fn.cache_clear()
    _LOADED.clear()
