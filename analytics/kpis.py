"""Operational KPIs as pure, vectorised functions on frames (see ../shared/DESIGN.md, metric definitions).

Inputs are frames the data layer builds; each has a contract constant below (``ORDER_LINES``,
``SHIPMENT_LINES``, ...) naming its columns, after the reporting schema (``data_access/schema.py``).
A function checks only the columns it uses (its docstring says which) and raises ``ValueError``
naming the missing ones. Dates may be ``datetime64`` columns, ``datetime.date`` objects or ISO text.

Grouping, the same for every KPI
--------------------------------
Every function takes ``by`` (columns of its input frame, e.g. ``category``, ``segment``, ``product_id``,
``sku``, ``location_id``, ``supplier_id``, ``unique_id``) and ``freq`` (``"D"``, ``"W"``, ``"M"``, ``"Q"``,
``"Y"`` or ``None``). With ``freq`` the rows are bucketed by the KPI's natural date (its docstring names it)
into a ``period`` column holding the first day of the bucket: weeks start on Monday (ISO), months, quarters
and years are calendar ones. The result has one row per group (``by`` columns, then ``period``), sorted;
without ``by`` and ``freq`` it has exactly one row, even for an empty input. Missing key values (NaN) form
a group of their own, so summing a numerator or a denominator over the groups gives the ungrouped one.

Each result carries the numerator and the denominator next to the rate, so that a rate is re-aggregated
correctly (sum the numerators and the denominators, then divide) and shown with its counts. A rate whose
denominator is 0 is NaN, never invented; so is a money figure when a cost it needs is missing.
The grouping lives in one place: ``_group_keys`` builds the ``by`` and ``period`` keys, ``_aggregate`` sums per
group (every rate here), ``_summarise`` gives a duration distribution per group (cycle and lead times);
``analytics.backorders`` groups through the same ``_aggregate``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

# --- input contracts ----------------------------------------------------------------------------------------------

#: Keys the data layer joins on for grouping (any column of an input frame may be grouped by):
#: ``product_id``, ``sku`` and ``category`` (dim_product), ``location_id``, ``customer_id``, ``segment``
#: (dim_customer), ``supplier_id``, ``channel``.
DIMENSIONS = ("product_id", "sku", "category", "location_id", "customer_id", "segment", "supplier_id", "channel")

#: One row per sales order line (fact_sales_order_line joined with dim_product.category, sku, unit_cost and
#: dim_customer.segment), with the state *as of* the ``as_of`` date the KPI is asked for:
#: ``qty_shipped`` = Σ fact_shipment.qty of the line with ship_date ≤ as_of; ``qty_cancelled`` = the line's
#: qty_cancelled when cancelled_date ≤ as_of (or cancelled_date is null), else 0;
#: ``shipped_by_requested_qty`` = Σ fact_shipment.qty with ship_date ≤ requested_date;
#: ``last_ship_date`` = max ship_date of the line's shipments up to as_of (NaT without one);
#: ``last_delivery_date`` = max delivered_date of those shipments, NaT unless every one of them is delivered
#: (needed only for ``basis="delivery"``); ``unit_cost`` (dim_product) only for ``analytics.backorders``;
#: ``expediting_cost`` (money spent expediting the line) is optional, for ``analytics.backorders``.
ORDER_LINES = (
    "order_no", "line_no", "product_id", "location_id", "customer_id", "order_date", "requested_date",
    "promised_date", "qty_ordered", "qty_shipped", "qty_cancelled", "cancelled_date", "unit_price", "discount",
    "status", "shipped_by_requested_qty", "last_ship_date", "last_delivery_date", "unit_cost",
)

#: One row per shipment (fact_shipment joined with its sales order line, dim_product and dim_customer):
#: ``qty`` shipped on ``ship_date``, the line's ``unit_price`` and ``discount``; cost either ``cogs`` (money,
#: the cost recorded for this row, e.g. from the ledger issue) or ``unit_cost`` (per unit, e.g. dim_product).
SHIPMENT_LINES = ("ship_date", "product_id", "location_id", "qty", "unit_price", "discount", "unit_cost")

#: One row per product, location and day (fact_inventory_snapshot): ``on_hand`` at the end of ``snapshot_date``
#: valued at ``unit_cost``. Every day of the window should be present (the snapshot is daily).
SNAPSHOTS = ("snapshot_date", "product_id", "location_id", "on_hand", "unit_cost")

#: Cost of goods sold, preferably pre-aggregated in the database per day, product and location:
#: ``date`` of the issue and ``cogs`` (money), e.g. Σ −qty × unit_cost of ledger movements of kind 'shipment'.
COGS = ("date", "product_id", "location_id", "cogs")

#: One row per product, location and day (dense: days without demand too): ``demand_qty`` = units ordered that day
#: (Σ qty_ordered of sales lines by order_date), ``on_hand`` = the OPENING on-hand of the day (the previous day's
#: closing snapshot); ``unit_price`` (optional) values the unmet demand.
DAILY_STOCK = ("date", "product_id", "location_id", "demand_qty", "on_hand", "unit_price")

#: One row per purchase order line (fact_purchase_order_line): ``received_date`` is the day the line was received
#: (null while nothing is); ``expected_date`` the supplier's promised receipt day.
PO_LINES = ("po_no", "line_no", "supplier_id", "product_id", "location_id", "order_date", "expected_date",
            "received_date", "qty_ordered", "qty_received", "status")

#: One row per cycle count (fact_cycle_count).
CYCLE_COUNTS = ("count_no", "count_date", "product_id", "location_id", "system_qty", "counted_qty")

#: One row per production order (fact_production_order).
PRODUCTION_ORDERS = ("mo_no", "product_id", "location_id", "start_date", "due_date", "finished_date", "qty_planned",
                     "qty_produced", "status")

#: Demand per product and day that production serves (e.g. Σ qty_ordered by order_date, or shipped units).
DEMAND = ("date", "product_id", "demand_qty")

#: One row per series and forecast period in the evaluation window: actual ``y`` and forecast ``yhat``;
#: ``unique_id`` names the series (e.g. "product_id@location_id").
FORECASTS = ("unique_id", "ds", "y", "yhat")

#: The in-sample history of each series (strictly before its evaluation window), one row per period with no gaps
#: (periods without demand as 0): it scales MASE and RMSSE.
HISTORY = ("unique_id", "ds", "y")

#: Period codes accepted by ``freq`` and the pandas period each one buckets by.
FREQS: dict[str, str] = {"D": "D", "W": "W-SUN", "M": "M", "Q": "Q-DEC", "Y": "Y-DEC"}
#: Name of the bucket column (first day of the period).
PERIOD = "period"
#: Default upper bounds (days past the requested date, inclusive) of the backorder ageing buckets.
AGEING_BINS = (7, 14, 30, 60)
#: Quantities closer than this are equal.
EPS = 1e-9

DateLike = dt.date | dt.datetime | str | pd.Timestamp | np.datetime64
Freq = Literal["D", "W", "M", "Q", "Y"] | None

# --- shared grouping logic --------------------------------------------------------------------------------------


def _require(
    frame: pd.DataFrame,
    columns: Collection[str],
    contract: str,
    by: Sequence[str] | str = (),
    optional: Collection[str] = (),
) -> pd.DataFrame:
    """The frame narrowed to the ``columns`` of ``contract`` it must have, the ``by`` columns and the ``optional``
    ones it has; ValueError naming any missing one (narrowing first keeps masks and copies cheap)."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"{contract} frame lacks column(s) {missing} (see analytics.kpis.{contract})")
    unknown = [c for c in _keys(by) if c not in frame.columns]
    if unknown:
        raise ValueError(f"cannot group by {unknown}: not columns of the {contract} frame")
    kept = [*columns, *_keys(by), *(c for c in optional if c in frame.columns)]
    return frame[list(dict.fromkeys(kept))]


def _timestamp(value: DateLike) -> pd.Timestamp:
    """A date-like value as a Timestamp; a missing one is an error."""
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError("as_of must be a date")
    return ts


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as datetime64 (NaT where missing)."""
    values = frame[column]
    return values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)


def _keys(by: Sequence[str] | str) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def _group_keys(frame: pd.DataFrame, by: Sequence[str] | str, freq: Freq, date: pd.Series | None) -> pd.DataFrame:
    """Grouping columns: the ``by`` columns of ``frame``, then ``period`` = start of the ``freq`` bucket of ``date``."""
    names = _keys(by)
    if freq is not None and PERIOD in names:
        raise ValueError(f"'{PERIOD}' is the bucket column; group by freq instead")
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot group by {missing}: not columns of the input frame")
    keys = frame[names]
    if freq is None:
        return keys
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {sorted(FREQS)} or None, not {freq!r}")
    if date is None:
        raise ValueError("freq needs a date column")
    return keys.assign(**{PERIOD: date.dt.to_period(FREQS[freq]).dt.start_time})


def _aggregate(
    frame: pd.DataFrame,
    values: Mapping[str, pd.Series | np.ndarray | float],
    by: Sequence[str] | str = (),
    freq: Freq = None,
    date: pd.Series | None = None,
    strict: Collection[str] = (),
) -> pd.DataFrame:
    """Σ of each of ``values`` (aligned with ``frame``) per group of ``by`` columns and ``freq`` bucket of ``date``.

    The one grouping helper of the KPIs: one row per group, sorted, NaN keys kept as a group; without keys one
    row (zeros for an empty frame). A column named in ``strict`` is NaN in a group where any of its values is
    NaN (a sum with an unknown term is unknown); the others skip NaN.
    """
    keys = _group_keys(frame, by, freq, date)
    data = pd.DataFrame(
        {name: (v.to_numpy() if isinstance(v, pd.Series) else v) for name, v in values.items()}, index=frame.index
    )
    for name in strict:
        data[f"__missing_{name}"] = data[name].isna()
    names = list(keys.columns)
    if names:
        clash = set(names) & set(data.columns)
        if clash:
            raise ValueError(f"cannot group by {sorted(clash)}: also an output column")
        result = (
            pd.concat([keys, data], axis=1)
            .groupby(names, sort=True, **_keep_missing(keys))[list(data.columns)]
            .sum()
            .reset_index()
        )
    else:
        result = pd.DataFrame({name: [data[name].sum()] for name in data.columns})
    for name in strict:
        missing = result.pop(f"__missing_{name}")
        result[name] = result[name].where(missing == 0)
    return result


def _summarise(
    frame: pd.DataFrame, values: pd.Series, count: str, by: Sequence[str] | str, freq: Freq, date: pd.Series | None
) -> pd.DataFrame:
    """Distribution of ``values`` (days) per group: ``count``, total, mean, median, sample std and p90 (NaN skipped)."""
    keys = _group_keys(frame, by, freq, date)
    known = values.notna().to_numpy()
    keys, values = keys[known], values[known].astype(float)
    stats = ["count", "sum", "mean", "median", "std"]
    names = list(keys.columns)
    if names:
        grouped = values.groupby([keys[c] for c in names], sort=True, **_keep_missing(keys))
        result = grouped.agg(stats)
        result["p90"] = grouped.quantile(0.9)
        result = result.reset_index()
    else:
        result = pd.DataFrame({**{s: [values.agg(s)] for s in stats}, "p90": [values.quantile(0.9)]})
    return result.rename(columns={"count": count, "sum": "total_days", "mean": "mean_days", "median": "median_days",
                                  "std": "std_days", "p90": "p90_days"})


def _keep_missing(keys: pd.DataFrame) -> dict[str, bool]:
    """groupby options keeping NaN keys as a group (dropna=False is ~3× slower, so only when there are NaN keys)."""
    return {"dropna": not bool(keys.isna().to_numpy().any()), "observed": True}


def _group_names(by: Sequence[str] | str, freq: Freq) -> list[str]:
    return _keys(by) + ([PERIOD] if freq is not None else [])


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN where the denominator is 0 or missing."""
    return numerator / denominator.where(denominator != 0)


def backorder_rate_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """The rates of :func:`backorder_rate` from its counts, when a database summed them (same definitions).

    ``counts`` has group columns and lines_due, lines_backordered, units_due, units_short; adds
    backorder_rate = lines_backordered / lines_due, unit_backorder_rate = units_short / units_due and
    unit_fill_rate = 1 − unit_backorder_rate (Σ min(shipped by requested, ordered) / Σ ordered).
    """
    result = counts.copy()
    result["backorder_rate"] = _rate(result["lines_backordered"], result["lines_due"])
    result["unit_backorder_rate"] = _rate(result["units_short"], result["units_due"])
    result["unit_fill_rate"] = 1 - result["unit_backorder_rate"]
    return result


def _combine(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sums of two levels (e.g. lines and orders) side by side on the group keys; a group absent from one has 0."""
    if not keys:
        return pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], axis=1)
    # an empty or all-NaN side may carry a key with another dtype (float for object): align them first
    differ = [k for k in keys if left[k].dtype != right[k].dtype]
    if differ:
        left = left.astype(dict.fromkeys(differ, object))
        right = right.astype(dict.fromkeys(differ, object))
    merged = left.merge(right, on=keys, how="outer", sort=True)
    for part in (left, right):
        for column in part.columns.difference(keys):
            merged[column] = merged[column].fillna(0).astype(part[column].dtype)
    return merged


# --- order lines: common definitions ----------------------------------------------------------------------------


def _open_qty(lines: pd.DataFrame) -> pd.Series:
    """Quantity still to ship at as_of = qty_ordered − qty_shipped − qty_cancelled (never below 0)."""
    return (lines["qty_ordered"] - lines["qty_shipped"] - lines["qty_cancelled"]).clip(lower=0)


def _net_price(lines: pd.DataFrame) -> pd.Series:
    """Net unit price = unit_price × (1 − discount)."""
    return lines["unit_price"] * (1 - lines["discount"])


def _filled_units(lines: pd.DataFrame) -> pd.Series:
    """Units shipped by the requested date, capped at the quantity ordered (an over-shipment fills no more)."""
    return lines["shipped_by_requested_qty"].clip(lower=0).clip(upper=lines["qty_ordered"])


def _backorder_cancellations(lines: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """(qty cancelled because of a backorder, date of the cancellation) per line.

    A cancellation is a backorder's when the line was short at its requested date (shipped_by_requested_qty <
    qty_ordered) and it was cancelled on or after the requested date; a null ``cancelled_date`` counts as the
    requested date. Cancellations after ``as_of`` are not counted.
    """
    requested = _dates(lines, "requested_date")
    cancelled_on = _dates(lines, "cancelled_date").fillna(requested)
    short = lines["shipped_by_requested_qty"] < lines["qty_ordered"] - EPS
    counted = short & (cancelled_on >= requested) & (cancelled_on <= as_of) & (lines["qty_cancelled"] > EPS)
    return lines["qty_cancelled"].where(counted, 0.0), cancelled_on


# --- inventory value, turnover, days on hand --------------------------------------------------------------------


def _snapshot_value(snapshots: pd.DataFrame) -> pd.Series:
    """on_hand × unit_cost per row; 0 when nothing is on hand, NaN when stock has no cost."""
    return (snapshots["on_hand"] * snapshots["unit_cost"]).where(snapshots["on_hand"] != 0, 0.0)


def _snapshot_days(snapshots: pd.DataFrame, dates: pd.Series, freq: Freq) -> pd.DataFrame:
    """Distinct snapshot dates per ``freq`` bucket over the whole frame (the days an average is taken over)."""
    first = ~dates.duplicated()
    return _aggregate(snapshots, {"snapshot_days": first.astype(np.int64)}, (), freq, dates)


def inventory_value(snapshots: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None) -> pd.DataFrame:
    """Average inventory value over the days of each period, from daily snapshots (``SNAPSHOTS``).

    Uses snapshot_date, on_hand, unit_cost. Bucketed by ``snapshot_date``.
    value of a row = on_hand × unit_cost (NaN if stock has no cost: the group's value is then NaN);
    average_inventory_value = Σ value over the group's rows / snapshot_days, where snapshot_days = distinct
    snapshot dates in the period over the whole frame (not per group), so the averages of the groups add up
    to the total average. Also average_on_hand = Σ on_hand / snapshot_days.
    Returns: groups, snapshot_days, inventory_value_sum, average_inventory_value, on_hand_sum, average_on_hand.
    """
    snapshots = _require(snapshots, ("snapshot_date", "on_hand", "unit_cost"), "SNAPSHOTS", by)
    dates = _dates(snapshots, "snapshot_date")
    result = _aggregate(
        snapshots, {"inventory_value_sum": _snapshot_value(snapshots), "on_hand_sum": snapshots["on_hand"]},
        by, freq, dates, strict=("inventory_value_sum",),
    )
    result = _with_days(result, _snapshot_days(snapshots, dates, freq), freq)
    result["average_inventory_value"] = _rate(result["inventory_value_sum"], result["snapshot_days"])
    result["average_on_hand"] = _rate(result["on_hand_sum"], result["snapshot_days"])
    return result[[*_group_names(by, freq), "snapshot_days", "inventory_value_sum", "average_inventory_value",
                   "on_hand_sum", "average_on_hand"]]


def _with_days(result: pd.DataFrame, days: pd.DataFrame, freq: Freq) -> pd.DataFrame:
    if freq is None:
        return result.assign(snapshot_days=int(days["snapshot_days"].iloc[0]))
    return result.merge(days, on=PERIOD, how="left").fillna({"snapshot_days": 0})


def inventory_turnover(
    cogs: pd.DataFrame, snapshots: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None
) -> pd.DataFrame:
    """Inventory turnover and days on hand per group and period (``COGS`` and ``SNAPSHOTS`` over the same days).

    Uses cogs[date, cogs] and snapshots[snapshot_date, on_hand, unit_cost]; ``by`` columns must be in both (so
    not segment). COGS is bucketed by ``date``, inventory by ``snapshot_date``; days = snapshot days of the period.
    turnover = COGS of the period / average inventory value over the period;
    annualised_turnover = turnover × 365 / days;
    days_on_hand = average inventory value / (COGS / days) = average inventory value × days / COGS.
    A group with no snapshot row in a period that has snapshots holds no stock (average value 0); a COGS row
    without cost makes the group's COGS NaN. turnover is NaN when the average inventory value is 0, days_on_hand
    NaN when COGS is 0 (never infinity).
    Returns: groups, snapshot_days, cogs, average_inventory_value, turnover, annualised_turnover, days_on_hand.
    """
    cogs = _require(cogs, ("date", "cogs"), "COGS", by)
    snapshots = _require(snapshots, ("snapshot_date", "on_hand", "unit_cost"), "SNAPSHOTS", by)
    keys = _group_names(by, freq)
    spent = _aggregate(cogs, {"cogs": cogs["cogs"]}, by, freq, _dates(cogs, "date"), strict=("cogs",))
    dates = _dates(snapshots, "snapshot_date")
    held = _aggregate(snapshots, {"inventory_value_sum": _snapshot_value(snapshots)}, by, freq, dates,
                      strict=("inventory_value_sum",))
    if keys:
        merged = spent.merge(held, on=keys, how="outer", sort=True, indicator=True)
        merged["cogs"] = merged["cogs"].where(merged["_merge"] != "right_only", 0.0)
        merged["inventory_value_sum"] = merged["inventory_value_sum"].where(merged["_merge"] != "left_only", 0.0)
        merged = merged.drop(columns="_merge")
    else:
        merged = pd.concat([spent, held], axis=1)
    merged = _with_days(merged, _snapshot_days(snapshots, dates, freq), freq)
    days = merged["snapshot_days"]
    merged["average_inventory_value"] = _rate(merged["inventory_value_sum"], days)
    merged["turnover"] = _rate(merged["cogs"], merged["average_inventory_value"])
    merged["annualised_turnover"] = merged["turnover"] * 365 / days.where(days > 0)
    merged["days_on_hand"] = _rate(merged["average_inventory_value"] * days, merged["cogs"])
    return merged[[*keys, "snapshot_days", "cogs", "average_inventory_value", "turnover", "annualised_turnover",
                   "days_on_hand"]]


# --- fill rate, backorders, lost sales ---------------------------------------------------------------------------


def fill_rate(lines: pd.DataFrame, as_of: DateLike, *, by: Sequence[str] | str = (), freq: Freq = None) -> pd.DataFrame:
    """Unit, line and order fill rates of the order lines due by ``as_of`` (``ORDER_LINES``).

    Uses order_no, requested_date, qty_ordered, shipped_by_requested_qty. A line is due when requested_date ≤
    as_of; it is filled when shipped_by_requested_qty ≥ qty_ordered. Lines bucketed by ``requested_date``.
    unit_fill_rate = Σ min(shipped_by_requested_qty, qty_ordered) / Σ qty_ordered, over due lines;
    line_fill_rate = due lines filled / due lines;
    order_fill_rate = orders with every line filled / orders, counting an order (its lines within the group)
    once all its lines are due, bucketed by its latest requested date. Order counts do not add up over
    groupings that split orders (product, category); unit and line counts always do.
    Returns: groups, units_due, units_filled, unit_fill_rate, lines_due, lines_filled, line_fill_rate,
    orders_due, orders_filled, order_fill_rate.
    """
    lines = _require(lines, ("order_no", "requested_date", "qty_ordered", "shipped_by_requested_qty"), "ORDER_LINES",
                     by)
    as_of = _timestamp(as_of)
    requested = _dates(lines, "requested_date")
    filled = lines["shipped_by_requested_qty"] >= lines["qty_ordered"] - EPS
    due = (requested <= as_of).to_numpy()
    d = lines[due]
    level_lines = _aggregate(
        d, {"units_due": d["qty_ordered"], "units_filled": _filled_units(d), "lines_due": np.ones(len(d), np.int64),
            "lines_filled": filled[due].astype(np.int64)},
        by, freq, requested[due],
    )
    per_line = lines[_keys(by)].assign(order_no=lines["order_no"], requested=requested, filled=filled)
    orders = (
        per_line.groupby([*_keys(by), "order_no"], sort=False, **_keep_missing(per_line[[*_keys(by), "order_no"]]))
        .agg(requested=("requested", "max"), filled=("filled", "min"))
        .reset_index()
    )
    orders = orders[(orders["requested"] <= as_of).to_numpy()]
    level_orders = _aggregate(
        orders, {"orders_due": np.ones(len(orders), np.int64), "orders_filled": orders["filled"].astype(np.int64)},
        by, freq, orders["requested"],
    )
    keys = _group_names(by, freq)
    result = _combine(level_lines, level_orders, keys)
    result["unit_fill_rate"] = _rate(result["units_filled"], result["units_due"])
    result["line_fill_rate"] = _rate(result["lines_filled"], result["lines_due"])
    result["order_fill_rate"] = _rate(result["orders_filled"], result["orders_due"])
    return result[[*keys, "units_due", "units_filled", "unit_fill_rate", "lines_due", "lines_filled",
                   "line_fill_rate", "orders_due", "orders_filled", "order_fill_rate"]]


def backorder_rate(
    lines: pd.DataFrame, as_of: DateLike, *, by: Sequence[str] | str = (), freq: Freq = None
) -> pd.DataFrame:
    """Share of due order lines not shipped in full by their requested date (``ORDER_LINES``).

    Uses requested_date, qty_ordered, shipped_by_requested_qty. Due: requested_date ≤ as_of. Bucketed by
    ``requested_date``.
    backorder_rate = lines with shipped_by_requested_qty < qty_ordered / due lines (= 1 − line fill rate);
    units_short = Σ (qty_ordered − min(shipped_by_requested_qty, qty_ordered)), the units missing at the
    requested date; unit_backorder_rate = units_short / units_due.
    Returns: groups, lines_due, lines_backordered, backorder_rate, units_due, units_short, unit_backorder_rate.
    """
    lines = _require(lines, ("requested_date", "qty_ordered", "shipped_by_requested_qty"), "ORDER_LINES", by)
    as_of = _timestamp(as_of)
    requested = _dates(lines, "requested_date")
    due = (requested <= as_of).to_numpy()
    d = lines[due]
    short = d["qty_ordered"] - _filled_units(d)
    result = _aggregate(
        d, {"lines_due": np.ones(len(d), np.int64),
            "lines_backordered": (d["shipped_by_requested_qty"] < d["qty_ordered"] - EPS).astype(np.int64),
            "units_due": d["qty_ordered"], "units_short": short},
        by, freq, requested[due],
    )
    result["backorder_rate"] = _rate(result["lines_backordered"], result["lines_due"])
    result["unit_backorder_rate"] = _rate(result["units_short"], result["units_due"])
    return result[[*_group_names(by, freq), "lines_due", "lines_backordered", "backorder_rate", "units_due",
                   "units_short", "unit_backorder_rate"]]


def _ageing_labels(bins: Sequence[int]) -> list[str]:
    edges = [int(b) for b in bins]
    if not edges or edges[0] < 0 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError("bins must be increasing non-negative day counts, e.g. (7, 14, 30, 60)")
    lows = [0, *(b + 1 for b in edges[:-1])]
    return [f"{lo}-{hi}" for lo, hi in zip(lows, edges, strict=True)] + [f">{edges[-1]}"]


def backorder_ageing(
    lines: pd.DataFrame,
    as_of: DateLike,
    *,
    by: Sequence[str] | str = (),
    freq: Freq = None,
    bins: Sequence[int] = AGEING_BINS,
) -> pd.DataFrame:
    """Open backordered lines at ``as_of`` by days past their requested date (``ORDER_LINES``).

    Uses requested_date, qty_ordered, qty_shipped, qty_cancelled (both as of as_of), unit_price, discount.
    A line is an open backorder when requested_date ≤ as_of and open qty = qty_ordered − qty_shipped −
    qty_cancelled > 0; its age = (as_of − requested_date) in days, bucketed by ``bins`` (inclusive upper
    bounds: (7, 14, 30, 60) gives "0-7", "8-14", "15-30", "31-60", ">60"). With ``freq``, bucketed by
    ``requested_date``. ``status`` is not read: a line closed short must carry its remainder as qty_cancelled.
    lines = count; units = Σ open qty; value = Σ open qty × unit_price × (1 − discount).
    Returns: groups, age_bucket (ordered categorical; every bucket for every group, zeros included), lines,
    units, value.
    """
    lines = _require(lines, ("requested_date", "qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "discount"),
                     "ORDER_LINES", by)
    as_of = _timestamp(as_of)
    labels = _ageing_labels(bins)
    requested = _dates(lines, "requested_date")
    open_qty = _open_qty(lines)
    late = ((requested <= as_of) & (open_qty > EPS)).to_numpy()
    d = lines.loc[late, _keys(by)]
    age = (as_of - requested[late]).dt.days
    edges = [-1, *(int(b) for b in bins), np.inf]
    d = d.assign(age_bucket=pd.cut(age, edges, labels=labels, right=True))
    result = _aggregate(
        d, {"lines": np.ones(len(d), np.int64), "units": open_qty[late],
            "value": open_qty[late] * _net_price(lines[late])},
        [*_keys(by), "age_bucket"], freq, requested[late],
    )
    keys = _group_names(by, freq)
    buckets = pd.DataFrame({"age_bucket": pd.Categorical(labels, categories=labels, ordered=True)})
    groups = result[keys].drop_duplicates() if keys else pd.DataFrame(index=[0])
    full = groups.merge(buckets, how="cross")
    result = full.merge(result, on=[*keys, "age_bucket"], how="left").fillna({"lines": 0, "units": 0.0, "value": 0.0})
    result["lines"] = result["lines"].astype(np.int64)
    return result.sort_values([*keys, "age_bucket"], kind="stable").reset_index(drop=True)[
        [*keys, "age_bucket", "lines", "units", "value"]
    ]


def lost_sales(
    lines: pd.DataFrame, as_of: DateLike, *, by: Sequence[str] | str = (), freq: Freq = None
) -> pd.DataFrame:
    """Lost sales from cancelled backorders up to ``as_of`` (``ORDER_LINES``).

    Uses requested_date, cancelled_date, qty_ordered, qty_cancelled, shipped_by_requested_qty, unit_price,
    discount. A cancellation is a backorder's (a lost sale) when the line was short at its requested date and
    was cancelled on or after that date (null cancelled_date: taken as the requested date). Bucketed by the
    cancellation date.
    lost_units = Σ cancelled backorder qty; lost_revenue = Σ cancelled backorder qty × unit_price × (1 − discount).
    The other estimate, unmet demand on stockout days, is in ``stockout_rate``; do not add the two (a customer
    who backorders and then cancels would be counted twice).
    Returns: groups, lines_lost, lost_units, lost_revenue.
    """
    lines = _require(lines, ("requested_date", "cancelled_date", "qty_ordered", "qty_cancelled",
                             "shipped_by_requested_qty", "unit_price", "discount"), "ORDER_LINES", by)
    as_of = _timestamp(as_of)
    qty, cancelled_on = _backorder_cancellations(lines, as_of)
    lost = (qty > 0).to_numpy()
    d = lines[lost]
    return _aggregate(
        d, {"lines_lost": np.ones(len(d), np.int64), "lost_units": qty[lost],
            "lost_revenue": qty[lost] * _net_price(d)},
        by, freq, cancelled_on[lost],
    )


def stockout_rate(daily: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None) -> pd.DataFrame:
    """Stockout rate and unmet demand from daily product-location rows (``DAILY_STOCK``).

    Uses date, demand_qty, on_hand (the OPENING on-hand of the day: the previous day's closing snapshot, so that
    a day whose demand took the last unit is not a stockout), unit_price if present. Bucketed by ``date``.
    A stockout day has demand_qty > 0 and opening on_hand ≤ 0.
    stockout_rate = stockout days / product-location-days (rows; pass a dense grid);
    demand_stockout_rate = stockout days / days with demand;
    unmet_demand_qty = Σ demand_qty on stockout days; unmet_demand_value = Σ demand_qty × unit_price on those
    days (NaN without a unit_price column). This lost-sales estimate is an upper bound where customers wait
    (backorders later shipped are not lost) and ignores shortfalls on days that opened with some stock and
    receipts arriving during the day.
    Returns: groups, days, demand_days, stockout_days, stockout_rate, demand_stockout_rate, unmet_demand_qty,
    unmet_demand_value.
    """
    daily = _require(daily, ("date", "demand_qty", "on_hand"), "DAILY_STOCK", by, optional=("unit_price",))
    demand = daily["demand_qty"] > EPS
    out = demand & (daily["on_hand"] <= EPS)
    unmet = daily["demand_qty"].where(out, 0.0)
    price = daily["unit_price"] if "unit_price" in daily.columns else pd.Series(np.nan, index=daily.index)
    result = _aggregate(
        daily, {"days": np.ones(len(daily), np.int64), "demand_days": demand.astype(np.int64),
                "stockout_days": out.astype(np.int64), "unmet_demand_qty": unmet,
                "unmet_demand_value": (unmet * price).where(out, 0.0)},
        by, freq, _dates(daily, "date"), strict=("unmet_demand_value",),
    )
    if "unit_price" not in daily.columns:
        result["unmet_demand_value"] = np.nan
    result["stockout_rate"] = _rate(result["stockout_days"], result["days"])
    result["demand_stockout_rate"] = _rate(result["stockout_days"], result["demand_days"])
    return result[[*_group_names(by, freq), "days", "demand_days", "stockout_days", "stockout_rate",
                   "demand_stockout_rate", "unmet_demand_qty", "unmet_demand_value"]]


# --- delivery: on time, cycle time, picking ------------------------------------------------------------------------


def _completed_orders(
    lines: pd.DataFrame,
    as_of: pd.Timestamp,
    by: Sequence[str] | str,
    basis: Literal["ship", "delivery"],
    target: Literal["requested", "promised"],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(completed lines, orders) with completion date and on-time flag; orders per group (their lines in it).

    A line is complete when qty_shipped > 0 and nothing is open (qty_shipped + qty_cancelled ≥ qty_ordered) and
    its completion date (last ship date, or last delivery date for basis "delivery") is known and ≤ as_of.
    It is on time when completed ≤ target date (requested_date, or promised_date falling back to
    requested_date when null). Lines cancelled without any shipment are ignored. An order is complete when all
    its other lines are; on time when all are; its completion date is the latest of its lines', its order date
    the earliest.
    """
    if basis not in ("ship", "delivery"):
        raise ValueError("basis must be 'ship' or 'delivery'")
    if target not in ("requested", "promised"):
        raise ValueError("target must be 'requested' or 'promised'")
    done_column = "last_ship_date" if basis == "ship" else "last_delivery_date"
    needed = ["order_no", "order_date", "requested_date", "qty_ordered", "qty_shipped", "qty_cancelled", done_column]
    lines = _require(lines, needed + (["promised_date"] if target == "promised" else []), "ORDER_LINES", by)
    due_by = _dates(lines, "requested_date")
    if target == "promised":
        due_by = _dates(lines, "promised_date").fillna(due_by)
    done = _dates(lines, done_column)
    shipped = lines["qty_shipped"] > EPS
    open_ = _open_qty(lines) > EPS
    complete = shipped & ~open_ & done.notna() & (done <= as_of)
    frame = lines[_keys(by)].assign(
        order_no=lines["order_no"], order_date=_dates(lines, "order_date"), completed=done.where(complete),
        complete=complete, on_time=complete & (done <= due_by),
    )
    relevant = frame[(shipped | open_).to_numpy()]
    orders = (
        relevant.groupby([*_keys(by), "order_no"], sort=False, **_keep_missing(relevant[[*_keys(by), "order_no"]]))
        .agg(order_date=("order_date", "min"), completed=("completed", "max"), complete=("complete", "min"),
             on_time=("on_time", "min"))
        .reset_index()
    )
    return frame[complete.to_numpy()], orders[orders["complete"].to_numpy()]


def on_time_delivery(
    lines: pd.DataFrame,
    as_of: DateLike,
    *,
    by: Sequence[str] | str = (),
    freq: Freq = None,
    basis: Literal["ship", "delivery"] = "ship",
    target: Literal["requested", "promised"] = "requested",
) -> pd.DataFrame:
    """On-time delivery rate of lines and orders completed by ``as_of`` (``ORDER_LINES``).

    Uses order_no, order_date, requested_date (promised_date for target "promised"), qty_ordered, qty_shipped,
    qty_cancelled, last_ship_date (basis "ship") or last_delivery_date (basis "delivery").
    A line counts once shipped in full (nothing open; shipped, or delivered, by as_of); it is on time when its
    last shipment (delivery) is on or before its requested (promised; null promise → requested) date.
    line_on_time_rate = lines on time / lines shipped;
    order_on_time_rate = orders whose every line was on time / orders shipped in full (lines cancelled without
    shipment ignored), an order meaning its lines within the group.
    Bucketed by the completion date: the last ship (delivery) date of the line, the latest of them for an order.
    Returns: groups, lines_shipped, lines_on_time, line_on_time_rate, orders_shipped, orders_on_time,
    order_on_time_rate.
    """
    as_of = _timestamp(as_of)
    done_lines, orders = _completed_orders(lines, as_of, by, basis, target)
    level_lines = _aggregate(
        done_lines, {"lines_shipped": np.ones(len(done_lines), np.int64),
                     "lines_on_time": done_lines["on_time"].astype(np.int64)},
        by, freq, done_lines["completed"],
    )
    level_orders = _aggregate(
        orders, {"orders_shipped": np.ones(len(orders), np.int64),
                 "orders_on_time": orders["on_time"].astype(np.int64)},
        by, freq, orders["completed"],
    )
    keys = _group_names(by, freq)
    result = _combine(level_lines, level_orders, keys)
    result["line_on_time_rate"] = _rate(result["lines_on_time"], result["lines_shipped"])
    result["order_on_time_rate"] = _rate(result["orders_on_time"], result["orders_shipped"])
    return result[[*keys, "lines_shipped", "lines_on_time", "line_on_time_rate", "orders_shipped", "orders_on_time",
                   "order_on_time_rate"]]


def order_cycle_time(
    lines: pd.DataFrame,
    as_of: DateLike,
    *,
    by: Sequence[str] | str = (),
    freq: Freq = None,
    basis: Literal["ship", "delivery"] = "ship",
) -> pd.DataFrame:
    """Order cycle time in days, over orders shipped (delivered) in full by ``as_of`` (``ORDER_LINES``).

    Uses order_no, order_date, requested_date, qty_ordered, qty_shipped, qty_cancelled and last_ship_date
    (basis "ship": order to ship) or last_delivery_date (basis "delivery": order to delivery).
    cycle days of an order = latest last ship (delivery) date of its lines − earliest order date (an order
    meaning its lines within the group; complete as in ``on_time_delivery``). Bucketed by that completion date.
    mean_days = total_days / orders; median, sample std, p90 (linear interpolation) over the orders.
    Returns: groups, orders, total_days, mean_days, median_days, std_days, p90_days.
    """
    as_of = _timestamp(as_of)
    _, orders = _completed_orders(lines, as_of, by, basis, "requested")
    days = (orders["completed"] - orders["order_date"]).dt.days
    return _summarise(orders, days, "orders", by, freq, orders["completed"])


def picking_accuracy(
    lines: pd.DataFrame, as_of: DateLike, *, by: Sequence[str] | str = (), freq: Freq = None, tolerance: float = 0.0
) -> pd.DataFrame:
    """PROXY for picking accuracy: finished lines shipped with exactly the quantity due (``ORDER_LINES``).

    The schema records no picks (picked quantity and item per pick task), so a true picking accuracy (picks
    right first time / picks) cannot be computed. This proxy judges what reached the shipment records: a line
    is finished when its status is 'shipped' or 'closed', it shipped something, and its last shipment is on or
    before as_of; it is accurate when |qty_shipped − (qty_ordered − qty_cancelled)| ≤ tolerance, i.e. neither
    over-shipped nor closed short without a cancellation. It cannot see wrong items, nor picking errors
    corrected before shipment. Uses status, qty_ordered, qty_shipped, qty_cancelled, last_ship_date; bucketed by
    ``last_ship_date``.
    picking_accuracy = accurate finished lines / finished lines.
    Returns: groups, lines_finished, lines_accurate, picking_accuracy.
    """
    lines = _require(lines, ("status", "qty_ordered", "qty_shipped", "qty_cancelled", "last_ship_date"), "ORDER_LINES",
                     by)
    as_of = _timestamp(as_of)
    last = _dates(lines, "last_ship_date")
    finished = (lines["status"].isin(("shipped", "closed")) & (lines["qty_shipped"] > EPS) & (last <= as_of)).to_numpy()
    d = lines[finished]
    accurate = (d["qty_shipped"] - (d["qty_ordered"] - d["qty_cancelled"])).abs() <= tolerance + EPS
    result = _aggregate(d, {"lines_finished": np.ones(len(d), np.int64), "lines_accurate": accurate.astype(np.int64)},
                        by, freq, last[finished])
    result["picking_accuracy"] = _rate(result["lines_accurate"], result["lines_finished"])
    return result


# --- revenue and margin ----------------------------------------------------------------------------------------------


def revenue_margin(
    shipments: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None, as_of: DateLike | None = None
) -> pd.DataFrame:
    """Revenue, COGS and gross margin of shipped quantities (``SHIPMENT_LINES``), bucketed by ``ship_date``.

    Uses ship_date, qty, unit_price, discount and ``cogs`` (money per row) if present, else ``unit_cost``
    (per unit); with neither, or with a row whose cost is missing, the group's COGS and margin are NaN.
    Shipments after ``as_of`` (when given) are left out.
    revenue = Σ qty × unit_price × (1 − discount); cogs = Σ cogs (or Σ qty × unit_cost);
    gross_profit = revenue − cogs; gross_margin = gross_profit / revenue.
    Returns: groups, units_shipped, revenue, cogs, gross_profit, gross_margin.
    """
    shipments = _require(shipments, ("ship_date", "qty", "unit_price", "discount"), "SHIPMENT_LINES", by,
                         optional=("cogs", "unit_cost"))
    dates = _dates(shipments, "ship_date")
    if as_of is not None:
        kept = (dates <= _timestamp(as_of)).to_numpy()
        shipments, dates = shipments[kept], dates[kept]
    if "cogs" in shipments.columns:
        cost = shipments["cogs"]
    elif "unit_cost" in shipments.columns:
        cost = shipments["qty"] * shipments["unit_cost"]
    else:
        cost = pd.Series(np.nan, index=shipments.index)
    result = _aggregate(
        shipments, {"units_shipped": shipments["qty"], "revenue": shipments["qty"] * _net_price(shipments),
                    "cogs": cost},
        by, freq, dates, strict=("cogs",),
    )
    if "cogs" not in shipments.columns and "unit_cost" not in shipments.columns:
        result["cogs"] = np.nan
    result["gross_profit"] = result["revenue"] - result["cogs"]
    result["gross_margin"] = _rate(result["gross_profit"], result["revenue"])
    return result


# --- purchasing ---------------------------------------------------------------------------------------------------


def _received(po_lines: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    received = _dates(po_lines, "received_date")
    kept = (received.notna() & (po_lines["status"] != "cancelled")).to_numpy()
    return po_lines[kept], received[kept]


def purchase_lead_time(po_lines: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None) -> pd.DataFrame:
    """Purchasing lead time in days of received PO lines (``PO_LINES``), bucketed by ``received_date``.

    Uses order_date, received_date, status (cancelled lines ignored; lines without received_date are not yet
    received). lead time = received_date − order_date; mean_days = total_days / lines, sample std_days, median,
    p90 (linear interpolation). Group by ``supplier_id`` for a supplier's lead time.
    Returns: groups, lines_received, total_days, mean_days, median_days, std_days, p90_days.
    """
    po_lines = _require(po_lines, ("order_date", "received_date", "status"), "PO_LINES", by)
    received_lines, received = _received(po_lines)
    days = (received - _dates(received_lines, "order_date")).dt.days
    return _summarise(received_lines, days, "lines_received", by, freq, received)


def supplier_on_time(po_lines: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None) -> pd.DataFrame:
    """Supplier on-time rate of received PO lines (``PO_LINES``), bucketed by ``received_date``.

    Uses expected_date, received_date, status. Over received, not cancelled lines that have an expected_date
    (lines without one cannot be judged and are left out):
    supplier_on_time_rate = lines received on or before expected_date / lines received.
    Returns: groups, lines_received, lines_on_time, supplier_on_time_rate.
    """
    po_lines = _require(po_lines, ("expected_date", "received_date", "status"), "PO_LINES", by)
    received_lines, received = _received(po_lines)
    expected = _dates(received_lines, "expected_date")
    judged = expected.notna().to_numpy()
    d = received_lines[judged]
    result = _aggregate(
        d, {"lines_received": np.ones(len(d), np.int64),
            "lines_on_time": (received[judged] <= expected[judged]).astype(np.int64)},
        by, freq, received[judged],
    )
    result["supplier_on_time_rate"] = _rate(result["lines_on_time"], result["lines_received"])
    return result


# --- inventory accuracy -----------------------------------------------------------------------------------------------


def inventory_accuracy(
    counts: pd.DataFrame,
    *,
    by: Sequence[str] | str = (),
    freq: Freq = None,
    tolerance: float = 0.0,
    relative: bool = False,
) -> pd.DataFrame:
    """Inventory record accuracy from cycle counts (``CYCLE_COUNTS``), bucketed by ``count_date``.

    Uses count_date, system_qty, counted_qty. A count is accurate when |counted − system| ≤ tolerance
    (``relative=False``: units) or ≤ tolerance × |system| (``relative=True``: a share, e.g. 0.02).
    inventory_accuracy = accurate counts / counts;
    abs_difference_rate = Σ |counted − system| / Σ system_qty.
    Returns: groups, counts, counts_accurate, inventory_accuracy, abs_difference, system_qty, abs_difference_rate.
    """
    counts = _require(counts, ("count_date", "system_qty", "counted_qty"), "CYCLE_COUNTS", by)
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    diff = (counts["counted_qty"] - counts["system_qty"]).abs()
    allowed = tolerance * counts["system_qty"].abs() if relative else tolerance
    result = _aggregate(
        counts, {"counts": np.ones(len(counts), np.int64), "counts_accurate": (diff <= allowed + EPS).astype(np.int64),
                 "abs_difference": diff, "system_qty": counts["system_qty"]},
        by, freq, _dates(counts, "count_date"),
    )
    result["inventory_accuracy"] = _rate(result["counts_accurate"], result["counts"])
    result["abs_difference_rate"] = _rate(result["abs_difference"], result["system_qty"])
    return result[[*_group_names(by, freq), "counts", "counts_accurate", "inventory_accuracy", "abs_difference",
                   "system_qty", "abs_difference_rate"]]


# --- forecast accuracy ------------------------------------------------------------------------------------------------


def naive_scales(history: pd.DataFrame, season_length: int = 1, drop_leading_zeros: bool = False) -> pd.DataFrame:
    """In-sample errors of the seasonal naive forecast ŷ_t = y_{t−m} per series (``HISTORY``).

    scale_mae = 1/(n−m) Σ_{t=m+1..n} |y_t − y_{t−m}| (MASE's denominator, Hyndman & Koehler 2006);
    scale_mse = 1/(n−m) Σ_{t=m+1..n} (y_t − y_{t−m})² (RMSSE's, as in M5 with m = 1).
    Rows are ordered by ds within each series and taken as consecutive periods. With ``drop_leading_zeros`` the
    periods before a series' first non-zero value are left out (M5: only while the product is on sale).
    A scale of 0 (a flat history) or with fewer than m + 1 periods is NaN.
    Returns: unique_id, naive_periods (n − m), scale_mae, scale_mse.
    """
    history = _require(history, ("unique_id", "ds", "y"), "HISTORY")
    if season_length < 1:
        raise ValueError("season_length must be >= 1")
    h = history[["unique_id", "ds", "y"]].assign(ds=_dates(history, "ds"))
    h = h.sort_values(["unique_id", "ds"], kind="stable")
    if drop_leading_zeros:
        h = h[(h["y"] != 0).astype(np.int8).groupby(h["unique_id"], dropna=False).cummax().astype(bool).to_numpy()]
    diff = h["y"] - h.groupby("unique_id", dropna=False)["y"].shift(season_length)
    scales = (
        pd.DataFrame({"unique_id": h["unique_id"], "a": diff.abs(), "s": diff**2})
        .groupby("unique_id", dropna=False, sort=True)
        .agg(naive_periods=("a", "count"), scale_mae=("a", "mean"), scale_mse=("s", "mean"))
        .reset_index()
    )
    scales["scale_mae"] = scales["scale_mae"].where(scales["scale_mae"] > 0)
    scales["scale_mse"] = scales["scale_mse"].where(scales["scale_mse"] > 0)
    return scales


def forecast_accuracy(
    forecasts: pd.DataFrame,
    history: pd.DataFrame,
    *,
    by: Sequence[str] | str = (),
    freq: Freq = None,
    season_length: int = 1,
    drop_leading_zeros: bool = False,
) -> pd.DataFrame:
    """WAPE, bias, MASE and RMSSE of forecasts against actuals (``FORECASTS``, scaled by ``HISTORY``).

    Uses forecasts[unique_id, ds, y, yhat] and history[unique_id, ds, y]; bucketed by ``ds``; ``by=("unique_id",)``
    gives one row per series. With e = ŷ − y over the rows of a group:
    wape = Σ|e| / Σ|y| (abs_error / abs_actual);  bias = Σe / Σy (error / actual; > 0 means over-forecast);
    per series i (its rows in the group): MASE_i = mean|e| / scale_mae_i, RMSSE_i = sqrt(mean e² / scale_mse_i),
    scales from ``naive_scales`` (in-sample seasonal naive with period m = ``season_length``; Hyndman's MASE,
    the M5 RMSSE, as utilsforecast computes them); a group's mase / rmsse = unweighted mean over its series with
    a defined scale (``series_scaled`` of ``series``; a series with a flat or too short history has none).
    Returns: groups, series, series_scaled, observations, abs_error, abs_actual, wape, error, actual, bias, mase,
    rmsse.
    """
    forecasts = _require(forecasts, ("unique_id", "ds", "y", "yhat"), "FORECASTS", by)
    scales = naive_scales(history, season_length, drop_leading_zeros).set_index("unique_id")
    error = forecasts["yhat"] - forecasts["y"]
    series_by = list(dict.fromkeys([*_keys(by), "unique_id"]))
    per_series = _aggregate(
        forecasts, {"observations": np.ones(len(forecasts), np.int64), "abs_error": error.abs(),
                    "abs_actual": forecasts["y"].abs(), "error": error, "actual": forecasts["y"],
                    "squared_error": error**2},
        series_by, freq, _dates(forecasts, "ds"),
    )
    n = per_series["observations"]
    mase = per_series["abs_error"] / n / per_series["unique_id"].map(scales["scale_mae"])
    rmsse = np.sqrt(per_series["squared_error"] / n / per_series["unique_id"].map(scales["scale_mse"]))
    outer = _group_names(by, None) + ([PERIOD] if freq is not None else [])
    result = _aggregate(
        per_series, {"series": np.ones(len(per_series), np.int64), "series_scaled": mase.notna().astype(np.int64),
                     "observations": n, "abs_error": per_series["abs_error"], "abs_actual": per_series["abs_actual"],
                     "error": per_series["error"], "actual": per_series["actual"], "mase_sum": mase.fillna(0.0),
                     "rmsse_sum": rmsse.fillna(0.0)},
        outer,
    )
    result["wape"] = _rate(result["abs_error"], result["abs_actual"])
    result["bias"] = _rate(result["error"], result["actual"])
    result["mase"] = _rate(result["mase_sum"], result["series_scaled"])
    result["rmsse"] = _rate(result["rmsse_sum"], result["series_scaled"])
    return result[[*outer, "series", "series_scaled", "observations", "abs_error", "abs_actual", "wape", "error",
                   "actual", "bias", "mase", "rmsse"]]


# --- production ----------------------------------------------------------------------------------------------------


def _finished(orders: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    finished = _dates(orders, "finished_date")
    kept = ((orders["status"] == "finished") & finished.notna()).to_numpy()
    return orders[kept], finished[kept]


def production_efficiency(
    orders: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None
) -> pd.DataFrame:
    """Production efficiency and on-time rate of finished production orders (``PRODUCTION_ORDERS``).

    Uses status, finished_date, due_date, qty_planned, qty_produced; only orders with status 'finished' and a
    finished_date count; bucketed by ``finished_date``.
    production_efficiency = Σ qty_produced / Σ qty_planned;
    on_time_rate = orders with finished_date ≤ due_date / finished orders.
    Returns: groups, orders_finished, qty_planned, qty_produced, production_efficiency, orders_on_time,
    on_time_rate.
    """
    orders = _require(orders, ("status", "finished_date", "due_date", "qty_planned", "qty_produced"),
                      "PRODUCTION_ORDERS", by)
    done, finished = _finished(orders)
    result = _aggregate(
        done, {"orders_finished": np.ones(len(done), np.int64), "qty_planned": done["qty_planned"],
               "qty_produced": done["qty_produced"],
               "orders_on_time": (finished <= _dates(done, "due_date")).astype(np.int64)},
        by, freq, finished,
    )
    result["production_efficiency"] = _rate(result["qty_produced"], result["qty_planned"])
    result["on_time_rate"] = _rate(result["orders_on_time"], result["orders_finished"])
    return result[[*_group_names(by, freq), "orders_finished", "qty_planned", "qty_produced", "production_efficiency",
                   "orders_on_time", "on_time_rate"]]


def overproduction(
    orders: pd.DataFrame, demand: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None
) -> pd.DataFrame:
    """Overproduction rate: units produced beyond demand, per product over each period.

    Uses orders[product_id, status, finished_date, qty_produced] (``PRODUCTION_ORDERS``, finished ones, bucketed by
    ``finished_date``) and demand[product_id, date, demand_qty] (``DEMAND``, bucketed by ``date``); ``by``
    columns must be in both. Per product (and ``by`` group) and period:
    overproduced = max(0, Σ qty_produced − Σ demand_qty); then over the group's products:
    overproduction_rate = Σ overproduced / Σ qty_produced. demand_qty is the demand of the products produced.
    Returns: groups, qty_produced, demand_qty, overproduced_qty, overproduction_rate.
    """
    orders = _require(orders, ("product_id", "status", "finished_date", "qty_produced"), "PRODUCTION_ORDERS", by)
    demand = _require(demand, ("product_id", "date", "demand_qty"), "DEMAND", by)
    done, finished = _finished(orders)
    product_by = list(dict.fromkeys([*_keys(by), "product_id"]))
    keys = _group_names(product_by, freq)
    made = _aggregate(done, {"qty_produced": done["qty_produced"]}, product_by, freq, finished)
    wanted = _aggregate(demand, {"demand_qty": demand["demand_qty"]}, product_by, freq, _dates(demand, "date"))
    per_product = made.merge(wanted, on=keys, how="left").fillna({"demand_qty": 0.0})
    over = (per_product["qty_produced"] - per_product["demand_qty"]).clip(lower=0)
    outer = _group_names(by, freq)
    result = _aggregate(
        per_product, {"qty_produced": per_product["qty_produced"], "demand_qty": per_product["demand_qty"],
                      "overproduced_qty": over},
        outer,
    )
    result["overproduction_rate"] = _rate(result["overproduced_qty"], result["qty_produced"])
    return result


def stock_cover(levels: pd.DataFrame) -> pd.DataFrame:
    """Inventory position, days of cover and the low-stock flag per item-location.

    Uses on_hand, on_order, backordered, allocated, daily_demand, reorder_point, unit_cost; returns the input's
    columns (``data_access.frames.inventory_levels``) and the ones below.
    inventory_position = on_hand + on_order − backordered − allocated;
    days_of_cover = on_hand / daily_demand (NaN without demand);
    value = on_hand × unit_cost;
    low_stock = inventory_position ≤ reorder_point (when the item has one), else days_of_cover < 7
    while there is demand (a week of cover is the last moment a replenishment can still land).
    """
    _require(levels, ("on_hand", "on_order", "backordered", "allocated", "daily_demand", "reorder_point", "unit_cost"),
             "INVENTORY_LEVELS")
    out = levels.copy()  # every other column (sku, category, location…) is kept for the views
    out["inventory_position"] = out["on_hand"] + out["on_order"] - out["backordered"] - out["allocated"]
    demand = out["daily_demand"].where(out["daily_demand"] > 0)
    out["days_of_cover"] = out["on_hand"].clip(lower=0) / demand
    out["value"] = out["on_hand"] * out["unit_cost"]
    by_point = out["inventory_position"] <= out["reorder_point"]
    by_cover = demand.notna() & (out["days_of_cover"] < 7)
    out["low_stock"] = by_point.where(out["reorder_point"].notna(), by_cover).astype(bool)
    return out
