"""Cross-compile C/assembly for a board with arm-none-eabi-gcc.

:func:`build_firmware` compiles and links the given sources together with mcusim's runtime
(``firmware/runtime``: vector table, reset handler, newlib system calls) using the core flags
of the board and a linker script generated from its profile (:func:`linker_script`).  The
output is cached by a hash of everything that goes into it (compiler version, flags, linker
script, the sources and every header next to them), in a directory outside the source tree
(``$MCUSIM_CACHE_DIR`` or ``~/.cache/mcusim``), so a rebuild of unchanged firmware is free.

Example
-------
>>> from mcusim.boards import get_board
>>> from mcusim.build import build_firmware, FIRMWARE_DIR
>>> res = build_firmware([FIRMWARE_DIR / "basic" / "mcu_checksum.c"], get_board("stm32f746zg"))
>>> res.elf.suffix
'.elf'
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from mcusim._files import check_output, check_regular
from mcusim._paths import data_dir
from mcusim.boards import Board, MemoryRegion, get_board
from mcusim.errors import ImageTooLargeError, ToolchainError

FIRMWARE_DIR = data_dir("firmware")
RUNTIME_SOURCES = (FIRMWARE_DIR / "runtime" / "startup.c", FIRMWARE_DIR / "runtime" / "syscalls.c")
INCLUDE_DIR = FIRMWARE_DIR / "include"
GCC = "arm-none-eabi-gcc"
SOURCE_SUFFIXES = {".c", ".s", ".S"}
MAX_SOURCE_BYTES = 64 << 20   # a source file larger than this is not a kernel
_OVERFLOW_RE = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")
_NOFIT_RE = re.compile(r"section [`'](\S+)' will not fit in region [`'](\w+)'")


def cache_dir() -> Path:
    """Where build outputs go (``$MCUSIM_CACHE_DIR`` or ``~/.cache/mcusim``)."""
    root = os.environ.get("MCUSIM_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "mcusim"


def find_gcc() -> str:
    """Path of arm-none-eabi-gcc, or a :class:`ToolchainError` telling how to install it."""
    path = shutil.which(GCC)
    if path is None:
        raise ToolchainError(
            f"{GCC} not found on PATH",
            hint="install it with: sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                 "(or run the README's 'make test', which does it)")
    return path


@functools.cache
def _gcc_version(gcc: str) -> str:
    """First line of ``gcc --version`` (part of the cache key; asked once per process)."""
    import subprocess   # not at import: a process that only loads cached ELFs spawns nothing

    out = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


@dataclass(frozen=True)
class BuildResult:
    """The outcome of :func:`build_firmware`.

    Attributes
    ----------
    elf
        The linked image (in the build cache).
    cached
        True when an identical earlier build was reused.
    command
        The compiler command line that produced it.
    """

    elf: Path
    cached: bool
    command: tuple[str, ...] = field(default=())


def linker_script(board: Board, *, data_region: str | None = None,
                  code_region: str | None = None, stack_bytes: int | None = None,
                  heap_bytes: int | None = None) -> str:
    """Generate the GNU ld script for ``board``.

    Vector table, code and read-only data go to the layout's code region (Flash); ``.data``
    is loaded from Flash and runs in the data region; the stack is placed at the *bottom* of
    the data region (so overflowing it leaves the region and faults), followed by ``.data``,
    ``.bss`` and the heap.  The data region extends over the RAM regions that follow it
    without a gap (:func:`contiguous_ram`: the F469's SRAM1, SRAM2 and SRAM3 form one
    320 KiB block), so data may span them as it can on the chip.  Sections named ``.fast*`` (``__attribute__((section(".fast")))``)
    go to the layout's fast region (CCM / ITCM RAM) when the board has one.

    Parameters
    ----------
    board
        The board profile.
    data_region
        Override of the layout's data region (e.g. ``"ccm"`` or ``"sram1"``).
    code_region
        Override of the layout's code region, e.g. ``"flash_itcm"`` to run from the
        Cortex-M7's ITCM view of Flash (through the ART accelerator instead of the L1 cache).
    stack_bytes, heap_bytes
        Overrides of the layout's stack and heap sizes.
    """
    layout = board.layout
    data = board.region(data_region or layout.data)
    code = board.region(code_region or layout.code)
    if code.kind != "flash":
        raise ToolchainError(f"code region {code.name!r} is not Flash", board=board.name)
    if data.kind != "ram":
        raise ToolchainError(f"data region {data.name!r} is not RAM", board=board.name)
    stack = stack_bytes or layout.stack_bytes
    heap = heap_bytes or layout.heap_bytes
    span = contiguous_ram(board, data.name)
    memory = []
    for region in board.regions:
        if region.alias_of and region is not code:
            continue
        if region.name == code.alias_of or region in span[1:]:
            continue
        attrs = "rx" if region.kind == "flash" else "rwx"
        size = span[-1].end - region.start if region is data else region.size
        memory.append(f"  {region.name.upper()} ({attrs}) : ORIGIN = 0x{region.start:08x}, "
                      f"LENGTH = 0x{size:x}")
    fast = ""
    if layout.fast and layout.fast != data.name:
        fast_region = layout.fast.upper()
        fast = f"""
  .fast : {{
    . = ALIGN(4);
    *(.fast .fast.*)
    . = ALIGN(4);
  }} > {fast_region}
"""
    CODE, RAM = code.name.upper(), data.name.upper()
    return f"""/* Generated by mcusim from board profile {board.name} ({board.path.name}). */
ENTRY(Reset_Handler)

MEMORY
{{
{chr(10).join(memory)}
}}

SECTIONS
{{
  .isr_vector : {{
    . = ALIGN(4);
    KEEP(*(.isr_vector))
    . = ALIGN(4);
  }} > {CODE}

  .text : {{
    . = ALIGN(4);
    *(.text .text.*)
    *(.glue_7) *(.glue_7t) *(.eh_frame)
    KEEP(*(.init)) KEEP(*(.fini))
    . = ALIGN(4);
  }} > {CODE}

  .rodata : {{
    . = ALIGN(1024);  /* data starts on a fresh 1 KiB page: mcusim models its reads apart */
    *(.rodata .rodata.*)
    . = ALIGN(4);
  }} > {CODE}

  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {CODE}
  .ARM.exidx : {{
    __exidx_start = .;
    *(.ARM.exidx* .gnu.linkonce.armexidx.*)
    __exidx_end = .;
  }} > {CODE}
  .preinit_array : {{ KEEP(*(.preinit_array*)) }} > {CODE}
  .init_array : {{ KEEP(*(SORT(.init_array.*))) KEEP(*(.init_array*)) }} > {CODE}
  .fini_array : {{ KEEP(*(SORT(.fini_array.*))) KEEP(*(.fini_array*)) }} > {CODE}

  .stack (NOLOAD) : {{
    . = ALIGN(8);
    __mcusim_stack_bottom = .;
    . = . + 0x{stack:x};
    . = ALIGN(8);
    __mcusim_stack_top = .;
  }} > {RAM}

  _sidata = LOADADDR(.data);
  .data : {{
    . = ALIGN(4);
    _sdata = .;
    *(.data .data.*)
    . = ALIGN(4);
    _edata = .;
  }} > {RAM} AT> {CODE}

  .bss (NOLOAD) : {{
    . = ALIGN(4);
    _sbss = .;
    __bss_start__ = _sbss;
    *(.bss .bss.*)
    *(COMMON)
    . = ALIGN(4);
    _ebss = .;
    __bss_end__ = _ebss;
  }} > {RAM}

  .heap (NOLOAD) : {{
    . = ALIGN(8);
    __mcusim_heap_start = .;
    end = .;
    . = . + 0x{heap:x};
    __mcusim_heap_end = .;
  }} > {RAM}
{fast}
  .ARM.attributes 0 : {{ *(.ARM.attributes) }}
}}
"""


def contiguous_ram(board: Board, name: str) -> list[MemoryRegion]:
    """The RAM region ``name`` and the RAM regions that follow it without a gap, in address
    order (the fast region and aliases excluded): the memory the linker may fill from it."""
    start = board.region(name)
    rams = sorted((r for r in board.regions if r.kind == "ram" and not r.alias_of
                   and r.name != board.layout.fast), key=lambda r: r.start)
    span = [start]
    for r in rams:
        if r.start == span[-1].end:
            span.append(r)
    return span


def _normalise_defines(defines: Mapping[str, object] | Iterable[str] | None) -> list[str]:
    if not defines:
        return []
    if isinstance(defines, Mapping):
        return [f"-D{k}" if v is None or v is True else f"-D{k}={v}" for k, v in defines.items()]
    return [d if d.startswith("-D") else f"-D{d}" for d in defines]


def _hash_inputs(parts: Sequence[str], files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    for path in sorted(set(files)):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def build_firmware(sources: Sequence[str | Path], board: Board | str, *,
                   defines: Mapping[str, object] | Iterable[str] | None = None,
                   include_dirs: Sequence[str | Path] = (), opt: str = "-O2",
                   extra_cflags: Sequence[str] = (), data_region: str | None = None,
                   code_region: str | None = None, stack_bytes: int | None = None, heap_bytes: int | None = None,
                   runtime: bool = True, output: str | Path | None = None) -> BuildResult:
    """Compile and link ``sources`` into an ELF for ``board``.

    Parameters
    ----------
    sources
        C (``.c``) and assembly (``.s``/``.S``) files.
    board
        Board profile or its name/path.
    defines
        Preprocessor definitions, as a mapping (``{"N": 4}``) or strings (``"N=4"``).
    include_dirs
        Extra include directories (``firmware/include`` is always used).
    opt
        Optimisation flag.
    extra_cflags
        Further compiler flags.
    data_region, code_region, stack_bytes, heap_bytes
        Overrides of the board layout (see :func:`linker_script`).
    runtime
        Link mcusim's startup and system calls (turn off only for a program that brings its
        own vector table and reset handler).
    output
        Also copy the ELF there.

    Returns
    -------
    BuildResult

    Raises
    ------
    ToolchainError
        Compiler missing, a source missing, or compilation failed (with the compiler's
        messages).
    ImageTooLargeError
        The image does not fit a memory region (names the region and the overflow in bytes).
    """
    board = get_board(board)
    if output is not None and ("\0" in str(output) or Path(output).parent.is_dir()):
        check_output(output, "output ELF")   # a directory or a device: refused before compiling
    gcc = find_gcc()
    for src in sources:
        if not isinstance(src, (str, os.PathLike)):
            raise ToolchainError(f"a source must be a file path, got {type(src).__name__}")
        check_regular(src, MAX_SOURCE_BYTES, ToolchainError, "source file")
    srcs = [Path(s).resolve() for s in sources]
    for src in srcs:
        if src.suffix not in SOURCE_SUFFIXES:
            raise ToolchainError(f"unsupported source type {src.suffix!r} (use .c, .s or .S)",
                                 file=str(src))
    if runtime:
        srcs = srcs + [s for s in RUNTIME_SOURCES if s not in srcs]
    incs = [INCLUDE_DIR] + [Path(d).resolve() for d in include_dirs]
    script = linker_script(board, data_region=data_region, code_region=code_region,
                           stack_bytes=stack_bytes, heap_bytes=heap_bytes)
    flags = [*board.cflags, opt, "-g", "-std=c11", "-Wall", "-ffunction-sections",
             "-fdata-sections", *_normalise_defines(defines), *[f"-I{d}" for d in incs],
             *extra_cflags]
    link = ["-nostartfiles", "--specs=nano.specs", "-Wl,--no-warn-rwx-segments", "-lm"]
    headers = [h for d in {*incs, *(s.parent for s in srcs)} if d.is_dir()
               for h in d.glob("*.h")]
    key = _hash_inputs([_gcc_version(gcc), board.name, script, *flags, *link],
                       [*srcs, *headers])
    out_dir = cache_dir() / "build" / key
    elf = out_dir / "firmware.elf"
    command: list[str] = []
    cached = elf.exists()
    if not cached:
        tmp_dir = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
        tmp_dir.mkdir(parents=True, exist_ok=True)
        (tmp_dir / "board.ld").write_text(script)
        command = [gcc, *flags, *[str(s) for s in srcs], "-T", str(tmp_dir / "board.ld"),
                   f"-Wl,-Map={tmp_dir / 'firmware.map'}", "-o", str(tmp_dir / "firmware.elf"),
                   *link]
        import subprocess

        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            _raise_build_error(proc.stderr, board, srcs)
        try:
            tmp_dir.rename(out_dir)
        except OSError:  # another process built the same thing concurrently
            shutil.rmtree(tmp_dir, ignore_errors=True)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(elf, output)
    return BuildResult(elf=elf, cached=cached, command=tuple(command))


def _raise_build_error(stderr: str, board: Board, srcs: Sequence[Path]) -> None:
    overflow = _OVERFLOW_RE.search(stderr)
    nofit = _NOFIT_RE.search(stderr)
    if overflow or nofit:
        region = overflow.group(1) if overflow else nofit.group(2)  # type: ignore[union-attr]
        target = board.region(region.lower())
        span = contiguous_ram(board, target.name) if target.kind == "ram" else [target]
        size = span[-1].end - target.start
        raise ImageTooLargeError(
            f"the image does not fit region {region.lower()} of {board.name}",
            region=region.lower(), region_bytes=size,
            overflow_bytes=int(overflow.group(2)) if overflow else None,
            section=nofit.group(1) if nofit else None)
    lines = [l for l in stderr.strip().splitlines() if "error" in l or "undefined" in l]
    lines = lines or [l for l in stderr.strip().splitlines() if l.strip()]
    raise ToolchainError("compilation failed:\n" + "\n".join(lines[-30:]),
                         sources=", ".join(s.name for s in srcs))
