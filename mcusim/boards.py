"""Board profiles: memory map, core, clock, wait states and caches of a microcontroller.

A board is described by one TOML file (``profiles/boards/<name>.toml``); adding a board needs
no code change.  :func:`get_board` accepts a built-in name or a path to a user's file and
returns a validated, typed :class:`Board`.  Every problem in a file is reported as a
:class:`~mcusim.errors.ProfileError` naming the file, the field and the reason.

Example
-------
>>> from mcusim.boards import get_board
>>> board = get_board("stm32f746zg")
>>> board.core, board.clock_hz
('cortex-m7', 216000000)
>>> board.region("dtcm").start == 0x2000_0000
True
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcusim._files import read_regular
from mcusim._paths import data_dir
from mcusim.errors import ProfileError
from mcusim._native_layout import MAX_WAIT_RANGES

PROFILES_DIR = data_dir("profiles")
BOARDS_DIR = PROFILES_DIR / "boards"

#: Compiler flags per core (the FPU is single precision on both).
CORE_FLAGS: dict[str, tuple[str, ...]] = {
    "cortex-m4": ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb"),
    "cortex-m7": ("-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-mthumb"),
}

REGION_KINDS = ("flash", "ram")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|K|KB|KiB|M|MB|MiB)?\s*$", re.IGNORECASE)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_REGION_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")   # a linker-script MEMORY name
#: Ranges the profile loader accepts (the native cache model and the host memory bound them).
MAX_PROFILE_BYTES = 1 << 20
MAX_CACHE_LINES = 1 << 16
MAX_CACHE_WAYS = 256
CACHE_LINE_BYTES = (4, 4096)
MAX_WAIT_STATES = 64
MAX_REGION_BYTES = 512 << 20
MAX_MAPPED_BYTES = 1 << 30
_UNIT = {None: 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20,
         "mib": 1 << 20}


@dataclass(frozen=True)
class Cache:
    """A cache in front of wait-state memory (e.g. the ART accelerator or an L1 cache).

    Attributes
    ----------
    name
        Key of the cache in the profile.
    lines, line_bytes, ways
        Geometry; ``ways == lines`` means fully associative.
    prefetch
        Sequential next-line prefetch.
    enabled
        A disabled cache is not simulated: every access to wait-state memory misses.
    source
        Where the numbers come from.
    """

    name: str
    lines: int
    line_bytes: int
    ways: int
    prefetch: bool = False
    enabled: bool = True
    source: str = ""


@dataclass(frozen=True)
class MemoryRegion:
    """One memory of the board.

    Attributes
    ----------
    name
        Short name (``flash``, ``sram1``, ``ccm``, ``dtcm``, ...).
    kind
        ``"flash"`` (read-only to the firmware) or ``"ram"``.
    start, size
        Address range ``[start, start + size)``.
    wait_states
        Flash wait states: extra cycles per access that misses the caches in front of it.
    miss_cycles
        Cycles a data-line miss of the cache in front of this region costs, when that is not
        the wait states: for RAM behind a data cache (the Cortex-M7's SRAM1/SRAM2 on AXI) the
        line fill over the bus; ``None``: the wait states (see :attr:`line_miss_cycles`).
        Instruction-line misses always cost the wait states.
    icache, dcache
        Names of the caches on the instruction-fetch and data streams for this region.
    alias_of
        Name of the region whose contents this one mirrors (e.g. the Cortex-M7 ITCM view of
        Flash), or ``""``.
    cpu_only
        True for memories the DMA cannot reach (CCM); informational.
    source
        Where the numbers come from.
    """

    name: str
    kind: str
    start: int
    size: int
    wait_states: int = 0
    miss_cycles: int | None = None
    icache: str = ""
    dcache: str = ""
    alias_of: str = ""
    cpu_only: bool = False
    source: str = ""

    @property
    def end(self) -> int:
        """First address after the region."""
        return self.start + self.size

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end

    @property
    def line_miss_cycles(self) -> int:
        """Cycles charged per cache-line miss in this region (0: accesses are not costed)."""
        return self.wait_states if self.miss_cycles is None else self.miss_cycles


@dataclass(frozen=True)
class Layout:
    """Where the linker puts things: code region, data/stack region, stack and heap sizes."""

    code: str
    data: str
    stack_bytes: int = 16 * 1024
    heap_bytes: int = 4 * 1024
    fast: str = ""  # region for the ``.fast`` sections (CCM / DTCM), "" when none


@dataclass(frozen=True)
class Board:
    """A validated board profile.

    Attributes
    ----------
    name, description
        Identification.
    core
        ``"cortex-m4"`` or ``"cortex-m7"``.
    clock_hz
        Core clock the cycle counts are converted at.
    regions
        Memories, in profile order.
    caches
        Caches by name.
    layout
        Default placement used by the generated linker script.
    path
        The file the profile was read from.
    sources
        Citations for the profile's facts.
    """

    name: str
    description: str
    core: str
    clock_hz: int
    regions: tuple[MemoryRegion, ...]
    caches: dict[str, Cache]
    layout: Layout
    path: Path
    sources: tuple[str, ...] = field(default=())

    @property
    def cflags(self) -> tuple[str, ...]:
        """The compiler's core flags for this board."""
        return CORE_FLAGS[self.core]

    def region(self, name: str) -> MemoryRegion:
        """The region called ``name`` (raises :class:`ProfileError` if absent)."""
        for region in self.regions:
            if region.name == name:
                return region
        raise ProfileError(f"board {self.name!r} has no memory region {name!r}",
                           file=str(self.path), known=", ".join(r.name for r in self.regions))

    def region_at(self, address: int) -> MemoryRegion | None:
        """The region containing ``address``, or ``None``."""
        for region in self.regions:
            if region.contains(address):
                return region
        return None

    def ram_regions(self) -> list[MemoryRegion]:
        """RAM regions, the layout's data region first, then the others largest first."""
        rams = [r for r in self.regions if r.kind == "ram" and not r.alias_of]
        rams.sort(key=lambda r: (r.name != self.layout.data, -r.size))
        return rams

    @property
    def flash_bytes(self) -> int:
        return sum(r.size for r in self.regions if r.kind == "flash" and not r.alias_of)

    @property
    def sram_bytes(self) -> int:
        return sum(r.size for r in self.regions if r.kind == "ram" and not r.alias_of)


# ---------------------------------------------------------------------------------------
# Loading and validation.

def builtin_boards() -> list[str]:
    """Names of the built-in board profiles."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def get_board(name_or_path: str | Path | Board) -> Board:
    """Load a board profile by built-in name or from a file.

    Parameters
    ----------
    name_or_path
        A built-in name (see :func:`builtin_boards`), a path to a ``.toml`` profile, or a
        :class:`Board` (returned as is).

    Returns
    -------
    Board

    Raises
    ------
    ProfileError
        Unknown name, unreadable file, or a malformed profile (the message names the file,
        the field and the reason).
    """
    if isinstance(name_or_path, Board):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.exists()):
        path = BOARDS_DIR / f"{text}.toml"
        if not path.exists():
            raise ProfileError(f"unknown board {text!r}",
                               known=", ".join(builtin_boards()),
                               hint="pass a built-in name or the path of a .toml profile")
    return load_board(path)


def load_board(path: str | Path) -> Board:
    """Read and validate one board profile file (see :func:`get_board`)."""
    path = Path(path)
    blob = read_regular(path, MAX_PROFILE_BYTES, ProfileError, "board profile")
    try:
        raw = tomllib.loads(blob.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(f"cannot read board profile: {exc}", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"board profile is not valid TOML: {exc}", file=str(path)) from None
    return _parse_board(raw, path)


class _Fields:
    """Typed access to one TOML table, raising ProfileError with file and field names."""

    def __init__(self, table: Any, path: Path, where: str) -> None:
        if not isinstance(table, dict):
            raise ProfileError("expected a table", file=str(path), field=where or "<top>")
        self.table, self.path, self.where = table, path, where

    def _field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, reason: str) -> ProfileError:
        return ProfileError(f"malformed board profile: {reason}", file=str(self.path),
                            field=self._field(key))

    def get(self, key: str, kind: type, default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.error(key, "required field is missing")
            return default
        value = self.table[key]
        if kind is int and isinstance(value, bool):
            raise self.error(key, f"expected an integer, got {value!r}")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def int_in(self, key: str, lo: int, hi: int, default: Any = ...) -> int:
        """An integer in ``[lo, hi]``."""
        value = self.get(key, int, default)
        if not lo <= value <= hi:
            bound = f"at least {lo}" if value < lo else f"at most {hi}"
            raise self.error(key, f"must be {bound}, got {value}")
        return value

    def size(self, key: str, default: Any = ...) -> int:
        """An integer, or a string such as ``"160 KiB"``; must be positive."""
        if key not in self.table and default is not ...:
            return default
        value = self.table.get(key)
        if isinstance(value, str):
            match = _SIZE_RE.match(value)
            if not match:
                raise self.error(key, f"cannot read size {value!r} (use bytes or e.g. '64 KiB')")
            value = int(match.group(1)) * _UNIT[(match.group(2) or "b").lower()]
        elif key in self.table:
            value = self.get(key, int)
        else:
            raise self.error(key, "required field is missing")
        if value <= 0:
            raise self.error(key, f"must be positive, got {value}")
        return value

    def bounded_size(self, key: str, hi: int, default: Any = ...) -> int:
        """A :meth:`size` of at most ``hi``."""
        value = self.size(key, default)
        if value > hi:
            raise self.error(key, f"must be at most {hi}, got {value}")
        return value

    def name(self, key: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.get(key, str)
        if not pattern.match(value):
            raise self.error(key, f"{value!r} is not a valid {what} (letters, digits and "
                                  f"{'_' if pattern is _REGION_NAME_RE else '_ . + -'}, "
                                  "starting with a letter or digit)")
        return value

    def unknown(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.error(key, f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _parse_board(raw: dict[str, Any], path: Path) -> Board:
    top = _Fields(raw, path, "")
    top.unknown({"name", "description", "core", "clock_hz", "sources", "regions", "caches",
                 "layout"})
    name = top.name("name", _NAME_RE, "board name")
    core = top.get("core", str)
    if core not in CORE_FLAGS:
        raise top.error("core", f"unsupported core {core!r} (supported: {', '.join(CORE_FLAGS)})")
    clock_hz = top.get("clock_hz", int)
    if not 1_000 <= clock_hz <= 2_000_000_000:
        raise top.error("clock_hz", f"implausible clock {clock_hz} Hz")
    sources = tuple(top.get("sources", list, []))
    if not all(isinstance(s, str) for s in sources):
        raise top.error("sources", "must be a list of strings")

    caches: dict[str, Cache] = {}
    for cname, ctable in top.get("caches", dict, {}).items():
        f = _Fields(ctable, path, f"caches.{cname}")
        f.unknown({"lines", "line_bytes", "ways", "prefetch", "enabled", "source"})
        lines = f.bounded_size("lines", MAX_CACHE_LINES)
        line_bytes = f.bounded_size("line_bytes", CACHE_LINE_BYTES[1])
        if line_bytes < CACHE_LINE_BYTES[0]:
            raise f.error("line_bytes", f"must be at least {CACHE_LINE_BYTES[0]}, got {line_bytes}")
        ways = f.size("ways", lines)
        if line_bytes & (line_bytes - 1):
            raise f.error("line_bytes", f"must be a power of two, got {line_bytes}")
        if lines % ways:
            raise f.error("ways", f"{lines} lines cannot be split into {ways}-way sets")
        if ways > MAX_CACHE_WAYS:
            raise f.error("ways", f"must be at most {MAX_CACHE_WAYS} (the default is lines: "
                                  f"fully associative), got {ways}")
        caches[cname] = Cache(cname, lines, line_bytes, ways, f.get("prefetch", bool, False),
                              f.get("enabled", bool, True), f.get("source", str, ""))

    region_tables = top.get("regions", list)
    if not region_tables:
        raise top.error("regions", "a board needs at least one memory region")
    regions: list[MemoryRegion] = []
    for i, rtable in enumerate(region_tables):
        f = _Fields(rtable, path, f"regions[{i}]")
        f.unknown({"name", "kind", "start", "size", "wait_states", "miss_cycles", "icache",
                   "dcache", "alias_of", "cpu_only", "source"})
        region = MemoryRegion(
            name=f.name("name", _REGION_NAME_RE, "region name"), kind=f.get("kind", str),
            start=f.get("start", int), size=f.bounded_size("size", MAX_REGION_BYTES),
            wait_states=f.int_in("wait_states", 0, MAX_WAIT_STATES, 0),
            miss_cycles=f.int_in("miss_cycles", 0, MAX_WAIT_STATES, None)
            if "miss_cycles" in f.table else None,
            icache=f.get("icache", str, ""), dcache=f.get("dcache", str, ""),
            alias_of=f.get("alias_of", str, ""), cpu_only=f.get("cpu_only", bool, False),
            source=f.get("source", str, ""))
        if region.kind not in REGION_KINDS:
            raise f.error("kind", f"must be one of {REGION_KINDS}, got {region.kind!r}")
        if region.start < 0 or region.end > 1 << 32:
            raise f.error("start", "region does not fit the 32-bit address space")
        if region.start % 1024 or region.size % 1024:
            raise f.error("size", "start and size must be multiples of 1 KiB")
        for key in ("icache", "dcache"):
            ref = getattr(region, key)
            if ref and ref not in caches:
                raise f.error(key, f"no cache named {ref!r} in [caches]")
        if any(r.name == region.name for r in regions):
            raise f.error("name", f"duplicate region name {region.name!r}")
        regions.append(region)
    names = {r.name: r for r in regions}
    for i, region in enumerate(regions):
        if region.alias_of:
            target = names.get(region.alias_of)
            if target is None or target.alias_of:
                raise ProfileError("malformed board profile: alias_of must name a non-alias region",
                                   file=str(path), field=f"regions[{i}].alias_of")
            if target.size != region.size:
                raise ProfileError("malformed board profile: an alias must have the size of its target",
                                   file=str(path), field=f"regions[{i}].size")
    if sum(r.size for r in regions if not r.alias_of) > MAX_MAPPED_BYTES:
        raise top.error("regions", f"the memories add up to more than {MAX_MAPPED_BYTES} bytes")
    waits = [r.name for r in regions if r.line_miss_cycles > 0]
    if len(waits) > MAX_WAIT_RANGES:
        raise top.error("regions", f"at most {MAX_WAIT_RANGES} regions may have wait states "
                                   f"or miss cycles (the cache model's limit), got "
                                   f"{len(waits)}: {', '.join(waits)}")
    for i, region in enumerate(regions):
        if region.miss_cycles and region.kind == "ram" and not region.dcache:
            raise ProfileError("malformed board profile: miss_cycles on RAM needs the data "
                               "cache it is the line fill of (dcache)", file=str(path),
                               field=f"regions[{i}].miss_cycles")
    ordered = sorted(regions, key=lambda r: r.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end:
            raise ProfileError(f"malformed board profile: regions {a.name!r} and {b.name!r} overlap",
                               file=str(path), field="regions")

    lf = _Fields(top.get("layout", dict), path, "layout")
    lf.unknown({"code", "data", "stack_bytes", "heap_bytes", "fast"})
    layout = Layout(code=lf.get("code", str), data=lf.get("data", str),
                    stack_bytes=lf.size("stack_bytes", 16 * 1024),
                    heap_bytes=lf.size("heap_bytes", 4 * 1024), fast=lf.get("fast", str, ""))
    for key, kind in (("code", "flash"), ("data", "ram"), ("fast", "ram")):
        value = getattr(layout, key)
        if key == "fast" and not value:
            continue
        if value not in names:
            raise lf.error(key, f"no region named {value!r}")
        if names[value].kind != kind:
            raise lf.error(key, f"region {value!r} is {names[value].kind}, expected {kind}")
    for key in ("stack_bytes", "heap_bytes"):
        if getattr(layout, key) % 8:
            raise lf.error(key, f"must be a multiple of 8 (AAPCS stack alignment), got "
                                f"{getattr(layout, key)}")
    if layout.stack_bytes + layout.heap_bytes >= names[layout.data].size:
        raise lf.error("stack_bytes", "stack and heap do not fit the data region")

    return Board(name=name, description=top.get("description", str, ""), core=core,
                 clock_hz=clock_hz, regions=tuple(regions), caches=caches, layout=layout,
                 path=path, sources=sources)
