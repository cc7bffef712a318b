"""The demo company: deterministic, realistic, and its stock always equals the ledger."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from etl import demo
from etl.interchange import ENTITY_BY_NAME
from etl.loader import load_directory
from tests.conftest import DEMO_END


def test_same_seed_same_data(small_demo_frames) -> None:
    """A seed fully determines the company; another seed gives another one."""
    again = demo.generate("small", seed=7, end_date=DEMO_END)
    for name, frame in small_demo_frames.items():
        pd.testing.assert_frame_equal(frame, again[name], check_dtype=False)
    other = demo.generate("small", seed=8, end_date=DEMO_END)
    assert not other["sales_order_lines"].equals(small_demo_frames["sales_order_lines"])


def test_frames_follow_the_interchange_format(small_demo_frames) -> None:
    """Every frame has exactly the columns of its interchange entity."""
    for name, frame in small_demo_frames.items():
        assert list(frame.columns) == list(ENTITY_BY_NAME[name].columns), name


def test_stock_never_negative_and_counts_see_the_ledger(small_demo_frames) -> None:
    """Running ledger balance per product-location never drops below zero, and every cycle
    count's system quantity is the ledger balance just before the count."""
    ledger = small_demo_frames["inventory_movements"].sort_values("movement_no")
    balance = ledger.groupby(["product", "location"])["qty"].cumsum()
    assert balance.min() >= -1e-9
    counts = small_demo_frames["cycle_counts"]
    before = ledger[ledger["ts"] < (counts["count_date"].max() + " 19:00:00")]
    for row in counts.sample(30, random_state=1).itertuples():
        mask = (before["product"] == row.product) & (before["location"] == row.location) & (
            before["ts"] < row.count_date + " 19:00:00"
        )
        assert abs(before.loc[mask, "qty"].sum() - row.system_qty) < 1e-6


def test_order_lines_shipments_and_backorders_agree(small_demo_frames) -> None:
    """qty_shipped is the sum of the line's shipments; partial shipments and backorders exist,
    some backorders are later cancelled (lost sales), and nothing ships more than ordered."""
    lines = small_demo_frames["sales_order_lines"].set_index(["order_no", "line_no"])
    shipments = small_demo_frames["shipments"]
    shipped = shipments.groupby(["order_no", "line_no"])["qty"].sum().reindex(lines.index).fillna(0)
    assert (shipped - lines["qty_shipped"]).abs().max() < 1e-9
    assert (lines["qty_shipped"] + lines["qty_cancelled"] <= lines["qty_ordered"] + 1e-9).all()
    assert (shipments.groupby(["order_no", "line_no"]).size() > 1).sum() > 10, "partial shipments"
    merged = shipments.merge(lines.reset_index()[["order_no", "line_no", "requested_date"]], on=["order_no", "line_no"])
    on_time = merged[merged["ship_date"] <= merged["requested_date"]].groupby(["order_no", "line_no"])["qty"].sum()
    due = lines[lines["requested_date"] <= str(DEMO_END)]
    backordered = (on_time.reindex(due.index).fillna(0) < due["qty_ordered"]).mean()
    assert 0.01 < backordered < 0.2
    assert (lines["qty_cancelled"] > 0).sum() > 0
    assert set(lines["status"]) >= {"shipped", "cancelled"}


def test_realistic_master_data(small_demo_frames) -> None:
    """Made and bought items, several categories, tiers, substitutes, costs that drift."""
    products = small_demo_frames["products"]
    assert set(products["make_or_buy"]) == {"make", "buy"}
    assert products["category"].nunique() >= 5
    assert set(small_demo_frames["customers"]["tier"]) == {"A", "B", "C"}
    assert len(small_demo_frames["product_substitutes"]) > 0
    po = small_demo_frames["purchase_order_lines"]
    assert po.groupby("product")["unit_cost"].nunique().max() > 1, "purchase costs change over time"
    assert (po["received_date"] > po["expected_date"]).any(), "some deliveries are late"
    assert (small_demo_frames["cycle_counts"]["counted_qty"] != small_demo_frames["cycle_counts"]["system_qty"]).any()
    assert small_demo_frames["customer_feedback"]["nps_score"].between(0, 10).all()


def test_demo_loads_cleanly_and_snapshots_equal_the_ledger(engine, small_demo_dir) -> None:
    """The demo loads with no rejects; the last snapshot's on-hand equals the ledger sum; a
    re-run changes nothing."""
    result = load_directory(engine, small_demo_dir, kind="demo")
    assert result.rows_rejected == 0
    assert result.rows_read == result.rows_loaded
    with engine.connect() as connection:
        mismatches = connection.execute(
            text(
                """
                SELECT COUNT(*) FROM (
                    SELECT m.product_id, m.location_id, SUM(m.qty) AS ledger FROM fact_inventory_movement m
                     GROUP BY m.product_id, m.location_id) l
                JOIN fact_inventory_snapshot s ON s.product_id = l.product_id AND s.location_id = l.location_id
                 AND s.snapshot_date = (SELECT MAX(snapshot_date) FROM fact_inventory_snapshot)
                WHERE ABS(s.on_hand - l.ledger) > 1e-6
                """
            )
        ).scalar_one()
        negative = connection.execute(text("SELECT COUNT(*) FROM fact_inventory_snapshot WHERE on_hand < 0")).scalar_one()
        backordered = connection.execute(text("SELECT MAX(backordered) FROM fact_inventory_snapshot")).scalar_one()
    assert mismatches == 0 and negative == 0 and backordered > 0
    again = load_directory(engine, small_demo_dir, kind="demo")
    assert sum(f.inserted + f.updated for f in again.files) == 0
