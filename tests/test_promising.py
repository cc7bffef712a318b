"""Promising and backorders (analytics.promising) on small tables worked out by hand.

Calendar: 2024-07-01 is a Monday, 2024-07-03 a Wednesday; days are counted from as_of (day 0). Receipts are
never available before day 1 (day 0 is the stock at the end of as_of).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics import promising as P

AS_OF = dt.date(2024, 7, 1)


def _day(n: int, start: dt.date = AS_OF) -> dt.date:
    return start + dt.timedelta(days=n)


def _supply(rows: list[tuple]) -> pd.DataFrame:
    """SUPPLY_DEMAND rows (product, location, kind, date or None, qty, reference)."""
    frame = pd.DataFrame(rows, columns=list(P.SUPPLY_DEMAND))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


# --- ATP -----------------------------------------------------------------------------------------------------------

# Product 1 at location 10, as of Wednesday 2024-07-03:
#   on hand 10; receipts: PO1 +20 on day 3, MO1 +15 on day 10;
#   demand: 4 past due (requested 06-28 → day 0), 8 on day 2, 12 on day 5, 10 on day 12.
#   cumulative: d0 10−4 = 6, d2 6−8 = −2, d3 −2+20 = 18, d5 18−12 = 6, d10 6+15 = 21, d12 21−10 = 11.
#   min over s ≥ t: t 0–2: −2 → available 0, shortfall 2; t 3–9: 6 (the balance of days 5–9) → 6;
#   t ≥ 10: min(21, 11) = 11 → 11. So atp: 6 on day 3 (PO1), 5 on day 10 (MO1).
WED = dt.date(2024, 7, 3)
ATP_SUPPLY = _supply([
    (1, 10, "on_hand", None, 10.0, None),
    (1, 10, "purchase", _day(3, WED), 20.0, "PO1"),
    (1, 10, "production", _day(10, WED), 15.0, "MO1"),
    (1, 10, "demand", dt.date(2024, 6, 28), 4.0, None),
    (1, 10, "demand", _day(2, WED), 8.0, None),
    (1, 10, "demand", _day(5, WED), 12.0, None),
    (1, 10, "demand", _day(12, WED), 10.0, None),
])


def test_atp_daily() -> None:
    """The daily table of the comment above: cumulative, look-ahead available, atp increments, shortfall."""
    table = P.atp(ATP_SUPPLY, WED, horizon_days=14)
    assert len(table) == 15 and table["period"].iloc[0] == pd.Timestamp(WED)
    assert table["on_hand"].tolist() == [10] + [0] * 14
    assert table["receipts"].tolist() == [0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 15, 0, 0, 0, 0]
    assert table["demand"].tolist() == [4, 0, 8, 0, 0, 12, 0, 0, 0, 0, 0, 0, 10, 0, 0]
    assert table["cumulative"].tolist() == [6, 6, -2, 18, 18, 6, 6, 6, 6, 6, 21, 21, 11, 11, 11]
    assert table["available"].tolist() == [0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 11, 11, 11, 11, 11]
    assert table["atp"].tolist() == [0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]
    assert table["shortfall"].tolist() == [2, 2, 2] + [0] * 12
    assert (table["net"] == table["on_hand"] + table["receipts"] - table["demand"]).all()


def test_atp_weekly() -> None:
    """Weeks (Monday first): 07-01 (days 0–4, Wed–Sun), 07-08 (days 5–11), 07-15 (days 12–18, the horizon of 14
    days is completed to Sunday 07-21). Sums per week; cumulative and available of the week's last day.

    week 1: on hand 10, receipts 20, demand 4+8 = 12, net 18, cumulative(day 4) 18, available(day 4) 6;
    week 2: receipts 15, demand 12, net 3, cumulative(day 11) 21, available 11 (atp 11 − 6 = 5);
    week 3: demand 10, net −10, cumulative 11, available 11 (atp 0).
    """
    table = P.atp(ATP_SUPPLY, WED, freq="W", horizon_days=14)
    assert table["period"].dt.date.tolist() == [dt.date(2024, 7, 1), dt.date(2024, 7, 8), dt.date(2024, 7, 15)]
    assert table["on_hand"].tolist() == [10, 0, 0]
    assert table["receipts"].tolist() == [20, 15, 0]
    assert table["demand"].tolist() == [12, 12, 10]
    assert table["net"].tolist() == [18, 3, -10]
    assert table["cumulative"].tolist() == [18, 21, 11]
    assert table["available"].tolist() == [6, 11, 11]
    assert table["atp"].tolist() == [6, 5, 0]


def test_atp_lookahead_sees_past_the_horizon() -> None:
    """A commitment after the horizon still protects today's stock: on hand 10, demand 7 on day 40; a 5-day
    table shows available 3 on every day."""
    supply = _supply([(1, 10, "on_hand", None, 10.0, None), (1, 10, "demand", _day(40), 7.0, None)])
    table = P.atp(supply, AS_OF, horizon_days=5)
    assert table["available"].tolist() == [3] * 6 and table["demand"].sum() == 0


def test_atp_of_nothing() -> None:
    """A product-location without any row: zeros for every day; without ids, an empty table."""
    table = P.atp(ATP_SUPPLY, WED, horizon_days=3, product_id=1, location_id=99)
    assert len(table) == 4 and (table[["on_hand", "receipts", "demand", "cumulative", "available"]] == 0).all(axis=None)
    assert P.atp(ATP_SUPPLY.iloc[0:0], WED).empty


def test_atp_bad_input() -> None:
    with pytest.raises(ValueError, match="freq"):
        P.atp(ATP_SUPPLY, WED, freq="M")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        P.atp(ATP_SUPPLY.assign(kind="stock"), WED)
    with pytest.raises(ValueError, match="lacks"):
        P.atp(ATP_SUPPLY.drop(columns=["qty"]), WED)
    with pytest.raises(ValueError, match="need a date"):
        P.atp(_supply([(1, 10, "purchase", None, 5.0, "PO9")]), WED)


def test_availability() -> None:
    """Now: available 0 (the shortfall of day 2 takes all stock), next receipt PO1 20 on 07-06, first day with
    something to promise 07-06 (day 3)."""
    row = P.availability(ATP_SUPPLY, WED).iloc[0]
    assert (row["on_hand"], row["open_demand"], row["scheduled_receipts"], row["available_now"]) == (10, 34, 35, 0)
    assert row["next_receipt_date"] == pd.Timestamp("2024-07-06") and row["next_receipt_qty"] == 20
    assert row["available_date"] == pd.Timestamp("2024-07-06")


# --- promise ---------------------------------------------------------------------------------------------------------


def test_promise_no_supply_at_all() -> None:
    """Nothing anywhere (no rows at all, or only demand): no date, the whole quantity short, no plan."""
    empty = _supply([])
    result = P.promise(empty, 10, 5, AS_OF, as_of=AS_OF, product_id=1)
    assert result.date is None and result.pieces == () and result.qty_short == 5
    assert result.single_shipment_date is None and not result.on_time
    only_demand = _supply([(1, 10, "demand", _day(2), 3.0, None), (1, 20, "on_hand", None, 0.0, None)])
    result = P.promise(only_demand, 10, 5, AS_OF, as_of=AS_OF)
    assert result.date is None and result.qty_short == 5 and result.to_frame().empty


def test_promise_from_stock_on_the_requested_date() -> None:
    """Stock 5 covers 3; requested on day 5: one piece from stock, shipping on the requested date."""
    supply = _supply([(1, 10, "on_hand", None, 5.0, None)])
    result = P.promise(supply, 10, 3, _day(5), as_of=AS_OF)
    assert result.date == _day(5) and result.on_time and not result.split
    (piece,) = result.pieces
    assert (piece.qty, piece.ship_date, piece.source, piece.available_date) == (3, _day(5), "stock", AS_OF)


def test_promise_split_across_receipts() -> None:
    """Home: stock 5, PO1 +10 on day 4, PO2 +10 on day 9; an open order takes 6 on day 6.

    cumulative: d0 5, d4 15, d6 9, d9 19 → available: d0 min(5, 15, 9, 19) = 5; d4 min(15, 9, 19) = 9;
    d9 19. Increments: 5 (stock), 4 (PO1: 6 of its 10 are promised to the day-6 order), 10 (PO2).
    18 requested on day 1: 5 from stock ship day 1, 4 from PO1 day 4, 9 from PO2 day 9 → date day 9.
    In one shipment from home: available(9) = 19 ≥ 18 → day 9 as well.
    """
    supply = _supply([
        (1, 10, "on_hand", None, 5.0, None),
        (1, 10, "purchase", _day(4), 10.0, "PO1"),
        (1, 10, "purchase", _day(9), 10.0, "PO2"),
        (1, 10, "demand", _day(6), 6.0, None),
    ])
    result = P.promise(supply, 10, 18, _day(1), as_of=AS_OF)
    assert result.date == _day(9) and result.split and not result.on_time and not result.uses_transfer
    plan = [(p.qty, p.ship_date, p.source, p.reference) for p in result.pieces]
    assert plan == [(5, _day(1), "stock", None), (4, _day(4), "receipt", "PO1"), (9, _day(9), "receipt", "PO2")]
    assert result.single_shipment_date == _day(9) and result.qty_covered == 18 and result.qty_short == 0
    # 20 would break the day-6 order: only 19 is ever promisable
    assert P.promise(supply, 10, 20, _day(1), as_of=AS_OF, transfers=False).qty_short == 1


def test_promise_transfer_faster_than_waiting() -> None:
    """Home (10): nothing on hand, PO +20 on day 20. Location 20: 30 on hand, 5 promised on day 2 → ATP 25;
    lane 20 → 10 takes 2.5 days → ceil = 3. 12 wanted today: waiting ships on day 20, the transfer on day 3.
    Location 30 (no lane: the default 4 days) has stock too but arrives later."""
    supply = _supply([
        (1, 10, "on_hand", None, 0.0, None),
        (1, 10, "purchase", _day(20), 20.0, "PO7"),
        (1, 20, "on_hand", None, 30.0, None),
        (1, 20, "demand", _day(2), 5.0, None),
        (1, 30, "on_hand", None, 50.0, None),
    ])
    lanes = pd.DataFrame({"from_location_id": [20], "to_location_id": [10], "transfer_days": [2.5]})
    result = P.promise(supply, 10, 12, AS_OF, as_of=AS_OF, lanes=lanes, default_transfer_days=4)
    assert result.date == _day(3) and result.single_shipment_date == _day(20) and result.uses_transfer
    (piece,) = result.pieces
    assert (piece.qty, piece.ship_date, piece.source, piece.location_id) == (12, _day(3), "transfer", 20)
    assert (piece.available_date, piece.transfer_days) == (AS_OF, 2.5)
    # 28 > 25 at location 20: 25 from there (day 3) and 3 from location 30 (default lane, day 4)
    both = P.promise(supply, 10, 28, AS_OF, as_of=AS_OF, lanes=lanes, default_transfer_days=4)
    assert both.date == _day(4)
    assert [(p.qty, p.location_id, p.ship_date) for p in both.pieces] == [(25, 20, _day(3)), (3, 30, _day(4))]
    # without transfers: wait for the PO
    waiting = P.promise(supply, 10, 12, AS_OF, as_of=AS_OF, lanes=lanes, transfers=False)
    assert waiting.date == _day(20) and [p.source for p in waiting.pieces] == ["receipt"]


def test_promise_home_first_then_transfer() -> None:
    """Home 5 on hand; location 20 has 10, 2 days away; 12 wanted: 5 from home today, 7 by transfer on day 2.
    When the home receipt comes as early as the transfer (day 2), home is used and no transfer is planned."""
    supply = _supply([(1, 10, "on_hand", None, 5.0, None), (1, 20, "on_hand", None, 10.0, None)])
    lanes = pd.DataFrame({"from_location_id": [20], "to_location_id": [10], "transfer_days": [2.0]})
    result = P.promise(supply, 10, 12, AS_OF, as_of=AS_OF, lanes=lanes)
    assert result.date == _day(2)
    assert [(p.qty, p.source, p.ship_date) for p in result.pieces] == [(5, "stock", AS_OF), (7, "transfer", _day(2))]
    with_receipt = pd.concat([supply, _supply([(1, 10, "purchase", _day(2), 10.0, "PO3")])], ignore_index=True)
    result = P.promise(with_receipt, 10, 12, AS_OF, as_of=AS_OF, lanes=lanes)
    assert result.date == _day(2) and not result.uses_transfer
    assert [(p.qty, p.source) for p in result.pieces] == [(5, "stock"), (7, "receipt")]


def test_promise_cannot_cover() -> None:
    """Home 5 + PO 5 (day 3), location 20 has 3: 20 wanted → no date; everything is listed and 7 are short."""
    supply = _supply([(1, 10, "on_hand", None, 5.0, None), (1, 10, "purchase", _day(3), 5.0, "PO1"),
                      (1, 20, "on_hand", None, 3.0, None)])
    result = P.promise(supply, 10, 20, AS_OF, as_of=AS_OF, default_transfer_days=1)
    assert result.date is None and result.qty_short == 7 and result.qty_covered == 13
    assert [(p.qty, p.source) for p in result.pieces] == [(5, "stock"), (3, "transfer"), (5, "receipt")]


def test_promise_overdue_receipt_counts_tomorrow() -> None:
    """A PO expected before as_of that has not arrived is not stock: promised on day 1 at the earliest."""
    supply = _supply([(1, 10, "purchase", dt.date(2024, 6, 20), 8.0, "PO-LATE")])
    result = P.promise(supply, 10, 8, dt.date(2024, 6, 25), as_of=AS_OF)
    assert result.date == _day(1) and result.pieces[0].source == "receipt"


def test_promise_bad_input() -> None:
    supply = _supply([(1, 10, "on_hand", None, 5.0, None), (2, 10, "on_hand", None, 5.0, None)])
    for qty in (0, -1, float("nan"), "3", True):
        with pytest.raises(ValueError, match="qty"):
            P.promise(supply, 10, qty, AS_OF, as_of=AS_OF, product_id=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="several products"):
        P.promise(supply, 10, 1, AS_OF, as_of=AS_OF)
    with pytest.raises(ValueError, match="requested_date"):
        P.promise(supply, 10, 1, None, as_of=AS_OF, product_id=1)  # type: ignore[arg-type]
    assert P.promise(supply, 10, 5, AS_OF, as_of=AS_OF, product_id=2).date == AS_OF


# --- allocation and ETAs ---------------------------------------------------------------------------------------------

# Product 1 at location 10, as of Monday 2024-07-01. Supply in the order it can ship:
#   stock 4 (day 0) → cumulative 4; PO-A +10 on 07-05 → 14; MO-B +6 on 07-10 → 20; PO-C +20 on 07-20 → 40.
# Open lines (qty open = ordered − shipped − cancelled):
#   L1 S1 tier A, priority 1, ordered 06-20, requested 06-25: 8 − 2 shipped = 6
#   L2 S2 tier C, ordered 06-10, requested 06-15: 5
#   L3 S3 tier B, ordered 06-18, requested 06-22: 12 − 2 cancelled = 10
#   L4 S4 tier A, ordered 06-25, requested 06-28: 7
#   L5 S5 tier B, ordered 06-12, requested 06-20: 9
#   L6 S6 tier C, priority 2, ordered 06-28, requested 07-08 (not due: not a backorder): 3
#   L7 S7 tier C, ordered 06-30, requested 06-30: 8
# Default order: priority desc (L6 2, L1 1), then tier A (L4), B by order date (L5 06-12, L3 06-18), C (L2, L7).
# Cumulative demand D_i: L6 3, L1 9, L4 16, L5 25, L3 35, L2 40, L7 48. The supply row holding D_i:
#   L6 (0, 3]   stock                → available today, but requested 07-08 → ETA 07-08
#   L1 (3, 9]   1 stock + 5 of PO-A  → ETA 07-05 (PO-A), 1 from stock
#   L4 (9, 16]  5 of PO-A + 2 of MO-B → ETA 07-10 (MO-B)
#   L5 (16, 25] 4 of MO-B + 5 of PO-C → ETA 07-20 (PO-C)
#   L3 (25, 35] PO-C                  → ETA 07-20
#   L2 (35, 40] PO-C, its last unit is the last unit of supply → ETA 07-20
#   L7 (40, 48] nothing left          → no ETA (source none), covered 0
# Product 1 at location 20 has 100 on hand: its line L8 (5 open) ships from stock today.
# Product 2 at location 10 has no supply: its line L9 gets no ETA.
LINE_COLUMNS = ["line_id", "order_no", "line_no", "product_id", "location_id", "customer_id", "tier", "priority",
                "order_date", "requested_date", "qty_ordered", "qty_shipped", "qty_cancelled", "unit_price",
                "discount"]
LINES = pd.DataFrame([
    (1, "S1", 1, 1, 10, 101, "A", 1, "2024-06-20", "2024-06-25", 8, 2, 0, 10.0, 0.0),
    (2, "S2", 1, 1, 10, 102, "C", 0, "2024-06-10", "2024-06-15", 5, 0, 0, 10.0, 0.0),
    (3, "S3", 1, 1, 10, 103, "B", 0, "2024-06-18", "2024-06-22", 12, 0, 2, 10.0, 0.1),
    (4, "S4", 1, 1, 10, 104, "A", 0, "2024-06-25", "2024-06-28", 7, 0, 0, 10.0, 0.0),
    (5, "S5", 1, 1, 10, 105, "B", 0, "2024-06-12", "2024-06-20", 9, 0, 0, 10.0, 0.0),
    (6, "S6", 1, 1, 10, 106, "C", 2, "2024-06-28", "2024-07-08", 3, 0, 0, 10.0, 0.0),
    (7, "S7", 1, 1, 10, 107, "C", 0, "2024-06-30", "2024-06-30", 8, 0, 0, 10.0, 0.0),
    (8, "S8", 1, 1, 20, 101, "A", 0, "2024-06-29", "2024-06-30", 5, 0, 0, 10.0, 0.0),
    (9, "S9", 1, 2, 10, 102, None, 0, "2024-06-29", "2024-06-30", 2, 0, 0, 10.0, 0.0),
    (10, "S10", 1, 1, 10, 101, "A", 5, "2024-06-29", "2024-06-30", 4, 4, 0, 10.0, 0.0),  # shipped: not open
], columns=LINE_COLUMNS)
ALLOC_SUPPLY = _supply([
    (1, 10, "on_hand", None, 4.0, None),
    (1, 10, "purchase", "2024-07-05", 10.0, "PO-A"),
    (1, 10, "production", "2024-07-10", 6.0, "MO-B"),
    (1, 10, "purchase", "2024-07-20", 20.0, "PO-C"),
    (1, 10, "demand", "2024-07-08", 99.0, None),  # demand rows are ignored: the lines are the demand
    (1, 20, "on_hand", None, 100.0, None),
])


def test_allocate_default_priority() -> None:
    """The table in the comment above."""
    out = P.allocate(LINES, ALLOC_SUPPLY, AS_OF).set_index("line_id")
    assert 10 not in out.index  # fully shipped
    home = out[(out["product_id"] == 1) & (out["location_id"] == 10)].sort_values("allocation_rank")
    assert home.index.tolist() == [6, 1, 4, 5, 3, 2, 7] and home["allocation_rank"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert home["qty_open"].tolist() == [3, 6, 7, 9, 10, 5, 8]
    assert home["eta"].dt.date.astype(str).tolist()[:6] == [
        "2024-07-08", "2024-07-05", "2024-07-10", "2024-07-20", "2024-07-20", "2024-07-20"]
    assert pd.isna(home.loc[7, "eta"]) and home.loc[7, "eta_source"] == "none" and home.loc[7, "qty_covered"] == 0
    assert home["eta_source"].tolist() == ["stock", "purchase", "production", "purchase", "purchase", "purchase",
                                           "none"]
    assert home["eta_reference"].fillna("").tolist() == ["", "PO-A", "MO-B", "PO-C", "PO-C", "PO-C", ""]
    assert home["qty_from_stock"].tolist() == [3, 1, 0, 0, 0, 0, 0]
    assert home["qty_covered"].tolist() == [3, 6, 7, 9, 10, 5, 0]
    # first piece: L1 gets its stock unit today; L4's first unit is PO-A's (07-05); L6 waits for its requested day
    assert home.loc[1, "first_ship_date"] == pd.Timestamp("2024-07-01")
    assert home.loc[4, "first_ship_date"] == pd.Timestamp("2024-07-05")
    assert home.loc[6, "first_ship_date"] == pd.Timestamp("2024-07-08")
    assert home["is_priority"].tolist() == [True, True, False, False, False, False, False]
    assert home["high_value"].tolist() == [False, True, True, False, False, False, False]
    assert home["backorder"].tolist() == [False, True, True, True, True, True, True]
    # days late: L1 07-05 − 06-25 = 10; L2 07-20 − 06-15 = 35
    assert home.loc[1, "days_late"] == 10 and home.loc[2, "days_late"] == 35
    assert out.loc[8, "eta"] == pd.Timestamp(AS_OF) and out.loc[8, "eta_source"] == "stock"
    assert pd.isna(out.loc[9, "eta"]) and out.loc[9, "eta_source"] == "none"


def test_allocate_by_order_date() -> None:
    """Priority ("order_date",): queue L2 5, L5 9, L3 10, L1 6, L4 7, L6 3, L7 8 → D 5, 14, 24, 30, 37, 40, 48.
    L2 (0, 5]: 4 stock + 1 of PO-A → 07-05; L5 (5, 14] → 07-05; L3 (14, 24]: 6 of MO-B + 4 of PO-C → 07-20;
    L1, L4 and L6 (up to 40) → 07-20; L7 none."""
    out = P.allocate(LINES, ALLOC_SUPPLY, AS_OF, priority=("order_date",))
    home = out[(out["product_id"] == 1) & (out["location_id"] == 10)].sort_values("allocation_rank")
    assert home["line_id"].tolist() == [2, 5, 3, 1, 4, 6, 7]
    assert home["eta"].dt.strftime("%m-%d").fillna("-").tolist() == [
        "07-05", "07-05", "07-20", "07-20", "07-20", "07-20", "-"]
    with pytest.raises(ValueError, match="unknown priority"):
        P.allocate(LINES, ALLOC_SUPPLY, AS_OF, priority=("vip",))
    with pytest.raises(ValueError, match="lacks"):
        P.allocate(LINES.drop(columns=["tier"]), ALLOC_SUPPLY, AS_OF)


def test_allocate_value_and_tier_order() -> None:
    """Priority ("value",): open value = qty open × 10 × (1 − discount): L3 10 × 9 = 90 first, L5 90 (ties go by
    order_no: S3 < S5), then L7 80, L4 70, L1 60, L2 50, L6 30. A custom tier order C, B, A puts L2 first."""
    out = P.allocate(LINES, ALLOC_SUPPLY, AS_OF, priority=("value",))
    home = out[(out["product_id"] == 1) & (out["location_id"] == 10)].sort_values("allocation_rank")
    assert home["line_id"].tolist() == [3, 5, 7, 4, 1, 2, 6]
    out = P.allocate(LINES, ALLOC_SUPPLY, AS_OF, priority=("tier", "order_date"), tier_order=("C", "B", "A"))
    home = out[(out["product_id"] == 1) & (out["location_id"] == 10)].sort_values("allocation_rank")
    assert home["line_id"].tolist() == [2, 6, 7, 5, 3, 1, 4]


def test_open_backorders() -> None:
    """Due and open at 07-01: L1–L5, L7, L8, L9 (L6 requested 07-08, L10 shipped). L3's value 10 × 10 × 0.9 = 90;
    L2 is 16 days old. Priority first (L1), then oldest first."""
    out = P.open_backorders(LINES, AS_OF)
    assert out["line_id"].tolist() == [1, 2, 5, 3, 4, 7, 8, 9]
    row = out.set_index("line_id")
    assert row.loc[3, "qty_open"] == 10 and row.loc[3, "value"] == pytest.approx(90)
    assert row.loc[2, "age_days"] == 16 and row.loc[1, "is_priority"] and row.loc[4, "high_value"]


def test_eta_updates() -> None:
    """Stored ETAs against the computed ones, tolerance 2 days:
    L1 stored 07-04, computed 07-05: +1 day → kept, stays 07-04 (the announced date);
    L4 stored 07-05, computed 07-10: +5 → moved, eta 07-10, previous 07-05;
    L7 stored 07-25, computed none → moved to none, previous 07-25;
    L5 stored 07-19 with previous 07-12, computed 07-20 → kept with both as stored;
    L2, L3, L8, L9 have no stored row → new; line 99 is stored but no longer a backorder → removed."""
    backorders = P.allocate(LINES, ALLOC_SUPPLY, AS_OF)
    backorders = backorders[backorders["backorder"]]
    stored = pd.DataFrame({
        "line_id": [1, 4, 7, 5, 99],
        "eta": pd.to_datetime(["2024-07-04", "2024-07-05", "2024-07-25", "2024-07-19", "2024-07-02"]),
        "previous_eta": pd.to_datetime([None, None, None, "2024-07-12", None]),
    })
    update = P.eta_updates(backorders, stored, tolerance_days=2)
    rows = update.lines.set_index("line_id")
    assert rows["action"].to_dict() == {1: "kept", 2: "new", 3: "new", 4: "moved", 5: "kept", 7: "moved",
                                        8: "new", 9: "new"}
    assert rows.loc[1, "eta"] == pd.Timestamp("2024-07-04") and rows.loc[1, "computed_eta"] == pd.Timestamp(
        "2024-07-05") and rows.loc[1, "shift_days"] == 1
    assert (rows.loc[4, "eta"], rows.loc[4, "previous_eta"]) == (pd.Timestamp("2024-07-10"), pd.Timestamp("2024-07-05"))
    assert pd.isna(rows.loc[7, "eta"]) and rows.loc[7, "previous_eta"] == pd.Timestamp("2024-07-25")
    assert (rows.loc[5, "eta"], rows.loc[5, "previous_eta"]) == (pd.Timestamp("2024-07-19"), pd.Timestamp("2024-07-12"))
    assert rows.loc[2, "eta"] == pd.Timestamp("2024-07-20") and pd.isna(rows.loc[2, "previous_eta"])
    assert update.removed == [99]
    assert update.counts == {"new": 4, "moved": 2, "kept": 2, "removed": 1}
    # tolerance 0: L1's one-day slip and L5's are moves too
    strict = P.eta_updates(backorders, stored, tolerance_days=0).lines.set_index("line_id")
    assert strict.loc[1, "action"] == "moved" and strict.loc[5, "action"] == "moved"
    with pytest.raises(ValueError, match="tolerance"):
        P.eta_updates(backorders, stored, tolerance_days=-1)


# --- alternatives, shipment delays -----------------------------------------------------------------------------------


def test_alternatives() -> None:
    """Product 1 (Valves, 100.0) has substitutes 4 (rank 1) and 2 (rank 2). Same category within ±25 %: 3 (110, 10 %
    away), 5 (80, 20 %), 6 (130, 30 %: out), 7 (inactive: out), 8 (another category: out). Availability at
    location 10: 4 has 6 now, 3 gets 5 on 07-04, 2 has 2 elsewhere."""
    products = pd.DataFrame({
        "product_id": [1, 2, 3, 4, 5, 6, 7, 8],
        "sku": ["V1", "V2", "V3", "V4", "V5", "V6", "V7", "H8"],
        "name": ["one", "two", "three", "four", "five", "six", "seven", "eight"],
        "category": ["Valves"] * 7 + ["Heating"],
        "unit_price": [100.0, 150.0, 110.0, 90.0, 80.0, 130.0, 100.0, 100.0],
        "active": [True] * 6 + [False, True],
    })
    substitutes = pd.DataFrame({"product_id": [1, 1, 3], "substitute_id": [2, 4, 1], "rank": [2, 1, 1]})
    supply = _supply([
        (4, 10, "on_hand", None, 6.0, None),
        (3, 10, "on_hand", None, 0.0, None), (3, 10, "purchase", "2024-07-04", 5.0, "PO3"),
        (2, 20, "on_hand", None, 2.0, None),
    ])
    out = P.alternatives(1, products, substitutes, P.availability(supply, AS_OF), 10)
    assert out["product_id"].tolist() == [4, 2, 3, 5]
    assert out["reason"].tolist() == ["substitute", "substitute", "same_category", "same_category"]
    assert out["rank"].tolist() == [1, 2, 1, 2]
    assert out["price_diff"].round(2).tolist() == [-0.1, 0.5, 0.1, -0.2]
    assert out["available_here"].tolist() == [6, 0, 0, 0] and out["available"].tolist() == [True, False, False, False]
    assert out["available_elsewhere"].tolist() == [0, 2, 0, 0]
    assert out.loc[2, "next_receipt_date"] == pd.Timestamp("2024-07-04") and out.loc[2, "next_receipt_qty"] == 5
    assert P.alternatives(1, products, substitutes, P.availability(supply, AS_OF), 10, limit=1)["product_id"].tolist() \
        == [4, 2, 3]
    with pytest.raises(ValueError, match="unknown product"):
        P.alternatives(42, products, substitutes, P.availability(supply, AS_OF), 10)


def test_shipment_delays() -> None:
    """As of 07-10. SH1: ETA 07-12 past its promise 07-11 → slipped, 1 day late. SH2: ETA 07-08 passed, not
    delivered, promised 07-15 → overdue by 2 days, not late against the promise. SH3: ETA 07-08 passed and the
    promise (none: requested 07-06) too → overdue 2, late 10 − 6 = 4 (it cannot arrive before today). SH4: on
    track. SH5: delivered (left out). SH6: no ETA → not delayed, eta_missing."""
    shipments = pd.DataFrame({
        "shipment_no": ["SH1", "SH2", "SH3", "SH4", "SH5", "SH6"],
        "order_no": ["O1", "O2", "O3", "O4", "O5", "O1"], "line_no": [1, 1, 1, 1, 1, 2],
        "customer_id": [1, 2, 3, 4, 5, 1], "carrier": ["DHL"] * 6, "tracking_no": ["T1", "T2", "T3", "T4", "T5", "T6"],
        "ship_date": pd.to_datetime(["2024-07-08"] * 6),
        "eta": pd.to_datetime(["2024-07-12", "2024-07-08", "2024-07-08", "2024-07-11", "2024-07-09", None]),
        "delivered_date": pd.to_datetime([None, None, None, None, "2024-07-09", None]),
        "status": ["in_transit"] * 4 + ["delivered", "in_transit"],
        "requested_date": pd.to_datetime(["2024-07-10", "2024-07-10", "2024-07-06", "2024-07-12", "2024-07-09",
                                          "2024-07-12"]),
        "promised_date": pd.to_datetime(["2024-07-11", "2024-07-15", None, "2024-07-12", None, None]),
        "qty": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    out = P.shipment_delays(shipments, dt.date(2024, 7, 10)).set_index("shipment_no")
    assert sorted(out.index) == ["SH1", "SH2", "SH3", "SH4", "SH6"]
    assert out["delayed"].to_dict() == {"SH3": True, "SH1": True, "SH2": True, "SH4": False, "SH6": False}
    assert out.loc["SH1", ["slipped", "overdue", "days_late", "days_overdue"]].tolist() == [True, False, 1, 0]
    assert out.loc["SH2", ["slipped", "overdue", "days_late", "days_overdue"]].tolist() == [False, True, 0, 2]
    assert out.loc["SH3", ["slipped", "overdue", "days_late", "days_overdue"]].tolist() == [True, True, 4, 2]
    assert out.loc["SH3", "expected_date"] == pd.Timestamp("2024-07-10")
    assert out.loc["SH6", "eta_missing"] and not out.loc["SH4", "delayed"]
    customers = P.delayed_customers(out.reset_index())
    assert customers["customer_id"].tolist() == [3, 1, 2] and customers["max_days_late"].tolist() == [4, 1, 0]


# --- executive -------------------------------------------------------------------------------------------------------


def _order_lines(rows: list[tuple]) -> pd.DataFrame:
    """kpis.ORDER_LINES-like rows: (product, location, requested, ordered, shipped by requested, lead time)."""
    frame = pd.DataFrame(rows, columns=["product_id", "location_id", "requested_date", "qty_ordered",
                                        "shipped_by_requested_qty", "lead_time_days"])
    frame["requested_date"] = pd.to_datetime(frame["requested_date"])
    return frame.assign(order_no=[f"O{i}" for i in range(len(frame))], line_no=1)


def test_root_causes() -> None:
    """Planned lead time 10 days → window W = the 10 days ending on the requested date R; baseline 20 days
    before W; tolerances 25 % (demand) and 20 % (lead time, so a quote above 12 days is long).

    A (P, R 03-10): PO1 due 03-08 arrived 03-15 (after R) → supplier_late (PO1).
    B (P, R 04-10): PO2 placed 04-01, due 04-20 (quoted 19 days > 12), under way at R → lead_time (PO2).
      PO1 does not count: due 03-08 and arrived 03-15, before R.
    C (Q, R 05-20): W = 05-11..05-20 with 2 units a day = 20; baseline 04-21..05-10 1 a day → expected 10 × 1 =
      10; 20 > 12.5 → forecast_too_low.
    D (Q, R 06-30): W 06-21..06-30 1 a day = 10, baseline 1 a day → 10, not > 12.5; no order → policy.
    E (P, R 03-01): shipped in full by the requested date → not a backorder. F (Q, R 07-20) not due.
    """
    lines = _order_lines([
        (1, 10, "2024-03-10", 5, 0, 10.0), (1, 10, "2024-04-10", 5, 2, 10.0), (2, 10, "2024-05-20", 4, 1, 10.0),
        (2, 10, "2024-06-30", 3, 0, 10.0), (1, 10, "2024-03-01", 5, 5, 10.0), (2, 10, "2024-07-20", 3, 0, 10.0),
    ])
    orders = pd.DataFrame({
        "product_id": [1, 1], "location_id": [10, 10], "kind": ["purchase"] * 2, "reference": ["PO1", "PO2"],
        "order_date": pd.to_datetime(["2024-02-27", "2024-04-01"]),
        "due_date": pd.to_datetime(["2024-03-08", "2024-04-20"]),
        "arrived_date": pd.to_datetime(["2024-03-15", None]),
    })
    days = pd.date_range("2024-04-21", "2024-06-30")
    y = np.where((days >= "2024-05-11") & (days <= "2024-05-20"), 2.0, 1.0)
    y[(days > "2024-05-20") & (days < "2024-06-01")] = 0.0
    demand = pd.DataFrame({"product_id": 2, "location_id": 10, "ds": days, "y": y})
    out = P.classify_root_causes(lines, orders, demand, "2024-07-01", baseline_days=20)
    assert out["order_no"].tolist() == ["O0", "O1", "O2", "O3"]
    assert out["root_cause"].tolist() == ["supplier_late", "lead_time", "forecast_too_low", "policy"]
    assert out["cause_reference"].fillna("").tolist() == ["PO1", "PO2", "", ""]
    assert out["units_short"].tolist() == [5, 3, 3, 3] and out["window_days"].tolist() == [10] * 4
    assert out.loc[2, ["window_demand", "expected_demand"]].tolist() == [20, 10]
    assert out.loc[3, ["window_demand", "expected_demand"]].tolist() == [10, 10]
    # a forecast per day given with the lines replaces the naive one: 1.5 a day → 15; 20 ≤ 18.75? no → still low;
    # 1.7 a day → 17 × 1.25 = 21.25 ≥ 20 → C becomes policy
    forecast = P.classify_root_causes(lines.assign(expected_daily_demand=1.7), orders, demand, "2024-07-01",
                                      baseline_days=20)
    assert forecast["root_cause"].tolist()[2] == "policy"
    summary = P.root_cause_summary(out)
    assert summary["root_cause"].tolist()[0] in P.ROOT_CAUSES and summary["lines"].sum() == 4
    assert set(summary["share"]) == {0.25}
    monthly = P.root_cause_summary(out, freq="M").set_index(["period", "root_cause"])
    assert monthly.loc[(pd.Timestamp("2024-05-01"), "forecast_too_low"), "share"] == 1.0
    assert len(monthly) == 4 * len(P.ROOT_CAUSES)  # March, April, May, June
    by_product = P.root_cause_summary(out, by="product_id").set_index(["product_id", "root_cause"])
    assert by_product.loc[(1, "supplier_late"), "lines"] == 1 and by_product.loc[(2, "lead_time"), "lines"] == 0
    assert by_product.loc[(2, "policy"), "share"] == 0.5

    # the demand the classification reads: per product-location from the earliest R − W − baseline + 1 to the
    # latest R of its backordered lines (P: 03-10 − 29 = 02-10 … 04-10; Q: 05-20 − 29 = 04-21 … 06-30); demand
    # cut to those days classifies the same
    windows = P.root_cause_windows(lines, "2024-07-01", baseline_days=20)
    assert windows.to_dict("list") == {
        "product_id": [1, 2], "location_id": [10, 10],
        "first_day": [pd.Timestamp("2024-02-10"), pd.Timestamp("2024-04-21")],
        "last_day": [pd.Timestamp("2024-04-10"), pd.Timestamp("2024-06-30")]}
    wider = pd.concat([demand, pd.DataFrame({"product_id": 2, "location_id": 10, "ds": pd.date_range(
        "2024-01-01", "2024-04-20"), "y": 5.0})], ignore_index=True)
    pd.testing.assert_frame_equal(P.classify_root_causes(lines, orders, wider, "2024-07-01", baseline_days=20), out)
    assert P.root_cause_windows(lines.iloc[4:5], "2024-07-01").empty


def test_backorder_trend() -> None:
    """Monthly backorder rate of category A: March 1 of 2 lines short (0.5), April none due (NaN, filled in),
    May 1 of 1 (1.0): change from March to May is unknown (April NaN), from nothing to March too."""
    lines = pd.DataFrame({
        "category": ["A", "A", "A"],
        "requested_date": pd.to_datetime(["2024-03-05", "2024-03-20", "2024-05-02"]),
        "qty_ordered": [4.0, 4.0, 2.0], "shipped_by_requested_qty": [4.0, 1.0, 0.0],
    })
    out = P.backorder_trend(lines, "2024-06-30", by="category", freq="M")
    assert out["period"].dt.strftime("%m").tolist() == ["03", "04", "05"]
    assert out["lines_due"].tolist() == [2, 0, 1] and out["backorder_rate"].tolist()[0] == 0.5
    assert np.isnan(out["backorder_rate"].iloc[1]) and out["direction"].tolist() == ["", "", ""]
    two = pd.concat([lines, lines.assign(requested_date=pd.to_datetime(["2024-04-05", "2024-04-06", "2024-04-07"]),
                                         shipped_by_requested_qty=[4.0, 4.0, 2.0])], ignore_index=True)
    out = P.backorder_trend(two, "2024-06-30", freq="M")
    # March 0.5, April 0 of 3 → 0.0 (down 0.5), May 1.0 (up 1.0)
    assert out["change"].tolist()[1:] == [-0.5, 1.0] and out["direction"].tolist() == ["", "down", "up"]
    with pytest.raises(ValueError, match="freq"):
        P.backorder_trend(lines, "2024-06-30", freq=None)
