"""Load an ARM ELF file into plain data with pyelftools (no emulator involved).

:func:`load_elf` returns a :class:`LoadedImage`: loadable segments (with load and run
addresses), sections, symbols (functions and objects with sizes) and the DWARF line table,
plus lookups (``symbol``, ``function_at``, ``line_at``, ``read``), the core the image was
built for (``cpu``, from the ``.ARM.attributes`` build attributes) and, on demand, the C
signatures of its functions from DWARF (``signature``).  Anything that is not a
32-bit little-endian ARM executable -- or is truncated or corrupt -- raises
:class:`~mcusim.errors.ElfError` naming the file and the problem.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mcusim._files import read_regular
from mcusim.errors import ElfError, MachineError

SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
#: Largest ELF file accepted (the biggest Cortex-M memories are a few MiB; DWARF adds more).
MAX_ELF_BYTES = 256 << 20

if TYPE_CHECKING:   # pyelftools is imported by the parse only: a cached image needs none of it
    from elftools.elf.elffile import ELFFile


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
class CpuAttributes:
    """The target recorded in ``.ARM.attributes`` (ARM IHI 0045, "Addenda to the ABI").

    Attributes
    ----------
    name
        ``Tag_CPU_name`` as written by the compiler (gcc writes the architecture, ``"7E-M"``;
        other tools write the core, ``"cortex-m7"``).
    arch
        ``Tag_CPU_arch`` as text (``"v7E-M"``, ``"v8-M.main"``, ...).
    fp_arch
        ``Tag_FP_arch`` as text (``"VFPv4-D16"``, ``"FPv5-D16"``, ``""`` without FPU).
    core
        The Cortex-M core this implies, ``"cortex-m4"`` or ``"cortex-m7"`` (None when the
        attributes do not say: no FPU code, or another core).
    """

    name: str
    arch: str
    fp_arch: str
    core: str | None


#: Tag_CPU_arch values (ARM IHI 0045 section 3.3.5.2), the ones a Cortex-M can carry.
_CPU_ARCH = {10: "v7", 11: "v6-M", 12: "v6S-M", 13: "v7E-M", 16: "v8-M.base", 17: "v8-M.main",
             21: "v8.1-M.main"}
#: Tag_FP_arch values: 5-6 are VFPv4 (Cortex-M4's FPv4-SP), 7-8 FPv5 / ARMv8 FP (Cortex-M7).
_FP_ARCH = {0: "", 1: "VFPv1", 2: "VFPv2", 3: "VFPv3", 4: "VFPv3-D16", 5: "VFPv4", 6: "VFPv4-D16",
            7: "FPv5-D16", 8: "FPv5"}
#: ARM-profile architectures that run on an ARMv7E-M core (subsets of it).
COMPATIBLE_ARCHS = ("v6-M", "v6S-M", "v7-M", "v7E-M")


@dataclass(frozen=True)
class Parameter:
    """One formal parameter of a C function (from DWARF).

    ``kind`` is ``"int"`` (signed), ``"uint"`` (unsigned, bool, char), ``"float"``,
    ``"double"``, ``"pointer"`` or ``"other"`` (struct by value, ...); ``size`` in bytes.
    """

    name: str
    type_name: str
    kind: str
    size: int


@dataclass(frozen=True)
class Signature:
    """A C function's parameters and return type (``returns`` is None for ``void``)."""

    name: str
    params: tuple[Parameter, ...]
    returns: Parameter | None
    variadic: bool = False

    def __str__(self) -> str:
        ret = self.returns.type_name if self.returns else "void"
        args = [f"{p.type_name} {p.name}".strip() for p in self.params]
        if self.variadic:
            args.append("...")
        return f"{ret} {self.name}({', '.join(args) or 'void'})"


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
    cpu: CpuAttributes | None = None
    _blob: bytes = field(default=b"", repr=False, compare=False)

    def signature(self, name: str) -> Signature | None:
        """The C signature of function ``name`` from DWARF (None: no debug info for it,
        or it was written in assembly)."""
        sigs = self.__dict__.get("_signatures")
        if sigs is None:
            sigs = _cached_signatures(self._blob)
            object.__setattr__(self, "_signatures", sigs)
        return sigs.get(name)

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
    from elftools.common.exceptions import ELFError, ELFParseError

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
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

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
                       _by_name=dict(symbols), cpu=_cpu_attributes(elf), _blob=blob)


def _cpu_attributes(elf: ELFFile) -> CpuAttributes | None:
    """The file-scope ``aeabi`` build attributes, or None when the section is absent."""
    sec = elf.get_section_by_name(".ARM.attributes")
    if sec is None or not hasattr(sec, "iter_subsections"):
        return None
    tags: dict[str, object] = {}
    for sub in sec.iter_subsections():
        if sub.header["vendor_name"] != "aeabi":
            continue
        for subsub in sub.iter_subsubsections():
            if subsub.header.tag == "TAG_FILE":
                tags.update((a.tag, a.value) for a in subsub.iter_attributes())
    if not tags:
        return None
    name = str(tags.get("TAG_CPU_NAME", ""))
    arch_code = tags.get("TAG_CPU_ARCH")
    arch = _CPU_ARCH.get(arch_code, f"arch {arch_code}") if isinstance(arch_code, int) else ""
    fp_code = tags.get("TAG_FP_ARCH", 0)
    fp_arch = _FP_ARCH.get(fp_code, f"FP arch {fp_code}") if isinstance(fp_code, int) else ""
    core: str | None = None
    if name.lower() in ("cortex-m4", "cortex-m7"):
        core = name.lower()
    elif arch == "v7E-M" and fp_arch.startswith("VFPv4"):
        core = "cortex-m4"
    elif arch == "v7E-M" and fp_arch.startswith("FPv5"):
        core = "cortex-m7"
    return CpuAttributes(name, arch, fp_arch, core)


class CoreMismatchWarning(UserWarning):
    """An image built for another (compatible) core runs on a board."""


def check_core(image: LoadedImage, core: str, board: str) -> str | None:
    """Compare the core an image was built for with a board's core.

    Returns
    -------
    str or None
        A warning to show when the image runs but was built for another core (code for
        the Cortex-M4 on a Cortex-M7 board: it executes, tuned for the other pipeline).

    Raises
    ------
    ElfError
        The image needs what the board's core lacks: built for the Cortex-M7 (FPv5
        instructions) on a Cortex-M4 board, or for an architecture that is not ARMv6-M /
        ARMv7-M / ARMv7E-M.
    """
    cpu = image.cpu
    if cpu is None:
        return None
    if cpu.arch and cpu.arch not in COMPATIBLE_ARCHS:
        raise ElfError(f"the ELF was built for architecture {cpu.arch}, which the {core} of "
                       f"{board} cannot run", file=str(image.path),
                       hint=f"rebuild it for the board: mcusim build ... --board {board}")
    if cpu.core is None or cpu.core == core:
        return None
    if cpu.core == "cortex-m7" and core == "cortex-m4":
        raise ElfError(f"the ELF was built for the cortex-m7 (FP {cpu.fp_arch}) but {board} "
                       f"has a cortex-m4", file=str(image.path),
                       hint=f"rebuild it for the board: mcusim build ... --board {board}")
    return (f"{image.path.name} was built for the {cpu.core} but {board} has a {core}; "
            f"it runs, but the code was scheduled for the other core")


_SIGNATURE_CACHE: dict[bytes, dict[str, Signature]] = {}


def _cached_signatures(blob: bytes) -> dict[str, Signature]:
    """:func:`_signatures` of an ELF's bytes, parsed once per process per distinct file."""
    key = hashlib.sha256(blob).digest()
    sigs = _SIGNATURE_CACHE.get(key)
    if sigs is None:
        from elftools.elf.elffile import ELFFile

        try:
            sigs = _signatures(ELFFile(io.BytesIO(blob))) if blob else {}
        except Exception:   # corrupt DWARF: calls go unchecked, as without debug info
            sigs = {}
        if len(_SIGNATURE_CACHE) > 64:
            _SIGNATURE_CACHE.clear()
        _SIGNATURE_CACHE[key] = sigs
    return sigs


_ENCODING_KIND = {2: "uint", 4: "float", 5: "int", 6: "int", 7: "uint", 8: "uint"}
_C_LANG_ASM = 0x8001   # DW_LANG_Mips_Assembler: what gas writes for .S files


def _signatures(elf: ELFFile) -> dict[str, Signature]:
    """Signatures of the functions defined in C compilation units."""
    if not elf.has_dwarf_info():
        return {}
    out: dict[str, Signature] = {}
    for cu in elf.get_dwarf_info().iter_CUs():
        top = cu.get_top_DIE()
        lang = top.attributes.get("DW_AT_language")
        if lang is not None and lang.value == _C_LANG_ASM:
            continue
        for die in top.iter_children():
            if die.tag != "DW_TAG_subprogram" or "DW_AT_name" not in die.attributes:
                continue
            name = die.attributes["DW_AT_name"].value.decode(errors="replace")
            defined = "DW_AT_low_pc" in die.attributes or "DW_AT_ranges" in die.attributes
            if name in out and not defined:
                continue
            params, variadic = [], False
            for child in die.iter_children():
                if child.tag == "DW_TAG_formal_parameter":
                    pname = child.attributes.get("DW_AT_name")
                    params.append(_typed(child, pname.value.decode(errors="replace")
                                         if pname else f"arg{len(params)}"))
                elif child.tag == "DW_TAG_unspecified_parameters":
                    variadic = True
            returns = _typed(die, "") if "DW_AT_type" in die.attributes else None
            out[name] = Signature(name, tuple(params), returns, variadic)
    return out


def _pointee(ptr) -> str:
    """``float``, ``const int8_t``, ... for the type a pointer DIE points to."""
    quals = []
    t = ptr.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in ptr.attributes else None
    for _ in range(32):
        if t is None:
            return " ".join(quals + ["void"])
        if "DW_AT_name" in t.attributes:
            return " ".join(quals + [t.attributes["DW_AT_name"].value.decode(errors="replace")])
        if t.tag == "DW_TAG_pointer_type":
            return " ".join(quals + [_pointee(t) + " *"])
        if t.tag == "DW_TAG_const_type":
            quals.append("const")
        if "DW_AT_type" not in t.attributes:
            return " ".join(quals + [t.tag[7:]])
        t = t.get_DIE_from_attribute("DW_AT_type")
    return "?"


def _typed(die, name: str) -> Parameter:
    """Follow ``DW_AT_type`` through typedefs and qualifiers to the kind of value."""
    spelled: str | None = None
    t = die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None
    for _ in range(32):
        if t is None:
            return Parameter(name, spelled or "void", "other", 0)
        tname = t.attributes.get("DW_AT_name")
        if spelled is None and tname is not None:
            spelled = tname.value.decode(errors="replace")
        if t.tag == "DW_TAG_pointer_type":
            return Parameter(name, spelled or _pointee(t) + " *", "pointer", 4)
        if t.tag == "DW_TAG_base_type":
            size = t.attributes["DW_AT_byte_size"].value
            kind = _ENCODING_KIND.get(t.attributes["DW_AT_encoding"].value, "other")
            if kind == "float" and size == 8:
                kind = "double"
            return Parameter(name, spelled or kind, kind, size)
        if t.tag == "DW_TAG_enumeration_type":
            return Parameter(name, spelled or "enum", "int", 4)
        if t.tag not in ("DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type",
                         "DW_TAG_restrict_type"):
            return Parameter(name, spelled or t.tag[7:], "other",
                             t.attributes["DW_AT_byte_size"].value
                             if "DW_AT_byte_size" in t.attributes else 0)
        t = t.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in t.attributes else None
    return Parameter(name, spelled or "?", "other", 0)


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
