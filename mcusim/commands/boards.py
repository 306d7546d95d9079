"""``mcusim boards``: list the built-in board profiles or show one."""

from __future__ import annotations

import argparse
import sys

from mcusim._files import read_regular
from mcusim.boards import MAX_PROFILE_BYTES, builtin_boards, get_board
from mcusim.commands._common import format_table, print_json
from mcusim.errors import ProfileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "boards", help="list built-in boards, or show one profile",
        description="List the built-in board profiles, or show the memory map of one.\n\n"
                    "examples:\n  mcusim boards\n  mcusim boards stm32f746zg\n"
                    "  mcusim boards ./my_board.toml --json\n"
                    "  mcusim boards stm32f407-16mhz --toml > my_board.toml   # start your own",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("board", nargs="?", help="a built-in name or a .toml profile to show")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--toml", action="store_true",
                   help="print the profile file itself (copy it to describe your own board)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.board is None:
        rows = []
        for name in builtin_boards():
            b = get_board(name)
            mhz = b.clock_hz // 1_000_000 if b.clock_hz % 1_000_000 == 0 else b.clock_hz / 1e6
            rows.append({"board": b.name, "core": b.core, "clock_mhz": mhz,
                         "flash_kib": b.flash_bytes // 1024, "sram_kib": b.sram_bytes // 1024,
                         "description": b.description})
        if args.json:
            print_json(rows)
        else:
            print(format_table(rows, ["board", "core", "clock_mhz", "flash_kib", "sram_kib",
                                      "description"]))
        return 0
    b = get_board(args.board)
    if args.toml:
        blob = read_regular(b.path, MAX_PROFILE_BYTES, ProfileError, "board profile")
        sys.stdout.write(blob.decode("utf-8", errors="replace"))
        return 0
    regions = [{"region": r.name, "kind": r.kind, "start": f"0x{r.start:08x}",
                "size_kib": r.size // 1024, "wait_states": r.wait_states,
                "miss_cycles": r.line_miss_cycles, "icache": r.icache, "dcache": r.dcache, "alias_of": r.alias_of}
               for r in b.regions]
    if args.json:
        print_json({"board": b.name, "core": b.core, "clock_hz": b.clock_hz,
                    "regions": regions, "sources": list(b.sources), "file": str(b.path)})
        return 0
    print(f"{b.name}: {b.description}\n  core {b.core}, {b.clock_hz / 1e6:g} MHz, profile {b.path}")
    print(format_table(regions, list(regions[0])))
    for name, c in b.caches.items():
        state = "" if c.enabled else " (disabled)"
        print(f"  cache {name}: {c.lines} x {c.line_bytes} B, {c.ways}-way"
              f"{', prefetch' if c.prefetch else ''}{state}")
    return 0
