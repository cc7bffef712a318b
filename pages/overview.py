"""Landing page: the headline figures and the monthly trend."""

from __future__ import annotations

import datetime as dt

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages import cache, exports

st.title("Overview")
end = cache.data_end_or_stop()

as_of = st.date_input("As of", value=end, max_value=end, help="Figures count history up to this day.")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


@st.fragment(run_every=cache.TTL_SECONDS)
def headline_metrics(as_of: dt.date) -> None:
    """The headline figures with their change over 30 days; reruns itself, so new data shows within a minute."""
    figures, computed_at = cache.headline_figures(as_of)
    before, _ = cache.headline_figures(as_of - dt.timedelta(days=30))
    cache.freshness(computed_at)

    def delta(key: str, percent: bool = False) -> str | None:
        now, then = figures.get(key), before.get(key)
        if now is None or then is None:
            return None
        return f"{(now - then) * 100:+.1f} pp vs 30 days earlier" if percent else f"{now - then:+,.0f} vs 30 days earlier"

    row = st.columns(4)
    row[0].metric("Revenue (net of discounts)", f"{figures['revenue']:,.0f}", delta("revenue"))
    row[1].metric("Orders", f"{figures['orders']:,}", delta("orders"))
    row[2].metric("Open orders", f"{figures['open_orders']:,}")
    row[3].metric("Products", f"{figures['products']:,}")
    row = st.columns(4)
    row[0].metric("On-time delivery", _percent(figures["on_time_delivery_rate"]), delta("on_time_delivery_rate", True))
    row[1].metric("Fill rate (units)", _percent(figures["fill_rate"]), delta("fill_rate", True))
    row[2].metric("Backorder rate (lines)", _percent(figures["backorder_rate"]), delta("backorder_rate", True),
                  delta_color="inverse")
    row[3].metric("Gross margin", _percent(figures["gross_margin"]))
    row = st.columns(4)
    row[0].metric("On hand (units)", f"{figures['on_hand_units']:,.0f}")
    row[1].metric("On order (units)", f"{figures['on_order_units']:,.0f}")
    turnover = figures["inventory_turnover"]
    row[2].metric("Inventory turnover (per year)", "n/a" if turnover is None else f"{turnover:.1f}")
    days = figures["days_on_hand"]
    row[3].metric("Days on hand", "n/a" if days is None else f"{days:.0f}")


headline_metrics(as_of)

trend = cache.trend(as_of)
if not trend.empty:
    chart = make_subplots(specs=[[{"secondary_y": True}]])
    chart.add_trace(go.Bar(x=trend["month"], y=trend["revenue"], name="Revenue"), secondary_y=False)
    chart.add_trace(
        go.Scatter(x=trend["month"], y=trend["backorder_rate"] * 100, name="Backorder rate", mode="lines+markers"),
        secondary_y=True,
    )
    chart.update_layout(title="Revenue and backorder rate by month", legend={"orientation": "h"}, height=420)
    chart.update_xaxes(title_text="Month")
    chart.update_yaxes(title_text="Revenue (currency units)", secondary_y=False)
    chart.update_yaxes(title_text="Backorder rate (% of lines due)", secondary_y=True, rangemode="tozero", showgrid=False)
    st.plotly_chart(chart, width="stretch")
    table = trend.assign(backorder_rate=trend["backorder_rate"].round(4))
    exports.download_buttons(table, "monthly_trend")
st.subheader("Backorders: drill down")
dimension = st.radio("By", ("category", "segment", "location", "channel"), horizontal=True,
                     format_func=lambda d: {"segment": "customer segment"}.get(d, d))
since = as_of - dt.timedelta(days=365)
breakdown = cache.backorder_breakdown(as_of, since, (dimension,), None).sort_values("backorder_rate")
chart = px.bar(breakdown, x="backorder_rate", y=dimension, orientation="h",
               hover_data=["lines_due", "lines_backordered", "unit_fill_rate"],
               title=f"Backorder rate by {dimension}, lines requested in the 12 months to {as_of:%Y-%m-%d}",
               labels={"backorder_rate": "Backorder rate (share of lines due)", dimension: dimension.title()})
chart.update_xaxes(tickformat=".1%")
st.plotly_chart(chart, width="stretch")
by_month = cache.backorder_breakdown(as_of, since, (dimension,), "M")
chart = px.line(by_month, x="period", y="backorder_rate", color=dimension, markers=True,
                title=f"Backorder rate by month requested and {dimension}",
                labels={"period": "Month requested", "backorder_rate": "Backorder rate (share of lines due)",
                        dimension: dimension.title()})
chart.update_yaxes(tickformat=".0%")
st.plotly_chart(chart, width="stretch")
exports.download_buttons(by_month, f"backorders_by_{dimension}")
