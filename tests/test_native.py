"""Native block counting: instruction counts against a per-instruction reference, edges,
cache models, instruction budget."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim import native
from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.errors import BudgetExhausted
from mcusim.machine import Machine
from tests.conftest import TESTS_DIR


@pytest.fixture(scope="module")
def cases_elf(board):
    return build_firmware([TESTS_DIR / "firmware" / "native_cases.S"], board).elf


def _it_members(machine: Machine, it_addr: int) -> list[int]:
    """Addresses of the instructions an IT instruction at ``it_addr`` governs."""
    hw = int.from_bytes(machine.read_bytes(it_addr, 2), "little")
    assert hw & 0xFF00 == 0xBF00 and hw & 0xF
    mask = hw & 0xF
    n = 4 - ((mask & -mask).bit_length() - 1)
    addrs, pc = [], it_addr + 2
    for _ in range(n):
        addrs.append(pc)
        first = int.from_bytes(machine.read_bytes(pc, 2), "little")
        pc += 4 if first >> 11 in (0x1D, 0x1E, 0x1F) else 2
    return addrs


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_counts_equal_reference_including_failed_it_instructions(board, cases_elf, n):
    m = Machine(board, cases_elf)
    res = m.call("count_odd", n, trace=True)
    assert res.return_value == n // 2
    trace = dict(res.trace_counts)
    it_addr = next(a for a in trace if int.from_bytes(m.read_bytes(a, 2), "little") >> 8 == 0xBF
                   and int.from_bytes(m.read_bytes(a, 2), "little") & 0xF)
    for member in _it_members(m, it_addr):
        # the core spends a cycle on every IT-block instruction, condition passed or not
        trace[member] = trace[it_addr]
    assert res.instructions == sum(trace.values())
    assert res.counts.instructions == res.instructions
    # Unicorn alone reports fewer: the failed-condition ones are missing from its trace
    assert sum(res.trace_counts.values()) < res.instructions


def test_loop_blocks_and_edges(board, cases_elf):
    m = Machine(board, cases_elf)
    data = np.arange(50, dtype=np.uint32)
    res = m.call("sum_words", m.place(data), len(data))
    assert res.return_value == int(data.sum())
    counts = res.counts
    loop = m.image.symbol("sum_words").address + 4
    loop_blocks = counts.blocks[counts.blocks["addr"] == loop]
    assert loop_blocks["count"].sum() == 50      # CBZ ends the entry block
    back = counts.edges[(counts.edges["src"] == loop) & (counts.edges["dst"] == loop)]
    assert back["count"].sum() == 49
    assert counts.entry == m.image.symbol("sum_words").address


def test_flash_reads_and_cache_misses_cold_and_warm():
    board = get_board("stm32f469i")
    elf = build_firmware([TESTS_DIR / "firmware" / "native_cases.S"], board).elf
    data = np.arange(256, dtype=np.uint32)            # 1 KiB = 64 ART data lines
    cold = Machine(board, elf)
    addr = cold.place(data, "flash")
    first = cold.call("sum_words", addr, len(data)).counts
    assert first.blocks["dreads"].sum() == 256
    assert first.blocks["dmiss"].sum() == 64         # every 16-byte line missed once
    assert first.blocks["imiss"].sum() >= 1
    warm = Machine(board, elf, warm_caches=True)
    addr = warm.place(data[:16], "flash")             # 4 lines: fit the 8-line data cache
    warm.call("sum_words", addr, 16)
    again = warm.call("sum_words", addr, 16).counts
    assert again.blocks["dmiss"].sum() == 0 and again.blocks["imiss"].sum() == 0


def test_zero_wait_state_board_counts_no_misses():
    board = get_board("stm32f407-16mhz")
    elf = build_firmware([TESTS_DIR / "firmware" / "native_cases.S"], board).elf
    m = Machine(board, elf)
    data = np.arange(64, dtype=np.uint32)
    counts = m.call("sum_words", m.place(data, "flash"), 64).counts
    assert counts.blocks["imiss"].sum() == 0 and counts.blocks["dreads"].sum() == 0


def test_budget_stops_exactly_at_block_granularity(board, cases_elf):
    m = Machine(board, cases_elf)
    with pytest.raises(BudgetExhausted) as info:
        m.call("count_odd", 1_000_000, budget=5_000)
    assert 5_000 <= info.value.instructions < 5_000 + 20


def test_counting_off_gives_raw_emulation(board, cases_elf):
    m = Machine(board, cases_elf, counting=False)
    res = m.call("count_odd", 1000)
    assert res.return_value == 500 and res.instructions == 0 and len(res.counts.blocks) == 0


def test_trace_after_an_untraced_call_on_the_same_machine(board, cases_elf):
    m = Machine(board, cases_elf)
    m.call("count_odd", 50)                       # translated without the trace hook
    traced = m.call("count_odd", 50, trace=True)  # must re-translate with it
    assert traced.trace_counts and sum(traced.trace_counts.values()) > 0
    again = m.call("count_odd", 50)               # and the hook is gone afterwards
    assert again.trace_counts is None and again.instructions == traced.instructions


def test_hook_library_built_once_into_the_cache(tmp_path, monkeypatch):
    from mcusim import native

    monkeypatch.setenv("MCUSIM_CACHE_DIR", str(tmp_path))
    lib = native.hook_library()
    assert lib.is_file() and tmp_path in lib.parents
    mtime = lib.stat().st_mtime_ns
    assert native.hook_library() == lib and lib.stat().st_mtime_ns == mtime   # cache hit
    assert not [p for p in lib.parent.iterdir() if p.name.startswith(".")]    # no temp left


def test_missing_host_compiler_is_a_toolchain_error(tmp_path, monkeypatch):
    from mcusim import native
    from mcusim.errors import ToolchainError

    monkeypatch.setenv("MCUSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-cc")
    with pytest.raises(ToolchainError, match="host C compiler"):
        native.hook_library()


def test_prebuilt_library_used_only_when_its_key_matches(tmp_path, monkeypatch):
    from mcusim import _native_build, native

    assert native.prebuilt_library(tmp_path) is None                    # none shipped
    lib = tmp_path / _native_build.PREBUILT
    assert _native_build.compile_hooks("gcc", lib).returncode == 0
    key = tmp_path / _native_build.PREBUILT_KEY
    key.write_text(_native_build.source_key() + "\n")
    assert native.prebuilt_library(tmp_path) == lib
    key.write_text("0123456789abcdef\n")                               # built from another source
    assert native.prebuilt_library(tmp_path) is None
    # a wheel's library is used without a compiler; a stale one falls back to the cache
    monkeypatch.setattr(native, "prebuilt_library", lambda directory=None: lib)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-cc")
    assert native.hook_library() == lib


@pytest.mark.parametrize("n", [1, 2, 3, 50])
def test_one_block_loop_counts_match_the_reference(board, cases_elf, n):
    """Repeats of a one-block loop are added when the run ends; counts, edges and the
    instruction total must be those of the per-instruction reference for any trip count."""
    m = Machine(board, cases_elf)
    data = np.arange(n, dtype=np.uint32)
    res = m.call("sum_words", m.place(data, "flash"), n, trace=True)
    assert res.return_value == int(data.sum())
    assert res.instructions == sum(res.trace_counts.values()) == res.counts.instructions
    loop = m.image.symbol("sum_words").address + 4
    back = res.counts.edges[(res.counts.edges["src"] == loop) & (res.counts.edges["dst"] == loop)]
    assert back["count"].sum() == n - 1


def test_reset_clears_every_row_the_hooks_created(board, cases_elf):
    from mcusim import native

    m = Machine(board, cases_elf)
    first = m.call("count_odd", 50)
    st = m._state
    lo, hi = int(st[native.H_BLOCKS_OFF]), int(st[native.H_EDGES_OFF])
    hi += int(st[native.H_ECAP]) * native.EDGE_FIELDS
    assert st[lo:hi].any() and int(st[native.H_NBLOCKS]) == len(first.counts.blocks)
    assert int(st[native.H_NEDGES]) == len(first.counts.edges)
    native.reset_counts(st)
    assert not st[lo:hi].any() and st[native.H_NBLOCKS] == st[native.H_NEDGES] == 0
    again = m.call("count_odd", 50)
    assert np.array_equal(again.counts.blocks, first.counts.blocks)
    assert np.array_equal(again.counts.edges, first.counts.edges)


def _runs(board_name: str, code: str, data: str | None) -> tuple[list[tuple], int]:
    """Counts, cycles and stops of the speed benchmark's programs (small sizes, twice each:
    cold and warm caches, and with an instruction budget that stops them), and the loop
    passages counted without hooks."""
    from mcusim.build import FIRMWARE_DIR

    board = get_board(board_name)
    sources = [FIRMWARE_DIR / "microbench" / "mb_programs.c",
               FIRMWARE_DIR / "microbench" / "mb_alias.c"]
    m = Machine(board, build_firmware(sources, board, code_region=code).elf)
    where = (data,) if data else ()
    rng = np.random.default_rng(1)
    a = m.place(rng.integers(-128, 128, 1024, dtype=np.int8), *where)
    b = m.place(rng.integers(-128, 128, 1024, dtype=np.int8), *where)
    work = m.alloc(4 * 64, *where)
    jobs = [("mb_dot_repeat", a, b, 1024, 2), ("mb_branchy", 200, work, 64),
            ("mb_alias_sweep", 1)]
    out: list[tuple] = []
    passages = 0
    for job in jobs:
        for budget in (None, None, 3001):
            try:
                res = m.call(*job, budget=budget)
            except BudgetExhausted as exc:
                out.append((job[0], str(exc)))
                continue
            c = res.counts
            out.append((job[0], c.blocks.tobytes(), c.edges.tobytes(), c.entry, c.last,
                        res.instructions, m.profile(res).cycles))
            passages += native.loop_runs(m._state)
    return out, passages


@pytest.mark.parametrize("board_name, code, data", [
    ("stm32f469i", "flash", None),            # the ART (prefetch, fully associative)
    ("stm32f746zg", "flash", "sram1"),        # L1 I-cache on AXI Flash, D-cache on SRAM1
    ("stm32f746zg", "flash_itcm", None),      # the F7 ART on the ITCM view
])
def test_shortcuts_count_as_the_reference_build(reference_hooks, use_hooks, board_name,
                                                code, data):
    """The hooks' shortcuts (fast repeats, skipped fetches of repeats, successor memo, fetch
    lines settled by the line buffers and the MRU pair, the model resumed mid-block, loops
    counted without hooks and their fallback before a budget stop) give the counts, cycles
    and budget stops of the plain path, line by line."""
    fast, passages = _runs(board_name, code, data)
    use_hooks(reference_hooks)
    plain, none = _runs(board_name, code, data)
    use_hooks(None)
    assert passages > 0 and none == 0      # the shortcut ran, and the reference has none
    assert len(fast) == len(plain) == 9
    assert [f[0] for f in fast if len(f) == 2] == ["mb_dot_repeat", "mb_branchy", "mb_alias_sweep"]
    for f, p in zip(fast, plain):
        assert f == p, f[0]


@pytest.mark.parametrize("board_name", ["stm32f469i", "stm32f746zg"])
def test_switches_are_counted_only_for_core_models_that_use_them(board_name):
    """The block hook without the branch-outcome changes runs where the timing model ignores
    them (the M4's); the M7's reads them."""
    from mcusim.build import FIRMWARE_DIR
    from mcusim.timing import get_core_model

    board = get_board(board_name)
    m = Machine(board, build_firmware([FIRMWARE_DIR / "microbench" / "mb_programs.c"],
                                      board).elf)
    res = m.call("mb_branchy", 200, m.alloc(4 * 64), 64)
    assert bool(res.counts.blocks["switches"].any()) == get_core_model(board.core).uses_switches
