"""Reads and scan commands of the warehouse view: receiving, picking and shipping, counts, reconciliation.

The rules (what is refused, line states, issue cost, pick priority and route) are ``analytics.warehouse``; this
module reads and writes. Every command runs in one transaction (its own for an ``Engine``, the caller's for a
``Connection``) and writes, all or nothing:

- the ledger ``fact_inventory_movement`` (signed qty, kind receipt / shipment / count, unit_cost, reference =
  the document, ``source = 'scan'``, ``user_name``), ts = now (UTC);
- the document: the purchase line (qty_received, received_date, status), a ``fact_shipment`` row (status
  ``shipped``, ship date today) and the sales line (qty_shipped, status), or a ``fact_cycle_count`` row;
- an ``audit_log`` row;
- the derived state, so every view sees the scan at once: the item-location's inventory snapshots
  (``etl.snapshots.refresh`` with that pair as touched; today's snapshot includes the movement) and the order
  state and rollups (``data_access.derived``: the changed order marked with ``mark_orders``, then ``refresh(full=False)``).

Received date: set to the day of the latest receipt on every receipt, not only the one completing the line.
The snapshots drop ``qty_received`` from on-order on the received date, so a partial receipt without a date would
count its units both on hand and on order.

Concurrency: a scan checks stock and open quantities, then writes, so scans are serialised: on PostgreSQL by a
transaction-scoped advisory lock, on SQLite by taking the write lock first (``BEGIN IMMEDIATE``) so the checks
read what the write will change. A load takes the same lock (:func:`lock_out_scans`): both rebuild snapshots of the
same item-locations, and a scan must not check stock that a load in progress is rewriting.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, or_, select, text, update

from analytics import warehouse as rules
from analytics.warehouse import ScanRefused
from data_access import derived, schema
from data_access.config import Settings, load_settings
from data_access.engine import reading, transaction, utc_now
from data_access.frames import read_frame
from etl import snapshots

_LOCK_KEY = 0x5748534E  # "WHSN": serialises scans on PostgreSQL


@dataclass(frozen=True)
class ScanResult:
    """What a scan wrote: the ledger movement (None for a count without difference), its document, the signed
    quantity moved, the unit cost, the stock on hand after it, the document's status and how long it took."""

    kind: str
    movement_no: str | None
    document: str
    sku: str
    location: str
    qty: float
    unit_cost: float | None
    on_hand_after: float
    status: str | None
    seconds: float


# --- lookups ----------------------------------------------------------------------------------------------------


def _gtin_variants(code: str) -> list[str]:
    """A numeric code as GTIN-8/12/13/14 (scanners add or drop leading zeros), else nothing."""
    if not code.isdigit():
        return []
    bare = code.lstrip("0") or "0"
    return sorted({code, bare, *(bare.zfill(n) for n in (8, 12, 13, 14) if len(bare) <= n)})


def resolve_product(connectable: Engine | Connection, code: str) -> dict[str, Any]:
    """The product a scanned code names: its SKU, or its GTIN (leading zeros as the scanner sends them or not).
    Returns product_id, sku, gtin, name, category, unit_cost; ScanRefused for an empty or unknown code."""
    scanned = str(code or "").strip()
    if not scanned:
        raise ScanRefused("scan or type a product barcode (GTIN) or SKU")
    p = schema.dim_product
    columns = (p.c.id, p.c.sku, p.c.gtin, p.c.name, p.c.category, p.c.unit_cost)
    with reading(connectable) as connection:
        row = connection.execute(select(*columns).where(p.c.sku == scanned)).first()
        if row is None and (variants := _gtin_variants(scanned)):
            row = connection.execute(select(*columns).where(p.c.gtin.in_(variants)).order_by(p.c.id)).first()
        if row is None:
            row = connection.execute(
                select(*columns).where(func.upper(p.c.sku) == scanned.upper()).order_by(p.c.id)).first()
    if row is None:
        raise ScanRefused(f"unknown barcode {scanned!r}: no product has this GTIN or SKU")
    return {"product_id": int(row[0]), "sku": row[1], "gtin": row[2], "name": row[3], "category": row[4],
            "unit_cost": None if row[5] is None else float(row[5])}


def resolve_location(connectable: Engine | Connection, code: str) -> dict[str, Any]:
    """The location a scanned or typed code names (case does not matter): location_id, code, name, kind;
    ScanRefused for an empty or unknown code."""
    scanned = str(code or "").strip()
    if not scanned:
        raise ScanRefused("scan or type a location code")
    loc = schema.dim_location
    with reading(connectable) as connection:
        row = connection.execute(select(loc.c.id, loc.c.code, loc.c.name, loc.c.kind).where(
            or_(loc.c.code == scanned, func.upper(loc.c.code) == scanned.upper())).order_by(loc.c.id)).first()
    if row is None:
        raise ScanRefused(f"unknown location {scanned!r}")
    return {"location_id": int(row[0]), "code": row[1], "name": row[2], "kind": row[3]}


def on_hand(connectable: Engine | Connection, product_id: int, location_id: int) -> float:
    """Stock on hand of an item-location: the sum of its ledger (index on product, location, ts)."""
    m = schema.fact_inventory_movement
    with reading(connectable) as connection:
        value = connection.execute(select(func.coalesce(func.sum(m.c.qty), 0.0)).where(
            m.c.product_id == int(product_id), m.c.location_id == int(location_id))).scalar_one()
    return round(float(value), 9)


def _item_ledger(connection: Connection, product_id: int, location_id: int) -> pd.DataFrame:
    """One item-location's ledger (product_id, ts, qty, unit_cost), oldest first, for its moving-average cost."""
    m = schema.fact_inventory_movement
    rows = connection.execute(select(m.c.product_id, m.c.ts, m.c.qty, m.c.unit_cost).where(
        m.c.product_id == int(product_id), m.c.location_id == int(location_id)).order_by(m.c.ts, m.c.id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["product_id", "ts", "qty", "unit_cost"])
    frame["ts"] = pd.to_datetime(frame["ts"]).astype("datetime64[ns]")
    return frame.astype({"qty": float, "unit_cost": float})


def _issue_cost(connection: Connection, product_id: int, location_id: int) -> float | None:
    """Moving average of the item-location, else the product's standard cost (``analytics.warehouse``)."""
    standard = connection.execute(select(schema.dim_product.c.unit_cost).where(
        schema.dim_product.c.id == int(product_id))).scalar()
    return rules.issue_cost(rules.moving_average_cost(_item_ledger(connection, product_id, location_id)), standard)


_PO_LINES = """
SELECT po.id, po.po_no, po.line_no, s.code, po.order_date, po.expected_date, po.qty_ordered, po.qty_received,
       po.unit_cost, po.status
  FROM fact_purchase_order_line po JOIN dim_supplier s ON s.id = po.supplier_id
 WHERE po.product_id = :product_id AND po.location_id = :location_id
   AND po.status IN ('open', 'partial') AND po.qty_ordered > po.qty_received
 ORDER BY COALESCE(po.expected_date, po.order_date), po.po_no, po.line_no
"""
PO_LINE_COLUMNS = ["po_line_id", "po_no", "line_no", "supplier", "order_date", "expected_date", "qty_ordered",
                   "qty_received", "unit_cost", "status"]


def open_po_lines(connectable: Engine | Connection, product_id: int, location_id: int) -> pd.DataFrame:
    """Purchase lines of an item-location still to receive (open or partial), earliest expected first
    (``PO_LINE_COLUMNS`` and qty_open = ordered − received)."""
    with reading(connectable) as connection:
        frame = read_frame(connection, _PO_LINES, PO_LINE_COLUMNS,
                           text_columns=("po_no", "supplier", "status"), date_columns=("order_date", "expected_date"),
                           params={"product_id": int(product_id), "location_id": int(location_id)})
    frame = frame.astype({"po_line_id": "int64", "line_no": "int64", "qty_ordered": float, "qty_received": float,
                          "unit_cost": float})
    frame["qty_open"] = frame["qty_ordered"] - frame["qty_received"]
    return frame


_OPEN_LINES_AT = """
SELECT l.id, l.order_no, l.line_no, l.product_id, p.sku, p.gtin, p.name, c.code, c.name, c.tier, l.channel,
       l.order_date, l.requested_date, l.promised_date, l.qty_ordered, l.qty_shipped, l.qty_cancelled,
       l.unit_price, l.discount, l.status, l.priority
  FROM fact_sales_order_line l
  JOIN dim_product p ON p.id = l.product_id
  JOIN dim_customer c ON c.id = l.customer_id
 WHERE l.location_id = :location_id AND l.status IN ('open', 'partial') AND l.requested_date <= :through
   AND l.qty_ordered - l.qty_shipped - l.qty_cancelled > 1e-9
"""
OPEN_LINE_COLUMNS = ["line_id", "order_no", "line_no", "product_id", "sku", "gtin", "product_name", "customer",
                     "customer_name", "tier", "channel", "order_date", "requested_date", "promised_date",
                     "qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "discount", "status", "priority"]


def open_lines_at(connectable: Engine | Connection, location_id: int, through: dt.date) -> pd.DataFrame:
    """Open sales lines shipped from a location and requested by ``through`` (``OPEN_LINE_COLUMNS``)."""
    with reading(connectable) as connection:
        frame = read_frame(
            connection, _OPEN_LINES_AT, OPEN_LINE_COLUMNS,
            text_columns=("order_no", "sku", "gtin", "product_name", "customer", "customer_name", "tier", "channel",
                          "status"),
            date_columns=("order_date", "requested_date", "promised_date"),
            params={"location_id": int(location_id), "through": through})
    frame = frame.astype({"line_id": "int64", "line_no": "int64", "product_id": "int64"})
    frame = frame.astype(dict.fromkeys(("qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "discount"),
                                       float))
    frame["tier"] = frame["tier"].astype(object).where(frame["tier"].notna(), None)
    return frame


def stock_at(connectable: Engine | Connection, location_id: int, product_ids: list[int]) -> pd.Series:
    """On hand per product (ledger sums) at a location, of the given products; indexed by product_id."""
    ids = sorted({int(p) for p in product_ids})
    if not ids:
        return pd.Series(dtype=float)
    m = schema.fact_inventory_movement
    with reading(connectable) as connection:
        rows = connection.execute(select(m.c.product_id, func.sum(m.c.qty)).where(
            m.c.location_id == int(location_id), m.c.product_id.in_(ids)).group_by(m.c.product_id)).all()
    return pd.Series({int(r[0]): float(r[1]) for r in rows}, dtype=float).rename_axis("product_id")


def pick_list(connectable: Engine | Connection, location_id: int, as_of: dt.date, horizon_days: int = 0,
              settings: Settings | None = None) -> pd.DataFrame:
    """The location's pick list (``analytics.warehouse.pick_list``): open lines requested by as_of +
    ``horizon_days``, backorders first, then ``settings.backorder_priority``, stock allocated in that order,
    routed by SKU."""
    settings = settings or load_settings()
    with reading(connectable) as connection:
        lines = open_lines_at(connection, location_id, as_of + dt.timedelta(days=int(horizon_days)))
        stock = stock_at(connection, location_id, lines["product_id"].tolist())
    return rules.pick_list(lines, stock, as_of, priority=settings.backorder_priority)


_COUNTS = """
SELECT cc.count_no, cc.count_date, cc.product_id, p.sku, p.name, p.category, loc.code, cc.system_qty,
       cc.counted_qty, p.unit_cost, cc.user_name
  FROM fact_cycle_count cc
  JOIN dim_product p ON p.id = cc.product_id
  JOIN dim_location loc ON loc.id = cc.location_id
 WHERE cc.count_date >= :since
 ORDER BY cc.count_date DESC, cc.count_no DESC
"""
COUNT_COLUMNS = ["count_no", "count_date", "product_id", "sku", "name", "category", "location", "system_qty",
                 "counted_qty", "unit_cost", "user_name"]


def recent_counts(connectable: Engine | Connection, since: dt.date) -> pd.DataFrame:
    """Cycle counts dated from ``since`` (``COUNT_COLUMNS``; unit_cost is the product's standard cost), newest
    first."""
    with reading(connectable) as connection:
        frame = read_frame(connection, _COUNTS, COUNT_COLUMNS,
                           text_columns=("count_no", "sku", "name", "category", "location", "user_name"),
                           date_columns=("count_date",), params={"since": since})
    return frame.astype({"product_id": "int64", "system_qty": float, "counted_qty": float, "unit_cost": float})


_MISMATCHES = """
SELECT x.product_id, x.location_id, p.sku, p.name, loc.code, SUM(x.ledger_qty), SUM(x.snapshot_qty), p.unit_cost
  FROM (
    SELECT product_id, location_id, SUM(qty) AS ledger_qty, 0 AS snapshot_qty
      FROM fact_inventory_movement WHERE ts < :until GROUP BY product_id, location_id
    UNION ALL
    SELECT product_id, location_id, 0, on_hand FROM fact_inventory_snapshot WHERE snapshot_date = :day
  ) x
  JOIN dim_product p ON p.id = x.product_id
  JOIN dim_location loc ON loc.id = x.location_id
 GROUP BY x.product_id, x.location_id, p.sku, p.name, loc.code, p.unit_cost
HAVING ABS(SUM(x.ledger_qty) - SUM(x.snapshot_qty)) > 1e-6
"""
MISMATCH_COLUMNS = ["product_id", "location_id", "sku", "name", "location", "ledger_qty", "snapshot_qty",
                    "unit_cost"]


def ledger_snapshot_mismatches(connectable: Engine | Connection) -> tuple[pd.DataFrame, dt.date | None]:
    """Item-locations whose ledger on hand at the end of the latest snapshot day differs from that day's snapshot
    (``analytics.warehouse.ledger_mismatches``), and that day (None without snapshots). The comparison runs in the
    database; only the differing pairs come back. A difference means the snapshots are behind the ledger
    (movements written without a refresh)."""
    with reading(connectable) as connection:
        day = connection.execute(select(func.max(schema.fact_inventory_snapshot.c.snapshot_date))).scalar()
        if day is None:
            return rules.ledger_mismatches(pd.DataFrame(columns=MISMATCH_COLUMNS)), None
        day = pd.Timestamp(day).date()
        until = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
        frame = read_frame(connection, _MISMATCHES, MISMATCH_COLUMNS, text_columns=("sku", "name", "location"),
                           params={"until": until, "day": day})
    return rules.ledger_mismatches(frame), day


_SCANS = """
SELECT m.ts, m.kind, p.sku, p.name, loc.code, m.qty, m.unit_cost, m.reference, m.user_name, m.movement_no
  FROM fact_inventory_movement m
  JOIN dim_product p ON p.id = m.product_id
  JOIN dim_location loc ON loc.id = m.location_id
 WHERE m.ts >= :since AND m.source = 'scan'
 ORDER BY m.ts DESC, m.id DESC
"""
SCAN_COLUMNS = ["ts", "kind", "sku", "name", "location", "qty", "unit_cost", "reference", "user_name", "movement_no"]


def scan_log(connectable: Engine | Connection, since: dt.datetime) -> pd.DataFrame:
    """Ledger movements written by scans from ``since`` (index on ts), newest first (``SCAN_COLUMNS``)."""
    with reading(connectable) as connection:
        frame = read_frame(connection, _SCANS, SCAN_COLUMNS,
                           text_columns=("kind", "sku", "name", "location", "reference", "user_name", "movement_no"),
                           date_columns=("ts",), params={"since": since})
    return frame.astype({"qty": float, "unit_cost": float})


# --- commands ---------------------------------------------------------------------------------------------------


def lock_out_scans(connection: Connection) -> None:
    """Hold off scans until the caller's transaction ends (PostgreSQL; SQLite has one writer at a time)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _serialise(connection: Connection) -> None:
    """Take the scan lock before reading what the scan checks (module docstring, Concurrency)."""
    if connection.dialect.name == "postgresql":
        lock_out_scans(connection)
    elif connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _number(prefix: str, now: dt.datetime) -> str:
    """A unique document or movement number: prefix, UTC time to the second and 8 random hex digits."""
    return f"{prefix}{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8].upper()}"


def _user(user: str) -> str:
    name = str(user or "").strip()
    if not name:
        raise ScanRefused("a scan needs the logged-in user's name")
    return name[:64]


def _names(connection: Connection, product_id: int, location_id: int) -> tuple[str, str, float | None]:
    """SKU, location code and standard cost of an item-location; ScanRefused when either is unknown."""
    p, loc = schema.dim_product, schema.dim_location
    product = connection.execute(select(p.c.sku, p.c.unit_cost).where(p.c.id == int(product_id))).first()
    code = connection.execute(select(loc.c.code).where(loc.c.id == int(location_id))).scalar()
    if product is None:
        raise ScanRefused(f"unknown product id {product_id}")
    if code is None:
        raise ScanRefused(f"unknown location id {location_id}")
    return product[0], code, None if product[1] is None else float(product[1])


def _move(connection: Connection, *, now: dt.datetime, product_id: int, location_id: int, qty: float, kind: str,
          unit_cost: float | None, reference: str, user: str) -> str:
    """Append one scan movement to the ledger; returns its movement number."""
    number = _number("SCN", now)
    connection.execute(insert(schema.fact_inventory_movement).values(
        movement_no=number, ts=now, product_id=int(product_id), location_id=int(location_id), qty=float(qty),
        kind=kind, unit_cost=unit_cost, reference=reference[:64], source="scan", user_name=user, recorded_at=now))
    return number


def _audit(connection: Connection, now: dt.datetime, user: str, action: str, entity: str, key: str,
           details: dict[str, Any]) -> None:
    connection.execute(insert(schema.audit_log).values(ts=now, user_name=user, action=action, entity=entity,
                                                       entity_key=key[:200], details=details))


def _refresh_derived(connection: Connection, product_id: int, location_id: int, order_no: str | None = None) -> None:
    """Bring the item-location's snapshots and the order state and rollups up to date (module docstring)."""
    snapshots.refresh(connection, pd.DataFrame({"product_id": [int(product_id)], "location_id": [int(location_id)]}))
    if order_no is not None:
        derived.mark_orders(connection, [order_no])
    derived.refresh(connection, full=False)


def receive(
    connectable: Engine | Connection,
    po_line_id: int,
    qty: float,
    user: str,
    *,
    product_id: int | None = None,
    location_id: int | None = None,
    now: dt.datetime | None = None,
) -> ScanResult:
    """Receive ``qty`` units on a purchase line (one transaction): qty_received += qty, received_date = today,
    status ``partial`` or ``received``; a ``receipt`` movement at the line's unit cost (else the product's standard
    cost). ``product_id`` and ``location_id`` are what was scanned: a line of another product or location is
    refused. ScanRefused (nothing written) for an unknown or closed line, a quantity ≤ 0, an over-receipt, or no
    known cost (the valuation needs one on every receipt)."""
    started = time.perf_counter()
    name = _user(user)
    now = now or utc_now()
    po = schema.fact_purchase_order_line
    with transaction(connectable) as connection:
        _serialise(connection)
        line = connection.execute(select(po).where(po.c.id == int(po_line_id)).with_for_update()).mappings().first()
        if line is None:
            raise ScanRefused(f"unknown purchase line id {po_line_id}")
        ref = f"{line['po_no']}/{line['line_no']}"
        sku, code, standard = _names(connection, line["product_id"], line["location_id"])
        if product_id is not None and int(product_id) != line["product_id"]:
            raise ScanRefused(f"purchase line {ref} is for {sku}, not for the product scanned")
        if location_id is not None and int(location_id) != line["location_id"]:
            raise ScanRefused(f"purchase line {ref} is received at {code}, not at the location scanned")
        amount = rules.check_receipt(ref, line["status"], line["qty_ordered"], line["qty_received"], qty)
        cost = rules.issue_cost(line["unit_cost"], standard)
        if cost is None:
            raise ScanRefused(f"purchase line {ref} has no unit cost and {sku} no standard cost: ask purchasing to "
                              "set one before receiving (the inventory valuation needs it)")
        received = round(float(line["qty_received"]) + amount, 9)
        status = rules.po_line_status(line["qty_ordered"], received)
        connection.execute(update(po).where(po.c.id == line["id"]).values(
            qty_received=received, received_date=now.date(), status=status, updated_at=now))
        movement = _move(connection, now=now, product_id=line["product_id"], location_id=line["location_id"],
                         qty=amount, kind="receipt", unit_cost=cost, reference=line["po_no"], user=name)
        after = on_hand(connection, line["product_id"], line["location_id"])
        _audit(connection, now, name, "warehouse.receive", po.name, ref,
               {"qty": amount, "sku": sku, "location": code, "movement_no": movement, "unit_cost": cost,
                "qty_received": received, "status": status})
        _refresh_derived(connection, line["product_id"], line["location_id"])
    return ScanResult("receipt", movement, ref, sku, code, amount, cost, after, status, time.perf_counter() - started)


def ship(
    connectable: Engine | Connection,
    line_id: int,
    qty: float,
    user: str,
    *,
    product_id: int | None = None,
    carrier: str | None = None,
    tracking_no: str | None = None,
    now: dt.datetime | None = None,
) -> ScanResult:
    """Pick and ship ``qty`` units of a sales line from its location (one transaction): a ``fact_shipment`` row
    (status ``shipped``, ship_date today, carrier and tracking number if given), qty_shipped += qty and the line's
    status, a ``shipment`` movement of −qty at the item-location's moving-average cost (else the standard cost).
    ``product_id`` is the product scanned to confirm the pick: another product is refused. ScanRefused (nothing
    written) for an unknown or closed line, a quantity ≤ 0, more than the line's open quantity or than on hand."""
    started = time.perf_counter()
    name = _user(user)
    now = now or utc_now()
    sol = schema.fact_sales_order_line
    with transaction(connectable) as connection:
        _serialise(connection)
        line = connection.execute(select(sol).where(sol.c.id == int(line_id)).with_for_update()).mappings().first()
        if line is None:
            raise ScanRefused(f"unknown order line id {line_id}")
        ref = f"{line['order_no']}/{line['line_no']}"
        sku, code, _standard = _names(connection, line["product_id"], line["location_id"])
        if product_id is not None and int(product_id) != line["product_id"]:
            raise ScanRefused(f"wrong product: order line {ref} is for {sku}; put the scanned item back")
        qty_open = float(line["qty_ordered"]) - float(line["qty_shipped"]) - float(line["qty_cancelled"])
        stock = on_hand(connection, line["product_id"], line["location_id"])
        amount = rules.check_shipment(ref, line["status"], qty_open, stock, qty)
        shipped = round(float(line["qty_shipped"]) + amount, 9)
        status = rules.sales_line_status(line["qty_ordered"], shipped, line["qty_cancelled"])
        cost = _issue_cost(connection, line["product_id"], line["location_id"])
        shipment_no = _number("WSH", now)
        connection.execute(insert(schema.fact_shipment).values(
            shipment_no=shipment_no, order_line_id=line["id"], carrier=(carrier or "").strip()[:64] or None,
            tracking_no=(tracking_no or "").strip()[:64] or None, ship_date=now.date(), qty=amount, status="shipped",
            updated_at=now))
        connection.execute(update(sol).where(sol.c.id == line["id"]).values(
            qty_shipped=shipped, status=status, updated_at=now))
        movement = _move(connection, now=now, product_id=line["product_id"], location_id=line["location_id"],
                         qty=-amount, kind="shipment", unit_cost=cost, reference=shipment_no, user=name)
        after = round(stock - amount, 9)
        _audit(connection, now, name, "warehouse.ship", schema.fact_shipment.name, shipment_no,
               {"order_line": ref, "qty": amount, "sku": sku, "location": code, "movement_no": movement,
                "unit_cost": cost, "qty_shipped": shipped, "status": status})
        _refresh_derived(connection, line["product_id"], line["location_id"], order_no=line["order_no"])
    return ScanResult("shipment", movement, shipment_no, sku, code, -amount, cost, after, status,
                      time.perf_counter() - started)


def count(
    connectable: Engine | Connection,
    product_id: int,
    location_id: int,
    counted_qty: float,
    user: str,
    *,
    now: dt.datetime | None = None,
) -> ScanResult:
    """Record a count of an item-location (one transaction): a ``fact_cycle_count`` row (system_qty = on hand per
    ledger, counted_qty, today) and, when they differ, a ``count`` movement of counted − system at the moving-average
    cost (else the standard cost). ScanRefused (nothing written) for an unknown product or location, a negative
    count, or a stock increase without any known cost."""
    started = time.perf_counter()
    name = _user(user)
    now = now or utc_now()
    counted = rules.check_count(counted_qty)
    with transaction(connectable) as connection:
        _serialise(connection)
        sku, code, _standard = _names(connection, product_id, location_id)
        system = on_hand(connection, product_id, location_id)
        delta = round(counted - system, 9)
        count_no = _number("WCC", now)
        connection.execute(insert(schema.fact_cycle_count).values(
            count_no=count_no, count_date=now.date(), product_id=int(product_id), location_id=int(location_id),
            system_qty=system, counted_qty=counted, user_name=name, updated_at=now))
        movement, cost = None, None
        if abs(delta) > 1e-9:
            cost = _issue_cost(connection, product_id, location_id)
            if cost is None and delta > 0:
                raise ScanRefused(f"{sku} has no cost at {code} (no stock valued, no standard cost): set its standard "
                                  "cost before counting more than the ledger holds")
            movement = _move(connection, now=now, product_id=product_id, location_id=location_id, qty=delta,
                             kind="count", unit_cost=cost, reference=count_no, user=name)
        _audit(connection, now, name, "warehouse.count", schema.fact_cycle_count.name, count_no,
               {"sku": sku, "location": code, "system_qty": system, "counted_qty": counted, "adjustment": delta,
                "movement_no": movement, "unit_cost": cost})
        _refresh_derived(connection, product_id, location_id)
    return ScanResult("count", movement, count_no, sku, code, delta if movement else 0.0, cost, counted, None,
                      time.perf_counter() - started)
