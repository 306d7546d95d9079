"""CoreMark under mcusim against published CoreMark/MHz: the calibration table.

Builds EEMBC's CoreMark (the sources are not part of mcusim: pass the folder of a CoreMark
release, default ``../shared/bench-src/coremark`` relative to the repository) with the port
in ``benchmarks/coremark_port/`` (DWT CYCCNT timing: mcusim serves it with the modelled
cycles; printf into mcusim's stdout buffer) for each board and memory configuration, runs
it, checks CoreMark's self-check CRCs, and reports CoreMark/MHz = iterations x 10^6 /
cycles next to the published figure of the same core and chip, and the ratio
simulated / published.

Configurations:

* ``stm32f469i``: code in Flash (5 WS) through the ART accelerator (I-cache, D-cache,
  prefetch: the set-up of ST's figure), and with the ART and prefetch off;
* ``stm32f746zg``: code in Flash on AXI through the L1 caches (the default layout), code in
  the ITCM view of Flash through the ART, and with every cache off; data in DTCM.

Published figures (all "from Flash with the accelerator/caches on", other compilers):

* Arm: Cortex-M4 3.40 CoreMark/MHz, Cortex-M7 5.01 CoreMark/MHz (Arm's processor
  comparison, as tabulated e.g. in D. Ibrahim, "ARM-Based Microcontroller Projects Using
  MBED", Table 3.2);
* ST: STM32F746 1082 CoreMark at 216 MHz (DS10916 features; AN4667 introduction: "1082
  CoreMark ... whether the code is executed from the embedded Flash memory, ..." = 5.01
  /MHz); STM32F469 608 CoreMark at 180 MHz (ST's STM32F429/439/469/479 performance
  figure = 3.38 /MHz).

CoreMark's run rules want at least 10 s of run time; a simulation runs a few iterations
(CoreMark/MHz does not depend on the count once it is above ~10), so its "must execute for
at least 10 secs" error is expected and is not a validation failure: the CRC checks are.

Usage: ``python benchmarks/coremark.py [COREMARK_DIR] [--iterations 10] [--opt -O3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

from mcusim.boards import Board, get_board
from mcusim.build import build_firmware
from mcusim.errors import ToolchainError
from mcusim.machine import Machine

REPO = Path(__file__).resolve().parent.parent
# ../shared/bench-src/coremark next to the repository (or next to the folder of its git
# worktrees, for a checkout in <work>/wt/<name>)
DEFAULT_SOURCES = next((p for p in (REPO.parent / "shared" / "bench-src" / "coremark",
                                    REPO.parent.parent / "shared" / "bench-src" / "coremark")
                        if p.is_dir()), REPO.parent / "shared" / "bench-src" / "coremark")
PORT_DIR = Path(__file__).resolve().parent / "coremark_port"
CORE_FILES = ("core_list_join.c", "core_main.c", "core_matrix.c", "core_state.c",
              "core_util.c")

#: Published CoreMark/MHz per core (Arm) and per chip (ST), see the module docstring.
PUBLISHED_CORE = {"cortex-m4": 3.40, "cortex-m7": 5.01}
PUBLISHED_CHIP = {"stm32f469i": 608 / 180, "stm32f746zg": 1082 / 216}

#: (board, configuration name, code region or None, caches on)
CONFIGS = [
    ("stm32f469i", "Flash + ART", None, True),
    ("stm32f469i", "Flash, ART and prefetch off", None, False),
    ("stm32f746zg", "AXI Flash + L1 caches", None, True),
    ("stm32f746zg", "ITCM Flash + ART", "flash_itcm", True),
    ("stm32f746zg", "Flash, all caches off", None, False),
]

_CRC_RE = re.compile(r"\[0\](crclist|crcmatrix|crcstate|crcfinal)\s*:\s*0x([0-9a-f]{4})")
#: CoreMark's known CRCs of the performance run (seeds 0, 0, 0x66, 2000 bytes): core_main.c
KNOWN = {"seedcrc": 0xE9F5, "crclist": 0xE714, "crcmatrix": 0x1FD7, "crcstate": 0x8E3A}


def without_caches(board: Board) -> Board:
    """``board`` with every cache and prefetch buffer disabled (FLASH_ACR ICEN/DCEN/PRFTEN
    cleared; the M7's L1 caches not enabled)."""
    caches = {k: dataclasses.replace(c, enabled=False, prefetch=False)
              for k, c in board.caches.items()}
    return dataclasses.replace(board, caches=caches)


#: GCC flags: -O3 with loop unrolling and more inlining, the usual GCC CoreMark recipe
#: (CoreMark's run rules let the flags be chosen; they are printed in the report).
GCC_FLAGS = ("-funroll-loops", "-finline-limit=600", "-fno-common")


def run_coremark(src_dir: Path, board: Board, *, iterations: int = 10, opt: str = "-O3",
                 code_region: str | None = None,
                 cflags: tuple[str, ...] = GCC_FLAGS) -> dict:
    """Build and run CoreMark once; returns the parsed report.

    Returns
    -------
    dict
        ``ticks`` (modelled cycles of the timed iterations), ``iterations``,
        ``coremark_per_mhz``, ``crcs`` (name -> value), ``valid`` (every self-check CRC
        matches CoreMark's known values and no CRC error was printed), ``output``.
    """
    src_dir = Path(src_dir)
    missing = [f for f in CORE_FILES if not (src_dir / f).is_file()]
    if missing:
        raise ToolchainError("not a CoreMark source folder", file=str(src_dir),
                             missing=", ".join(missing))
    flags = " ".join([opt, *cflags, *board.cflags])
    elf = build_firmware([*(src_dir / f for f in CORE_FILES), PORT_DIR / "core_portme.c"],
                         board, opt=opt, include_dirs=[PORT_DIR, src_dir],
                         defines={"ITERATIONS": iterations, "MCUSIM_CLOCK_HZ": board.clock_hz,
                                  "FLAGS_STR": f'"\\"{flags}\\""'},
                         extra_cflags=["-Wno-unused", *cflags],
                         code_region=code_region).elf
    m = Machine(board, elf, budget=None, timeout=600)
    m.run()
    out = m.stdout()
    ticks = re.search(r"Total ticks\s*:\s*(\d+)", out)
    seed = re.search(r"seedcrc\s*:\s*0x([0-9a-f]{4})", out)
    crcs = {name: int(value, 16) for name, value in _CRC_RE.findall(out)}
    if seed:
        crcs["seedcrc"] = int(seed.group(1), 16)
    cycles = int(ticks.group(1)) if ticks else 0
    valid = (all(crcs.get(k) == v for k, v in KNOWN.items())
             and "ERROR! list crc" not in out and "ERROR! matrix crc" not in out
             and "ERROR! state crc" not in out)
    return {"ticks": cycles, "iterations": iterations,
            "coremark_per_mhz": iterations * 1e6 / cycles if cycles else 0.0,
            "crcs": crcs, "valid": valid, "output": out}


def table(src_dir: Path, iterations: int, opt: str) -> list[dict]:
    """One row per configuration of :data:`CONFIGS`."""
    rows = []
    for name, config, code_region, cached in CONFIGS:
        board = get_board(name)
        if not cached:
            board = without_caches(board)
        res = run_coremark(src_dir, board, iterations=iterations, opt=opt,
                           code_region=code_region)
        sim = res["coremark_per_mhz"]
        rows.append({"board": name, "config": config, "valid": res["valid"],
                     "cycles_per_iter": res["ticks"] / iterations, "sim": sim,
                     "core": PUBLISHED_CORE[board.core], "chip": PUBLISHED_CHIP[name],
                     "ratio_core": sim / PUBLISHED_CORE[board.core],
                     "ratio_chip": sim / PUBLISHED_CHIP[name]})
    return rows


def format_table(rows: list[dict], iterations: int, opt: str) -> str:
    lines = [f"CoreMark {iterations} iterations, arm-none-eabi-gcc {opt} "
             f"{' '.join(GCC_FLAGS)} (the published figures were measured with Arm's and "
             "IAR's compilers)", "",
             "| board | configuration | CRCs | cycles/iteration | CoreMark/MHz sim | Arm core "
             "| ST chip | sim/core | sim/chip |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['board']} | {r['config']} | {'ok' if r['valid'] else 'FAIL'} | "
                     f"{r['cycles_per_iter']:,.0f} | {r['sim']:.2f} | {r['core']:.2f} | "
                     f"{r['chip']:.2f} | {r['ratio_core']:.2f} | {r['ratio_chip']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="?", type=Path, default=DEFAULT_SOURCES,
                    help="folder of EEMBC's CoreMark release (core_main.c, ...)")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--opt", default="-O3")
    args = ap.parse_args(argv)
    rows = table(args.sources, args.iterations, args.opt)
    text = format_table(rows, args.iterations, args.opt)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _readme import publish

    print(text)
    publish("coremark-table", text)
    return 0 if all(r["valid"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
