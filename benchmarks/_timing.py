"""Shared by the speed benchmarks: the best time of several functions, run in turn.

Running the functions alternately (optionally in a new random order each round) lets load on
the shared machine hit them all alike; the best of the rounds is the least disturbed.
"""

from __future__ import annotations

import random
import time
from typing import Callable


def best_times(fns: dict[str, Callable[[], object]], repeat: int, *,
               clock: Callable[[], float] = time.thread_time,
               shuffle: bool = False) -> tuple[dict[str, float], dict[str, object]]:
    """Best seconds (by ``clock``: CPU time of this thread unless given) of each function
    over ``repeat`` rounds, each round calling every function once, and the last result of
    each.  ``shuffle``: a new order each round (seeded, so runs are alike)."""
    best = dict.fromkeys(fns, float("inf"))
    last: dict[str, object] = {}
    order = list(fns.items())
    rng = random.Random(0)
    for _ in range(repeat):
        if shuffle:
            rng.shuffle(order)
        for name, fn in order:
            t = clock()
            last[name] = fn()
            best[name] = min(best[name], clock() - t)
    return best, last
