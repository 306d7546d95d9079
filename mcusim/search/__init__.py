"""Searches over models priced by the simulator: architecture search (:mod:`.nas`).

Every search here is an object with a clear lifetime that records its trials as plain rows
(parameters, objectives, feasibility, timing), stores them as they finish so an interrupted
run resumes, and returns them as a DataFrame; the strategy and the executor are separate,
swappable objects.
"""

from __future__ import annotations

from mcusim.errors import McusimError

__all__ = ["SearchError"]


class SearchError(McusimError):
    """A search was given bad input (bounds, data set, checkpoint) or cannot go on."""
