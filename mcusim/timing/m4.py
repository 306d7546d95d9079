"""Cortex-M4 timing engine: the TRM table plus its load/store pipelining and refill rules.

The M4 is a 3-stage single-issue pipeline, so an instruction's cost depends only on its class
(table ``profiles/cores/cortex-m4.toml``) and on the instruction right before it (load/store
pipelining, the address-generation stall).  Within a block that is the previous instruction;
across blocks it is the last instruction of the predecessor on a fall-through edge, handled by
:meth:`M4Model.pipeline_delta`.  A taken branch costs ``1 + P`` where ``P`` depends on the
branch kind (direct or indirect) and on the target's alignment and width.
"""

from __future__ import annotations

from typing import Sequence

from mcusim.decoder import DIRECT, Block, Insn
from mcusim.timing.base import address_regs, is_taken, writeback_only
from mcusim.timing.classify import classify, is_single_load, is_store
from mcusim.timing.table import CostTable, load_cost_table

__all__ = ["M4Model"]


class M4Model:
    """Cycle costs for the Cortex-M4 (see :class:`mcusim.timing.base.CoreModel`).

    Parameters
    ----------
    table
        Cost table; default ``profiles/cores/cortex-m4.toml``.

    Examples
    --------
    >>> from mcusim.decoder import Decoder
    >>> blk = Decoder().decode_block(0, bytes.fromhex("0868 4868"))  # ldr r0,[r1]; ldr r0,[r1,#4]
    >>> M4Model().block_cycles(blk)
    (2, 1)
    """

    #: Whether :meth:`site_cycles` uses the native ``switches`` counts (its branch costs depend on the edge counts alone).
    uses_switches = False

    def __init__(self, table: CostTable | None = None) -> None:
        self.table = table or load_cost_table("cortex-m4")
        r = self.table.rules
        self._direct = r["refill_direct"]
        self._indirect = r["refill_indirect"]
        self._unaligned = r["unaligned_target_extra"]
        self._ld_pipe = r["load_pipelines_after_load"]
        self._ld_wb_pipe = r["load_writeback_pipelines"]
        self._st_imm = r["store_imm_cycles"]
        self._st_reg = r["store_reg_after_load"]
        self._agu = r["agu_stall"]
        self._literal = r["literal_load_extra"]
        self._it_fold = r["it_fold"]

    # -- per instruction ---------------------------------------------------------------
    def insn_cycles(self, insn: Insn, prev: Insn | None) -> int:
        """Cycles of ``insn`` given the instruction executed just before (``None`` after a
        refill), its branch (if any) not taken."""
        cls = classify(insn)
        cost = self.table.classes[cls]
        cycles = cost.cycles + cost.per_reg * insn.reg_list
        if cls == "it":
            return 0 if (self._it_fold and prev is not None and prev.size == 2
                         and prev.branch is None) else cycles
        stall = self._agu_stall(insn, prev)
        if cls == "load":
            if not insn.writes_pc and not stall and prev is not None \
                    and is_single_load(prev) and not prev.writes_pc \
                    and (self._ld_wb_pipe or not insn.writeback):
                cycles = self._ld_pipe
            if insn.mem_base == "pc":
                cycles += self._literal
        elif cls == "store" and not stall:
            if insn.mem_index is None:
                cycles = self._st_imm if prev is None or not is_store(prev) else cycles
            elif prev is not None and is_single_load(prev):
                cycles = self._st_reg
        return cycles + stall

    def _agu_stall(self, insn: Insn, prev: Insn | None) -> int:
        if prev is None or prev.branch is not None:
            return 0
        regs = address_regs(insn)
        if not regs:
            return 0
        hit = [r for r in regs & prev.regs_write if not writeback_only(prev, r)
               or r in _data_dests(prev)]
        return self._agu if hit else 0

    # -- CoreModel ---------------------------------------------------------------------
    def block_cycles(self, block: Block) -> tuple[int, ...]:
        out = []
        prev: Insn | None = None
        for insn in block.insns:
            out.append(self.insn_cycles(insn, prev))
            prev = insn
        return tuple(out)

    def refill(self, src: Block, dst: Block | None) -> int:
        """``P`` for a taken branch ending ``src`` to ``dst`` (``None``: unknown target)."""
        p = self._direct if src.insns[-1].branch == DIRECT else self._indirect
        if dst is not None and dst.address % 4 == 2 and dst.insns and dst.insns[0].size == 4:
            p += self._unaligned
        return p

    def taken_cycles(self, src: Block, dst: Block) -> int:
        return self.refill(src, dst) if is_taken(src, dst) else 0

    def pipeline_delta(self, src: Block, dst: Block) -> int:
        if is_taken(src, dst) or not dst.insns:
            return 0
        head = dst.insns[0]
        return self.insn_cycles(head, src.insns[-1]) - self.insn_cycles(head, None)

    def site_cycles(self, src: Block, successors: Sequence[tuple[Block, int]],
                    switches: int | None = None) -> int:
        return 0

    def site_costs(self, sites: Sequence[tuple[Block, Sequence[Block]]]) -> None:
        return None

    def exit_cycles(self, src: Block) -> int:
        return self.refill(src, None) if src.insns[-1].branch is not None else 0


def _data_dests(insn: Insn) -> frozenset[str]:
    """Registers ``insn`` loads data into (all written registers but a writeback base)."""
    if insn.writeback and insn.mem_base:
        return insn.regs_write - {insn.mem_base}
    return insn.regs_write
