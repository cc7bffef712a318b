"""Reads and commands of the automatic replenishment run (issue 5): state, history, proposals, approvals.

Reads return DataFrames, aggregated in the database. Commands take an ``Engine`` (they open one transaction
of their own) or a ``Connection`` (they join the caller's transaction, so a run can store its proposals and
enqueue their notifications atomically).

Rules the commands keep (see :func:`store_proposals` and :func:`approve_many`):

- **One open proposal per product-location and kind.** A proposal in status ``proposed`` is refreshed in place
  when a new run finds a different need (quantity, dates, supplier, policy or inventory position changed), so
  the planner always decides on the latest numbers and the row keeps its id and ``created_at``; when nothing
  changed it is left untouched. A proposal in status ``approved`` is never touched. So a second run for the
  same need proposes nothing new.
- **Rejections are remembered.** When the latest proposal of a product-location and kind was rejected, a new
  one is made only once the inventory position has fallen *below* the position the rejected proposal saw: the
  planner has already said no to that position or a better one.
- **Approval creates the order** in the same transaction: a purchase order line (``AUTO-PO-<yyyymmdd>-<supplier
  code, at most 32 characters>-<n>``, one PO per supplier and order date among the proposals approved together,
  ``n`` = the smallest proposal id of the group, so numbers are unique without a counter) or a production order
  (``AUTO-MO-<yyyymmdd>-<proposal id>``, status ``planned``), both with ``origin = 'auto'``. The proposal
  becomes ``ordered`` (``approved`` is never left standing: approving is ordering); an ``audit_log`` row
  records who decided what.
- **Open proposals whose need went away stay** ``proposed`` (the schema has no withdrawn status); the planner
  sees their rationale and rejects them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, text, update

from analytics.replenishment import round_order_quantity
from data_access import schema
from data_access.engine import transaction
from data_access.frames import read_frame
from etl import snapshots

OPEN_STATUSES = ("proposed", "approved")
#: Columns of the frame :func:`store_proposals` takes (one row per product-location and kind to propose).
PROPOSAL_COLUMNS = (
    "product_id", "location_id", "kind", "supplier_id", "qty", "order_date", "due_date", "policy",
    "inventory_position", "rationale",
)
_LOCK_KEY = 0x5245504C  # "REPL": serialises proposal writers on PostgreSQL
_EPS = 1e-9


def _lock(connection: Connection) -> None:
    """Serialise proposal writers (two runs at once would otherwise both see "no open proposal").

    PostgreSQL: a transaction-scoped advisory lock. SQLite allows one writer at a time anyway.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _date(value: Any) -> dt.date:
    """A date from a date, datetime, Timestamp or ISO string."""
    return pd.Timestamp(value).date()


# --- reads ------------------------------------------------------------------------------------------------------------

_STATE = """
WITH latest AS (
    SELECT product_id, location_id, MAX(snapshot_date) AS snapshot_date
      FROM fact_inventory_snapshot
     WHERE snapshot_date <= :as_of
     GROUP BY product_id, location_id
), stock AS (
    SELECT s.product_id, s.location_id, s.snapshot_date, s.on_hand, s.allocated, s.backordered
      FROM fact_inventory_snapshot s
      JOIN latest l ON l.product_id = s.product_id AND l.location_id = s.location_id
                   AND l.snapshot_date = s.snapshot_date
), po AS (
    SELECT product_id, location_id,
           SUM(qty_ordered
               - CASE WHEN received_date IS NOT NULL AND received_date <= :as_of THEN qty_received ELSE 0 END
               - CASE WHEN status IN ('received', 'closed') AND qty_ordered > qty_received
                           AND COALESCE(received_date, expected_date, order_date) <= :as_of
                      THEN qty_ordered - qty_received ELSE 0 END) AS qty
      FROM fact_purchase_order_line
     WHERE status <> 'cancelled' AND order_date <= :as_of
     GROUP BY product_id, location_id
), mo AS (
    SELECT product_id, location_id, SUM(qty_planned) AS qty
      FROM fact_production_order
     WHERE status <> 'cancelled' AND start_date <= :as_of
       AND NOT (status = 'finished' AND finished_date IS NOT NULL AND finished_date <= :as_of)
     GROUP BY product_id, location_id
), pairs AS (
    SELECT product_id, location_id FROM stock
    UNION SELECT product_id, location_id FROM po
    UNION SELECT product_id, location_id FROM mo
), first_sale AS (
    SELECT product_id, location_id, MIN(order_date) AS first_date
      FROM fact_sales_order_line
     WHERE order_date <= :as_of
     GROUP BY product_id, location_id
)
SELECT k.product_id, k.location_id, p.sku, p.name, p.category, loc.code, p.make_or_buy, p.supplier_id, sup.code,
       sup.lead_time_mean_days, sup.lead_time_std_days, p.moq, p.order_multiple, p.lead_time_days, p.unit_cost,
       p.reorder_point, st.snapshot_date, COALESCE(st.on_hand, 0), COALESCE(po.qty, 0) + COALESCE(mo.qty, 0),
       COALESCE(st.backordered, 0), COALESCE(st.allocated, 0), fs.first_date
  FROM pairs k
  JOIN dim_product p ON p.id = k.product_id
  JOIN dim_location loc ON loc.id = k.location_id
  LEFT JOIN dim_supplier sup ON sup.id = p.supplier_id
  LEFT JOIN stock st ON st.product_id = k.product_id AND st.location_id = k.location_id
  LEFT JOIN po ON po.product_id = k.product_id AND po.location_id = k.location_id
  LEFT JOIN mo ON mo.product_id = k.product_id AND mo.location_id = k.location_id
  LEFT JOIN first_sale fs ON fs.product_id = k.product_id AND fs.location_id = k.location_id
 WHERE p.active
 ORDER BY k.product_id, k.location_id
"""

STATE_COLUMNS = [
    "product_id", "location_id", "sku", "name", "category", "location", "make_or_buy", "supplier_id", "supplier",
    "supplier_lead_time_mean", "supplier_lead_time_std", "moq", "order_multiple", "lead_time_days", "unit_cost",
    "reorder_point", "snapshot_date", "on_hand", "on_order", "backordered", "allocated", "first_demand_date",
]


def item_locations_state(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """One row per active product-location: stock, open supply and product attributes as of ``as_of``.

    - on_hand, backordered, allocated: the latest ``fact_inventory_snapshot`` on or before ``as_of``;
    - on_order: open purchase lines (ordered − received by as_of; a received or closed line's rest is gone) and
      production orders started and not finished by as_of, read from the order tables themselves (the same
      rules as the snapshots), so an order created by an approval counts at once, before any snapshot refresh;
    - sku, name, category, location code, make_or_buy, supplier_id and code, the supplier's lead time mean and
      std, moq, order_multiple, lead_time_days, unit_cost, reorder_point; first_demand_date = the first order
      date of the product-location (so a new item's demand is not averaged over days before it existed).
    """
    with engine.connect() as connection:
        frame = read_frame(
            connection, _STATE, STATE_COLUMNS,
            text_columns=("sku", "name", "category", "location", "make_or_buy", "supplier"),
            date_columns=("snapshot_date", "first_demand_date"), params={"as_of": as_of},
        )
    for name in ("product_id", "location_id"):
        frame[name] = frame[name].astype("int64")
    frame["supplier_id"] = pd.to_numeric(frame["supplier_id"]).astype("Int64")
    numeric = ("supplier_lead_time_mean", "supplier_lead_time_std", "moq", "order_multiple", "lead_time_days",
               "unit_cost", "reorder_point", "on_hand", "on_order", "backordered", "allocated")
    for name in numeric:
        frame[name] = pd.to_numeric(frame[name]).astype(float)
    frame["supplier"] = frame["supplier"].astype(object).where(frame["supplier"].notna(), None)
    return frame


def daily_demand(engine: Engine, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Units ordered per product-location and order date in [start, end] (Σ qty_ordered, summed in SQL).

    Long format with columns product_id, location_id, ds (datetime64), y; days without orders have no row.
    """
    sql = """
    SELECT product_id, location_id, order_date, SUM(qty_ordered)
      FROM fact_sales_order_line
     WHERE order_date >= :start AND order_date <= :end
     GROUP BY product_id, location_id, order_date
     ORDER BY product_id, location_id, order_date
    """
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["product_id", "location_id", "ds", "y"], date_columns=("ds",),
                           params={"start": start, "end": end})
    return frame.astype({"product_id": "int64", "location_id": "int64", "y": float})


def po_history(engine: Engine, as_of: dt.date, since: dt.date | None = None) -> pd.DataFrame:
    """Purchase lines received by ``as_of`` (not cancelled; ordered from ``since``): the input of
    ``analytics.replenishment.lead_time_stats`` (supplier_id, product_id, order_date, received_date, status)."""
    window = "AND order_date >= :since" if since else ""
    sql = f"""
    SELECT supplier_id, product_id, order_date, received_date, status
      FROM fact_purchase_order_line
     WHERE status <> 'cancelled' AND received_date IS NOT NULL AND received_date <= :as_of {window}
    """
    params: dict[str, Any] = {"as_of": as_of, **({"since": since} if since else {})}
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["supplier_id", "product_id", "order_date", "received_date", "status"],
                           text_columns=("status",), date_columns=("order_date", "received_date"), params=params)
    return frame.astype({"supplier_id": "int64", "product_id": "int64"})


def latest_forecast(engine: Engine, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The newest forecast of every product-location, its periods starting in [start, end].

    For each product-location the run that forecasts it furthest ahead, the newest of those on a tie (so a
    backdated run, stored to measure accuracy, never replaces the current one); columns product_id,
    location_id, run_id, freq (of the run), period (datetime64), yhat, lo_80, hi_80, lo_95, hi_95. Empty
    when no forecast is stored.
    """
    sql = """
    WITH runs AS (
        SELECT product_id, location_id, run_id, MAX(period) AS last_period
          FROM fact_forecast GROUP BY product_id, location_id, run_id
    ), newest AS (
        SELECT product_id, location_id, run_id FROM (
            SELECT r.*, ROW_NUMBER() OVER (PARTITION BY product_id, location_id
                                           ORDER BY last_period DESC, run_id DESC) AS rank
              FROM runs r
        ) ranked WHERE rank = 1
    )
    SELECT f.product_id, f.location_id, f.run_id, r.freq, f.period, f.yhat, f.lo_80, f.hi_80, f.lo_95, f.hi_95
      FROM fact_forecast f
      JOIN newest n ON n.product_id = f.product_id AND n.location_id = f.location_id AND n.run_id = f.run_id
      JOIN forecast_run r ON r.id = f.run_id
     WHERE f.period >= :start AND f.period <= :end
     ORDER BY f.product_id, f.location_id, f.period
    """
    columns = ["product_id", "location_id", "run_id", "freq", "period", "yhat", "lo_80", "hi_80", "lo_95", "hi_95"]
    with engine.connect() as connection:
        frame = read_frame(connection, sql, columns, text_columns=("freq",), date_columns=("period",),
                           params={"start": start, "end": end})
    for name in ("yhat", "lo_80", "hi_80", "lo_95", "hi_95"):
        frame[name] = pd.to_numeric(frame[name]).astype(float)
    return frame.astype({"product_id": "int64", "location_id": "int64", "run_id": "int64"})


_PROPOSAL_COLUMNS = [
    "id", "created_at", "product_id", "sku", "name", "location_id", "location", "kind", "supplier_id", "supplier",
    "qty", "order_date", "due_date", "policy", "status", "decided_by", "decided_at", "rationale",
]


def proposals(engine: Engine, status: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Replenishment proposals (newest first) with sku, name, location and supplier codes; ``rationale`` a dict.

    ``status`` filters on one status or several (e.g. ``("proposed", "approved")`` for the planner's queue).
    """
    p, prod, loc, sup = (schema.replenishment_proposal, schema.dim_product, schema.dim_location,
                         schema.dim_supplier)
    query = (
        select(p.c.id, p.c.created_at, p.c.product_id, prod.c.sku, prod.c.name, p.c.location_id,
               loc.c.code.label("location"), p.c.kind, p.c.supplier_id, sup.c.code.label("supplier"), p.c.qty,
               p.c.order_date, p.c.due_date, p.c.policy, p.c.status, p.c.decided_by, p.c.decided_at, p.c.rationale)
        .select_from(p.join(prod, prod.c.id == p.c.product_id).join(loc, loc.c.id == p.c.location_id)
                     .outerjoin(sup, sup.c.id == p.c.supplier_id))
        .order_by(p.c.id.desc())
    )
    if status is not None:
        query = query.where(p.c.status.in_([status] if isinstance(status, str) else list(status)))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=_PROPOSAL_COLUMNS)
    for name in ("order_date", "due_date", "created_at", "decided_at"):
        frame[name] = pd.to_datetime(frame[name])
    return frame


# --- storing a run's proposals ------------------------------------------------------------------------------------------


@dataclass
class StoreResult:
    """What :func:`store_proposals` did with each incoming proposal.

    ``frame``: the incoming rows with ``proposal_id`` and ``action``: ``created``, ``updated`` (an open
    proposal refreshed with the new need), ``unchanged`` (an open proposal with the same need),
    ``kept_approved`` (an approved proposal is never touched) or ``rejected_before`` (the planner rejected this
    position or a better one; nothing stored).
    """

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def created_ids(self) -> list[int]:
        """Ids of the proposals this call created."""
        return [int(i) for i in self.frame.loc[self.frame["action"] == "created", "proposal_id"]]


ACTIONS = ("created", "updated", "unchanged", "kept_approved", "rejected_before")


def _json_ready(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, NaN/inf as None and dates as ISO text (valid JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, dt.date | pd.Timestamp):
        return pd.Timestamp(value).date().isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _same_need(row: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when an open proposal already says what ``new`` says (qty, dates, supplier, policy, position)."""
    old_ip = (row["rationale"] or {}).get("inventory_position")
    return (
        abs(float(row["qty"]) - float(new["qty"])) <= _EPS
        and _date(row["order_date"]) == new["order_date"]
        and _date(row["due_date"]) == new["due_date"]
        and (row["supplier_id"] or None) == new["supplier_id"]
        and row["policy"] == new["policy"]
        and old_ip is not None and abs(float(old_ip) - float(new["inventory_position"])) <= _EPS
    )


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """An incoming proposal row as Python values ready to write."""
    supplier = row.get("supplier_id")
    supplier = None if supplier is None or pd.isna(supplier) else int(supplier)
    rationale = dict(row.get("rationale") or {})
    rationale.setdefault("inventory_position", float(row["inventory_position"]))
    return {
        "product_id": int(row["product_id"]), "location_id": int(row["location_id"]), "kind": str(row["kind"]),
        "supplier_id": supplier, "qty": float(row["qty"]), "order_date": _date(row["order_date"]),
        "due_date": _date(row["due_date"]), "policy": str(row["policy"]),
        "inventory_position": float(row["inventory_position"]), "rationale": _json_ready(rationale),
    }


def store_proposals(
    connectable: Engine | Connection, proposals_frame: pd.DataFrame, run_at: dt.datetime | None = None,
    user: str | None = None,
) -> StoreResult:
    """Store a run's proposals (columns ``PROPOSAL_COLUMNS``), idempotently; one transaction.

    Per product-location and kind (see the module docstring): an open ``proposed`` row is updated when the
    need changed and left alone when not; an ``approved`` row is kept; when the latest proposal was rejected,
    a new one is created only if the inventory position fell below the rejected one's; otherwise a new
    ``proposed`` row is created with ``created_at = run_at``. Writes one ``audit_log`` row for the run with
    the counts. Returns a :class:`StoreResult`.
    """
    run_at = run_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    missing = [c for c in PROPOSAL_COLUMNS if c not in proposals_frame.columns and c != "rationale"]
    if missing:
        raise ValueError(f"proposals frame lacks column(s) {missing}")
    if not proposals_frame.empty and not proposals_frame["kind"].isin(["purchase", "production"]).all():
        raise ValueError("kind must be 'purchase' or 'production'")
    p = schema.replenishment_proposal
    incoming = [_clean(r) for r in proposals_frame.to_dict("records")]
    ids: list[int | None] = []
    actions: list[str] = []
    with transaction(connectable) as connection:
        _lock(connection)
        latest_ids = select(func.max(p.c.id)).group_by(p.c.product_id, p.c.location_id, p.c.kind)
        existing = connection.execute(
            select(p).where(or_(p.c.status.in_(OPEN_STATUSES), p.c.id.in_(latest_ids))).order_by(p.c.id)
        ).mappings().all()
        open_rows: dict[tuple, Mapping[str, Any]] = {}
        latest: dict[tuple, Mapping[str, Any]] = {}
        for row in existing:
            key = (row["product_id"], row["location_id"], row["kind"])
            if row["status"] in OPEN_STATUSES:
                open_rows[key] = row
            latest[key] = row  # ordered by id: the last one wins
        for new in incoming:
            key = (new["product_id"], new["location_id"], new["kind"])
            values = {k: new[k] for k in ("supplier_id", "qty", "order_date", "due_date", "policy", "rationale")}
            old = open_rows.get(key)
            if old is not None and old["status"] == "approved":
                ids.append(old["id"])
                actions.append("kept_approved")
            elif old is not None and _same_need(old, new):
                ids.append(old["id"])
                actions.append("unchanged")
            elif old is not None:
                connection.execute(update(p).where(p.c.id == old["id"]).values(**values))
                ids.append(old["id"])
                actions.append("updated")
            elif (
                (last := latest.get(key)) is not None and last["status"] == "rejected"
                and new["inventory_position"] >= float((last["rationale"] or {}).get("inventory_position", math.inf))
                - _EPS
            ):
                ids.append(None)
                actions.append("rejected_before")
            else:
                created = connection.execute(
                    insert(p).values(product_id=new["product_id"], location_id=new["location_id"], kind=new["kind"],
                                     created_at=run_at, status="proposed", **values).returning(p.c.id)
                ).scalar_one()
                ids.append(int(created))
                actions.append("created")
        counts = {name: actions.count(name) for name in ACTIONS}
        connection.execute(insert(schema.audit_log).values(
            ts=run_at, user_name=user, action="replenishment.run", entity="replenishment_proposal",
            entity_key=run_at.isoformat(timespec="seconds"), details=counts,
        ))
    frame = proposals_frame.reset_index(drop=True).copy()
    frame["proposal_id"] = pd.array(ids, dtype="Int64")
    frame["action"] = actions
    return StoreResult(frame=frame, counts=counts)


# --- decisions: approve (creates the order) or reject -----------------------------------------------------------------


@dataclass(frozen=True)
class CreatedOrder:
    """An order created by an approval: ``kind`` purchase (po_no, line_no) or production (mo_no, line_no 0)."""

    proposal_id: int
    kind: str
    order_no: str
    line_no: int
    qty: float
    order_date: dt.date
    due_date: dt.date


def _claim(connection: Connection, ids: list[int], status: str, user: str, decided_at: dt.datetime) -> None:
    """Move ``ids`` from an open status to ``status`` atomically; ValueError if any is not open (or unknown)."""
    p = schema.replenishment_proposal
    done = connection.execute(
        update(p).where(and_(p.c.id.in_(ids), p.c.status.in_(OPEN_STATUSES)))
        .values(status=status, decided_by=user, decided_at=decided_at)
    ).rowcount
    if done != len(ids):
        found = dict(connection.execute(select(p.c.id, p.c.status).where(p.c.id.in_(ids))).all())
        unknown = [i for i in ids if i not in found]
        closed = {i: s for i, s in found.items() if s not in OPEN_STATUSES}
        raise ValueError(f"cannot decide proposals: unknown {unknown}, already decided {closed}")


def approve_many(
    connectable: Engine | Connection,
    proposal_ids: Iterable[int],
    user: str,
    qty: Mapping[int, float] | None = None,
    order_date: dt.date | None = None,
) -> list[CreatedOrder]:
    """Approve proposals and create their orders, all in one transaction.

    ``qty`` maps a proposal id to an edited quantity, rounded again to the product's MOQ and order multiple
    (must be > 0; reject instead). ``order_date`` defaults to each proposal's order date (the run's as-of
    day); the due date keeps the proposal's lead time (due − order date). Purchase proposals are grouped by
    supplier and order date into one PO each (``AUTO-PO-<yyyymmdd>-<supplier>-<smallest proposal id>``, lines
    numbered by sku), status ``open``, expected_date = order date + lead time, unit cost = the product's;
    production proposals become one production order each (``AUTO-MO-<yyyymmdd>-<proposal id>``, status
    ``planned``, start = order date, due = order date + lead time). Proposals end ``ordered`` with their final
    qty, decided_by and decided_at; one ``audit_log`` row per proposal; the item-locations' snapshots show the
    new orders on order. ValueError (nothing written) when a
    proposal is unknown or already decided, or a purchase proposal has no supplier.
    """
    ids = sorted({int(i) for i in proposal_ids})
    edits = {int(k): float(v) for k, v in (qty or {}).items()}
    if not ids:
        return []
    if set(edits) - set(ids):
        raise ValueError(f"edited quantities for proposals not approved here: {sorted(set(edits) - set(ids))}")
    if any(not (v > 0) for v in edits.values()):
        raise ValueError("an edited quantity must be > 0 (reject the proposal instead)")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    p, prod, sup = schema.replenishment_proposal, schema.dim_product, schema.dim_supplier
    created: list[CreatedOrder] = []
    with transaction(connectable) as connection:
        _lock(connection)
        _claim(connection, ids, "ordered", user, now)
        rows = connection.execute(
            select(p.c.id, p.c.product_id, p.c.location_id, p.c.kind, p.c.supplier_id, p.c.qty, p.c.order_date,
                   p.c.due_date, prod.c.sku, prod.c.moq, prod.c.order_multiple, prod.c.unit_cost,
                   sup.c.code.label("supplier"))
            .select_from(p.join(prod, prod.c.id == p.c.product_id).outerjoin(sup, sup.c.id == p.c.supplier_id))
            .where(p.c.id.in_(ids))
        ).mappings().all()
        plan = []
        for row in rows:
            proposed_date = _date(row["order_date"])
            placed = order_date or proposed_date
            lead = (_date(row["due_date"]) - proposed_date).days
            final = float(row["qty"])
            if row["id"] in edits:
                final = float(round_order_quantity(edits[row["id"]], row["moq"] or 0.0, row["order_multiple"] or 0.0))
            if row["kind"] == "purchase" and row["supplier_id"] is None:
                raise ValueError(f"proposal {row['id']} ({row['sku']}) has no supplier to order from")
            plan.append({**row, "placed": placed, "due": placed + dt.timedelta(days=lead), "final": final})
        purchases: dict[tuple, list[dict]] = {}
        for item in plan:
            if item["kind"] == "purchase":
                purchases.setdefault((item["supplier_id"], item["placed"]), []).append(item)
            else:
                mo_no = f"AUTO-MO-{item['placed']:%Y%m%d}-{item['id']}"
                connection.execute(insert(schema.fact_production_order).values(
                    mo_no=mo_no, product_id=item["product_id"], location_id=item["location_id"],
                    start_date=item["placed"], due_date=item["due"], qty_planned=item["final"], status="planned",
                    origin="auto", updated_at=now,
                ))
                created.append(CreatedOrder(item["id"], "production", mo_no, 0, item["final"], item["placed"],
                                            item["due"]))
        for (_supplier, placed), items in sorted(purchases.items(), key=lambda kv: (kv[0][1], kv[1][0]["supplier"])):
            items.sort(key=lambda i: (i["sku"], i["location_id"]))
            po_no = f"AUTO-PO-{placed:%Y%m%d}-{items[0]['supplier'][:32]}-{min(i['id'] for i in items)}"  # ≤ 64
            for line_no, item in enumerate(items, start=1):
                connection.execute(insert(schema.fact_purchase_order_line).values(
                    po_no=po_no, line_no=line_no, supplier_id=item["supplier_id"], product_id=item["product_id"],
                    location_id=item["location_id"], order_date=placed, expected_date=item["due"],
                    qty_ordered=item["final"], unit_cost=item["unit_cost"], status="open", origin="auto",
                    updated_at=now,
                ))
                created.append(CreatedOrder(item["id"], "purchase", po_no, line_no, item["final"], placed,
                                            item["due"]))
        by_id = {item["id"]: item for item in plan}
        for order in created:
            item = by_id[order.proposal_id]
            connection.execute(update(p).where(p.c.id == order.proposal_id).values(
                qty=order.qty, order_date=order.order_date, due_date=order.due_date))
            connection.execute(insert(schema.audit_log).values(
                ts=now, user_name=user, action="replenishment.approve", entity="replenishment_proposal",
                entity_key=str(order.proposal_id),
                details=_json_ready({"kind": order.kind, "order_no": order.order_no, "line_no": order.line_no,
                                     "qty": order.qty, "proposed_qty": float(item["qty"]),
                                     "edited_qty": edits.get(order.proposal_id), "order_date": order.order_date,
                                     "due_date": order.due_date}),
            ))
        # The new orders are on order at once: the snapshots of their item-locations say so.
        snapshots.refresh(connection, pd.DataFrame(
            [(by_id[o.proposal_id]["product_id"], by_id[o.proposal_id]["location_id"]) for o in created],
            columns=["product_id", "location_id"]))
    return sorted(created, key=lambda o: o.proposal_id)


def reject_many(connectable: Engine | Connection, proposal_ids: Iterable[int], user: str,
                reason: str | None = None) -> int:
    """Reject open proposals (one transaction); remembered by later runs (see :func:`store_proposals`).

    Writes one ``audit_log`` row per proposal with the reason. Returns how many were rejected; ValueError
    (nothing written) if any is unknown or already decided.
    """
    ids = sorted({int(i) for i in proposal_ids})
    if not ids:
        return 0
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with transaction(connectable) as connection:
        _lock(connection)
        _claim(connection, ids, "rejected", user, now)
        connection.execute(insert(schema.audit_log), [
            {"ts": now, "user_name": user, "action": "replenishment.reject", "entity": "replenishment_proposal",
             "entity_key": str(i), "details": {"reason": reason}} for i in ids
        ])
    return len(ids)


def decide_proposal(
    connectable: Engine | Connection,
    proposal_id: int,
    decision: Literal["approve", "reject"],
    user: str,
    qty: float | None = None,
    order_date: dt.date | None = None,
    reason: str | None = None,
) -> CreatedOrder | None:
    """Approve (optionally with an edited ``qty``, re-rounded to MOQ and multiple) or reject one proposal.

    Approval creates its order (see :func:`approve_many`) and returns it; rejection returns None.
    """
    if decision == "approve":
        edits = {proposal_id: qty} if qty is not None else None
        return approve_many(connectable, [proposal_id], user, qty=edits, order_date=order_date)[0]
    if decision == "reject":
        reject_many(connectable, [proposal_id], user, reason=reason)
        return None
    raise ValueError(f"decision must be 'approve' or 'reject', not {decision!r}")
