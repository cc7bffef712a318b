"""Finance: inventory valuation (FIFO, moving average, standard) as of any date, COGS, backorder cost, lost sales."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import cache, exports

st.title("Finance")
end = cache.data_end_or_stop("data")

left, middle, right = st.columns(3)
as_of = left.date_input("Value the stock at the end of", value=end, max_value=end)
method_label = middle.radio("Method", ("FIFO", "Moving average", "Standard cost"), horizontal=True)
method = {"FIFO": "fifo", "Moving average": "average", "Standard cost": "standard"}[method_label]
by_location = right.toggle("Each location apart", value=False)
cache.freshness(ttl=cache.SLOW_TTL_SECONDS)

try:
    table = cache.valuation_table(as_of, method, by_location)
except ValueError as error:  # e.g. receipts without a cost, or an issue beyond stock
    st.error(f"The ledger cannot be valued by {method_label}: {error}")
    st.stop()

total_value, total_cogs = table["ending_value"].sum(), table["cogs"].sum()
row = st.columns(4)
row[0].metric(f"Inventory value ({method_label})", f"{total_value:,.2f}")
row[1].metric("COGS to date", f"{total_cogs:,.2f}")
row[2].metric("Units on hand", f"{table['ending_qty'].sum():,.0f}")
if method == "standard":
    row[3].metric("Purchase price variance", f"{table['ppv'].sum():,.2f}",
                  help="Σ (actual receipt cost − standard cost) × quantity received")

by_category = table.groupby("category", as_index=False)["ending_value"].sum().sort_values("ending_value")
chart = px.bar(by_category, x="ending_value", y="category", orientation="h",
               title=f"Inventory value by category, {method_label}, as of {as_of:%Y-%m-%d}",
               labels={"ending_value": "Inventory value (currency)", "category": "Category"})
st.plotly_chart(chart, width="stretch")

shown = table.drop(columns=["product_id"]).rename(columns={"location_id": "location"})
totals = pd.DataFrame([{"sku": "TOTAL", **shown.select_dtypes("number").sum().to_dict()}])
if "location" in totals:
    totals["location"] = None
export = pd.concat([shown, totals], ignore_index=True)
st.subheader("Valuation by product")
st.dataframe(shown, hide_index=True, width="stretch", column_config={
    c: st.column_config.NumberColumn(format="%,.2f") for c in ("ending_value", "cogs", "received_value", "ppv")
    if c in shown
})
exports.download_buttons(export, f"valuation_{method}_{as_of:%Y%m%d}")

st.subheader("COGS and closing value per month")
periods = cache.cogs_table(as_of, method, "M")
chart = px.bar(periods, x="period", y="cogs", color="category", title=f"COGS per month by category ({method_label})",
               labels={"period": "Month", "cogs": "COGS (currency)", "category": "Category"})
st.plotly_chart(chart, width="stretch")
st.dataframe(periods, hide_index=True, width="stretch", column_config={
    "period": st.column_config.DateColumn("Month", format="YYYY-MM"),
    "cogs": st.column_config.NumberColumn("COGS", format="%,.2f"),
    "ending_value": st.column_config.NumberColumn("Closing value", format="%,.2f"),
})
exports.download_buttons(periods, f"cogs_{method}_{as_of:%Y%m%d}")

st.subheader("Backorder cost and lost sales")
since = st.date_input("Backorders requested from", value=max(as_of - dt.timedelta(days=365), dt.date(1980, 1, 1)),
                      max_value=as_of)
economics = cache.backorder_economics(as_of, since, ("category",), None)
row = st.columns(4)
row[0].metric("Backorder cost", f"{economics['backorder_cost'].sum():,.2f}",
              help="lost margin of cancelled backorders + carrying cost of the backlog (25 %/year)")
row[1].metric("Lost sales (revenue)", f"{economics['lost_revenue'].sum():,.2f}")
revenue = economics["revenue"].sum()
row[2].metric("Backorder cost / sales", "n/a" if not revenue else f"{economics['backorder_cost'].sum() / revenue:.2%}")
row[3].metric("Backordered lines", f"{economics['lines_backordered'].sum():,}")
monthly = cache.backorder_economics(as_of, since, (), "M")
chart = px.line(monthly, x="period", y=["backorder_cost", "lost_revenue"], markers=True,
                title="Backorder cost and lost sales by month of the requested date",
                labels={"period": "Month requested", "value": "Amount (currency)", "variable": ""})
st.plotly_chart(chart, width="stretch")
st.dataframe(economics, hide_index=True, width="stretch", column_config={
    **{c: st.column_config.NumberColumn(format="%,.0f") for c in ("lines_due", "lines_backordered",
                                                                  "units_backordered", "backlog_unit_days",
                                                                  "cancelled_units")},
    **{c: st.column_config.NumberColumn(format="%,.2f") for c in ("lost_revenue", "lost_margin", "expediting_cost",
                                                                  "carrying_cost", "backorder_cost", "revenue")},
    "backorder_cost_to_sales": st.column_config.NumberColumn("Backorder cost / sales", format="percent"),
})
exports.download_buttons(economics, f"backorder_cost_{as_of:%Y%m%d}")
