"""Parsed ELF images reused within a process and across processes (through the cache)."""

from __future__ import annotations

import shutil

import pytest

from mcusim import _image_cache
from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.errors import ElfError
from tests.conftest import TESTS_DIR


@pytest.fixture
def elf_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("MCUSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_image_cache, "_MEMO", {})
    src = build_firmware([TESTS_DIR / "firmware" / "native_cases.S"], get_board("stm32f469i")).elf
    dst = tmp_path / "fw.elf"
    shutil.copy(src, dst)
    return dst


def test_same_file_same_image_in_process(elf_copy):
    assert _image_cache.load_image(elf_copy) is _image_cache.load_image(elf_copy)


def test_another_process_loads_the_pickled_parse(elf_copy, monkeypatch):
    first = _image_cache.load_image(elf_copy)
    entries = list((elf_copy.parent / "cache" / "images").glob("*.pickle"))
    assert len(entries) == 1
    monkeypatch.setattr(_image_cache, "_MEMO", {})           # as a fresh process
    monkeypatch.setattr(_image_cache, "load_elf", lambda p: pytest.fail("parsed again"))
    again = _image_cache.load_image(elf_copy)
    assert again is not first and again == first
    assert again.symbol("sum_words") == first.symbol("sum_words")


def test_changed_file_is_parsed_again(elf_copy, monkeypatch):
    first = _image_cache.load_image(elf_copy)
    other = build_firmware([TESTS_DIR / "firmware" / "alias_stores.S"], get_board("stm32f469i"))
    shutil.copy(other.elf, elf_copy)                          # another program, same path
    calls = []
    real = _image_cache.load_elf
    monkeypatch.setattr(_image_cache, "load_elf", lambda p: calls.append(p) or real(p))
    again = _image_cache.load_image(elf_copy)
    assert calls == [elf_copy] and again.has_symbol("touch_words")
    assert not again.has_symbol("sum_words") and first.has_symbol("sum_words")


def test_damaged_cache_entry_falls_back_to_parsing(elf_copy, monkeypatch):
    first = _image_cache.load_image(elf_copy)
    for entry in (elf_copy.parent / "cache" / "images").glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    monkeypatch.setattr(_image_cache, "_MEMO", {})
    assert _image_cache.load_image(elf_copy) == first


def test_errors_still_come_from_the_loader(tmp_path):
    with pytest.raises(ElfError):
        _image_cache.load_image(tmp_path / "missing.elf")
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"nope")
    with pytest.raises(ElfError, match="magic"):
        _image_cache.load_image(bad)
