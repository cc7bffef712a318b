"""What the order views (sales, customer portal, logistics, backorders) show, as pure functions on the frames of
``data_access.promising`` and ``data_access.order_reads``: customer search, order summaries, open lines with
their expected ship date, ETA states, the promise plan as a table, availability in words, delay reasons and
carrier figures, and the root-cause drill-down.

Pure (pandas in, pandas out; no SQL, no Streamlit). The rules of promising and allocation themselves are
``analytics.promising``; this module only arranges their results for people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.kpis import EPS
from analytics.promising import HIGH_VALUE_TIERS, ROOT_CAUSES, Promise

ROOT_CAUSE_LABELS: dict[str, str] = {
    "supplier_late": "Supplier late",
    "lead_time": "Lead time longer than planned",
    "forecast_too_low": "Forecast too low (demand spike)",
    "policy": "Stock policy (reorder point, safety stock)",
}
#: What each root cause means (``analytics.promising.classify_root_causes``: the first rule that holds wins).
ROOT_CAUSE_RULES: dict[str, str] = {
    "supplier_late": "a purchase or production order due by the requested date arrived after it (or not yet)",
    "lead_time": "an order under way when the line fell due was quoted a lead time over 20 % longer than planned",
    "forecast_too_low": "demand in the lead-time window before the requested date was over 25 % above the expected "
                        "(the naive forecast: mean daily demand of the 90 days before)",
    "policy": "supply came as planned and demand as expected: the reorder point, safety stock or order quantity "
              "did not cover the line",
}
#: Headings for the columns of the frames above and of ``data_access.promising`` (views label their tables with
#: them; a column missing from a table is ignored).
COLUMN_LABELS: dict[str, str] = {
    "order_no": "Order", "line_no": "Line", "sku": "SKU", "product_name": "Product", "name": "Product",
    "category": "Category", "location": "Location", "segment": "Segment", "tier": "Tier", "channel": "Channel",
    "customer": "Customer", "customer_name": "Name", "status": "Status", "priority": "Priority", "state": "State",
    "lines": "Lines", "units_ordered": "Units ordered", "units_shipped": "Units shipped", "open_units": "Units open",
    "value": "Value", "open_value": "Open value", "rank": "Rank", "reason": "Offered as", "qty_ordered": "Ordered (units)",
    "qty_shipped": "Shipped (units)", "qty_cancelled": "Cancelled (units)", "qty_open": "Open (units)", "unit_price": "Unit price",
    "discount": "Discount", "on_hand": "On hand", "next_receipt_qty": "Next receipt (units)",
}
ETA_STATES = ("estimated", "no_supply", "not_estimated")
ETA_STATE_LABELS = {"estimated": "estimated", "no_supply": "no known supply yet",
                    "not_estimated": "not estimated yet"}


def _net_value(frame: pd.DataFrame, qty: pd.Series) -> pd.Series:
    """qty × unit_price × (1 − discount)."""
    return qty * frame["unit_price"] * (1 - frame["discount"].fillna(0.0))


def _open_qty(frame: pd.DataFrame) -> pd.Series:
    return (frame["qty_ordered"] - frame["qty_shipped"] - frame["qty_cancelled"]).clip(lower=0.0)


# --- customers ----------------------------------------------------------------------------------------------------


def customer_choices(customers: pd.DataFrame, backorders: pd.DataFrame, query: str = "") -> pd.DataFrame:
    """Customers to pick from: those whose code or name contains ``query`` (case-insensitive; all when blank),
    with their open backorders (``backorders``: rows of ``data_access.promising.backorder_status``, customer_id,
    value): backorder_lines and backorder_value; those with most backorder lines first, then by code. Adds
    ``label`` = "code — name (segment, tier)" and, when there are backorders, "· n backordered"."""
    needle = str(query or "").strip().lower()
    found = customers
    if needle:
        hit = (customers["code"].str.lower().str.contains(needle, regex=False)
               | customers["name"].str.lower().str.contains(needle, regex=False))
        found = customers[hit.fillna(False).to_numpy(dtype=bool)]
    counts = backorders.groupby("customer_id").agg(backorder_lines=("customer_id", "size"),
                                                  backorder_value=("value", "sum"))
    out = found.join(counts, on="customer_id")
    out["backorder_lines"] = out["backorder_lines"].fillna(0).astype(np.int64)
    out["backorder_value"] = out["backorder_value"].fillna(0.0).astype(float)
    details = out["segment"].fillna("-") + ", tier " + out["tier"].fillna("-")
    flag = np.where(out["backorder_lines"] > 0, " · " + out["backorder_lines"].astype(str) + " backordered", "")
    out["label"] = out["code"] + " — " + out["name"] + " (" + details + ")" + flag
    return out.sort_values(["backorder_lines", "code"], ascending=[False, True], kind="stable").reset_index(drop=True)


# --- order history ------------------------------------------------------------------------------------------------


def order_summary(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per order of order lines (``data_access.order_reads.customer_order_lines``).

    value = Σ qty_ordered × unit_price × (1 − discount); open_units = Σ max(0, ordered − shipped − cancelled),
    open_value the same at the net price; state: 'open' when a line is open or partial with units open,
    'cancelled' when every line is cancelled, else 'closed'; priority when a line has priority > 0; last_ship_date
    the latest shipment of its lines. Newest order first.
    """
    columns = ["order_no", "order_date", "lines", "units_ordered", "units_shipped", "open_units", "value",
               "open_value", "state", "priority", "last_ship_date"]
    if lines.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    open_qty = _open_qty(lines)
    is_open = lines["status"].isin(["open", "partial"]) & (open_qty > EPS)
    d = lines.assign(value=_net_value(lines, lines["qty_ordered"]),
                     open_units=open_qty.where(is_open, 0.0),
                     open_value=_net_value(lines, open_qty.where(is_open, 0.0)),
                     is_open=is_open, cancelled=lines["status"] == "cancelled",
                     is_priority=lines["priority"] > 0)
    out = d.groupby("order_no", as_index=False).agg(
        order_date=("order_date", "min"), lines=("line_no", "size"), units_ordered=("qty_ordered", "sum"),
        units_shipped=("qty_shipped", "sum"), open_units=("open_units", "sum"), value=("value", "sum"),
        open_value=("open_value", "sum"), any_open=("is_open", "any"), all_cancelled=("cancelled", "all"),
        priority=("is_priority", "any"), last_ship_date=("last_ship_date", "max"),
    )
    out["state"] = np.select([out["any_open"], out["all_cancelled"]], ["open", "cancelled"], "closed")
    return out.sort_values(["order_date", "order_no"], ascending=False, kind="stable")[columns].reset_index(drop=True)


def order_value_by_month(lines: pd.DataFrame) -> pd.DataFrame:
    """Net order value (qty_ordered × unit_price × (1 − discount)) and order count per month of order_date:
    month (first day), value, orders; months without orders inside the span are listed with 0."""
    if lines.empty:
        return pd.DataFrame({"month": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                             "orders": pd.Series(dtype=np.int64)})
    month = pd.to_datetime(lines["order_date"]).dt.to_period("M")
    d = lines.assign(month=month, value=_net_value(lines, lines["qty_ordered"]))
    out = d.groupby("month").agg(value=("value", "sum"), orders=("order_no", "nunique"))
    out = out.reindex(pd.period_range(out.index.min(), out.index.max(), freq="M"), fill_value=0)
    out.index = out.index.start_time
    return out.rename_axis("month").reset_index().astype({"orders": np.int64})


# --- open lines and backorders ------------------------------------------------------------------------------------


def line_marks(frame: pd.DataFrame) -> pd.Series:
    """A short text per line: 'priority' (is_priority) and 'high value' (high_value), joined by ' · '."""
    priority = frame["is_priority"].fillna(False).astype(bool).to_numpy() if "is_priority" in frame else False
    high = frame["high_value"].fillna(False).astype(bool).to_numpy() if "high_value" in frame else False
    both = np.where(priority & high, "priority · high value",
                    np.where(priority, "priority", np.where(high, "high value", "")))
    return pd.Series(both, index=frame.index, dtype=object)


def with_eta_state(backorders: pd.DataFrame) -> pd.DataFrame:
    """Backorders (``data_access.promising.backorder_status``) with what their ETA means.

    eta_state: 'estimated' (a stored ETA), 'no_supply' (the run found no known supply: eta_source 'none'),
    'not_estimated' (no stored row: the backorder run has not seen the line yet); days_late = eta −
    requested_date in days (NaN without an ETA); eta_moved_days = eta − previous_eta (NaN when it never moved);
    marks (:func:`line_marks`).
    """
    d = backorders.copy()
    eta = pd.to_datetime(d["eta"])
    source = d["eta_source"].astype(object)
    d["eta_state"] = np.select([eta.notna(), source.eq("none").fillna(False)], ["estimated", "no_supply"],
                               "not_estimated")
    d["days_late"] = (eta - pd.to_datetime(d["requested_date"])).dt.days
    d["eta_moved_days"] = (eta - pd.to_datetime(d["previous_eta"])).dt.days
    d["marks"] = line_marks(d)
    return d


@dataclass(frozen=True)
class EtaStatus:
    """How current the backorders' ETAs are: counts per eta_state and the oldest and newest computed_at."""

    lines: int
    estimated: int
    no_supply: int
    not_estimated: int
    oldest: dt.datetime | None
    newest: dt.datetime | None


def eta_status(backorders: pd.DataFrame) -> EtaStatus:
    """Counts of :func:`with_eta_state` states and the range of ``eta_computed_at`` of the stored ETAs."""
    states = with_eta_state(backorders)["eta_state"].value_counts() if len(backorders) else pd.Series(dtype=int)
    computed = pd.to_datetime(backorders["eta_computed_at"]).dropna() if len(backorders) else pd.Series()
    return EtaStatus(
        lines=len(backorders), estimated=int(states.get("estimated", 0)), no_supply=int(states.get("no_supply", 0)),
        not_estimated=int(states.get("not_estimated", 0)),
        oldest=computed.min().to_pydatetime() if len(computed) else None,
        newest=computed.max().to_pydatetime() if len(computed) else None,
    )


def open_lines_with_eta(open_lines: pd.DataFrame, backorders: pd.DataFrame) -> pd.DataFrame:
    """Open order lines (``data_access.promising.open_order_lines``) with when they are expected to ship.

    A line in ``backorders`` (``backorder_status``, due and not shipped) is 'backordered' and expected on its
    stored ETA (NaT while none); any other open line is 'on schedule', expected on its promised date, else its
    requested date. Adds qty_open, open_value (qty_open × net price), is_priority (priority > 0), high_value
    (customer tier in ``analytics.promising.HIGH_VALUE_TIERS``), state, expected_ship_date, eta_source, marks;
    backordered first, then by expected date.
    """
    d = open_lines.copy()
    d["qty_open"] = _open_qty(d)
    d["open_value"] = _net_value(d, d["qty_open"])
    d["is_priority"] = pd.to_numeric(d["priority"]).fillna(0) > 0
    d["high_value"] = d["tier"].isin(list(HIGH_VALUE_TIERS))
    eta = backorders.set_index("line_id")[["eta", "eta_source"]] if len(backorders) else None
    backordered = d["line_id"].isin(backorders["line_id"]) if len(backorders) else pd.Series(False, index=d.index)
    d["state"] = np.where(backordered, "backordered", "on schedule")
    planned = pd.to_datetime(d["promised_date"]).fillna(pd.to_datetime(d["requested_date"]))
    stored = d["line_id"].map(eta["eta"]) if eta is not None else pd.Series(pd.NaT, index=d.index)
    d["expected_ship_date"] = pd.to_datetime(stored).where(backordered, planned).astype("datetime64[ns]")
    d["eta_source"] = d["line_id"].map(eta["eta_source"]) if eta is not None else None
    d["marks"] = line_marks(d)
    return d.sort_values(["state", "expected_ship_date", "order_no", "line_no"], na_position="first",
                         kind="stable").reset_index(drop=True)


# --- promise and availability ------------------------------------------------------------------------------------


def plan_table(answer: Promise, location_codes: Mapping[int, str]) -> pd.DataFrame:
    """The split plan of a promise (``analytics.promising.Promise``) for people: per piece qty, ship_date, from
    (location code), how ('from stock', 'incoming receipt', 'transfer from X, n days'), available_date (at the
    source), transfer_days, reference (PO/MO numbers)."""
    frame = answer.to_frame()
    if frame.empty:
        return pd.DataFrame(columns=["qty", "ship_date", "from", "how", "available_date", "transfer_days",
                                     "reference"])
    codes = frame["location_id"].map(lambda i: location_codes.get(int(i), str(i)))
    days = frame["transfer_days"].map(lambda v: f"{v:g}")
    how = np.select(
        [frame["source"] == "stock", frame["source"] == "receipt"],
        ["from stock", "incoming receipt"],
        "transfer from " + codes + ", " + days + " day(s) on the way",
    )
    return pd.DataFrame({
        "qty": frame["qty"], "ship_date": pd.to_datetime(frame["ship_date"]), "from": codes, "how": how,
        "available_date": pd.to_datetime(frame["available_date"]), "transfer_days": frame["transfer_days"],
        "reference": frame["reference"],
    })


def availability_status(availability: pd.DataFrame, qty: float = 1.0) -> pd.DataFrame:
    """Availability per product-location (``analytics.promising.availability`` rows) in words, for ``qty`` units.

    status: 'in stock' when available_now ≥ qty; 'partly in stock' when 0 < available_now < qty; 'available from'
    when nothing is available now but available_date is set (the first day the ATP turns positive); else
    'backordered' (no known supply). status_text adds the quantity or the date.
    """
    if qty <= 0:
        raise ValueError("qty must be > 0")
    d = availability.copy()
    now = d["available_now"].astype(float)
    date = pd.to_datetime(d["available_date"])
    d["status"] = np.select([now >= qty - EPS, now > EPS, date.notna()],
                            ["in stock", "partly in stock", "available from"], "backordered")
    text = np.select(
        [d["status"] == "in stock", d["status"] == "partly in stock", d["status"] == "available from"],
        ["In stock (" + now.map("{:,.0f}".format) + " available)",
         "Partly in stock (" + now.map("{:,.0f}".format) + " available now)",
         "Available from " + date.dt.strftime("%Y-%m-%d").fillna("")],
        "Backordered: no date yet",
    )
    d["status_text"] = text
    return d


def promise_status(answer: Promise, available_now: float) -> tuple[str, str]:
    """What a customer reads before ordering ``answer.qty`` at ``answer.location_id`` (a promise asked for the
    planning day, ``available_now`` the location's ATP now): (status, text).

    'in stock' when the whole quantity can ship today (answer.date = as_of); 'available from' when known supply
    covers it later, on answer.date (text 'Available from D', with 'partly in stock' counted first when 0 <
    available_now < qty: 'Partly in stock (n now), all from D'); 'backordered' when no known supply covers it
    ('Backordered: no date yet').
    """
    qty, now = float(answer.qty), max(float(available_now), 0.0)
    if answer.date is None:
        return "backordered", "Backordered: no date yet"
    if answer.date <= answer.as_of:
        return "in stock", f"In stock ({now:,.0f} available)" if now >= qty - EPS else "In stock"
    if now > EPS:
        return "partly in stock", f"Partly in stock ({now:,.0f} now), all {qty:,.0f} from {answer.date:%Y-%m-%d}"
    return "available from", f"Available from {answer.date:%Y-%m-%d}"


# --- logistics ------------------------------------------------------------------------------------------------------


def priority_marks(frame: pd.DataFrame) -> pd.DataFrame:
    """Order lines (or shipments of them) with is_priority (priority > 0), high_value (customer tier in
    ``analytics.promising.HIGH_VALUE_TIERS``) and marks (:func:`line_marks`); a frame without ``priority`` or
    ``tier`` gets False for that flag."""
    d = frame.copy()
    d["is_priority"] = (pd.to_numeric(d["priority"]).fillna(0) > 0) if "priority" in d else False
    d["high_value"] = d["tier"].isin(list(HIGH_VALUE_TIERS)) if "tier" in d else False
    d["marks"] = line_marks(d)
    return d


def delay_reasons(delays: pd.DataFrame) -> pd.DataFrame:
    """Shipments of ``analytics.promising.shipment_delays`` with ``reason`` in words: 'carrier ETA after the
    promised date' (slipped), 'ETA passed, not delivered' (overdue), both joined by ' and ', 'no ETA from the
    carrier' (eta_missing) or 'on track'; and the priority marks of their lines (:func:`priority_marks`)."""
    d = priority_marks(delays)
    slipped, overdue = d["slipped"].astype(bool), d["overdue"].astype(bool)
    d["reason"] = np.select(
        [slipped & overdue, slipped, overdue, d["eta_missing"].astype(bool)],
        ["carrier ETA after the promised date and ETA passed, not delivered", "carrier ETA after the promised date",
         "ETA passed, not delivered", "no ETA from the carrier"],
        "on track",
    )
    return d


def filter_shipments(
    delays: pd.DataFrame,
    *,
    carriers: Iterable[str] = (),
    locations: Iterable[str] = (),
    start: dt.date | None = None,
    end: dt.date | None = None,
    delayed_only: bool = False,
) -> pd.DataFrame:
    """The shipments of the given carriers and locations (empty: all) shipped from ``start`` to ``end``
    (inclusive; None: open), only the delayed ones with ``delayed_only``."""
    keep = pd.Series(True, index=delays.index)
    carriers, locations = list(carriers), list(locations)
    if carriers:
        keep &= delays["carrier"].fillna("(none)").isin(carriers)
    if locations:
        keep &= delays["location"].isin(locations)
    shipped = pd.to_datetime(delays["ship_date"])
    if start is not None:
        keep &= shipped >= pd.Timestamp(start)
    if end is not None:
        keep &= shipped <= pd.Timestamp(end)
    if delayed_only:
        keep &= delays["delayed"].astype(bool)
    return delays[keep.to_numpy(dtype=bool)]


def delays_by_carrier(delays: pd.DataFrame) -> pd.DataFrame:
    """Per carrier (missing: '(none)'): in_transit shipments, delayed, on_track = in_transit − delayed,
    delayed_share = delayed / in_transit, mean_days_late and max_days_late over the delayed ones (0 when none),
    units in transit; most delayed first."""
    d = delays.assign(carrier=delays["carrier"].fillna("(none)"), delayed=delays["delayed"].astype(bool))
    late = d["days_late"].where(d["delayed"])
    d = d.assign(late=late)
    out = d.groupby("carrier", as_index=False).agg(
        in_transit=("shipment_no", "size"), delayed=("delayed", "sum"), mean_days_late=("late", "mean"),
        max_days_late=("late", "max"), units=("qty", "sum"),
    )
    out["delayed"] = out["delayed"].astype(np.int64)
    out["on_track"] = out["in_transit"] - out["delayed"]
    out["delayed_share"] = out["delayed"] / out["in_transit"]
    out[["mean_days_late", "max_days_late"]] = out[["mean_days_late", "max_days_late"]].fillna(0.0)
    columns = ["carrier", "in_transit", "delayed", "on_track", "delayed_share", "mean_days_late", "max_days_late",
               "units"]
    return out.sort_values(["delayed", "carrier"], ascending=[False, True], kind="stable")[columns] \
        .reset_index(drop=True)


# --- executive: trends and root causes ------------------------------------------------------------------------------


def latest_change(trend: pd.DataFrame, by: str) -> pd.DataFrame:
    """The last period of each group of ``analytics.promising.backorder_trend`` output: ``by``, period,
    backorder_rate, previous_rate, change, direction, lines_due, lines_backordered; worst rate first."""
    if trend.empty:
        return trend
    last = trend.sort_values("period").groupby(by, as_index=False, dropna=False).tail(1)
    columns = [by, "period", "backorder_rate", "previous_rate", "change", "direction", "lines_due",
               "lines_backordered"]
    return last.sort_values("backorder_rate", ascending=False, na_position="last")[columns].reset_index(drop=True)


def cause_lines(classified: pd.DataFrame, cause: str) -> pd.DataFrame:
    """The backordered lines behind one root cause (``analytics.promising.classify_root_causes`` output) with their
    priority marks (:func:`priority_marks`), most units short first. ValueError for an unknown cause."""
    if cause not in ROOT_CAUSES:
        raise ValueError(f"cause must be one of {list(ROOT_CAUSES)}, not {cause!r}")
    lines = priority_marks(classified[classified["root_cause"] == cause])
    return lines.sort_values(["units_short", "requested_date"], ascending=[False, False], kind="stable") \
        .reset_index(drop=True)


@dataclass(frozen=True)
class RateSummary:
    """Backorder rate over a selection of :func:`analytics.promising.backorder_trend` rows: totals over all its
    periods, and the last period against the one before (both summed over the selected groups)."""

    lines_due: int
    lines_backordered: int
    rate: float | None
    units_short: float
    unit_rate: float | None
    last_period: pd.Timestamp | None
    last_rate: float | None
    previous_rate: float | None

    @property
    def change(self) -> float | None:
        """last_rate − previous_rate (a fraction; × 100 for percentage points), None when either is unknown."""
        if self.last_rate is None or self.previous_rate is None:
            return None
        return self.last_rate - self.previous_rate


def rate_summary(trend: pd.DataFrame) -> RateSummary:
    """Totals of backorder_trend rows: rate = Σ lines_backordered / Σ lines_due, unit_rate = Σ units_short /
    Σ units_due (None without due lines); last_rate and previous_rate the same ratios in the last two periods."""

    def ratio(rows: pd.DataFrame, numerator: str, denominator: str) -> float | None:
        total = float(rows[denominator].sum())
        return float(rows[numerator].sum()) / total if total > 0 else None

    periods = sorted(trend["period"].dropna().unique()) if len(trend) else []
    last = trend[trend["period"] == periods[-1]] if periods else trend
    before = trend[trend["period"] == periods[-2]] if len(periods) > 1 else trend.iloc[0:0]
    return RateSummary(
        lines_due=int(trend["lines_due"].sum()), lines_backordered=int(trend["lines_backordered"].sum()),
        rate=ratio(trend, "lines_backordered", "lines_due"), units_short=float(trend["units_short"].sum()),
        unit_rate=ratio(trend, "units_short", "units_due"),
        last_period=pd.Timestamp(periods[-1]) if periods else None,
        last_rate=ratio(last, "lines_backordered", "lines_due") if periods else None,
        previous_rate=ratio(before, "lines_backordered", "lines_due") if len(before) else None,
    )


def first_available(alternatives: pd.DataFrame) -> pd.Series | None:
    """The alternative to offer first (rows of ``analytics.promising.alternatives``, already in offer order:
    substitutes by rank, then same category by closeness of price): the first one available at the location now,
    else the first one available elsewhere, else None."""
    for column in ("available_here", "available_elsewhere"):
        found = alternatives[alternatives[column] > EPS]
        if len(found):
            return found.iloc[0]
    return None
