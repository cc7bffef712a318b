"""Daily inventory snapshots derived from the ledger and the order tables.

For every product-location, from its first event to the last date in the data:

- ``on_hand(d)``     = Σ ledger qty with date(ts) ≤ d
- ``on_order(d)``    = open purchase and production quantity on day d: purchase lines add
  ``qty_ordered`` on ``order_date`` and drop ``qty_received`` on ``received_date`` (and the
  unreceived rest when the line is closed); production orders add ``qty_planned`` on
  ``start_date`` and drop it on ``finished_date``; cancelled orders never count
- ``backordered(d)`` = Σ over lines with ``requested_date`` ≤ d of
  (qty_ordered − shipped by d − cancelled by d): a line adds ``qty_ordered`` on its
  requested date, each shipment drops its qty on max(ship_date, requested_date) and a
  cancellation drops ``qty_cancelled`` on max(cancelled_date, requested_date)
- ``allocated(d)``   = 0 (allocation before shipping is not recorded by the sources yet)
- ``unit_cost``      = the product's current standard cost

The database aggregates the events by product, location and day (a small result); pandas
turns them into cumulative daily series, a batch of products at a time so memory stays flat.

How :func:`refresh` keeps the table current, with ``P`` the last snapshot day stored and ``E``
the data's last day now:

- full rebuild (every product-location from its first event) when ``touched`` is None, when
  there are no snapshots yet, or when ``E < P`` (the data's end moved backwards);
- the ``touched`` product-locations (those a load changed) are always rebuilt from their first
  event; only the rows that differ from the stored ones are written;
- when ``E > P``, every other product-location is *appended* the days ``P < d ≤ E``::

      m(d) = m(P) + Σ { delta of its m-events dated in (P, d] }    for m in on_hand, on_order, backordered

  with ``m(P)`` = its stored snapshot of day ``P`` (0 when it has none: then its rows start on
  its first event day in the window). The window's events are the ones dated in (P, E] by the
  rules above (a line whose requested date falls in the window, a shipment made before the
  requested date dropping the backlog on it, a future-dated cancellation or receipt…), read with
  a date range on each source table so its date index serves it. Stored rows of day ≤ P of
  those product-locations stay as they are, but for ``unit_cost``: a product whose stored cost
  is no longer its standard cost gets all its rows updated.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, func, select, update

from data_access import derived, schema
from data_access.frames import read_frame
from data_access.queries import last_data_date
from etl import bulk

BATCH_ITEM_LOCATIONS = 2_000
#: Touched item-locations compared with their stored rows per batch (two frames of history each).
BATCH_REWRITE_ITEM_LOCATIONS = 500
#: Row ids per ``DELETE … WHERE id IN (…)``.
DELETE_BATCH_IDS = 10_000
MEASURES = ("on_hand", "on_order", "backordered")
VALUES = (*MEASURES, "allocated", "unit_cost")
COLUMNS = ["snapshot_date", "product_id", "location_id", *VALUES]
#: Session-local tables of one refresh (the window's events, the changed rows, every event of a full rebuild).
WINDOW_TABLE = "snapshot_window_events"
CHANGES_TABLE = "snapshot_changed_rows"
ALL_EVENTS_TABLE = "snapshot_all_events"


def _later(a: str, b: str) -> str:
    return f"CASE WHEN {a} > {b} THEN {a} ELSE {b} END"


def _events_sql(dialect: str, item_filter: str) -> str:
    day = "CAST(m.ts AS DATE)" if dialect == "postgresql" else "DATE(m.ts)"
    return f"""
    SELECT product_id, location_id, d, measure, SUM(delta) AS delta FROM (
        SELECT m.product_id, m.location_id, {day} AS d, 'on_hand' AS measure, m.qty AS delta
          FROM fact_inventory_movement m
        UNION ALL
        SELECT product_id, location_id, order_date, 'on_order', qty_ordered
          FROM fact_purchase_order_line WHERE status <> 'cancelled'
        UNION ALL
        SELECT product_id, location_id, received_date, 'on_order', -qty_received
          FROM fact_purchase_order_line WHERE status <> 'cancelled' AND received_date IS NOT NULL
        UNION ALL
        SELECT product_id, location_id, COALESCE(received_date, expected_date, order_date), 'on_order',
               -(qty_ordered - qty_received)
          FROM fact_purchase_order_line WHERE status IN ('received', 'closed') AND qty_ordered > qty_received
        UNION ALL
        SELECT product_id, location_id, start_date, 'on_order', qty_planned
          FROM fact_production_order WHERE status <> 'cancelled'
        UNION ALL
        SELECT product_id, location_id, finished_date, 'on_order', -qty_planned
          FROM fact_production_order WHERE status = 'finished' AND finished_date IS NOT NULL
        UNION ALL
        SELECT product_id, location_id, requested_date, 'backordered', qty_ordered FROM fact_sales_order_line
        UNION ALL
        SELECT l.product_id, l.location_id, {_later("sh.ship_date", "l.requested_date")}, 'backordered', -sh.qty
          FROM fact_shipment sh JOIN fact_sales_order_line l ON l.id = sh.order_line_id
        UNION ALL
        SELECT product_id, location_id, {_later("COALESCE(cancelled_date, requested_date)", "requested_date")},
               'backordered', -qty_cancelled
          FROM fact_sales_order_line WHERE qty_cancelled > 0
    ) e
    WHERE {item_filter}
    GROUP BY product_id, location_id, d, measure
    """


def _window_events_sql(dialect: str, after: dt.date, through: dt.date) -> str:
    """The events of :func:`_events_sql` dated in (``after``, ``through``], aggregated by pair, day and measure.

    Every branch bounds a plain date column (never an expression), so the source table's index
    on it serves the range: ledger ``ts``, purchase ``order_date``, production ``start_date``,
    sales ``requested_date``, shipment ``ship_date``. An event dated by a max() or COALESCE() of
    two dates is split into branches by which date wins, each bounding that date.
    """
    ts_day = "CAST(m.ts AS DATE)" if dialect == "postgresql" else "DATE(m.ts)"
    first_ts = f"'{after + dt.timedelta(days=1):%Y-%m-%d}'"
    stop_ts = f"'{through + dt.timedelta(days=1):%Y-%m-%d}'"

    def within(column: str) -> str:
        return f"{column} > '{after:%Y-%m-%d}' AND {column} <= '{through:%Y-%m-%d}'"

    closed_rest = (
        "SELECT product_id, location_id, {date}, 'on_order', -(qty_ordered - qty_received) "
        "FROM fact_purchase_order_line WHERE status IN ('received', 'closed') AND qty_ordered > qty_received "
        "AND {condition}"
    )
    return f"""
    SELECT product_id, location_id, d, measure, SUM(delta) AS delta FROM (
        SELECT m.product_id, m.location_id, {ts_day} AS d, 'on_hand' AS measure, m.qty AS delta
          FROM fact_inventory_movement m WHERE m.ts >= {first_ts} AND m.ts < {stop_ts}
        UNION ALL
        SELECT product_id, location_id, order_date, 'on_order', qty_ordered
          FROM fact_purchase_order_line WHERE status <> 'cancelled' AND {within("order_date")}
        UNION ALL
        SELECT product_id, location_id, received_date, 'on_order', -qty_received
          FROM fact_purchase_order_line WHERE status <> 'cancelled' AND {within("received_date")}
        UNION ALL
        {closed_rest.format(date="received_date", condition=within("received_date"))}
        UNION ALL
        {closed_rest.format(date="expected_date",
                            condition="received_date IS NULL AND " + within("expected_date"))}
        UNION ALL
        {closed_rest.format(date="order_date",
                            condition="received_date IS NULL AND expected_date IS NULL AND " + within("order_date"))}
        UNION ALL
        SELECT product_id, location_id, start_date, 'on_order', qty_planned
          FROM fact_production_order WHERE status <> 'cancelled' AND {within("start_date")}
        UNION ALL
        SELECT product_id, location_id, finished_date, 'on_order', -qty_planned
          FROM fact_production_order WHERE status = 'finished' AND {within("finished_date")}
        UNION ALL
        SELECT product_id, location_id, requested_date, 'backordered', qty_ordered
          FROM fact_sales_order_line WHERE {within("requested_date")}
        UNION ALL
        SELECT l.product_id, l.location_id, sh.ship_date, 'backordered', -sh.qty
          FROM fact_shipment sh JOIN fact_sales_order_line l ON l.id = sh.order_line_id
         WHERE {within("sh.ship_date")} AND sh.ship_date >= l.requested_date
        UNION ALL
        SELECT l.product_id, l.location_id, l.requested_date, 'backordered', -sh.qty
          FROM fact_sales_order_line l JOIN fact_shipment sh ON sh.order_line_id = l.id
         WHERE {within("l.requested_date")} AND sh.ship_date < l.requested_date
        UNION ALL
        SELECT product_id, location_id, requested_date, 'backordered', -qty_cancelled
          FROM fact_sales_order_line
         WHERE qty_cancelled > 0 AND {within("requested_date")}
           AND (cancelled_date IS NULL OR cancelled_date <= requested_date)
        UNION ALL
        SELECT product_id, location_id, cancelled_date, 'backordered', -qty_cancelled
          FROM fact_sales_order_line
         WHERE qty_cancelled > 0 AND {within("cancelled_date")} AND cancelled_date > requested_date
    ) e
    GROUP BY product_id, location_id, d, measure
    """


def build(events: pd.DataFrame, end: pd.Timestamp, unit_cost: pd.Series) -> pd.DataFrame:
    """Daily snapshots from aggregated events (product_id, location_id, d, measure, delta).

    Each product-location starts on its first event and runs to ``end``; events after
    ``end`` (future requested dates) are left out. Vectorised: the deltas are scattered
    into a (pairs × days) matrix per measure and summed cumulatively along the days.
    """
    events = events.assign(d=pd.to_datetime(events["d"]))
    events = events[events["d"] <= end]
    if events.empty:
        return pd.DataFrame(columns=COLUMNS)
    start = events["d"].min()
    n_days = (end - start).days + 1
    pair_codes, pairs = pd.factorize(pd.MultiIndex.from_frame(events[["product_id", "location_id"]]))
    day = ((events["d"] - start) / pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    delta = events["delta"].to_numpy(dtype=float)
    measure = events["measure"].to_numpy()
    first = np.full(len(pairs), n_days, dtype=np.int64)
    np.minimum.at(first, pair_codes, day)
    keep = np.arange(n_days)[None, :] >= first[:, None]
    pair_index, day_index = np.nonzero(keep)
    out = pd.DataFrame({
        "snapshot_date": start + pd.to_timedelta(day_index, unit="D"),
        "product_id": pairs.get_level_values(0).to_numpy()[pair_index],
        "location_id": pairs.get_level_values(1).to_numpy()[pair_index],
    })
    for name in MEASURES:
        grid = np.zeros((len(pairs), n_days))
        chosen = measure == name
        np.add.at(grid, (pair_codes[chosen], day[chosen]), delta[chosen])
        out[name] = np.cumsum(grid, axis=1)[pair_index, day_index].round(6)
    out["allocated"] = 0.0
    out["unit_cost"] = out["product_id"].map(unit_cost)
    return out[COLUMNS]


def refresh(connection: Connection, touched: pd.DataFrame | None = None) -> int:
    """Bring the snapshots up to the data's last day (the rules are in the module docstring).

    A full rebuild when ``touched`` is None, when there are none yet or when the end moved
    backwards; otherwise the ``touched`` product-locations are rebuilt and, when the end moved
    forward, the others are appended the new days. Runs in the caller's transaction. Returns the
    number of snapshot rows inserted or updated. The days whose rows changed are marked for the
    daily rollup's next refresh (``data_access.derived.mark_days``).
    """
    last_day = last_data_date(connection)
    if last_day is None:
        return 0
    end = pd.Timestamp(last_day)
    snap = schema.fact_inventory_snapshot
    previous_end = connection.execute(select(func.max(snap.c.snapshot_date))).scalar()
    previous = None if previous_end is None else pd.Timestamp(previous_end)
    costs = pd.Series(dict(connection.execute(select(schema.dim_product.c.id, schema.dim_product.c.unit_cost)).all()),
                      dtype=float)
    if touched is None or previous is None or previous > end:
        derived.mark_days(connection, None)
        return _rebuild_all(connection, end, costs)
    touched = touched[["product_id", "location_id"]].astype("int64").drop_duplicates()
    touched = touched.sort_values(["product_id", "location_id"]).reset_index(drop=True)
    written = _rewrite_batches(connection, touched, end, costs)
    recosted = _sync_unit_costs(connection, previous, costs)
    if recosted:
        derived.mark_days(connection, None)
    written += recosted
    if end > previous:
        written += _append(connection, previous, end, touched, costs)
        derived.mark_days(connection, pd.date_range(previous + pd.Timedelta(days=1), end).date)
    return written


def _rebuild_all(connection: Connection, end: pd.Timestamp, costs: pd.Series) -> int:
    """Empty the table and build every product-location's snapshots (indexes rebuilt once at the end).

    The facts are read once: when the product-locations fit in one batch the events are read in
    one query; otherwise they are aggregated once into a session-local table, indexed by product,
    from which each batch reads its rows (reading the facts with a product filter per batch
    scanned them once per batch: ≈ 100 s of the ``large`` load on PostgreSQL).
    """
    snap = schema.fact_inventory_snapshot
    per_product = read_frame(
        connection,
        "SELECT product_id, COUNT(*) FROM ("
        "SELECT DISTINCT product_id, location_id FROM fact_inventory_movement UNION "
        "SELECT DISTINCT product_id, location_id FROM fact_sales_order_line UNION "
        "SELECT DISTINCT product_id, location_id FROM fact_purchase_order_line UNION "
        "SELECT DISTINCT product_id, location_id FROM fact_production_order) p GROUP BY product_id ORDER BY product_id",
        ["product_id", "pairs"],
    )
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"TRUNCATE {snap.name}")
    else:
        connection.execute(delete(snap))
    if per_product.empty:
        return 0
    batches = _product_batches(per_product)
    dialect = connection.dialect.name
    columns = ["product_id", "location_id", "d", "measure", "delta"]
    written = 0
    with bulk.deferred_indexes(connection, snap):
        if len(batches) == 1:
            events = read_frame(connection, _events_sql(dialect, "1 = 1"), columns)
            return bulk.write_frame(connection, snap, build(events, end, costs))
        _create_temp_table_as(connection, ALL_EVENTS_TABLE, _events_sql(dialect, "1 = 1"))
        connection.exec_driver_sql(f"CREATE INDEX {ALL_EVENTS_TABLE}_product ON {ALL_EVENTS_TABLE} (product_id)")
        if dialect == "postgresql":
            connection.exec_driver_sql(f"ANALYZE {ALL_EVENTS_TABLE}")
        for products in batches:
            listed = ", ".join(str(int(p)) for p in products)
            events = read_frame(
                connection, f"SELECT {', '.join(columns)} FROM {ALL_EVENTS_TABLE} WHERE product_id IN ({listed})", columns
            )
            written += bulk.write_frame(connection, snap, build(events, end, costs))
        connection.exec_driver_sql(f"DROP TABLE {ALL_EVENTS_TABLE}")
    return written


def _create_temp_table_as(connection: Connection, name: str, sql: str) -> None:
    """A session-local table holding the rows of ``sql`` (replacing one left by an earlier refresh of the session)."""
    temp_schema = "pg_temp" if connection.dialect.name == "postgresql" else "temp"
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {temp_schema}.{name}")
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} AS {sql}")


def _history(connection: Connection, batch: pd.DataFrame, end: pd.Timestamp, costs: pd.Series) -> pd.DataFrame:
    """The snapshots of the product-locations in ``batch`` from their first event to ``end``."""
    products = ", ".join(str(int(p)) for p in batch["product_id"].unique())
    events = read_frame(
        connection,
        _events_sql(connection.dialect.name, f"product_id IN ({products})"),
        ["product_id", "location_id", "d", "measure", "delta"],
    )
    return build(events.merge(batch, on=["product_id", "location_id"]), end, costs)


def _rewrite_batches(connection: Connection, pairs: pd.DataFrame, end: pd.Timestamp, costs: pd.Series) -> int:
    """Rebuild the snapshots of ``pairs`` from their first event and store them, a batch at a time.

    Only the differences are written: stored rows the rebuild no longer has are deleted, rows
    whose values changed are updated and new rows inserted (a load touching many item-locations
    usually changes their last days only). Returns the rows inserted or updated.
    """
    snap = schema.fact_inventory_snapshot
    key = ["product_id", "location_id", "snapshot_date"]
    written = 0
    for start in range(0, len(pairs), BATCH_REWRITE_ITEM_LOCATIONS):
        batch = pairs.iloc[start : start + BATCH_REWRITE_ITEM_LOCATIONS]
        new = _history(connection, batch, end, costs)
        new = new.astype({"snapshot_date": "datetime64[ns]", "product_id": "int64", "location_id": "int64"})
        products = ", ".join(str(int(p)) for p in batch["product_id"].unique())
        old = read_frame(
            connection,
            f"SELECT id, {', '.join(COLUMNS)} FROM {snap.name} WHERE product_id IN ({products})",
            ["id", *COLUMNS],
            date_columns=("snapshot_date",),
        ).astype({"product_id": "int64", "location_id": "int64"})
        old = old.merge(batch, on=["product_id", "location_id"])
        both = old.merge(new, on=key, how="outer", suffixes=("_old", ""), indicator=True)
        gone = both.loc[both["_merge"] == "left_only", "id"]
        added = both.loc[both["_merge"] == "right_only", COLUMNS]
        kept = both[both["_merge"] == "both"]
        differs = np.zeros(len(kept), dtype=bool)
        for name in VALUES:
            before, after = kept[f"{name}_old"].astype(float), kept[name].astype(float)
            differs |= ~((before == after) | (before.isna() & after.isna())).to_numpy()
        changed = kept.loc[differs, ["id", *VALUES]]
        derived.mark_days(connection, pd.concat([
            both.loc[both["_merge"] == "left_only", "snapshot_date"], added["snapshot_date"],
            kept.loc[differs, "snapshot_date"],
        ]).dt.date)
        _delete_ids(connection, gone)
        _update_rows(connection, changed)
        written += bulk.write_frame(connection, snap, added) + len(changed)
    return written


def _delete_ids(connection: Connection, ids: pd.Series) -> None:
    """Delete the snapshot rows with these ids."""
    snap = schema.fact_inventory_snapshot
    values = [int(i) for i in ids]
    for start in range(0, len(values), DELETE_BATCH_IDS):
        connection.execute(delete(snap).where(snap.c.id.in_(values[start : start + DELETE_BATCH_IDS])))


def _update_rows(connection: Connection, changed: pd.DataFrame) -> None:
    """Set the values of the snapshot rows in ``changed`` (id and the value columns) through a staged copy."""
    if changed.empty:
        return
    stage = bulk.create_temp_table(connection, CHANGES_TABLE, {"id": "int", **dict.fromkeys(VALUES, "float")})
    bulk.write_frame(connection, stage, changed.astype({"id": "int64"}))
    name = schema.fact_inventory_snapshot.name
    assignments = ", ".join(f"{column} = c.{column}" for column in VALUES)
    connection.exec_driver_sql(f"UPDATE {name} SET {assignments} FROM {CHANGES_TABLE} c WHERE {name}.id = c.id")
    connection.exec_driver_sql(f"DROP TABLE {CHANGES_TABLE}")


def _sync_unit_costs(connection: Connection, day: pd.Timestamp, costs: pd.Series) -> int:
    """Give every row of a product whose stored cost (seen on ``day``) is not its standard cost that cost.

    Rows always carry the product's current standard cost, so a product's rows on one day tell
    whether its cost changed since they were written. Returns the rows updated.
    """
    snap = schema.fact_inventory_snapshot
    stored = read_frame(
        connection,
        f"SELECT DISTINCT product_id, unit_cost FROM {snap.name} WHERE snapshot_date = '{day:%Y-%m-%d}'",
        ["product_id", "unit_cost"],
    )
    current = stored["product_id"].map(costs).astype(float)
    cost = stored["unit_cost"].astype(float)
    stale = stored.loc[~((cost == current) | (cost.isna() & current.isna())), "product_id"].unique()
    updated = 0
    for product_id in stale:
        value = costs.get(int(product_id))
        value = None if value is None or pd.isna(value) else float(value)
        updated += connection.execute(
            update(snap)
            .where(snap.c.product_id == int(product_id), snap.c.unit_cost.is_distinct_from(value))
            .values(unit_cost=value)
        ).rowcount
    return updated


def _append(connection: Connection, previous: pd.Timestamp, end: pd.Timestamp, touched: pd.DataFrame,
            costs: pd.Series) -> int:
    """Append the days (``previous``, ``end``] to every product-location not in ``touched``.

    ``m(d) = m(previous) + Σ deltas of its m-events dated in (previous, d]``, for each measure m;
    ``m(previous)`` is its stored row of that day, or 0 for a product-location without one (it
    then starts on its first event in the window). The window's events are aggregated once into
    a session-local table, then read a batch of products at a time. Returns the rows written.
    """
    snap = schema.fact_inventory_snapshot
    dialect = connection.dialect.name
    day = f"'{previous:%Y-%m-%d}'"
    _create_temp_table_as(connection, WINDOW_TABLE, _window_events_sql(dialect, previous.date(), end.date()))
    per_product = read_frame(
        connection,
        f"SELECT product_id, COUNT(*) FROM (SELECT product_id, location_id FROM {snap.name} "
        f"WHERE snapshot_date = {day} UNION SELECT product_id, location_id FROM {WINDOW_TABLE}) p "
        "GROUP BY product_id ORDER BY product_id",
        ["product_id", "pairs"],
    )
    first_day = previous + pd.Timedelta(days=1)
    written = 0
    for products in _product_batches(per_product):
        listed = ", ".join(str(int(p)) for p in products)
        base = read_frame(
            connection,
            f"SELECT product_id, location_id, {', '.join(MEASURES)} FROM {snap.name} "
            f"WHERE snapshot_date = {day} AND product_id IN ({listed})",
            ["product_id", "location_id", *MEASURES],
        )
        window = read_frame(
            connection,
            f"SELECT product_id, location_id, d, measure, delta FROM {WINDOW_TABLE} WHERE product_id IN ({listed})",
            ["product_id", "location_id", "d", "measure", "delta"],
            date_columns=("d",),
        )
        opening = base.melt(["product_id", "location_id"], MEASURES, var_name="measure", value_name="delta")
        events = pd.concat([opening.assign(d=first_day), window], ignore_index=True)
        events = events.astype({"product_id": "int64", "location_id": "int64", "d": "datetime64[ns]"})
        events = events.merge(touched, on=["product_id", "location_id"], how="left", indicator=True)
        events = events[events["_merge"] == "left_only"].drop(columns="_merge")
        written += bulk.write_frame(connection, snap, build(events, end, costs))
    connection.exec_driver_sql(f"DROP TABLE {WINDOW_TABLE}")
    return written


def _product_batches(per_product: pd.DataFrame) -> list[list[int]]:
    """Consecutive products grouped so a group holds about ``BATCH_ITEM_LOCATIONS`` product-locations."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for product_id, pairs in per_product.itertuples(index=False):
        if current and size + int(pairs) > BATCH_ITEM_LOCATIONS:
            batches.append(current)
            current, size = [], 0
        current.append(int(product_id))
        size += int(pairs)
    if current:
        batches.append(current)
    return batches
