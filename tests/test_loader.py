"""The ELF loader agrees with arm-none-eabi-readelf / addr2line, and rejects bad files."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mcusim.errors import ElfError
from mcusim.loader import load_elf


def _readelf(*args: str) -> str:
    return subprocess.run(["arm-none-eabi-readelf", *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(params=["basic", "faults"])
def elf(request, basic_elf, faults_elf):
    return basic_elf if request.param == "basic" else faults_elf


def test_symbols_match_readelf(elf):
    image = load_elf(elf)
    expected = {}
    for line in _readelf("-sW", str(elf)).splitlines():
        parts = line.split()
        if len(parts) == 8 and parts[3] in ("FUNC", "OBJECT") and parts[6] != "UND":
            value = int(parts[1], 16)
            if parts[3] == "FUNC":
                value &= ~1
            expected.setdefault(parts[7], (value, int(parts[2], 0)))
            if parts[4] == "GLOBAL":
                expected[parts[7]] = (value, int(parts[2], 0))
    ours = {s.name: (s.address, s.size) for s in image.symbols if s.kind in ("func", "object")}
    assert ours == expected


def test_sections_match_readelf(elf):
    image = load_elf(elf)
    expected = {}
    for line in _readelf("-SW", str(elf)).splitlines():
        line = line.replace("[ ", "[")
        parts = line.split()
        if len(parts) >= 8 and parts[0].startswith("[") and parts[1].startswith("."):
            name, addr, size, flags = parts[1], int(parts[3], 16), int(parts[5], 16), parts[7]
            if "A" in flags and size:
                expected[name] = (addr, size)
    assert {s.name: (s.address, s.size) for s in image.sections} == expected


def test_segments_match_readelf(elf):
    image = load_elf(elf)
    loads = [l.split() for l in _readelf("-lW", str(elf)).splitlines() if l.strip().startswith("LOAD")]
    expected = sorted((int(p[2], 16), int(p[3], 16), int(p[5], 16)) for p in loads if int(p[5], 16))
    assert sorted((s.vaddr, s.paddr, s.memsz) for s in image.segments) == expected


def test_line_table_matches_addr2line(elf):
    image = load_elf(elf)
    addrs = []
    for func in image.functions():
        if func.size >= 4:
            addrs += [func.address, func.address + (func.size // 2) & ~1]
    out = subprocess.run(["arm-none-eabi-addr2line", "-e", str(elf), *[hex(a) for a in addrs]],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    checked = 0
    for addr, line in zip(addrs, out):
        line = line.split(" (discriminator")[0]
        if line.startswith("??") or line.endswith(":?") or line.endswith(":0"):
            continue
        file, num = line.rsplit(":", 1)
        ours = image.line_at(addr)
        assert ours is not None, hex(addr)
        assert (ours[0].split("/")[-1], ours[1]) == (file.split("/")[-1], int(num)), hex(addr)
        checked += 1
    assert checked >= 4


def test_not_elf(tmp_path):
    path = tmp_path / "junk.elf"
    path.write_bytes(b"this is not an ELF file at all" * 10)
    with pytest.raises(ElfError, match="not an ELF") as info:
        load_elf(path)
    assert info.value.file == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(ElfError, match="not found"):
        load_elf(tmp_path / "absent.elf")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no host C compiler")
def test_wrong_architecture(tmp_path):
    src = tmp_path / "host.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "host"
    subprocess.run(["cc", str(src), "-o", str(exe)], check=True)
    with pytest.raises(ElfError, match="not an ARM ELF"):
        load_elf(exe)


def test_relocatable_object_is_not_an_image(tmp_path):
    src = tmp_path / "f.c"
    src.write_text("int f(void) { return 1; }\n")
    obj = tmp_path / "f.o"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-c", str(src), "-o",
                    str(obj)], check=True)
    with pytest.raises(ElfError, match="not an executable"):
        load_elf(obj)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_elf(tmp_path, basic_elf, keep):
    blob = basic_elf.read_bytes()
    path = tmp_path / "cut.elf"
    path.write_bytes(blob[: int(len(blob) * keep)])
    with pytest.raises(ElfError) as info:
        load_elf(path)
    assert info.value.file == str(path)


def test_corrupt_header(tmp_path, basic_elf):
    blob = bytearray(basic_elf.read_bytes())
    blob[0x20:0x24] = b"\xff\xff\xff\x7f"  # e_phoff far past the end
    path = tmp_path / "corrupt.elf"
    path.write_bytes(bytes(blob))
    with pytest.raises(ElfError):
        load_elf(path)


@pytest.mark.parametrize("make", ["fifo", "dev_zero", "directory"])
def test_elf_that_is_not_a_regular_file_is_refused(tmp_path, make):
    import os
    from pathlib import Path

    if make == "fifo":
        path = tmp_path / "pipe.elf"
        os.mkfifo(path)
    elif make == "dev_zero":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "dir.elf"
        path.mkdir()
    with pytest.raises(ElfError, match="not a regular file") as info:
        load_elf(path)
    assert info.value.file == str(path)


def _load_headers(blob: bytes) -> list[int]:
    """File offsets of the PT_LOAD program headers with a non-zero memsz."""
    import struct

    phoff, = struct.unpack_from("<I", blob, 0x1C)
    phentsize, phnum = struct.unpack_from("<HH", blob, 0x2A)
    out = []
    for i in range(phnum):
        off = phoff + i * phentsize
        ptype, _, _, _, _, memsz = struct.unpack_from("<6I", blob, off)
        if ptype == 1 and memsz:
            out.append(off)
    return out


@pytest.mark.parametrize("field", ["vaddr", "paddr"])
def test_overlapping_load_segments_are_rejected(tmp_path, basic_elf, field):
    import struct

    blob = bytearray(basic_elf.read_bytes())
    first, second = _load_headers(bytes(blob))[:2]
    vaddr, paddr = struct.unpack_from("<II", blob, first + 8)
    if field == "vaddr":   # the second segment runs where the first one runs
        struct.pack_into("<II", blob, second + 8, vaddr + 4, vaddr + 4)
    else:                  # only its load image lands on the first one's bytes
        struct.pack_into("<I", blob, second + 12, paddr + 4)
    path = tmp_path / "overlap.elf"
    path.write_bytes(bytes(blob))
    with pytest.raises(ElfError, match="overlap") as info:
        load_elf(path)
    assert info.value.file == str(path)


def test_build_attributes_name_the_core(board, basic_elf):
    cpu = load_elf(basic_elf).cpu
    assert cpu is not None and cpu.arch == "v7E-M" and cpu.core == board.core


def test_m7_image_on_m4_board_is_refused_and_m4_on_m7_warns(basic_elf):
    from mcusim.boards import get_board
    from mcusim.build import FIRMWARE_DIR, build_firmware
    from mcusim.loader import CoreMismatchWarning
    from mcusim.machine import Machine

    m4, m7 = get_board("stm32f469i"), get_board("stm32f746zg")
    src = [FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"]
    with pytest.raises(ElfError, match="built for the cortex-m7.*cortex-m4"):
        Machine(m4, build_firmware(src, m7).elf)
    with pytest.warns(CoreMismatchWarning, match="built for the cortex-m4"):
        Machine(m7, build_firmware(src, m4).elf)


def test_signatures_from_dwarf(basic_elf):
    image = load_elf(basic_elf)
    assert str(image.signature("mcu_scale_f32")) == \
        "void mcu_scale_f32(float * y, int32_t len, float gain, float bias)"
    dot = image.signature("mcu_dot_s8")
    assert dot.returns.kind == "int" and [p.kind for p in dot.params] == ["pointer"] * 2 + ["int"]
    assert image.signature("no_such_function") is None
