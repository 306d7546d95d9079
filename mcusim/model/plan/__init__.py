"""Memory planning of the activation arena, in the manner of TFLite Micro's ``memory_planner/``.

Buffer level: one interface (:class:`MemoryPlanner`: ``add_buffer(size, first_use,
last_use)``, ``offset(i)``, ``arena_size``) with interchangeable strategies
(:class:`LinearPlanner`, :class:`GreedyPlanner`), plus :meth:`MemoryPlanner.tie` to pin a
buffer at a fixed offset from another (in-place execution). Graph level: :func:`plan_graph`
returns a :class:`Plan` (plain data) for a strategy of :data:`STRATEGIES`, adding operator
reordering (:mod:`.order`, μNAS) and outputs written over, or overlapping from below, the
inputs they consume where the kernel's access order allows it (:mod:`.inplace`, after
TinyEngine; checked against the firmware under emulation); :func:`plan_summary` compares
the strategies.

Examples
--------
>>> p = GreedyPlanner()
>>> [p.add_buffer(s, a, b) for s, a, b in [(1000, 0, 1), (1000, 1, 2), (1000, 2, 3)]]
[0, 1, 2]
>>> p.offsets(), p.arena_size
([0, 1008, 0], 2016)
>>> p.check_overlaps()
"""

from mcusim.model.plan._base import DEFAULT_ALIGNMENT, Buffer, MemoryPlanner, align_up
from mcusim.model.plan.dataflow import Dataflow, lifetimes
from mcusim.model.plan.graph_plan import STRATEGIES, plan_graph, plan_in_order, plan_summary
from mcusim.model.plan.greedy import GreedyPlanner
from mcusim.model.plan.inplace import (
    InPlaceOption, conv_shift, inplace_options, window_in_place_safe, window_shift,
)
from mcusim.model.plan.linear import LinearPlanner
from mcusim.model.plan.order import OrderResult, min_peak_order
from mcusim.model.plan.result import Plan, PlannedBuffer, ScratchSlot, TensorSlot

__all__ = [
    "Buffer", "DEFAULT_ALIGNMENT", "Dataflow", "GreedyPlanner", "InPlaceOption",
    "LinearPlanner", "MemoryPlanner", "OrderResult", "Plan", "PlannedBuffer", "STRATEGIES",
    "ScratchSlot", "TensorSlot", "align_up", "conv_shift", "inplace_options", "lifetimes",
    "min_peak_order", "plan_graph", "plan_in_order", "plan_summary", "window_in_place_safe",
    "window_shift",
]
