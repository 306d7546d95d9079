"""Decode executed Thumb-2 blocks into plain data (the only module that imports capstone).

The timing model never looks at capstone objects: every instruction of a block is turned
once into an :class:`Insn` (a frozen dataclass of strings, ints and frozensets) and every
block into a :class:`Block`.  Blocks are cached by ``(address, bytes)``, so a block that runs
a million times is decoded once, and a second profile of the same image decodes nothing.

Examples
--------
>>> dec = Decoder()
>>> blk = dec.decode_block(0x1000, bytes.fromhex("08447047"))   # add r0, r1 ; bx lr
>>> [i.name for i in blk.insns]
['add', 'bx']
>>> blk.insns[-1].branch
'indirect'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:   # imported by the first Decoder: importing this module costs no Capstone
    import capstone

__all__ = ["Insn", "Block", "Decoder", "get_decoder", "DIRECT", "INDIRECT"]

DIRECT = "direct"
INDIRECT = "indirect"

_MULTI = frozenset({"ldm", "ldmdb", "stm", "stmdb", "push", "pop", "vldmia", "vldmdb",
                    "vstmia", "vstmdb", "vpush", "vpop"})
_DIRECT_BRANCH = frozenset({"b", "bl", "cbz", "cbnz"})
_TABLE_BRANCH = frozenset({"tbb", "tbh"})
_CALLS = frozenset({"bl", "blx"})
_LIST_RE = re.compile(r"\b([sd]\d+)\b")


@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded instruction, as plain data.

    Attributes
    ----------
    address, size
        Address (Thumb bit clear) and encoding size in bytes (2 or 4).
    mnemonic, op_str
        Capstone's text, e.g. ``"ldr.w"`` and ``"r2, [r3, r4, lsl #2]"``.
    name
        Base operation without width/condition/type suffixes (``"ldr"``, ``"vmla"``, ``"it"``).
    regs_read, regs_write
        Registers read and written (explicit and implicit), lower-case names.
    mem_base, mem_index, mem_disp
        Memory operand base/index register (``None`` if absent) and displacement.
    writeback
        Base register updated (pre/post-indexed, ``!``, PUSH/POP).
    reg_list
        Number of registers transferred by LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP, else 0.
    writes_pc
        The instruction may change the PC (branches, POP/LDM/LDR to PC, MOV/ADD to PC, TBB/TBH).
    branch
        ``"direct"`` (B, Bcc, CBZ/CBNZ, BL: target known at decode), ``"indirect"`` (BX, BLX
        register, POP/LDM/LDR to PC, TBB/TBH, data processing to PC) or ``None``.
    target
        Branch target of a direct branch, else ``None``.
    is_call
        BL/BLX (links to LR).
    conditional
        Executes conditionally: Bcc/CBZ/CBNZ or an instruction inside an IT block.
    in_it
        Inside an IT block (its condition may fail at run time).
    it_count
        For an IT instruction, the number of instructions it predicates, else 0.
    shifted
        A register operand carries a shift (``add r0, r1, r2, lsl #3``, ``[r3, r4, lsl #2]``).
    sets_flags
        Updates the APSR flags.
    """

    address: int
    size: int
    mnemonic: str
    op_str: str
    name: str
    regs_read: frozenset[str]
    regs_write: frozenset[str]
    mem_base: str | None
    mem_index: str | None
    mem_disp: int
    writeback: bool
    reg_list: int
    writes_pc: bool
    branch: str | None
    target: int | None
    is_call: bool
    conditional: bool
    in_it: bool
    it_count: int
    shifted: bool
    sets_flags: bool

    @property
    def text(self) -> str:
        """Disassembly as ``mnemonic op_str``."""
        return f"{self.mnemonic} {self.op_str}".strip()


@dataclass(frozen=True, slots=True)
class Block:
    """A decoded block: start address, size in bytes, and its instructions in order."""

    address: int
    size: int
    insns: tuple[Insn, ...]

    @property
    def end(self) -> int:
        """First address after the block (the fall-through address)."""
        return self.address + self.size


class Decoder:
    """Capstone Thumb-2 decoder with a per-instance block cache.

    Parameters
    ----------
    cache_size
        Maximum number of blocks kept (oldest dropped first); 0 keeps everything.
    """

    def __init__(self, *, cache_size: int = 0) -> None:
        self.cache_size = cache_size
        self._detail: capstone.Cs | None = None   # created (Capstone imported) on first use
        self._lite: capstone.Cs | None = None     # no operand details: :meth:`find`
        self._blocks: dict[tuple[int, bytes], Block] = {}

    @property
    def _cs(self) -> capstone.Cs:
        if self._detail is None:
            self._detail = _new_cs()
            self._detail.detail = True
        return self._detail

    def num_cached(self) -> int:
        """Number of distinct blocks decoded so far."""
        return len(self._blocks)

    def cached(self, address: int, code: bytes) -> Block | None:
        """The cached block of ``code`` at ``address``, or None (nothing is decoded)."""
        return self._blocks.get((address & ~1, bytes(code)))

    def seed(self, blocks: Iterable[tuple[int, bytes, Block]]) -> None:
        """Put blocks decoded earlier (``(address, code, block)``, e.g. a disk copy of
        another process's decodes) into the cache, so decoding them needs no Capstone."""
        for address, code, blk in blocks:
            if self.cache_size and len(self._blocks) >= self.cache_size:
                break
            self._blocks.setdefault((address & ~1, bytes(code)), blk)

    def decode_block(self, address: int, code: bytes) -> Block:
        """Decode ``code`` located at ``address`` (Thumb bit ignored) into a :class:`Block`.

        Parameters
        ----------
        address
            Address of the first byte.
        code
            The block's bytes, exactly ``size`` bytes as executed.

        Returns
        -------
        Block
            The instructions covering ``code``.  Bytes capstone cannot decode become an
            ``.undefined`` pseudo-instruction of 2 bytes so that sizes always add up.
        """
        address &= ~1
        key = (address, bytes(code))
        blk = self._blocks.get(key)
        if blk is None:
            blk = Block(address, len(code), tuple(self._decode(address, key[1])))
            if self.cache_size and len(self._blocks) >= self.cache_size:
                self._blocks.pop(next(iter(self._blocks)))
            self._blocks[key] = blk
        return blk

    def decode_one(self, address: int, code: bytes) -> Insn:
        """Decode the single instruction at the start of ``code``."""
        return self._decode(address & ~1, bytes(code[:4]), limit=1)[0]

    def find(self, address: int, code: bytes, names: frozenset[str]) -> list[Insn]:
        """The instructions of ``code`` whose :attr:`Insn.name` is in ``names``.

        The same :class:`Insn` objects as those of ``decode_block(address, code)`` (same
        linear decode, same IT-block context), in order, without paying for the others:
        the stream is decoded without operand details (about 15x cheaper) and only the
        matches are decoded again with details -- from the IT instruction when they sit in
        an IT block, since Capstone writes their condition into the mnemonic.  Nothing is
        cached.  Used to list the few instructions of a whole image that need a hook.
        """
        address &= ~1
        code = bytes(code)
        if self._lite is None:
            self._lite = _new_cs()
        out: list[Insn] = []
        pos = 0
        it_left = 0
        it_at = 0   # offset of the IT instruction of the current IT block
        while pos < len(code):
            got = False
            run = pos   # Capstone's IT state starts afresh with each disasm call
            for ci in self._lite.disasm(code[pos:], address + pos):
                off = ci.address - address
                name = self._lite.insn_name(ci.id) or ci.mnemonic.split(".")[0]
                if name in names:
                    start = it_at if it_left and it_at >= run else off
                    *_, full = self._cs.disasm(code[start:off + ci.size], address + start)
                    if full.address != ci.address:   # pragma: no cover - as decode_block
                        *_, full = self._cs.disasm(code[run:off + ci.size], address + run)
                    out.append(self._convert(full, it_left > 0))
                if name == "it":
                    it_left, it_at = len(ci.mnemonic) - 1, off
                elif it_left:
                    it_left -= 1
                pos = off + ci.size
                got = True
            if not got and pos < len(code):
                if "undefined" in names:
                    out.append(_undefined(address + pos, code[pos:pos + 2]))
                pos += 2
        return out

    def outline(self, address: int, code: bytes) -> list[tuple[int, int, str]]:
        """``(address, size, name)`` of every instruction of ``code``, in the linear decode
        of :meth:`decode_block` (undecodable halfwords as ``"undefined"``), without operand
        details: the cheap way to see what precedes an address."""
        address &= ~1
        code = bytes(code)
        if self._lite is None:
            self._lite = _new_cs()
        out: list[tuple[int, int, str]] = []
        pos = 0
        while pos < len(code):
            got = False
            for ci in self._lite.disasm(code[pos:], address + pos):
                out.append((ci.address, ci.size,
                            self._lite.insn_name(ci.id) or ci.mnemonic.split(".")[0]))
                pos = ci.address - address + ci.size
                got = True
            if not got and pos < len(code):
                out.append((address + pos, 2, "undefined"))
                pos += 2
        return out

    # -- internals ---------------------------------------------------------------------
    def _decode(self, address: int, code: bytes, limit: int = 0) -> list[Insn]:
        out: list[Insn] = []
        pos = 0
        it_left = 0
        while pos < len(code) and (not limit or len(out) < limit):
            got = False
            for ci in self._cs.disasm(code[pos:], address + pos):
                insn = self._convert(ci, it_left > 0)
                if insn.it_count:
                    it_left = insn.it_count
                elif it_left:
                    it_left -= 1
                out.append(insn)
                pos += ci.size
                got = True
                if limit and len(out) >= limit:
                    break
            if not got and pos < len(code):
                out.append(_undefined(address + pos, code[pos:pos + 2]))
                pos += 2
        return out

    def _convert(self, ci: capstone.CsInsn, in_it: bool) -> Insn:
        from capstone import arm as _arm

        name = self._cs.insn_name(ci.id) or ci.mnemonic.split(".")[0]
        read_ids, write_ids = ci.regs_access()
        reads = frozenset(ci.reg_name(r) for r in read_ids)
        writes = frozenset(ci.reg_name(r) for r in write_ids)
        mem_base = mem_index = None
        mem_disp = 0
        shifted = False
        imm: int | None = None
        for op in ci.operands:
            if op.type == _arm.ARM_OP_MEM:
                if op.mem.base:
                    mem_base = ci.reg_name(op.mem.base)
                if op.mem.index:
                    mem_index = ci.reg_name(op.mem.index)
                mem_disp = op.mem.disp
            elif op.type == _arm.ARM_OP_IMM:
                imm = op.imm
            if op.shift.type != _arm.ARM_SFT_INVALID and op.shift.value:
                shifted = True
        if name in ("vpop", "vldmia", "vldmdb"):
            listed = frozenset(_LIST_RE.findall(ci.op_str.split("{", 1)[-1]))
            reads, writes = reads - listed, writes | listed
        reg_list = 0
        if name in _MULTI:
            if name in ("push", "pop", "vpush", "vpop"):
                mem_base = "sp"
                reads = reads | {"sp"}
                writes = writes | {"sp"}
            else:
                mem_base = ci.op_str.split(",", 1)[0].rstrip("!").strip()
            reg_list = ci.op_str.split("{", 1)[-1].count(",") + 1
        it_count = len(ci.mnemonic) - 1 if name == "it" else 0
        writes_pc = "pc" in writes or name in _TABLE_BRANCH or name in _DIRECT_BRANCH
        branch: str | None = None
        target: int | None = None
        if name in _DIRECT_BRANCH:
            branch, target = DIRECT, imm
        elif writes_pc:
            branch = INDIRECT
        if name == "blx" and imm is not None:
            branch, target = DIRECT, imm
        cond = ci.cc not in (_arm.ARM_CC_AL, _arm.ARM_CC_INVALID) and name != "it"
        conditional = cond or in_it or name in ("cbz", "cbnz")
        writes_pc = writes_pc or branch is not None
        return Insn(
            address=ci.address, size=ci.size, mnemonic=ci.mnemonic, op_str=ci.op_str,
            name=name, regs_read=reads - {"itstate"}, regs_write=writes - {"itstate"},
            mem_base=mem_base, mem_index=mem_index, mem_disp=mem_disp,
            writeback=bool(ci.writeback) or name in ("push", "pop", "vpush", "vpop"),
            reg_list=reg_list, writes_pc=writes_pc, branch=branch, target=target,
            is_call=name in _CALLS, conditional=conditional, in_it=in_it,
            it_count=it_count, shifted=shifted, sets_flags=bool(ci.update_flags),
        )


def _new_cs() -> capstone.Cs:
    """A Capstone handle for Thumb-2 M-profile code (operand details off)."""
    import capstone

    mode = capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS | capstone.CS_MODE_V8
    return capstone.Cs(capstone.CS_ARCH_ARM, mode)


def _undefined(address: int, code: bytes) -> Insn:
    return Insn(address, 2, ".undefined", code.hex(), "undefined", frozenset(), frozenset(),
                None, None, 0, False, 0, False, None, None, False, False, False, 0, False,
                False)


@functools.lru_cache(maxsize=1)
def get_decoder() -> Decoder:
    """Return the process-wide shared :class:`Decoder` (so its block cache is reused)."""
    return Decoder()
