"""Built-in layer shapes used by the kernel benchmarks (CifarNet and the SqueezeNet CIFAR
variant), as plain data.

CifarNet here is the TREC paper's network: 32x32x3 input, conv 5x5 (valid) 3->64, 2x2
max-pool, conv 5x5 (valid) 64->64, 2x2 max-pool, then fully connected 1600->384->192->10
(1600 = 5*5*64).  The SqueezeNet CIFAR variant starts with a 3x3 stem 3->96 and continues
with Fire modules (squeeze 1x1, expand 1x1 and 3x3).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.errors import UnknownNameError


@dataclass(frozen=True)
class Layer:
    """One layer configuration.

    Parameters
    ----------
    name
        Unique name, ``<net>.<layer>`` (e.g. ``cifarnet.conv1``).
    kind
        ``"conv"``, ``"dwconv"`` or ``"fc"``.
    in_h, in_w, in_c
        Input tensor shape (NHWC, batch 1).  For ``fc`` use ``in_h = in_w = 1``.
    out_c
        Output channels (output features for ``fc``).
    kh, kw
        Kernel size (1 for ``fc``).
    stride, pad
        Stride and symmetric zero padding, in pixels.
    """

    name: str
    kind: str
    in_h: int
    in_w: int
    in_c: int
    out_c: int
    kh: int = 1
    kw: int = 1
    stride: int = 1
    pad: int = 0

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.pad - self.kh) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad - self.kw) // self.stride + 1

    @property
    def k(self) -> int:
        """Length of one im2col row (``in_c * kh * kw``; ``in_c`` for depthwise)."""
        return (1 if self.kind == "dwconv" else self.in_c) * self.kh * self.kw

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer."""
        return self.out_h * self.out_w * self.out_c * self.k

    @property
    def num_weights(self) -> int:
        return self.out_c * self.k


CIFARNET: tuple[Layer, ...] = (
    Layer("cifarnet.conv1", "conv", 32, 32, 3, 64, 5, 5),
    Layer("cifarnet.conv2", "conv", 14, 14, 64, 64, 5, 5),
    Layer("cifarnet.fc1", "fc", 1, 1, 1600, 384),
    Layer("cifarnet.fc2", "fc", 1, 1, 384, 192),
    Layer("cifarnet.fc3", "fc", 1, 1, 192, 10),
)

SQUEEZENET: tuple[Layer, ...] = (
    Layer("squeezenet.stem", "conv", 32, 32, 3, 96, 3, 3, 1, 1),
    Layer("squeezenet.fire2.squeeze", "conv", 16, 16, 96, 16),
    Layer("squeezenet.fire2.expand1x1", "conv", 16, 16, 16, 64),
    Layer("squeezenet.fire2.expand3x3", "conv", 16, 16, 16, 64, 3, 3, 1, 1),
)

BUILTIN_LAYERS: tuple[Layer, ...] = CIFARNET + SQUEEZENET


def get_layer(name: str) -> Layer:
    """Return the built-in layer called ``name`` (raises :class:`~mcusim.errors.UnknownNameError`,
    a ``KeyError``, listing the names)."""
    for layer in BUILTIN_LAYERS:
        if layer.name == name:
            return layer
    raise UnknownNameError(f"no built-in layer {name!r}",
                           known=", ".join(l.name for l in BUILTIN_LAYERS))
