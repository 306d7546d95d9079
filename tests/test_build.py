"""Firmware build: core flags, cache, size report, clear errors for overflow and bad code."""

from __future__ import annotations

import subprocess

import pytest

from mcusim.boards import get_board
from mcusim.build import FIRMWARE_DIR, build_firmware, linker_script
from mcusim.errors import ImageTooLargeError, ToolchainError
from mcusim.loader import load_elf


def test_build_is_cached_by_content(tmp_path, board):
    import uuid

    src = tmp_path / "f.c"
    token = uuid.uuid4().hex  # a source no earlier run can have built
    src.write_text(f"int f(int x) {{ return x + 1; }} /* {token} */\n")
    first = build_firmware([src], board)
    again = build_firmware([src], board)
    assert again.cached and again.elf == first.elf
    src.write_text(f"int f(int x) {{ return x + 2; }} /* {token} */\n")
    changed = build_firmware([src], board)
    assert not changed.cached and changed.elf != first.elf
    assert not list(tmp_path.glob("*.o")), "nothing is built in the source tree"


def test_core_flags_reach_the_object(board, basic_elf):
    out = subprocess.run(["arm-none-eabi-readelf", "-A", str(basic_elf)], capture_output=True,
                         text=True, check=True).stdout
    cpu = {"cortex-m4": "Cortex-M4", "cortex-m7": "Cortex-M7"}[board.core]
    assert cpu in out or ("7E-M" in out)
    assert "VFPv4-D16" in out or "FPv5/FP-D16" in out or "FP for ARMv8" in out


def test_linker_script_places_vectors_in_flash_and_stack_at_bottom(board):
    script = linker_script(board)
    data = board.region(board.layout.data)
    assert f"ORIGIN = 0x{data.start:08x}" in script
    assert script.index(".stack") < script.index(".data :")
    image = load_elf(build_firmware([FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"], board).elf)
    assert image.section(".isr_vector").address == board.region("flash").start
    assert image.symbol("__mcusim_stack_bottom").address == data.start


def test_data_region_is_selectable():
    board = get_board("stm32f469i")
    elf = build_firmware([FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"], board, data_region="ccm").elf
    assert load_elf(elf).section(".data").address == board.region("ccm").start + 16 * 1024


@pytest.mark.parametrize("decl, region", [
    ("const unsigned char big[3 * 1024 * 1024] = {1};", "flash"),
    ("unsigned char big[400 * 1024];", None),
])
def test_image_too_large_names_region_and_overflow(tmp_path, board, decl, region):
    src = tmp_path / "big.c"
    src.write_text(decl + "\nint touch(int i) { return big[i]; }\n")
    with pytest.raises(ImageTooLargeError) as info:
        build_firmware([src], board)
    err = info.value
    assert err.region == (region or board.layout.data)
    assert err.overflow_bytes > 0


def test_compile_error_is_reported_with_the_compiler_message(tmp_path, board):
    src = tmp_path / "bad.c"
    src.write_text("int f(void) { return undefined_name; }\n")
    with pytest.raises(ToolchainError, match="undefined_name"):
        build_firmware([src], board)


def test_missing_source(tmp_path, board):
    with pytest.raises(ToolchainError, match="not found"):
        build_firmware([tmp_path / "nope.c"], board)


def test_code_can_run_from_the_itcm_view_of_flash():
    import numpy as np
    from mcusim.machine import Machine

    board = get_board("stm32f746zg")
    elf = build_firmware([FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"], board,
                         code_region="flash_itcm").elf
    image = load_elf(elf)
    assert image.symbol("mcu_dot_s8").address >> 20 == 0x002
    m = Machine(board, elf)
    a = np.arange(20, dtype=np.int8)
    assert m.call("mcu_dot_s8", m.place(a), m.place(a), 20).return_value == int((a.astype(int) ** 2).sum())


@pytest.mark.parametrize("source", ["fifo", "/dev/zero", None, "nul"])
def test_sources_that_are_not_regular_files_are_refused(tmp_path, source):
    import os

    from mcusim.errors import ToolchainError

    if source == "fifo":
        source = tmp_path / "pipe.c"
        os.mkfifo(source)
    elif source == "nul":
        source = "a\0.c"
    with pytest.raises(ToolchainError):
        build_firmware([source], "stm32f469i")


def test_data_spans_contiguous_ram_regions(tmp_path, board):
    # F469: SRAM1+SRAM2+SRAM3 are one 320 KiB block; F746: DTCM+SRAM1+SRAM2 likewise
    # (RM0386 / RM0385 sec. 2): a 250 KiB array fits the chip, so it must fit the layout.
    import numpy as np
    from mcusim.machine import Machine

    src = tmp_path / "span.c"
    src.write_text("unsigned char big[250 * 1024];\n"
                   "int touch(int i, int v) { big[i] = (unsigned char)v; return big[i] + big[0]; }\n")
    elf = build_firmware([src], board).elf
    image = load_elf(elf)
    big = image.symbol("big")
    data = board.region(board.layout.data)
    assert big.address + big.size > data.end          # spans into the next region
    m = Machine(board, elf)
    assert m.call("touch", 250 * 1024 - 1, 7).return_value == 7
    assert m.read(big.address + 250 * 1024 - 1, 1, np.uint8)[0] == 7
