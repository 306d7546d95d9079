"""Latency by simulation: every operator of the graph through the emulated ``s8`` kernels.

:class:`SimulatedLatency` is the ground truth the other latency models approximate: it lowers
the graph (:func:`mcusim.model.lower.lower`), computes the operators' input activations with
the numpy reference on a seeded input, and calls each operator's firmware kernel
(:mod:`mcusim.kernels.s8`, the wrappers pick the code path as the runner does) on a
:class:`~mcusim.machine.Machine` of the board, taking the cycles of the timing model.  The
kernel outputs are checked against the reference.  Cycles are cached per layer configuration
(:func:`mcusim.search.nas.pricing.graph_configs` row, and the quantisation-independent
shape), so a search simulates each distinct layer once per worker process; the machine is
built on first use in each process and kept for the process's lifetime (it is not pickled).  The runner's own per-operator overhead
(``mcusim.model.run``) is not included.

Examples
--------
>>> from mcusim.model.zoo import get_model
>>> sim = SimulatedLatency("stm32f746zg")
>>> cycles = sim.predict_graph(get_model("tiny"))
>>> len(cycles), bool(cycles[0] > 0), float(cycles[6])      # reshape moves no data
(9, True, 0.0)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mcusim.boards import get_board
from mcusim.model.graph import Graph
from mcusim.model.lower import lower
from mcusim.model.reference import run_op
from mcusim.search.nas.pricing import graph_configs

__all__ = ["SimulatedLatency"]

_BUDGET = 2_000_000_000


@functools.lru_cache(maxsize=None)
def _worker_state(board: str, plain_c: bool) -> dict[str, Any]:
    """The machine and the cycle cache of one (board, build) in this process."""
    return {"machine": None, "cache": {}}


class SimulatedLatency:
    """Cycles per operator from emulating the ``s8`` kernels on ``board``.

    Parameters
    ----------
    board
        Board name or profile path.
    plain_c
        Use the plain-C build (no DSP extension) instead of the DSP one.
    """

    name = "simulated"

    def __init__(self, board: str, *, plain_c: bool = False) -> None:
        self.board = get_board(board).name
        self.plain_c = bool(plain_c)

    @property
    def cache(self) -> dict[str, float]:
        """Cycles by layer key, shared by every instance for this board in this process."""
        return _worker_state(self.board, self.plain_c)["cache"]

    def _get_machine(self) -> Any:
        state = _worker_state(self.board, self.plain_c)
        if state["machine"] is None:
            from mcusim.kernels.firmware import build_family
            from mcusim.machine import Machine

            b = get_board(self.board)
            state["machine"] = Machine(b, build_family(b, "s8", plain_c=self.plain_c))
        return state["machine"]

    def predict_graph(self, graph: Graph) -> np.ndarray:
        frame = graph_configs(graph)
        keys = ["|".join(str(v) for v in row) for row in frame.itertuples(index=False)]
        cycles = np.zeros(len(frame), np.float64)
        missing = [i for i, op in enumerate(graph.operators)
                   if op.kind != "reshape" and keys[i] not in self.cache]
        if missing:
            self._simulate(graph, set(missing), keys)
        for i, op in enumerate(graph.operators):
            if op.kind != "reshape":
                cycles[i] = self.cache[keys[i]]
        return cycles

    def _simulate(self, graph: Graph, wanted: set[int], keys: list[str]) -> None:
        from mcusim.errors import ModelError
        from mcusim.kernels import s8
        from mcusim.kernels.cost import measure

        m = self._get_machine()
        t_in = graph.tensors[graph.inputs[0]]
        x = np.random.default_rng(0).integers(-128, 128, t_in.shape).astype(np.int8)
        values: dict[int, np.ndarray] = {graph.inputs[0]: x}
        for low in lower(graph):
            op = graph.operators[low.index]
            ref = run_op(low, graph, values)
            values[op.outputs[0]] = ref
            if low.index not in wanted or keys[low.index] in self.cache:
                continue
            a = values[op.inputs[0]]
            hwc = a.reshape(a.shape[-3:]) if a.ndim >= 3 else a
            p = low.params
            if low.kind == "conv":
                run = s8.run_conv_s8(m, hwc, low.weights, low.bias, p, budget=_BUDGET)
            elif low.kind == "dwconv":
                run = s8.run_depthwise_conv_s8(m, hwc, low.weights, low.bias, p, budget=_BUDGET)
            elif low.kind == "fc":
                run = s8.run_fc_s8(m, a.reshape(1, -1), low.weights, low.bias, p, budget=_BUDGET)
            elif low.kind == "maxpool":
                run = s8.run_max_pool_s8(m, hwc, p, budget=_BUDGET)
            elif low.kind == "avgpool":
                run = s8.run_avg_pool_s8(m, hwc, p, budget=_BUDGET)
            elif low.kind == "add":
                run = s8.run_add_s8(m, a, values[op.inputs[1]], p, budget=_BUDGET)
            elif low.kind == "softmax":
                run = s8.run_softmax_s8(m, a, p, budget=_BUDGET)
            else:
                raise ModelError(f"no kernel to simulate {low.kind!r}", operator=op.name)
            if not np.array_equal(np.asarray(run.output).reshape(-1), ref.reshape(-1)):
                raise ModelError("emulated kernel output differs from the reference",
                                 operator=op.name, board=self.board)
            self.cache[keys[low.index]] = measure(m, run.result).cycles
            m.free_all()
