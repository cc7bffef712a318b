"""The headline KPI report: figures computed from sums the data layer aggregates.

Pure: takes a mapping of sums (see ``data_access.queries.headline_inputs``) and returns the
figures. A figure the data cannot support is ``None`` (JSON ``null``), never invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keys of the report, in the order shown.
FIGURES = (
    "orders", "order_lines", "units_ordered", "revenue", "open_orders", "on_time_delivery_rate", "products",
    "on_hand_units", "on_order_units", "gross_margin", "inventory_turnover", "days_on_hand", "fill_rate",
    "backorder_rate", "line_fill_rate", "order_fill_rate", "inventory_value", "lost_sales_units",
    "lost_sales_revenue", "backorder_cost", "backorder_cost_to_sales", "order_cycle_days", "purchase_lead_time_days",
    "supplier_on_time_rate", "inventory_accuracy", "production_efficiency",
)

#: Annual cost of carrying a unit of backlog, as a share of its unit cost (``analytics.backorders``).
CARRYING_RATE = 0.25


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def gross_margin(revenue: float, cogs: float | None) -> float | None:
    """Gross margin rate = (revenue − COGS) / revenue."""
    if cogs is None:
        return None
    return ratio(revenue - cogs, revenue)


def inventory_turnover(period_cogs: float | None, average_inventory_value: float | None, period_days: int) -> float | None:
    """Annualised inventory turnover = (COGS over the period / average inventory value) × 365 / period days."""
    turns = ratio(period_cogs, average_inventory_value)
    return None if turns is None or not period_days else turns * 365 / period_days


def days_on_hand(period_cogs: float | None, average_inventory_value: float | None, period_days: int) -> float | None:
    """Days of inventory on hand = average inventory value / (COGS per day of the period)."""
    if period_cogs is None or not period_days:
        return None
    return ratio(average_inventory_value, period_cogs / period_days)


def headline(inputs: Mapping[str, Any]) -> dict[str, float | int | None]:
    """The headline figures over history up to the as-of date.

    - ``revenue`` = Σ shipped qty × unit price × (1 − discount), shipments up to as-of
    - ``open_orders``: orders with quantity neither shipped nor cancelled by as-of
    - ``on_time_delivery_rate`` = shipped orders whose every line shipped by its requested
      date / shipped orders (an order is shipped when nothing of it is open)
    - ``fill_rate`` (unit) = qty shipped by the requested date / qty ordered, lines due by as-of
    - ``backorder_rate`` = lines due by as-of not shipped in full by their requested date / lines due
    - ``gross_margin`` = (revenue − COGS) / revenue, COGS from the cost recorded on ledger issues
    - ``inventory_turnover``, ``days_on_hand``: trailing 365 days (or the history, if shorter)

    The figures below follow ``analytics.kpis`` and ``analytics.backorders`` exactly (a test
    compares them on the demo company); the database sums their numerators and denominators:

    - ``line_fill_rate`` = due lines shipped in full by the requested date / due lines;
      ``order_fill_rate`` = orders whose lines are all due and all filled / such orders
    - ``inventory_value`` = Σ on hand × unit cost on the as-of day (the snapshot)
    - ``lost_sales_units``, ``lost_sales_revenue`` = Σ qty cancelled on or after the requested
      date of lines short at that date (× net price)
    - ``backorder_cost`` = lost margin (lost units × (net price − unit cost)) + carrying cost of
      the backlog (Σ units short × days backordered × unit cost × 25 % / 365);
      ``backorder_cost_to_sales`` = backorder cost / revenue of the due lines
    - ``order_cycle_days`` = mean days from order to last shipment over orders shipped complete
    - ``purchase_lead_time_days`` = mean days from PO order to receipt; ``supplier_on_time_rate`` =
      received PO lines received by their expected date / received lines with an expected date
    - ``inventory_accuracy`` = cycle counts with counted = system / counts
    - ``production_efficiency`` = Σ produced / Σ planned over finished production orders
    """
    due_lines = inputs.get("due_lines") or 0
    lost_margin, value_days = inputs.get("lost_margin"), inputs.get("backlog_value_days")
    backorder_cost = (
        None if inputs.get("backorders_without_cost") or lost_margin is None or value_days is None
        else lost_margin + value_days * CARRYING_RATE / 365
    )
    return {
        "orders": int(inputs["orders"]),
        "order_lines": int(inputs["order_lines"]),
        "units_ordered": inputs["units_ordered"],
        "revenue": round(inputs["revenue"], 2),
        "open_orders": int(inputs["open_orders"]),
        "on_time_delivery_rate": ratio(inputs["on_time_orders"], inputs["shipped_orders"]),
        "products": int(inputs["products"]),
        "on_hand_units": inputs["on_hand_units"],
        "on_order_units": inputs["on_order_units"],
        "gross_margin": gross_margin(inputs["revenue"], inputs.get("cogs")),
        "inventory_turnover": inventory_turnover(
            inputs.get("period_cogs"), inputs.get("average_inventory_value"), inputs.get("period_days", 0)
        ),
        "days_on_hand": days_on_hand(inputs.get("period_cogs"), inputs.get("average_inventory_value"), inputs.get("period_days", 0)),
        "fill_rate": ratio(inputs.get("units_shipped_by_requested"), inputs.get("due_units")) if due_lines else None,
        "backorder_rate": ratio(inputs.get("backordered_lines"), due_lines) if due_lines else None,
        "line_fill_rate": ratio(due_lines - (inputs.get("backordered_lines") or 0), due_lines),
        "order_fill_rate": ratio(inputs.get("filled_orders"), inputs.get("due_orders")),
        "inventory_value": inputs.get("inventory_value"),
        "lost_sales_units": inputs.get("lost_sales_units"),
        "lost_sales_revenue": _rounded(inputs.get("lost_sales_revenue")),
        "backorder_cost": _rounded(backorder_cost),
        "backorder_cost_to_sales": ratio(backorder_cost, inputs.get("due_lines_revenue")),
        "order_cycle_days": ratio(inputs.get("order_cycle_days"), inputs.get("completed_orders")),
        "purchase_lead_time_days": ratio(inputs.get("purchase_lead_days"), inputs.get("received_po_lines")),
        "supplier_on_time_rate": ratio(inputs.get("on_time_po_lines"), inputs.get("judged_po_lines")),
        "inventory_accuracy": ratio(inputs.get("accurate_counts"), inputs.get("cycle_counts")),
        "production_efficiency": ratio(inputs.get("produced"), inputs.get("planned_production")),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def as_table(figures: Mapping[str, Any], as_of: str) -> str:
    """The figures as an aligned text table, rates as percentages."""
    lines = [f"Headline figures as of {as_of}", ""]
    for key in FIGURES:
        value = figures.get(key)
        if value is None:
            shown = "n/a (the data cannot support it)"
        elif key.endswith("_rate") or key in ("gross_margin", "backorder_cost_to_sales", "inventory_accuracy",
                                               "production_efficiency"):
            shown = f"{value:.1%}"
        elif isinstance(value, float) and not value.is_integer():
            shown = f"{value:,.2f}"
        else:
            shown = f"{value:,.0f}"
        lines.append(f"{key.replace('_', ' '):<24}{shown:>20}")
    return "\n".join(lines)
