"""Decoded blocks kept on disk: a fresh process profiles without decoding, same cycles."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim import _block_cache, _image_cache, decoder
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.machine import Machine
from tests.conftest import BOARDS


def _as_new_process(monkeypatch) -> None:
    """Forget everything in memory: images, analyses, the shared decoder's blocks."""
    monkeypatch.setattr(_image_cache, "_MEMO", {})
    monkeypatch.setattr(_image_cache, "_ANALYSES", {})
    monkeypatch.setattr(_block_cache, "_ON_DISK", {})
    decoder.get_decoder.cache_clear()


def _profile(board: str, elf) -> tuple[int, list[list[int]], list[int]]:
    m = Machine(board, elf)
    n = 257
    a = m.place(np.arange(n, dtype=np.int8))
    prof = m.profile(m.call("mb_dot_repeat", a, a, n, 3))
    branchy = m.profile(m.call("mb_branchy", 40, m.alloc(4 * 40), 40))
    return (prof.cycles, [c.tolist() for c in prof.accounting.cycles],
            [branchy.cycles, branchy.instructions])


@pytest.fixture
def elf(board, tmp_path, monkeypatch):
    built = build_firmware([FIRMWARE_DIR / "microbench" / "mb_programs.c"], board).elf
    monkeypatch.setenv("MCUSIM_CACHE_DIR", str(tmp_path / "cache"))
    _as_new_process(monkeypatch)
    yield built
    decoder.get_decoder.cache_clear()


def test_a_fresh_process_reuses_the_blocks_and_gets_the_same_cycles(board, elf, tmp_path,
                                                                    monkeypatch):
    cold = _profile(board.name, elf)
    entries = list((tmp_path / "cache" / "analysis").glob("blocks-*.pickle"))
    assert len(entries) == 1
    _as_new_process(monkeypatch)
    monkeypatch.setattr(decoder.Decoder, "_decode",
                        lambda *a, **k: pytest.fail("a block was decoded again"))
    assert _profile(board.name, elf) == cold
    assert decoder.get_decoder()._detail is None           # Capstone never used


def test_blocks_are_served_only_for_the_same_bytes(board, elf, monkeypatch):
    _profile(board.name, elf)
    _as_new_process(monkeypatch)
    m = Machine(board, elf)
    image = m.image
    _block_cache.seed(image, decoder.get_decoder())
    sym = image.symbol("mb_branchy")
    code = m.read_bytes(sym.address, 8)
    other = bytes(b ^ 0xFF for b in code[:2]) + code[2:]
    assert decoder.get_decoder().cached(sym.address, other) is None


def test_entries_of_another_process_are_kept(board, elf, monkeypatch):
    m = Machine(board, elf)
    m.profile(m.call("mb_branchy", 10, m.alloc(40), 10))
    key = _block_cache._key(m.image)
    found, first = _image_cache.read_analysis(key)
    assert found and first
    _as_new_process(monkeypatch)       # another process adds the blocks of another function
    m2 = Machine(board, elf)
    n = 16
    a = m2.place(np.zeros(n, dtype=np.int8))
    m2.profile(m2.call("mb_dot_repeat", a, a, n, 1))
    found, both = _image_cache.read_analysis(key)
    assert found and {(a, c) for a, c, _ in first} < {(a, c) for a, c, _ in both}


@pytest.mark.parametrize("board_name", BOARDS)
def test_an_explicit_decoder_is_left_alone(board_name, tmp_path, monkeypatch):
    from mcusim.profile import build_profile

    elf = build_firmware([FIRMWARE_DIR / "microbench" / "mb_programs.c"], board_name).elf
    monkeypatch.setenv("MCUSIM_CACHE_DIR", str(tmp_path / "cache"))
    m = Machine(board_name, elf)
    res = m.call("mb_branchy", 10, m.alloc(40), 10)
    dec = decoder.Decoder()
    build_profile(m, res.counts, decoder=dec)
    assert dec.num_cached() > 0
    assert not list((tmp_path / "cache" / "analysis").glob("blocks-*.pickle"))
