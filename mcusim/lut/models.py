"""Layer configuration rows of real models (:mod:`mcusim.model` graphs), for the prior space.

:func:`graph_layer_rows` turns every operator of a graph into a configuration row (with
``model`` and ``layer`` columns); :func:`model_layer_rows` does it for the built-in zoo and
for ``.tflite`` files (e.g. the MLPerf Tiny models in ``shared/models/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

__all__ = ["graph_layer_rows", "model_layer_rows", "shared_model_files"]


def _pad_text(op: Any, in_hw: tuple[int, int], k_hw: tuple[int, int], stride: int) -> str | None:
    from mcusim.kernels.s8_params import same_padding

    t, l, b, r = op.params.padding
    if (t, l, b, r) == (0, 0, 0, 0):
        return "valid"
    if (t, l, b, r) == tuple(same_padding(in_hw, k_hw, stride)):
        return "same"
    if t == l == b == r:
        return str(t)
    return None


def graph_layer_rows(graph: Any) -> list[dict[str, Any]]:
    """Configuration rows of the operators of a :class:`mcusim.model.graph.Graph`.

    Operators the table cannot express (``reshape``, unequal strides, an asymmetric padding
    other than TFLite's SAME) are left out.
    """
    rows = []
    for op in graph.operators:
        if op.kind == "reshape":
            continue
        x = graph.tensor(op.inputs[0]).shape
        h, w, c = (x[1], x[2], x[3]) if len(x) == 4 else (1, 1, int(x[-1]))
        y = graph.tensor(op.outputs[0]).shape
        row: dict[str, Any] = {"op": op.kind, "in_h": int(h), "in_w": int(w), "in_c": int(c),
                               "out_c": int(y[-1]), "activation": op.params.activation,
                               "family": op.kernel.family, "w_bits": op.kernel.w_bits,
                               "a_bits": op.kernel.a_bits, "trec_l": op.kernel.trec_l,
                               "trec_h": op.kernel.trec_h, "model": graph.name,
                               "layer": f"{graph.name}.{op.name}"}
        if op.kind in ("conv", "dwconv"):
            ws = graph.tensor(op.inputs[1]).shape
            kh, kw = int(ws[1]), int(ws[2])
        elif op.kind in ("avgpool", "maxpool"):
            kh, kw = op.params.filter
        else:
            kh = kw = 1
        if op.kind == "fc":
            row["in_c"] = int(h * w * c)
            row["in_h"] = row["in_w"] = 1
        sh, sw = op.params.stride
        if sh != sw:
            continue
        pad = "valid"
        if op.kind in ("conv", "dwconv", "avgpool", "maxpool"):
            pad = _pad_text(op, (int(h), int(w)), (int(kh), int(kw)), int(sh))  # type: ignore[assignment]
            if pad is None:
                continue
        row.update(kh=int(kh), kw=int(kw), stride=int(sh), pad=pad)
        rows.append(row)
    return rows


def shared_model_files() -> list[Path]:
    """``.tflite`` files of the shared models folder (:func:`mcusim._paths.shared_models_dir`;
    empty when it does not exist)."""
    from mcusim._paths import shared_models_dir

    folder = shared_models_dir()
    return sorted(folder.glob("*.tflite")) if folder.is_dir() else []


def model_layer_rows(names: Iterable[str] | None = None,
                     files: Iterable[str | Path] = ()) -> list[dict[str, Any]]:
    """Rows of the built-in models ``names`` (default: all of the zoo) and of ``.tflite``
    ``files``."""
    from mcusim.model import zoo
    from mcusim.model.tflite_io import read_tflite

    rows: list[dict[str, Any]] = []
    for name in (zoo.list_models() if names is None else names):
        rows += graph_layer_rows(zoo.get_model(name))
    for path in files:
        rows += graph_layer_rows(read_tflite(path))
    return rows
