"""The only module that imports Unicorn: a thin adapter for a Cortex-M core.

:class:`Engine` creates the CPU (``UC_MODE_THUMB | UC_MODE_MCLASS`` with the Cortex-M4 or
M7 model), maps host-owned memory, reads and writes registers and memory, installs the
native counting hooks of :mod:`mcusim.native` (by C address, through ``uc_hook_add``) and
runs until a stop address.  It reports how a run ended as plain data (:class:`Stop`), which
:mod:`mcusim.machine` turns into errors that name functions and source lines.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Callable

import numpy as np
import unicorn as uc
from unicorn import arm_const as arm
from unicorn.unicorn_py3.unicorn import uclib

_CPU = {"cortex-m4": arm.UC_CPU_ARM_CORTEX_M4, "cortex-m7": arm.UC_CPU_ARM_CORTEX_M7}
_CORE_REGS = [getattr(arm, f"UC_ARM_REG_R{i}") for i in range(13)]
_S_REGS = [getattr(arm, f"UC_ARM_REG_S{i}") for i in range(32)]
PAGE = 1024
_ALLOCATOR_PAGE = 0xFFFF_F000   # mapped and unmapped once, before the board's memory

# Stop kinds reported by Engine.run.
STOP_UNTIL = "until"            # reached the stop address
STOP_BKPT = "bkpt"              # executed BKPT (immediate in Stop.detail)
STOP_HOOK = "hook"              # a native hook called uc_emu_stop (budget, table full)
STOP_UNMAPPED = "unmapped"      # read/write/fetch of unmapped memory
STOP_WRITE_PROT = "write_prot"  # write to read-only memory
STOP_FETCH_PROT = "fetch_prot"  # fetch from non-executable memory
STOP_UNDEFINED = "undefined"    # undefined instruction
STOP_EXCEPTION = "exception"    # another CPU exception (interrupt number in Stop.detail)

_EXCP_BKPT = 7
_EXCP_NAMES = {1: "UDEF (undefined instruction)", 2: "SVC without handler",
               3: "prefetch abort", 4: "data abort", 8: "exception return",
               17: "NOCP (coprocessor disabled)", 18: "INVSTATE (invalid state, e.g. ARM mode)",
               19: "stack limit", 22: "unaligned access", 23: "divide by zero"}


@dataclass(frozen=True)
class Stop:
    """How a run ended.

    Attributes
    ----------
    kind
        One of the ``STOP_*`` constants.
    pc
        Program counter at the stop (the faulting instruction for faults).
    address
        Faulting data address for memory faults, else None.
    access
        ``"read"``, ``"write"`` or ``"fetch"`` for memory faults.
    detail
        BKPT immediate, exception number, or Unicorn's message.
    """

    kind: str
    pc: int
    address: int | None = None
    access: str | None = None
    detail: str | int | None = None


def _use_general_ram_allocator(u: uc.Uc) -> None:
    """Make Unicorn give every mapping its own range of RAM offsets, whatever the order.

    Unicorn 2.1 (QEMU 5) identifies guest RAM by a "RAM offset" per mapping, and tracks which
    pages hold translated code by that offset: a store whose RAM offset lies on translated
    code throws the code away.  Until the first unmap, Unicorn allocates the offset of a new
    mapping right after the block at the *tail* of its size-sorted block list
    (``find_ram_offset_last``), which is the end of the last block only if blocks were
    mapped from the largest to the smallest.  Any other order gives overlapping offsets:
    with CCM, SRAM1, SRAM2, Flash mapped in that order on the STM32F407, SRAM1 at
    ``0x2000_4000 + X`` shared its RAM offsets with Flash at ``0x0800_0000 + X``, so every
    store to a global there re-translated the code at ``X`` (issue 14).

    Once a block has been freed, Unicorn uses its general allocator instead
    (``find_ram_offset``: the smallest gap after an existing block that fits), whose offsets
    never overlap.  Mapping and unmapping one page before any other mapping switches to it,
    so the board's memory map can be mapped in any order (tests/test_engine.py checks the
    three boards store to every RAM word without re-translating anything).
    """
    u.mem_map(_ALLOCATOR_PAGE, PAGE)
    u.mem_unmap(_ALLOCATOR_PAGE, PAGE)


class Engine:
    """A Cortex-M CPU in Unicorn.

    Parameters
    ----------
    core
        ``"cortex-m4"`` or ``"cortex-m7"``.
    """

    def __init__(self, core: str) -> None:
        self.uc = uc.Uc(uc.UC_ARCH_ARM, uc.UC_MODE_THUMB | uc.UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(_CPU[core])
        _use_general_ram_allocator(self.uc)
        self._buffers: list[np.ndarray] = []
        self._hooks: list[ctypes.c_size_t] = []
        self._fault: Stop | None = None
        self._bkpt: int | None = None
        self.uc.hook_add(uc.UC_HOOK_INTR, self._on_interrupt)
        self.uc.hook_add(uc.UC_HOOK_MEM_INVALID, self._on_invalid)

    # -- memory -------------------------------------------------------------------------
    def map(self, start: int, buffer: np.ndarray, *, writable: bool, executable: bool = True) -> None:
        """Map host ``buffer`` (uint8, size a multiple of 1 KiB) at ``start``.

        The same buffer may be mapped at several addresses (e.g. Flash and its ITCM alias).
        """
        perms = uc.UC_PROT_READ
        if writable:
            perms |= uc.UC_PROT_WRITE
        if executable:
            perms |= uc.UC_PROT_EXEC
        self.uc.mem_map_ptr(start, buffer.nbytes, perms, buffer.ctypes.data)
        self._buffers.append(buffer)

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(address, size))

    def write(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, data)

    # -- registers ----------------------------------------------------------------------
    def reg(self, index: int) -> int:
        """Core register ``r<index>`` (0-12)."""
        return self.uc.reg_read(_CORE_REGS[index])

    def set_reg(self, index: int, value: int) -> None:
        self.uc.reg_write(_CORE_REGS[index], value & 0xFFFFFFFF)

    def sreg_bits(self, index: int) -> int:
        """FPU register ``s<index>`` as its 32-bit pattern."""
        return self.uc.reg_read(_S_REGS[index]) & 0xFFFFFFFF

    def set_sreg_bits(self, index: int, bits: int) -> None:
        self.uc.reg_write(_S_REGS[index], bits & 0xFFFFFFFF)

    @property
    def pc(self) -> int:
        return self.uc.reg_read(arm.UC_ARM_REG_PC)

    @property
    def sp(self) -> int:
        return self.uc.reg_read(arm.UC_ARM_REG_SP)

    @sp.setter
    def sp(self, value: int) -> None:
        self.uc.reg_write(arm.UC_ARM_REG_SP, value)

    @property
    def lr(self) -> int:
        return self.uc.reg_read(arm.UC_ARM_REG_LR)

    @lr.setter
    def lr(self, value: int) -> None:
        self.uc.reg_write(arm.UC_ARM_REG_LR, value)

    def reset_core_state(self) -> None:
        """Thread mode, privileged, main stack, FPU enabled, flags cleared."""
        self.uc.reg_write(arm.UC_ARM_REG_XPSR, 1 << 24)  # Thumb bit
        self.uc.reg_write(arm.UC_ARM_REG_CONTROL, 0)

    # -- hooks --------------------------------------------------------------------------
    @staticmethod
    def native_functions() -> tuple[int, int]:
        """C addresses of ``uc_emu_stop`` and ``uc_mem_read`` for the native hooks."""
        stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        read = ctypes.cast(uclib.uc_mem_read, ctypes.c_void_p).value
        return int(stop or 0), int(read or 0)

    def add_native_block_hook(self, address: int, state: np.ndarray) -> None:
        """Register a compiled block callback (C address) with ``state`` as user data."""
        self._add_native(uc.UC_HOOK_BLOCK, address, state, 1, 0)

    def map_mmio(self, start: int, size: int, read_cb: int, write_cb: int,
                 user_data: np.ndarray) -> None:
        """Map ``[start, start + size)`` as MMIO served by compiled callbacks (C addresses)."""
        ptr = ctypes.c_void_p(user_data.ctypes.data)
        status = uclib.uc_mmio_map(self.uc._uch, ctypes.c_uint64(start), ctypes.c_uint64(size),
                                   ctypes.c_void_p(read_cb), ptr, ctypes.c_void_p(write_cb), ptr)
        if status != 0:
            raise RuntimeError(f"uc_mmio_map failed with status {status}")
        self._buffers.append(user_data)

    def _add_native(self, kind: int, address: int, state: np.ndarray, begin: int, end: int) -> None:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self.uc._uch, ctypes.byref(handle), kind,
                                   ctypes.c_void_p(address), ctypes.c_void_p(state.ctypes.data),
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if status != 0:
            raise RuntimeError(f"uc_hook_add failed with status {status}")
        self._hooks.append(handle)
        self._buffers.append(state)

    def add_access_hook(self, begin: int, end: int, on_read, on_write) -> None:
        """Python callbacks for the rare accesses to ``[begin, end]`` (e.g. DWT CYCCNT).

        ``on_read(address)`` runs before the load (it may rewrite the memory it reads);
        ``on_write(address, value)`` after the store.
        """
        self.uc.hook_add(uc.UC_HOOK_MEM_READ, lambda _u, _a, addr, _s, _v, _d: on_read(addr),
                         begin=begin, end=end)
        self.uc.hook_add(uc.UC_HOOK_MEM_WRITE,
                         lambda _u, _a, addr, _s, value, _d: on_write(addr, value),
                         begin=begin, end=end)

    def add_trace_hook(self, counts: dict[int, int]) -> int:
        """Slow reference path (tests only): count every instruction Unicorn reports."""
        def on_code(_uc: uc.Uc, address: int, _size: int, _data: object) -> None:
            counts[address] = counts.get(address, 0) + 1
        return self.uc.hook_add(uc.UC_HOOK_CODE, on_code)

    def count_translations(self) -> Callable[[], int]:
        """Start counting block translations (tests and diagnostics); returns a counter.

        Counts Unicorn's ``UC_HOOK_EDGE_GENERATED`` events: a block looked up from another
        block outside the chained fast path, which is what every (re)translation of a block
        reached from a translated block is.  Python runs only on those events, never per
        executed block, so a run whose code stays translated reports 0.
        """
        events = [0]

        def on_edge(_uc: uc.Uc, _cur: object, _prev: object, _data: object) -> None:
            events[0] += 1

        self.uc.hook_add(uc.UC_HOOK_EDGE_GENERATED, on_edge)
        return lambda: events[0]

    def remove_hook(self, handle: int) -> None:
        self.uc.hook_del(handle)

    def flush_translations(self) -> None:
        """Drop translated code (needed after hooks change or code memory is rewritten)."""
        self.uc.ctl_flush_tb()  # type: ignore[attr-defined]  # in unicorn >= 2.1, untyped

    # -- running ------------------------------------------------------------------------
    def _on_interrupt(self, _uc: uc.Uc, intno: int, _data: object) -> None:
        pc = self.pc
        if intno == _EXCP_BKPT:
            try:
                self._bkpt = self.read(pc, 2)[0]
            except uc.UcError:
                self._bkpt = -1
        else:
            self._fault = Stop(STOP_EXCEPTION, pc, detail=_EXCP_NAMES.get(intno, f"exception {intno}"))
        self.uc.emu_stop()

    def _on_invalid(self, _uc: uc.Uc, access: int, address: int, size: int, value: int,
                    _data: object) -> bool:
        kinds = {
            uc.UC_MEM_READ_UNMAPPED: (STOP_UNMAPPED, "read"),
            uc.UC_MEM_WRITE_UNMAPPED: (STOP_UNMAPPED, "write"),
            uc.UC_MEM_FETCH_UNMAPPED: (STOP_UNMAPPED, "fetch"),
            uc.UC_MEM_WRITE_PROT: (STOP_WRITE_PROT, "write"),
            uc.UC_MEM_READ_PROT: (STOP_UNMAPPED, "read"),
            uc.UC_MEM_FETCH_PROT: (STOP_FETCH_PROT, "fetch"),
        }
        kind, rw = kinds.get(access, (STOP_UNMAPPED, "access"))
        pc = address if rw == "fetch" else self.pc
        self._fault = Stop(kind, pc, address=address, access=rw, detail=size)
        return False

    def run(self, begin: int, until: int) -> Stop:
        """Run from ``begin`` (Thumb bit added) until PC reaches ``until`` or something stops it."""
        self._fault = None
        self._bkpt = None
        try:
            self.uc.emu_start(begin | 1, until)
        except uc.UcError as exc:
            if self._fault is not None:
                return self._fault
            if exc.errno == uc.UC_ERR_INSN_INVALID:
                return Stop(STOP_UNDEFINED, self.pc, detail=str(exc))
            if exc.errno in (uc.UC_ERR_READ_UNMAPPED, uc.UC_ERR_WRITE_UNMAPPED,
                             uc.UC_ERR_FETCH_UNMAPPED):
                return Stop(STOP_UNMAPPED, self.pc, detail=str(exc))
            if exc.errno == uc.UC_ERR_WRITE_PROT:
                return Stop(STOP_WRITE_PROT, self.pc, detail=str(exc))
            return Stop(STOP_EXCEPTION, self.pc, detail=str(exc))
        if self._fault is not None:
            return self._fault
        if self._bkpt is not None:
            return Stop(STOP_BKPT, self.pc, detail=self._bkpt)
        pc = self.pc
        if pc == until:
            return Stop(STOP_UNTIL, pc)
        return Stop(STOP_HOOK, pc)
