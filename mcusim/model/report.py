"""The fit report: does a model fit a board, with how much to spare, and how fast is it.

:func:`fit` plans, generates, builds and runs the model (:func:`mcusim.model.run.run_model`)
and returns a :class:`FitReport` -- data first (:meth:`FitReport.to_dict`, the per-operator
:meth:`FitReport.frame`), with a text view in the manner of X-CUBE-AI's ``analyze``
(:meth:`FitReport.text`), a JSON view (:meth:`FitReport.to_json`) and a memory plot
(:meth:`FitReport.plot`).  A model whose image does not fit still gets a report: the plan and
the linker's verdict (region and overflow in bytes) with ``fits = False``.

Example
-------
>>> rep = fit(graph, "stm32f746zg")           # doctest: +SKIP
>>> print(rep.text())                         # doctest: +SKIP
>>> rep.fits, rep.peak_sram                   # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mcusim.boards import Board, get_board
from mcusim.errors import ImageTooLargeError
from mcusim.model import codegen
from mcusim.model.graph import Graph
from mcusim.model.plan import Plan
from mcusim.model.run import ModelRun, make_plan, run_model

__all__ = ["FitReport", "fit", "layer_table", "multi_board_text"]

EXIT_DOES_NOT_FIT = 3


def _op_weight_bytes(graph: Graph, i: int) -> int:
    op = graph.operators[i]
    consts = [graph.tensors[t] for t in op.inputs if graph.tensors[t].is_constant]
    extra = 0
    if op.kind in ("conv", "dwconv", "fc"):
        extra = 8 * graph.tensors[op.outputs[0]].shape[-1]   # int32 multiplier + shift
    return sum(t.nbytes for t in consts) + extra


def layer_table(graph: Graph, run: ModelRun | None = None,
                order: Sequence[int] | None = None) -> pd.DataFrame:
    """One row per operator (plan order): name, op, shape, macs, weight_bytes,
    activation_bytes, and -- after a run -- cycles, ms and the kernel."""
    by_index = {o.index: o for o in run.ops} if run is not None else {}
    rows = []
    for i in (order if order is not None else range(graph.num_operators)):
        op = graph.operators[i]
        acts = [graph.tensors[t] for t in op.inputs + op.outputs
                if not graph.tensors[t].is_constant]
        o = by_index.get(i)
        rows.append({
            "index": i, "name": op.name, "op": op.kind,
            "shape": "x".join(str(d) for d in graph.tensors[op.outputs[0]].shape),
            "macs": graph.macs(i), "weight_bytes": _op_weight_bytes(graph, i),
            "activation_bytes": sum(t.nbytes for t in acts),
            "cycles": o.cycles if o else None, "ms": o.latency_ms if o else None,
            "kernel": o.kernel if o else "",
        })
    return pd.DataFrame(rows)


@dataclass
class FitReport:
    """The fit of one model on one board (see the module docstring)."""

    model: str
    board: Board
    planner: str
    fits: bool
    verdict: str
    arena_bytes: int
    layers: pd.DataFrame
    run: ModelRun | None = None
    overflow_region: str | None = None
    overflow_bytes: int | None = None
    plan: Any = field(default=None, repr=False)
    graph: Graph | None = field(default=None, repr=False)

    # -- totals -------------------------------------------------------------------------
    @property
    def cycles(self) -> int | None:
        return self.run.cycles if self.run else None

    @property
    def latency_ms(self) -> float | None:
        return self.run.latency_ms if self.run else None

    @property
    def flash_bytes(self) -> int | None:
        return self.run.flash_bytes if self.run else None

    @property
    def flash_total(self) -> int:
        return self.board.flash_bytes

    @property
    def peak_sram(self) -> dict[str, int | None]:
        r = self.run
        return {"predicted": r.peak_sram_predicted if r else None,
                "measured": r.peak_sram_measured if r else None}

    def regions(self) -> list[dict[str, Any]]:
        """Per memory region: kind, used, size, free (the linker's view of the image)."""
        if self.run is None:
            return []
        return [{"region": u.region, "kind": u.kind, "used": u.used, "size": u.size,
                 "free": u.size - u.used} for u in self.run.regions]

    def frame(self) -> pd.DataFrame:
        """The per-operator table."""
        return self.layers.copy()

    # -- views --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        r = self.run
        d: dict[str, Any] = {
            "model": self.model, "board": self.board.name, "core": self.board.core,
            "clock_hz": self.board.clock_hz, "planner": self.planner, "fits": self.fits,
            "verdict": self.verdict, "overflow_region": self.overflow_region,
            "overflow_bytes": self.overflow_bytes,
            "flash_bytes": self.flash_bytes, "flash_total_bytes": self.flash_total,
            "peak_sram_bytes": self.peak_sram, "arena_bytes": self.arena_bytes,
            "arena_used_bytes": r.arena_used if r else None,
            "arena_high_water_bytes": r.arena_high_water if r else None,
            "stack_bytes": {"predicted": r.stack_predicted, "measured": r.stack_measured,
                            "painted": r.stack_painted, "reserved": r.stack_reserved}
            if r else None,
            "cycles": self.cycles, "latency_ms": self.latency_ms,
            "invoke_cycles": r.extra.get("invoke_cycles") if r else None,
            "runner_overhead_cycles": r.extra.get("runner_overhead_cycles") if r else None,
            "sections": r.sections if r else None, "data_region": r.data_region if r else None,
            "regions": self.regions(),
            "layers": [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                        for k, v in row.items()}
                       for row in self.layers.to_dict("records")],
        }
        return d

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=_json_default, **kwargs)

    def text(self) -> str:
        """An X-CUBE-AI-like table and the totals."""
        from mcusim.commands._common import format_table

        b = self.board
        lines = [f"model {self.model} on {b.name} ({b.core}, {b.clock_hz / 1e6:g} MHz), "
                 f"planner {self.planner}", ""]
        cols = ["index", "name", "op", "shape", "macs", "weight_bytes", "activation_bytes",
                "cycles", "ms", "kernel"]
        rows = [{k: ("" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
                 for k, v in r.items()} for r in self.layers.to_dict("records")]
        lines.append(format_table(rows, cols))
        lines.append("")
        total_macs = int(self.layers["macs"].sum())
        total_w = int(self.layers["weight_bytes"].sum())
        lines.append(f"MACs {total_macs:,}; weights {total_w:,} B; "
                     f"arena {self.arena_bytes:,} B")
        r = self.run
        if r is not None:
            s = r.sections
            lines.append(f"sections: .text {s['text']:,} B, .rodata {s['rodata']:,} B, "
                         f".data {s['data']:,} B, .bss {s['bss']:,} B "
                         f"(.data/.bss/stack in {r.data_region})")
            lines.append(f"flash: {self.flash_bytes:,} B used, "
                         f"{self.flash_total - (self.flash_bytes or 0):,} B free of "
                         f"{self.flash_total:,} B")
            for u in self.regions():
                if u["kind"] == "ram":
                    lines.append(f"  {u['region']:<10} {u['used']:>9,} B used "
                                 f"{u['free']:>9,} B free of {u['size']:,} B")
            lines.append(f"arena: planned {self.arena_bytes:,} B ({r.arena_used:,} B to the "
                         f"end of its highest buffer), high-water {r.arena_high_water:,} B")
            lines.append(f"stack: predicted {r.stack_predicted:,} B, measured "
                         f"{r.stack_measured:,} B (painted {r.stack_painted:,} B), reserved "
                         f"{r.stack_reserved:,} B")
            p, m = r.peak_sram_predicted, r.peak_sram_measured
            diff = "equal" if p == m else f"difference {m - p:+,} B"
            lines.append(f"peak SRAM: predicted {p:,} B, measured {m:,} B ({diff})")
            lines.append(f"latency: {r.cycles:,} cycles = {r.latency_ms:.3f} ms at "
                         f"{b.clock_hz / 1e6:g} MHz (sum of the operators)")
            if "invoke_cycles" in r.extra:
                lines.append(f"one mcusim_model_invoke(): {r.extra['invoke_cycles']:,} cycles "
                             f"(runner overhead {r.extra['runner_overhead_cycles']:+,})")
        lines.append("")
        lines.append(self.verdict)
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Save the memory plot (live bytes per operator): the plan's own plot when it has
        one, else activation and scratch bytes per operator."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        plot = getattr(self.plan, "plot_live_bytes", None)
        if callable(plot):
            try:
                plot(path)
                return path
            except TypeError:
                pass
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(self.layers)), 4))
        ax.bar(self.layers["name"], self.layers["activation_bytes"], label="activations")
        ax.axhline(self.arena_bytes, color="k", ls="--", label=f"arena {self.arena_bytes} B")
        ax.set_ylabel("bytes")
        ax.set_title(f"{self.model} on {self.board.name}: activation bytes per operator")
        ax.tick_params(axis="x", rotation=90)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def fit(graph: Graph, board: Board | str, *, planner: str | None = None,
        x: np.ndarray | None = None, plan: Plan | None = None,
        invoke: bool = False) -> FitReport:
    """Plan, build and run ``graph`` on ``board`` and report the fit.

    Returns a report with ``fits = False`` (and no measurements) when the linker rejects the
    image, or when the predicted stack exceeds the stack the board layout reserves.
    ``planner`` names a strategy of :data:`mcusim.model.plan.STRATEGIES` (default
    :data:`mcusim.model.run.DEFAULT_PLANNER`); ``invoke`` also times one
    ``mcusim_model_invoke()`` (see :func:`mcusim.model.run.run_model`).
    """
    board = get_board(board)
    plan = plan if plan is not None else make_plan(graph, board, planner)
    placement = codegen.placement_of(plan)
    variant = getattr(plan, "variant", "")
    name = placement.strategy + (f" ({variant})" if variant and variant != placement.strategy
                                 else "")
    try:
        run = run_model(graph, board, x, plan=plan, invoke=invoke)
    except ImageTooLargeError as err:
        region = err.details.get("region")
        over = err.details.get("overflow_bytes")
        verdict = (f"DOES NOT FIT: region {region} of {board.name} overflows by "
                   f"{over:,} bytes" if over is not None else
                   f"DOES NOT FIT: {err.message}")
        return FitReport(graph.name, board, name, False, verdict, placement.arena_bytes,
                         layer_table(graph, None, placement.order), None, region, over,
                         plan, graph)
    layers = layer_table(graph, run, placement.order)
    if run.stack_predicted > run.stack_reserved:
        over = run.stack_predicted - run.stack_reserved
        return FitReport(graph.name, board, name, False,
                         f"DOES NOT FIT: the stack ({run.data_region}) needs {over:,} bytes "
                         f"more than the {run.stack_reserved:,} reserved", placement.arena_bytes,
                         layers, run, "stack", over, plan, graph)
    ram_free = min(u.size - u.used for u in run.regions if u.region == run.data_region)
    flash_free = board.flash_bytes - run.flash_bytes
    verdict = (f"FITS: {flash_free:,} B of Flash and {ram_free:,} B of {run.data_region} "
               f"to spare")
    return FitReport(graph.name, board, name, True, verdict, placement.arena_bytes, layers, run,
                     None, None, plan, graph)


def multi_board_text(reports: Sequence[FitReport]) -> str:
    """One summary table with a column per board."""
    from mcusim.commands._common import format_table

    def row(label: str, fn: Any) -> dict[str, Any]:
        out = {"": label}
        for rep in reports:
            try:
                v = fn(rep)
            except (TypeError, AttributeError):
                v = None
            out[rep.board.name] = "" if v is None else v
        return out

    rows = [
        row("fits", lambda r: "FITS" if r.fits else "DOES NOT FIT"),
        row("cycles", lambda r: r.cycles),
        row("latency ms", lambda r: round(r.latency_ms, 3) if r.latency_ms else None),
        row("flash bytes", lambda r: r.flash_bytes),
        row("arena bytes", lambda r: r.arena_bytes),
        row("stack bytes", lambda r: r.run.stack_measured if r.run else None),
        row("peak SRAM predicted", lambda r: r.peak_sram["predicted"]),
        row("peak SRAM measured", lambda r: r.peak_sram["measured"]),
        row("overflow", lambda r: f"{r.overflow_region} +{r.overflow_bytes}"
            if r.overflow_region else None),
    ]
    return format_table(rows, ["", *[r.board.name for r in reports]])
