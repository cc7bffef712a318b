"""Read queries. Aggregations that shrink data run in the database; results are small."""

from __future__ import annotations

import datetime as dt
import re
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Date, DateTime, Engine, Float, bindparam, func, select, text

from data_access import derived, schema
from data_access.derived import days_between
from data_access.frames import CANCELLED_BY_AS_OF, LINE_SHIP, reads_in_one_snapshot

#: Per order line, as of a date: quantity shipped by then, shipped by the requested date,
#: cancelled by then, and the last ship date. The same state ``frames.order_lines`` returns
#: line by line for ``analytics.kpis`` (a test keeps the two in step).
_LINE_STATUS = "WITH{unsettled}{line_ship}" + """, raw_lines AS (
    SELECT l.order_no, l.order_date, l.requested_date, l.qty_ordered, l.unit_price * (1 - l.discount) AS net_price,
           p.unit_cost,
           COALESCE(s.shipped, 0) AS shipped,
           COALESCE(s.shipped_by_requested, 0) AS shipped_by_requested,
           """ + CANCELLED_BY_AS_OF + """ AS cancelled,
           COALESCE(l.cancelled_date, l.requested_date) AS cancelled_on,
           s.last_ship
      FROM {lines} l
      JOIN dim_product p ON p.id = l.product_id
      LEFT JOIN line_ship s ON s.order_line_id = l.id
     WHERE l.order_date <= :as_of
), lines AS (
    SELECT r.*,
           CASE WHEN requested_date <= :as_of THEN 1 ELSE 0 END AS due,
           CASE WHEN shipped_by_requested < qty_ordered - 1e-9 THEN 1 ELSE 0 END AS short,
           CASE WHEN shipped_by_requested < qty_ordered THEN shipped_by_requested ELSE qty_ordered END AS filled_units,
           CASE WHEN qty_ordered - shipped - cancelled > 1e-9 THEN 1 ELSE 0 END AS is_open,
           CASE WHEN cancelled > 1e-9 AND shipped_by_requested < qty_ordered - 1e-9
                     AND cancelled_on >= requested_date AND cancelled_on <= :as_of
                THEN cancelled ELSE 0 END AS lost_units
      FROM raw_lines r
), orders AS (
    SELECT order_no,
           MAX(is_open) AS is_open,
           MAX(CASE WHEN shipped > 0 THEN 1 ELSE 0 END) AS has_shipment,
           MAX(CASE WHEN shipped > 0 AND last_ship > requested_date THEN 1 ELSE 0 END) AS is_late,
           MAX(requested_date) AS last_requested,
           MAX(short) AS any_short,
           MIN(order_date) AS ordered,
           MAX(last_ship) AS completed,
           MIN(CASE WHEN shipped > 1e-9 OR is_open = 1
                    THEN CASE WHEN shipped > 1e-9 AND is_open = 0 THEN 1 ELSE 0 END END) AS all_complete
      FROM lines GROUP BY order_no
), backorders AS (
    SELECT qty_ordered - filled_units AS units,
           lost_units, net_price, unit_cost,
           {days_backordered} AS days
      FROM (
        SELECT l.*,
               CASE WHEN is_open = 1 THEN :as_of
                    ELSE {ended} END AS ended
          FROM lines l WHERE due = 1 AND short = 1
      ) b
)
"""

_ORDER_FIGURES = _LINE_STATUS + """
SELECT
    (SELECT COUNT(*) FROM orders) AS orders,
    (SELECT COUNT(*) FROM lines) AS order_lines,
    (SELECT COALESCE(SUM(qty_ordered), 0) FROM lines) AS units_ordered,
    (SELECT COUNT(*) FROM orders WHERE is_open = 1) AS open_orders,
    (SELECT COUNT(*) FROM orders WHERE is_open = 0 AND has_shipment = 1) AS shipped_orders,
    (SELECT COUNT(*) FROM orders WHERE is_open = 0 AND has_shipment = 1 AND is_late = 0) AS on_time_orders,
    (SELECT COUNT(*) FROM orders WHERE last_requested <= :as_of) AS due_orders,
    (SELECT COUNT(*) FROM orders WHERE last_requested <= :as_of AND any_short = 0) AS filled_orders,
    (SELECT COUNT(*) FROM orders WHERE all_complete = 1) AS completed_orders,
    (SELECT SUM({order_cycle}) FROM orders WHERE all_complete = 1) AS order_cycle_days,
    (SELECT COUNT(*) FROM lines WHERE due = 1) AS due_lines,
    (SELECT COUNT(*) FROM lines WHERE due = 1 AND short = 1) AS backordered_lines,
    (SELECT COALESCE(SUM(qty_ordered), 0) FROM lines WHERE due = 1) AS due_units,
    (SELECT COALESCE(SUM(filled_units), 0) FROM lines WHERE due = 1) AS units_shipped_by_requested,
    (SELECT COALESCE(SUM(shipped * net_price), 0) FROM lines WHERE due = 1) AS due_lines_revenue,
    (SELECT COALESCE(SUM(lost_units), 0) FROM lines) AS lost_sales_units,
    (SELECT COALESCE(SUM(lost_units * net_price), 0) FROM lines) AS lost_sales_revenue,
    (SELECT COALESCE(SUM(CASE WHEN lost_units > 0 THEN lost_units * (net_price - unit_cost) ELSE 0 END), 0)
       FROM backorders) AS lost_margin,
    (SELECT COALESCE(SUM(CASE WHEN units * days > 0 THEN units * days * unit_cost ELSE 0 END), 0)
       FROM backorders) AS backlog_value_days,
    (SELECT COUNT(*) FROM backorders WHERE unit_cost IS NULL) AS backorders_without_cost
"""

_SUPPLY_FIGURES = """
SELECT
    (SELECT COUNT(*) FROM fact_purchase_order_line
      WHERE status <> 'cancelled' AND received_date <= :as_of) AS received_po_lines,
    (SELECT SUM({lead_time}) FROM fact_purchase_order_line
      WHERE status <> 'cancelled' AND received_date <= :as_of) AS purchase_lead_days,
    (SELECT COUNT(*) FROM fact_purchase_order_line
      WHERE status <> 'cancelled' AND received_date <= :as_of AND expected_date IS NOT NULL) AS judged_po_lines,
    (SELECT COUNT(*) FROM fact_purchase_order_line
      WHERE status <> 'cancelled' AND received_date <= :as_of AND received_date <= expected_date) AS on_time_po_lines,
    (SELECT COUNT(*) FROM fact_cycle_count WHERE count_date <= :as_of) AS cycle_counts,
    (SELECT COUNT(*) FROM fact_cycle_count
      WHERE count_date <= :as_of AND ABS(counted_qty - system_qty) <= 1e-9) AS accurate_counts,
    (SELECT COALESCE(SUM(qty_planned), 0) FROM fact_production_order
      WHERE status = 'finished' AND finished_date <= :as_of) AS planned_production,
    (SELECT COALESCE(SUM(qty_produced), 0) FROM fact_production_order
      WHERE status = 'finished' AND finished_date <= :as_of) AS produced
"""


#: The lines of orders placed by ``:as_of`` that were still changing after it (``data_access.derived``),
#: found through the index on their order's closing day.
_UNSETTLED = """ unsettled_lines AS (
    SELECT l.* FROM fact_order_line_state st JOIN fact_sales_order_line l ON l.id = st.sales_order_line_id
     WHERE st.order_date <= :as_of AND (st.order_closed_on IS NULL OR st.order_closed_on > :as_of)
),"""
#: The same on PostgreSQL, as per-line lookups: its planner cannot see that few lines span ``:as_of``
#: (order and closing dates are correlated), expects hundreds of thousands, and would hash-join every
#: order line and shipment. LATERAL (with OFFSET 0, so it is not flattened into a join) fixes the plan.
_UNSETTLED_POSTGRES = """ unsettled_lines AS (
    SELECT l.* FROM fact_order_line_state st
     CROSS JOIN LATERAL (SELECT * FROM fact_sales_order_line x WHERE x.id = st.sales_order_line_id OFFSET 0) l
     WHERE st.order_date <= :as_of AND (st.order_closed_on IS NULL OR st.order_closed_on > :as_of)
),"""
_LINE_SHIP_POSTGRES = """
line_ship AS (
    SELECT u.id AS order_line_id, s.*
      FROM unsettled_lines u
     CROSS JOIN LATERAL (
        SELECT SUM(sh.qty) AS shipped,
               SUM(CASE WHEN sh.ship_date <= u.requested_date THEN sh.qty ELSE 0 END) AS shipped_by_requested,
               MAX(sh.ship_date) AS last_ship,
               CASE WHEN COUNT(sh.delivered_date) = COUNT(*) THEN MAX(sh.delivered_date) END AS last_delivery
          FROM fact_shipment sh
         WHERE sh.order_line_id = u.id AND sh.ship_date <= :as_of
     ) s
)"""


def _order_figures_sql(dialect: str, unsettled_only: bool = False) -> str:
    """The order figures over every line, or over the lines of orders not yet closed by ``:as_of``."""
    ended = (
        "CASE WHEN last_ship IS NULL AND cancelled <= 1e-9 THEN requested_date "
        "WHEN last_ship IS NULL THEN cancelled_on WHEN cancelled <= 1e-9 THEN last_ship "
        "WHEN last_ship > cancelled_on THEN last_ship ELSE cancelled_on END"
    )
    capped = "CASE WHEN ended > :as_of THEN :as_of ELSE ended END"
    days = days_between(capped, "requested_date", dialect)
    return _ORDER_FIGURES.format(
        unsettled=(_UNSETTLED_POSTGRES if dialect == "postgresql" else _UNSETTLED) if unsettled_only else "",
        line_ship=(
            _LINE_SHIP_POSTGRES
            if unsettled_only and dialect == "postgresql"
            else LINE_SHIP.format(lines="unsettled_lines" if unsettled_only else "fact_sales_order_line", line_window="")
        ),
        lines="unsettled_lines" if unsettled_only else "fact_sales_order_line",
        ended=ended,
        days_backordered=f"CASE WHEN {days} > 0 THEN {days} ELSE 0 END",
        order_cycle=days_between("completed", "ordered", dialect),
    )


_REVENUE = """
SELECT COALESCE(SUM(sh.qty * l.unit_price * (1 - l.discount)), 0)
  FROM fact_shipment sh JOIN fact_sales_order_line l ON l.id = sh.order_line_id
 WHERE sh.ship_date <= :as_of
"""

_COGS = """
SELECT COALESCE(SUM(-m.qty * m.unit_cost), 0) AS cogs,
       COUNT(*) AS issues,
       SUM(CASE WHEN m.unit_cost IS NULL THEN 1 ELSE 0 END) AS issues_without_cost,
       COALESCE(SUM(CASE WHEN m.ts >= :since THEN -m.qty * m.unit_cost ELSE 0 END), 0) AS period_cogs,
       SUM(CASE WHEN m.ts >= :since THEN 1 ELSE 0 END) AS period_issues,
       SUM(CASE WHEN m.ts >= :since AND m.unit_cost IS NULL THEN 1 ELSE 0 END) AS period_issues_without_cost
  FROM fact_inventory_movement m
 WHERE m.kind = 'shipment' AND m.ts < :until
"""

_ON_ORDER = """
SELECT
  (SELECT COALESCE(SUM(qty_ordered
            - CASE WHEN received_date IS NOT NULL AND received_date <= :as_of THEN qty_ordered ELSE 0 END), 0)
     FROM fact_purchase_order_line
    WHERE status <> 'cancelled' AND order_date <= :as_of)
+ (SELECT COALESCE(SUM(qty_planned), 0)
     FROM fact_production_order
    WHERE status <> 'cancelled' AND start_date <= :as_of
      AND (finished_date IS NULL OR finished_date > :as_of))
"""

_AVERAGE_INVENTORY_VALUE = """
SELECT SUM(on_hand * unit_cost) / COUNT(DISTINCT snapshot_date) AS value,
       SUM(CASE WHEN unit_cost IS NULL AND on_hand <> 0 THEN 1 ELSE 0 END) AS without_cost,
       COUNT(DISTINCT snapshot_date) AS days
  FROM fact_inventory_snapshot
 WHERE snapshot_date > :since_date AND snapshot_date <= :as_of
"""


def _params(sql: str):
    statement = text(sql)
    binds = []
    for name, kind in (("as_of", Date), ("since", DateTime), ("until", DateTime), ("since_date", Date)):
        if re.search(rf":{name}\b", sql):
            binds.append(bindparam(name, type_=kind))
    return statement.bindparams(*binds)


def last_data_date(connectable: Engine | Connection) -> dt.date | None:
    """The last day the data speaks of: latest order, shipment or ledger movement.

    Takes a connection too, so a load can ask inside its own transaction.
    """
    if isinstance(connectable, Engine):
        with connectable.connect() as connection:
            return last_data_date(connection)
    m, s, sh = schema.fact_inventory_movement, schema.fact_sales_order_line, schema.fact_shipment
    values = [
        connectable.execute(select(func.max(m.c.ts))).scalar(),
        connectable.execute(select(func.max(s.c.order_date))).scalar(),
        connectable.execute(select(func.max(sh.c.ship_date))).scalar(),
    ]
    dates = [pd.Timestamp(v).date() for v in values if v is not None]
    return max(dates) if dates else None


_SETTLED_LINES = """
SELECT COALESCE(SUM(lines), 0) AS order_lines,
       COALESCE(SUM(qty_ordered), 0) AS units_ordered,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN lines END), 0) AS due_lines,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN short_lines END), 0) AS backordered_lines,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN qty_ordered END), 0) AS due_units,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN filled_units END), 0) AS units_shipped_by_requested,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN shipped_revenue END), 0) AS due_lines_revenue,
       COALESCE(SUM(lost_units), 0) AS lost_sales_units,
       COALESCE(SUM(lost_revenue), 0) AS lost_sales_revenue,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN lost_margin END), 0) AS lost_margin,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN backlog_value_days END), 0) AS backlog_value_days,
       COALESCE(SUM(CASE WHEN requested_date <= :as_of THEN backorders_without_cost END), 0)
           AS backorders_without_cost
  FROM agg_settled_lines
 WHERE order_closed_on <= :as_of
"""

_SETTLED_ORDERS = """
SELECT COALESCE(SUM(orders), 0) AS orders,
       COALESCE(SUM(shipped_orders), 0) AS shipped_orders,
       COALESCE(SUM(on_time_orders), 0) AS on_time_orders,
       COALESCE(SUM(CASE WHEN last_requested <= :as_of THEN orders END), 0) AS due_orders,
       COALESCE(SUM(CASE WHEN last_requested <= :as_of THEN filled_orders END), 0) AS filled_orders,
       COALESCE(SUM(shipped_orders), 0) AS completed_orders,
       COALESCE(SUM(order_cycle_days), 0) AS order_cycle_days
  FROM agg_settled_orders
 WHERE closed_on <= :as_of
"""

_DAILY = """
SELECT COALESCE(SUM(CASE WHEN day <= :as_of THEN revenue END), 0) AS revenue,
       COALESCE(SUM(CASE WHEN day <= :as_of THEN ledger_qty END), 0) AS on_hand,
       COALESCE(SUM(CASE WHEN day <= :as_of THEN issue_value END), 0) AS cogs,
       COALESCE(SUM(CASE WHEN day <= :as_of THEN issues END), 0) AS issues,
       COALESCE(SUM(CASE WHEN day <= :as_of THEN issues_without_cost END), 0) AS issues_without_cost,
       COALESCE(SUM(CASE WHEN day > :since_date AND day <= :as_of THEN issue_value END), 0) AS period_cogs,
       COALESCE(SUM(CASE WHEN day > :since_date AND day <= :as_of THEN issues END), 0) AS period_issues,
       COALESCE(SUM(CASE WHEN day > :since_date AND day <= :as_of THEN issues_without_cost END), 0)
           AS period_issues_without_cost,
       SUM(CASE WHEN day = :as_of THEN inventory_value END) AS inventory_value,
       COALESCE(SUM(CASE WHEN day = :as_of THEN snapshot_rows_without_cost END), 0) AS snapshot_rows_without_cost,
       SUM(CASE WHEN day > :since_date AND day <= :as_of THEN inventory_value END)
         / NULLIF(SUM(CASE WHEN day > :since_date AND day <= :as_of AND snapshot_rows > 0 THEN 1 ELSE 0 END), 0)
           AS average_inventory_value,
       COALESCE(SUM(CASE WHEN day > :since_date AND day <= :as_of THEN snapshot_rows_without_cost END), 0)
           AS average_without_cost
  FROM agg_daily
"""


def _order_figures(connection: Connection, as_of: dt.date, use_derived: bool) -> dict[str, float]:
    """The order figures: closed orders from the rollups plus the rest line by line, or all line by line."""
    dialect = connection.dialect.name
    live = connection.execute(_params(_order_figures_sql(dialect, use_derived)), {"as_of": as_of}).mappings().one()
    figures = {k: float(v or 0) for k, v in live.items()}
    if use_derived:
        for sql in (_SETTLED_LINES, _SETTLED_ORDERS):
            for key, value in connection.execute(_params(sql), {"as_of": as_of}).mappings().one().items():
                figures[key] += float(value or 0)
    return figures


def _daily_figures(connection: Connection, as_of: dt.date, since_date: dt.date, use_derived: bool) -> dict[str, Any]:
    """Revenue, on-hand units, COGS (all and trailing) and inventory values, from ``agg_daily`` or the facts."""
    if use_derived:
        return dict(connection.execute(_params(_DAILY), {"as_of": as_of, "since_date": since_date}).mappings().one())
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    since = dt.datetime.combine(since_date + dt.timedelta(days=1), dt.time())
    supply_value = connection.execute(
        _params(
            "SELECT SUM(on_hand * unit_cost) AS inventory_value, "
            "COUNT(CASE WHEN unit_cost IS NULL AND on_hand <> 0 THEN 1 END) AS snapshot_rows_without_cost "
            "FROM fact_inventory_snapshot WHERE snapshot_date = :as_of"
        ),
        {"as_of": as_of},
    ).mappings().one()
    cogs = connection.execute(_params(_COGS), {"since": since, "until": until}).mappings().one()
    inventory = connection.execute(
        _params(_AVERAGE_INVENTORY_VALUE), {"as_of": as_of, "since_date": since_date}
    ).mappings().one()
    return {
        "revenue": connection.execute(_params(_REVENUE), {"as_of": as_of}).scalar_one(),
        "on_hand": connection.execute(
            select(func.coalesce(func.sum(schema.fact_inventory_movement.c.qty), 0)).where(
                schema.fact_inventory_movement.c.ts < until
            )
        ).scalar_one(),
        **cogs,
        **supply_value,
        "average_inventory_value": inventory["value"],
        "average_without_cost": inventory["without_cost"],
    }


def headline_inputs(engine: Engine, as_of: dt.date, period_days: int = 365, use_derived: bool | None = None) -> dict[str, Any]:
    """Sums the headline report needs, aggregated in the database over history up to ``as_of``.

    ``period_days`` is the trailing window for COGS and average inventory (turnover). The
    derived state (``data_access.derived``) is used when it is current, unless ``use_derived``
    says otherwise; both ways give the same figures (a test holds them together).
    """
    since_date = as_of - dt.timedelta(days=period_days)
    with engine.connect() as connection:
        if use_derived is None:
            use_derived = derived.is_current(connection)
        dialect = engine.dialect.name
        orders = _order_figures(connection, as_of, use_derived)
        supply = connection.execute(
            _params(_SUPPLY_FIGURES.format(lead_time=days_between("received_date", "order_date", dialect))), {"as_of": as_of}
        ).mappings().one()
        daily = _daily_figures(connection, as_of, since_date, use_derived)
        on_order = connection.execute(_params(_ON_ORDER), {"as_of": as_of}).scalar_one()
        products = connection.execute(select(func.count()).select_from(schema.dim_product)).scalar_one()
        first_order = connection.execute(select(func.min(schema.fact_sales_order_line.c.order_date))).scalar()
    first_day = pd.Timestamp(first_order).date() if first_order is not None else None
    history_days = (as_of - first_day).days + 1 if first_day else 0
    return {
        **orders,
        **{k: float(v or 0) for k, v in supply.items()},
        "inventory_value": float(daily["inventory_value"])
        if daily["inventory_value"] is not None and not daily["snapshot_rows_without_cost"]
        else None,
        "revenue": float(daily["revenue"] or 0),
        "products": int(products),
        "on_hand_units": float(daily["on_hand"] or 0),
        "on_order_units": float(on_order or 0),
        "cogs": float(daily["cogs"]) if daily["issues"] and not daily["issues_without_cost"] else None,
        "period_cogs": float(daily["period_cogs"])
        if daily["period_issues"] and not daily["period_issues_without_cost"]
        else None,
        "period_days": min(period_days, history_days),
        "average_inventory_value": float(daily["average_inventory_value"])
        if daily["average_inventory_value"] is not None and not daily["average_without_cost"]
        else None,
    }


_MONTHLY = """
SELECT {month} AS month,
       SUM(sh.qty * l.unit_price * (1 - l.discount)) AS revenue,
       SUM(sh.qty) AS units_shipped
  FROM fact_shipment sh JOIN fact_sales_order_line l ON l.id = sh.order_line_id
 WHERE sh.ship_date <= :as_of
 GROUP BY {month}
 ORDER BY 1
"""

_MONTHLY_BACKORDERS = """
SELECT {month} AS month,
       COUNT(*) AS due_lines,
       SUM(CASE WHEN COALESCE(s.by_requested, 0) < l.qty_ordered - 1e-9 THEN 1 ELSE 0 END) AS backordered_lines
  FROM fact_sales_order_line l
  LEFT JOIN (
        SELECT sh.order_line_id, SUM(sh.qty) AS by_requested
          FROM fact_shipment sh JOIN fact_sales_order_line x ON x.id = sh.order_line_id
         WHERE sh.ship_date <= x.requested_date
         GROUP BY sh.order_line_id
  ) s ON s.order_line_id = l.id
 WHERE l.requested_date <= :as_of
 GROUP BY {month}
 ORDER BY 1
"""


def _month_expression(engine: Engine, column: str) -> str:
    if engine.dialect.name == "postgresql":
        return f"TO_CHAR({column}, 'YYYY-MM')"
    return f"SUBSTR({column}, 1, 7)"


_MONTHLY_DERIVED = """
SELECT {month} AS month, SUM(revenue) AS revenue, SUM(units_shipped) AS units_shipped,
       SUM(requested_lines) AS due_lines, SUM(short_lines) AS backordered_lines
  FROM agg_daily
 WHERE day <= :as_of
 GROUP BY {month}
 ORDER BY 1
"""


def monthly_trend(engine: Engine, as_of: dt.date, use_derived: bool | None = None) -> pd.DataFrame:
    """Per month: revenue, units shipped (by ship month), lines due and backordered (by requested month).

    From ``agg_daily`` when the derived state is current (a line's backordered flag is final once
    it is due), else from the facts.
    """
    with engine.connect() as connection:
        if use_derived is None:
            use_derived = derived.is_current(connection)
        if use_derived:
            trend = pd.DataFrame(
                connection.execute(
                    _params(_MONTHLY_DERIVED.format(month=_month_expression(engine, "day"))), {"as_of": as_of}
                ).all(),
                columns=["month", "revenue", "units_shipped", "due_lines", "backordered_lines"],
            )
            trend = trend[(trend[["revenue", "units_shipped", "due_lines"]] != 0).any(axis=1)]
        else:
            sales = pd.DataFrame(
                connection.execute(
                    _params(_MONTHLY.format(month=_month_expression(engine, "sh.ship_date"))), {"as_of": as_of}
                ).all(),
                columns=["month", "revenue", "units_shipped"],
            )
            backorders = pd.DataFrame(
                connection.execute(
                    _params(_MONTHLY_BACKORDERS.format(month=_month_expression(engine, "l.requested_date"))),
                    {"as_of": as_of},
                ).all(),
                columns=["month", "due_lines", "backordered_lines"],
            )
            trend = sales.merge(backorders, on="month", how="outer")
    trend = trend.sort_values("month").fillna(0)
    for column in ("revenue", "units_shipped", "due_lines", "backordered_lines"):
        trend[column] = trend[column].astype(float)
    trend["backorder_rate"] = trend["backordered_lines"] / trend["due_lines"].where(trend["due_lines"] > 0)
    trend["month"] = pd.to_datetime(trend["month"] + "-01")
    return trend.reset_index(drop=True)


#: Dimensions the backorder counts can be grouped by, as SQL expressions over the joined tables.
BACKORDER_DIMENSIONS = {
    "category": "p.category", "sku": "p.sku", "segment": "c.segment", "tier": "c.tier", "location": "loc.code",
    "channel": "l.channel",
}


def backorder_counts(engine: Engine, as_of: dt.date, since: dt.date, by: tuple[str, ...] = (),
                     monthly: bool = False) -> pd.DataFrame | None:
    """Due lines requested in [since, as_of], counted by ``by`` (and month requested) in the database.

    Per group: lines_due, lines_backordered (shipped by the requested date < ordered), units_due and
    units_short (ordered − min(shipped by requested, ordered)): the counts of ``kpis.backorder_rate``. Read
    from the derived line state, where "shipped by the requested date" is final once a line is due; None
    when that state is behind (the caller then computes from the lines).
    """
    unknown = set(by) - set(BACKORDER_DIMENSIONS)
    if unknown:
        raise ValueError(f"cannot group backorders by {sorted(unknown)}; choose from {sorted(BACKORDER_DIMENSIONS)}")
    keys = [f"{BACKORDER_DIMENSIONS[name]} AS {name}" for name in by]
    if monthly:
        keys.append(f"{_month_expression(engine, 'st.requested_date')} AS period")
    names = [*by, *(["period"] if monthly else [])]
    needs = " ".join(BACKORDER_DIMENSIONS[name] for name in by)
    joins = "\n".join(join for alias, join in (
        ("l.", "JOIN fact_sales_order_line l ON l.id = st.sales_order_line_id"),
        ("p.", "JOIN dim_product p ON p.id = st.product_id"),
        ("c.", "JOIN dim_customer c ON c.id = l.customer_id"),
        ("loc.", "JOIN dim_location loc ON loc.id = st.location_id"),
    ) if alias in needs or (alias == "l." and "c." in needs))
    filled = ("CASE WHEN st.shipped_by_requested < 0 THEN 0 WHEN st.shipped_by_requested > st.qty_ordered "
              "THEN st.qty_ordered ELSE st.shipped_by_requested END")
    sql = f"""
    SELECT {", ".join([*keys, ""])}COUNT(*) AS lines_due,
           SUM(CASE WHEN st.shipped_by_requested < st.qty_ordered - 1e-9 THEN 1 ELSE 0 END) AS lines_backordered,
           SUM(st.qty_ordered) AS units_due,
           SUM(st.qty_ordered - {filled}) AS units_short
      FROM fact_order_line_state st
      {joins}
     WHERE st.requested_date >= :since_date AND st.requested_date <= :as_of AND st.order_date <= :as_of
     {"GROUP BY " + ", ".join(str(i + 1) for i in range(len(names))) if names else ""}
    """
    with engine.connect() as connection:
        if not derived.is_current(connection):
            return None
        rows = connection.execute(_params(sql), {"as_of": as_of, "since_date": since}).all()
    frame = pd.DataFrame(rows, columns=[*names, "lines_due", "lines_backordered", "units_due", "units_short"])
    frame = frame[frame["lines_due"] > 0] if names else frame
    for column in ("lines_due", "lines_backordered"):
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("units_due", "units_short"):
        frame[column] = frame[column].astype(float)
    if monthly:
        frame["period"] = pd.to_datetime(frame["period"] + "-01")
    return frame.sort_values(names).reset_index(drop=True) if names else frame


# --- backorder cost and lost sales (Finance) --------------------------------------------------------------------------

#: Due lines requested in [since_date, as_of] in their state at ``:as_of``: those of orders closed by then from the
#: derived line state (final once the order closed); the others (``_UNSETTLED``), or all, line by line.
_COST_LINES_SETTLED = """
    SELECT st.product_id, st.requested_date, st.qty_ordered, st.net_price, st.shipped,
           st.shipped_by_requested AS sbr, st.last_ship,
           CASE WHEN st.qty_cancelled > 0 AND st.cancel_effective <= :as_of THEN st.qty_cancelled ELSE 0 END
               AS cancelled,
           st.cancelled_on
      FROM fact_order_line_state st
     WHERE st.order_closed_on <= :as_of AND st.order_date <= :as_of
       AND st.requested_date >= :from_date AND st.requested_date <= :to_date"""
_COST_LINES_LIVE = """
    SELECT l.product_id, l.requested_date, l.qty_ordered, l.unit_price * (1 - l.discount) AS net_price,
           COALESCE(s.shipped, 0) AS shipped, COALESCE(s.shipped_by_requested, 0) AS sbr, s.last_ship,
           """ + CANCELLED_BY_AS_OF + """ AS cancelled,
           COALESCE(l.cancelled_date, l.requested_date) AS cancelled_on
      FROM {lines} l
      LEFT JOIN line_ship s ON s.order_line_id = l.id
     WHERE l.order_date <= :as_of AND l.requested_date >= :from_date AND l.requested_date <= :to_date"""
_BACKORDER_COSTS = """WITH{unsettled}{line_ship}{comma} cost_lines AS ({lines}
), costed AS (
    SELECT p.category, c.requested_date, c.qty_ordered, c.net_price, c.shipped, p.unit_cost,
           CASE WHEN c.sbr < c.qty_ordered - 1e-9 THEN 1 ELSE 0 END AS backordered,
           c.qty_ordered - CASE WHEN c.sbr < 0 THEN 0 WHEN c.sbr > c.qty_ordered THEN c.qty_ordered ELSE c.sbr END
               AS units,
           CASE WHEN c.sbr < c.qty_ordered - 1e-9 AND c.cancelled > 1e-9 AND c.cancelled_on >= c.requested_date
                     AND c.cancelled_on <= :as_of THEN c.cancelled ELSE 0 END AS lost_units,
           CASE WHEN {days} > 0 THEN {days} ELSE 0 END AS days
      FROM (
        SELECT x.*,
               CASE WHEN x.qty_ordered - x.shipped - x.cancelled > 1e-9 THEN :as_of
                    WHEN {ended} > :as_of THEN :as_of ELSE {ended} END AS ended
          FROM cost_lines x
      ) c
      JOIN dim_product p ON p.id = c.product_id
)
SELECT category, requested_date,
       COUNT(*) AS lines_due,
       SUM(backordered) AS lines_backordered,
       SUM(CASE WHEN backordered = 1 THEN units ELSE 0 END) AS units_backordered,
       SUM(CASE WHEN backordered = 1 THEN units * days ELSE 0 END) AS backlog_unit_days,
       SUM(lost_units) AS cancelled_units,
       SUM(lost_units * net_price) AS lost_revenue,
       SUM(CASE WHEN lost_units > 0 THEN lost_units * (net_price - unit_cost) ELSE 0 END) AS lost_margin,
       SUM(CASE WHEN lost_units > 0 AND (net_price - unit_cost) IS NULL THEN 1 ELSE 0 END) AS lost_margin_unknown,
       SUM(CASE WHEN backordered = 1 AND units * days > 0 THEN units * days * unit_cost * :carrying_rate / 365
                ELSE 0 END) AS carrying_cost,
       SUM(CASE WHEN backordered = 1 AND units * days > 0 AND unit_cost IS NULL THEN 1 ELSE 0 END)
           AS carrying_cost_unknown,
       SUM(shipped * net_price) AS revenue
  FROM costed
 GROUP BY category, requested_date
"""
#: Columns of ``analytics.backorders.backorder_cost`` after the group keys.
BACKORDER_COST_COLUMNS = ["lines_due", "lines_backordered", "units_backordered", "backlog_unit_days",
                          "cancelled_units", "lost_revenue", "lost_margin", "expediting_cost", "expediting_recorded",
                          "carrying_cost", "backorder_cost", "revenue", "backorder_cost_to_sales"]
_SUMMED = ["lines_due", "lines_backordered", "units_backordered", "backlog_unit_days", "cancelled_units",
           "lost_revenue", "lost_margin", "lost_margin_unknown", "carrying_cost", "carrying_cost_unknown", "revenue"]


def _backorder_costs_sql(dialect: str, part: str) -> str:
    """The backorder cost sums per category and day requested (see ``backorder_cost_sums``) of the lines of
    ``part``: "settled" (orders closed by ``:as_of``, from the derived line state), "unsettled" (the others, line by
    line) or "all" (every line, line by line)."""
    ended = ("CASE WHEN x.last_ship IS NULL AND x.cancelled <= 1e-9 THEN x.requested_date "
             "WHEN x.last_ship IS NULL THEN x.cancelled_on WHEN x.cancelled <= 1e-9 THEN x.last_ship "
             "WHEN x.last_ship > x.cancelled_on THEN x.last_ship ELSE x.cancelled_on END")
    window = "AND l.requested_date >= :from_date AND l.requested_date <= :to_date"
    unsettled = line_ship = ""
    if part == "settled":
        lines = _COST_LINES_SETTLED
    elif part == "unsettled":
        unsettled = _UNSETTLED_POSTGRES if dialect == "postgresql" else _UNSETTLED
        line_ship = (_LINE_SHIP_POSTGRES if dialect == "postgresql"
                     else LINE_SHIP.format(lines="unsettled_lines", line_window=window))
        lines = _COST_LINES_LIVE.format(lines="unsettled_lines")
    else:
        line_ship = LINE_SHIP.format(lines="fact_sales_order_line", line_window=window)
        lines = _COST_LINES_LIVE.format(lines="fact_sales_order_line")
    return _BACKORDER_COSTS.format(
        unsettled=unsettled, line_ship=line_ship, comma="," if line_ship else "", lines=lines, ended=ended, days=days_between("c.ended", "c.requested_date", dialect),
    )


def backorder_cost_sums(engine: Engine, as_of: dt.date, since: dt.date, carrying_rate: float,
                        use_derived: bool | None = None) -> pd.DataFrame:
    """The sums of ``analytics.backorders.backorder_cost`` per category and month requested (summed per category
    and day requested in the database, then per month).

    Over the due lines requested from ``since`` to ``as_of`` (ordered by ``as_of``), in their state at ``as_of``,
    with the same per-line formulas (see ``analytics.backorders.backorder_line_costs``): a line is backordered when
    shipped_by_requested < qty_ordered − 1e-9; units = qty_ordered − min(max(shipped by requested, 0), qty_ordered);
    days = max(end − requested_date, 0), end = as_of while qty is open, else min(later of last ship and
    cancellation (requested date when neither), as_of); lost units = qty cancelled by as_of, on or after the
    requested date (a null cancelled date counts as the requested date), of a backordered line; carrying cost =
    units × days × unit_cost × carrying_rate / 365 where units × days > 0; lost margin = lost units × (net price −
    unit_cost) where lost units > 0; lost revenue = lost units × net price; revenue = qty shipped by as_of × net
    price over all due lines. ``*_unknown`` count the lines whose cost needs a missing unit_cost (the group's sum is
    then unknown). Closed orders are read from the derived line state when it is current (``use_derived`` None),
    the open ones line by line, both at once in one snapshot; both ways give the same sums (a test holds them
    together).

    Columns: category, period (first day of the month, datetime64), then ``_SUMMED``.
    """
    values = {"as_of": as_of, "from_date": since, "to_date": as_of, "carrying_rate": float(carrying_rate)}

    def part_sums(part: str, connection: Connection) -> list[tuple]:
        sql = _params(_backorder_costs_sql(connection.dialect.name, part)).bindparams(
            bindparam("carrying_rate", type_=Float), bindparam("from_date", type_=Date), bindparam("to_date", type_=Date))
        return [tuple(row) for row in connection.execute(sql, values).all()]

    with reads_in_one_snapshot(engine) as run:
        if use_derived is None:
            (use_derived,) = run([derived.is_current])
        parts = run([partial(part_sums, part) for part in (("settled", "unsettled") if use_derived else ("all",))])
    frame = pd.DataFrame([row for rows in parts for row in rows], columns=["category", "day", *_SUMMED])
    frame["period"] = pd.to_datetime(frame.pop("day")).dt.to_period("M").dt.start_time.astype("datetime64[ns]")
    frame["category"] = frame["category"].astype(object)
    for name in _SUMMED:
        frame[name] = pd.to_numeric(frame[name]).astype(float)
    return frame.groupby(["category", "period"], dropna=False, sort=True)[_SUMMED].sum().reset_index()


def backorder_cost_from_sums(sums: pd.DataFrame, by: tuple[str, ...] = (), monthly: bool = False) -> pd.DataFrame:
    """``analytics.backorders.backorder_cost`` grouped ``by`` (() or ("category",)) and, with ``monthly``, per month
    requested (``period``), from ``backorder_cost_sums``: the sums added up per group, then
    backorder_cost = lost_margin + expediting_cost (0: not recorded) + carrying_cost, backorder_cost_to_sales =
    backorder_cost / revenue (NaN when revenue is 0); lost_margin and carrying_cost are NaN in a group with a line
    whose cost needs a missing unit_cost."""
    unknown = set(by) - {"category"}
    if unknown:
        raise ValueError(f"backorder cost sums are per category only, not {sorted(unknown)}")
    keys = [*by, *(["period"] if monthly else [])]
    if keys:
        missing = bool(sums[keys].isna().to_numpy().any())
        out = sums.groupby(keys, sort=True, dropna=not missing)[_SUMMED].sum().reset_index()
        out = out[out["lines_due"] > 0].reset_index(drop=True)
    else:
        out = pd.DataFrame({name: [sums[name].sum()] for name in _SUMMED})
    for name in ("lines_due", "lines_backordered"):
        out[name] = out[name].astype(np.int64)
    for name in ("lost_margin", "carrying_cost"):
        out[name] = out[name].where(out.pop(f"{name}_unknown") == 0)
    out["expediting_cost"] = 0.0
    out["expediting_recorded"] = False
    out["backorder_cost"] = out["lost_margin"] + out["expediting_cost"] + out["carrying_cost"]
    out["backorder_cost_to_sales"] = out["backorder_cost"] / out["revenue"].where(out["revenue"] != 0)
    return out[[*keys, *BACKORDER_COST_COLUMNS]]
