"""Sales and customer service: find a customer, see their orders, open lines and backorders with ETAs (priority and
high-value marked), offer alternatives for a backordered line, log what the customer was told, and promise a date
for a new order (earliest date and split plan).

Rules: ``analytics.promising`` (ATP, promise, allocation, alternatives) and ``analytics.order_service`` (what the
view shows); ETAs are stored by the backorder run (``python -m jobs backorders``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import order_service
from analytics.promising import HIGH_VALUE_TIERS
from data_access import promising as store
from jobs.backorders import run_backorders
from pages import cache, exports

st.title("Sales")
engine = cache.engine()
user = st.session_state.get("username") or "sales"
can_run = bool({"sales", "admin"} & set(st.session_state.get("roles") or ()))
if message := st.session_state.pop("sales_flash", None):
    st.success(message)

end = cache.data_end_or_stop()
as_of = end
open_lines, backorders, read_at = cache.open_orders(as_of)
cache.freshness(read_at)

NUMBER, DATE = st.column_config.NumberColumn, st.column_config.DateColumn
LABELS = order_service.COLUMN_LABELS


def units(label: str) -> st.column_config.NumberColumn:
    return NUMBER(label, format="%,.0f")


def amount(label: str) -> st.column_config.NumberColumn:
    return NUMBER(label, format="%,.2f")


def money(value: float) -> str:
    return f"{value:,.2f}"


# --- ETAs: when computed, re-estimate -------------------------------------------------------------------------------
status = order_service.eta_status(backorders)
last_run = cache.last_eta_run()
left, right = st.columns([3, 1])
if last_run is None:
    left.warning("No ETAs yet: run `python -m jobs backorders` or press **Re-estimate ETAs now**"
                 + ("." if can_run else " (a sales user can)."))
else:
    ran_at, ran_by = last_run
    left.caption(f"Backorder ETAs last computed {ran_at:%Y-%m-%d %H:%M} UTC by {ran_by} for {status.lines:,} open "
                 f"backorders as of {as_of:%Y-%m-%d}. `python -m jobs backorders` re-estimates them (run it after "
                 "each load); an ETA announced to the customer changes only when it moves by more than the tolerance.")
if can_run and right.button("Re-estimate ETAs now", type="primary"):
    bar = st.progress(0.0, text="Reading open order lines…")
    try:
        result = run_backorders(engine, as_of, user=user,
                                progress=lambda fraction, text: bar.progress(min(fraction, 1.0), text=text))
    except ValueError as error:
        bar.empty()
        st.error(f"The ETAs could not be re-estimated: {error}")
    else:
        cache.refresh_backorders()
        counts = result.counts
        st.session_state["sales_flash"] = (
            f"ETAs re-estimated as of {result.as_of:%Y-%m-%d} by {user}: {counts['backorders']:,} backorders, "
            f"{counts['new']:,} new, {counts['moved']:,} moved, {counts['notifications']:,} notices queued.")
        st.rerun()

# --- customer ---------------------------------------------------------------------------------------------------------


def customer_view() -> None:
    """Pick a customer; their backorders with ETAs and alternatives, open lines, order history, contact log."""
    search = st.text_input("Find a customer (name or code)", placeholder="e.g. C000041 or Hardware")
    choices = order_service.customer_choices(cache.customers(), backorders, search)
    if choices.empty:
        st.warning(f"No customer's name or code contains “{search}”: check the spelling or search for part of it.")
        return
    labels = dict(zip(choices["customer_id"], choices["label"], strict=True))
    customer_id = st.selectbox("Customer", list(labels), format_func=labels.get,
                               help="Customers with open backorders first, most backordered lines first.")
    customer = choices.set_index("customer_id").loc[customer_id]
    left, right = st.columns(2)
    start = left.date_input("Orders from", value=as_of - dt.timedelta(days=365), max_value=as_of)
    stop = right.date_input("Orders to", value=as_of, min_value=start)

    mine_open = order_service.open_lines_with_eta(open_lines[open_lines["customer_id"] == customer_id],
                                                  backorders[backorders["customer_id"] == customer_id])
    mine_back = order_service.with_eta_state(backorders[backorders["customer_id"] == customer_id])
    history = cache.order_history(int(customer_id), start, stop)
    orders = order_service.order_summary(history)

    high_value = customer["tier"] in HIGH_VALUE_TIERS
    st.markdown(f"**{customer['code']} — {customer['name']}** · segment {customer['segment'] or '-'} · tier "
                f"{customer['tier'] or '-'}" + (" · :orange-badge[high value]" if high_value else "")
                + f" · {customer['email'] or 'no e-mail on file: call them'}")
    row = st.columns(5)
    row[0].metric("Orders in period", f"{len(orders):,}")
    row[1].metric("Order value in period", money(orders["value"].sum()), help="Σ qty × unit price × (1 − discount)")
    row[2].metric("Open order lines", f"{len(mine_open):,}")
    row[3].metric("Backordered lines", f"{len(mine_back):,}")
    row[4].metric("Backorder value", money(mine_back["value"].sum()) if len(mine_back) else money(0.0),
                  help="Open quantity of the backordered lines at their net price")

    # backorders with ETA
    st.subheader(f"Backorders ({len(mine_back):,})")
    chosen_line = None
    if mine_back.empty:
        st.info("No open backorder for this customer: every open line is still before its requested date or "
                "shipped. Pick a customer marked “backordered” in the list to see one.")
    else:
        counts = order_service.eta_status(mine_back)
        if counts.not_estimated:
            st.warning(f"{counts.not_estimated:,} backorder(s) have no ETA yet: run `python -m jobs backorders` or "
                       "press **Re-estimate ETAs now**.")
        if counts.no_supply:
            st.info(f"{counts.no_supply:,} backorder(s) have no known supply: no purchase or production order covers "
                    "them yet. Offer an alternative below, or ask purchasing for a date.")
        shown = mine_back.assign(eta_state=mine_back["eta_state"].map(order_service.ETA_STATE_LABELS))[[
            "order_no", "line_no", "sku", "product_name", "location", "requested_date", "qty_open", "value", "eta",
            "days_late", "previous_eta", "eta_state", "eta_source", "eta_reference", "eta_computed_at", "marks",
            "age_days"]]
        st.dataframe(shown, hide_index=True, width="stretch", column_config={
            **LABELS, "requested_date": DATE("Requested"), "qty_open": NUMBER("Open (units)", format="%,.0f"),
            "value": NUMBER("Open value", format="%,.2f"), "eta": DATE("ETA"),
            "days_late": NUMBER("Days past requested", format="%d"), "previous_eta": DATE("Previous ETA"),
            "eta_state": "ETA", "eta_source": "ETA from", "eta_reference": "PO / MO",
            "eta_computed_at": st.column_config.DatetimeColumn("ETA computed (UTC)", format="YYYY-MM-DD HH:mm"),
            "marks": "Marks", "age_days": NUMBER("Age (days)", format="%d")})
        exports.download_buttons(shown, f"backorders_{customer['code']}", "backorders")

        line_labels = {
            int(r.line_id): f"{r.order_no}/{r.line_no} · {r.sku} {r.product_name} · {r.qty_open:,.0f} open · ETA "
                            + (f"{r.eta:%Y-%m-%d}" if pd.notna(r.eta) else "none")
            for r in mine_back.itertuples()
        }
        chosen_id = st.selectbox("Backordered line", list(line_labels), format_func=line_labels.get,
                                 help="Its alternatives and its order's contact log are shown below.")
        chosen_line = mine_back.set_index("line_id").loc[chosen_id]
        eta = chosen_line["eta"]
        row = st.columns(4)
        row[0].metric("ETA", f"{eta:%Y-%m-%d}" if pd.notna(eta) else "none yet",
                      None if pd.isna(chosen_line["eta_moved_days"]) else
                      f"{chosen_line['eta_moved_days']:+,.0f} days vs previous ETA", delta_color="inverse")
        row[1].metric("Requested", f"{chosen_line['requested_date']:%Y-%m-%d}")
        row[2].metric("Open (units)", f"{chosen_line['qty_open']:,.0f}")
        row[3].metric("Allocation rank", "-" if pd.isna(chosen_line["allocation_rank"])
                      else f"{int(chosen_line['allocation_rank']):,}",
                      help="Its place in the queue for this product's stock and receipts at its location (priority, "
                           "tier, order date)")
        source, reference = chosen_line["eta_source"], chosen_line["eta_reference"]
        if pd.isna(source):
            st.caption("Not estimated yet: press **Re-estimate ETAs now** or run `python -m jobs backorders`.")
        elif source == "none":
            st.caption("No known supply covers this line yet: no purchase or production order is due for it.")
        else:
            marks = f" Marked: {chosen_line['marks']}." if chosen_line["marks"] else ""
            st.caption(f"ETA from {'stock on hand' if source == 'stock' else f'{source} order'}"
                       + (f" {reference}" if pd.notna(reference) else "") + "." + marks)

        st.subheader(f"Alternatives to {chosen_line['sku']} {chosen_line['product_name']}")
        band = st.select_slider("Same category, priced within", options=(0.1, 0.25, 0.5, 1.0), value=0.25,
                                format_func=lambda v: f"±{v:.0%}")
        options = cache.alternatives(int(chosen_line["product_id"]), int(chosen_line["location_id"]), as_of,
                                           band)
        if options.empty:
            st.info(f"No substitute is recorded for {chosen_line['sku']} and no active product of its category is "
                    f"priced within ±{band:.0%}: widen the price band, or record substitutes (product_substitutes "
                    "in the interchange format).")
        else:
            best = order_service.first_available(options)
            if best is None:
                st.warning("None of the alternatives is available at any location now: offer the ETA, or the next "
                           "receipt of an alternative (table).")
            else:
                where = (f"{best['available_here']:,.0f} available at {chosen_line['location']} now"
                         if best["available_here"] > 0 else
                         f"{best['available_elsewhere']:,.0f} available at other locations now")
                price = "" if pd.isna(best["price_diff"]) else f", {best['price_diff']:+.0%} price"
                kind = "substitute" if best["reason"] == "substitute" else "same category"
                st.markdown(f"**Offer first:** {best['sku']} {best['name']} ({kind}{price}): {where}.")
            alternatives = options.assign(reason=options["reason"].map(
                {"substitute": "substitute", "same_category": "same category, similar price"}))
            st.caption(f"Substitutes first (by rank), then products of the same category by closeness of price. "
                       f"Availability at {chosen_line['location']} now (ATP: stock not promised to other orders).")
            st.dataframe(alternatives[[
                "reason", "rank", "sku", "name", "unit_price", "price_diff", "available", "available_here",
                "available_elsewhere", "next_receipt_date", "next_receipt_qty"]], hide_index=True, width="stretch",
                column_config={
                    **LABELS, "unit_price": NUMBER("Unit price", format="%,.2f"),
                    "price_diff": NUMBER("Price vs ordered", format="percent"),
                    "available": st.column_config.CheckboxColumn("Available here"),
                    "available_here": NUMBER(f"ATP at {chosen_line['location']}", format="%,.0f"),
                    "available_elsewhere": NUMBER("ATP elsewhere", format="%,.0f"),
                    "next_receipt_date": DATE("Next receipt"), "next_receipt_qty": NUMBER("Next receipt (units)",
                                                                                        format="%,.0f")})
            exports.download_buttons(alternatives, f"alternatives_{chosen_line['sku']}", "alternatives")

    # open lines
    st.subheader(f"Open order lines ({len(mine_open):,})")
    if mine_open.empty:
        st.info("No open order line: nothing waits to ship for this customer.")
    else:
        shown = mine_open[["order_no", "line_no", "sku", "product_name", "location", "order_date", "requested_date",
                           "promised_date", "qty_ordered", "qty_shipped", "qty_open", "open_value", "state",
                           "expected_ship_date", "marks"]]
        st.dataframe(shown, hide_index=True, width="stretch", column_config={
            **LABELS, "order_date": DATE("Order date"), "requested_date": DATE("Requested"),
            "promised_date": DATE("Promised"), "qty_ordered": NUMBER("Ordered (units)", format="%,.0f"),
            "qty_shipped": NUMBER("Shipped (units)", format="%,.0f"), "qty_open": NUMBER("Open (units)", format="%,.0f"),
            "open_value": NUMBER("Open value", format="%,.2f"),
            "expected_ship_date": DATE("Expected to ship"), "marks": "Marks"})
        exports.download_buttons(shown, f"open_lines_{customer['code']}", "open lines")

    # order history
    st.subheader(f"Order history {start:%Y-%m-%d} to {stop:%Y-%m-%d}")
    if orders.empty:
        st.info("No order from this customer in this period: widen the period above.")
    else:
        monthly = order_service.order_value_by_month(history)
        chart = px.bar(monthly, x="month", y="value", hover_data=["orders"],
                       title=f"Order value by month, {customer['code']} {customer['name']}",
                       labels={"month": "Month ordered", "value": "Order value, net of discounts (currency)",
                               "orders": "Orders"})
        chart.update_yaxes(tickformat=",.0f")
        st.plotly_chart(chart, width="stretch")
        st.dataframe(orders, hide_index=True, width="stretch", column_config={
            **LABELS, "order_date": DATE("Order date"), "units_ordered": units("Units ordered"),
            "units_shipped": units("Units shipped"), "open_units": units("Units open"), "value": amount("Value"),
            "open_value": amount("Open value"), "last_ship_date": DATE("Last shipped"),
            "priority": st.column_config.CheckboxColumn("Priority")})
        exports.download_buttons(orders, f"orders_{customer['code']}", "orders")
        with st.expander(f"Order lines ({len(history):,})"):
            st.dataframe(history, hide_index=True, width="stretch", column_config={
                **LABELS, "order_date": DATE("Order date"), "requested_date": DATE("Requested"),
                "promised_date": DATE("Promised"), "last_ship_date": DATE("Last shipped"),
                "last_delivery_date": DATE("Delivered"), "unit_price": amount("Unit price"),
                "discount": NUMBER("Discount", format="percent"), "qty_ordered": units("Ordered (units)"),
                "qty_shipped": units("Shipped (units)"), "qty_cancelled": units("Cancelled (units)")})
            exports.download_buttons(history, f"order_lines_{customer['code']}", "order lines")

    # contact log
    st.subheader("Contact log")
    order_numbers = list(dict.fromkeys([
        *([chosen_line["order_no"]] if chosen_line is not None else []), *mine_back["order_no"],
        *mine_open["order_no"], *orders["order_no"]]))
    if not order_numbers:
        st.info("This customer has no order in the period and none open: widen the period to log a contact about "
                "an older order.")
    else:
        order_no = st.selectbox("Order", order_numbers,
                                help="The selected backordered line's order first, then open orders, then the history.")
        log = cache.contacts(order_no)
        if log.empty:
            st.caption(f"No contact logged about order {order_no} yet.")
        else:
            st.dataframe(log[["ts", "user_name", "channel", "line_no", "message"]], hide_index=True, width="stretch",
                         column_config={"ts": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm"),
                                        "user_name": "Who", "channel": "Channel", "line_no": "Line",
                                        "message": "What the customer was told"})
            exports.download_buttons(log, f"contacts_{order_no}", "contact log")
        order_lines_no = sorted(set(history.loc[history["order_no"] == order_no, "line_no"])
                                | set(mine_open.loc[mine_open["order_no"] == order_no, "line_no"]))
        with st.form("log_contact", clear_on_submit=True):
            left, right = st.columns(2)
            channel = left.selectbox("Channel", store.CONTACT_CHANNELS)
            default_line = int(chosen_line["line_no"]) if (chosen_line is not None
                                                           and chosen_line["order_no"] == order_no) else None
            line_choices = [None, *order_lines_no]
            line_no = right.selectbox("About line", line_choices,
                                      index=line_choices.index(default_line) if default_line in line_choices else 0,
                                      format_func=lambda n: "the whole order" if n is None else f"line {n}")
            told = st.text_area("What was the customer told?",
                                placeholder="e.g. Called the buyer: ETA 2026-11-08, offered the substitute; they wait.")
            st.caption(f"Logged as **{user}** at the current time (UTC).")
            submitted = st.form_submit_button("Log contact", type="primary")
        if submitted:
            try:
                new_id = store.add_contact(engine, order_no, told, user, channel=channel, line_no=line_no)
            except ValueError as error:
                st.error(f"Contact not logged: {error}. Write what the customer was told, then press Log contact.")
            else:
                cache.refresh_contacts()
                st.session_state["sales_flash"] = f"Contact #{new_id} about order {order_no} logged by {user}."
                st.rerun()


# --- promise a date ---------------------------------------------------------------------------------------------------


def promise_view() -> None:
    """Earliest date and split plan for a quantity of a product from a location, with its ATP."""
    catalog = cache.catalog()
    active = catalog[catalog["active"]]
    places = cache.locations()
    codes = dict(zip(places["location_id"], places["code"], strict=True))
    product_labels = dict(zip(active["product_id"], active["sku"] + " — " + active["name"], strict=True))
    if not product_labels or not codes:
        st.info("No active product or no location yet: load products and locations first (`python -m etl load DIR`).")
        return
    left, right = st.columns(2)
    product_id = left.selectbox("Product", list(product_labels), format_func=product_labels.get, key="promise_product",
                                help="Type to search by SKU or name.")
    location_id = right.selectbox("Ship from", list(codes), format_func=lambda i: f"{codes[i]} — "
                                  f"{places.set_index('location_id').at[i, 'name']}", key="promise_location")
    left, middle, right = st.columns(3)
    qty = left.number_input("Quantity (units)", min_value=1.0, value=10.0, step=1.0, format="%.0f")
    requested = middle.date_input("Requested date", value=as_of + dt.timedelta(days=7), min_value=as_of)
    transfers = right.checkbox("Allow transfers from other locations", value=True)
    answer = cache.promise(int(product_id), int(location_id), float(qty), requested, as_of, transfers)
    row = st.columns(4)
    row[0].metric("Earliest date (whole quantity)", f"{answer.date:%Y-%m-%d}" if answer.date else "not covered")
    row[1].metric(f"In one shipment from {codes[location_id]}",
                  f"{answer.single_shipment_date:%Y-%m-%d}" if answer.single_shipment_date else "not covered")
    row[2].metric("Days after the requested date",
                  "n/a" if answer.date is None else f"{max((answer.date - answer.requested_date).days, 0):,}")
    row[3].metric("Shipments", f"{len({p.ship_date for p in answer.pieces}):,}")
    if answer.date is None:
        st.error(f"Known supply covers {answer.qty_covered:,.0f} of {answer.qty:,.0f} units: {answer.qty_short:,.0f} "
                 "have no date yet (no stock, purchase or production order covers them). Promise the covered part, "
                 "offer an alternative, or ask purchasing for a date.")
    elif answer.on_time:
        st.success(f"{answer.qty:,.0f} units can ship on {answer.date:%Y-%m-%d}: on the requested date"
                   + (", in several shipments (plan below)." if answer.split else "."))
    else:
        st.warning(f"The whole {answer.qty:,.0f} units can ship on {answer.date:%Y-%m-%d}, "
                   f"{(answer.date - answer.requested_date).days:,} day(s) after the requested date"
                   + (": the plan below ships part of it earlier." if answer.split else "."))
    st.caption("Only stock and receipts not promised to other open orders count (available-to-promise); a receipt "
               "expected but not arrived counts from tomorrow; transfers take the lane's days (default "
               "`default_transfer_days`).")
    plan = order_service.plan_table(answer, codes)
    if not plan.empty:
        st.dataframe(plan, hide_index=True, width="stretch", column_config={
            **LABELS, "qty": NUMBER("Units", format="%,.0f"), "ship_date": DATE("Ships"), "from": "From", "how": "How",
            "available_date": DATE("Available at source"), "transfer_days": NUMBER("Transfer (days)", format="%g"),
            "reference": "PO / MO"})
        exports.download_buttons(plan, f"promise_{product_labels[product_id].split(' — ')[0]}", "plan")

    curve = cache.atp(int(product_id), int(location_id), as_of)
    chart = px.line(curve, x="period", y="available", line_shape="hv",
                    title=f"Available to promise, {product_labels[product_id]} at {codes[location_id]}, "
                          "next 90 days",
                    labels={"period": "Date", "available": "Available to promise (units)"})
    chart.update_yaxes(tickformat=",~f", rangemode="tozero")
    st.plotly_chart(chart, width="stretch")
    stock = cache.availability((int(product_id),), as_of)
    if stock.empty:
        st.info("No stock, receipt or open order of this product at any location.")
    else:
        where = order_service.availability_status(stock, float(qty))[[
            "location", "on_hand", "open_demand", "scheduled_receipts", "available_now", "next_receipt_date",
            "next_receipt_qty", "available_date", "status_text"]]
        st.markdown(f"**Availability of {product_labels[product_id]} by location**")
        st.dataframe(where, hide_index=True, width="stretch", column_config={
            **LABELS, "on_hand": NUMBER("On hand", format="%,.0f"), "open_demand": NUMBER("Open orders (units)", format="%,.0f"),
            "scheduled_receipts": NUMBER("Incoming (units)", format="%,.0f"),
            "available_now": NUMBER("Available now (ATP)", format="%,.0f"),
            "next_receipt_date": DATE("Next receipt"), "next_receipt_qty": NUMBER("Next receipt (units)",
                                                                                  format="%,.0f"),
            "available_date": DATE("Available from"), "status_text": f"For {qty:,.0f} units"})
        exports.download_buttons(where, f"availability_{product_labels[product_id].split(' — ')[0]}", "availability")


customer_tab, promise_tab = st.tabs(["Customer and backorders", "Promise a date"])
with customer_tab:
    customer_view()
with promise_tab:
    promise_view()
