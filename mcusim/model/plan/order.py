"""Operator reordering for the smallest peak of live bytes (μNAS's algorithm).

μNAS (Liberis, Dudziak, Lane: "μNAS: Constrained Neural Architecture Search for
Microcontrollers", 2021, section 4) defines a network's peak memory as the minimum, over all
valid execution orders of its operators, of the largest sum of live tensor bytes at any
step, and finds it by a search over topological orders with memoisation. Here the state of
the search is the set of operators already run (a bit mask): the bytes live while running
operator ``o`` depend only on that set, so the best order to reach a set is independent of
how it was reached. The forward dynamic programme visits each reachable set (each down-set
of the dependency graph) once:

    peak(S | {o}) = min over ready o of max(peak(S), live(S, o))

That is exact, and fast for chains and networks with a few branches (ResNet blocks, fire
modules: tens to thousands of sets). A graph with many parallel branches has exponentially
many sets; past ``max_states`` sets the search stops and a greedy list schedule is used
instead (each step runs the ready operator with the smallest live bytes, then the one that
frees most bytes, then the lowest index), and the better of it and the original order is
returned, marked as not exact.

``live(S, o)`` counts, with each buffer group once: the tensors produced (or graph inputs)
that a not-yet-run operator or the graph output still needs, the outputs of ``o`` and the
scratch of ``o``. With in-place credits (``credits``), the bytes an output shares with an
input dying at ``o`` are counted once; that matches the live bytes of the resulting plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from mcusim.model.plan.dataflow import Dataflow

__all__ = ["DEFAULT_MAX_STATES", "OrderResult", "live_bytes_in_order", "min_peak_order"]

#: Sets of run operators the exact search may visit before it falls back to the heuristic.
DEFAULT_MAX_STATES = 20_000


@dataclass(frozen=True)
class OrderResult:
    """An operator order, the peak of its live bytes (search objective) and whether the
    search was exhaustive (``exact``) and how many states it visited."""

    order: tuple[int, ...]
    peak: int
    exact: bool
    states: int


class _Model:
    """Precomputed bit masks for ``live(S, o)``."""

    def __init__(self, flow: Dataflow, groups: Mapping[int, int], sizes: Mapping[int, int],
                 credits: Mapping[int, Sequence[tuple[int, int]]]) -> None:
        self.flow = flow
        n = flow.num_ops
        self.n = n
        prod = flow.producers()
        cons = flow.consumers()
        outs = set(flow.graph_outputs)
        self.tensors = flow.tensors()
        self.group = {t: groups.get(t, t) for t in self.tensors}
        self.gsize: dict[int, int] = {}
        for t in self.tensors:
            g = self.group[t]
            self.gsize[g] = max(self.gsize.get(g, 0), sizes[t])
        # Per tensor: mask of its producer (0 for graph inputs) and of its consumers.
        self.prod_mask = {t: (1 << prod[t]) if t in prod else 0 for t in self.tensors}
        self.cons_mask = {t: 0 for t in self.tensors}
        for t in self.tensors:
            for c in cons.get(t, []):
                self.cons_mask[t] |= 1 << c
        self.is_out = {t: t in outs for t in self.tensors}
        self.need = [0] * n
        for o in range(n):
            for t in flow.op_inputs[o]:
                self.need[o] |= self.prod_mask[t]
        self.credits = credits
        self.members: dict[int, list[int]] = {}
        for t in self.tensors:
            self.members.setdefault(self.group[t], []).append(t)

    def ready(self, mask: int, o: int) -> bool:
        return not (mask >> o) & 1 and (self.need[o] & mask) == self.need[o]

    def live(self, mask: int, o: int) -> int:
        after = mask | (1 << o)
        groups: set[int] = set()
        outs_o = set(self.flow.op_outputs[o])
        for t in self.tensors:
            if t in outs_o:
                groups.add(self.group[t])
                continue
            pm = self.prod_mask[t]
            if pm and not mask & pm:
                continue  # not produced yet
            cm = self.cons_mask[t]
            if self.is_out[t] or (cm & ~mask) or (not cm and not pm and mask == 0):
                groups.add(self.group[t])
        total = sum(self.gsize[g] for g in groups) + self.flow.scratch[o]
        for x_in, saved in self.credits.get(o, ()):
            # x_in: an input whose bytes the output may overlap (saving ``saved`` bytes at
            # this operator) if x_in's group dies here.
            g = self.group[x_in]
            y = self.flow.op_outputs[o][0]
            if (self.group[y] != g
                    and all(not self.is_out[m] and not (self.cons_mask[m] & ~after)
                            for m in self.members[g])):
                total -= saved
                break
        return total


def live_bytes_in_order(flow: Dataflow, order: Sequence[int], *,
                        groups: Mapping[int, int] | None = None,
                        sizes: Mapping[int, int] | None = None,
                        credits: Mapping[int, Sequence[tuple[int, int]]] | None = None
                        ) -> list[int]:
    """The search objective ``live(S, o)`` at each step of ``order``."""
    m = _Model(flow, groups or {}, sizes or dict(enumerate(flow.sizes)), credits or {})
    mask, out = 0, []
    for o in order:
        out.append(m.live(mask, o))
        mask |= 1 << o
    return out


def min_peak_order(flow: Dataflow, *, groups: Mapping[int, int] | None = None,
                   sizes: Mapping[int, int] | None = None,
                   credits: Mapping[int, Sequence[tuple[int, int]]] | None = None,
                   max_states: int = DEFAULT_MAX_STATES) -> OrderResult:
    """The operator order with the smallest peak of live bytes.

    Parameters
    ----------
    flow
        The operators and tensors.
    groups
        ``tensor -> group id`` of tensors sharing one buffer (default: each its own).
    sizes
        Bytes per tensor as planned (e.g. aligned); default ``flow.sizes``.
    credits
        ``op -> [(input tensor, bytes saved)]``: the op's output may overlap that input when
        it dies there, saving those bytes at the op.
    max_states
        Budget of the exact search (sets of run operators); past it, the heuristic.

    Returns
    -------
    OrderResult
        Ties keep the original order where possible (operators are tried by index).
    """
    m = _Model(flow, groups or {}, sizes or dict(enumerate(flow.sizes)), credits or {})
    n = m.n
    identity = tuple(range(n))
    base_peak = max(live_bytes_in_order(flow, identity, groups=groups, sizes=sizes,
                                        credits=credits), default=0)
    if n == 0:
        return OrderResult((), 0, True, 1)
    full = (1 << n) - 1
    best: dict[int, int] = {0: 0}
    parent: dict[int, tuple[int, int]] = {}
    level = [0]
    states = 1
    for _ in range(n):
        nxt: dict[int, None] = {}
        for mask in level:
            peak_here = best[mask]
            for o in range(n):
                if not m.ready(mask, o):
                    continue
                new = mask | (1 << o)
                cost = max(peak_here, m.live(mask, o))
                old = best.get(new)
                if old is None:
                    states += 1
                    if states > max_states:
                        return _heuristic(m, flow, base_peak, states)
                    nxt[new] = None
                if old is None or cost < old:
                    best[new] = cost
                    parent[new] = (mask, o)
        for mask in level:
            if mask != 0:
                del best[mask]  # keep memory to two levels (parents stay for the path)
        level = list(nxt)
    order: list[int] = []
    mask = full
    while mask:
        prev, o = parent[mask]
        order.append(o)
        mask = prev
    order.reverse()
    peak = best[full]
    if base_peak <= peak:  # prefer the original order on ties
        return OrderResult(identity, base_peak, True, states)
    return OrderResult(tuple(order), peak, True, states)


def _heuristic(m: _Model, flow: Dataflow, base_peak: int, states: int) -> OrderResult:
    n = m.n
    mask, order, peak = 0, [], 0
    for _ in range(n):
        cands = []
        for o in range(n):
            if m.ready(mask, o):
                live = m.live(mask, o)
                after = _resident(m, mask | (1 << o))
                cands.append((live, after, o))
        live, _, o = min(cands)
        peak = max(peak, live)
        order.append(o)
        mask |= 1 << o
    if base_peak <= peak:
        return OrderResult(tuple(range(n)), base_peak, False, states)
    return OrderResult(tuple(order), peak, False, states)


def _resident(m: _Model, mask: int) -> int:
    """Bytes still held after the operators in ``mask`` ran."""
    groups = set()
    for t in m.tensors:
        pm = m.prod_mask[t]
        if pm and not mask & pm:
            continue
        if m.is_out[t] or (m.cons_mask[t] & ~mask):
            groups.add(m.group[t])
    return sum(m.gsize[g] for g in groups)
