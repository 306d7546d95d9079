"""An emulated board: memory map, loaded image, host buffers, calls into the firmware.

Example
-------
>>> import numpy as np
>>> from mcusim.boards import get_board
>>> from mcusim.build import build_firmware, FIRMWARE_DIR
>>> from mcusim.machine import Machine
>>> board = get_board("stm32f746zg")
>>> elf = build_firmware([FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"], board).elf
>>> m = Machine(board, elf)
>>> a = m.place(np.arange(10, dtype=np.int8))
>>> m.call("mcu_dot_s8", a, a, 10).return_value
285

The machine maps every memory region of the board on host buffers (Flash read-only to the
firmware, its aliases sharing the same bytes), plus the system control space (SCB, SysTick,
DWT) as plain memory so startup and timing code can touch it.  It loads the ELF's segments
at their load addresses and initialises ``.data`` and ``.bss`` at their run addresses as the
startup code would, so any function can be called directly; or :meth:`Machine.run` starts
from the reset vector and runs until the program stops.

Host buffers (:meth:`place`, :meth:`alloc`) go into the free part of a region after the
image and carry red zones that are checked after every call; a stray write is located (PC,
function, line) by replaying the call from a copy of its RAM with the red zones watched, and
``check_reads=True`` also stops at the first read past a buffer.  Faults become
:class:`~mcusim.errors.EmulationFault` subclasses naming the fault, address, PC, function
and source line.
"""

from __future__ import annotations

import math
import operator
import struct
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mcusim import engine as eng
from mcusim import native, traps
from mcusim.boards import Board, MemoryRegion, get_board
from mcusim.callargs import Marshalled, marshal, return_value
from mcusim.errors import (
    BudgetExhausted, FlashWriteFault, GuardViolation, HardFault, ImageTooLargeError,
    MachineError, McusimError, SleepFault, StackOverflowFault, TimeLimitExceeded, UndefinedInstructionFault,
    UnmappedAccessFault, UsageFault,
)
from mcusim._image_cache import load_image
from mcusim.limits import (  # noqa: F401  (DEFAULT_* re-exported: part of the Machine API)
    DEFAULT_BUDGET, DEFAULT_TIMEOUT, MAX_BUDGET, MAX_TIMEOUT, MIN_TIMEOUT_IPS,
)
from mcusim.loader import CoreMismatchWarning, LoadedImage, check_core
from mcusim.loops import CountedLoop, find_loops, min_executions

SCS_START, SCS_SIZE = 0xE000_0000, 0x10_0000   # private peripheral bus: ITM, DWT, SCB, SysTick
DWT_CYCCNT = 0xE000_1004                         # ARMv7-M ARM C1.8.8: DWT cycle counter
_DWT_PAGE = DWT_CYCCNT & ~(eng.PAGE - 1)           # its page, mapped as MMIO when read
_AUTO: Any = object()   # "not given": see Machine's budget and timeout parameters
_CONTROL_FPCA = 1 << 2  # CONTROL.FPCA: FP context active (ARMv7-M ARM B1.4.4)
REDZONE = 32
REDZONE_BYTE = 0xFD
STACK_PAINT = 0xCD
BKPT_EXIT = 0xAB
BKPT_FAULT = 0xF0
_TRAMPOLINE_CANDIDATES = (0x0FFF_FC00, 0x1FFF_FC00, 0x3FFF_FC00, 0xDFFF_FC00)


@dataclass
class CallResult:
    """The outcome of :meth:`Machine.call` or :meth:`Machine.run`.

    Attributes
    ----------
    r0, r1
        Raw return registers (unsigned 32-bit).
    s0
        FPU return register as a float (hard-float ABI).
    instructions
        Instructions executed (IT-skipped ones included, as the core spends a cycle on them).
    stop_reason
        ``"return"`` (the call returned), ``"exit"`` (``exit``/return from ``main``) or
        ``"bkpt"`` (a breakpoint in the firmware).
    exit_code
        Status passed to ``exit`` (``"exit"`` only).
    counts
        Native block/edge counts for the timing model (empty when counting is off).
    stack_used
        Stack high-water mark in bytes.
    trace_counts
        Per-instruction counts from the slow reference hook (``trace=True`` only).
    returns
        The C return type from DWARF (``"void"``, ``"float"``, ``"int32_t"``, ...; empty
        when unknown).
    value
        The C return value of that type (None for ``void``; r0 as a signed int when the
        type is unknown).
    """

    r0: int
    r1: int
    s0: float
    instructions: int
    stop_reason: str
    counts: native.BlockCounts
    stack_used: int
    symbol: str = ""
    exit_code: int | None = None
    trace_counts: dict[int, int] | None = None
    _machine: int = field(default=0, repr=False, compare=False)  # id() of the machine
    returns: str = ""
    value: int | float | None = None

    def __post_init__(self) -> None:
        if not self.returns:
            self.value = self.return_value

    @property
    def return_value(self) -> int:
        """``r0`` as a signed 32-bit integer."""
        return self.r0 - (1 << 32) if self.r0 & 0x8000_0000 else self.r0

    @property
    def return_u64(self) -> int:
        """``r1:r0`` as an unsigned 64-bit integer."""
        return (self.r1 << 32) | self.r0


@dataclass(frozen=True)
class Buffer:
    """A host buffer in emulated memory (``guarded``: red zones on both sides).

    ``zone_before`` / ``zone_after`` are the bytes of red-zone fill checked after each call
    on either side; with checked reads the buffer also has an inaccessible page beyond them.
    """

    name: str
    address: int
    size: int
    region: str
    guarded: bool = True
    zone_before: int = REDZONE
    zone_after: int = REDZONE


@dataclass
class _Region:
    spec: MemoryRegion
    mem: np.ndarray
    free: int  # first free address for host buffers
    buffers: list[Buffer] = field(default_factory=list)
    # Contiguous RAM regions (SRAM1/2/3 of the F469) share one host buffer, so a host buffer
    # or an access may span them as it can on the chip.
    group_mem: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    group_start: int = 0
    image_end: int = 0  # first address after the image's use of the region


def _aligned_buffer(size: int) -> np.ndarray:
    raw = np.zeros(size + 4096, dtype=np.uint8)
    offset = (-raw.ctypes.data) % 4096
    return raw[offset:offset + size]


class Machine:
    """A board with an image loaded, ready to run or call functions.

    Parameters
    ----------
    board
        Board profile, or its name/path.
    elf
        Path of the ELF to load.
    counting
        Install the native counting hooks (needed for profiles, the native stack check and
        a cheap instruction budget).  Off gives raw Unicorn speed (used as the baseline in
        benchmarks).
    budget
        Default instruction budget of each call/run: a positive integer, or ``None`` for no
        instruction limit (the timeout still applies).  Not given: :data:`DEFAULT_BUDGET`
        with counting; without counting, ``None`` (an explicit budget is then enforced by
        Unicorn's own instruction counter, which slows emulation).
    timeout
        Default wall-clock limit of each call/run in seconds, or ``None`` for none.  Not
        given: :data:`DEFAULT_TIMEOUT`, or the time the call's budget takes at
        :data:`MIN_TIMEOUT_IPS` when that is longer.  Past it the call raises
        :class:`~mcusim.errors.TimeLimitExceeded`.
    warm_caches
        Keep the cache models' contents between calls (a warm accelerator); when False each
        call starts cold.
    check_alignment
        Fault (:class:`~mcusim.errors.UsageFault` ``UNALIGNED``) on LDRD/STRD, LDM/STM,
        VLDR/VSTR and VLDM/VSTM with an address that is not word aligned, as the core does
        (one native hook per such instruction; ``benchmarks/fault_checks_overhead.py``
        measures the cost, none visible on the s8 kernels; turn it off for code that runs
        such instructions in its hottest loops).  SDIV/UDIV by zero always fault when the
        firmware has set CCR.DIV_0_TRP.  Both need ``counting``.
    cyccnt
        Serve reads of DWT CYCCNT with the modelled cycles (the DWT page is then mapped as
        MMIO with Python callbacks: only accesses to that page leave Unicorn's fast path).
        ``None`` (default): only when the image contains the DWT address.
    check_reads
        Checked mode: every guarded RAM buffer is followed and preceded by an inaccessible
        1 KiB page, so the first read (or write) of firmware past a buffer stops the call
        with a :class:`GuardViolation` naming PC, function and line.  The pages are
        enforced by Unicorn's memory protection, so nothing runs per access.  Each buffer
        ends exactly at its guard page, so its start is aligned to ``align`` or to the
        largest power of two dividing its size, whichever is smaller (an int8 buffer of odd
        length may start at any byte); reads just before a buffer land in fill bytes that
        are checked after the call like the red zones of the normal mode, and only reads
        a page or more before it are caught at once.  Flash buffers keep the normal layout.
    counted_loops
        Run the counted loops of the image (:mod:`mcusim.loops`: one-block loops in Flash
        whose executions follow from an induction register) without hooks, at raw
        emulation speed, with the same counts and cycles.  Not with ``cyccnt`` served (a
        read of CYCCNT inside such a loop would miss its executions so far).  Off: every
        block goes through the block hook (the baseline of ``benchmarks/hook_variants.py``).
    """

    def __init__(self, board: Board | str, elf: str | Path, *, counting: bool = True,
                 budget: int | None = _AUTO, timeout: float | None = _AUTO,
                 warm_caches: bool = False, check_alignment: bool = True,
                 cyccnt: bool | None = None, check_reads: bool = False,
                 counted_loops: bool = True) -> None:
        self.check_reads = bool(check_reads)
        # inaccessible guard page -> (buffer it ends, buffer it starts) (checked reads only)
        self._guard_pages: dict[int, list[Buffer | None]] = {}
        if budget is _AUTO:
            budget = DEFAULT_BUDGET if counting else None
        self.budget: int | None = _check_budget(budget)
        self.timeout: float | None = timeout if timeout is _AUTO else _check_timeout(timeout)
        self.board = get_board(board)
        self.image: LoadedImage = load_image(elf)   # parsed once per file (and cached on disk)
        mismatch = check_core(self.image, self.board.core, self.board.name)
        if mismatch:
            warnings.warn(mismatch, CoreMismatchWarning, stacklevel=2)
        self.counting = counting
        self.warm_caches = warm_caches
        self.engine = eng.Engine(self.board.core)
        self.engine.use_data_tlb(native.tlb_fill_address(), native.tlb_pages(eng.PAGE))
        self._regions: dict[str, _Region] = {}
        self._state: np.ndarray | None = self._new_state() if counting else None
        self._cyccnt_offset = 0
        if counting and cyccnt is None:
            cyccnt = self._uses_dwt()
        self._cyccnt = bool(counting and cyccnt and self.board.region_at(DWT_CYCCNT) is None)
        self._map_memory()
        self._check_fits()
        self._load_image()
        self._stack_top, self._stack_bottom = self._find_stack()
        if self._state is not None:
            fn_reg, sp_id = self.engine.native_sp_reader()
            native.set_stack_check(self._state, fn_reg, sp_id, self._stack_bottom)
        self._trap_report = traps.new_report()
        if counting:
            self._install_hooks()
            self._install_traps(check_alignment)
            self._install_division_hooks()
        use_loops = counting and counted_loops and not self._cyccnt
        self._loops = self._install_loops() if use_loops else []
        self._loops_epoch = -1      # engine.translation_epoch of their hook-free translation
        self._retired: list[np.ndarray] = []

    # -- set-up -------------------------------------------------------------------------
    def _code_bytes(self, flash: MemoryRegion) -> int:
        """Bytes at the start of ``flash`` (and its aliases) that hold executable sections,
        rounded up to the 1 KiB page; the rest of the region is data."""
        views = [r for r in self.board.regions if r is flash or r.alias_of == flash.name]
        end = 0
        for sec in self.image.sections:
            for view in views:
                if sec.executable and view.contains(sec.address):
                    end = max(end, sec.address + sec.size - view.start)
        return min(flash.size, (end + 1023) & ~1023)

    def _map_flash(self, spec: MemoryRegion, mem: np.ndarray, code: int) -> None:
        """Code part as plain read-only memory; with counting, the data part as MMIO whose
        native callbacks model the data cache and catch stores."""
        if self._state is None or spec.line_miss_cycles == 0 or code >= spec.size:
            self.engine.map(spec.start, mem, writable=False)
            return
        if code:
            self.engine.map(spec.start, mem[:code], writable=False)
        _, read_cb, write_cb = native.hook_addresses()
        desc = native.mmio_descriptor(self._state, mem[code:], spec.start + code)
        self.engine.map_mmio(spec.start + code, spec.size - code, read_cb, write_cb, desc)

    def _ram_groups(self) -> list[list[MemoryRegion]]:
        rams = sorted((r for r in self.board.regions if r.kind == "ram" and not r.alias_of),
                      key=lambda r: r.start)
        groups: list[list[MemoryRegion]] = []
        for r in rams:
            if groups and groups[-1][-1].end == r.start:
                groups[-1].append(r)
            else:
                groups.append([r])
        return groups

    def _map_memory(self) -> None:
        for group in self._ram_groups():
            gmem = _aligned_buffer(group[-1].end - group[0].start)
            for spec in group:
                mem = gmem[spec.start - group[0].start:spec.end - group[0].start]
                if self._cached_ram(spec):
                    assert self._state is not None
                    ram_read, ram_write, _ = native.model_hook_addresses()
                    desc = native.mmio_descriptor(self._state, mem, spec.start)
                    self.engine.map_mmio(spec.start, spec.size, ram_read, ram_write, desc)
                else:
                    self.engine.map(spec.start, mem, writable=True)
                self._regions[spec.name] = _Region(spec, mem, spec.start, group_mem=gmem,
                                                   group_start=group[0].start)
        for spec in self.board.regions:
            if spec.alias_of or spec.kind != "flash":
                continue
            mem = _aligned_buffer(spec.size)
            self._map_flash(spec, mem, self._code_bytes(spec))
            self._regions[spec.name] = _Region(spec, mem, spec.start, group_mem=mem,
                                               group_start=spec.start)
        for spec in self.board.regions:
            if spec.alias_of:
                target = self._regions[spec.alias_of]
                if target.spec.kind == "flash":
                    self._map_flash(spec, target.mem, self._code_bytes(target.spec))
                else:
                    self.engine.map(spec.start, target.mem, writable=True)
        if self.board.region_at(SCS_START) is None:
            self._scs = _aligned_buffer(SCS_SIZE)
            if self._cyccnt:     # the DWT page apart, so that reading CYCCNT runs the model
                lo, hi = _DWT_PAGE - SCS_START, _DWT_PAGE - SCS_START + eng.PAGE
                self.engine.map(SCS_START, self._scs[:lo], writable=True, executable=False)
                self.engine.map_python_mmio(_DWT_PAGE, eng.PAGE, self._dwt_read,
                                            self._dwt_write)
                self.engine.map(_DWT_PAGE + eng.PAGE, self._scs[hi:], writable=True,
                                executable=False)
            else:
                self.engine.map(SCS_START, self._scs, writable=True, executable=False)
        for candidate in _TRAMPOLINE_CANDIDATES:
            if all(self.board.region_at(a) is None for a in (candidate, candidate + 1023)):
                self._trampoline = candidate
                break
        else:  # pragma: no cover - every STM32 map has one of these holes
            raise MachineError("no free address for the return trampoline",
                               board=self.board.name)
        tramp = _aligned_buffer(1024)
        tramp.view(np.uint16)[:] = 0xBEAC  # bkpt #0xAC
        self.engine.map(self._trampoline, tramp, writable=False)

    def _region_of(self, address: int) -> MemoryRegion | None:
        return self.board.region_at(address)

    def _check_fits(self) -> None:
        for i, seg in enumerate(self.image.segments):
            spans = [(seg.vaddr, seg.memsz, "run")]
            if seg.paddr != seg.vaddr and seg.data:
                spans.append((seg.paddr, len(seg.data), "load"))
            for addr, size, what in spans:
                try:
                    self._view(addr, size)
                except MachineError:
                    region = self._region_of(addr)
                    raise ImageTooLargeError(
                        f"segment {i} ({what} range 0x{addr:08x}-0x{addr + size:08x}) "
                        + (f"overflows region {region.name}" if region else
                           "lies outside every memory") + f" of {self.board.name}",
                        file=str(self.image.path), segment=i, address=addr, size=size,
                        region=region.name if region else None) from None
        for sec in self.image.sections:
            for addr, what in ((sec.address, "run"), (sec.load_address, "load")):
                if what == "load" and (sec.nobits or addr == sec.address):
                    continue
                region = self._region_of(addr)
                if region is None:
                    raise ImageTooLargeError(
                        f"section {sec.name} ({what} address) lies outside every memory of "
                        f"{self.board.name}", file=str(self.image.path), section=sec.name,
                        address=addr)
                end = addr + sec.size
                if end > self._ram_run_end(region):
                    raise ImageTooLargeError(
                        f"section {sec.name} overflows region {region.name} of {self.board.name}",
                        file=str(self.image.path), section=sec.name, region=region.name,
                        overflow_bytes=end - region.end)

    def _ram_run_end(self, region: MemoryRegion) -> int:
        """End of ``region``, extended over the RAM regions that follow it without a gap
        (the linker script lets data span them, :func:`mcusim.build.contiguous_ram`)."""
        if region.kind != "ram" or region.alias_of:
            return region.end
        end = region.end
        for r in sorted(self.board.regions, key=lambda r: r.start):
            if r.kind == "ram" and not r.alias_of and r.start == end:
                end = r.end
        return end

    def _load_image(self) -> None:
        for seg in self.image.segments:
            if seg.data:
                self._host_write(seg.paddr, seg.data)
                if seg.vaddr != seg.paddr:
                    self._host_write(seg.vaddr, seg.data)   # .data initialised as startup would
            bss = seg.memsz - len(seg.data)
            if bss > 0:
                self._host_write(seg.vaddr + len(seg.data), bytes(bss))
        # Host buffers go after everything the image uses in each region.
        for sec in self.image.sections:
            for addr in {sec.address, sec.load_address}:
                if addr == sec.load_address and sec.nobits and addr != sec.address:
                    continue
                region = self._region_of(addr)
                if region is None:
                    continue
                target = self._regions[region.alias_of or region.name]
                end = (addr - region.start) + target.spec.start + sec.size
                target.free = max(target.free, (end + 7) & ~7)
        for reg in self._regions.values():
            reg.image_end = reg.free

    def _find_stack(self) -> tuple[int, int]:
        if self.image.has_symbol("__mcusim_stack_top"):
            top = self.image.symbol("__mcusim_stack_top").address
            bottom = self.image.symbol("__mcusim_stack_bottom").address
            return top, bottom
        # A foreign image: initial SP from its vector table, 16 KiB assumed below it.
        first = min(self.image.segments, key=lambda s: s.paddr)
        top = struct.unpack_from("<I", first.data[:4].ljust(4, b"\0"))[0]
        region = self._region_of(top - 4)
        if region is None or region.kind != "ram":
            region = self.board.region(self.board.layout.data)
            top = region.end
        return top & ~7, max(region.start, top - 16 * 1024)

    def _new_state(self) -> np.ndarray:
        fn_stop, fn_read = self.engine.native_functions()
        ranges, caches = self._cost_model()
        # At most one block starts per halfword of code; size the tables from the image.
        code_bytes = sum(sec.size for sec in self.image.sections if sec.executable)
        state = native.new_state(code_bytes=max(code_bytes, 16 * 1024),
                                 budget=self.budget or 0, fn_stop=fn_stop, fn_read=fn_read,
                                 ranges=ranges, caches=caches)
        div = self._division_timing()
        if div is not None:
            native.set_division_timing(state, *div)
        return state

    def _cost_model(self) -> tuple[list[native.CostedRange], list[native.CacheGeometry]]:
        """The costed memory ranges of the board and the cache models in front of them.

        Each region with a miss cost gets its own instruction- and data-stream caches from
        the profile (the F746's ITCM Flash view the ART, its AXI view the L1 caches); a
        cache named by several regions on the same stream is one model (the L1 D-cache in
        front of AXI Flash and SRAM).  A region without a cache on a stream gets an empty
        model (only the Flash interface's line buffers act).
        """
        caches: list[native.CacheGeometry] = []
        index: dict[tuple[str, str], int] = {}
        ranges: list[native.CostedRange] = []

        def model(stream: str, name: str, region: MemoryRegion) -> int:
            key = (stream, name or f"-{region.name}")
            if key not in index:
                cache = self.board.caches.get(name) if name else None
                buffered = stream == "i" and region.kind == "flash"
                if cache is None:
                    geom = native.CacheGeometry(1, 16, 1, enabled=False, line_buffer=buffered)
                else:
                    geom = native.CacheGeometry(cache.lines, cache.line_bytes, cache.ways,
                                                cache.prefetch and stream == "i",
                                                cache.enabled, buffered)
                index[key] = len(caches)
                caches.append(geom)
            return index[key]

        for r in self.board.regions:
            cost = r.line_miss_cycles
            if cost > 0:
                ranges.append(native.CostedRange(r.start, r.end, model("i", r.icache, r),
                                                 model("d", r.dcache, r), r.wait_states,
                                                 cost))
        return ranges, caches

    def _division_timing(self) -> tuple[int, int] | None:
        """``(fastest, slowest)`` cycles of an operand-timed division from the core table
        (``rules.div_fastest`` / ``rules.div_slowest``), or None without those rules."""
        from mcusim.timing import get_core_model

        rules = get_core_model(self.board.core).table.rules
        if "div_fastest" not in rules or "div_slowest" not in rules:
            return None
        return int(rules["div_fastest"]), int(rules["div_slowest"])

    def _cached_ram(self, spec: MemoryRegion) -> bool:
        """RAM whose data accesses go through a D-cache model (mapped as native MMIO).

        Not with ``check_reads``: its guard pages need ``mem_protect``, which Unicorn cannot
        apply to part of an MMIO mapping, so checked runs map that RAM plainly (zero-wait).
        """
        return (self._state is not None and not self.check_reads and spec.kind == "ram"
                and bool(spec.dcache) and spec.line_miss_cycles > 0)

    def _install_division_hooks(self) -> None:
        """One native code hook on each SDIV/UDIV (the sites :func:`mcusim.traps.find_sites`
        decodes), timing the division from its two operands."""
        assert self._state is not None
        if not self._state[native.H_DIV_MIN]:
            return
        _, _, div_hook = native.model_hook_addresses()
        for site in traps.find_sites(self.image, alignment=False, division=True):
            name, ops = site.text.split(None, 1)
            dividend = ops.split(",")[1].strip()
            dividend = traps.ALIASES.get(dividend, dividend)
            desc = native.division_descriptor(self._state, self.engine.reg_id(dividend),
                                              self.engine.reg_id(site.reg),
                                              name.startswith("sdiv"))
            self.engine.add_native_code_hook(div_hook, desc, site.address)

    def _uses_dwt(self) -> bool:
        """Whether the image holds the address of DWT CTRL/CYCCNT (a literal or constant)."""
        words = {struct.pack("<I", a) for a in (DWT_CYCCNT - 4, DWT_CYCCNT)}
        return any(w in seg.data for seg in self.image.segments for w in words)

    def _install_hooks(self) -> None:
        assert self._state is not None
        switches = native.count_switches(self._state, self.board.core)
        block_hook, _, _ = native.hook_addresses(switches)
        self.engine.add_native_block_hook(block_hook, self._state)

    def _install_traps(self, alignment: bool) -> None:
        """Native code hooks for the UsageFaults Unicorn does not raise (:mod:`mcusim.traps`)."""
        ccr_host = 0
        scs = getattr(self, "_scs", None)
        if scs is not None:
            ccr_host = scs.ctypes.data + traps.SCB_CCR - SCS_START
        sites = traps.find_sites(self.image, alignment=alignment,
                                 division=ccr_host != 0)
        if not sites:
            return
        fn_stop, _ = self.engine.native_functions()
        fn_reg, _ = self.engine.native_sp_reader()
        hook = native.trap_hook_address()
        for site in sites:
            desc = traps.descriptor(site, self.engine.reg_id(site.reg), fn_reg, fn_stop,
                                    self._trap_report, ccr_host)
            self.engine.add_native_code_hook(hook, desc, site.address)
        self._trap_sites = {site.address: site for site in sites}

    def _install_loops(self) -> list[tuple[CountedLoop, np.ndarray]]:
        """The counted loops of the image this machine can run without hooks, each with a
        native code hook on its closing branch (:mod:`mcusim.loops`).

        A loop qualifies when its code is in Flash (nothing rewrites it), no trap hook sits
        in it, and the I-side model of its memory is no D-side model (the executions' fetches
        are modelled after their data accesses).
        """
        assert self._state is not None
        hook, _, supported = native.loop_functions()
        if not supported:
            return []
        traps_at = sorted(getattr(self, "_trap_sites", {}))
        state = self._state
        ranges, _ = self._cost_model()
        dside = {r.dcache for r in ranges}
        usable = []
        for loop in find_loops(self.image):
            region = self._region_of(loop.start)
            if region is not None and region.alias_of:
                region = self.board.region(region.alias_of)
            if region is None or region.kind != "flash":
                continue
            if any(loop.start <= a < loop.start + loop.size for a in traps_at):
                continue
            rng = next((r for r in ranges if r.lo <= loop.start < r.hi), None)
            if rng is not None and rng.icache in dside:
                continue
            usable.append(loop)
        self._loop_stats = np.zeros((len(usable), 2), dtype=np.uint64)   # entries, executions
        loops = []
        for loop, stats in zip(usable, self._loop_stats):
            other = loop.compare_register
            desc = native.loop_descriptor(state, loop, self.engine.reg_id(loop.register),
                                          None if other is None else self.engine.reg_id(other),
                                          stats)
            self.engine.add_native_code_hook(hook, desc, loop.branch)
            loops.append((loop, desc))
        native.set_loop_minimum(state, min_executions(self.engine.native_code_hooks))
        return loops

    def _retire_loop(self, desc: np.ndarray) -> None:
        """Stop counting the loop of descriptor ``desc``: its hook removed, it runs with the
        block hook (its translation dropped) from now on; the others' threshold follows the
        number of code hooks left."""
        desc[native.L_SIZE] = 0                      # its hook does nothing from now on
        self.engine.remove_native_hooks(desc)
        self._retired.append(desc)       # (kept: Unicorn frees a removed hook after the run)
        self._loops = [(loop, d) for loop, d in self._loops if d is not desc]
        assert self._state is not None
        native.set_loop_minimum(self._state, min_executions(self.engine.native_code_hooks))

    def _translate_loops(self) -> None:
        """Translate the counted loops without hooks (again after a flush or a drop), from
        the CPU state of the coming call (CONTROL as set, and with FPCA: code that used the
        FPU runs under another translation key)."""
        assert self._state is not None
        starts = [loop.start for loop, _ in self._loops]
        control = self.engine.control
        sizes = self.engine.pretranslate(starts, (control, control | _CONTROL_FPCA))
        for (loop, desc), size in list(zip(self._loops, sizes)):
            desc[native.L_HOOKED] = 0
            if size != loop.size:   # pragma: no cover - the analysis mirrors Unicorn's blocks
                self.engine.drop_translation(loop.start, loop.start + max(size, loop.size))
                self._retire_loop(desc)
        self._loops_epoch = self.engine.translation_epoch

    def _resume_loops(self, stop: eng.Stop, timeout: float | None, started: float) -> eng.Stop:
        """Resume a run (begun at ``time.monotonic()`` ``started``) that the loop hook
        stopped before a counted loop that must run with the hooks (``loop_fallback`` in the
        C hooks), after dropping its hook-free translation; again while it stops so.  The
        stop of the last run."""
        assert self._state is not None
        while stop.kind == eng.STOP_HOOK:
            at, address, retire = native.resume_point(self._state)
            if not at:
                break
            desc = next(d for _, d in self._loops if d.ctypes.data == address)
            start = int(desc[native.L_START])
            self.engine.drop_translation(start, start + int(desc[native.L_SIZE]))
            if retire:
                self._state[native.H_RETIRE] = 0
                self._retire_loop(desc)
            else:
                desc[native.L_HOOKED] = 1
                self._loops_epoch = -1      # translated without hooks again before the next run
            left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            stop = self.engine.run(at, self._trampoline, timeout=left)
        return stop

    def cycles_so_far(self) -> int:
        """Modelled cycles since the start of the current call or run, to block granularity
        (the block being executed counts whole).  Used for reads of DWT CYCCNT."""
        if self._state is None:
            return 0
        from mcusim.profile import build_profile

        return int(build_profile(self, native.read_counts(self._state)).cycles)

    def _dwt_read(self, offset: int, size: int) -> int:
        """A load from the DWT page (MMIO): CYCCNT reads the modelled cycles so far."""
        at = _DWT_PAGE - SCS_START + offset
        if offset < DWT_CYCCNT - _DWT_PAGE + 4 and offset + size > DWT_CYCCNT - _DWT_PAGE:
            value = (self.cycles_so_far() + self._cyccnt_offset) & 0xFFFF_FFFF
            self._scs[DWT_CYCCNT - SCS_START:DWT_CYCCNT - SCS_START + 4] = np.frombuffer(
                struct.pack("<I", value), np.uint8)
        return int.from_bytes(self._scs[at:at + size].tobytes(), "little")

    def _dwt_write(self, offset: int, size: int, value: int) -> None:
        """A store to the DWT page: kept; a store to CYCCNT sets the counter."""
        at = _DWT_PAGE - SCS_START + offset
        self._scs[at:at + size] = np.frombuffer(
            (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"), np.uint8)
        if offset <= DWT_CYCCNT - _DWT_PAGE and offset + size >= DWT_CYCCNT - _DWT_PAGE + 4:
            self._cyccnt_offset = (value - self.cycles_so_far()) & 0xFFFF_FFFF

    # -- memory access ------------------------------------------------------------------
    def _view(self, address: int, size: int) -> np.ndarray:
        address, size = _index(address, "address"), _index(size, "size")
        region = self._region_of(address)
        if region is not None:
            target = self._regions[region.alias_of or region.name]
            off = address - region.start + target.spec.start - target.group_start
            if off + size <= len(target.group_mem):
                return target.group_mem[off:off + size]
        raise MachineError("host access outside the board's memory", address=address,
                           size=size, board=self.board.name)

    def _extent(self, reg: _Region) -> int:
        """End of the free space from ``reg.free``: the region's end, extended over the
        following contiguous regions as long as they hold nothing."""
        end = reg.spec.end
        for other in sorted(self._regions.values(), key=lambda r: r.spec.start):
            if other.group_mem is reg.group_mem and other.spec.start == end \
                    and other.free == other.spec.start and not other.buffers:
                end = other.spec.end
        return end

    def _host_write(self, address: int, data: bytes) -> None:
        self._view(address, len(data))[:] = np.frombuffer(data, dtype=np.uint8)

    def read_bytes(self, address: int, size: int) -> bytes:
        """``size`` bytes of emulated memory at ``address`` (raises :class:`MachineError`
        for memory that is not mapped)."""
        address, size = _index(address, "address"), _index(size, "size")
        if self._region_of(address) is None:
            return self.engine.read(address, size)
        return self._view(address, size).tobytes()

    def read(self, address: int, count: int, dtype: np.dtype | type | str = np.uint8) -> np.ndarray:
        """``count`` elements of ``dtype`` at ``address`` (a copy)."""
        dt = _plain_dtype(dtype)
        return self._view(address, _index(count, "count") * dt.itemsize).view(dt).copy()

    def write(self, address: int, array: np.ndarray | bytes) -> None:
        """Copy ``array`` (any dtype, C order) into emulated memory at ``address``."""
        data = array if isinstance(array, bytes) else np.ascontiguousarray(array).tobytes()
        self._host_write(address, data)
        region = self._region_of(address)
        if region is not None and region.kind == "flash":
            self.engine.flush_translations()  # the bytes may be code Unicorn translated

    # -- host buffers -------------------------------------------------------------------
    def _pick_region(self, region: str, nbytes: int) -> _Region:
        if region in ("ram", "flash"):
            if region == "ram":
                candidates = [r.name for r in self.board.ram_regions()]
            else:
                candidates = [r.name for r in self.board.regions
                              if r.kind == "flash" and not r.alias_of]
        else:
            self.board.region(region)  # validates the name
            candidates = [region]
        for name in candidates:
            reg = self._regions.get(name)
            if reg and reg.free + nbytes + 2 * REDZONE + 8 <= self._extent(reg):
                return reg
        free = {n: self._extent(self._regions[n]) - self._regions[n].free for n in candidates
                if n in self._regions}
        raise MachineError(f"no room for {nbytes} bytes in {region} of {self.board.name}",
                           free=", ".join(f"{k}: {v} B" for k, v in free.items()))

    def alloc(self, nbytes: int, region: str = "ram", *, align: int = 8, fill: int = 0,
              name: str = "", guard: bool = True) -> int:
        """Reserve ``nbytes`` in ``region`` (``"ram"``, ``"flash"`` or a region name).

        Parameters
        ----------
        nbytes
            Size in bytes (0 gives a valid, empty buffer).
        region
            ``"ram"`` picks the first RAM region with room (the data region first).
        align
            Alignment of the returned address.
        fill
            Byte value the buffer is filled with (use a pattern to measure use with
            :meth:`high_water`).
        name
            Name used in error messages (defaults to ``buf<N>``).
        guard
            Surround the buffer with red zones checked after every call.

        Returns
        -------
        int
            The buffer's address.
        """
        nbytes = _index(nbytes, "nbytes")
        align = _index(align, "align")
        if not 0 < align <= 1 << 20 or align & (align - 1):
            raise MachineError(f"align must be a power of two up to 1 MiB, got {align}")
        fill = _index(fill, "fill")
        if not 0 <= fill <= 255:
            raise MachineError(f"fill must be a byte value 0-255, got {fill}")
        if not isinstance(region, str):
            raise MachineError(f"region must be a name, got {type(region).__name__}",
                               hint="'ram', 'flash' or a region of the board")
        checked = self.check_reads and guard
        reg = self._pick_region(region, nbytes + (3 * eng.PAGE + align if checked else 0))
        if checked and reg.spec.kind == "ram":
            return self._alloc_checked(reg, nbytes, align, fill, name)
        zone = REDZONE if guard else 0
        start = reg.free + zone
        start = (start + align - 1) // align * align
        if zone:
            self._view(start - zone, zone)[:] = REDZONE_BYTE
            self._view(start + nbytes, zone)[:] = REDZONE_BYTE
        if nbytes:
            self._view(start, nbytes)[:] = fill
        reg.free = start + nbytes + zone
        for other in self._regions.values():   # a buffer spanning into contiguous regions
            if other.group_mem is reg.group_mem and other.spec.start < reg.free \
                    and other.spec.start > reg.spec.start:
                other.free = max(other.free, min(reg.free, other.spec.end))
        name = name or f"buf{sum(len(r.buffers) for r in self._regions.values())}"
        reg.buffers.append(Buffer(name, start, nbytes, reg.spec.name, guard))
        return start

    def _alloc_checked(self, reg: _Region, nbytes: int, align: int, fill: int,
                       name: str) -> int:
        """Checked-reads layout: guard page, fill, buffer ending at a page, guard page."""
        page = eng.PAGE
        first = -(-reg.free // page) * page
        shared = first == reg.free and (first - page) in self._guard_pages
        lo_guard = first - page if shared else first
        body = lo_guard + page
        # the buffer ends exactly at the guard page: its start is aligned to ``align`` or to
        # the largest power of two dividing its size, whichever is smaller
        align = min(align, nbytes & -nbytes) if nbytes else align
        start = -(-body // align) * align
        end = -(-(start + nbytes) // page) * page if nbytes else -(-start // page) * page
        if align <= page and nbytes:
            start = max(start, (end - nbytes) // align * align)
        view = self._view(body, end - body)
        view[:] = REDZONE_BYTE
        if nbytes:
            self._view(start, nbytes)[:] = fill
        name = name or f"buf{sum(len(r.buffers) for r in self._regions.values())}"
        buf = Buffer(name, start, nbytes, reg.spec.name, True, zone_before=start - body,
                     zone_after=end - start - nbytes)
        for page_at, side in ((lo_guard, 1), (end, 0)):
            slot = self._guard_pages.setdefault(page_at, [None, None])
            slot[side] = buf
            self.engine.set_access(page_at, page, False)
        reg.free = end + page
        for other in self._regions.values():   # a buffer spanning into contiguous regions
            if other.group_mem is reg.group_mem and other.spec.start < reg.free \
                    and other.spec.start > reg.spec.start:
                other.free = max(other.free, min(reg.free, other.spec.end))
        reg.buffers.append(buf)
        return start

    def place(self, array: np.ndarray, region: str = "ram", *, align: int = 8,
              name: str = "") -> int:
        """Copy ``array`` into a new buffer in ``region`` and return its address.

        ``array`` must be a numeric numpy array (or a sequence numpy turns into one: bool,
        integer or float elements); strings, bytes, ``None`` and object arrays raise
        :class:`MachineError` rather than being written as raw bytes.
        """
        if array is None or isinstance(array, (str, bytes, bytearray)):
            raise MachineError(f"cannot place a {type(array).__name__}", buffer=name or None,
                               hint="pass a numeric numpy array (np.frombuffer for raw bytes)")
        data = np.ascontiguousarray(array)
        if data.dtype.kind not in "biuf":
            raise MachineError(f"cannot place an array of dtype {data.dtype}", buffer=name or None,
                               hint="pass a bool, integer or float array")
        addr = self.alloc(data.nbytes, region, align=align, name=name)
        self.write(addr, data)
        return addr

    def buffers(self) -> list[Buffer]:
        """All host buffers, in allocation order per region."""
        return [b for r in self._regions.values() for b in r.buffers]

    def free_all(self) -> None:
        """Forget every host buffer (the image stays loaded)."""
        for reg in self._regions.values():
            reg.free = reg.image_end
            reg.buffers.clear()
        for page_at in self._guard_pages:
            self.engine.set_access(page_at, eng.PAGE, True)
        self._guard_pages.clear()

    def high_water(self, address: int, nbytes: int, fill: int = 0xA5) -> int:
        """Bytes from ``address`` up to and including the last byte that differs from ``fill``."""
        changed = np.nonzero(self._view(address, nbytes) != fill)[0]
        return int(changed[-1]) + 1 if len(changed) else 0

    def check_guards(self, call: str | None = None) -> None:
        """Raise :class:`GuardViolation` if firmware wrote into a buffer's red zone.

        Every red zone is restored before raising, so the next call starts clean.
        """
        first: GuardViolation | None = None
        for reg in self._regions.values():
            for buf in reg.buffers:
                if not buf.guarded:
                    continue
                for lo, size, label in ((buf.address - buf.zone_before, buf.zone_before, "before"),
                                        (buf.address + buf.size, buf.zone_after, "after")):
                    zone = self._view(lo, size)
                    bad = np.nonzero(zone != REDZONE_BYTE)[0]
                    if len(bad):
                        if first is None:
                            first = GuardViolation(
                                f"firmware wrote {len(bad)} byte(s) {label} buffer {buf.name!r}",
                                fault="out-of-bounds write", address=lo + int(bad[0]),
                                buffer=buf.name, buffer_start=hex(buf.address),
                                buffer_size=buf.size, call=call,
                                hint="Machine(check_reads=True) or --check-reads stops at "
                                     "the instruction (PC, function, line)")
                        zone[:] = REDZONE_BYTE
        if first is not None:
            raise first

    def _guard_hit(self, stop: eng.Stop, where: dict[str, object]) -> GuardViolation | None:
        """A checked-reads guard page the stopped access touched, as a GuardViolation."""
        if not self._guard_pages or stop.address is None:
            return None
        size = stop.detail if isinstance(stop.detail, int) and stop.detail > 0 else 1
        for addr in (stop.address, stop.address + size - 1):
            slot = self._guard_pages.get(addr - addr % eng.PAGE)
            if slot is None:
                continue
            page_at = addr - addr % eng.PAGE
            ends, starts = slot
            access = "read" if stop.kind == eng.STOP_UNMAPPED else \
                "write" if stop.kind == eng.STOP_WRITE_PROT else stop.access or "access"
            if ends is not None and (starts is None or addr - page_at < eng.PAGE // 2):
                past = addr - (ends.address + ends.size)
                what, buf = f"past the end of buffer {ends.name!r} (end + {past})", ends
            else:
                assert starts is not None
                what, buf = (f"before buffer {starts.name!r} (start - {starts.address - addr})",
                             starts)
            verb = {"read": "read", "write": "wrote", "fetch": "jumped to"}.get(access, access)
            return GuardViolation(f"firmware {verb} {what}", fault=f"out-of-bounds {access}",
                                  address=stop.address, buffer=buf.name,
                                  buffer_start=hex(buf.address), buffer_size=buf.size, **where)
        return None

    def stdout(self) -> str:
        """Text the firmware printed (newlib ``_write`` into ``mcusim_stdout``)."""
        if not self.image.has_symbol("mcusim_stdout_len"):
            return ""
        n = int(self.read(self.image.symbol("mcusim_stdout_len").address, 1, np.uint32)[0])
        buf = self.image.symbol("mcusim_stdout").address
        return self.read_bytes(buf, min(n, 4096)).decode(errors="replace")

    # -- running ------------------------------------------------------------------------
    def _address_of(self, target: str | int) -> tuple[int, str]:
        if isinstance(target, str):
            sym = self.image.symbol(target)
            return sym.address, target
        if isinstance(target, (bytes, bytearray)):
            raise MachineError("the call target must be a str symbol name or an address, "
                               "got bytes", hint=f"use {bytes(target).decode(errors='replace')!r}")
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
            raise MachineError(f"the call target must be a symbol name or an address, got "
                               f"{type(target).__name__}")
        if not 0 <= int(target) < 1 << 32:
            raise MachineError("the call target is not a 32-bit address", address=int(target))
        return int(target) & ~1, f"0x{int(target):08x}"

    def call(self, target: str | int, *args: int | float | np.integer | np.floating,
             budget: int | None = _AUTO, timeout: float | None = _AUTO,
             trace: bool = False) -> CallResult:
        """Call a firmware function with AAPCS (hard-float) arguments.

        Parameters
        ----------
        target
            Function symbol or address.
        *args
            Numbers (and buffer addresses).  With DWARF they are converted to the C
            parameter types (an int for a ``float`` is converted; a float for an integer
            parameter, a value out of range or a wrong count is a :class:`MachineError`);
            without it integers go to r0-r3 then the stack and floats to s0-s15
            (:mod:`mcusim.callargs`).
        budget
            Instruction budget: a positive integer, or ``None`` for no instruction limit
            (default: the machine's).
        timeout
            Wall-clock limit in seconds, or ``None`` for none (default: the machine's).
        trace
            Also count every instruction with a slow Python hook (reference for tests).

        Returns
        -------
        CallResult

        Raises
        ------
        EmulationFault
            A subclass naming the fault, address, PC, function and source line.
        """
        address, name = self._address_of(target)
        func = self.image.function_at(address)
        signature = self.image.signature(func.name) if func and func.address == address else None
        regs = marshal(args, signature, name)
        sp = self._set_up_call(regs)
        snapshot = self._snapshot()
        try:
            result = self._execute(address, name, sp, budget, timeout, trace, mode="call")
        except GuardViolation as exc:
            if "pc" in exc.details:
                raise
            raise self._locate_write(exc, snapshot, regs, address, name, budget,
                                     timeout) from None
        if signature is not None:
            result.returns = str(signature.returns.type_name) if signature.returns else "void"
            r0, r1, s0, s1 = self.engine.result_registers()
            result.value = return_value(signature.returns, r0, r1, s0, s1)
        return result

    def _set_up_call(self, regs: Marshalled) -> int:
        """Registers and stacked arguments of a call; returns the initial SP."""
        sp = self._stack_top
        if regs.stack:
            sp -= 4 * len(regs.stack)
            sp &= ~7
            self._host_write(sp, struct.pack(f"<{len(regs.stack)}I", *regs.stack))
        self.engine.set_call_registers(list(regs.core[:13]), sp, self._trampoline | 1)
        for i, bits in regs.sregs.items():
            self.engine.set_sreg_bits(i, bits)
        return sp

    @cached_property
    def _image_ram_spans(self) -> tuple[tuple[int, int], ...]:
        """``(address, size)`` of the image's data sections in RAM (the stack excluded)."""
        return tuple((sec.address, sec.size) for sec in self.image.sections
                     if not sec.executable and sec.name != ".stack"
                     and (r := self._region_of(sec.address)) is not None and r.kind == "ram"
                     and sec.address + sec.size <= r.end)

    def _snapshot(self) -> list[tuple[int, np.ndarray]]:
        """Copies of the RAM a call starts from -- the image's data, heap and every guarded
        buffer with its red zones -- so a red-zone write can be located by replaying it."""
        spans = list(self._image_ram_spans)
        spans += [(b.address - b.zone_before, b.zone_before + b.size + b.zone_after)
                  for b in self.buffers()
                  if b.guarded and self._regions[b.region].spec.kind == "ram"]
        return [(a, self._view(a, n).copy()) for a, n in spans if n]

    def _locate_write(self, exc: GuardViolation, snapshot: list[tuple[int, np.ndarray]],
                      regs: Marshalled, address: int, name: str, budget: int | None,
                      timeout: float | None) -> GuardViolation:
        """Replay the call from ``snapshot`` with stores into the red zones watched, and
        return ``exc`` with the PC, function and line of the first such store (``exc``
        unchanged if the replay does not reach one)."""
        for addr, data in snapshot:
            self._view(addr, len(data))[:] = data
        zones = [(lo, lo + n - 1) for b in self.buffers() if b.guarded
                 for lo, n in ((b.address - b.zone_before, b.zone_before),
                               (b.address + b.size, b.zone_after)) if n]
        hits: list[tuple[int, int]] = []
        handles = self.engine.add_write_watch(zones, hits)
        try:
            sp = self._set_up_call(regs)
            self._execute(address, name, sp, budget, timeout, False, mode="call")
        except McusimError:
            pass   # the replay stops at the store (or faults as the call did)
        finally:
            for handle in handles:
                self.engine.remove_hook(handle)
            self.engine.flush_translations()
            self._restore_red_zones()
        if not hits:
            return exc
        pc, target = hits[0]
        func, line = self.image.location(pc)
        details = {k: v for k, v in exc.details.items() if k not in ("address", "hint")}
        return GuardViolation(exc.message, address=target, pc=pc, function=func, line=line,
                              **details)

    def _restore_red_zones(self) -> None:
        """Restore every red zone without reporting (after a located violation)."""
        for buf in self.buffers():
            if buf.guarded:
                self._view(buf.address - buf.zone_before, buf.zone_before)[:] = REDZONE_BYTE
                self._view(buf.address + buf.size, buf.zone_after)[:] = REDZONE_BYTE

    def run(self, *, budget: int | None = _AUTO, timeout: float | None = _AUTO,
            trace: bool = False) -> CallResult:
        """Start from the reset vector and run until the program exits or hits a breakpoint
        (``budget`` and ``timeout`` as in :meth:`call`)."""
        first = min(self.image.segments, key=lambda s: s.paddr)
        vectors = self.read_bytes(first.paddr, 8)
        sp, reset = struct.unpack("<II", vectors)
        self.engine.reset_core_state()
        self.engine.sp = sp
        self.engine.lr = 0xFFFF_FFFF
        return self._execute(reset & ~1, "Reset_Handler", sp, budget, timeout, trace, mode="run")

    def _paint_stack(self, sp: int) -> None:
        lo = self._stack_bottom
        if self._region_of(lo) is not None and sp > lo:
            self._view(lo, sp - lo)[:] = STACK_PAINT

    def _stack_used(self, sp: int) -> int:
        lo = self._stack_bottom
        if self._region_of(lo) is None or sp <= lo:
            return 0
        view = self._view(lo, sp - lo)
        changed = np.nonzero(view != STACK_PAINT)[0]
        return int(sp - lo - changed[0]) if len(changed) else 0

    def _execute(self, address: int, name: str, sp: int, budget: int | None,
                 timeout: float | None, trace: bool, mode: str) -> CallResult:
        budget = self.budget if budget is _AUTO else _check_budget(budget)
        timeout = self.timeout if timeout is _AUTO else _check_timeout(timeout)
        if timeout is _AUTO:
            timeout = max(DEFAULT_TIMEOUT, (budget or 0) / MIN_TIMEOUT_IPS)
        state = self._state
        if state is not None:
            native.reset_counts(state)
            if not self.warm_caches:
                native.flush_caches(state)
            native.set_budget(state, budget)
        self._paint_stack(sp)
        self._trap_report[:] = 0
        self._cyccnt_offset = 0
        trace_counts: dict[int, int] | None = None
        handle = None
        if trace:
            trace_counts = {}
            handle = self.engine.add_trace_hook(trace_counts)
            self.engine.flush_translations()
        elif self._loops and self._loops_epoch != self.engine.translation_epoch:
            self._translate_loops()
        try:
            started = time.monotonic()
            stop = self.engine.run(address, self._trampoline, timeout=timeout,
                                   count=budget or 0 if state is None else 0)
            if self._loops:
                stop = self._resume_loops(stop, timeout, started)
        finally:
            if handle is not None:
                self.engine.remove_hook(handle)
                self.engine.flush_translations()
        if state is not None:
            native.settle_stopped_loop(state, self.engine.handle, stop.pc)
        counts = native.read_counts(state) if state is not None else native.BlockCounts.empty()
        instructions = native.executed_instructions(state) if state is not None else 0
        stack_used = self._stack_used(sp)
        exit_code = None
        if stop.kind == eng.STOP_UNTIL:
            reason = "return"
        elif stop.kind == eng.STOP_BKPT and stop.detail == BKPT_EXIT:
            reason, exit_code = "exit", self.engine.reg(0)
            exit_code = exit_code - (1 << 32) if exit_code & 0x8000_0000 else exit_code
        elif stop.kind == eng.STOP_BKPT and stop.detail != BKPT_FAULT:
            reason = "bkpt"
        else:
            raise self._fault(stop, name, instructions, budget, timeout)
        if stack_used >= sp - self._stack_bottom and sp > self._stack_bottom:
            raise StackOverflowFault("the stack was used down to its bottom (overflow)",
                                     fault="stack overflow", symbol=name, call=name,
                                     stack_bottom=self._stack_bottom)
        self.check_guards(name)
        r0, r1, s0, _ = self.engine.result_registers()
        return CallResult(
            r0=r0, r1=r1, s0=struct.unpack("<f", struct.pack("<I", s0))[0],
            instructions=instructions, stop_reason=reason, counts=counts,
            stack_used=stack_used, symbol=name, exit_code=exit_code, trace_counts=trace_counts,
            _machine=id(self))

    def _jumped_from(self, target: int) -> dict[str, object]:
        """The branch or return that led to the bad ``target``, from the native counts (the
        last block executed before it): ``branch_pc``, ``branch``, ``branch_function``,
        ``branch_line``.  Empty without counting."""
        state = self._state
        if state is None or not state[native.H_ENTRY]:
            return {}
        counts = native.read_counts(state)
        src = native.current_block(state)
        if src == target & ~1:   # the hook saw the bad block itself: take its predecessor
            into = counts.edges["src"][counts.edges["dst"] == src]
            if not len(into):
                return {}
            src = int(into[0])
        sizes = counts.blocks["size"][counts.blocks["addr"] == src]
        if not len(sizes):
            return {}
        from mcusim.decoder import get_decoder

        try:
            block = get_decoder().decode_block(src, self.read_bytes(src, int(sizes[0])))
        except MachineError:
            return {}
        last = block.insns[-1]
        func, line = self.image.location(last.address)
        return dict(branch_pc=last.address, branch=f"{last.mnemonic} {last.op_str}".strip(),
                    branch_function=func, branch_line=line)

    def _fault(self, stop: eng.Stop, name: str, instructions: int, budget: int | None,
               timeout: float | None) -> Exception:
        func, line = self.image.location(stop.pc)
        where: dict[str, object] = dict(pc=stop.pc, function=func, line=line, call=name)
        guard = self._guard_hit(stop, where)
        if guard is not None:
            self.engine.flush_tlb()   # Unicorn keeps the faulting page's TLB entry
            return guard
        why = native.stop_reason(self._state) if self._state is not None else 0
        trap = int(self._trap_report[traps.R_KIND])
        if trap:
            pc = int(self._trap_report[traps.R_PC])
            value = int(self._trap_report[traps.R_VALUE])
            site = self._trap_sites[pc]
            func, line = self.image.location(pc)
            if trap == traps.KIND_ALIGN:
                return UsageFault(
                    f"UNALIGNED: {site.text} needs a word-aligned address, got 0x{value:08x} "
                    "(LDRD/STRD/LDM/STM/VLDR/VSTR always fault when unaligned)",
                    fault="UNALIGNED", address=value, pc=pc, function=func, line=line,
                    call=name, instruction=site.text)
            return UsageFault(f"DIVBYZERO: {site.text} divided by zero with CCR.DIV_0_TRP set",
                              fault="DIVBYZERO", pc=pc, function=func, line=line, call=name,
                              instruction=site.text)
        if why == native.STOP_BUDGET or stop.kind == eng.STOP_COUNT:
            return BudgetExhausted(
                f"instruction budget of {budget} exhausted (runaway loop? pass budget=N, or "
                "budget=None for no instruction limit)",
                fault="budget exhausted", instructions=instructions or budget, **where)
        if stop.kind == eng.STOP_TIMEOUT:
            return TimeLimitExceeded(
                f"wall-clock limit of {timeout:g} s exceeded (runaway loop? pass timeout=S, or "
                "timeout=None for no limit)", fault="timeout", instructions=instructions or None,
                **where)
        if why == native.STOP_STACK and self._state is not None:
            low, block = native.lowest_sp(self._state)
            func, line = self.image.location(block)
            return StackOverflowFault(
                f"stack overflow: SP went {self._stack_bottom - low} bytes below the bottom of "
                "the stack", fault="stack overflow", sp=low, stack_bottom=self._stack_bottom,
                pc=block, function=func, line=line, call=name)
        if why == native.STOP_FLASH_WRITE and self._state is not None:
            block = native.current_block(self._state)
            func, line = self.image.location(block)
            where.update(function=func, line=line, block=block)
            addr = native.fault_address(self._state)
            region = self._region_of(addr)
            return FlashWriteFault(
                f"write to read-only memory{f' ({region.name})' if region else ''}",
                fault="write to flash", address=addr, **where)
        if why in (native.STOP_BLOCK_TABLE, native.STOP_EDGE_TABLE):
            return MachineError("the native block table is full", **where)
        if stop.kind == eng.STOP_SLEEP:
            return SleepFault(
                f"the firmware executed {stop.detail} (wait for "
                f"{'interrupt' if stop.detail == 'WFI' else 'event'}); the simulator raises "
                "none, so the core would sleep forever", fault=str(stop.detail).lower(), **where)
        if stop.kind == eng.STOP_HOOK:
            return BudgetExhausted("emulation stopped before the call finished",
                                   fault="stopped", **where)
        sp = self.engine.sp
        target = stop.address if stop.address is not None else stop.pc
        branch = self._jumped_from(target) if stop.kind in (
            eng.STOP_INVSTATE, eng.STOP_FETCH_PROT) or stop.access == "fetch" else {}
        thumb = self.engine.thumb
        if stop.kind == eng.STOP_INVSTATE or (stop.access == "fetch" and not thumb):
            at = dict(where)
            if branch:
                at.update(pc=branch["branch_pc"], function=branch["branch_function"],
                          line=branch["branch_line"], branch=branch["branch"])
            return UsageFault(
                "INVSTATE: a branch to an even address switched to ARM state, which "
                "Cortex-M cores do not have (set bit 0 of the target address)",
                fault="INVSTATE", address=stop.address if stop.address is not None else stop.pc,
                **at)
        if stop.kind == eng.STOP_UNMAPPED:
            near_stack = stop.address is not None and \
                self._stack_bottom - 64 * 1024 <= stop.address < self._stack_bottom
            if stop.access != "fetch" and (near_stack or sp < self._stack_bottom):
                return StackOverflowFault(
                    "stack overflow: the stack pointer went below the stack region",
                    fault="stack overflow", address=stop.address, sp=sp,
                    stack_bottom=self._stack_bottom, **where)
            what = f"{stop.access} of unmapped memory"
            if branch:
                what = f"jump to unmapped memory from {branch['branch']!r}"
            return UnmappedAccessFault(what, fault=f"unmapped {stop.access}",
                                       address=stop.address, **where, **branch)
        if stop.kind == eng.STOP_WRITE_PROT:
            region = self._region_of(stop.address) if stop.address is not None else None
            return FlashWriteFault(
                f"write to read-only memory{f' ({region.name})' if region else ''}",
                fault="write to flash", address=stop.address, **where)
        if stop.kind == eng.STOP_FETCH_PROT:
            return UnmappedAccessFault("instruction fetch from non-executable memory",
                                       fault="fetch from non-executable memory",
                                       address=stop.address, **where, **branch)
        if stop.kind == eng.STOP_UNDEFINED:
            return UndefinedInstructionFault("undefined instruction (UsageFault UNDEFINSTR)",
                                             fault="undefined instruction", **where)
        if stop.kind == eng.STOP_BKPT:
            return HardFault("the firmware reached a fault handler", fault="hard fault", **where)
        return HardFault(f"the core took an exception: {stop.detail}", fault="hard fault",
                         **where)

    # -- profiling ----------------------------------------------------------------------
    def profile(self, result: CallResult):  # -> mcusim.profile.Profile
        """The cycle profile of a finished call or run (see :mod:`mcusim.profile`)."""
        if not self.counting:
            raise MachineError("this machine was created with counting=False; no profile")
        if not isinstance(result, CallResult):
            raise MachineError(f"profile() needs the CallResult of call() or run(), got "
                               f"{type(result).__name__}")
        if result._machine != id(self):
            raise MachineError("this CallResult comes from another machine; profile it with "
                               "the machine that ran it", symbol=result.symbol)
        from mcusim.profile import build_profile

        return build_profile(self, result.counts, result=result)



# ---------------------------------------------------------------------------------------
# Argument checks shared by the methods above.

def _index(value: object, what: str) -> int:
    """``value`` as a non-negative Python int (``operator.index``: no floats, no bools)."""
    if isinstance(value, bool):
        raise MachineError(f"{what} must be an integer, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise MachineError(f"{what} must be an integer, got {type(value).__name__} "
                           f"{value!r:.40}") from None
    if number < 0:
        raise MachineError(f"{what} must be >= 0, got {number}")
    return number


def _plain_dtype(dtype: object) -> np.dtype:
    """A numpy dtype of plain numbers (no objects, records, strings or dates)."""
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except (TypeError, ValueError, SyntaxError):
        raise MachineError(f"not a numpy dtype: {dtype!r:.40}") from None
    if dt.kind not in "biuf" or dt.itemsize == 0:
        raise MachineError(f"unsupported dtype {dt} (use bool, integer or float types)")
    return dt


def _check_budget(budget: object) -> int | None:
    """A valid instruction budget: None (no limit) or an int in ``[1, MAX_BUDGET]``."""
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise MachineError(f"budget must be a positive integer or None, got {budget!r:.40}")
    if not 1 <= int(budget) <= MAX_BUDGET:
        raise MachineError(f"budget must be between 1 and {MAX_BUDGET}, got {budget}",
                           hint="budget=None means no instruction limit")
    return int(budget)


def _check_timeout(timeout: object) -> float | None:
    """A valid wall-clock limit: None (no limit) or a finite number of seconds > 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer,
                                                             np.floating)):
        raise MachineError(f"timeout must be a number of seconds or None, got {timeout!r:.40}")
    value = float(timeout)
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise MachineError(f"timeout must be between 0 and {MAX_TIMEOUT:g} seconds, got "
                           f"{timeout}",
                           hint="timeout=None means no wall-clock limit")
    return value
