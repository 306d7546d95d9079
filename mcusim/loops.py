"""Counted loops: one-block loops whose repeats the native hooks count without a hook call.

The int8 kernels spend nearly all their time in loops of one block (``ldrsb; ldrsb; cmp;
smlabb; bne``).  With a block hook on such a block, Unicorn calls the hook on every repeat,
and that call costs an eighth of the raw speed even when the hook does nothing, a quarter as
the hook counts (``benchmarks/hook_variants.py``).  A *counted loop* is translated without any hook
(:meth:`mcusim.engine.Engine.pretranslate`), so its repeats run at raw speed; a native code
hook on its closing branch -- which runs in the (hooked) block that enters the loop -- reads
the loop's induction register there and works out how many times the loop will run
(``loop_hook`` in ``_native_hooks.c``); the block hook of the block after it then counts those
executions as if it had seen each one (its entry edge, count, self edge, fetches, budget).

This module finds the loops for which that count is exact, from the code alone:

* the block ``[start, branch]`` ends in a conditional branch back to ``start`` (``BNE``, or
  an unsigned or signed ordered one: ``BLO``/``BLS``/``BHI``/``BHS``, ``BLT``/``BLE``/
  ``BGT``/``BGE``) and has no other branch, no IT block, no conditional instruction, no SP
  or PC write, no division (timed by a code hook) and no exception-generating instruction;
* exactly one instruction writes the *induction register*, by a constant step: ``ADD``/``SUB``
  with an immediate, or a load/store with immediate writeback on it as the base;
* the last flag-setting instruction compares that register (``CMP``) with an immediate or
  with a register that holds the same value in every execution -- one the block does not
  write, or one it last loads from a stack slot before the compare when the block stores
  nothing -- or is the update itself (``SUBS``: the flags of comparing the value before the
  step with the immediate; ``ADDS`` with ``BNE``: the value after it against zero);
* the loop ends before its register wraps around (checked at run time: the loop hook works
  the executions out from the register's value, and a loop that would not end within one
  sweep runs with the hooks);
* the loop can only be entered through its closing branch's code in a hooked block: the
  instruction before ``start`` is no branch (nor anything else that ends a translation
  block, which would make ``start`` a block of its own), no direct branch but the loop's own
  targets ``start``, ``start`` is no function's entry, and the function holding it has no
  table or register-indirect branch;
* the block lies within one 1 KiB page of Unicorn's ARM translation and does not start one
  (a page boundary ends the block before it, which would enter the loop without the hook),
  and at most :data:`MAX_RUN_IN` instructions of straight-line code lead into it (nor does
  the instruction limit of a block).

Whether a loop is used on a given machine also depends on the machine (code in Flash, no
trap hook inside it, no shared I/D cache model): see :meth:`mcusim.machine.Machine`.  An entry
into a counted loop costs more than one into a hooked loop, so a machine retires a loop
whose entries run too few executions to pay for that (:func:`min_executions`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcusim._image_cache import cached_analysis
from mcusim._native_layout import LOOP_MIN_ENTRIES
from mcusim.loader import LoadedImage
from mcusim.traps import ALIASES

__all__ = ["CountedLoop", "find_loops", "decode_loops"]

#: Unicorn's target page size for ARM (TARGET_PAGE_BITS 10): a block never crosses one.
TRANSLATION_PAGE = 1024
#: Longest loop body considered (bytes).
MAX_BODY = 256
#: Host instructions (callgrind; ``benchmarks/loop_entry_cost.py`` counts them): what a
#: repeat of a one-block loop costs the block hook, what an entry costs a counted loop beyond
#: that with no other code hook (the loop hook, its register reads, Unicorn's exit check
#: after a code hook, the count), and what each native code hook adds to an entry (Unicorn
#: walks every code hook each time a hooked instruction runs).
REPEAT_COST = 13.0
ENTRY_COST = 146.0
WALK_COST = 16.0
#: Entries seen before a machine judges whether a loop pays (see :func:`min_executions`).
MIN_ENTRIES = LOOP_MIN_ENTRIES


def min_executions(code_hooks: int) -> float:
    """Executions per entry, on average, from which counting a loop without hooks costs less
    than hooking it, with ``code_hooks`` native code hooks registered: a machine retires a
    counted loop whose entries run fewer, in the run (the loop hook stops it, and the machine
    removes the hook and resumes)."""
    return (ENTRY_COST + WALK_COST * code_hooks) / REPEAT_COST
#: Longest straight-line code before a loop: Unicorn ends a block after 512 instructions
#: (TCG_MAX_INSNS), which must not happen exactly at the loop's start.
MAX_RUN_IN = 128
_CORE = frozenset({f"r{i}" for i in range(13)} | {"sb", "sl", "fp", "ip", "lr"})
_FORBIDDEN = frozenset({"it", "svc", "bkpt", "udf", "wfi", "wfe", "sev", "sdiv", "udiv",
                        "undefined", "cpsid", "cpsie", "msr", "mrs", "isb", "dsb", "dmb"})
_BRANCHES = frozenset({"b", "bl", "blx", "cbz", "cbnz", "bx", "tbb", "tbh"})
_IMM = r"#(-?(?:0x[0-9a-f]+|\d+))"
_ADD_SUB = re.compile(rf"^(\w+), (?:(\w+), )?{_IMM}$")
_POST_INDEX = re.compile(rf"\], {_IMM}$")
_CMP = re.compile(rf"^(\w+), (?:(\w+)|{_IMM})$")
#: The closing branches of counted loops -> the condition they loop on (``lo``/``hs``/...:
#: unsigned, ``lt``/``ge``/...: signed comparisons of the compare's left operand with its
#: right one), and the same condition with the operands swapped.
_CONDITIONS = {"bne": "ne", "blo": "lo", "bcc": "lo", "bls": "ls", "bhi": "hi", "bhs": "hs",
               "bcs": "hs", "blt": "lt", "ble": "le", "bgt": "gt", "bge": "ge"}
_SWAPPED = {"ne": "ne", "lo": "hi", "hi": "lo", "ls": "hs", "hs": "ls", "lt": "gt", "gt": "lt",
            "le": "ge", "ge": "le"}
#: Condition codes of the native loop hook (L_COND).
CONDITION_CODES = {"ne": 0, "lo": 1, "ls": 2, "hi": 3, "hs": 4, "lt": 5, "le": 6, "gt": 7,
                   "ge": 8}


@dataclass(frozen=True)
class CountedLoop:
    """A one-block loop whose executions follow from its induction register.

    Attributes
    ----------
    start, size
        The block (Unicorn's translation block): first address and bytes.
    branch
        Address of its closing conditional branch to ``start`` (where the native code hook
        sits).
    register, step
        The induction register (``r0``..``r12``, ``lr``) and its change per execution.
    update
        Address of the instruction that changes it.
    compare_register, compare_value
        What it is compared with: a register that holds the same value in every execution,
        or (``None``) the immediate ``compare_value``.
    compared_before_update
        The value compared is the register's before the step (the compare precedes the
        update in the block, or the update is a ``SUBS`` that sets the flags).
    condition
        What the loop continues on, with the register on the left of the comparison:
        ``ne``, unsigned ``lo``/``ls``/``hi``/``hs`` or signed ``lt``/``le``/``gt``/``ge``.
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
    condition: str


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
                    if insn.name in ("tbb", "tbh") or (insn.name == "bx" and insn.op_str != "lr")]
        stream = decoder.outline(sec.address, code)
        ends = {a + size: i for i, (a, size, _) in enumerate(stream)}
        for insn in branches:
            start = insn.target
            condition = _CONDITIONS.get(insn.mnemonic.split(".")[0])
            if (condition is None or start is None
                    or not 0 < insn.address - start <= MAX_BODY or start in entries
                    or targets.get(start) != 1):
                continue
            end = insn.address + insn.size
            if start % TRANSLATION_PAGE == 0 or start // TRANSLATION_PAGE != (end - 1) // \
                    TRANSLATION_PAGE:
                continue
            func = image.function_at(start)
            if func is None or any(func.address <= a < func.address + func.size
                                   for a in indirect):
                continue
            at = ends.get(start)
            if at is None or _straight_run(stream, at) > MAX_RUN_IN:
                continue
            before = stream[at][0]
            pred = decoder.decode_one(before, image.read(before, start - before))
            if pred.writes_pc or pred.name in _FORBIDDEN:   # it ends a block: one would
                continue                                    # start at the loop
            body = decoder.decode_block(start, image.read(start, end - start)).insns
            loop = _counted(body, insn.address, condition)
            if loop is not None:
                found.append(loop)
    return found


def _straight_run(stream: list[tuple[int, int, str]], at: int) -> int:
    """Instructions from the last branch before ``stream[at]`` up to it (at least the
    straight-line code a translation block holding it can start with)."""
    n = 0
    while at - n >= 0 and stream[at - n][2] not in _BRANCHES and n <= MAX_RUN_IN:
        n += 1
    return n


def _reg(name: str) -> str:
    """The register name Unicorn's ids use for Capstone's ``name`` (``ip`` -> ``r12``)."""
    return ALIASES.get(name, name)


def _imm(text: str) -> int:
    return int(text, 0)


def _counted(body: tuple, branch: int, condition: str) -> CountedLoop | None:
    """The loop of the decoded block ``body`` (ending in the conditional branch at
    ``branch`` that loops while ``condition`` holds), or None."""
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
                writers.setdefault(_reg(reg), []).append(insn)
    flags = next((i for i in reversed(insns) if i.sets_flags), None)
    if flags is None or flags.shifted:
        return None
    stores = any(i.name.startswith(("str", "stm", "vst", "push")) for i in insns)
    # (register, compared with: a register or None for the immediate, the immediate, the
    #  condition with the register on the left, the value compared is before the update)
    candidates: list[tuple[str, str | None, int, str, bool | None]] = []
    if flags.name == "cmp":
        m = _CMP.match(flags.op_str)
        if m is None:
            return None
        a, b, imm = _reg(m.group(1)), m.group(2), m.group(3)
        if imm is not None:
            candidates.append((a, None, _imm(imm), condition, None))
        else:
            b = _reg(b)
            candidates += [(a, b, 0, condition, None), (b, a, 0, _SWAPPED[condition], None)]
    elif flags.name == "sub":      # SUBS r, r, #k: the flags of CMP r, #k before the update
        m = _ADD_SUB.match(flags.op_str)
        if m is not None:
            candidates.append((_reg(m.group(1)), None, _imm(m.group(3)), condition, True))
    elif flags.name == "add" and condition == "ne":     # ADDS r, r, #k; BNE: r != 0 after
        m = _ADD_SUB.match(flags.op_str)
        if m is not None:
            candidates.append((_reg(m.group(1)), None, 0, condition, False))
    for reg, other, value, cond, before in candidates:
        ws = writers.get(reg, [])
        if len(ws) != 1 or other == reg or not _invariant_at(other, flags, insns, writers,
                                                              stores):
            continue
        step = _step(ws[0], reg)
        if not step or (before is not None and ws[0] is not flags):
            continue
        return CountedLoop(start=body[0].address, size=last.address + last.size - body[0].address,
                           branch=last.address, register=reg, step=step,
                           update=ws[0].address, compare_register=other,
                           compare_value=value & 0xFFFF_FFFF,
                           compared_before_update=(flags.address < ws[0].address
                                                   if before is None else before),
                           condition=cond)
    return None


def _invariant_at(reg: str | None, flags: object, insns: list, writers: dict[str, list],
                  stores: bool) -> bool:
    """Whether ``reg`` (None: an immediate) holds the same value at ``flags`` (the compare)
    in every execution: the loop does not write it, or its last write before the compare is
    a load from a stack slot (``LDR reg, [sp, #imm]``) of a loop that stores nothing (a
    bound the compiler spilled), and nothing writes it after the compare."""
    if reg is None or reg not in writers:
        return True
    at = insns.index(flags)
    before = [i for i in insns[:at] if reg in {_reg(r) for r in i.regs_write}]
    after = [i for i in insns[at:] if reg in {_reg(r) for r in i.regs_write}]
    if stores or after or not before:
        return False
    load = before[-1]
    return (load.name == "ldr" and load.mem_base == "sp" and load.mem_index is None
            and not load.writeback)


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
    if (insn.writeback and _reg(insn.mem_base or "") == reg  # type: ignore[attr-defined]
            and insn.mem_index is None and insn.reg_list == 0  # type: ignore[attr-defined]
            and name in ("ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "str", "strb", "strh")):
        if name.startswith("ldr") and _reg(ops.split(",", 1)[0].strip()) == reg:
            return 0
        if ops.endswith("]!"):
            return int(insn.mem_disp)  # type: ignore[attr-defined]
        m = _POST_INDEX.search(ops)
        return _imm(m.group(1)) if m else 0
    return 0
