"""numpy execution of a whole graph with the project's ``s8`` kernel references.

Every operator runs its reference from :mod:`mcusim.kernels.s8_ref` with the arguments of
:mod:`mcusim.model.lower`, i.e. exactly the integer arithmetic of the firmware kernels (and
of TFLite Micro's reference kernels).  ``reshape`` moves no data.

Examples
--------
>>> import numpy as np
>>> from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor
>>> q = Quant((0.05,), (-3,))
>>> t = (Tensor("x", (1, 2, 2, 1), "int8", q), Tensor("y", (1, 1, 1, 1), "int8", q))
>>> op = Operator("pool", "maxpool", (0,), (1,), OpParams(filter=(2, 2), stride=(2, 2)))
>>> g = Graph("tiny", t, (op,), inputs=(0,), outputs=(1,))
>>> run_reference(g, np.array([1, 7, -2, 3], np.int8).reshape(1, 2, 2, 1))[0].ravel()
array([7], dtype=int8)
"""

from __future__ import annotations

from typing import Mapping, Sequence, overload, Literal

import numpy as np

from mcusim.errors import ModelError
from mcusim.kernels import s8_ref
from mcusim.model.graph import Graph
from mcusim.model.lower import LoweredOp, lower

__all__ = ["run_reference", "run_op"]

InputArg = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]


def run_op(low: LoweredOp, graph: Graph, values: Mapping[int, np.ndarray]) -> np.ndarray:
    """Run one lowered operator on the activations in ``values`` (tensor index -> array).

    Returns the output tensor with its graph shape (int8).
    """
    op = graph.operators[low.index]
    out_shape = graph.tensors[op.outputs[0]].shape
    x = values[op.inputs[0]]
    p = low.params
    kind = low.kind
    if kind in ("conv", "dwconv", "avgpool", "maxpool"):
        hwc = x.reshape(x.shape[-3:])
        if kind == "conv":
            y = s8_ref.conv_s8_ref(hwc, low.weights, low.bias, p)  # type: ignore[arg-type]
        elif kind == "dwconv":
            y = s8_ref.depthwise_conv_s8_ref(hwc, low.weights, low.bias, p)  # type: ignore[arg-type]
        elif kind == "avgpool":
            y = s8_ref.avg_pool_s8_ref(hwc, p)  # type: ignore[arg-type]
        else:
            y = s8_ref.max_pool_s8_ref(hwc, p)  # type: ignore[arg-type]
    elif kind == "fc":
        y = s8_ref.fc_s8_ref(x.reshape(-1), low.weights, low.bias, p)  # type: ignore[arg-type]
    elif kind == "add":
        y = s8_ref.add_s8_ref(x, values[op.inputs[1]], p)  # type: ignore[arg-type]
    elif kind == "softmax":
        y = s8_ref.softmax_s8_ref(x, p)  # type: ignore[arg-type]
    elif kind == "reshape":
        y = x
    else:  # pragma: no cover - lower() rejects unknown kinds
        raise ModelError(f"no reference for {kind!r}", operator=low.index)
    return np.ascontiguousarray(y, dtype=np.int8).reshape(out_shape)


def _bind_inputs(graph: Graph, inputs: InputArg) -> dict[int, np.ndarray]:
    src = graph.source or graph.name
    if isinstance(inputs, np.ndarray):
        arrays = [inputs]
    elif isinstance(inputs, Mapping):
        names = {graph.tensors[i].name: i for i in graph.inputs}
        unknown = set(inputs) - set(names)
        if unknown:
            raise ModelError(f"unknown input(s) {sorted(unknown)}; the graph's inputs are "
                             f"{sorted(names)}", model=src)
        arrays = [inputs.get(graph.tensors[i].name) for i in graph.inputs]  # type: ignore[misc]
    else:
        arrays = list(inputs)
    if len(arrays) != len(graph.inputs) or any(a is None for a in arrays):
        raise ModelError(f"the graph takes {len(graph.inputs)} input(s), got "
                         f"{sum(a is not None for a in arrays)}", model=src)
    values: dict[int, np.ndarray] = {}
    for idx, a in zip(graph.inputs, arrays):
        t = graph.tensors[idx]
        arr = np.asarray(a)
        if arr.dtype != np.int8:
            raise ModelError(f"input must be int8, got {arr.dtype}", model=src, tensor=t.name)
        if arr.size != t.num_elements:
            raise ModelError(f"input shape {arr.shape} does not match {t.shape}", model=src,
                             tensor=t.name)
        values[idx] = arr.reshape(t.shape)
    return values


@overload
def run_reference(graph: Graph, inputs: InputArg, *,
                  intermediates: Literal[False] = ...) -> list[np.ndarray]: ...
@overload
def run_reference(graph: Graph, inputs: InputArg, *,
                  intermediates: Literal[True]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]: ...
def run_reference(graph: Graph, inputs: InputArg, *, intermediates: bool = False
                  ) -> list[np.ndarray] | tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Execute ``graph`` on int8 ``inputs`` with the numpy references.

    Parameters
    ----------
    graph
        A graph (validated here).
    inputs
        One array (single-input graphs), a sequence in the order of ``graph.inputs``, or a
        mapping from input tensor name to array; int8, any shape with the right size.
    intermediates
        Also return every activation tensor, by tensor name.

    Returns
    -------
    list of numpy.ndarray or tuple
        The outputs (int8, in the order of ``graph.outputs``, with their graph shapes); with
        ``intermediates`` also a dict ``tensor name -> array`` of all activations.

    Raises
    ------
    ModelError
        For an invalid graph, an operator without a kernel, or inputs that do not match.
    """
    graph.validate()
    lowered = lower(graph)
    values = _bind_inputs(graph, inputs)
    for low in lowered:
        values[graph.operators[low.index].outputs[0]] = run_op(low, graph, values)
    outs = [values[i] for i in graph.outputs]
    if intermediates:
        return outs, {graph.tensors[i].name: v for i, v in values.items()}
    return outs
