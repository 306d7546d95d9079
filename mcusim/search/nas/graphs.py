"""An architecture as an mcusim graph without training (for train-free objectives and checks).

:func:`untrained_graph` builds the same operators, shapes and tensor layout the trained and
converted model has (SAME convolutions, 2x2 VALID pooling, flatten, dense layers) with
seeded He-normal int8 weights and activations calibrated on a batch of images, through the
built-in zoo's graph builder (:mod:`mcusim.model.zoo`).  Its resource objectives (peak SRAM,
Flash, latency) equal those of the trained model of the same architecture up to the
quantisation parameters, which the planner and the latency model do not read.

Examples
--------
>>> from mcusim.search.nas.space import SearchSpace
>>> space = SearchSpace((8, 8, 1), 10)
>>> arch = space.random_architecture(np.random.default_rng(0))
>>> g = untrained_graph(arch, space)
>>> g.operators[-1].kind, g.tensors[g.outputs[0]].shape
('fc', (1, 10))
"""

from __future__ import annotations

import numpy as np

from mcusim.model.graph import Graph
from mcusim.model.zoo import GraphBuilder, calibration_images
from mcusim.search.nas.space import Architecture, SearchSpace

__all__ = ["untrained_graph"]

_CALIBRATION = 8


def untrained_graph(arch: Architecture, space: SearchSpace, *, seed: int = 0,
                    images: np.ndarray | None = None, name: str = "candidate") -> Graph:
    """The int8 graph of ``arch`` with seeded weights (not trained).

    Parameters
    ----------
    arch
        A valid architecture of ``space`` (checked).
    space
        Its search space (input shape, classes).
    seed
        Seed of the weights and of the calibration images.
    images
        Calibration batch ``[N, H, W, C]`` in [0, 1]; default: smooth random images.
    name
        Graph name.

    Returns
    -------
    Graph
        Validated.
    """
    space.check(arch)
    if images is None:
        images = calibration_images(space.input_shape, _CALIBRATION, seed)
    b = GraphBuilder(name, np.asarray(images, np.float32), seed)
    x = b.input
    n = 0
    for bi, block in enumerate(arch.blocks):
        for li, lay in enumerate(block.layers):
            act = "relu" if lay.relu else "none"
            tag = f"{n:02d}_b{bi}l{li}"
            if lay.kind == "dwconv":
                x = b.dwconv(f"{tag}_dw", x, lay.kernel, stride=lay.stride, activation=act)
            else:
                x = b.conv(f"{tag}_conv", x, lay.channels, lay.kernel, stride=lay.stride,
                           activation=act)
            n += 1
        if block.pool != "none":
            x = b.pool(f"{n:02d}_b{bi}_{block.pool}pool", f"{block.pool}pool", x, 2)
            n += 1
    x = b.reshape(f"{n:02d}_flatten", x, (1, space.flat_features(arch)))
    n += 1
    for units in arch.dense:
        x = b.fc(f"{n:02d}_fc", x, units, activation="relu")
        n += 1
    x = b.fc(f"{n:02d}_classifier", x, space.num_classes, activation="none")
    return b.graph(x)
