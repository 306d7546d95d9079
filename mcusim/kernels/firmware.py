"""Build the firmware of a kernel family (``firmware/<family>/``) for a board."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mcusim.boards import Board, get_board
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.errors import ToolchainError


def family_sources(family: str) -> list[Path]:
    """The C and assembly sources of ``firmware/<family>/`` (recursively), sorted."""
    folder = FIRMWARE_DIR / family
    if not folder.is_dir():
        raise ToolchainError(f"no firmware family {family!r}", folder=str(folder))
    return sorted(p for p in folder.rglob("*") if p.suffix in (".c", ".s", ".S"))


def build_family(board: Board | str, family: str, *, plain_c: bool = False,
                 also: Sequence[str] = (), opt: str = "-O2",
                 defines: dict[str, object] | None = None) -> Path:
    """Compile every source of a kernel family into one ELF (cached) and return its path.

    Parameters
    ----------
    board
        Board profile or name.
    family
        Folder name under ``firmware/`` (``s8``, ``packed``, ``trec``, ``basic``, ...).
    plain_c
        Define ``MNN_FORCE_PLAIN_C`` so that kernels take their plain-C (no DSP) path.
    also
        Further families linked into the same image.
    opt
        Optimisation flag.
    defines
        Extra preprocessor definitions.
    """
    board = get_board(board)
    sources = family_sources(family)
    for extra in also:
        sources += family_sources(extra)
    defs = dict(defines or {})
    if plain_c:
        defs["MNN_FORCE_PLAIN_C"] = 1
    return build_firmware(sources, board, defines=defs, opt=opt).elf
