"""Inputs for measuring TREC: natural photographs, handwritten digits and noise.

Redundancy between im2col sub-vectors depends on image statistics, so TREC is measured on
real images shipped inside scikit-learn (no download):

- ``"photo"``: the two sample photographs of :func:`sklearn.datasets.load_sample_images`
  (427 x 640 RGB), block-averaged by ``downscale`` (default 4, so a 32 x 32 tile covers
  about a fifth of the scene, like a CIFAR image) and cut into 32 x 32 RGB tiles;
- ``"digits"``: the 8 x 8 digits of :func:`sklearn.datasets.load_digits`, upscaled 4x
  (nearest neighbour) to 32 x 32 and replicated to 3 channels;
- ``"noise"``: uniform random pixels.

Images are uint8 and quantised to int8 with scale 1/255 and zero point -128.  Inputs of
deeper layers are the actual outputs of the preceding layers (exact int8 convolutions with
calibrated requantisation, ReLU, 2x2 max-pool), see :func:`layer_input`.

Examples
--------
>>> get_images("digits", 2).shape
(2, 32, 32, 3)
"""

from __future__ import annotations

import functools

import numpy as np

from mcusim.kernels.layers import Layer, get_layer

__all__ = ["INPUT_SOURCES", "photo_tiles", "digit_images", "noise_images", "get_images",
           "to_int8", "max_pool2", "layer_input"]

INPUT_SOURCES: tuple[str, ...] = ("photo", "digits", "noise")
_TILE = 32


def photo_tiles(count: int, *, seed: int = 0, downscale: int = 4) -> np.ndarray:
    """``count`` distinct 32 x 32 RGB tiles (uint8) of the scikit-learn sample photographs."""
    tiles = _all_photo_tiles(downscale)
    if count > len(tiles):
        raise ValueError(f"only {len(tiles)} photo tiles at downscale {downscale}")
    pick = np.random.default_rng(seed).permutation(len(tiles))[:count]
    return tiles[pick].copy()


@functools.lru_cache(maxsize=4)
def _all_photo_tiles(downscale: int) -> np.ndarray:
    from sklearn import datasets
    tiles = []
    for img in datasets.load_sample_images().images:
        h, w = (img.shape[0] // downscale) * downscale, (img.shape[1] // downscale) * downscale
        small = img[:h, :w].reshape(h // downscale, downscale, w // downscale, downscale, 3)
        small = np.rint(small.mean(axis=(1, 3))).astype(np.uint8)
        for y in range(0, small.shape[0] - _TILE + 1, _TILE):
            for x in range(0, small.shape[1] - _TILE + 1, _TILE):
                tiles.append(small[y:y + _TILE, x:x + _TILE])
    out = np.stack(tiles)
    out.flags.writeable = False
    return out


def digit_images(count: int, *, seed: int = 0) -> np.ndarray:
    """``count`` digits (uint8, ``[count, 32, 32, 3]``), 8 x 8 upscaled 4x, grey in 3 channels."""
    from sklearn import datasets
    digits = datasets.load_digits().images
    pick = np.random.default_rng(seed).permutation(len(digits))[:count]
    big = np.kron(digits[pick], np.ones((1, 4, 4)))
    grey = np.rint(big * (255.0 / 16.0)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=3)


def noise_images(count: int, *, seed: int = 0) -> np.ndarray:
    """``count`` uniform-noise RGB images (uint8, ``[count, 32, 32, 3]``)."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, _TILE, _TILE, 3),
                                                dtype=np.uint8)


def get_images(source: str, count: int, *, seed: int = 0) -> np.ndarray:
    """Images of ``source`` (one of :data:`INPUT_SOURCES`)."""
    makers = {"photo": photo_tiles, "digits": digit_images, "noise": noise_images}
    if source not in makers:
        raise ValueError(f"unknown input source {source!r}; use {', '.join(INPUT_SOURCES)}")
    return makers[source](count, seed=seed)


def to_int8(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> int8 (scale 1/255, zero point -128, so input_offset = 128)."""
    return (images.astype(np.int16) - 128).astype(np.int8)


def max_pool2(x: np.ndarray) -> np.ndarray:
    """2 x 2 max-pool with stride 2 of ``[H, W, C]`` (odd edges dropped)."""
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).max(axis=(1, 3))


# Layers feeding each measured layer: (producer layer names, pool after each producer).
_CHAINS: dict[str, tuple[tuple[str, bool], ...]] = {
    "cifarnet.conv1": (),
    "cifarnet.conv2": (("cifarnet.conv1", True),),
    "squeezenet.stem": (),
    "squeezenet.fire2.squeeze": (("squeezenet.stem", True),),
    "squeezenet.fire2.expand1x1": (("squeezenet.stem", True), ("squeezenet.fire2.squeeze", False)),
    "squeezenet.fire2.expand3x3": (("squeezenet.stem", True), ("squeezenet.fire2.squeeze", False)),
}


def layer_input(layer: Layer, source: str, *, seed: int = 0) -> np.ndarray:
    """int8 input ``[in_h, in_w, in_c]`` of ``layer`` for image ``seed`` of ``source``.

    First layers get the quantised image; deeper layers get the actual output of the
    preceding layers of the same network (random weights, requantisation calibrated on
    this input, ReLU, 2x2 max-pool where the network pools), computed with the exact int8
    convolution.
    """
    from mcusim.kernels.trec import exact_conv_ref, make_problem

    if layer.name not in _CHAINS:
        raise KeyError(f"no input chain for {layer.name}; known: {', '.join(_CHAINS)}")
    x = to_int8(get_images(source, 1, seed=seed)[0])
    rng = np.random.default_rng(1000 + seed)
    for name, pool in _CHAINS[layer.name]:
        y = exact_conv_ref(make_problem(get_layer(name), rng, x, act="relu"))
        x = max_pool2(y) if pool else y
    if x.shape != (layer.in_h, layer.in_w, layer.in_c):
        raise ValueError(f"chain produced {x.shape}, {layer.name} expects "
                         f"{(layer.in_h, layer.in_w, layer.in_c)}")
    return x
