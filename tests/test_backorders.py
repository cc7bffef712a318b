"""Backorder economics (analytics.backorders) on the order lines of tests/test_kpis.py, worked out by hand.

At as_of 2024-02-07 the due lines are L1 L2 L3 L4 L6 L7 L8 L9 (L5 is requested 02-10); the backordered ones
(short at their requested date) are L2 L3 L4 L7 L8 L9. Carrying rate 0.25 a year. Per backordered line:

| line | short | backlog closes                | days | unit-days | cost | carrying × 365    | revenue         |
|------|-------|-------------------------------|------|-----------|------|-------------------|-----------------|
| L2   | 5     | shipped 01-12 (req 01-05)     | 7    | 35        | 8    | 35×8×0.25 = 70    | 10×20×0.5 = 100 |
| L3   | 5     | cancelled 01-25 (req 01-15)   | 10   | 50        | 5    | 50×5×0.25 = 62.5  | 0               |
| L4   | 3     | open → 02-07 (req 01-31)      | 7    | 21        | 3    | 21×3×0.25 = 15.75 | 1×5 = 5         |
| L7   | 8     | shipped 02-03 (req 02-01)     | 2    | 16        | 3    | 16×3×0.25 = 12    | 8×4 = 32        |
| L8   | 3     | open → 02-07 (req 2023-12-01) | 68   | 204       | 7    | 204×7×0.25 = 357  | 0               |
| L9   | 2     | open → 02-07 (req 01-25)      | 13   | 26        | 3    | 26×3×0.25 = 19.5  | 0               |

L3's 5 cancelled units: lost revenue 5 × 8 = 40, lost margin 5 × (8 − 5) = 15.
Revenue of the due lines also has L1 10×10 = 100 and L6 2×50×0.9 = 90: 100+100+0+5+90+32+0+0 = 327.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_kpis import _line, _one, _random_lines, order_lines

from analytics import backorders

AS_OF = "2024-02-07"
CARRYING = (70 + 62.5 + 15.75 + 12 + 357 + 19.5) / 365  # 536.75 / 365


@pytest.fixture
def lines() -> pd.DataFrame:
    return order_lines()


def test_line_costs(lines: pd.DataFrame) -> None:
    """The table in the module docstring, line by line."""
    costs = backorders.backorder_line_costs(lines, AS_OF).set_index(["order_no", "line_no"])
    assert list(costs.index) == [("SO1", 2), ("SO2", 1), ("SO3", 1), ("SO6", 1), ("SO7", 1), ("SO3", 2)]
    assert list(costs["units_backordered"]) == [5, 5, 3, 8, 3, 2]
    assert list(costs["days_backordered"]) == [7, 10, 7, 2, 68, 13]
    assert list(costs["backlog_unit_days"]) == [35, 50, 21, 16, 204, 26]
    assert list(costs["carrying_cost"] * 365) == pytest.approx([70, 62.5, 15.75, 12, 357, 19.5])
    l3 = costs.loc[("SO2", 1)]
    assert (l3["cancelled_units"], l3["lost_revenue"], l3["lost_margin"]) == (5, 40, 15)
    assert l3["backorder_cost"] == pytest.approx(15 + 62.5 / 365)
    assert not costs["expediting_recorded"].any() and (costs["expediting_cost"] == 0).all()


def test_backorder_cost_overall(lines: pd.DataFrame) -> None:
    """backorder cost = lost margin 15 + expediting 0 (not recorded) + carrying 536.75/365; over revenue 327."""
    row = backorders.backorder_cost(lines, AS_OF).iloc[0]
    assert (row["lines_due"], row["lines_backordered"], row["units_backordered"]) == (8, 6, 26)
    assert row["backlog_unit_days"] == 352  # 35+50+21+16+204+26
    assert (row["cancelled_units"], row["lost_revenue"], row["lost_margin"]) == (5, 40, 15)
    assert row["expediting_cost"] == 0 and not row["expediting_recorded"]
    assert row["carrying_cost"] == pytest.approx(CARRYING)
    assert row["backorder_cost"] == pytest.approx(15 + CARRYING)
    assert row["revenue"] == pytest.approx(327)
    assert row["backorder_cost_to_sales"] == pytest.approx((15 + CARRYING) / 327)
    doubled = backorders.backorder_cost(lines, AS_OF, carrying_rate=0.5).iloc[0]
    assert doubled["carrying_cost"] == pytest.approx(2 * CARRYING)
    with pytest.raises(ValueError):
        backorders.backorder_cost(lines, AS_OF, carrying_rate=-0.1)


def test_backorder_cost_by_category_and_segment(lines: pd.DataFrame) -> None:
    """A: due L1 L3 L7, backordered L3 L7 → carrying (62.5 + 12)/365, lost margin 15, revenue 100 + 32 = 132.

    B: due L2 L4 L6 L8 L9, backordered L2 L4 L8 L9 → carrying (70 + 15.75 + 357 + 19.5)/365, revenue 100+5+90 = 195.
    Retail (L1 L2 L8): carrying (70 + 357)/365, revenue 200; Wholesale (L3 L4 L6 L7 L9): the rest, revenue 127.
    """
    by = backorders.backorder_cost(lines, AS_OF, by="category")
    a, b = _one(by, category="A"), _one(by, category="B")
    assert a["carrying_cost"] == pytest.approx(74.5 / 365) and a["lost_margin"] == 15 and a["revenue"] == 132
    assert a["backorder_cost_to_sales"] == pytest.approx((15 + 74.5 / 365) / 132)
    assert b["carrying_cost"] == pytest.approx(462.25 / 365) and b["lost_margin"] == 0 and b["revenue"] == 195
    assert (b["lines_due"], b["lines_backordered"], b["units_backordered"]) == (5, 4, 13)
    assert by["backorder_cost"].sum() == pytest.approx(15 + CARRYING)
    by_segment = backorders.backorder_cost(lines, AS_OF, by="segment")
    retail = _one(by_segment, segment="Retail")
    assert retail["carrying_cost"] == pytest.approx(427 / 365) and retail["revenue"] == 200
    assert _one(by_segment, segment="Wholesale")["lost_revenue"] == 40


def test_backorder_cost_by_period(lines: pd.DataFrame) -> None:
    """Cohorts by requested date. Months: December 2023 holds L8 alone (no revenue → share NaN, not infinite);
    January L1 L2 L3 L4 L6 L9; February L7 (carrying 12/365 over revenue 32).
    Weeks: L6 (Sun 01-21) joins L3 (Mon 01-15) in the week of 01-15: backordered L3 only, revenue 90.
    """
    monthly = backorders.backorder_cost(lines, AS_OF, freq="M")
    assert list(monthly["period"]) == [pd.Timestamp(d) for d in ("2023-12-01", "2024-01-01", "2024-02-01")]
    dec = _one(monthly, period="2023-12-01")
    assert dec["carrying_cost"] == pytest.approx(357 / 365) and dec["revenue"] == 0
    assert math.isnan(dec["backorder_cost_to_sales"])
    jan = _one(monthly, period="2024-01-01")
    assert jan["carrying_cost"] == pytest.approx((70 + 62.5 + 15.75 + 19.5) / 365) and jan["lost_margin"] == 15
    assert jan["revenue"] == 295  # 100 + 100 + 0 + 5 + 90 + 0
    feb = _one(monthly, period="2024-02-01")
    assert feb["backorder_cost_to_sales"] == pytest.approx(12 / 365 / 32)
    weekly = backorders.backorder_cost(lines, AS_OF, by="category", freq="W")
    week = _one(weekly, category="B", period="2024-01-15")  # L6 only in B that week: no backorder → zeros
    assert (week["lines_due"], week["lines_backordered"], week["backorder_cost"]) == (1, 0, 0)
    assert _one(weekly, category="A", period="2024-01-15")["lost_revenue"] == 40  # L3


def test_backorder_cost_as_of_cut_off(lines: pd.DataFrame) -> None:
    """as_of 01-20 (quantities as of then: L2 already complete on 01-12, L3 not yet cancelled):

    due: L1 L2 L3 L8; backordered L2 (7 days, 35 unit-days), L3 (open: 01-20 − 01-15 = 5 days × 5 = 25),
    L8 (01-20 − 12-01 = 50 days × 3 = 150). L3's cancellation (01-25) is after as_of: no lost sale yet.
    """
    early = lines.assign(qty_cancelled=lines["qty_cancelled"].where(lines["order_no"] != "SO2", 0.0),
                         cancelled_date=lines["cancelled_date"].where(lines["order_no"] != "SO2"))
    row = backorders.backorder_cost(early, "2024-01-20").iloc[0]
    assert (row["lines_due"], row["lines_backordered"], row["backlog_unit_days"]) == (4, 3, 35 + 25 + 150)
    assert row["carrying_cost"] == pytest.approx((35 * 8 + 25 * 5 + 150 * 7) * 0.25 / 365)
    assert row["lost_margin"] == 0 and row["revenue"] == 200  # L1 100 + L2 100
    # the recorded cancellation, seen at as_of 01-24, does not count before its date either
    assert backorders.backorder_cost(lines, "2024-01-24").iloc[0]["cancelled_units"] == 0
    nothing = backorders.backorder_cost(lines, "2023-11-01").iloc[0]
    assert nothing["lines_due"] == 0 and nothing["backorder_cost"] == 0
    assert math.isnan(nothing["backorder_cost_to_sales"])


def test_expediting_and_missing_cost(lines: pd.DataFrame) -> None:
    """Expediting recorded: L2 12, others none (NaN → 0) → +12. L8 without unit cost: the carrying cost of every
    group holding L8 is unknown (NaN), other groups keep theirs."""
    expedited = lines.assign(expediting_cost=np.where(lines["line_no"].eq(2) & lines["order_no"].eq("SO1"), 12.0,
                                                      np.nan))
    row = backorders.backorder_cost(expedited, AS_OF).iloc[0]
    assert row["expediting_recorded"] and row["expediting_cost"] == 12
    assert row["backorder_cost"] == pytest.approx(12 + 15 + CARRYING)
    no_cost = lines.assign(unit_cost=lines["unit_cost"].where(lines["order_no"] != "SO7"))
    by = backorders.backorder_cost(no_cost, AS_OF, by="segment")
    assert math.isnan(_one(by, segment="Retail")["carrying_cost"])
    assert math.isnan(_one(by, segment="Retail")["backorder_cost"])
    assert _one(by, segment="Wholesale")["carrying_cost"] == pytest.approx((62.5 + 15.75 + 12 + 19.5) / 365)
    with pytest.raises(ValueError, match="unit_cost"):
        backorders.backorder_cost(lines.drop(columns="unit_cost"), AS_OF)


_groupings = st.sampled_from([{"by": ("category",)}, {"by": ("segment",)}, {"freq": "W"},
                              {"by": ("category", "segment"), "freq": "M"}])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_line, max_size=25), as_of_day=st.integers(0, 95), grouping=_groupings,
       rate=st.floats(0, 1))
def test_costs_add_up_and_are_not_negative(rows: list[tuple], as_of_day: int, grouping: dict, rate: float) -> None:
    """Grouped components add up to the total; with price ≥ cost none is negative; carrying is linear in the rate."""
    frame = _random_lines(rows)  # price 2 × 0.9 ≥ cost 1
    as_of = pd.Timestamp("2024-01-01") + pd.Timedelta(days=as_of_day)
    total = backorders.backorder_cost(frame, as_of, carrying_rate=rate).iloc[0]
    grouped = backorders.backorder_cost(frame, as_of, carrying_rate=rate, **grouping)
    for column in ("lines_due", "lines_backordered", "units_backordered", "backlog_unit_days", "lost_revenue",
                   "lost_margin", "carrying_cost", "backorder_cost", "revenue"):
        assert grouped[column].sum() == pytest.approx(total[column]), column
        assert (grouped[column] >= 0).all(), column
    unit = backorders.backorder_cost(frame, as_of, carrying_rate=1.0).iloc[0]
    assert total["carrying_cost"] == pytest.approx(rate * unit["carrying_cost"])
    assert total["carrying_cost"] == pytest.approx(total["backlog_unit_days"] * 1.0 * rate / 365)
