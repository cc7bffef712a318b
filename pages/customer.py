"""My orders (customer portal): check a product's availability before ordering (in stock, available from a date, or
backordered, and the earliest date for a quantity), and the customer's own open orders and backorders with their
expected ship dates and alternatives.

Which customer: ``st.session_state["customer_code"]`` (set at login for a customer user). Without it, in demo mode (or
for an administrator) the customer with the most open backorders is shown and the page says so; in production mode a
user without a customer code sees nothing. Only that one customer's lines are ever shown.
"""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from analytics import order_service
from pages import access, cache, exports

st.title("My orders")
end = cache.data_end()
if end is None:
    st.info("No orders or stock yet: the shop's data has not been loaded. Please try again later.")
    st.stop()
as_of = end
customers = cache.customers()
code = st.session_state.get("customer_code")
if code:
    found = customers[customers["code"] == str(code)]
    if found.empty:
        st.error(f"Your login is linked to customer {code}, which is not in our customer list. Please contact your "
                 "sales representative (or ask an administrator to correct the customer code of your user).")
        st.stop()
    customer = found.iloc[0]
elif access.app_mode() == "production" and "admin" not in (st.session_state.get("roles") or ()):
    st.error("Your login is not linked to a customer, so there are no orders to show. Please contact your sales "
             "representative (or ask an administrator to add your customer code to your user).")
    st.stop()
else:
    demo_id = cache.demo_customer(as_of)
    if demo_id is None and customers.empty:
        st.info("No customer yet: load customers and orders first (`python -m etl load DIR` or "
                "`python -m etl demo`).")
        st.stop()
    customer = customers.set_index("customer_id", drop=False).loc[demo_id] if demo_id is not None \
        else customers.iloc[0]
    mode = "Demo" if access.app_mode() != "production" else "Preview for an administrator"
    st.info(f"{mode}: showing customer {customer['code']} — {customer['name']}"
            + (" (the customer with the most open backorders)." if demo_id is not None else ".")
            + " A customer's own login shows only their own orders.")
customer_id = int(customer["customer_id"])
open_lines, backorders, read_at = cache.open_orders(as_of)
mine_open = order_service.open_lines_with_eta(open_lines[open_lines["customer_id"] == customer_id],
                                              backorders[backorders["customer_id"] == customer_id])
mine_back = order_service.with_eta_state(backorders[backorders["customer_id"] == customer_id])
st.markdown(f"**{customer['name']}** ({customer['code']})")
cache.freshness(read_at)

NUMBER, DATE = st.column_config.NumberColumn, st.column_config.DateColumn
LABELS = order_service.COLUMN_LABELS


def availability_view() -> None:
    """A product's availability at every location and the earliest date for the customer's quantity."""
    st.subheader("Check availability before ordering")
    catalog = cache.catalog()
    active = catalog[catalog["active"]]
    places = cache.locations()
    codes = dict(zip(places["location_id"], places["code"], strict=True))
    if active.empty or not codes:
        st.info("No product is on offer yet. Please try again later.")
        return
    labels = dict(zip(active["product_id"], active["sku"] + " — " + active["name"], strict=True))
    left, middle, right = st.columns([2, 1, 1])
    product_id = left.selectbox("Product", list(labels), format_func=labels.get, help="Type to search by SKU or name.")
    qty = middle.number_input("Quantity (units)", min_value=1.0, value=1.0, step=1.0, format="%.0f")
    usual = mine_open["location_id"].mode() if len(mine_open) else []
    location_ids = list(codes)
    location_id = right.selectbox("Ship from", location_ids, format_func=codes.get,
                                  index=location_ids.index(int(usual[0])) if len(usual) else 0)
    stock = cache.availability((int(product_id),), as_of)
    here = stock[stock["location_id"] == location_id]
    answer = cache.promise(int(product_id), int(location_id), float(qty), as_of, as_of, True)
    state, state_text = order_service.promise_status(answer, float(here["available_now"].sum()) if len(here) else 0.0)
    row = st.columns(2)
    row[0].metric(f"At {codes[location_id]}", state_text,
                  help="In stock: ships today. Available from a date: the earliest day the whole quantity can ship "
                       "(stock, incoming deliveries, or another of our locations). Backordered: no date yet.")
    row[1].metric(f"Earliest ship date for {qty:,.0f} unit(s)",
                  f"{answer.date:%Y-%m-%d}" if answer.date else "no date yet")
    if answer.date is None:
        st.warning(f"We cannot promise {qty:,.0f} unit(s) yet: {answer.qty_short:,.0f} have no date. You can still "
                   "order (the line is backordered and you hear from us when a date is known), or pick an "
                   "alternative below.")
    elif answer.split:
        parts = ", ".join(f"{p.qty:,.0f} on {p.ship_date:%Y-%m-%d}" for p in answer.pieces)
        st.caption(f"Part of the quantity can ship earlier: {parts}.")
    if len(stock):
        table = order_service.availability_status(stock, float(qty))[["location", "available_now",
                                                                       "next_receipt_date", "status_text"]]
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "location": "Location", "available_now": NUMBER("Available now (units)", format="%,.0f"),
            "next_receipt_date": DATE("Next delivery to us"), "status_text": f"For {qty:,.0f} unit(s)"})
        st.caption("By location: in stock when the quantity is there now; “available from” is the first day some "
                   "units can ship from that location. The earliest date for your whole quantity is above.")
        exports.download_buttons(table, f"availability_{labels[product_id].split(' — ')[0]}", "availability")
    if state != "in stock":
        alternatives_table(int(product_id), int(location_id), f"Alternatives to {labels[product_id]}", "check")


def alternatives_table(product_id: int, location_id: int, title: str, key: str) -> None:
    """Substitutes and similar products with their availability at the location, for a customer."""
    options = cache.alternatives(product_id, location_id, as_of, 0.25)
    st.markdown(f"**{title}**")
    if options.empty:
        st.caption("No alternative on record for this product. Your sales representative can suggest one.")
        return
    shown = options.assign(kind=options["reason"].map({"substitute": "substitute",
                                                       "same_category": "similar product"}))[[
        "kind", "sku", "name", "unit_price", "price_diff", "available_here", "next_receipt_date"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        **LABELS, "kind": "Kind", "unit_price": NUMBER("Unit price", format="%,.2f"),
        "price_diff": NUMBER("Price vs original", format="percent"),
        "available_here": NUMBER("Available now (units)", format="%,.0f"), "next_receipt_date": DATE("Next delivery")})
    exports.download_buttons(shown, f"alternatives_{key}_{product_id}", "alternatives")


def orders_view() -> None:
    """The customer's open order lines (with expected ship dates) and backorders (with ETAs and alternatives)."""
    st.subheader("Your open orders")
    row = st.columns(3)
    row[0].metric("Open order lines", f"{len(mine_open):,}")
    row[1].metric("Backordered lines", f"{len(mine_back):,}")
    row[2].metric("Open value", f"{mine_open['open_value'].sum():,.2f}" if len(mine_open) else "0.00",
                  help="Open quantity × unit price × (1 − discount)")
    if mine_open.empty:
        st.info("You have no open order: everything you ordered has shipped. Check availability above before your "
                "next order.")
        return
    day = mine_open["expected_ship_date"].dt.strftime("%Y-%m-%d").fillna("no date yet")
    by_date = mine_open.assign(day=day).groupby(["day", "state"], as_index=False)["qty_open"].sum()
    chart = px.bar(by_date, x="day", y="qty_open", color="state", title="Your open units by expected ship date",
                   category_orders={"day": sorted(by_date["day"], key=lambda d: (d == "no date yet", d))},
                   color_discrete_map={"backordered": "#d62728", "on schedule": "#2ca02c"},
                   labels={"day": "Expected ship date", "qty_open": "Open quantity (units)", "state": "State"})
    chart.update_xaxes(type="category")
    st.plotly_chart(chart, width="stretch")
    shown = mine_open[["order_no", "line_no", "sku", "product_name", "order_date", "requested_date", "qty_ordered",
                       "qty_shipped", "qty_open", "state", "expected_ship_date"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        **LABELS, "order_date": DATE("Order date"), "requested_date": DATE("Requested"),
        "qty_ordered": NUMBER("Ordered (units)", format="%,.0f"), "qty_shipped": NUMBER("Shipped (units)", format="%,.0f"),
        "qty_open": NUMBER("Open (units)", format="%,.0f"), "expected_ship_date": DATE("Expected to ship")})
    exports.download_buttons(shown, "my_open_orders", "open orders")

    st.subheader(f"Your backorders ({len(mine_back):,})")
    if mine_back.empty:
        st.success("Nothing of yours is on backorder.")
        return
    if (mine_back["eta_state"] != "estimated").any():
        st.caption("“no date yet”: we are waiting for a delivery date from our supplier or production; we will write "
                   "to you as soon as we know it.")
    last_run = cache.last_eta_run()
    if last_run is not None:
        st.caption(f"Expected dates last estimated {last_run[0]:%Y-%m-%d %H:%M} UTC; when one moves by more than a "
                   "couple of days we write to you.")
    shown = mine_back.assign(eta_state=mine_back["eta_state"].map(
        {"estimated": "estimated", "no_supply": "no date yet", "not_estimated": "no date yet"}))[[
        "order_no", "line_no", "sku", "product_name", "requested_date", "qty_open", "eta", "previous_eta", "eta_state"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        **LABELS, "requested_date": DATE("Requested"), "qty_open": NUMBER("Waiting (units)", format="%,.0f"),
        "eta": DATE("Expected to ship"), "previous_eta": DATE("Earlier expected date"), "eta_state": "Date"})
    exports.download_buttons(shown, "my_backorders", "backorders")
    labels = {int(r.line_id): f"{r.order_no}/{r.line_no} · {r.sku} {r.product_name}" for r in mine_back.itertuples()}
    line_id = st.selectbox("Alternatives for", list(labels), format_func=labels.get)
    line = mine_back.set_index("line_id").loc[line_id]
    alternatives_table(int(line["product_id"]), int(line["location_id"]),
                       f"Alternatives to {line['sku']} {line['product_name']}", "backorder")


availability_view()
orders_view()
