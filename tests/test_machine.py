"""Emulated calls and runs on both boards, compared with numpy; every fault kind."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim.errors import (
    BudgetExhausted, EmulationFault, FlashWriteFault, GuardViolation, HardFault, MachineError,
    StackOverflowFault, UndefinedInstructionFault, UnmappedAccessFault,
)
from mcusim.machine import Machine


def fletcher32(data: bytes) -> int:
    s1 = s2 = 0
    for b in data:
        s1 = (s1 + b) % 65535
        s2 = (s2 + s1) % 65535
    return (s2 << 16) | s1


@pytest.fixture
def basic(board, basic_elf):
    return Machine(board, basic_elf)


@pytest.fixture
def faults(board, faults_elf):
    return Machine(board, faults_elf, budget=2_000_000)


@pytest.mark.parametrize("n", [0, 1, 7, 64, 1001])
def test_dot_s8_matches_numpy(basic, n):
    rng = np.random.default_rng(n)
    a = rng.integers(-128, 128, n, dtype=np.int8)
    b = rng.integers(-128, 128, n, dtype=np.int8)
    res = basic.call("mcu_dot_s8", basic.place(a), basic.place(b), n)
    assert res.return_value == int(a.astype(np.int64) @ b.astype(np.int64))
    assert res.stop_reason == "return"
    assert res.instructions > n  # at least one instruction per element


@pytest.mark.parametrize("region", ["ram", "flash"])
def test_checksum_matches_python(basic, region):
    data = bytes(np.random.default_rng(1).integers(0, 256, 777, dtype=np.uint8))
    addr = basic.place(np.frombuffer(data, np.uint8), region)
    assert basic.call("mcu_checksum", addr, len(data)).r0 == fletcher32(data)


def test_float_routines_use_the_fpu(basic):
    x = np.random.default_rng(2).standard_normal(50).astype(np.float32)
    addr = basic.place(x)
    res = basic.call("mcu_rms_f32", addr, len(x))
    assert res.s0 == pytest.approx(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), rel=1e-5)
    basic.call("mcu_scale_f32", addr, len(x), 1.5, -0.25)
    expected = x * np.float32(1.5) + np.float32(-0.25)
    np.testing.assert_allclose(basic.read(addr, len(x), np.float32), expected, rtol=1e-6)


def test_buffers_in_every_ram_region(board, basic):
    a = np.arange(16, dtype=np.int8)
    for region in board.ram_regions():
        addr = basic.place(a, region.name)
        assert region.contains(addr)
        assert basic.call("mcu_dot_s8", addr, addr, 16).return_value == int((a.astype(int) ** 2).sum())


def test_run_from_reset_returns_main_status(faults):
    res = faults.run()
    assert res.stop_reason == "exit" and res.exit_code == 3
    assert faults.read(faults.image.symbol("sink").address, 1, np.uint32)[0] == 7


def test_stack_arguments_and_64bit_return(faults):
    assert faults.call("add_many", 1, 2, 3, 4, 5, 6).return_value == 1 + 4 + 9 + 16 + 25 + 36
    assert faults.call("mul64", 0xFFFFFFFF, 0xFFFFFFFF).return_u64 == 0xFFFFFFFF ** 2


def test_unmapped_read_names_pc_function_and_line(faults):
    with pytest.raises(UnmappedAccessFault) as info:
        faults.call("read_unmapped")
    err = info.value
    assert err.address == 0x60000000
    assert err.function.startswith("read_unmapped")
    assert err.line.startswith("faults.c:")
    assert faults.image.function_at(err.pc).name == "read_unmapped"


def test_write_to_flash(faults):
    with pytest.raises(FlashWriteFault) as info:
        faults.call("write_flash", 1)
    assert info.value.address == faults.image.symbol("in_flash").address
    assert info.value.function.startswith("write_flash")


def test_undefined_instruction(faults):
    with pytest.raises(UndefinedInstructionFault) as info:
        faults.call("undefined_instruction")
    assert info.value.function.startswith("undefined_instruction")
    assert faults.read_bytes(info.value.pc, 2) == b"\x42\xde"


def test_invalid_state_is_a_hard_fault(faults):
    with pytest.raises((HardFault, UnmappedAccessFault, UndefinedInstructionFault)) as info:
        faults.call("invalid_state")
    assert isinstance(info.value, EmulationFault)


def test_stack_overflow(faults):
    with pytest.raises(StackOverflowFault) as info:
        faults.call("recurse", 100_000)
    assert info.value.function.startswith("recurse")
    # and a shallow recursion is fine, with its stack use measured
    res = faults.call("recurse", 3)
    assert res.return_value == 6 and res.stack_used >= 4 * 64 * 4


def test_runaway_loop_hits_the_budget(faults):
    with pytest.raises(BudgetExhausted) as info:
        faults.call("spin", budget=100_000)
    assert info.value.instructions >= 100_000
    assert info.value.function.startswith("spin")


def test_red_zone_write_is_detected(basic):
    out = basic.alloc(4, name="four_bytes")
    # mcu_scale_f32 on 3 floats writes 12 bytes into a 4-byte buffer
    with pytest.raises(GuardViolation) as info:
        basic.call("mcu_scale_f32", out, 3, 0.0, 1.0)
    assert info.value.buffer == "four_bytes"


def test_unknown_symbol_lists_similar_names(basic):
    with pytest.raises(MachineError) as info:
        basic.call("mcu_dot")
    assert "mcu_dot_s8" in str(info.value)


def test_allocation_that_does_not_fit(basic):
    with pytest.raises(MachineError, match="no room"):
        basic.alloc(64 * 1024 * 1024)


def test_trace_reference_counts_equal_native_counts(basic):
    a = np.arange(100, dtype=np.int8)
    addr = basic.place(a)
    res = basic.call("mcu_dot_s8", addr, addr, 100, trace=True)
    assert sum(res.trace_counts.values()) == res.instructions == res.counts.instructions


def test_dwt_cyccnt_reads_the_modelled_cycles(board):
    from mcusim.build import build_firmware
    from tests.conftest import TESTS_DIR

    m = Machine(board, build_firmware([TESTS_DIR / "firmware" / "cyccnt.c"], board).elf)
    data = m.place(np.arange(500, dtype=np.int8))
    measured = m.call("measure", data, 500).r0
    direct = m.profile(m.call("work", data, 500)).cycles
    # block granularity and the call/return around work() make the two differ by a few cycles
    assert abs(measured - direct) <= 0.02 * direct + 20


def test_buffers_span_contiguous_sram_regions():
    from mcusim.boards import get_board
    from mcusim.build import FIRMWARE_DIR, build_firmware

    board = get_board("stm32f469i")   # SRAM1 (160 KiB) + SRAM2 (32 KiB) + SRAM3 (128 KiB)
    m = Machine(board, build_firmware([FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"], board).elf)
    big = np.ones(250 * 1024, dtype=np.int8)
    addr = m.place(big)
    assert board.region_at(addr).name == "sram1"
    assert board.region_at(addr + big.nbytes - 1).name == "sram3"
    assert m.call("mcu_dot_s8", addr, addr, big.nbytes).return_value == big.nbytes
    with pytest.raises(MachineError, match="no room"):
        m.alloc(100 * 1024, "sram2")          # taken by the spanning buffer
    m.free_all()                               # free_all gives all of it back
    assert m.place(big) == addr


# -- bad arguments end in an mcusim error (issue 15, item 10) ------------------------------

@pytest.mark.parametrize("bad", [
    lambda m, a: m.call("mcu_scale_f32", a, 3, 1e39, 0.0),        # not representable in f32
    lambda m, a: m.call("mcu_dot_s8", a, a, 4, budget=-1),
    lambda m, a: m.call("mcu_dot_s8", a, a, 4, budget=2 ** 64),
    lambda m, a: m.call("mcu_dot_s8", a, a, 4, budget=1.5),
    lambda m, a: m.call("mcu_dot_s8", a, a, 4, timeout=-1),
    lambda m, a: m.call("mcu_dot_s8", a, a, 4, timeout=float("nan")),
    lambda m, a: m.call(None),
    lambda m, a: m.call(b"mcu_dot_s8"),
    lambda m, a: m.call(2 ** 40),
    lambda m, a: m.place(np.zeros(4, np.int8), align=0),
    lambda m, a: m.place(np.zeros(4, np.int8), align=3),
    lambda m, a: m.alloc(1.5),
    lambda m, a: m.alloc(-8),
    lambda m, a: m.alloc(8, fill=300),
    lambda m, a: m.alloc(8, region=None),
    lambda m, a: m.read(a, 4, "junk"),
    lambda m, a: m.read(a, -1),
    lambda m, a: m.read(a, 4, object),
    lambda m, a: m.read_bytes(0x6000_0000, 4),                   # unmapped
    lambda m, a: m.read_bytes(a, -4),
    lambda m, a: m.write(0x6000_0000, b"1234"),
    lambda m, a: m.profile(None),
])
def test_bad_arguments_raise_mcusim_errors(basic, bad):
    addr = basic.place(np.zeros(16, np.float32))
    with pytest.raises(MachineError):
        bad(basic, addr)


def test_profile_of_another_machines_result_is_refused(board, basic_elf):
    one, two = Machine(board, basic_elf), Machine(board, basic_elf)
    a = one.place(np.arange(8, dtype=np.int8))
    two.place(np.arange(8, dtype=np.int8))
    result = one.call("mcu_dot_s8", a, a, 8)
    assert one.profile(result).cycles > 0
    with pytest.raises(MachineError, match="another machine"):
        two.profile(result)


@pytest.mark.parametrize("elf", [None, "a\0b.elf", 3])
def test_machine_needs_an_elf_path(board, elf):
    from mcusim.errors import McusimError

    with pytest.raises(McusimError):
        Machine(board, elf)


@pytest.mark.parametrize("kwargs", [dict(budget=0), dict(budget=-5), dict(budget=True),
                                    dict(timeout=0), dict(timeout="1")])
def test_machine_limits_are_validated(board, basic_elf, kwargs):
    with pytest.raises(MachineError):
        Machine(board, basic_elf, **kwargs)


# -- limits on runaway code (issue 15, item 13) ---------------------------------------------

def test_default_limits_stop_a_runaway_loop(board, faults_elf):
    from mcusim.machine import DEFAULT_BUDGET

    m = Machine(board, faults_elf)
    with pytest.raises(BudgetExhausted) as info:
        m.call("spin")
    assert info.value.instructions >= DEFAULT_BUDGET
    assert "budget=" in str(info.value)        # says how to raise it


def test_budget_none_means_no_instruction_limit_and_the_timeout_stops_it(faults):
    from mcusim.errors import TimeLimitExceeded

    with pytest.raises(TimeLimitExceeded) as info:
        faults.call("spin", budget=None, timeout=0.3)
    assert info.value.function.startswith("spin")
    assert faults.call("mul64", 3, 4, budget=None).return_u64 == 12   # and the next call runs


def test_budget_is_enforced_without_counting(board, faults_elf):
    m = Machine(board, faults_elf, counting=False, budget=100_000)
    with pytest.raises(BudgetExhausted) as info:
        m.call("spin")
    assert info.value.function.startswith("spin")
    assert m.call("mul64", 3, 4).return_u64 == 12


def test_timeout_without_counting(board, faults_elf):
    from mcusim.errors import TimeLimitExceeded

    m = Machine(board, faults_elf, counting=False)
    with pytest.raises(TimeLimitExceeded):
        m.call("spin", timeout=0.3)


@pytest.fixture
def checked(board, basic_elf):
    return Machine(board, basic_elf, check_reads=True)


def test_checked_reads_stop_at_the_first_read_past_a_buffer(checked):
    a = checked.place(np.arange(8, dtype=np.int8), name="a")
    c = checked.place(np.ones(9, dtype=np.int8), name="c")
    assert checked.call("mcu_dot_s8", a, c, 8).value == 28
    for _ in range(2):   # the guard stays armed after a violation
        with pytest.raises(GuardViolation) as info:
            checked.call("mcu_dot_s8", c, a, 9)
        err = info.value
        assert err.fault == "out-of-bounds read" and err.buffer == "a" and err.address == a + 8
        assert err.function.startswith("mcu_dot_s8") and err.line.startswith("mcu_dot_s8.c:")
        assert checked.image.function_at(err.pc).name == "mcu_dot_s8"
    assert checked.call("mcu_dot_s8", c, c, 9).value == 9


def test_checked_mode_reports_writes_with_pc_and_is_free_after_free_all(board, faults_elf):
    m = Machine(board, faults_elf, check_reads=True)
    for _ in range(2):
        dst = m.alloc(16, name="dst")
        with pytest.raises(GuardViolation) as info:
            m.call("fill_words", dst, 5, 7)
        err = info.value
        assert err.fault == "out-of-bounds write" and err.buffer == "dst"
        assert err.address == dst + 16 and err.function.startswith("fill_words")
        assert err.line.startswith("faults.c:")
        m.call("fill_words", dst, 4, 7)
        assert m.read(dst, 4, np.uint32).tolist() == [7] * 4
        m.free_all()


def test_red_zone_write_is_reported_once_and_the_zone_restored(basic):
    y = basic.place(np.ones(3, dtype=np.float32), name="y")
    with pytest.raises(GuardViolation) as info:
        basic.call("mcu_scale_f32", y, 4, 2.0, 1.0)
    err = info.value
    assert err.call == "mcu_scale_f32" and err.address == y + 12   # the first stray store
    assert err.function.startswith("mcu_scale_f32") and err.line.startswith("mcu_scale_f32.c:")
    assert basic.image.function_at(err.pc).name == "mcu_scale_f32"
    basic.call("mcu_scale_f32", y, 3, 2.0, 1.0)       # no stale violation
    assert basic.read(y, 3, np.float32).tolist() == [7.0, 7.0, 7.0]


# -- faults reported as the core would (issue 15, item 14) ---------------------------------

@pytest.fixture(scope="module")
def deep_stack_elf():
    """faults.c with the stack at the bottom of a RAM region that has mapped RAM below it."""
    from mcusim.boards import get_board
    from mcusim.build import build_firmware
    from tests.conftest import TESTS_DIR

    out = {}
    for name, region in (("stm32f469i", "sram2"), ("stm32f746zg", "sram1")):
        out[name] = build_firmware([TESTS_DIR / "firmware" / "faults.c"], get_board(name),
                                   opt="-O1", data_region=region).elf
    return out


def test_stack_overflow_into_mapped_memory_is_caught_natively(board, deep_stack_elf):
    m = Machine(board, deep_stack_elf[board.name])
    below = board.region_at(m._stack_bottom - 4)
    assert below is not None and below.kind == "ram"      # memory below the stack is mapped
    with pytest.raises(StackOverflowFault) as info:
        m.call("recurse", 100)                          # ~26 KiB of a 16 KiB stack
    err = info.value
    assert err.function.startswith("recurse") and err.line.startswith("faults.c:")
    assert err.sp < err.stack_bottom
    assert m.call("recurse", 3).return_value == 6      # the machine is usable afterwards


@pytest.mark.parametrize("func, kind", [("sleep_wfi", "wfi"), ("sleep_wfe", "wfe")])
def test_wfi_and_wfe_are_reported_as_sleep(faults, func, kind):
    from mcusim.errors import SleepFault

    with pytest.raises(SleepFault) as info:
        faults.call(func)
    assert info.value.fault == kind
    assert info.value.function.startswith(func)


def test_bx_to_even_address_is_invstate_at_the_branch(faults):
    from mcusim.errors import UsageFault

    with pytest.raises(UsageFault) as info:
        faults.call("invalid_state")
    err = info.value
    assert err.fault == "INVSTATE" and err.address == 0x0800_0000
    assert err.function.startswith("invalid_state") and err.line.startswith("faults.c:")
    assert err.branch.startswith("bx")


@pytest.mark.parametrize("func, args", [("jump_to", (0x6000_0001,)), ("bad_return", ())])
def test_bad_jump_names_the_instruction_that_jumped(faults, func, args):
    with pytest.raises(UnmappedAccessFault) as info:
        faults.call(func, *args)
    err = info.value
    assert err.address == 0x6000_0000
    assert err.branch_function.startswith(func) and err.branch_line.startswith("faults.c:")


@pytest.mark.parametrize("func", ["load64", "load_multiple"])
def test_unaligned_ldrd_and_ldm_fault(board, faults_elf, faults, func):
    from mcusim.errors import UsageFault

    data = faults.place(np.arange(4, dtype=np.uint32))
    assert faults.call(func, data).r0 == (1 if func == "load_multiple" else 0)
    with pytest.raises(UsageFault) as info:
        faults.call(func, data + 2)
    assert info.value.fault == "UNALIGNED" and info.value.address == data + 2
    assert info.value.function.startswith(func)
    # the check can be turned off (then the access happens, as Unicorn does it)
    lax = Machine(board, faults_elf, check_alignment=False)
    lax.call(func, lax.place(np.arange(4, dtype=np.uint32)) + 2)


def test_udiv_by_zero_traps_only_with_div_0_trp(faults):
    from mcusim.errors import UsageFault

    assert faults.call("divide", 7, 0, 0).r0 == 0          # the architecture's result
    assert faults.call("divide", 7, 2, 1).r0 == 3
    with pytest.raises(UsageFault) as info:
        faults.call("divide", 7, 0, 1)
    assert info.value.fault == "DIVBYZERO" and info.value.function.startswith("divide")


def test_segment_outside_the_board_names_file_and_segment(tmp_path, board, basic_elf):
    import struct

    from mcusim.errors import ImageTooLargeError
    from tests.test_loader import _load_headers

    blob = bytearray(basic_elf.read_bytes())
    first = _load_headers(bytes(blob))[0]
    struct.pack_into("<II", blob, first + 8, 0x6000_0000, 0x6000_0000)
    path = tmp_path / "outside.elf"
    path.write_bytes(bytes(blob))
    with pytest.raises(ImageTooLargeError) as info:
        Machine(board, path)
    assert info.value.file == str(path) and info.value.segment == 0
