"""Cycle model: per-core timing engines (Cortex-M4, Cortex-M7) and memory penalties.

>>> get_core_model("cortex-m4").table.core
'cortex-m4'
"""

from __future__ import annotations

import functools

from mcusim.errors import ProfileError
from mcusim.timing.account import Accounting, account
from mcusim.timing.base import CoreModel, is_taken
from mcusim.timing.m4 import M4Model
from mcusim.timing.m7 import M7Model
from mcusim.timing.table import CostTable, load_cost_table

__all__ = ["get_core_model", "account", "Accounting", "CoreModel", "M4Model", "M7Model",
           "CostTable", "load_cost_table", "is_taken"]


@functools.lru_cache(maxsize=8)
def get_core_model(core: str) -> CoreModel:
    """The (shared, cached) timing engine for ``core`` (``"cortex-m4"`` or ``"cortex-m7"``)."""
    table = load_cost_table(core)
    if table.dual_issue:
        return M7Model(table)
    if core.startswith("cortex-m"):
        return M4Model(table)
    raise ProfileError("no timing engine for this core", field=core)
