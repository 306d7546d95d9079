"""UsageFaults Unicorn does not raise: unaligned multi-word accesses and division by zero.

On a Cortex-M4/M7, LDRD/STRD, LDM/STM, VLDR/VSTR and VLDM/VSTM fault when their address is
not word aligned, whatever CCR.UNALIGN_TRP says (ARMv7-M ARM, A3.2.1 "Alignment behavior"),
and SDIV/UDIV by zero fault when CCR.DIV_0_TRP is set (B3.2.8).  Unicorn 2.1 (QEMU 5.0)
does neither: the access or the division just happens.

:func:`find_sites` decodes the image once (the result is cached per distinct code) and lists
those instructions (skipping SP- and PC-based ones: SP is always word aligned on M-profile,
and literal offsets are multiples of 4); the machine then registers one native code hook per site (``begin == end``, so Unicorn
calls it only for that instruction) which reads the base or divisor register and stops the
run with a report the machine turns into a :class:`~mcusim.errors.UsageFault`.

Unicorn walks every code hook each time a hooked instruction runs, so a site costs more the
more sites there are.  Divisions are few and rarely in inner loops, so they are always
hooked (the hook reads CCR from the emulated SCB each time).  The alignment sites are hooked
unless the machine is built with ``check_alignment=False``, for code that runs LDRD/LDM in its
hottest loops (``benchmarks/fault_checks_overhead.py`` measures the cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcusim._image_cache import cached_analysis
from mcusim.loader import LoadedImage

KIND_ALIGN = 1
KIND_DIV = 2
KIND_NAMES = {KIND_ALIGN: "UNALIGNED", KIND_DIV: "DIVBYZERO"}
SCB_CCR = 0xE000_ED14        # ARMv7-M ARM B3.2.8: Configuration and Control Register
CCR_DIV_0_TRP = 1 << 4

#: Instructions that fault when their address is not word aligned.
ALIGNED_OPS = frozenset({"ldrd", "strd", "ldm", "ldmdb", "stm", "stmdb", "vldr", "vstr",
                         "vldmia", "vldmdb", "vstmia", "vstmdb"})
DIVIDE_OPS = frozenset({"udiv", "sdiv"})
#: Capstone's names of r9-r12 -> the register names Unicorn's ids use.
ALIASES = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12"}
_ALIASES = ALIASES

# Report layout (uint64 array shared by every site of a machine).
R_KIND, R_PC, R_VALUE = 0, 1, 2
REPORT_WORDS = 4
# Per-site descriptor layout.
D_KIND, D_REG, D_FN_REG, D_FN_STOP, D_REPORT, D_CCR, D_VALUE = range(7)
DESC_WORDS = 8


@dataclass(frozen=True)
class Site:
    """One instruction to check: ``kind`` (:data:`KIND_ALIGN` / :data:`KIND_DIV`) and the
    register whose value decides (base address or divisor), as ``r0``..``r12``/``lr``."""

    address: int
    kind: int
    reg: str
    text: str


def find_sites(image: LoadedImage, *, alignment: bool, division: bool) -> list[Site]:
    """The instructions of the executable sections to hook (see the module docstring).

    Decoded once per distinct code (:func:`mcusim._image_cache.cached_analysis`: in memory
    and in the disk cache, so a warm process neither decodes nor imports Capstone).
    """
    if not (alignment or division):
        return []
    rows = cached_analysis(image, "trap-sites", lambda: [
        (s.address, s.kind, s.reg, s.text) for s in decode_sites(image)],
        depends=("mcusim.traps", "mcusim.decoder", "capstone"))
    return [Site(*row) for row in rows
            if (alignment if row[1] == KIND_ALIGN else division)]


def decode_sites(image: LoadedImage, *, alignment: bool = True,
                 division: bool = True) -> list[Site]:
    """:func:`find_sites` without the cache: decode the image's executable sections."""
    from mcusim.decoder import get_decoder

    wanted = (ALIGNED_OPS if alignment else frozenset()) | (DIVIDE_OPS if division else
                                                            frozenset())
    if not wanted:
        return []
    decoder = get_decoder()
    sites = []
    for sec in image.sections:
        if not sec.executable or sec.nobits:
            continue
        for insn in decoder.find(sec.address, image.read(sec.address, sec.size), wanted):
            if insn.name in DIVIDE_OPS:
                reg, kind = insn.op_str.split(",")[-1].strip(), KIND_DIV
            else:
                reg, kind = (insn.mem_base or ""), KIND_ALIGN
            reg = _ALIASES.get(reg, reg)
            if reg in ("sp", "pc", ""):
                continue
            sites.append(Site(insn.address, kind, reg, f"{insn.mnemonic} {insn.op_str}"))
    return sites


def new_report() -> np.ndarray:
    return np.zeros(REPORT_WORDS, dtype=np.uint64)


def descriptor(site: Site, reg_id: int, fn_reg: int, fn_stop: int, report: np.ndarray,
               ccr_host: int) -> np.ndarray:
    """The user data of one site's native hook."""
    desc = np.zeros(DESC_WORDS, dtype=np.uint64)
    desc[D_KIND], desc[D_REG], desc[D_FN_REG], desc[D_FN_STOP] = site.kind, reg_id, fn_reg, fn_stop
    desc[D_REPORT], desc[D_CCR] = report.ctypes.data, ccr_host
    return desc
