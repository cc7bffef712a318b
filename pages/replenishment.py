"""Replenishment (planner; production sees it too).

Proposals: run the automatic replenishment, then approve, edit or reject its proposals; each carries the numbers
behind it (inventory position, demand, lead time, reorder point), and approving creates the purchase or production
order. What-if: pick a policy and its parameters for one item-location or a group, see the simulated outcome and
the service/inventory trade-off curve (``analytics.whatif``). Low-stock notices queued for purchasing are listed.
"""

from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics import whatif
from data_access import notifications
from data_access import replenishment as proposals_store
from jobs.replenish import run_replenishment
from pages import cache, exports

POLICY_NAMES = {"sS": "(s, S) min–max", "sQ": "(s, Q) fixed lot", "RS": "(R, S) periodic order-up-to"}
SCOPE_NAMES = {"item": "One item-location", "category": "A category", "location": "A location",
               "all": "All item-locations"}

st.title("Replenishment")
engine = cache.engine()
user = st.session_state.get("username") or "planner"
end = cache.data_end_or_stop("orders", then=", then run the replenishment here")
cache.freshness()
proposals_tab, whatif_tab = st.tabs(["Proposals", "What-if simulation"])


def proposals_view() -> None:
    """The automatic run, the open proposals to decide and the low-stock notices."""
    with st.expander("Run the automatic replenishment", expanded=False):
        left, middle = st.columns(2)
        service_level = left.slider("Cycle service level", 0.80, 0.995, 0.95, 0.005, format="%.3f",
                                    help="Probability of no stockout in a replenishment cycle; sets the safety stock")
        policy = middle.selectbox("Policy", ("sS", "sQ", "RS"), format_func=POLICY_NAMES.get)
        if st.button("Run now", type="primary"):
            bar = st.progress(0.0, text="Reading stock, demand and lead times…")
            result = run_replenishment(engine, policy=policy, service_level=service_level,
                                       progress=lambda fraction, message: bar.progress(min(fraction, 1.0),
                                                                                       text=message))
            bar.empty()
            counts = result.counts
            st.success(f"{counts['items']:,} item-locations evaluated, {counts['triggered']:,} at or below their "
                       f"trigger: {counts.get('created', 0):,} new proposals, {counts.get('updated', 0):,} "
                       f"updated, {counts['notifications']:,} notices queued.")

    queue = proposals_store.proposals(engine, status="proposed")
    st.subheader(f"Open proposals ({len(queue):,})")
    if queue.empty:
        st.info("No open proposal. Run the automatic replenishment above, or wait for the scheduled run.")
    else:
        rationale = pd.json_normalize(queue["rationale"].tolist()).add_prefix("why_")
        table = pd.concat([queue.drop(columns=["rationale"]).reset_index(drop=True), rationale], axis=1)
        table.insert(0, "select", False)
        shown = ["select", "id", "kind", "sku", "name", "location", "supplier", "qty", "order_date", "due_date",
                 "policy", *[c for c in ("why_inventory_position", "why_reorder_point", "why_order_up_to",
                                         "why_demand_mean", "why_lead_time_mean") if c in table]]
        number = st.column_config.NumberColumn
        edited = st.data_editor(
            table[shown], hide_index=True, width="stretch", disabled=[c for c in shown if c not in ("select", "qty")],
            column_config={
                "select": st.column_config.CheckboxColumn("✓", help="Pick the proposals to decide"),
                "qty": number("Quantity", help="Edit before approving: rounded to MOQ and multiple", min_value=0.0,
                              format="%,.0f"),
                "order_date": st.column_config.DateColumn("Order date"), "due_date": st.column_config.DateColumn("Due"),
                "why_inventory_position": number("Position", format="%,.0f"),
                "why_reorder_point": number("Reorder point", format="%,.0f"),
                "why_order_up_to": number("Order-up-to", format="%,.0f"),
                "why_demand_mean": number("Demand / day", format="%,.2f"),
                "why_lead_time_mean": number("Lead time (days)", format="%,.1f"),
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
        st.caption("No notice queued yet: the automatic run queues one per supplier when it proposes orders.")
    else:
        st.dataframe(notices, hide_index=True, width="stretch")
        exports.download_buttons(notices, "low_stock_notices")


def _controls(items: pd.DataFrame) -> tuple[str, str | int | None, whatif.WhatIf]:
    """The what-if widgets: the scope and the scenario's assumptions."""
    left, right = st.columns([1, 2])
    scope = left.radio("Simulate", whatif.SCOPES, format_func=SCOPE_NAMES.get, key="wi_scope")
    value: str | int | None = None
    if scope == "item":
        ranked = items.sort_values("annual_demand_value", ascending=False, kind="stable").index.tolist()
        value = right.selectbox("Item-location (largest demand value first)", ranked,
                                format_func=lambda i: items.at[i, "item"], key="wi_item")
    elif scope in ("category", "location"):
        value = right.selectbox(scope.title(), sorted(items[scope].dropna().unique()), key=f"wi_{scope}")
    else:
        right.caption(f"All {len(items):,} active item-locations.")

    row = st.columns(4)
    policy = row[0].selectbox("Policy", tuple(POLICY_NAMES), format_func=POLICY_NAMES.get, key="wi_policy")
    service = row[1].slider("Cycle service level (%)", 80.0, 99.5, 95.0, 0.5, format="%.1f", key="wi_service",
                            help="Probability of no stockout in a replenishment cycle; sets the safety stock "
                                 "z·σ with z = Φ⁻¹(level)")
    review = row[2].slider("Review period (days)", 1, 28, 7 if policy == "RS" else 1, key=f"wi_review_{policy}",
                           help="Days between reviews; 1 = every day. (R, S) and any policy reviewed less often "
                                "than daily protect lead time + review period")
    cover = row[3].slider("Order size (days of demand)", 1, 90, int(whatif.WhatIf().cover_days), key="wi_cover",
                          help="Q = mean daily demand × these days, then rounded to MOQ and order multiple; "
                               "S = s + Q for (s, S)")

    row = st.columns(4)
    lead = row[0].radio("Lead time", ("history", "fixed"), key="wi_lead", horizontal=True,
                        format_func={"history": "From history", "fixed": "Fixed"}.get,
                        help="From history: each item's received purchase lines (else its supplier's recorded "
                             "lead time, else the product's); made items the product's lead time")
    multiplier, lt_mean, lt_std = 1.0, 14.0, 0.0
    if lead == "history":
        multiplier = row[1].slider("Lead-time multiplier", 0.5, 3.0, 1.0, 0.1, format="× %.1f", key="wi_mult",
                                   help="Scales each item's lead-time mean and standard deviation")
    else:
        lt_mean = row[1].number_input("Lead time mean (days)", 0.0, 365.0, 14.0, 1.0, key="wi_lt_mean")
        lt_std = row[2].number_input("Lead time std (days)", 0.0, 120.0, 3.0, 0.5, key="wi_lt_std")
    moq = row[3].number_input("MOQ (units; empty = each item's own)", min_value=0.0, value=None, step=1.0,
                              key="wi_moq")

    with st.expander("Costs and simulated horizon"):
        row = st.columns(4)
        holding = row[0].number_input("Holding cost (% of unit cost per year)", 0.0, 200.0, 25.0, 1.0,
                                      key="wi_holding")
        order_cost = row[1].number_input("Cost per order (currency)", 0.0, 100_000.0, 50.0, 5.0, key="wi_order_cost")
        backorder = row[2].number_input("Backorder cost (currency per unit per day)", 0.0, 10_000.0, 0.0, 0.1,
                                        key="wi_backorder_cost")
        days = row[3].selectbox("Days simulated", whatif.HORIZONS, index=whatif.HORIZONS.index(365), key="wi_days")
    settings = whatif.WhatIf(
        policy=policy, service_level=service / 100.0, review_period=int(review), lead_time=lead,
        lead_time_multiplier=float(multiplier), lead_time_mean=float(lt_mean), lead_time_std=float(lt_std),
        moq=None if moq is None else float(moq), cover_days=float(cover), holding_rate=holding / 100.0,
        order_cost=float(order_cost), backorder_cost=float(backorder), days=int(days),
    )
    return scope, value, settings


def _metrics(summary: dict[str, float], baseline: dict[str, float], days: int) -> None:
    """The scenario's outcome, each against the automatic run's settings on the same items."""

    def delta(key: str, fmt: str, scale: float = 1.0) -> str | None:
        change = (summary[key] - baseline[key]) * scale
        return None if pd.isna(change) or abs(change) < 1e-9 else fmt.format(change)

    fill = "n/a" if pd.isna(summary["fill_rate"]) else f"{summary['fill_rate']:.1%}"
    row = st.columns(6)
    row[0].metric("Fill rate (simulated)", fill, delta("fill_rate", "{:+.1f} pp", 100),
                  help="Units met from stock on the day / units demanded")
    row[1].metric("Stockout days", f"{summary['stockout_days']:,}", delta("stockout_days", "{:+,.0f}"),
                  delta_color="inverse",
                  help=f"Item-days with demand not fully met from stock ({summary['stockout_day_share']:.2%} of "
                       "item-days)")
    row[2].metric("Avg on hand (units)", f"{summary['avg_on_hand']:,.0f}", delta("avg_on_hand", "{:+,.0f}"),
                  delta_color="inverse")
    row[3].metric("Avg inventory value", f"{summary['avg_inventory_value']:,.0f}",
                  delta("avg_inventory_value", "{:+,.0f}"), delta_color="inverse",
                  help="Average closing on hand × unit cost, summed over the items (currency)")
    row[4].metric("Orders placed", f"{summary['orders']:,}", delta("orders", "{:+,.0f}"), delta_color="inverse")
    row[5].metric(f"Cost, {days} days", f"{summary['total_cost']:,.0f}", delta("total_cost", "{:+,.0f}"),
                  delta_color="inverse",
                  help=f"Holding {summary['holding_cost']:,.0f} + ordering {summary['ordering_cost']:,.0f} + "
                       f"backorders {summary['backorder_cost']:,.0f} (currency)")


def _curve_chart(curve: pd.DataFrame, settings: whatif.WhatIf, items: int) -> go.Figure:
    """Fill rate achieved against average inventory value, one point per service target; the scenario starred."""
    chart = go.Figure()
    chart.add_trace(go.Scatter(
        x=curve["avg_inventory_value"], y=curve["fill_rate"] * 100, mode="lines+markers+text", name="Service target",
        text=[f"{t:.1%}" for t in curve["target"]], textposition="top left",
        customdata=curve[["target", "stockout_day_share", "total_cost"]].to_numpy(),
        hovertemplate=("target %{customdata[0]:.1%}<br>fill rate %{y:.2f} %<br>avg inventory value %{x:,.0f}"
                       "<br>stockout item-days %{customdata[1]:.2%}<br>cost %{customdata[2]:,.0f}<extra></extra>"),
    ))
    point = curve[curve["scenario"]]
    chart.add_trace(go.Scatter(x=point["avg_inventory_value"], y=point["fill_rate"] * 100, mode="markers",
                               name="This scenario", marker={"symbol": "star", "size": 18, "color": "#d62728"},
                               hovertemplate="this scenario<br>fill rate %{y:.2f} %<br>value %{x:,.0f}<extra></extra>"))
    chart.update_layout(
        title=f"Service vs inventory investment: {POLICY_NAMES[settings.policy]}, {items:,} item-location(s), "
              f"{settings.days} simulated days",
        xaxis_title="Average inventory value (currency)", yaxis_title="Fill rate achieved (% of units demanded)",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1}, height=460,
    )
    chart.update_xaxes(tickformat=",.0f")
    return chart


def _daily_chart(daily: pd.DataFrame, settings: whatif.WhatIf) -> go.Figure:
    """Simulated stock on hand and backorders per day (units, summed over the items)."""
    chart = go.Figure()
    chart.add_trace(go.Scatter(x=daily.index + 1, y=daily["on_hand"], name="On hand", mode="lines"))
    chart.add_trace(go.Scatter(x=daily.index + 1, y=daily["backorders"], name="Backordered", mode="lines"))
    chart.update_layout(title=f"Simulated stock per day, {POLICY_NAMES[settings.policy]} (starting at the order-up-to "
                              "level, nothing on order)",
                        xaxis_title="Simulated day", yaxis_title="Units (summed over the items)",
                        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
                        height=360)
    return chart


ITEM_FORMATS = {
    "demand_mean": ("Demand / day", "%,.2f"), "demand_std": ("Demand std / day", "%,.2f"),
    "lead_time_mean": ("Lead time (days)", "%,.1f"), "lead_time_std": ("Lead time std (days)", "%,.1f"),
    "moq": ("MOQ", "%,.0f"), "order_multiple": ("Order multiple", "%,.0f"), "order_quantity": ("Q", "%,.0f"), "safety_stock": ("Safety stock", "%,.1f"),
    "reorder_point": ("s (reorder point)", "%,.1f"), "order_up_to": ("S (order-up-to)", "%,.1f"),
    "unit_cost": ("Unit cost", "%,.2f"), "demand": ("Units demanded", "%,.0f"), "fill_rate": ("Fill rate", "percent"),
    "stockout_days": ("Stockout days", "%,d"), "avg_on_hand": ("Avg on hand", "%,.1f"),
    "avg_inventory_value": ("Avg value", "%,.0f"), "orders": ("Orders", "%,d"), "total_cost": ("Cost", "%,.0f"),
}


@st.fragment
def whatif_view() -> None:
    """The what-if: controls, outcome, trade-off curve, per-item results (reruns alone when a control moves)."""
    items, _, read_at = cache.whatif_items(end)
    if items.empty:
        st.info("No active item-location has stock or orders yet. Load stock, orders and products "
                "(`python -m etl load DIR`), then come back to simulate a policy.")
        return
    st.caption(
        f"How a policy would have served each item's daily demand of the last {whatif.HISTORY_DAYS} days "
        "(bootstrapped day by day), with its parameters recomputed for the assumptions below and each item "
        "starting at its order-up-to level. Deltas compare with the automatic run's settings "
        f"({whatif.describe(whatif.WhatIf())}). Bounded for speed: at most {whatif.MAX_ITEMS:,} item-locations "
        f"(the largest annual demand value of the selection) over at most {max(whatif.HORIZONS)} days. "
        f"Inputs read {read_at:%Y-%m-%d %H:%M:%S}, refreshed every {cache.SLOW_TTL_SECONDS // 60} min."
    )
    scope, value, settings = _controls(items)
    started = time.perf_counter()
    try:
        outcome, curve, in_scope = cache.whatif_run(end, scope, value, settings)
        baseline = cache.whatif_baseline(end, scope, value, settings.baseline())
    except ValueError as error:
        st.error(f"These assumptions cannot be simulated: {error}")
        return
    seconds = time.perf_counter() - started
    summary = outcome.summary
    bounded = f" (the {summary['items']:,} with the largest demand value of {in_scope:,})" \
        if in_scope > summary["items"] else ""
    st.caption(f"Simulated {summary['items']:,} item-location(s){bounded} × {summary['days']} days and "
               f"{len(curve)} service targets in {seconds:.2f} s · {whatif.describe(settings)}.")
    if summary["demand"] <= 0:
        st.warning("The selection had no demand in the history window, so there is nothing to serve: pick another "
                   "item or group.")
    _metrics(summary, baseline, settings.days)
    st.plotly_chart(_curve_chart(curve, settings, summary["items"]), width="stretch")
    exports.download_buttons(curve, "whatif_tradeoff_curve")
    st.plotly_chart(_daily_chart(outcome.daily, settings), width="stretch")
    st.subheader("Per item-location")
    detail = outcome.items.drop(columns=["item"]).sort_values("total_cost", ascending=False)
    st.dataframe(detail, hide_index=True, width="stretch", column_config={
        name: st.column_config.NumberColumn(label, format=fmt) for name, (label, fmt) in ITEM_FORMATS.items()
    })
    exports.download_buttons(detail, "whatif_items")


with proposals_tab:
    proposals_view()
with whatif_tab:
    whatif_view()
