"""Whole models: the graph, import/export of ``.tflite``, built-in models, memory plans,
generated firmware, one inference on the emulated board and the fit report.

Examples
--------
>>> g = load_model("tiny")
>>> g.summary()[["name", "kind", "macs"]].head(2)
    name    kind  macs
0  conv1    conv  4608
1    dw2  dwconv  1152
"""

from __future__ import annotations

import os
from pathlib import Path

from mcusim.errors import ModelError
from mcusim.model.graph import Graph

__all__ = ["Graph", "load_model"]


def load_model(name_or_path: str | os.PathLike[str]) -> Graph:
    """A built-in model by name, or a ``.tflite`` file by path, as a validated graph.

    Parameters
    ----------
    name_or_path
        A name from :func:`mcusim.model.zoo.list_models` or the path of a ``.tflite`` file.

    Raises
    ------
    ModelError
        If it is neither a built-in name nor a readable TFLite int8 model.
    """
    from mcusim.model import zoo

    text = os.fspath(name_or_path)
    if text in zoo.list_models():
        return zoo.get_model(text)
    p = Path(text)
    if p.suffix.lower() == ".tflite" or p.exists():
        from mcusim.model.tflite_io import read_tflite

        return read_tflite(p)
    raise ModelError(f"{text!r} is neither a built-in model ({', '.join(zoo.list_models())}) "
                     "nor a .tflite file")
