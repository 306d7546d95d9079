"""Cortex-M7 timing engine: an in-order dual-issue scheduler over each block.

Each instruction issues in the earliest cycle where its operands are ready; it joins the
previous instruction's cycle (dual issue) when the pair is allowed by the rules below, all
approximations of community measurements (``profiles/cores/cortex-m7.toml`` cites them):

* single-issue classes never pair: divide, register-list transfers, FP divide/sqrt,
  barriers, TBB/TBH, and FP arithmetic;
* the younger instruction must not read or write a register the older one writes;
* two memory accesses pair only when both are single loads from the same base register
  whose offsets fall in different DTCM banks (``rules.load_bank_bit``); stores never pair;
* two multiplies never pair; two shifted-operand (incl. extend/bitfield) instructions never
  pair; DSP/SIMD instructions only issue in the older slot;
* nothing issues in the same cycle after a branch.

Results become available after the class ``latency``; an address register or a shifted
operand must be ready one cycle earlier (``rules.agu_stall``).  Branches cost a bubble when
taken and predicted, and ``rules.mispredict_penalty`` per misprediction estimated from the
edge counts (:meth:`M7Model.site_cycles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mcusim.decoder import DIRECT, Block, Insn
from mcusim.timing.base import address_regs, is_taken, writeback_only
from mcusim.timing.classify import classify, is_fp_arith, is_memory, is_multiply
from mcusim.timing.table import CostTable, load_cost_table

__all__ = ["M7Model"]

_SINGLE_ISSUE = frozenset({"div", "load_multiple", "store_multiple", "fp_load_multiple",
                           "fp_store_multiple", "fp_div", "fp_sqrt", "barrier",
                           "table_branch", "fp_alu", "fp_mac"})
_SHIFT_LIKE = frozenset({"sxtb", "sxth", "uxtb", "uxth", "sxtb16", "uxtb16", "sxtab",
                         "sxtah", "uxtab", "uxtah", "sxtab16", "uxtab16", "ubfx", "sbfx",
                         "bfi", "bfc"})
_PLAIN_MUL = frozenset({"mul", "mla", "mls", "smull", "umull", "smlal", "umlal"})
_DSP_ALU = frozenset({"rev", "rev16", "revsh", "rbit", "ssat", "usat", "ssat16", "usat16",
                      "qadd", "qsub", "qdadd", "qdsub", "sel", "usad8", "usada8"})
_WINDOW = 4
# kinds of branch site (M7Model.site_costs)
_NO_COST, _CONDITIONAL, _ALWAYS, _INDIRECT = range(4)


@dataclass
class _Sched:
    """State of the in-order scheduler."""

    end: int = 0                    # first cycle not yet used by an issued group
    group_cycle: int = -1           # cycle of the open group (one instruction in it)
    group_insn: Insn | None = None  # the open group's instruction, None if closed
    ready: dict[str, int] = field(default_factory=dict)
    mac_ready: dict[str, int] = field(default_factory=dict)  # accumulators of MACs


class M7Model:
    """Cycle costs for the Cortex-M7 (see :class:`mcusim.timing.base.CoreModel`).

    Parameters
    ----------
    table
        Cost table; default ``profiles/cores/cortex-m7.toml``.

    Examples
    --------
    >>> from mcusim.decoder import Decoder
    >>> blk = Decoder().decode_block(0, bytes.fromhex("0130 0231"))  # adds r0,#1; adds r1,#2
    >>> M7Model().block_cycles(blk)
    (1, 0)
    """

    #: Whether :meth:`site_cycles` uses the native ``switches`` counts (its branch predictor estimate reads them).
    uses_switches = True

    def __init__(self, table: CostTable | None = None) -> None:
        self.table = table or load_cost_table("cortex-m7")
        r = self.table.rules
        self._pair_regs = max(1, r["pair_regs"])
        self._bank_bit = r["load_bank_bit"]
        self._taken = r["predicted_taken_penalty"]
        self._mispredict = r["mispredict_penalty"]
        self._early = r["agu_stall"]
        self._acc_forward = r.get("mac_accumulator_forwarding", 0)
        self._mac_younger = r.get("mac_pairs_as_younger", 0)

    # -- scheduling --------------------------------------------------------------------
    def occupancy(self, insn: Insn) -> int:
        """Issue cycles of ``insn`` (register lists move ``pair_regs`` registers a cycle)."""
        cls = classify(insn)
        cost = self.table.classes[cls]
        if cls.endswith("_multiple"):
            return max(1, -(-insn.reg_list // self._pair_regs)) + cost.cycles
        return max(1, cost.cycles + cost.per_reg * insn.reg_list)

    def schedule(self, insns: Sequence[Insn]) -> list[int]:
        """Cycles attributed to each instruction of ``insns`` run in order from an idle
        pipeline: the growth of the schedule's end caused by that instruction (0 when it
        dual-issues in a cycle already counted)."""
        st = _Sched()
        return [self._issue(st, insn) for insn in insns]

    def _issue(self, st: _Sched, insn: Insn) -> int:
        cls = classify(insn)
        early = address_regs(insn) | (insn.regs_read if _is_shifted(insn) else frozenset())
        late = _accumulators(insn) if self._acc_forward else frozenset()
        ready = 0
        for reg in insn.regs_read:
            t = st.ready.get(reg, 0)
            if reg in early and t > 0:
                t += self._early
            elif reg in late and reg in st.mac_ready:
                t = st.mac_ready[reg]   # accumulator forwarded late from the MAC pipeline
            ready = max(ready, t)
        old_end = st.end
        older = st.group_insn
        if (older is not None and ready <= st.group_cycle and self._can_pair(older, insn)):
            issue = st.group_cycle
            st.group_insn = None
            st.end = max(st.end, issue + self.occupancy(insn))
        else:
            issue = max(st.end, ready)
            occ = self.occupancy(insn)
            st.end = issue + occ
            single = occ == 1 and cls not in _SINGLE_ISSUE and insn.branch is None
            st.group_insn = insn if single else None
            st.group_cycle = issue
        latency = self.table.classes[cls].latency
        for reg in insn.regs_write:
            st.ready[reg] = issue + (1 if writeback_only(insn, reg) and is_memory(insn)
                                     else latency)
            st.mac_ready.pop(reg, None)
        if late:
            for reg in insn.regs_write:
                st.mac_ready[reg] = issue + 1
        return st.end - old_end

    def _can_pair(self, older: Insn, younger: Insn) -> bool:
        cy = classify(younger)
        if cy in _SINGLE_ISSUE or is_fp_arith(younger) or is_fp_arith(older):
            return False
        if younger.regs_read & older.regs_write or younger.regs_write & older.regs_write:
            return False
        if is_memory(older) and is_memory(younger):
            return self._loads_pair(older, younger)
        if is_multiply(older) and is_multiply(younger):
            return False
        if _is_shifted(older) and _is_shifted(younger):
            return False
        if self._mac_younger and is_multiply(younger) and not is_multiply(older):
            return True
        return not _is_dsp(younger)

    def _loads_pair(self, a: Insn, b: Insn) -> bool:
        ca, cb = classify(a), classify(b)
        if ca not in ("load", "fp_load") or cb not in ("load", "fp_load"):
            return False
        if a.mem_index or b.mem_index or a.mem_base != b.mem_base or a.writeback \
                or b.writeback or a.writes_pc or b.writes_pc:
            return False
        bit = self._bank_bit
        return ((a.mem_disp >> bit) & 1) != ((b.mem_disp >> bit) & 1)

    # -- CoreModel ---------------------------------------------------------------------
    def block_cycles(self, block: Block) -> tuple[int, ...]:
        return tuple(self.schedule(block.insns))

    def taken_cycles(self, src: Block, dst: Block) -> int:
        return self._taken if is_taken(src, dst) else 0

    def pipeline_delta(self, src: Block, dst: Block) -> int:
        if is_taken(src, dst) or not dst.insns:
            return 0
        tail = list(src.insns[-_WINDOW:])
        head = list(dst.insns[:_WINDOW])
        joined = sum(self.schedule(tail + head))
        return joined - sum(self.schedule(tail)) - sum(self.schedule(head))

    def site_cycles(self, src: Block, successors: Sequence[tuple[Block, int]],
                    switches: int | None = None) -> int:
        if not successors:
            return 0
        costs = self.site_costs([(src, [dst for dst, _ in successors])])
        return int(costs(np.array([n for _, n in successors], dtype=np.int64),
                         None if switches is None else np.array([switches], dtype=np.int64))[0])

    def site_costs(self, sites: Sequence[tuple[Block, Sequence[Block]]]) -> _SiteCosts:
        kinds, taken, starts = [], [], []
        for src, successors in sites:
            last = src.insns[-1]
            starts.append(len(taken))
            taken += [is_taken(src, dst) for dst in successors]
            if last.branch is None or not any(taken[starts[-1]:]):
                kinds.append(_NO_COST)
            elif last.branch == DIRECT:
                kinds.append(_CONDITIONAL if last.conditional else _ALWAYS)
            else:
                kinds.append(_INDIRECT)
        kind = np.array(kinds, dtype=np.int8)
        return _SiteCosts(np.array(starts, dtype=np.intp), np.array(taken, dtype=np.int64),
                          np.flatnonzero(kind == _ALWAYS), np.flatnonzero(kind == _INDIRECT),
                          np.where(kind == _NO_COST, 0, self._mispredict).astype(np.int64))

    def exit_cycles(self, src: Block) -> int:
        return self._taken if src.insns[-1].branch is not None else 0


@dataclass(frozen=True)
class _SiteCosts:
    """Misprediction cycles of a fixed list of branch sites (:meth:`M7Model.site_costs`).

    A conditional direct branch mispredicts ``min(taken, not taken)`` times (a static
    majority guess), or, when the run recorded how often the site's outcome changed,
    at most once per two changes (a dynamic predictor misses about once per change of
    outcome run: a loop's exit, then its first taken back-edge is predicted again); an
    unconditional direct branch never does; an indirect one each time it does not go to
    its most frequent target.  Each site with a taken successor also pays one
    misprediction (its first, unpredicted execution).
    """

    starts: np.ndarray      # per site: its first successor entry
    taken: np.ndarray       # per successor entry: 1 when the edge is a taken branch
    always: np.ndarray      # positions of the sites of unconditional direct branches
    indirect: np.ndarray    # positions of the sites of indirect branches
    charge: np.ndarray      # per site: cycles of a misprediction (0: the site never pays)

    def __call__(self, counts: np.ndarray, switches: np.ndarray | None) -> np.ndarray:
        if not len(self.starts):
            return np.zeros(0, dtype=np.int64)
        n_taken = np.add.reduceat(counts * self.taken, self.starts)
        total = np.add.reduceat(counts, self.starts)
        misses = np.minimum(n_taken, total - n_taken)
        if switches is not None:
            misses = np.minimum(misses, (switches + 1) // 2)
        misses[self.always] = 0
        if len(self.indirect):
            misses[self.indirect] = (total - np.maximum.reduceat(counts, self.starts)
                                     )[self.indirect]
        return self.charge * (misses + 1)


_ACC_LAST = frozenset({"mla", "mls", "smlad", "smladx", "smlsd", "smlsdx", "smlabb", "smlabt",
                       "smlatb", "smlatt", "smlawb", "smlawt", "smmla", "smmlar", "smmls",
                       "smmlsr", "usada8"})
_ACC_PAIR = frozenset({"smlal", "umlal", "smlald", "smlaldx", "smlsld", "smlsldx", "smlalbb",
                       "smlalbt", "smlaltb", "smlaltt", "umaal"})


def _accumulators(insn: Insn) -> frozenset[str]:
    """The accumulator operands of a multiply-accumulate (``Ra``, or ``RdLo, RdHi``)."""
    if insn.name not in _ACC_LAST and insn.name not in _ACC_PAIR:
        return frozenset()
    ops = [o.strip() for o in insn.op_str.split(",")]
    if insn.name in _ACC_LAST:
        return frozenset(ops[-1:]) if len(ops) == 4 else frozenset()
    return frozenset(ops[:2])


def _is_shifted(insn: Insn) -> bool:
    return insn.shifted or insn.name in _SHIFT_LIKE


def _is_dsp(insn: Insn) -> bool:
    name = insn.name
    if name in _DSP_ALU or (is_multiply(insn) and name not in _PLAIN_MUL):
        return True
    return name.endswith(("8", "16")) and name[:1] in ("s", "q", "u")
