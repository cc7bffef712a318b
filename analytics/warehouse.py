"""Warehouse rules: scan checks, order-line and purchase-line states, issue cost, the prioritised pick list with
its picking route, and count reconciliation.

Pure (pandas/numpy in and out; no SQL, no Streamlit). ``data_access.warehouse`` reads the frames, calls these
rules and writes the scans; ``pages/warehouse.py`` shows them.

Rules
-----
- Receipt against a purchase line: refused when the line is not open or partial, when the quantity is not > 0,
  or when qty_received + qty > qty_ordered (over-receipt). The line becomes ``received`` once
  qty_received ≥ qty_ordered, else ``partial``.
- Pick and ship against a sales line: refused when the line is not open or partial, when the quantity is not
  > 0, when it exceeds the open quantity (qty_ordered − qty_shipped − qty_cancelled) or the stock on hand at
  the line's location (the sum of the ledger). Line status after it, as the demo company and the ERP
  interchange use it: open quantity left → ``partial`` (something shipped) or ``open``; nothing left →
  ``shipped``, or ``closed`` when part of it was cancelled.
- Issue cost (shipments and count differences): the current moving-average unit cost of the item-location
  (``analytics.valuation`` perpetual average over its ledger), else the product's standard ``unit_cost``.
- Count: the adjustment is counted − on hand per ledger (a ``count`` movement only when it is not zero).
- Pick list of a location: open lines due by a day, **backorders first** (requested date already past), then
  the configured allocation priority (``Settings.backorder_priority``, keys of
  ``analytics.promising.PRIORITY_KEYS``: by default priority flag, customer tier, order date, order number).
  Stock on hand goes to the lines in that order: qty_to_pick = min(qty_open, max(0, on_hand − open qty of the
  lines ranked before it for the same product)).
- Picking route: the schema has no bin or aisle, so the walk order is the **SKU order** (the lines with
  something to pick, one stop per SKU, in ascending SKU; within a stop by pick rank). Lines without stock are
  listed after the route, by pick rank.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics import promising
from analytics.kpis import EPS
from analytics.valuation import moving_average_valuation

#: What the page says about the route (there is no bin or aisle in the schema).
ROUTE_NOTE = ("Walk order = SKU order: the schema has no bin or aisle locations, so the route visits one stop per "
              "SKU in ascending SKU (slot the shelves by SKU and it is a single pass).")

#: Columns the pick list needs (``data_access.warehouse.open_lines_at``); others are kept.
PICK_LINES = ("line_id", "order_no", "line_no", "product_id", "sku", "tier", "priority", "order_date",
              "requested_date", "qty_ordered", "qty_shipped", "qty_cancelled")

#: Columns the count reconciliation needs (``data_access.warehouse.recent_counts``); others are kept.
COUNTS = ("count_no", "count_date", "location", "system_qty", "counted_qty", "unit_cost")

SHIPPABLE_STATUSES = ("open", "partial")
RECEIVABLE_STATUSES = ("open", "partial")


class ScanRefused(ValueError):
    """A scan that must not be written (unknown code, over-receipt, over-shipment…); the message says why."""


# --- checks and states ------------------------------------------------------------------------------------------


def _positive(qty: float, what: str) -> float:
    value = float(qty)
    if not np.isfinite(value) or value <= EPS:
        raise ScanRefused(f"the quantity {what} must be more than 0, not {qty!r}")
    return value


def check_receipt(po_ref: str, status: str, qty_ordered: float, qty_received: float, qty: float) -> float:
    """The quantity to receive on a purchase line, checked; ScanRefused when the line is not open or partial, the
    quantity is not > 0 or it would receive more than ordered (over-receipt)."""
    value = _positive(qty, "received")
    if status not in RECEIVABLE_STATUSES:
        raise ScanRefused(f"purchase line {po_ref} is {status}: nothing more can be received on it")
    still_open = float(qty_ordered) - float(qty_received)
    if value > still_open + EPS:
        raise ScanRefused(
            f"over-receipt refused: purchase line {po_ref} has {still_open:g} of {float(qty_ordered):g} units still "
            f"to receive, the scan says {value:g}. Receive at most {still_open:g}; the supplier's extra units need a "
            "new purchase order (ask purchasing).")
    return value


def po_line_status(qty_ordered: float, qty_received: float) -> str:
    """``received`` once qty_received ≥ qty_ordered, ``partial`` when something was received, else ``open``."""
    if float(qty_received) >= float(qty_ordered) - EPS:
        return "received"
    return "partial" if float(qty_received) > EPS else "open"


def check_shipment(line_ref: str, status: str, qty_open: float, on_hand: float, qty: float) -> float:
    """The quantity to pick and ship on a sales line, checked; ScanRefused when the line is not open or partial, the
    quantity is not > 0, or it exceeds the line's open quantity or the stock on hand."""
    value = _positive(qty, "picked")
    if status not in SHIPPABLE_STATUSES:
        raise ScanRefused(f"order line {line_ref} is {status}: nothing is left to ship on it")
    if value > float(qty_open) + EPS:
        raise ScanRefused(f"over-shipment refused: order line {line_ref} has {float(qty_open):g} units open, the scan "
                          f"says {value:g}. Ship at most {float(qty_open):g}.")
    if value > float(on_hand) + EPS:
        raise ScanRefused(f"not enough stock: {float(on_hand):g} units on hand per ledger, the scan says {value:g}. "
                          "Count the bin if the shelf holds more than the ledger.")
    return value


def sales_line_status(qty_ordered: float, qty_shipped: float, qty_cancelled: float) -> str:
    """Status of a sales line from its quantities: open qty left → ``partial`` (something shipped) or ``open``;
    none left → ``shipped``, or ``closed`` when part was cancelled (``cancelled`` when nothing shipped)."""
    remaining = float(qty_ordered) - float(qty_shipped) - float(qty_cancelled)
    shipped = float(qty_shipped) > EPS
    if remaining > EPS:
        return "partial" if shipped else "open"
    if float(qty_cancelled) > EPS:
        return "closed" if shipped else "cancelled"
    return "shipped"


def check_count(counted_qty: float) -> float:
    """A counted quantity, checked: a finite number ≥ 0."""
    value = float(counted_qty)
    if not np.isfinite(value) or value < 0:
        raise ScanRefused(f"the counted quantity must be 0 or more, not {counted_qty!r}")
    return value


# --- cost -------------------------------------------------------------------------------------------------------


def moving_average_cost(movements: pd.DataFrame) -> float | None:
    """The current moving-average unit cost of one item-location's ledger (product_id, ts, qty, unit_cost, in any
    order): ending value / ending qty of ``analytics.valuation.moving_average_valuation``. None when it holds no
    stock, or when the ledger cannot be valued (a receipt without a cost)."""
    if movements.empty:
        return None
    try:
        summary = moving_average_valuation(movements[["product_id", "ts", "qty", "unit_cost"]], allow_negative=True)
    except ValueError:
        return None
    qty, value = float(summary["ending_qty"].sum()), float(summary["ending_value"].sum())
    if qty <= EPS or not np.isfinite(value) or value < 0:
        return None
    return value / qty


def issue_cost(average: float | None, standard: float | None) -> float | None:
    """The unit cost of an issue or a count difference: the moving average when known, else the standard cost."""
    for value in (average, standard):
        if value is not None and not pd.isna(value):
            return round(float(value), 6)
    return None


# --- pick list and route ----------------------------------------------------------------------------------------


def pick_list(
    lines: pd.DataFrame,
    stock: pd.Series,
    as_of: dt.date,
    *,
    priority: Sequence[str] = promising.DEFAULT_PRIORITY,
    tier_order: Sequence[str] = promising.TIER_ORDER,
) -> pd.DataFrame:
    """The pick list of one location's open lines (``PICK_LINES``) with ``stock`` (on hand per product_id at that
    location), prioritised and routed (rules in the module docstring).

    Adds qty_open, backorder (requested_date < as_of), days_late, pick_rank (1 = served first), on_hand,
    qty_to_pick, pick_state ('full', 'part', 'no stock'), route_stop (1, 2… per SKU on the route; <NA> without
    stock) and route_seq (1… in walk order; <NA> without stock). Sorted by route_seq, then the lines without
    stock by pick_rank.
    """
    missing = [c for c in PICK_LINES if c not in lines.columns]
    if missing:
        raise ValueError(f"the pick list needs the column(s) {missing}")
    day = pd.Timestamp(as_of).normalize()
    d = lines.copy()
    d["qty_open"] = (d["qty_ordered"] - d["qty_shipped"] - d["qty_cancelled"]).astype(float)
    d = d[d["qty_open"] > EPS].reset_index(drop=True)
    requested = pd.to_datetime(d["requested_date"]).astype("datetime64[ns]")
    d["backorder"] = (requested < day).to_numpy()
    d["days_late"] = (day - requested).dt.days.clip(lower=0).astype("int64")
    d["priority"] = pd.to_numeric(d["priority"]).fillna(0).astype("int64")
    keys = promising._sort_keys(d, promising.check_priority(priority), tier_order)
    # np.lexsort sorts by its last key first: backorders, then the priority keys in order
    order = np.lexsort([*reversed(keys), (~d["backorder"]).to_numpy().astype(np.int64)]) if len(d) else []
    d = d.iloc[order].reset_index(drop=True)
    d["pick_rank"] = np.arange(1, len(d) + 1)
    held = pd.to_numeric(stock, errors="coerce").groupby(level=0).sum() if len(stock) else pd.Series(dtype=float)
    d["on_hand"] = d["product_id"].map(held).fillna(0.0).astype(float)
    before = d.groupby("product_id")["qty_open"].cumsum() - d["qty_open"]
    d["qty_to_pick"] = np.clip(d["on_hand"].clip(lower=0) - before, 0.0, d["qty_open"]).round(9)
    d["pick_state"] = np.where(d["qty_to_pick"] >= d["qty_open"] - EPS, "full",
                               np.where(d["qty_to_pick"] > EPS, "part", "no stock"))
    pickable = d["qty_to_pick"] > EPS
    stops = pd.Series(pd.NA, index=d.index, dtype="Int64")
    stops[pickable] = d.loc[pickable, "sku"].astype(str).rank(method="dense").astype("int64")
    d["route_stop"] = stops
    walk = d[pickable].sort_values(["route_stop", "pick_rank"], kind="stable")
    seq = pd.Series(pd.NA, index=d.index, dtype="Int64")
    seq[walk.index] = np.arange(1, len(walk) + 1)
    d["route_seq"] = seq
    rest = d[~pickable].sort_values("pick_rank", kind="stable")
    return pd.concat([d.loc[walk.index], rest]).reset_index(drop=True)


def pick_summary(picks: pd.DataFrame) -> dict[str, float]:
    """Headline numbers of a pick list: lines, backorder lines, lines with stock, units to pick, route stops."""
    return {
        "lines": int(len(picks)),
        "backorder_lines": int(picks["backorder"].sum()) if len(picks) else 0,
        "pickable_lines": int((picks["qty_to_pick"] > EPS).sum()) if len(picks) else 0,
        "units_to_pick": float(picks["qty_to_pick"].sum()) if len(picks) else 0.0,
        "stops": int(picks["route_stop"].nunique()) if len(picks) else 0,
    }


# --- reconciliation ---------------------------------------------------------------------------------------------


def count_discrepancies(counts: pd.DataFrame) -> pd.DataFrame:
    """Counts (``COUNTS``) with diff_units = counted_qty − system_qty, diff_value = diff_units × unit_cost (NaN
    without a cost) and accurate (|diff_units| ≤ 1e-9); discrepancies first (largest absolute value), then newest."""
    missing = [c for c in COUNTS if c not in counts.columns]
    if missing:
        raise ValueError(f"the count reconciliation needs the column(s) {missing}")
    d = counts.copy()
    d["diff_units"] = (d["counted_qty"].astype(float) - d["system_qty"].astype(float)).round(9)
    d["diff_value"] = d["diff_units"] * pd.to_numeric(d["unit_cost"]).astype(float)
    d["accurate"] = d["diff_units"].abs() <= EPS
    d["_abs"] = d["diff_value"].abs().fillna(d["diff_units"].abs())
    d = d.sort_values(["accurate", "_abs", "count_date", "count_no"], ascending=[True, False, False, False],
                      kind="stable")
    return d.drop(columns="_abs").reset_index(drop=True)


def counts_by_location(discrepancies: pd.DataFrame) -> pd.DataFrame:
    """Per location (of :func:`count_discrepancies`): counts, accurate counts, accuracy = accurate / counts,
    net_units = Σ diff_units, abs_units = Σ |diff_units|, net_value = Σ diff_value and abs_value = Σ |diff_value|
    (counts without a cost add no value)."""
    columns = ["location", "counts", "accurate", "accuracy", "net_units", "abs_units", "net_value", "abs_value"]
    if discrepancies.empty:
        return pd.DataFrame(columns=columns)
    d = discrepancies.assign(abs_units=discrepancies["diff_units"].abs(),
                             abs_value=discrepancies["diff_value"].abs())
    out = d.groupby("location", as_index=False).agg(
        counts=("count_no", "size"), accurate=("accurate", "sum"), net_units=("diff_units", "sum"),
        abs_units=("abs_units", "sum"), net_value=("diff_value", "sum"), abs_value=("abs_value", "sum"))
    out["accurate"] = out["accurate"].astype("int64")
    out["accuracy"] = out["accurate"] / out["counts"]
    return out[columns].sort_values("location").reset_index(drop=True)


def ledger_mismatches(frame: pd.DataFrame) -> pd.DataFrame:
    """Item-locations whose ledger on hand and snapshot on hand differ (ledger_qty, snapshot_qty, unit_cost): adds
    diff_units = ledger − snapshot and diff_value = diff_units × unit_cost; largest absolute difference first."""
    d = frame.copy()
    d["diff_units"] = (d["ledger_qty"].astype(float) - d["snapshot_qty"].astype(float)).round(9)
    d["diff_value"] = d["diff_units"] * pd.to_numeric(d["unit_cost"]).astype(float)
    d = d[d["diff_units"].abs() > 1e-6]
    return d.reindex(d["diff_units"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)
