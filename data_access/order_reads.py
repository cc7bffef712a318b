"""Reads of the order views (sales, customer portal) that ``data_access.promising`` does not hold: the customer
list, one customer's order history, the demo portal's customer, and when the backorder ETAs were last computed.

Open lines, backorders with their ETAs, availability, promises, alternatives, shipments, root causes and the
contact log come from ``data_access.promising``; the rules from ``analytics.promising`` and
``analytics.order_service``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, func, select

from data_access import schema
from data_access.frames import read_frame

CUSTOMER_COLUMNS = ["customer_id", "code", "name", "segment", "tier", "region", "email"]


def customers(engine: Engine) -> pd.DataFrame:
    """Every customer (``dim_customer``): customer_id, code, name, segment, tier, region, email; by code."""
    sql = "SELECT id, code, name, segment, tier, region, email FROM dim_customer ORDER BY code"
    with engine.connect() as connection:
        frame = read_frame(connection, sql, CUSTOMER_COLUMNS,
                           text_columns=("code", "name", "segment", "tier", "region", "email"))
    frame["customer_id"] = pd.to_numeric(frame["customer_id"]).astype("int64")
    for name in ("segment", "tier", "region", "email"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


_HISTORY = """
SELECT l.id, l.order_no, l.line_no, l.product_id, p.sku, p.name, p.category, l.location_id, loc.code, l.channel,
       l.order_date, l.requested_date, l.promised_date, l.qty_ordered, l.qty_shipped, l.qty_cancelled,
       l.unit_price, l.discount, l.status, l.priority,
       (SELECT MAX(sh.ship_date) FROM fact_shipment sh WHERE sh.order_line_id = l.id),
       (SELECT CASE WHEN COUNT(sh.delivered_date) = COUNT(*) THEN MAX(sh.delivered_date) END
          FROM fact_shipment sh WHERE sh.order_line_id = l.id)
  FROM fact_sales_order_line l
  JOIN dim_product p ON p.id = l.product_id
  JOIN dim_location loc ON loc.id = l.location_id
 WHERE l.customer_id = :customer_id AND l.order_date >= :start AND l.order_date <= :end
 ORDER BY l.order_date DESC, l.order_no DESC, l.line_no
"""
HISTORY_COLUMNS = [
    "line_id", "order_no", "line_no", "product_id", "sku", "product_name", "category", "location_id", "location",
    "channel", "order_date", "requested_date", "promised_date", "qty_ordered", "qty_shipped", "qty_cancelled",
    "unit_price", "discount", "status", "priority", "last_ship_date", "last_delivery_date",
]


def customer_order_lines(engine: Engine, customer_id: int, start: dt.date, end: dt.date) -> pd.DataFrame:
    """One customer's order lines ordered from ``start`` to ``end`` (inclusive) in their current state, newest
    order first: quantities, price, status, priority, product and location, and the last ship and delivery date
    of their shipments (delivery only once every shipment is delivered)."""
    params = {"customer_id": int(customer_id), "start": start, "end": end}
    with engine.connect() as connection:
        frame = read_frame(
            connection, _HISTORY, HISTORY_COLUMNS,
            text_columns=("order_no", "sku", "product_name", "category", "location", "channel", "status"),
            date_columns=("order_date", "requested_date", "promised_date", "last_ship_date", "last_delivery_date"),
            params=params,
        )
    frame = frame.astype({c: "int64" for c in ("line_id", "line_no", "product_id", "location_id")})
    frame = frame.astype(dict.fromkeys(("qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "discount"),
                                       float))
    frame["priority"] = pd.to_numeric(frame["priority"]).fillna(0).astype("int64")
    return frame


_MOST_BACKORDERS = """
SELECT l.customer_id, COUNT(*) AS lines
  FROM fact_sales_order_line l JOIN dim_customer c ON c.id = l.customer_id
 WHERE l.status IN ('open', 'partial') AND l.qty_ordered - l.qty_shipped - l.qty_cancelled > 1e-9
   AND l.requested_date <= :as_of
 GROUP BY l.customer_id, c.code
 ORDER BY lines DESC, c.code
 LIMIT 1
"""


def customer_with_most_backorders(engine: Engine, as_of: dt.date) -> int | None:
    """The customer with the most open backordered lines at ``as_of`` (open lines requested on or before it;
    ties: the lowest code), for the customer portal's demo mode; None when no line is backordered."""
    with engine.connect() as connection:
        frame = read_frame(connection, _MOST_BACKORDERS, ["customer_id", "lines"], params={"as_of": as_of})
    return None if frame.empty else int(frame["customer_id"].iloc[0])


def last_eta_run(engine: Engine) -> tuple[dt.datetime, str] | None:
    """When the backorder run last stored ETAs (UTC, its ``audit_log`` row) and who ran it; None before any."""
    log = schema.audit_log
    newest = (select(func.max(log.c.id)).where(log.c.action == "backorders.eta_run")).scalar_subquery()
    with engine.connect() as connection:
        row = connection.execute(select(log.c.ts, log.c.user_name).where(log.c.id == newest)).first()
    if row is None:
        return None
    return pd.Timestamp(row.ts).to_pydatetime(), str(row.user_name or "the scheduled job")
