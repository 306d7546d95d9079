"""The Unicorn adapter: translated code survives data stores on every board's memory map."""

from __future__ import annotations

import numpy as np
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


@pytest.mark.parametrize("counting", [True, False], ids=["counted", "raw"])
@pytest.mark.parametrize("board_name", ALL_BOARDS)
def test_stores_into_code_in_ram_are_still_seen(board_name, counting):
    """Stores to data pages take Unicorn's fast path after the first (mcusim.engine's TLB
    callback leaves them non-executable), but a page code ran from stays on the checked path:
    a firmware store into code in RAM must replace the translation.  The TLB is flushed
    first, so the stores refill it as data accesses; the first store (to another word of the
    page) would make a data-only page fast, and the second, into the code, must still be
    seen."""
    board = get_board(board_name)
    elf = build_firmware([TESTS_DIR / "firmware" / "alias_stores.S"], board).elf
    m = Machine(board, elf, counting=counting)
    code = m.alloc(1024, align=1024, guard=False)
    movs_r0 = {1: 0x2001, 2: 0x2002}                  # movs r0, #imm
    bx_lr = 0x4770
    m.write(code, np.array([movs_r0[1] | bx_lr << 16], dtype=np.uint32))
    assert m.call(code | 1).return_value == 1
    m.engine.flush_tlb()
    m.call("poke_words", code + 512, 0, code, movs_r0[2] | bx_lr << 16)
    assert m.call(code | 1).return_value == 2


def test_invalid_memory_hooks_leave_plain_ram_uncovered():
    """Any memory hook over a page keeps its stores slow in Unicorn 2.1: the fault hooks cover
    every address but the RAM regions, plus the guard pages made inside them; a fetch from
    the (writable, non-executable) SCS is still reported as such."""
    board = get_board("stm32f469i")
    m = Machine(board, build_firmware([TESTS_DIR / "firmware" / "alias_stores.S"], board).elf,
                check_reads=True)
    ram = sorted(m.engine._ram)
    assert ram == sorted(_ram_ranges(board))            # (not the SCS: it is not executable)
    buf = m.alloc(64)                                   # red zones: guard pages with hooks
    guards = list(m.engine._guard_hooks)
    assert guards and all(any(lo <= g[0] and g[1] < hi for lo, hi in ram) for g in guards)
    m.free_all()
    assert not m.engine._guard_hooks
    del buf


def test_a_jump_into_the_scs_is_a_fetch_fault():
    from mcusim.errors import UnmappedAccessFault

    board = get_board("stm32f469i")
    m = Machine(board, build_firmware([TESTS_DIR / "firmware" / "alias_stores.S"], board).elf)
    with pytest.raises(UnmappedAccessFault, match="non-executable"):
        m.call(0xE000_ED00 | 1)
