"""Memory penalties: Flash wait states charged only on cache/accelerator misses.

The native hooks (:mod:`mcusim.native`) simulate the caches in front of every wait-state
region of the board (the STM32F4 ART accelerator, the Cortex-M7 L1 caches) and report, per
block, the instruction-fetch line misses (``imiss``) and the data-read misses (``dmiss``).
Each miss costs the wait states of the memory behind the cache (``MemoryRegion.wait_states``
in the board profile): the line arrives after ``wait_states + 1`` cycles instead of 1.

APPROXIMATION: a data miss is charged the largest wait-state count of the board's regions,
since the counts do not record which region a data read hit; on the supported boards all
wait-state regions are aliases of the same Flash.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fetch_wait_states", "data_wait_states", "memory_cycles"]


def fetch_wait_states(board: Any, addresses: np.ndarray) -> np.ndarray:
    """Wait states of the region holding each code address (0 outside any region)."""
    out = np.zeros(len(addresses), dtype=np.int64)
    for region in board.regions:
        ws = int(getattr(region, "wait_states", 0))
        if ws:
            start = int(region.start)
            inside = (addresses >= start) & (addresses < start + int(region.size))
            out[inside] = ws
    return out


def data_wait_states(board: Any) -> int:
    """Wait states charged per data-cache miss (the largest of the board)."""
    return max((int(getattr(r, "wait_states", 0)) for r in board.regions), default=0)


def memory_cycles(board: Any, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-block totals of instruction-fetch and data-read miss penalties over the run.

    Parameters
    ----------
    board
        A :class:`mcusim.boards.Board`.
    blocks
        The ``blocks`` array of :class:`mcusim.native.BlockCounts`.

    Returns
    -------
    (fetch, data)
        int64 arrays, cycles per block over the whole run.
    """
    addrs = blocks["addr"].astype(np.int64)
    fetch = blocks["imiss"].astype(np.int64) * fetch_wait_states(board, addrs)
    data = blocks["dmiss"].astype(np.int64) * data_wait_states(board)
    return fetch, data
