"""CoreMark (EEMBC's sources, not shipped: skipped when absent) builds and validates under
mcusim on both boards: the self-check CRCs of the performance run match CoreMark's known
values, and the timed cycles come from the cycle model through DWT CYCCNT."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcusim.boards import get_board

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import coremark  # noqa: E402

pytestmark = pytest.mark.skipif(not (coremark.DEFAULT_SOURCES / "core_main.c").is_file(),
                                reason="CoreMark sources not found at "
                                       f"{coremark.DEFAULT_SOURCES}")


@pytest.mark.parametrize("board", ["stm32f469i", "stm32f746zg"])
def test_coremark_self_check_passes(board: str) -> None:
    res = coremark.run_coremark(coremark.DEFAULT_SOURCES, get_board(board), iterations=2)
    assert res["valid"], res["output"]
    assert res["crcs"]["seedcrc"] == coremark.KNOWN["seedcrc"]   # the performance run
    assert "Iterations       : 2" in res["output"]
    assert res["ticks"] > 0 and 0.5 < res["coremark_per_mhz"] < 10


def test_coremark_slower_without_caches() -> None:
    board = get_board("stm32f469i")
    on = coremark.run_coremark(coremark.DEFAULT_SOURCES, board, iterations=2)
    off = coremark.run_coremark(coremark.DEFAULT_SOURCES, coremark.without_caches(board),
                                iterations=2)
    assert off["valid"] and off["ticks"] > 1.5 * on["ticks"]


def test_bad_source_folder_is_reported(tmp_path) -> None:
    from mcusim.errors import ToolchainError

    with pytest.raises(ToolchainError, match="core_main.c"):
        coremark.run_coremark(tmp_path, get_board("stm32f469i"), iterations=1)
