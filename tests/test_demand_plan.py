"""The demand plan (analytics.demand_plan): overrides, forecast value added, runs compared, the selection summed.

Every expected number is worked out by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics import demand_plan as dp

W = pd.date_range("2026-01-04", periods=8, freq="W-SUN")  # Sundays: W[0] 01-04, W[1] 01-11, ...
PRODUCTS = pd.DataFrame({"product_id": [1, 2, 3], "category": ["A", "A", "B"]})


def _forecast(rows: list[tuple]) -> pd.DataFrame:
    """Rows (product_id, location_id, period, yhat, lo_80, hi_80) of run 1, model SES."""
    frame = pd.DataFrame(rows, columns=["product_id", "location_id", "period", "yhat", "lo_80", "hi_80"])
    return frame.assign(run_id=1, model="SES")


def _overrides(rows: list[dict]) -> pd.DataFrame:
    """Overrides with defaults: no scope, weeks W[0]..W[7], created on consecutive days in list order, active."""
    base = {"product_id": np.nan, "category": None, "location_id": np.nan, "period_start": W[0], "period_end": W[7],
            "active": True}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["id"] = range(1, len(frame) + 1)
    frame["created_at"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(frame["id"], unit="D")
    return frame


def _row(frame: pd.DataFrame, product: int, location: int, period: pd.Timestamp) -> pd.Series:
    hit = frame[(frame["product_id"] == product) & (frame["location_id"] == location) & (frame["period"] == period)]
    assert len(hit) == 1
    return hit.iloc[0]


# --- apply_overrides --------------------------------------------------------------------------------------------------


def test_percent_scales_forecast_and_bounds() -> None:
    fc = _forecast([(1, 10, W[0], 30.0, 20.0, 40.0), (1, 10, W[1], 0.0, 0.0, 2.0), (2, 10, W[0], 8.0, 4.0, 9.0)])
    out = dp.apply_overrides(fc, _overrides([{"product_id": 1, "kind": "percent", "value": 50.0}]), PRODUCTS)
    first = _row(out, 1, 10, W[0])
    # factor 1 + 50/100 = 1.5: 30 → 45, lo 20 → 30, hi 40 → 60
    assert (first["yhat_stat"], first["yhat_final"]) == (30.0, 45.0)
    assert (first["lo_80_stat"], first["lo_80_final"], first["hi_80_final"]) == (20.0, 30.0, 60.0)
    assert (first["override_id"], first["override_kind"]) == (1, "percent")
    zero = _row(out, 1, 10, W[1])
    assert (zero["yhat_final"], zero["lo_80_final"], zero["hi_80_final"]) == (0.0, 0.0, 3.0)  # 0·1.5, 0·1.5, 2·1.5
    other = _row(out, 2, 10, W[0])  # product 2 is out of scope: unchanged, no override
    assert (other["yhat_final"], other["lo_80_final"], other["hi_80_final"]) == (8.0, 4.0, 9.0)
    assert pd.isna(other["override_id"]) and other["override_kind"] is None
    assert "yhat" not in out.columns and {"run_id", "model", "category"} <= set(out.columns)


def test_level_is_shared_in_proportion_to_the_statistical_forecast() -> None:
    fc = _forecast([(1, 10, W[0], 10.0, 5.0, 15.0), (2, 10, W[0], 30.0, 24.0, 33.0),
                    (1, 10, W[1], 10.0, 5.0, 15.0), (2, 10, W[1], 30.0, 24.0, 33.0),
                    (3, 10, W[0], 7.0, 6.0, 8.0)])
    out = dp.apply_overrides(fc, _overrides([{"category": "A", "kind": "level", "value": 100.0,
                                              "period_end": W[0]}]), PRODUCTS)
    one, two = _row(out, 1, 10, W[0]), _row(out, 2, 10, W[0])
    # category A in W[0]: Σŷ = 10 + 30 = 40 → product 1 gets 100·10/40 = 25, product 2 100·30/40 = 75
    assert (one["yhat_final"], two["yhat_final"]) == (25.0, 75.0)
    # bounds × final/ŷ: product 1 × 2.5 → lo 12.5, hi 37.5; product 2 × 2.5 → lo 60, hi 82.5
    assert (one["lo_80_final"], one["hi_80_final"]) == (12.5, 37.5)
    assert (two["lo_80_final"], two["hi_80_final"]) == (60.0, 82.5)
    assert _row(out, 1, 10, W[1])["yhat_final"] == 10.0  # W[1] is after period_end: untouched
    assert _row(out, 3, 10, W[0])["yhat_final"] == 7.0  # category B: untouched
    # the level is the category's weekly total
    assert out[(out["category"] == "A") & (out["period"] == W[0])]["yhat_final"].sum() == 100.0


def test_level_over_zero_forecasts_is_shared_equally_and_bounds_shift() -> None:
    fc = _forecast([(1, 10, W[0], 0.0, 0.0, 2.0), (2, 10, W[0], 0.0, 0.0, 4.0)])
    out = dp.apply_overrides(fc, _overrides([{"location_id": 10, "kind": "level", "value": 10.0}]), PRODUCTS)
    one, two = _row(out, 1, 10, W[0]), _row(out, 2, 10, W[0])
    # Σŷ = 0 → 10 / 2 rows = 5 each; bounds shifted by 5 − 0: lo 0 → 5, hi 2 → 7 and 4 → 9
    assert (one["yhat_final"], one["lo_80_final"], one["hi_80_final"]) == (5.0, 5.0, 7.0)
    assert (two["yhat_final"], two["lo_80_final"], two["hi_80_final"]) == (5.0, 5.0, 9.0)


def test_levels_of_different_runs_are_kept_apart() -> None:
    fc = pd.concat([_forecast([(1, 10, W[0], 10.0, 5.0, 15.0), (2, 10, W[0], 30.0, 24.0, 33.0)]),
                    _forecast([(1, 10, W[0], 20.0, 5.0, 25.0), (2, 10, W[0], 20.0, 14.0, 23.0)]).assign(run_id=2)])
    out = dp.apply_overrides(fc, _overrides([{"category": "A", "kind": "level", "value": 80.0}]), PRODUCTS)
    # run 1: 80·10/40 = 20 and 80·30/40 = 60; run 2: 80·20/40 = 40 each
    assert out.groupby("run_id")["yhat_final"].apply(list).to_dict() == {1: [20.0, 60.0], 2: [40.0, 40.0]}


def test_most_specific_override_wins_then_newest() -> None:
    fc = _forecast([(1, 10, W[0], 100.0, 90.0, 110.0), (1, 20, W[0], 100.0, 90.0, 110.0),
                    (2, 10, W[0], 100.0, 90.0, 110.0), (3, 10, W[0], 100.0, 90.0, 110.0),
                    (3, 20, W[0], 100.0, 90.0, 110.0)])
    overrides = _overrides([
        {"location_id": 10, "kind": "percent", "value": 10.0},                    # id 1: location only
        {"category": "A", "kind": "percent", "value": 20.0},                      # id 2: category
        {"product_id": 1, "kind": "percent", "value": 30.0},                      # id 3: product
        {"product_id": 1, "location_id": 10, "kind": "percent", "value": 40.0},   # id 4: product + location
        {"category": "A", "kind": "percent", "value": 25.0},                      # id 5: category, newer than 2
        {"product_id": 3, "category": "B", "kind": "percent", "value": 90.0, "active": False},  # id 6: inactive
    ])
    out = dp.apply_overrides(fc, overrides, PRODUCTS)
    governed = {(r.product_id, r.location_id): (r.override_id, round(r.yhat_final, 9)) for r in out.itertuples()}
    assert governed[(1, 10)] == (4, 140.0)  # product+location beats product, category, location
    assert governed[(1, 20)] == (3, 130.0)  # product beats category (a product fixes its category)
    assert governed[(2, 10)] == (5, 125.0)  # category beats location; of the two category ones the newest (5)
    assert governed[(3, 10)] == (1, 110.0)  # only the location one matches (6 is inactive)
    assert pd.isna(governed[(3, 20)][0]) and governed[(3, 20)][1] == 100.0


def test_a_level_governs_only_the_rows_no_more_specific_override_takes() -> None:
    fc = _forecast([(1, 10, W[0], 10.0, 5.0, 15.0), (2, 10, W[0], 30.0, 24.0, 33.0)])
    overrides = _overrides([{"category": "A", "kind": "level", "value": 100.0},
                            {"product_id": 1, "kind": "percent", "value": 50.0}])
    out = dp.apply_overrides(fc, overrides, PRODUCTS)
    # product 1 is governed by its own +50 %: 10 → 15; the category level spreads over product 2 alone: 100
    assert _row(out, 1, 10, W[0])["yhat_final"] == 15.0
    assert _row(out, 2, 10, W[0])["yhat_final"] == 100.0


def test_period_range_is_inclusive_and_final_never_negative() -> None:
    fc = _forecast([(1, 10, W[i], 10.0, 6.0, 14.0) for i in range(4)])
    out = dp.apply_overrides(fc, _overrides([{"product_id": 1, "kind": "percent", "value": -150.0,
                                              "period_start": W[1], "period_end": W[2]}]), PRODUCTS)
    # W[1] and W[2] (both ends included): factor 1 − 1.5 < 0 → 0, bounds 0; W[0] and W[3] untouched
    assert out.sort_values("period")["yhat_final"].tolist() == [10.0, 0.0, 0.0, 10.0]
    assert out.sort_values("period")["hi_80_final"].tolist() == [14.0, 0.0, 0.0, 14.0]
    assert (out["lo_80_final"] >= 0).all()


def test_without_overrides_final_equals_statistical() -> None:
    fc = _forecast([(1, 10, W[0], 10.0, 6.0, 14.0)])
    for overrides in (None, _overrides([])):
        out = dp.apply_overrides(fc, overrides if overrides is None or len(overrides) else
                                 pd.DataFrame(columns=[*dp.OVERRIDES, "active"]), PRODUCTS)
        assert out["yhat_final"].tolist() == [10.0] and out["override_id"].isna().all()


def test_bad_inputs_are_refused() -> None:
    fc = _forecast([(1, 10, W[0], 10.0, 6.0, 14.0)])
    with pytest.raises(ValueError, match="kind"):
        dp.apply_overrides(fc, _overrides([{"kind": "double", "value": 2.0}]), PRODUCTS)
    with pytest.raises(ValueError, match="category"):
        dp.apply_overrides(fc, None)  # neither products nor a category column
    with pytest.raises(ValueError, match="yhat"):
        dp.apply_overrides(fc.drop(columns="yhat"), None, PRODUCTS)


# --- forecast value added ---------------------------------------------------------------------------------------------


def _fva_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two series, history W[0..2], forecasts W[3..5] (W[5] has no actual yet).

    1@10: history 10, 14, 12 → naive errors |4|, |−2|: scale_mae 3, scale_mse (16 + 4)/2 = 10;
          actuals W[3], W[4]: 15, 9; statistical 12, 12; override +25 % → final 15, 15.
    2@10: history 20, 20, 26 → naive errors 0, 6: scale_mae 3, scale_mse (0 + 36)/2 = 18;
          actuals 30, 30; statistical 20, 20; override level 30 → final 30, 30.
    """
    actuals = pd.DataFrame({
        "product_id": [1] * 5 + [2] * 5, "location_id": 10, "period": list(W[:5]) * 2,
        "y": [10.0, 14, 12, 15, 9, 20, 20, 26, 30, 30],
    })
    fc = _forecast([(p, 10, W[i], 12.0 if p == 1 else 20.0, 0.0, 40.0) for p in (1, 2) for i in (3, 4, 5)])
    overrides = _overrides([{"product_id": 1, "kind": "percent", "value": 25.0},
                            {"product_id": 2, "kind": "level", "value": 30.0}])
    final = dp.apply_overrides(fc.assign(sku=fc["product_id"].map({1: "S1", 2: "S2"})), overrides, PRODUCTS)
    return final, actuals


def test_forecast_value_added_per_series_and_total() -> None:
    final, actuals = _fva_case()
    result = dp.forecast_value_added(final, actuals)
    per = result.per_series.set_index("product_id")
    assert per["observations"].tolist() == [2, 2]  # W[5] has no actual
    assert per.loc[1, "sku"] == "S1" and per.loc[1, "category"] == "A"
    # 1@10 statistical: e = 12 − 15, 12 − 9 = −3, 3 → WAPE 6/24 = 0.25, bias 0/24 = 0, MASE mean|e|/3 = 1,
    #   RMSSE √(mean e²/10) = √0.9; final: e = 0, 6 → WAPE 6/24 = 0.25, bias 6/24 = 0.25, MASE 3/3 = 1,
    #   RMSSE √(18/10) = √1.8
    one = per.loc[1]
    assert one["wape_stat"] == pytest.approx(0.25) and one["wape_final"] == pytest.approx(0.25)
    assert one["bias_stat"] == pytest.approx(0.0) and one["bias_final"] == pytest.approx(0.25)
    assert one["fva_bias"] == pytest.approx(-0.25)  # |0| − |0.25|
    assert one["mase_stat"] == pytest.approx(1.0) and one["mase_final"] == pytest.approx(1.0)
    assert one["rmsse_stat"] == pytest.approx(math.sqrt(0.9)) and one["rmsse_final"] == pytest.approx(math.sqrt(1.8))
    assert one["fva_rmsse"] == pytest.approx(math.sqrt(0.9) - math.sqrt(1.8))
    # 2@10 statistical: e = −10, −10 → WAPE 20/60 = 1/3, bias −1/3, MASE 10/3, RMSSE √(100/18); final exact: all 0
    two = per.loc[2]
    assert two["wape_stat"] == pytest.approx(1 / 3) and two["wape_final"] == pytest.approx(0.0)
    assert two["fva_wape"] == pytest.approx(1 / 3) and two["fva_bias"] == pytest.approx(1 / 3)
    assert two["fva_mase"] == pytest.approx(10 / 3) and two["fva_rmsse"] == pytest.approx(math.sqrt(100 / 18))
    total = result.total.iloc[0]
    # statistical Σ|e| = 6 + 20 = 26, Σy = 24 + 60 = 84: WAPE 26/84; bias (0 − 20)/84; final Σ|e| = 6: WAPE 6/84,
    # bias 6/84; MASE means (1 + 10/3)/2 and (1 + 0)/2; RMSSE means (√0.9 + √(100/18))/2 and (√1.8 + 0)/2
    assert (total["series"], total["observations"], total["actual"]) == (2, 4, 84.0)
    assert total["wape_stat"] == pytest.approx(26 / 84) and total["wape_final"] == pytest.approx(6 / 84)
    assert total["fva_wape"] == pytest.approx(20 / 84)
    assert total["bias_stat"] == pytest.approx(-20 / 84) and total["fva_bias"] == pytest.approx(20 / 84 - 6 / 84)
    assert total["fva_mase"] == pytest.approx((1 + 10 / 3) / 2 - 0.5)
    assert total["fva_rmsse"] == pytest.approx((math.sqrt(0.9) + math.sqrt(100 / 18)) / 2 - math.sqrt(1.8) / 2)


def test_accuracy_by_a_column_and_one_run_only() -> None:
    final, actuals = _fva_case()
    by_category = dp.accuracy_comparison(final, actuals, by=["category"])
    assert by_category["category"].tolist() == ["A"]
    assert by_category["wape_final"].iloc[0] == pytest.approx(6 / 84)
    with pytest.raises(ValueError, match="one run"):
        dp.accuracy_comparison(pd.concat([final, final]), actuals)


# --- the selection summed ---------------------------------------------------------------------------------------------


def test_aggregate_plan_sums_and_adds_half_widths_in_quadrature() -> None:
    fc = _forecast([(1, 10, W[1], 10.0, 6.0, 13.0), (2, 10, W[1], 20.0, 12.0, 24.0)])
    final = dp.apply_overrides(fc, None, PRODUCTS)
    actuals = pd.DataFrame({"product_id": [1, 2], "location_id": 10, "period": [W[0], W[0]], "y": [7.0, 9.0]})
    out = dp.aggregate_plan(final, actuals)
    assert out["period"].tolist() == [W[0], W[1]]
    assert out["actual"].iloc[0] == 16.0 and pd.isna(out["actual"].iloc[1])  # 7 + 9
    row = out.iloc[1]
    # ŷ 10 + 20 = 30; upper half-widths 3 and 4 → √(9 + 16) = 5 → 35; lower 4 and 8 → √(16 + 64) = √80
    assert row["yhat_final"] == 30.0 and row["series"] == 2
    assert row["hi_80_final"] == pytest.approx(35.0) and row["lo_80_final"] == pytest.approx(30 - math.sqrt(80))
    assert dp.aggregate_plan(final.iloc[:0], actuals)["actual"].tolist() == [16.0]  # history only


# --- runs compared ----------------------------------------------------------------------------------------------------


def test_compare_runs_over_common_periods() -> None:
    a = pd.DataFrame({
        "product_id": [1, 1, 1, 2, 2, 2, 3], "location_id": 10, "period": [W[0], W[1], W[2]] * 2 + [W[0]],
        "yhat": [10.0, 10, 10, 5, 5, 5, 4], "model": ["SES"] * 3 + ["Theta"] * 3 + ["SES"],
    })
    b = pd.DataFrame({
        "product_id": [1, 1, 1, 2, 2, 2, 4], "location_id": 10, "period": [W[1], W[2], W[3]] * 2 + [W[1]],
        "yhat": [12.0, 12, 12, 5, 3, 3, 7], "model": ["SES"] * 3 + ["CrostonSBA"] * 3 + ["SES"],
    })
    result = dp.compare_runs(a, b)
    per = result.per_series.set_index("product_id")
    assert per["in"].to_dict() == {1: "both", 2: "both", 3: "a only", 4: "b only"}
    # 1@10, common W[1], W[2]: a 10 + 10 = 20, b 12 + 12 = 24 → change 4, +20 %, mean |Δ| (2 + 2)/2 = 2;
    # horizons: a 30, b 36
    assert per.loc[1, ["periods_common", "total_a", "total_b", "change"]].tolist() == [2, 20.0, 24.0, 4.0]
    assert per.loc[1, "change_pct"] == pytest.approx(0.2) and per.loc[1, "mean_abs_change"] == 2.0
    assert (per.loc[1, "horizon_total_a"], per.loc[1, "horizon_total_b"]) == (30.0, 36.0)
    assert not per.loc[1, "model_changed"]
    # 2@10: a 5 + 5 = 10, b 5 + 3 = 8 → change −2, −20 %, mean |Δ| (0 + 2)/2 = 1; Theta → CrostonSBA
    assert per.loc[2, "change"] == -2.0 and per.loc[2, "change_pct"] == pytest.approx(-0.2)
    assert per.loc[2, "mean_abs_change"] == 1.0 and per.loc[2, "model_changed"]
    assert per.loc[3, "periods_common"] == 0 and pd.isna(per.loc[3, "change_pct"]) and not per.loc[3, "model_changed"]
    total = result.total.iloc[0]
    # common totals a 20 + 10 = 30, b 24 + 8 = 32 → change 2, 2/30; Σ|Δ| = 2 + 2 + 0 + 2 = 6 → 6/30 = 0.2
    assert (total["series_a"], total["series_b"], total["series_common"], total["models_changed"]) == (3, 3, 2, 1)
    assert (total["periods_common"], total["total_a"], total["total_b"], total["change"]) == (2, 30.0, 32.0, 2.0)
    assert total["change_pct"] == pytest.approx(2 / 30) and total["abs_change_share"] == pytest.approx(0.2)
    # models: SES in a for series 1 and 3, in b for 1 and 4; Theta a only; CrostonSBA b only
    assert result.models.set_index("model")[["series_a", "series_b"]].to_dict("index") == {
        "SES": {"series_a": 2, "series_b": 2}, "CrostonSBA": {"series_a": 0, "series_b": 1},
        "Theta": {"series_a": 1, "series_b": 0}}


def test_compare_runs_on_the_final_forecast() -> None:
    fc = _forecast([(1, 10, W[0], 10.0, 6.0, 14.0)])
    stat = dp.apply_overrides(fc, None, PRODUCTS)
    final = dp.apply_overrides(fc, _overrides([{"product_id": 1, "kind": "percent", "value": 10.0}]), PRODUCTS)
    total = dp.compare_runs(stat, final, value="yhat_final").total.iloc[0]
    assert total["change"] == pytest.approx(1.0)  # 10 → 11
