"""Line-level frames for ``analytics`` (the input contracts of ``analytics.kpis`` and ``analytics.valuation``).

Each query returns the rows of one contract, as of a date, with dimension attributes joined
for grouping (category, sku, segment). The headline report sums the same states in SQL
(``queries``); these frames are for views that group and drill down over a window.
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, bindparam, text

DateLike = dt.date | None


def read_frame(
    connection: Connection,
    sql: str,
    columns: list[str],
    text_columns: tuple[str, ...] = (),
    date_columns: tuple[str, ...] = (),
    params: dict | None = None,
) -> pd.DataFrame:
    """Rows of ``sql`` as a DataFrame; ``text_columns`` stay text (codes with leading zeros),
    ``date_columns`` become ``datetime64``.

    PostgreSQL sends the rows with ``COPY … TO STDOUT`` and Arrow parses the CSV (ten times
    faster than fetching tuples); SQLite rows come as plain tuples (pandas probes Row objects
    slowly). ``params`` are bound first (literal SQL for ``COPY``, which takes no parameters).
    """
    if params:
        statement = text(sql).bindparams(*(bindparam(k, v, literal_execute=True) for k, v in params.items()))
        sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
        finally:
            cursor.close()
        if not buffer.tell():
            frame = pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
        else:
            buffer.seek(0)
            table = pacsv.read_csv(
                buffer,
                read_options=pacsv.ReadOptions(column_names=columns),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in text_columns},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            frame = table.to_pandas(date_as_object=False)
    else:
        rows = connection.exec_driver_sql(sql).fetchall()
        frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
    for name in date_columns:
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    return frame


#: Per order line, its shipments up to ``:as_of``: shipped, shipped by the requested date, last ship date and
#: last delivery date (null unless every shipment is delivered). The line state both the line frames here and
#: the headline report's sums (``queries``) are built on; ``{lines}`` is the order line table (or a CTE of some
#: of its rows) and ``{line_window}`` narrows the lines.
LINE_SHIP = """
line_ship AS (
    SELECT sh.order_line_id,
           SUM(sh.qty) AS shipped,
           SUM(CASE WHEN sh.ship_date <= l.requested_date THEN sh.qty ELSE 0 END) AS shipped_by_requested,
           MAX(sh.ship_date) AS last_ship,
           CASE WHEN COUNT(sh.delivered_date) = COUNT(*) THEN MAX(sh.delivered_date) END AS last_delivery
      FROM fact_shipment sh
      JOIN {lines} l ON l.id = sh.order_line_id
     WHERE sh.ship_date <= :as_of {line_window}
     GROUP BY sh.order_line_id
)"""
#: A line's cancelled quantity as of ``:as_of`` (a cancellation without a date counts from the order date).
CANCELLED_BY_AS_OF = (
    "CASE WHEN l.qty_cancelled > 0 AND COALESCE(l.cancelled_date, l.order_date) <= :as_of "
    "THEN l.qty_cancelled ELSE 0 END"
)

_ORDER_LINES = "WITH" + LINE_SHIP + """
SELECT l.order_no, l.line_no, l.product_id, l.location_id, l.customer_id, l.channel,
       p.sku, p.category, c.segment, c.tier, loc.code,
       l.order_date, l.requested_date, l.promised_date, l.qty_ordered,
       COALESCE(s.shipped, 0),
       """ + CANCELLED_BY_AS_OF + """,
       l.cancelled_date, l.unit_price, l.discount, l.status, l.priority,
       COALESCE(s.shipped_by_requested, 0), s.last_ship, s.last_delivery, p.unit_cost
  FROM fact_sales_order_line l
  JOIN dim_product p ON p.id = l.product_id
  JOIN dim_customer c ON c.id = l.customer_id
  JOIN dim_location loc ON loc.id = l.location_id
  LEFT JOIN line_ship s ON s.order_line_id = l.id
 WHERE l.order_date <= :as_of {line_window}
"""

ORDER_LINE_COLUMNS = [
    "order_no", "line_no", "product_id", "location_id", "customer_id", "channel", "sku", "category", "segment",
    "tier", "location", "order_date", "requested_date", "promised_date", "qty_ordered", "qty_shipped",
    "qty_cancelled", "cancelled_date", "unit_price", "discount", "status", "priority", "shipped_by_requested_qty",
    "last_ship_date", "last_delivery_date", "unit_cost",
]
_ORDER_LINE_DATES = (
    "order_date", "requested_date", "promised_date", "cancelled_date", "last_ship_date", "last_delivery_date",
)


def order_lines(engine: Engine, as_of: dt.date, since: DateLike = None) -> pd.DataFrame:
    """Sales order lines ordered by ``as_of`` (and requested from ``since``), in their state at ``as_of``.

    The ``analytics.kpis.ORDER_LINES`` contract: shipped (by as-of and by the requested date),
    cancelled by as-of, last ship and delivery dates, with sku, category, segment, tier and
    location code to group by.
    """
    window = "AND l.requested_date >= :since" if since else ""
    params = {"as_of": as_of, **({"since": since} if since else {})}
    with engine.connect() as connection:
        return read_frame(
            connection, _ORDER_LINES.format(lines="fact_sales_order_line", line_window=window), ORDER_LINE_COLUMNS,
            text_columns=("order_no", "sku", "category", "segment", "tier", "location", "channel", "status"),
            date_columns=_ORDER_LINE_DATES, params=params,
        )


def po_lines(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """Purchase order lines ordered by ``as_of``, receipts after it not yet received (``kpis.PO_LINES``)."""
    sql = """
    SELECT po.po_no, po.line_no, po.supplier_id, sup.code, po.product_id, p.sku, p.category, po.location_id,
           po.order_date, po.expected_date,
           CASE WHEN po.received_date <= :as_of THEN po.received_date END,
           po.qty_ordered, CASE WHEN po.received_date <= :as_of THEN po.qty_received ELSE 0 END, po.status
      FROM fact_purchase_order_line po
      JOIN dim_product p ON p.id = po.product_id
      JOIN dim_supplier sup ON sup.id = po.supplier_id
     WHERE po.order_date <= :as_of
    """
    columns = ["po_no", "line_no", "supplier_id", "supplier", "product_id", "sku", "category", "location_id",
               "order_date", "expected_date", "received_date", "qty_ordered", "qty_received", "status"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("po_no", "supplier", "sku", "category", "status"),
            date_columns=("order_date", "expected_date", "received_date"), params={"as_of": as_of},
        )


def cycle_counts(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """Cycle counts up to ``as_of`` (``kpis.CYCLE_COUNTS``) with sku and category."""
    sql = """
    SELECT cc.count_no, cc.count_date, cc.product_id, p.sku, p.category, cc.location_id, cc.system_qty,
           cc.counted_qty
      FROM fact_cycle_count cc JOIN dim_product p ON p.id = cc.product_id
     WHERE cc.count_date <= :as_of
    """
    columns = ["count_no", "count_date", "product_id", "sku", "category", "location_id", "system_qty", "counted_qty"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("count_no", "sku", "category"), date_columns=("count_date",),
            params={"as_of": as_of},
        )


def production_orders(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """Production orders started by ``as_of``, finished only if finished by then (``kpis.PRODUCTION_ORDERS``)."""
    sql = """
    SELECT mo.mo_no, mo.product_id, p.sku, p.category, mo.location_id, mo.start_date, mo.due_date,
           CASE WHEN mo.finished_date <= :as_of THEN mo.finished_date END,
           mo.qty_planned, CASE WHEN mo.finished_date <= :as_of THEN mo.qty_produced ELSE 0 END,
           CASE WHEN mo.status = 'finished' AND mo.finished_date > :as_of THEN 'released' ELSE mo.status END
      FROM fact_production_order mo JOIN dim_product p ON p.id = mo.product_id
     WHERE mo.start_date <= :as_of
    """
    columns = ["mo_no", "product_id", "sku", "category", "location_id", "start_date", "due_date", "finished_date",
               "qty_planned", "qty_produced", "status"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("mo_no", "sku", "category", "status"),
            date_columns=("start_date", "due_date", "finished_date"), params={"as_of": as_of},
        )


def ledger(engine: Engine, as_of: dt.date, product_ids: list[int] | None = None) -> pd.DataFrame:
    """Inventory movements up to the end of ``as_of`` (``analytics.valuation`` movements), oldest first."""
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    only = f"AND m.product_id IN ({', '.join(str(int(p)) for p in product_ids)})" if product_ids else ""
    sql = f"""
    SELECT m.product_id, p.sku, p.category, m.location_id, m.ts, m.qty, m.kind, m.unit_cost
      FROM fact_inventory_movement m JOIN dim_product p ON p.id = m.product_id
     WHERE m.ts < :until {only}
     ORDER BY m.product_id, m.location_id, m.ts, m.id
    """
    columns = ["product_id", "sku", "category", "location_id", "ts", "qty", "kind", "unit_cost"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("sku", "category", "kind"), date_columns=("ts",),
            params={"until": until},
        )


def standard_costs(engine: Engine) -> pd.Series:
    """The current standard unit cost of every product (dim_product.unit_cost), indexed by product id."""
    with engine.connect() as connection:
        frame = read_frame(connection, "SELECT id, unit_cost FROM dim_product", ["product_id", "unit_cost"])
    return frame.set_index("product_id")["unit_cost"]


_INVENTORY_LEVELS = """
WITH demand AS (
    SELECT product_id, location_id, SUM(qty_ordered) AS ordered
      FROM fact_sales_order_line
     WHERE order_date > :since AND order_date <= :as_of
     GROUP BY product_id, location_id
)
SELECT s.product_id, p.sku, p.name, p.category, p.make_or_buy, s.location_id, loc.code,
       s.on_hand, s.on_order, s.allocated, s.backordered, s.unit_cost, p.reorder_point,
       COALESCE(d.ordered, 0)
  FROM fact_inventory_snapshot s
  JOIN dim_product p ON p.id = s.product_id
  JOIN dim_location loc ON loc.id = s.location_id
  LEFT JOIN demand d ON d.product_id = s.product_id AND d.location_id = s.location_id
 WHERE s.snapshot_date = :as_of
"""


def inventory_levels(engine: Engine, as_of: dt.date, demand_days: int = 90) -> pd.DataFrame:
    """Stock per product-location at the end of ``as_of`` (the daily snapshot) with the units
    ordered over the ``demand_days`` before it, for days of cover and the low-stock list."""
    columns = ["product_id", "sku", "name", "category", "make_or_buy", "location_id", "location", "on_hand",
               "on_order", "allocated", "backordered", "unit_cost", "reorder_point", "demand_units"]
    with engine.connect() as connection:
        frame = read_frame(
            connection, _INVENTORY_LEVELS, columns,
            text_columns=("sku", "name", "category", "make_or_buy", "location"),
            params={"as_of": as_of, "since": as_of - dt.timedelta(days=demand_days)},
        )
    frame["daily_demand"] = frame["demand_units"] / demand_days
    return frame
