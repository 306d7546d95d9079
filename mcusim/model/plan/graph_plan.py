"""Planning a whole graph: lifetimes, in-place aliases, operator order, then a buffer planner.

Accounting follows TFLite Micro's allocator (``micro_allocation_info.cc``, ``CreatePlan``):
every non-constant tensor (graph inputs and outputs included) is one arena buffer, live from
its producer (graph inputs: the first step) to its last consumer (graph outputs: the last
step); each operator's scratch is a buffer live during that operator only; sizes are rounded
up to 16 bytes; tensors are added in tensor-index order, then the scratch buffers in
operator order (the order the greedy planner's stable sort keeps for equal sizes).

Strategies (:data:`STRATEGIES`):

``linear``
    No reuse (TFLM's ``LinearMemoryPlanner``): the sum of all buffers.
``greedy``
    TFLM's ``GreedyMemoryPlanner`` on the graph's own order: what TFLM would plan.
``reorder``
    The operator order with the smallest peak of live bytes (:mod:`.order`, μNAS), then
    greedy.
``inplace``
    The graph's order, outputs written over (or overlapping from below) dying inputs where
    the kernel allows it (:mod:`.inplace`, TinyEngine), then greedy. Overlaps chained over
    many operators drift down the arena, so each option is kept only where the arena does
    not grow (and all of them when that is smaller).
``best``
    Reorder (with in-place credits) + in-place + greedy; the smallest arena among that and
    the plans above (graph order or searched order, with or without in-place), so it is
    never larger than ``greedy``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from mcusim.errors import ModelError
from mcusim.model.plan._base import DEFAULT_ALIGNMENT, MemoryPlanner, align_up
from mcusim.model.plan.dataflow import Dataflow, check_order, lifetimes
from mcusim.model.plan.greedy import GreedyPlanner
from mcusim.model.plan.inplace import overlap_saving, inplace_options
from mcusim.model.plan.linear import LinearPlanner
from mcusim.model.plan.order import DEFAULT_MAX_STATES, min_peak_order
from mcusim.model.plan.result import Plan, PlannedBuffer, ScratchSlot, TensorSlot
from mcusim.model.scratch import board_has_dsp, scratch_bytes

__all__ = ["STRATEGIES", "plan_graph", "plan_in_order", "plan_summary"]

#: Strategy names accepted by :func:`plan_graph`, in report order.
STRATEGIES: tuple[str, ...] = ("linear", "greedy", "reorder", "inplace", "best")


def plan_graph(graph: Any, strategy: str = "greedy", *, board: Any | None = None,
               scratch: Mapping[int, int] | bool | None = None,
               alignment: int = DEFAULT_ALIGNMENT, limit: int | None = None,
               max_states: int = DEFAULT_MAX_STATES) -> Plan:
    """Plan the activation arena of ``graph``.

    Parameters
    ----------
    graph
        A :class:`mcusim.model.graph.Graph` (validated here).
    strategy
        One of :data:`STRATEGIES`.
    board
        The board (a :class:`mcusim.boards.Board` or ``None``); only its core matters: it
        decides the DSP build and so the scratch sizes. ``None``: a DSP core (both built-in
        boards).
    scratch
        ``None``/``True``: scratch from the kernels' ``get_buffer_size`` mirrors
        (:func:`mcusim.model.scratch.scratch_bytes`). ``False``: no scratch (to compare with
        an allocator whose kernels request none, e.g. TFLM's reference kernels). A mapping:
        bytes per operator index (missing ones 0).
    alignment
        Buffer alignment in bytes (TFLM: 16).
    limit
        If given, an arena larger than this raises :class:`ModelError` with the overflow.
    max_states
        Budget of the exact order search (see :mod:`.order`).

    Returns
    -------
    Plan

    Raises
    ------
    ModelError
        Unknown strategy, invalid graph, bad scratch sizes, or an arena above ``limit``.

    Examples
    --------
    >>> from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor
    >>> q = Quant((0.05,), (0,))
    >>> t = (Tensor("x", (1, 8, 8, 4), "int8", q), Tensor("y", (1, 4, 4, 4), "int8", q),
    ...      Tensor("z", (1, 64), "int8", q))
    >>> ops = (Operator("pool", "maxpool", (0,), (1,), OpParams(filter=(2, 2), stride=(2, 2))),
    ...        Operator("flat", "reshape", (1,), (2,)))
    >>> g = Graph("tiny", t, ops, (0,), (2,))
    >>> plan_graph(g, "greedy").arena_bytes, plan_graph(g, "best").arena_bytes
    (320, 256)
    """
    if strategy not in STRATEGIES:
        raise ModelError(f"unknown planner {strategy!r}", known=", ".join(STRATEGIES))
    graph.validate()
    dsp = board_has_dsp(board)
    flow = _dataflow(graph, scratch, dsp)
    n = flow.num_ops
    identity = tuple(range(n))

    def run(order: tuple[int, ...], inplace: bool, planner: type[MemoryPlanner], variant: str,
            exact: bool = True, allowed: frozenset[int] | None = None) -> Plan:
        return plan_in_order(graph, flow, order, inplace=inplace, planner=planner,
                             alignment=alignment, name=strategy, variant=variant, dsp=dsp,
                             exact_order=exact, allowed=allowed)

    sizes = {t: align_up(flow.sizes[t], alignment) for t in flow.tensors()}
    if strategy == "linear":
        plan = run(identity, False, LinearPlanner, "graph order, no reuse")
    elif strategy == "greedy":
        plan = run(identity, False, GreedyPlanner, "greedy")
    elif strategy == "reorder":
        res = min_peak_order(flow, sizes=sizes, max_states=max_states)
        plan = run(res.order, False, GreedyPlanner, "reorder+greedy", res.exact)
    elif strategy == "inplace":
        opts = [o for o in inplace_options(graph, alignment=alignment) if o.applicable]
        plan = _selective(opts, identity, run, "inplace+greedy", True)
    else:
        plan = _best(graph, flow, sizes, run, max_states, alignment)
    if limit is not None and plan.arena_bytes > limit:
        raise ModelError("the activation arena does not fit the limit",
                         model=graph.source or graph.name, planner=strategy,
                         arena_bytes=plan.arena_bytes, limit=limit,
                         overflow=plan.arena_bytes - limit)
    return plan


def _best(graph: Any, flow: Dataflow, sizes: dict[int, int],
          run: Callable[..., Plan], max_states: int, alignment: int) -> Plan:
    n = flow.num_ops
    identity = tuple(range(n))
    opts = [o for o in inplace_options(graph, alignment=alignment) if o.applicable]
    static = {}
    for o in opts:  # reshape outputs always share their input's buffer
        if o.kind == "reshape":
            static[graph.operators[o.op].outputs[0]] = o.tensor
    groups = _resolve(static)
    credits: dict[int, list[tuple[int, int]]] = {}
    for o in opts:
        if o.kind != "reshape":
            y = graph.operators[o.op].outputs[0]
            saved = overlap_saving(sizes[o.tensor], sizes[y], o.shift)
            credits.setdefault(o.op, []).append((o.tensor, saved))
    searched = min_peak_order(flow, groups=groups, sizes=sizes, credits=credits,
                              max_states=max_states)
    plain = min_peak_order(flow, sizes=sizes, max_states=max_states)
    candidates = [
        _selective(opts, searched.order, run, "reorder+inplace+greedy", searched.exact),
        _selective(opts, identity, run, "inplace+greedy", True),
        run(plain.order, False, GreedyPlanner, "reorder+greedy", plain.exact),
        run(identity, False, GreedyPlanner, "greedy"),
    ]
    return min(candidates, key=lambda p: p.arena_bytes)


def _selective(opts: list[Any], order: tuple[int, ...], run: Callable[..., Plan],
               variant: str, exact: bool) -> Plan:
    """In-place execution where it helps: overlapping placements chained over many operators
    drift down the arena and can fragment it, so each option is kept only if the arena does
    not grow (one pass in order from all options off, one pass dropping those that do not
    help), and the result compared with all options on."""
    def plan(allowed: frozenset[int]) -> Plan:
        return run(order, True, GreedyPlanner, variant, exact, allowed)

    ops = sorted({o.op for o in opts if o.kind != "reshape"}, key=order.index)
    every = plan(frozenset(ops))
    best = plan(frozenset())
    chosen: set[int] = set()
    for op in ops:
        trial = plan(frozenset(chosen | {op}))
        if trial.arena_bytes <= best.arena_bytes:
            best, chosen = trial, chosen | {op}
    for op in sorted(chosen, key=order.index):
        trial = plan(frozenset(chosen - {op}))
        if trial.arena_bytes < best.arena_bytes:
            best, chosen = trial, chosen - {op}
    return every if every.arena_bytes <= best.arena_bytes else best


def _resolve(alias: dict[int, int]) -> dict[int, int]:
    out = {}
    for t in alias:
        r = t
        while r in alias:
            r = alias[r]
        out[t] = r
    return out


def _dataflow(graph: Any, scratch: Mapping[int, int] | bool | None, dsp: bool) -> Dataflow:
    n = len(graph.operators)
    if scratch is None or scratch is True:
        sizes: Mapping[int, int] | list[int] = [scratch_bytes(graph, i, dsp=dsp)
                                                for i in range(n)]
    elif scratch is False:
        sizes = [0] * n
    else:
        sizes = scratch
    return Dataflow.from_graph(graph, sizes)


def plan_in_order(graph: Any, flow: Dataflow, order: tuple[int, ...], *, inplace: bool,
                  planner: type[MemoryPlanner] = GreedyPlanner,
                  alignment: int = DEFAULT_ALIGNMENT, name: str = "", variant: str = "",
                  dsp: bool = True, exact_order: bool = True,
                  allowed: frozenset[int] | None = None) -> Plan:
    """Plan ``graph`` for a given operator ``order``, with or without in-place aliases
    (``allowed``: only these operators besides reshapes may run in place; ``None``: all).

    With ``inplace``, each applicable option of :func:`.inplace_options` is taken in
    execution order when the input (and every tensor already sharing its bytes) is dead
    after the operator and is no graph output: the output becomes a buffer *tied* to the
    input's offset plus the option's shift (reshape outputs always are, at shift 0).
    """
    check_order(flow, order)
    spans = lifetimes(flow, order)
    step = {op: s for s, op in enumerate(order)}
    alias: dict[int, tuple[int, int]] = {}  # output -> (input it overlaps, offset shift)
    in_place: list[int] = []

    def root(t: int) -> int:
        while t in alias:
            t = alias[t][0]
        return t

    if inplace:
        outs = set(flow.graph_outputs)
        opts_by_op: dict[int, list[Any]] = {}
        for o in inplace_options(graph, alignment=alignment):
            if o.applicable:
                opts_by_op.setdefault(o.op, []).append(o)
        for op in order:
            y = graph.operators[op].outputs[0]
            for o in opts_by_op.get(op, []):
                if o.kind != "reshape" and allowed is not None and op not in allowed:
                    continue
                r = root(o.tensor)
                if o.kind != "reshape":
                    members = [t for t in spans if root(t) == r]
                    if any(spans[m][1] > step[op] or m in outs for m in members):
                        continue
                alias[y] = (o.tensor, o.shift)
                in_place.append(op)
                break

    p = planner(alignment=alignment)
    tbuf = {t: p.add_buffer(flow.sizes[t], *spans[t]) for t in sorted(spans)}
    labels = [graph.tensors[t].name for t in sorted(spans)]
    for y, (x, shift) in alias.items():
        p.tie(tbuf[y], tbuf[x], shift)
    sbuf: dict[int, int] = {}
    for op in range(flow.num_ops):
        if flow.scratch[op]:
            sbuf[op] = p.add_buffer(flow.scratch[op], step[op], step[op])
            labels.append(f"scratch:{graph.operators[op].name}")
    offs = p.offsets()
    tensors = tuple(
        TensorSlot(t, graph.tensors[t].name, offs[tbuf[t]], flow.sizes[t], spans[t][0],
                   spans[t][1], tbuf[t], alias[t][0] if t in alias else None)
        for t in sorted(spans))
    scratch = tuple(
        ScratchSlot(op, graph.operators[op].name, offs[sbuf[op]] if op in sbuf else 0,
                    flow.scratch[op], step[op], sbuf.get(op, -1))
        for op in range(flow.num_ops))
    group = {i: g[0] for g in p.tie_groups() for i in g}
    buffers = tuple(PlannedBuffer(offs[i], b.size, b.first_use, b.last_use, labels[i], group[i])
                    for i, b in enumerate(p.buffers))
    return Plan(model=graph.name, planner=name or p.name, variant=variant or p.name,
                alignment=alignment, order=tuple(order), tensors=tensors, scratch=scratch,
                buffers=buffers, arena_bytes=p.arena_size,
                live_bytes=_live_bytes(p, len(order)), in_place=tuple(sorted(in_place)),
                exact_order=exact_order, dsp=dsp,
                op_names=tuple(op.name for op in graph.operators))


def _live_bytes(p: MemoryPlanner, steps: int) -> tuple[int, ...]:
    """Per step: the bytes covered by the buffers live then (tied buffers that overlap
    count their shared bytes once)."""
    bufs, offs = p.buffers, p.offsets()
    out = []
    for s in range(steps):
        spans = sorted((offs[i], offs[i] + b.size) for i, b in enumerate(bufs)
                       if b.size and b.first_use <= s <= b.last_use)
        total, end = 0, 0
        for lo, hi in spans:
            if hi > end:
                total += hi - max(lo, end)
                end = hi
        out.append(total)
    return tuple(out)


def plan_summary(graph: Any, board: Any | None = None, *,
                 strategies: tuple[str, ...] = STRATEGIES,
                 alignment: int = DEFAULT_ALIGNMENT) -> Any:
    """Arena bytes of each strategy for ``graph`` on ``board`` (a pandas DataFrame).

    Columns: ``planner``, ``variant``, ``arena_bytes`` (with the kernels' scratch),
    ``arena_bytes_no_scratch`` (the same strategy with no scratch buffers: TFLM's reference
    kernels request none for these operators), ``peak_live_bytes``, ``scratch_bytes``
    (largest scratch), ``in_place_ops``, ``exact_order``.
    """
    import pandas as pd

    rows = []
    for s in strategies:
        p = plan_graph(graph, s, board=board, alignment=alignment)
        bare = plan_graph(graph, s, board=board, scratch=False, alignment=alignment)
        rows.append({"planner": s, "variant": p.variant, "arena_bytes": p.arena_bytes,
                     "arena_bytes_no_scratch": bare.arena_bytes,
                     "peak_live_bytes": p.peak_live_bytes,
                     "scratch_bytes": max((x.nbytes for x in p.scratch), default=0),
                     "in_place_ops": len(p.in_place), "exact_order": p.exact_order})
    return pd.DataFrame(rows)
