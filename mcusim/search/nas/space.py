"""The μNAS-style search space: convolution blocks, then dense layers, and its morphisms.

An :class:`Architecture` is 1 to ``max_blocks`` convolution blocks of 1 to ``max_layers``
layers each -- a full convolution (``conv``, kernel 3/5/7), a pointwise one (``conv1x1``) or
a depthwise one (``dwconv``, kernel 3/5/7), stride 1 or 2, ``channels`` 1 to
``max_channels``, optional ReLU -- each block optionally followed by a 2x2 max or average
pooling, then a flatten, 0 to ``max_dense - 1`` hidden dense layers (ReLU) and the
classifier (a dense layer with one output per class).  Convolutions use TFLite's ``SAME``
padding, pooling ``VALID``.

Morphisms change one thing at a time, as μNAS's ``produce_all_morphs`` (eliberis/uNAS,
``cnn/cnn_morphisms.py``): add or remove a block, add or remove a layer, change a layer's type,
channels (by +-1, 3, 5), kernel (by +-2), stride or ReLU, a block's pooling, add or remove a
dense layer, change its units (+-1, 3, 5).  :meth:`SearchSpace.morphs` lists every valid one;
:meth:`SearchSpace.mutate` picks one uniformly, as μNAS's ``evolve``.

Examples
--------
>>> space = SearchSpace((8, 8, 1), 10)
>>> arch = space.random_architecture(np.random.default_rng(0))
>>> space.is_valid(arch)
True
>>> child = space.mutate(arch, np.random.default_rng(1))
>>> child != arch and space.is_valid(child)
True
>>> Architecture.from_json(arch.to_json()) == arch
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from mcusim.search import SearchError

__all__ = ["Architecture", "ConvBlock", "ConvLayer", "LAYER_KINDS", "POOLS", "SearchSpace"]

#: Convolution layer kinds.
LAYER_KINDS: tuple[str, ...] = ("conv", "conv1x1", "dwconv")
#: Pooling after a block.
POOLS: tuple[str, ...] = ("none", "max", "avg")
_DELTAS = (-5, -3, -1, 1, 3, 5)


@dataclass(frozen=True)
class ConvLayer:
    """One convolution layer.

    Parameters
    ----------
    kind
        One of :data:`LAYER_KINDS`.
    kernel
        Square kernel (1 for ``conv1x1``).
    channels
        Output channels (``dwconv``: ignored, the output keeps the input's channels; kept
        so a type change back restores it).
    stride
        1 or 2 (``conv1x1``: 1).
    relu
        Fused ReLU after the layer.
    """

    kind: str
    kernel: int = 3
    channels: int = 8
    stride: int = 1
    relu: bool = True

    def out_channels(self, c_in: int) -> int:
        return c_in if self.kind == "dwconv" else self.channels

    def tag(self) -> str:
        act = "r" if self.relu else ""
        if self.kind == "dwconv":
            return f"dw{self.kernel}s{self.stride}{act}"
        if self.kind == "conv1x1":
            return f"pw{self.channels}{act}"
        return f"c{self.kernel}x{self.channels}s{self.stride}{act}"


@dataclass(frozen=True)
class ConvBlock:
    """Layers applied in order, then an optional 2x2 pooling (one of :data:`POOLS`)."""

    layers: tuple[ConvLayer, ...]
    pool: str = "none"


@dataclass(frozen=True)
class Architecture:
    """A candidate: convolution blocks, hidden dense units (the classifier is implicit)."""

    blocks: tuple[ConvBlock, ...]
    dense: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal architectures give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Architecture:
        try:
            blocks = tuple(ConvBlock(tuple(ConvLayer(**lay) for lay in b["layers"]),
                                     str(b.get("pool", "none"))) for b in d["blocks"])
            return cls(blocks, tuple(int(u) for u in d.get("dense", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise SearchError(f"not an architecture: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise SearchError(f"not an architecture (bad JSON: {exc})") from None

    def describe(self) -> str:
        """A short readable form, e.g. ``c3x16s1r,dw3s2r/max | fc32``."""
        parts = []
        for b in self.blocks:
            s = ",".join(lay.tag() for lay in b.layers)
            parts.append(s + (f"/{b.pool}" if b.pool != "none" else ""))
        dense = ",".join(f"fc{u}" for u in self.dense)
        return " ; ".join(parts) + (f" | {dense}" if dense else "")

    @property
    def num_layers(self) -> int:
        return sum(len(b.layers) for b in self.blocks) + len(self.dense) + 1


@dataclass(frozen=True)
class SearchSpace:
    """The bounds of the space and its random generator and morphisms.

    Parameters
    ----------
    input_shape
        ``(height, width, channels)`` of one input.
    num_classes
        Outputs of the classifier.
    max_blocks, max_layers
        Convolution blocks (1 to ``max_blocks``), layers per block (1 to ``max_layers``).
    kernels
        Kernel sizes of ``conv`` and ``dwconv``.
    max_channels
        Channels of a convolution: 1 to ``max_channels``.
    max_dense
        Dense layers including the classifier: 1 to ``max_dense``.
    max_units
        Units of a hidden dense layer: 1 to ``max_units``.
    init_channels
        Upper bound of the channels a random layer draws (μNAS draws small ones too).
    """

    input_shape: tuple[int, int, int]
    num_classes: int
    max_blocks: int = 3
    max_layers: int = 3
    kernels: tuple[int, ...] = (3, 5, 7)
    max_channels: int = 128
    max_dense: int = 3
    max_units: int = 256
    init_channels: int = 32
    init_units: int = 64

    def __post_init__(self) -> None:
        h, w, c = (int(v) for v in self.input_shape)
        if min(h, w, c) < 1 or self.num_classes < 2:
            raise SearchError("the search space needs an input of positive size and >= 2 "
                              "classes", input_shape=self.input_shape,
                              num_classes=self.num_classes)
        if self.max_blocks < 1 or self.max_layers < 1 or self.max_dense < 1:
            raise SearchError("max_blocks, max_layers and max_dense must be >= 1")

    # ------------------------------------------------------------------ shapes
    def shapes(self, arch: Architecture) -> list[tuple[int, int, int]]:
        """``(h, w, c)`` after every convolution layer and pooling, in order."""
        h, w, c = self.input_shape
        out = []
        for b in arch.blocks:
            for lay in b.layers:
                h, w = -(-h // lay.stride), -(-w // lay.stride)       # SAME: ceil(in / stride)
                c = lay.out_channels(c)
                out.append((h, w, c))
            if b.pool != "none":
                h, w = h // 2, w // 2                                 # 2x2, VALID
                out.append((h, w, c))
        return out

    def flat_features(self, arch: Architecture) -> int:
        h, w, c = self.shapes(arch)[-1] if arch.blocks else self.input_shape
        return h * w * c

    def problems(self, arch: Architecture) -> list[str]:
        """Why ``arch`` is outside the space (empty when it is inside)."""
        p = []
        if not 1 <= len(arch.blocks) <= self.max_blocks:
            p.append(f"{len(arch.blocks)} blocks (1..{self.max_blocks})")
        if not 0 <= len(arch.dense) <= self.max_dense - 1:
            p.append(f"{len(arch.dense)} hidden dense layers (0..{self.max_dense - 1})")
        for i, b in enumerate(arch.blocks):
            if not 1 <= len(b.layers) <= self.max_layers:
                p.append(f"block {i}: {len(b.layers)} layers (1..{self.max_layers})")
            if b.pool not in POOLS:
                p.append(f"block {i}: pooling {b.pool!r}")
            for j, lay in enumerate(b.layers):
                where = f"block {i} layer {j}"
                if lay.kind not in LAYER_KINDS:
                    p.append(f"{where}: kind {lay.kind!r}")
                    continue
                if lay.kind == "conv1x1" and (lay.kernel != 1 or lay.stride != 1):
                    p.append(f"{where}: conv1x1 with kernel {lay.kernel} stride {lay.stride}")
                if lay.kind != "conv1x1" and lay.kernel not in self.kernels:
                    p.append(f"{where}: kernel {lay.kernel}")
                if lay.stride not in (1, 2):
                    p.append(f"{where}: stride {lay.stride}")
                if not 1 <= lay.channels <= self.max_channels:
                    p.append(f"{where}: {lay.channels} channels")
        for i, u in enumerate(arch.dense):
            if not 1 <= u <= self.max_units:
                p.append(f"dense {i}: {u} units (1..{self.max_units})")
        if not p and min(min(s[:2]) for s in self.shapes(arch)) < 1:
            p.append("a pooling reduces the feature map to nothing")
        return p

    def is_valid(self, arch: Architecture) -> bool:
        return not self.problems(arch)

    def check(self, arch: Architecture) -> Architecture:
        """Return ``arch``, or raise :class:`SearchError` naming what is outside the space."""
        p = self.problems(arch)
        if p:
            raise SearchError("architecture outside the search space: " + "; ".join(p),
                              architecture=arch.describe())
        return arch

    # ------------------------------------------------------------------ random
    def random_layer(self, rng: np.random.Generator) -> ConvLayer:
        kind = LAYER_KINDS[int(rng.integers(len(LAYER_KINDS)))]
        channels = int(rng.integers(1, min(self.init_channels, self.max_channels) + 1))
        relu = bool(rng.random() < 0.8)
        if kind == "conv1x1":
            return ConvLayer(kind, 1, channels, 1, relu)
        kernel = int(self.kernels[int(rng.integers(len(self.kernels)))])
        stride = int(rng.integers(1, 3))
        return ConvLayer(kind, kernel, channels, stride, relu)

    def random_architecture(self, rng: np.random.Generator) -> Architecture:
        """A uniformly drawn valid architecture (drawn again while a pooling empties the map)."""
        for _ in range(1000):
            blocks = []
            for _b in range(int(rng.integers(1, self.max_blocks + 1))):
                layers = tuple(self.random_layer(rng)
                               for _l in range(int(rng.integers(1, self.max_layers + 1))))
                pool = POOLS[int(rng.integers(len(POOLS)))]
                blocks.append(ConvBlock(layers, pool))
            dense = tuple(int(rng.integers(1, min(self.init_units, self.max_units) + 1))
                          for _d in range(int(rng.integers(0, self.max_dense))))
            arch = Architecture(tuple(blocks), dense)
            if self.is_valid(arch):
                return arch
        raise SearchError("no valid random architecture in 1000 draws: the input is too small "
                          "for the space", input_shape=self.input_shape)

    # ------------------------------------------------------------------ morphisms
    def morphs(self, arch: Architecture, rng: np.random.Generator) -> list[Architecture]:
        """Every valid architecture one change away from ``arch`` (new layers drawn from ``rng``)."""
        out: list[Architecture] = []
        blocks, dense = list(arch.blocks), list(arch.dense)

        def with_blocks(bs: list[ConvBlock]) -> None:
            out.append(replace(arch, blocks=tuple(bs)))

        def with_layer(i: int, j: int, lay: ConvLayer) -> None:
            layers = list(blocks[i].layers)
            layers[j] = lay
            with_blocks(blocks[:i] + [replace(blocks[i], layers=tuple(layers))] + blocks[i + 1:])

        if len(blocks) < self.max_blocks:
            with_blocks(blocks + [ConvBlock((self.random_layer(rng),), "none")])
        if len(blocks) > 1:
            for i in range(len(blocks)):
                with_blocks(blocks[:i] + blocks[i + 1:])
        for i, b in enumerate(blocks):
            layers = list(b.layers)
            if len(layers) < self.max_layers:
                at = int(rng.integers(len(layers) + 1))
                new = layers[:at] + [self.random_layer(rng)] + layers[at:]
                with_blocks(blocks[:i] + [replace(b, layers=tuple(new))] + blocks[i + 1:])
            if len(layers) > 1:
                for j in range(len(layers)):
                    with_blocks(blocks[:i] + [replace(b, layers=tuple(layers[:j] + layers[j + 1:]))]
                                + blocks[i + 1:])
            for pool in POOLS:
                if pool != b.pool:
                    with_blocks(blocks[:i] + [replace(b, pool=pool)] + blocks[i + 1:])
            for j, lay in enumerate(layers):
                with_layer(i, j, replace(lay, relu=not lay.relu))
                for kind in LAYER_KINDS:
                    if kind == lay.kind:
                        continue
                    if kind == "conv1x1":
                        with_layer(i, j, replace(lay, kind=kind, kernel=1, stride=1))
                    else:
                        k = lay.kernel if lay.kernel in self.kernels else self.kernels[0]
                        with_layer(i, j, replace(lay, kind=kind, kernel=k))
                if lay.kind != "dwconv":
                    for d in _DELTAS:
                        if 1 <= lay.channels + d <= self.max_channels:
                            with_layer(i, j, replace(lay, channels=lay.channels + d))
                if lay.kind != "conv1x1":
                    ks = list(self.kernels)
                    at = ks.index(lay.kernel) if lay.kernel in ks else 0
                    for a in (at - 1, at + 1):
                        if 0 <= a < len(ks):
                            with_layer(i, j, replace(lay, kernel=ks[a]))
                    with_layer(i, j, replace(lay, stride=3 - lay.stride))
        if len(dense) < self.max_dense - 1:
            at = int(rng.integers(len(dense) + 1))
            units = int(rng.integers(1, min(self.init_units, self.max_units) + 1))
            out.append(replace(arch, dense=tuple(dense[:at] + [units] + dense[at:])))
        for i, u in enumerate(dense):
            out.append(replace(arch, dense=tuple(dense[:i] + dense[i + 1:])))
            for d in _DELTAS:
                if 1 <= u + d <= self.max_units:
                    out.append(replace(arch, dense=tuple(dense[:i] + [u + d] + dense[i + 1:])))
        return [m for m in out if m != arch and self.is_valid(m)]

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """One morphism of ``arch``, chosen uniformly among :meth:`morphs`."""
        options = self.morphs(arch, rng)
        if not options:
            raise SearchError("the architecture has no valid morphism", architecture=arch.describe())
        return options[int(rng.integers(len(options)))]
