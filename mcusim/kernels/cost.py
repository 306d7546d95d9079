"""The cost of one kernel call, as every family's benchmark reports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cost:
    """Cycles (timing model), where they come from, and instructions of one call."""

    cycles: float
    source: str
    instructions: int


def measure(machine: Any, result: Any) -> Cost:
    """Cost of ``result`` (a :class:`mcusim.machine.CallResult`) on ``machine``'s board."""
    return Cost(float(machine.profile(result).cycles), "timing-model", int(result.instructions))
