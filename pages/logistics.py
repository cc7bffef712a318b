"""Logistics: shipments in transit with carrier, tracking number, ship date and ETA against the promised date;
the delayed ones (ETA past the promise, or ETA passed and not delivered) with days late and why; the customers
they affect; delays by carrier.

Rules: ``analytics.promising.shipment_delays`` (what counts as delayed) and ``analytics.order_service`` (reasons,
carrier figures, filters).
"""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from analytics import order_service
from analytics.promising import delayed_customers
from pages import cache, exports

st.title("Logistics")
end = cache.data_end_or_stop("shipments")
as_of = end
shipments, read_at = cache.shipment_delays(as_of)
cache.freshness(read_at)
st.caption(f"In transit = shipped, not delivered nor returned. Delayed: the carrier's ETA is after the promised date "
           f"(else the requested date), or the ETA has passed ({as_of:%Y-%m-%d}) and it has not arrived. Days late = "
           "expected arrival − promised date.")
if shipments.empty:
    st.info("No shipment is in transit: every shipment is delivered. New shipments appear here after the next load "
            "(`python -m etl load DIR`).")
    st.stop()

shipments = order_service.delay_reasons(shipments)
NUMBER, DATE = st.column_config.NumberColumn, st.column_config.DateColumn

# --- filters ----------------------------------------------------------------------------------------------------------
left, middle = st.columns(2)
carriers = left.multiselect("Carrier", sorted(shipments["carrier"].fillna("(none)").unique()))
locations = middle.multiselect("Shipped from", sorted(shipments["location"].dropna().unique()))
left, middle, right = st.columns(3)
first_ship = shipments["ship_date"].min().date()
start = left.date_input("Shipped from date", value=first_ship, min_value=first_ship, max_value=as_of)
stop = middle.date_input("Shipped to date", value=as_of, min_value=start, max_value=as_of)
delayed_only = right.toggle("Only delayed shipments", value=False)
shown = order_service.filter_shipments(shipments, carriers=carriers, locations=locations, start=start, end=stop,
                                       delayed_only=delayed_only)
if shown.empty:
    st.warning("No shipment in transit matches these filters: clear a carrier or location, or widen the dates.")
    st.stop()

delayed = shown[shown["delayed"]]
row = st.columns(5)
row[0].metric("In transit", f"{len(shown):,}")
row[1].metric("Delayed", f"{len(delayed):,}")
row[2].metric("Delayed share", f"{len(delayed) / len(shown):.1%}")
row[3].metric("Average days late (delayed)", f"{delayed['days_late'].mean():,.1f}" if len(delayed) else "0.0")
row[4].metric("Customers affected", f"{delayed['customer_id'].nunique():,}")

by_carrier = order_service.delays_by_carrier(shown)
figure = px.bar(by_carrier.melt(id_vars="carrier", value_vars=["delayed", "on_track"], var_name="state",
                                value_name="shipments").replace({"state": {"on_track": "on track"}}),
                x="carrier", y="shipments", color="state", barmode="stack",
                color_discrete_map={"delayed": "#d62728", "on track": "#2ca02c"},
                title=f"Shipments in transit by carrier, delayed vs on track (as of {as_of:%Y-%m-%d})",
                labels={"carrier": "Carrier", "shipments": "Shipments in transit (count)", "state": "State"})
st.plotly_chart(figure, width="stretch")
st.dataframe(by_carrier, hide_index=True, width="stretch", column_config={
    "carrier": "Carrier", "in_transit": NUMBER("In transit", format="%,d"), "delayed": NUMBER("Delayed", format="%,d"),
    "on_track": NUMBER("On track", format="%,d"), "delayed_share": NUMBER("Delayed share", format="percent"),
    "mean_days_late": NUMBER("Mean days late (delayed)", format="%,.1f"),
    "max_days_late": NUMBER("Max days late", format="%,.0f"), "units": NUMBER("Units", format="%,.0f")})
exports.download_buttons(by_carrier, "delays_by_carrier", "by carrier")

COLUMNS = ["shipment_no", "carrier", "tracking_no", "ship_date", "eta", "promise", "days_late", "days_overdue",
           "reason", "order_no", "line_no", "customer", "customer_name", "marks", "sku", "product_name", "qty",
           "location", "status"]
CONFIG = {
    "shipment_no": "Shipment", "carrier": "Carrier", "tracking_no": "Tracking number", "ship_date": DATE("Shipped"),
    "eta": DATE("Carrier ETA"), "promise": DATE("Promised"), "days_late": NUMBER("Days late", format="%d"),
    "days_overdue": NUMBER("Days overdue", format="%d"), "reason": "Reason", "order_no": "Order", "line_no": "Line",
    "customer": "Customer", "customer_name": "Name", "qty": NUMBER("Units", format="%,.0f"), "location": "From",
    "sku": "SKU", "product_name": "Product", "status": "Status",
    "marks": st.column_config.TextColumn("Marks", help="priority order; high-value customer (tier A)"),
}

st.subheader(f"Delays ({len(delayed):,})")
if delayed.empty:
    st.success("No delayed shipment among these: every one is on track for its promised date.")
else:
    urgent = int((delayed["marks"] != "").sum())
    if urgent:
        st.caption(f"{urgent:,} of them carry a priority order or a high-value customer (Marks): follow those up "
                   "with the carrier first.")
    st.dataframe(delayed[COLUMNS], hide_index=True, width="stretch", column_config=CONFIG)
    exports.download_buttons(delayed[COLUMNS], "delayed_shipments", "delays")

    st.subheader("Customers affected")
    affected = delayed_customers(delayed).drop(columns="customer_id")
    st.dataframe(affected, hide_index=True, width="stretch", column_config={
        "customer": "Customer", "customer_name": "Name", "email": "E-mail", "shipments": NUMBER("Shipments", format="%,d"),
        "orders": NUMBER("Orders", format="%,d"), "units": NUMBER("Units", format="%,.0f"),
        "max_days_late": NUMBER("Max days late", format="%,.0f")})
    st.caption("The backorder run (`python -m jobs backorders`) writes to each of them and to the logistics manager "
               "once per shipment and ETA.")
    exports.download_buttons(affected, "customers_affected_by_delays", "customers")

st.subheader(f"All shipments in transit ({len(shown):,})")
st.dataframe(shown[COLUMNS], hide_index=True, width="stretch", column_config=CONFIG)
exports.download_buttons(shown[COLUMNS], "shipments_in_transit", "in transit")
