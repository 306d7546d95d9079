"""Hard budgets on latency, peak SRAM and Flash, enforced HAQ-style.

:func:`enforce` takes the policy an agent asked for and lowers bits, walking the layers
from the last back to the first, until every budget holds (HAQ, Wang et al. 2019, section
3.3: "we sequentially decrease the bitwidth of each layer until the constraint is
satisfied").  Lowering bits does not always make a layer faster here (on both boards some
4-bit pairs run slower than the int8 kernel: ``docs/kernels_packed.md``), so at each layer
the step taken is the lower pair (component-wise at most the current one) that most reduces
the total normalised excess ``sum max(0, cost / budget - 1)``; a pass that reduces nothing
ends the walk.  Hard enforcement (rather than a reward penalty) means every policy the
search returns or records is within budget, and the agent is rewarded only with accuracy.

When nothing meets the budgets, :class:`BudgetError` reports the closest policy found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from mcusim.errors import McusimError
from mcusim.kernels.packed import BITS
from mcusim.search.quant.cost import PolicyCost

__all__ = ["Budget", "BudgetError", "enforce", "excess"]


@dataclass(frozen=True)
class Budget:
    """Limits (``None``: no limit)."""

    max_latency_ms: float | None = None
    max_sram: int | None = None
    max_flash: int | None = None

    def check(self, c: PolicyCost) -> bool:
        """Whether ``c`` is within every limit."""
        return excess(self, c) == 0.0

    def describe(self, c: PolicyCost) -> str:
        """The limits ``c`` exceeds, in words."""
        out = []
        if self.max_latency_ms is not None and c.latency_ms > self.max_latency_ms:
            out.append(f"latency {c.latency_ms:.3f} ms > {self.max_latency_ms} ms")
        if self.max_sram is not None and c.peak_sram_bytes > self.max_sram:
            out.append(f"peak SRAM {c.peak_sram_bytes:,} B > {self.max_sram:,} B")
        if self.max_flash is not None and c.flash_bytes > self.max_flash:
            out.append(f"Flash {c.flash_bytes:,} B > {self.max_flash:,} B")
        return "; ".join(out) or "within budget"


def excess(b: Budget, c: PolicyCost) -> float:
    """``sum max(0, cost / limit - 1)`` over the limits."""
    e = 0.0
    for limit, value in ((b.max_latency_ms, c.latency_ms), (b.max_sram, c.peak_sram_bytes),
                         (b.max_flash, c.flash_bytes)):
        if limit is not None:
            e += max(0.0, float(value) / float(limit) - 1.0)
    return e


class BudgetError(McusimError):
    """No policy meets the budgets; ``closest`` / ``closest_cost`` hold the nearest one."""

    def __init__(self, message: str, closest: Mapping[int, tuple[int, int]],
                 closest_cost: PolicyCost, **details: object) -> None:
        super().__init__(message, **details)
        self.closest = dict(closest)
        self.closest_cost = closest_cost


Request = dict[int, tuple[int, int]]


def enforce(request: Mapping[int, tuple[int, int]], layers: list[int],
            price: Callable[[Request], PolicyCost], budget: Budget
            ) -> tuple[Request, PolicyCost, int]:
    """Lower ``request`` until ``budget`` holds (see the module docstring).

    Parameters
    ----------
    request
        ``layer -> (w_bits, a_bits)``.
    layers
        The quantisable layers in graph order.
    price
        Cost of a request (consistent policies are made inside).
    budget
        The limits.

    Returns
    -------
    tuple
        The enforced request, its cost and the number of bit reductions made.

    Raises
    ------
    BudgetError
        When no reduction reaches the budget (with the closest request found).
    """
    cur: Request = {i: tuple(request.get(i, (8, 8))) for i in layers}  # type: ignore[misc]
    cost = price(cur)
    best = (excess(budget, cost), dict(cur), cost)
    steps = 0
    while excess(budget, cost) > 0:
        improved = False
        for i in reversed(layers):
            w, a = cur[i]
            options = [(w2, a2) for w2 in BITS for a2 in BITS
                       if w2 <= w and a2 <= a and (w2, a2) != (w, a)]
            scored = []
            for o in options:
                trial = dict(cur)
                trial[i] = o
                c = price(trial)
                scored.append((excess(budget, c), -(o[0] + o[1]), o, c))
            if not scored:
                continue
            e, _, o, c = min(scored, key=lambda s: (s[0], s[1]))
            if e < excess(budget, cost):
                cur[i], cost, improved = o, c, True
                steps += 1
                if e < best[0]:
                    best = (e, dict(cur), c)
                if e == 0:
                    break
        if not improved:
            break
    if excess(budget, cost) > 0:
        raise BudgetError(f"no policy meets the budget ({budget.describe(best[2])} for the "
                          f"closest one found)", best[1], best[2],
                          closest_policy=", ".join(f"{i}:w{w}a{a}" for i, (w, a) in best[1].items()))
    return cur, cost, steps
