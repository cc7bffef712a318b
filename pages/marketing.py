"""Marketing (marketing manager; executive too): NPS by period and customer group with its trend, backorders against
retention and NPS, and the sentiment of the comments with their most frequent complaints.

Rules and formulas: ``analytics.marketing`` (NPS, retention cohorts, sentiment, themes); the counting is done in the
database by ``data_access.marketing_reads``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from analytics import marketing
from data_access.marketing_reads import NOT_SET, ORDER_BACKORDERED, ORDER_NONE, ORDER_ON_TIME
from pages import cache, exports

PERIODS = (3, 6, 12, 24, 36)  # months back from the last day of data
FREQS = {"M": "month", "Q": "quarter"}
HORIZONS = (14, 30, 60, 90, 180)  # days after a period in which a customer must order again to count as retained
DIMENSIONS = {"segment": "Customer segment", "tier": "Customer tier", "region": "Region"}
RECENT_DAYS = (30, 90, 180, 365)
NUMBER, DATE = st.column_config.NumberColumn, st.column_config.DateColumn
NPS_COLUMNS = {
    "responses": NUMBER("Responses", format="%,d"), "promoters": NUMBER("Promoters", format="%,d"),
    "passives": NUMBER("Passives", format="%,d"), "detractors": NUMBER("Detractors", format="%,d"),
    "nps": NUMBER("NPS", format="%+.1f"), "promoter_share": NUMBER("Promoters (share)", format="percent"),
    "detractor_share": NUMBER("Detractors (share)", format="percent"),
}
SENTIMENT_COLOURS = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c"}
BAND_COLOURS = {"detractor": "#d62728", "passive": "#bcbd22", "promoter": "#2ca02c"}


def _nps(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:+.0f}"


def _share(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.1%}"


def _count(value: float) -> int:
    return 0 if pd.isna(value) else int(value)


def _window_start(as_of: dt.date, months: int, freq: str) -> dt.date:
    """The first day of the earliest whole month or quarter of the last ``months`` months."""
    periods = months if freq == "M" else max(months // 3, 1)
    return (pd.Timestamp(as_of).to_period(freq) - (periods - 1)).start_time.date()


st.title("Marketing")
end = cache.data_end_or_stop()
as_of = end

left, middle, right = st.columns(3)
months = left.selectbox("Period: the last", PERIODS, index=2, format_func=lambda m: f"{m} months")
freq = middle.radio("Per", list(FREQS), format_func=FREQS.get, horizontal=True)
horizon = right.selectbox("Retained: ordered again within", HORIZONS, index=3, format_func=lambda d: f"{d} days",
                          help="after the end of the month or quarter in which the customer ordered")
customers = cache.customers()
options = {name: sorted(customers[name].fillna(NOT_SET).unique()) for name in DIMENSIONS}
columns = st.columns(4)
chosen = {name: columns[i].multiselect(label, options[name], placeholder=f"All ({label.lower()})")
          for i, (name, label) in enumerate(DIMENSIONS.items())}
categories = tuple(columns[3].multiselect(
    "Product category", cache.product_categories(), placeholder="All categories",
    help="Narrows the backorder-linked figures: which lines count as orders and backorders."))
since = _window_start(as_of, months, freq)
counts, read_at = cache.marketing_nps_counts(as_of, since)
cache.freshness(read_at, ttl=cache.SLOW_TTL_SECONDS)
period = FREQS[freq]
st.caption(f"Window {since:%Y-%m-%d} to {as_of:%Y-%m-%d}, per {period}. NPS = 100 × (promoters 9–10 − detractors 0–6) "
           "/ responses. A backorder is an order line not shipped in full by its requested date.")


def _keep(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the chosen segments, tiers and regions."""
    for name, values in chosen.items():
        if values:
            frame = frame[frame[name].isin(values)]
    return frame


kept_customers = _keep(customers.assign(**{n: customers[n].fillna(NOT_SET) for n in DIMENSIONS}))
customer_ids = set(kept_customers["customer_id"])
dims = customers[["customer_id", *DIMENSIONS]].assign(**{n: customers[n].fillna(NOT_SET) for n in DIMENSIONS})
NO_FEEDBACK = ("No NPS response in this window for this selection: widen the period or clear the filters. Feedback "
               "is loaded from `customer_feedback.csv` (feedback_no, customer, feedback_date, nps_score, text, "
               "order_no) with `python -m etl load DIR`.")


# --- NPS ------------------------------------------------------------------------------------------------------------
def nps_section(counts: pd.DataFrame) -> None:
    """NPS in the window and per period, and broken down by segment, tier or region."""
    st.subheader("Net Promoter Score")
    if counts["responses"].sum() == 0:
        st.info(NO_FEEDBACK)
        return
    total = marketing.nps_table(counts).iloc[0]
    per = marketing.nps_table(counts, freq=freq)
    last_period, last, change = marketing.latest_change(per)
    row = st.columns(5)
    row[0].metric("NPS", _nps(total["nps"]), help="100 × (promoters − detractors) / responses, −100 … +100")
    row[1].metric("Responses", f"{int(total['responses']):,}")
    row[2].metric("Promoters (9–10)", _share(total["promoter_share"]))
    row[3].metric("Detractors (0–6)", _share(total["detractor_share"]))
    row[4].metric(f"NPS, last {period} ({last_period:%Y-%m-%d})", _nps(last),
                  None if pd.isna(change) else f"{change:+.1f} vs the {period} before")

    chart = make_subplots(specs=[[{"secondary_y": True}]])
    chart.add_trace(go.Bar(x=per["period"], y=per["responses"], name="Responses", opacity=0.35), secondary_y=True)
    chart.add_trace(go.Scatter(x=per["period"], y=per["nps"], name="NPS", mode="lines+markers"), secondary_y=False)
    chart.update_layout(title=f"NPS and responses by {period}", legend={"orientation": "h"}, height=400)
    chart.update_xaxes(title_text=f"{period.title()} of the feedback (start)")
    chart.update_yaxes(title_text="NPS (−100 … +100)", secondary_y=False)
    chart.update_yaxes(title_text="Responses (count)", secondary_y=True, showgrid=False, tickformat=",.0f",
                       rangemode="tozero")
    st.plotly_chart(chart, width="stretch")

    by = st.radio("NPS by", list(DIMENSIONS), format_func=DIMENSIONS.get, horizontal=True)
    groups = marketing.nps_table(counts, by=[by]).sort_values("nps")
    chart = px.bar(groups, x="nps", y=by, orientation="h", text=groups["nps"].map("{:+.0f}".format),
                   hover_data={"responses": ":,", "promoter_share": ":.1%", "detractor_share": ":.1%"},
                   title=f"NPS by {DIMENSIONS[by].lower()}, {since:%Y-%m-%d} to {as_of:%Y-%m-%d}",
                   labels={"nps": "NPS (−100 … +100)", by: DIMENSIONS[by], "responses": "Responses",
                           "promoter_share": "Promoters", "detractor_share": "Detractors"})
    st.plotly_chart(chart, width="stretch")
    trend = marketing.nps_table(counts, by=[by], freq=freq)
    chart = px.line(trend, x="period", y="nps", color=by, markers=True, hover_data={"responses": ":,"},
                    title=f"NPS by {period} and {DIMENSIONS[by].lower()}",
                    labels={"period": f"{period.title()} of the feedback (start)", "nps": "NPS (−100 … +100)",
                            by: DIMENSIONS[by], "responses": "Responses"})
    st.plotly_chart(chart, width="stretch")
    st.dataframe(trend, hide_index=True, width="stretch", column_config={
        by: DIMENSIONS[by], "period": DATE(f"{period.title()} from"), **NPS_COLUMNS})
    exports.download_buttons(trend, f"nps_by_{by}_{freq}_{as_of:%Y%m%d}", "NPS")


nps_section(_keep(counts))


# --- backorders against retention and NPS ---------------------------------------------------------------------------
def backorder_section() -> None:
    """Retention and NPS of customers with and without backorders, and NPS of feedback on backordered orders."""
    st.subheader("Backorders against retention and NPS")
    scope = f" in {', '.join(categories)}" if categories else ""
    activity = cache.marketing_activity(as_of, since, categories)
    activity = activity[activity["customer_id"].isin(customer_ids)]
    cohorts = marketing.retention_cohorts(activity, as_of, horizon, freq)
    feedback = cache.marketing_customer_feedback(as_of, since)
    per_customer = marketing.customer_backorders_and_feedback(
        activity, feedback[feedback["customer_id"].isin(customer_ids)])
    linked_counts, _ = cache.marketing_nps_counts(as_of, since, categories)
    linked = marketing.nps_table(_keep(linked_counts), by=["order_link"]).set_index("order_link")
    with_nps = marketing.nps_table(per_customer, by=["experienced_backorder"]).set_index("experienced_backorder")

    def value(table: pd.DataFrame, key: object, column: str) -> float:
        return float(table.loc[key, column]) if key in table.index else float("nan")

    if cohorts.empty:
        st.info(f"No {period} of this window is old enough to tell who ordered again within {horizon} days (or no "
                f"customer ordered{scope} in it): choose a longer period, a shorter horizon or fewer filters.")
        retention = pd.DataFrame(columns=["customer_periods", "retained", "retention_rate"])
    else:
        retention = marketing.retention_summary(cohorts, ["experienced_backorder"]).set_index("experienced_backorder")
    with_rate, without_rate = value(retention, True, "retention_rate"), value(retention, False, "retention_rate")
    row = st.columns(3)
    row[0].metric(f"Retention after a backorder{scope}", _share(with_rate),
                  None if pd.isna(with_rate) or pd.isna(without_rate)
                  else f"{(with_rate - without_rate) * 100:+.1f} pp vs without",
                  help=f"Customers who ordered in a {period} and met a backorder on those orders: share who ordered "
                       f"again within {horizon} days after the {period} "
                       f"({_count(value(retention, True, 'customer_periods')):,} customer-{period}s)")
    row[1].metric("Retention without a backorder", _share(without_rate),
                  help=f"{_count(value(retention, False, 'customer_periods')):,} customer-{period}s")
    row[2].metric("Customer-periods judged", f"{int(retention['customer_periods'].sum()):,}",
                  help=f"{period.title()}s ending at least {horizon} days before {as_of:%Y-%m-%d}")
    row = st.columns(4)
    row[0].metric("NPS, customers with a backorder", _nps(value(with_nps, True, "nps")),
                  help=f"All their responses in the window ({_count(value(with_nps, True, 'responses')):,})")
    row[1].metric("NPS, customers without", _nps(value(with_nps, False, "nps")),
                  help=f"{_count(value(with_nps, False, 'responses')):,} responses")
    row[2].metric("NPS on backordered orders", _nps(value(linked, ORDER_BACKORDERED, "nps")),
                  help=f"Feedback about an order with a backordered line{scope} "
                       f"({_count(value(linked, ORDER_BACKORDERED, 'responses')):,} responses)")
    row[3].metric("NPS on orders without", _nps(value(linked, ORDER_ON_TIME, "nps")),
                  help=f"{_count(value(linked, ORDER_ON_TIME, 'responses')):,} responses")

    left, right = st.columns(2)
    if not cohorts.empty:
        buckets = marketing.retention_summary(
            cohorts.assign(backorders=marketing.backorder_bucket(cohorts["backordered_orders"])), ["backorders"])
        chart = px.bar(buckets, x="backorders", y="retention_rate", text=buckets["retention_rate"].map("{:.0%}".format),
                       hover_data={"customer_periods": ":,", "retained": ":,"},
                       title=f"Retention by backordered orders in the {period}",
                       labels={"backorders": f"Orders with a backorder{scope} in the {period}",
                               "retention_rate": f"Ordered again within {horizon} days (share)",
                               "customer_periods": f"Customer-{period}s", "retained": "Retained"})
        chart.update_yaxes(tickformat=".0%", range=[0, 1.05])
        left.plotly_chart(chart, width="stretch")
    if per_customer["responses"].sum():
        by_bucket = marketing.nps_table(per_customer, by=["backorder_bucket"])
        by_bucket = by_bucket[by_bucket["responses"] > 0]
        chart = px.bar(by_bucket, x="backorder_bucket", y="nps", text=by_bucket["nps"].map("{:+.0f}".format),
                       hover_data={"responses": ":,"},
                       title="Customers' NPS by backordered orders in the window",
                       labels={"backorder_bucket": f"Orders with a backorder{scope}, whole window",
                               "nps": "NPS (−100 … +100)", "responses": "Responses"})
        right.plotly_chart(chart, width="stretch")
    else:
        right.info(NO_FEEDBACK)
    if cohorts.empty:
        return

    bands = cohorts.assign(order_band=marketing.order_band(cohorts["orders"]),
                           backorder=cohorts["experienced_backorder"].map({True: "with a backorder",
                                                                           False: "without"}))
    like = marketing.retention_summary(bands, ["order_band", "backorder"])
    chart = px.bar(like, x="order_band", y="retention_rate", color="backorder", barmode="group",
                   hover_data={"customer_periods": ":,", "retained": ":,"},
                   category_orders={"order_band": list(marketing.ORDER_BANDS)},
                   title=f"Retention like with like: customers who ordered as often in the {period}",
                   labels={"order_band": f"Orders{scope} in the {period}",
                           "retention_rate": f"Ordered again within {horizon} days (share)", "backorder": "Customer",
                           "customer_periods": f"Customer-{period}s", "retained": "Retained"})
    chart.update_yaxes(tickformat=".0%", range=[0, 1.05])
    st.plotly_chart(chart, width="stretch")
    st.caption("Customers who order more often meet more backorders and also order again more often; comparing "
               "within the same band of orders separates the backorder's effect from that of order frequency.")

    trend = marketing.retention_summary(bands, ["period", "backorder"])
    chart = px.line(trend, x="period", y="retention_rate", color="backorder", markers=True,
                    hover_data={"customer_periods": ":,"},
                    title=f"Retention by {period} ordered: customers with and without a backorder",
                    labels={"period": f"{period.title()} ordered (start)",
                            "retention_rate": f"Ordered again within {horizon} days (share)", "backorder": "Customer",
                            "customer_periods": f"Customer-{period}s"})
    chart.update_yaxes(tickformat=".1%")
    st.plotly_chart(chart, width="stretch")

    linked_trend = marketing.nps_table(_keep(linked_counts), by=["order_link"], freq=freq)
    linked_trend = linked_trend[linked_trend["order_link"].isin([ORDER_BACKORDERED, ORDER_ON_TIME])]
    if not linked_trend.empty:
        chart = px.line(linked_trend, x="period", y="nps", color="order_link", markers=True,
                        hover_data={"responses": ":,"},
                        title=f"NPS by {period}: feedback on orders with and without a backorder",
                        labels={"period": f"{period.title()} of the feedback (start)", "nps": "NPS (−100 … +100)",
                                "order_link": "The order", "responses": "Responses"})
        st.plotly_chart(chart, width="stretch")

    by = st.radio("Retention by", list(DIMENSIONS), format_func=DIMENSIONS.get, horizontal=True)
    table = marketing.retention_summary(bands.merge(dims, on="customer_id"), [by, "backorder"])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        by: DIMENSIONS[by], "backorder": "Customer",
        "customer_periods": NUMBER(f"Customer-{period}s", format="%,d"), "customers": NUMBER("Customers", format="%,d"),
        "retained": NUMBER("Retained", format="%,d"), "retention_rate": NUMBER("Retention", format="percent")})
    exports.download_buttons(table, f"retention_by_{by}_{freq}_{horizon}d_{as_of:%Y%m%d}", "retention")
    st.caption(f"Retention of a {period} P = customers who ordered{scope} in P and placed any order within {horizon} "
               f"days after P ended / customers who ordered{scope} in P. With a backorder = at least one line ordered "
               f"in P not shipped in full by its requested date. {period.title()}s ending less than {horizon} days "
               f"before {as_of:%Y-%m-%d} are left out. Feedback without an order ({ORDER_NONE}) is left out of the "
               "order comparison.")


backorder_section()


# --- feedback sentiment ---------------------------------------------------------------------------------------------
def sentiment_section() -> None:
    """Sentiment of the comments: distribution, against NPS, the most negative ones, detractors' themes."""
    st.subheader("Feedback sentiment")
    scored = _keep(cache.marketing_comments(as_of, since))
    scored = scored.dropna(subset=["compound"])
    if scored.empty:
        st.info("No written comment in this window for this selection: widen the period or clear the filters. "
                "Comments come from the `text` column of `customer_feedback.csv`.")
        return
    shares = scored["sentiment"].value_counts(normalize=True)
    row = st.columns(4)
    row[0].metric("Comments scored", f"{len(scored):,}")
    row[1].metric("Positive", _share(shares.get("positive", 0.0)), help="compound ≥ 0.05")
    row[2].metric("Negative", _share(shares.get("negative", 0.0)), help="compound ≤ −0.05")
    row[3].metric("Mean sentiment", f"{scored['compound'].mean():+.2f}", help="VADER compound score, −1 … +1")

    left, right = st.columns(2)
    chart = px.histogram(scored, x="compound", color="sentiment", nbins=40, color_discrete_map=SENTIMENT_COLOURS,
                         category_orders={"sentiment": list(marketing.SENTIMENTS)},
                         title="Sentiment of the comments",
                         labels={"compound": "Sentiment (VADER compound, −1 … +1)", "sentiment": "Sentiment"})
    chart.update_yaxes(title_text="Comments (count)")
    left.plotly_chart(chart, width="stretch")
    by_score = marketing.sentiment_by_score(scored)
    chart = px.bar(by_score, x="nps_score", y="mean_compound", color="nps_band", color_discrete_map=BAND_COLOURS,
                   hover_data={"comments": ":,", "negative_share": ":.0%", "positive_share": ":.0%"},
                   title="Sentiment against the NPS score given",
                   labels={"nps_score": "NPS score given (0–10)", "mean_compound": "Mean sentiment (−1 … +1)",
                           "nps_band": "Band", "comments": "Comments", "negative_share": "Negative",
                           "positive_share": "Positive"})
    chart.update_xaxes(dtick=1)
    right.plotly_chart(chart, width="stretch")
    distribution = marketing.sentiment_distribution(
        scored.assign(period=pd.to_datetime(scored["feedback_date"]).dt.to_period(freq).dt.start_time), ["period"])
    chart = px.bar(distribution, x="period", y="share", color="sentiment", color_discrete_map=SENTIMENT_COLOURS,
                   category_orders={"sentiment": list(marketing.SENTIMENTS)}, hover_data={"comments": ":,"},
                   title=f"Sentiment of the comments by {period}",
                   labels={"period": f"{period.title()} of the feedback (start)", "share": "Share of comments",
                           "sentiment": "Sentiment", "comments": "Comments"})
    chart.update_yaxes(tickformat=".0%")
    st.plotly_chart(chart, width="stretch")
    st.caption("Sentiment: VADER's compound score (a lexicon of rated words with rules for negation and emphasis, "
               "from −1 to +1) with a few fulfilment words added (backordered, late, incomplete…); positive ≥ 0.05, "
               "negative ≤ −0.05, neutral between.")

    st.markdown("**Most negative recent comments**")
    days = st.selectbox("Comments from the last", RECENT_DAYS, index=1, format_func=lambda d: f"{d} days")
    worst = marketing.most_negative(scored, since=as_of - dt.timedelta(days=days - 1), limit=50)
    shown = worst[["feedback_date", "compound", "nps_score", "text", "customer", "customer_name", "order_no",
                   "order_link", "segment", "tier", "sentiment"]]
    if shown.empty:
        st.info(f"No comment in the last {days} days for this selection: pick a longer span.")
    else:
        st.dataframe(shown, hide_index=True, width="stretch", column_config={
            "feedback_date": DATE("Date"), "customer": "Customer", "customer_name": "Name", "segment": "Segment",
            "tier": "Tier", "order_no": "Order", "order_link": "The order",
            "nps_score": NUMBER("NPS score", format="%d"), "compound": NUMBER("Sentiment", format="%+.2f"),
            "sentiment": "Label", "text": st.column_config.TextColumn("Comment", width="large")})
        exports.download_buttons(shown, f"negative_comments_{as_of:%Y%m%d}", "comments")
        st.caption("Lowest sentiment first, then the newest. “The order”: whether the order the comment is about had "
                   "a line not shipped in full by its requested date.")

    st.markdown("**What detractors write about**")
    detractors = scored[scored["nps_band"] == "detractor"]
    terms = marketing.themes(detractors["text"], others=scored.loc[scored["nps_band"] != "detractor", "text"])
    if detractors.empty:
        st.info("No detractor (score 0–6) left a comment in this window for this selection: widen the period or "
                "clear the filters.")
        return
    if terms.empty:
        st.info("No word comes up more often in detractors' comments than in the others': nothing sets them apart "
                "in this selection. Widen the period for more comments.")
        return
    long = terms.melt(id_vars=["term", "comments"], value_vars=["share", "other_share"], var_name="who",
                      value_name="comment_share")
    long["who"] = long["who"].map({"share": "Detractors (0–6)", "other_share": "Everyone else"})
    chart = px.bar(long, x="comment_share", y="term", color="who", orientation="h", barmode="group",
                   category_orders={"term": list(terms["term"])}, hover_data={"comments": ":,"},
                   color_discrete_sequence=[BAND_COLOURS["detractor"], "#7f7f7f"],
                   title=f"What sets detractors' comments apart ({len(detractors):,} comments)",
                   labels={"comment_share": "Share of comments containing it", "term": "Word or phrase",
                           "who": "Comments of", "comments": "Detractors' comments"})
    chart.update_xaxes(tickformat=".0%")
    chart.update_layout(height=max(400, 32 * len(terms) + 120))
    st.plotly_chart(chart, width="stretch")
    st.dataframe(terms, hide_index=True, width="stretch", column_config={
        "term": "Word or phrase", "comments": NUMBER("Detractors' comments", format="%,d"),
        "share": NUMBER("Share of detractors' comments", format="percent"),
        "other_share": NUMBER("Share of other comments", format="percent"),
        "difference": NUMBER("Difference", format="percent")})
    exports.download_buttons(terms, f"detractor_themes_{as_of:%Y%m%d}", "themes")
    st.caption("Themes: words and two-word phrases, common English words left out, each comment counted once; "
               "ranked by how much more often detractors use them than everyone else (share of detractors' comments "
               "− share of other comments).")


sentiment_section()
