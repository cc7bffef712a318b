"""Forecasting (analytics.forecasting): classification worked out by hand, model choice on series made for it,
the global model (exact on series that are linear in their lags, no look-ahead, the blend), intervals, exogenous
regressors, reconciliation, the Dask path, and the models against statsforecast."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from analytics import forecasting as fc


def _long(series: dict[str, list[float] | np.ndarray], start: str = "2020-01-01", freq: str = "MS",
          **columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long history (unique_id, ds, y, extra columns) of series that all end on the same period."""
    frames = []
    longest = max(len(v) for v in series.values())
    dates = pd.date_range(start, periods=longest, freq=freq)
    for uid, values in series.items():
        values = np.asarray(values, dtype=float)
        frame = pd.DataFrame({"unique_id": uid, "ds": dates[longest - len(values):], "y": values})
        for name, per_series in columns.items():
            frame[name] = np.asarray(per_series[uid], dtype=float)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _panel(*rows: list[float]) -> np.ndarray:
    """Right-aligned panel of rows of different lengths (NaN before each row's start)."""
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, width - len(r):] = r
    return out


# --- classification -----------------------------------------------------------------------------------------------


def test_syntetos_boylan_classes_worked_out_by_hand():
    history = _long({
        # demand every period: intervals 1,1,1,1 → ADI 1; sizes 10,12,8,10: mean 10, sample var (0+4+4+0)/3 = 8/3,
        # CV² = (8/3)/100 = 0.0267 → smooth
        "smooth": [10, 12, 8, 10],
        # intervals 1,1,1,1 → ADI 1; sizes 1,9,1,9: mean 5, var (16·4)/3 = 21.33, CV² = 0.853 → erratic
        "erratic": [1, 9, 1, 9],
        # demands at positions 2,4,6,8 (1-based): intervals 2,2,2,2 → ADI 2; sizes all 5 → CV² 0 → intermittent
        "intermittent": [0, 5, 0, 5, 0, 5, 0, 5],
        # demands at 3 and 6 (1-based), then a trailing zero: intervals 3,3 → ADI 3; sizes 1, 11: mean 6,
        # var (25+25)/1 = 50, CV² = 50/36 = 1.39 → lumpy
        "lumpy": [0, 0, 1, 0, 0, 11, 0],
        "none": [0, 0, 0],
    })
    result = fc.classify(history, "MS").set_index("unique_id")
    assert result["demand_class"].to_dict() == {"erratic": "erratic", "intermittent": "intermittent",
                                                "lumpy": "lumpy", "none": "no_demand", "smooth": "smooth"}
    assert result.loc["smooth", "adi"] == 1.0
    assert result.loc["smooth", "cv2"] == pytest.approx((8 / 3) / 100)
    assert result.loc["erratic", "cv2"] == pytest.approx((64 / 3) / 25)
    assert result.loc["intermittent", "adi"] == 2.0
    assert result.loc["lumpy", "adi"] == 3.0
    assert result.loc["lumpy", "cv2"] == pytest.approx(50 / 36)
    assert result.loc["none", "adi"] == math.inf


def test_classification_cut_offs_belong_to_the_upper_class():
    history = _long({
        # sizes 3, 10, 17: mean 10, sample var (49 + 0 + 49)/2 = 49, CV² = 0.49 exactly → not smooth: erratic
        "at_cv2": [3, 10, 17],
        # demands at positions 2, 3, 4: intervals 2, 1, 1 → ADI 4/3 = 1.33 ≥ 1.32; CV² 0 → intermittent
        "above_adi": [0, 5, 5, 5],
    })
    result = fc.classify(history, "MS").set_index("unique_id")
    assert result.loc["at_cv2", "cv2"] == 0.49
    assert result.loc["at_cv2", "demand_class"] == "erratic"
    assert result.loc["above_adi", "adi"] == pytest.approx(4 / 3)
    assert result.loc["above_adi", "demand_class"] == "intermittent"


# --- the models against statsforecast -----------------------------------------------------------------------------


def test_models_equal_statsforecast_on_a_ragged_panel():
    models = pytest.importorskip("statsforecast.models")
    ADIDA, IMAPA, TSB, CrostonSBA, SimpleExponentialSmoothing = (  # noqa: N806
        models.ADIDA, models.IMAPA, models.TSB, models.CrostonSBA, models.SimpleExponentialSmoothing)

    rng = np.random.default_rng(3)
    rows = [rng.poisson(0.5, n).astype(float) * rng.integers(1, 6, n) for n in (40, 25, 33)]
    rows[1][:4] = 0.0  # leading zeros count as periods (Croston's first interval starts at the first period)
    Y = _panel(*rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, y in enumerate(rows):
            assert fc._croston_sba(Y, 2)[i, 0] == pytest.approx(CrostonSBA().forecast(y, 2)["mean"][0], rel=1e-12)
            assert fc._tsb(Y, 2, alphas=(0.2,))[i, 0] == pytest.approx(TSB(0.2, 0.2).forecast(y, 2)["mean"][0],
                                                                        rel=1e-12)
            assert fc._ses_grid(Y, (0.3,))[0][i, 0] == pytest.approx(  # start level y_1 like statsforecast
                SimpleExponentialSmoothing(0.3).forecast(y, 2)["mean"][0], rel=1e-12)
            # statsforecast optimises alpha in [0.1, 0.3] by golden section, we on a grid of that interval
            assert fc._adida(Y, 2)[i, 0] == pytest.approx(ADIDA().forecast(y, 2)["mean"][0], rel=0.05)
            assert fc._imapa(Y, 2)[i, 0] == pytest.approx(IMAPA().forecast(y, 2)["mean"][0], rel=0.05)


def test_seasonal_naive_and_theta_by_hand():
    Y = _panel([1, 2, 3, 4, 5, 6, 7, 8])
    # m = 4: ŷ_{9..10} = y_5, y_6
    assert fc._seasonal_naive(Y, 2, 4).tolist() == [[5.0, 6.0]]
    # Theta on the line y = t with α = 0.5: SES starts at the mean of the first (up to 12) values, ℓ_0 = 4.5, then
    # ℓ_t = ℓ_{t−1} + 0.5 (t − ℓ_{t−1}); least-squares slope b = 1; ŷ_{n+j} = ℓ_8 + b/2 ((j − 1) + 1/α − (1 − α)^8/α)
    level = 4.5
    for value in range(1, 9):
        level += 0.5 * (value - level)
    expected = [level + 0.5 * ((j - 1) + 2 - 0.5**8 / 0.5) for j in (1, 2)]
    assert fc._theta(Y, 2, alphas=(0.5,))[0].tolist() == pytest.approx(expected)


# --- model choice -------------------------------------------------------------------------------------------------


def test_seasonal_random_walk_chooses_seasonal_naive():
    # y_t = y_{t−4} + ε: the seasonal naive forecast is the optimal one
    rng = np.random.default_rng(11)
    series = {}
    for k in range(6):
        y = list(rng.uniform(50, 150, 4))
        for t in range(4, 48):
            y.append(y[t - 4] + rng.normal(0, 4))
        series[f"q{k}"] = y
    history = _long(series, freq="QS")
    result = fc.forecast(history, 4, "QS", n_windows=4, combine=1, use_global=False)
    models = result.drop_duplicates("unique_id")["model"]
    assert (models == "SeasonalNaive").sum() >= 5, models.tolist()
    # the global model has y_{t−3..t} among its features, so it can learn ŷ_{t+j} = y_{t+j−4} across the six
    # series; where the blend gives it weight, the forecast is still the seasonal naive one within the noise (sd 4)
    blended = fc.forecast(history, 4, "QS", n_windows=4, combine=1)
    snaive = np.concatenate([np.asarray(series[uid][-4:]) for uid in sorted(series)])
    assert np.abs(blended["yhat"].to_numpy() - snaive).max() < 2.0
    assert blended.drop_duplicates("unique_id")["model"].str.contains("SeasonalNaive|Global").all()


def test_intermittent_series_gets_a_croston_family_model():
    rng = np.random.default_rng(5)
    series = {f"i{k}": (rng.random(60) < 0.25) * 6.0 for k in range(4)}
    result = fc.forecast(_long(series), 6, "MS", combine=1).drop_duplicates("unique_id")
    assert set(result["demand_class"]) == {"intermittent"}
    # the selection part of the name (after a blend's "<w> Global + ") is a Croston-family model, or Global itself
    selection = result["model"].str.replace(r"^\d+% Global \+ ", "", regex=True)
    assert selection.isin(["CrostonSBA", "TSB", "ADIDA", "IMAPA", "Global"]).all(), result["model"].tolist()
    local = fc.forecast(_long(series), 6, "MS", combine=1, use_global=False).drop_duplicates("unique_id")
    assert local["model"].isin(["CrostonSBA", "TSB", "ADIDA", "IMAPA"]).all(), local["model"].tolist()


# --- the global model ---------------------------------------------------------------------------------------------


def test_global_model_forecasts_a_series_linear_in_its_lags_exactly(monkeypatch):
    # period-4 patterns: y_{t+j} = y_{t+j−4}, a linear function of the lags y_{t−3..t} (y_{t+1} = y_{t−3},
    # y_{t+2} = y_{t−2}); with the scale s_t (mean of the last max(m, h, 4) = 4 values) the pattern's mean, the
    # scaled values (≤ 4/2 = 2) stay under the caps, and without the ridge penalty the fit is exact
    monkeypatch.setattr(fc, "GLOBAL_RIDGE", 0.0)
    patterns = [[2, 4, 6, 8], [5, 1, 3, 3], [1, 2, 1, 4]]
    Y = np.array([np.tile(p, 10) for p in patterns], dtype=float)  # 40 periods, the last is p[3]
    out = fc.global_model(Y, 2, m=1)
    np.testing.assert_allclose(out, [[2, 4], [5, 1], [1, 2]], atol=1e-6)
    # a linear trend y_t = 10 + 2t: y_{t+j} = y_t + j (y_t − y_{t−1}); ragged (the second series starts later)
    trend = _panel(10 + 2.0 * np.arange(30), 10 + 2.0 * np.arange(20))
    np.testing.assert_allclose(fc.global_model(trend, 3, m=1), [[70, 72, 74], [50, 52, 54]], atol=1e-6)


def test_global_model_backtest_forecast_does_not_look_ahead():
    # the global model of backtest origin o is fitted on rows whose targets lie before o and forecast from the
    # values before o: changing everything from o on leaves that window's forecasts unchanged
    rng = np.random.default_rng(12)
    Y = rng.poisson(20, (30, 60)).astype(float)
    settings = fc._settings(60, 6, 12, 3, None, None, None, 3, 12.0)
    classes = fc._demand_stats(Y)["code"]
    ords = np.full(30, 700, dtype=np.int64)

    def global_backtest(panel: np.ndarray) -> np.ndarray:
        moments = [fc._stage_global(panel, None, None, ords, classes, settings)]
        betas = fc._solve_global(moments, len(settings.origins))
        return fc._stage_fit(panel, None, None, betas, ords, classes, settings)["global"]

    first = settings.origins[0]
    changed = Y.copy()
    changed[:, first:] = changed[:, first:] * 3 + 5
    before, after = global_backtest(Y), global_backtest(changed)
    assert np.isfinite(before).all()
    np.testing.assert_allclose(before[:, 0], after[:, 0], rtol=1e-12)
    assert not np.allclose(before[:, 1], after[:, 1])  # the next origin sees the change


def test_blend_weight_is_the_grid_point_with_least_backtest_rmsse():
    # per class, the summed RMSSE of each weight of the grid: the least wins (the smallest w on ties)
    sums = np.ones((len(fc.CLASSES), len(fc.BLEND_GRID)))
    sums[0, 7] = 0.5  # smooth: w = 0.35
    sums[2, -1] = 0.2  # intermittent: w = 1
    weights = fc._blend_weights(sums)
    assert weights.tolist() == [0.35, 0.0, 1.0, 0.0, 0.0]
    long = "mean(SES+seasonal, DampedHolt+seasonal, Theta+seasonal)"
    assert fc._blend_label(long, 0.35) == "35% Global + mean(SES+s, DampedHolt+s, Theta+s)"
    assert fc._blend_label("TSB", 1.0) == "Global" and fc._blend_label("TSB", 0.0) == "TSB"


# --- never negative, dead, new, intervals -------------------------------------------------------------------------


def test_forecasts_and_bounds_are_never_negative():
    # steep declines: trend models would extrapolate below zero
    series = {f"d{k}": np.maximum(100 - (7 + k) * np.arange(16), 1) for k in range(3)}
    result = fc.forecast(_long(series), 6, "MS")
    assert (result[["yhat", "lo_80", "hi_80", "lo_95", "hi_95"]] >= 0).all().all()


def test_dead_item_forecast_is_zero():
    history = _long({"dead": [5, 3, 6, 4, 5] * 4 + [0] * 12, "alive": [5, 3, 6, 4, 5] * 6 + [4, 6]})
    result = fc.forecast(history, 3, "MS", dead_after=12)
    dead = result[result["unique_id"] == "dead"]
    assert (dead["model"] == "dead").all()
    assert (dead[["yhat", "lo_80", "hi_80", "lo_95", "hi_95"]] == 0).all().all()
    assert (result.loc[result["unique_id"] == "alive", "yhat"] > 0).all()


def test_new_item_falls_back_to_its_mean_and_says_so():
    old = list(np.tile([10.0, 12, 9, 11], 8))
    history = _long({"old": old, "new": [4, 6, 5]})
    result = fc.forecast(history, 3, "MS")
    new = result[result["unique_id"] == "new"]
    assert (new["model"] == "new:mean").all()
    assert new["yhat"].tolist() == pytest.approx([5.0, 5.0, 5.0])
    assert (new["lo_95"] <= new["yhat"]).all() and (new["hi_95"] >= new["yhat"]).all()
    assert not (result.loc[result["unique_id"] == "old", "model"] == "new:mean").any()


def test_levels_give_nested_bounds_around_the_forecast():
    rng = np.random.default_rng(2)
    history = _long({f"s{k}": rng.poisson(20, 30) for k in range(5)})
    result = fc.forecast(history, 4, "MS", level=(50, 90))
    assert [c for c in result.columns if c.startswith(("lo_", "hi_"))] == ["lo_50", "hi_50", "lo_90", "hi_90"]
    assert (result["lo_90"] <= result["lo_50"]).all() and (result["lo_50"] <= result["yhat"]).all()
    assert (result["yhat"] <= result["hi_50"]).all() and (result["hi_50"] <= result["hi_90"]).all()
    assert (result["hi_90"] > result["lo_90"]).all()
    assert list(result.columns[:3]) == ["unique_id", "ds", "yhat"] and "model" in result.columns
    assert result["ds"].min() == pd.Timestamp("2022-07-01") and result["ds"].max() == pd.Timestamp("2022-10-01")


def test_interval_coverage_on_gaussian_series_is_close_to_nominal():
    rng = np.random.default_rng(8)
    history = _long({f"g{k}": 100 + rng.normal(0, 10, 40) for k in range(150)})
    result = fc.backtest(history, 4, 2, "MS", level=(80, 95))
    overall = result.summary.set_index("demand_class").loc["all"]
    assert 0.72 <= overall["coverage_80"] <= 0.88
    assert 0.90 <= overall["coverage_95"] <= 0.99


# --- backtest arithmetic ------------------------------------------------------------------------------------------


def test_backtest_errors_worked_out_by_hand():
    def last_value(history, h, freq, level, X_future=None):
        last = history.sort_values("ds").groupby("unique_id").tail(1)
        dates = pd.date_range(last["ds"].iloc[0], periods=h + 1, freq=freq)[1:]
        value = float(last["y"].iloc[0])
        return pd.DataFrame({"unique_id": "a", "ds": dates, "yhat": value, "lo_80": value - 1.5,
                             "hi_80": value + 1.5, "model": "naive", "demand_class": "smooth"})

    history = _long({"a": [1, 2, 3, 4, 5, 6]})
    result = fc.backtest(history, 2, 1, "MS", level=(80,), forecaster=last_value)
    row = result.errors.iloc[0]
    # train 1..4, actuals 5, 6, forecast 4: e = ŷ − y = −1, −2; naive scale mean|Δy| = 1, mean Δy² = 1
    assert row["wape"] == pytest.approx(3 / 11)
    assert row["bias"] == pytest.approx(-3 / 11)
    assert row["mase"] == pytest.approx(1.5)
    assert row["rmsse"] == pytest.approx(math.sqrt(2.5))
    assert row["coverage_80"] == pytest.approx(0.5)  # 5 ∈ [2.5, 5.5], 6 ∉
    assert result.summary.loc[0, "wape"] == pytest.approx(3 / 11)


# --- exogenous regressors -----------------------------------------------------------------------------------------


def test_promotion_regressor_lifts_the_forecast():
    rng = np.random.default_rng(4)
    n, h = 48, 3
    promo = {f"p{k}": (rng.random(n) < 0.2).astype(float) for k in range(20)}
    series = {uid: rng.poisson(20 * (1 + 0.8 * p)) for uid, p in promo.items()}
    history = _long(series, promo=promo)
    future_dates = pd.date_range(history["ds"].max(), periods=h + 1, freq="MS")[1:]

    def run(flag: float) -> pd.DataFrame:
        future = pd.DataFrame([(uid, d, flag) for uid in series for d in future_dates],
                              columns=["unique_id", "ds", "promo"])
        return fc.forecast(history, h, "MS", X_future=future).set_index(["unique_id", "ds"])["yhat"]

    lift = run(1.0) / run(0.0)
    # multiplicative effect: (1 + 0.8·(1 − p̄)·β')/(1 − 0.8·p̄·β') ≈ 1.8 for the simulated +80 %
    assert (lift > 1.4).all() and lift.mean() == pytest.approx(1.8, abs=0.2)


def test_regressor_without_future_values_is_refused():
    history = _long({"a": [1, 2, 3, 4, 5, 6, 7, 8]}, price={"a": np.ones(8)})
    with pytest.raises(ValueError, match="X_future"):
        fc.forecast(history, 2, "MS")


# --- hierarchy ----------------------------------------------------------------------------------------------------


def _hierarchy_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(9)
    hierarchy = pd.DataFrame({"unique_id": [f"sku{i}@{loc}" for i in range(3) for loc in ("N", "S")],
                              "category": ["A", "A", "A", "A", "B", "B"], "location": ["N", "S"] * 3})
    series = {uid: rng.poisson(10 + 5 * i, 36) for i, uid in enumerate(hierarchy["unique_id"])}
    return _long(series), hierarchy


@pytest.mark.parametrize("method", ["bottom_up", "ols", "wls_struct", "mint_shrink"])
def test_reconciled_total_is_the_sum_of_the_bottom_level(method):
    bottom, hierarchy = _hierarchy_case()
    history = fc.aggregate(bottom, hierarchy)
    assert set(history["unique_id"]) >= {"total", "category=A", "category=B", "location=N", "location=S"}
    base, residuals = fc.forecast(history, 3, "MS", return_residuals=True)
    result = fc.reconcile(base, hierarchy, method=method, residuals=residuals).set_index(["unique_id", "ds"])
    yhat = result["yhat"].unstack("ds")
    leaves = yhat.loc[hierarchy["unique_id"]]
    np.testing.assert_allclose(yhat.loc["total"], leaves.sum(), rtol=1e-12, atol=1e-9)
    for category, members in hierarchy.groupby("category")["unique_id"]:
        np.testing.assert_allclose(yhat.loc[f"category={category}"], leaves.loc[members].sum(), rtol=1e-12)
    assert (result["lo_80"] <= result["yhat"]).all() and (result["yhat"] <= result["hi_80"]).all()
    if method == "bottom_up":
        original = base.set_index(["unique_id", "ds"])["yhat"].unstack("ds").loc[hierarchy["unique_id"]]
        np.testing.assert_allclose(leaves, original)


def test_ols_leaves_coherent_forecasts_unchanged():
    _, hierarchy = _hierarchy_case()
    names, S, bottom = fc._nodes(hierarchy, None)
    leaves = np.arange(1.0, 7.0)
    coherent = pd.DataFrame({"unique_id": names, "ds": pd.Timestamp("2024-01-01"), "yhat": S @ leaves})
    result = fc.reconcile(coherent, hierarchy, method="ols").set_index("unique_id")["yhat"]
    np.testing.assert_allclose(result.loc[names], S @ leaves)


# --- Dask ---------------------------------------------------------------------------------------------------------


def test_dask_gives_the_local_forecasts():
    from dask.distributed import Client, LocalCluster

    rng = np.random.default_rng(6)
    promo = {f"s{k}": (rng.random(30) < 0.3).astype(float) for k in range(9)}
    series = {uid: rng.poisson(8 + k, 30) * (1 + p) for k, (uid, p) in enumerate(promo.items())}
    history = _long(series, promo=promo)
    dates = pd.date_range(history["ds"].max(), periods=4, freq="MS")[1:]
    future = pd.DataFrame([(u, d, 0.0) for u in series for d in dates], columns=["unique_id", "ds", "promo"])
    local = fc.forecast(history, 3, "MS", X_future=future)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = fc.forecast(history, 3, "MS", X_future=future, client=client, chunk_size=4)
    pd.testing.assert_frame_equal(local, remote, check_exact=False, rtol=1e-10)
