"""Data sets and the built-in digits CNN of the bit-width search.

``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, values 0..16), scaled to
[0, 1] and split 80/20 with a fixed seed (stratified).  The graph input is int8 with scale
1/255 and zero point -128, as the zoo's models (``q = round(255 x) - 128``).

``digits_cnn``: conv 3x3 1->16, conv 3x3/2 16->32, conv 3x3 32->32, conv 3x3/2 32->64 (all
ReLU, symmetric padding 1, so every layer has a packed kernel), flatten, fully connected
256->10, softmax; He-normal weights from a fixed seed (the search pre-trains it).

Examples
--------
>>> d = load_dataset("digits")
>>> d.x_train.shape, d.x_test.shape, d.num_classes
((1437, 8, 8, 1), (360, 8, 8, 1), 10)
>>> digits_cnn().num_operators
7
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcusim.errors import ModelError
from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor

__all__ = ["BUILTIN_MODELS", "Dataset", "digits_cnn", "load_dataset", "to_int8"]

DATASETS = ("digits",)
INPUT_QUANT = Quant((float(np.float32(1.0 / 255.0)),), (-128,))
SOFTMAX_QUANT = Quant((1.0 / 256.0,), (-128,))


@dataclass(frozen=True)
class Dataset:
    """Train and test images (``[N, H, W, C]`` float32 in [0, 1]) and labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def load_dataset(name: str, *, seed: int = 0) -> Dataset:
    """Load a data set by name (see the module docstring)."""
    if name not in DATASETS:
        raise ModelError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    x = np.round(x * 255.0) / 255.0  # on the int8 input grid
    xtr, xte, ytr, yte = train_test_split(x.astype(np.float32), d.target.astype(np.int64),
                                          test_size=0.2, random_state=seed, stratify=d.target)
    return Dataset(name, xtr, ytr, xte, yte, 10)


def to_int8(x: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as the int8 graph input."""
    return (np.round(np.asarray(x) * 255.0) - 128).clip(-128, 127).astype(np.int8)


def digits_cnn(seed: int = 3) -> Graph:
    """The built-in digits CNN (see the module docstring), untrained int8 weights."""
    rng = np.random.default_rng(seed)
    tensors: list[Tensor] = [Tensor("input", (1, 8, 8, 1), "int8", INPUT_QUANT)]
    ops: list[Operator] = []
    act_q = Quant((0.05,), (-128,))

    def add(t: Tensor) -> int:
        tensors.append(t)
        return len(tensors) - 1

    def conv(name: str, x: int, c_out: int, stride: int) -> int:
        c_in = tensors[x].shape[3]
        h = tensors[x].shape[1]
        w = rng.normal(0.0, np.sqrt(2.0 / (9 * c_in)), (c_out, 3, 3, c_in))
        s = np.abs(w).reshape(c_out, -1).max(axis=1) / 127.0
        q = np.round(w / s[:, None, None, None]).astype(np.int8)
        wi = add(Tensor(f"{name}.weights", q.shape, "int8",
                        Quant(tuple(float(v) for v in s), (0,) * c_out, 0), q))
        bi = add(Tensor(f"{name}.bias", (c_out,), "int32",
                        Quant(tuple(float(0.05 * v) for v in s), (0,) * c_out, 0),
                        np.zeros(c_out, np.int32)))
        oh = (h + 2 - 3) // stride + 1
        y = add(Tensor(name, (1, oh, oh, c_out), "int8", act_q))
        ops.append(Operator(name, "conv", (x, wi, bi), (y,),
                            OpParams(stride=(stride, stride), padding=(1, 1, 1, 1),
                                     activation="relu")))
        return y

    x = conv("conv1", 0, 16, 1)
    x = conv("conv2", x, 32, 2)
    x = conv("conv3", x, 32, 1)
    x = conv("conv4", x, 64, 2)
    n = tensors[x].num_elements
    r = add(Tensor("flatten", (1, n), "int8", act_q))
    ops.append(Operator("flatten", "reshape", (x,), (r,)))
    w = rng.normal(0.0, np.sqrt(1.0 / n), (10, n))
    s = float(np.abs(w).max() / 127.0)
    wi = add(Tensor("fc.weights", (10, n), "int8", Quant((s,), (0,)),
                    np.round(w / s).astype(np.int8)))
    bi = add(Tensor("fc.bias", (10,), "int32", Quant((0.05 * s,) * 10, (0,) * 10, 0),
                    np.zeros(10, np.int32)))
    y = add(Tensor("fc", (1, 10), "int8", Quant((0.1,), (0,))))
    ops.append(Operator("fc", "fc", (r, wi, bi), (y,)))
    sm = add(Tensor("softmax", (1, 10), "int8", SOFTMAX_QUANT))
    ops.append(Operator("softmax", "softmax", (y,), (sm,)))
    return Graph("digits_cnn", tuple(tensors), tuple(ops), (0,), (sm,),
                 source="builtin:digits_cnn").validate()


#: Models of the search beyond the zoo.
BUILTIN_MODELS = {"digits_cnn": digits_cnn}
