"""The warehouse view: scan commands (receive, pick and ship, count) with hand-worked examples on SQLite and
PostgreSQL, their refusals, the pick list's priority and route, reconciliation, a property (the ledger equals
on hand after any sequence of scans) and the page as the warehouse role sees it (AppTest on the small demo).

The hand-worked company (``tiny``), as of 2026-11-01, scans on 2026-11-02:

- DC-A holds 10 × BOLT (opening at 1.00) and 5 × NUT (at 2.00); DC-B holds nothing.
- PO1/1: 10 BOLT at DC-A, 2.00 each, expected 10-20; PO2/1: 5 BOLT at DC-A, 3.00, expected 10-25; PO3/1: 4 NUT
  at DC-B, no cost (NUT's standard cost is 2.00).
- SO1/1 6 BOLT for C-C (tier C) requested 10-25; SO2/1 8 BOLT for C-A (tier A) requested 11-05; SO3/1 4 BOLT
  for C-B (tier B, priority 1) requested 10-30; SO4/1 3 NUT for C-A requested 11-01; SO5/1 10 NUT for C-C
  requested 11-01 (all at DC-A).
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from analytics import warehouse as rules
from data_access import derived, schema
from data_access import warehouse as store
from data_access.engine import make_engine
from data_access.migrate import upgrade
from data_access.queries import last_data_date
from etl.loader import load_directory

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 1)
NOW = dt.datetime(2026, 11, 2, 10, 0)
TODAY = NOW.date()


# --- the hand-worked company ----------------------------------------------------------------------------------------


def _write(folder: Path, name: str, rows: list[dict[str, Any]]) -> None:
    pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)


def _sales(order_no: str, customer: str, sku: str, qty: float, ordered: str, requested: str,
           priority: int = 0) -> dict[str, Any]:
    return {"order_no": order_no, "line_no": 1, "customer": customer, "product": sku, "location": "DC-A",
            "order_date": ordered, "requested_date": requested, "qty_ordered": qty, "qty_shipped": 0,
            "qty_cancelled": 0, "unit_price": 10.0, "discount": 0, "status": "open", "priority": priority}


def write_tiny(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, "suppliers", [{"code": "SUP1", "name": "Supplier one", "lead_time_mean_days": 7}])
    _write(folder, "locations", [{"code": "DC-A", "name": "Depot A", "kind": "warehouse"},
                                 {"code": "DC-B", "name": "Depot B", "kind": "warehouse"}])
    _write(folder, "customers", [{"code": "C-A", "name": "Alpha", "tier": "A"}, {"code": "C-B", "name": "Beta", "tier": "B"},
                                 {"code": "C-C", "name": "Gamma", "tier": "C"}])
    _write(folder, "products", [
        {"sku": "BOLT", "gtin": "4012345678901", "name": "Hex bolt", "category": "Fasteners", "unit_cost": 1.0,
         "unit_price": 10.0, "make_or_buy": "buy", "supplier": "SUP1"},
        {"sku": "NUT", "gtin": "12345670", "name": "Hex nut", "category": "Fasteners", "unit_cost": 2.0,
         "unit_price": 10.0, "make_or_buy": "buy", "supplier": "SUP1"},
    ])
    _write(folder, "inventory_movements", [
        {"movement_no": "M1", "ts": "2026-10-01 08:00:00", "product": "BOLT", "location": "DC-A", "qty": 10,
         "kind": "adjustment", "unit_cost": 1.0, "reference": "OPENING BALANCE"},
        {"movement_no": "M2", "ts": "2026-10-01 08:00:00", "product": "NUT", "location": "DC-A", "qty": 5,
         "kind": "adjustment", "unit_cost": 2.0, "reference": "OPENING BALANCE"},
    ])
    _write(folder, "purchase_order_lines", [
        {"po_no": "PO1", "line_no": 1, "supplier": "SUP1", "product": "BOLT", "location": "DC-A",
         "order_date": "2026-10-10", "expected_date": "2026-10-20", "qty_ordered": 10, "unit_cost": 2.0,
         "status": "open"},
        {"po_no": "PO2", "line_no": 1, "supplier": "SUP1", "product": "BOLT", "location": "DC-A",
         "order_date": "2026-10-12", "expected_date": "2026-10-25", "qty_ordered": 5, "unit_cost": 3.0,
         "status": "open"},
        {"po_no": "PO3", "line_no": 1, "supplier": "SUP1", "product": "NUT", "location": "DC-B",
         "order_date": "2026-10-12", "expected_date": "2026-10-25", "qty_ordered": 4, "unit_cost": None,
         "status": "open"},
    ])
    _write(folder, "sales_order_lines", [
        _sales("SO1", "C-C", "BOLT", 6, "2026-10-20", "2026-10-25"),
        _sales("SO2", "C-A", "BOLT", 8, "2026-10-28", "2026-11-05"),
        _sales("SO3", "C-B", "BOLT", 4, "2026-10-27", "2026-10-30", priority=1),
        _sales("SO4", "C-A", "NUT", 3, "2026-10-29", "2026-11-01"),
        _sales("SO5", "C-C", "NUT", 10, "2026-10-29", "2026-11-01"),
    ])
    return folder


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("warehouse_tiny"))


@pytest.fixture
def tiny(engine: Engine, tiny_dir: Path) -> Engine:
    """The hand-worked company loaded into a fresh database (SQLite and PostgreSQL)."""
    load_directory(engine, tiny_dir, source="tiny")
    return engine


def _ids(engine: Engine) -> dict[str, int]:
    """Surrogate ids by natural key: products (sku), locations (code), PO lines ('PO1'), sales lines ('SO1')."""
    with engine.connect() as c:
        found = dict(c.execute(select(schema.dim_product.c.sku, schema.dim_product.c.id)).all())
        found |= dict(c.execute(select(schema.dim_location.c.code, schema.dim_location.c.id)).all())
        po, so = schema.fact_purchase_order_line, schema.fact_sales_order_line
        found |= dict(c.execute(select(po.c.po_no, po.c.id)).all())
        found |= dict(c.execute(select(so.c.order_no, so.c.id)).all())
    return found


def _row(engine: Engine, table, **where: Any) -> dict[str, Any]:
    with engine.connect() as c:
        query = select(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return dict(c.execute(query).mappings().one())


def _count_rows(engine: Engine, table) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def _scan_movements(engine: Engine) -> pd.DataFrame:
    m = schema.fact_inventory_movement
    with engine.connect() as c:
        rows = c.execute(select(m.c.product_id, m.c.location_id, m.c.qty, m.c.kind, m.c.unit_cost, m.c.reference,
                                m.c.source, m.c.user_name, m.c.ts).where(m.c.source == "scan").order_by(m.c.id)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["product_id", "location_id", "qty", "kind", "unit_cost",
                                                           "reference", "source", "user_name", "ts"])


def _snapshot_on_hand(engine: Engine, product_id: int, location_id: int, day: dt.date) -> float:
    s = schema.fact_inventory_snapshot
    with engine.connect() as c:
        return float(c.execute(select(s.c.on_hand).where(
            s.c.product_id == product_id, s.c.location_id == location_id, s.c.snapshot_date == day)).scalar_one())


def _audit_actions(engine: Engine) -> list[tuple[str, str]]:
    a = schema.audit_log
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(select(a.c.action, a.c.user_name).where(
            a.c.action.like("warehouse.%")).order_by(a.c.id)).all()]


# --- lookups ----------------------------------------------------------------------------------------------------


def test_barcodes_resolve_by_gtin_with_or_without_leading_zeros_and_by_sku(tiny) -> None:
    ids = _ids(tiny)
    assert store.resolve_product(tiny, "4012345678901")["sku"] == "BOLT"
    assert store.resolve_product(tiny, "04012345678901")["sku"] == "BOLT"  # GTIN-14 as a scanner sends it
    assert store.resolve_product(tiny, " 12345670 ")["product_id"] == ids["NUT"]
    assert store.resolve_product(tiny, "00012345670")["sku"] == "NUT"
    assert store.resolve_product(tiny, "bolt")["sku"] == "BOLT"
    assert store.resolve_location(tiny, "dc-b")["location_id"] == ids["DC-B"]
    with pytest.raises(store.ScanRefused, match="unknown barcode '9999999999999'"):
        store.resolve_product(tiny, "9999999999999")
    with pytest.raises(store.ScanRefused, match="scan or type a product barcode"):
        store.resolve_product(tiny, "  ")
    with pytest.raises(store.ScanRefused, match="unknown location 'DC-Z'"):
        store.resolve_location(tiny, "DC-Z")


# --- receive ----------------------------------------------------------------------------------------------------


def test_receive_partial_then_complete_at_the_po_cost(tiny) -> None:
    ids = _ids(tiny)
    first = store.receive(tiny, ids["PO1"], 4, "ana", product_id=ids["BOLT"], location_id=ids["DC-A"], now=NOW)
    assert (first.kind, first.document, first.qty, first.unit_cost, first.on_hand_after, first.status) == (
        "receipt", "PO1/1", 4.0, 2.0, 14.0, "partial")
    line = _row(tiny, schema.fact_purchase_order_line, po_no="PO1")
    assert (line["qty_received"], line["status"], pd.Timestamp(line["received_date"]).date()) == (4.0, "partial",
                                                                                                  TODAY)
    second = store.receive(tiny, ids["PO1"], 6, "ana", now=NOW + dt.timedelta(minutes=1))
    assert (second.on_hand_after, second.status) == (20.0, "received")
    line = _row(tiny, schema.fact_purchase_order_line, po_no="PO1")
    assert (line["qty_received"], line["status"]) == (10.0, "received")

    moves = _scan_movements(tiny)
    assert moves[["qty", "kind", "unit_cost", "reference", "source", "user_name"]].values.tolist() == [
        [4.0, "receipt", 2.0, "PO1", "scan", "ana"], [6.0, "receipt", 2.0, "PO1", "scan", "ana"]]
    assert _audit_actions(tiny) == [("warehouse.receive", "ana")] * 2
    # derived state current, today's snapshot holds the receipts and no longer counts them on order
    assert derived.is_current(tiny)
    assert last_data_date(tiny) == TODAY
    assert _snapshot_on_hand(tiny, ids["BOLT"], ids["DC-A"], TODAY) == 20.0
    s = schema.fact_inventory_snapshot
    with tiny.connect() as c:
        on_order = c.execute(select(s.c.on_order).where(s.c.product_id == ids["BOLT"], s.c.location_id == ids["DC-A"],
                                                        s.c.snapshot_date == TODAY)).scalar_one()
    assert on_order == 5.0  # PO2 only


def test_over_receipt_and_closed_lines_are_refused_and_write_nothing(tiny) -> None:
    ids = _ids(tiny)
    with pytest.raises(store.ScanRefused, match=r"over-receipt refused: purchase line PO2/1 has 5 of 5 units still "
                                                r"to receive, the scan says 6"):
        store.receive(tiny, ids["PO2"], 6, "ana", now=NOW)
    store.receive(tiny, ids["PO2"], 5, "ana", now=NOW)
    with pytest.raises(store.ScanRefused, match="PO2/1 is received: nothing more can be received"):
        store.receive(tiny, ids["PO2"], 1, "ana", now=NOW)
    with pytest.raises(store.ScanRefused, match="is for BOLT, not for the product scanned"):
        store.receive(tiny, ids["PO1"], 1, "ana", product_id=ids["NUT"], now=NOW)
    with pytest.raises(store.ScanRefused, match="is received at DC-A, not at the location scanned"):
        store.receive(tiny, ids["PO1"], 1, "ana", location_id=ids["DC-B"], now=NOW)
    with pytest.raises(store.ScanRefused, match="must be more than 0"):
        store.receive(tiny, ids["PO1"], 0, "ana", now=NOW)
    assert len(_scan_movements(tiny)) == 1
    assert _row(tiny, schema.fact_purchase_order_line, po_no="PO1")["qty_received"] == 0.0


def test_receipt_without_po_cost_uses_the_standard_cost(tiny) -> None:
    ids = _ids(tiny)
    result = store.receive(tiny, ids["PO3"], 4, "ana", now=NOW)
    assert (result.unit_cost, result.on_hand_after, result.location, result.status) == (2.0, 4.0, "DC-B", "received")


# --- pick and ship ----------------------------------------------------------------------------------------------


def test_ship_at_moving_average_cost_updates_line_shipment_and_order_state(tiny) -> None:
    ids = _ids(tiny)
    store.receive(tiny, ids["PO1"], 10, "ana", now=NOW)  # 10 @ 1.00 + 10 @ 2.00: average 1.50
    result = store.ship(tiny, ids["SO1"], 6, "ben", product_id=ids["BOLT"], carrier="DHL", tracking_no="JD1",
                        now=NOW + dt.timedelta(minutes=5))
    assert (result.kind, result.qty, result.unit_cost, result.on_hand_after, result.status) == (
        "shipment", -6.0, 1.5, 14.0, "shipped")
    shipment = _row(tiny, schema.fact_shipment, shipment_no=result.document)
    assert (shipment["order_line_id"], shipment["qty"], shipment["status"], shipment["carrier"],
            shipment["tracking_no"], pd.Timestamp(shipment["ship_date"]).date()) == (
        ids["SO1"], 6.0, "shipped", "DHL", "JD1", TODAY)
    line = _row(tiny, schema.fact_sales_order_line, order_no="SO1")
    assert (line["qty_shipped"], line["status"]) == (6.0, "shipped")
    move = _scan_movements(tiny).iloc[-1]
    assert (move["qty"], move["kind"], move["unit_cost"], move["reference"], move["user_name"]) == (
        -6.0, "shipment", 1.5, result.document, "ben")
    assert _audit_actions(tiny)[-1] == ("warehouse.ship", "ben")
    assert derived.is_current(tiny)
    state = _row(tiny, schema.fact_order_line_state, sales_order_line_id=ids["SO1"])
    assert (state["shipped"], pd.Timestamp(state["closed_on"]).date()) == (6.0, TODAY)
    assert _snapshot_on_hand(tiny, ids["BOLT"], ids["DC-A"], TODAY) == 14.0

    partial = store.ship(tiny, ids["SO2"], 5, "ben", now=NOW + dt.timedelta(minutes=6))
    assert (partial.status, partial.on_hand_after) == ("partial", 9.0)
    assert _row(tiny, schema.fact_sales_order_line, order_no="SO2")["status"] == "partial"


def test_over_shipment_short_stock_and_wrong_product_are_refused(tiny) -> None:
    ids = _ids(tiny)
    with pytest.raises(store.ScanRefused, match="over-shipment refused: order line SO3/1 has 4 units open"):
        store.ship(tiny, ids["SO3"], 5, "ben", now=NOW)
    with pytest.raises(store.ScanRefused, match="not enough stock: 5 units on hand per ledger, the scan says 6"):
        store.ship(tiny, ids["SO5"], 6, "ben", now=NOW)
    with pytest.raises(store.ScanRefused, match="wrong product: order line SO1/1 is for BOLT"):
        store.ship(tiny, ids["SO1"], 1, "ben", product_id=ids["NUT"], now=NOW)
    store.ship(tiny, ids["SO4"], 3, "ben", now=NOW)
    with pytest.raises(store.ScanRefused, match="order line SO4/1 is shipped: nothing is left to ship"):
        store.ship(tiny, ids["SO4"], 1, "ben", now=NOW)
    assert _count_rows(tiny, schema.fact_shipment) == 1
    assert len(_scan_movements(tiny)) == 1
    assert store.on_hand(tiny, ids["NUT"], ids["DC-A"]) == 2.0


def test_two_pickers_racing_for_the_last_units_cannot_both_ship(tiny) -> None:
    """Scans are serialised (advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite): 5 NUT on hand, two pickers
    ship 3 each at once, one is refused."""
    ids = _ids(tiny)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def pick() -> None:
        barrier.wait()
        try:
            store.ship(tiny, ids["SO5"], 3, "racer", now=NOW)
            outcomes.append("shipped")
        except store.ScanRefused as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=pick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[-1] == "shipped" and sorted(outcomes)[0].startswith("not enough stock: 2 units on hand")
    assert store.on_hand(tiny, ids["NUT"], ids["DC-A"]) == 2.0
    assert _row(tiny, schema.fact_sales_order_line, order_no="SO5")["qty_shipped"] == 3.0


def test_a_load_waits_for_a_scan_in_progress(tiny, tiny_dir: Path) -> None:
    """Loads take the scan lock (PostgreSQL): a load started while a scan's transaction holds it waits for its end.
    (SQLite has one writer at a time, so there nothing can interleave.)"""
    if tiny.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers itself")
    finished = threading.Event()

    def load_again() -> None:
        load_directory(tiny, tiny_dir, source="tiny")
        finished.set()

    with tiny.begin() as scan:
        store.lock_out_scans(scan)  # what a scan holds while it checks and writes
        thread = threading.Thread(target=load_again)
        thread.start()
        assert not finished.wait(1.5), "the load ran while a scan held the lock"
    thread.join(timeout=60)
    assert finished.is_set()


# --- count ------------------------------------------------------------------------------------------------------


def test_count_posts_the_difference_and_records_the_count(tiny) -> None:
    ids = _ids(tiny)
    store.receive(tiny, ids["PO1"], 4, "ana", now=NOW)  # 10 @ 1.00 + 4 @ 2.00: 14 at 18/14
    short = store.count(tiny, ids["BOLT"], ids["DC-A"], 12, "cy", now=NOW + dt.timedelta(minutes=1))
    assert (short.qty, short.on_hand_after) == (-2.0, 12.0)
    assert short.unit_cost == pytest.approx(18 / 14, abs=1e-6)
    record = _row(tiny, schema.fact_cycle_count, count_no=short.document)
    assert (record["system_qty"], record["counted_qty"], record["user_name"],
            pd.Timestamp(record["count_date"]).date()) == (14.0, 12.0, "cy", TODAY)
    move = _scan_movements(tiny).iloc[-1]
    assert (move["qty"], move["kind"], move["reference"]) == (-2.0, "count", short.document)

    same = store.count(tiny, ids["NUT"], ids["DC-A"], 5, "cy", now=NOW)
    assert (same.movement_no, same.qty, same.on_hand_after) == (None, 0.0, 5.0)
    found = store.count(tiny, ids["NUT"], ids["DC-B"], 3, "cy", now=NOW)  # nothing there per ledger: +3 at standard
    assert (found.qty, found.unit_cost, found.on_hand_after) == (3.0, 2.0, 3.0)
    assert _count_rows(tiny, schema.fact_cycle_count) == 3
    assert len(_scan_movements(tiny)) == 3  # receipt, −2, +3
    assert [a for a, _ in _audit_actions(tiny)].count("warehouse.count") == 3
    assert derived.is_current(tiny)
    assert _snapshot_on_hand(tiny, ids["NUT"], ids["DC-B"], TODAY) == 3.0
    with pytest.raises(store.ScanRefused, match="must be 0 or more"):
        store.count(tiny, ids["NUT"], ids["DC-B"], -1, "cy", now=NOW)
    with pytest.raises(store.ScanRefused, match="needs the logged-in user"):
        store.count(tiny, ids["NUT"], ids["DC-B"], 1, " ", now=NOW)


# --- pick list and reconciliation reads -------------------------------------------------------------------------


def test_pick_list_puts_backorders_first_and_walks_by_sku(tiny) -> None:
    ids = _ids(tiny)
    picks = store.pick_list(tiny, ids["DC-A"], AS_OF, horizon_days=4)
    # backorders SO3 (priority 1) and SO1 (tier C), then SO2 (ordered 10-28) and SO4/SO5 (ordered 10-29, by number)
    assert picks.sort_values("pick_rank")["order_no"].tolist() == ["SO3", "SO1", "SO2", "SO4", "SO5"]
    # BOLT: 10 on hand → SO3 4, SO1 6, SO2 none; NUT: 5 → SO4 3, SO5 2 of 10
    assert picks[["order_no", "qty_to_pick", "pick_state", "route_stop", "route_seq"]].astype(object).values.tolist() == [
        ["SO3", 4.0, "full", 1, 1], ["SO1", 6.0, "full", 1, 2], ["SO4", 3.0, "full", 2, 3],
        ["SO5", 2.0, "part", 2, 4], ["SO2", 0.0, "no stock", pd.NA, pd.NA]]
    assert picks.set_index("order_no")["backorder"].to_dict() == {
        "SO3": True, "SO1": True, "SO4": False, "SO5": False, "SO2": False}
    assert store.pick_list(tiny, ids["DC-A"], AS_OF)["order_no"].tolist() == ["SO3", "SO1", "SO4", "SO5"]
    assert store.pick_list(tiny, ids["DC-B"], AS_OF).empty


def test_reconciliation_reads_counts_and_finds_stale_snapshots(tiny) -> None:
    ids = _ids(tiny)
    store.count(tiny, ids["BOLT"], ids["DC-A"], 7, "cy", now=NOW)
    counts = store.recent_counts(tiny, AS_OF)
    found = rules.count_discrepancies(counts)
    assert found[["sku", "location", "system_qty", "counted_qty", "diff_units", "diff_value"]].values.tolist() == [
        ["BOLT", "DC-A", 10.0, 7.0, -3.0, -3.0]]
    mismatches, day = store.ledger_snapshot_mismatches(tiny)
    assert day == TODAY and mismatches.empty
    # a movement written behind the loader's and the scans' back: the ledger runs ahead of the snapshot
    with tiny.begin() as c:
        c.execute(schema.fact_inventory_movement.insert().values(
            movement_no="X1", ts=NOW, product_id=ids["NUT"], location_id=ids["DC-A"], qty=-1, kind="adjustment",
            source="app"))
    mismatches, day = store.ledger_snapshot_mismatches(tiny)
    assert mismatches[["sku", "location", "ledger_qty", "snapshot_qty", "diff_units", "diff_value"]].values.tolist() == [
        ["NUT", "DC-A", 4.0, 5.0, -1.0, -2.0]]
    log = store.scan_log(tiny, dt.datetime(2026, 11, 1))
    assert log[["kind", "sku", "qty", "user_name"]].values.tolist() == [["count", "BOLT", -3.0, "cy"]]


# --- pure rules -------------------------------------------------------------------------------------------------


def test_line_states_and_checks() -> None:
    assert [rules.sales_line_status(*q) for q in ((5, 0, 0), (5, 2, 0), (5, 5, 0), (5, 3, 2), (5, 0, 5))] == [
        "open", "partial", "shipped", "closed", "cancelled"]
    assert [rules.po_line_status(10, r) for r in (0, 4, 10)] == ["open", "partial", "received"]
    assert rules.check_receipt("P/1", "partial", 10, 4, 6) == 6.0
    with pytest.raises(rules.ScanRefused, match="over-receipt"):
        rules.check_receipt("P/1", "partial", 10, 4, 6.5)
    assert rules.check_shipment("S/1", "open", 3, 3, 3) == 3.0
    with pytest.raises(rules.ScanRefused, match="not enough stock"):
        rules.check_shipment("S/1", "open", 3, 2, 3)
    assert rules.issue_cost(None, 2.0) == 2.0 and rules.issue_cost(1.25, 2.0) == 1.25 and rules.issue_cost(None, None) is None
    ledger = pd.DataFrame({"product_id": [1, 1, 1], "ts": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
                           "qty": [10.0, 10.0, -5.0], "unit_cost": [1.0, 2.0, None]})
    assert rules.moving_average_cost(ledger) == pytest.approx(1.5)
    assert rules.moving_average_cost(ledger.iloc[:0]) is None
    assert rules.moving_average_cost(ledger.assign(qty=[10.0, -10.0, 0.0])) is None  # nothing on hand


def test_pick_list_follows_the_configured_priority() -> None:
    lines = pd.DataFrame({
        "line_id": [1, 2, 3], "order_no": ["A", "B", "C"], "line_no": 1, "product_id": [7, 7, 8],
        "sku": ["Z-1", "Z-1", "A-9"], "tier": ["C", "A", None], "priority": [0, 0, 0],
        "order_date": pd.to_datetime(["2026-10-01", "2026-10-05", "2026-10-02"]),
        "requested_date": pd.to_datetime(["2026-10-10", "2026-10-10", "2026-10-20"]),
        "qty_ordered": [2.0, 2.0, 1.0], "qty_shipped": 0.0, "qty_cancelled": 0.0})
    stock = pd.Series({7: 3.0, 8: 1.0})
    as_of = dt.date(2026, 10, 15)
    by_tier = rules.pick_list(lines, stock, as_of)  # B (tier A) before A (tier C); C is not late
    assert by_tier.sort_values("pick_rank")["order_no"].tolist() == ["B", "A", "C"]
    assert by_tier.set_index("order_no")["qty_to_pick"].to_dict() == {"B": 2.0, "A": 1.0, "C": 1.0}
    assert by_tier["order_no"].tolist() == ["C", "B", "A"]  # route: A-9 first, then Z-1
    by_date = rules.pick_list(lines, stock, as_of, priority=("order_date",))
    assert by_date.sort_values("pick_rank")["order_no"].tolist() == ["A", "B", "C"]
    assert rules.pick_summary(by_date) == {"lines": 3, "backorder_lines": 2, "pickable_lines": 3, "units_to_pick": 4.0,
                                           "stops": 2}


def test_count_reconciliation_by_location() -> None:
    counts = pd.DataFrame({
        "count_no": ["C1", "C2", "C3"], "count_date": pd.to_datetime(["2026-10-01", "2026-10-02", "2026-10-03"]),
        "location": ["N", "N", "S"], "system_qty": [10.0, 5.0, 4.0], "counted_qty": [8.0, 5.0, 7.0],
        "unit_cost": [2.0, 1.0, 0.5]})
    found = rules.count_discrepancies(counts)
    assert found["count_no"].tolist() == ["C1", "C3", "C2"]  # discrepancies first, largest value first
    assert found["diff_units"].tolist() == [-2.0, 3.0, 0.0] and found["diff_value"].tolist() == [-4.0, 1.5, 0.0]
    by_location = rules.counts_by_location(found)
    assert by_location.values.tolist() == [["N", 2, 1, 0.5, -2.0, 2.0, -4.0, 4.0], ["S", 1, 0, 0.0, 3.0, 3.0, 1.5, 1.5]]


# --- property: the ledger equals on hand after any sequence of scans ----------------------------------------------

OPERATION = st.one_of(
    st.tuples(st.just("receive"), st.sampled_from(["PO1", "PO2", "PO3"]), st.integers(-1, 8)),
    st.tuples(st.just("ship"), st.sampled_from(["SO1", "SO2", "SO3", "SO4", "SO5"]), st.integers(-1, 8)),
    st.tuples(st.just("count"), st.sampled_from([("BOLT", "DC-A"), ("NUT", "DC-A"), ("NUT", "DC-B")]),
              st.integers(0, 15)),
)


def _state(engine: Engine) -> tuple[dict[tuple[int, int], float], dict[int, list], dict[int, list]]:
    """On hand per item-location (ledger), PO lines [product, location, status, ordered, received] and sales
    lines [product, location, status, open]."""
    m, po, so = schema.fact_inventory_movement, schema.fact_purchase_order_line, schema.fact_sales_order_line
    with engine.connect() as c:
        stock = {(p, loc): float(q) for p, loc, q in c.execute(
            select(m.c.product_id, m.c.location_id, func.sum(m.c.qty)).group_by(m.c.product_id, m.c.location_id))}
        pos = {r[0]: list(r[1:]) for r in c.execute(select(po.c.id, po.c.product_id, po.c.location_id, po.c.status,
                                                           po.c.qty_ordered, po.c.qty_received))}
        sos = {r[0]: [r[1], r[2], r[3], r[4] - r[5] - r[6]] for r in c.execute(
            select(so.c.id, so.c.product_id, so.c.location_id, so.c.status, so.c.qty_ordered, so.c.qty_shipped,
                   so.c.qty_cancelled))}
    return stock, pos, sos


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATION, min_size=1, max_size=6))
def test_ledger_equals_on_hand_after_any_sequence_of_scans(tiny, operations) -> None:
    """Examples share the database (state carries over): the model starts from what is stored."""
    ids = _ids(tiny)
    stock, pos, sos = _state(tiny)
    clock = NOW
    with tiny.connect() as c:
        moved = c.execute(select(func.count()).select_from(schema.fact_inventory_movement)).scalar_one()
    clock += dt.timedelta(minutes=moved)  # later than every scan of the previous examples
    for kind, key, qty in operations:
        clock += dt.timedelta(minutes=1)
        if kind == "receive":
            product, location, status, ordered, received = pos[ids[key]]
            accept = qty > 0 and status in ("open", "partial") and received + qty <= ordered
            pair = (product, location)
        elif kind == "ship":
            product, location, status, open_qty = sos[ids[key]]
            pair = (product, location)
            accept = qty > 0 and status in ("open", "partial") and qty <= open_qty and qty <= stock.get(pair, 0.0)
        else:
            pair = (ids[key[0]], ids[key[1]])
            accept = True
        try:
            if kind == "receive":
                result = store.receive(tiny, ids[key], qty, "prop", now=clock)
            elif kind == "ship":
                result = store.ship(tiny, ids[key], qty, "prop", now=clock)
            else:
                result = store.count(tiny, pair[0], pair[1], qty, "prop", now=clock)
        except store.ScanRefused:
            assert not accept, (kind, key, qty)
            event(f"{kind} refused")
        else:
            assert accept, (kind, key, qty)
            event(f"{kind} written")
            stock[pair] = float(qty) if kind == "count" else stock.get(pair, 0.0) + (qty if kind == "receive" else -qty)
            assert result.on_hand_after == pytest.approx(stock[pair])
            if kind == "receive":
                pos[ids[key]][4] += qty
                pos[ids[key]][2] = rules.po_line_status(pos[ids[key]][3], pos[ids[key]][4])
            elif kind == "ship":
                sos[ids[key]][3] -= qty
                sos[ids[key]][2] = "shipped" if sos[ids[key]][3] <= 0 else "partial"
        stored, stored_pos, _ = _state(tiny)
        pairs = set(stored) | set(stock)
        assert {k: stored.get(k, 0.0) for k in pairs} == pytest.approx({k: stock.get(k, 0.0) for k in pairs})
        assert all(v >= 0 for v in stored.values())
        assert all(line[4] <= line[3] for line in stored_pos.values())  # never received more than ordered
        day = last_data_date(tiny)
        for (product, location), value in stored.items():
            assert _snapshot_on_hand(tiny, product, location, day) == pytest.approx(value)
    assert derived.is_current(tiny)


# --- the page, as the warehouse role sees it (AppTest on the small demo) -------------------------------------------


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory, small_demo_dir) -> Path:
    path = tmp_path_factory.mktemp("warehouse_demo") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_directory(engine, small_demo_dir, kind="demo")
    engine.dispose()
    return path


@pytest.fixture
def demo(demo_template, tmp_path, monkeypatch, fresh_streamlit_caches) -> Iterator[Engine]:
    """A copy of the small demo for this test, set as DATABASE_URL."""
    path = tmp_path / "warehouse.sqlite"
    shutil.copy(demo_template, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def _page(name: str, role: str = "warehouse") -> AppTest:
    app = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = role
    app.session_state["name"] = f"Demo {role}"
    app.session_state["roles"] = [role]
    return app.run()


def _by_label(elements, label: str):
    found = [e for e in elements if e.label == label]
    assert found, (label, [e.label for e in elements])
    return found[0]


def _texts(app: AppTest, kind: str) -> str:
    return " ".join(str(e.value) for e in app.get(kind))


def _receivable(engine: Engine) -> dict[str, Any]:
    """An open purchase line of the demo whose product has open order lines at the same location."""
    sql = """
    SELECT po.id, po.po_no, po.line_no, po.product_id, po.location_id, p.gtin, p.sku, loc.code, po.qty_received
      FROM fact_purchase_order_line po
      JOIN dim_product p ON p.id = po.product_id
      JOIN dim_location loc ON loc.id = po.location_id
     WHERE po.status IN ('open', 'partial') AND po.qty_ordered > po.qty_received + 2 AND EXISTS (
           SELECT 1 FROM fact_sales_order_line l
            WHERE l.product_id = po.product_id AND l.location_id = po.location_id
              AND l.status IN ('open', 'partial') AND l.requested_date <= '2026-11-01')
     ORDER BY po.id LIMIT 1
    """
    with engine.connect() as c:
        return dict(c.exec_driver_sql(sql).mappings().one())


def test_page_scans_a_receipt_a_pick_and_a_count(demo) -> None:
    app = _page("warehouse")
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == "Warehouse"
    assert "last load finished" in _texts(app, "caption")
    assert "Walk order = SKU order" in _texts(app, "caption")
    target = _receivable(demo)
    _by_label(app.selectbox, "Working at location").set_value(target["location_id"]).run()

    # an unknown barcode is refused with a clear message
    app.text_input(key="warehouse_receive_scan_code").set_value("0000000000000")
    _by_label(app.button, "Look up purchase lines").click().run()
    assert "Scan not accepted: unknown barcode '0000000000000'" in _texts(app, "error")

    # receive 2 units on the purchase line, scanned by GTIN
    app.text_input(key="warehouse_receive_scan_code").set_value(target["gtin"])
    _by_label(app.button, "Look up purchase lines").click().run()
    assert not app.exception, [e.value for e in app.exception]
    _by_label(app.selectbox, "Purchase line").set_value(target["id"])
    _by_label(app.number_input, "Quantity received (units)").set_value(2.0)
    _by_label(app.button, "Confirm receipt").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert f"Received 2 × {target['sku']} at {target['code']} on {target['po_no']}/{target['line_no']}" in _texts(
        app, "success")
    line = _row(demo, schema.fact_purchase_order_line, id=target["id"])
    assert line["qty_received"] == pytest.approx(target["qty_received"] + 2)
    moves = _scan_movements(demo)
    assert moves[["kind", "qty", "user_name"]].values.tolist() == [["receipt", 2.0, "warehouse"]]

    # the pick list now has stock for that product: confirm the first line of the route by scanning the product
    picks = store.pick_list(demo, target["location_id"], last_data_date(demo), 1)
    first = picks[picks["qty_to_pick"] > 0].iloc[0]
    assert first["sku"] == target["sku"]
    _by_label(app.selectbox, "Line to pick (walk order)").set_value(int(first["line_id"])).run()
    app.text_input(key="warehouse_pick_code").set_value(target["sku"])
    _by_label(app.button, "Confirm pick and ship").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert f"Shipped {first['qty_to_pick']:,.0f} × {target['sku']}" in _texts(app, "success")
    with demo.connect() as c:
        shipments = c.execute(select(schema.fact_shipment.c.qty, schema.fact_shipment.c.status).where(
            schema.fact_shipment.c.order_line_id == int(first["line_id"]),
            schema.fact_shipment.c.shipment_no.like("WSH%"))).all()
    assert [tuple(s) for s in shipments] == [(first["qty_to_pick"], "shipped")]

    # count the shelf: blind, then the difference is posted
    held = store.on_hand(demo, target["product_id"], target["location_id"])
    app.text_input(key="warehouse_count_scan_code").set_value(target["sku"])
    _by_label(app.button, "Start count").click().run()
    app.number_input(key="warehouse_counted").set_value(held + 1)
    _by_label(app.button, "Record count").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert f"ledger had {held:,.0f}: adjustment +1 units" in _texts(app, "success")
    assert store.on_hand(demo, target["product_id"], target["location_id"]) == held + 1
    assert [a for a, _ in _audit_actions(demo)] == ["warehouse.receive", "warehouse.ship", "warehouse.count"]
    assert set(_scan_movements(demo)["user_name"]) == {"warehouse"}

    # the scans show on this page's log and at once on the Inventory page
    log = [t.value for t in app.dataframe if "movement_no" in t.value.columns][0]
    assert log["kind"].tolist() == ["count", "shipment", "receipt"]
    inventory = _page("inventory")
    assert not inventory.exception, [e.value for e in inventory.exception]
    stock = [t.value for t in inventory.dataframe if "on_hand" in t.value.columns][-1]
    shown = stock[(stock["sku"] == target["sku"]) & (stock["location"] == target["code"])]
    assert shown["on_hand"].tolist() == [held + 1]
