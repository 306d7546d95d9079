"""Board profiles: built-ins load; malformed files are rejected with file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcusim.boards import BOARDS_DIR, builtin_boards, get_board
from mcusim.errors import ProfileError


def test_builtin_boards_are_listed_and_valid():
    assert {"stm32f469i", "stm32f746zg", "stm32f407-16mhz"} <= set(builtin_boards())
    for name in builtin_boards():
        board = get_board(name)
        assert board.sources, "every profile cites its sources"
        assert all(r.source for r in board.regions), "every region cites its source"


@pytest.mark.parametrize("name, core, clock, flash_kib, sram_kib", [
    ("stm32f469i", "cortex-m4", 180_000_000, 2048, 384),
    ("stm32f746zg", "cortex-m7", 216_000_000, 1024, 336),
    ("stm32f407-16mhz", "cortex-m4", 16_000_000, 1024, 192),
])
def test_board_facts(name, core, clock, flash_kib, sram_kib):
    board = get_board(name)
    assert (board.core, board.clock_hz) == (core, clock)
    assert board.flash_bytes // 1024 == flash_kib
    assert board.sram_bytes // 1024 == sram_kib


def test_wait_states_and_caches():
    f4 = get_board("stm32f469i")
    assert f4.region("flash").wait_states == 5
    assert f4.caches["art_i"].lines == 64 and f4.caches["art_i"].line_bytes == 16
    f7 = get_board("stm32f746zg")
    assert f7.region("flash").wait_states == 7
    assert f7.region("flash_itcm").alias_of == "flash"
    slow = get_board("stm32f407-16mhz")
    assert slow.region("flash").wait_states == 0
    assert not slow.caches["art_i"].enabled


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "board.toml"
    path.write_text(text)
    return path


BASE = (BOARDS_DIR / "stm32f407-16mhz.toml").read_text()


@pytest.mark.parametrize("edit, field, reason", [
    (lambda t: t.replace('core = "cortex-m4"', 'core = "cortex-m0"'), "core", "unsupported core"),
    (lambda t: t.replace("clock_hz = 16_000_000", 'clock_hz = "fast"'), "clock_hz", "expected int"),
    (lambda t: t.replace('size = "112 KiB"', 'size = "lots"'), "regions[1].size", "cannot read size"),
    (lambda t: t.replace("start = 0x2001_C000", "start = 0x2001_0000"), "regions", "overlap"),
    (lambda t: t.replace('kind = "ram"', 'kind = "rom"', 1), "regions[1].kind", "must be one of"),
    (lambda t: t.replace('icache = "art_i"', 'icache = "nope"'), "regions[0].icache", "no cache"),
    (lambda t: t.replace('data = "sram1"', 'data = "flash"'), "layout.data", "expected ram"),
    (lambda t: t.replace("wait_states = 0", "wait_state = 0", 1), "regions[0].wait_state", "unknown field"),
    (lambda t: t.replace('name = "stm32f407-16mhz"\n', ""), "name", "missing"),
    (lambda t: t + "\n[broken", None, "not valid TOML"),
])
def test_malformed_profile_names_file_field_and_reason(tmp_path, edit, field, reason):
    path = _write(tmp_path, edit(BASE))
    with pytest.raises(ProfileError) as info:
        get_board(path)
    err = info.value
    assert err.file == str(path)
    if field:
        assert err.field == field
    assert reason in str(err)


def test_unknown_board_name_lists_the_known_ones():
    with pytest.raises(ProfileError) as info:
        get_board("stm32f999")
    assert "stm32f469i" in str(info.value)


def test_user_profile_needs_no_code_change(tmp_path):
    text = BASE.replace('name = "stm32f407-16mhz"', 'name = "my-m4"').replace(
        "clock_hz = 16_000_000", "clock_hz = 48_000_000")
    board = get_board(_write(tmp_path, text))
    assert board.name == "my-m4" and board.clock_hz == 48_000_000


def _nine_wait_state_regions(text: str) -> str:
    extra = "".join(f'\n[[regions]]\nname = "ext{i}"\nkind = "ram"\nstart = 0x{0x6000_0000 + i * 0x10_0000:x}\n'
                    f'size = "1 KiB"\nwait_states = 2\nsource = "test"\n' for i in range(9))
    return text.replace("\n[caches.art_i]", extra + "\n[caches.art_i]")


@pytest.mark.parametrize("edit, field, reason", [
    (_nine_wait_state_regions, "regions", "at most 8"),
    (lambda t: t.replace("lines = 64", "lines = 4_294_967_296"), "caches.art_i.lines", "at most"),
    (lambda t: t.replace("line_bytes = 16\nways = 64", "line_bytes = 1_073_741_824\nways = 64"),
     "caches.art_i.line_bytes", "at most"),
    (lambda t: t.replace("line_bytes = 16\nways = 64", "line_bytes = 1\nways = 64"),
     "caches.art_i.line_bytes", "at least"),
    (lambda t: t.replace("ways = 64", "ways = 128"), "caches.art_i.ways", "cannot be split"),
    (lambda t: t.replace("wait_states = 0", "wait_states = 4_611_686_018_427_387_904"),
     "regions[0].wait_states", "at most"),
    (lambda t: t.replace("wait_states = 0", "wait_states = -1"), "regions[0].wait_states", "at least 0"),
    (lambda t: t.replace("start = 0x2001_C000", "start = -131072"), "regions[2].start", "address space"),
    (lambda t: t.replace('size = "16 KiB"\nsource = "RM0090 sec. 2.3.1: SRAM2',
                         'size = -16384\nsource = "RM0090 sec. 2.3.1: SRAM2'), "regions[2].size", "positive"),
    (lambda t: t.replace('size = "1 MiB"', 'size = "3000 MiB"'), "regions[0].size", "at most"),
    (lambda t: t.replace("start = 0x1000_0000", "start = 0x0800_4000"), "regions", "overlap"),
    (lambda t: t.replace('name = "sram2"', 'name = "sram 2 }"'), "regions[2].name", "letters"),
    (lambda t: t.replace('stack_bytes = "16 KiB"', 'stack_bytes = 1001'), "layout.stack_bytes", "multiple of 8"),
    (lambda t: t.replace("clock_hz = 16_000_000", "clock_hz = 16e6"), "clock_hz", "expected int"),
    (lambda t: t.replace("sources = [", "sources = [1, "), "sources", "strings"),
])
def test_out_of_range_fields_are_rejected_by_the_loader(tmp_path, edit, field, reason):
    path = _write(tmp_path, edit(BASE))
    assert edit(BASE) != BASE
    with pytest.raises(ProfileError) as info:
        get_board(path)
    assert info.value.file == str(path)
    assert info.value.field == field
    assert reason in str(info.value)


@pytest.mark.parametrize("make", ["fifo", "dev_zero", "directory", "huge"])
def test_profile_that_is_not_a_small_regular_file_is_refused(tmp_path, make):
    import os

    if make == "fifo":
        path = tmp_path / "board.toml"
        os.mkfifo(path)
    elif make == "dev_zero":
        path = Path("/dev/zero")
    elif make == "directory":
        path = tmp_path / "dir.toml"
        path.mkdir()
    else:
        path = _write(tmp_path, BASE + "#" * (2 << 20))
    with pytest.raises(ProfileError) as info:
        get_board(path)
    assert info.value.file == str(path)
