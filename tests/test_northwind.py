"""Northwind: loads with the row counts of its source, and the report matches plain SQL on it."""

from __future__ import annotations

import re
import sqlite3

import pytest

from analytics.report import headline
from data_access.queries import headline_inputs, last_data_date
from etl.northwind import load_northwind
from tests.conftest import NORTHWIND_SQL


@pytest.fixture(scope="module")
def source() -> sqlite3.Connection:
    """The Northwind dump's tables and rows, executed by SQLite itself (independent of our parser)."""
    connection = sqlite3.connect(":memory:")
    script = NORTHWIND_SQL.read_text(encoding="utf-8")
    for statement in re.findall(r"^(CREATE TABLE .*?\);|INSERT INTO .*?\);)$", script, flags=re.S | re.M):
        connection.execute(statement)
    return connection


def _scalar(connection: sqlite3.Connection, sql: str) -> float:
    return connection.execute(sql).fetchone()[0]


def test_northwind_loads_with_source_counts(engine, source) -> None:
    """Every product, supplier, customer, order line and shipped line arrives; nothing is rejected."""
    result = load_northwind(engine, NORTHWIND_SQL)
    assert result.rows_rejected == 0
    loaded = {f.entity: f.rows_loaded for f in result.files}
    assert loaded["products"] == _scalar(source, "SELECT COUNT(*) FROM products") == 77
    assert loaded["suppliers"] == _scalar(source, "SELECT COUNT(*) FROM suppliers") == 29
    assert loaded["customers"] == _scalar(source, "SELECT COUNT(*) FROM customers") == 91
    assert loaded["sales_order_lines"] == _scalar(source, "SELECT COUNT(*) FROM order_details") == 2155
    assert loaded["shipments"] == _scalar(
        source, "SELECT COUNT(*) FROM order_details d JOIN orders o USING (order_id) WHERE o.shipped_date IS NOT NULL"
    )


def test_northwind_report_matches_plain_sql(engine, source) -> None:
    """The report's figures equal the same figures computed with SQL on the source tables."""
    load_northwind(engine, NORTHWIND_SQL)
    as_of = last_data_date(engine)
    assert str(as_of) == _scalar(source, "SELECT MAX(order_date) FROM orders")
    figures = headline(headline_inputs(engine, as_of))
    assert figures["orders"] == _scalar(source, "SELECT COUNT(*) FROM orders")
    assert figures["order_lines"] == _scalar(source, "SELECT COUNT(*) FROM order_details")
    assert figures["units_ordered"] == _scalar(source, "SELECT SUM(quantity) FROM order_details")
    expected_revenue = _scalar(
        source,
        "SELECT SUM(ROUND(d.unit_price, 4) * d.quantity * (1 - ROUND(d.discount, 4))) "
        "FROM order_details d JOIN orders o USING (order_id) WHERE o.shipped_date IS NOT NULL",
    )
    assert figures["revenue"] == pytest.approx(expected_revenue, abs=0.01)
    assert figures["open_orders"] == _scalar(source, "SELECT COUNT(*) FROM orders WHERE shipped_date IS NULL")
    assert figures["on_time_delivery_rate"] == pytest.approx(
        _scalar(source, "SELECT AVG(shipped_date <= required_date) FROM orders WHERE shipped_date IS NOT NULL")
    )
    assert figures["products"] == 77
    assert figures["on_hand_units"] == _scalar(source, "SELECT SUM(units_in_stock) FROM products")
    assert figures["on_order_units"] == _scalar(source, "SELECT SUM(units_on_order) FROM products")
    due = "FROM order_details d JOIN orders o USING (order_id) WHERE o.required_date <= (SELECT MAX(order_date) FROM orders)"
    on_time = "o.shipped_date IS NOT NULL AND o.shipped_date <= o.required_date"
    assert figures["fill_rate"] == pytest.approx(
        _scalar(source, f"SELECT SUM(CASE WHEN {on_time} THEN d.quantity ELSE 0 END) * 1.0 / SUM(d.quantity) {due}")
    )
    assert figures["backorder_rate"] == pytest.approx(
        _scalar(source, f"SELECT AVG(CASE WHEN {on_time} THEN 0 ELSE 1 END) {due}")
    )
    assert figures["line_fill_rate"] == pytest.approx(1 - figures["backorder_rate"])
    assert figures["order_fill_rate"] == pytest.approx(_scalar(
        source,
        "SELECT AVG(shipped_date IS NOT NULL AND shipped_date <= required_date) FROM orders "
        "WHERE required_date <= (SELECT MAX(order_date) FROM orders)",
    ))
    assert figures["order_cycle_days"] == pytest.approx(_scalar(
        source, "SELECT AVG(julianday(shipped_date) - julianday(order_date)) FROM orders WHERE shipped_date IS NOT NULL"
    ))
    assert figures["lost_sales_units"] == 0  # Northwind records no cancellations
    # Northwind records no costs: figures that need them are null, never invented.
    assert figures["inventory_value"] is None
    assert figures["backorder_cost"] is None and figures["backorder_cost_to_sales"] is None
    assert figures["purchase_lead_time_days"] is None and figures["inventory_accuracy"] is None
    assert figures["gross_margin"] is None
    assert figures["inventory_turnover"] is None
    assert figures["days_on_hand"] is None
