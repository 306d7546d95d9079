"""What a candidate costs on a board: latency (behind one interface), peak SRAM, Flash.

Latency models implement :class:`LatencyModel` (``name``, ``predict_graph(graph) -> cycles
per operator``):

:class:`MacsLatency`
    μNAS's proxy: cycles proportional to multiply-accumulates (``cycles_per_mac`` per MAC);
    data movement (pooling, reshape) costs nothing.
:class:`PredictorLatency`
    The lookup-table predictor of :mod:`mcusim.predict` (or any estimator with
    ``predict(frame) -> cycles``) on the layer configuration rows of the graph
    (:func:`graph_configs`, the columns of :mod:`mcusim.lut.table`); built from a saved
    predictor file or fitted on a small sweep of the candidates' own layers.

Peak SRAM is the planner's arena (:func:`mcusim.model.plan.plan_graph`, strategy ``best``:
the smallest of linear/greedy/reorder/in-place, with the kernels' scratch buffers).  Flash is
the weights plus a code estimate: the sizes, in the board's ``s8`` firmware build, of the
kernel functions the graph's operator kinds call (:func:`code_bytes`).

Examples
--------
>>> from mcusim.model.zoo import get_model
>>> g = get_model("tiny")
>>> int(MacsLatency().predict_graph(g).sum()) == g.total_macs()
True
>>> graph_configs(g)[["op", "in_h", "in_c", "out_c", "kh", "pad"]].head(2)
       op  in_h  in_c  out_c  kh   pad
0    conv     8     1      8   3  same
1  dwconv     8     8      8   3  same
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from mcusim.boards import Board, get_board
from mcusim.kernels.s8_params import same_padding
from mcusim.model.graph import Graph
from mcusim.search import SearchError

__all__ = ["KERNEL_FUNCTIONS", "LatencyModel", "MacsLatency", "PredictorLatency", "code_bytes",
           "flash_bytes", "graph_configs", "latency_ms", "peak_sram"]


@runtime_checkable
class LatencyModel(Protocol):
    """Cycles of every operator of a graph on the model's board."""

    name: str

    def predict_graph(self, graph: Graph) -> np.ndarray:
        """Cycles per operator (graph order), float64."""
        ...


def graph_configs(graph: Graph) -> pd.DataFrame:
    """One lookup-table configuration row per operator (``reshape`` rows have ``op`` reshape).

    Columns: ``op, in_h, in_w, in_c, out_c, kh, kw, stride, pad, activation, family``;
    ``pad`` is ``"same"`` when the graph's padding is TFLite's SAME for the shape, ``"valid"``
    when it is zero, else the symmetric pixel count.
    """
    rows = []
    for _i, op in graph.iter_ops():
        x = graph.tensors[op.inputs[0]]
        y = graph.tensors[op.outputs[0]]
        shape = x.shape[1:] if len(x.shape) == 4 else (1, 1, int(np.prod(x.shape[1:])))
        h, w, c = (int(v) for v in shape)
        out_c = int(y.shape[-1])
        if op.kind in ("conv", "dwconv"):
            wt = graph.tensors[op.inputs[1]]
            kh, kw = int(wt.shape[1]), int(wt.shape[2])
        elif op.kind in ("maxpool", "avgpool"):
            kh, kw = op.params.filter
        else:
            kh = kw = 1
        stride = int(op.params.stride[0])
        pads = tuple(op.params.padding)
        if op.kind in ("conv", "dwconv", "maxpool", "avgpool") and any(pads):
            same = tuple(same_padding((h, w), (kh, kw), op.params.stride))
            pad: str = "same" if same == pads else str(pads[0])
        else:
            pad = "valid"
        rows.append({"op": op.kind, "in_h": h, "in_w": w, "in_c": c, "out_c": out_c,
                     "kh": int(kh), "kw": int(kw), "stride": stride, "pad": pad,
                     "activation": op.params.activation, "family": op.kernel.family})
    return pd.DataFrame(rows, columns=["op", "in_h", "in_w", "in_c", "out_c", "kh", "kw",
                                       "stride", "pad", "activation", "family"])


class MacsLatency:
    """μNAS's latency proxy: ``cycles_per_mac`` cycles per multiply-accumulate.

    Parameters
    ----------
    cycles_per_mac
        Scale of the proxy (1.0: the MAC count itself).
    """

    name = "macs"

    def __init__(self, *, cycles_per_mac: float = 1.0) -> None:
        self.cycles_per_mac = float(cycles_per_mac)

    def predict_graph(self, graph: Graph) -> np.ndarray:
        return np.array([graph.macs(i) for i in range(graph.num_operators)],
                        np.float64) * self.cycles_per_mac


class PredictorLatency:
    """Cycles from a fitted lookup-table predictor (``predict(frame) -> cycles``).

    Parameters
    ----------
    predictor
        A :class:`mcusim.predict.store.BoundPredictor` or any fitted estimator taking the
        configuration frame of :func:`graph_configs`.
    board
        Board name passed to a bound predictor's check (``None``: its own).
    """

    name = "predictor"

    def __init__(self, predictor: Any, *, board: str | None = None) -> None:
        if not hasattr(predictor, "predict"):
            raise SearchError("the latency predictor has no predict() method",
                              type=type(predictor).__name__)
        self.predictor = predictor
        self.board = board

    @classmethod
    def load(cls, path: str | Path, *, board: str | None = None) -> PredictorLatency:
        """A predictor file written by ``mcusim lut fit`` / ``BoundPredictor.save``."""
        store = _lut_module("mcusim.predict.store")
        return cls(store.load_predictor(path), board=board)

    @classmethod
    def fit_sweep(cls, board: str, graphs: Sequence[Graph], *, executor: Any = None
                  ) -> PredictorLatency:
        """Sweep the distinct layers of ``graphs`` on ``board`` and fit the analytical predictor."""
        sweep = _lut_module("mcusim.lut.sweep")
        store = _lut_module("mcusim.predict.store")
        analytical = _lut_module("mcusim.predict.analytical")
        frame = pd.concat([graph_configs(g) for g in graphs], ignore_index=True)
        frame = frame[frame["op"] != "reshape"].drop_duplicates().reset_index(drop=True)
        res = sweep.sweep(frame, board, executor=executor, progress=False)
        bound = store.fit_lut(res.table, analytical.AnalyticalPredictor())
        return cls(bound, board=board)

    def predict_graph(self, graph: Graph) -> np.ndarray:
        frame = graph_configs(graph)
        cycles = np.zeros(len(frame), np.float64)
        mask = (frame["op"] != "reshape").to_numpy()
        if mask.any():
            sub = frame[mask].reset_index(drop=True)
            if hasattr(self.predictor, "check"):
                pred = self.predictor.predict(sub, board=self.board)
            else:
                pred = self.predictor.predict(sub)
            cycles[mask] = np.maximum(np.asarray(pred, np.float64), 0.0)
        return cycles


def _lut_module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("mcusim"):
            raise SearchError("the lookup-table predictor is not part of this mcusim "
                              f"({exc.name} is missing); use the MACs latency model",
                              hint="--latency macs") from None
        raise


def latency_ms(cycles: np.ndarray | float, board: Board | str) -> float:
    """Milliseconds of ``cycles`` (total or per operator) at the board clock."""
    b = get_board(board) if isinstance(board, str) else board
    return float(np.sum(cycles)) / b.clock_hz * 1e3


def peak_sram(graph: Graph, board: Board | str) -> int:
    """Bytes of the activation arena of the planner's best strategy (with scratch)."""
    from mcusim.model.plan import plan_graph

    b = get_board(board) if isinstance(board, str) else board
    return int(plan_graph(graph, "best", board=b).arena_bytes)


#: The ``s8`` firmware functions each operator kind runs (file = function, CMSIS-NN style).
KERNEL_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "conv": ("mnn_convolve_wrapper_s8", "mnn_convolve_s8", "mnn_convolve_1x1_s8",
             "mnn_nn_mat_mult_kernel_s8_s16", "mnn_nn_mat_mult_s8", "mnn_s8_im2col",
             "mnn_requantize_s32", "mnn_s8_check_conv"),
    "dwconv": ("mnn_depthwise_conv_wrapper_s8", "mnn_depthwise_conv_s8",
               "mnn_depthwise_conv_3x3_s8", "mnn_requantize_s32", "mnn_s8_check_conv"),
    "fc": ("mnn_fully_connected_s8", "mnn_nn_vec_mat_mult_s8", "mnn_requantize_s32"),
    "maxpool": ("mnn_max_pool_s8", "mnn_s8_check_pool"),
    "avgpool": ("mnn_avg_pool_s8", "mnn_s8_check_pool"),
    "add": ("mnn_elementwise_add_s8",),
    "softmax": ("mnn_softmax_s8",),
    "reshape": (),
}


@functools.lru_cache(maxsize=8)
def _function_sizes(board_name: str) -> dict[str, int]:
    """Sizes of the functions of the board's ``s8`` build (built once, cached on disk)."""
    from mcusim.kernels.firmware import build_family
    from mcusim.loader import load_elf

    image = load_elf(build_family(get_board(board_name), "s8"))
    return {s.name: int(s.size) for s in image.functions()}


def code_bytes(graph: Graph, board: Board | str) -> int:
    """Estimated kernel code in Flash: the distinct ``s8`` functions the graph's ops call."""
    b = get_board(board) if isinstance(board, str) else board
    sizes = _function_sizes(b.name)
    needed = {f for _i, op in graph.iter_ops() for f in KERNEL_FUNCTIONS.get(op.kind, ())}
    return sum(sizes.get(f, 0) for f in needed)


def flash_bytes(graph: Graph, board: Board | str) -> int:
    """Weights and biases plus :func:`code_bytes`."""
    return int(graph.weight_bytes()) + code_bytes(graph, board)
