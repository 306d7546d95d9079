"""The memory plan of a graph as plain data, with its debug views."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcusim.errors import ModelError
from mcusim.model.plan._base import Buffer, ascii_timeline

__all__ = ["Plan", "PlannedBuffer", "ScratchSlot", "TensorSlot"]


@dataclass(frozen=True)
class TensorSlot:
    """Where one activation tensor lives.

    ``offset`` and ``nbytes`` are in bytes from the start of the arena; the tensor is live
    from step ``first_step`` to ``last_step`` (positions in :attr:`Plan.order`). ``buffer``
    is the index into :attr:`Plan.buffers`. ``alias_of`` is the input tensor whose bytes
    this output shares (in-place execution or a reshape), else ``None``.
    """

    tensor: int
    name: str
    offset: int
    nbytes: int
    first_step: int
    last_step: int
    buffer: int
    alias_of: int | None = None


@dataclass(frozen=True)
class ScratchSlot:
    """The scratch of operator ``op`` (live only at its ``step``); ``nbytes`` 0 means none
    (then ``offset`` is 0 and ``buffer`` is -1)."""

    op: int
    name: str
    offset: int
    nbytes: int
    step: int
    buffer: int


@dataclass(frozen=True)
class PlannedBuffer:
    """One buffer given to the planner: aligned ``size`` at ``offset``, live on
    ``[first_step, last_step]``, holding ``label`` (a tensor name or ``scratch:OP``);
    ``group`` is the index of the first buffer it is tied to in place (itself if none)."""

    offset: int
    size: int
    first_step: int
    last_step: int
    label: str
    group: int


@dataclass(frozen=True)
class Plan:
    """Offsets of every activation tensor and scratch buffer of a graph in one arena.

    Constants (weights, biases) are not in the arena: they stay in Flash. Offsets are
    multiples of :attr:`alignment`, so the arena itself must be aligned to it (TFLM: 16).
    The runner executes the operators in :attr:`order`, tensor ``t`` at
    ``arena + offset(t)``, operator ``op``'s scratch at ``arena + scratch_offset(op)`` with
    ``scratch_bytes(op)`` bytes.

    Attributes
    ----------
    model
        The graph's name.
    planner
        Strategy name (``linear``, ``greedy``, ``reorder``, ``inplace``, ``best``).
    variant
        What the strategy did, e.g. ``"reorder+inplace+greedy"`` (``best`` names its pick).
    alignment
        Every buffer size and offset is a multiple of it.
    order
        Operator indices in execution order (step ``s`` runs ``order[s]``).
    tensors
        One :class:`TensorSlot` per activation tensor, by tensor index.
    scratch
        One :class:`ScratchSlot` per operator, by operator index.
    buffers
        The planner's buffers: the tensors' (by tensor index), then the scratch buffers.
    arena_bytes
        Size of the arena: the end of the highest buffer.
    live_bytes
        Bytes covered by the buffers live at each step (aligned; bytes an in-place output
        shares with its input counted once): the floor under the arena.
    in_place
        Operators whose output shares bytes with an input (at its offset, or starting below
        it and overlapping it): the runner just passes the planned pointers; a reshape in
        it has its input's offset and needs no copy.
    exact_order
        ``False`` when the order search ran out of budget and used its heuristic.
    dsp
        Whether the scratch sizes are those of a DSP build.
    op_names
        Operator names, by operator index.
    """

    model: str
    planner: str
    variant: str
    alignment: int
    order: tuple[int, ...]
    tensors: tuple[TensorSlot, ...]
    scratch: tuple[ScratchSlot, ...]
    buffers: tuple[PlannedBuffer, ...]
    arena_bytes: int
    live_bytes: tuple[int, ...]
    in_place: tuple[int, ...]
    exact_order: bool
    dsp: bool
    op_names: tuple[str, ...]

    # ------------------------------------------------------------------ lookups
    def _slot(self, tensor: int) -> TensorSlot:
        for s in self.tensors:
            if s.tensor == tensor:
                return s
        raise ModelError("tensor is not an activation of the plan (a constant?)",
                         model=self.model, tensor=tensor)

    def offset(self, tensor: int) -> int:
        """Arena offset of activation tensor ``tensor``."""
        return self._slot(tensor).offset

    def scratch_offset(self, op: int) -> int:
        """Arena offset of operator ``op``'s scratch."""
        return self.scratch[op].offset

    def scratch_bytes(self, op: int) -> int:
        return self.scratch[op].nbytes

    def step(self, op: int) -> int:
        """Position of operator ``op`` in :attr:`order`."""
        return self.order.index(op)

    @property
    def peak_live_bytes(self) -> int:
        return max(self.live_bytes, default=0)

    # ------------------------------------------------------------------ debug aids
    def check_overlaps(self) -> Plan:
        """Raise :class:`ModelError` if two tensors/scratch buffers that are live at the same
        step share a byte, unless one runs in place over the other (an output and the input
        it overlaps, or tensors at the same offset as a common in-place ancestor); return
        ``self``."""
        by_tensor = {s.tensor: s for s in self.tensors}

        def family(t: int | None) -> int | None:
            if t is None:
                return None
            r = by_tensor[t]
            while r.alias_of is not None:
                r = by_tensor[r.alias_of]
            return r.tensor if r.offset == by_tensor[t].offset else t

        items: list[tuple[int, int, int, int, str, int | None, int | None]] = []
        for s in self.tensors:  # (offset, end, first, last, name, family, alias family)
            items.append((s.offset, s.offset + s.nbytes, s.first_step, s.last_step, s.name,
                          family(s.tensor), family(s.alias_of)))
        for sc in self.scratch:
            if sc.nbytes:
                items.append((sc.offset, sc.offset + sc.nbytes, sc.step, sc.step,
                              f"scratch:{sc.name}", None, None))
        for lo, hi, *_ in items:
            if lo < 0 or hi > self.arena_bytes:
                raise ModelError("buffer outside the arena", model=self.model,
                                 offset=lo, size=hi - lo, arena_bytes=self.arena_bytes)
        items.sort()
        for k, a in enumerate(items):
            for b in items[k + 1:]:
                if b[0] >= a[1]:
                    break
                if a[0] == a[1] or b[0] == b[1] or a[2] > b[3] or b[2] > a[3]:
                    continue
                fa, fb = a[5], b[5]
                if fa is not None and fb is not None and (fa == fb or a[6] == fb or b[6] == fa):
                    continue
                raise ModelError("two buffers live at the same step share bytes",
                                 model=self.model, planner=self.planner,
                                 buffers=f"{a[4]} @ {a[0]}..{a[1]} and {b[4]} @ {b[0]}..{b[1]}")
        return self

    def timeline(self, width: int = 64) -> str:
        """ASCII timeline (one line per step, one character per arena slice), a legend and
        the arena size."""
        bufs = [Buffer(b.size, b.first_step, b.last_step) for b in self.buffers]
        labels = [self.op_names[o] for o in self.order]
        body = ascii_timeline(bufs, [b.offset for b in self.buffers], width=width,
                              labels=labels, shared=[b.group for b in self.buffers])
        chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        def short(label: str, n: int = 48) -> str:  # TFLite names run to hundreds of chars
            return label if len(label) <= n else f"{label[:n // 2 - 2]}...{label[-n // 2 + 1:]}"

        legend = [f"  {chars[i] if i < len(chars) else '*'}: {short(b.label)} @ {b.offset} "
                  f"({b.size} B)" for i, b in enumerate(self.buffers)]
        head = (f"{self.model}: {self.planner} ({self.variant}), arena {self.arena_bytes} B, "
                f"peak live {self.peak_live_bytes} B, alignment {self.alignment}")
        return "\n".join([head, body, *legend])

    def to_dataframe(self) -> Any:
        """One row per tensor and per non-empty scratch buffer (a pandas DataFrame)."""
        import pandas as pd

        rows = [{"kind": "tensor", "index": s.tensor, "name": s.name, "offset": s.offset,
                 "nbytes": s.nbytes, "end": s.offset + s.nbytes, "first_step": s.first_step,
                 "last_step": s.last_step, "buffer": s.buffer, "alias_of": s.alias_of}
                for s in self.tensors]
        rows += [{"kind": "scratch", "index": s.op, "name": s.name, "offset": s.offset,
                  "nbytes": s.nbytes, "end": s.offset + s.nbytes, "first_step": s.step,
                  "last_step": s.step, "buffer": s.buffer, "alias_of": None}
                 for s in self.scratch if s.nbytes]
        return pd.DataFrame(rows, columns=["kind", "index", "name", "offset", "nbytes", "end",
                                           "first_step", "last_step", "buffer",
                                           "alias_of"])

    def plot_live_bytes(self, path: str | Path) -> Path:
        """Bar chart of the live bytes at each operator with the arena size as a line; PNG
        (or any format matplotlib infers from the suffix) at ``path``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        labels = [self.op_names[o] for o in self.order]
        fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(labels) + 2), 4))
        ax.bar(range(len(labels)), self.live_bytes, color="tab:blue", label="live bytes")
        ax.axhline(self.arena_bytes, color="tab:red", linestyle="--",
                   label=f"arena {self.arena_bytes} B")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_ylabel("bytes")
        ax.set_title(f"{self.model}: {self.planner} ({self.variant})")
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
