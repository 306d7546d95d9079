"""Load an ARM ELF file into plain data with pyelftools (no emulator involved).

:func:`load_elf` returns a :class:`LoadedImage`: loadable segments (with load and run
addresses), sections, symbols (functions and objects with sizes) and the DWARF line table,
plus lookups (``symbol``, ``function_at``, ``line_at``, ``read``).  Anything that is not a
32-bit little-endian ARM executable -- or is truncated or corrupt -- raises
:class:`~mcusim.errors.ElfError` naming the file and the problem.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError, ELFParseError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from mcusim._files import read_regular
from mcusim.errors import ElfError, MachineError

SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
#: Largest ELF file accepted (the biggest Cortex-M memories are a few MiB; DWARF adds more).
MAX_ELF_BYTES = 256 << 20


@dataclass(frozen=True)
class Segment:
    """A PT_LOAD segment: ``data`` is loaded at ``paddr`` (LMA) and runs at ``vaddr`` (VMA);
    ``memsz - len(data)`` bytes after it are zero (``.bss``)."""

    vaddr: int
    paddr: int
    memsz: int
    data: bytes
    flags: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & 0x1)

    @property
    def writable(self) -> bool:
        return bool(self.flags & 0x2)


@dataclass(frozen=True)
class Section:
    """An allocated section: name, run address, size, and whether it holds code / file data."""

    name: str
    address: int
    size: int
    load_address: int
    executable: bool
    nobits: bool


@dataclass(frozen=True)
class Symbol:
    """A function or data object (Thumb bit cleared from function addresses)."""

    name: str
    address: int
    size: int
    kind: str  # "func", "object" or "label" (a global linker-script symbol)


@dataclass(frozen=True)
class LineEntry:
    """One row of the DWARF line table: code at ``address`` comes from ``file:line``."""

    address: int
    file: str
    line: int


@dataclass(frozen=True)
class LoadedImage:
    """An ELF image as plain data.

    Attributes
    ----------
    path
        The file.
    entry
        Entry point (Thumb bit as in the header).
    segments, sections, symbols, lines
        See the classes of the same names; ``symbols`` are sorted by address, ``lines`` by
        address.
    """

    path: Path
    entry: int
    segments: tuple[Segment, ...]
    sections: tuple[Section, ...]
    symbols: tuple[Symbol, ...]
    lines: tuple[LineEntry, ...]
    _by_name: dict[str, Symbol] = field(default_factory=dict, repr=False, compare=False)

    def symbol(self, name: str) -> Symbol:
        """The symbol called ``name`` (raises :class:`MachineError` listing close names)."""
        sym = self._by_name.get(name)
        if sym is None:
            funcs = sorted(s.name for s in self.symbols if s.kind == "func")
            close = [f for f in funcs if name.lower() in f.lower()][:8]
            raise MachineError(f"no symbol {name!r} in the image", file=str(self.path),
                               similar=", ".join(close) or None)
        return sym

    def has_symbol(self, name: str) -> bool:
        return name in self._by_name

    def functions(self) -> list[Symbol]:
        return [s for s in self.symbols if s.kind == "func"]

    def function_at(self, address: int) -> Symbol | None:
        """The function whose ``[address, address + size)`` contains ``address``."""
        funcs = self._funcs()
        i = bisect.bisect_right([f.address for f in funcs], address) - 1
        while i >= 0:
            f = funcs[i]
            if f.address <= address < f.address + max(f.size, 2):
                return f
            if f.address < address and f.size:
                return None
            i -= 1
        return None

    def _funcs(self) -> list[Symbol]:
        cache = self.__dict__.get("_func_cache")
        if cache is None:
            cache = sorted(self.functions(), key=lambda s: (s.address, -s.size))
            object.__setattr__(self, "_func_cache", cache)
        return cache

    def line_at(self, address: int) -> tuple[str, int] | None:
        """``(file, line)`` of the code at ``address`` from the DWARF line table."""
        if not self.lines:
            return None
        addrs = self.__dict__.get("_line_addrs")
        if addrs is None:
            addrs = [e.address for e in self.lines]
            object.__setattr__(self, "_line_addrs", addrs)
        i = bisect.bisect_right(addrs, address) - 1
        if i < 0:
            return None
        entry = self.lines[i]
        if entry.line == 0:
            return None
        return entry.file, entry.line

    def location(self, address: int) -> tuple[str | None, str | None]:
        """``(function name, "file:line")`` for error messages (either may be None)."""
        func = self.function_at(address)
        line = self.line_at(address)
        name = func.name if func else None
        if func and address != func.address:
            name = f"{func.name}+0x{address - func.address:x}"
        return name, (f"{os.path.basename(line[0])}:{line[1]}" if line else None)

    def read(self, address: int, size: int) -> bytes:
        """Bytes of the image at run address ``address`` (zeros for ``.bss``)."""
        for seg in self.segments:
            for base in (seg.vaddr, seg.paddr):
                if base <= address and address + size <= base + seg.memsz:
                    off = address - base
                    chunk = seg.data[off:off + size]
                    return chunk + bytes(size - len(chunk))
        raise MachineError("address not in any loadable segment", address=address,
                           file=str(self.path))

    def section(self, name: str) -> Section | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None


def load_elf(path: str | Path) -> LoadedImage:
    """Parse ``path`` into a :class:`LoadedImage`.

    Raises
    ------
    ElfError
        Missing file, not ELF, not 32-bit little-endian ARM, not an executable with loadable
        segments, or truncated/corrupt content.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ElfError(f"expected the path of an ELF file, got {type(path).__name__}")
    blob = read_regular(path, MAX_ELF_BYTES, ElfError, "file")
    path = Path(path)
    if blob[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (bad magic bytes)", file=str(path))
    try:
        return _parse(path, blob)
    except ElfError:
        raise
    except (ELFError, ELFParseError, ValueError, KeyError, IndexError, AssertionError,
            AttributeError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise ElfError(f"truncated or corrupt ELF: {type(exc).__name__}: {exc}",
                       file=str(path)) from None
    except Exception as exc:  # pyelftools raises a wide variety on corrupt input
        raise ElfError(f"truncated or corrupt ELF: {type(exc).__name__}: {exc}",
                       file=str(path)) from None


def _parse(path: Path, blob: bytes) -> LoadedImage:
    import io

    elf = ELFFile(io.BytesIO(blob))
    if elf["e_machine"] != "EM_ARM":
        raise ElfError(f"not an ARM ELF (machine {elf['e_machine']})", file=str(path),
                       hint="build for Cortex-M with arm-none-eabi-gcc")
    if elf.elfclass != 32 or not elf.little_endian:
        raise ElfError(f"not a 32-bit little-endian ELF (class {elf.elfclass})", file=str(path))
    if elf["e_type"] not in ("ET_EXEC",):
        raise ElfError(f"not an executable (type {elf['e_type']}); link it first",
                       file=str(path))
    segments = []
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
            continue
        data = seg.data()
        if len(data) != seg["p_filesz"]:
            raise ElfError("truncated segment data", file=str(path), address=seg["p_vaddr"])
        segments.append(Segment(seg["p_vaddr"], seg["p_paddr"], seg["p_memsz"], data,
                                seg["p_flags"]))
    if not segments:
        raise ElfError("no loadable segments", file=str(path))
    _check_overlaps(path, segments)
    sections = []
    for sec in elf.iter_sections():
        if not sec["sh_flags"] & SHF_ALLOC or sec["sh_size"] == 0:
            continue
        lma = sec["sh_addr"]
        for load in segments if sec["sh_type"] != "SHT_NOBITS" else ():
            if load.vaddr <= sec["sh_addr"] < load.vaddr + load.memsz:
                lma = load.paddr + (sec["sh_addr"] - load.vaddr)
                break
        sections.append(Section(sec.name, sec["sh_addr"], sec["sh_size"], lma,
                                bool(sec["sh_flags"] & SHF_EXECINSTR),
                                sec["sh_type"] == "SHT_NOBITS"))
    symbols: dict[str, Symbol] = {}
    for table in elf.iter_sections():
        if not isinstance(table, SymbolTableSection):
            continue
        for sym in table.iter_symbols():
            styp = sym["st_info"]["type"]
            if not sym.name or styp not in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                continue
            if styp == "STT_NOTYPE" and sym["st_info"]["bind"] != "STB_GLOBAL":
                continue  # mapping symbols ($t, $d) and local labels
            if sym["st_shndx"] == "SHN_UNDEF":
                continue
            kind = {"STT_FUNC": "func", "STT_OBJECT": "object"}.get(styp, "label")
            addr = sym["st_value"] & ~1 if kind == "func" else sym["st_value"]
            prev = symbols.get(sym.name)
            if prev is None or (sym["st_info"]["bind"] == "STB_GLOBAL"):
                symbols[sym.name] = Symbol(sym.name, addr, sym["st_size"], kind)
    ordered = tuple(sorted(symbols.values(), key=lambda s: (s.address, s.name)))
    lines = tuple(_line_table(elf))
    return LoadedImage(path=path, entry=elf["e_entry"], segments=tuple(segments),
                       sections=tuple(sections), symbols=ordered, lines=lines,
                       _by_name=dict(symbols))


def _check_overlaps(path: Path, segments: list[Segment]) -> None:
    """Refuse PT_LOAD segments whose run ranges or load images share bytes."""
    spans = []
    for i, seg in enumerate(segments):
        spans.append((seg.vaddr, seg.vaddr + seg.memsz, i, "run"))
        if seg.paddr != seg.vaddr and seg.data:
            spans.append((seg.paddr, seg.paddr + len(seg.data), i, "load"))
    spans.sort()
    for k in range(1, len(spans)):
        b = spans[k]
        a = max(spans[:k], key=lambda s: s[1] if s[2] != b[2] else -1)
        if b[0] < a[1] and a[2] != b[2]:
            raise ElfError(
                f"PT_LOAD segments {a[2]} and {b[2]} overlap ({a[3]} range "
                f"0x{a[0]:08x}-0x{a[1]:08x}, {b[3]} range 0x{b[0]:08x}-0x{b[1]:08x})",
                file=str(path), address=b[0])


def _line_table(elf: ELFFile) -> list[LineEntry]:
    if not elf.has_dwarf_info():
        return []
    dwarf = elf.get_dwarf_info()
    rows: dict[int, LineEntry] = {}
    for cu in dwarf.iter_CUs():
        program = dwarf.line_program_for_CU(cu)
        if program is None:
            continue
        header = program.header
        files = header["file_entry"]
        dirs = header["include_directory"]
        version = header["version"]
        for entry in program.get_entries():
            state = entry.state
            if state is None:
                continue
            if state.end_sequence:
                rows.setdefault(state.address, LineEntry(state.address, "", 0))
                continue
            index = state.file if version >= 5 else state.file - 1
            if not 0 <= index < len(files):
                continue
            fentry = files[index]
            name = fentry.name.decode(errors="replace")
            dir_index = fentry.dir_index if version >= 5 else fentry.dir_index - 1
            if 0 <= dir_index < len(dirs) and not name.startswith("/"):
                name = os.path.join(dirs[dir_index].decode(errors="replace"), name)
            rows[state.address] = LineEntry(state.address, name, state.line)
    return [rows[a] for a in sorted(rows)]
