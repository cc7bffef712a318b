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
from data_access.indexes import deferred_indexes

#: Quantities below this are treated as zero (floating-point sums of partial shipments).
EPSILON = 1e-9
_STATE_NAME = "orders"
#: Beyond this many changed orders a full rebuild (one pass in the database) is cheaper.
MAX_ORDERS_ONE_BY_ONE = 50_000
#: Session-local sets of what changed since the last refresh: orders, days, closing days.
_CHANGED = "derived_changed_orders"
_CHANGED_DAYS = "derived_changed_days"
_CHANGED_CLOSINGS = "derived_changed_closings"
#: ``connection.info`` key: every rollup must be rebuilt (a product's cost changed, all snapshots rebuilt).
_ALL_DAYS = "derived_all_days_changed"


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


def _settled_lines_sql(dialect: str, chosen: str | None = None) -> str:
    """Closed orders' lines summed by (order_closed_on, requested_date), as the report adds them up.

    Per line: filled = min(shipped by requested, ordered); short = filled < ordered; lost units =
    the cancelled quantity of a short line cancelled on or after its requested date; a short
    line was backordered from its requested date until its last shipment or cancellation.
    ``chosen`` (a condition such as ``IN (…)``) limits the rows to some closing days.
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
     WHERE s.order_closed_on IS NOT NULL{"" if chosen is None else f" AND s.order_closed_on {chosen}"}
     GROUP BY s.order_closed_on, s.requested_date
    """


def _settled_orders_sql(dialect: str, chosen: str | None = None) -> str:
    """Closed orders counted by (closed_on, last_requested); a closed order with a shipment is complete.

    ``chosen`` (a condition such as ``IN (…)``) limits the rows to some closing days.
    """
    return f"""
    INSERT INTO agg_settled_orders (closed_on, last_requested, orders, shipped_orders, on_time_orders,
                                    filled_orders, order_cycle_days)
    SELECT closed_on, last_requested, COUNT(*), SUM(has_shipment),
           SUM(CASE WHEN has_shipment = 1 AND is_late = 0 THEN 1 ELSE 0 END),
           SUM(CASE WHEN any_short = 0 THEN 1 ELSE 0 END),
           COALESCE(SUM(CASE WHEN has_shipment = 1 THEN {days_between("completed", "ordered", dialect)} END), 0)
      FROM fact_order_state
     WHERE closed_on IS NOT NULL{"" if chosen is None else f" AND closed_on {chosen}"}
     GROUP BY closed_on, last_requested
    """


def _daily_sql(dialect: str, chosen: str | None = None) -> str:
    """One row per day: ledger net quantity, cost of issues, revenue and units shipped, snapshot value.

    ``chosen`` (``IN (SELECT day FROM …)``) limits it to some days; the ledger is then read by a
    range of its timestamp index per day.
    """
    day = "CAST(m.ts AS DATE)" if dialect == "postgresql" else "DATE(m.ts)"
    where = "" if chosen is None else f" WHERE {{column}} {chosen}"
    ledger = "fact_inventory_movement m"
    if chosen is not None:
        next_day = "cd.day + 1" if dialect == "postgresql" else "date(cd.day, '+1 day')"
        ledger = f"{_CHANGED_DAYS} cd JOIN fact_inventory_movement m ON m.ts >= cd.day AND m.ts < {next_day}"
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
          FROM {ledger}
         GROUP BY {day}
        UNION ALL
        SELECT sh.ship_date, 0, 0, 0, 0, SUM(sh.qty * l.unit_price * (1 - l.discount)), SUM(sh.qty), CAST(NULL AS DOUBLE PRECISION), 0, 0,
               0, 0
          FROM fact_shipment sh JOIN fact_sales_order_line l ON l.id = sh.order_line_id{where.format(column="sh.ship_date")}
         GROUP BY sh.ship_date
        UNION ALL
        SELECT snapshot_date, 0, 0, 0, 0, 0, 0, SUM(on_hand * unit_cost), COUNT(*),
               SUM(CASE WHEN unit_cost IS NULL AND on_hand <> 0 THEN 1 ELSE 0 END), 0, 0
          FROM fact_inventory_snapshot{where.format(column="snapshot_date")}
         GROUP BY snapshot_date
        UNION ALL
        SELECT requested_date, 0, 0, 0, 0, 0, 0, CAST(NULL AS DOUBLE PRECISION), 0, 0, COUNT(*),
               SUM(CASE WHEN shipped_by_requested < qty_ordered - 1e-9 THEN 1 ELSE 0 END)
          FROM fact_order_line_state{where.format(column="requested_date")}
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




def _temp_tables(connection: Connection) -> None:
    """The session-local tables that collect what changed since the last :func:`refresh`."""
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGED} (order_no VARCHAR(64) PRIMARY KEY)")
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGED_DAYS} (day DATE PRIMARY KEY)")
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGED_CLOSINGS} (day DATE PRIMARY KEY)")


def _ignoring(connection: Connection) -> tuple[str, str]:
    """``INSERT`` prefix and suffix that skip rows whose key is already there, in the dialect's words."""
    return ("", " ON CONFLICT DO NOTHING") if connection.dialect.name == "postgresql" else (" OR IGNORE", "")


def _insert_ignoring(connection: Connection, table: str, column: str, select_sql: str) -> None:
    """``INSERT … SELECT`` into a session-local set, skipping values already in it."""
    ignore, conflict = _ignoring(connection)
    connection.exec_driver_sql(
        f"INSERT{ignore} INTO {table} ({column}) SELECT DISTINCT {column} FROM ({select_sql}) x "
        f"WHERE {column} IS NOT NULL{conflict}"
    )


def _insert_values(connection: Connection, table: str, column: str, values: list[str]) -> None:
    """Add ``values`` to a session-local set, skipping those already in it."""
    ignore, conflict = _ignoring(connection)
    marker = "%s" if connection.dialect.name == "postgresql" else "?"
    connection.exec_driver_sql(
        f"INSERT{ignore} INTO {table} ({column}) VALUES ({marker}){conflict}",
        [(value,) for value in values],
    )


def _state_is_empty(connection: Connection) -> bool:
    return connection.execute(select(schema.fact_order_state.c.order_no).limit(1)).first() is None


def mark_changed_orders(connection: Connection, table_name: str) -> None:
    """Remember the order numbers in ``table_name`` (a staged file) for the next :func:`refresh`.

    They are kept in a temporary table of this connection, so memory stays flat however large
    the file. Nothing is marked while the state is empty: the next refresh rebuilds it all.
    """
    _temp_tables(connection)
    if not _state_is_empty(connection):
        _insert_ignoring(connection, _CHANGED, "order_no", f'SELECT order_no FROM "{table_name}"')


def mark_orders(connection: Connection, order_nos: list[str]) -> None:
    """Remember these order numbers for the next :func:`refresh` (operational writes: scans, the app)."""
    _temp_tables(connection)
    if order_nos and not _state_is_empty(connection):
        _insert_values(connection, _CHANGED, "order_no", [str(order_no) for order_no in dict.fromkeys(order_nos)])


def mark_shipment_days(connection: Connection, table_name: str) -> None:
    """Before shipments are upserted from ``table_name``: remember the ship dates they have now.

    A shipment whose date moves changes the revenue of its old day as well as its new one.
    """
    _temp_tables(connection)
    _insert_ignoring(
        connection, _CHANGED_DAYS, "day",
        f'SELECT sh.ship_date AS day FROM fact_shipment sh JOIN "{table_name}" s ON s.shipment_no = sh.shipment_no',
    )


def mark_days(connection: Connection, days) -> None:
    """Remember days whose snapshots changed (``None``: every day) for the next :func:`refresh`."""
    if days is None:
        connection.info[_ALL_DAYS] = True
        return
    _temp_tables(connection)
    values = sorted({str(day)[:10] for day in days})
    if not values:
        return
    _insert_values(connection, _CHANGED_DAYS, "day", values)


def _mark_closings_and_days(connection: Connection) -> None:
    """Closing days and requested days of the marked orders' current state (run before and after it changes)."""
    chosen = f"SELECT order_no FROM {_CHANGED}"
    _insert_ignoring(connection, _CHANGED_CLOSINGS, "day",
                     f"SELECT order_closed_on AS day FROM fact_order_line_state WHERE order_no IN ({chosen})")
    _insert_ignoring(connection, _CHANGED_CLOSINGS, "day",
                     f"SELECT closed_on AS day FROM fact_order_state WHERE order_no IN ({chosen})")
    _insert_ignoring(connection, _CHANGED_DAYS, "day",
                     f"SELECT requested_date AS day FROM fact_order_line_state WHERE order_no IN ({chosen})")


def _mark_new_days(connection: Connection, stored: dict | None) -> None:
    """Ship days of the marked orders' shipments, and days of ledger movements newer than the last refresh."""
    chosen = f"SELECT order_no FROM {_CHANGED}"
    _insert_ignoring(
        connection, _CHANGED_DAYS, "day",
        "SELECT sh.ship_date AS day FROM fact_shipment sh JOIN fact_sales_order_line l ON l.id = sh.order_line_id "
        f"WHERE l.order_no IN ({chosen})",
    )
    day = "CAST(ts AS DATE)" if connection.dialect.name == "postgresql" else "DATE(ts)"
    after = (stored or {}).get("max_movement_id") or 0
    _insert_ignoring(connection, _CHANGED_DAYS, "day",
                     f"SELECT {day} AS day FROM fact_inventory_movement WHERE id > {int(after)}")


def _stored_watermarks(connection: Connection) -> dict | None:
    table = schema.derived_refresh
    row = connection.execute(
        select(table.c.max_line_id, table.c.max_shipment_id, table.c.max_movement_id).where(table.c.name == _STATE_NAME)
    ).mappings().first()
    return None if row is None else dict(row)


def refresh(connection: Connection, full: bool = True) -> None:
    """Recompute the order state (of every order, or of those marked as changed), then the rollups it touched.

    Runs inside the caller's transaction (the loader's), so a failed load leaves the state as
    it was. A full rebuild happens when asked, when the state is empty, or when more orders
    changed than :data:`MAX_ORDERS_ONE_BY_ONE`. Otherwise only the rollup rows of the days the
    change reaches are recomputed: the closing days (old and new) of the changed orders for the
    settled rollups; for the daily rollup their requested and ship days, the days of new ledger
    movements and the days :func:`mark_days` was told of (snapshots). A rollup row is always
    recomputed whole from the facts, never adjusted, so it equals a full rebuild's.
    """
    dialect = connection.dialect.name
    line_state, order_state = schema.fact_order_line_state, schema.fact_order_state
    _temp_tables(connection)
    changed = connection.exec_driver_sql(f"SELECT COUNT(*) FROM {_CHANGED}").scalar_one()
    stored = _stored_watermarks(connection)
    everything = full or _state_is_empty(connection) or changed > MAX_ORDERS_ONE_BY_ONE or stored is None
    if everything:
        _clear(connection, line_state)
        _clear(connection, order_state)
        # One index build (and foreign-key check) per table instead of one insert per line.
        with deferred_indexes(connection, line_state), deferred_indexes(connection, order_state):
            connection.exec_driver_sql(_line_state_sql(dialect, "1 = 1"))
            connection.exec_driver_sql(_ORDER_STATE.format(order_filter="1 = 1"))
    else:
        if changed:
            chosen = f"{{t}}.order_no IN (SELECT order_no FROM {_CHANGED})"
            _mark_closings_and_days(connection)
            connection.exec_driver_sql(f"DELETE FROM fact_order_line_state WHERE order_no IN (SELECT order_no FROM {_CHANGED})")
            connection.exec_driver_sql(f"DELETE FROM fact_order_state WHERE order_no IN (SELECT order_no FROM {_CHANGED})")
            connection.exec_driver_sql(_line_state_sql(dialect, chosen))
            connection.exec_driver_sql(_ORDER_STATE.format(order_filter=chosen.format(t="l")))
            _mark_closings_and_days(connection)
        _mark_new_days(connection, stored)
    all_days = connection.info.pop(_ALL_DAYS, False)
    _refresh_rollups(connection, everything or all_days)
    for table in (_CHANGED, _CHANGED_DAYS, _CHANGED_CLOSINGS):
        connection.exec_driver_sql(f"DELETE FROM {table}")
    connection.execute(delete(schema.derived_refresh).where(schema.derived_refresh.c.name == _STATE_NAME))
    connection.execute(insert(schema.derived_refresh).values(name=_STATE_NAME, **_watermarks(connection)))


def _refresh_rollups(connection: Connection, everything: bool) -> None:
    """Rebuild the rollups, or only their rows of the marked closing days and days."""
    dialect = connection.dialect.name
    closings = f"IN (SELECT day FROM {_CHANGED_CLOSINGS})"
    days = f"IN (SELECT day FROM {_CHANGED_DAYS})"
    parts = (
        (schema.agg_settled_lines, "order_closed_on", closings, lambda where: _settled_lines_sql(dialect, where)),
        (schema.agg_settled_orders, "closed_on", closings, lambda where: _settled_orders_sql(dialect, where)),
        (schema.agg_daily, "day", days, lambda where: _daily_sql(dialect, where)),
    )
    if not everything and dialect == "postgresql":
        # Without statistics the planner takes a temporary table for thousands of rows and scans the
        # fact tables whole instead of probing their date indexes (large: 17 s instead of 1 s).
        connection.exec_driver_sql(f"ANALYZE {_CHANGED_DAYS}, {_CHANGED_CLOSINGS}")
    for table, key, chosen, build in parts:
        if everything:
            _clear(connection, table)
            connection.exec_driver_sql(build(None))
        else:
            connection.exec_driver_sql(f"DELETE FROM {table.name} WHERE {key} {chosen}")
            connection.exec_driver_sql(build(chosen))


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
