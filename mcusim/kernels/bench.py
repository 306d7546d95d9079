"""Run the kernel families' benchmarks over boards and layers and collect one table."""

from __future__ import annotations

import sys
from typing import Callable, Sequence

import pandas as pd

from mcusim.boards import get_board
from mcusim.kernels.layers import BUILTIN_LAYERS, Layer, get_layer
from mcusim.kernels.registry import REQUIRED_COLUMNS, available_families, get_family

DEFAULT_BOARDS = ("stm32f469i", "stm32f746zg")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_bench(boards: Sequence[str] = DEFAULT_BOARDS, families: Sequence[str] | None = None,
              layers: Sequence[str] | None = None,
              progress: Callable[[str], None] = _stderr) -> pd.DataFrame:
    """Benchmark ``families`` (default: all available) on ``boards`` over ``layers``.

    Returns
    -------
    pandas.DataFrame
        One row per (board, kernel, layer), with at least
        :data:`mcusim.kernels.registry.REQUIRED_COLUMNS`.
    """
    chosen: tuple[Layer, ...] = tuple(get_layer(n) for n in layers) if layers else BUILTIN_LAYERS
    rows: list[dict] = []
    for board_name in boards:
        board = get_board(board_name)
        for family in families or available_families():
            module = get_family(family)
            progress(f"[{board.name}] {family}: {len(chosen)} layer(s)")
            rows += module.bench(board, chosen, progress=progress)
    frame = pd.DataFrame(rows)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns] if rows else []
    if missing:
        raise RuntimeError(f"bench rows lack columns {missing}")
    if rows:
        first = [c for c in REQUIRED_COLUMNS]
        frame = frame[first + [c for c in frame.columns if c not in first]]
    return frame
