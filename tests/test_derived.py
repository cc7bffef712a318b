"""The derived order state gives the headline report exactly the figures of the full computation.

``data_access.derived`` keeps closed orders' final state and rollups so the report reads a few
thousand rows; the report then adds the orders still open as of the date. These tests compare
both ways at many dates, after a full load, after an incremental load that changes a few
orders, and when something wrote past the loader (the report must notice and fall back).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from data_access import derived, schema
from data_access.queries import headline_inputs, last_data_date
from etl.loader import load_directory


def _assert_same_figures(engine, days) -> None:
    for day in days:
        fast = headline_inputs(engine, day, use_derived=True)
        full = headline_inputs(engine, day, use_derived=False)
        assert fast.keys() == full.keys()
        for key, value in full.items():
            if value is None:
                assert fast[key] is None, (day, key)
            else:
                assert fast[key] == pytest.approx(value, rel=1e-9, abs=1e-6), (day, key)


def _dates(engine) -> list[dt.date]:
    end = last_data_date(engine)
    return [end, end - dt.timedelta(days=1), end - dt.timedelta(days=9), end - dt.timedelta(days=45),
            end - dt.timedelta(days=200), end - dt.timedelta(days=700), dt.date(2000, 1, 1)]


def test_full_load_builds_state_that_matches(engine, small_demo_dir: Path) -> None:
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    assert derived.is_current(engine)
    with engine.connect() as connection:
        lines = connection.execute(select(func.count()).select_from(schema.fact_sales_order_line)).scalar_one()
        states = connection.execute(select(func.count()).select_from(schema.fact_order_line_state)).scalar_one()
        open_orders = connection.execute(
            select(func.count()).select_from(schema.fact_order_state).where(schema.fact_order_state.c.closed_on.is_(None))
        ).scalar_one()
        orders = connection.execute(select(func.count()).select_from(schema.fact_order_state)).scalar_one()
    assert states == lines
    assert 0 < open_orders < orders  # the demo ends with some orders still open, most closed
    _assert_same_figures(engine, _dates(engine))


def test_incremental_load_refreshes_only_changed_orders(engine, small_demo_dir: Path, tmp_path: Path) -> None:
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    end = last_data_date(engine)
    with engine.connect() as connection:
        state = schema.fact_order_line_state
        open_line = connection.execute(
            select(state.c.order_no, schema.fact_sales_order_line.c.line_no, state.c.qty_ordered, state.c.shipped)
            .join(schema.fact_sales_order_line, schema.fact_sales_order_line.c.id == state.c.sales_order_line_id)
            .where(state.c.closed_on.is_(None), state.c.qty_cancelled == 0)
            .order_by(state.c.order_no)
            .limit(1)
        ).one()
        before = connection.execute(
            select(schema.fact_order_state.c.closed_on).where(schema.fact_order_state.c.order_no == open_line.order_no)
        ).scalar_one()
    assert before is None
    # A drop with one shipment that completes the open line, on the last day of the data.
    folder = tmp_path / "drop"
    folder.mkdir()
    template = pd.read_csv(small_demo_dir / "shipments.csv", nrows=1, dtype=str)
    row = template.iloc[0].copy()
    row["shipment_no"] = "SH-TEST-1"
    row["order_no"], row["line_no"] = open_line.order_no, str(open_line.line_no)
    row["ship_date"] = row["eta"] = end.isoformat()
    row["qty"] = str(open_line.qty_ordered - open_line.shipped)
    for column in ("delivered_date",):
        if column in row.index:
            row[column] = ""
    if "status" in row.index:
        row["status"] = "in_transit"
    pd.DataFrame([row]).to_csv(folder / "shipments.csv", index=False)
    load_directory(engine, folder, today=dt.date(2026, 11, 1))
    assert derived.is_current(engine)
    with engine.connect() as connection:
        after = connection.execute(
            select(schema.fact_order_state.c.closed_on).where(schema.fact_order_state.c.order_no == open_line.order_no)
        ).scalar_one()
    lines_of_order = pd.read_csv(small_demo_dir / "sales_order_lines.csv", dtype=str).query(
        "order_no == @open_line.order_no"
    )
    if len(lines_of_order) == 1:
        assert pd.Timestamp(after).date() == end  # the order closed with that shipment
    _assert_same_figures(engine, [end, end - dt.timedelta(days=1), end - dt.timedelta(days=60)])


def test_writes_past_the_loader_make_the_report_fall_back(engine, small_demo_dir: Path) -> None:
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    end = last_data_date(engine)
    with engine.begin() as connection:
        line = connection.execute(
            select(schema.fact_sales_order_line.c.id, schema.fact_sales_order_line.c.qty_ordered)
            .join(schema.fact_order_line_state,
                  schema.fact_order_line_state.c.sales_order_line_id == schema.fact_sales_order_line.c.id)
            .where(schema.fact_order_line_state.c.closed_on.is_(None))
            .limit(1)
        ).one()
        connection.execute(insert(schema.fact_shipment).values(
            shipment_no="SH-DIRECT", order_line_id=line.id, ship_date=end, qty=line.qty_ordered, status="shipped",
        ))
    assert not derived.is_current(engine)
    stale = headline_inputs(engine, end, use_derived=True)
    correct = headline_inputs(engine, end)  # notices the state is behind and computes in full
    assert correct == headline_inputs(engine, end, use_derived=False)
    assert correct["open_orders"] == stale["open_orders"] - 1 or correct["revenue"] != stale["revenue"]
    with engine.begin() as connection:
        derived.refresh(connection)
    assert derived.is_current(engine)
    _assert_same_figures(engine, [end])
    assert headline_inputs(engine, end) == pytest.approx(correct)


def test_monthly_trend_from_rollups_equals_facts(engine, small_demo_dir: Path) -> None:
    from data_access.queries import monthly_trend

    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    for day in _dates(engine)[:5]:
        fast = monthly_trend(engine, day, use_derived=True)
        full = monthly_trend(engine, day, use_derived=False)
        pd.testing.assert_frame_equal(fast, full, check_dtype=False, atol=1e-6)


def test_backorder_counts_in_sql_equal_kpi_function(engine, small_demo_dir: Path) -> None:
    """The database's backorder counts by dimension and month give kpis.backorder_rate's figures exactly."""
    from analytics import kpis
    from data_access import frames
    from data_access.queries import backorder_counts

    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    end = last_data_date(engine)
    for as_of in (end, end - dt.timedelta(days=40)):
        since = as_of - dt.timedelta(days=365)
        lines = frames.order_lines(engine, as_of, since=since)
        for by, monthly in (((), False), (("category",), False), (("segment", "location"), True), (("channel",), True)):
            fast = kpis.backorder_rate_from_counts(backorder_counts(engine, as_of, since, by, monthly=monthly))
            slow = kpis.backorder_rate(lines, as_of, by=list(by), freq="M" if monthly else None)
            keys = [*by, *(["period"] if monthly else [])]
            merged = slow.merge(fast, on=keys, suffixes=("", "_sql"), how="outer") if keys else pd.concat(
                [slow.reset_index(drop=True), fast.add_suffix("_sql")], axis=1)
            assert len(merged) == len(slow) == len(fast), (by, monthly)
            for column in ("lines_due", "lines_backordered", "units_due", "units_short", "backorder_rate"):
                assert merged[column].to_numpy() == pytest.approx(merged[f"{column}_sql"].to_numpy()), (by, column)


def _rollups(engine) -> dict[str, pd.DataFrame]:
    """The rollup tables, sorted by their keys, for comparing two ways of building them."""
    keys = {"agg_settled_lines": ["order_closed_on", "requested_date"], "agg_settled_orders": ["closed_on", "last_requested"],
            "agg_daily": ["day"]}
    with engine.connect() as connection:
        return {
            name: pd.read_sql_table(name, connection).sort_values(key).reset_index(drop=True)
            for name, key in keys.items()
        }


def test_incremental_rollups_equal_a_full_rebuild(engine, small_demo_dir: Path, tmp_path: Path) -> None:
    """A drop that moves a shipment's date, adds a shipment, a late new order and a ledger movement
    recomputes only the days it reaches, and the rollups equal those of a full rebuild row for row."""
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    end = last_data_date(engine)
    shipments = pd.read_csv(small_demo_dir / "shipments.csv", dtype=str, keep_default_na=False)
    lines = pd.read_csv(small_demo_dir / "sales_order_lines.csv", dtype=str, keep_default_na=False)
    movements = pd.read_csv(small_demo_dir / "inventory_movements.csv", dtype=str, keep_default_na=False)
    folder = tmp_path / "drop"
    folder.mkdir()
    # An old shipment made well before its requested date, two days later than it was: its
    # line's backlog (hence the snapshots) does not change, its revenue moves from one day to another.
    early = shipments.merge(lines[["order_no", "line_no", "requested_date"]], on=["order_no", "line_no"])
    early = early[pd.to_datetime(early["ship_date"]) + pd.Timedelta(days=3) < pd.to_datetime(early["requested_date"])]
    moved = early.iloc[[len(early) // 2]][shipments.columns].copy()
    moved["ship_date"] = (pd.Timestamp(moved["ship_date"].iloc[0]) + pd.Timedelta(days=2)).date().isoformat()
    moved["eta"] = moved["ship_date"]
    moved["delivered_date"] = ""
    moved.to_csv(folder / "shipments.csv", index=False)
    new_line = lines.iloc[[0]].copy()  # a new order already past its requested date, nothing shipped
    new_line["order_no"], new_line["line_no"] = "SO-NEW-1", "1"
    new_line["order_date"] = (end - dt.timedelta(days=20)).isoformat()
    new_line["requested_date"] = new_line["promised_date"] = (end - dt.timedelta(days=5)).isoformat()
    new_line["qty_shipped"], new_line["qty_cancelled"], new_line["cancelled_date"], new_line["status"] = "0", "0", "", "open"
    new_line.to_csv(folder / "sales_order_lines.csv", index=False)
    movement = movements.iloc[[1]].copy()
    movement["movement_no"], movement["ts"], movement["qty"] = "MV-NEW-1", f"{end.isoformat()} 10:00:00", "5"
    movement.to_csv(folder / "inventory_movements.csv", index=False)
    load_directory(engine, folder, today=dt.date(2026, 11, 1))
    assert derived.is_current(engine)
    incremental = _rollups(engine)
    with engine.begin() as connection:
        derived.refresh(connection, full=True)
    rebuilt = _rollups(engine)
    for name, frame in rebuilt.items():
        pd.testing.assert_frame_equal(incremental[name], frame, check_dtype=False, rtol=1e-9, atol=1e-6, obj=name)


def test_operational_writes_refresh_only_the_days_they_reach(engine, small_demo_dir: Path) -> None:
    """Writes past the loader (a scan, the app) that mark what they change keep the rollups exact:
    a shipment moved to another day (both days' revenue change) and a new ledger movement."""
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    end = last_data_date(engine)
    shipment, line = schema.fact_shipment, schema.fact_sales_order_line
    with engine.begin() as connection:
        moved = connection.execute(
            select(shipment.c.id, shipment.c.shipment_no, shipment.c.ship_date, line.c.order_no)
            .join(line, line.c.id == shipment.c.order_line_id)
            .where(shipment.c.ship_date < line.c.requested_date)
            .order_by(shipment.c.id)
            .limit(1)
        ).one()
        connection.exec_driver_sql("CREATE TEMPORARY TABLE moved_shipments (shipment_no VARCHAR(64))")
        connection.exec_driver_sql(f"INSERT INTO moved_shipments VALUES ('{moved.shipment_no}')")
        derived.mark_shipment_days(connection, "moved_shipments")
        connection.execute(
            shipment.update().where(shipment.c.id == moved.id).values(ship_date=moved.ship_date + dt.timedelta(days=1))
        )
        derived.mark_orders(connection, [moved.order_no])
        product_id = connection.execute(select(func.min(schema.dim_product.c.id))).scalar_one()
        location_id = connection.execute(select(func.min(schema.dim_location.c.id))).scalar_one()
        connection.execute(insert(schema.fact_inventory_movement).values(
            product_id=product_id, location_id=location_id, movement_no="MV-SCAN-1", ts=dt.datetime.combine(end, dt.time(9)),
            qty=-1.0, kind="adjustment", unit_cost=1.0, source="scan",
        ))
        derived.refresh(connection, full=False)
    assert derived.is_current(engine)
    incremental = _rollups(engine)
    with engine.begin() as connection:
        derived.refresh(connection, full=True)
    for name, frame in _rollups(engine).items():
        pd.testing.assert_frame_equal(incremental[name], frame, check_dtype=False, rtol=1e-9, atol=1e-6, obj=name)
