"""Predictors: the estimator contract, the analytical model, save/load checks, reports."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mcusim.lut import spaces
from mcusim.predict import (
    AnalyticalPredictor, BoundPredictor, LearnedPredictor, PredictorError, fit_lut,
    load_predictor,
)
from mcusim.predict.features import feature_table, kernel_features, kernel_path
from mcusim.predict.report import error_report, plot_errors, summary_text

ESTIMATORS = [(AnalyticalPredictor, {}), (LearnedPredictor, {"n_estimators": 20}),
              (LearnedPredictor, {"model": "forest", "n_estimators": 5})]


def _synthetic_lut(board: str = "stm32f469i", n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A LUT whose cycles are an exact linear function of the loop counts (per path)."""
    frame = spaces.random_space(n, seed, bounds=spaces.Bounds(max_macs=200_000))
    paths, feats = feature_table(frame)
    rng = np.random.default_rng(1)
    common: dict[str, set[str]] = {}
    for p, f in zip(paths, feats):      # counts every row of the path has
        common[p] = common.get(p, set(f)) & set(f)
    weights: dict[tuple[str, str], float] = {}
    cycles = []
    for p, f in zip(paths, feats):
        total = 0.0
        for k in sorted(common[p]):
            weights.setdefault((p, k), float(rng.uniform(0.5, 3.0)))
            total += weights[(p, k)] * f[k]
        cycles.append(total)
    frame["cycles"] = cycles
    frame["board"], frame["hash"] = board, "0123456789abcdef"
    frame["model"] = np.where(np.arange(n) % 4 == 0, "m1", "m2")
    return frame


@pytest.mark.parametrize("cls, kwargs", ESTIMATORS)
def test_estimator_contract(cls, kwargs):
    est = cls(**kwargs)
    params = inspect.signature(cls.__init__).parameters
    assert all(p.kind == p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    with pytest.raises(TypeError):
        cls(True)
    assert clone(est).get_params() == est.get_params()
    lut = _synthetic_lut(n=60)
    with pytest.raises(NotFittedError):
        est.predict(lut)
    before = set(vars(est))
    assert est.fit(lut, lut["cycles"]) is est
    learned = set(vars(est)) - before
    assert learned and all(name.endswith("_") for name in learned)
    assert est.predict(lut).shape == (len(lut),)


def test_analytical_recovers_linear_counts_exactly():
    lut = _synthetic_lut()
    est = AnalyticalPredictor(solver="lstsq").fit(lut, lut["cycles"])
    err = est.predict(lut) / lut["cycles"] - 1
    assert np.abs(err).max() < 1e-6
    nnls = AnalyticalPredictor().fit(lut, lut["cycles"])     # positive weights: nnls exact too
    assert np.abs(nnls.predict(lut) / lut["cycles"] - 1).max() < 1e-4
    table = est.coefficients()
    assert set(table["path"]) == set(est.paths_)


def test_analytical_refuses_unknown_path_and_bad_targets():
    lut = _synthetic_lut(n=60)
    convs = lut[lut["op"] == "conv"]
    est = AnalyticalPredictor().fit(convs, convs["cycles"])
    with pytest.raises(PredictorError, match="no coefficients"):
        est.predict(lut[lut["op"] == "add"])
    with pytest.raises(PredictorError, match="positive"):
        AnalyticalPredictor().fit(convs, -convs["cycles"])
    with pytest.raises(PredictorError, match="rows"):
        AnalyticalPredictor().fit(convs, convs["cycles"].iloc[:3])


@pytest.mark.parametrize("row, path", [
    ({"op": "conv", "kh": 1, "kw": 1, "pad": "valid"}, "s8/conv/1x1"),
    ({"op": "conv", "kh": 1, "kw": 1, "pad": "same"}, "s8/conv/1x1"),
    ({"op": "conv", "kh": 3, "kw": 3, "pad": "1"}, "s8/conv/im2col"),
    ({"op": "dwconv", "kh": 3, "kw": 3, "pad": "1", "out_c": 8}, "s8/dwconv/3x3"),
    ({"op": "dwconv", "kh": 5, "kw": 5, "pad": "same", "out_c": 8}, "s8/dwconv/generic"),
    ({"op": "fc", "family": "packed", "w_bits": 4, "a_bits": 2}, "packed/fc/w4a2"),
])
def test_kernel_paths_follow_the_wrappers(row, path):
    from mcusim.lut.table import normalize

    base = {"in_h": 8, "in_w": 8, "in_c": 8, "out_c": 4}
    full = normalize(pd.DataFrame([{**base, **row}])).iloc[0].to_dict()
    assert kernel_path(full) == path


def test_features_count_the_loops():
    row = {"op": "fc", "family": "s8", "in_h": 1, "in_w": 1, "in_c": 13, "out_c": 5,
           "kh": 1, "kw": 1, "stride": 1, "pad": "valid"}
    f = kernel_features(row)
    assert (f["pairs"], f["pairs_k4"], f["pairs_kr"]) == (2, 6, 2)   # 2 channel pairs, 13 = 3*4 + 1
    assert (f["odd"], f["odd_k4"], f["odd_kr"]) == (1, 3, 1)
    pool = {**row, "op": "maxpool", "in_h": 4, "in_w": 4, "in_c": 6, "out_c": 6, "kh": 3,
            "kw": 3, "pad": "1"}
    f = kernel_features(pool)
    # 4x4 output, clipped 3x3 windows: per axis 2+3+3+2 taps inside -> 10*10 taps
    assert f["taps"] == 100 and f["pix"] == 16 and f["taps_c4"] == 100


def test_bound_predictor_checks_board_and_hash(tmp_path):
    from mcusim.lut.runners import firmware_hash

    lut = _synthetic_lut(n=80)
    lut["hash"] = firmware_hash("stm32f469i", "s8")
    bound = fit_lut(lut, AnalyticalPredictor())
    path = bound.save(tmp_path / "p.predictor")
    back = load_predictor(path)
    assert isinstance(back, BoundPredictor) and back.board == "stm32f469i"
    assert back.families == ["s8"]
    np.testing.assert_allclose(back.predict(lut), bound.predict(lut))
    with pytest.raises(PredictorError, match="trained on board"):
        back.predict(lut, board="stm32f746zg")
    assert back.check("stm32f746zg", force=True)
    back.hashes["s8"] = "changed"
    with pytest.raises(PredictorError, match="changed"):
        back.predict(lut)
    with pytest.raises(PredictorError, match="not found"):
        load_predictor(tmp_path / "missing")
    (tmp_path / "junk").write_bytes(b"not a pickle")
    with pytest.raises(PredictorError, match="not a predictor"):
        load_predictor(tmp_path / "junk")


def test_fit_lut_refuses_mixed_tables():
    lut = _synthetic_lut(n=40)
    two = pd.concat([lut, lut.assign(board="stm32f746zg")])
    with pytest.raises(PredictorError, match="several boards"):
        fit_lut(two, AnalyticalPredictor())
    with pytest.raises(PredictorError, match="no 'cycles'"):
        fit_lut(lut.drop(columns="cycles"), AnalyticalPredictor())


class _Scaled:
    """Predicts the simulated cycles times ``factor`` (to check the report's statistics)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def fit(self, X, y):
        return self

    def predict(self, X):
        return X["cycles"].to_numpy(float) * self.factor


def test_error_report_splits_and_plot(tmp_path):
    lut = pd.concat([_synthetic_lut("stm32f469i", 80), _synthetic_lut("stm32f746zg", 80, 1)])
    rep = error_report(lut, models={"plus3": lambda: _Scaled(1.03),
                                    "minus7": lambda: _Scaled(0.93)})
    s = rep.summary
    assert {"held-out", "unseen-model"} == set(s["split"])
    assert set(s["board"]) == {"stm32f469i", "stm32f746zg"}
    held = s[(s["split"] == "held-out") & (s["op"] == "all")]
    assert held["rows"].sum() == 2 * 2 * round(0.3 * 80)   # 2 boards x 2 predictors
    unseen = s[(s["split"] == "unseen-model") & (s["op"] == "all")]
    assert unseen["rows"].sum() == 2 * 2 * 80        # each row held out once per predictor
    p3, m7 = s[s["predictor"] == "plus3"], s[s["predictor"] == "minus7"]
    assert (p3["within_5"] == 1).all() and np.allclose(p3["max_abs"], 0.03)
    assert (m7["within_5"] == 0).all() and (m7["within_10"] == 1).all()
    assert np.allclose(m7["mean_abs"], 0.07)
    assert "within_10" in summary_text(rep)
    png = plot_errors(rep, tmp_path / "e.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_analytical_on_simulated_rows():
    """Fitted on real sweeps of the add kernel (linear in the element count), the model is
    close to exact on held-out sizes."""
    from mcusim.lut.sweep import sweep

    rows = pd.DataFrame([{"op": "add", "in_h": h, "in_w": w, "in_c": c}
                         for h, w, c in [(1, 1, 5), (2, 3, 7), (3, 3, 8), (1, 4, 9), (2, 2, 13),
                                         (4, 4, 6), (1, 1, 40), (3, 5, 3), (2, 7, 5)]])
    lut = sweep(rows, "stm32f469i", cache=False).table
    est = AnalyticalPredictor().fit(lut.iloc[:6], lut["cycles"].iloc[:6])
    err = est.predict(lut.iloc[6:]) / lut["cycles"].iloc[6:] - 1
    assert np.abs(err).max() < 0.02


def test_reuse_features_only_for_cached_regions():
    """The re-read activation operand: lines x passes, counted past each working-set step,
    and only for rows whose data sits in a named (cached) region."""
    from mcusim.predict.features import REUSE_LINE, REUSE_STEPS

    row = {"op": "conv", "family": "s8", "in_h": 6, "in_w": 6, "in_c": 64, "out_c": 5,
           "kh": 3, "kw": 3, "stride": 1, "pad": "valid"}
    assert not any(k.startswith("reuse") for k in kernel_features(row))
    f = kernel_features({**row, "data_region": "sram1"})
    k = 64 * 9
    passes = f["calls"] * 3                      # 2 channel pairs + the odd channel per call
    assert f["calls"] == 8                      # 4x4 output pixels, two per call
    assert f["reuse_lines"] == passes * 4 * k / REUSE_LINE
    for step in REUSE_STEPS:                    # working set 6k = 3456 bytes
        assert f[f"reuse_lines>{step}"] == (f["reuse_lines"] if 6 * k > step else 0.0)
    fc = kernel_features({"op": "fc", "family": "s8", "in_h": 1, "in_w": 1, "in_c": 1600,
                          "out_c": 10, "kh": 1, "kw": 1, "stride": 1, "pad": "valid",
                          "data_region": "sram1"})
    assert fc["reuse_lines"] == 5 * 1600 / REUSE_LINE and fc["reuse_lines>4096"] > 0


def test_analytical_follows_d_cache_thrashing_in_sram1():
    """Convolutions with their data in the F746's SRAM1 (behind the 4 KiB L1 D-cache): once
    two im2col columns and two filter rows outgrow the cache the columns miss on every
    channel pair (the cost per MAC rises against the same layers in the uncached DTCM), and
    the reuse features let the fit follow it."""
    from mcusim.lut.sweep import sweep

    chans = [8, 12, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 200, 256, 40, 144, 224]
    rows = pd.DataFrame([{"op": "conv", "in_h": 4, "in_w": 4, "in_c": c, "out_c": 8,
                          "kh": 3, "kw": 3, "pad": "valid", "data_region": region}
                         for region in ("sram1", "") for c in chans])
    lut = sweep(rows, "stm32f746zg", cache=False).table
    n = len(chans)
    ratio = lut["cycles"].iloc[:n].to_numpy() / lut["cycles"].iloc[n:].to_numpy()
    assert ratio[chans.index(256)] > ratio[chans.index(32)] + 0.05   # 6k bytes > 4 KiB
    sram1 = lut.iloc[:n]
    est = AnalyticalPredictor().fit(sram1.iloc[:-3], sram1["cycles"].iloc[:-3])
    err = est.predict(sram1.iloc[-3:]) / sram1["cycles"].iloc[-3:] - 1
    assert np.abs(err).max() < 0.03


def test_window_misses_grow_when_the_window_outgrows_a_way():
    """The simulated L1 D-cache misses of a depthwise convolution per output row: a 3x3
    window over 16 channels stays resident (a row's misses are about its new lines), a 7x7
    window over 86 channels (49 taps x 2 lines, filter too) thrashes on every channel group."""
    from mcusim.predict.features import _window_misses

    small = _window_misses(12, 12, 16, 3, 3, 1, 1, 1)
    assert small < 12 * 12 * 16 / 32 * 3                 # a few passes over the data at most
    big = _window_misses(10, 10, 86, 7, 7, 1, 0, 0)
    pixels, groups, taps = 4 * 4, 86 // 4 + 86 % 4, 49
    assert big > 0.5 * pixels * groups * taps            # most taps miss in every group
    f = kernel_features({"op": "dwconv", "family": "s8", "in_h": 10, "in_w": 10, "in_c": 86,
                         "out_c": 86, "kh": 7, "kw": 7, "stride": 1, "pad": "valid",
                         "data_region": "sram1"})
    assert f["l1d_window_misses"] == big
