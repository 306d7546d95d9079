"""The only module that imports Unicorn: a thin adapter for a Cortex-M core.

:class:`Engine` creates the CPU (``UC_MODE_THUMB | UC_MODE_MCLASS`` with the Cortex-M4 or
M7 model), maps host-owned memory, reads and writes registers and memory, installs the
native counting hooks of :mod:`mcusim.native` (by C address, through ``uc_hook_add``) and
runs until a stop address.  It reports how a run ended as plain data (:class:`Stop`), which
:mod:`mcusim.machine` turns into errors that name functions and source lines.

Two settings keep Unicorn 2.1 fast on stores: every mapping gets its own RAM offsets
(:func:`_use_general_ram_allocator`: no re-translation of code on data stores), and a store
reaches host speed after the first one to its page only when no memory hook covers the page
and its TLB entry is not executable (:meth:`Engine._cover_invalid`,
:meth:`Engine.use_data_tlb`).
"""

from __future__ import annotations

import ctypes
import math
import os
import struct
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Callable

import numpy as np
import unicorn as uc
from unicorn import arm_const as arm
from unicorn.unicorn_py3.unicorn import uclib

from mcusim.errors import MachineError

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
STOP_TIMEOUT = "timeout"        # the wall-clock limit passed
STOP_COUNT = "count"            # Unicorn's own instruction count (no native hooks) ran out
STOP_SLEEP = "sleep"            # WFI/WFE: the core would wait for an interrupt or event
STOP_INVSTATE = "invstate"      # execution in ARM state (BX/POP/LDR PC to an even address)

_WFI, _WFE = 0xBF30, 0xBF20                     # 16-bit hints
_WFI_W, _WFE_W = (0xF3AF, 0x8003), (0xF3AF, 0x8002)

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


class _RegisterBatch:
    """Fixed registers read or written with one ``uc_reg_read_batch`` / ``uc_reg_write_batch``
    call: about a microsecond for all of them, against about three per register through the
    Python binding (a short call sets 17 and reads 4)."""

    def __init__(self, handle: object, ids: list[int]) -> None:
        n = len(ids)
        self._handle, self._n = handle, n
        self._ids = (ctypes.c_int * n)(*ids)
        self._values = (ctypes.c_uint64 * n)()
        base, width = ctypes.addressof(self._values), ctypes.sizeof(ctypes.c_uint64)
        self._pointers = (ctypes.c_void_p * n)(*[base + i * width for i in range(n)])

    def write(self, values: list[int]) -> None:
        self._values[:] = [v & 0xFFFFFFFF for v in values]
        if uclib.uc_reg_write_batch(self._handle, self._ids, self._pointers, self._n):
            raise MachineError("writing the core registers failed")

    def read(self) -> list[int]:
        """The registers' 32-bit values."""
        self._values[:] = [0] * self._n        # Unicorn writes 4 bytes of each slot
        if uclib.uc_reg_read_batch(self._handle, self._ids, self._pointers, self._n):
            raise MachineError("reading the core registers failed")
        return self._values[:]


class _Watchdog:
    """One thread that stops runs whose wall-clock limit passed.

    Unicorn's own ``emu_start`` timeout starts a thread per call (about 200 µs each, and it
    polls every few µs); this one thread sleeps until the earliest armed deadline, so arming
    and disarming cost a lock and a dict update.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, Callable[[], object]]] = {}
        self._fired: set[int] = set()
        self._next = 0
        self._wake_at = math.inf
        threading.Thread(target=self._loop, name="mcusim-watchdog", daemon=True).start()

    def arm(self, seconds: float, stop: Callable[[], object]) -> int:
        deadline = time.monotonic() + seconds
        with self._cond:
            self._next += 1
            self._armed[self._next] = (deadline, stop)
            if deadline < self._wake_at:
                self._cond.notify()
            return self._next

    def disarm(self, token: int) -> bool:
        """Forget ``token``; True when its deadline passed (and the run was stopped)."""
        with self._cond:
            self._armed.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, stop) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        self._fired.add(token)
                        stop()
                self._wake_at = min((d for d, _ in self._armed.values()), default=math.inf)
                self._cond.wait(None if self._wake_at == math.inf else self._wake_at - now)


@cache
def _watchdog() -> _Watchdog:
    return _Watchdog()


if hasattr(os, "register_at_fork"):   # a forked worker has no watchdog thread: make a new one
    os.register_at_fork(after_in_child=_watchdog.cache_clear)


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
        self._native: list[tuple[int, int, np.ndarray, int, int]] = []   # their arguments
        self.translation_epoch = 0      # flush_translations calls so far
        self._fault: Stop | None = None
        self._bkpt: int | None = None
        self.uc.hook_add(uc.UC_HOOK_INTR, self._on_interrupt)
        self._ram: list[tuple[int, int]] = []              # plain RAM (RWX), [start, end)
        self._invalid_hooks: list[int] = []                 # over everything but self._ram
        self._covered: list[tuple[int, int]] | None = None  # the _ram they were made for
        self._guard_hooks: dict[tuple[int, int], int] = {}  # inaccessible pages inside it
        self._call_regs = _RegisterBatch(self.uc._uch, [*_CORE_REGS, arm.UC_ARM_REG_SP,
                                                        arm.UC_ARM_REG_LR, arm.UC_ARM_REG_XPSR,
                                                        arm.UC_ARM_REG_CONTROL])
        self._result_regs = _RegisterBatch(self.uc._uch, [_CORE_REGS[0], _CORE_REGS[1],
                                                          _S_REGS[0], _S_REGS[1]])
        self._pc_reg = _RegisterBatch(self.uc._uch, [arm.UC_ARM_REG_PC])

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
        if writable and executable:    # (a fetch from non-executable memory must fault)
            self._ram.append((start, start + buffer.nbytes))

    def _cover_invalid(self) -> None:
        """(Re-)register the invalid-memory hook over every address but plain RAM (mapped
        writable and executable).

        Unicorn 2.1 keeps every store to a page on its checked slow path (about 300 host
        instructions instead of one) while any memory hook's range covers the page
        (``notdirty_write`` in its ``cputlb.c``); a hook over the whole address space made
        every store to RAM slow.  Done before each run, only when the mapping changed.  Faults inside RAM come only from pages made inaccessible
        with :meth:`set_access`, which gets its own hook for them; unmapped addresses,
        Flash and the other regions stay covered.
        """
        if self._covered == self._ram:
            return
        for handle in self._invalid_hooks:
            self.uc.hook_del(handle)
        self._invalid_hooks, self._covered = [], list(self._ram)
        lo = 0
        for start, end in sorted(self._ram) + [(1 << 32, 1 << 32)]:
            if start > lo:
                self._invalid_hooks.append(self.uc.hook_add(
                    uc.UC_HOOK_MEM_INVALID, self._on_invalid, begin=lo, end=start - 1))
            lo = max(lo, end)

    def use_data_tlb(self, fill_address: int, pages: np.ndarray) -> None:
        """Fill Unicorn's TLB with the compiled callback at ``fill_address`` (user data
        ``pages``, see :func:`mcusim.native.tlb_pages`) instead of the Cortex-M MPU model.

        The MPU model's default memory map makes SRAM executable, and Unicorn 2.1 never takes
        a page whose TLB entry is executable off its checked store path; the callback marks
        a page executable only once code was fetched from it, so stores to data run at host
        speed while stores into code are still seen.  The firmware sees no difference: it
        runs with the MPU off, where the default map allows every access the regions'
        permissions (which Unicorn checks separately) allow.
        """
        self.uc.ctl_set_tlb_mode(uc.UC_TLB_VIRTUAL)
        self._add_native(uc.UC_HOOK_TLB_FILL, fill_address, pages, 1, 0)
        self.flush_tlb()

    def use_mpu_tlb(self) -> None:
        """Back to Unicorn's own TLB (its Cortex-M MPU model), as plain Unicorn runs: every
        store to RAM then takes the checked path (the baseline of the speed benchmarks)."""
        self.uc.ctl_set_tlb_mode(uc.UC_TLB_CPU)
        self.flush_tlb()

    def set_access(self, start: int, size: int, allowed: bool) -> None:
        """Make ``[start, start + size)`` (whole pages of :data:`PAGE` bytes) inaccessible to
        the firmware, or give read/write/execute back.  Any access to an inaccessible page
        stops the run through the invalid-memory hook (no cost on other accesses)."""
        self.uc.mem_protect(start, size, uc.UC_PROT_ALL if allowed else uc.UC_PROT_NONE)
        self.flush_tlb()
        if allowed:
            for key in [k for k in self._guard_hooks if start <= k[0] and k[1] < start + size]:
                self.uc.hook_del(self._guard_hooks.pop(key))
        elif (start, start + size - 1) not in self._guard_hooks and any(
                lo <= start < hi for lo, hi in self._ram):
            self._guard_hooks[(start, start + size - 1)] = self.uc.hook_add(
                uc.UC_HOOK_MEM_INVALID, self._on_invalid, begin=start, end=start + size - 1)

    def flush_tlb(self) -> None:
        """Drop cached address translations: Unicorn 2.1 keeps a page's TLB entry (with the
        permissions it had) across ``mem_protect`` and after a protection fault."""
        self.uc.ctl(uc.UC_CTL_TLB_FLUSH, uc.UC_CTL_IO_WRITE)

    def read(self, address: int, size: int) -> bytes:
        """Bytes of mapped memory (raises :class:`~mcusim.errors.MachineError` if unmapped)."""
        try:
            return bytes(self.uc.mem_read(address, size))
        except (uc.UcError, OverflowError, ctypes.ArgumentError):
            raise MachineError("read of unmapped memory", address=address, size=size) from None

    def write(self, address: int, data: bytes) -> None:
        try:
            self.uc.mem_write(address, data)
        except (uc.UcError, OverflowError, ctypes.ArgumentError):
            raise MachineError("write to unmapped memory", address=address,
                               size=len(data)) from None

    # -- registers ----------------------------------------------------------------------
    def reg(self, index: int) -> int:
        """Core register ``r<index>`` (0-12)."""
        return self.uc.reg_read(_CORE_REGS[index])

    def sreg_bits(self, index: int) -> int:
        """FPU register ``s<index>`` as its 32-bit pattern."""
        return self.uc.reg_read(_S_REGS[index]) & 0xFFFFFFFF

    def set_sreg_bits(self, index: int, bits: int) -> None:
        self.uc.reg_write(_S_REGS[index], bits & 0xFFFFFFFF)

    def set_call_registers(self, core: list[int], sp: int, lr: int) -> None:
        """Registers at the start of a call: ``r0``.. from ``core`` (the rest of r0-r12
        zero), SP, LR, and the core state of :meth:`reset_core_state`, in one batch."""
        self._call_regs.write([*core, *[0] * (13 - len(core)), sp, lr, 1 << 24, 0])

    def result_registers(self) -> tuple[int, int, int, int]:
        """``(r0, r1, s0 bits, s1 bits)`` after a call, in one batch."""
        r0, r1, s0, s1 = self._result_regs.read()
        return r0, r1, s0, s1

    @property
    def pc(self) -> int:
        return self._pc_reg.read()[0]

    @property
    def thumb(self) -> bool:
        """The EPSR T bit (clear after a branch to an even address)."""
        return bool(self.uc.reg_read(arm.UC_ARM_REG_XPSR) & (1 << 24))

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

    @staticmethod
    def native_sp_reader() -> tuple[int, int]:
        """C address of ``uc_reg_read`` and Unicorn's register id of SP (for the native
        stack check)."""
        read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        return int(read or 0), int(arm.UC_ARM_REG_SP)

    def add_native_code_hook(self, address: int, user_data: np.ndarray, at: int) -> None:
        """Register a compiled code callback (C address) for the one instruction at ``at``."""
        self._add_native(uc.UC_HOOK_CODE, address, user_data, at, at)

    @property
    def native_code_hooks(self) -> int:
        """Compiled code hooks registered (Unicorn walks them all at each hooked
        instruction)."""
        return sum(spec[0] == uc.UC_HOOK_CODE for spec in self._native)

    def remove_native_hooks(self, user_data: np.ndarray) -> None:
        """Remove the compiled hooks registered with ``user_data`` (which drops the
        translations they are in)."""
        keep = [spec[2] is not user_data for spec in self._native]
        for handle, kept in zip(self._hooks, keep):
            if not kept:
                uclib.uc_hook_del(self.uc._uch, handle)
        self._hooks = [h for h, k in zip(self._hooks, keep) if k]
        self._native = [spec for spec, k in zip(self._native, keep) if k]

    @property
    def control(self) -> int:
        """The CONTROL register."""
        return int(self.uc.reg_read(arm.UC_ARM_REG_CONTROL))

    def drop_translation(self, start: int, end: int) -> None:
        """Drop the translated blocks overlapping ``[start, end)``."""
        self.uc.ctl_remove_cache(start, end)  # type: ignore[attr-defined]

    @property
    def handle(self) -> object:
        """Unicorn's engine handle (``uc_engine *``), for native functions."""
        return self.uc._uch

    @staticmethod
    def reg_id(name: str) -> int:
        """Unicorn's id of core register ``name`` (``r0``..``r12``, ``sp``, ``lr``, ``pc``)."""
        return int(getattr(arm, f"UC_ARM_REG_{name.upper()}"))

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
        self._native.append((kind, address, state, begin, end))   # (keeps `state` alive)

    def map_python_mmio(self, start: int, size: int, on_read: Callable[[int, int], int],
                        on_write: Callable[[int, int, int], None]) -> None:
        """Map ``[start, start + size)`` as MMIO served by Python callbacks, for rare accesses
        (e.g. the DWT page: only accesses to it leave the fast path, where a memory hook
        would send every load of the program through Unicorn's slow path).

        ``on_read(offset, size) -> value``; ``on_write(offset, size, value)``.
        """
        self.uc.mmio_map(start, size, lambda _u, offset, n, _d: on_read(offset, n), None,
                         lambda _u, offset, n, value, _d: on_write(offset, n, value), None)

    def add_write_watch(self, ranges: list[tuple[int, int]], hits: list[tuple[int, int]]) -> list[int]:
        """Stop at the first store into any ``[begin, end]`` of ``ranges`` (slow: every memory
        access then takes Unicorn's checked path; used only to locate a stray write by
        replaying a call).  ``(pc, address)`` of the store is appended to ``hits``.

        Returns the hook handles (for :meth:`remove_hook`); translations are flushed so the
        hooks apply to code translated before.
        """
        def on_write(_u: uc.Uc, _access: int, address: int, _size: int, _value: int,
                     _data: object) -> None:
            if not hits:
                hits.append((self.pc, address))
            self.uc.emu_stop()
        handles = [self.uc.hook_add(uc.UC_HOOK_MEM_WRITE, on_write, begin=b, end=e)
                   for b, e in ranges]
        self.flush_translations()
        return handles

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
        self.translation_epoch += 1

    def pretranslate(self, starts: list[int], controls: tuple[int, ...] = (0,)) -> list[int]:
        """Translate the blocks at ``starts`` with no hook in them; their sizes in bytes.

        Unicorn decides at translation whether a block calls the hooks, so a block translated
        while no block or code hook covers it runs at raw speed until its translation is
        dropped (the counted loops of :mod:`mcusim.loops`).  The native hooks are taken out
        (which drops every translation they are in), each block is translated from the
        current CPU state once per value of CONTROL in ``controls`` (the state is part of a
        translation's key), and the hooks are put back.  Python hooks (a trace) must not be
        installed.  A block that cannot be translated has size 0; one translated to another
        size under another value has the smaller size.
        """
        for handle in self._hooks:
            uclib.uc_hook_del(self.uc._uch, handle)
        specs, self._hooks, self._native = self._native, [], []
        for start in starts:
            self.drop_translation(start, start + 2)
        control = self.control
        sizes: dict[int, int] = {}
        try:
            for value in controls:
                self.uc.reg_write(arm.UC_ARM_REG_CONTROL, value)
                for start in starts:
                    try:
                        tb = self.uc.ctl_request_cache(start)  # type: ignore[attr-defined]
                        size = int(tb[2])            # (pc, instructions, size)
                    except uc.UcError:               # (not translatable: reported as 0)
                        size = 0
                    sizes[start] = min(sizes.get(start, size), size)
        finally:
            self.uc.reg_write(arm.UC_ARM_REG_CONTROL, control)
            for kind, address, state, begin, end in specs:
                self._add_native(kind, address, state, begin, end)
        return [sizes[start] for start in starts]

    # -- running ------------------------------------------------------------------------
    def _on_interrupt(self, _uc: uc.Uc, intno: int, _data: object) -> None:
        pc = self.pc
        if intno == _EXCP_BKPT:
            try:
                self._bkpt = self.read(pc, 2)[0]
            except MachineError:
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

    def run(self, begin: int, until: int, *, timeout: float | None = None,
            count: int = 0) -> Stop:
        """Run from ``begin`` (Thumb bit added) until PC reaches ``until`` or something stops it.

        Parameters
        ----------
        timeout
            Wall-clock limit in seconds (``None``: none); past it the run stops with
            :data:`STOP_TIMEOUT`.
        count
            Stop after this many instructions with Unicorn's own counter (0: no limit).  It
            adds a per-instruction check, so it is used only without the native hooks.
        """
        self._cover_invalid()
        self._fault = None
        self._bkpt = None
        token = _watchdog().arm(timeout, self.uc.emu_stop) if timeout is not None else None
        error: uc.UcError | None = None
        try:
            self.uc.emu_start(begin | 1, until, 0, count)
        except uc.UcError as exc:
            error = exc
        finally:
            timed_out = token is not None and _watchdog().disarm(token)
        if error is not None:
            return self._error_stop(error)
        if self._fault is not None:
            return self._fault
        if self._bkpt is not None:
            return Stop(STOP_BKPT, self.pc, detail=self._bkpt)
        pc = self.pc
        if pc == until:
            return Stop(STOP_UNTIL, pc)
        if timed_out:
            return Stop(STOP_TIMEOUT, pc)
        sleep = self._sleep_before(pc, (_WFI, _WFI_W))
        if sleep is not None:
            return Stop(STOP_SLEEP, sleep, detail="WFI")
        if count:
            return Stop(STOP_COUNT, pc)
        return Stop(STOP_HOOK, pc)

    def _error_stop(self, exc: uc.UcError) -> Stop:
        if self._fault is not None:
            return self._fault
        pc = self.pc
        if exc.errno == uc.UC_ERR_INSN_INVALID:
            if not self.uc.reg_read(arm.UC_ARM_REG_XPSR) & (1 << 24):
                return Stop(STOP_INVSTATE, pc, address=pc, detail="INVSTATE")
            sleep = self._sleep_before(pc, (_WFE, _WFE_W))
            if sleep is not None:
                return Stop(STOP_SLEEP, sleep, detail="WFE")
            return Stop(STOP_UNDEFINED, pc, detail=str(exc))
        if exc.errno in (uc.UC_ERR_READ_UNMAPPED, uc.UC_ERR_WRITE_UNMAPPED,
                         uc.UC_ERR_FETCH_UNMAPPED):
            return Stop(STOP_UNMAPPED, pc, detail=str(exc))
        if exc.errno == uc.UC_ERR_WRITE_PROT:
            return Stop(STOP_WRITE_PROT, pc, detail=str(exc))
        return Stop(STOP_EXCEPTION, pc, detail=str(exc))

    def _sleep_before(self, pc: int, encodings: tuple[int, tuple[int, int]]) -> int | None:
        """Address of the WFI/WFE (16- or 32-bit, per ``encodings``) that ends just before
        ``pc``, else None (Unicorn leaves the PC after a sleep hint)."""
        short, wide = encodings
        for start in (pc - 2, pc - 4):
            try:
                words = struct.unpack("<2H", self.read(start, 4))
            except MachineError:
                continue
            if start == pc - 2 and words[0] == short:
                return start
            if start == pc - 4 and words == wide:
                return start
        return None
