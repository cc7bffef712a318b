"""The backorder run (issue 7): allocate supply to open lines, store backorder ETAs, notify (``python -m jobs
backorders``).

``run_backorders`` composes ``data_access.promising`` (reads, ETA store) with the pure rules of
``analytics.promising``; the message builders here are pure too.

Per run, as of a day (the last day of data by default):

1. every open order line queues for its product-location's stock and scheduled receipts in the configured
   priority order (``Settings.backorder_priority``; default priority number desc, customer tier A < B < C,
   order date, order number) and gets an ETA: the day its last unit is available (``analytics.promising.allocate``);
2. the open backorders (requested date ≤ as_of) are compared with the stored ETAs
   (``analytics.promising.eta_updates``, tolerance ``Settings.eta_tolerance_days``): a line without a stored
   row became backordered; a stored ETA that moved by more than the tolerance is replaced (previous_eta keeps
   the old one); lines no longer backordered lose their row;
3. shipments in transit are checked for delays (``analytics.promising.shipment_delays``);
4. in one transaction: the ETAs are stored and the notices enqueued in ``notification_outbox``:

   - a line became backordered → the customer (``dim_customer.email``) and the sales representatives
     (``Settings.sales_email``), one message per order; priority lines are marked;
   - a stored ETA moved → the customer and sales, one message per order;
   - a shipment is delayed → the customer and the logistics manager (``Settings.logistics_email``).

Idempotent: a second run finds the rows it stored (nothing new, nothing moved) and every message has a dedup
key (``backorder:<order>:<lines>``, ``eta:<order>:<line@eta,…>``, ``delay:<shipment>:<eta>``, each with the
recipient's role), so the outbox never holds a notice twice; a new ETA makes a new key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from analytics import promising as rules
from data_access import notifications
from data_access import promising as store
from data_access.config import Settings, load_settings

Progress = Callable[[float, str], None]


# --- messages (pure) ---------------------------------------------------------------------------------------------


def dedup_key(*parts: Any) -> str:
    """``parts`` joined by ':'; past 200 characters (the outbox column) the tail becomes a sha1 digest."""
    key = ":".join(str(p) for p in parts)
    if len(key) <= 200:
        return key
    return key[:150] + ":" + hashlib.sha1(key.encode()).hexdigest()


def _day(value: Any) -> str:
    """An ISO date, or 'no date yet' for a missing one."""
    return "no date yet" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _key_day(value: Any) -> str:
    return "none" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _qty(value: float) -> str:
    return f"{float(value):,.0f}" if float(value).is_integer() else f"{float(value):,.2f}"


def _text(value: Any, default: str = "") -> str:
    return default if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _line_text(row: Any) -> str:
    return (f"  line {row.line_no}: {_text(row.sku)} {_text(row.product_name)}, {_qty(row.qty_open)} of "
            f"{_qty(row.qty_ordered)} open, requested {_day(row.requested_date)}")


def _by_order(frame: pd.DataFrame) -> Iterator[tuple[str, list[Any]]]:
    """(order_no, its rows as named tuples by line number) for each order of ``frame``, in order number order
    (plain tuples: grouping a DataFrame per order costs milliseconds per group)."""
    rows = frame.sort_values(["order_no", "line_no"]).itertuples(index=False)
    for order_no, group in itertools.groupby(rows, key=lambda r: r.order_no):
        yield str(order_no), list(group)


def backorder_messages(new: pd.DataFrame, settings: Settings) -> list[dict]:
    """Notices for lines that became backordered (rows of the ETA update with action 'new' and the open-line
    columns): per order one message to the customer (when the customer has an e-mail) and one to sales."""
    messages: list[dict] = []
    for order_no, group in _by_order(new):
        first = group[0]
        lines = ",".join(str(r.line_no) for r in group)
        customer = _text(first.customer_name, _text(first.customer))
        body = [f"Dear {customer},", "",
                f"Part of your order {order_no} could not ship by the requested date. On backorder:", ""]
        body += [_line_text(r) + f"; expected to ship {_day(r.eta)}" for r in group]
        body += ["", "We will write again if an expected date changes.", ""]
        if _text(first.email):
            messages.append({
                "dedup_key": dedup_key("backorder", order_no, lines, "customer"), "recipient": str(first.email),
                "subject": f"Order {order_no}: {len(group)} item(s) on backorder", "body": "\n".join(body),
            })
        mark = "[PRIORITY] " if any(r.is_priority for r in group) else ""
        value = sum(float(r.qty_open) * float(r.unit_price) * (1 - float(r.discount)) for r in group)
        sales = [f"{mark}Order {order_no} of {_text(first.customer)} {customer} (tier {_text(first.tier, '-')}, "
                 f"{_text(first.segment, '-')}) has {len(group)} new backordered line(s), open value {value:,.2f}.",
                 *([] if _text(first.email) else ["The customer has no e-mail on file: please call them."]), ""]
        for r in group:
            source = "" if r.eta_source == "none" else f" from {r.eta_source} {_text(r.eta_reference)}".rstrip()
            flag = " [priority]" if r.is_priority else ""
            sales.append(_line_text(r) + f"; ETA {_day(r.eta)}{source}{flag}")
        sales += ["", "Alternatives and the contact log are in the app (Backorders).", ""]
        messages.append({
            "dedup_key": dedup_key("backorder", order_no, lines, "sales"), "recipient": settings.sales_email,
            "subject": f"{mark}Backorder: order {order_no} ({_text(first.customer)}), {len(group)} line(s)",
            "body": "\n".join(sales),
        })
    return messages


def eta_messages(moved: pd.DataFrame, settings: Settings) -> list[dict]:
    """Notices for backorders whose ETA moved beyond the tolerance (rows with action 'moved'): per order one
    message to the customer (with an e-mail) and one to sales; the key names each line's new ETA."""
    messages: list[dict] = []
    for order_no, group in _by_order(moved):
        first = group[0]
        etas = ",".join(f"{r.line_no}@{_key_day(r.eta)}" for r in group)
        customer = _text(first.customer_name, _text(first.customer))
        changes = [_line_text(r) + f"; expected to ship {_day(r.eta)} (was {_day(r.previous_eta)})" for r in group]
        if _text(first.email):
            messages.append({
                "dedup_key": dedup_key("eta", order_no, etas, "customer"), "recipient": str(first.email),
                "subject": f"Order {order_no}: new expected ship date",
                "body": "\n".join([f"Dear {customer},", "", f"The expected ship date of backordered items of your "
                                   f"order {order_no} has changed:", "", *changes, ""]),
            })
        mark = "[PRIORITY] " if any(r.is_priority for r in group) else ""
        messages.append({
            "dedup_key": dedup_key("eta", order_no, etas, "sales"), "recipient": settings.sales_email,
            "subject": f"{mark}ETA moved: order {order_no} ({_text(first.customer)}), {len(group)} line(s)",
            "body": "\n".join([f"{mark}Order {order_no} of {_text(first.customer)} {customer}: the ETA of "
                               f"{len(group)} backordered line(s) moved by more than {settings.eta_tolerance_days} "
                               "day(s).", "", *changes, ""]),
        })
    return messages


def delay_messages(delays: pd.DataFrame, as_of: dt.date, settings: Settings) -> list[dict]:
    """Notices for delayed shipments (rows of ``analytics.promising.shipment_delays`` with delayed): to the
    customer (with an e-mail) and to the logistics manager, one per shipment; the key names the current ETA."""
    messages: list[dict] = []
    for r in delays[delays["delayed"].to_numpy(dtype=bool)].sort_values("shipment_no").itertuples(index=False):
        eta = _key_day(r.eta)
        state = []
        if r.overdue:
            state.append(f"overdue: its ETA passed {int(r.days_overdue)} day(s) ago and it has not arrived")
        if r.days_late > 0:
            state.append(f"about {int(r.days_late)} day(s) past the promised date")
        elif r.overdue:
            state.append("the promised date can still be met")
        why = "; ".join(state)
        facts = [f"  shipment {r.shipment_no} for order {r.order_no} line {r.line_no}: {_qty(r.qty)} × "
                 f"{_text(r.sku)} {_text(r.product_name)}",
                 f"  carrier {_text(r.carrier, '-')}, tracking number {_text(r.tracking_no, '-')}, shipped "
                 f"{_day(r.ship_date)}",
                 f"  promised {_day(r.promise)}, carrier ETA {_day(r.eta)}"]
        headline = (f"{int(r.days_late)} day(s) late" if r.days_late > 0
                    else f"overdue {int(r.days_overdue)} day(s)")
        customer = _text(r.customer_name, _text(r.customer))
        if _text(r.email):
            messages.append({
                "dedup_key": dedup_key("delay", r.shipment_no, eta, "customer"), "recipient": str(r.email),
                "subject": f"Your shipment for order {r.order_no} is delayed",
                "body": "\n".join([f"Dear {customer},", "", f"Your shipment is running late ({why}).", "", *facts,
                                   "", "We are following up with the carrier.", ""]),
            })
        priority = int(getattr(r, "priority", 0) or 0) > 0
        mark = "[PRIORITY] " if priority else ""
        tier = _text(getattr(r, "tier", None), "-")
        flags = [*(["a priority order"] if priority else []),
                 *(["a high-value customer"] if tier in rules.HIGH_VALUE_TIERS else [])]
        messages.append({
            "dedup_key": dedup_key("delay", r.shipment_no, eta, "logistics"), "recipient": settings.logistics_email,
            "subject": f"{mark}Delayed shipment {r.shipment_no} ({_text(r.carrier, '-')} {_text(r.tracking_no, '')}"
                       .rstrip() + f"): {headline}",
            "body": "\n".join([f"As of {as_of.isoformat()}: {why}.", "", *facts,
                               f"  customer {_text(r.customer)} {customer} (tier {tier}) "
                               f"<{_text(r.email, 'no e-mail on file')}>",
                               *([f"  Follow up first: {' and '.join(flags)}."] if flags else []), ""]),
        })
    return messages


# --- the run -------------------------------------------------------------------------------------------------------


@dataclass
class BackorderRun:
    """Outcome of :func:`run_backorders`: every open line with its allocation and ETA, the ETA update of the
    open backorders, the shipment delays and how many notices were enqueued."""

    as_of: dt.date
    allocation: pd.DataFrame
    update: rules.EtaUpdate
    delays: pd.DataFrame
    notifications: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)

    def headline(self) -> str:
        """One line: the day planned from, the counts and the time taken."""
        return (f"backorders as of {self.as_of.isoformat()}: " + ", ".join(f"{k} {v}" for k, v in self.counts.items())
                + f" ({self.seconds:.1f} s)")

    def summary(self, max_rows: int = 30) -> str:
        """Counts and the oldest backorders with their ETAs (for the command line)."""
        head = self.headline()
        lines = self.update.lines
        if lines.empty:
            return head + "\nno open backorders"
        table = lines.sort_values(["is_priority", "requested_date"], ascending=[False, True]).head(max_rows)
        shown = pd.DataFrame({
            "order": table["order_no"], "line": table["line_no"], "customer": table["customer"],
            "tier": table["tier"].fillna("-"), "sku": table["sku"], "location": table["location"],
            "open": table["qty_open"], "requested": table["requested_date"].dt.date,
            "eta": table["eta"].dt.date, "source": table["eta_source"], "action": table["action"],
            "priority": table["is_priority"].map({True: "yes", False: ""}),
        })
        more = f"\n… {len(lines) - max_rows} more" if len(lines) > max_rows else ""
        return head + "\n" + shown.to_string(index=False) + more


def _settings_with(settings: Settings, priority: Iterable[str] | None, tolerance_days: int | None) -> Settings:
    """``settings`` with this run's overrides (None keeps the configured value)."""
    changes: dict[str, Any] = {}
    if priority is not None:
        changes["backorder_priority"] = tuple(priority)
    if tolerance_days is not None:
        changes["eta_tolerance_days"] = int(tolerance_days)
    return replace(settings, **changes) if changes else settings


def run_backorders(
    engine: Engine,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    *,
    notify: bool = True,
    settings: Settings | None = None,
    priority: Iterable[str] | None = None,
    tolerance_days: int | None = None,
    user: str | None = "backorder-run",
) -> BackorderRun:
    """Run the backorder allocation as of ``as_of`` (default: the last day of data), store ETAs, enqueue notices.

    ``priority`` and ``tolerance_days`` override the settings for this run; ``notify=False`` stores ETAs without
    enqueueing anything. ``progress(fraction, message)`` is called after each step. Idempotent (see the module
    docstring). ValueError for an unknown priority key or a negative tolerance.
    """
    started = time.perf_counter()
    settings = _settings_with(settings or load_settings(), priority, tolerance_days)
    rules.check_priority(settings.backorder_priority)
    if settings.eta_tolerance_days < 0:
        raise ValueError("the ETA tolerance must be >= 0 days")
    report = progress or (lambda _fraction, _message: None)
    as_of = as_of or store.planning_date(engine)
    report(0.05, "reading open order lines")
    lines = store.open_order_lines(engine)
    report(0.25, "reading stock and scheduled receipts")
    supply = store.supply_demand(engine, as_of)
    report(0.45, f"allocating supply to {len(lines):,} open lines")
    allocation = rules.allocate(lines, supply, as_of, priority=settings.backorder_priority)
    backorders = allocation[allocation["backorder"].to_numpy(dtype=bool)]
    report(0.6, "checking shipments in transit")
    delays = rules.shipment_delays(store.shipments_in_transit(engine), as_of)
    report(0.75, f"storing ETAs of {len(backorders):,} backorders")
    with engine.begin() as connection:  # ETAs and their notices in one transaction
        store.lock_backorders(connection)
        update = rules.eta_updates(backorders, store.stored_etas(connection),
                                   tolerance_days=settings.eta_tolerance_days)
        counts = store.store_etas(connection, update, user=user)
        enqueued = 0
        if notify:
            messages = (backorder_messages(update.lines[update.lines["action"] == "new"], settings)
                        + eta_messages(update.lines[update.lines["action"] == "moved"], settings)
                        + delay_messages(delays, as_of, settings))
            enqueued = notifications.add(connection, messages)  # set-based; keys already queued are skipped
    report(1.0, f"{counts['new']} new backorders, {counts['moved']} ETAs moved, {enqueued} notices")
    return BackorderRun(
        as_of=as_of, allocation=allocation, update=update, delays=delays, notifications=enqueued,
        seconds=time.perf_counter() - started,
        counts={"open_lines": len(allocation), "backorders": len(backorders), **counts,
                "delayed_shipments": int(delays["delayed"].sum()), "notifications": enqueued},
    )
