"""Production (production manager; admin): stock and forecast of made items, open and proposed production orders,
production efficiency and overproduction (``analytics.kpis``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from data_access import replenishment as proposals_store
from pages import cache, exports

st.title("Production")
end = cache.data_end_or_stop("data")

levels, read_at = cache.stock_levels(end)
cache.freshness(read_at)
made = levels[levels["make_or_buy"] == "make"]
if made.empty:
    st.info("No made product in the data (dim_product.make_or_buy = 'make'). Mark the products you make in "
            "`products.csv` and load it with `python -m etl load DIR`; their stock and orders then show here.")
    st.stop()
orders, _ = cache.open_production_orders()
proposed = proposals_store.proposals(cache.engine(), status="proposed")
proposed = proposed[proposed["kind"] == "production"]
performance = cache.production_performance(end, end - dt.timedelta(days=365))
total = performance["total"].iloc[0] if len(performance["total"]) else None


def _percent(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1%}"


row = st.columns(5)
row[0].metric("Made item-locations", f"{len(made):,}")
row[1].metric("On hand (units)", f"{made['on_hand'].sum():,.0f}")
row[2].metric("Stock value", f"{made['value'].sum():,.0f}", help="On hand × standard unit cost (currency)")
row[3].metric("Backordered (units)", f"{made['backordered'].sum():,.0f}")
row[4].metric("Low-stock items", f"{int(made['low_stock'].sum()):,}",
              help="Inventory position at or below the reorder point (or under a week of cover)")
row = st.columns(5)
row[0].metric("Open production orders", f"{len(orders):,}",
              help=f"Planned or released: {orders['qty_planned'].sum():,.0f} units planned")
row[1].metric("Proposed orders", f"{len(proposed):,}",
              help="Open production proposals of the automatic replenishment run; decide them on the Replenishment "
                   "page")
row[2].metric("Efficiency (12 mo)", _percent(None if total is None else total["production_efficiency"]),
              help="Σ units produced / Σ units planned of the orders finished in the last 12 months")
row[3].metric("On time (12 mo)", _percent(None if total is None else total["on_time_rate"]),
              help="Orders finished by their due date / orders finished, last 12 months")
row[4].metric("Overproduced (12 mo)", _percent(None if total is None else total["overproduction_rate"]),
              help="Σ over products and months of max(0, produced − demand) / Σ produced, last 12 months")

st.subheader("Stock of made items")
by_category = made.groupby(["category", "location"], as_index=False)[["on_hand", "value"]].sum()
chart = px.bar(by_category, x="category", y="value", color="location", barmode="stack",
               title=f"Stock value of made items by category and location, end of {end:%Y-%m-%d}",
               labels={"category": "Category", "value": "Stock value at standard cost (currency)",
                       "location": "Location"}, hover_data={"on_hand": ":,.0f"})
st.plotly_chart(chart, width="stretch")
columns = ["sku", "name", "category", "location", "on_hand", "on_order", "backordered", "allocated",
           "inventory_position", "reorder_point", "daily_demand", "days_of_cover", "value", "low_stock"]
stock = made[columns].sort_values(["low_stock", "days_of_cover"], ascending=[False, True])
number = st.column_config.NumberColumn
st.dataframe(stock, hide_index=True, width="stretch", column_config={
    "on_hand": number("On hand", format="%,.0f"), "on_order": number("On order", format="%,.0f"),
    "backordered": number("Backordered", format="%,.0f"), "allocated": number("Allocated", format="%,.0f"),
    "inventory_position": number("Position", format="%,.0f"), "reorder_point": number("Reorder point", format="%,.0f"),
    "daily_demand": number("Demand / day", format="%,.1f"), "days_of_cover": number("Days of cover", format="%,.0f"),
    "value": number("Value", format="%,.2f"), "low_stock": st.column_config.CheckboxColumn("Low"),
})
exports.download_buttons(stock, f"made_items_stock_{end:%Y%m%d}")

st.subheader("Demand and forecast of made items")
weekly = cache.made_demand_and_forecast(end)
if weekly.empty:
    st.info("No demand for made items in the last 26 weeks and no stored forecast.")
else:
    totals = weekly.groupby(["week", "series"], as_index=False)[["units"]].sum()
    band = weekly[weekly["series"] == "forecast"].groupby("week", as_index=False)[["units", "lo", "hi"]].sum()
    chart = go.Figure()
    actual = totals[totals["series"] == "actual"]
    chart.add_trace(go.Bar(x=actual["week"], y=actual["units"], name="Actual demand"))
    if not band.empty:
        chart.add_trace(go.Scatter(x=band["week"], y=band["hi"], mode="lines", line={"width": 0}, showlegend=False,
                                   hoverinfo="skip"))
        chart.add_trace(go.Scatter(x=band["week"], y=band["lo"], mode="lines", line={"width": 0}, fill="tonexty",
                                   fillcolor="rgba(255, 127, 14, 0.2)", name="80 % band (items independent)",
                                   hoverinfo="skip"))
        chart.add_trace(go.Scatter(x=band["week"], y=band["units"], mode="lines+markers", name="Forecast",
                                   line={"color": "#ff7f0e", "width": 3}))
    chart.update_layout(title="Weekly demand of made items: the last 26 weeks and the newest forecast",
                        xaxis_title="Week ending", yaxis_title="Units ordered per week", height=420,
                        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1})
    st.plotly_chart(chart, width="stretch")
    if band.empty:
        st.info("No stored forecast for made items yet: a planner runs `python -m jobs forecast` (or the scheduled "
                "job does); the forecast then appears next to the actual demand.")
    exports.download_buttons(weekly, f"made_items_demand_forecast_{end:%Y%m%d}")

st.subheader("Open production orders")
if orders.empty:
    st.info("No planned or released production order. Approve production proposals on the Replenishment page, or "
            "load production orders (`production_orders.csv`).")
else:
    plan = orders.assign(open_qty=(orders["qty_planned"] - orders["qty_produced"]).clip(lower=0),
                         late=orders["due_date"] < pd.Timestamp(end))
    by_week = plan.assign(week=plan["due_date"].dt.to_period("W-SUN").dt.end_time.dt.strftime("%Y-%m-%d"))
    by_week = by_week.groupby(["week", "status"], as_index=False)["open_qty"].sum().sort_values("week")
    chart = px.bar(by_week, x="week", y="open_qty", color="status", title="Open production by week due",
                   labels={"week": "Week ending (due)", "open_qty": "Units still to produce", "status": "Status"})
    chart.update_xaxes(type="category")
    st.plotly_chart(chart, width="stretch")
    shown = plan[["mo_no", "sku", "name", "category", "location", "start_date", "due_date", "qty_planned",
                  "qty_produced", "open_qty", "status", "origin", "late"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "start_date": st.column_config.DateColumn("Start"), "due_date": st.column_config.DateColumn("Due"),
        "qty_planned": number("Planned", format="%,.0f"), "qty_produced": number("Produced", format="%,.0f"),
        "open_qty": number("Open", format="%,.0f"), "late": st.column_config.CheckboxColumn("Late"),
    })
    exports.download_buttons(shown, "open_production_orders")

st.subheader(f"Proposed production orders ({len(proposed):,})")
if proposed.empty:
    st.info("No open production proposal. The automatic replenishment run proposes production orders for made "
            "items below their reorder point (Replenishment page, Run now, or the scheduled run).")
else:
    shown = proposed[["id", "sku", "name", "location", "qty", "order_date", "due_date", "policy", "created_at"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "qty": number("Quantity", format="%,.0f"), "order_date": st.column_config.DateColumn("Start"),
        "due_date": st.column_config.DateColumn("Due"), "created_at": st.column_config.DatetimeColumn("Proposed"),
    })
    st.caption("Approve, edit or reject them on the Replenishment page.")
    exports.download_buttons(shown, "proposed_production_orders")

st.subheader("Efficiency and overproduction, last 12 months")
st.caption(f"Orders finished from {end - dt.timedelta(days=365):%Y-%m-%d} to {end:%Y-%m-%d} against the made products' "
           "demand over the same days. A month's overproduction counts the units made beyond that month's demand, so "
           "monthly rates run above the 12-month rate when stock made in one month sells in the next. Recomputed "
           f"every {cache.SLOW_TTL_SECONDS // 60} min.")
monthly = performance["monthly"]
if monthly.empty:
    st.info("No production order finished in the last 12 months: efficiency and overproduction appear once orders "
            "are finished (status 'finished' with a finished date).")
else:
    chart = go.Figure()
    chart.add_trace(go.Scatter(x=monthly["period"], y=monthly["production_efficiency"] * 100, name="Efficiency",
                               mode="lines+markers"))
    chart.add_trace(go.Scatter(x=monthly["period"], y=monthly["on_time_rate"] * 100, name="On time",
                               mode="lines+markers"))
    chart.add_trace(go.Scatter(x=monthly["period"], y=monthly["overproduction_rate"] * 100, name="Overproduction",
                               mode="lines+markers"))
    chart.update_layout(title="Production efficiency, on-time rate and overproduction by month finished",
                        xaxis_title="Month finished", yaxis_title="Rate (% of units or orders)",
                        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1}, height=420)
    st.plotly_chart(chart, width="stretch")
    by_category = performance["by_category"]
    rates = {name: number(label, format="percent") for name, label in (
        ("production_efficiency", "Efficiency"), ("on_time_rate", "On-time rate"),
        ("overproduction_rate", "Overproduction"))}
    st.dataframe(by_category, hide_index=True, width="stretch", column_config={
        **rates, "qty_planned": number("Planned", format="%,.0f"), "qty_produced": number("Produced", format="%,.0f"),
        "orders_finished": number("Orders finished", format="%,d"), "orders_on_time": number("On time", format="%,d"),
        "demand_qty": number("Demand", format="%,.0f"), "overproduced_qty": number("Overproduced", format="%,.0f"),
    })
    exports.download_buttons(by_category, "production_performance_by_category", "by category")
    exports.download_buttons(monthly, "production_performance_by_month", "by month")
