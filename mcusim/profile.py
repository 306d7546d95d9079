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

import json
import os
from collections import defaultdict
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcusim.decoder import Decoder
from mcusim.timing import Accounting, account, get_core_model
from mcusim.timing.callgraph import inclusive_costs

__all__ = ["Profile", "build_profile"]

UNKNOWN = "??"


def build_profile(machine: Any, counts: Any, *, decoder: Decoder | None = None) -> "Profile":
    """Cost the run described by ``counts`` on ``machine``'s board.

    Parameters
    ----------
    machine
        A :class:`mcusim.machine.Machine` (gives ``board``, ``image`` and ``read_bytes``).
    counts
        ``result.counts`` of a call (:class:`mcusim.native.BlockCounts`).
    decoder
        Optional decoder (default: the shared, cached one).

    Returns
    -------
    Profile
    """
    board = machine.board
    model = get_core_model(board.core)
    acc = account(counts, board, machine.read_bytes, model, decoder=decoder)
    return Profile(board=board, image=getattr(machine, "image", None), accounting=acc,
                   counts=counts)


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
        The native counts (for call edges).
    """

    def __init__(self, *, board: Any, image: Any, accounting: Accounting, counts: Any) -> None:
        self.board = board
        self.image = image
        self.accounting = accounting
        self.counts = counts

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
    def breakdown(self) -> dict[str, int]:
        """Totals by cause: core, branch, pipeline, fetch (I-miss), data (D-miss)."""
        a = self.accounting
        return {"core": a.core, "branch": a.branch, "pipeline": a.pipeline,
                "fetch": a.fetch, "data": a.data}

    # -- tables ------------------------------------------------------------------------
    @cached_property
    def _insn_table(self) -> pd.DataFrame:
        rows: dict[int, list[Any]] = {}
        for blk, n, cyc in zip(self.accounting.blocks, self.accounting.executions.tolist(),
                               self.accounting.cycles):
            for insn, c in zip(blk.insns, cyc.tolist()):
                row = rows.get(insn.address)
                if row is None:
                    rows[insn.address] = [insn.address, insn.size, insn.text, int(n), int(c)]
                else:
                    row[3] += int(n)
                    row[4] += int(c)
        df = pd.DataFrame(sorted(rows.values()),
                          columns=["address", "size", "disassembly", "executions", "cycles"])
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
        """One row per executed instruction: address, function, disassembly, executions,
        cycles, file, line (sorted by address)."""
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
    def summary(self) -> dict[str, Any]:
        """Totals as a JSON-ready dict (the ``mcusim profile --json`` object)."""
        funcs = self._func_table
        return {
            "board": self.board.name, "core": self.board.core, "clock_hz": self.clock_hz,
            "cycles": self.cycles, "instructions": self.instructions,
            "cpi": round(self.cpi, 4), "latency_us": self.latency_us,
            "breakdown": self.breakdown,
            "functions": [
                {"name": r.name, "self_cycles": int(r.self_cycles),
                 "inclusive_cycles": int(r.inclusive_cycles),
                 "instructions": int(r.instructions)}
                for r in funcs.itertuples()
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
        """Disassembly with cycles beside each instruction, like ``perf annotate``.

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
                    out.append(f"         |           |            |   "
                               f"{os.path.basename(r.file)}:{r.line}")
                    last_line = loc
                pct = 100.0 * r.cycles / max(1, total)
                out.append(f" {pct:7.2f} | {r.cycles:9d} | {r.executions:10d} | "
                           f"  {r.address:8x}:  {r.disassembly}")
            out.append("")
        return "\n".join(out)

    def write_callgrind(self, path: str | Path) -> None:
        """Write the callgrind format (``callgrind_annotate``, KCachegrind).

        Events are ``Cycles`` and ``Instructions``; positions are source lines (0 without
        DWARF); calls carry the callee's inclusive cost shared by call count.
        """
        Path(path).write_text(self.callgrind_text())

    def callgrind_text(self) -> str:
        """The callgrind export as text."""
        df = self._insn_table
        funcs = self._func_table.set_index("name")
        obj = str(getattr(self.image, "path", "firmware.elf"))
        fn_file = {name: _main_file(part) for name, part in df.groupby("function")}
        lines = ["# callgrind format", "version: 1", "creator: mcusim", f"cmd: {obj}",
                 "positions: line", "events: Cycles Instructions",
                 f"summary: {self.cycles} {self.instructions}", "", f"ob={obj}"]
        first_line = {name: int(part["line"].iloc[0]) for name, part in df.groupby("function")}
        callees: dict[str, list[tuple[str, int]]] = defaultdict(list)
        entered: dict[str, int] = defaultdict(int)
        for (caller, callee), n in self._calls.items():
            if caller != callee:
                callees[caller].append((callee, n))
                entered[callee] += n
        for name, part in df.groupby("function", sort=False):
            lines.append(f"fl={fn_file[name]}")
            lines.append(f"fn={name}")
            agg = part.groupby("line", sort=True)[["cycles", "executions"]].sum()
            for line_no, r in agg.iterrows():
                lines.append(f"{int(line_no)} {int(r.cycles)} {int(r.executions)}")
            for callee, n in callees.get(name, ()):
                if callee not in funcs.index:
                    continue
                share = n / max(1, entered[callee])
                inc_c = int(round(share * funcs.at[callee, "inclusive_cycles"]))
                inc_i = int(round(share * funcs.at[callee, "inclusive_instructions"]))
                lines.append(f"cfl={fn_file.get(callee, UNKNOWN)}")
                lines.append(f"cfn={callee}")
                lines.append(f"calls={n} {first_line.get(callee, 0)}")
                lines.append(f"{first_line.get(name, 0)} {inc_c} {inc_i}")
            lines.append("")
        lines.append(f"totals: {self.cycles} {self.instructions}")
        return "\n".join(lines) + "\n"

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


def _main_file(part: pd.DataFrame) -> str:
    files = part.loc[part["file"] != UNKNOWN, "file"]
    return str(files.mode().iloc[0]) if len(files) else UNKNOWN
