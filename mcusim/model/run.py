"""One inference of a model on the emulated board, with every byte and cycle measured.

:func:`run_model` plans the graph, generates and builds its runner (cached), loads it on a
:class:`~mcusim.machine.Machine`, paints the arena, writes the int8 input at its planned
offset and calls the generated ``mcusim_op_<i>`` functions in plan order (one
:meth:`~mcusim.machine.Machine.call` and one profile per operator, with the caches kept warm
between them as in one ``mcusim_model_invoke()``; the total is the sum of the operators, the
invoke wrapper's own call-and-test per operator is not in it).  It returns a
:class:`ModelRun`:

- outputs read from the arena;
- cycles, instructions and ms per operator and in total;
- arena high-water (paint and scan) against the plan's arena;
- stack: *predicted* = the static bound (the compiler's frame sizes, ``-fstack-usage``,
  along the deepest path of the linked code's call graph, :mod:`mcusim.model.stack`);
  *measured* = the lowest stack pointer of the run: the same frames along the calls the run
  actually made (the profile's call edges); *painted* = the machine's paint-and-scan
  high-water mark, which can be lower when the bottom of a frame is reserved but never
  written on the path taken;
- ``.text``/``.rodata``/``.data``/``.bss`` and per-region use from the ELF;
- peak SRAM predicted (``.data + .bss`` with the planned arena, plus the predicted stack)
  and measured (the same with the arena and stack high-water marks).

Example
-------
>>> run = run_model(graph, "stm32f469i")                     # doctest: +SKIP
>>> run.cycles, run.latency_ms, run.peak_sram_measured       # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mcusim.boards import Board, get_board
from mcusim.errors import McusimError, ModelError
from mcusim.loader import LoadedImage
from mcusim.machine import Machine
from mcusim.model import codegen
from mcusim.model.graph import Graph
from mcusim.model.plan import STRATEGIES, Plan, plan_graph
from mcusim.model.stack import StackAnalysis, analyse_stack
from mcusim.sizes import RegionUse, region_use

__all__ = ["ModelRun", "OpRun", "make_plan", "run_model", "section_sizes", "default_input"]

ARENA_FILL = (0xA5, 0x5A)
#: The planner strategy used when none is named (the smallest arena of all strategies).
DEFAULT_PLANNER = "best"
SECTION_GROUPS = {"text": (".isr_vector", ".text", ".ARM.extab", ".ARM.exidx",
                           ".preinit_array", ".init_array", ".fini_array"),
                  "rodata": (".rodata",), "data": (".data",), "bss": (".bss",)}


@dataclass(frozen=True)
class OpRun:
    """Measurements of one operator (``functions``: those that ran, most cycles first)."""

    index: int
    name: str
    kind: str
    symbol: str
    kernel: str
    cycles: int
    instructions: int
    latency_ms: float
    stack_painted: int
    stack_measured: int
    stack_predicted: int
    stack_path: tuple[str, ...]
    functions: tuple[str, ...] = ()


@dataclass
class ModelRun:
    """One inference of a graph on a board (see the module docstring)."""

    graph: Graph
    board: Board
    placement: codegen.Placement
    elf: Path
    data_region: str
    outputs: list[np.ndarray]
    ops: list[OpRun]
    arena_high_water: int
    sections: dict[str, int]
    regions: list[RegionUse]
    stack_reserved: int
    generated: codegen.GeneratedModel
    build_cached: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        return sum(o.cycles for o in self.ops)

    @property
    def instructions(self) -> int:
        return sum(o.instructions for o in self.ops)

    @property
    def latency_ms(self) -> float:
        return self.cycles / self.board.clock_hz * 1e3

    @property
    def arena_bytes(self) -> int:
        """The plan's arena (buffers rounded up to its alignment)."""
        return self.placement.arena_bytes

    @property
    def arena_used(self) -> int:
        """Bytes of the generated arena array: the end of the plan's highest buffer."""
        return self.placement.used_bytes

    @property
    def stack_measured(self) -> int:
        return max((o.stack_measured for o in self.ops), default=0)

    @property
    def stack_predicted(self) -> int:
        return max((o.stack_predicted for o in self.ops), default=0)

    @property
    def stack_painted(self) -> int:
        return max((o.stack_painted for o in self.ops), default=0)

    @property
    def static_bytes(self) -> int:
        """``.data + .bss`` (the arena included) from the ELF."""
        return self.sections["data"] + self.sections["bss"]

    @property
    def peak_sram_predicted(self) -> int:
        """``.data + .bss`` (the arena array sized from the plan) + the predicted stack."""
        return self.static_bytes + self.stack_predicted

    @property
    def peak_sram_measured(self) -> int:
        """``.data + .bss`` with the arena counted to its high-water mark + the measured
        stack."""
        return self.static_bytes - self.arena_used + self.arena_high_water + self.stack_measured

    @property
    def flash_bytes(self) -> int:
        """Flash the image takes: code, read-only data and the ``.data`` load copy."""
        return sum(r.used for r in self.regions if r.kind == "flash")


def section_sizes(image: LoadedImage) -> dict[str, int]:
    """Bytes of ``text`` (vectors, code, unwind tables, init arrays), ``rodata``, ``data``
    and ``bss`` of an image."""
    out = {k: 0 for k in SECTION_GROUPS}
    for sec in image.sections:
        for key, names in SECTION_GROUPS.items():
            if sec.name in names:
                out[key] += sec.size
    return out


def default_input(graph: Graph, seed: int = 0) -> np.ndarray:
    """A deterministic int8 input of the graph's first input shape."""
    t = graph.tensors[graph.inputs[0]]
    return np.random.default_rng(seed).integers(-128, 128, t.shape, dtype=np.int8)


def make_plan(graph: Graph, board: Board | str, planner: str | None = None) -> Plan:
    """Plan the graph with :func:`mcusim.model.plan.plan_graph` (``planner`` = a strategy of
    :data:`mcusim.model.plan.STRATEGIES`, default :data:`DEFAULT_PLANNER`)."""
    name = planner or DEFAULT_PLANNER
    if name not in STRATEGIES:
        raise ModelError(f"unknown planner {name!r}; choose one of {', '.join(STRATEGIES)}",
                         model=graph.name)
    return plan_graph(graph, name, board=get_board(board))


def _check_status(symbol: str, op_name: str, status: int) -> None:
    if status != 0:
        names = {-1: "MNN_ARG_ERROR", -2: "MNN_NO_SCRATCH"}
        raise ModelError(f"the kernel returned {names.get(status, status)}",
                         operator=op_name, symbol=symbol, status=status)


def run_model(graph: Graph, board: Board | str, x: np.ndarray | None = None, *,
              plan: Plan | None = None, planner: str | None = None,
              budget: int | None = None, invoke: bool = False) -> ModelRun:
    """Run one inference of ``graph`` on ``board`` and measure it.

    Parameters
    ----------
    graph
        The model (``s8`` operators).
    board
        Board profile or name.
    x
        int8 input of the graph input's shape (default: :func:`default_input`).
    plan, planner
        A memory plan, or the planner strategy to make one with (:func:`make_plan`).
    budget
        Instruction budget of each operator call.
    invoke
        Also run ``mcusim_model_invoke()`` once (a second inference, caches cold at its
        start as at the first operator) and record its cycles in ``extra["invoke_cycles"]``
        and the difference to the operators' sum in ``extra["runner_overhead_cycles"]``;
        its outputs must equal the operator sequence's.

    Returns
    -------
    ModelRun

    Raises
    ------
    ModelError
        Bad input shape, or a kernel returned an error status.
    ImageTooLargeError
        The image does not fit the board (region and overflow named).
    """
    board = get_board(board)
    graph.validate()
    if x is None:
        x = default_input(graph)
    t_in = graph.tensors[graph.inputs[0]]
    x = np.asarray(x)
    if x.dtype != np.int8 or x.size != t_in.num_elements:
        raise ModelError(f"input must be int8 with {t_in.num_elements} elements of shape "
                         f"{t_in.shape}, got {x.dtype} {x.shape}", model=graph.name,
                         tensor=t_in.name)
    plan = plan if plan is not None else make_plan(graph, board, planner)
    gen = codegen.generate(graph, plan)
    placement = gen.placement
    region = codegen.data_region_for(board, placement.arena_bytes)
    build = codegen.build_model(gen, board, data_region=region)
    machine = Machine(board, build.elf, warm_caches=True)
    stack = analyse_stack(build.elf, machine.image)
    arena = machine.image.symbol(codegen.ARENA_SYMBOL)
    if arena.size != placement.used_bytes:
        raise McusimError("the arena symbol's size differs from the plan",
                          symbol=arena.name, size=arena.size, planned=placement.used_bytes)
    high = 0
    ops: list[OpRun] = []
    outputs: list[np.ndarray] = []
    for attempt, fill in enumerate(ARENA_FILL):
        machine.write(arena.address, np.full(arena.size, fill, np.uint8))
        machine.write(arena.address + placement.tensor_offsets[graph.inputs[0]],
                      x.reshape(-1).astype(np.int8))
        ops = [_run_op(machine, stack, graph, code, budget) for code in gen.ops]
        high = max(high, machine.high_water(arena.address, arena.size, fill))
        outputs = [machine.read(arena.address + placement.tensor_offsets[t],
                                graph.tensors[t].num_elements, np.int8)
                   .reshape(graph.tensors[t].shape).copy() for t in graph.outputs]
        if high == arena.size:  # a second fill only tells apart a tail equal to the first
            break
    secs = section_sizes(machine.image)
    run = ModelRun(graph, board, placement, build.elf, region, outputs, ops, high, secs,
                   region_use(machine.image, board), board.layout.stack_bytes, gen,
                   build.cached)
    if invoke:
        _run_invoke(run, arena.address, x)
    return run


def _run_invoke(run: ModelRun, arena: int, x: np.ndarray) -> None:
    graph, placement = run.graph, run.placement
    fresh = Machine(run.board, run.elf, warm_caches=False)   # cold caches, as the first op
    fresh.write(arena, np.full(placement.used_bytes, ARENA_FILL[0], np.uint8))
    fresh.write(arena + placement.tensor_offsets[graph.inputs[0]],
                x.reshape(-1).astype(np.int8))
    res = fresh.call(codegen.INVOKE_SYMBOL)
    _check_status(codegen.INVOKE_SYMBOL, run.graph.name, res.return_value)
    for t, expected in zip(graph.outputs, run.outputs):
        got = fresh.read(arena + placement.tensor_offsets[t], graph.tensors[t].num_elements,
                         np.int8)
        if not np.array_equal(got, expected.reshape(-1)):
            raise McusimError("mcusim_model_invoke() gave other outputs than the operators "
                              "called one by one", model=graph.name,
                              tensor=graph.tensors[t].name)
    cycles = int(fresh.profile(res).cycles)
    run.extra.update(invoke_cycles=cycles, runner_overhead_cycles=cycles - run.cycles,
                     invoke_stack=res.stack_used)


def _run_op(machine: Machine, stack: StackAnalysis, graph: Graph, code: codegen.OpCode,
            budget: int | None) -> OpRun:
    res = machine.call(code.symbol, budget=budget)
    _check_status(code.symbol, code.name, res.return_value)
    prof = machine.profile(res)
    edges = prof.call_edges()
    funcs = prof.functions()
    ran = set(funcs["name"])
    return OpRun(code.index, code.name, code.kind, code.symbol, code.kernel, int(prof.cycles),
                 int(prof.instructions), prof.cycles / machine.board.clock_hz * 1e3,
                 res.stack_used, stack.depth(code.symbol, edges, ran),
                 stack.depth(code.symbol), tuple(stack.path(code.symbol, edges, ran)),
                 tuple(funcs["name"]))



def run_many(graph: Graph, boards: Sequence[Board | str], **kwargs: Any) -> list[ModelRun]:
    """:func:`run_model` on several boards."""
    return [run_model(graph, b, **kwargs) for b in boards]
