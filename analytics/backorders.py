"""Backorder economics: what backorders cost, by category, segment and period (see ../shared/DESIGN.md).

Pure and vectorised, on the ``analytics.kpis.ORDER_LINES`` frame (state as of ``as_of``), grouped by the same
helper as the KPIs: ``by`` columns and a ``freq`` bucket (``period``) of the line's ``requested_date``, the day
the line became a backorder, so every cost of a backorder lands in the period it arose in (its cohort).

Per due line (requested_date ≤ as_of) that was backordered (shipped_by_requested_qty < qty_ordered):

- lost margin = cancelled backorder qty × (net price − unit_cost), net price = unit_price × (1 − discount);
  a cancellation is a backorder's when made on or after the requested date (see ``kpis.lost_sales``);
- lost revenue = cancelled backorder qty × net price (the revenue backorders cost);
- expediting cost = the optional ``expediting_cost`` column (money spent speeding the line up; NaN = none).
  Without the column the component is 0 and ``expediting_recorded`` is False: the cost is then not known to
  be 0, only not recorded;
- carrying cost of the backlog = backordered units × unit_cost × carrying_rate × days backordered / 365.

backorder cost = lost margin + expediting cost + carrying cost; as a share of sales it is divided by the
revenue of the same lines (Σ qty_shipped × net price of the group's due lines, shipped by as_of).
A cost that needs ``unit_cost`` is NaN for a group where a line that needs it has none (never invented).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.kpis import (
    EPS,
    DateLike,
    Freq,
    _aggregate,
    _backorder_cancellations,
    _dates,
    _filled_units,
    _group_names,
    _net_price,
    _open_qty,
    _rate,
    _require,
    _timestamp,
)

#: Default annual carrying-cost rate (capital, storage, risk) as a share of unit cost.
CARRYING_RATE = 0.25

#: Columns of ``kpis.ORDER_LINES`` the backorder costs use (``expediting_cost`` is optional).
USED_COLUMNS = ("requested_date", "cancelled_date", "qty_ordered", "qty_shipped", "qty_cancelled",
                "shipped_by_requested_qty", "last_ship_date", "unit_price", "discount", "unit_cost")


def backorder_line_costs(
    lines: pd.DataFrame, as_of: DateLike, *, carrying_rate: float = CARRYING_RATE
) -> pd.DataFrame:
    """The cost components of every due, backordered line at ``as_of``, for drill-down (``kpis.ORDER_LINES``).

    Uses ``USED_COLUMNS`` and ``expediting_cost`` if present. Per line:
    units_backordered = qty_ordered − min(shipped_by_requested_qty, qty_ordered) (short at the requested date);
    days_backordered = end − requested_date, end = as_of while qty is open (qty_ordered − qty_shipped −
    qty_cancelled > 0), else the later of last_ship_date and the cancellation date (0 when neither is known);
    an approximation that charges all short units until the backorder closes, partial late shipments included;
    backlog_unit_days = units_backordered × days_backordered;
    carrying_cost = backlog_unit_days × unit_cost × carrying_rate / 365;
    cancelled_units = qty cancelled on or after the requested date (null cancelled_date: the requested date);
    lost_revenue = cancelled_units × net price; lost_margin = cancelled_units × (net price − unit_cost);
    expediting_cost = the column's value (NaN → 0), 0 without it;
    backorder_cost = lost_margin + expediting_cost + carrying_cost; revenue = qty_shipped × net price.
    Returns the input's columns for the backordered lines plus those above and ``expediting_recorded``.
    """
    _require(lines, USED_COLUMNS, "ORDER_LINES")
    if carrying_rate < 0:
        raise ValueError("carrying_rate must be >= 0")
    as_of = _timestamp(as_of)
    requested = _dates(lines, "requested_date")
    due = requested <= as_of
    backordered = (due & (lines["shipped_by_requested_qty"] < lines["qty_ordered"] - EPS)).to_numpy()
    d = lines[backordered]
    requested = requested[backordered]
    cancelled, cancelled_on = _backorder_cancellations(d, as_of)
    ended = pd.concat(
        [_dates(d, "last_ship_date"), cancelled_on.where(d["qty_cancelled"] > EPS)], axis=1
    ).max(axis=1).fillna(requested)
    end = ended.where(_open_qty(d) <= EPS, as_of).clip(upper=as_of)
    days = (end - requested).dt.days.clip(lower=0)
    units = d["qty_ordered"] - _filled_units(d)
    net = _net_price(d)
    recorded = "expediting_cost" in d.columns
    expediting = d["expediting_cost"].fillna(0.0) if recorded else pd.Series(0.0, index=d.index)
    unit_days = units * days
    carrying = (unit_days * d["unit_cost"] * carrying_rate / 365).where(unit_days > 0, 0.0)
    lost_margin = (cancelled * (net - d["unit_cost"])).where(cancelled > 0, 0.0)
    return d.assign(
        units_backordered=units, days_backordered=days, backlog_unit_days=unit_days, carrying_cost=carrying,
        cancelled_units=cancelled, lost_revenue=cancelled * net, lost_margin=lost_margin,
        expediting_cost=expediting, expediting_recorded=recorded,
        backorder_cost=lost_margin + expediting + carrying, revenue=d["qty_shipped"] * net,
    )


def backorder_cost(
    lines: pd.DataFrame,
    as_of: DateLike,
    *,
    by: Sequence[str] | str = (),
    freq: Freq = None,
    carrying_rate: float = CARRYING_RATE,
) -> pd.DataFrame:
    """Backorder cost, lost sales and their share of sales per group (``kpis.ORDER_LINES``, state at ``as_of``).

    Bucketed by ``requested_date`` (the backorder's cohort); components per line as in ``backorder_line_costs``:
    backorder_cost = lost_margin + expediting_cost + carrying_cost, summed over the group's backordered lines;
    lost_revenue = Σ cancelled backorder qty × unit_price × (1 − discount) (the revenue backorders cost);
    revenue = Σ qty_shipped × unit_price × (1 − discount) over ALL the group's due lines;
    backorder_cost_to_sales = backorder_cost / revenue (a fraction: × 100 for a percentage);
    lost_margin and carrying_cost (so backorder_cost) are NaN where a line needing unit_cost has none;
    expediting_recorded is False when the input has no ``expediting_cost`` column (the component is then 0).
    Returns: groups, lines_due, lines_backordered, units_backordered, backlog_unit_days, cancelled_units,
    lost_revenue, lost_margin, expediting_cost, expediting_recorded, carrying_cost, backorder_cost, revenue,
    backorder_cost_to_sales.
    """
    as_of = _timestamp(as_of)
    costs = backorder_line_costs(lines, as_of, carrying_rate=carrying_rate)
    requested = _dates(lines, "requested_date")
    due = (requested <= as_of).to_numpy()
    d = lines[due]
    sales = _aggregate(
        d, {"lines_due": np.ones(len(d), np.int64), "revenue": d["qty_shipped"] * _net_price(d)},
        by, freq, requested[due],
    )
    spent = _aggregate(
        costs, {name: costs[name] for name in ("units_backordered", "backlog_unit_days", "cancelled_units",
                                                "lost_revenue", "lost_margin", "expediting_cost", "carrying_cost")}
        | {"lines_backordered": np.ones(len(costs), np.int64)},
        by, freq, _dates(costs, "requested_date"), strict=("lost_margin", "carrying_cost"),
    )
    keys = _group_names(by, freq)
    if keys:
        # every group with backorders has due lines: a left join from the sales keeps them all
        result = sales.merge(spent, on=keys, how="left", sort=True)
        zero = {c: 0 for c in spent.columns.difference(keys) if c not in ("lost_margin", "carrying_cost")}
        absent = result["lines_backordered"].isna()
        result = result.fillna(zero)
        result[["lost_margin", "carrying_cost"]] = result[["lost_margin", "carrying_cost"]].mask(absent, 0.0)
        result["lines_backordered"] = result["lines_backordered"].astype(np.int64)
    else:
        result = pd.concat([sales, spent], axis=1)
    result["expediting_recorded"] = "expediting_cost" in lines.columns
    result["backorder_cost"] = result["lost_margin"] + result["expediting_cost"] + result["carrying_cost"]
    result["backorder_cost_to_sales"] = _rate(result["backorder_cost"], result["revenue"])
    return result[[*keys, "lines_due", "lines_backordered", "units_backordered", "backlog_unit_days",
                   "cancelled_units", "lost_revenue", "lost_margin", "expediting_cost", "expediting_recorded",
                   "carrying_cost", "backorder_cost", "revenue", "backorder_cost_to_sales"]]
