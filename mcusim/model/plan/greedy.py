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
    offsets are aligned. Buffers tied to one offset (:meth:`tie`, in-place execution; TFLM
    has no such thing) are placed together, sorted by the bytes they span, at the lowest
    offset (0 or where a member starts at the end of a placed buffer) where each member is
    clear of the placed buffers live at the same time as it; untied buffers are placed
    exactly as TFLM does.

    Limits: greedy, not optimal (it never moves a placed buffer, and the order in which
    equal sizes were added matters); ``O(n^2)`` in the number of buffers.

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

    def _place(self, buffers: list[Buffer], groups: list[list[int]],
               deltas: list[int]) -> list[int]:
        # Stable sort by the bytes a group spans, descending: untied buffers sort as in TFLM.
        def span(g: list[int]) -> int:
            return (max(deltas[i] + buffers[i].size for i in g)
                    - min(deltas[i] for i in g))

        order = sorted(groups, key=lambda g: -span(g))
        offsets = [-1] * len(buffers)
        placed: list[tuple[int, int]] = []  # (offset, buffer index), sorted by offset
        for g in order:
            if len(g) == 1:
                base = self._first_gap(buffers[g[0]], buffers, placed)
            else:
                base = self._first_fit_all(g, deltas, buffers, placed)
            for i in g:
                at = base + deltas[i]
                offsets[i] = at
                # Insert after every entry whose offset is <= at (as TFLM's list insert).
                pos = next((k for k, (off, _) in enumerate(placed) if off > at), len(placed))
                placed.insert(pos, (at, i))
        return offsets

    @staticmethod
    def _first_gap(want: Buffer, buffers: list[Buffer], placed: list[tuple[int, int]]) -> int:
        """TFLM's walk over the time-overlapping placed buffers in offset order."""
        candidate = 0
        for off, j in placed:
            if not want.overlaps_in_time(buffers[j]):
                continue
            if off - candidate >= want.size:
                break
            candidate = max(candidate, off + buffers[j].size)
        return candidate

    @staticmethod
    def _first_fit_all(group: list[int], deltas: list[int], buffers: list[Buffer],
                       placed: list[tuple[int, int]]) -> int:
        """Lowest base (each member at base + its delta, all at offsets >= 0) where every
        buffer of a tied group is clear of the placed buffers live at the same time as it;
        tried at 0 and where a member would start at the end of a placed buffer."""
        clash = {i: [(off, off + buffers[j].size) for off, j in placed
                     if buffers[j].size and buffers[i].overlaps_in_time(buffers[j])]
                 for i in group}
        low = -min(deltas[i] for i in group)
        starts = sorted({low} | {hi - deltas[i] for i in group for _, hi in clash[i]
                                 if hi - deltas[i] >= low})
        for base in starts:
            if all(not buffers[i].size
                   or all(hi <= base + deltas[i] or lo >= base + deltas[i] + buffers[i].size
                          for lo, hi in clash[i]) for i in group):
                return base
        raise AssertionError("unreachable: above the highest buffer always fits")
