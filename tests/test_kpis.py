"""KPIs (analytics.kpis) on small tables worked out by hand; invariants with hypothesis.

Calendar reminders used below: 2024-01-01 is a Monday, so ISO weeks start on 01-01, 01-08, 01-15, 01-22,
01-29; 2024-01-21 is a Sunday (last day of the week of 01-15) and 2024-01-31 / 02-01 are a Wednesday and a
Thursday of the same week (01-29) but of different months.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import kpis

NaT = None
AS_OF = "2024-02-07"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def _one(frame: pd.DataFrame, **keys) -> pd.Series:
    """The single row of ``frame`` whose columns equal ``keys``."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in keys.items():
        if column == "period":
            value = _ts(value)
        mask &= (frame[column] == value).to_numpy()
    rows = frame[mask]
    assert len(rows) == 1, f"expected one row for {keys}, got {len(rows)}:\n{frame}"
    return rows.iloc[0]


_LINE_FIELDS = ("order_no", "line_no", "category", "segment", "order_date", "requested_date", "promised_date",
                "qty_ordered", "qty_shipped", "qty_cancelled", "cancelled_date", "unit_price", "discount", "status",
                "shipped_by_requested_qty", "last_ship_date", "last_delivery_date", "unit_cost")

# The order-line state at AS_OF = 2024-02-07 (qty_shipped and last dates as of then).
_ROWS = [
    # L1: on time (shipped 01-04 ≤ requested 01-05), promised 01-03 (late against the promise), delivered 01-06
    ("SO1", 1, "A", "Retail", "2024-01-02", "2024-01-05", "2024-01-03", 10, 10, 0, NaT, 10, 0.0, "shipped", 10,
     "2024-01-04", "2024-01-06", 6),
    # L2: 5 by the requested date, 5 more on 01-12; delivered 01-13
    ("SO1", 2, "B", "Retail", "2024-01-02", "2024-01-05", "2024-01-05", 10, 10, 0, NaT, 20, 0.5, "shipped", 5,
     "2024-01-12", "2024-01-13", 8),
    # L3: nothing shipped, cancelled on 01-25 after the requested 01-15: a lost sale (5 × 8 = 40)
    ("SO2", 1, "A", "Wholesale", "2024-01-10", "2024-01-15", NaT, 5, 0, 5, "2024-01-25", 8, 0.0, "cancelled", 0,
     NaT, NaT, 5),
    # L4: 1 of 4 shipped on 01-30, requested 01-31: 3 open, 7 days late at 02-07
    ("SO3", 1, "B", "Wholesale", "2024-01-20", "2024-01-31", "2024-02-01", 4, 1, 0, NaT, 5, 0.0, "partial", 1,
     "2024-01-30", NaT, 3),
    # L5: not due (requested 02-10); 2 cancelled on 01-28 BEFORE the requested date: not a backorder's loss
    ("SO4", 1, "A", "Retail", "2024-01-25", "2024-02-10", NaT, 6, 0, 2, "2024-01-28", 3, 0.0, "open", 0,
     NaT, NaT, 2),
    # L6: requested Sunday 01-21, shipped 01-20, no promise (falls back to requested), delivered 01-21
    ("SO5", 1, "B", "Wholesale", "2024-01-18", "2024-01-21", NaT, 2, 2, 0, NaT, 50, 0.1, "shipped", 2,
     "2024-01-20", "2024-01-21", 30),
    # L7: requested Thursday 02-01 (February), shipped in full late on 02-03, delivered 02-05
    ("SO6", 1, "A", "Wholesale", "2024-01-29", "2024-02-01", "2024-02-01", 8, 8, 0, NaT, 4, 0.0, "shipped", 0,
     "2024-02-03", "2024-02-05", 3),
    # L8: requested 2023-12-01, nothing shipped: 68 days late at 02-07
    ("SO7", 1, "B", "Retail", "2023-11-20", "2023-12-01", NaT, 3, 0, 0, NaT, 10, 0.2, "open", 0, NaT, NaT, 7),
    # L9: second line of SO3, requested 01-25, nothing shipped: 13 days late at 02-07
    ("SO3", 2, "B", "Wholesale", "2024-01-20", "2024-01-25", NaT, 2, 0, 0, NaT, 5, 0.0, "open", 0, NaT, NaT, 3),
]


def order_lines(rows=_ROWS) -> pd.DataFrame:
    """The ORDER_LINES frame of the rows above, dates as datetime64."""
    frame = pd.DataFrame(rows, columns=list(_LINE_FIELDS))
    for column in ("order_date", "requested_date", "promised_date", "cancelled_date", "last_ship_date",
                   "last_delivery_date"):
        frame[column] = pd.to_datetime(frame[column])
    for column in ("qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "shipped_by_requested_qty",
                   "unit_cost"):
        frame[column] = frame[column].astype(float)
    return frame


@pytest.fixture
def lines() -> pd.DataFrame:
    return order_lines()


# --- fill rate -----------------------------------------------------------------------------------------------------


def test_fill_rate_overall(lines: pd.DataFrame) -> None:
    """Due at 02-07: L1 L2 L3 L4 L6 L7 L8 L9 (L5 is requested 02-10).

    units due = 10+10+5+4+2+8+3+2 = 44; filled by requested = 10+5+0+1+2+0+0+0 = 18 → 18/44;
    lines filled in full: L1, L6 → 2/8; orders due: SO1 SO2 SO3 SO5 SO6 SO7 (SO4 not due), filled: SO5 → 1/6.
    """
    row = kpis.fill_rate(lines, AS_OF).iloc[0]
    assert (row["units_due"], row["units_filled"]) == (44, 18)
    assert row["unit_fill_rate"] == pytest.approx(18 / 44)
    assert (row["lines_due"], row["lines_filled"]) == (8, 2) and row["line_fill_rate"] == pytest.approx(0.25)
    assert (row["orders_due"], row["orders_filled"]) == (6, 1) and row["order_fill_rate"] == pytest.approx(1 / 6)


def test_fill_rate_by_category_and_segment(lines: pd.DataFrame) -> None:
    """Orders are counted per group: SO1 has an A line (filled) and a B line (not), so it counts in both."""
    by_category = kpis.fill_rate(lines, AS_OF, by="category")
    assert list(by_category["category"]) == ["A", "B"]
    a = _one(by_category, category="A")  # L1 L3 L7: units 10+5+8 = 23, filled 10; lines 1/3; orders SO1✓ SO2 SO6
    assert (a["units_due"], a["units_filled"], a["lines_due"], a["lines_filled"]) == (23, 10, 3, 1)
    assert (a["orders_due"], a["orders_filled"]) == (3, 1)
    b = _one(by_category, category="B")  # L2 L4 L6 L8 L9: units 10+4+2+3+2 = 21, filled 5+1+2 = 8; lines 1/5
    assert (b["units_due"], b["units_filled"], b["lines_due"], b["lines_filled"]) == (21, 8, 5, 1)
    assert (b["orders_due"], b["orders_filled"]) == (4, 1)  # SO1 (B line late), SO3, SO5 ✓, SO7
    assert b["unit_fill_rate"] == pytest.approx(8 / 21)
    # units and lines add up over groups; orders do not (SO1 is split): 3 + 4 = 7 ≠ 6
    assert by_category["units_due"].sum() == 44 and by_category["lines_due"].sum() == 8
    by_segment = kpis.fill_rate(lines, AS_OF, by=["segment"])
    retail = _one(by_segment, segment="Retail")  # L1 L2 L8: units 23, filled 15; lines 1/3; orders SO1 SO7, none
    assert (retail["units_due"], retail["units_filled"], retail["lines_filled"], retail["orders_due"]) == (23, 15, 1, 2)
    assert retail["order_fill_rate"] == 0
    wholesale = _one(by_segment, segment="Wholesale")  # L3 L4 L6 L7 L9: 21 units, filled 0+1+2+0+0 = 3
    assert (wholesale["units_due"], wholesale["units_filled"]) == (21, 3)
    assert (wholesale["orders_due"], wholesale["orders_filled"]) == (4, 1)  # SO2 SO3 SO5✓ SO6


def test_fill_rate_by_week_and_month(lines: pd.DataFrame) -> None:
    """Weeks start on Monday; a Sunday closes the week; an order is bucketed by its latest requested date."""
    weekly = kpis.fill_rate(lines, AS_OF, freq="W")
    assert list(weekly["period"]) == [_ts(d) for d in ("2023-11-27", "2024-01-01", "2024-01-15", "2024-01-22",
                                                       "2024-01-29")]
    w = _one(weekly, period="2023-11-27")  # L8 (Fri 12-01): 3 units, none filled; SO7
    assert (w["units_due"], w["units_filled"], w["orders_due"]) == (3, 0, 1)
    w = _one(weekly, period="2024-01-15")  # L3 (Mon 01-15) and L6 (Sun 01-21): units 7, filled 2; SO2, SO5✓
    assert (w["units_due"], w["units_filled"], w["lines_due"], w["lines_filled"]) == (7, 2, 2, 1)
    assert (w["orders_due"], w["orders_filled"]) == (2, 1)
    w = _one(weekly, period="2024-01-22")  # L9 only; its order SO3 is due with L4 on 01-31 (next week)
    assert (w["lines_due"], w["orders_due"]) == (1, 0) and math.isnan(w["order_fill_rate"])
    w = _one(weekly, period="2024-01-29")  # L4 (Wed 01-31) and L7 (Thu 02-01): units 12, filled 1; SO3, SO6
    assert (w["units_due"], w["units_filled"], w["orders_due"], w["orders_filled"]) == (12, 1, 2, 0)
    monthly = kpis.fill_rate(lines, AS_OF, freq="M")
    assert list(monthly["period"]) == [_ts("2023-12-01"), _ts("2024-01-01"), _ts("2024-02-01")]
    jan = _one(monthly, period="2024-01-01")  # L1 L2 L3 L4 L6 L9: units 10+10+5+4+2+2 = 33, filled 18
    assert (jan["units_due"], jan["units_filled"], jan["lines_due"], jan["lines_filled"]) == (33, 18, 6, 2)
    assert (jan["orders_due"], jan["orders_filled"]) == (4, 1)  # SO1 SO2 SO3 SO5✓
    feb = _one(monthly, period="2024-02-01")  # L7 (Thu 02-01) alone, though in the same week as L4
    assert (feb["units_due"], feb["units_filled"], feb["orders_due"]) == (8, 0, 1)
    both = kpis.fill_rate(lines, AS_OF, by=("category", "segment"), freq="M")
    assert both["units_due"].sum() == 44 and list(both.columns[:3]) == ["category", "segment", "period"]


def test_fill_rate_as_of_cut_off(lines: pd.DataFrame) -> None:
    """as_of 01-31: L4 (requested 01-31) counts, L7 (02-01) does not → units 36, filled 18; orders SO1 SO2 SO3 SO5 SO7.

    as_of 01-30: L4 drops too → units 32, filled 17, lines 6 / 2; SO3 has a line not yet due → not counted.
    """
    row = kpis.fill_rate(lines, "2024-01-31").iloc[0]
    assert (row["units_due"], row["units_filled"], row["lines_due"], row["orders_due"]) == (36, 18, 7, 5)
    assert row["unit_fill_rate"] == pytest.approx(0.5)
    row = kpis.fill_rate(lines, pd.Timestamp("2024-01-30")).iloc[0]
    assert (row["units_due"], row["units_filled"], row["lines_due"], row["lines_filled"]) == (32, 17, 6, 2)
    assert (row["orders_due"], row["orders_filled"]) == (4, 1)


def test_fill_rate_nothing_due_is_nan(lines: pd.DataFrame) -> None:
    """Before any requested date: one row of zero counts and NaN rates; grouped: no rows."""
    row = kpis.fill_rate(lines, "2023-11-30").iloc[0]
    assert row["units_due"] == 0 and row["lines_due"] == 0 and row["orders_due"] == 0
    assert math.isnan(row["unit_fill_rate"]) and math.isnan(row["line_fill_rate"])
    assert math.isnan(row["order_fill_rate"])
    assert kpis.fill_rate(lines, "2023-11-30", by="category").empty
    empty = kpis.fill_rate(lines.iloc[:0], AS_OF, freq="W")
    assert empty.empty and "period" in empty.columns


def test_fill_rate_caps_over_shipment() -> None:
    """A line shipped 12 of 10 by its requested date fills 10 units, not 12: 10/10 + 0/10 → 10/20."""
    frame = order_lines(_ROWS[:2]).assign(shipped_by_requested_qty=[12.0, 0.0])
    assert kpis.fill_rate(frame, AS_OF).iloc[0]["unit_fill_rate"] == pytest.approx(0.5)


# --- backorders ----------------------------------------------------------------------------------------------------


def test_backorder_rate(lines: pd.DataFrame) -> None:
    """8 lines due; not shipped in full by requested: L2 L3 L4 L7 L8 L9 → 6/8.

    units short = 5 (L2) + 5 (L3) + 3 (L4) + 8 (L7) + 3 (L8) + 2 (L9) = 26 of 44.
    """
    row = kpis.backorder_rate(lines, AS_OF).iloc[0]
    assert (row["lines_due"], row["lines_backordered"]) == (8, 6) and row["backorder_rate"] == pytest.approx(0.75)
    assert row["units_short"] == 26 and row["unit_backorder_rate"] == pytest.approx(26 / 44)
    by = kpis.backorder_rate(lines, AS_OF, by=("category", "segment"), freq="M")
    # A-Wholesale in February: L7 alone, backordered; B-Retail in December 2023: L8 alone, backordered
    assert _one(by, category="A", segment="Wholesale", period="2024-02-01")["backorder_rate"] == 1
    assert _one(by, category="B", segment="Retail", period="2023-12-01")["lines_backordered"] == 1
    # A-Retail in January: L1 (on time) → 0/1
    assert _one(by, category="A", segment="Retail", period="2024-01-01")["backorder_rate"] == 0
    assert by["lines_backordered"].sum() == 6 and by["lines_due"].sum() == 8
    nothing = kpis.backorder_rate(lines, "2023-01-01").iloc[0]
    assert nothing["lines_due"] == 0 and math.isnan(nothing["backorder_rate"])


def test_backorder_ageing(lines: pd.DataFrame) -> None:
    """Open backorders at 02-07 (open = ordered − shipped − cancelled, requested ≤ as_of):

    L4: 3 open, requested 01-31 → 7 days ("0-7", the inclusive edge), value 3 × 5 = 15;
    L9: 2 open, requested 01-25 → 13 days ("8-14"), value 2 × 5 = 10;
    L8: 3 open, requested 2023-12-01 → 68 days (">60"), value 3 × 10 × 0.8 = 24.
    L5 has 4 open but is not due; L3 is fully cancelled; L2 and L7 shipped.
    """
    ageing = kpis.backorder_ageing(lines, AS_OF)
    assert list(ageing["age_bucket"]) == ["0-7", "8-14", "15-30", "31-60", ">60"]
    assert list(ageing["lines"]) == [1, 1, 0, 0, 1]
    assert list(ageing["units"]) == [3, 2, 0, 0, 3]
    assert list(ageing["value"]) == pytest.approx([15, 10, 0, 0, 24])
    custom = kpis.backorder_ageing(lines, AS_OF, bins=(10, 30))  # L4 7 → "0-10", L9 13 → "11-30", L8 → ">30"
    assert list(custom["age_bucket"]) == ["0-10", "11-30", ">30"] and list(custom["lines"]) == [1, 1, 1]
    by_segment = kpis.backorder_ageing(lines, AS_OF, by="segment")
    retail = by_segment[by_segment["segment"] == "Retail"]
    assert list(retail["lines"]) == [0, 0, 0, 0, 1]  # L8
    wholesale = by_segment[by_segment["segment"] == "Wholesale"]
    assert list(wholesale["units"]) == [3, 2, 0, 0, 0]  # L4, L9
    # as_of 01-31 (same quantities: L4's shipment was on 01-30): L4 0 days, L9 6 days → both "0-7"; L8 61 → ">60"
    earlier = kpis.backorder_ageing(lines, "2024-01-31")
    assert list(earlier["lines"]) == [2, 0, 0, 0, 1] and earlier["value"].iloc[0] == pytest.approx(25)
    none = kpis.backorder_ageing(lines, "2023-11-01")
    assert list(none["lines"]) == [0] * 5
    with pytest.raises(ValueError):
        kpis.backorder_ageing(lines, AS_OF, bins=(14, 7))


def test_lost_sales(lines: pd.DataFrame) -> None:
    """L3: short at its requested 01-15, cancelled 01-25 → 5 units × 8 = 40 lost.

    L5's 2 units were cancelled on 01-28, before its requested 02-10: not a backorder's loss.
    Bucketed by cancellation date (January); before 01-25 nothing is lost yet.
    """
    row = kpis.lost_sales(lines, AS_OF).iloc[0]
    assert (row["lines_lost"], row["lost_units"], row["lost_revenue"]) == (1, 5, 40)
    monthly = kpis.lost_sales(lines, AS_OF, by="category", freq="M")
    assert len(monthly) == 1 and _one(monthly, category="A", period="2024-01-01")["lost_revenue"] == 40
    before = kpis.lost_sales(lines, "2024-01-24").iloc[0]
    assert before["lost_units"] == 0 and before["lost_revenue"] == 0


# --- delivery ------------------------------------------------------------------------------------------------------


def test_on_time_delivery_ship_requested(lines: pd.DataFrame) -> None:
    """Lines shipped in full by 02-07: L1 (01-04 ≤ 01-05 ✓), L2 (01-12 > 01-05 ✗), L6 (01-20 ≤ 01-21 ✓),
    L7 (02-03 > 02-01 ✗) → 2/4. L4 is partial, L3 never shipped (ignored).

    Orders shipped in full: SO1 (L2 late ✗), SO5 ✓, SO6 ✗ → 1/3 (SO2 only cancelled; SO3 SO4 SO7 open).
    """
    row = kpis.on_time_delivery(lines, AS_OF).iloc[0]
    assert (row["lines_shipped"], row["lines_on_time"], row["line_on_time_rate"]) == (4, 2, 0.5)
    assert (row["orders_shipped"], row["orders_on_time"]) == (3, 1)
    assert row["order_on_time_rate"] == pytest.approx(1 / 3)


def test_on_time_delivery_promised_and_delivered(lines: pd.DataFrame) -> None:
    """Against the promise: L1 04 > 03 ✗, L2 ✗, L6 no promise → requested 01-21 ✓, L7 02-03 > 02-01 ✗ → 1/4.

    Delivered by requested: L1 01-06 > 01-05 ✗, L2 01-13 ✗, L6 01-21 ✓, L7 02-05 ✗ → 1/4; orders SO5 → 1/3.
    At as_of 02-04, L7 is shipped but not yet delivered: it leaves the delivery basis (3 lines).
    """
    promised = kpis.on_time_delivery(lines, AS_OF, target="promised").iloc[0]
    assert (promised["lines_shipped"], promised["lines_on_time"]) == (4, 1)
    assert (promised["orders_shipped"], promised["orders_on_time"]) == (3, 1)  # SO5 (fallback) only
    delivered = kpis.on_time_delivery(lines, AS_OF, basis="delivery").iloc[0]
    assert (delivered["lines_shipped"], delivered["lines_on_time"]) == (4, 1)
    assert (delivered["orders_shipped"], delivered["orders_on_time"]) == (3, 1)
    earlier = kpis.on_time_delivery(lines, "2024-02-04", basis="delivery").iloc[0]
    assert earlier["lines_shipped"] == 3 and earlier["orders_shipped"] == 2
    with pytest.raises(ValueError):
        kpis.on_time_delivery(lines, AS_OF, basis="invoice")  # type: ignore[arg-type]


def test_on_time_delivery_by_week(lines: pd.DataFrame) -> None:
    """Bucketed by last ship date: L1 01-04 (week 01-01), L2 01-12 (01-08), L6 Sat 01-20 (01-15), L7 Sat 02-03 (01-29).

    Orders by their latest ship date: SO1 01-12 (01-08), SO5 (01-15), SO6 (01-29); week 01-01 has no order.
    """
    weekly = kpis.on_time_delivery(lines, AS_OF, freq="W")
    assert list(weekly["period"]) == [_ts(d) for d in ("2024-01-01", "2024-01-08", "2024-01-15", "2024-01-29")]
    assert list(weekly["lines_on_time"]) == [1, 0, 1, 0]
    assert list(weekly["orders_shipped"]) == [0, 1, 1, 1]
    assert math.isnan(weekly["order_on_time_rate"].iloc[0]) and weekly["orders_shipped"].dtype == np.int64
    by_segment = kpis.on_time_delivery(lines, AS_OF, by="segment")
    assert _one(by_segment, segment="Retail")["line_on_time_rate"] == 0.5  # L1 ✓ L2 ✗
    assert _one(by_segment, segment="Wholesale")["line_on_time_rate"] == 0.5  # L6 ✓ L7 ✗


def test_order_cycle_time(lines: pd.DataFrame) -> None:
    """Orders shipped in full: SO1 01-02 → 01-12 = 10 days, SO5 01-18 → 01-20 = 2, SO6 01-29 → 02-03 = 5.

    mean 17/3; median 5; p90 of [2, 5, 10] = 5 + 0.8 × 5 = 9; sample std = sqrt(((−11/3)² + (−2/3)² + (13/3)²) / 2)
    = sqrt(49/3). To delivery: SO1 → 01-13 = 11, SO5 → 01-21 = 3, SO6 → 02-05 = 7: mean 7, median 7.
    """
    row = kpis.order_cycle_time(lines, AS_OF).iloc[0]
    assert row["orders"] == 3 and row["total_days"] == 17
    assert row["mean_days"] == pytest.approx(17 / 3) and row["median_days"] == 5
    assert row["p90_days"] == pytest.approx(9) and row["std_days"] == pytest.approx(math.sqrt(49 / 3))
    delivery = kpis.order_cycle_time(lines, AS_OF, basis="delivery").iloc[0]
    assert (delivery["orders"], delivery["mean_days"], delivery["median_days"]) == (3, 7, 7)
    monthly = kpis.order_cycle_time(lines, AS_OF, freq="M")  # by completion: SO1, SO5 in Jan; SO6 in Feb
    assert list(monthly["orders"]) == [2, 1] and list(monthly["mean_days"]) == [6, 5]
    nothing = kpis.order_cycle_time(lines, "2024-01-03").iloc[0]
    assert nothing["orders"] == 0 and math.isnan(nothing["mean_days"])


def test_picking_accuracy_proxy() -> None:
    """Finished lines (shipped/closed, something shipped, last shipment ≤ as_of 01-31):

    K1 5 of 5 ✓; K2 6 of 5 (over-shipped) ✗; K3 closed with 3 of 5 and nothing cancelled ✗; K4 3 + 2 cancelled ✓
    → 2/4. K5 is partial, K6 shipped after as_of, K7 cancelled. With tolerance 1, K2 passes → 3/4.
    """
    rows = [
        ("K1", "shipped", 5, 5, 0, "2024-01-05"), ("K2", "shipped", 5, 6, 0, "2024-01-06"),
        ("K3", "closed", 5, 3, 0, "2024-01-08"), ("K4", "closed", 5, 3, 2, "2024-01-08"),
        ("K5", "partial", 5, 2, 0, "2024-01-08"), ("K6", "shipped", 5, 5, 0, "2024-02-01"),
        ("K7", "cancelled", 5, 0, 5, None),
    ]
    frame = pd.DataFrame(rows, columns=["order_no", "status", "qty_ordered", "qty_shipped", "qty_cancelled",
                                        "last_ship_date"])
    row = kpis.picking_accuracy(frame, "2024-01-31").iloc[0]
    assert (row["lines_finished"], row["lines_accurate"], row["picking_accuracy"]) == (4, 2, 0.5)
    assert kpis.picking_accuracy(frame, "2024-01-31", tolerance=1).iloc[0]["lines_accurate"] == 3
    weekly = kpis.picking_accuracy(frame, "2024-01-31", freq="W")  # K1 K2 in week 01-01, K3 K4 (Mon 01-08) after
    assert list(weekly["lines_finished"]) == [2, 2] and list(weekly["picking_accuracy"]) == [0.5, 0.5]


# --- inventory -----------------------------------------------------------------------------------------------------


def _snapshots() -> pd.DataFrame:
    """P1 (A, cost 2): 10, 10, 4, 4 units → 20, 20, 8, 8; P2 (B, cost 3): 5 on 01-30, no row 01-31, 0, 5 → 15, 0, 15."""
    rows = [
        ("2024-01-30", 1, "A", 10, 2.0), ("2024-01-31", 1, "A", 10, 2.0), ("2024-02-01", 1, "A", 4, 2.0),
        ("2024-02-02", 1, "A", 4, 2.0), ("2024-01-30", 2, "B", 5, 3.0), ("2024-02-01", 2, "B", 0, 3.0),
        ("2024-02-02", 2, "B", 5, 3.0),
    ]
    frame = pd.DataFrame(rows, columns=["snapshot_date", "product_id", "category", "on_hand", "unit_cost"])
    return frame.assign(location_id=1)


def _cogs() -> pd.DataFrame:
    return pd.DataFrame({"date": ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"],
                         "category": ["A", "A", "B", "A"], "cogs": [6.0, 6.0, 9.0, 3.0]})


def test_inventory_value() -> None:
    """4 snapshot days; value Σ = 20+20+8+8 + 15+0+15 = 86 → average 21.5 = A 56/4 + B 30/4.

    By month: January has 2 days: A 40/2 = 20, B 15/2 = 7.5 (its missing 01-31 row counts as no stock).
    """
    row = kpis.inventory_value(_snapshots()).iloc[0]
    assert row["snapshot_days"] == 4 and row["average_inventory_value"] == pytest.approx(21.5)
    assert row["average_on_hand"] == pytest.approx(38 / 4)  # 10+10+4+4+5+0+5
    by = kpis.inventory_value(_snapshots(), by="category", freq="M")
    assert _one(by, category="A", period="2024-01-01")["average_inventory_value"] == pytest.approx(20)
    assert _one(by, category="B", period="2024-01-01")["average_inventory_value"] == pytest.approx(7.5)
    assert _one(by, category="B", period="2024-02-01")["average_inventory_value"] == pytest.approx(7.5)
    assert kpis.inventory_value(_snapshots(), by="category")["average_inventory_value"].sum() == pytest.approx(21.5)
    no_cost = _snapshots()
    no_cost.loc[5, "unit_cost"] = np.nan  # B on 02-01 holds 0 units: no cost needed
    assert kpis.inventory_value(no_cost).iloc[0]["average_inventory_value"] == pytest.approx(21.5)
    no_cost.loc[6, "unit_cost"] = np.nan  # B on 02-02 holds 5 units without cost: value unknown
    by = kpis.inventory_value(no_cost, by="category")
    assert math.isnan(_one(by, category="B")["average_inventory_value"])
    assert _one(by, category="A")["average_inventory_value"] == pytest.approx(14)


def test_inventory_turnover_and_days_on_hand() -> None:
    """COGS 6+6+9+3 = 24 over 4 days, average value 21.5: turnover 24/21.5, days on hand 21.5 / (24/4).

    By category and month (2 snapshot days each): A-Jan COGS 12, avg 20 → 0.6, DOH 20×2/12; A-Feb 3 / 8 → 0.375;
    B-Jan COGS 0 → turnover 0, DOH NaN (no COGS); B-Feb 9 / 7.5 → 1.2, DOH 7.5×2/9.
    """
    row = kpis.inventory_turnover(_cogs(), _snapshots()).iloc[0]
    assert row["cogs"] == 24 and row["average_inventory_value"] == pytest.approx(21.5)
    assert row["turnover"] == pytest.approx(24 / 21.5)
    assert row["annualised_turnover"] == pytest.approx(24 / 21.5 * 365 / 4)
    assert row["days_on_hand"] == pytest.approx(21.5 / 6)
    by = kpis.inventory_turnover(_cogs(), _snapshots(), by="category", freq="M")
    assert _one(by, category="A", period="2024-01-01")["turnover"] == pytest.approx(0.6)
    assert _one(by, category="A", period="2024-01-01")["days_on_hand"] == pytest.approx(40 / 12)
    assert _one(by, category="A", period="2024-02-01")["turnover"] == pytest.approx(0.375)
    b_jan = _one(by, category="B", period="2024-01-01")
    assert b_jan["cogs"] == 0 and b_jan["turnover"] == 0 and math.isnan(b_jan["days_on_hand"])
    assert _one(by, category="B", period="2024-02-01")["turnover"] == pytest.approx(1.2)
    assert _one(by, category="B", period="2024-02-01")["days_on_hand"] == pytest.approx(15 / 9)
    # COGS in a category holding no stock: average value 0 → turnover NaN (zero denominator), 0 days on hand
    extra = pd.concat([_cogs(), pd.DataFrame({"date": ["2024-02-02"], "category": ["C"], "cogs": [4.0]})])
    c = _one(kpis.inventory_turnover(extra, _snapshots(), by="category"), category="C")
    assert c["average_inventory_value"] == 0 and math.isnan(c["turnover"]) and c["days_on_hand"] == 0


def test_stockout_rate() -> None:
    """Opening on-hand; a stockout day has demand and opening on-hand ≤ 0.

    P1 Sat 01-06 demand 3, on-hand 0 → out (3 × 10 = 30); Sun 01-07 no demand; Mon 01-08 demand 2, on-hand 5 → ok;
    Tue 01-09 demand 4, on-hand 0 → out (4 × 10 = 40); P2 Sun 01-07 demand 1, on-hand −1 → out (1 × 20 = 20);
    P2 Mon 01-08 no demand. → 3 stockout days of 6 rows (0.5), of 4 demand days (0.75); unmet 8 units, 90.
    Weeks: 01-01 holds 01-06, 01-07 (3 rows, 2 out, 4 units, 50); 01-08 holds 3 rows, 1 out, 4 units, 40.
    """
    daily = pd.DataFrame({
        "date": ["2024-01-06", "2024-01-07", "2024-01-08", "2024-01-09", "2024-01-07", "2024-01-08"],
        "product_id": [1, 1, 1, 1, 2, 2], "location_id": 1, "category": ["A", "A", "A", "A", "B", "B"],
        "demand_qty": [3, 0, 2, 4, 1, 0], "on_hand": [0, 0, 5, 0, -1, 3], "unit_price": [10, 10, 10, 10, 20, 20],
    })
    row = kpis.stockout_rate(daily).iloc[0]
    assert (row["days"], row["demand_days"], row["stockout_days"]) == (6, 4, 3)
    assert row["stockout_rate"] == 0.5 and row["demand_stockout_rate"] == 0.75
    assert (row["unmet_demand_qty"], row["unmet_demand_value"]) == (8, 90)
    weekly = kpis.stockout_rate(daily, freq="W")
    assert list(weekly["days"]) == [3, 3] and list(weekly["stockout_days"]) == [2, 1]
    assert list(weekly["unmet_demand_value"]) == [50, 40]
    by = kpis.stockout_rate(daily, by="category")
    assert _one(by, category="B")["stockout_rate"] == 0.5  # 1 of 2 rows
    no_price = kpis.stockout_rate(daily.drop(columns="unit_price")).iloc[0]
    assert no_price["unmet_demand_qty"] == 8 and math.isnan(no_price["unmet_demand_value"])
    empty = kpis.stockout_rate(daily.iloc[:0]).iloc[0]
    assert empty["days"] == 0 and math.isnan(empty["stockout_rate"])


def test_inventory_accuracy() -> None:
    """Counts: 10→10 (0), 20→19 (1), 50→53 (3), 0→0 (0). Exact: 2/4; Σ|diff| / Σ system = 4/80.

    Absolute tolerance 1 → 3/4. Relative 6 %: 0 ≤ 0.6, 1 ≤ 1.2, 3 ≤ 3.0 (edge), 0 ≤ 0 → 4/4; 5 %: 3 > 2.5 → 3/4.
    By month: January 1/3 and 4/80; February 1/1 with Σ system 0 → difference rate NaN.
    """
    counts = pd.DataFrame({"count_date": ["2024-01-05", "2024-01-05", "2024-01-06", "2024-02-01"],
                           "category": ["A", "A", "B", "B"], "system_qty": [10, 20, 50, 0],
                           "counted_qty": [10, 19, 53, 0]})
    row = kpis.inventory_accuracy(counts).iloc[0]
    assert (row["counts"], row["counts_accurate"], row["inventory_accuracy"]) == (4, 2, 0.5)
    assert row["abs_difference_rate"] == pytest.approx(4 / 80)
    assert kpis.inventory_accuracy(counts, tolerance=1).iloc[0]["counts_accurate"] == 3
    assert kpis.inventory_accuracy(counts, tolerance=0.06, relative=True).iloc[0]["counts_accurate"] == 4
    assert kpis.inventory_accuracy(counts, tolerance=0.05, relative=True).iloc[0]["counts_accurate"] == 3
    monthly = kpis.inventory_accuracy(counts, freq="M")
    assert list(monthly["counts_accurate"]) == [1, 1] and list(monthly["counts"]) == [3, 1]
    assert monthly["abs_difference_rate"].iloc[0] == pytest.approx(4 / 80)
    assert math.isnan(monthly["abs_difference_rate"].iloc[1])


# --- revenue -----------------------------------------------------------------------------------------------------


def _shipments() -> pd.DataFrame:
    return pd.DataFrame({
        "ship_date": ["2024-01-31", "2024-02-01", "2024-02-01"], "category": ["A", "A", "B"],
        "segment": ["Retail", "Wholesale", "Retail"], "qty": [2.0, 3.0, 1.0], "unit_price": [10.0, 10.0, 100.0],
        "discount": [0.0, 0.5, 0.1], "unit_cost": [4.0, 4.0, 60.0],
    })


def test_revenue_and_gross_margin() -> None:
    """Revenue 2×10 + 3×10×0.5 + 1×100×0.9 = 20 + 15 + 90 = 125; COGS 2×4 + 3×4 + 60 = 80; margin 45/125.

    Months: January 20 − 8 → 0.6; February 105 − 72 → 33/105. as_of 01-31 keeps the first shipment only.
    """
    row = kpis.revenue_margin(_shipments()).iloc[0]
    assert (row["units_shipped"], row["revenue"], row["cogs"], row["gross_profit"]) == (6, 125, 80, 45)
    assert row["gross_margin"] == pytest.approx(0.36)
    monthly = kpis.revenue_margin(_shipments(), freq="M")
    assert list(monthly["revenue"]) == [20, 105] and monthly["gross_margin"].iloc[1] == pytest.approx(33 / 105)
    assert kpis.revenue_margin(_shipments(), as_of="2024-01-31").iloc[0]["revenue"] == 20
    by = kpis.revenue_margin(_shipments(), by="segment")
    assert _one(by, segment="Retail")["revenue"] == 110
    # COGS given per row (e.g. from the ledger) instead of per unit
    per_row = _shipments().drop(columns="unit_cost").assign(cogs=[7.0, 12.0, 60.0])
    assert kpis.revenue_margin(per_row).iloc[0]["cogs"] == 79


def test_revenue_missing_cost_and_zero_revenue() -> None:
    """A shipment without cost makes its group's COGS and margin NaN; zero revenue gives a NaN margin."""
    frame = _shipments()
    frame.loc[2, "unit_cost"] = np.nan
    by = kpis.revenue_margin(frame, by="category")
    assert _one(by, category="A")["gross_margin"] == pytest.approx((35 - 20) / 35)
    assert math.isnan(_one(by, category="B")["cogs"]) and math.isnan(_one(by, category="B")["gross_margin"])
    assert math.isnan(kpis.revenue_margin(frame).iloc[0]["gross_margin"])
    assert math.isnan(kpis.revenue_margin(frame.drop(columns="unit_cost")).iloc[0]["cogs"])
    free = frame.iloc[:1].assign(unit_price=0.0)
    row = kpis.revenue_margin(free).iloc[0]
    assert row["revenue"] == 0 and row["gross_profit"] == -8 and math.isnan(row["gross_margin"])


# --- purchasing ---------------------------------------------------------------------------------------------------


def _po_lines() -> pd.DataFrame:
    rows = [
        ("PO1", "S1", "2024-01-01", "2024-01-10", "2024-01-09", "received"),  # 8 days, on time
        ("PO2", "S1", "2024-01-01", "2024-01-15", "2024-01-21", "received"),  # 20 days, late
        ("PO3", "S2", "2024-01-05", "2024-01-10", "2024-01-12", "received"),  # 7 days, late
        ("PO4", "S2", "2024-01-06", None, "2024-01-16", "received"),  # 10 days, no expected date
        ("PO5", "S2", "2024-01-07", "2024-01-20", None, "open"),  # not received
        ("PO6", "S1", "2024-01-02", "2024-01-05", "2024-01-04", "cancelled"),  # cancelled: ignored
    ]
    return pd.DataFrame(rows, columns=["po_no", "supplier_id", "order_date", "expected_date", "received_date",
                                       "status"])


def test_purchase_lead_time() -> None:
    """Lead times 8, 20, 7, 10: mean 45/4; median 9; sample std sqrt(106.75/3); p90 = 10 + 0.7 × 10 = 17.

    S1: 8, 20 → mean 14, std sqrt(72), p90 8 + 0.9 × 12 = 18.8; S2: 7, 10 → mean 8.5.
    """
    row = kpis.purchase_lead_time(_po_lines()).iloc[0]
    assert (row["lines_received"], row["total_days"], row["median_days"]) == (4, 45, 9)
    assert row["mean_days"] == pytest.approx(11.25) and row["std_days"] == pytest.approx(math.sqrt(106.75 / 3))
    assert row["p90_days"] == pytest.approx(17)
    by = kpis.purchase_lead_time(_po_lines(), by="supplier_id")
    s1 = _one(by, supplier_id="S1")
    assert s1["mean_days"] == 14 and s1["std_days"] == pytest.approx(math.sqrt(72))
    assert s1["p90_days"] == pytest.approx(18.8)
    assert _one(by, supplier_id="S2")["mean_days"] == 8.5


def test_supplier_on_time() -> None:
    """Judged (received, with an expected date): PO1 ✓, PO2 ✗, PO3 ✗ → 1/3; S1 1/2, S2 0/1.

    Weekly by receipt: PO1 (Tue 01-09) and PO3 (Fri 01-12) in week 01-08 → 1/2; PO2 (Sun 01-21) in week 01-15 → 0/1.
    """
    row = kpis.supplier_on_time(_po_lines()).iloc[0]
    assert (row["lines_received"], row["lines_on_time"]) == (3, 1)
    assert row["supplier_on_time_rate"] == pytest.approx(1 / 3)
    by = kpis.supplier_on_time(_po_lines(), by="supplier_id")
    assert list(by["supplier_on_time_rate"]) == [0.5, 0.0]
    weekly = kpis.supplier_on_time(_po_lines(), freq="W")
    assert list(weekly["period"]) == [_ts("2024-01-08"), _ts("2024-01-15")]
    assert list(weekly["supplier_on_time_rate"]) == [0.5, 0.0]
    none = kpis.supplier_on_time(_po_lines().iloc[4:]).iloc[0]
    assert none["lines_received"] == 0 and math.isnan(none["supplier_on_time_rate"])


# --- forecast accuracy -------------------------------------------------------------------------------------------


def _history() -> pd.DataFrame:
    """a: 2, 4, 6, 8, 4, 2 (01-01..01-06); b: flat 5, 5, 5; c: 1, 2."""
    a = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=6), "y": [2, 4, 6, 8, 4, 2.0]})
    b = pd.DataFrame({"unique_id": "b", "ds": pd.date_range("2024-01-01", periods=3), "y": [5, 5, 5.0]})
    c = pd.DataFrame({"unique_id": "c", "ds": pd.date_range("2024-01-01", periods=2), "y": [1, 2.0]})
    return pd.concat([a, b, c], ignore_index=True)


def _forecasts() -> pd.DataFrame:
    """a: y 3, 5 / ŷ 4, 2 on Sun 01-07, Mon 01-08 (e = 1, −3); b: 6 / 5 (e = −1); c: 4 / 2 (e = −2)."""
    return pd.DataFrame({
        "unique_id": ["a", "a", "b", "c"], "category": ["X", "X", "X", "Y"],
        "ds": pd.to_datetime(["2024-01-07", "2024-01-08", "2024-01-04", "2024-01-03"]),
        "y": [3, 5, 6, 4.0], "yhat": [4, 2, 5, 2.0],
    })


def test_naive_scales() -> None:
    """a, m = 1: diffs 2, 2, 2, −4, −2 → MAE 12/5, MSE 32/5; m = 2: 4, 4, −2, −6 → MAE 4, MSE 72/4.

    b is flat → scale 0 → NaN; c with m = 2 has no pair → NaN.
    """
    one = kpis.naive_scales(_history()).set_index("unique_id")
    assert one.loc["a", "scale_mae"] == pytest.approx(2.4) and one.loc["a", "scale_mse"] == pytest.approx(6.4)
    assert math.isnan(one.loc["b", "scale_mae"]) and one.loc["c", "scale_mae"] == 1
    two = kpis.naive_scales(_history(), season_length=2).set_index("unique_id")
    assert two.loc["a", "scale_mae"] == 4 and two.loc["a", "scale_mse"] == 18 and two.loc["a", "naive_periods"] == 4
    assert math.isnan(two.loc["c", "scale_mae"])
    leading = pd.DataFrame({"unique_id": "z", "ds": pd.date_range("2024-01-01", periods=4), "y": [0, 0, 2, 4.0]})
    assert kpis.naive_scales(leading).iloc[0]["scale_mae"] == pytest.approx(4 / 3)  # diffs 0, 2, 2
    assert kpis.naive_scales(leading, drop_leading_zeros=True).iloc[0]["scale_mae"] == 2  # from the first 2


def test_forecast_accuracy_textbook_values() -> None:
    """Per series (m = 1): a MAE 2, MSE 5 → MASE 2/2.4, RMSSE sqrt(5/6.4); c MAE 2 → MASE 2, RMSSE 2; b unscaled.

    Overall: WAPE = (1+3+1+2)/(3+5+6+4) = 7/18; bias = (1−3−1−2)/18 = −5/18; MASE = mean(2/2.4, 2) over the
    2 scaled series; with m = 2 only a is scaled: MASE 2/4, RMSSE sqrt(5/18).
    """
    per_series = kpis.forecast_accuracy(_forecasts(), _history(), by="unique_id").set_index("unique_id")
    assert per_series.loc["a", "mase"] == pytest.approx(2 / 2.4)
    assert per_series.loc["a", "rmsse"] == pytest.approx(math.sqrt(5 / 6.4))
    assert per_series.loc["a", "wape"] == pytest.approx(4 / 8) and per_series.loc["a", "bias"] == pytest.approx(-2 / 8)
    assert per_series.loc["c", "mase"] == 2 and per_series.loc["c", "rmsse"] == 2
    assert math.isnan(per_series.loc["b", "mase"]) and per_series.loc["b", "series_scaled"] == 0
    overall = kpis.forecast_accuracy(_forecasts(), _history()).iloc[0]
    assert overall["wape"] == pytest.approx(7 / 18) and overall["bias"] == pytest.approx(-5 / 18)
    assert (overall["series"], overall["series_scaled"], overall["observations"]) == (3, 2, 4)
    assert overall["mase"] == pytest.approx((2 / 2.4 + 2) / 2)
    assert overall["rmsse"] == pytest.approx((math.sqrt(5 / 6.4) + 2) / 2)
    seasonal = kpis.forecast_accuracy(_forecasts(), _history(), season_length=2).iloc[0]
    assert seasonal["mase"] == pytest.approx(0.5) and seasonal["rmsse"] == pytest.approx(math.sqrt(5 / 18))
    by_category = kpis.forecast_accuracy(_forecasts(), _history(), by="category").set_index("category")
    assert by_category.loc["X", "wape"] == pytest.approx(5 / 14)  # (1+3+1)/(3+5+6)
    assert by_category.loc["X", "mase"] == pytest.approx(2 / 2.4) and by_category.loc["Y", "mase"] == 2
    weekly = kpis.forecast_accuracy(_forecasts()[lambda f: f["unique_id"] == "a"], _history(), freq="W")
    # Sun 01-07 closes the week of 01-01 (|e| = 1 → MASE 1/2.4); Mon 01-08 opens the next (|e| = 3 → 3/2.4)
    assert list(weekly["period"]) == [_ts("2024-01-01"), _ts("2024-01-08")]
    assert list(weekly["mase"]) == pytest.approx([1 / 2.4, 3 / 2.4])


# --- production ------------------------------------------------------------------------------------------------


def _production() -> pd.DataFrame:
    rows = [
        ("MO1", 1, "A", "finished", "2024-01-10", "2024-01-12", 100, 90),  # on time
        ("MO2", 1, "A", "finished", "2024-01-20", "2024-01-15", 50, 60),  # late
        ("MO3", 2, "B", "finished", "2024-02-02", "2024-02-05", 40, 30),  # on time
        ("MO4", 2, "B", "released", None, "2024-02-10", 30, 0),  # not finished
        ("MO5", 3, "B", "cancelled", None, "2024-02-10", 20, 0),
    ]
    return pd.DataFrame(rows, columns=["mo_no", "product_id", "category", "status", "finished_date", "due_date",
                                       "qty_planned", "qty_produced"])


def test_production_efficiency() -> None:
    """Finished: MO1 90/100, MO2 60/50, MO3 30/40 → 180/190; on time MO1, MO3 → 2/3.

    Months: January 150/150 and 1/2 on time; February 30/40 and 1/1.
    """
    row = kpis.production_efficiency(_production()).iloc[0]
    assert (row["orders_finished"], row["qty_planned"], row["qty_produced"]) == (3, 190, 180)
    assert row["production_efficiency"] == pytest.approx(180 / 190) and row["on_time_rate"] == pytest.approx(2 / 3)
    monthly = kpis.production_efficiency(_production(), freq="M")
    assert list(monthly["production_efficiency"]) == [1.0, 0.75] and list(monthly["on_time_rate"]) == [0.5, 1.0]


def test_overproduction() -> None:
    """Demand: P1 120 in January; P2 10 in January, 35 in February.

    Whole horizon per product: P1 150 − 120 = 30 over; P2 30 − 45 < 0 → 0 → 30 / 180.
    By month: January P1 30 of 150 (P2 made nothing then) → 0.2; February P2 30 − 35 → 0 of 30.
    """
    demand = pd.DataFrame({"product_id": [1, 2, 2], "category": ["A", "B", "B"],
                           "date": ["2024-01-15", "2024-01-15", "2024-02-01"], "demand_qty": [120.0, 10.0, 35.0]})
    row = kpis.overproduction(_production(), demand).iloc[0]
    assert (row["qty_produced"], row["demand_qty"], row["overproduced_qty"]) == (180, 165, 30)
    assert row["overproduction_rate"] == pytest.approx(1 / 6)
    monthly = kpis.overproduction(_production(), demand, freq="M")
    assert list(monthly["overproduced_qty"]) == [30, 0] and list(monthly["overproduction_rate"]) == [0.2, 0.0]
    by = kpis.overproduction(_production(), demand, by="category")
    assert list(by["overproduction_rate"]) == [0.2, 0.0]


# --- contracts ----------------------------------------------------------------------------------------------------


def test_contract_errors(lines: pd.DataFrame) -> None:
    """Missing contract columns, unknown grouping columns and frequencies are errors that name the problem."""
    with pytest.raises(ValueError, match="shipped_by_requested_qty"):
        kpis.fill_rate(lines.drop(columns="shipped_by_requested_qty"), AS_OF)
    with pytest.raises(ValueError, match="region"):
        kpis.fill_rate(lines, AS_OF, by="region")
    with pytest.raises(ValueError, match="freq"):
        kpis.fill_rate(lines, AS_OF, freq="H")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kpis.fill_rate(lines, None)  # type: ignore[arg-type]


def test_missing_keys_form_a_group(lines: pd.DataFrame) -> None:
    """A line without a segment is its own group, so the groups still add up to the total."""
    frame = lines.assign(segment=lines["segment"].where(lines["order_no"] != "SO7"))
    by = kpis.backorder_rate(frame, AS_OF, by="segment")
    assert len(by) == 3 and by["lines_due"].sum() == 8
    assert by.loc[by["segment"].isna(), "lines_backordered"].item() == 1  # L8


# --- invariants ----------------------------------------------------------------------------------------------------

_line = st.tuples(
    st.integers(0, 6),  # order number
    st.sampled_from(["A", "B", "C"]),  # category
    st.sampled_from(["Retail", "Wholesale", None]),  # segment
    st.integers(0, 70),  # requested day
    st.integers(0, 20),  # qty ordered
    st.integers(0, 25),  # shipped by requested (may exceed what was ordered)
    st.integers(0, 20),  # shipped as of as_of
    st.integers(0, 20),  # cancelled
    st.one_of(st.none(), st.integers(0, 90)),  # last ship day
)


def _random_lines(rows: list[tuple]) -> pd.DataFrame:
    start = pd.Timestamp("2024-01-01")
    frame = pd.DataFrame(rows, columns=["order_no", "category", "segment", "requested", "qty_ordered",
                                        "shipped_by_requested_qty", "qty_shipped", "qty_cancelled", "last"])
    days = pd.to_timedelta(frame["requested"], unit="D")
    last = pd.to_timedelta(frame["last"].astype(float), unit="D")
    shipped = np.minimum(frame["qty_shipped"], frame["qty_ordered"]).astype(float)
    return pd.DataFrame({
        "order_no": frame["order_no"].astype(str), "line_no": np.arange(len(frame)), "category": frame["category"],
        "segment": frame["segment"], "order_date": start + days - pd.Timedelta(days=3), "requested_date": start + days,
        "promised_date": pd.NaT, "qty_ordered": frame["qty_ordered"].astype(float), "qty_shipped": shipped,
        "qty_cancelled": np.minimum(frame["qty_cancelled"], frame["qty_ordered"] - shipped).astype(float),
        "cancelled_date": start + days, "unit_price": 2.0, "discount": 0.1,
        "status": "open", "shipped_by_requested_qty": frame["shipped_by_requested_qty"].astype(float),
        "last_ship_date": (start + last).where(shipped > 0), "last_delivery_date": pd.NaT, "unit_cost": 1.0,
    })


_groupings = st.sampled_from([
    {"by": ("category",)}, {"by": ("segment",)}, {"freq": "W"}, {"freq": "M"},
    {"by": ("category", "segment"), "freq": "W"}, {"by": ("segment",), "freq": "M"},
])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_line, max_size=25), as_of_day=st.integers(0, 95), grouping=_groupings)
def test_rates_bounded_and_groups_add_up(rows: list[tuple], as_of_day: int, grouping: dict) -> None:
    """Rates lie in [0, 1]; numerators and denominators summed over groups equal the ungrouped ones."""
    frame = _random_lines(rows)
    as_of = pd.Timestamp("2024-01-01") + pd.Timedelta(days=as_of_day)
    checks = [
        (kpis.fill_rate, ["units_due", "units_filled", "lines_due", "lines_filled"],
         ["unit_fill_rate", "line_fill_rate", "order_fill_rate"]),
        (kpis.backorder_rate, ["lines_due", "lines_backordered", "units_due", "units_short"],
         ["backorder_rate", "unit_backorder_rate"]),
        (kpis.on_time_delivery, ["lines_shipped", "lines_on_time"], ["line_on_time_rate", "order_on_time_rate"]),
        (kpis.lost_sales, ["lines_lost", "lost_units", "lost_revenue"], []),
    ]
    for function, additive, rates in checks:
        total = function(frame, as_of).iloc[0]
        grouped = function(frame, as_of, **grouping)
        for column in additive:
            assert grouped[column].sum() == pytest.approx(total[column]), (function.__name__, column, grouping)
        for column in rates:
            values = pd.concat([grouped[column], pd.Series([total[column]])]).dropna()
            assert ((values >= 0) & (values <= 1 + 1e-12)).all(), (function.__name__, column)
    ageing = kpis.backorder_ageing(frame, as_of, **grouping)
    assert ageing["lines"].sum() == kpis.backorder_ageing(frame, as_of)["lines"].sum()
    fill = kpis.fill_rate(frame, as_of).iloc[0]
    back = kpis.backorder_rate(frame, as_of).iloc[0]
    assert fill["lines_filled"] + back["lines_backordered"] == fill["lines_due"]


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.tuples(st.integers(0, 3), st.floats(0, 50), st.floats(0, 50)), min_size=1, max_size=30),
       scale=st.floats(0.01, 1000), season_length=st.integers(1, 3))
def test_forecast_accuracy_invariants(values: list[tuple], scale: float, season_length: int) -> None:
    """A perfect forecast has WAPE, bias and MASE 0; every measure is unchanged when all values are scaled by c > 0."""
    frame = pd.DataFrame(values, columns=["series", "y", "yhat"])
    frame["unique_id"] = frame["series"].astype(str)
    frame["ds"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(frame.groupby("unique_id").cumcount(), unit="D")
    history = pd.DataFrame({
        "unique_id": np.repeat(frame["unique_id"].unique(), 6),
        "ds": np.tile(pd.date_range("2024-02-01", periods=6), frame["unique_id"].nunique()),
    })
    history["y"] = (np.arange(len(history)) * 7 % 11).astype(float)
    perfect = kpis.forecast_accuracy(frame.assign(yhat=frame["y"]), history, season_length=season_length).iloc[0]
    if perfect["abs_actual"] > 0:
        assert perfect["wape"] == 0
    if perfect["actual"] != 0:
        assert perfect["bias"] == 0
    assert perfect["mase"] == 0 and perfect["rmsse"] == 0
    base = kpis.forecast_accuracy(frame, history, by="unique_id", season_length=season_length)
    scaled = kpis.forecast_accuracy(frame.assign(y=frame["y"] * scale, yhat=frame["yhat"] * scale),
                                    history.assign(y=history["y"] * scale), by="unique_id",
                                    season_length=season_length)
    for column in ("wape", "bias", "mase", "rmsse"):
        assert np.allclose(base[column], scaled[column], rtol=1e-9, atol=1e-12, equal_nan=True), column


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), st.integers(0, 30), st.floats(0.5, 9)),
                     min_size=1, max_size=40))
def test_inventory_groups_add_up(rows: list[tuple]) -> None:
    """Average inventory value over the groups adds up to the total average (one day count per period)."""
    frame = pd.DataFrame(rows, columns=["day", "product_id", "on_hand", "unit_cost"])
    frame = frame.drop_duplicates(["day", "product_id"])
    frame["snapshot_date"] = pd.Timestamp("2024-01-20") + pd.to_timedelta(frame["day"], unit="D")
    total = kpis.inventory_value(frame).iloc[0]["average_inventory_value"]
    by = kpis.inventory_value(frame, by="product_id")
    assert by["average_inventory_value"].sum() == pytest.approx(total)
    monthly = kpis.inventory_value(frame, freq="M")
    days = monthly["snapshot_days"]
    assert (monthly["average_inventory_value"] * days).sum() / days.sum() == pytest.approx(total)


def test_stock_cover_and_low_stock() -> None:
    """Hand-worked: position = on hand + on order − backordered − allocated; cover = on hand / daily demand."""
    levels = pd.DataFrame({
        "on_hand": [20.0, 100.0, 3.0, 0.0],
        "on_order": [0.0, 50.0, 0.0, 0.0],
        "backordered": [5.0, 0.0, 0.0, 0.0],
        "allocated": [0.0, 10.0, 0.0, 0.0],
        "daily_demand": [2.0, 5.0, 1.0, 0.0],
        "reorder_point": [20.0, 30.0, np.nan, np.nan],
        "unit_cost": [4.0, 1.0, 2.0, 3.0],
    })
    out = kpis.stock_cover(levels)
    # positions: 20 − 5 = 15; 100 + 50 − 10 = 140; 3; 0
    assert out["inventory_position"].tolist() == [15.0, 140.0, 3.0, 0.0]
    # cover: 20 / 2 = 10 days; 100 / 5 = 20; 3 / 1 = 3; no demand → NaN
    assert out["days_of_cover"].iloc[:3].tolist() == [10.0, 20.0, 3.0] and np.isnan(out["days_of_cover"].iloc[3])
    assert out["value"].tolist() == [80.0, 100.0, 6.0, 0.0]
    # 15 ≤ 20 → low; 140 > 30 → fine; no reorder point: 3 days < 7 → low; no demand → not low
    assert out["low_stock"].tolist() == [True, False, True, False]
