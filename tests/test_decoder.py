"""The decoder against GNU as: assemble snippets, decode the bytes, check the plain data."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mcusim.decoder import DIRECT, INDIRECT, Decoder

AS = shutil.which("arm-none-eabi-as")
OBJCOPY = shutil.which("arm-none-eabi-objcopy")
pytestmark = pytest.mark.skipif(AS is None or OBJCOPY is None,
                                reason="arm-none-eabi binutils not installed")


def assemble(tmp_path: Path, body: str) -> bytes:
    """Assemble Thumb-2 ``body`` for the Cortex-M7 (FPv5) and return the raw bytes."""
    src = tmp_path / "t.s"
    src.write_text(".syntax unified\n.thumb\n.cpu cortex-m7\n.fpu fpv5-sp-d16\n"
                   ".text\nstart:\n" + body + "\n")
    obj, raw = tmp_path / "t.o", tmp_path / "t.bin"
    subprocess.run([AS, "-mthumb", "-o", str(obj), str(src)], check=True)
    subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", str(obj), str(raw)], check=True)
    return raw.read_bytes()


def one(tmp_path: Path, line: str, address: int = 0x1000):
    code = assemble(tmp_path, line)
    blk = Decoder().decode_block(address, code)
    return blk.insns[0]


@pytest.mark.parametrize("line,name,base,index,writeback,reads,writes", [
    ("ldr r0, [r1, #4]", "ldr", "r1", None, False, {"r1"}, {"r0"}),
    ("ldr.w r2, [r3, r4, lsl #2]", "ldr", "r3", "r4", False, {"r3", "r4"}, {"r2"}),
    ("ldr r5, [r6], #4", "ldr", "r6", None, True, {"r6"}, {"r5", "r6"}),
    ("str r0, [r1, #8]!", "str", "r1", None, True, {"r0", "r1"}, {"r1"}),
    ("ldrsb r0, [r7, r1]", "ldrsb", "r7", "r1", False, {"r7", "r1"}, {"r0"}),
    ("vldr s0, [r0, #4]", "vldr", "r0", None, False, {"r0"}, {"s0"}),
    ("ldr r0, [pc, #8]", "ldr", "pc", None, False, {"pc"}, {"r0"}),
])
def test_memory_operands(tmp_path, line, name, base, index, writeback, reads, writes) -> None:
    insn = one(tmp_path, line)
    assert (insn.name, insn.mem_base, insn.mem_index, insn.writeback) == \
        (name, base, index, writeback)
    assert reads <= insn.regs_read and writes <= insn.regs_write
    assert insn.branch is None and not insn.writes_pc


@pytest.mark.parametrize("line,reg_list,base", [
    ("push {r4, r5, lr}", 3, "sp"),
    ("pop {r4-r7}", 4, "sp"),
    ("ldmia r0!, {r1-r3}", 3, "r0"),
    ("ldm.w r1, {r2-r9}", 8, "r1"),
    ("stmdb sp!, {r4-r11}", 8, "sp"),
    ("vldmia r0!, {s0-s7}", 8, "r0"),
    ("vpush {s16-s17}", 2, "sp"),
])
def test_register_lists(tmp_path, line: str, reg_list: int, base: str) -> None:
    insn = one(tmp_path, line)
    assert insn.reg_list == reg_list
    assert insn.mem_base == base


@pytest.mark.parametrize("line,kind,conditional,call", [
    ("b start", DIRECT, False, False),
    ("beq.w start", DIRECT, True, False),
    ("bl start", DIRECT, False, True),
    ("cbz r0, 1f\nnop\n1: nop", DIRECT, True, False),
    ("bx lr", INDIRECT, False, False),
    ("blx r3", INDIRECT, False, True),
    ("pop {r4, pc}", INDIRECT, False, False),
    ("ldr pc, [sp], #4", INDIRECT, False, False),
    ("mov pc, r0", INDIRECT, False, False),
    ("tbb [pc, r0]", INDIRECT, False, False),
    ("tbh [pc, r0, lsl #1]", INDIRECT, False, False),
    ("add r0, r1", None, False, False),
])
def test_branch_kinds(tmp_path, line: str, kind, conditional: bool, call: bool) -> None:
    insn = one(tmp_path, line)
    assert insn.branch == kind
    assert insn.writes_pc == (kind is not None)
    assert insn.conditional == conditional
    assert insn.is_call == call


def test_direct_branch_target(tmp_path) -> None:
    code = assemble(tmp_path, "nop\nnop\nb start")
    insn = Decoder().decode_block(0x8000, code).insns[2]
    assert insn.target == 0x8000


def test_it_block_membership(tmp_path) -> None:
    code = assemble(tmp_path, "cmp r0, #0\nite eq\nmoveq r0, #1\nmovne r0, #2\nadds r1, #1")
    insns = Decoder().decode_block(0x1000, code).insns
    assert [i.name for i in insns] == ["cmp", "it", "mov", "mov", "add"]
    assert insns[1].it_count == 2
    assert [i.in_it for i in insns] == [False, False, True, True, False]
    assert [i.conditional for i in insns] == [False, False, True, True, False]


FIND_CASES = [
    # IT blocks: Capstone writes the condition into the mnemonic ("ldrdeq"), so a match
    # must be decoded again from its IT instruction
    "cmp r0, #0\nitt eq\nldrdeq r2, r3, [r1]\nudiveq r0, r1, r2\nldm r1!, {r2, r3}",
    "ite ne\nsdivne r0, r1, r2\nvldreq s0, [r3, #4]\nstrd r4, r5, [r6, #8]\nbx lr",
    # undecodable halfwords in the stream (a literal pool): decoding starts again after them
    "udiv r0, r1, r2\n.short 0xffff\n.short 0xffff\nit eq\nldmeq r0, {r1, r2}\nbx lr",
    # an IT block cut by undecodable bytes: what follows is decoded without the IT context
    ".short 0xbf08\n.short 0xffff\n.short 0xffff\nldrd r2, r3, [r1]\nbx lr",  # it eq
]


@pytest.mark.parametrize("body", FIND_CASES)
def test_find_gives_the_instructions_decode_block_gives(tmp_path, body) -> None:
    code = assemble(tmp_path, body)
    full = Decoder().decode_block(0x2000, code).insns
    for names in ({"ldrd", "strd", "ldm", "udiv", "sdiv", "vldr"}, {i.name for i in full},
                  {"undefined", "bx"}, set()):
        got = Decoder().find(0x2000, code, frozenset(names))
        assert got == [i for i in full if i.name in names]
    assert any(i.in_it and i.name != "it" for i in full) or "0xffff" in body


def test_find_on_whole_firmware_images(board) -> None:
    from mcusim._image_cache import load_image
    from mcusim.build import FIRMWARE_DIR, build_firmware

    image = load_image(build_firmware(sorted((FIRMWARE_DIR / "basic").glob("*.c")), board,
                                      opt="-Os").elf)
    for sec in (s for s in image.sections if s.executable and not s.nobits):
        code = image.read(sec.address, sec.size)
        full = Decoder().decode_block(sec.address, code).insns
        assert Decoder().find(sec.address, code, frozenset(i.name for i in full)) == list(full)


def test_seeded_blocks_need_no_decoding(tmp_path) -> None:
    code = assemble(tmp_path, "adds r0, #1\nbx lr")
    blk = Decoder().decode_block(0x3000, code)
    dec = Decoder()
    assert dec.cached(0x3000, code) is None
    dec.seed([(0x3001, code, blk)])
    assert dec.cached(0x3000, code) is blk and dec.decode_block(0x3000, code) is blk
    assert dec._detail is None                      # Capstone was never needed


def test_shifted_operands(tmp_path) -> None:
    assert one(tmp_path, "add.w r0, r1, r2, lsl #3").shifted
    assert not one(tmp_path, "add r0, r1, r2").shifted


def test_sizes_add_up_and_cache_reuses_blocks(tmp_path) -> None:
    code = assemble(tmp_path, "adds r0, #1\nadd.w r1, r2, #1000\nsmlad r0, r1, r2, r3\nbx lr")
    dec = Decoder()
    blk = dec.decode_block(0x2001, code)          # Thumb bit is ignored
    assert blk.address == 0x2000 and blk.end == 0x2000 + len(code)
    assert sum(i.size for i in blk.insns) == len(code)
    assert [i.size for i in blk.insns] == [2, 4, 4, 2]
    assert dec.decode_block(0x2000, code) is blk
    assert dec.num_cached() == 1
    assert dec.decode_block(0x3000, code) is not blk


def test_undecodable_bytes_keep_sizes() -> None:
    blk = Decoder().decode_block(0x1000, bytes.fromhex("ffff" "ffff"))
    assert sum(i.size for i in blk.insns) == 4


@pytest.mark.parametrize("module", ["mcusim.decoder", "mcusim.timing", "mcusim.timing.m4",
                                    "mcusim.timing.m7", "mcusim.timing.callgraph"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
