"""The raw-Unicorn baseline of the speed benchmarks: one ELF, one call, no mcusim.

What a user would write to run a firmware function under Unicorn by hand: read the board's
memory map from its profile (tomllib), map Flash first and then each RAM region (mem_map),
load the ELF's segments with pyelftools, place zero-filled buffer arguments after the
image, call the function with AAPCS arguments and return to a BKPT page.  It imports
neither mcusim nor numpy, so a process running it measures Unicorn's own start-up and speed.

Usage (arguments as ``mcusim run --call``: integers and ``zeros:DTYPE:N`` buffers)::

    python benchmarks/_raw_unicorn.py BOARD.toml FW.elf SYMBOL [ARG ...]
"""

from __future__ import annotations

import sys
import tomllib

import unicorn as uc
from elftools.elf.elffile import ELFFile
from unicorn import arm_const as arm

_SIZES = {"KiB": 1 << 10, "MiB": 1 << 20}
_ITEM = {"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
         "float32": 4}
_TRAMPOLINE = 0x0FFF_FC00


def _size(value: int | str) -> int:
    if isinstance(value, int):
        return value
    number, unit = value.split()
    return int(number) * _SIZES[unit]


def run(board_toml: str, elf_path: str, symbol: str, args: list[str]) -> int:
    """Run ``symbol(args)``; returns r0."""
    with open(board_toml, "rb") as f:
        board = tomllib.load(f)
    cpu = {"cortex-m4": arm.UC_CPU_ARM_CORTEX_M4, "cortex-m7": arm.UC_CPU_ARM_CORTEX_M7}
    mu = uc.Uc(uc.UC_ARCH_ARM, uc.UC_MODE_THUMB | uc.UC_MODE_MCLASS)
    mu.ctl_set_cpu_model(cpu[board["core"]])
    regions = [r for r in board["regions"] if "alias_of" not in r]
    regions.sort(key=lambda r: r["kind"] != "flash")          # Flash first
    for r in regions:
        mu.mem_map(r["start"], _size(r["size"]), uc.UC_PROT_ALL)
    mu.mem_map(_TRAMPOLINE, 1024, uc.UC_PROT_ALL)
    mu.mem_write(_TRAMPOLINE, b"\xac\xbe" * 512)              # bkpt #0xac
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        end = 0
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or not seg["p_memsz"]:
                continue
            data = seg.data()
            mu.mem_write(seg["p_paddr"], data)
            mu.mem_write(seg["p_vaddr"], data + bytes(seg["p_memsz"] - len(data)))
            if seg["p_vaddr"] >= 0x2000_0000:
                end = max(end, seg["p_vaddr"] + seg["p_memsz"])
        symtab = elf.get_section_by_name(".symtab")
        target = symtab.get_symbol_by_name(symbol)[0]["st_value"] & ~1
    data_region = next(r for r in board["regions"] if r["name"] == board["layout"]["data"])
    free = (end + 63) & ~63
    values = []
    for arg in args:
        if arg.startswith("zeros:"):
            _, dtype, count = arg.split(":")
            nbytes = _ITEM[dtype] * int(count, 0)
            values.append(free)
            mu.mem_write(free, bytes(nbytes))
            free = (free + nbytes + 63) & ~63
        else:
            values.append(int(arg, 0) & 0xFFFF_FFFF)
    regs = [arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_R2, arm.UC_ARM_REG_R3]
    for reg, value in zip(regs, values):
        mu.reg_write(reg, value)
    sp = (data_region["start"] + _size(data_region["size"])) & ~7
    for value in reversed(values[4:]):
        sp -= 4
        mu.mem_write(sp, value.to_bytes(4, "little"))
    mu.reg_write(arm.UC_ARM_REG_SP, sp)
    mu.reg_write(arm.UC_ARM_REG_LR, _TRAMPOLINE | 1)
    mu.hook_add(uc.UC_HOOK_INTR, lambda u, intno, data: u.emu_stop())
    mu.emu_start(target | 1, _TRAMPOLINE)
    return mu.reg_read(arm.UC_ARM_REG_R0)


def main(argv: list[str]) -> int:
    board_toml, elf_path, symbol, *args = argv
    print(f"r0 = {run(board_toml, elf_path, symbol, args):#x}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
