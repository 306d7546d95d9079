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
from collections import defaultdict
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcusim.decoder import Decoder
from mcusim.timing import Accounting, account, get_core_model
from mcusim.timing.account import _first_load
from mcusim.timing.callgraph import inclusive_costs

if TYPE_CHECKING:   # pandas is imported by the tables, not to count cycles
    import pandas as pd

__all__ = ["Profile", "build_profile"]

UNKNOWN = "??"


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
        Optional decoder (default: the shared, cached one).
    result
        The :class:`mcusim.machine.CallResult` the counts come from (stop reason and
        return value for :meth:`Profile.summary`), or None.

    Returns
    -------
    Profile
    """
    board = machine.board
    model = get_core_model(board.core)
    acc = account(counts, board, machine.read_bytes, model, decoder=decoder)
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
    @cached_property
    def _insn_table(self) -> pd.DataFrame:
        rows: dict[int, list[Any]] = {}
        nblocks = len(self.accounting.blocks)
        counted = self.counts.blocks if len(self.counts.blocks) == nblocks else None
        for i, (blk, n, cyc) in enumerate(zip(self.accounting.blocks,
                                              self.accounting.executions.tolist(),
                                              self.accounting.cycles)):
            # miss events sit where the cycle model charges them (block start, first load)
            imiss = int(counted[i]["imiss"]) if counted is not None else 0
            dmiss = int(counted[i]["dmiss"]) if counted is not None else 0
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
        import pandas as pd

        df = pd.DataFrame(sorted(rows.values()),
                          columns=["address", "size", "disassembly", "executions", "cycles",
                                   "icache_misses", "dcache_misses"])
        funcs, files, lines = [], [], []
        for addr in df["address"].tolist():
            funcs.append(self._function_name(addr))
            loc = self.image.line_at(addr) if self.image is not None else None
            files.append(loc[0] if loc else UNKNOWN)
            lines.append(int(loc[1]) if loc else 0)
        df.insert(1, "function", funcs)
        df["file"] = files
        df["line"] = lines
        return df

    def _function_name(self, addr: int) -> str:
        sym = self.image.function_at(addr) if self.image is not None else None
        return sym.name if sym is not None else "(unknown)"

    def instructions_table(self) -> pd.DataFrame:
        """One row per executed instruction: address, function, size, disassembly,
        executions, cycles, icache_misses (line fills charged to the instruction),
        dcache_misses, file, line (sorted by address)."""
        return self._insn_table.copy()

    @cached_property
    def _calls(self) -> dict[tuple[str, str], int]:
        calls: dict[tuple[str, str], int] = defaultdict(int)
        by_addr = {b.address: b for b in self.accounting.blocks}
        edges = self.counts.edges
        for s, d, n in zip(edges["src"].tolist(), edges["dst"].tolist(),
                           edges["count"].tolist()):
            blk = by_addr.get(s)
            if blk is None or not blk.insns or not blk.insns[-1].is_call:
                continue
            calls[(self._function_name(blk.insns[-1].address), self._function_name(d))] += n
        return dict(calls)

    def call_edges(self) -> dict[tuple[str, str], int]:
        """Calls per ``(caller, callee)`` derived from BL/BLX edges."""
        return dict(self._calls)

    @cached_property
    def _func_table(self) -> pd.DataFrame:
        df = self._insn_table
        g = df.groupby("function", sort=False)
        self_cyc = g["cycles"].sum()
        n_instr = g["executions"].sum()
        entry = self._function_name(int(self.counts.entry)) if len(df) else None
        incl = inclusive_costs(self_cyc.to_dict(), self._calls, {entry: 1} if entry else {})
        incl_instr = inclusive_costs(n_instr.to_dict(), self._calls,
                                     {entry: 1} if entry else {})
        import pandas as pd

        out = pd.DataFrame({
            "name": self_cyc.index,
            "self_cycles": self_cyc.to_numpy(np.int64),
            "inclusive_cycles": [int(round(incl[f])) for f in self_cyc.index],
            "instructions": n_instr.to_numpy(np.int64),
            "inclusive_instructions": [int(round(incl_instr[f])) for f in self_cyc.index],
        })
        out["self_pct"] = 100.0 * out["self_cycles"] / max(1, self.cycles)
        return out.sort_values("self_cycles", ascending=False, ignore_index=True)

    def functions(self) -> pd.DataFrame:
        """Per function: name, self_cycles, inclusive_cycles, instructions (self),
        inclusive_instructions, self_pct; sorted by self cycles."""
        return self._func_table.copy()

    def lines(self) -> pd.DataFrame:
        """Per source line (DWARF): file, line, function, executions, instructions, cycles."""
        df = self._insn_table
        g = df.groupby(["file", "line", "function"], sort=False)
        out = g.agg(executions=("executions", "max"), instructions=("executions", "sum"),
                    cycles=("cycles", "sum")).reset_index()
        return out.sort_values("cycles", ascending=False, ignore_index=True)

    # -- exports -----------------------------------------------------------------------
    def summary(self, *, top: int | None = None) -> dict[str, Any]:
        """The ``mcusim profile --json`` object.

        Totals (cycles, instructions, CPI, latency in µs and ms), the breakdown by cause,
        the stop reason and return value of the run (when the profile has its result),
        functions and source lines sorted by cycles (the ``top`` first; all when None).
        Counts are integers; CPI has 4 decimals, latencies 3 significant decimals of their
        unit (µs: 3, ms: 6), percentages 2.
        """
        funcs = self._func_table if top is None else self._func_table.head(top)
        lines = self.lines() if top is None else self.lines().head(top)
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
                for r in funcs.itertuples()
            ],
            "lines": [
                {"file": str(r.file), "line": int(r.line), "function": str(r.function),
                 "executions": int(r.executions), "instructions": int(r.instructions),
                 "cycles": int(r.cycles),
                 "pct": round(100.0 * int(r.cycles) / max(1, self.cycles), 2)}
                for r in lines.itertuples()
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
        self._insn_table.to_csv(path, index=False)

    def annotate(self, function: str | None = None) -> str:
        """Disassembly with cycles beside each instruction, like ``perf annotate``; each
        new source line is shown as ``file:line`` with its text (when the file is readable).

        Parameters
        ----------
        function
            Only this function (default: every executed function, hottest first).
        """
        df = self._insn_table
        names = [function] if function else self._func_table["name"].tolist()
        out: list[str] = []
        for name in names:
            part = df[df["function"] == name]
            if part.empty:
                out.append(f"{name}: not executed")
                continue
            total = int(part["cycles"].sum())
            out.append(f" Percent |    Cycles |      Execs | {name} ({total} cycles, "
                       f"{100.0 * total / max(1, self.cycles):.2f}% of run)")
            last_line = None
            for r in part.itertuples():
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
        df = self._insn_table
        funcs = self._func_table.set_index("name")
        obj = str(getattr(self.image, "path", "firmware.elf"))
        fn_file = {name: _main_file(part) for name, part in df.groupby("function")}
        events = ["cycles", "executions", "icache_misses", "dcache_misses"]
        totals = [int(df[e].sum()) for e in events]
        lines = ["# callgrind format", "version: 1", "creator: mcusim", f"cmd: {obj}",
                 "positions: instr line",
                 "event: Cycles : Cycles (timing model)",
                 "event: Ir : Instructions executed",
                 "event: I1mr : Instruction cache / accelerator line fills",
                 "event: D1mr : Data cache misses (wait-state memory)",
                 "events: Cycles Ir I1mr D1mr",
                 f"summary: {' '.join(map(str, totals))}", "", f"ob={obj}"]
        first = {name: (int(part["address"].iloc[0]), int(part["line"].iloc[0]))
                 for name, part in df.groupby("function")}
        callees: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        entered: dict[str, int] = defaultdict(int)
        for (caller, callee), n, site in self._call_sites():
            if caller != callee:
                callees[caller].append((callee, n, site))
                entered[callee] += n
        line_of = dict(zip(df["address"].tolist(), df["line"].tolist()))
        for name, part in df.groupby("function", sort=False):
            lines.append(f"fl={fn_file[name]}")
            lines.append(f"fn={name}")
            for r in part[["address", "line", *events]].itertuples(index=False):
                lines.append(f"0x{r[0]:x} {int(r[1])} " + " ".join(str(int(v)) for v in r[2:]))
            for callee, n, site in callees.get(name, ()):
                if callee not in funcs.index:
                    continue
                share = n / max(1, entered[callee])
                inc_c = int(round(share * funcs.at[callee, "inclusive_cycles"]))
                inc_i = int(round(share * funcs.at[callee, "inclusive_instructions"]))
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

        funcs = self._func_table.head(top).iloc[::-1]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, max(3.0, 0.35 * len(funcs) + 1.5)),
                                       gridspec_kw={"width_ratios": [3, 1]})
        ax1.barh(funcs["name"], funcs["self_cycles"], color="tab:blue", label="self")
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


def _main_file(part: pd.DataFrame) -> str:
    files = part.loc[part["file"] != UNKNOWN, "file"]
    return str(files.mode().iloc[0]) if len(files) else UNKNOWN
