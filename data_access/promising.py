"""Reads and commands of promising and backorder management (issue 7); the pure rules are ``analytics.promising``.

Reads return DataFrames in the contracts of ``analytics.promising`` (``SUPPLY_DEMAND``, ``OPEN_LINES``, ``LANES``,
``SHIPMENTS``, ``SUPPLY_ORDERS``); a few compositions (:func:`promise`, :func:`atp_table`,
:func:`alternatives_for`, :func:`backorder_status`, :func:`root_causes`, :func:`backorder_trend_from_counts`)
read and call the analytics, so a view needs one call. Commands run in one transaction each (an ``Engine``) or join the caller's (a ``Connection``) and
write an ``audit_log`` row for a user's action.

What "open" means here (the current state of the order tables, planned from a day ``as_of``, by default the
last day of data):

- stock on hand of a product-location = its ``fact_inventory_snapshot`` of the latest snapshot day before as_of
  + the ledger movements after that day up to the end of as_of: a day or so of the ledger, so the read stays
  small however long the history, and movements of as_of recorded after the last snapshot refresh (scans, the
  app) still count (snapshots are refreshed by every load and cover every product-location with a movement);
- a scheduled receipt = a purchase line in status open or partial with qty_ordered > qty_received (the rest,
  expected on expected_date, else order_date + the product's lead time) or a production order planned or
  released (qty_planned − qty_produced, due on due_date);
- an open order line = status open or partial with qty_ordered − qty_shipped − qty_cancelled > 0.

Indexes the per-product reads rely on: the snapshot's unique (product, location, date), the ledger's
(product, location, ts), ``fact_purchase_order_line`` (product, location), ``fact_production_order.product_id``
and ``fact_sales_order_line.product_id``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    TextClause,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from analytics import promising as rules
from analytics.kpis import backorder_rate_from_counts
from data_access import schema
from data_access.config import Settings, load_settings
from data_access.engine import reading, transaction, utc_now
from data_access.frames import (
    ORDER_LINE_COLUMNS,
    ORDER_LINE_SELECT,
    po_lines,
    production_orders,
    read_frame,
)
from data_access.queries import BACKORDER_DIMENSIONS, backorder_counts, last_data_date

CONTACT_CHANNELS = ("phone", "email", "chat", "visit", "note")
_LOCK_KEY = 0x424B4F52  # "BKOR": serialises backorder ETA writers on PostgreSQL


def _ids(values: Iterable[int]) -> str:
    """A literal SQL list of integer ids (validated as integers, so safe to inline)."""
    ids = sorted({int(v) for v in values})
    if not ids:
        raise ValueError("no product ids given")
    return ", ".join(str(i) for i in ids)


def _date_or_none(value: Any) -> dt.date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def planning_date(connectable: Engine | Connection) -> dt.date:
    """The default ``as_of``: the last day of data (latest order, shipment or movement), else today (UTC)."""
    return last_data_date(connectable) or dt.datetime.now(dt.UTC).date()


# --- supply and demand per product-location -----------------------------------------------------------------------

#: The latest snapshot day before as_of, and the first moment after it (ledger movements from then on are added
#: to the snapshot's on hand; no snapshot at all: the whole ledger). A snapshot of as_of itself is not used, so
#: movements of that day recorded after the snapshots were refreshed (scans, the app) always count.
_SNAPSHOT_DAY = "(SELECT MAX(snapshot_date) FROM fact_inventory_snapshot WHERE snapshot_date < :as_of)"
_AFTER_SNAPSHOT = {
    "postgresql": f"COALESCE({_SNAPSHOT_DAY} + 1, DATE '1900-01-01')",
    "sqlite": f"COALESCE(DATE({_SNAPSHOT_DAY}, '+1 day'), '1900-01-01')",
}

_SUPPLY_DEMAND = """
SELECT 'on_hand' AS kind, s.product_id, s.location_id, CAST(NULL AS DATE) AS day, s.on_hand AS qty,
       CAST(NULL AS VARCHAR(64)) AS reference, CAST(NULL AS DATE) AS order_date, CAST(NULL AS FLOAT) AS lead_time_days
  FROM dim_location loc
  {join} fact_inventory_snapshot s ON s.location_id = loc.id AND s.snapshot_date = {snapshot_day} {only_s}
UNION ALL
SELECT 'on_hand', m.product_id, m.location_id, NULL, SUM(m.qty), NULL, NULL, NULL
  FROM dim_location loc
  {join} fact_inventory_movement m ON m.location_id = loc.id AND m.ts >= {after} AND m.ts < :until {only_m}
 GROUP BY m.product_id, m.location_id
UNION ALL
SELECT 'purchase', po.product_id, po.location_id, po.expected_date, po.qty_ordered - po.qty_received, po.po_no,
       po.order_date, p.lead_time_days
  FROM fact_purchase_order_line po JOIN dim_product p ON p.id = po.product_id
 WHERE po.status IN ('open', 'partial') AND po.qty_ordered > po.qty_received {only_po}
UNION ALL
SELECT 'production', mo.product_id, mo.location_id, mo.due_date, mo.qty_planned - mo.qty_produced, mo.mo_no,
       NULL, NULL
  FROM fact_production_order mo
 WHERE mo.status IN ('planned', 'released') AND mo.qty_planned > mo.qty_produced {only_mo}
UNION ALL
SELECT 'demand', l.product_id, l.location_id, l.requested_date, SUM(l.qty_ordered - l.qty_shipped - l.qty_cancelled),
       NULL, NULL, NULL
  FROM fact_sales_order_line l
 WHERE l.status IN ('open', 'partial') AND l.qty_ordered - l.qty_shipped - l.qty_cancelled > 1e-9 {only_l}
 GROUP BY l.product_id, l.location_id, l.requested_date
"""
_SUPPLY_COLUMNS = ["kind", "product_id", "location_id", "date", "qty", "reference", "order_date", "lead_time_days"]


def _supply_sql(dialect: str, product_ids: Iterable[int] | None, *, one_parameter: bool = False) -> str:
    """The supply query of the given products (a literal id list), of all (None), or of one ``:product_id``
    parameter (``one_parameter``: one statement for every product, compiled once). For some products the stock
    parts probe the snapshot's and the ledger's (product, location, …) indexes once per location: SQLite is told
    to loop over the locations first (its CROSS JOIN keeps the written order), PostgreSQL's planner finds that
    plan itself."""
    only = ""
    if one_parameter:
        only = "= :product_id"
    elif product_ids is not None:
        only = f"IN ({_ids(product_ids)})"
    return _SUPPLY_DEMAND.format(
        snapshot_day=_SNAPSHOT_DAY, after=_AFTER_SNAPSHOT["postgresql" if dialect == "postgresql" else "sqlite"],
        join="CROSS JOIN" if only and dialect == "sqlite" else "JOIN",
        **{name: f"AND {alias}.product_id {only}" if only else ""
           for name, alias in (("only_s", "s"), ("only_m", "m"), ("only_po", "po"), ("only_mo", "mo"),
                               ("only_l", "l"))},
    )


def supply_demand(
    connectable: Engine | Connection, as_of: dt.date, product_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """Stock, scheduled receipts and open-order demand (``analytics.promising.SUPPLY_DEMAND``) as of ``as_of``.

    For the given products (every location), or for all products when ``product_ids`` is None (the allocation
    run; PostgreSQL streams it with COPY). Rules in the module docstring: on hand = the snapshot before as_of +
    later ledger movements up to the end of as_of (a row per source, summed by the analytics); receipts open on
    the order tables by expected / due date (a purchase line without expected date: order date + ceil(lead time));
    demand = Σ open qty per requested date. Dates are datetime64 (on_hand rows: NaT).
    """
    ids = None if product_ids is None else sorted({int(i) for i in product_ids})
    params: dict[str, Any] = {"as_of": as_of, "until": dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())}
    with reading(connectable) as connection:
        if ids is not None:  # a few products, a few rows: plain fetch, numpy shaping
            _no_jit(connection)
            if len(ids) == 1:
                statement = _one_product_statement(connection.dialect.name)
                params["product_id"] = ids[0]
            else:
                statement = text(_supply_sql(connection.dialect.name, ids)).bindparams(
                    bindparam("as_of", type_=Date), bindparam("until", type_=DateTime))
            return _supply_rows(connection.execute(statement, params).all())
        frame = read_frame(connection, _supply_sql(connection.dialect.name, None), _SUPPLY_COLUMNS,
                           text_columns=("kind", "reference"), params=params)
    return _shape_supply(frame)


def _no_jit(connection: Connection) -> None:
    """PostgreSQL: no JIT compilation for the rest of this transaction. Row estimates of a product's order lines
    can be far off (before ANALYZE, or for a skewed product) and push the small per-product query over
    ``jit_above_cost``; compiling it then costs more (tens of ms) than running it."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL jit = off")


@functools.cache
def _one_product_statement(dialect: str) -> TextClause:
    """The supply statement of one product (``:product_id``), built once per dialect so SQLAlchemy's compiled
    cache serves every later call (the per-call path of :func:`promise`)."""
    return text(_supply_sql(dialect, None, one_parameter=True)).bindparams(
        bindparam("as_of", type_=Date), bindparam("until", type_=DateTime), bindparam("product_id", type_=Integer))


def _supply_rows(rows: list) -> pd.DataFrame:
    """A few raw supply rows in the SUPPLY_DEMAND contract, built with numpy (the per-call path of
    :func:`promise`: pandas per-column work on tiny frames costs more than the query)."""
    kinds = np.array([r[0] for r in rows], dtype=object)
    dates = np.array([r[3] if r[3] is not None else "NaT" for r in rows], dtype="datetime64[D]")
    missing = np.isnat(dates) & (kinds == "purchase")
    for i in np.flatnonzero(missing):
        ordered, lead = rows[i][6], rows[i][7]
        lead_days = math.ceil(max(float(lead), 0.0)) if lead is not None else 0
        dates[i] = np.datetime64(ordered, "D") + np.timedelta64(lead_days, "D")
    return pd.DataFrame({
        "product_id": np.array([r[1] for r in rows], dtype=np.int64),
        "location_id": np.array([r[2] for r in rows], dtype=np.int64),
        "kind": kinds, "date": dates.astype("datetime64[ns]"),
        "qty": np.array([r[4] for r in rows], dtype=float),
        "reference": np.array([r[5] for r in rows], dtype=object),
    })


def _shape_supply(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw supply rows in the SUPPLY_DEMAND contract (fallback receipt dates, types)."""
    frame = frame.astype({"product_id": "int64", "location_id": "int64"}) if len(frame) else frame
    day = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    ordered = pd.to_datetime(frame["order_date"]).astype("datetime64[ns]")
    lead = pd.to_numeric(frame["lead_time_days"]).astype(float).fillna(0.0).clip(lower=0.0)
    fallback = ordered + pd.to_timedelta(lead.map(math.ceil), unit="D")
    missing = day.isna() & (frame["kind"] == "purchase")
    out = pd.DataFrame({
        "product_id": frame["product_id"].astype("int64"), "location_id": frame["location_id"].astype("int64"),
        "kind": frame["kind"].astype(object), "date": day.where(~missing, fallback),
        "qty": pd.to_numeric(frame["qty"]).astype(float), "reference": frame["reference"].astype(object),
    })
    out["reference"] = out["reference"].where(out["reference"].notna(), None)
    return out.reset_index(drop=True)


def transfer_lanes(connectable: Engine | Connection) -> pd.DataFrame:
    """Every stored transfer lane (``analytics.promising.LANES``); pairs without a row use
    ``Settings.default_transfer_days``."""
    lane = schema.location_transfer_lane
    with reading(connectable) as connection:
        rows = connection.execute(select(lane.c.from_location_id, lane.c.to_location_id, lane.c.transfer_days)).all()
    return pd.DataFrame({
        "from_location_id": np.array([r[0] for r in rows], dtype=np.int64),
        "to_location_id": np.array([r[1] for r in rows], dtype=np.int64),
        "transfer_days": np.array([r[2] for r in rows], dtype=float),
    })


def _check_exists(connection: Connection, product_id: int, location_id: int | None) -> None:
    """ValueError when the product (or the location) is unknown."""
    p, loc = schema.dim_product, schema.dim_location
    found = connection.execute(select(
        select(func.count()).select_from(p).where(p.c.id == int(product_id)).scalar_subquery(),
        select(func.count()).select_from(loc).where(loc.c.id == int(location_id or 0)).scalar_subquery(),
    )).one()
    if not found[0]:
        raise ValueError(f"unknown product id {product_id}")
    if location_id is not None and not found[1]:
        raise ValueError(f"unknown location id {location_id}")


def promise(
    connectable: Engine | Connection,
    product_id: int,
    location_id: int,
    qty: float,
    requested_date: dt.date,
    *,
    as_of: dt.date | None = None,
    transfers: bool = True,
    settings: Settings | None = None,
) -> rules.Promise:
    """The earliest day ``qty`` of a product can ship from a location, with its split plan
    (``analytics.promising.promise``): reads the product's supply and demand at every location and the transfer
    lanes (missing lanes: ``settings.default_transfer_days``). ``as_of`` defaults to :func:`planning_date`.
    ValueError for an unknown product or location, or a quantity ≤ 0."""
    settings = settings or load_settings()
    with reading(connectable) as connection:
        _check_exists(connection, product_id, location_id)
        as_of = as_of or planning_date(connection)
        supply = supply_demand(connection, as_of, [product_id])
        lanes = transfer_lanes(connection) if transfers else None
    return rules.promise(supply, location_id, qty, requested_date, as_of=as_of, product_id=product_id, lanes=lanes,
                         default_transfer_days=settings.default_transfer_days, transfers=transfers)


def product_availability(
    connectable: Engine | Connection, product_ids: Iterable[int] | None = None, as_of: dt.date | None = None
) -> pd.DataFrame:
    """Availability now per product-location (``analytics.promising.availability``: on hand, open demand,
    scheduled receipts, ATP now, next receipt) of the given products, or of all; with sku, name, category and
    location code, for the sales and customer availability views."""
    with reading(connectable) as connection:
        as_of = as_of or planning_date(connection)
        ids = None if product_ids is None else list(product_ids)
        frame = rules.availability(supply_demand(connection, as_of, ids), as_of)
        names = product_catalog(connection, ids)[["product_id", "sku", "name", "category"]]
        loc = schema.dim_location
        codes = dict(connection.execute(select(loc.c.id, loc.c.code)).all())
    frame = frame.merge(names, on="product_id", how="left")
    frame["location"] = frame["location_id"].map(codes)
    return frame


def atp_table(
    connectable: Engine | Connection,
    product_id: int,
    location_id: int | None = None,
    *,
    freq: Literal["D", "W"] = "D",
    horizon_days: int = 90,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Daily (``freq="D"``) or weekly (``"W"``) ATP buckets of a product at one location or all
    (``analytics.promising.atp``)."""
    with reading(connectable) as connection:
        _check_exists(connection, product_id, location_id)
        as_of = as_of or planning_date(connection)
        supply = supply_demand(connection, as_of, [product_id])
    if freq not in ("D", "W"):
        raise ValueError(f"freq must be 'D' or 'W', not {freq!r}")
    return rules.atp(supply, as_of, freq="W" if freq == "W" else "D", horizon_days=horizon_days,
                     product_id=product_id, location_id=location_id)


# --- order lines, backorders and their ETAs ------------------------------------------------------------------------

_OPEN_LINES = """
SELECT l.id, l.order_no, l.line_no, l.product_id, l.location_id, l.customer_id, c.code, c.name, c.email,
       c.segment, c.tier, p.sku, p.name, p.category, loc.code, l.channel, l.order_date, l.requested_date,
       l.promised_date, l.qty_ordered, l.qty_shipped, l.qty_cancelled, l.unit_price, l.discount, l.status,
       l.priority
  FROM fact_sales_order_line l
  JOIN dim_customer c ON c.id = l.customer_id
  JOIN dim_product p ON p.id = l.product_id
  JOIN dim_location loc ON loc.id = l.location_id
 WHERE l.status IN ('open', 'partial') AND l.qty_ordered - l.qty_shipped - l.qty_cancelled > 1e-9 {only}
 ORDER BY l.id
"""
OPEN_LINE_COLUMNS = [
    "line_id", "order_no", "line_no", "product_id", "location_id", "customer_id", "customer", "customer_name",
    "email", "segment", "tier", "sku", "product_name", "category", "location", "channel", "order_date",
    "requested_date", "promised_date", "qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "discount",
    "status", "priority",
]


def open_order_lines(connectable: Engine | Connection, product_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Open sales order lines (``analytics.promising.OPEN_LINES`` plus customer code, name, email, segment, sku,
    product name, category and location code), of the given products or all."""
    only = f"AND l.product_id IN ({_ids(product_ids)})" if product_ids is not None else ""
    with reading(connectable) as connection:
        frame = read_frame(
            connection, _OPEN_LINES.format(only=only), OPEN_LINE_COLUMNS,
            text_columns=("order_no", "customer", "customer_name", "email", "segment", "tier", "sku", "product_name",
                          "category", "location", "channel", "status"),
            date_columns=("order_date", "requested_date", "promised_date"),
        )
    frame = frame.astype({c: "int64" for c in ("line_id", "line_no", "product_id", "location_id", "customer_id")})
    numbers = ("qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "discount")
    frame = frame.astype(dict.fromkeys(numbers, float))
    frame["priority"] = pd.to_numeric(frame["priority"]).fillna(0).astype("int64")
    for name in ("email", "tier", "segment"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


_ETA_COLUMNS = ["line_id", "computed_at", "qty_open", "eta", "previous_eta", "source", "reference", "priority",
                "allocation_rank"]


def stored_etas(connectable: Engine | Connection) -> pd.DataFrame:
    """The stored backorder ETAs (``backorder_eta``; ``line_id`` = sales_order_line_id), dates as datetime64."""
    b = schema.backorder_eta
    with reading(connectable) as connection:
        rows = connection.execute(select(
            b.c.sales_order_line_id, b.c.computed_at, b.c.qty_open, b.c.eta, b.c.previous_eta, b.c.source,
            b.c.reference, b.c.priority, b.c.allocation_rank,
        ).order_by(b.c.sales_order_line_id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=_ETA_COLUMNS)
    for name in ("computed_at", "eta", "previous_eta"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    return frame.astype({"line_id": "int64", "qty_open": float, "priority": bool})


def backorder_status(connectable: Engine | Connection, as_of: dt.date | None = None,
                     customer_id: int | None = None) -> pd.DataFrame:
    """Open backorders (``analytics.promising.open_backorders``: age, value, priority) with their stored ETA,
    previous ETA, ETA source and reference; of one customer or all. Lines without a stored ETA (the backorder
    run has not seen them yet) have NaT."""
    with reading(connectable) as connection:
        as_of = as_of or planning_date(connection)
        lines = open_order_lines(connection)
        etas = stored_etas(connection)
    if customer_id is not None:
        lines = lines[lines["customer_id"] == int(customer_id)]
    frame = rules.open_backorders(lines, as_of)
    etas = etas.rename(columns={"source": "eta_source", "reference": "eta_reference",
                                "computed_at": "eta_computed_at"})
    keep = ["line_id", "eta", "previous_eta", "eta_source", "eta_reference", "allocation_rank", "eta_computed_at"]
    return frame.merge(etas[keep], on="line_id", how="left")


def lock_backorders(connection: Connection) -> None:
    """Serialise backorder runs: a transaction-scoped advisory lock on PostgreSQL (SQLite has one writer)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _upsert(connection: Connection, table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE every other column, on both backends."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={c: statement.excluded[c] for c in rows[0] if c not in keys}
    )
    connection.execute(statement, rows)


def store_etas(
    connectable: Engine | Connection, update: rules.EtaUpdate, *, computed_at: dt.datetime | None = None,
    user: str | None = "backorder-run",
) -> dict[str, int]:
    """Store a run's ETAs (``analytics.promising.eta_updates``): upsert one ``backorder_eta`` row per open
    backorder (qty_open, eta and previous_eta as decided there, source, reference, priority, allocation_rank,
    computed_at) and delete the rows of lines no longer backordered; one ``audit_log`` row with the counts.
    One transaction (the caller's, with a Connection). Returns the counts (new, moved, kept, removed)."""
    computed_at = computed_at or utc_now()
    lines = update.lines
    needed = ("line_id", "qty_open", "eta", "previous_eta", "eta_source", "eta_reference", "is_priority",
              "allocation_rank")
    missing = [c for c in needed if c not in lines.columns]
    if missing:
        raise ValueError(f"the ETA update lacks column(s) {missing} (see analytics.promising.eta_updates)")
    rows = [
        {"sales_order_line_id": int(r.line_id), "computed_at": computed_at, "qty_open": float(r.qty_open),
         "eta": _date_or_none(r.eta), "previous_eta": _date_or_none(r.previous_eta),
         "source": str(r.eta_source), "reference": None if pd.isna(r.eta_reference) else str(r.eta_reference)[:64],
         "priority": bool(r.is_priority), "allocation_rank": int(r.allocation_rank)}
        for r in lines.itertuples(index=False)
    ]
    b = schema.backorder_eta
    with transaction(connectable) as connection:
        lock_backorders(connection)
        for start in range(0, len(rows), 5_000):
            _upsert(connection, b, rows[start:start + 5_000], ["sales_order_line_id"])
        for start in range(0, len(update.removed), 5_000):
            chunk = update.removed[start:start + 5_000]
            connection.execute(delete(b).where(b.c.sales_order_line_id.in_(chunk)))
        counts = update.counts
        connection.execute(insert(schema.audit_log).values(
            ts=computed_at, user_name=user, action="backorders.eta_run", entity="backorder_eta",
            entity_key=computed_at.isoformat(timespec="seconds"), details=counts,
        ))
    return counts


# --- alternatives ---------------------------------------------------------------------------------------------------

_PRODUCT_COLUMNS = ["product_id", "sku", "name", "category", "unit_price", "unit_cost", "lead_time_days",
                    "make_or_buy", "active"]


def product_catalog(connectable: Engine | Connection, product_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Products (``dim_product``) with the attributes promising uses: sku, name, category, unit_price,
    unit_cost, lead_time_days, make_or_buy, active."""
    p = schema.dim_product
    query = select(p.c.id, p.c.sku, p.c.name, p.c.category, p.c.unit_price, p.c.unit_cost, p.c.lead_time_days,
                   p.c.make_or_buy, p.c.active).order_by(p.c.id)
    if product_ids is not None:
        query = query.where(p.c.id.in_([int(i) for i in product_ids]))
    with reading(connectable) as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=_PRODUCT_COLUMNS)
    return frame.astype({"product_id": "int64", "unit_price": float, "unit_cost": float, "lead_time_days": float,
                         "active": bool})


def alternative_candidates(
    connectable: Engine | Connection, product_id: int, *, price_band: float = 0.25, limit: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(products, substitutes) for ``analytics.promising.alternatives``: the product, its substitutes
    (``product_substitute``) and up to ``limit`` active products of its category priced within ±price_band,
    closest first (filtered and ordered in the database)."""
    p, s = schema.dim_product, schema.product_substitute
    with reading(connectable) as connection:
        base = connection.execute(select(p.c.category, p.c.unit_price).where(p.c.id == int(product_id))).first()
        if base is None:
            raise ValueError(f"unknown product id {product_id}")
        subs = connection.execute(
            select(s.c.product_id, s.c.substitute_id, s.c.rank).where(s.c.product_id == int(product_id))
        ).all()
        near: list[int] = []
        if base.unit_price is not None and base.unit_price > 0:
            price = float(base.unit_price)
            near = list(connection.execute(
                select(p.c.id).where(p.c.category == base.category, p.c.id != int(product_id), p.c.active,
                                     p.c.unit_price.between(price * (1 - price_band), price * (1 + price_band)))
                .order_by(func.abs(p.c.unit_price - price), p.c.id).limit(limit + len(subs))
            ).scalars())
        ids = {int(product_id), *(int(r.substitute_id) for r in subs), *near}
        products = product_catalog(connection, ids)
    substitutes = pd.DataFrame([tuple(r) for r in subs], columns=["product_id", "substitute_id", "rank"])
    return products, substitutes.astype("int64")


def alternatives_for(
    connectable: Engine | Connection,
    product_id: int,
    location_id: int,
    *,
    as_of: dt.date | None = None,
    price_band: float = 0.25,
    limit: int = 5,
) -> pd.DataFrame:
    """Alternatives for a backordered product at a location, substitutes first, each with its availability
    (``analytics.promising.alternatives`` on :func:`alternative_candidates` and the candidates' ATP)."""
    with reading(connectable) as connection:
        _check_exists(connection, product_id, location_id)
        as_of = as_of or planning_date(connection)
        products, substitutes = alternative_candidates(connection, product_id, price_band=price_band, limit=limit)
        supply = supply_demand(connection, as_of, products["product_id"].tolist())
    return rules.alternatives(product_id, products, substitutes, rules.availability(supply, as_of), location_id,
                              price_band=price_band, limit=limit)


# --- logistics --------------------------------------------------------------------------------------------------------

_IN_TRANSIT = """
SELECT sh.shipment_no, l.order_no, l.line_no, l.id, l.customer_id, c.code, c.name, c.email, sh.carrier,
       sh.tracking_no, sh.ship_date, sh.eta, sh.delivered_date, sh.status, l.requested_date, l.promised_date,
       sh.qty, p.sku, p.name, loc.code, c.tier, l.priority
  FROM fact_shipment sh
  JOIN fact_sales_order_line l ON l.id = sh.order_line_id
  JOIN dim_customer c ON c.id = l.customer_id
  JOIN dim_product p ON p.id = l.product_id
  JOIN dim_location loc ON loc.id = l.location_id
 WHERE sh.delivered_date IS NULL AND sh.status NOT IN ('delivered', 'returned')
 ORDER BY sh.shipment_no
"""
SHIPMENT_COLUMNS = [
    "shipment_no", "order_no", "line_no", "line_id", "customer_id", "customer", "customer_name", "email", "carrier",
    "tracking_no", "ship_date", "eta", "delivered_date", "status", "requested_date", "promised_date", "qty", "sku",
    "product_name", "location", "tier", "priority",
]


def shipments_in_transit(connectable: Engine | Connection) -> pd.DataFrame:
    """Shipments not delivered (no delivered_date, status not delivered/returned) joined to their order line,
    customer (code, name, email, tier), product and location, with the line's priority:
    ``analytics.promising.SHIPMENTS`` and more."""
    with reading(connectable) as connection:
        frame = read_frame(
            connection, _IN_TRANSIT, SHIPMENT_COLUMNS,
            text_columns=("shipment_no", "order_no", "customer", "customer_name", "email", "carrier", "tracking_no",
                          "status", "sku", "product_name", "location", "tier"),
            date_columns=("ship_date", "eta", "delivered_date", "requested_date", "promised_date"),
        )
    frame = frame.astype({c: "int64" for c in ("line_no", "line_id", "customer_id")}).astype({"qty": float})
    frame["priority"] = pd.to_numeric(frame["priority"]).fillna(0).astype("int64")
    for name in ("email", "carrier", "tracking_no", "tier"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def shipment_delays(connectable: Engine | Connection, as_of: dt.date | None = None) -> pd.DataFrame:
    """Shipments in transit with their delay flags (``analytics.promising.shipment_delays``)."""
    with reading(connectable) as connection:
        as_of = as_of or planning_date(connection)
        shipments = shipments_in_transit(connection)
    return rules.shipment_delays(shipments, as_of)


# --- executive: root causes -----------------------------------------------------------------------------------------


def supply_orders(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """Purchase lines and production orders placed by ``as_of``, not cancelled, in their state at as_of
    (``analytics.promising.SUPPLY_ORDERS``; reuses ``frames.po_lines`` and ``frames.production_orders``):
    a purchase line is due on expected_date and arrived on its received_date, a production order was placed on
    start_date, is due on due_date and arrived on finished_date."""
    po = po_lines(engine, as_of)
    po = po[po["status"] != "cancelled"]
    mo = production_orders(engine, as_of)
    mo = mo[mo["status"] != "cancelled"]
    frame = pd.concat([
        pd.DataFrame({"product_id": po["product_id"], "location_id": po["location_id"], "kind": "purchase",
                      "reference": po["po_no"].astype(object), "order_date": po["order_date"],
                      "due_date": po["expected_date"], "arrived_date": po["received_date"]}),
        pd.DataFrame({"product_id": mo["product_id"], "location_id": mo["location_id"], "kind": "production",
                      "reference": mo["mo_no"].astype(object), "order_date": mo["start_date"],
                      "due_date": mo["due_date"], "arrived_date": mo["finished_date"]}),
    ], ignore_index=True)
    return frame.astype({"product_id": "int64", "location_id": "int64"})


#: The lines requested in [since, as_of] (ordered by as_of) not shipped in full by their requested date, in the
#: ``frames.order_lines`` columns and state at as_of: the only lines root causes classify. A line qualifies when
#: its shipments up to as_of and by its requested date add up to less than it ordered (one index probe per line,
#: not a pass over every shipment); only those lines' shipments are then summed. ``{join}``: CROSS JOIN on SQLite
#: (it keeps the written order: lines first, shipments through their order_line_id index), JOIN on PostgreSQL.
_BACKORDERED_LINES = """
WITH short_line AS (
    SELECT l.* FROM fact_sales_order_line l
     WHERE l.requested_date <= :as_of AND l.order_date <= :as_of {since}
       AND l.qty_ordered > (SELECT COALESCE(SUM(sh.qty), 0) FROM fact_shipment sh
                             WHERE sh.order_line_id = l.id AND sh.ship_date <= l.requested_date
                               AND sh.ship_date <= :as_of)
), line_ship AS (
    SELECT sh.order_line_id,
           SUM(sh.qty) AS shipped,
           SUM(CASE WHEN sh.ship_date <= l.requested_date THEN sh.qty ELSE 0 END) AS shipped_by_requested,
           MAX(sh.ship_date) AS last_ship,
           CASE WHEN COUNT(sh.delivered_date) = COUNT(*) THEN MAX(sh.delivered_date) END AS last_delivery
      FROM short_line l {join} fact_shipment sh ON sh.order_line_id = l.id
     WHERE sh.ship_date <= :as_of
     GROUP BY sh.order_line_id
)
""" + ORDER_LINE_SELECT.replace("{lines}", "short_line") + """ ORDER BY l.order_no, l.line_no
"""


_LINE_DATES = ("order_date", "requested_date", "promised_date", "cancelled_date", "last_ship_date",
               "last_delivery_date")


def backordered_lines(connectable: Engine | Connection, as_of: dt.date, since: dt.date | None = None) -> pd.DataFrame:
    """Order lines requested from ``since`` (None: ever) to ``as_of`` and ordered by as_of that were short at
    their requested date (shipped by it < ordered), in their state at ``as_of``: the ``frames.order_lines``
    columns (``kpis.ORDER_LINES``: shipped, cancelled by as_of, shipped by the requested date, last ship and
    delivery dates, sku, category, segment, tier, location code) of just those lines, by order and line number.
    The same rows as ``frames.order_lines`` filtered on requested_date ≤ as_of and shipped_by_requested_qty <
    qty_ordered, without reading every line of the period."""
    params: dict[str, Any] = {"as_of": as_of, **({"since": since} if since else {})}
    with reading(connectable) as connection:
        sql = _BACKORDERED_LINES.format(
            since="AND l.requested_date >= :since" if since else "",
            join="CROSS JOIN" if connection.dialect.name == "sqlite" else "JOIN")
        return read_frame(
            connection, sql, ORDER_LINE_COLUMNS,
            text_columns=("order_no", "sku", "category", "segment", "tier", "location", "channel", "status"),
            date_columns=_LINE_DATES, params=params,
        )


#: Above this many product-locations the windows are read as one date range (the SQL of the list grows).
_MAX_WINDOW_PAIRS = 2_000


def demand_in_windows(connectable: Engine | Connection, windows: pd.DataFrame) -> pd.DataFrame:
    """Units ordered per product-location and order date (``analytics.promising.DAILY_DEMAND``: product_id,
    location_id, ds, y; days without orders have no row), only of the product-locations of ``windows`` and their
    days first_day … last_day (``analytics.promising.root_cause_windows``), summed in the database. Past
    2,000 product-locations: every product-location over the whole span (``replenishment.daily_demand``)."""
    columns = ["product_id", "location_id", "ds", "y"]
    if windows.empty:
        return pd.DataFrame({"product_id": pd.Series(dtype="int64"), "location_id": pd.Series(dtype="int64"),
                             "ds": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float)})
    first = pd.to_datetime(windows["first_day"]).dt.date
    last = pd.to_datetime(windows["last_day"]).dt.date
    with reading(connectable) as connection:
        if len(windows) > _MAX_WINDOW_PAIRS:
            sql = """SELECT product_id, location_id, order_date, SUM(qty_ordered) FROM fact_sales_order_line
                      WHERE order_date >= :start AND order_date <= :end
                      GROUP BY product_id, location_id, order_date"""
            params: dict[str, Any] | None = {"start": min(first), "end": max(last)}
        else:  # literal rows: integers and ISO dates, validated here
            postgres = connection.dialect.name == "postgresql"
            day = "DATE '{}'" if postgres else "'{}'"
            rows = ", ".join(
                f"({int(p)}, {int(loc)}, {day.format(f.isoformat())}, {day.format(t.isoformat())})"
                for p, loc, f, t in zip(windows["product_id"], windows["location_id"], first, last, strict=True))
            sql = f"""WITH w(product_id, location_id, first_day, last_day) AS (VALUES {rows})
            SELECT s.product_id, s.location_id, s.order_date, SUM(s.qty_ordered)
              FROM w {"JOIN" if postgres else "CROSS JOIN"} fact_sales_order_line s
                ON s.product_id = w.product_id AND s.location_id = w.location_id
               AND s.order_date >= w.first_day AND s.order_date <= w.last_day
             GROUP BY s.product_id, s.location_id, s.order_date"""
            params = None
        frame = read_frame(connection, sql, columns, date_columns=("ds",), params=params)
    return frame.astype({"product_id": "int64", "location_id": "int64", "y": float})


def root_causes(
    engine: Engine,
    as_of: dt.date | None = None,
    since: dt.date | None = None,
    **thresholds: Any,
) -> pd.DataFrame:
    """Backordered lines (requested from ``since`` to ``as_of``) each with its root cause
    (``analytics.promising.classify_root_causes``; ``thresholds`` are its keyword arguments), for the executive
    summary (``root_cause_summary``) and its drill-down, by order and line number.

    Reads only what the classification uses: the lines short at their requested date (:func:`backordered_lines`,
    filtered in the database), the products' planned lead times, the supply orders and the daily demand of just
    the windows of those lines' product-locations (:func:`demand_in_windows` over
    ``analytics.promising.root_cause_windows``)."""
    as_of = as_of or planning_date(engine)
    lines = backordered_lines(engine, as_of, since)
    lead = product_catalog(engine).set_index("product_id")["lead_time_days"]
    lines["lead_time_days"] = lines["product_id"].map(lead)
    sizes = {k: int(thresholds[k]) for k in ("min_window_days", "baseline_days") if k in thresholds}
    demand = demand_in_windows(engine, rules.root_cause_windows(lines, as_of, **sizes))
    return rules.classify_root_causes(lines, supply_orders(engine, as_of), demand, as_of, **thresholds)


def backorder_trend_from_counts(
    engine: Engine, as_of: dt.date, since: dt.date, by: str | None, freq: str
) -> pd.DataFrame | None:
    """The monthly backorder rate trend (``analytics.promising.backorder_trend``) of the lines requested from
    ``since`` to ``as_of``, by one ``queries.BACKORDER_DIMENSIONS`` dimension or in total, from the counts the
    database sums over the derived line state (``queries.backorder_counts``) instead of every order line. None
    when it cannot: another period than a month ('M'), another dimension, or a derived state that is behind
    (the caller then computes it from the order lines)."""
    if freq != "M" or (by is not None and by not in BACKORDER_DIMENSIONS):
        return None
    keys = () if by is None else (by,)
    counts = backorder_counts(engine, as_of, since, keys, monthly=True)
    if counts is None:
        return None
    rates = backorder_rate_from_counts(counts)
    columns = [*keys, "period", "lines_due", "lines_backordered", "backorder_rate", "units_due", "units_short",
               "unit_backorder_rate"]
    return rules.rate_trend(rates[columns], by=list(keys), freq="M")


# --- contact log and transfer lanes (user actions) -----------------------------------------------------------------


def add_contact(
    connectable: Engine | Connection,
    order_no: str,
    message: str,
    user: str,
    *,
    channel: str = "note",
    line_no: int | None = None,
) -> int:
    """Log a contact with the customer about an order (or one of its lines): one ``order_contact_log`` row and
    its ``audit_log`` row in one transaction; returns the new id. ValueError for an unknown order or line, an
    unknown channel (one of ``CONTACT_CHANNELS``), or an empty message or user."""
    if channel not in CONTACT_CHANNELS:
        raise ValueError(f"channel must be one of {list(CONTACT_CHANNELS)}, not {channel!r}")
    if not str(message or "").strip():
        raise ValueError("message must not be empty")
    if not str(user or "").strip():
        raise ValueError("user must not be empty")
    lines = schema.fact_sales_order_line
    now = utc_now()
    with transaction(connectable) as connection:
        found = connection.execute(select(lines.c.line_no).where(lines.c.order_no == str(order_no))).scalars().all()
        if not found:
            raise ValueError(f"unknown order {order_no!r}")
        if line_no is not None and int(line_no) not in set(found):
            raise ValueError(f"order {order_no!r} has no line {line_no}")
        log = schema.order_contact_log
        new_id = connection.execute(insert(log).values(
            ts=now, order_no=str(order_no), line_no=None if line_no is None else int(line_no), user_name=str(user),
            channel=channel, message=str(message).strip(),
        ).returning(log.c.id)).scalar_one()
        connection.execute(insert(schema.audit_log).values(
            ts=now, user_name=str(user), action="order.contact", entity="order_contact_log",
            entity_key=str(order_no) if line_no is None else f"{order_no}/{int(line_no)}",
            details={"id": int(new_id), "channel": channel},
        ))
    return int(new_id)


def contact_log(connectable: Engine | Connection, order_no: str | None = None, limit: int = 100) -> pd.DataFrame:
    """Contacts logged about an order (or the newest ones of all orders), newest first: id, ts, order_no,
    line_no, user_name, channel, message."""
    log = schema.order_contact_log
    query = select(log.c.id, log.c.ts, log.c.order_no, log.c.line_no, log.c.user_name, log.c.channel,
                   log.c.message).order_by(log.c.ts.desc(), log.c.id.desc()).limit(int(limit))
    if order_no is not None:
        query = query.where(log.c.order_no == str(order_no))
    with reading(connectable) as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows],
                         columns=["id", "ts", "order_no", "line_no", "user_name", "channel", "message"])
    frame["ts"] = pd.to_datetime(frame["ts"]).astype("datetime64[ns]")
    frame["line_no"] = pd.to_numeric(frame["line_no"]).astype("Int64")
    return frame


def set_transfer_lane(
    connectable: Engine | Connection, from_location_id: int, to_location_id: int, transfer_days: float, user: str
) -> None:
    """Create or change the transfer time of one lane (upsert on from, to) with its ``audit_log`` row, one
    transaction. ValueError for the same location twice, negative or non-finite days, or unknown locations."""
    days = float(transfer_days)
    if not math.isfinite(days) or days < 0:
        raise ValueError("transfer_days must be a finite number >= 0")
    if int(from_location_id) == int(to_location_id):
        raise ValueError("a lane needs two different locations")
    loc = schema.dim_location
    now = utc_now()
    with transaction(connectable) as connection:
        known = set(connection.execute(
            select(loc.c.id).where(loc.c.id.in_([int(from_location_id), int(to_location_id)]))).scalars())
        if len(known) != 2:
            raise ValueError(f"unknown location(s) {sorted({int(from_location_id), int(to_location_id)} - known)}")
        _upsert(connection, schema.location_transfer_lane,
                [{"from_location_id": int(from_location_id), "to_location_id": int(to_location_id),
                  "transfer_days": days, "updated_at": now}], ["from_location_id", "to_location_id"])
        connection.execute(insert(schema.audit_log).values(
            ts=now, user_name=str(user), action="transfer_lane.set", entity="location_transfer_lane",
            entity_key=f"{int(from_location_id)}->{int(to_location_id)}", details={"transfer_days": days},
        ))
