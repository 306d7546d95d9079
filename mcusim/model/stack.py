"""Worst-case stack depth of a firmware function, by static analysis of the built image.

Frame sizes come from the compiler (``-fstack-usage``: the ``.su`` files that
:func:`mcusim.build.build_firmware` leaves next to the ELF); for functions compiled without
them (newlib's ``memcpy``/``memset``) the prologue is read instead (``push``, ``vpush``,
``stmdb sp!``, ``sub sp``).  Call edges come from the linked code itself: every ``BL``/``BLX``
to a function start, and every ``B`` to another function (a tail call, made at the caller's
entry depth).  The depth of a function is its frame plus the deepest of its callees; a
recursive cycle or an indirect call makes the bound unknown, which is an error.

Example
-------
>>> sa = analyse_stack(elf)                         # doctest: +SKIP
>>> sa.depth("mcusim_op_0"), sa.path("mcusim_op_0")  # doctest: +SKIP
(192, ['mcusim_op_0', 'mnn_convolve_wrapper_s8', 'mnn_convolve_s8', 'mnn_s8_im2col'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Collection, Mapping

from mcusim.decoder import get_decoder
from mcusim.errors import McusimError
from mcusim.loader import LoadedImage, load_elf

__all__ = ["StackAnalysis", "analyse_stack"]

_SU_RE = re.compile(r"^(?P<where>.*):(?P<name>[^:\s]+)\t(?P<bytes>\d+)\t(?P<kind>\S+)$")
_SUB_SP_RE = re.compile(r"^sp,\s*(?:sp,\s*)?#(0x[0-9a-f]+|\d+)$")
_PROLOGUE_LIMIT = 24
#: Indirect calls with a known set of targets: callers whose name starts with the key call
#: through a function pointer only functions whose names start with one of the values.
#: The packed kernels' drivers (``firmware/packed/mnn_packed_layer_run.c``) call
#: ``job->dot``, one of the ``mnn_pk_dot_{mul,smlad}_w*a*`` functions returned by
#: ``mnn_pk_get_dot_mul`` / ``mnn_pk_get_dot_smlad``.
INDIRECT_TARGETS: Mapping[str, tuple[str, ...]] = {
    "mnn_pk_": ("mnn_pk_dot_mul_w", "mnn_pk_dot_smlad_w"),
}


@dataclass(frozen=True)
class StackAnalysis:
    """Frames and call edges of one image.

    Attributes
    ----------
    frames
        Own stack bytes per function.
    frame_source
        ``"su"`` (compiler) or ``"prologue"`` (read from the code) per function.
    calls, tails
        Callees reached by ``BL``/``BLX`` and by tail-call branches, per function.
    indirect
        Functions that contain an indirect call (``BLX reg``).
    """

    frames: dict[str, int]
    frame_source: dict[str, str]
    calls: dict[str, frozenset[str]]
    tails: dict[str, frozenset[str]]
    indirect: frozenset[str] = field(default_factory=frozenset)

    def depth(self, function: str, executed: Mapping[tuple[str, str], int] | None = None,
              ran: Collection[str] | None = None) -> int:
        """Bytes of stack used by a call of ``function``: its own frame plus the deepest
        callee, over every path (a bound) or, given ``executed`` call edges (``(caller,
        callee) -> count``, :meth:`mcusim.profile.Profile.call_edges`) and the functions that
        ``ran``, over the calls the run made.  :class:`McusimError` when it has no bound."""
        return self._walk(function, (), self._restrict(executed, ran))[0]

    def path(self, function: str, executed: Mapping[tuple[str, str], int] | None = None,
             ran: Collection[str] | None = None) -> list[str]:
        """The call chain that reaches :meth:`depth`."""
        return self._walk(function, (), self._restrict(executed, ran))[1]

    def _restrict(self, executed: Mapping[tuple[str, str], int] | None,
                  ran: Collection[str] | None) -> tuple[dict, dict, dict] | None:
        if executed is None:
            return None
        calls: dict[str, set[str]] = {}
        for (caller, callee), n in executed.items():
            if n > 0 and callee in self.calls.get(caller, ()):
                calls.setdefault(caller, set()).add(callee)
        done = set(ran or ())
        tails = {f: {t for t in ts if t in done} for f, ts in self.tails.items()}
        return calls, tails, {}

    def _walk(self, fn: str, active: tuple[str, ...],
              graph: tuple[dict, dict, dict] | None = None) -> tuple[int, list[str]]:
        if graph is None:
            calls, tails, memo = self.calls, self.tails, self._memo
        else:
            calls, tails, memo = graph
        if fn in memo:
            return memo[fn]
        if fn in active:
            raise McusimError("recursion: the stack depth has no static bound",
                              function=fn, chain=" -> ".join(active + (fn,)))
        if fn not in self.frames:
            raise McusimError("no frame size for a function on the call graph",
                              function=fn, hint="compile it with -fstack-usage")
        if fn in self.indirect and graph is None:
            raise McusimError("indirect call: the stack depth has no static bound",
                              function=fn)
        best, chain = 0, []
        for callee in sorted(calls.get(fn, ())):
            d, p = self._walk(callee, active + (fn,), graph)
            if d > best:
                best, chain = d, p
        own = self.frames[fn]
        total, path = own + best, [fn] + chain
        for callee in sorted(tails.get(fn, ())):
            d, p = self._walk(callee, active + (fn,), graph)
            if d > total:
                total, path = d, [fn] + p
        memo[fn] = (total, path)
        return total, path

    @cached_property
    def _memo(self) -> dict[str, tuple[int, list[str]]]:
        return {}


def _su_frames(elf: Path) -> dict[str, int]:
    frames: dict[str, int] = {}
    for su in sorted(elf.parent.glob(elf.name + "-*.su")):
        for line in su.read_text().splitlines():
            m = _SU_RE.match(line.strip())
            if not m:
                continue
            if m.group("kind") != "static":
                raise McusimError(f"frame size of {m.group('name')} is {m.group('kind')}, "
                                  "not static", file=str(su))
            name = m.group("name")
            frames[name] = max(frames.get(name, 0), int(m.group("bytes")))
    return frames


def _prologue_frame(insns: list) -> int:
    frame = 0
    for insn in insns[:_PROLOGUE_LIMIT]:
        if insn.name in ("push", "stmdb") and (insn.name == "push" or
                                               insn.op_str.startswith("sp!")):
            frame += 4 * insn.reg_list
        elif insn.name == "vpush":
            frame += (8 if "d" in insn.op_str else 4) * insn.reg_list
        elif insn.name == "str" and insn.mem_base == "sp" and insn.writeback \
                and insn.mem_disp < 0:
            frame += -insn.mem_disp
        elif insn.name == "sub" and "sp" in insn.regs_write:
            m = _SUB_SP_RE.match(insn.op_str)
            if m:
                frame += int(m.group(1), 0)
        elif insn.branch is not None:
            break
    return frame


def _data_ranges(elf: Path) -> list[tuple[int, int]]:
    """Address ranges the ARM mapping symbols (``$d`` ... next ``$t``) mark as data
    (literal pools inside functions)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    marks: list[tuple[int, bool]] = []
    with open(elf, "rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            if isinstance(sec, SymbolTableSection):
                for sym in sec.iter_symbols():
                    if sym.name in ("$d", "$t", "$a") or sym.name.startswith(("$d.", "$t.")):
                        marks.append((int(sym["st_value"]) & ~1, sym.name.startswith("$d")))
    marks.sort()
    ranges = []
    for (addr, is_data), nxt in zip(marks, marks[1:] + [(1 << 32, False)]):
        if is_data:
            ranges.append((addr, nxt[0]))
    return ranges


def analyse_stack(elf: str | Path, image: LoadedImage | None = None) -> StackAnalysis:
    """Frames and call graph of a built image (see the module docstring).

    Parameters
    ----------
    elf
        The ELF; its ``.su`` files are looked for next to it.
    image
        The loaded image, when already at hand.
    """
    elf = Path(elf)
    image = image or load_elf(elf)
    su = _su_frames(elf)
    funcs = [f for f in image.functions() if f.size > 0]
    starts = {f.address: f.name for f in funcs}
    dec = get_decoder()
    frames: dict[str, int] = {}
    source: dict[str, str] = {}
    calls: dict[str, frozenset[str]] = {}
    tails: dict[str, frozenset[str]] = {}
    indirect: set[str] = set()
    data = _data_ranges(elf)
    for f in funcs:
        end = f.address + f.size
        inside = [(lo, hi) for lo, hi in data if lo < end and hi > f.address]
        insns = [i for i in dec.decode_block(f.address, image.read(f.address, f.size)).insns
                 if not any(lo <= i.address < hi for lo, hi in inside)]
        if f.name in su:
            frames[f.name], source[f.name] = su[f.name], "su"
        else:
            frames[f.name], source[f.name] = _prologue_frame(insns), "prologue"
        c: set[str] = set()
        t: set[str] = set()
        known = next((v for k, v in INDIRECT_TARGETS.items() if f.name.startswith(k)), None)
        for insn in insns:
            if insn.is_call and insn.target is None:
                if known is None:
                    indirect.add(f.name)
                else:
                    c.update(g.name for g in funcs if g.name.startswith(known))
            if insn.target is None:
                continue
            callee = starts.get(insn.target & ~1)
            if insn.is_call and callee is not None:
                c.add(callee)
            elif insn.name == "b" and callee is not None and callee != f.name:
                t.add(callee)
        calls[f.name], tails[f.name] = frozenset(c), frozenset(t)
    return StackAnalysis(frames, source, calls, tails, frozenset(indirect))
