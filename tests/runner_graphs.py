"""Small hand-built int8 graphs for the codegen/run/report tests (deterministic weights)."""

from __future__ import annotations

import numpy as np

from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor


class _Builder:
    def __init__(self, name: str, seed: int = 0) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.tensors: list[Tensor] = []
        self.ops: list[Operator] = []

    def act(self, name: str, shape: tuple[int, ...], scale: float, zp: int) -> int:
        self.tensors.append(Tensor(name, shape, "int8", Quant((scale,), (zp,))))
        return len(self.tensors) - 1

    def const(self, name: str, data: np.ndarray, scales: np.ndarray | None, axis: int | None,
              dtype: str) -> int:
        q = None if scales is None else Quant(tuple(float(s) for s in scales),
                                              (0,) * len(scales), axis)
        self.tensors.append(Tensor(name, tuple(data.shape), dtype, q, data))
        return len(self.tensors) - 1

    def weights(self, name: str, shape: tuple[int, ...], c_out: int, axis: int,
                in_scale: float) -> tuple[int, int]:
        w = self.rng.integers(-127, 128, shape, dtype=np.int8)
        ws = self.rng.uniform(0.002, 0.01, c_out)
        b = self.rng.integers(-2000, 2000, c_out).astype(np.int32)
        return (self.const(name + ".w", w, ws, axis, "int8"),
                self.const(name + ".b", b, ws * in_scale, 0, "int32"))

    def op(self, name: str, kind: str, ins: tuple[int, ...], out: int, **params) -> None:
        self.ops.append(Operator(name, kind, ins, (out,), OpParams(**params)))

    def graph(self, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> Graph:
        return Graph(self.name, tuple(self.tensors), tuple(self.ops), inputs, outputs,
                     source=f"test:{self.name}").validate()


def tiny_graph(seed: int = 0) -> Graph:
    """conv 3x3 (pad 1, relu) -> depthwise 3x3 -> add (residual) -> max pool -> avg pool ->
    reshape -> fully connected: every s8 operator kind but softmax, on an 8x8x3 input."""
    b = _Builder("tiny", seed)
    x = b.act("input", (1, 8, 8, 3), 0.05, -3)
    w, bias = b.weights("conv1", (8, 3, 3, 3), 8, 0, 0.05)
    c1 = b.act("conv1", (1, 8, 8, 8), 0.1, -128)
    b.op("conv1", "conv", (x, w, bias), c1, padding=(1, 1, 1, 1), activation="relu")
    w, bias = b.weights("dw1", (1, 3, 3, 8), 8, 3, 0.1)
    d1 = b.act("dw1", (1, 8, 8, 8), 0.08, 5)
    b.op("dw1", "dwconv", (c1, w, bias), d1, padding=(1, 1, 1, 1))
    a1 = b.act("add1", (1, 8, 8, 8), 0.15, -10)
    b.op("add1", "add", (c1, d1), a1, activation="relu")
    p1 = b.act("pool1", (1, 4, 4, 8), 0.15, -10)
    b.op("pool1", "maxpool", (a1,), p1, filter=(2, 2), stride=(2, 2))
    p2 = b.act("pool2", (1, 2, 2, 8), 0.15, -10)
    b.op("pool2", "avgpool", (p1,), p2, filter=(2, 2), stride=(2, 2))
    r = b.act("flat", (1, 32), 0.15, -10)
    b.op("flat", "reshape", (p2,), r)
    w, bias = b.weights("fc", (10, 32), 10, 0, 0.15)
    y = b.act("logits", (1, 10), 0.2, 3)
    b.op("fc", "fc", (r, w, bias), y)
    return b.graph((x,), (y,))


def wide_graph(channels: int = 64, size: int = 96) -> Graph:
    """A single 3x3 convolution whose output is too large for any SRAM of the boards."""
    b = _Builder("wide")
    x = b.act("input", (1, size, size, 3), 0.05, 0)
    w, bias = b.weights("conv", (channels, 3, 3, 3), channels, 0, 0.05)
    y = b.act("out", (1, size, size, channels), 0.1, 0)
    b.op("conv", "conv", (x, w, bias), y, padding=(1, 1, 1, 1))
    return b.graph((x,), (y,))


def reference_outputs(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    """The numpy reference execution of ``graph`` (:mod:`mcusim.model.reference`)."""
    from mcusim.model.reference import run_reference

    return run_reference(graph, x)


def heavy_graph(inputs: int = 1024, outputs: int = 1100) -> Graph:
    """One fully-connected layer whose weights (about 1.1 MB) exceed the F746's 1 MiB Flash."""
    b = _Builder("heavy")
    x = b.act("input", (1, inputs), 0.05, 0)
    w, bias = b.weights("fc", (outputs, inputs), outputs, 0, 0.05)
    y = b.act("out", (1, outputs), 0.1, 0)
    b.op("fc", "fc", (x, w, bias), y)
    return b.graph((x,), (y,))
