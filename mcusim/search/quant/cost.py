"""What a policy costs on a board: latency from simulated kernel cycles, peak SRAM and Flash
from the memory planner and the generated constants.

Latency of a mixed-precision graph = the sum over its operators of

- ``packed`` conv/fc: the cycles of that kernel (``"mul"`` or ``"smlad"``) on that layer's
  shape and bits, from one emulated call of :func:`mcusim.kernels.packed.run_kernel` on
  random data (warm caches, as :func:`mcusim.model.run.run_model` runs), cached on disk per
  board and firmware build, plus :func:`mcusim.model.lower_packed.flip_cycles_estimate` for
  its sign flips;
- every other operator (and ``s8`` conv/fc at 8/8): its cycles in one emulated inference of
  the int8 graph (:func:`mcusim.model.run.run_model`), which does not depend on the bits
  of its neighbours.

The lookup-table predictor of ``mcusim.predict`` is used instead when it offers the packed
family (not yet on this branch); direct simulation is the fallback and the reference.

Per layer and bit pair the fastest kernel is chosen (:meth:`CostModel.choose`): packing or
unpack + SMLAD, or ``s8`` at 8/8 with 8-bit neighbours, as ``docs/kernels_packed.md`` ranks
them, but per layer shape rather than summed over a benchmark suite.

Peak SRAM = the planner's arena (:func:`mcusim.model.run.make_plan`) plus the static data
and stack measured in the int8 graph's inference (its peak SRAM minus its arena); Flash =
the constants the code generator writes (packed filters + int32 correction, multiplier and
shift per channel; ``s8``: int8 filter + int32 bias, multiplier and shift) plus the code
and other read-only data of the int8 image, plus the packed family's code when used
(measured once per board from a deployed packed graph, :meth:`CostModel.calibrate_packed`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mcusim.boards import Board, get_board
from mcusim.build import cache_dir
from mcusim.kernels import packed as P
from mcusim.kernels.layers import Layer
from mcusim.model.graph import Graph
from mcusim.model.lower_packed import flip_cycles_estimate, op_layer
from mcusim.search.quant.policy import Policy

__all__ = ["CostModel", "PolicyCost", "constant_bytes"]


@dataclass(frozen=True)
class PolicyCost:
    """Predicted cost of one policy on one board."""

    latency_ms: float
    cycles: int
    peak_sram_bytes: int
    flash_bytes: int
    arena_bytes: int
    kernels: Mapping[int, str]
    op_cycles: Mapping[int, int]


def constant_bytes(graph: Graph) -> int:
    """Flash bytes of the constants the code generator writes for ``graph``."""
    total = 0
    for i, op in enumerate(graph.operators):
        if op.kind not in ("conv", "fc", "dwconv"):
            continue
        w = graph.tensors[op.inputs[1]]
        n = w.shape[0] if op.kind != "dwconv" else w.shape[3]
        if op.kernel.family == "packed":
            ly = op_layer(graph, i)
            total += n * P.row_bytes(ly.k, op.kernel.w_bits, op.kernel.w_bits,
                                     op.kernel.a_bits) + 12 * n
        else:
            total += w.num_elements + 12 * n
    return total


class CostModel:
    """Prices policies of one graph on one board (see the module docstring).

    Parameters
    ----------
    graph
        The int8 graph (its shapes; the search changes only bits).
    board
        Board profile or name.
    cache
        JSON file of measured packed-kernel cycles (default under the build cache).
    """

    def __init__(self, graph: Graph, board: Board | str, *, cache: str | Path | None = None
                 ) -> None:
        self.graph = graph
        self.board = get_board(board)
        self._elf = P.build(self.board)
        self.cache_path = Path(cache) if cache else (cache_dir() / "quant" /
                                                      f"packed-{self.board.name}.json")
        self._cycles: dict[str, int] = {}
        if self.cache_path.is_file():
            try:
                self._cycles = json.loads(self.cache_path.read_text())
            except (OSError, ValueError):
                self._cycles = {}
        self._machine: Any = None
        self._base: Any = None
        self._packed_code: int | None = None

    # ------------------------------------------------------------------ measurements
    def baseline(self) -> Any:
        """The int8 graph's inference (:class:`mcusim.model.run.ModelRun`), run once."""
        if self._base is None:
            from mcusim.model.run import run_model

            self._base = run_model(self.graph, self.board)
        return self._base

    def _key(self, layer: Layer, w: int, a: int, out: int, strategy: str) -> str:
        return (f"{Path(self._elf).parent.name}/{Path(self._elf).name}|{layer.kind}|{layer.in_h}x"
                f"{layer.in_w}x{layer.in_c}>{layer.out_c}|k{layer.kh}x{layer.kw}s{layer.stride}"
                f"p{layer.pad}|w{w}a{a}o{out}|{strategy}")

    def packed_cycles(self, layer: Layer, w: int, a: int, out: int, strategy: str) -> int:
        """Cycles of one packed kernel call (measured once, then cached on disk)."""
        key = self._key(layer, w, a, out, strategy)
        if key not in self._cycles:
            from mcusim.machine import Machine

            if self._machine is None:
                self._machine = Machine(self.board, self._elf, warm_caches=True)
            m = self._machine
            p = P.make_problem(layer, w, a, np.random.default_rng(w * 100 + a * 10 + out),
                               out_bits=out)
            run = P.run_kernel(m, p, strategy)
            if run.status != 0 or not np.array_equal(run.output, p.reference()):
                from mcusim.errors import McusimError

                raise McusimError("packed kernel output differs from numpy", layer=layer.name,
                                  kernel=f"{strategy} w{w}a{a}")
            self._cycles[key] = int(m.profile(run.result).cycles)
            self._save()
        return self._cycles[key]

    def _save(self) -> None:
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self._cycles, indent=0, sort_keys=True))
        tmp.replace(self.cache_path)

    # ------------------------------------------------------------------ choices
    def choose(self, index: int, w: int, a: int, out: int) -> tuple[str, int]:
        """The fastest kernel of operator ``index`` at ``(w, a)`` with ``out`` output bits:
        ``("mul" | "smlad" | "s8", cycles)``."""
        layer = op_layer(self.graph, index)
        x = self.graph.tensors[self.graph.operators[index].inputs[0]]
        y = self.graph.tensors[self.graph.operators[index].outputs[0]]
        flips = (flip_cycles_estimate(x.num_elements) if a == 8 else 0) + \
            (flip_cycles_estimate(y.num_elements) if out == 8 else 0)
        options = [(self.packed_cycles(layer, w, a, out, s) + flips, s) for s in P.STRATEGIES]
        if (w, a, out) == (8, 8, 8):
            options.append((self.baseline().ops[self._pos(index)].cycles, "s8"))
        cycles, kind = min(options)
        return kind, int(cycles)

    def _pos(self, index: int) -> int:
        return next(k for k, o in enumerate(self.baseline().ops) if o.index == index)

    def kernels(self, policy: Policy) -> dict[int, str]:
        """The chosen kernel of every quantisable operator under ``policy``."""
        out = {}
        for i, op in enumerate(self.graph.operators):
            if op.kind in ("conv", "fc") and i not in _fixed(self.graph):
                w, a = policy.bits[i]
                out[i] = self.choose(i, w, a, policy.tensor_bits.get(op.outputs[0], 8))[0]
        return out

    # ------------------------------------------------------------------ totals
    def price(self, policy: Policy, mixed: Graph | None = None) -> PolicyCost:
        """Predicted latency, peak SRAM and Flash of ``policy``.

        Parameters
        ----------
        policy
            The bits.
        mixed
            The mixed-precision graph of the policy (default: re-quantised from the int8
            graph with :func:`mcusim.search.quant.mixed.requantize_graph`; only its sizes
            matter).
        """
        from mcusim.model.run import make_plan
        from mcusim.search.quant.mixed import requantize_graph

        base = self.baseline()
        kernels = self.kernels(policy)
        op_cycles: dict[int, int] = {}
        for o in base.ops:
            i = o.index
            if i in kernels:
                w, a = policy.bits[i]
                out = policy.tensor_bits.get(self.graph.operators[i].outputs[0], 8)
                op_cycles[i] = self.choose(i, w, a, out)[1]
            else:
                op_cycles[i] = o.cycles
        g = mixed if mixed is not None else requantize_graph(self.graph, policy, kernels)
        plan = make_plan(g, self.board)
        arena = int(plan.arena_bytes)
        packed = any(k != "s8" for k in kernels.values())
        static = self.packed_static_bytes() if packed else \
            base.peak_sram_predicted - base.arena_used
        sram = static + codegen_used(plan)
        code = base.flash_bytes - constant_bytes(self.graph)
        if packed:
            code += self.packed_code_bytes()
        flash = code + constant_bytes(g)
        cycles = int(sum(op_cycles.values()))
        return PolicyCost(cycles / self.board.clock_hz * 1e3, cycles, int(sram), int(flash),
                          arena, kernels, op_cycles)

    def packed_code_bytes(self) -> int:
        """Flash bytes the packed family's code adds to an image."""
        return self._packed_calibration()[0]

    def packed_static_bytes(self) -> int:
        """Static data + predicted stack of an image with packed kernels (its peak SRAM
        without the arena)."""
        return self._packed_calibration()[1]

    def _packed_calibration(self) -> tuple[int, int]:
        """Measured once per board, firmware build and graph: the graph with every
        quantisable layer at w4a8 deployed and run, against the int8 graph."""
        key = f"{Path(self._elf).name}|calibration|{self.graph.name}|{self.graph.num_operators}"
        if key not in self._cycles:
            from mcusim.model.run import run_model
            from mcusim.search.quant.mixed import requantize_graph
            from mcusim.search.quant.policy import uniform

            pol = uniform(self.graph, 4, 8)
            g = requantize_graph(self.graph, pol, {})
            run = run_model(g, self.board)
            base = self.baseline()
            code = (run.flash_bytes - constant_bytes(g)) - (base.flash_bytes
                                                            - constant_bytes(self.graph))
            self._cycles[key] = [int(code), int(run.peak_sram_predicted - run.arena_used)]  # type: ignore[assignment]
            self._save()
        code, static = self._cycles[key]  # type: ignore[misc]
        return int(code), int(static)


def codegen_used(plan: Any) -> int:
    """Bytes of the arena array the code generator emits for ``plan``."""
    from mcusim.model.codegen import placement_of

    return placement_of(plan).used_bytes


def _fixed(graph: Graph) -> set[int]:
    from mcusim.search.quant.policy import quantisable

    return set(quantisable(graph)[1])
