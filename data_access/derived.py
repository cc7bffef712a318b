"""Derived order state and daily rollups, so the headline report reads thousands of rows, not millions.

The report's order figures are taken "as of" a date. Most orders stop changing long before
that date: once every line is shipped or cancelled, its state as of any later date is its
final state. So, after every load:

- ``fact_order_line_state`` keeps each line's final state (shipped, shipped by the requested
  date, last ship date, cancelled) and ``closed_on``: the day it stopped changing (the latest
  of its order date, last shipment and cancellation dates; NULL while it is still open);
  ``order_closed_on`` is the latest ``closed_on`` of its order's lines (NULL while any is open).
- ``fact_order_state`` keeps each order's final state (``has_shipment``, ``is_late``,
  ``any_short``, first order date, last requested date, completion date, ``closed_on``).
- ``agg_settled_lines`` sums closed orders' lines by (``order_closed_on``, ``requested_date``)
  and ``agg_settled_orders`` counts closed orders by (``closed_on``, ``last_requested``): as of
  a date D the closed part is the rows with a closing date ≤ D, and "due" is requested ≤ D.
- ``agg_daily`` has, per day, the ledger's net quantity, the cost of issues (COGS), revenue
  and units shipped, the inventory value of that day's snapshot, and the lines requested that
  day with how many of them were not shipped in full by then (backordered: final once due).

The report then adds the closed part (a few thousand rollup rows) to the orders still open
at D, computed line by line from the shipments as before (a small set when D is recent).
``derived_refresh`` records the newest line, shipment and ledger ids the state has seen;
:func:`is_current` compares them, and the report falls back to the full computation when the
state is behind (data written by something other than the loader).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, delete, func, insert, select

from data_access import schema

#: Quantities below this are treated as zero (floating-point sums of partial shipments).
EPSILON = 1e-9
_STATE_NAME = "orders"
#: Beyond this many changed orders a full rebuild (one pass in the database) is cheaper.
MAX_ORDERS_ONE_BY_ONE = 50_000


def _greatest(dialect: str, *expressions: str) -> str:
    """The largest of non-NULL SQL expressions (GREATEST on PostgreSQL, scalar MAX on SQLite)."""
    return f"{'GREATEST' if dialect == 'postgresql' else 'MAX'}({', '.join(expressions)})"


def days_between(later: str, earlier: str, dialect: str) -> str:
    """Whole days from ``earlier`` to ``later`` (SQL dates) in the dialect's arithmetic."""
    if dialect == "postgresql":
        return f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _line_state_sql(dialect: str, order_filter: str) -> str:
    """INSERT … SELECT of the final state of the lines of the orders ``order_filter`` selects.

    ``order_filter`` is a condition on ``{t}.order_no`` (``{t}`` is the order line table's alias).
    """
    closed = _greatest(
        dialect,
        "order_date",
        "COALESCE(last_ship, order_date)",
        "CASE WHEN qty_cancelled > 0 THEN cancel_effective ELSE order_date END",
        "CASE WHEN qty_cancelled > 0 THEN cancelled_on ELSE order_date END",
    )
    return f"""
    INSERT INTO fact_order_line_state (
        sales_order_line_id, order_no, product_id, location_id, order_date, requested_date, qty_ordered,
        net_price, shipped, shipped_by_requested, last_ship, qty_cancelled, cancel_effective, cancelled_on,
        closed_on, order_closed_on)
    SELECT id, order_no, product_id, location_id, order_date, requested_date, qty_ordered, net_price,
           shipped, shipped_by_requested, last_ship, qty_cancelled, cancel_effective, cancelled_on, closed_on,
           CASE WHEN COUNT(closed_on) OVER (PARTITION BY order_no) = COUNT(*) OVER (PARTITION BY order_no)
                THEN MAX(closed_on) OVER (PARTITION BY order_no) END
      FROM (
        SELECT x.*,
               CASE WHEN qty_ordered - shipped - qty_cancelled > {EPSILON} THEN NULL ELSE {closed} END AS closed_on
          FROM (
            SELECT l.id, l.order_no, l.product_id, l.location_id, l.order_date, l.requested_date, l.qty_ordered,
                   l.unit_price * (1 - l.discount) AS net_price,
                   COALESCE(s.shipped, 0) AS shipped,
                   COALESCE(s.shipped_by_requested, 0) AS shipped_by_requested,
                   s.last_ship, l.qty_cancelled,
                   COALESCE(l.cancelled_date, l.order_date) AS cancel_effective,
                   COALESCE(l.cancelled_date, l.requested_date) AS cancelled_on
              FROM fact_sales_order_line l
              LEFT JOIN (
                    SELECT sh.order_line_id,
                           SUM(sh.qty) AS shipped,
                           SUM(CASE WHEN sh.ship_date <= o.requested_date THEN sh.qty ELSE 0 END)
                               AS shipped_by_requested,
                           MAX(sh.ship_date) AS last_ship
                      FROM fact_shipment sh
                      JOIN fact_sales_order_line o ON o.id = sh.order_line_id
                     WHERE {order_filter.format(t="o")}
                     GROUP BY sh.order_line_id
              ) s ON s.order_line_id = l.id
             WHERE {order_filter.format(t="l")}
          ) x
      ) y
    """


_ORDER_STATE = """
INSERT INTO fact_order_state (order_no, ordered, last_requested, closed_on, has_shipment, is_late, any_short, completed)
SELECT order_no, MIN(order_date), MAX(requested_date), MAX(order_closed_on),
       MAX(CASE WHEN shipped > 0 THEN 1 ELSE 0 END),
       MAX(CASE WHEN shipped > 0 AND last_ship > requested_date THEN 1 ELSE 0 END),
       MAX(CASE WHEN shipped_by_requested < qty_ordered - 1e-9 THEN 1 ELSE 0 END),
       MAX(last_ship)
  FROM fact_order_line_state l
 WHERE {order_filter}
 GROUP BY order_no
"""


def _settled_lines_sql(dialect: str) -> str:
    """Closed orders' lines summed by (order_closed_on, requested_date), as the report adds them up.

    Per line: filled = min(shipped by requested, ordered); short = filled < ordered; lost units =
    the cancelled quantity of a short line cancelled on or after its requested date; a short
    line was backordered from its requested date until its last shipment or cancellation.
    """
    ended = (
        "CASE WHEN s.last_ship IS NULL AND s.qty_cancelled <= 1e-9 THEN s.requested_date "
        "WHEN s.last_ship IS NULL THEN s.cancelled_on WHEN s.qty_cancelled <= 1e-9 THEN s.last_ship "
        "WHEN s.last_ship > s.cancelled_on THEN s.last_ship ELSE s.cancelled_on END"
    )
    days = days_between(ended, "s.requested_date", dialect)
    short = f"s.shipped_by_requested < s.qty_ordered - {EPSILON}"
    filled = "CASE WHEN s.shipped_by_requested < s.qty_ordered THEN s.shipped_by_requested ELSE s.qty_ordered END"
    lost = (
        f"CASE WHEN s.qty_cancelled > {EPSILON} AND {short} AND s.cancelled_on >= s.requested_date "
        "THEN s.qty_cancelled ELSE 0 END"
    )
    return f"""
    INSERT INTO agg_settled_lines (order_closed_on, requested_date, lines, qty_ordered, short_lines, filled_units,
        shipped_revenue, lost_units, lost_revenue, lost_margin, backlog_value_days, backorders_without_cost)
    SELECT s.order_closed_on, s.requested_date, COUNT(*), SUM(s.qty_ordered),
           SUM(CASE WHEN {short} THEN 1 ELSE 0 END),
           SUM({filled}),
           SUM(s.shipped * s.net_price),
           SUM({lost}),
           SUM({lost} * s.net_price),
           COALESCE(SUM(CASE WHEN {short} AND {lost} > 0 THEN {lost} * (s.net_price - p.unit_cost) ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN {short} AND (s.qty_ordered - {filled}) * {days} > 0
                             THEN (s.qty_ordered - {filled}) * {days} * p.unit_cost ELSE 0 END), 0),
           SUM(CASE WHEN {short} AND p.unit_cost IS NULL THEN 1 ELSE 0 END)
      FROM fact_order_line_state s
      JOIN dim_product p ON p.id = s.product_id
     WHERE s.order_closed_on IS NOT NULL
     GROUP BY s.order_closed_on, s.requested_date
    """


def _settled_orders_sql(dialect: str) -> str:
    """Closed orders counted by (closed_on, last_requested); a closed order with a shipment is complete."""
    return f"""
    INSERT INTO agg_settled_orders (closed_on, last_requested, orders, shipped_orders, on_time_orders,
                                    filled_orders, order_cycle_days)
    SELECT closed_on, last_requested, COUNT(*), SUM(has_shipment),
           SUM(CASE WHEN has_shipment = 1 AND is_late = 0 THEN 1 ELSE 0 END),
           SUM(CASE WHEN any_short = 0 THEN 1 ELSE 0 END),
           COALESCE(SUM(CASE WHEN has_shipment = 1 THEN {days_between("completed", "ordered", dialect)} END), 0)
      FROM fact_order_state
     WHERE closed_on IS NOT NULL
     GROUP BY closed_on, last_requested
    """


def _daily_sql(dialect: str) -> str:
    """One row per day: ledger net quantity, cost of issues, revenue and units shipped, snapshot value."""
    day = "CAST(m.ts AS DATE)" if dialect == "postgresql" else "DATE(m.ts)"
    return f"""
    INSERT INTO agg_daily (day, ledger_qty, issue_value, issues, issues_without_cost, revenue, units_shipped,
                           inventory_value, snapshot_rows, snapshot_rows_without_cost, requested_lines, short_lines)
    SELECT day, SUM(ledger_qty), SUM(issue_value), SUM(issues), SUM(issues_without_cost), SUM(revenue),
           SUM(units_shipped), SUM(inventory_value), SUM(snapshot_rows), SUM(snapshot_rows_without_cost),
           SUM(requested_lines), SUM(short_lines)
      FROM (
        SELECT {day} AS day, SUM(m.qty) AS ledger_qty,
               COALESCE(SUM(CASE WHEN m.kind = 'shipment' THEN -m.qty * m.unit_cost END), 0) AS issue_value,
               SUM(CASE WHEN m.kind = 'shipment' THEN 1 ELSE 0 END) AS issues,
               SUM(CASE WHEN m.kind = 'shipment' AND m.unit_cost IS NULL THEN 1 ELSE 0 END) AS issues_without_cost,
               0 AS revenue, 0 AS units_shipped, CAST(NULL AS DOUBLE PRECISION) AS inventory_value, 0 AS snapshot_rows,
               0 AS snapshot_rows_without_cost, 0 AS requested_lines, 0 AS short_lines
          FROM fact_inventory_movement m
         GROUP BY {day}
        UNION ALL
        SELECT sh.ship_date, 0, 0, 0, 0, SUM(sh.qty * l.unit_price * (1 - l.discount)), SUM(sh.qty), CAST(NULL AS DOUBLE PRECISION), 0, 0,
               0, 0
          FROM fact_shipment sh JOIN fact_sales_order_line l ON l.id = sh.order_line_id
         GROUP BY sh.ship_date
        UNION ALL
        SELECT snapshot_date, 0, 0, 0, 0, 0, 0, SUM(on_hand * unit_cost), COUNT(*),
               SUM(CASE WHEN unit_cost IS NULL AND on_hand <> 0 THEN 1 ELSE 0 END), 0, 0
          FROM fact_inventory_snapshot
         GROUP BY snapshot_date
        UNION ALL
        SELECT requested_date, 0, 0, 0, 0, 0, 0, CAST(NULL AS DOUBLE PRECISION), 0, 0, COUNT(*),
               SUM(CASE WHEN shipped_by_requested < qty_ordered - 1e-9 THEN 1 ELSE 0 END)
          FROM fact_order_line_state
         GROUP BY requested_date
      ) d
     GROUP BY day
    """


#: The tables :func:`refresh` writes.
TABLES = (
    schema.fact_order_line_state, schema.fact_order_state, schema.agg_settled_lines, schema.agg_settled_orders,
    schema.agg_daily, schema.derived_refresh,
)


def _watermarks(connection: Connection) -> dict[str, int | None]:
    return {
        "max_line_id": connection.execute(select(func.max(schema.fact_sales_order_line.c.id))).scalar(),
        "max_shipment_id": connection.execute(select(func.max(schema.fact_shipment.c.id))).scalar(),
        "max_movement_id": connection.execute(select(func.max(schema.fact_inventory_movement.c.id))).scalar(),
    }


def _clear(connection: Connection, table) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"TRUNCATE {table.name}")
    else:
        connection.execute(delete(table))


_CHANGED = "derived_changed_orders"


def mark_changed_orders(connection: Connection, table_name: str) -> None:
    """Remember the order numbers in ``table_name`` (a staged file) for the next :func:`refresh`.

    They are kept in a temporary table of this connection, so memory stays flat however large
    the file.
    """
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGED} (order_no VARCHAR(64) PRIMARY KEY)")
    ignore, conflict = ("", " ON CONFLICT DO NOTHING") if connection.dialect.name == "postgresql" else (" OR IGNORE", "")
    connection.exec_driver_sql(
        f'INSERT{ignore} INTO {_CHANGED} (order_no) SELECT DISTINCT order_no FROM "{table_name}"{conflict}'
    )


def refresh(connection: Connection, full: bool = True) -> None:
    """Recompute the order state (of every order, or of those marked as changed), then every rollup.

    Runs inside the caller's transaction (the loader's), so a failed load leaves the state as
    it was. A full rebuild happens when asked, when the state is empty, or when more orders
    changed than :data:`MAX_ORDERS_ONE_BY_ONE`.
    """
    dialect = connection.dialect.name
    line_state, order_state = schema.fact_order_line_state, schema.fact_order_state
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGED} (order_no VARCHAR(64) PRIMARY KEY)")
    changed = connection.exec_driver_sql(f"SELECT COUNT(*) FROM {_CHANGED}").scalar_one()
    state_rows = connection.execute(select(func.count()).select_from(order_state)).scalar_one()
    if full or state_rows == 0 or changed > MAX_ORDERS_ONE_BY_ONE:
        _clear(connection, line_state)
        _clear(connection, order_state)
        connection.exec_driver_sql(_line_state_sql(dialect, "1 = 1"))
        connection.exec_driver_sql(_ORDER_STATE.format(order_filter="1 = 1"))
    elif changed:
        chosen = f"{{t}}.order_no IN (SELECT order_no FROM {_CHANGED})"
        connection.exec_driver_sql(f"DELETE FROM fact_order_line_state WHERE order_no IN (SELECT order_no FROM {_CHANGED})")
        connection.exec_driver_sql(f"DELETE FROM fact_order_state WHERE order_no IN (SELECT order_no FROM {_CHANGED})")
        connection.exec_driver_sql(_line_state_sql(dialect, chosen))
        connection.exec_driver_sql(_ORDER_STATE.format(order_filter=chosen.format(t="l")))
    connection.exec_driver_sql(f"DELETE FROM {_CHANGED}")
    for table, sql in (
        (schema.agg_settled_lines, _settled_lines_sql(dialect)),
        (schema.agg_settled_orders, _settled_orders_sql(dialect)),
        (schema.agg_daily, _daily_sql(dialect)),
    ):
        _clear(connection, table)
        connection.exec_driver_sql(sql)
    connection.execute(delete(schema.derived_refresh).where(schema.derived_refresh.c.name == _STATE_NAME))
    connection.execute(insert(schema.derived_refresh).values(name=_STATE_NAME, **_watermarks(connection)))


def is_current(connection: Connection | Engine) -> bool:
    """Whether the derived state has seen every order line, shipment and ledger movement stored."""
    if isinstance(connection, Engine):
        with connection.connect() as c:
            return is_current(c)
    refresh_table = schema.derived_refresh
    stored = connection.execute(
        select(refresh_table.c.max_line_id, refresh_table.c.max_shipment_id, refresh_table.c.max_movement_id).where(
            refresh_table.c.name == _STATE_NAME
        )
    ).mappings().first()
    return stored is not None and dict(stored) == _watermarks(connection)
