"""One candidate in, one row of objectives out: the pure function the executors run.

:class:`Evaluator` holds everything a worker needs (plain, picklable data): the space, the
board, the latency model, and -- for a trained search -- the data set and the training
configuration.  :meth:`Evaluator.evaluate` builds the candidate's int8 graph (trained with
Keras and converted by TFLite's int8 quantiser, then imported with
:func:`mcusim.model.tflite_io.from_tflite_bytes`; or, without a data set, the untrained
graph of :func:`mcusim.search.nas.graphs.untrained_graph`), measures the accuracy of the
int8 graph with the numpy reference of the kernels (bit-exact with the firmware), and prices
it: peak SRAM (planner), Flash (weights + kernel code), latency (the latency model) and MACs.

Examples
--------
>>> from mcusim.search.nas.space import SearchSpace
>>> ev = Evaluator(SearchSpace((8, 8, 1), 10), "stm32f746zg")
>>> arch = ev.space.random_architecture(np.random.default_rng(0))
>>> row = ev.evaluate(arch, seed=1)
>>> row["status"], row["peak_sram"] > 0, bool(np.isnan(row["error"]))
('ok', True, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcusim.boards import get_board
from mcusim.errors import McusimError
from mcusim.model.graph import Graph
from mcusim.model.reference import run_reference
from mcusim.search import SearchError
from mcusim.search.nas.data import Dataset
from mcusim.search.nas.graphs import untrained_graph
from mcusim.search.nas.pricing import (
    LatencyModel, MacsLatency, code_bytes, latency_ms, peak_sram,
)
from mcusim.search.nas.space import Architecture, SearchSpace
from mcusim.search.nas.train import TrainConfig

__all__ = ["Evaluator", "int8_accuracy", "quantize_input"]


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Float images ``[N, ...]`` as the graph's int8 input (its scale and zero point)."""
    scale, zero = graph.tensors[graph.inputs[0]].quant.scalar  # type: ignore[union-attr]
    return np.clip(np.round(np.asarray(x, np.float64) / scale) + zero, -128, 127).astype(np.int8)


def int8_accuracy(graph: Graph, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the int8 graph on ``x`` (one inference per image, numpy reference)."""
    q = quantize_input(graph, x)
    shape = graph.tensors[graph.inputs[0]].shape
    hits = 0
    for i in range(len(q)):
        out = run_reference(graph, q[i].reshape(shape))[0]
        hits += int(np.argmax(out.reshape(-1)) == int(y[i]))
    return hits / max(len(q), 1)


@dataclass(frozen=True)
class Evaluator:
    """Evaluate candidates of ``space`` on ``board``.

    Parameters
    ----------
    space
        The search space.
    board
        Board name (or profile path) the resources are priced on.
    latency
        A :class:`~mcusim.search.nas.pricing.LatencyModel` (default: MACs).
    dataset
        Training data; ``None``: train-free (the untrained graph; ``error`` is NaN).
    train
        Training configuration.
    test
        Also measure the test accuracy of every candidate (default: only the validation
        accuracy, the search objective; :func:`mcusim.search.nas.run.run_nas` measures the
        test accuracy of the front and the best candidate afterwards).
    """

    space: SearchSpace
    board: str
    latency: Any = field(default_factory=MacsLatency)
    dataset: Dataset | None = None
    train: TrainConfig = TrainConfig()
    test: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.latency, LatencyModel):
            raise SearchError("the latency model must have name and predict_graph()",
                              type=type(self.latency).__name__)

    @property
    def trained(self) -> bool:
        return self.dataset is not None

    def graph(self, arch: Architecture, *, seed: int = 0) -> tuple[Graph, bytes | None]:
        """The int8 graph of ``arch`` (and its ``.tflite`` bytes when trained)."""
        if self.dataset is None:
            return untrained_graph(arch, self.space, seed=seed), None
        from mcusim.model.tflite_io import from_tflite_bytes
        from mcusim.search.nas.train import train_candidate

        tfl = train_candidate(arch, self.space, self.dataset, self.train, seed=seed)
        return from_tflite_bytes(tfl, source="<candidate>", name="candidate"), tfl

    def evaluate(self, arch: Architecture, *, seed: int = 0) -> dict[str, Any]:
        """Objectives of one candidate as a plain row (never raises for a bad candidate).

        Keys: ``status`` (``ok`` / ``failed``), ``message``, ``accuracy``, ``error``,
        ``test_accuracy``, ``peak_sram``, ``flash_bytes``, ``weight_bytes``, ``code_bytes``,
        ``latency_cycles``, ``latency_ms``, ``op_cycles``, ``macs``, ``num_ops``,
        ``train_s``, ``eval_s``, ``tflite`` (bytes or ``None``).
        """
        t0 = time.perf_counter()
        row: dict[str, Any] = {"status": "ok", "message": "", "accuracy": np.nan,
                               "error": np.nan, "test_accuracy": np.nan, "tflite": None}
        try:
            graph, tfl = self.graph(arch, seed=seed)
            t1 = time.perf_counter()
            row["tflite"] = tfl
            if self.dataset is not None:
                acc = int8_accuracy(graph, self.dataset.x_val, self.dataset.y_val)
                row.update(accuracy=acc, error=1.0 - acc)
                if self.test:
                    row["test_accuracy"] = int8_accuracy(graph, self.dataset.x_test,
                                                         self.dataset.y_test)
            board = get_board(self.board)
            cycles = np.asarray(self.latency.predict_graph(graph), np.float64)
            code = code_bytes(graph, board)
            row.update(peak_sram=peak_sram(graph, board), weight_bytes=graph.weight_bytes(),
                       code_bytes=code, flash_bytes=graph.weight_bytes() + code,
                       latency_cycles=float(cycles.sum()),
                       latency_ms=latency_ms(cycles, board),
                       op_cycles=[float(c) for c in cycles], macs=int(graph.total_macs()),
                       num_ops=graph.num_operators)
        except McusimError as exc:
            t1 = time.perf_counter()
            row.update(status="failed", message=str(exc))
        except Exception as exc:  # a dependency (TensorFlow's converter) failed on it
            t1 = time.perf_counter()
            row.update(status="failed", message=f"{type(exc).__name__}: {exc}")
        row["train_s"] = t1 - t0
        row["eval_s"] = time.perf_counter() - t0
        return row


def evaluate_job(evaluator: Evaluator, arch_json: str, seed: int) -> dict[str, Any]:
    """Top-level function for the executors (picklable arguments only)."""
    return evaluator.evaluate(Architecture.from_json(arch_json), seed=seed)
