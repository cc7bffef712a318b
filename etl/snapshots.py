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
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, func, select

from data_access import schema
from data_access.frames import read_frame
from data_access.queries import last_data_date
from etl import bulk

BATCH_ITEM_LOCATIONS = 2_000
MEASURES = ("on_hand", "on_order", "backordered")


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


def build(events: pd.DataFrame, end: pd.Timestamp, unit_cost: pd.Series) -> pd.DataFrame:
    """Daily snapshots from aggregated events (product_id, location_id, d, measure, delta).

    Each product-location starts on its first event and runs to ``end``; events after
    ``end`` (future requested dates) are left out. Vectorised: the deltas are scattered
    into a (pairs × days) matrix per measure and summed cumulatively along the days.
    """
    columns = ["snapshot_date", "product_id", "location_id", *MEASURES, "allocated", "unit_cost"]
    events = events.assign(d=pd.to_datetime(events["d"]))
    events = events[events["d"] <= end]
    if events.empty:
        return pd.DataFrame(columns=columns)
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
    return out[columns]


def refresh(connection: Connection, touched: pd.DataFrame | None = None) -> int:
    """Rebuild snapshots of ``touched`` product-locations, or of all when the data's end date moved.

    Returns the number of snapshot rows written.
    """
    last_day = last_data_date(connection)
    if last_day is None:
        return 0
    end = pd.Timestamp(last_day)
    snap = schema.fact_inventory_snapshot
    previous_end = connection.execute(select(func.max(snap.c.snapshot_date))).scalar()
    everything = touched is None or previous_end is None or pd.Timestamp(previous_end) != end
    if everything:
        pairs = read_frame(
            connection,
            "SELECT DISTINCT product_id, location_id FROM fact_inventory_movement UNION "
            "SELECT DISTINCT product_id, location_id FROM fact_sales_order_line UNION "
            "SELECT DISTINCT product_id, location_id FROM fact_purchase_order_line UNION "
            "SELECT DISTINCT product_id, location_id FROM fact_production_order",
            ["product_id", "location_id"],
        )
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"TRUNCATE {snap.name}")
        else:
            connection.execute(delete(snap))
    else:
        pairs = touched
    if pairs.empty:
        return 0
    costs = pd.Series(dict(connection.execute(select(schema.dim_product.c.id, schema.dim_product.c.unit_cost)).all()))
    pairs = pairs.sort_values(["product_id", "location_id"]).reset_index(drop=True)
    with bulk.deferred_indexes(connection, snap, enabled=everything):
        return _write_batches(connection, pairs, end, costs, everything)


def _write_batches(connection: Connection, pairs: pd.DataFrame, end: pd.Timestamp, costs: pd.Series, everything: bool) -> int:
    """Build and write the snapshots of ``pairs``, a batch of item-locations at a time."""
    snap = schema.fact_inventory_snapshot
    written = 0
    for start in range(0, len(pairs), BATCH_ITEM_LOCATIONS):
        batch = pairs.iloc[start : start + BATCH_ITEM_LOCATIONS]
        products = ", ".join(str(int(p)) for p in batch["product_id"].unique())
        item_filter = f"product_id IN ({products})"
        events = read_frame(
            connection, _events_sql(connection.dialect.name, item_filter), ["product_id", "location_id", "d", "measure", "delta"]
        )
        keep = events.merge(batch, on=["product_id", "location_id"])
        if not everything:
            for product_id, location_id in batch.itertuples(index=False):
                connection.execute(
                    delete(snap).where(snap.c.product_id == int(product_id), snap.c.location_id == int(location_id))
                )
        frame = build(keep, end, costs)
        written += bulk.write_frame(connection, snap, frame)
    return written
