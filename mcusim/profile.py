"""Cycle-annotated profile of one emulated run: totals, tables and exports.

:func:`build_profile` turns the native counts of a run (:class:`mcusim.native.BlockCounts`)
into a :class:`Profile`: the timing model (:mod:`mcusim.timing`) costs every distinct block
and edge once, and the profile attributes the cycles to instructions, functions (self and
inclusive through BL/BLX calls) and DWARF source lines.

Examples
--------
>>> prof = machine.profile(result)                                    # doctest: +SKIP
>>> prof.cycles, prof.cpi, prof.latency_us                            # doctest: +SKIP
>>> prof.functions().head()                                           # doctest: +SKIP
>>> print(prof.annotate("arm_convolve_s8"))                           # doctest: +SKIP
>>> prof.write_callgrind("conv.callgrind")                            # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter, defaultdict
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from mcusim import _block_cache
from mcusim.decoder import Decoder, get_decoder
from mcusim.loader import LoadedImage
from mcusim.timing import Accounting, account, get_core_model
from mcusim.timing.account import _first_load
from mcusim.timing.callgraph import inclusive_costs

if TYPE_CHECKING:   # pandas is imported by the DataFrame views only
    import pandas as pd

__all__ = ["FunctionRow", "InsnRow", "LineRow", "Profile", "build_profile"]

UNKNOWN = "??"


class InsnRow(NamedTuple):
    """One executed instruction (a row of :meth:`Profile.instructions_table`)."""

    address: int
    function: str
    size: int
    disassembly: str
    executions: int
    cycles: int
    icache_misses: int
    dcache_misses: int
    file: str
    line: int


class FunctionRow(NamedTuple):
    """One function (a row of :meth:`Profile.functions`)."""

    name: str
    self_cycles: int
    inclusive_cycles: int
    instructions: int
    inclusive_instructions: int
    self_pct: float


class LineRow(NamedTuple):
    """One source line (a row of :meth:`Profile.lines`)."""

    file: str
    line: int
    function: str
    executions: int
    instructions: int
    cycles: int


_Row = TypeVar("_Row")


def build_profile(machine: Any, counts: Any, *, decoder: Decoder | None = None,
                  result: Any = None) -> "Profile":
    """Cost the run described by ``counts`` on ``machine``'s board.

    Parameters
    ----------
    machine
        A :class:`mcusim.machine.Machine` (gives ``board``, ``image`` and ``read_bytes``).
    counts
        ``result.counts`` of a call (:class:`mcusim.native.BlockCounts`).
    decoder
        Optional decoder (default: the shared, cached one, which also reuses the blocks
        earlier processes decoded for the image: :mod:`mcusim._block_cache`).
    result
        The :class:`mcusim.machine.CallResult` the counts come from (stop reason and
        return value for :meth:`Profile.summary`), or None.

    Returns
    -------
    Profile
    """
    board = machine.board
    model = get_core_model(board.core)
    image = getattr(machine, "image", None)
    if decoder is not None or not isinstance(image, LoadedImage):
        acc = account(counts, board, machine.read_bytes, model, decoder=decoder)
    else:   # the shared decoder: reuse (and keep) the blocks other processes decoded
        shared, keys = get_decoder(), []
        acc = account(counts, board, machine.read_bytes, model, decoder=shared, record=keys,
                      before_decode=lambda: _block_cache.seed(image, shared))
        if keys:    # a run shape the model had not planned yet: its blocks may be new
            _block_cache.store(image, shared, keys)
    return Profile(board=board, image=getattr(machine, "image", None), accounting=acc,
                   counts=counts, result=result)


class Profile:
    """Cycles of one run and where they go.

    Parameters
    ----------
    board
        The board (name, core, clock).
    image
        The loaded ELF (:class:`mcusim.loader.LoadedImage`) for symbols and lines, or None.
    accounting
        Per-instruction cycles from :func:`mcusim.timing.account`.
    counts
        The native counts (for call edges and cache-miss events).
    result
        The call result (stop reason, return value), or None.
    """

    def __init__(self, *, board: Any, image: Any, accounting: Accounting, counts: Any,
                 result: Any = None) -> None:
        self.board = board
        self.image = image
        self.accounting = accounting
        self.counts = counts
        self.result = result

    # -- totals ------------------------------------------------------------------------
    @property
    def cycles(self) -> int:
        """Total cycles."""
        return self.accounting.total

    @property
    def instructions(self) -> int:
        """Instructions executed."""
        return self.accounting.instructions

    @property
    def cpi(self) -> float:
        """Cycles per instruction."""
        return self.cycles / self.instructions if self.instructions else 0.0

    @property
    def clock_hz(self) -> int:
        """Board clock."""
        return int(self.board.clock_hz)

    @property
    def latency_us(self) -> float:
        """Run time in microseconds at the board clock."""
        return self.cycles / self.clock_hz * 1e6

    @property
    def latency_ms(self) -> float:
        """Run time in milliseconds at the board clock."""
        return self.cycles / self.clock_hz * 1e3

    @property
    def breakdown(self) -> dict[str, int]:
        """Totals by cause: core, branch, pipeline, fetch (I-miss), data (D-miss)."""
        a = self.accounting
        return {"core": a.core, "branch": a.branch, "pipeline": a.pipeline,
                "fetch": a.fetch, "data": a.data}

    # -- tables ------------------------------------------------------------------------
    # The tables are plain rows (named tuples, sorted as documented); the DataFrame views
    # (instructions_table, functions, lines) are built from them, so the command line's text
    # and JSON output never imports pandas.
    @cached_property
    def _insn_rows(self) -> list[InsnRow]:
        rows: dict[int, list[Any]] = {}
        nblocks = len(self.accounting.blocks)
        counted = self.counts.blocks if len(self.counts.blocks) == nblocks else None
        imisses = counted["imiss"].tolist() if counted is not None else [0] * nblocks
        dmisses = counted["dmiss"].tolist() if counted is not None else [0] * nblocks
        for blk, n, cyc, imiss, dmiss in zip(self.accounting.blocks,
                                             self.accounting.executions.tolist(),
                                             self.accounting.cycles, imisses, dmisses):
            # miss events sit where the cycle model charges them (block start, first load)
            at_load = _first_load(blk) if dmiss else -1
            for j, (insn, c) in enumerate(zip(blk.insns, cyc.tolist())):
                im = imiss if j == 0 else 0
                dm = dmiss if j == at_load else 0
                row = rows.get(insn.address)
                if row is None:
                    rows[insn.address] = [insn.address, insn.size, insn.text, int(n), int(c),
                                          im, dm]
                else:
                    row[3] += int(n)
                    row[4] += int(c)
                    row[5] += im
                    row[6] += dm
        out = []
        for addr, size, text, n, c, im, dm in sorted(rows.values()):
            loc = self.image.line_at(addr) if self.image is not None else None
            out.append(InsnRow(addr, self._function_name(addr), size, text, n, c, im, dm,
                               loc[0] if loc else UNKNOWN, int(loc[1]) if loc else 0))
        return out

    @cached_property
    def _rows_by_function(self) -> dict[str, list[InsnRow]]:
        """Instruction rows per function (functions in order of first appearance)."""
        out: dict[str, list[InsnRow]] = {}
        for r in self._insn_rows:
            out.setdefault(r.function, []).append(r)
        return out

    def _function_name(self, addr: int) -> str:
        sym = self.image.function_at(addr) if self.image is not None else None
        return sym.name if sym is not None else "(unknown)"

    def instruction_rows(self) -> list[InsnRow]:
        """The rows of :meth:`instructions_table` as named tuples (no pandas)."""
        return list(self._insn_rows)

    def instructions_table(self) -> pd.DataFrame:
        """One row per executed instruction: address, function, size, disassembly,
        executions, cycles, icache_misses (line fills charged to the instruction),
        dcache_misses, file, line (sorted by address)."""
        return _frame(self._insn_rows, InsnRow._fields)

    @cached_property
    def _calls(self) -> dict[tuple[str, str], int]:
        calls: dict[tuple[str, str], int] = defaultdict(int)
        for pair, n, _ in self._call_sites():
            calls[pair] += n
        return dict(calls)

    def call_edges(self) -> dict[tuple[str, str], int]:
        """Calls per ``(caller, callee)`` derived from BL/BLX edges."""
        return dict(self._calls)

    @cached_property
    def _func_rows(self) -> list[FunctionRow]:
        self_cyc: dict[str, int] = {}
        n_instr: dict[str, int] = {}
        for r in self._insn_rows:            # functions in order of first appearance
            self_cyc[r.function] = self_cyc.get(r.function, 0) + r.cycles
            n_instr[r.function] = n_instr.get(r.function, 0) + r.executions
        entry = self._function_name(int(self.counts.entry)) if self._insn_rows else None
        roots = {entry: 1} if entry else {}
        incl = inclusive_costs(self_cyc, self._calls, roots)
        incl_instr = inclusive_costs(n_instr, self._calls, roots)
        total = max(1, self.cycles)
        rows = [FunctionRow(f, c, int(round(incl[f])), n_instr[f], int(round(incl_instr[f])),
                            100.0 * c / total) for f, c in self_cyc.items()]
        return _descending(rows, [r.self_cycles for r in rows])

    def function_rows(self) -> list[FunctionRow]:
        """The rows of :meth:`functions` as named tuples (no pandas)."""
        return list(self._func_rows)

    def functions(self) -> pd.DataFrame:
        """Per function: name, self_cycles, inclusive_cycles, instructions (self),
        inclusive_instructions, self_pct; sorted by self cycles."""
        return _frame(self._func_rows, FunctionRow._fields)

    @cached_property
    def _line_rows(self) -> list[LineRow]:
        groups: dict[tuple[str, int, str], list[int]] = {}
        for r in self._insn_rows:            # lines in order of first appearance
            g = groups.get((r.file, r.line, r.function))
            if g is None:
                groups[(r.file, r.line, r.function)] = [r.executions, r.executions, r.cycles]
            else:
                g[0] = max(g[0], r.executions)
                g[1] += r.executions
                g[2] += r.cycles
        rows = [LineRow(*key, *vals) for key, vals in groups.items()]
        return _descending(rows, [r.cycles for r in rows])

    def line_rows(self) -> list[LineRow]:
        """The rows of :meth:`lines` as named tuples (no pandas)."""
        return list(self._line_rows)

    def lines(self) -> pd.DataFrame:
        """Per source line (DWARF): file, line, function, executions, instructions, cycles."""
        return _frame(self._line_rows, LineRow._fields)

    # -- exports -----------------------------------------------------------------------
    def summary(self, *, top: int | None = None) -> dict[str, Any]:
        """The ``mcusim profile --json`` object.

        Totals (cycles, instructions, CPI, latency in µs and ms), the breakdown by cause,
        the stop reason and return value of the run (when the profile has its result),
        functions and source lines sorted by cycles (the ``top`` first; all when None).
        Counts are integers; CPI has 4 decimals, latencies 3 significant decimals of their
        unit (µs: 3, ms: 6), percentages 2.
        """
        funcs = self._func_rows if top is None else self._func_rows[:top]
        lines = self._line_rows if top is None else self._line_rows[:top]
        res = self.result
        return {
            "board": self.board.name, "core": self.board.core, "clock_hz": self.clock_hz,
            "cycles": self.cycles, "instructions": self.instructions,
            "cpi": round(self.cpi, 4), "latency_us": round(self.latency_us, 3),
            "latency_ms": round(self.latency_ms, 6),
            "stop_reason": getattr(res, "stop_reason", None),
            "return_type": (getattr(res, "returns", "") or None) if res is not None else None,
            "return_value": getattr(res, "value", None),
            "breakdown": self.breakdown,
            "functions": [
                {"name": r.name, "self_cycles": int(r.self_cycles),
                 "inclusive_cycles": int(r.inclusive_cycles),
                 "instructions": int(r.instructions), "self_pct": round(float(r.self_pct), 2)}
                for r in funcs
            ],
            "lines": [
                {"file": str(r.file), "line": int(r.line), "function": str(r.function),
                 "executions": int(r.executions), "instructions": int(r.instructions),
                 "cycles": int(r.cycles),
                 "pct": round(100.0 * int(r.cycles) / max(1, self.cycles), 2)}
                for r in lines
            ],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """Summary as JSON text (also written to ``path`` when given)."""
        text = json.dumps(self.summary(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def to_csv(self, path: str | Path) -> None:
        """Write the per-instruction table as CSV."""
        self.instructions_table().to_csv(path, index=False)

    def annotate(self, function: str | None = None) -> str:
        """Disassembly with cycles beside each instruction, like ``perf annotate``; each
        new source line is shown as ``file:line`` with its text (when the file is readable).

        Parameters
        ----------
        function
            Only this function (default: every executed function, hottest first).
        """
        by_func = self._rows_by_function
        names = [function] if function else [r.name for r in self._func_rows]
        out: list[str] = []
        for name in names:
            part = by_func.get(name)
            if not part:
                out.append(f"{name}: not executed")
                continue
            total = sum(r.cycles for r in part)
            out.append(f" Percent |    Cycles |      Execs | {name} ({total} cycles, "
                       f"{100.0 * total / max(1, self.cycles):.2f}% of run)")
            last_line = None
            for r in part:
                loc = (r.file, r.line)
                if r.line and loc != last_line:
                    text = _source_line(r.file, r.line)
                    out.append(f"         |           |            |   "
                               f"{os.path.basename(r.file)}:{r.line}"
                               + (f"    {text}" if text else ""))
                    last_line = loc
                pct = 100.0 * r.cycles / max(1, total)
                out.append(f" {pct:7.2f} | {r.cycles:9d} | {r.executions:10d} | "
                           f"  {r.address:8x}:  {r.disassembly}")
            out.append("")
        return "\n".join(out)

    def write_callgrind(self, path: str | Path) -> None:
        """Write the callgrind format (``callgrind_annotate``, KCachegrind).

        Positions are instruction addresses and source lines (``positions: instr line``);
        events are ``Cycles``, ``Ir`` (instructions executed), ``I1mr`` (instruction-cache /
        accelerator line fills) and ``D1mr`` (data-cache misses on wait-state memory),
        charged to the instruction the cycle model charges them to.  Calls carry the
        callee's inclusive cost shared by call count.
        """
        Path(path).write_text(self.callgrind_text())

    def callgrind_text(self) -> str:
        """The callgrind export as text."""
        rows = self._insn_rows
        by_func = self._rows_by_function
        funcs = {r.name: r for r in self._func_rows}
        obj = str(getattr(self.image, "path", "firmware.elf"))
        fn_file = {name: _main_file(part) for name, part in by_func.items()}
        totals = [sum(r.cycles for r in rows), sum(r.executions for r in rows),
                  sum(r.icache_misses for r in rows), sum(r.dcache_misses for r in rows)]
        lines = ["# callgrind format", "version: 1", "creator: mcusim", f"cmd: {obj}",
                 "positions: instr line",
                 "event: Cycles : Cycles (timing model)",
                 "event: Ir : Instructions executed",
                 "event: I1mr : Instruction cache / accelerator line fills",
                 "event: D1mr : Data cache misses (wait-state memory)",
                 "events: Cycles Ir I1mr D1mr",
                 f"summary: {' '.join(map(str, totals))}", "", f"ob={obj}"]
        first = {name: (part[0].address, part[0].line) for name, part in by_func.items()}
        callees: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        entered: dict[str, int] = defaultdict(int)
        for (caller, callee), n, site in self._call_sites():
            if caller != callee:
                callees[caller].append((callee, n, site))
                entered[callee] += n
        line_of = {r.address: r.line for r in rows}
        for name, part in by_func.items():
            lines.append(f"fl={fn_file[name]}")
            lines.append(f"fn={name}")
            for r in part:
                lines.append(f"0x{r.address:x} {r.line} {r.cycles} {r.executions} "
                             f"{r.icache_misses} {r.dcache_misses}")
            for callee, n, site in callees.get(name, ()):
                if callee not in funcs:
                    continue
                share = n / max(1, entered[callee])
                inc_c = int(round(share * funcs[callee].inclusive_cycles))
                inc_i = int(round(share * funcs[callee].inclusive_instructions))
                addr, line = first.get(callee, (0, 0))
                lines.append(f"cfl={fn_file.get(callee, UNKNOWN)}")
                lines.append(f"cfn={callee}")
                lines.append(f"calls={n} 0x{addr:x} {line}")
                lines.append(f"0x{site:x} {int(line_of.get(site, 0))} {inc_c} {inc_i}")
            lines.append("")
        lines.append(f"totals: {' '.join(map(str, totals))}")
        return "\n".join(lines) + "\n"

    def _call_sites(self) -> list[tuple[tuple[str, str], int, int]]:
        """``((caller, callee), calls, address of the BL/BLX)`` for every call edge."""
        by_addr = {b.address: b for b in self.accounting.blocks}
        sites: dict[tuple[str, str, int], int] = defaultdict(int)
        edges = self.counts.edges
        for s, d, n in zip(edges["src"].tolist(), edges["dst"].tolist(),
                           edges["count"].tolist()):
            blk = by_addr.get(s)
            if blk is None or not blk.insns or not blk.insns[-1].is_call:
                continue
            at = blk.insns[-1].address
            sites[(self._function_name(at), self._function_name(d), at)] += n
        return [((c, e), n, at) for (c, e, at), n in sites.items()]

    def plot(self, path: str | Path, *, top: int = 15) -> None:
        """Save a PNG: self cycles of the hottest functions and the cycle breakdown."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        funcs = self._func_rows[:top][::-1]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, max(3.0, 0.35 * len(funcs) + 1.5)),
                                       gridspec_kw={"width_ratios": [3, 1]})
        ax1.barh([r.name for r in funcs], [r.self_cycles for r in funcs], color="tab:blue",
                 label="self")
        ax1.set_xlabel("cycles")
        ax1.set_title(f"{self.board.name}: {self.cycles:,} cycles, "
                      f"{self.latency_us:,.1f} us at {self.clock_hz / 1e6:g} MHz")
        parts = {k: v for k, v in self.breakdown.items() if v > 0}
        ax2.bar(list(parts), list(parts.values()), color="tab:orange")
        ax2.set_title("by cause")
        ax2.tick_params(axis="x", rotation=45)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


MAX_SOURCE_BYTES = 64 << 20   # source files shown beside the disassembly


@functools.lru_cache(maxsize=64)
def _source_lines(path: str) -> tuple[str, ...]:
    from mcusim._files import read_regular
    from mcusim.errors import McusimError

    try:   # a path from the ELF's DWARF: it may name a FIFO or a device
        text = read_regular(path, MAX_SOURCE_BYTES).decode("utf-8", errors="replace")
    except McusimError:
        return ()
    return tuple(text.splitlines()[:200_000])


def _source_line(path: str, line: int) -> str:
    """Text of ``path:line`` (stripped), or "" when the file cannot be read."""
    text = _source_lines(path)
    return text[line - 1].strip() if 0 < line <= len(text) else ""


def _main_file(part: list[InsnRow]) -> str:
    """The file most of ``part``'s instructions come from (the first by name on a tie)."""
    files = Counter(r.file for r in part if r.file != UNKNOWN)
    if not files:
        return UNKNOWN
    most = max(files.values())
    return min(f for f, n in files.items() if n == most)


def _descending(rows: list[_Row], keys: list[int]) -> list[_Row]:
    """``rows`` sorted by ``keys``, largest first, ties in the order of pandas'
    ``sort_values(ascending=False)`` (its default, unstable quicksort on the reversed
    array), so the tables and their DataFrame views list rows alike."""
    k = np.asarray(keys, dtype=np.int64)[::-1]
    idx = np.arange(len(keys))[::-1]
    return [rows[i] for i in idx[k.argsort(kind="quicksort")][::-1].tolist()]


def _frame(rows: list[Any], columns: tuple[str, ...]) -> pd.DataFrame:
    """A DataFrame of plain rows (pandas is imported here, for API users only)."""
    import pandas as pd

    return pd.DataFrame(rows, columns=list(columns))
