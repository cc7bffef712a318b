"""Backorders (owner, executive; sales too): the backorder rate by product category or customer segment and period
with its trend, and the leading root causes (supplier late, lead time, forecast too low, stock policy), each a
drill-down to the lines behind it.

Rules: ``analytics.kpis.backorder_rate`` and ``analytics.promising.backorder_trend`` (the rate and its trend),
``analytics.promising.classify_root_causes`` and ``root_cause_summary`` (the causes), ``analytics.order_service``
(labels, totals, drill-down).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import order_service
from analytics.order_service import ROOT_CAUSE_LABELS, ROOT_CAUSE_RULES
from analytics.promising import ROOT_CAUSES, root_cause_summary
from pages import cache, exports

PERIODS = {3: 91, 6: 182, 12: 365, 24: 730}  # months → days back from the last day of data
DIMENSIONS = {"category": "Product category", "segment": "Customer segment"}
FREQS = {"W": "week", "M": "month", "Q": "quarter"}

st.title("Backorders")
end = cache.data_end_or_stop()
as_of = end

left, middle, right = st.columns(3)
months = left.selectbox("Lines requested in the last", list(PERIODS), index=2, format_func=lambda m: f"{m} months")
by = middle.radio("By", list(DIMENSIONS), format_func=DIMENSIONS.get, horizontal=True)
freq = right.radio("Per", list(FREQS), index=1, format_func=FREQS.get, horizontal=True)
since = as_of - dt.timedelta(days=PERIODS[months])
trend = cache.backorder_trend(as_of, since, by, freq)
groups = st.multiselect(DIMENSIONS[by], sorted(trend[by].dropna().unique()) if len(trend) else [],
                        placeholder=f"All ({DIMENSIONS[by].lower()})")
if groups:
    trend = trend[trend[by].isin(groups)]
classified, computed_at = cache.root_causes(as_of, since)
cache.freshness(computed_at, ttl=cache.SLOW_TTL_SECONDS)
st.caption(f"Lines requested {since:%Y-%m-%d} to {as_of:%Y-%m-%d}. Backorder rate = order lines not shipped in full "
           "by their requested date / lines due (requested on or before the last day of data), bucketed by requested "
           "date.")

NUMBER = st.column_config.NumberColumn

# --- rate and trend ---------------------------------------------------------------------------------------------------
summary = order_service.rate_summary(trend)
if summary.lines_due == 0:
    st.info("No order line fell due in this period for this selection: widen the period or clear the filter.")
    st.stop()
row = st.columns(4)
row[0].metric("Backorder rate (lines)", f"{summary.rate:.1%}", help="Σ lines backordered / Σ lines due")
row[1].metric("Lines backordered", f"{summary.lines_backordered:,}", help=f"of {summary.lines_due:,} lines due")
row[2].metric("Units short", f"{summary.units_short:,.0f}",
              help=f"Units not shipped by the requested date: {summary.unit_rate:.1%} of units due")
row[3].metric(f"Last {FREQS[freq]} ({summary.last_period:%Y-%m-%d})",
              "n/a" if summary.last_rate is None else f"{summary.last_rate:.1%}",
              None if summary.change is None else f"{summary.change * 100:+.1f} pp vs the {FREQS[freq]} before",
              delta_color="inverse")

chart = px.line(trend, x="period", y="backorder_rate", color=by, markers=True,
                hover_data=["lines_due", "lines_backordered", "units_short"],
                title=f"Backorder rate by {FREQS[freq]} requested and {DIMENSIONS[by].lower()}",
                labels={"period": f"{FREQS[freq].title()} requested (start)",
                        "backorder_rate": "Backorder rate (% of lines due)", by: DIMENSIONS[by],
                        "lines_due": "Lines due", "lines_backordered": "Lines backordered",
                        "units_short": "Units short"})
chart.update_yaxes(tickformat=".0%")
st.plotly_chart(chart, width="stretch")

latest = order_service.latest_change(trend, by)
totals = cache.backorder_breakdown(as_of, since, (by,), None)
if groups:
    totals = totals[totals[by].isin(groups)]
totals = totals.sort_values("backorder_rate")
chart = px.bar(totals, x="backorder_rate", y=by, orientation="h", hover_data=["lines_due", "lines_backordered"],
               title=f"Backorder rate by {DIMENSIONS[by].lower()}, lines requested in the last {months} months",
               labels={"backorder_rate": "Backorder rate (% of lines due)", by: DIMENSIONS[by],
                       "lines_due": "Lines due", "lines_backordered": "Lines backordered"})
chart.update_xaxes(tickformat=".1%")
st.plotly_chart(chart, width="stretch")

st.markdown(f"**Trend: the last {FREQS[freq]} against the one before**")
arrows = {"up": "▲ worse", "down": "▼ better", "flat": "● flat", "": ""}
st.dataframe(latest.assign(direction=latest["direction"].map(arrows), change=latest["change"] * 100),
             hide_index=True, width="stretch", column_config={
                 by: DIMENSIONS[by], "period": st.column_config.DateColumn(f"{FREQS[freq].title()} from"),
                 "backorder_rate": NUMBER("Backorder rate", format="percent"),
                 "previous_rate": NUMBER(f"The {FREQS[freq]} before", format="percent"),
                 "change": NUMBER("Change (pp)", format="%+.1f"), "direction": "Trend",
                 "lines_due": NUMBER("Lines due", format="%,d"),
                 "lines_backordered": NUMBER("Lines backordered", format="%,d")})
exports.download_buttons(latest, f"backorder_trend_latest_{by}", "latest")
with st.expander(f"Rate per {FREQS[freq]} and {DIMENSIONS[by].lower()} ({len(trend):,} rows)"):
    st.dataframe(trend, hide_index=True, width="stretch", column_config={
        by: DIMENSIONS[by], "period": st.column_config.DateColumn(f"{FREQS[freq].title()} from"),
        "lines_due": NUMBER("Lines due", format="%,d"), "lines_backordered": NUMBER("Lines backordered", format="%,d"),
        "backorder_rate": NUMBER("Backorder rate", format="percent"),
        "unit_backorder_rate": NUMBER("Unit backorder rate", format="percent"),
        "previous_rate": NUMBER(f"The {FREQS[freq]} before", format="percent"),
        "units_due": NUMBER("Units due", format="%,.0f"), "units_short": NUMBER("Units short", format="%,.0f"),
        "change": NUMBER("Change (fraction)", format="%+.3f"), "direction": "Trend"})
    exports.download_buttons(trend, f"backorder_trend_{by}_{freq}", "trend")

# --- root causes ------------------------------------------------------------------------------------------------------
st.subheader("Leading root causes")
if groups:
    classified = classified[classified[by].isin(groups)]
if classified.empty:
    st.info("No backordered line in this period and selection: nothing to explain. Widen the period or clear the "
            "filter.")
    st.stop()
causes = root_cause_summary(classified)
causes = causes.assign(cause=causes["root_cause"].map(ROOT_CAUSE_LABELS))
chart = px.bar(causes.sort_values("lines"), x="lines", y="cause", orientation="h", text=causes.sort_values(
    "lines")["share"].map("{:.0%}".format), hover_data=["units_short"],
               title=f"Backordered lines by root cause, last {months} months ({len(classified):,} lines)",
               labels={"lines": "Backordered lines (count)", "cause": "Root cause", "units_short": "Units short"})
st.plotly_chart(chart, width="stretch")
per_period = root_cause_summary(classified, freq=freq)
per_period = per_period.assign(cause=per_period["root_cause"].map(ROOT_CAUSE_LABELS))
chart = px.bar(per_period, x="period", y="lines", color="cause", barmode="stack",
               title=f"Backordered lines by root cause and {FREQS[freq]} requested",
               labels={"period": f"{FREQS[freq].title()} requested (start)", "lines": "Backordered lines (count)",
                       "cause": "Root cause"})
st.plotly_chart(chart, width="stretch")
st.dataframe(causes[["cause", "lines", "share", "units_short"]], hide_index=True, width="stretch", column_config={
    "cause": "Root cause", "lines": NUMBER("Lines", format="%,d"), "share": NUMBER("Share of lines", format="percent"),
    "units_short": NUMBER("Units short", format="%,.0f")})
exports.download_buttons(causes, "backorder_root_causes", "root causes")
st.caption("Each backordered line gets the first cause that holds: "
           + "; ".join(f"**{ROOT_CAUSE_LABELS[c]}**: {ROOT_CAUSE_RULES[c]}" for c in ROOT_CAUSES) + ".")

counts = causes.set_index("root_cause")["lines"]
ordered = [c for c in causes["root_cause"] if counts[c] > 0] + [c for c in ROOT_CAUSES if counts.get(c, 0) == 0]
cause = st.selectbox("Drill down into", ordered,
                     format_func=lambda c: f"{ROOT_CAUSE_LABELS[c]} ({int(counts.get(c, 0)):,} lines)")
lines = order_service.cause_lines(classified, cause)
st.subheader(f"{ROOT_CAUSE_LABELS[cause]}: {len(lines):,} lines")
if lines.empty:
    st.info(f"No backordered line has this cause in the selection: pick another cause above. "
            f"({ROOT_CAUSE_RULES[cause].capitalize()}.)")
else:
    shown = lines[["order_no", "line_no", "requested_date", "marks", "sku", "category", "segment", "tier", "location",
                   "qty_ordered", "shipped_by_requested_qty", "units_short", "last_ship_date", "cause_reference",
                   "window_days", "window_demand", "expected_demand"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        **order_service.COLUMN_LABELS, "requested_date": st.column_config.DateColumn("Requested"),
        "qty_ordered": NUMBER("Ordered (units)", format="%,.0f"),
        "shipped_by_requested_qty": NUMBER("Shipped by requested date", format="%,.0f"),
        "units_short": NUMBER("Units short", format="%,.0f"),
        "last_ship_date": st.column_config.DateColumn("Last shipped"),
        "cause_reference": "Late / long order", "window_days": NUMBER("Window (days)", format="%d"),
        "marks": st.column_config.TextColumn("Marks", help="priority order; high-value customer (tier A)"),
        "window_demand": NUMBER("Demand in window", format="%,.0f"),
        "expected_demand": NUMBER("Expected demand", format="%,.1f")})
    exports.download_buttons(shown, f"backorder_lines_{cause}", "lines")
    st.caption(f"{ROOT_CAUSE_RULES[cause].capitalize()}. Window = the lead time (at least 7 days) before the requested "
               f"date. Most units short first. As of {pd.Timestamp(as_of):%Y-%m-%d}.")
