"""Memory penalties: cycles charged only on misses of the caches in front of each memory.

The native hooks (:mod:`mcusim.native`) run, per costed memory range of the board, the cache
models the profile puts in front of it -- the STM32F4 ART accelerator and its prefetch
buffer, the STM32F7 ART on the ITCM view of Flash, the Cortex-M7 L1 caches on AXI Flash and
on SRAM1/SRAM2 -- and sum per block the cycles of the misses: an instruction-line miss costs
the region's Flash wait states (the line arrives after ``wait_states + 1`` cycles instead of
1), a data-line miss the region's ``line_miss_cycles`` (the wait states for Flash, the AXI
line fill for cached SRAM).  TCM, CCM and uncached SRAM are zero-wait and never costed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["memory_cycles"]


def memory_cycles(board: Any, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-block totals of instruction-fetch and data-read miss penalties over the run.

    Parameters
    ----------
    board
        A :class:`mcusim.boards.Board` (unused: the native counts already carry the costs of
        the board's regions; kept so the signature names what the costs come from).
    blocks
        The ``blocks`` array of :class:`mcusim.native.BlockCounts`.

    Returns
    -------
    (fetch, data)
        uint64 arrays (views of ``blocks``), cycles per block over the whole run.
    """
    return blocks["istall"], blocks["dstall"]
