"""Cortex-M4 timing: one assembly microbenchmark per documented rule, exact counts.

Expected cycles per loop iteration are written out from the Cortex-M4 TRM r0p1 (Table 3-1
and section 3.3.2 load/store timings; Table 7-1 for the FPU) as encoded in
``profiles/cores/cortex-m4.toml``.  Every loop ends with ``subs`` (1) and a taken ``bne``
to a word-aligned 16-bit target (1 + P, P = 1 for a direct branch): LOOP = 3 cycles.
The zero-wait-state board ``stm32f407-16mhz`` shows pure core timing.
"""

from __future__ import annotations

import pytest

from mcusim.decoder import Decoder
from mcusim.native import division_cycles
from mcusim.timing import M4Model, account, get_core_model
from tests.microbench_util import N_SHORT, loop_timing, run_mb

BOARD = "stm32f407-16mhz"
LOOP = 3

# (function, cycles per iteration, instructions per iteration, rule)
CASES = [
    ("mb_alu", 16 + LOOP, 18, "data processing 1 cycle"),
    ("mb_ldr_pipelined", 2 + 1 + 1 + 1 + LOOP, 6, "LDR 2, a load after a load pipelines to 1"),
    ("mb_ldr_chain", 2 + 3 + 3 + 3 + LOOP, 6,
     "address = previous load result: no pipelining + AGU stall"),
    ("mb_ldr_use", (2 + 1) * 2 + LOOP, 6, "load result used as data: no stall"),
    ("mb_agu_stall", (1 + 2 + 1) * 2 + LOOP, 6,
     "base register written by the previous instruction: +1"),
    ("mb_ldr_literal", 2 + 1 + 1 + LOOP, 4, "literal load adds a cycle (fetch contention)"),
    ("mb_str_imm", (1 + 1) * 2 + LOOP, 6, "STR immediate offset: 1 cycle"),
    ("mb_str_str", 1 + 2 + 2 + 2 + LOOP, 6, "STR after a store does not pipeline"),
    ("mb_str_reg", 2 + 1 + 1 + 2 + LOOP, 6, "STR register offset pipelines only after a load"),
    *[(f"mb_ldm{n}", 1 + n + LOOP, 3, "LDM 1+N") for n in range(1, 9)],
    ("mb_b_not_taken", 1 + 1 + 1 + 1 + LOOP, 6, "branch not taken: 1"),
    ("mb_b_aligned16", 2 + 1 + LOOP, 4, "taken direct, aligned 16-bit target: 1+1"),
    ("mb_b_unaligned16", 2 + 1 + LOOP, 4, "taken direct, unaligned 16-bit target: 1+1"),
    ("mb_b_aligned32", 2 + 1 + LOOP, 4, "taken direct, aligned 32-bit target: 1+1"),
    ("mb_b_unaligned32", 3 + 1 + LOOP, 4, "taken direct, unaligned 32-bit target: 1+1+1"),
    ("mb_bx", 3 + 1 + LOOP, 4, "taken indirect (BX): 1+2"),
    ("mb_call", 2 + 3 + LOOP, 4, "BL 1+1, BX LR 1+2"),
    ("mb_tbb", 4 + 1 + LOOP, 4, "TBB 2+P, P indirect = 2"),
    ("mb_sdiv", 4 * division_cycles(100, 3, 2, 12, True) + LOOP, 6,
     "SDIV 2-12 with early termination: 100 / 3 has 6 quotient bits"),
    ("mb_udiv_wide", 4 * 12 + LOOP, 6, "UDIV 0xFFFFFFFF / 3: 31 quotient bits, 12 cycles"),
    ("mb_mac_chain", 4 * 1 + LOOP, 6, "SMLAD 1 cycle, also on a dependent accumulator"),
    ("mb_ldr_mac", 4 * (2 + 1) + LOOP, 10, "LDR 2 after a MAC (not a load), SMLAD 1"),
    ("mb_smlad", 8 * 1 + LOOP, 10, "SMLAD 1"),
    ("mb_mul_use", 8 * 1 + LOOP, 10, "MUL 1, no result latency on M4"),
    ("mb_it", 1 + 1 + 1 + 1 + LOOP, 6, "IT 1; an instruction whose condition fails still takes 1"),
    ("mb_vmla", 4 * 3 + LOOP, 6, "VMLA 3"),
    ("mb_vadd", 4 * 1 + LOOP, 6, "VADD/VMUL 1"),
    ("mb_vdiv", 14 + 14 + LOOP, 4, "VDIV 14, VSQRT 14"),
    ("mb_vldm", 1 + 8 + LOOP, 3, "VLDM 1+N"),
]


@pytest.mark.parametrize("func,cycles,instructions,rule", CASES, ids=[c[0] for c in CASES])
def test_microbenchmark_exact(func: str, cycles: int, instructions: int, rule: str) -> None:
    t = loop_timing(BOARD, func)
    assert t.instructions == instructions
    assert t.cycles == cycles, rule
    assert t.core_cycles == t.cycles          # zero wait states: no memory penalty


def test_absolute_count_with_entry_and_return() -> None:
    # N iterations of 18 instructions; N-1 taken back-edges (P=1), the last bne falls
    # through, then BX LR (1 + P, P = 2 for an indirect branch).
    result, prof = run_mb(BOARD, "mb_alu", N_SHORT)
    assert prof.instructions == result.instructions == N_SHORT * 18 + 1
    assert prof.cycles == N_SHORT * 18 + (N_SHORT - 1) * 1 + 3
    assert prof.breakdown["fetch"] == prof.breakdown["data"] == 0


def test_cycles_differ_from_instructions_where_the_trm_says() -> None:
    t = loop_timing(BOARD, "mb_ldr_chain")
    assert t.cycles > 2 * t.instructions
    _, prof = run_mb(BOARD, "mb_alu", N_SHORT)
    assert prof.cycles != prof.instructions


def test_flash_loop_at_180mhz_accelerator_warm_and_cold() -> None:
    zero_ws = loop_timing(BOARD, "mb_alu")
    art = loop_timing("stm32f469i", "mb_alu")
    # warm ART: the loop runs from the instruction cache, no wait states per iteration
    assert art.cycles == zero_ws.cycles
    # cold: the first run pays 5 wait states per missed 128-bit line, and only a few lines
    _, first = run_mb("stm32f469i", "mb_alu", N_SHORT)
    assert first.breakdown["fetch"] % 5 == 0
    assert 0 < first.breakdown["fetch"] <= 5 * 8
    assert first.cycles - first.breakdown["fetch"] - first.breakdown["data"] \
        == art.short_core


def test_flash_loop_accelerator_kept_warm_between_calls() -> None:
    from tests.microbench_util import microbench_sources

    from mcusim.boards import get_board
    from mcusim.build import build_firmware
    from mcusim.machine import Machine

    board = get_board("stm32f469i")
    m = Machine(board, build_firmware(microbench_sources(), board).elf, warm_caches=True)
    cold = m.profile(m.call("mb_alu", N_SHORT, 0))
    warm = m.profile(m.call("mb_alu", N_SHORT, 0))
    assert cold.breakdown["fetch"] > 0
    assert warm.breakdown["fetch"] == 0
    assert warm.cycles == cold.cycles - cold.breakdown["fetch"] - cold.breakdown["data"]


def _f469_variant(tmp_path, name: str, *, icache: bool, prefetch: bool) -> str:
    """The F469 profile with the ART instruction cache and/or its prefetch turned off
    (FLASH_ACR.ICEN / PRFTEN, RM0386 sec. 3.5.2), and the data cache off."""
    from mcusim.boards import get_board

    text = get_board("stm32f469i").path.read_text()
    text = text.replace("prefetch = true", f"prefetch = {str(prefetch).lower()}\n"
                        f"enabled = {str(icache).lower()}", 1)
    text = text.replace("[caches.art_d]", "[caches.art_d]\nenabled = false", 1)
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace('name = "stm32f469i"', f'name = "{name}"', 1))
    return str(path)


def _loop_lines(board: str, func: str) -> int:
    """16-byte Flash lines spanned by the loop block of ``func``."""
    result, _ = run_mb(board, func, N_SHORT)
    blocks = result.counts.blocks
    loop = blocks[blocks["count"].argmax()]
    start, end = int(loop["addr"]), int(loop["addr"]) + int(loop["size"])
    return (end - 1) // 16 - start // 16 + 1


@pytest.mark.parametrize("func", ["mb_alu", "mb_ldr_mac", "mb_mac_chain", "mb_ldr_pipelined"])
def test_flash_loop_without_accelerator_or_prefetch(tmp_path, func: str) -> None:
    # ART cache and prefetch off at 5 WS: every 128-bit line of the loop is read from Flash
    # on every iteration (the line just read stays in the interface's buffer, so a line
    # costs once per pass, not once per instruction).  Two-line loops (mb_mac_chain,
    # mb_ldr_pipelined) are the case that was charged nothing before.
    board = _f469_variant(tmp_path, "f469-no-art", icache=False, prefetch=False)
    lines = _loop_lines(board, func)
    assert lines >= 2
    extra = loop_timing(board, func).cycles - loop_timing(BOARD, func).cycles
    assert extra == 5 * lines


def test_flash_loop_with_prefetch_only(tmp_path) -> None:
    # Prefetch on, cache off: sequential lines come from the prefetch buffer, only the line
    # at the taken back-branch is read with the 5 wait states.
    board = _f469_variant(tmp_path, "f469-prefetch", icache=False, prefetch=True)
    extra = loop_timing(board, "mb_alu").cycles - loop_timing(BOARD, "mb_alu").cycles
    assert extra == 5


# -- engine rules on decoded code, no emulator ------------------------------------------------
def _block(hexcode: str, address: int = 0x1000):
    return Decoder().decode_block(address, bytes.fromhex(hexcode))


@pytest.mark.parametrize("hexcode,expected", [
    ("0868" "4868", (2, 1)),             # ldr r0,[r1]; ldr r0,[r1,#4]: pipelined
    ("0968" "0968", (2, 3)),             # ldr r1,[r1]; ldr r1,[r1]: chase
    ("0a60" "0a60", (1, 2)),             # str r2,[r1]; str r2,[r1]: store after store
    ("0130" "0868", (1, 2)),             # adds r0,#1; ldr r0,[r1]: no stall (r1 not written)
    ("0131" "0868", (1, 3)),             # adds r1,#1; ldr r0,[r1]: AGU stall
])
def test_m4_rules_on_decoded_sequences(hexcode: str, expected: tuple[int, ...]) -> None:
    blk = _block(hexcode)
    assert M4Model().block_cycles(blk) == expected


def test_cross_block_pipelining_on_fall_through_only() -> None:
    m4 = M4Model()
    src = _block("0868", 0x1000)         # ldr r0,[r1]   (block ends without a branch)
    dst = _block("4868", 0x1002)         # ldr r0,[r1,#4]
    assert m4.pipeline_delta(src, dst) == -1
    far = _block("4868", 0x2000)         # not the fall-through address, but src has no branch
    assert m4.pipeline_delta(src, far) == -1
    br = _block("0868" "00e0", 0x3000)   # ldr; b (taken): refill hides the pipelining
    assert m4.pipeline_delta(br, far) == 0
    assert m4.taken_cycles(br, far) == 1


def test_account_matches_hand_computation() -> None:
    import numpy as np

    from mcusim.native import BLOCK_DTYPE, EDGE_DTYPE, BlockCounts

    code = bytes.fromhex("0868" "4868" "0138" "fbd1" "7047")   # 2 lds, subs, bne, bx lr
    blocks = np.array([(0x1000, 8, 4, 100, *[0] * 8), (0x1008, 2, 1, 1, *[0] * 8)],
                      dtype=BLOCK_DTYPE)
    edges = np.array([(0x1000, 0x1000, 99), (0x1000, 0x1008, 1)], dtype=EDGE_DTYPE)
    counts = BlockCounts(blocks, edges, 0x1000, 0x1008)

    class _Board:
        regions = ()

    acc = account(counts, _Board(), lambda a, n: code[a - 0x1000:a - 0x1000 + n],
                  get_core_model("cortex-m4"), decoder=Decoder())
    # 100 x (2 + 1 + 1 + 1) + 99 taken x P=1 + bx lr (1 + 2)
    assert acc.total == 100 * 5 + 99 + 3
    assert acc.instructions == 401


def test_cost_tables_cite_sources(tmp_path) -> None:
    from mcusim.errors import ProfileError
    from mcusim.timing import load_cost_table
    from mcusim.timing.table import CORES_DIR

    for core in ("cortex-m4", "cortex-m7"):
        table = load_cost_table(core)
        assert all(c.source in table.sources for c in table.classes.values())
    text = (CORES_DIR / "cortex-m4.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('source = "trm_fpu"', 'source = "folklore"', 1))
    with pytest.raises(ProfileError, match="source"):
        load_cost_table(bad)
