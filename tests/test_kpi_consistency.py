"""The headline report (sums in SQL) and ``analytics.kpis`` (line frames in pandas) agree on the demo company.

The report pushes its aggregation into the database for speed; the KPI functions are the
definitions views group and drill down with. Any drift between the two fails here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analytics import backorders, kpis
from analytics.report import CARRYING_RATE, headline
from data_access import frames
from data_access.queries import headline_inputs, last_data_date
from etl.loader import load_directory


def test_report_equals_kpi_functions(engine, small_demo_dir: Path) -> None:
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    as_of = last_data_date(engine)
    for day in (as_of, as_of - dt.timedelta(days=120)):
        figures = headline(headline_inputs(engine, day))
        lines = frames.order_lines(engine, day)
        assert len(lines) == figures["order_lines"]

        fill = kpis.fill_rate(lines, day).iloc[0]
        assert figures["fill_rate"] == pytest.approx(fill["unit_fill_rate"])
        assert figures["line_fill_rate"] == pytest.approx(fill["line_fill_rate"])
        assert figures["order_fill_rate"] == pytest.approx(fill["order_fill_rate"])
        assert figures["backorder_rate"] == pytest.approx(kpis.backorder_rate(lines, day).iloc[0]["backorder_rate"])

        lost = kpis.lost_sales(lines, day).iloc[0]
        assert figures["lost_sales_units"] == pytest.approx(lost["lost_units"])
        assert figures["lost_sales_revenue"] == pytest.approx(lost["lost_revenue"], abs=0.01)
        cost = backorders.backorder_cost(lines, day, carrying_rate=CARRYING_RATE).iloc[0]
        assert figures["backorder_cost"] == pytest.approx(cost["backorder_cost"], abs=0.01)
        assert figures["backorder_cost_to_sales"] == pytest.approx(cost["backorder_cost_to_sales"])

        cycle = kpis.order_cycle_time(lines, day).iloc[0]
        assert figures["order_cycle_days"] == pytest.approx(cycle["mean_days"])

        po = frames.po_lines(engine, day)
        assert figures["purchase_lead_time_days"] == pytest.approx(kpis.purchase_lead_time(po).iloc[0]["mean_days"])
        assert figures["supplier_on_time_rate"] == pytest.approx(
            kpis.supplier_on_time(po).iloc[0]["supplier_on_time_rate"]
        )
        counts = frames.cycle_counts(engine, day)
        assert figures["inventory_accuracy"] == pytest.approx(kpis.inventory_accuracy(counts).iloc[0]["inventory_accuracy"])
        production = frames.production_orders(engine, day)
        assert figures["production_efficiency"] == pytest.approx(
            kpis.production_efficiency(production).iloc[0]["production_efficiency"]
        )


def test_ledger_valuation_agrees_with_report(engine, small_demo_dir: Path, tmp_path: Path) -> None:
    """FIFO, average and standard valuation of the loaded ledger: quantities equal on hand, the books balance,
    and standard-cost value equals the snapshot value the report shows; the CLI writes the finance table."""
    import subprocess
    import sys

    import pandas as pd

    from analytics.valuation import cogs_by_period, valuation_as_of

    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    as_of = last_data_date(engine)
    figures = headline(headline_inputs(engine, as_of))
    movements = frames.ledger(engine, as_of)[["product_id", "location_id", "ts", "qty", "unit_cost"]]
    standard = frames.standard_costs(engine)
    for method in ("fifo", "average", "standard"):
        table = valuation_as_of(movements, as_of, method, standard if method == "standard" else None)
        assert table["ending_qty"].sum() == pytest.approx(figures["on_hand_units"])
        extra = table["ppv"] if method == "standard" else 0
        assert (table["received_value"] - table["cogs"] - table["ending_value"] - extra).abs().max() < 1e-6
        periods = cogs_by_period(movements, "M", method, standard if method == "standard" else None)
        assert periods["cogs"].sum() == pytest.approx(table["cogs"].sum())
    standard_value = valuation_as_of(movements, as_of, "standard", standard)["ending_value"].sum()
    assert standard_value == pytest.approx(figures["inventory_value"])

    if engine.dialect.name == "sqlite":
        out = tmp_path / "valuation.csv"
        root = Path(__file__).resolve().parents[1]
        subprocess.run(
            [sys.executable, "-m", "analytics", "valuation", "--database-url", str(engine.url), "--method", "average",
             "--out", str(out)],
            check=True, cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True,
        )
        written = pd.read_csv(out)
        assert {"sku", "category", "ending_qty", "ending_value", "cogs"} <= set(written.columns)
        assert written["ending_qty"].sum() == pytest.approx(figures["on_hand_units"])
