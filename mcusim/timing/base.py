"""The interface every core timing engine implements, and helpers shared by the engines.

An engine costs *static* things only -- a decoded block, a pair of blocks joined by an edge,
a branch site with its outgoing edge counts -- so that the cost of a run is a dot product of
execution counts with per-block and per-edge costs, never per-instruction Python work.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

from mcusim.decoder import Block, Insn
from mcusim.timing.table import CostTable

__all__ = ["CoreModel", "SiteCosts", "is_taken", "address_regs", "writeback_only"]

#: ``costs(counts, switches) -> cycles``: the count-dependent costs of a fixed list of branch
#: sites (:meth:`CoreModel.site_costs`) for one run.  ``counts``: int64, the traversals of
#: each site's successor edges, the sites one after the other; ``switches``: int64 per
#: site, or None (not recorded).  Returns int64 cycles per site.
SiteCosts = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


class CoreModel(Protocol):
    """Static cycle costs of one core.

    All methods return whole cycles for zero-wait-state memory.
    """

    table: CostTable

    def block_cycles(self, block: Block) -> tuple[int, ...]:
        """Cycles of each instruction of ``block`` for one execution entered with no context
        (after a pipeline refill), its final branch treated as not taken."""

    def taken_cycles(self, src: Block, dst: Block) -> int:
        """Extra cycles charged to the last instruction of ``src`` each time control passes
        to ``dst`` (branch refill / predicted-taken bubble; 0 for a fall-through)."""

    def pipeline_delta(self, src: Block, dst: Block) -> int:
        """Cross-block pipelining adjustment charged to the first instruction of ``dst``
        for one traversal of the edge (e.g. a load after a load, a stall on an address
        register written at the end of ``src``, dual issue across the boundary)."""

    def site_cycles(self, src: Block, successors: Sequence[tuple[Block, int]],
                    switches: int | None = None) -> int:
        """Count-dependent branch costs of the site ending ``src`` over the whole run
        (branch misprediction), charged to its last instruction.  ``switches``: how many
        times the site's successor changed from one execution to the next (``None``:
        not recorded)."""

    def site_costs(self, sites: Sequence[tuple[Block, Sequence[Block]]]) -> SiteCosts | None:
        """:meth:`site_cycles` of many sites at once: for sites given as the block ending
        each and its successor blocks (at least one), a function costing them for the
        successor counts of any run (None: they never cost anything).  The accounting
        calls it once per run shape and the function once per run."""

    def exit_cycles(self, src: Block) -> int:
        """Extra cycles of the final exit of the run from ``src`` (the return to the caller)."""


def is_taken(src: Block, dst: Block) -> bool:
    """Whether the edge ``src -> dst`` is a taken branch.

    A block that ends without a branch falls through; an unconditional branch is always
    taken; a conditional one is taken unless ``dst`` starts at the fall-through address.
    """
    last = src.insns[-1]
    if last.branch is None:
        return False
    if not last.conditional:
        return True
    return dst.address != src.end


def address_regs(insn: Insn) -> frozenset[str]:
    """Registers used to form the data address of a load/store (PC excluded)."""
    regs = {r for r in (insn.mem_base, insn.mem_index) if r and r != "pc"}
    return frozenset(regs)


def writeback_only(prev: Insn, reg: str) -> bool:
    """``reg`` was written by ``prev`` only as its own base-register writeback."""
    return prev.writeback and prev.mem_base == reg
