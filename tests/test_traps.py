"""Trap sites: the cached lookup finds exactly what a full decode of the image finds."""

from __future__ import annotations

import shutil

import pytest

from mcusim import _image_cache, traps
from mcusim.boards import get_board
from mcusim.decoder import Decoder
from mcusim.kernels.firmware import build_family
from tests.conftest import BOARDS


@pytest.fixture(scope="module")
def elfs():
    """The firmware used here, built (or found) in the normal cache first."""
    wanted = [(b, fam, False) for b in BOARDS for fam in ("s8", "trec")]
    wanted.append(("stm32f469i", "s8", True))
    return {(b, fam, plain): build_family(get_board(b), fam, plain_c=plain)
            for b, fam, plain in wanted}


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch, elfs):
    """An empty disk cache and no in-process memo (as a new process on a new machine)."""
    monkeypatch.setenv("MCUSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_image_cache, "_MEMO", {})
    monkeypatch.setattr(_image_cache, "_ANALYSES", {})
    return tmp_path / "cache" / "analysis"


def _full_decode_sites(image) -> list[traps.Site]:
    """The reference: every instruction of every code section decoded with details, then
    filtered (what find_sites did before it had a cheap scan and a cache)."""
    wanted = traps.ALIGNED_OPS | traps.DIVIDE_OPS
    sites = []
    for sec in image.sections:
        if not sec.executable or sec.nobits:
            continue
        for insn in Decoder().decode_block(sec.address, image.read(sec.address, sec.size)).insns:
            if insn.name not in wanted:
                continue
            if insn.name in traps.DIVIDE_OPS:
                reg, kind = insn.op_str.split(",")[-1].strip(), traps.KIND_DIV
            else:
                reg, kind = insn.mem_base or "", traps.KIND_ALIGN
            reg = traps.ALIASES.get(reg, reg)
            if reg not in ("sp", "pc", ""):
                sites.append(traps.Site(insn.address, kind, reg, f"{insn.mnemonic} {insn.op_str}"))
    return sites


@pytest.mark.parametrize("family", ["s8", "trec"])
@pytest.mark.parametrize("board_name", BOARDS)
def test_cached_and_uncached_sites_are_identical(fresh_cache, elfs, monkeypatch, board_name,
                                                family):
    image = _image_cache.load_image(elfs[board_name, family, False])
    reference = _full_decode_sites(image)
    assert any(s.kind == traps.KIND_DIV for s in reference)     # the images exercise both kinds
    assert any(s.kind == traps.KIND_ALIGN for s in reference)
    assert traps.decode_sites(image) == reference
    cold = traps.find_sites(image, alignment=True, division=True)   # decodes, writes the cache
    assert cold == reference and len(list(fresh_cache.glob("trap-sites-*.pickle"))) == 1
    monkeypatch.setattr(_image_cache, "_ANALYSES", {})               # as another process
    monkeypatch.setattr(traps, "decode_sites", lambda *a, **k: pytest.fail("decoded again"))
    for alignment, division in ((True, True), (True, False), (False, True)):
        kinds = {traps.KIND_ALIGN} if alignment else set()
        kinds |= {traps.KIND_DIV} if division else set()
        warm = traps.find_sites(image, alignment=alignment, division=division)
        assert warm == [s for s in reference if s.kind in kinds]
    assert traps.find_sites(image, alignment=False, division=False) == []


def test_a_changed_elf_gets_its_own_sites(fresh_cache, elfs, tmp_path):
    path = tmp_path / "fw.elf"
    shutil.copy(elfs["stm32f469i", "s8", False], path)
    first = traps.find_sites(_image_cache.load_image(path), alignment=True, division=True)
    shutil.copy(elfs["stm32f469i", "s8", True], path)              # other code, same path
    image = _image_cache.load_image(path)
    again = traps.find_sites(image, alignment=True, division=True)
    assert again == traps.decode_sites(image) and again != first
    assert len(list(fresh_cache.glob("trap-sites-*.pickle"))) == 2


def test_a_dependency_change_or_a_damaged_entry_decodes_again(fresh_cache, elfs, monkeypatch):
    image = _image_cache.load_image(elfs["stm32f746zg", "s8", False])
    key = _image_cache.analysis_key(image, "k", ("mcusim.traps",))
    assert key != _image_cache.analysis_key(image, "k", ("mcusim.decoder",))
    reference = traps.find_sites(image, alignment=True, division=True)
    for entry in fresh_cache.glob("trap-sites-*.pickle"):
        entry.write_bytes(b"not a pickle")
    monkeypatch.setattr(_image_cache, "_ANALYSES", {})
    calls = []
    real = traps.decode_sites
    monkeypatch.setattr(traps, "decode_sites", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert traps.find_sites(image, alignment=True, division=True) == reference
    assert calls == [1]
