"""The limits of a call or run (plain constants, importable without numpy or Unicorn).

A call or run stops with :class:`~mcusim.errors.BudgetExhausted` after ``budget``
instructions and with :class:`~mcusim.errors.TimeLimitExceeded` after ``timeout`` seconds
of wall-clock time, whichever comes first (:class:`mcusim.machine.Machine`).
"""

from __future__ import annotations

#: Default instruction budget: at 50-130 million instructions/s (measured on this machine,
#: ``benchmarks/emulation_speed.py``) a runaway loop stops after 2-4 s.  Pass ``budget=`` for
#: longer kernels, ``budget=None`` for no instruction limit.
DEFAULT_BUDGET = 200_000_000
#: Largest budget (the native counter is a 64-bit integer).
MAX_BUDGET = (1 << 63) - 1
#: Default wall-clock limit in seconds: a backstop for what the budget cannot see (e.g.
#: ``counting=False``); with a larger budget, the time that budget takes at
#: :data:`MIN_TIMEOUT_IPS` instructions per second.
DEFAULT_TIMEOUT = 60.0
MIN_TIMEOUT_IPS = 5_000_000
#: Largest accepted timeout in seconds.
MAX_TIMEOUT = 1e6
