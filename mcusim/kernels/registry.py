"""Registry of kernel families for ``mcusim kernels`` and ``mcusim kernels bench``.

A family module (``mcusim.kernels.<family>_bench``) defines:

``FAMILY: str``
    The family name used in the CSV (``s8``, ``packed``, ``trec``).
``list_kernels() -> list[KernelInfo]``
    The kernels of the family, for ``mcusim kernels``.
``bench(board, layers, *, progress) -> list[dict]``
    Run the family's kernels on the given layers (a tuple of
    :class:`mcusim.kernels.layers.Layer`) on ``board`` (a :class:`mcusim.boards.Board`), and
    return one row per (kernel, layer) with at least :data:`REQUIRED_COLUMNS`.
    ``progress(message)`` is called before each long step.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

FAMILY_MODULES: dict[str, str] = {
    "s8": "mcusim.kernels.s8_bench",
    "packed": "mcusim.kernels.packed_bench",
    "trec": "mcusim.kernels.trec_bench",
}

REQUIRED_COLUMNS: tuple[str, ...] = (
    "board", "family", "kernel", "layer", "macs", "cycles", "latency_us",
    "scratch_bytes", "weight_bytes",
)


@dataclass(frozen=True)
class KernelInfo:
    """One kernel: family, name (as in the bench CSV), C symbol and a one-line description."""

    family: str
    name: str
    symbol: str
    description: str


def get_family(name: str) -> ModuleType:
    """Import and return the bench module of family ``name``."""
    try:
        module = FAMILY_MODULES[name]
    except KeyError:
        raise KeyError(f"unknown kernel family {name!r}; known: {', '.join(FAMILY_MODULES)}") from None
    return importlib.import_module(module)


def available_families() -> list[str]:
    """Families whose bench module can be imported."""
    names = []
    for name, module in FAMILY_MODULES.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        names.append(name)
    return names
