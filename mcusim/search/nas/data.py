"""Data sets for the search: any ``(X, y)`` arrays split into train / validation / test.

:func:`make_dataset` takes images ``[N, H, W]`` or ``[N, H, W, C]`` (any real range; scaled
to [0, 1] by the training split's min and max, the range the int8 input quantisation sees)
and integer labels ``[N]``; :func:`load_dataset` names the built-in ones (``digits``:
scikit-learn's 8x8 handwritten digits, 1,797 images, 10 classes, shipped with the package).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> ds = make_dataset(rng.random((50, 4, 4)), rng.integers(0, 3, 50), seed=0)
>>> ds.input_shape, ds.num_classes, len(ds.y_train) + len(ds.y_val) + len(ds.y_test)
((4, 4, 1), 3, 50)
>>> make_dataset(np.zeros((5, 4)), np.zeros(5))
Traceback (most recent call last):
...
mcusim.search.SearchError: X must be images [N, H, W] or [N, H, W, C] [shape=(5, 4)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcusim._optional import require
from mcusim.search import SearchError

__all__ = ["DATASETS", "Dataset", "load_dataset", "make_dataset"]

#: Built-in data sets.
DATASETS: tuple[str, ...] = ("digits",)


@dataclass(frozen=True)
class Dataset:
    """Float32 images in [0, 1] (NHWC) and int labels, split three ways."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w, c = self.x_train.shape[1:]
        return int(h), int(w), int(c)


def make_dataset(X: np.ndarray, y: np.ndarray, *, name: str = "custom", seed: int = 0,
                 val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """Check, scale and split ``(X, y)`` (a seeded, stratification-free shuffle).

    Raises
    ------
    SearchError
        For a wrong shape or dtype, non-finite values, labels that are not 0..K-1 integers,
        fewer than 2 classes, or splits that leave a part empty.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4 or min(X.shape[1:], default=0) < 1:
        raise SearchError("X must be images [N, H, W] or [N, H, W, C]", shape=X.shape)
    if not np.issubdtype(X.dtype, np.number) or not np.isfinite(X).all():
        raise SearchError("X must hold finite numbers", dtype=str(X.dtype))
    if y.ndim != 1 or len(y) != len(X):
        raise SearchError("y must be one label per image", x_shape=X.shape, y_shape=y.shape)
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.mod(y, 1) == 0):
            raise SearchError("y must hold integer class labels", dtype=str(y.dtype))
    y = y.astype(np.int64)
    if y.min() < 0:
        raise SearchError("class labels must be 0..K-1", smallest=int(y.min()))
    k = int(y.max()) + 1
    if k < 2:
        raise SearchError("the data set needs at least 2 classes", classes=k)
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise SearchError("val_fraction and test_fraction must be in (0, 1) with sum < 1")
    n = len(X)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    if min(n_val, n_test, n - n_val - n_test) < 1:
        raise SearchError("too few samples to split into train, validation and test", samples=n)
    order = np.random.default_rng(seed).permutation(n)
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    lo, hi = float(X[train].min()), float(X[train].max())
    scale = (hi - lo) or 1.0

    def prep(idx: np.ndarray) -> np.ndarray:
        return np.clip((X[idx].astype(np.float64) - lo) / scale, 0.0, 1.0).astype(np.float32)

    return Dataset(name, prep(train), y[train], prep(val), y[val], prep(test), y[test], k)


def load_dataset(name: str, *, seed: int = 0) -> Dataset:
    """A built-in data set by name (:data:`DATASETS`), split with ``seed``."""
    if name == "digits":
        datasets = require("sklearn.datasets", "search", purpose="the digits data set")
        d = datasets.load_digits()
        return make_dataset(d.images, d.target, name="digits", seed=seed)
    raise SearchError(f"unknown data set {name!r}", known=", ".join(DATASETS))
