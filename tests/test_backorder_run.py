"""The backorder run, promise() and the promising reads and commands on a hand-built company and on the small demo
(both backends, through the ``engine`` fixture)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select, update

from analytics.promising import availability, backorder_trend, classify_root_causes, root_cause_summary
from data_access import frames, notifications, schema
from data_access import promising as store
from data_access.config import load_settings
from data_access.replenishment import daily_demand
from etl.__main__ import main as etl_main
from etl.loader import load_directory
from jobs.__main__ import main as jobs_main
from jobs.backorders import dedup_key, delay_messages, run_backorders

AS_OF = dt.date(2024, 7, 1)  # the last day of data (SO-D's order date)
SETTINGS = dataclasses.replace(load_settings(), sales_email="sales@test.example",
                               logistics_email="logistics@test.example", eta_tolerance_days=2,
                               default_transfer_days=3.0)


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)


@pytest.fixture
def company(tmp_path: Path) -> Path:
    """Two locations (WH, ST), three customers (CA tier A, CB tier B, CC tier C without e-mail), four products.

    P1 at WH: 4 on hand (the 4 received of PO-1); PO-1 ordered 06-01, expected 06-12, 14 ordered, 4 received
    on 06-20 (partial: 10 still open, overdue → available on 07-02); PO-2 ordered 06-22, expected 07-15, 20.
    Open P1 lines at WH: SO-A/1 CA priority 1 (ordered 06-20, requested 06-25) 6; SO-B/1 CB (06-10, 06-15) 8;
    SO-C/1 CC (06-05, 06-10) 5; SO-D/1 CA (07-01, requested 07-05, not due) 2.
    P1 at ST: 10 on hand, nothing ordered. P2 (substitute of P1) 6 at WH; P3 (same category, price 11 vs 10) 3 at
    WH; P4 (other category) 9 at WH.
    Shipments in transit: SH-E (CB, ETA 07-03 past its promise 07-02), SH-F (CA, on track), SH-G (CC, ETA 06-28
    passed, promised 07-10: overdue).
    """
    folder = tmp_path / "company"
    folder.mkdir()
    _write(folder, "locations", [{"code": "WH", "name": "Warehouse", "kind": "warehouse"},
                                 {"code": "ST", "name": "Store", "kind": "store"}])
    _write(folder, "suppliers", [{"code": "S1", "name": "Supplier", "lead_time_mean_days": 10}])
    _write(folder, "customers", [
        {"code": "CA", "name": "Alpha", "segment": "Industrial", "tier": "A", "email": "alpha@example.com"},
        {"code": "CB", "name": "Beta", "segment": "Retail", "tier": "B", "email": "beta@example.com"},
        {"code": "CC", "name": "Gamma", "segment": "Retail", "tier": "C"},
    ])
    product = {"make_or_buy": "buy", "supplier": "S1", "lead_time_days": 10, "unit_cost": 5}
    _write(folder, "products", [
        {**product, "sku": "P1", "name": "Valve one", "category": "Valves", "unit_price": 10},
        {**product, "sku": "P2", "name": "Valve two", "category": "Valves", "unit_price": 14},
        {**product, "sku": "P3", "name": "Valve three", "category": "Valves", "unit_price": 11},
        {**product, "sku": "P4", "name": "Heater", "category": "Heating", "unit_price": 10},
    ])
    _write(folder, "product_substitutes", [{"product": "P1", "substitute": "P2", "rank": 1}])
    line = {"line_no": 1, "product": "P1", "location": "WH", "unit_price": 10, "qty_shipped": 0}
    _write(folder, "sales_order_lines", [
        {**line, "order_no": "SO-A", "customer": "CA", "order_date": "2024-06-20", "requested_date": "2024-06-25",
         "qty_ordered": 6, "status": "open", "priority": 1},
        {**line, "order_no": "SO-B", "customer": "CB", "order_date": "2024-06-10", "requested_date": "2024-06-15",
         "qty_ordered": 8, "status": "open"},
        {**line, "order_no": "SO-C", "customer": "CC", "order_date": "2024-06-05", "requested_date": "2024-06-10",
         "qty_ordered": 5, "status": "open"},
        {**line, "order_no": "SO-D", "customer": "CA", "order_date": "2024-07-01", "requested_date": "2024-07-05",
         "qty_ordered": 2, "status": "open"},
        {**line, "order_no": "SO-E", "customer": "CB", "product": "P3", "order_date": "2024-06-27",
         "requested_date": "2024-07-02", "promised_date": "2024-07-02", "qty_ordered": 1, "qty_shipped": 1,
         "status": "shipped"},
        {**line, "order_no": "SO-F", "customer": "CA", "product": "P3", "order_date": "2024-06-29",
         "requested_date": "2024-07-05", "promised_date": "2024-07-05", "qty_ordered": 1, "qty_shipped": 1,
         "status": "shipped"},
        {**line, "order_no": "SO-G", "customer": "CC", "product": "P4", "order_date": "2024-06-24",
         "requested_date": "2024-07-10", "promised_date": "2024-07-10", "qty_ordered": 1, "qty_shipped": 1,
         "status": "shipped"},
    ])
    ship = {"line_no": 1, "qty": 1, "status": "in_transit", "carrier": "DHL"}
    _write(folder, "shipments", [
        {**ship, "shipment_no": "SH-E", "order_no": "SO-E", "tracking_no": "JD1", "ship_date": "2024-06-28",
         "eta": "2024-07-03"},
        {**ship, "shipment_no": "SH-F", "order_no": "SO-F", "tracking_no": "JD2", "ship_date": "2024-06-30",
         "eta": "2024-07-03"},
        {**ship, "shipment_no": "SH-G", "order_no": "SO-G", "tracking_no": "JD3", "ship_date": "2024-06-25",
         "eta": "2024-06-28"},
    ])
    _write(folder, "purchase_order_lines", [
        {"po_no": "PO-1", "line_no": 1, "supplier": "S1", "product": "P1", "location": "WH", "order_date": "2024-06-01",
         "expected_date": "2024-06-12", "received_date": "2024-06-20", "qty_ordered": 14, "qty_received": 4,
         "status": "partial"},
        {"po_no": "PO-2", "line_no": 1, "supplier": "S1", "product": "P1", "location": "WH", "order_date": "2024-06-22",
         "expected_date": "2024-07-15", "qty_ordered": 20, "status": "open"},
    ])
    stock = [("P1", "WH", 4, "receipt", "2024-06-20 09:00:00"), ("P1", "ST", 10, "adjustment", "2024-01-02 08:00:00"),
             ("P2", "WH", 6, "adjustment", "2024-01-02 08:00:00"), ("P3", "WH", 5, "adjustment", "2024-01-02 08:00:00"),
             ("P3", "WH", -2, "shipment", "2024-06-30 10:00:00"), ("P4", "WH", 10, "adjustment", "2024-01-02 08:00:00"),
             ("P4", "WH", -1, "shipment", "2024-06-25 10:00:00")]
    _write(folder, "inventory_movements", [
        {"movement_no": f"M{i}", "ts": ts, "product": sku, "location": loc, "qty": qty, "kind": kind, "unit_cost": 5}
        for i, (sku, loc, qty, kind, ts) in enumerate(stock)
    ])
    return folder


def _ids(engine: Engine) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(product ids by sku, location ids by code, order line ids by order number)."""
    with engine.connect() as connection:
        products = dict(connection.execute(select(schema.dim_product.c.sku, schema.dim_product.c.id)).all())
        locations = dict(connection.execute(select(schema.dim_location.c.code, schema.dim_location.c.id)).all())
        lines = dict(connection.execute(select(schema.fact_sales_order_line.c.order_no,
                                               schema.fact_sales_order_line.c.id)).all())
    return products, locations, lines


def _outbox(engine: Engine) -> pd.DataFrame:
    return notifications.recent(engine, limit=1000).sort_values("id").reset_index(drop=True)


def _move_po(engine: Engine, po_no: str, expected: dt.date) -> None:
    """A purchase order moves (what the next ERP load would say)."""
    po = schema.fact_purchase_order_line
    with engine.begin() as connection:
        connection.execute(update(po).where(po.c.po_no == po_no).values(expected_date=expected))


def test_backorder_run(engine: Engine, company: Path) -> None:
    """ETAs worked out by hand, notices to the right people, and no duplicates on re-runs.

    P1 at WH, as of 07-01. Supply: stock 4 (day 0), PO-1's open 10 (expected 06-12, overdue → 07-02), PO-2 20
    on 07-15: cumulative 4, 14, 34. Queue (priority, tier, order date): SO-A 6 (priority), SO-D 2 (tier A),
    SO-B 8 (B), SO-C 5 (C) → D = 6, 8, 16, 21:
      SO-A (0, 6]   4 stock + 2 of PO-1 → ETA 07-02 (PO-1)
      SO-D (6, 8]   PO-1, but requested 07-05 → 07-05 (not a backorder: not stored)
      SO-B (8, 16]  6 of PO-1 + 2 of PO-2 → 07-15 (PO-2)
      SO-C (16, 21] PO-2 → 07-15
    Notices: SO-A customer + sales (marked priority), SO-B customer + sales, SO-C sales only (no e-mail);
    SH-E (ETA 07-03 > promise 07-02) customer + logistics; SH-G (ETA 06-28 passed) logistics only → 8.
    """
    load_directory(engine, company, today=dt.date(2024, 7, 2))
    products, locations, lines = _ids(engine)
    first = run_backorders(engine, settings=SETTINGS)
    assert first.as_of == AS_OF
    assert first.counts == {"open_lines": 4, "backorders": 3, "new": 3, "moved": 0, "kept": 0, "removed": 0,
                            "delayed_shipments": 2, "notifications": 8}
    allocated = first.allocation.set_index("order_no")
    assert allocated["allocation_rank"].to_dict() == {"SO-A": 1, "SO-D": 2, "SO-B": 3, "SO-C": 4}
    assert allocated["eta"].dt.date.to_dict() == {"SO-A": dt.date(2024, 7, 2), "SO-D": dt.date(2024, 7, 5),
                                                  "SO-B": dt.date(2024, 7, 15), "SO-C": dt.date(2024, 7, 15)}
    assert allocated.loc["SO-A", "qty_from_stock"] == 4

    etas = store.stored_etas(engine).set_index("line_id")
    assert sorted(etas.index) == sorted([lines["SO-A"], lines["SO-B"], lines["SO-C"]])
    row = etas.loc[lines["SO-A"]]
    assert (row["eta"].date(), row["source"], row["reference"], bool(row["priority"]), row["allocation_rank"],
            row["qty_open"]) == (dt.date(2024, 7, 2), "purchase", "PO-1", True, 1, 6)
    assert etas.loc[lines["SO-B"], "eta"].date() == dt.date(2024, 7, 15) and pd.isna(etas["previous_eta"]).all()
    assert etas.loc[lines["SO-C"], "reference"] == "PO-2"

    sent = _outbox(engine)
    assert sorted(zip(sent["dedup_key"], sent["recipient"], strict=True)) == sorted([
        ("backorder:SO-A:1:customer", "alpha@example.com"), ("backorder:SO-A:1:sales", "sales@test.example"),
        ("backorder:SO-B:1:customer", "beta@example.com"), ("backorder:SO-B:1:sales", "sales@test.example"),
        ("backorder:SO-C:1:sales", "sales@test.example"),
        ("delay:SH-E:2024-07-03:customer", "beta@example.com"), ("delay:SH-E:2024-07-03:logistics",
                                                                 "logistics@test.example"),
        ("delay:SH-G:2024-06-28:logistics", "logistics@test.example"),
    ])
    by_key = sent.set_index("dedup_key")
    assert by_key.loc["backorder:SO-A:1:sales", "subject"].startswith("[PRIORITY] Backorder: order SO-A")
    assert "expected to ship 2024-07-02" in by_key.loc["backorder:SO-A:1:customer", "body"]
    assert "no e-mail on file" in by_key.loc["backorder:SO-C:1:sales", "body"]
    assert "overdue" in by_key.loc["delay:SH-G:2024-06-28:logistics", "subject"]
    assert "JD1" in by_key.loc["delay:SH-E:2024-07-03:customer", "body"]
    assert "(tier C)" in by_key.loc["delay:SH-G:2024-06-28:logistics", "body"]
    assert "Follow up first" not in by_key.loc["delay:SH-G:2024-06-28:logistics", "body"]

    # a re-run: nothing new, nothing moved, no notice enqueued twice
    second = run_backorders(engine, settings=SETTINGS)
    assert (second.counts["new"], second.counts["moved"], second.counts["kept"], second.notifications) == (0, 0, 3, 0)
    assert len(_outbox(engine)) == 8

    # PO-2 slips ten days: SO-B and SO-C move (07-15 → 07-25, beyond 2 days): customer (SO-B) and sales notices
    _move_po(engine, "PO-2", dt.date(2024, 7, 25))
    third = run_backorders(engine, settings=SETTINGS)
    assert (third.counts["moved"], third.counts["kept"], third.notifications) == (2, 1, 3)
    etas = store.stored_etas(engine).set_index("line_id")
    assert etas.loc[lines["SO-B"], "eta"].date() == dt.date(2024, 7, 25)
    assert etas.loc[lines["SO-B"], "previous_eta"].date() == dt.date(2024, 7, 15)
    new_keys = set(_outbox(engine)["dedup_key"]) - set(sent["dedup_key"])
    assert new_keys == {"eta:SO-B:1@2024-07-25:customer", "eta:SO-B:1@2024-07-25:sales", "eta:SO-C:1@2024-07-25:sales"}
    assert "was 2024-07-15" in _outbox(engine).set_index("dedup_key").loc["eta:SO-B:1@2024-07-25:customer", "body"]
    assert run_backorders(engine, settings=SETTINGS).notifications == 0

    # one more day (within the tolerance): the announced ETA stays, nobody is told
    _move_po(engine, "PO-2", dt.date(2024, 7, 26))
    fourth = run_backorders(engine, settings=SETTINGS)
    assert (fourth.counts["moved"], fourth.notifications) == (0, 0)
    assert store.stored_etas(engine).set_index("line_id").loc[lines["SO-B"], "eta"].date() == dt.date(2024, 7, 25)
    # a bigger move back is a new ETA: a new key
    _move_po(engine, "PO-2", dt.date(2024, 7, 18))
    assert run_backorders(engine, settings=SETTINGS).counts["moved"] == 2
    assert "eta:SO-C:1@2024-07-18:sales" in set(_outbox(engine)["dedup_key"])

    # SO-A ships in full: its ETA row goes; notify=False stores without enqueueing
    lines_table = schema.fact_sales_order_line
    with engine.begin() as connection:
        connection.execute(update(lines_table).where(lines_table.c.order_no == "SO-A")
                           .values(qty_shipped=6, status="shipped"))
    before = len(_outbox(engine))
    quiet = run_backorders(engine, settings=SETTINGS, notify=False)
    assert quiet.counts["removed"] == 1 and quiet.notifications == 0 and len(_outbox(engine)) == before
    assert lines["SO-A"] not in set(store.stored_etas(engine)["line_id"])

    with engine.connect() as connection:
        audit = connection.execute(select(schema.audit_log.c.action)
                                   .where(schema.audit_log.c.action == "backorders.eta_run")).all()
    assert len(audit) == 7
    with pytest.raises(ValueError, match="unknown priority"):
        run_backorders(engine, settings=SETTINGS, priority=["vip"])


def test_promise_and_reads(engine: Engine, company: Path) -> None:
    """promise() on the database, ATP, alternatives, backorder status, shipment delays and root causes.

    P1 at WH: cumulative d0 4 − 19 past due (6 + 8 + 5) = −15; d1 (PO-1) −5; d4 (SO-D) −7; d14 (PO-2) 13 →
    available 0 until 07-14, 13 from 07-15. ST has 10 on hand and nothing promised.
    """
    load_directory(engine, company, today=dt.date(2024, 7, 2))
    products, locations, lines = _ids(engine)
    p1, wh, st = products["P1"], locations["WH"], locations["ST"]
    table = store.atp_table(engine, p1, wh, horizon_days=20).set_index("period")
    assert table.loc[pd.Timestamp("2024-07-01"), "cumulative"] == -15
    assert table.loc[pd.Timestamp("2024-07-14"), "available"] == 0
    assert table.loc[pd.Timestamp("2024-07-15"), ["cumulative", "available", "atp"]].tolist() == [13, 13, 13]

    # no lane stored: the default 3 days from ST beats waiting for PO-2 (07-15)
    result = store.promise(engine, p1, wh, 5, AS_OF, settings=SETTINGS)
    assert result.date == dt.date(2024, 7, 4) and result.single_shipment_date == dt.date(2024, 7, 15)
    assert [(p.qty, p.source, p.location_id) for p in result.pieces] == [(5, "transfer", st)]
    store.set_transfer_lane(engine, st, wh, 1.0, user="planner")
    assert store.promise(engine, p1, wh, 5, AS_OF, settings=SETTINGS).date == dt.date(2024, 7, 2)
    assert store.transfer_lanes(engine).to_dict("records") == [
        {"from_location_id": st, "to_location_id": wh, "transfer_days": 1.0}]
    store.set_transfer_lane(engine, st, wh, 2.0, user="planner")  # an update, not a second row
    assert store.transfer_lanes(engine)["transfer_days"].tolist() == [2.0]
    waiting = store.promise(engine, p1, wh, 5, AS_OF, transfers=False, settings=SETTINGS)
    assert waiting.date == dt.date(2024, 7, 15) and waiting.pieces[0].reference == "PO-2"
    # 20: ST's 10 are not enough and PO-2 brings 13 on 07-15: all of the home's 13, and 7 moved from ST (07-03)
    big = store.promise(engine, p1, wh, 20, AS_OF, settings=SETTINGS)
    assert big.date == dt.date(2024, 7, 15) and big.split
    assert [(p.qty, p.source, p.ship_date) for p in big.pieces] == [
        (7, "transfer", dt.date(2024, 7, 3)), (13, "receipt", dt.date(2024, 7, 15))]
    none = store.promise(engine, products["P4"], st, 1, AS_OF, settings=SETTINGS, transfers=False)
    assert none.date is None and none.qty_short == 1
    with pytest.raises(ValueError, match="unknown product"):
        store.promise(engine, 999_999, wh, 1, AS_OF)
    with pytest.raises(ValueError, match="unknown location"):
        store.promise(engine, p1, 999_999, 1, AS_OF)
    with pytest.raises(ValueError, match="qty"):
        store.promise(engine, p1, wh, 0, AS_OF)
    with pytest.raises(ValueError, match="two different"):
        store.set_transfer_lane(engine, wh, wh, 1, user="planner")

    supply = store.supply_demand(engine, AS_OF, [p1])
    assert supply.groupby(["location_id", "kind"])["qty"].sum().to_dict() == {
        (st, "on_hand"): 10, (wh, "demand"): 21, (wh, "on_hand"): 4, (wh, "purchase"): 30}
    everything = store.supply_demand(engine, AS_OF)
    assert everything[everything["product_id"] == p1]["qty"].sum() == supply["qty"].sum()

    available = store.product_availability(engine, [p1]).set_index("location")
    assert available.loc["ST", ["on_hand", "available_now", "sku"]].tolist() == [10, 10, "P1"]
    assert available.loc["WH", "next_receipt_date"] == pd.Timestamp("2024-07-02")  # PO-1's overdue rest
    assert available.loc["WH", ["available_now", "scheduled_receipts"]].tolist() == [0, 30]

    alternatives = store.alternatives_for(engine, p1, wh)
    assert alternatives["sku"].tolist() == ["P2", "P3"]  # substitute first; P4 is another category
    assert alternatives["reason"].tolist() == ["substitute", "same_category"]
    assert alternatives["available_here"].tolist() == [6, 3]

    run_backorders(engine, settings=SETTINGS, notify=False)
    status = store.backorder_status(engine).set_index("order_no")
    assert sorted(status.index) == ["SO-A", "SO-B", "SO-C"]
    assert status.loc["SO-C", "age_days"] == 21 and status.loc["SO-B", "value"] == 80
    assert status.loc["SO-B", "eta"] == pd.Timestamp("2024-07-15") and status.loc["SO-A", "is_priority"]
    customer = store.backorder_status(engine, customer_id=int(status.loc["SO-A", "customer_id"]))
    assert customer["order_no"].tolist() == ["SO-A"]

    delays = store.shipment_delays(engine).set_index("shipment_no")
    assert delays["delayed"].to_dict() == {"SH-E": True, "SH-G": True, "SH-F": False}
    assert delays.loc["SH-E", "email"] == "beta@example.com" and delays.loc["SH-E", "carrier"] == "DHL"

    # SO-B (requested 06-15): PO-1 was due 06-12 and came 06-20 → supplier late.
    # SO-A (requested 06-25): PO-2 was placed 06-22 for 07-15 (23 days quoted, planned 10) → lead time.
    causes = store.root_causes(engine).set_index("order_no")
    assert causes.loc["SO-B", "root_cause"] == "supplier_late" and causes.loc["SO-B", "cause_reference"] == "PO-1"
    assert causes.loc["SO-A", "root_cause"] == "lead_time" and causes.loc["SO-A", "cause_reference"] == "PO-2"
    summary = root_cause_summary(causes.reset_index())
    assert summary["lines"].sum() == len(causes)


def test_contact_log(engine: Engine, company: Path) -> None:
    """Contacts are logged per order (and line) with an audit row; bad input is refused."""
    load_directory(engine, company, today=dt.date(2024, 7, 2))
    first = store.add_contact(engine, "SO-B", "Called: customer accepts 07-15.", "sales", channel="phone", line_no=1)
    second = store.add_contact(engine, "SO-B", "Offered P2 instead.", "sales", channel="email")
    store.add_contact(engine, "SO-C", "Left a voicemail.", "sales", channel="phone")
    log = store.contact_log(engine, "SO-B")
    assert log["id"].tolist() == [second, first] and log["line_no"].tolist()[1] == 1
    assert log["channel"].tolist() == ["email", "phone"] and log["user_name"].unique().tolist() == ["sales"]
    assert len(store.contact_log(engine)) == 3 and len(store.contact_log(engine, limit=1)) == 1
    with engine.connect() as connection:
        audit = connection.execute(select(schema.audit_log.c.entity_key, schema.audit_log.c.user_name)
                                   .where(schema.audit_log.c.action == "order.contact")).all()
    assert sorted(tuple(a) for a in audit) == [("SO-B", "sales"), ("SO-B/1", "sales"), ("SO-C", "sales")]
    with pytest.raises(ValueError, match="unknown order"):
        store.add_contact(engine, "SO-X", "hello", "sales")
    with pytest.raises(ValueError, match="no line 7"):
        store.add_contact(engine, "SO-B", "hello", "sales", line_no=7)
    with pytest.raises(ValueError, match="channel"):
        store.add_contact(engine, "SO-B", "hello", "sales", channel="fax")
    with pytest.raises(ValueError, match="empty"):
        store.add_contact(engine, "SO-B", "  ", "sales")
    assert len(store.contact_log(engine)) == 3


def test_command_line(engine: Engine, company: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m jobs backorders`` runs the same job; a second run enqueues nothing."""
    load_directory(engine, company, today=dt.date(2024, 7, 2))
    url = engine.url.render_as_string(hide_password=False)
    assert jobs_main(["backorders", "--database-url", url, "--priority", "tier,order_date"]) == 0
    out = capsys.readouterr().out
    assert "backorders as of 2024-07-01" in out and "new 3" in out
    queued = notifications.counts(engine)["pending"]
    assert queued > 0
    assert jobs_main(["backorders", "--database-url", url, "--tolerance-days", "0"]) == 0
    assert notifications.counts(engine)["pending"] == queued
    assert jobs_main(["backorders", "--database-url", url, "--priority", "nonsense"]) == 2
    assert dedup_key("x" * 300).startswith("x" * 150) and len(dedup_key("x" * 300)) <= 200


def test_small_demo(engine: Engine, small_demo_dir: Path) -> None:
    """On the small demo: ETAs never before as_of and never before the requested date, a re-run changes nothing,
    promise() agrees with ATP (a promise within today's ATP ships today) and every plan adds up."""
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    first = run_backorders(engine, settings=SETTINGS)
    assert first.counts["backorders"] > 0 and first.counts["new"] == first.counts["backorders"]
    allocation = first.allocation
    known = allocation["eta"].notna()
    assert (allocation.loc[known, "eta"] >= pd.Timestamp(first.as_of)).all()
    assert (allocation.loc[known, "eta"] >= allocation.loc[known, "requested_date"]).all()
    assert (allocation["qty_covered"] <= allocation["qty_open"] + 1e-9).all()
    second = run_backorders(engine, settings=SETTINGS)
    assert second.notifications == 0 and second.counts["moved"] == 0 and second.counts["new"] == 0

    supply = store.supply_demand(engine, first.as_of)
    # on hand (the snapshot before as_of + the ledger after it) is the whole ledger's sum up to the end of as_of
    ledger = frames.ledger(engine, first.as_of).groupby(["product_id", "location_id"])["qty"].sum()
    on_hand = supply[supply["kind"] == "on_hand"].groupby(["product_id", "location_id"])["qty"].sum()
    pd.testing.assert_series_equal(on_hand.reindex(ledger.index).fillna(0.0), ledger.astype(float),
                                   check_names=False, check_exact=False)
    product, location = (int(i) for i in ledger.index[0])
    with engine.begin() as connection:  # a scan recorded after the snapshots of as_of were built still counts
        connection.execute(insert(schema.fact_inventory_movement).values(
            movement_no="SCAN-1", ts=dt.datetime.combine(first.as_of, dt.time(23, 0)), product_id=product,
            location_id=location, qty=7.0, kind="adjustment", source="scan"))
    again = store.supply_demand(engine, first.as_of, [product])
    again = again[(again["kind"] == "on_hand") & (again["location_id"] == location)]
    assert again["qty"].sum() == pytest.approx(ledger.iloc[0] + 7)
    now = availability(supply, first.as_of)
    for row in now.head(25).itertuples(index=False):
        qty = max(row.available_now, 1.0)
        result = store.promise(engine, int(row.product_id), int(row.location_id), qty, first.as_of,
                               as_of=first.as_of, settings=SETTINGS, transfers=False)
        if row.available_now >= 1:
            assert result.date == first.as_of
        if result.date is not None:
            assert sum(p.qty for p in result.pieces) == pytest.approx(qty)
            assert all(p.ship_date <= result.date for p in result.pieces)
        else:
            assert result.qty_short > 0


def _root_causes_from_every_line(engine: Engine, as_of: dt.date, since: dt.date | None) -> pd.DataFrame:
    """The root causes as first built: every order line of the period (``frames.order_lines``) and the daily
    demand of every product-location over the whole span, classified by the same rules (the reference)."""
    lines = frames.order_lines(engine, as_of, since)
    lead = store.product_catalog(engine).set_index("product_id")["lead_time_days"]
    lines["lead_time_days"] = lines["product_id"].map(lead)
    window = max(7, int(math.ceil(lead.max())))
    start = pd.Timestamp(lines["requested_date"].min()).date() - dt.timedelta(days=window + 90)
    demand = daily_demand(engine, start, as_of)
    return classify_root_causes(lines, store.supply_orders(engine, as_of), demand, as_of)


def test_root_causes_and_trend_pinned_on_the_small_demo(engine: Engine, small_demo_dir: Path) -> None:
    """Root causes read only the lines short at their requested date and the demand of their windows: the same
    classified lines as reading every line and all demand (12 months, 3 months, all history), and these counts."""
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    as_of = store.planning_date(engine)
    key = ["order_no", "line_no"]
    for since in (as_of - dt.timedelta(days=365), as_of - dt.timedelta(days=91), None):
        found = store.root_causes(engine, as_of, since)
        assert found[key].equals(found.sort_values(key)[key])  # by order and line number
        expected = _root_causes_from_every_line(engine, as_of, since).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(found.reset_index(drop=True), expected)
    year = store.root_causes(engine, as_of, as_of - dt.timedelta(days=365))
    assert as_of == dt.date(2026, 10, 31)
    assert year["root_cause"].value_counts().to_dict() == {"supplier_late": 213, "forecast_too_low": 95, "policy": 13}
    assert year["units_short"].sum() == pytest.approx(1958.0)

    # the monthly trend from the counts the database sums equals the one from every order line
    since = as_of - dt.timedelta(days=365)
    lines = frames.order_lines(engine, as_of, since)
    for by in ("category", "segment", None):
        counted = store.backorder_trend_from_counts(engine, as_of, since, by, "M")
        assert counted is not None and len(counted) > 0
        pd.testing.assert_frame_equal(
            counted, backorder_trend(lines, as_of, by=() if by is None else by, freq="M"), check_dtype=False)
    assert store.backorder_trend_from_counts(engine, as_of, since, "category", "W") is None
    assert store.backorder_trend_from_counts(engine, as_of, since, "sku_family", "M") is None


def test_delay_notice_marks_priority_and_high_value() -> None:
    """The logistics manager's notice of a delayed shipment of a priority line for a tier-A customer is marked
    [PRIORITY] and says to follow it up first; the customer's notice carries no internal marks."""
    shipment = pd.DataFrame({
        "shipment_no": ["SH-1"], "order_no": ["SO-1"], "line_no": [1], "customer": ["CA"], "customer_name": ["Alpha"],
        "email": ["alpha@example.com"], "qty": [2.0], "sku": ["P1"], "product_name": ["Valve"], "carrier": ["DHL"],
        "tracking_no": ["JD9"], "ship_date": [pd.Timestamp("2024-06-28")], "promise": [pd.Timestamp("2024-07-01")],
        "eta": [pd.Timestamp("2024-07-04")], "delayed": [True], "overdue": [False], "days_overdue": [0],
        "days_late": [3], "tier": ["A"], "priority": [1],
    })
    messages = {m["dedup_key"]: m for m in delay_messages(shipment, AS_OF, SETTINGS)}
    logistics = messages["delay:SH-1:2024-07-04:logistics"]
    assert logistics["subject"].startswith("[PRIORITY] Delayed shipment SH-1 (DHL JD9): 3 day(s) late")
    assert "Follow up first: a priority order and a high-value customer." in logistics["body"]
    customer = messages["delay:SH-1:2024-07-04:customer"]
    assert "PRIORITY" not in customer["subject"] + customer["body"] and "tier" not in customer["body"]


def _eta_runs(engine: Engine) -> int:
    audit = schema.audit_log
    with engine.connect() as connection:
        return len(connection.execute(select(audit.c.id).where(audit.c.action == "backorders.eta_run")).all())


def test_etl_load_reestimates_etas(engine: Engine, company: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m etl load`` re-estimates the ETAs after a load that changed purchase or production orders: the
    first load stores them; a later file moving PO-2 from 07-15 to 07-25 moves SO-B's and SO-C's ETAs (the lines
    PO-2 serves) and queues the notices; the same file again changes nothing and runs nothing; --no-backorders
    leaves the ETAs to the job; a failing run leaves the load committed and exits with 1."""
    url = engine.url.render_as_string(hide_password=False)
    assert etl_main(["--database-url", url, "load", str(company)]) == 0
    assert "re-estimating backorder ETAs" in capsys.readouterr().out
    etas = store.backorder_status(engine).set_index("order_no")["eta"]
    assert etas.to_dict() == {"SO-A": pd.Timestamp("2024-07-02"), "SO-B": pd.Timestamp("2024-07-15"),
                              "SO-C": pd.Timestamp("2024-07-15")}
    queued = notifications.counts(engine)["pending"]
    assert queued > 0 and _eta_runs(engine) == 1

    moved = tmp_path / "po_moved"
    moved.mkdir()
    rows = pd.read_csv(company / "purchase_order_lines.csv")
    rows.loc[rows["po_no"] == "PO-2", "expected_date"] = "2024-07-25"
    rows.to_csv(moved / "purchase_order_lines.csv", index=False)
    assert etl_main(["--database-url", url, "load", str(moved)]) == 0
    out = capsys.readouterr().out
    assert "purchase_order_lines changed" in out and "moved 2" in out
    status = store.backorder_status(engine).set_index("order_no")
    assert status.loc["SO-B", "eta"] == pd.Timestamp("2024-07-25")
    assert status.loc["SO-B", "previous_eta"] == pd.Timestamp("2024-07-15")
    assert status.loc["SO-A", "eta"] == pd.Timestamp("2024-07-02")  # served by stock and PO-1
    keys = _outbox(engine)["dedup_key"]
    assert keys.str.startswith("eta:SO-B:1@2024-07-25").sum() == 2  # the customer and sales
    queued = notifications.counts(engine)["pending"]

    assert etl_main(["--database-url", url, "load", str(moved)]) == 0  # nothing changed: no run
    assert "re-estimating" not in capsys.readouterr().out and _eta_runs(engine) == 2
    rows.loc[rows["po_no"] == "PO-2", "expected_date"] = "2024-08-05"
    rows.to_csv(moved / "purchase_order_lines.csv", index=False)
    assert etl_main(["--database-url", url, "load", str(moved), "--no-backorders"]) == 0
    assert _eta_runs(engine) == 2 and notifications.counts(engine)["pending"] == queued
    assert store.backorder_status(engine).set_index("order_no").loc["SO-B", "eta"] == pd.Timestamp("2024-07-25")

    def broken(*_args, **_kwargs):
        raise ValueError("unknown priority key(s) ['nonsense']")

    monkeypatch.setattr("jobs.backorders.run_backorders", broken)  # the load stands, the failure is reported
    rows.loc[rows["po_no"] == "PO-2", "expected_date"] = "2024-08-10"
    rows.to_csv(moved / "purchase_order_lines.csv", index=False)
    capsys.readouterr()
    assert etl_main(["--database-url", url, "load", str(moved)]) == 1
    assert "the load succeeded, but re-estimating backorder ETAs failed" in capsys.readouterr().err
    po = schema.fact_purchase_order_line
    with engine.connect() as connection:
        expected = connection.execute(select(po.c.expected_date).where(po.c.po_no == "PO-2")).scalar_one()
    assert pd.Timestamp(expected) == pd.Timestamp("2024-08-10")
