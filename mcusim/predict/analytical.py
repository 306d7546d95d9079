"""Analytical per-kernel latency model: loop counts times least-squares coefficients.

For every kernel path (:func:`mcusim.predict.features.kernel_path`) the cycles are modelled
as ``sum_j coef_j * count_j`` over that path's loop counts
(:func:`mcusim.predict.features.kernel_features`).  The coefficients are fitted by least
squares on relative error (each row is divided by its target, so a 1,000-cycle layer
counts as much as a 10-million-cycle one), with numpy's ``lstsq`` (minimum-norm on
collinear counts).

Examples
--------
>>> model = AnalyticalPredictor().fit(lut, lut["cycles"])        # doctest: +SKIP
>>> model.predict(configs)                                       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from mcusim.errors import McusimError
from mcusim.predict.features import feature_table

__all__ = ["AnalyticalPredictor", "PredictorError"]


class PredictorError(McusimError):
    """A predictor cannot fit or predict the given table (names the path or column)."""


def _targets(X: pd.DataFrame, y: Any) -> np.ndarray:
    arr = np.asarray(y, dtype=float).ravel()
    if arr.shape[0] != len(X):
        raise PredictorError(f"X has {len(X)} rows but y has {arr.shape[0]}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise PredictorError("targets must be positive, finite cycle counts")
    return arr


class AnalyticalPredictor(RegressorMixin, BaseEstimator):
    """Per-kernel-path linear model of cycles over loop counts.

    Parameters
    ----------
    relative
        Fit on relative error (rows weighted by ``1 / y``); False: plain least squares.
    solver
        ``"nnls"``: non-negative least squares (every loop body costs >= 0 cycles, which
        keeps rare count patterns from extrapolating wildly); ``"lstsq"``: unconstrained.
    rcond
        Cut-off of small singular values in ``numpy.linalg.lstsq``.

    Attributes
    ----------
    paths_ : list of str
        Kernel paths seen in ``fit``.
    features_ : dict
        Path -> names of its counts (the columns of the coefficients).
    coef_ : dict
        Path -> coefficient array (cycles per count).
    n_rows_ : dict
        Path -> rows it was fitted on.
    """

    def __init__(self, *, relative: bool = True, solver: str = "nnls",
                 rcond: float | None = None) -> None:
        self.relative = relative
        self.solver = solver
        self.rcond = rcond

    def fit(self, X: pd.DataFrame, y: Any) -> AnalyticalPredictor:
        """Fit the coefficients of every path present in ``X`` (a configuration table)."""
        target = _targets(X, y)
        paths, feats = feature_table(X)
        self.features_: dict[str, list[str]] = {}
        self.coef_: dict[str, np.ndarray] = {}
        self.n_rows_: dict[str, int] = {}
        for path in sorted(set(paths)):
            idx = [i for i, p in enumerate(paths) if p == path]
            names = sorted({k for i in idx for k in feats[i]})
            A = np.array([[feats[i].get(n, 0.0) for n in names] for i in idx])
            b = target[idx]
            w = 1.0 / b if self.relative else np.ones_like(b)
            coef = self._solve(A * w[:, None], b * w)
            self.features_[path], self.coef_[path], self.n_rows_[path] = names, coef, len(idx)
        self.paths_ = sorted(self.coef_)
        return self

    def _solve(self, A: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.solver == "lstsq":
            return np.linalg.lstsq(A, b, rcond=self.rcond)[0]
        if self.solver == "nnls":
            from scipy.optimize import nnls

            scale = np.maximum(np.abs(A).max(axis=0), 1e-12)
            coef, _ = nnls(A / scale, b, maxiter=50 * A.shape[1])
            return coef / scale
        raise PredictorError(f"unknown solver {self.solver!r} (use 'nnls' or 'lstsq')")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted cycles of every row of ``X``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        PredictorError
            A row takes a kernel path the model was not fitted on.
        """
        check_is_fitted(self, "coef_")
        paths, feats = feature_table(X)
        out = np.empty(len(paths))
        for i, (path, f) in enumerate(zip(paths, feats)):
            if path not in self.coef_:
                raise PredictorError("no coefficients for this kernel path (not in the fit data)",
                                     path=path, row=i, known=", ".join(self.paths_))
            names = self.features_[path]
            out[i] = float(np.dot(self.coef_[path], [f.get(n, 0.0) for n in names]))
        return out

    def coefficients(self) -> pd.DataFrame:
        """The fitted coefficients as a long table (path, count, cycles per count)."""
        check_is_fitted(self, "coef_")
        return pd.DataFrame([{"path": p, "count": n, "cycles": float(c)}
                             for p in self.paths_
                             for n, c in zip(self.features_[p], self.coef_[p])])
