"""Sampling spaces of layer configurations.

A space is a function ``(seed) -> configuration table``; :data:`SPACES` names the built-in
ones (``mcusim lut spaces``):

``default``
    About 1,000 ``s8`` configurations covering every op kind the sweep supports: random
    layers within bounds, channel sweeps across multiples of 2/4/8, the grid around the
    seed models' layers and the prior of real models' layers.
``grid``
    Around every layer of the seed models (:mod:`mcusim.kernels.layers`): channel counts
    scaled down and moved off their multiples, spatial size reduced.
``prior``
    The layers of real models (the built-in zoo and the ``.tflite`` files of
    ``shared/models``, :func:`real_model_rows`) and perturbed copies (:func:`prior_space`
    takes any list of layer rows).
``random``
    Random ``s8`` layers within :class:`Bounds`.
``channels``
    One conv, dwconv and fc shape swept over every channel count from 1 to 40.
``packed``, ``trec``
    Small random spaces of the other two families.

Channel counts are drawn around multiples of 2, 4 and 8 on purpose (``8m + d``,
``d`` in -2..3): the kernels' inner loops step by 4 (SMLAD pairs) and 2 (output channels),
so leftovers change the cycles (MicroNets' 138 -> 140 channels).

Every space is deterministic in its seed; every row is valid (:func:`mcusim.lut.table.check_row`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from mcusim.kernels.layers import BUILTIN_LAYERS, Layer
from mcusim.lut.table import CONFIG_COLUMNS, DEFAULTS, check_row, normalize, out_shape, supported_ops

__all__ = ["Bounds", "SPACES", "channel_sweep", "default_space", "describe_spaces", "get_space",
           "grid_space", "layer_rows", "macs", "prior_space", "random_space"]


@dataclass(frozen=True)
class Bounds:
    """Limits of the random sampler (spatial size, channels, kernel, MACs per layer)."""

    min_hw: int = 2
    max_hw: int = 24
    max_c: int = 96
    max_fc_in: int = 1024
    max_fc_out: int = 256
    max_macs: int = 1_200_000
    max_elems: int = 24_000


def macs(row: Mapping[str, Any]) -> int:
    """Multiply-accumulates (window reads for pooling, elements for add/softmax) of a row."""
    op = row["op"]
    oh, ow, oc = out_shape(row)
    if op == "conv":
        return oh * ow * oc * int(row["in_c"]) * int(row["kh"]) * int(row["kw"])
    if op in ("dwconv", "avgpool", "maxpool"):
        return oh * ow * oc * int(row["kh"]) * int(row["kw"])
    if op == "fc":
        return int(row["in_h"]) * int(row["in_w"]) * int(row["in_c"]) * oc
    return oh * ow * oc


def _channels(rng: np.random.Generator, lo: int, hi: int) -> int:
    """A channel count near a multiple of 8: ``8m + d`` with ``d`` in -2..3, in [lo, hi]."""
    m = int(rng.integers(max(1, lo // 8), max(2, hi // 8 + 1)))
    return int(np.clip(8 * m + int(rng.integers(-2, 4)), lo, hi))


def _random_row(rng: np.random.Generator, op: str, b: Bounds) -> dict[str, Any]:
    hw = int(rng.integers(b.min_hw, b.max_hw + 1))
    row: dict[str, Any] = {"op": op, "in_h": hw, "in_w": hw if rng.random() < 0.8 else
                           int(rng.integers(b.min_hw, b.max_hw + 1)),
                           "activation": str(rng.choice(["none", "relu", "relu6"]))}
    if op == "fc":
        row.update(in_h=1, in_w=1, in_c=_channels(rng, 1, b.max_fc_in),
                   out_c=_channels(rng, 1, b.max_fc_out))
        return row
    c = _channels(rng, 1, b.max_c)
    row["in_c"] = c
    if op == "conv":
        k = int(rng.choice([1, 1, 3, 3, 5]))
        row.update(out_c=_channels(rng, 1, b.max_c), kh=k, kw=k if rng.random() < 0.9 else
                   int(rng.choice([1, 3])))
    elif op == "dwconv":
        k = int(rng.choice([3, 3, 5, 7]))
        row.update(out_c=c, kh=k, kw=k)
    elif op in ("avgpool", "maxpool"):
        if rng.random() < 0.2:   # global pooling, as at the end of real models
            row.update(out_c=c, kh=row["in_h"], kw=row["in_w"], stride=1, pad="valid")
            return row
        k = int(rng.choice([2, 3]))
        row.update(out_c=c, kh=k, kw=k)
    else:
        row.update(out_c=c)
        return row
    row["stride"] = int(rng.choice([1, 1, 2]))
    row["pad"] = str(rng.choice(["valid", "same", "1"]) if row["kh"] > 1 else "valid")
    return row


def _accept(row: dict[str, Any], b: Bounds) -> bool:
    full = {**DEFAULTS, **row}
    if check_row(full) is not None:
        return False
    return macs(full) <= b.max_macs and full["in_h"] * full["in_w"] * full["in_c"] <= b.max_elems


def random_space(n: int = 400, seed: int = 0, *, ops: Iterable[str] | None = None,
                 bounds: Bounds = Bounds(), family: str = "s8") -> pd.DataFrame:
    """``n`` random valid layers of ``ops`` (default: every op the family supports today),
    cycling through the ops so that each gets its share."""
    rng = np.random.default_rng(seed)
    kinds = list(ops or supported_ops()[family])
    rows: list[dict[str, Any]] = []
    while len(rows) < n:
        op = kinds[len(rows) % len(kinds)]
        row = _random_row(rng, op, bounds)
        row["family"] = family
        if family == "packed":
            row["w_bits"], row["a_bits"] = (int(v) for v in rng.choice([2, 4, 8], size=2))
        if family == "trec":
            row["stride"], row["pad"] = 1, "same" if row["kh"] > 1 else "valid"
            k = row["in_c"] * row["kh"] * row["kw"]
            row["trec_l"] = int(rng.choice([v for v in (3, 4, 6, 8, 9, 12, 16) if v <= k] or [k]))
            row["trec_h"] = int(rng.integers(1, min(8, row["out_c"]) + 1))
        if _accept(row, bounds):
            rows.append(row)
    return normalize(pd.DataFrame(rows))


def layer_rows(layers: Iterable[Layer], model: str | None = None) -> list[dict[str, Any]]:
    """Configuration rows of :class:`mcusim.kernels.layers.Layer` objects (``model`` and
    ``layer`` columns name where each came from)."""
    rows = []
    for ly in layers:
        rows.append({"op": ly.kind, "in_h": ly.in_h, "in_w": ly.in_w, "in_c": ly.in_c,
                     "out_c": ly.out_c, "kh": ly.kh, "kw": ly.kw, "stride": ly.stride,
                     "pad": str(ly.pad), "activation": "relu",
                     "model": model or ly.name.split(".")[0], "layer": ly.name})
    return rows


def grid_space(seed: int = 0, *, layers: Iterable[Layer] = BUILTIN_LAYERS,
               max_macs: int = 1_500_000) -> pd.DataFrame:
    """Around each seed layer: channels x {1/8, 1/4, 1/2} moved by -1..+2, spatial size
    halved until the layer fits ``max_macs``; the same for its depthwise variant."""
    rows = []
    for base in layer_rows(layers):
        for scale in (0.125, 0.25, 0.5):
            for d in (-1, 0, 1, 2):
                row = dict(base)
                if row["op"] != "fc":
                    row["in_c"] = max(1, int(base["in_c"] * scale) + d) if base["in_c"] > 4 \
                        else base["in_c"]
                else:
                    row["in_c"] = max(1, int(base["in_c"] * scale) + d)
                row["out_c"] = max(1, int(base["out_c"] * scale) + d)
                full = {**DEFAULTS, **row}
                while macs(full) > max_macs and full["in_h"] > 4:
                    full["in_h"] = full["in_w"] = full["in_h"] // 2
                if check_row(full) is None and macs(full) <= max_macs:
                    rows.append(full)
    return normalize(pd.DataFrame(rows).drop_duplicates(subset=list(CONFIG_COLUMNS)))


def prior_space(layers: Iterable[Mapping[str, Any]], *, variants: int = 3, seed: int = 0,
                max_macs: int | None = None) -> pd.DataFrame:
    """The layers of real models plus ``variants`` perturbed copies of each.

    Parameters
    ----------
    layers
        Configuration rows (dicts with the columns of :mod:`mcusim.lut.table`, optionally
        ``model`` and ``layer``), e.g. :func:`layer_rows` of a model's layers.
    variants
        Perturbed copies per layer: channels moved to a near multiple-of-8 neighbour, the
        spatial size scaled by 1/2..3/2.
    seed
        Random seed.
    max_macs
        Drop rows above this many MACs (None: keep all).

    Returns
    -------
    DataFrame
        Valid rows only; the originals keep their ``model``/``layer``, the copies have
        ``layer`` suffixed ``~i``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for base in layers:
        full = {**DEFAULTS, **base}
        rows.append(full)
        for i in range(variants):
            v = dict(full)
            if v["op"] != "add":
                v["out_c"] = max(1, int(v["out_c"]) + int(rng.integers(-3, 4)))
            if v["op"] in ("dwconv", "avgpool", "maxpool", "add", "softmax"):
                v["in_c"] = v["out_c"]
            elif v["op"] == "conv" and int(v["in_c"]) > 4:
                v["in_c"] = max(1, int(v["in_c"]) + int(rng.integers(-3, 4)))
            if v["op"] != "fc":
                f = float(rng.uniform(0.5, 1.5))
                v["in_h"] = max(1, round(int(v["in_h"]) * f))
                v["in_w"] = max(1, round(int(v["in_w"]) * f))
            else:
                v["in_c"] = max(1, int(v["in_c"]) + int(rng.integers(-3, 4)))
            v["layer"] = f"{base.get('layer', base['op'])}~{i}"
            rows.append(v)
    keep = [r for r in rows if check_row(r) is None and (max_macs is None or macs(r) <= max_macs)]
    return normalize(pd.DataFrame(keep))


def channel_sweep(channels: Iterable[int] = range(1, 41)) -> pd.DataFrame:
    """A 3x3 conv (8x8), a 3x3 dwconv (12x12) and an fc (K = 64) over ``channels``."""
    rows = []
    for c in channels:
        rows.append({"op": "conv", "in_h": 8, "in_w": 8, "in_c": c, "out_c": c, "kh": 3,
                     "kw": 3, "pad": "1"})
        rows.append({"op": "dwconv", "in_h": 12, "in_w": 12, "in_c": c, "out_c": c, "kh": 3,
                     "kw": 3, "pad": "1"})
        rows.append({"op": "fc", "in_c": 64, "out_c": c})
    return normalize(pd.DataFrame(rows))


def real_model_rows() -> list[dict[str, Any]]:
    """Layers of the built-in models (:mod:`mcusim.model.zoo`) and of the ``.tflite`` files
    in ``shared/models`` (:func:`mcusim.lut.models.shared_model_files`); the seed layers of
    :mod:`mcusim.kernels.layers` when the model package cannot be imported."""
    try:
        from mcusim.lut.models import model_layer_rows, shared_model_files
    except ImportError:
        return layer_rows(BUILTIN_LAYERS)
    return model_layer_rows(files=shared_model_files())


def _prior_default(seed: int, max_macs: int = 5_000_000) -> pd.DataFrame:
    return prior_space(real_model_rows(), variants=3, seed=seed, max_macs=max_macs)


def default_space(seed: int = 0) -> pd.DataFrame:
    """About 1,000 s8 configurations covering every supported op kind (see module doc)."""
    parts = [grid_space(seed), _prior_default(seed, 1_500_000), channel_sweep(range(1, 41)),
             random_space(600, seed)]
    frame = pd.concat([normalize(p) for p in parts], ignore_index=True)
    return frame.drop_duplicates(subset=list(CONFIG_COLUMNS)).reset_index(drop=True)


SPACES: dict[str, tuple[str, Callable[[int], pd.DataFrame]]] = {
    "default": ("~1,000 s8 configurations of every supported op kind (random, channel "
                "sweeps, seed-model grid, prior)", default_space),
    "grid": ("around the seed models' layers (channels off their multiples)", grid_space),
    "prior": ("layers of the built-in and shared/models .tflite models, perturbed copies",
              _prior_default),
    "random": ("400 random s8 layers within bounds", lambda seed: random_space(400, seed)),
    "channels": ("conv, dwconv and fc over 1..40 channels", lambda seed: channel_sweep()),
    "packed": ("200 random packed conv/fc layers (2/4/8-bit)",
               lambda seed: random_space(200, seed, family="packed",
                                         bounds=Bounds(max_macs=400_000))),
    "trec": ("100 random TREC convolutions", lambda seed: random_space(
        100, seed, ops=("conv",), family="trec", bounds=Bounds(max_macs=600_000, max_c=48))),
}


def get_space(name: str, seed: int = 0) -> pd.DataFrame:
    """The built-in space ``name`` (a :class:`mcusim.lut.table.ConfigError` lists the names)."""
    from mcusim.lut.table import ConfigError

    if name not in SPACES:
        raise ConfigError(f"unknown space {name!r}", known=", ".join(SPACES))
    return SPACES[name][1](seed)


def describe_spaces(seed: int = 0) -> list[dict[str, Any]]:
    """Name, description, size and rows per op of every built-in space."""
    out = []
    for name, (desc, fn) in SPACES.items():
        frame = fn(seed)
        out.append({"name": name, "description": desc, "configs": len(frame),
                    "families": sorted(frame["family"].unique().tolist()),
                    "ops": {k: int(v) for k, v in frame["op"].value_counts().sort_index().items()}})
    return out
