"""Learned latency model: gradient-boosted trees on the loop counts plus MACs.

The same counts as the analytical model (:mod:`mcusim.predict.features`, missing counts
are 0), the MACs, the configuration's sizes and one-hot kernel path, regressed on
``log(cycles / (1 + MACs + outputs))`` (cycles per unit of work) with scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingRegressor`
(or a random forest), for comparison with the analytical model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from mcusim.predict.analytical import PredictorError, _targets
from mcusim.predict.features import feature_table, num_macs

__all__ = ["LearnedPredictor"]

SIZE_COLUMNS = ("in_h", "in_w", "in_c", "out_c", "kh", "kw", "stride", "w_bits", "a_bits",
                "trec_l", "trec_h")


class LearnedPredictor(RegressorMixin, BaseEstimator):
    """Tree ensemble on loop counts + MACs (log-cycles target).

    Parameters
    ----------
    model
        ``"gbt"`` (histogram gradient boosting) or ``"forest"`` (random forest).
    n_estimators
        Boosting iterations / trees.
    random_state
        Seed of the ensemble.
    n_threads
        OpenMP/BLAS threads while fitting and predicting (1: no oversubscription when
        several processes share the cores).

    Attributes
    ----------
    columns_ : list of str
        Feature columns, in order.
    paths_ : list of str
        Kernel paths seen in ``fit``.
    estimator_ : object
        The fitted scikit-learn regressor.
    """

    def __init__(self, *, model: str = "gbt", n_estimators: int = 300,
                 random_state: int = 0, n_threads: int = 1) -> None:
        self.model = model
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_threads = n_threads

    def _matrix(self, X: pd.DataFrame, columns: list[str] | None = None
                ) -> tuple[np.ndarray, list[str]]:
        from mcusim.lut.table import normalize

        norm = normalize(X)
        paths, feats = feature_table(norm)
        rows = []
        for r, p, f in zip(norm.to_dict(orient="records"), paths, feats):
            d = {f"{p}:{k}": v for k, v in f.items()}
            d.update({c: float(r[c]) for c in SIZE_COLUMNS})
            d["macs"] = float(num_macs(r))
            d[f"path={p}"] = 1.0
            rows.append(d)
        frame = pd.DataFrame(rows).fillna(0.0)
        if columns is None:
            columns = sorted(frame.columns)
        missing = [c for c in frame.columns if c.startswith("path=") and c not in columns]
        if missing:
            raise PredictorError("kernel path not in the fit data", path=missing[0][5:])
        return frame.reindex(columns=columns, fill_value=0.0).to_numpy(float), columns

    def _scale(self, A: np.ndarray) -> np.ndarray:
        """The work of a row (MACs + outputs + 1): the trees learn cycles per unit of work,
        which they can interpolate, instead of cycles, which they cannot extrapolate."""
        cols = self.columns_
        macs = A[:, cols.index("macs")]
        outs = sum(A[:, i] for i, c in enumerate(cols) if c.endswith(":outputs"))
        return 1.0 + macs + outs

    def fit(self, X: pd.DataFrame, y: Any) -> LearnedPredictor:
        """Fit the ensemble on a configuration table and its cycles."""
        target = _targets(X, y)
        A, self.columns_ = self._matrix(X)
        self.paths_ = sorted(c[5:] for c in self.columns_ if c.startswith("path="))
        if self.model == "gbt":
            from sklearn.ensemble import HistGradientBoostingRegressor

            est: Any = HistGradientBoostingRegressor(max_iter=self.n_estimators,
                                                     learning_rate=0.1,
                                                     random_state=self.random_state)
        elif self.model == "forest":
            from sklearn.ensemble import RandomForestRegressor

            est = RandomForestRegressor(n_estimators=self.n_estimators,
                                        random_state=self.random_state, n_jobs=1)
        else:
            raise PredictorError(f"unknown model {self.model!r} (use 'gbt' or 'forest')")
        from threadpoolctl import threadpool_limits

        with threadpool_limits(self.n_threads):   # OpenMP spin-waits on a busy machine
            self.estimator_ = est.fit(A, np.log(target) - np.log(self._scale(A)))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted cycles (raises ``NotFittedError`` before :meth:`fit`)."""
        check_is_fitted(self, "estimator_")
        from threadpoolctl import threadpool_limits

        A, _ = self._matrix(X, self.columns_)
        with threadpool_limits(self.n_threads):
            return np.exp(self.estimator_.predict(A)) * self._scale(A)
