"""TFLite Micro's ``GreedyMemoryPlanner``: largest first, each into the first gap that fits."""

from __future__ import annotations

from mcusim.model.plan._base import Buffer, MemoryPlanner

__all__ = ["GreedyPlanner"]


class GreedyPlanner(MemoryPlanner):
    """Greedy-by-size placement, the algorithm of TFLite Micro's ``GreedyMemoryPlanner``.

    Algorithm (``greedy_memory_planner.cc``, ``CalculateOffsetsIfNeeded``):

    1. Sort the buffers by size, largest first; ties keep the ``add_buffer`` order (TFLM
       uses a stable bubble sort).
    2. The first buffer goes to offset 0.
    3. Each following buffer walks the already placed buffers that are live at the same
       time as it, in order of their offsets, and takes the lowest offset at or above the end
       of everything walked so far where the gap to the next such buffer is at least its
       size; after the last one it is appended.

    Sizes are rounded up to ``alignment`` first (TFLM's caller does this with 16), so all
    offsets are aligned. Limits: greedy, not optimal (it never moves a placed buffer, and the
    order in which equal sizes were added matters); ``O(n^2)`` in the number of buffers.

    Examples
    --------
    Three buffers of a chain ``a -> b -> c``: ``a`` and ``c`` can share bytes.

    >>> p = GreedyPlanner(alignment=1)
    >>> p.add_buffer(100, 0, 1), p.add_buffer(50, 1, 2), p.add_buffer(100, 2, 3)
    (0, 1, 2)
    >>> p.offsets(), p.arena_size
    ([0, 100, 0], 150)
    """

    name = "greedy"

    def _place(self, buffers: list[Buffer]) -> list[int]:
        order = sorted(range(len(buffers)), key=lambda i: -buffers[i].size)
        offsets = [-1] * len(buffers)
        placed: list[tuple[int, int]] = []  # (offset, buffer index), sorted by offset
        for i in order:
            want = buffers[i]
            candidate = 0
            for off, j in placed:
                if not want.overlaps_in_time(buffers[j]):
                    continue
                if off - candidate >= want.size:
                    break
                candidate = max(candidate, off + buffers[j].size)
            offsets[i] = candidate
            # Insert after every entry whose offset is <= candidate (as TFLM's list insert).
            pos = len(placed)
            for k, (off, _) in enumerate(placed):
                if off > candidate:
                    pos = k
                    break
            placed.insert(pos, (candidate, i))
        return offsets
