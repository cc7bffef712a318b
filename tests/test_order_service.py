"""``analytics.order_service`` worked out by hand on tiny frames, and ``data_access.order_reads`` on the small demo
(SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics import order_service as svc
from analytics.promising import Promise, PromisePiece
from data_access import frames, order_reads
from data_access import promising as store
from etl.loader import load_directory
from jobs.backorders import run_backorders

T = pd.Timestamp


def test_customer_choices_filters_counts_and_puts_backordered_first() -> None:
    customers = pd.DataFrame({"customer_id": [1, 2, 3], "code": ["C1", "C2", "C3"],
                              "name": ["Alpha Tools", "Beta Hardware", "Gamma Hardware"],
                              "segment": ["Retail", None, "Wholesale"], "tier": ["A", "B", None]})
    backorders = pd.DataFrame({"customer_id": [3, 3, 2], "value": [10.0, 5.0, 1.0]})
    out = svc.customer_choices(customers, backorders, " hardware ")
    assert out["code"].tolist() == ["C3", "C2"]  # 2 backordered lines before 1
    assert out["backorder_lines"].tolist() == [2, 1] and out["backorder_value"].tolist() == [15.0, 1.0]
    assert out["label"].tolist() == ["C3 — Gamma Hardware (Wholesale, tier -) · 2 backordered",
                                     "C2 — Beta Hardware (-, tier B) · 1 backordered"]
    everyone = svc.customer_choices(customers, backorders.iloc[0:0], "")
    assert everyone["code"].tolist() == ["C1", "C2", "C3"] and everyone["backorder_lines"].sum() == 0
    assert svc.customer_choices(customers, backorders, "c1")["code"].tolist() == ["C1"]  # codes match too


def _history() -> pd.DataFrame:
    return pd.DataFrame({
        "order_no": ["A", "A", "B", "C"], "line_no": [1, 2, 1, 1],
        "order_date": [T("2026-01-05"), T("2026-01-05"), T("2026-03-10"), T("2026-03-20")],
        "qty_ordered": [10.0, 4.0, 5.0, 2.0], "qty_shipped": [6.0, 4.0, 0.0, 2.0], "qty_cancelled": [0.0, 0, 5, 0],
        "unit_price": [2.0, 10.0, 3.0, 1.0], "discount": [0.5, 0.0, 0.0, 0.0],
        "status": ["partial", "shipped", "cancelled", "shipped"], "priority": [0, 1, 0, 0],
        "last_ship_date": [T("2026-01-09"), T("2026-01-08"), pd.NaT, T("2026-03-21")],
    })


def test_order_summary_by_hand() -> None:
    out = svc.order_summary(_history()).set_index("order_no")
    assert out.index.tolist() == ["C", "B", "A"]  # newest first
    a = out.loc["A"]
    # value = 10 × 2 × 0.5 + 4 × 10 = 50; open: line 1 has 4 units open at 1.0 each
    assert (a["lines"], a["units_ordered"], a["units_shipped"], a["open_units"]) == (2, 14.0, 10.0, 4.0)
    assert (a["value"], a["open_value"], a["state"], a["priority"]) == (50.0, 4.0, "open", True)
    assert a["last_ship_date"] == T("2026-01-09")
    assert out.loc["B", "state"] == "cancelled" and out.loc["B", "open_units"] == 0
    assert out.loc["C", "state"] == "closed" and out.loc["C", "value"] == 2.0
    assert svc.order_summary(_history().iloc[0:0]).empty


def test_order_value_by_month_fills_gaps() -> None:
    out = svc.order_value_by_month(_history())
    assert out["month"].tolist() == [T("2026-01-01"), T("2026-02-01"), T("2026-03-01")]
    assert out["value"].tolist() == [50.0, 0.0, 17.0] and out["orders"].tolist() == [1, 0, 2]


def _backorders() -> pd.DataFrame:
    return pd.DataFrame({
        "line_id": [1, 2, 3], "order_no": ["A", "B", "C"], "line_no": [1, 1, 1],
        "requested_date": [T("2026-10-20")] * 3, "eta": [T("2026-10-25"), pd.NaT, pd.NaT],
        "previous_eta": [T("2026-10-22"), pd.NaT, pd.NaT], "eta_source": ["purchase", "none", np.nan],
        "eta_computed_at": [T("2026-10-31 06:00"), T("2026-10-31 07:00"), pd.NaT],
        "is_priority": [True, False, False], "high_value": [True, True, False],
    })


def test_eta_states_and_status() -> None:
    out = svc.with_eta_state(_backorders())
    assert out["eta_state"].tolist() == ["estimated", "no_supply", "not_estimated"]
    assert out["days_late"].iloc[0] == 5 and np.isnan(out["days_late"].iloc[1])
    assert out["eta_moved_days"].iloc[0] == 3
    assert out["marks"].tolist() == ["priority · high value", "high value", ""]
    status = svc.eta_status(_backorders())
    assert (status.lines, status.estimated, status.no_supply, status.not_estimated) == (3, 1, 1, 1)
    assert (status.oldest, status.newest) == (dt.datetime(2026, 10, 31, 6), dt.datetime(2026, 10, 31, 7))
    empty = svc.eta_status(_backorders().iloc[0:0])
    assert (empty.lines, empty.oldest) == (0, None)


def test_open_lines_with_eta() -> None:
    lines = pd.DataFrame({
        "line_id": [1, 7, 8], "order_no": ["A", "D", "E"], "line_no": [1, 1, 1],
        "requested_date": [T("2026-10-20"), T("2026-11-05"), T("2026-11-03")],
        "promised_date": [pd.NaT, T("2026-11-06"), pd.NaT],
        "qty_ordered": [5.0, 4.0, 2.0], "qty_shipped": [1.0, 0, 0], "qty_cancelled": [0.0, 1, 0],
        "unit_price": [10.0, 5.0, 1.0], "discount": [0.1, 0, 0], "priority": [0, 2, 0], "tier": ["A", "C", None],
    })
    out = svc.open_lines_with_eta(lines, _backorders().iloc[:1])
    assert out["line_id"].tolist() == [1, 8, 7]  # backordered first, then by expected date
    assert out["state"].tolist() == ["backordered", "on schedule", "on schedule"]
    assert out["expected_ship_date"].tolist() == [T("2026-10-25"), T("2026-11-03"), T("2026-11-06")]
    assert out["qty_open"].tolist() == [4.0, 2.0, 3.0] and out["open_value"].tolist() == [36.0, 2.0, 15.0]
    assert out["marks"].tolist() == ["high value", "", "priority"]
    assert svc.open_lines_with_eta(lines, _backorders().iloc[0:0])["state"].eq("on schedule").all()


def test_plan_table_describes_each_piece() -> None:
    answer = Promise(
        product_id=1, location_id=10, qty=9.0, requested_date=dt.date(2026, 11, 2), as_of=dt.date(2026, 10, 31),
        date=dt.date(2026, 11, 6), single_shipment_date=None, qty_short=0.0,
        pieces=(PromisePiece(4.0, dt.date(2026, 11, 2), "stock", 10, dt.date(2026, 10, 31)),
                PromisePiece(3.0, dt.date(2026, 11, 4), "receipt", 10, dt.date(2026, 11, 4), 0.0, "PO-1"),
                PromisePiece(2.0, dt.date(2026, 11, 6), "transfer", 20, dt.date(2026, 11, 3), 2.5)),
    )
    out = svc.plan_table(answer, {10: "DC", 20: "STORE"})
    assert out["how"].tolist() == ["from stock", "incoming receipt", "transfer from STORE, 2.5 day(s) on the way"]
    assert out["from"].tolist() == ["DC", "DC", "STORE"]
    assert out["reference"].fillna("-").tolist() == ["-", "PO-1", "-"]
    assert out["qty"].sum() == 9.0 and out["ship_date"].iloc[-1] == T("2026-11-06")


def test_availability_status_in_words() -> None:
    frame = pd.DataFrame({"available_now": [5.0, 2.0, 0.0, 0.0],
                          "available_date": [T("2026-10-31"), T("2026-10-31"), T("2026-11-04"), pd.NaT]})
    out = svc.availability_status(frame, 3.0)
    assert out["status"].tolist() == ["in stock", "partly in stock", "available from", "backordered"]
    assert out["status_text"].tolist() == ["In stock (5 available)", "Partly in stock (2 available now)",
                                           "Available from 2026-11-04", "Backordered: no date yet"]
    with pytest.raises(ValueError):
        svc.availability_status(frame, 0)


def test_promise_status_for_the_customers_quantity() -> None:
    """In stock (ships today), available from the date the whole quantity ships (partly in stock first when some
    is there now), or backordered with no date."""
    today = dt.date(2026, 10, 31)

    def answer(date: dt.date | None, qty: float = 3.0) -> Promise:
        return Promise(product_id=1, location_id=1, qty=qty, requested_date=today, as_of=today, date=date,
                       pieces=(), single_shipment_date=date, qty_short=0.0 if date else qty)

    assert svc.promise_status(answer(today), 5.0) == ("in stock", "In stock (5 available)")
    assert svc.promise_status(answer(dt.date(2026, 11, 4)), 0.0) == ("available from", "Available from 2026-11-04")
    assert svc.promise_status(answer(dt.date(2026, 11, 4)), 2.0) == (
        "partly in stock", "Partly in stock (2 now), all 3 from 2026-11-04")
    assert svc.promise_status(answer(None), 0.0) == ("backordered", "Backordered: no date yet")


def _delays() -> pd.DataFrame:
    return pd.DataFrame({
        "shipment_no": ["S1", "S2", "S3", "S4"], "carrier": ["UPS", "UPS", None, "DHL"],
        "location": ["DC", "ST", "DC", "DC"], "customer_id": [1, 2, 1, 3],
        "ship_date": [T("2026-10-20"), T("2026-10-25"), T("2026-10-28"), T("2026-10-29")],
        "slipped": [True, False, True, False], "overdue": [True, True, False, False],
        "eta_missing": [False, False, False, True], "delayed": [True, True, True, False],
        "days_late": [4, 0, 2, np.nan], "qty": [1.0, 2.0, 3.0, 4.0],
    })


def test_delay_reasons_carriers_and_filters() -> None:
    out = svc.delay_reasons(_delays())
    assert out["reason"].tolist() == [
        "carrier ETA after the promised date and ETA passed, not delivered", "ETA passed, not delivered",
        "carrier ETA after the promised date", "no ETA from the carrier"]
    carriers = svc.delays_by_carrier(_delays()).set_index("carrier")
    assert carriers.index.tolist() == ["UPS", "(none)", "DHL"]
    ups = carriers.loc["UPS"]
    assert (ups["in_transit"], ups["delayed"], ups["on_track"], ups["delayed_share"]) == (2, 2, 0, 1.0)
    assert (ups["mean_days_late"], ups["max_days_late"], ups["units"]) == (2.0, 4.0, 3.0)
    assert carriers.loc["DHL", "mean_days_late"] == 0.0 and carriers.loc["DHL", "delayed_share"] == 0.0
    assert (out["marks"] == "").all()  # no priority or tier known: nothing marked
    marked = svc.delay_reasons(_delays().assign(priority=[1, 0, 0, 2], tier=["A", "A", "B", None]))
    assert marked["marks"].tolist() == ["priority · high value", "high value", "", "priority"]
    pick = svc.filter_shipments
    assert pick(_delays(), carriers=["UPS"])["shipment_no"].tolist() == ["S1", "S2"]
    assert pick(_delays(), carriers=["(none)"])["shipment_no"].tolist() == ["S3"]
    assert pick(_delays(), locations=["DC"], start=dt.date(2026, 10, 21))["shipment_no"].tolist() == ["S3", "S4"]
    assert pick(_delays(), end=dt.date(2026, 10, 28), delayed_only=True)["shipment_no"].tolist() == ["S1", "S2",
                                                                                                       "S3"]


def _trend() -> pd.DataFrame:
    return pd.DataFrame({
        "category": ["X", "X", "Y", "Y"], "period": [T("2026-09-01"), T("2026-10-01")] * 2,
        "lines_due": [10, 20, 5, 0], "lines_backordered": [1, 5, 1, 0], "units_due": [100.0, 200, 50, 0],
        "units_short": [10.0, 30, 5, 0], "backorder_rate": [0.1, 0.25, 0.2, np.nan],
        "previous_rate": [np.nan, 0.1, np.nan, 0.2], "change": [np.nan, 0.15, np.nan, np.nan],
        "direction": ["", "up", "", ""],
    })


def test_rate_summary_and_latest_change() -> None:
    summary = svc.rate_summary(_trend())
    assert (summary.lines_due, summary.lines_backordered, summary.units_short) == (35, 7, 45.0)
    assert summary.rate == pytest.approx(0.2) and summary.unit_rate == pytest.approx(45 / 350)
    assert summary.last_period == T("2026-10-01")
    assert summary.last_rate == pytest.approx(0.25) and summary.previous_rate == pytest.approx(2 / 15)
    assert summary.change == pytest.approx(0.25 - 2 / 15)
    single = svc.rate_summary(_trend()[_trend()["period"] == T("2026-10-01")])
    assert single.previous_rate is None and single.change is None
    latest = svc.latest_change(_trend(), "category")
    assert latest["category"].tolist() == ["X", "Y"] and latest["direction"].tolist() == ["up", ""]


def test_cause_lines_and_first_available() -> None:
    classified = pd.DataFrame({"root_cause": ["policy", "supplier_late", "policy"], "units_short": [1.0, 5, 3],
                               "requested_date": [T("2026-10-01")] * 3, "order_no": ["A", "B", "C"]})
    assert svc.cause_lines(classified, "policy")["order_no"].tolist() == ["C", "A"]
    marked = svc.cause_lines(classified.assign(priority=[0, 0, 1], tier=["A", "B", "C"]), "policy")
    assert marked["marks"].tolist() == ["priority", "high value"]
    assert svc.cause_lines(classified, "lead_time").empty
    with pytest.raises(ValueError):
        svc.cause_lines(classified, "weather")
    options = pd.DataFrame({"sku": ["S1", "S2", "S3"], "available_here": [0.0, 0.0, 2.0],
                            "available_elsewhere": [5.0, 0.0, 0.0]})
    assert svc.first_available(options)["sku"] == "S3"
    assert svc.first_available(options.iloc[:2])["sku"] == "S1"
    assert svc.first_available(options.iloc[1:2]) is None


def test_order_reads_on_the_small_demo(engine, small_demo_dir) -> None:
    load_directory(engine, small_demo_dir, kind="demo")
    as_of = dt.date(2026, 10, 31)
    assert order_reads.last_eta_run(engine) is None
    run_backorders(engine, as_of, notify=False, user="tester")
    ran_at, user = order_reads.last_eta_run(engine)
    assert user == "tester" and isinstance(ran_at, dt.datetime)

    customers = order_reads.customers(engine)
    assert len(customers) == customers["code"].nunique() > 0 and customers["code"].is_monotonic_increasing

    backorders = store.backorder_status(engine, as_of)
    counts = backorders.groupby("customer")["line_id"].size()
    best = counts[counts == counts.max()].index.min()  # most backordered lines, then the lowest code
    chosen = order_reads.customer_with_most_backorders(engine, as_of)
    assert customers.set_index("customer_id").loc[chosen, "code"] == best
    assert order_reads.customer_with_most_backorders(engine, dt.date(2020, 1, 1)) is None

    customer_id = int(customers.set_index("code").loc[best, "customer_id"])
    start = dt.date(2026, 5, 1)
    history = order_reads.customer_order_lines(engine, customer_id, start, as_of)
    lines = frames.order_lines(engine, as_of)
    lines = lines[(lines["customer_id"] == customer_id) & (lines["order_date"] >= T(start))]
    assert set(zip(history["order_no"], history["line_no"], strict=True)) == set(
        zip(lines["order_no"], lines["line_no"], strict=True))
    assert history["order_date"].is_monotonic_decreasing
    merged = history.merge(lines, on=["order_no", "line_no"], suffixes=("", "_frame"))
    assert (merged["qty_ordered"] == merged["qty_ordered_frame"]).all()
    shipped = merged[merged["last_ship_date_frame"].notna()]
    assert (shipped["last_ship_date"] == shipped["last_ship_date_frame"]).all()
    assert order_reads.customer_order_lines(engine, customer_id, as_of + dt.timedelta(days=1),
                                            as_of + dt.timedelta(days=30)).empty
