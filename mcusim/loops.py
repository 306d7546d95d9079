"""Counted loops: one-block loops whose repeats the native hooks count without a hook call.

The int8 kernels spend nearly all their time in loops of one block (``ldrsb; ldrsb; cmp;
smlabb; bne``).  With a block hook on such a block, Unicorn calls the hook on every repeat,
and that call costs about a fifth of the raw speed however little the hook does
(``benchmarks/hook_variants.py``).  A *counted loop* is translated once without any hook
(:meth:`mcusim.engine.Engine.pretranslate`), so its repeats run at raw speed; a native code
hook on its closing branch -- which runs in the (hooked) block that enters the loop -- reads
the loop's induction register there and works out how many times the loop will run
(``loop_hook`` in ``_native_hooks.c``); the block hook of the block after it then counts those
executions as if it had seen each one (its entry edge, count, self edge, fetches, budget).

This module finds the loops for which that count is exact, from the code alone:

* the block ``[start, branch]`` ends in ``BNE start`` and has no other branch, no IT block, no
  conditional instruction, no SP or PC write, no division (timed by a code hook) and no
  exception-generating instruction;
* exactly one instruction writes the *induction register*, by a constant step: ``ADD``/``SUB``
  with an immediate, or a load/store with immediate writeback on it as the base;
* the last flag-setting instruction compares that register with an immediate or with a
  register the block does not write (``CMP``), or is the update itself (``SUBS``/``ADDS``
  against zero);
* the loop can only be entered through its closing branch's code in a hooked block: the
  instruction before ``start`` is no branch (nor anything else that ends a translation
  block, which would make ``start`` a block of its own), no direct branch but the loop's own
  targets ``start``, ``start`` is no function's entry, and the function holding it has no
  table or register-indirect branch;
* the block lies within one 1 KiB page of Unicorn's ARM translation and does not start one
  (a page boundary ends the block before it, which would enter the loop without the hook).

Whether a loop is used on a given machine also depends on the machine (code in Flash, no
trap hook inside it, no shared I/D cache model): see :meth:`mcusim.machine.Machine`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcusim._image_cache import cached_analysis
from mcusim.loader import LoadedImage

__all__ = ["CountedLoop", "find_loops", "decode_loops"]

#: Unicorn's target page size for ARM (TARGET_PAGE_BITS 10): a block never crosses one.
TRANSLATION_PAGE = 1024
#: Longest loop body considered (bytes).
MAX_BODY = 256
_CORE = frozenset({f"r{i}" for i in range(13)} | {"sb", "sl", "fp", "ip", "lr"})
_ALIASES = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12"}
_FORBIDDEN = frozenset({"it", "svc", "bkpt", "udf", "wfi", "wfe", "sev", "sdiv", "udiv",
                        "undefined", "cpsid", "cpsie", "msr", "mrs", "isb", "dsb", "dmb"})
_BRANCHES = frozenset({"b", "bl", "blx", "cbz", "cbnz", "bx", "tbb", "tbh"})
_IMM = r"#(-?(?:0x[0-9a-f]+|\d+))"
_ADD_SUB = re.compile(rf"^(\w+), (?:(\w+), )?{_IMM}$")
_POST_INDEX = re.compile(rf"\], {_IMM}$")
_CMP = re.compile(rf"^(\w+), (?:(\w+)|{_IMM})$")


@dataclass(frozen=True)
class CountedLoop:
    """A one-block loop whose executions follow from its induction register.

    Attributes
    ----------
    start, size
        The block (Unicorn's translation block): first address and bytes.
    branch
        Address of its closing ``BNE start`` (where the native code hook sits).
    register, step
        The induction register (``r0``..``r12``, ``lr``) and its change per execution.
    update
        Address of the instruction that changes it.
    compare_register, compare_value
        What it is compared with: a register the loop does not write, or (``None``) the
        immediate ``compare_value``.
    compared_before_update
        The compare precedes the update in the block (it sees the value before the step).
    """

    start: int
    size: int
    branch: int
    register: str
    step: int
    update: int
    compare_register: str | None
    compare_value: int
    compared_before_update: bool


def find_loops(image: LoadedImage) -> list[CountedLoop]:
    """The counted loops of ``image`` (:func:`decode_loops`, computed once per distinct code:
    :func:`mcusim._image_cache.cached_analysis`)."""
    rows = cached_analysis(image, "counted-loops", lambda: [
        tuple(vars(loop).values()) for loop in decode_loops(image)],
        depends=("mcusim.loops", "mcusim.decoder", "capstone"))
    return [CountedLoop(*row) for row in rows]


def decode_loops(image: LoadedImage) -> list[CountedLoop]:
    """:func:`find_loops` without the cache: decode the image's executable sections."""
    from mcusim.decoder import get_decoder

    decoder = get_decoder()
    funcs = [(s.address, s.address + s.size) for s in image.symbols
             if s.kind == "func" and s.size]
    entries = {s.address for s in image.symbols if s.kind == "func"}
    found: list[CountedLoop] = []
    for sec in image.sections:
        if not sec.executable or sec.nobits:
            continue
        code = image.read(sec.address, sec.size)
        branches = decoder.find(sec.address, code, _BRANCHES)
        targets: dict[int, int] = {}
        for insn in branches:
            if insn.target is not None:
                targets[insn.target] = targets.get(insn.target, 0) + 1
        indirect = [insn.address for insn in branches
                    if insn.name in ("tbb", "tbh") or (insn.name in ("bx", "blx")
                                                       and insn.target is None
                                                       and insn.op_str != "lr")]
        ends = {a + size: (a, name) for a, size, name in decoder.outline(sec.address, code)}
        for insn in branches:
            start = insn.target
            if (insn.mnemonic.split(".")[0] != "bne" or start is None
                    or not 0 < insn.address - start <= MAX_BODY or start in entries
                    or targets.get(start) != 1):
                continue
            end = insn.address + insn.size
            if start % TRANSLATION_PAGE == 0 or start // TRANSLATION_PAGE != (end - 1) // \
                    TRANSLATION_PAGE:
                continue
            func = next(((lo, hi) for lo, hi in funcs if lo <= start < hi), None)
            if func is None or any(func[0] <= a < func[1] for a in indirect):
                continue
            before = ends.get(start)
            if before is None:
                continue
            pred = decoder.decode_one(before[0], image.read(before[0], start - before[0]))
            if pred.writes_pc or pred.name in _FORBIDDEN:   # it ends a block: one would
                continue                                    # start at the loop
            body = decoder.decode_block(start, image.read(start, end - start)).insns
            loop = _counted(body, insn.address)
            if loop is not None:
                found.append(loop)
    return found


def _reg(name: str | None) -> str | None:
    return None if name is None else _ALIASES.get(name, name)


def _imm(text: str) -> int:
    return int(text, 0)


def _counted(body: tuple, branch: int) -> CountedLoop | None:
    """The loop of the decoded block ``body`` (ending in the BNE at ``branch``), or None."""
    *insns, last = body
    if last.address != branch or not insns:
        return None
    writers: dict[str, list] = {}
    for insn in insns:
        if (insn.name in _FORBIDDEN or insn.writes_pc or insn.conditional or insn.in_it
                or "sp" in insn.regs_write or "pc" in insn.regs_write):
            return None
        for reg in insn.regs_write:
            if reg in _CORE:
                writers.setdefault(_reg(reg) or reg, []).append(insn)
    flags = next((i for i in reversed(insns) if i.sets_flags), None)
    if flags is None:
        return None
    start = body[0].address
    size = last.address + last.size - start
    candidates: list[tuple[str, int | None, int]] = []    # (register, compared-with, imm)
    if flags.name == "cmp" and not flags.shifted:
        m = _CMP.match(flags.op_str)
        if m is None:
            return None
        a, b, imm = _reg(m.group(1)), _reg(m.group(2)), m.group(3)
        if imm is not None:
            candidates.append((a or "", None, _imm(imm)))
        else:
            candidates += [(a or "", b, 0), (b or "", a, 0)]
    elif flags.name in ("add", "sub"):
        m = _ADD_SUB.match(flags.op_str)
        if m is None:
            return None
        candidates.append((_reg(m.group(1)) or "", None, 0))
    for reg, other, value in candidates:
        ws = writers.get(reg, [])
        if len(ws) != 1 or (other is not None and other in writers) or other == reg:
            continue
        step = _step(ws[0], reg)
        if not step:
            continue
        if flags.name != "cmp" and ws[0] is not flags:
            continue
        return CountedLoop(start=start, size=size, branch=last.address, register=reg,
                           step=step, update=ws[0].address, compare_register=other,
                           compare_value=value & 0xFFFF_FFFF,
                           compared_before_update=flags.address < ws[0].address)
    return None


def _step(insn: object, reg: str) -> int:
    """The constant change of ``reg`` by ``insn`` (its only writer), 0 when not constant."""
    name, ops = insn.name, insn.op_str  # type: ignore[attr-defined]
    if insn.shifted:  # type: ignore[attr-defined]
        return 0
    if name in ("add", "sub"):
        m = _ADD_SUB.match(ops)
        if m is None or _reg(m.group(1)) != reg or _reg(m.group(2) or m.group(1)) != reg:
            return 0
        value = _imm(m.group(3))
        return value if name == "add" else -value
    if (insn.writeback and _reg(insn.mem_base) == reg  # type: ignore[attr-defined]
            and insn.mem_index is None and insn.reg_list == 0  # type: ignore[attr-defined]
            and name in ("ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "str", "strb", "strh")):
        if name.startswith("ldr") and _reg(ops.split(",", 1)[0].strip()) == reg:
            return 0
        if ops.endswith("]!"):
            return int(insn.mem_disp)  # type: ignore[attr-defined]
        m = _POST_INDEX.search(ops)
        return _imm(m.group(1)) if m else 0
    return 0
