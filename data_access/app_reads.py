"""Reads the app's production and admin views need that no other module gives (issue 6).

Data loads (``etl_run``) and their rejected rows (``etl_reject``), open production orders, the audit log and
when the data was last loaded. Reads return DataFrames; counts and groupings run in the database.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine

from data_access.frames import read_frame

ETL_RUN_COLUMNS = ["id", "source", "kind", "started_at", "finished_at", "status", "rows_read", "rows_loaded",
                   "rows_rejected", "message"]


def etl_runs(engine: Engine, limit: int = 500) -> pd.DataFrame:
    """The latest ``limit`` data loads, newest first: id, source, kind, started_at, finished_at, status,
    rows_read, rows_loaded, rows_rejected, message, and seconds (finished − started; NaN while running)."""
    sql = f"""
    SELECT id, source, kind, started_at, finished_at, status, rows_read, rows_loaded, rows_rejected, message
      FROM etl_run ORDER BY id DESC LIMIT {int(limit)}
    """
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ETL_RUN_COLUMNS, text_columns=("source", "kind", "status", "message"),
                           date_columns=("started_at", "finished_at"))
    for name in ("id", "rows_read", "rows_loaded", "rows_rejected"):
        frame[name] = pd.to_numeric(frame[name]).astype("int64")
    frame["seconds"] = (frame["finished_at"] - frame["started_at"]).dt.total_seconds()
    return frame


def etl_reject_summary(engine: Engine, run_id: int) -> pd.DataFrame:
    """Rejected rows of one load counted per file, column and reason (most frequent first): file, column_name,
    reason, rows."""
    sql = """
    SELECT file, column_name, reason, COUNT(*) AS n
      FROM etl_reject WHERE run_id = :run_id
     GROUP BY file, column_name, reason
     ORDER BY n DESC, file, column_name, reason
    """
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["file", "column_name", "reason", "rows"],
                           text_columns=("file", "column_name", "reason"), params={"run_id": int(run_id)})
    frame["rows"] = pd.to_numeric(frame["rows"]).astype("int64")
    return frame


def etl_rejects(engine: Engine, run_id: int, limit: int = 10_000) -> pd.DataFrame:
    """The first ``limit`` rejected rows of one load, by file and row: file, row_number, column_name, value,
    reason."""
    sql = f"""
    SELECT file, row_number, column_name, value, reason
      FROM etl_reject WHERE run_id = :run_id
     ORDER BY file, row_number, id LIMIT {int(limit)}
    """
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["file", "row_number", "column_name", "value", "reason"],
                           text_columns=("file", "column_name", "value", "reason"), params={"run_id": int(run_id)})
    frame["row_number"] = pd.to_numeric(frame["row_number"]).astype("Int64")
    return frame


def last_load(engine: Engine) -> dt.datetime | None:
    """When the last successful data load finished (``etl_run``), None before any."""
    sql = "SELECT MAX(finished_at) FROM etl_run WHERE status = 'succeeded'"
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["finished_at"], date_columns=("finished_at",))
    value = frame["finished_at"].iloc[0] if len(frame) else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


PRODUCTION_ORDER_COLUMNS = ["mo_no", "product_id", "sku", "name", "category", "location", "start_date", "due_date",
                            "qty_planned", "qty_produced", "status", "origin", "unit_cost"]


def open_production_orders(engine: Engine) -> pd.DataFrame:
    """Production orders not finished nor cancelled (status planned or released), by due date: mo_no,
    product_id, sku, name, category, location, start_date, due_date, qty_planned, qty_produced, status, origin,
    unit_cost."""
    sql = """
    SELECT mo.mo_no, mo.product_id, p.sku, p.name, p.category, loc.code, mo.start_date, mo.due_date,
           mo.qty_planned, mo.qty_produced, mo.status, mo.origin, p.unit_cost
      FROM fact_production_order mo
      JOIN dim_product p ON p.id = mo.product_id
      JOIN dim_location loc ON loc.id = mo.location_id
     WHERE mo.status IN ('planned', 'released')
     ORDER BY mo.due_date, mo.mo_no
    """
    with engine.connect() as connection:
        frame = read_frame(connection, sql, PRODUCTION_ORDER_COLUMNS,
                           text_columns=("mo_no", "sku", "name", "category", "location", "status", "origin"),
                           date_columns=("start_date", "due_date"))
    for name in ("qty_planned", "qty_produced", "unit_cost"):
        frame[name] = pd.to_numeric(frame[name]).astype(float)
    frame["product_id"] = pd.to_numeric(frame["product_id"]).astype("int64")
    return frame


def product_demand(engine: Engine, start: dt.date, end: dt.date, make_or_buy: str | None = None) -> pd.DataFrame:
    """Units ordered per product and order date in [start, end], summed over locations in SQL (the
    ``analytics.kpis.DEMAND`` contract: date, product_id, demand_qty, with sku and category); only made or
    bought products with ``make_or_buy``."""
    only = "AND p.make_or_buy = :make_or_buy" if make_or_buy else ""
    sql = f"""
    SELECT l.order_date, l.product_id, p.sku, p.category, SUM(l.qty_ordered)
      FROM fact_sales_order_line l JOIN dim_product p ON p.id = l.product_id
     WHERE l.order_date >= :start AND l.order_date <= :end {only}
     GROUP BY l.order_date, l.product_id, p.sku, p.category
     ORDER BY l.order_date, l.product_id
    """
    params = {"start": start, "end": end, **({"make_or_buy": make_or_buy} if make_or_buy else {})}
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["date", "product_id", "sku", "category", "demand_qty"],
                           text_columns=("sku", "category"), date_columns=("date",), params=params)
    frame["product_id"] = pd.to_numeric(frame["product_id"]).astype("int64")
    frame["demand_qty"] = pd.to_numeric(frame["demand_qty"]).astype(float)
    return frame


def audit_log(engine: Engine, limit: int = 200) -> pd.DataFrame:
    """The latest ``limit`` audit entries, newest first: ts, user_name, action, entity, entity_key."""
    sql = f"""
    SELECT ts, user_name, action, entity, entity_key FROM audit_log ORDER BY id DESC LIMIT {int(limit)}
    """
    with engine.connect() as connection:
        return read_frame(connection, sql, ["ts", "user_name", "action", "entity", "entity_key"],
                          text_columns=("user_name", "action", "entity", "entity_key"), date_columns=("ts",))


def products(engine: Engine, make_or_buy: str | None = None) -> pd.DataFrame:
    """Active products (only made or bought ones with ``make_or_buy``): product_id, sku, name, category,
    unit_cost."""
    only = "AND make_or_buy = :make_or_buy" if make_or_buy else ""
    sql = f"SELECT id, sku, name, category, unit_cost FROM dim_product WHERE active {only} ORDER BY sku"
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["product_id", "sku", "name", "category", "unit_cost"],
                           text_columns=("sku", "name", "category"),
                           params={"make_or_buy": make_or_buy} if make_or_buy else None)
    frame["product_id"] = pd.to_numeric(frame["product_id"]).astype("int64")
    frame["unit_cost"] = pd.to_numeric(frame["unit_cost"]).astype(float)
    return frame
