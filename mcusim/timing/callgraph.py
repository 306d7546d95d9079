"""Call graph from BL/BLX edges, and inclusive costs through calls.

A call is an edge whose source block ends in BL/BLX; its count is the number of calls.
Inclusive cost follows the gprof rule: a callee's inclusive cost is shared among its callers
in proportion to the number of calls each made (APPROXIMATION: exact when every call of a
function costs the same; recursive edges are ignored).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping

__all__ = ["inclusive_costs"]

CallEdges = Mapping[tuple[str, str], int]


def inclusive_costs(self_costs: Mapping[str, float], calls: CallEdges,
                    roots: Mapping[str, int] | None = None) -> dict[str, float]:
    """Inclusive cost of every function.

    Parameters
    ----------
    self_costs
        Self cost per function.
    calls
        Number of calls per ``(caller, callee)`` pair.
    roots
        Extra entries per function that come from outside (e.g. the host calling the
        entry function once); they count as calls for sharing but add no caller cost.

    Returns
    -------
    dict
        Inclusive cost per function (``self`` plus the shared inclusive cost of callees).

    Examples
    --------
    >>> inclusive_costs({"main": 10, "f": 5}, {("main", "f"): 2}, {"main": 1})
    {'main': 15.0, 'f': 5.0}
    """
    callees: dict[str, list[tuple[str, int]]] = defaultdict(list)
    entered: dict[str, int] = defaultdict(int)
    for (caller, callee), n in calls.items():
        if caller != callee and n > 0:
            callees[caller].append((callee, n))
            entered[callee] += n
    for fn, n in (roots or {}).items():
        entered[fn] += n
    memo: dict[str, float] = {}
    active: set[str] = set()

    def visit(fn: str) -> float:
        if fn in memo:
            return memo[fn]
        if fn in active:          # mutual recursion: cut the cycle here
            return 0.0
        active.add(fn)
        total = float(self_costs.get(fn, 0.0))
        for callee, n in callees.get(fn, ()):
            share = n / entered[callee] if entered[callee] else 0.0
            total += share * visit(callee)
        active.discard(fn)
        memo[fn] = total
        return total

    names = list(dict.fromkeys([*self_costs, *callees]))
    return {fn: visit(fn) for fn in names}
