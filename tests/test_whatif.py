"""The replenishment what-if glue (analytics/whatif.py): pure, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import whatif
from analytics.replenishment import safety_factor

AS_OF = pd.Timestamp("2026-10-31")


def _state(**columns) -> pd.DataFrame:
    """Item-locations as data_access.replenishment.item_locations_state returns them (the columns used)."""
    base = {
        "product_id": [1, 2], "location_id": [1, 1], "sku": ["A", "B"], "name": ["Alpha", "Beta"],
        "category": ["Cat1", "Cat2"], "location": ["DC", "DC"], "make_or_buy": ["buy", "make"],
        "supplier_id": pd.array([7, pd.NA], dtype="Int64"), "supplier_lead_time_mean": [9.0, np.nan],
        "supplier_lead_time_std": [1.0, np.nan], "moq": [0.0, 50.0], "order_multiple": [0.0, 0.0],
        "lead_time_days": [5.0, 3.0], "unit_cost": [2.0, 10.0],
        "first_demand_date": pd.to_datetime(["2020-01-01", "2026-10-29"]),
    }
    base.update(columns)
    return pd.DataFrame(base)


def _items(mean: float = 10.0, std: float = 0.0, lead: float = 4.0, **overrides) -> pd.DataFrame:
    """One item-location with given demand and lead-time inputs (the columns of whatif.item_inputs)."""
    row = {"product_id": 1, "location_id": 1, "sku": "A", "name": "Alpha", "category": "Cat1", "location": "DC",
           "make_or_buy": "buy", "item": "A · Alpha @ DC", "unit_cost": 1.0, "moq": 0.0, "order_multiple": 0.0,
           "demand_mean": mean, "demand_std": std, "demand_days": 180, "annual_demand_value": mean * 365,
           "lead_time_mean": lead, "lead_time_std": 0.0, "lead_time_source": "supplier"}
    row.update(overrides)
    return pd.DataFrame([row])


def test_demand_history_counts_missing_days_as_zero_from_the_first_sale() -> None:
    state = _state()
    demand = pd.DataFrame({"product_id": [1, 1, 2, 9], "location_id": [1, 1, 1, 1],
                           "ds": pd.to_datetime(["2026-10-30", "2026-10-31", "2026-10-31", "2026-10-31"]),
                           "y": [4.0, 6.0, 3.0, 99.0]})
    matrix = whatif.demand_history(state, demand, AS_OF, history_days=5)
    # item 1 sold long before the window: every day counts, zeros included
    np.testing.assert_array_equal(matrix[0], [0.0, 0.0, 0.0, 4.0, 6.0])
    # item 2's first sale was on 2026-10-29: the two days before are not sampled (NaN)
    np.testing.assert_array_equal(np.isnan(matrix[1]), [True, True, False, False, False])
    np.testing.assert_array_equal(matrix[1, 2:], [0.0, 0.0, 3.0])


def test_item_inputs_mean_std_and_lead_time_sources() -> None:
    state = _state()
    demand = pd.DataFrame({"product_id": [1, 1, 2], "location_id": [1, 1, 1],
                           "ds": pd.to_datetime(["2026-10-30", "2026-10-31", "2026-10-31"]), "y": [4.0, 6.0, 3.0]})
    po = pd.DataFrame({"supplier_id": [7, 7], "product_id": [1, 1],
                       "order_date": pd.to_datetime(["2026-01-01", "2026-02-01"]),
                       "received_date": pd.to_datetime(["2026-01-11", "2026-02-15"]),
                       "status": ["received", "received"]})
    items, matrix = whatif.item_inputs(state, demand, po, AS_OF, history_days=5)
    assert matrix.shape == (2, 5)
    # item 1: days 0, 0, 0, 4, 6 → mean 2, sample variance (4+4+4+4+16)/4 = 8
    assert items.loc[0, "demand_mean"] == pytest.approx(2.0)
    assert items.loc[0, "demand_std"] == pytest.approx(np.sqrt(8.0))
    # item 2: days 0, 0, 3 → mean 1, sample variance (1+1+4)/2 = 3
    assert items.loc[1, "demand_mean"] == pytest.approx(1.0)
    assert items.loc[1, "demand_std"] == pytest.approx(np.sqrt(3.0))
    assert items.loc[1, "demand_days"] == 3
    # bought: supplier 7's received lines, 10 and 14 days → mean 12, std sqrt(8); made: the product's 3 days
    assert items.loc[0, "lead_time_source"] == "po_history"
    assert items.loc[0, "lead_time_mean"] == pytest.approx(12.0)
    assert items.loc[0, "lead_time_std"] == pytest.approx(np.sqrt(8.0))
    assert (items.loc[1, "lead_time_source"], items.loc[1, "lead_time_mean"]) == ("product", 3.0)
    assert items.loc[0, "annual_demand_value"] == pytest.approx(2.0 * 365 * 2.0)
    assert items.loc[0, "item"] == "A · Alpha @ DC"
    # without purchase history the supplier's recorded lead time is used
    fallback = whatif.lead_times(state, None)
    assert fallback.loc[0, "lead_time_source"] == "supplier" and fallback.loc[0, "lead_time_mean"] == 9.0


def test_select_items_bounds_a_group_to_its_largest_demand_value() -> None:
    items = pd.concat([_items(mean=m, category=c) for m, c in ((1, "X"), (5, "X"), (3, "Y"), (4, "X"))],
                      ignore_index=True)
    positions, in_scope = whatif.select_items(items, "category", "X", limit=2)
    assert in_scope == 3 and positions.tolist() == [1, 3]
    positions, in_scope = whatif.select_items(items, "all")
    assert in_scope == 4 and positions.tolist() == [1, 3, 2, 0]
    assert whatif.select_items(items, "item", 2)[0].tolist() == [2]
    with pytest.raises(ValueError):
        whatif.select_items(items, "supplier", "S1")


def test_scenario_parameters_textbook_reorder_point() -> None:
    """Silver, Pyke & Thomas: α = 95 %, σd = 10/day, L = 4 days → SS = 1.645·10·√4 = 32.9, s = 40 + 32.9."""
    items = _items(mean=10.0, std=10.0, lead=2.0)
    settings = whatif.WhatIf(policy="sS", service_level=0.95, lead_time_multiplier=2.0, cover_days=14)
    params = whatif.scenario_parameters(items, settings)
    z = float(safety_factor(0.95))
    assert z == pytest.approx(1.6449, abs=1e-4)
    assert params.loc[0, "lead_time_mean"] == pytest.approx(4.0)
    assert params.loc[0, "safety_stock"] == pytest.approx(z * 10.0 * 2.0)  # 32.9
    assert params.loc[0, "reorder_point"] == pytest.approx(40.0 + z * 20.0)
    assert params.loc[0, "order_quantity"] == pytest.approx(140.0)  # 14 days × 10
    assert params.loc[0, "order_up_to"] == pytest.approx(40.0 + z * 20.0 + 140.0)
    # a fixed lead time and a MOQ above Q: Q becomes the MOQ
    fixed = whatif.scenario_parameters(items, whatif.WhatIf(lead_time="fixed", lead_time_mean=4.0, moq=200.0))
    assert fixed.loc[0, "order_quantity"] == 200.0
    assert fixed.loc[0, "reorder_point"] == pytest.approx(params.loc[0, "reorder_point"])
    # (R, S) reviewed weekly protects L + R = 11 days: S = 110 + z·10·√11
    periodic = whatif.scenario_parameters(items, whatif.WhatIf(policy="RS", review_period=7, lead_time="fixed",
                                                               lead_time_mean=4.0))
    assert periodic.loc[0, "order_up_to"] == pytest.approx(110.0 + z * 10.0 * np.sqrt(11.0))


def test_simulated_deterministic_sawtooth_by_hand() -> None:
    """Demand 10 every day, lead time 4 days, (s, Q) with s = 40, Q = 140, starting at s + Q = 180.

    Closing stock runs 170, 160, …, 0 over days 1–18 (the order placed at the close of day 14 arrives on day 19),
    then cycles of 14 days 130, 120, …, 0: over 18 + 5·14 = 88 days Σ closing on hand = 1,530 + 5·910 = 6,080,
    so the average is 69.09 units; orders at the close of days 14, 28, …, 84: 6 orders; no stockout.
    """
    items = _items(mean=10.0, std=0.0, lead=4.0)
    history = np.full((1, 30), 10.0)
    settings = whatif.WhatIf(policy="sQ", service_level=0.95, days=88, cover_days=14, holding_rate=0.365,
                             order_cost=50.0)
    outcome = whatif.simulate_scenario(items, history, settings)
    s = outcome.summary
    assert (s["fill_rate"], s["stockout_days"], s["orders"]) == (1.0, 0, 6)
    assert s["avg_on_hand"] == pytest.approx(6080 / 88)
    assert s["avg_inventory_value"] == pytest.approx(6080 / 88)
    assert s["holding_cost"] == pytest.approx(6.08)  # 6,080 unit-days × 0.365 / 365
    assert s["total_cost"] == pytest.approx(6.08 + 300.0)
    assert outcome.items.loc[0, "reorder_point"] == 40.0 and outcome.items.loc[0, "order_quantity"] == 140.0
    # a fixed 5-day lead time: the parameters follow the assumption (s = 50), so demand is still met in full
    late = whatif.simulate_scenario(items, history, whatif.WhatIf(policy="sQ", days=88, lead_time="fixed",
                                                                  lead_time_mean=5.0, cover_days=14))
    assert late.items.loc[0, "reorder_point"] == 50.0
    assert late.summary["fill_rate"] == 1.0 and late.summary["stockout_days"] == 0


def test_scenario_is_a_point_of_its_tradeoff_curve() -> None:
    rng = np.random.default_rng(3)
    history = rng.poisson([[2.0], [8.0], [0.5]], size=(3, 180)).astype(float)
    items = pd.concat([_items(mean=h.mean(), std=h.std(ddof=1), lead=lt, unit_cost=c, sku=str(i))
                       for i, (h, lt, c) in enumerate(zip(history, (5.0, 10.0, 3.0), (4.0, 1.0, 20.0),
                                                          strict=True))], ignore_index=True)
    items["lead_time_std"] = [1.0, 2.0, 0.0]
    settings = whatif.WhatIf(service_level=0.93, days=365)
    outcome = whatif.simulate_scenario(items, history, settings)
    curve = whatif.tradeoff_curve(items, history, settings)
    assert 0.93 in curve["target"].round(6).tolist() and curve["scenario"].sum() == 1
    point = curve[curve["scenario"]].iloc[0]
    assert point["fill_rate"] == pytest.approx(outcome.summary["fill_rate"])
    assert point["avg_inventory_value"] == pytest.approx(outcome.summary["avg_inventory_value"])
    # more service costs more stock, on the same draws
    assert curve["avg_inventory_value"].is_monotonic_increasing
    assert curve["fill_rate"].iloc[-1] > curve["fill_rate"].iloc[0]
    # a higher service level lifts the fill rate of the scenario itself
    assert whatif.simulate_scenario(items, history, whatif.WhatIf(service_level=0.99)).summary["fill_rate"] > \
        outcome.summary["fill_rate"]


def test_baseline_is_the_automatic_runs_settings() -> None:
    from jobs import replenish

    settings = whatif.WhatIf(policy="RS", service_level=0.9, order_cost=10.0, days=180)
    baseline = settings.baseline()
    assert (baseline.policy, baseline.service_level, baseline.lead_time, baseline.moq) == ("sS", 0.95, "history",
                                                                                           None)
    assert baseline.cover_days == replenish.COVER_DAYS
    assert (baseline.order_cost, baseline.days) == (10.0, 180)
    assert "(s, S) min–max, 95.0% cycle service" in whatif.describe(baseline)


@pytest.mark.parametrize("bad", [{"service_level": 1.0}, {"review_period": 0}, {"lead_time": "guess"},
                                 {"lead_time_multiplier": 0.0}, {"moq": -1.0}, {"policy": "kanban"}])
def test_invalid_assumptions_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        whatif.WhatIf(**bad).validated()


def test_demand_and_forecast_sums_weeks_and_bands() -> None:
    """Two items' forecasts with σ 3 and 4 sum to σ 5: band = 30 ± 1.2816·5 (80 %)."""
    products = pd.DataFrame({"product_id": [1, 2], "category": ["C", "C"]})
    demand = pd.DataFrame({"date": pd.to_datetime(["2026-10-19", "2026-10-25", "2026-10-26", "2026-10-31"]),
                           "product_id": [1, 2, 1, 3], "demand_qty": [5.0, 7.0, 1.0, 100.0]})
    z = 1.2815515655446004
    forecast = pd.DataFrame({"product_id": [1, 2], "period": pd.to_datetime(["2026-11-08", "2026-11-08"]),
                             "yhat": [10.0, 20.0], "lo_80": [10 - 3 * z, 20 - 4 * z], "hi_80": [10 + 3 * z, 20 + 4 * z]})
    table = whatif.demand_and_forecast(demand, forecast, products, AS_OF)
    actual = table[table["series"] == "actual"]
    # the week ending Sunday 2026-10-25 holds 5 + 7; the week ending 2026-11-01 is not over on 2026-10-31
    assert actual["week"].tolist() == [pd.Timestamp("2026-10-25")]
    assert actual["units"].tolist() == [12.0]
    future = table[table["series"] == "forecast"].iloc[0]
    assert future["units"] == 30.0
    assert future["lo"] == pytest.approx(30 - z * 5) and future["hi"] == pytest.approx(30 + z * 5)
    # a window starting mid-week drops that partial week
    later = whatif.demand_and_forecast(demand, forecast, products, AS_OF, start="2026-10-20")
    assert later[later["series"] == "actual"].empty
