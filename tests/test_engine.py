"""The Unicorn adapter: translated code survives data stores on every board's memory map."""

from __future__ import annotations

import pytest

from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.machine import Machine
from tests.conftest import TESTS_DIR

ALL_BOARDS = ("stm32f407-16mhz", "stm32f469i", "stm32f746zg")


def _ram_ranges(board) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in board.regions if r.kind == "ram" and not r.alias_of]


@pytest.mark.parametrize("counting", [True, False], ids=["counted", "raw"])
@pytest.mark.parametrize("board_name", ALL_BOARDS)
def test_stores_to_every_ram_word_never_retranslate_flash_code(board_name, counting):
    """Unicorn 2.1 indexes translated code by RAM offset; with overlapping offsets a store to
    SRAM invalidated the Flash code at the same offset (issue 14).  After a warm-up call has
    translated the loop, storing to every word of every RAM region (three passes) must not
    translate any block again."""
    board = get_board(board_name)
    elf = build_firmware([TESTS_DIR / "firmware" / "alias_stores.S"], board).elf
    m = Machine(board, elf, counting=counting)
    for lo, _ in _ram_ranges(board):          # translate every block of the loop once
        m.call("touch_words", lo, lo + 8, 1)
    translations = m.engine.count_translations()
    for lo, hi in _ram_ranges(board):
        res = m.call("touch_words", lo, hi, 3)
        assert res.stop_reason == "return"
    assert translations() == 0
    if counting:                               # the counts saw every store of the last call
        hi_lo = _ram_ranges(board)[-1]
        assert res.instructions > 3 * (hi_lo[1] - hi_lo[0]) // 4
