"""The no-reuse baseline planner (TFLite Micro's ``LinearMemoryPlanner``)."""

from __future__ import annotations

from mcusim.model.plan._base import Buffer, MemoryPlanner

__all__ = ["LinearPlanner"]


class LinearPlanner(MemoryPlanner):
    """Every buffer gets its own bytes, one after the other in ``add_buffer`` order.

    No memory is reused, so the arena is the sum of the (aligned) sizes: the upper bound the
    other planners are compared with. Lifetimes are recorded (for the timeline and the
    overlap check) but not used. A tied group (:meth:`tie`) takes the span of its members.

    Examples
    --------
    >>> p = LinearPlanner(alignment=16)
    >>> p.add_buffer(10, 0, 1), p.add_buffer(20, 1, 2), p.add_buffer(16, 2, 3)
    (0, 1, 2)
    >>> [p.offset(i) for i in range(3)], p.arena_size
    ([0, 16, 48], 64)
    """

    name = "linear"

    def _place(self, buffers: list[Buffer], groups: list[list[int]],
               deltas: list[int]) -> list[int]:
        offsets, at = [0] * len(buffers), 0
        for g in groups:  # a tied group takes the span of its members
            lo = min(deltas[i] for i in g)
            hi = max(deltas[i] + buffers[i].size for i in g)
            for i in g:
                offsets[i] = at - lo + deltas[i]
            at += hi - lo
        return offsets
