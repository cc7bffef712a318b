"""Inventory: stock by product and location, on order, backordered, days of cover, and the low-stock list.

Refreshes itself every 30 s, so receipts, shipments and scans written to the database show up.
"""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from pages import cache, exports

st.title("Inventory")
end = cache.data_end_or_stop("stock data")


@st.fragment(run_every=cache.TTL_SECONDS)
def levels_view() -> None:
    as_of = cache.data_end() or end
    levels, read_at = cache.stock_levels(as_of)
    cache.freshness(read_at)
    left, middle, right = st.columns(3)
    categories = left.multiselect("Category", sorted(levels["category"].dropna().unique()))
    locations = middle.multiselect("Location", sorted(levels["location"].dropna().unique()))
    search = right.text_input("Product (SKU or name contains)")
    shown = levels
    if categories:
        shown = shown[shown["category"].isin(categories)]
    if locations:
        shown = shown[shown["location"].isin(locations)]
    if search:
        needle = search.strip().lower()
        shown = shown[shown["sku"].str.lower().str.contains(needle, regex=False)
                      | shown["name"].str.lower().str.contains(needle, regex=False)]
    if shown.empty:
        st.warning("No product-location matches these filters; clear a filter to see more.")
        return

    row = st.columns(5)
    row[0].metric("On hand (units)", f"{shown['on_hand'].sum():,.0f}")
    row[1].metric("Stock value (standard cost)", f"{shown['value'].sum():,.2f}")
    row[2].metric("On order (units)", f"{shown['on_order'].sum():,.0f}")
    row[3].metric("Backordered (units)", f"{shown['backordered'].sum():,.0f}")
    row[4].metric("Low-stock items", f"{int(shown['low_stock'].sum()):,}")

    by_category = shown.groupby(["category", "location"], as_index=False)["value"].sum()
    chart = px.bar(by_category, x="category", y="value", color="location", barmode="stack",
                   title="Stock value by category and location",
                   labels={"category": "Category", "value": "Stock value at standard cost (currency)",
                           "location": "Location"})
    st.plotly_chart(chart, width="stretch")

    columns = ["sku", "name", "category", "location", "on_hand", "on_order", "backordered", "allocated",
               "inventory_position", "reorder_point", "daily_demand", "days_of_cover", "value", "low_stock"]
    low = shown[shown["low_stock"]].sort_values("days_of_cover")[columns]
    st.subheader(f"Low-stock list ({len(low):,})")
    st.caption("Inventory position at or below the reorder point, or under a week of cover where no reorder point "
               "is set.")
    if low.empty:
        st.success("No item-location here is at or below its reorder point: nothing needs reordering now. The "
                   "Replenishment page proposes orders as soon as one is.")
    else:
        st.dataframe(low, hide_index=True, width="stretch", column_config=_formats())
        exports.download_buttons(low, f"low_stock_{as_of:%Y%m%d}")

    st.subheader("All stock")
    table = shown[columns].sort_values(["category", "sku", "location"])
    st.dataframe(table, hide_index=True, width="stretch", column_config=_formats())
    exports.download_buttons(table, f"stock_{as_of:%Y%m%d}")


def _formats() -> dict:
    number = st.column_config.NumberColumn
    return {
        "on_hand": number("On hand", format="%,.0f"), "on_order": number("On order", format="%,.0f"),
        "backordered": number("Backordered", format="%,.0f"), "allocated": number("Allocated", format="%,.0f"),
        "inventory_position": number("Position", format="%,.0f"),
        "reorder_point": number("Reorder point", format="%,.0f"),
        "daily_demand": number("Demand / day", format="%,.1f"),
        "days_of_cover": number("Days of cover", format="%,.0f"), "value": number("Value", format="%,.2f"),
        "low_stock": st.column_config.CheckboxColumn("Low"),
    }


levels_view()
