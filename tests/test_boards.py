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
