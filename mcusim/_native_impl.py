"""numba implementation of the hooks described in :mod:`mcusim.native` (imported lazily).

Everything here runs inside Unicorn's translated code: no Python objects, no allocation.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import carray, cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from mcusim.native import (
    BLOCK_FIELDS, EDGE_FIELDS, H_BLOCKS, H_BLOCKS_OFF, H_BUDGET, H_CUR, H_DCACHE, H_ECAP,
    H_EDGES_OFF, H_ENTRY, H_FN_READ, H_FN_STOP, H_ICACHE, H_INSNS, H_NRANGES, H_PREV,
    H_FAULT_ADDR, H_FN_REG, H_MIN_SP, H_MIN_SP_BLOCK, H_RANGES, H_SCRATCH, H_SP_LIMIT,
    H_SP_REGID, H_SP_VALUE, H_STOPPED, H_TCAP, H_TICK, SCRATCH_WORDS, STOP_BLOCK_TABLE,
    STOP_BUDGET, STOP_EDGE_TABLE, STOP_FLASH_WRITE, STOP_STACK,
)

_STATE_LEN = 1 << 40  # carray needs a length; bounds are never checked in nopython code
# uint64 constants: numba turns uint64 (op) int64 into float64, so every literal mixed with
# state values must be unsigned.
_0 = np.uint64(0)
_1 = np.uint64(1)
_2 = np.uint64(2)
_4 = np.uint64(4)
_8 = np.uint64(8)
_32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFF)
_GOLD32 = np.uint64(0x9E3779B1)
_GOLD64 = np.uint64(0x9E3779B97F4A7C15)
_20 = np.uint64(20)


@intrinsic
def _call_stop(typingctx, fn, uch):
    """``((int (*)(void *)) fn)(uch)``: call ``uc_emu_stop`` by address."""
    sig = types.int32(types.uint64, types.voidptr)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [cgutils.voidptr_t])
        ptr = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(ptr, [args[1]])

    return sig, codegen


@intrinsic
def _call_read(typingctx, fn, uch, address, base, word, size):
    """``((int (*)(void *, uint64_t, void *, size_t)) fn)(uch, address, base + word, size)``."""
    sig = types.int32(types.uint64, types.voidptr, types.uint64, types.CPointer(types.uint64),
                      types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [cgutils.voidptr_t, ir.IntType(64),
                                                cgutils.voidptr_t, ir.IntType(64)])
        ptr = builder.inttoptr(args[0], fnty.as_pointer())
        dest_ptr = builder.bitcast(builder.gep(args[3], [args[4]]), cgutils.voidptr_t)
        return builder.call(ptr, [args[1], args[2], dest_ptr, args[5]])

    return sig, codegen


@intrinsic
def _call_reg_read(typingctx, fn, uch, regid, base, word):
    """``((int (*)(void *, int, void *)) fn)(uch, regid, base + word)``."""
    sig = types.int32(types.uint64, types.voidptr, types.uint64, types.CPointer(types.uint64),
                      types.uint64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [cgutils.voidptr_t, ir.IntType(32),
                                                cgutils.voidptr_t])
        ptr = builder.inttoptr(args[0], fnty.as_pointer())
        regid = builder.trunc(args[2], ir.IntType(32))
        dest_ptr = builder.bitcast(builder.gep(args[3], [args[4]]), cgutils.voidptr_t)
        return builder.call(ptr, [args[1], regid, dest_ptr])

    return sig, codegen


def _pointer_cast(element: types.Integer):
    """An intrinsic turning an integer address into a pointer to ``element``."""

    @intrinsic
    def cast(typingctx, addr):
        sig = types.CPointer(element)(types.uint64)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], ir.IntType(element.bitwidth).as_pointer())

        return sig, codegen

    return cast


_u64_ptr = _pointer_cast(types.uint64)
_u8_ptr = _pointer_cast(types.uint8)


@njit(cache=True, inline="always")
def _in_wait_range(st, addr):
    n = st[H_NRANGES]
    for i in range(n):
        if st[H_RANGES + 2 * i] <= addr and addr < st[H_RANGES + 2 * i + 1]:
            return True
    return False


@njit(cache=True, inline="always")
def _cache_access(st, base, line):
    """Look ``line`` up in the cache described at ``st[base:base+5]``; True on a hit."""
    sets = st[base]
    if sets == _0:
        return False
    ways = st[base + 1]
    off = st[base + 4]
    tick = st[H_TICK] + _1
    st[H_TICK] = tick
    s = line % sets
    row = off + s * ways * _2
    key = line + _1
    victim = row
    oldest = st[row + 1]
    for w in range(ways):
        slot = row + _2 * np.uint64(w)
        if st[slot] == key:
            st[slot + _1] = tick
            return True
        if st[slot + _1] < oldest:
            oldest = st[slot + _1]
            victim = slot
    st[victim] = key
    st[victim + _1] = tick
    return False


@njit(cache=True, inline="always")
def _fetch(st, base, line):
    """An access through a cache with optional next-line prefetch; True on a miss.

    Shortcut: a line equal to one of the two most recently touched lines is a hit without a
    set scan (loops re-fetch the same lines; only the order of those two lines in the LRU
    stack is then approximate).
    """
    key = line + _1
    if key == st[base + 5] or key == st[base + 6]:
        return False
    hit = _cache_access(st, base, line)
    st[base + 6] = st[base + 5]
    st[base + 5] = key
    if st[base + 3] != _0:
        _cache_access(st, base, line + _1)
        st[base + 6] = key + _1
    return not hit


@njit(cache=True, inline="always")
def _halfword(st, scratch, pos):
    word = st[scratch + (pos >> np.uint64(3))]
    return (word >> ((pos & np.uint64(7)) * _8)) & _MASK32


@njit(cache=True)
def _count_thumb(st, scratch, nbytes):
    """``(instructions, lowers_sp)`` of the first ``nbytes`` bytes copied to ``scratch``.

    ``lowers_sp`` is 1 when an instruction may lower SP: PUSH, SUB SP #imm, ADD/MOV with
    Rd = SP (16-bit); STMDB SP!, VPUSH, MOV.W SP, and SP-based forms with Rd or the
    P/U/W bits of a pre-decrement with writeback equal to SP (32-bit).
    """
    n = _0
    pos = _0
    lowers = _0
    while pos < nbytes:
        hw = _halfword(st, scratch, pos)
        top = hw >> np.uint64(11)
        if top == np.uint64(0x1D) or top == np.uint64(0x1E) or top == np.uint64(0x1F):
            hw2 = _halfword(st, scratch, pos + _2) if pos + _2 < nbytes else _0
            rd = (hw2 >> _8) & np.uint64(0xF)
            if hw == np.uint64(0xE92D) or hw == np.uint64(0xED2D) \
                    or ((hw & np.uint64(0xF)) == np.uint64(13) and rd == np.uint64(13)) \
                    or (hw == np.uint64(0xEA4F) and rd == np.uint64(13)):
                lowers = _1
            pos += _4
        else:
            if (hw & np.uint64(0xFE00)) == np.uint64(0xB400) \
                    or (hw & np.uint64(0xFF80)) == np.uint64(0xB080):
                lowers = _1
            elif (hw & np.uint64(0xFD00)) == np.uint64(0x4400) and \
                    (((hw >> _4) & _8) | (hw & np.uint64(7))) == np.uint64(13):
                lowers = _1
            pos += _2
        n += _1
    return n, lowers


_BLOCK_SIG = types.void(types.voidptr, types.uint64, types.uint32, types.CPointer(types.uint64))


@cfunc(_BLOCK_SIG, cache=True)
def block_hook(uch, address, size, user_data):
    st = carray(user_data, (_STATE_LEN,))
    tcap = st[H_TCAP]
    boff = st[H_BLOCKS_OFF]
    key = address + _1
    mask = tcap - _1
    h = ((address >> _1) * _GOLD32) & mask
    probes = _0
    while True:
        row = boff + h * np.uint64(BLOCK_FIELDS)
        k = st[row]
        if k == key:
            break
        if k == _0:
            # First sight: record the block and count its instructions.
            st[row] = key
            st[row + _1] = size
            nbytes = np.uint64(size)
            if nbytes > np.uint64(SCRATCH_WORDS * 8):
                nbytes = np.uint64(SCRATCH_WORDS * 8)
            scratch = st[H_SCRATCH]
            _call_read(st[H_FN_READ], uch, address, user_data, scratch, nbytes)
            ninstr, lowers = _count_thumb(st, scratch, nbytes)
            st[row + _2] = ninstr
            st[row + np.uint64(7)] = lowers
            break
        h = (h + _1) & mask
        probes += _1
        if probes >= tcap:
            st[H_STOPPED] = STOP_BLOCK_TABLE
            _call_stop(st[H_FN_STOP], uch)
            return
    slot = h
    st[row + np.uint64(3)] += _1
    ninstr = st[row + _2]
    st[H_BLOCKS] += _1
    st[H_INSNS] += ninstr

    # Instruction fetch through the cache model, for blocks in wait-state memory.
    if _in_wait_range(st, address):
        lshift = st[H_ICACHE + 2]
        if st[H_ICACHE] == _0:
            lshift = _4
        line = address >> lshift
        last = (address + np.uint64(size) - _1) >> lshift
        misses = _0
        while line <= last:
            if _fetch(st, H_ICACHE, line):
                misses += _1
            line += _1
        st[row + _4] += misses

    # Edge from the previous block.
    prev = st[H_PREV]
    if prev != _0 and st[boff + (prev - _1) * np.uint64(BLOCK_FIELDS) + np.uint64(7)] != _0 \
            and st[H_FN_REG] != _0:
        # The previous block may have lowered SP: check it against the stack bottom.
        st[H_SP_VALUE] = _0
        _call_reg_read(st[H_FN_REG], uch, st[H_SP_REGID], user_data, np.uint64(H_SP_VALUE))
        sp = st[H_SP_VALUE] & np.uint64(0xFFFFFFFF)
        if sp < st[H_MIN_SP]:
            st[H_MIN_SP] = sp
            st[H_MIN_SP_BLOCK] = st[boff + (prev - _1) * np.uint64(BLOCK_FIELDS)] - _1
            if sp < st[H_SP_LIMIT]:
                st[H_STOPPED] = np.uint64(STOP_STACK)
                _call_stop(st[H_FN_STOP], uch)
                return
    if prev == _0:
        if st[H_ENTRY] == _0:
            st[H_ENTRY] = key
    else:
        ecap = st[H_ECAP]
        eoff = st[H_EDGES_OFF]
        emask = ecap - _1
        ekey = (prev << _32) | (slot + _1)
        eh = ((ekey * _GOLD64) >> _20) & emask
        probes = _0
        while True:
            erow = eoff + eh * np.uint64(EDGE_FIELDS)
            ek = st[erow]
            if ek == ekey + _1:
                st[erow + _1] += _1
                break
            if ek == _0:
                st[erow] = ekey + _1
                st[erow + _1] = _1
                break
            eh = (eh + _1) & emask
            probes += _1
            if probes >= ecap:
                st[H_STOPPED] = STOP_EDGE_TABLE
                _call_stop(st[H_FN_STOP], uch)
                return
    st[H_PREV] = slot + _1
    st[H_CUR] = slot

    budget = st[H_BUDGET]
    if budget != _0 and st[H_INSNS] >= budget:
        st[H_STOPPED] = STOP_BUDGET
        _call_stop(st[H_FN_STOP], uch)


@njit(cache=True, inline="always")
def _data_read(st, address):
    """Charge a data read of wait-state memory to the current block, through the D-cache."""
    row = st[H_BLOCKS_OFF] + st[H_CUR] * np.uint64(BLOCK_FIELDS)
    st[row + np.uint64(5)] += _1
    lshift = st[H_DCACHE + 2]
    if st[H_DCACHE] == _0:
        lshift = _4
    if _fetch(st, H_DCACHE, address >> lshift):
        st[row + np.uint64(6)] += _1


# MMIO callbacks for the data part of Flash.  ``desc`` is a small uint64 array:
# [state address, host address of the mapped bytes, emulated base address].
_MMIO_READ_SIG = types.uint64(types.voidptr, types.uint64, types.uint32,
                              types.CPointer(types.uint64))


@cfunc(_MMIO_READ_SIG, cache=True)
def mmio_read(uch, offset, size, desc):
    st = carray(_u64_ptr(desc[0]), (_STATE_LEN,))
    host = carray(_u8_ptr(desc[1] + offset), (8,))
    value = _0
    for i in range(size):
        value |= np.uint64(host[i]) << np.uint64(8 * i)
    _data_read(st, desc[2] + offset)
    return value


_MMIO_WRITE_SIG = types.void(types.voidptr, types.uint64, types.uint32, types.uint64,
                             types.CPointer(types.uint64))


@cfunc(_MMIO_WRITE_SIG, cache=True)
def mmio_write(uch, offset, size, value, desc):
    """A store to Flash: record the address and stop (the machine raises FlashWriteFault)."""
    st = carray(_u64_ptr(desc[0]), (_STATE_LEN,))
    if st[H_STOPPED] == _0:
        st[H_STOPPED] = np.uint64(STOP_FLASH_WRITE)
        st[H_FAULT_ADDR] = desc[2] + offset
    _call_stop(st[H_FN_STOP], uch)
