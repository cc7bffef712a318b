"""Warehouse: barcode scanning for receiving, picking and shipping, and counts; the pick list of a location
(backorders first, then the allocation priority) in picking-route order; reconciliation of counts and of the ledger
against the snapshots; the scans written.

A handheld scanner types the code and Enter into the focused field, which submits its form. Rules:
``analytics.warehouse``; reads and the scan commands (one transaction each, ledger + document + audit + derived
state): ``data_access.warehouse``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analytics import warehouse as rules
from data_access import warehouse as store
from data_access.config import load_settings
from pages import cache, exports

st.title("Warehouse")
engine = cache.engine()
user = st.session_state.get("username") or "warehouse"
if message := st.session_state.pop("warehouse_flash", None):
    st.success(message)

end = cache.data_end_or_stop("products or stock")
cache.freshness()

NUMBER, DATE = st.column_config.NumberColumn, st.column_config.DateColumn
UNITS = "%,.0f"
locations = cache.locations()
codes = dict(zip(locations["location_id"], locations["code"], strict=True))
names = dict(zip(locations["location_id"], locations["name"], strict=True))
left, right = st.columns([2, 3])
location_id = left.selectbox("Working at location", list(codes), format_func=lambda i: f"{codes[i]} — {names[i]}",
                             key="warehouse_location")
right.caption("Scanning: click a barcode field and scan; the scanner's Enter submits. A GTIN (with or without its "
              "leading zeros) or a SKU names the product; scan a location label into the location field to work "
              "elsewhere than the location chosen here.")


def _done(result: store.ScanResult, text: str) -> None:
    """After a scan: forget the cached reads it changed, say what was written, show the page again."""
    cache.refresh_after_scan()
    st.session_state["warehouse_flash"] = f"{text} Took {result.seconds:.2f} s."
    st.rerun()


def _product_card(item: dict) -> None:
    st.markdown(f"**{item['sku']}** — {item['name']} · GTIN {item['gtin'] or '(none)'} · {item['category']} · at "
                f"**{item['location']}**")


def _scan_form(form: str, button: str, state_key: str) -> None:
    """Step 1 of a receipt or count: scan a product (and a location); the resolved item goes to ``state_key``."""
    with st.form(form, clear_on_submit=True):
        first, second = st.columns([3, 2])
        code = first.text_input("Product barcode (GTIN) or SKU", key=f"{form}_code")
        where = second.text_input("Location code", value=codes[location_id], key=f"{form}_location_{location_id}")
        submitted = st.form_submit_button(button, type="primary")
    if submitted:
        try:
            product = store.resolve_product(engine, code)
            place = store.resolve_location(engine, where)
        except store.ScanRefused as error:
            st.session_state.pop(state_key, None)
            st.error(f"Scan not accepted: {error}.")
        else:
            st.session_state[state_key] = {**product, "location_id": place["location_id"], "location": place["code"]}


receive_tab, pick_tab, count_tab, recon_tab, log_tab = st.tabs(
    ["Receive", "Pick & ship", "Count", "Reconciliation", "Scan log"])

# --- receive against a purchase line -------------------------------------------------------------------------------
with receive_tab:
    st.caption("Scan the product arriving; its open purchase lines at the location are listed, earliest expected "
               "first. Receiving more than a line has open is refused.")
    _scan_form("warehouse_receive_scan", "Look up purchase lines", "warehouse_receive_item")
    item = st.session_state.get("warehouse_receive_item")
    if item:
        _product_card(item)
        held = store.on_hand(engine, item["product_id"], item["location_id"])
        lines = store.open_po_lines(engine, item["product_id"], item["location_id"])
        st.caption(f"On hand per ledger (units): {held:,.0f}.")
        if lines.empty:
            st.warning(f"No open purchase line for {item['sku']} at {item['location']}: nothing to receive against. "
                       "Check the delivery note's PO number with purchasing; goods without an order are not received "
                       "here.")
        else:
            st.dataframe(lines.drop(columns="po_line_id"), hide_index=True, width="stretch", column_config={
                "po_no": "PO", "line_no": "Line", "supplier": "Supplier", "order_date": DATE("Ordered"),
                "expected_date": DATE("Expected"), "qty_ordered": NUMBER("Ordered", format=UNITS),
                "qty_received": NUMBER("Received", format=UNITS), "qty_open": NUMBER("Still to receive", format=UNITS),
                "unit_cost": NUMBER("Unit cost", format="%,.4f"), "status": "Status"})
            labels = {int(r.po_line_id): f"{r.po_no}/{r.line_no} · {r.supplier} · {r.qty_open:,.0f} still to receive"
                      for r in lines.itertuples()}
            with st.form("warehouse_receive_confirm"):
                chosen = st.selectbox("Purchase line", list(labels), format_func=labels.get)
                qty = st.number_input("Quantity received (units)", min_value=0.0, step=1.0,
                                      value=float(lines["qty_open"].iloc[0]))
                confirm = st.form_submit_button("Confirm receipt", type="primary")
            if confirm:
                try:
                    result = store.receive(engine, chosen, qty, user, product_id=item["product_id"],
                                           location_id=item["location_id"])
                except store.ScanRefused as error:
                    st.error(f"Receipt refused: {error}.")
                else:
                    st.session_state.pop("warehouse_receive_item", None)
                    _done(result, f"Received {result.qty:,.0f} × {result.sku} at {result.location} on "
                                  f"{result.document} (line now {result.status}); on hand {result.on_hand_after:,.0f}.")
        if st.button("Clear this scan", key="warehouse_receive_clear"):
            st.session_state.pop("warehouse_receive_item", None)
            st.rerun()

# --- pick list, route and pick confirmation ---------------------------------------------------------------------------
with pick_tab:
    horizon = st.selectbox("Lines requested up to", (0, 1, 2, 3, 7, 14), index=1, key="warehouse_horizon",
                           format_func=lambda d: "today (as of the data)" if d == 0 else f"{d} day(s) ahead")
    picks, read_at = cache.warehouse_pick_list(location_id, end, horizon)
    cache.freshness(read_at)
    priority = ", ".join(load_settings().backorder_priority)
    st.caption(f"Order as of {end:%Y-%m-%d}: backorders first (requested date already past), then {priority} "
               "(`[backorders] priority` in config.toml); stock on hand goes to the lines in that order. "
               + rules.ROUTE_NOTE)
    summary = rules.pick_summary(picks)
    row = st.columns(5)
    row[0].metric("Open lines due", f"{summary['lines']:,}")
    row[1].metric("Backorder lines", f"{summary['backorder_lines']:,}")
    row[2].metric("Lines to pick now", f"{summary['pickable_lines']:,}")
    row[3].metric("Units to pick", f"{summary['units_to_pick']:,.0f}")
    row[4].metric("Route stops", f"{summary['stops']:,}")
    columns = ["route_seq", "route_stop", "sku", "product_name", "qty_to_pick", "qty_open", "on_hand", "pick_state",
               "order_no", "line_no", "customer", "customer_name", "tier", "priority", "requested_date", "days_late",
               "backorder", "pick_rank"]
    if picks.empty:
        st.success(f"No open order line at {codes[location_id]} is due by then: nothing to pick.")
    else:
        st.dataframe(picks[columns], hide_index=True, width="stretch", column_config={
            "route_seq": NUMBER("Walk #", format="%d"), "route_stop": NUMBER("Stop", format="%d"), "sku": "SKU",
            "product_name": "Product", "qty_to_pick": NUMBER("Pick", format=UNITS),
            "qty_open": NUMBER("Open", format=UNITS), "on_hand": NUMBER("On hand", format=UNITS),
            "pick_state": "Stock", "order_no": "Order", "line_no": "Line", "customer": "Customer",
            "customer_name": "Name", "tier": "Tier", "priority": NUMBER("Priority", format="%d"),
            "requested_date": DATE("Requested"), "days_late": NUMBER("Days late", format="%d"),
            "backorder": st.column_config.CheckboxColumn("Backorder"), "pick_rank": NUMBER("Rank", format="%d")})
        exports.download_buttons(picks[columns], f"pick_list_{codes[location_id]}_{end:%Y%m%d}", "pick list")

    pickable = picks[picks["qty_to_pick"] > 0] if len(picks) else picks
    if len(picks) and pickable.empty:
        st.info(f"None of these lines has stock at {codes[location_id]}: receive the incoming purchase lines first "
                "(Receive tab); the lines become pickable as soon as the receipt is scanned.")
    if len(pickable):
        st.subheader("Confirm a pick")
        options = {int(r.line_id): (f"#{r.route_seq} · {r.sku} → {r.order_no}/{r.line_no} · pick {r.qty_to_pick:,.0f}"
                                    f" of {r.qty_open:,.0f}" + (" · BACKORDER" if r.backorder else ""))
                   for r in pickable.itertuples()}
        if st.session_state.get("warehouse_pick_line") not in options:
            st.session_state.pop("warehouse_pick_line", None)
        line_id = st.selectbox("Line to pick (walk order)", list(options), format_func=options.get,
                               key="warehouse_pick_line")
        line = pickable.set_index("line_id").loc[line_id]
        with st.form("warehouse_pick", clear_on_submit=True):
            first, second = st.columns([3, 2])
            code = first.text_input("Scan the picked product to confirm", key="warehouse_pick_code")
            qty = second.number_input("Quantity picked (units)", min_value=0.0, step=1.0,
                                      value=float(line["qty_to_pick"]), key=f"warehouse_pick_qty_{line_id}")
            first, second = st.columns(2)
            carrier = first.text_input("Carrier (optional)", key="warehouse_pick_carrier")
            tracking = second.text_input("Tracking number (optional)", key="warehouse_pick_tracking")
            confirm = st.form_submit_button("Confirm pick and ship", type="primary")
        if confirm:
            try:
                product = store.resolve_product(engine, code)
                result = store.ship(engine, line_id, qty, user, product_id=product["product_id"], carrier=carrier,
                                    tracking_no=tracking)
            except store.ScanRefused as error:
                st.error(f"Pick refused: {error}.")
            else:
                st.session_state.pop("warehouse_pick_line", None)
                _done(result, f"Shipped {-result.qty:,.0f} × {result.sku} from {result.location} as {result.document} "
                              f"(line {line['order_no']}/{line['line_no']} now {result.status}); on hand "
                              f"{result.on_hand_after:,.0f}.")

# --- count ----------------------------------------------------------------------------------------------------------
with count_tab:
    st.caption("Blind count: scan the product and the location, count the shelf, enter what you counted. The "
               "difference to the ledger is posted as a count movement; the count is kept for reconciliation.")
    _scan_form("warehouse_count_scan", "Start count", "warehouse_count_item")
    item = st.session_state.get("warehouse_count_item")
    if item:
        _product_card(item)
        with st.form("warehouse_count_confirm", clear_on_submit=True):
            counted = st.number_input("Counted quantity (units)", min_value=0.0, step=1.0, value=None,
                                      key="warehouse_counted")
            confirm = st.form_submit_button("Record count", type="primary")
        if confirm:
            try:
                if counted is None:
                    raise store.ScanRefused("enter the counted quantity (0 for an empty shelf)")
                result = store.count(engine, item["product_id"], item["location_id"], counted, user)
            except store.ScanRefused as error:
                st.error(f"Count not recorded: {error}.")
            else:
                st.session_state.pop("warehouse_count_item", None)
                system = result.on_hand_after - result.qty
                change = ("no difference" if result.movement_no is None
                          else f"adjustment {result.qty:+,.0f} units at {result.unit_cost or 0:,.2f}")
                _done(result, f"Count {result.document}: {result.sku} at {result.location} counted "
                              f"{result.on_hand_after:,.0f}, ledger had {system:,.0f}: {change}.")
        if st.button("Clear this scan", key="warehouse_count_clear"):
            st.session_state.pop("warehouse_count_item", None)
            st.rerun()

# --- reconciliation ---------------------------------------------------------------------------------------------------
with recon_tab:
    days = st.selectbox("Counts of the last", (7, 30, 90, 365), index=1, format_func=lambda d: f"{d} days",
                        key="warehouse_recon_days")
    since = min(end, dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=days)
    counts, counted_at = cache.warehouse_counts(since)
    cache.freshness(counted_at)
    found = rules.count_discrepancies(counts)
    st.caption("Discrepancy = counted − ledger quantity at the count; value at the product's standard cost. "
               "Accuracy = counts without a discrepancy / counts.")
    if found.empty:
        st.info(f"No count since {since:%Y-%m-%d}. Counts scanned in the Count tab (or loaded as cycle_counts.csv) "
                "appear here.")
    else:
        row = st.columns(4)
        row[0].metric("Counts", f"{len(found):,}")
        row[1].metric("Accuracy", f"{found['accurate'].mean():.1%}")
        row[2].metric("Net discrepancy (units)", f"{found['diff_units'].sum():+,.0f}")
        row[3].metric("Net discrepancy (value)", f"{found['diff_value'].sum():+,.2f}")
        by_location = rules.counts_by_location(found)
        st.subheader("By location")
        st.dataframe(by_location, hide_index=True, width="stretch", column_config={
            "location": "Location", "counts": NUMBER("Counts", format="%,d"),
            "accurate": NUMBER("Accurate", format="%,d"), "accuracy": NUMBER("Accuracy", format="percent"),
            "net_units": NUMBER("Net units", format="%+,.0f"), "abs_units": NUMBER("Absolute units", format="%,.0f"),
            "net_value": NUMBER("Net value", format="%+,.2f"), "abs_value": NUMBER("Absolute value", format="%,.2f")})
        exports.download_buttons(by_location, f"count_accuracy_by_location_{since:%Y%m%d}", "by location")
        only_off = st.toggle("Only counts with a discrepancy", value=True, key="warehouse_recon_only_off")
        shown = found[~found["accurate"]] if only_off else found
        st.subheader(f"Counts ({len(shown):,})")
        count_columns = ["count_no", "count_date", "location", "sku", "name", "category", "system_qty", "counted_qty",
                         "diff_units", "unit_cost", "diff_value", "user_name"]
        st.dataframe(shown[count_columns], hide_index=True, width="stretch", column_config={
            "count_no": "Count", "count_date": DATE("Date"), "location": "Location", "sku": "SKU", "name": "Product",
            "category": "Category", "system_qty": NUMBER("Ledger", format=UNITS),
            "counted_qty": NUMBER("Counted", format=UNITS), "diff_units": NUMBER("Difference", format="%+,.0f"),
            "unit_cost": NUMBER("Unit cost", format="%,.2f"), "diff_value": NUMBER("Value", format="%+,.2f"),
            "user_name": "Counted by"})
        exports.download_buttons(shown[count_columns], f"count_discrepancies_{since:%Y%m%d}", "counts")

    st.subheader("Ledger against snapshots")
    mismatches, day, compared_at = cache.warehouse_mismatches()
    st.caption(f"On hand per ledger (sum of movements up to the end of the latest snapshot day) against that day's "
               f"snapshot, per item-location; compared {compared_at:%H:%M:%S}, refreshed every "
               f"{cache.SLOW_TTL_SECONDS // 60} min. A difference means movements were written without refreshing "
               "the snapshots (a load or scan keeps them in step).")
    if day is None:
        st.info("No snapshots yet: they are built by the first load.")
    elif mismatches.empty:
        st.success(f"Ledger and snapshots agree on every item-location as of {day:%Y-%m-%d}.")
    else:
        st.warning(f"{len(mismatches):,} item-locations differ as of {day:%Y-%m-%d}: reload the data "
                   "(`python -m etl load DIR`) to rebuild the snapshots, then count any that still differ.")
        mismatch_columns = ["sku", "name", "location", "ledger_qty", "snapshot_qty", "diff_units", "unit_cost",
                            "diff_value"]
        st.dataframe(mismatches[mismatch_columns], hide_index=True, width="stretch", column_config={
            "sku": "SKU", "name": "Product", "location": "Location", "ledger_qty": NUMBER("Ledger", format=UNITS),
            "snapshot_qty": NUMBER("Snapshot", format=UNITS), "diff_units": NUMBER("Difference", format="%+,.0f"),
            "unit_cost": NUMBER("Unit cost", format="%,.2f"), "diff_value": NUMBER("Value", format="%+,.2f")})
        exports.download_buttons(mismatches[mismatch_columns], f"ledger_snapshot_mismatches_{day:%Y%m%d}",
                                 "ledger vs snapshot")
    if st.button("Compare again now", key="warehouse_recompare"):
        cache.warehouse_mismatches.clear()
        st.rerun()

# --- scans written ----------------------------------------------------------------------------------------------------
with log_tab:
    since_log = min(end, dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=30)
    log = cache.warehouse_scan_log(since_log)
    mine = st.toggle("Only my scans", value=False, key="warehouse_log_mine")
    shown_log = log[log["user_name"] == user] if mine else log
    st.caption(f"Ledger movements written by scans since {since_log:%Y-%m-%d}, newest first (times in UTC).")
    if shown_log.empty:
        st.info("No scan written yet in this period.")
    else:
        st.dataframe(shown_log, hide_index=True, width="stretch", column_config={
            "ts": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"), "kind": "Kind",
            "sku": "SKU", "name": "Product", "location": "Location", "qty": NUMBER("Units", format="%+,.0f"),
            "unit_cost": NUMBER("Unit cost", format="%,.4f"), "reference": "Document", "user_name": "User",
            "movement_no": "Movement"})
        exports.download_buttons(pd.DataFrame(shown_log), f"scans_{since_log:%Y%m%d}", "scans")
