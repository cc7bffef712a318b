"""Demand (planner): forecasts with their intervals against history, accuracy of the statistical and the final
forecast, the planner's overrides, and two runs compared.

Rules of the overrides and formulas of the accuracy: ``analytics.demand_plan``.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from analytics import demand_plan
from data_access import forecasts
from jobs.forecast import run_forecast
from pages import cache, exports

st.title("Demand")
engine = cache.engine()
user = st.session_state.get("username") or "planner"
can_plan = bool({"planner", "admin"} & set(st.session_state.get("roles") or ()))
if message := st.session_state.pop("demand_flash", None):
    st.success(message)

end = cache.data_end_or_stop()

if can_plan:
    with st.expander("Run forecast", expanded=False):
        horizon = st.number_input("Weeks ahead", min_value=1, max_value=104, value=13, step=1)
        if st.button("Run forecast", type="primary"):
            bar = st.progress(0.0, text="Reading the demand history…")
            try:
                result = run_forecast(engine, horizon=int(horizon), user=user,
                                      progress=lambda fraction, text: bar.progress(min(fraction, 1.0), text=text))
            except ValueError as error:
                st.error(f"The forecast could not run: {error}")
            else:
                cache.refresh_forecasts()
                st.success(result.summary())
            bar.empty()

runs, read_at = cache.forecast_runs()
products, locations = cache.product_catalog(), cache.location_catalog()
last_week = forecasts.last_complete_week(end) if not cache.demand_series(end).empty else pd.Timestamp(end)

# --- filters ----------------------------------------------------------------------------------------------------------
left, middle, right = st.columns(3)
categories = left.multiselect("Category", sorted(products["category"].dropna().unique()))
choices = products[products["category"].isin(categories)] if categories else products
product_labels = dict(zip(choices["product_id"], choices["sku"] + " — " + choices["name"], strict=True))
chosen_products = middle.multiselect("Product", list(product_labels), format_func=product_labels.get)
location_labels = dict(zip(locations["location_id"], locations["code"] + " — " + locations["name"], strict=True))
chosen_locations = right.multiselect("Location", list(location_labels), format_func=location_labels.get)
product_ids = chosen_products or (list(choices["product_id"]) if categories else None)
location_ids = chosen_locations or None

run_id: int | None = None
run = None
if not runs.empty:
    run_labels = {
        int(r.id): (f"#{r.id} · made {r.created_at:%Y-%m-%d %H:%M} by {r.created_by or 'the scheduled job'} · "
                    f"as of {r.params.get('as_of', '?')} · {r.horizon} weeks")
        for r in runs.itertuples()
    }
    run_id = st.selectbox("Forecast run", list(run_labels), format_func=run_labels.get,
                          help="Replenishment uses the run that forecasts furthest ahead (the newest of those).")
    run = runs.set_index("id").loc[run_id]
window_end = max(run["last_period"], last_week) if run is not None and pd.notna(run["last_period"]) else last_week
left, right = st.columns(2)
date_from = left.date_input("From week ending", value=(last_week - pd.Timedelta(weeks=52)).date(),
                            max_value=window_end.date())
date_to = right.date_input("To week ending", value=window_end.date(), min_value=date_from)
cache.freshness(read_at)
st.caption(f"Last complete week ends {last_week:%Y-%m-%d}; demand = units ordered per week (Monday–Sunday).")
actuals = cache.weekly_actuals(end, date_from)  # only the weeks shown; accuracy reads all of them


def narrow(frame: pd.DataFrame, periods: bool = True) -> pd.DataFrame:
    """The rows of the chosen products (or categories) and locations, and with ``periods`` of the chosen weeks."""
    keep = pd.Series(True, index=frame.index)
    if product_ids is not None:
        keep &= frame["product_id"].isin(product_ids)
    if location_ids is not None:
        keep &= frame["location_id"].isin(location_ids)
    if periods:
        keep &= frame["period"].between(pd.Timestamp(date_from), pd.Timestamp(date_to))
    return frame[keep]


NUMBER = st.column_config.NumberColumn
PERCENT = {c: NUMBER(format="percent") for c in ("wape_stat", "wape_final", "fva_wape", "bias_stat", "bias_final",
                                                   "fva_bias", "change_pct")}

# --- forecast against history -----------------------------------------------------------------------------------------
st.subheader("Forecast against history")
history = narrow(actuals)
final_all = cache.final_forecast(run_id) if run_id is not None else None
plan = narrow(final_all) if final_all is not None else pd.DataFrame()
if run_id is None:
    st.info("No forecast run yet: run `python -m jobs forecast` or press **Run forecast** above"
            + ("." if can_plan else " (a planner can)."))
if history.empty and plan.empty:
    st.warning("No product-location has demand or a forecast for these filters and weeks: clear a filter or widen "
               "the weeks.")
else:
    combined = demand_plan.aggregate_plan(plan, history)
    keys = ["product_id", "location_id"]
    series = pd.concat([history[keys], plan[keys]] if not plan.empty else [history[keys]]).drop_duplicates()
    if not plan.empty:
        stat_total, final_total = plan["yhat_stat"].sum(), plan["yhat_final"].sum()
        row = st.columns(4)
        row[0].metric("Final forecast (units)", f"{final_total:,.0f}",
                      help="Σ of the final forecast over the selected weeks")
        row[1].metric("Statistical forecast (units)", f"{stat_total:,.0f}")
        row[2].metric("Overrides change", "n/a" if not stat_total else f"{final_total / stat_total - 1:+.1%}",
                      help="final / statistical − 1 over the selection")
        row[3].metric("Series", f"{len(series):,}")
    figure = go.Figure()
    if not plan.empty:
        for level, shade in (("95", "rgba(31,119,180,0.12)"), ("80", "rgba(31,119,180,0.25)")):
            if f"hi_{level}_final" in combined:
                figure.add_trace(go.Scatter(x=combined["period"], y=combined[f"hi_{level}_final"], mode="lines",
                                            line={"width": 0}, showlegend=False, hoverinfo="skip",
                                            connectgaps=False))
                figure.add_trace(go.Scatter(x=combined["period"], y=combined[f"lo_{level}_final"], mode="lines",
                                            line={"width": 0}, fill="tonexty", fillcolor=shade,
                                            name=f"{level} % interval (final)"))
    figure.add_trace(go.Scatter(x=combined["period"], y=combined["actual"], mode="lines+markers", name="Actual demand",
                                line={"color": "#333333"}, marker={"size": 4}))
    if not plan.empty:
        figure.add_trace(go.Scatter(x=combined["period"], y=combined["yhat_stat"], mode="lines",
                                    name="Statistical forecast", line={"dash": "dash", "color": "#ff7f0e"}))
        figure.add_trace(go.Scatter(x=combined["period"], y=combined["yhat_final"], mode="lines",
                                    name="Final forecast", line={"color": "#1f77b4", "width": 3}))
    scope = "1 series" if len(series) == 1 else f"{len(series):,} series summed"
    figure.update_layout(
        title=f"Weekly demand and forecast ({scope}" + (f", run #{run_id})" if run_id is not None else ")"),
        xaxis_title="Week ending (Sunday)", yaxis_title="Demand (units per week)", height=460,
        legend={"orientation": "h", "yanchor": "top", "y": -0.2},
    )
    st.plotly_chart(figure, width="stretch")
    if len(series) > 1 and not plan.empty:
        st.caption("Intervals of a sum of series assume independent errors (half-widths add in quadrature).")
    exports.download_buttons(combined, "demand_history_and_forecast")
    if not plan.empty:
        shown = plan[["sku", "name", "category", "location", "period", "model", "yhat_stat", "yhat_final",
                      *(c for c in ("lo_80_final", "hi_80_final", "lo_95_final", "hi_95_final") if c in plan),
                      "override_id", "override_kind"]]
        with st.expander(f"Forecast rows of run #{run_id} ({len(shown):,})"):
            st.dataframe(shown, hide_index=True, width="stretch", column_config={
                "period": st.column_config.DateColumn("Week ending"),
                **{c: NUMBER(format="%,.1f") for c in shown.columns if c.startswith(("yhat", "lo_", "hi_"))}})
            exports.download_buttons(shown, f"demand_forecast_run{run_id}")

# --- accuracy ---------------------------------------------------------------------------------------------------------
st.subheader("Accuracy: statistical vs final forecast")
evaluable = runs[runs["first_period"] <= last_week] if not runs.empty else runs
if evaluable.empty:
    st.info("No stored run reaches into weeks that have passed yet, so its accuracy cannot be measured. Run "
            "`python -m jobs forecast` every week (or press **Run forecast**): each run is measured against the "
            "weeks that follow it, as soon as they are in the history.")
else:
    eval_labels = {int(r.id): f"#{r.id} · as of {r.params.get('as_of', '?')} · weeks {r.first_period:%Y-%m-%d} to "
                               f"{r.last_period:%Y-%m-%d}" for r in evaluable.itertuples()}
    eval_id = st.selectbox("Measure run", list(eval_labels), format_func=eval_labels.get,
                           help="Runs whose first forecast week has passed; the newest first.")
    measured = narrow(cache.final_forecast(eval_id))
    scored = demand_plan.forecast_value_added(measured, narrow(cache.weekly_actuals(end), periods=False))
    total = scored.total.iloc[0]
    if not total["observations"]:
        st.info("The selected series have no actual week inside this run's forecast weeks: widen the weeks or "
                "pick another run.")
    else:
        row = st.columns(4)
        row[0].metric("WAPE statistical", f"{total['wape_stat']:.1%}")
        row[1].metric("WAPE final", f"{total['wape_final']:.1%}",
                      f"{-total['fva_wape'] * 100:+.1f} pp vs statistical", delta_color="inverse")
        row[2].metric("Bias final", f"{total['bias_final']:+.1%}", help="Σ(ŷ − y) / Σy; > 0: over-forecast")
        row[3].metric("Forecast value added (WAPE)", f"{total['fva_wape'] * 100:+.1f} pp",
                      help="WAPE statistical − WAPE final: > 0 when the overrides helped")
        metrics = pd.DataFrame([
            {"metric": name.upper(), "statistical": total[f"{name}_stat"], "final": total[f"{name}_final"],
             "value added": total[f"fva_{name}"]} for name in demand_plan.METRICS
        ])
        chart = px.bar(metrics.melt(id_vars="metric", value_vars=["statistical", "final"], var_name="forecast"),
                       x="metric", y="value", color="forecast", barmode="group",
                       title=f"Accuracy of run #{eval_id} over {int(total['observations']):,} series-weeks "
                             "(lower is better; bias: nearer 0)",
                       labels={"metric": "Metric", "value": "Error (ratio, definitions below)",
                               "forecast": "Forecast"})
        st.plotly_chart(chart, width="stretch")
        st.caption("e = ŷ − y over the weeks with actuals. WAPE = Σ|e| / Σy and bias = Σe / Σy are shares of "
                   "demand; MASE and RMSSE are the mean absolute and root mean squared error as multiples of the "
                   "naive forecast's in-sample error, averaged over series. Value added = error(statistical) − "
                   "error(final), |bias| for bias: > 0 when the overrides helped. Overrides count as they stand now "
                   "(the active ones).")
        st.dataframe(metrics, hide_index=True, width="stretch")
        exports.download_buttons(scored.total, f"demand_accuracy_run{eval_id}")
        with st.expander(f"Accuracy per series ({len(scored.per_series):,})"):
            per_series = scored.per_series.sort_values("fva_wape", ascending=True)
            st.dataframe(per_series, hide_index=True, width="stretch", column_config=PERCENT)
            exports.download_buttons(per_series, f"demand_accuracy_series_run{eval_id}")

# --- overrides --------------------------------------------------------------------------------------------------------
st.subheader("Overrides")
table = cache.forecast_overrides()
if table.empty:
    st.info("No override yet. " + ("Add one below: a percentage or a fixed weekly level for a product, category or "
                                   "location over a range of weeks." if can_plan else "Planners add them here."))
else:
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "period_start": st.column_config.DateColumn("From"), "period_end": st.column_config.DateColumn("To"),
        "created_at": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm")})
    exports.download_buttons(table, "demand_overrides")
st.caption("An override governs the forecast weeks of its scope whose end date lies in its range; when several "
           "match, the most specific wins (product > category > location, then the newest). A percentage scales "
           "the forecast and its intervals; a level sets the weekly total of the series it governs, shared in "
           "proportion to their statistical forecast.")
if can_plan:
    planned = run is not None and pd.notna(run["first_period"])
    first_week = (run["first_period"] if planned else last_week + pd.Timedelta(weeks=1)).date()
    last_period = (run["last_period"] if planned else last_week + pd.Timedelta(weeks=13)).date()
    with st.form("add_override"):
        left, middle, right = st.columns(3)
        all_labels = dict(zip(products["product_id"], products["sku"] + " — " + products["name"], strict=True))
        scope_product = left.selectbox("Product", [None, *all_labels],
                                       format_func=lambda i: "any product" if i is None else all_labels[i])
        scope_category = middle.selectbox("Category", [None, *sorted(products["category"].dropna().unique())],
                                          format_func=lambda c: "any category" if c is None else c)
        scope_location = right.selectbox("Location", [None, *location_labels],
                                         format_func=lambda i: "any location" if i is None else location_labels[i])
        left, middle, right = st.columns(3)
        start = left.date_input("Override from week ending", value=first_week)
        stop = middle.date_input("Override to week ending", value=last_period)
        kind = right.radio("Kind", demand_plan.KINDS, horizontal=True,
                           format_func={"percent": "Percent change", "level": "Level (units per week)"}.get)
        value = st.number_input("Value: percent (e.g. 15 or −20), or units per week for a level", value=0.0,
                                step=1.0, format="%.2f")
        note = st.text_input("Note (why: promotion, market trend, lost customer, …)")
        submitted = st.form_submit_button("Add override", type="primary")
    if submitted:
        try:
            new_id = forecasts.add_override(
                engine, user=user, period_start=start, period_end=stop, kind=kind, value=value,
                product_id=scope_product, category=scope_category, location_id=scope_location, note=note)
        except ValueError as error:
            st.error(f"Override not added: {error}")
        else:
            cache.refresh_forecasts()
            st.session_state["demand_flash"] = f"Override #{new_id} added by {user}."
            st.rerun()
    active = table[table["active"]] if not table.empty else table
    if not active.empty:
        left, right = st.columns([3, 1])
        describe = {int(r.id): f"#{r.id} {r.kind} {r.value:g} · {r.sku or r.category or r.location or 'all'} · "
                               f"{r.period_start:%Y-%m-%d} to {r.period_end:%Y-%m-%d} · {r.created_by}"
                    for r in active.itertuples()}
        retired = left.selectbox("Active override", list(describe), format_func=describe.get)
        if right.button("Deactivate"):
            try:
                forecasts.deactivate_override(engine, retired, user)
            except ValueError as error:
                st.error(str(error))
            else:
                cache.refresh_forecasts()
                st.session_state["demand_flash"] = f"Override #{retired} deactivated by {user}."
                st.rerun()

# --- run comparison ---------------------------------------------------------------------------------------------------
st.subheader("Compare runs")
if len(runs) < 2:
    st.info("Comparing needs two stored runs: press **Run forecast** (or run `python -m jobs forecast`) again, e.g. "
            "after new data has arrived.")
else:
    ids = [int(i) for i in runs["id"]]
    left, middle, right = st.columns(3)
    run_a = left.selectbox("Run A (before)", ids, index=1, format_func=lambda i: f"#{i}")
    run_b = middle.selectbox("Run B (after)", ids, index=0, format_func=lambda i: f"#{i}")
    basis = right.radio("Forecast", ("yhat_stat", "yhat_final"), horizontal=True,
                        format_func={"yhat_stat": "Statistical", "yhat_final": "Final"}.get)
    if run_a == run_b:
        st.warning("Pick two different runs.")
    else:
        compared = demand_plan.compare_runs(narrow(cache.final_forecast(run_a), periods=False),
                                            narrow(cache.final_forecast(run_b), periods=False), value=basis)
        summary = compared.total.iloc[0]
        common = bool(summary["periods_common"])
        row = st.columns(4)
        row[0].metric(f"Run #{run_a} (units, common weeks)", f"{summary['total_a']:,.0f}" if common else "n/a")
        row[1].metric(f"Run #{run_b} (units, common weeks)", f"{summary['total_b']:,.0f}" if common else "n/a",
                      None if pd.isna(summary["change_pct"]) else f"{summary['change_pct']:+.1%}")
        row[2].metric("Series with another model", f"{int(summary['models_changed']):,} of {int(summary['series_common']):,}")
        row[3].metric("Forecast moved", "n/a" if pd.isna(summary["abs_change_share"])
                      else f"{summary['abs_change_share']:.1%}", help="Σ|ŷ_B − ŷ_A| / Σŷ_A over the common weeks")
        moved = compared.per_series[compared.per_series["periods_common"] > 0]
        top = moved.reindex(moved["change"].abs().sort_values(ascending=False).index).head(20)
        if top.empty:
            st.info("These runs forecast no week in common: their totals over each horizon are in the table "
                    "(horizon_total_a, horizon_total_b); compare runs made closer together for week-by-week changes.")
        else:
            top = top.assign(series=top["sku"] + " @ " + top["location"])
            chart = px.bar(top.sort_values("change"), x="change", y="series", orientation="h",
                           color="model_changed",
                           title=f"Largest changes from run #{run_a} to run #{run_b} (top {len(top)} series)",
                           labels={"change": "Change of the forecast over the common weeks (units)",
                                   "series": "Product @ location", "model_changed": "Model changed"})
            st.plotly_chart(chart, width="stretch")
        st.dataframe(compared.per_series, hide_index=True, width="stretch", column_config=PERCENT)
        exports.download_buttons(compared.per_series, f"demand_compare_{run_a}_{run_b}")
        with st.expander("Models chosen"):
            st.dataframe(compared.models, hide_index=True, width="stretch")
            exports.download_buttons(compared.models, f"demand_models_{run_a}_{run_b}")
