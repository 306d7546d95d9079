"""Memory-system timing: which cache model serves which memory of each board.

The rules under test are in the board profiles (``profiles/boards/*.toml``, with their
RM0385 / RM0386 / AN4667 citations): on the STM32F746 code run from the ITCM view of Flash
goes through the ART accelerator and code run from the AXI view through the L1 I-cache;
SRAM1/SRAM2 are reached through the L1 D-cache while DTCM is zero-wait.
"""

from __future__ import annotations

import numpy as np
import pytest

from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.machine import Machine
from tests.conftest import TESTS_DIR

F746 = "stm32f746zg"


def _big_loop_source(tmp_path) -> str:
    """``big_loop(n)``: ``n`` passes over 6 KiB of straight-line code (more than the 4 KiB
    L1 I-cache, and than the ART's 64 x 32-byte lines)."""
    src = tmp_path / "big_loop.S"
    src.write_text("""
    .syntax unified
    .thumb
    .text
    .global big_loop
    .type big_loop, %function
    .balign 32
big_loop:
1:  .rept 3072
    nop
    .endr
    subs r0, r0, #1
    bne 1b
    bx lr
    .size big_loop, . - big_loop
""")
    return str(src)


def test_itcm_code_goes_through_the_art_and_axi_code_through_l1(tmp_path) -> None:
    board = get_board(F746)
    src = _big_loop_source(tmp_path)
    fetch = {}
    for region in ("flash", "flash_itcm"):
        m = Machine(board, build_firmware([src], board, code_region=region).elf)
        prof = m.profile(m.call("big_loop", 4))
        fetch[region] = prof.breakdown["fetch"]
    # AXI: the sweep evicts every L1 line before its reuse, each 32-byte line costs 7 WS on
    # every pass; ITCM: the ART prefetch serves the sequential lines, only the back-branch
    # target line is read with the wait states.
    lines = 6 * 1024 // 32
    assert fetch["flash"] >= 4 * lines * 7
    assert fetch["flash_itcm"] < fetch["flash"] / 10
    assert fetch["flash_itcm"] > 0


@pytest.mark.parametrize("cold", [True, False])
def test_sram1_data_costs_line_fills_dtcm_is_zero_wait(cold: bool) -> None:
    board = get_board(F746)
    elf = build_firmware([TESTS_DIR / "firmware" / "native_cases.S"], board).elf
    data = np.arange(256, dtype=np.uint32)             # 1 KiB = 32 L1 lines of 32 bytes
    cost = {}
    for region in ("dtcm", "sram1"):
        m = Machine(board, elf, warm_caches=not cold)
        addr = m.place(data, region)
        res = m.call("sum_words", addr, len(data))
        if not cold:                                   # second call: the 1 KiB fits the cache
            res = m.call("sum_words", addr, len(data))
        assert res.return_value == int(data.sum())
        cost[region] = m.profile(res).breakdown["data"]
    assert cost["dtcm"] == 0
    miss = board.region("sram1").line_miss_cycles
    assert cost["sram1"] == (32 * miss if cold else 0)


def test_stores_to_cached_sram_reach_memory(tmp_path) -> None:
    # SRAM1 is served by native MMIO callbacks: firmware stores (word and byte) must land
    # in the host buffer, and be read back by later loads.
    src = tmp_path / "fill.S"
    src.write_text("""
    .syntax unified
    .thumb
    .text
    .global fill_and_sum
    .type fill_and_sum, %function
fill_and_sum:                 @ (words, n, value): words[i] = value; byte 0 += 1; sum
    mov r3, r0
    mov r12, r1
1:  str r2, [r3], #4
    subs r12, r12, #1
    bne 1b
    ldrb r3, [r0]
    adds r3, r3, #1
    strb r3, [r0]
    movs r3, #0
2:  ldr r2, [r0], #4
    adds r3, r3, r2
    subs r1, r1, #1
    bne 2b
    mov r0, r3
    bx lr
    .size fill_and_sum, . - fill_and_sum
""")
    board = get_board(F746)
    m = Machine(board, build_firmware([str(src)], board).elf)
    addr = m.place(np.zeros(64, dtype=np.uint32), "sram1")
    res = m.call("fill_and_sum", addr, 64, 0x0101_0100)
    assert res.return_value == 64 * 0x0101_0100 + 1
    words = m.read(addr, 64, np.uint32)
    assert words[0] == 0x0101_0101 and (words[1:] == 0x0101_0100).all()
    # the stores allocated the lines (write-allocate): the loads hit
    assert m.profile(res).breakdown["data"] == 0


@pytest.mark.parametrize("value, needs_dcache, reason", [
    ("-1", True, "at least 0"),
    ("65", True, "at most 64"),
    ("true", True, "expected an integer"),
    ("6", False, "needs the data cache"),
])
def test_miss_cycles_is_range_checked(tmp_path, value: str, needs_dcache: bool,
                                      reason: str) -> None:
    from mcusim.errors import ProfileError

    text = get_board(F746).path.read_text()
    sram1 = 'dcache = "l1_d"\nmiss_cycles = 6\nsource = "RM0385 sec. 2.3: SRAM1'
    assert sram1 in text
    new = ('dcache = "l1_d"\n' if needs_dcache else "") + f"miss_cycles = {value}\n" \
        + 'source = "RM0385 sec. 2.3: SRAM1'
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(sram1, new, 1))
    with pytest.raises(ProfileError, match=reason) as info:
        get_board(str(path))
    assert "miss_cycles" in str(info.value)


def test_checked_reads_work_on_cached_sram() -> None:
    # check_reads puts guard pages around buffers with mem_protect, which Unicorn cannot do
    # inside an MMIO mapping: checked machines map SRAM1 plainly, results stay right and a
    # read past the buffer is caught.
    from mcusim.errors import GuardViolation

    board = get_board(F746)
    elf = build_firmware([TESTS_DIR / "firmware" / "native_cases.S"], board).elf
    m = Machine(board, elf, check_reads=True)
    data = np.arange(64, dtype=np.uint32)
    addr = m.place(data, "sram1")
    assert m.call("sum_words", addr, 64).return_value == int(data.sum())
    with pytest.raises(GuardViolation):
        m.call("sum_words", addr, 65)
