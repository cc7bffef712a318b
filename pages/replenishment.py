"""Replenishment (planner): run the automatic replenishment, then approve, edit or reject its proposals.

Each proposal carries the numbers behind it (inventory position, demand, lead time, reorder point);
approving creates the purchase or production order. Low-stock notices queued for purchasing are listed.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access import notifications
from data_access import replenishment as proposals_store
from jobs.replenish import run_replenishment
from pages import cache, exports

st.title("Replenishment")
engine = cache.engine()
user = st.session_state.get("username") or "planner"

with st.expander("Run the automatic replenishment", expanded=False):
    left, middle = st.columns(2)
    service_level = left.slider("Cycle service level", 0.80, 0.995, 0.95, 0.005, format="%.3f",
                                help="Probability of no stockout in a replenishment cycle; sets the safety stock")
    policy = middle.selectbox("Policy", ("sS", "sQ", "RS"),
                              format_func={"sS": "(s, S) min–max", "sQ": "(s, Q) fixed lot",
                                           "RS": "(R, S) periodic order-up-to"}.get)
    if st.button("Run now", type="primary"):
        bar = st.progress(0.0, text="Reading stock, demand and lead times…")
        result = run_replenishment(engine, policy=policy, service_level=service_level,
                                   progress=lambda fraction, message: bar.progress(min(fraction, 1.0), text=message))
        bar.empty()
        counts = result.counts
        st.success(f"{counts['items']:,} item-locations evaluated, {counts['triggered']:,} at or below their trigger: "
                   f"{counts.get('created', 0):,} new proposals, {counts.get('updated', 0):,} updated, "
                   f"{counts['notifications']:,} notices queued.")

queue = proposals_store.proposals(engine, status="proposed")
st.subheader(f"Open proposals ({len(queue):,})")
if queue.empty:
    st.info("No open proposal. Run the automatic replenishment above, or wait for the scheduled run.")
else:
    rationale = pd.json_normalize(queue["rationale"].tolist()).add_prefix("why_")
    table = pd.concat([queue.drop(columns=["rationale"]).reset_index(drop=True), rationale], axis=1)
    table.insert(0, "select", False)
    shown = ["select", "id", "kind", "sku", "name", "location", "supplier", "qty", "order_date", "due_date", "policy",
             *[c for c in ("why_inventory_position", "why_reorder_point", "why_order_up_to", "why_demand_mean",
                           "why_lead_time_mean") if c in table]]
    edited = st.data_editor(
        table[shown], hide_index=True, width="stretch", disabled=[c for c in shown if c not in ("select", "qty")],
        column_config={
            "select": st.column_config.CheckboxColumn("✓", help="Pick the proposals to decide"),
            "qty": st.column_config.NumberColumn("Quantity", help="Edit before approving: rounded to MOQ and multiple",
                                                 min_value=0.0, format="%,.0f"),
            "order_date": st.column_config.DateColumn("Order date"), "due_date": st.column_config.DateColumn("Due"),
        },
        key="proposals",
    )
    picked = edited[edited["select"]]
    approve, reject = st.columns(2)
    if approve.button(f"Approve {len(picked)} selected", disabled=picked.empty, type="primary"):
        changed = {int(r.id): float(r.qty) for r in picked.itertuples()
                   if float(r.qty) != float(queue.loc[queue["id"] == r.id, "qty"].iloc[0])}
        orders = proposals_store.approve_many(engine, [int(i) for i in picked["id"]], user, qty=changed)
        st.success(f"Approved {len(picked)}: created {len(orders)} order(s).")
        st.rerun()
    if reject.button(f"Reject {len(picked)} selected", disabled=picked.empty):
        proposals_store.reject_many(engine, [int(i) for i in picked["id"]], user)
        st.rerun()
    exports.download_buttons(table.drop(columns=["select"]), "replenishment_proposals")

st.subheader("Low-stock notices for purchasing")
notices = notifications.recent(engine, limit=20)
if notices.empty:
    st.caption("No notice queued yet.")
else:
    st.dataframe(notices, hide_index=True, width="stretch")
