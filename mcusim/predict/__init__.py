"""Latency predictors fitted on lookup tables (scikit-learn estimator contract).

:class:`AnalyticalPredictor` (per-kernel loop counts x least-squares coefficients),
:class:`LearnedPredictor` (gradient-boosted trees / random forest on the same counts plus
MACs), :func:`fit_lut` / :func:`load_predictor` (a predictor bound to its board and firmware
hash), :mod:`mcusim.predict.report` (held-out and unseen-model error reports).
"""

from mcusim.predict.analytical import AnalyticalPredictor, PredictorError
from mcusim.predict.learned import LearnedPredictor
from mcusim.predict.store import BoundPredictor, fit_lut, load_predictor

__all__ = ["AnalyticalPredictor", "BoundPredictor", "LearnedPredictor", "PredictorError",
           "fit_lut", "load_predictor"]
