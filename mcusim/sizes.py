"""Section sizes and memory-region use of a loaded image on a board."""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.boards import Board
from mcusim.loader import LoadedImage


@dataclass(frozen=True)
class RegionUse:
    """Bytes of one region taken by the image."""

    region: str
    kind: str
    used: int
    size: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.size


def section_table(image: LoadedImage, board: Board) -> list[dict[str, object]]:
    """One row per allocated section: name, address, size, run region, load region."""
    rows = []
    for sec in image.sections:
        run = board.region_at(sec.address)
        load = board.region_at(sec.load_address)
        rows.append({"section": sec.name, "address": f"0x{sec.address:08x}", "size": sec.size,
                     "region": run.name if run else "?",
                     "load_region": load.name if load and load is not run else ""})
    return rows


def region_use(image: LoadedImage, board: Board) -> list[RegionUse]:
    """Bytes used per (non-alias) region: run addresses, plus Flash copies of ``.data``."""
    used: dict[str, int] = {r.name: 0 for r in board.regions if not r.alias_of}
    for sec in image.sections:
        run = board.region_at(sec.address)
        if run is not None:
            used[run.alias_of or run.name] += sec.size
        if not sec.nobits and sec.load_address != sec.address:
            load = board.region_at(sec.load_address)
            if load is not None:
                used[load.alias_of or load.name] += sec.size
    return [RegionUse(r.name, r.kind, used[r.name], r.size)
            for r in board.regions if not r.alias_of]
