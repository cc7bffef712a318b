"""Headline report: formulas checked on values worked out by hand."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analytics.report import days_on_hand, gross_margin, headline, inventory_turnover, ratio
from data_access.queries import headline_inputs, last_data_date
from etl.loader import load_directory

ROOT = Path(__file__).resolve().parents[1]


def test_ratio_and_margin_formulas() -> None:
    """ratio is None for a zero or missing denominator; margin = (140 − 90) / 140."""
    assert ratio(1, 0) is None and ratio(None, 2) is None and ratio(3, 4) == 0.75
    assert gross_margin(140.0, 90.0) == pytest.approx(50 / 140)
    assert gross_margin(140.0, None) is None
    # 90 COGS over 6 days, average inventory value 56: 90 / 56 turns in 6 days → × 365 / 6 a year.
    assert inventory_turnover(90.0, 56.0, 6) == pytest.approx(90 / 56 * 365 / 6)
    assert days_on_hand(90.0, 56.0, 6) == pytest.approx(56 / 15)
    assert inventory_turnover(None, 56.0, 6) is None and days_on_hand(90.0, None, 6) is None


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)


@pytest.fixture
def tiny_company(tmp_path: Path) -> Path:
    """One product (cost 6, price 10), three orders, a small ledger and an open PO."""
    _write(tmp_path, "locations", [{"code": "WH", "name": "Warehouse", "kind": "warehouse"}])
    _write(tmp_path, "suppliers", [{"code": "S1", "name": "Supplier"}])
    _write(tmp_path, "products", [{"sku": "P1", "name": "Widget", "category": "Parts", "unit_cost": 6,
                                   "unit_price": 10, "make_or_buy": "buy", "supplier": "S1"}])
    _write(tmp_path, "customers", [{"code": "C1", "name": "Customer"}])
    line = {"customer": "C1", "product": "P1", "location": "WH", "unit_price": 10, "line_no": 1}
    _write(tmp_path, "sales_order_lines", [
        {**line, "order_no": "SO1", "order_date": "2024-01-01", "requested_date": "2024-01-03", "qty_ordered": 10,
         "qty_shipped": 10, "discount": 0.1, "status": "shipped"},
        {**line, "order_no": "SO2", "order_date": "2024-01-02", "requested_date": "2024-01-04", "qty_ordered": 5,
         "qty_shipped": 5, "discount": 0, "status": "shipped"},
        {**line, "order_no": "SO3", "order_date": "2024-01-05", "requested_date": "2024-01-10", "qty_ordered": 4,
         "qty_shipped": 0, "discount": 0, "status": "open"},
    ])
    _write(tmp_path, "shipments", [
        {"shipment_no": "SH1", "order_no": "SO1", "line_no": 1, "ship_date": "2024-01-02", "qty": 10, "status": "delivered"},
        {"shipment_no": "SH2", "order_no": "SO2", "line_no": 1, "ship_date": "2024-01-03", "qty": 3, "status": "delivered"},
        {"shipment_no": "SH3", "order_no": "SO2", "line_no": 1, "ship_date": "2024-01-06", "qty": 2, "status": "in_transit"},
    ])
    move = {"product": "P1", "location": "WH", "unit_cost": 6}
    _write(tmp_path, "inventory_movements", [
        {**move, "movement_no": "M1", "ts": "2024-01-01 08:00:00", "qty": 20, "kind": "receipt"},
        {**move, "movement_no": "M2", "ts": "2024-01-02 14:00:00", "qty": -10, "kind": "shipment"},
        {**move, "movement_no": "M3", "ts": "2024-01-03 14:00:00", "qty": -3, "kind": "shipment"},
        {**move, "movement_no": "M4", "ts": "2024-01-06 14:00:00", "qty": -2, "kind": "shipment"},
    ])
    _write(tmp_path, "purchase_order_lines", [
        {"po_no": "PO1", "line_no": 1, "supplier": "S1", "product": "P1", "location": "WH", "order_date": "2024-01-04",
         "qty_ordered": 8, "status": "open"},
    ])
    return tmp_path


def test_headline_on_a_hand_computed_company(engine, tiny_company: Path) -> None:
    """Every figure of the report against arithmetic done by hand (see the comments)."""
    load_directory(engine, tiny_company, today=dt.date(2024, 2, 1))
    as_of = last_data_date(engine)
    assert as_of == dt.date(2024, 1, 6)  # the last shipment / movement
    figures = headline(headline_inputs(engine, as_of))
    assert figures["orders"] == 3 and figures["order_lines"] == 3
    assert figures["units_ordered"] == 19  # 10 + 5 + 4
    assert figures["revenue"] == pytest.approx(140)  # 10×10×0.9 + 3×10 + 2×10
    assert figures["open_orders"] == 1  # SO3: nothing shipped
    assert figures["on_time_delivery_rate"] == pytest.approx(0.5)  # SO1 on time, SO2 last shipped 01-06 > 01-04
    assert figures["on_hand_units"] == 5  # 20 − 10 − 3 − 2
    assert figures["on_order_units"] == 8  # PO1 open
    assert figures["gross_margin"] == pytest.approx((140 - 90) / 140)  # COGS = 15 units × 6
    assert figures["fill_rate"] == pytest.approx(13 / 15)  # due: SO1 10 of 10, SO2 3 of 5 by 01-04
    assert figures["backorder_rate"] == pytest.approx(1 / 2)  # SO2 of the two due lines
    # Daily on-hand 01-01..01-06: 20, 10, 7, 7, 7, 5 → value at cost 6: 120, 60, 42, 42, 42, 30 → mean 56.
    assert figures["inventory_turnover"] == pytest.approx(90 / 56 * 365 / 6)
    assert figures["days_on_hand"] == pytest.approx(56 / (90 / 6))
    # Issue-3 figures. Due lines: SO1 (filled), SO2 (3 of 5 by 01-04: short); SO3 due 01-10, not yet.
    assert figures["line_fill_rate"] == pytest.approx(1 / 2)
    assert figures["order_fill_rate"] == pytest.approx(1 / 2)  # orders fully due: SO1 filled, SO2 not
    assert figures["inventory_value"] == pytest.approx(30)  # 5 on hand × 6 on 01-06
    assert figures["lost_sales_units"] == 0 and figures["lost_sales_revenue"] == 0  # nothing cancelled
    # SO2's backorder: 2 units short from 01-04 until the last shipment on 01-06 → 2 days;
    # carrying = 2 units × 2 days × cost 6 × 25 % / 365; no lost margin.
    assert figures["backorder_cost"] == pytest.approx(round(2 * 2 * 6 * 0.25 / 365, 2))
    # over the revenue of the due lines: SO1 90 + SO2 50 = 140
    assert figures["backorder_cost_to_sales"] == pytest.approx(2 * 2 * 6 * 0.25 / 365 / 140)
    # orders shipped complete: SO1 01-01 → 01-02 (1 day), SO2 01-02 → 01-06 (4 days): mean 2.5
    assert figures["order_cycle_days"] == pytest.approx(2.5)
    # PO1 not received, no counts, no production: nothing to support these figures
    assert figures["purchase_lead_time_days"] is None and figures["supplier_on_time_rate"] is None
    assert figures["inventory_accuracy"] is None and figures["production_efficiency"] is None
    earlier = headline(headline_inputs(engine, dt.date(2024, 1, 3)))
    assert earlier["orders"] == 2 and earlier["revenue"] == pytest.approx(120)  # 90 + 3×10 shipped by 01-03
    assert earlier["open_orders"] == 1  # SO2 has 2 units open on 01-03


def test_report_command_json(tmp_path: Path, tiny_company: Path) -> None:
    """``python -m analytics report`` prints JSON with every required key; null where unsupported."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "etl", "--database-url", url, "load", str(tiny_company)],
                   check=True, cwd=ROOT, env=env, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "analytics", "report", "--database-url", url, "--as-of", "2024-01-06"],
                         check=True, cwd=ROOT, env=env, capture_output=True, text=True).stdout
    report = json.loads(out)
    for key in ("orders", "order_lines", "units_ordered", "revenue", "open_orders", "on_time_delivery_rate", "products",
                "on_hand_units", "on_order_units", "gross_margin", "inventory_turnover", "days_on_hand", "fill_rate",
                "backorder_rate"):
        assert key in report
    assert report["as_of"] == "2024-01-06" and report["revenue"] == pytest.approx(140)
    table = subprocess.run(
        [sys.executable, "-m", "analytics", "report", "--database-url", url, "--format", "table"],
        check=True, cwd=ROOT, env=env, capture_output=True, text=True,
    ).stdout
    assert "backorder rate" in table and "50.0%" in table
