"""The part of a graph the planners see: which activation tensors each operator reads and
writes, their sizes, the scratch of each operator, and lifetimes in a given order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from mcusim.errors import ModelError

__all__ = ["Dataflow", "check_order", "lifetimes"]


@dataclass(frozen=True)
class Dataflow:
    """Operators over activation tensors (constants, which live in Flash, are left out).

    Parameters
    ----------
    sizes
        Bytes of every tensor of the graph (constants too, by tensor index; their entry is
        unused).
    op_inputs, op_outputs
        Per operator, the activation tensors it reads / writes.
    graph_inputs, graph_outputs
        Activation tensors that are graph inputs / outputs.
    scratch
        Scratch bytes per operator.
    names
        Operator names (for messages and plots).
    """

    sizes: tuple[int, ...]
    op_inputs: tuple[tuple[int, ...], ...]
    op_outputs: tuple[tuple[int, ...], ...]
    graph_inputs: tuple[int, ...]
    graph_outputs: tuple[int, ...]
    scratch: tuple[int, ...]
    names: tuple[str, ...] = ()

    @property
    def num_ops(self) -> int:
        return len(self.op_inputs)

    def tensors(self) -> list[int]:
        """The activation tensors (read, written, graph input or output), ascending."""
        seen = set(self.graph_inputs) | set(self.graph_outputs)
        for ins, outs in zip(self.op_inputs, self.op_outputs):
            seen.update(ins)
            seen.update(outs)
        return sorted(seen)

    def producers(self) -> dict[int, int]:
        return {t: i for i, outs in enumerate(self.op_outputs) for t in outs}

    def consumers(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i, ins in enumerate(self.op_inputs):
            for t in dict.fromkeys(ins):
                out.setdefault(t, []).append(i)
        return out

    @classmethod
    def from_graph(cls, graph: Any, scratch: Sequence[int] | Mapping[int, int]) -> Dataflow:
        """The dataflow of a :class:`~mcusim.model.graph.Graph` with per-operator scratch."""
        const = {i for i, t in enumerate(graph.tensors) if t.is_constant}
        n = len(graph.operators)
        if isinstance(scratch, Mapping):
            bad = [k for k in scratch if not 0 <= k < n]
            if bad:
                raise ModelError(f"scratch given for operator {bad[0]}, which does not exist",
                                 model=graph.source or graph.name)
            scr = tuple(int(scratch.get(i, 0)) for i in range(n))
        else:
            scr = tuple(int(s) for s in scratch)
            if len(scr) != n:
                raise ModelError(f"{len(scr)} scratch sizes for {n} operators",
                                 model=graph.source or graph.name)
        if any(s < 0 for s in scr):
            raise ModelError("scratch sizes must be >= 0", model=graph.source or graph.name)
        return cls(
            sizes=tuple(t.nbytes for t in graph.tensors),
            op_inputs=tuple(tuple(i for i in op.inputs if i not in const)
                            for op in graph.operators),
            op_outputs=tuple(tuple(op.outputs) for op in graph.operators),
            graph_inputs=tuple(i for i in graph.inputs if i not in const),
            graph_outputs=tuple(i for i in graph.outputs if i not in const),
            scratch=scr,
            names=tuple(op.name for op in graph.operators),
        )


def check_order(flow: Dataflow, order: Sequence[int]) -> None:
    """Raise :class:`ModelError` unless ``order`` runs every operator once, producers first."""
    if sorted(order) != list(range(flow.num_ops)):
        raise ModelError(f"operator order {tuple(order)} is not a permutation of "
                         f"0..{flow.num_ops - 1}")
    prod = flow.producers()
    done: set[int] = set()
    for op in order:
        for t in flow.op_inputs[op]:
            p = prod.get(t)
            if p is not None and p not in done:
                raise ModelError("operator order runs a consumer before its producer",
                                 operator=f"{op} ({flow.names[op] if flow.names else op})",
                                 tensor=t)
        done.add(op)


def lifetimes(flow: Dataflow, order: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``tensor -> (first_step, last_step)`` in ``order``, as TFLite Micro marks them.

    A tensor is live from the step of its producer (step 0 for graph inputs) to the step of its
    last consumer; graph outputs stay live to the last step; a tensor nobody reads lives at
    its first step only.
    """
    step = {op: s for s, op in enumerate(order)}
    last_step = max(len(order) - 1, 0)
    prod = flow.producers()
    cons = flow.consumers()
    outs = set(flow.graph_outputs)
    spans: dict[int, tuple[int, int]] = {}
    for t in flow.tensors():
        first = step[prod[t]] if t in prod else 0
        last = max([step[c] for c in cons.get(t, [])] + [first])
        if t in outs:
            last = last_step
        spans[t] = (first, last)
    return spans
