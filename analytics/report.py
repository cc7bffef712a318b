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
    "backorder_rate",
)


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
    """
    due_lines = inputs.get("due_lines") or 0
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
    }


def as_table(figures: Mapping[str, Any], as_of: str) -> str:
    """The figures as an aligned text table, rates as percentages."""
    lines = [f"Headline figures as of {as_of}", ""]
    for key in FIGURES:
        value = figures.get(key)
        if value is None:
            shown = "n/a (the data cannot support it)"
        elif key.endswith("_rate") or key == "gross_margin":
            shown = f"{value:.1%}"
        elif isinstance(value, float) and not value.is_integer():
            shown = f"{value:,.2f}"
        else:
            shown = f"{value:,.0f}"
        lines.append(f"{key.replace('_', ' '):<24}{shown:>20}")
    return "\n".join(lines)
