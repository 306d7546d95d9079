"""The one buffer-planner interface: buffers with a size and a lifetime, offsets out.

A *buffer* is ``size`` bytes needed from time step ``first_use`` to ``last_use`` inclusive
(time steps are operator positions in the execution order). Two buffers *overlap in time*
when their intervals share a step; a valid plan gives overlapping buffers disjoint bytes.
Sizes are rounded up to the planner's ``alignment`` before planning, as TFLite Micro does
with ``AlignSizeUp(bytes, MicroArenaBufferAlignment())`` (16) before ``AddBuffer``; so every
offset is a multiple of the alignment too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from mcusim.errors import ModelError

__all__ = ["Buffer", "DEFAULT_ALIGNMENT", "MemoryPlanner", "align_up", "ascii_timeline",
           "find_overlap"]

#: TFLite Micro's ``MicroArenaBufferAlignment()``.
DEFAULT_ALIGNMENT = 16


def align_up(n: int, alignment: int) -> int:
    """``n`` rounded up to a multiple of ``alignment``."""
    return -(-n // alignment) * alignment


@dataclass(frozen=True)
class Buffer:
    """One requested buffer: ``size`` bytes (already aligned) live on ``[first_use, last_use]``."""

    size: int
    first_use: int
    last_use: int

    def overlaps_in_time(self, other: Buffer) -> bool:
        return not (self.first_use > other.last_use or other.first_use > self.last_use)


class MemoryPlanner(ABC):
    """Base class of the planners: collect buffers, then ask for offsets and the arena size.

    Parameters
    ----------
    alignment
        Every size is rounded up to a multiple of it (default 16, as TFLite Micro).

    Subclasses implement :meth:`_place` (offsets of all buffers, in ``add_buffer`` order).
    Offsets are computed lazily on first use and cached until another buffer is added.
    """

    #: Short name used in reports.
    name: str = "base"

    def __init__(self, *, alignment: int = DEFAULT_ALIGNMENT) -> None:
        if alignment < 1:
            raise ModelError(f"alignment must be >= 1, got {alignment}")
        self.alignment = alignment
        self._buffers: list[Buffer] = []
        self._root: list[int] = []  # tie root of each buffer (itself unless tied)
        self._delta: list[int] = []  # offset relative to the root's
        self._offsets: list[int] | None = None

    # ---------------------------------------------------------------- building
    def add_buffer(self, size: int, first_use: int, last_use: int) -> int:
        """Request a buffer; return its index (the order of the calls).

        Raises
        ------
        ModelError
            For ``size < 0``, ``first_use < 0`` or ``last_use < first_use``.
        """
        if size < 0:
            raise ModelError(f"buffer size must be >= 0, got {size}",
                             buffer=len(self._buffers))
        if first_use < 0 or last_use < first_use:
            raise ModelError(f"invalid lifetime [{first_use}, {last_use}]: need "
                             "0 <= first_use <= last_use", buffer=len(self._buffers))
        self._buffers.append(Buffer(align_up(int(size), self.alignment), int(first_use),
                                    int(last_use)))
        self._root.append(len(self._buffers) - 1)
        self._delta.append(0)
        self._offsets = None
        return len(self._buffers) - 1

    def tie(self, index: int, to: int, delta: int = 0) -> None:
        """Place buffer ``index`` at ``offset(to) + delta`` (in-place execution: an output
        written over an input, ``delta`` 0, or overlapping it from below, ``delta < 0``).

        Tied buffers may share bytes while both are live (the caller vouches for it: the
        kernel's access order allows it); the planner keeps every other buffer off the bytes
        each of them covers while it lives. ``delta`` must be a multiple of the alignment.

        Raises
        ------
        ModelError
            For an index out of range, a tie of a group to itself or an unaligned delta.
        """
        n = len(self._buffers)
        if not (0 <= index < n and 0 <= to < n) or self._root[index] == self._root[to]:
            raise ModelError(f"cannot tie buffer {index} to {to}", buffers=n)
        if delta % self.alignment:
            raise ModelError(f"tie offset {delta} is not a multiple of the alignment "
                             f"{self.alignment}", buffers=f"{index} and {to}")
        old, new = self._root[index], self._root[to]
        move = self._delta[to] + delta - self._delta[index]
        for i, r in enumerate(self._root):
            if r == old:
                self._root[i] = new
                self._delta[i] += move
        self._offsets = None

    def tie_delta(self, index: int) -> int:
        """Offset of buffer ``index`` relative to the first buffer of its tie group."""
        first = next(i for i, r in enumerate(self._root) if r == self._root[index])
        return self._delta[index] - self._delta[first]

    def tie_groups(self) -> list[list[int]]:
        """Buffers that share one offset, each group in ``add_buffer`` order, groups by
        their first buffer."""
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(self._root):
            groups.setdefault(r, []).append(i)
        return sorted(groups.values(), key=lambda g: g[0])

    # ---------------------------------------------------------------- queries
    @property
    def buffers(self) -> tuple[Buffer, ...]:
        return tuple(self._buffers)

    @property
    def num_buffers(self) -> int:
        return len(self._buffers)

    def offsets(self) -> list[int]:
        """Offsets of all buffers, in ``add_buffer`` order."""
        if self._offsets is None:
            groups = self.tie_groups()
            deltas = [0] * len(self._buffers)
            for g in groups:
                for i in g:
                    deltas[i] = self._delta[i] - self._delta[g[0]]
            self._offsets = list(self._place(self._buffers, groups, deltas))
        return list(self._offsets)

    def offset(self, index: int) -> int:
        """Byte offset of buffer ``index`` in the arena."""
        if not 0 <= index < len(self._buffers):
            raise ModelError(f"buffer index {index} out of range 0..{len(self._buffers) - 1}")
        return self.offsets()[index]

    @property
    def arena_size(self) -> int:
        """Bytes from offset 0 to the end of the highest buffer."""
        offs = self.offsets()
        return max((o + b.size for o, b in zip(offs, self._buffers)), default=0)

    # ---------------------------------------------------------------- debug aids
    def check_overlaps(self) -> None:
        """Raise :class:`ModelError` if two time-overlapping buffers share a byte."""
        bad = find_overlap(self._buffers, self.offsets(), self._root)
        if bad is not None:
            i, j = bad
            raise ModelError("two buffers live at the same time share bytes",
                             planner=self.name, buffers=f"{i} and {j}")

    def timeline(self, width: int = 64) -> str:
        """ASCII view: one line per time step, one character per arena slice."""
        return ascii_timeline(self._buffers, self.offsets(), width=width, shared=self._root)

    @abstractmethod
    def _place(self, buffers: list[Buffer], groups: list[list[int]],
               deltas: list[int]) -> list[int]:
        """Offsets of ``buffers`` (sizes already aligned); buffer ``i`` of a group must be at
        the group's base plus ``deltas[i]`` (the group's first buffer has delta 0)."""


def find_overlap(buffers: list[Buffer] | tuple[Buffer, ...],
                 offsets: list[int] | tuple[int, ...],
                 shared: list[int] | tuple[int, ...] | None = None) -> tuple[int, int] | None:
    """First pair of buffers that are live at the same time and share bytes, or ``None``.

    ``shared`` (optional, one id per buffer) marks buffers meant to share bytes (an
    in-place alias): pairs with the same id are not reported.
    """
    order = sorted(range(len(buffers)), key=lambda i: offsets[i])
    for a_pos, i in enumerate(order):
        a, a_end = buffers[i], offsets[i] + buffers[i].size
        if a.size == 0:
            continue
        for j in order[a_pos + 1:]:
            if offsets[j] >= a_end:
                break
            if shared is not None and shared[i] == shared[j]:
                continue
            if buffers[j].size and a.overlaps_in_time(buffers[j]):
                return (min(i, j), max(i, j))
    return None


def _symbol(i: int) -> str:
    chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return chars[i] if i < len(chars) else "*"


def ascii_timeline(buffers: list[Buffer] | tuple[Buffer, ...], offsets: list[int] | tuple[int, ...],
                   *, width: int = 64, labels: list[str] | None = None,
                   shared: list[int] | tuple[int, ...] | None = None) -> str:
    """TFLite Micro's ``PrintMemoryPlan`` view: ``t: ..aaaa..bb (NNNN B)``.

    Buffer ``i`` is drawn with the ``i``-th of ``0-9a-zA-Z`` (``*`` beyond); ``!`` marks
    bytes claimed by two live buffers (an invalid plan) unless they have the same ``shared``
    id (tied in place: the later one is drawn). Each line ends with the bytes covered by the
    buffers live at that step (shared bytes once). ``labels`` (one per step) are appended.
    """
    if not buffers:
        return "(no buffers)"
    arena = max(max(o + b.size for o, b in zip(offsets, buffers)), 1)
    steps = max(b.last_use for b in buffers) + 1
    lines = []
    group = list(shared) if shared is not None else list(range(len(buffers)))
    for t in range(steps):
        row = ["."] * width
        live = [(off, off + b.size, i) for i, (b, off) in enumerate(zip(buffers, offsets))
                if b.first_use <= t <= b.last_use and b.size]
        for lo, hi, i in live:
            c0 = lo * width // arena
            for c in range(c0, min(max(hi * width // arena, c0 + 1), width)):
                row[c] = _symbol(i)
        for k, (lo, hi, i) in enumerate(live):  # real byte clashes, not shared cells
            for lo2, hi2, j in live[k + 1:]:
                a, b = max(lo, lo2), min(hi, hi2)
                if a < b and group[i] != group[j]:
                    c0 = a * width // arena
                    for c in range(c0, min(max(b * width // arena, c0 + 1), width)):
                        row[c] = "!"
        covered, end = 0, 0
        for lo, hi, _ in sorted(live):
            if hi > end:
                covered += hi - max(lo, end)
                end = hi
        tail = f"  {labels[t]}" if labels and t < len(labels) else ""
        lines.append(f"{t:3d}: {''.join(row)} ({covered} B){tail}")
    return "\n".join(lines)
