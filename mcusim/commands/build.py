"""``mcusim build``: cross-compile C/assembly for a board."""

from __future__ import annotations

import argparse

from mcusim.commands._common import add_board, format_table, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", help="cross-compile C/assembly sources into an ELF for a board",
        description="Compile and link SOURCES with arm-none-eabi-gcc for the board's core, "
                    "with mcusim's startup code and a linker script generated from the board "
                    "profile. Prints section sizes and memory use; fails with the region and "
                    "the overflow in bytes if the image does not fit. Builds are cached.\n\n"
                    "example:\n  mcusim build firmware/basic/mcu_dot_s8.c --board stm32f746zg -o dot.elf",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", metavar="SOURCE", help=".c, .s or .S files")
    add_board(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.elf", help="where to write the ELF")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]",
                   help="preprocessor definition (repeatable)")
    p.add_argument("-I", dest="includes", action="append", default=[], metavar="DIR",
                   help="include directory (repeatable; firmware/include is always used)")
    p.add_argument("-O", dest="opt", default="2", metavar="LEVEL",
                   help="optimisation level (default: 2)")
    p.add_argument("--data-region", metavar="REGION",
                   help="region for .data/.bss/stack/heap (default: the profile's layout, e.g. "
                        "sram1; e.g. ccm or dtcm)")
    p.add_argument("--code-region", metavar="REGION",
                   help="Flash region for code (default: the profile's layout; e.g. flash_itcm "
                        "on stm32f746zg to fetch through ITCM and the ART accelerator)")
    p.add_argument("--stack", type=int, metavar="BYTES", help="stack size (default: profile)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mcusim.boards import get_board
    from mcusim.build import build_firmware
    from mcusim.loader import load_elf
    from mcusim.sizes import region_use, section_table

    board = get_board(args.board)
    res = build_firmware(args.sources, board, defines=args.defines, include_dirs=args.includes,
                         opt=f"-O{args.opt}", data_region=args.data_region,
                         code_region=args.code_region,
                         stack_bytes=args.stack, output=args.output)
    image = load_elf(res.elf)
    sections = section_table(image, board)
    use = region_use(image, board)
    if args.json:
        print_json({"elf": args.output, "board": board.name, "cached": res.cached,
                    "sections": sections,
                    "regions": [{"region": u.region, "used": u.used, "size": u.size}
                                for u in use]})
        return 0
    print(f"built {args.output} for {board.name} ({board.core})"
          f"{' [cached]' if res.cached else ''}\n")
    print(format_table(sections, ["section", "address", "size", "region", "load_region"]))
    print()
    print(format_table([{"region": u.region, "kind": u.kind, "used": u.used, "size": u.size,
                         "use_%": round(u.percent, 1)} for u in use],
                       ["region", "kind", "used", "size", "use_%"]))
    return 0
