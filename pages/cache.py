"""The app's one caching module: cached engine and cached queries with a time-to-live."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import streamlit as st

from analytics import backorders, kpis, marketing, valuation, whatif
from analytics import promising as rules
from analytics.demand_plan import apply_overrides
from analytics.report import headline
from data_access import app_reads, forecasts, frames, marketing_reads, order_reads
from data_access import promising as store
from data_access import queries as finance_reads
from data_access import replenishment as replenishment_reads
from data_access import warehouse as warehouse_store
from data_access.config import load_settings
from data_access.engine import Engine, make_engine
from data_access.queries import BACKORDER_DIMENSIONS, backorder_counts, headline_inputs, last_data_date, monthly_trend

#: Stock levels and lists that change with every scan, receipt or approval.
TTL_SECONDS = 30
#: Headline figures and the monthly trend read the derived rollups (``data_access.derived``): cheap, so they follow
#: the data as closely as stock levels do.
#: Figures over months or years of history (valuation, backorder economics) and the inputs that
#: change with the daily data (demand history, lead times, forecasts): seconds to compute on the medium demo, and
#: a few minutes of staleness does not change them.
SLOW_TTL_SECONDS = 600


def engine() -> Engine:
    """The configured database engine, shared by all sessions (one per database URL)."""
    return _engine(load_settings().database_url)


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def data_end() -> dt.date | None:
    return last_data_date(engine())


def data_end_or_stop(what: str = "orders", then: str = "") -> dt.date:
    """The data's last day; on an empty database the page says what it lacks and how to load it, and stops."""
    end = data_end()
    if end is None:
        st.info(f"The database holds no {what} yet. Load data with `python -m etl load DIR` or `python -m etl demo`"
                f"{then}.")
        st.stop()
    return end


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def last_load() -> dt.datetime | None:
    """When the last successful data load finished (``etl_run``)."""
    return app_reads.last_load(engine())


def freshness(read_at: dt.datetime | None = None, ttl: int = TTL_SECONDS) -> None:
    """A caption saying how fresh the view's data is: last day of data, last load, when read, refresh interval."""
    end, loaded = data_end(), last_load()
    parts = [f"Data up to {end:%Y-%m-%d}" if end else "No data yet",
             f"last load finished {loaded:%Y-%m-%d %H:%M} UTC" if loaded else "no load recorded"]
    if read_at is not None:
        parts.append(f"read {read_at:%Y-%m-%d %H:%M:%S}")
    parts.append(f"refreshed every {ttl // 60} min" if ttl >= 120 else f"refreshed every {ttl} s")
    st.caption(" · ".join(parts))


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Computing the headline figures…")
def headline_figures(as_of: dt.date) -> tuple[dict, dt.datetime]:
    """Headline figures as of a date, and when they were computed."""
    return headline(headline_inputs(engine(), as_of)), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def trend(as_of: dt.date) -> pd.DataFrame:
    return monthly_trend(engine(), as_of)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def ledger(as_of: dt.date) -> pd.DataFrame:
    """The inventory ledger up to ``as_of``, movement by movement (read only to name the movement an error is about)."""
    return frames.ledger(engine(), as_of)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Reading the inventory ledger…")
def compact_ledger(as_of: dt.date, by_location: bool) -> pd.DataFrame:
    """The ledger up to ``as_of`` with its issues summed between receipts (``frames.compact_ledger``): valued as the
    full ledger, per product (or product-location with ``by_location``)."""
    return frames.compact_ledger(engine(), as_of, by_location=by_location)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Valuing the inventory…")
def valuation_table(as_of: dt.date, method: str, by_location: bool) -> pd.DataFrame:
    """Valuation per product (and location) with sku and category, as of the end of ``as_of``.

    From the compact ledger; when that cannot be valued (ValueError: negative stock, a receipt without cost), from
    the full ledger, whose error names the single movement.
    """
    standard = frames.standard_costs(engine()) if method == "standard" else None
    try:
        return valuation.valuation_table(compact_ledger(as_of, by_location), as_of, method, standard,
                                         by_location=by_location)
    except ValueError:
        return valuation.valuation_table(ledger(as_of), as_of, method, standard, by_location=by_location)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Computing COGS per period…")
def cogs_table(as_of: dt.date, method: str, freq: str) -> pd.DataFrame:
    """COGS and closing value per period and category (from the compact ledger, as ``valuation_table``)."""
    standard = frames.standard_costs(engine()) if method == "standard" else None
    columns = ["product_id", "ts", "qty", "unit_cost"]
    movements = compact_ledger(as_of, False)
    try:
        periods = valuation.cogs_by_period(movements[columns], freq, method, standard)
    except ValueError:  # raised again from the full ledger, naming the single movement
        movements = ledger(as_of)
        periods = valuation.cogs_by_period(movements[columns], freq, method, standard)
    periods = periods.merge(movements.drop_duplicates("product_id")[["product_id", "category"]], on="product_id")
    summed = periods.groupby(["period", "category"], as_index=False)[["cogs", "ending_value"]].sum()
    summed["period"] = summed["period"].dt.start_time
    return summed


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Costing the backorders…")
def backorder_cost_sums(as_of: dt.date, since: dt.date) -> pd.DataFrame:
    """Backorder cost sums per category and month requested of the lines requested from ``since`` (in the database)."""
    return finance_reads.backorder_cost_sums(engine(), as_of, since, backorders.CARRYING_RATE)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Costing the backorders…")
def backorder_economics(as_of: dt.date, since: dt.date, by: tuple[str, ...], freq: str | None) -> pd.DataFrame:
    """Backorder cost, lost sales and their share of sales of the lines requested from ``since``
    (``analytics.backorders.backorder_cost``): from the sums the database makes per category and month when
    grouped by category and/or month, else from the order lines."""
    if set(by) <= {"category"} and freq in (None, "M"):
        return finance_reads.backorder_cost_from_sums(backorder_cost_sums(as_of, since), by, monthly=freq == "M")
    lines = order_lines(as_of, since)
    return backorders.backorder_cost(lines, as_of, by=list(by), freq=freq)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading stock levels…")
def stock_levels(as_of: dt.date) -> tuple[pd.DataFrame, dt.datetime]:
    """Stock, position, cover and low-stock flag per item-location, and when they were read."""
    return kpis.stock_cover(frames.inventory_levels(engine(), as_of)), dt.datetime.now()


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Reading order lines…")
def order_lines(as_of: dt.date, since: dt.date) -> pd.DataFrame:
    """Order lines requested from ``since``, in their state at ``as_of`` (read once, grouped many ways)."""
    return frames.order_lines(engine(), as_of, since=since)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Breaking the backorders down…")
def backorder_breakdown(as_of: dt.date, since: dt.date, by: tuple[str, ...], freq: str | None) -> pd.DataFrame:
    """Backorder rate and unit fill rate of the lines requested from ``since``, grouped ``by`` and per ``freq``.

    Counted in the database from the derived line state (fast on millions of lines); from the order lines in
    pandas when that state is behind or the period is not monthly.
    """
    counts = None
    if freq in (None, "M") and set(by) <= set(BACKORDER_DIMENSIONS):
        counts = backorder_counts(engine(), as_of, since, by, monthly=freq == "M")
    if counts is not None:
        return kpis.backorder_rate_from_counts(counts)
    lines = order_lines(as_of, since)
    rates = kpis.backorder_rate(lines, as_of, by=list(by), freq=freq)
    rates["unit_fill_rate"] = 1 - rates["unit_backorder_rate"]
    return rates


# --- replenishment what-if --------------------------------------------------------------------------------------------


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Reading stock, demand history and lead times…")
def whatif_items(as_of: dt.date) -> tuple[pd.DataFrame, np.ndarray, dt.datetime]:
    """Item-locations with their demand and lead-time inputs, the demand history matrix, and when they were read."""
    eng = engine()
    state = replenishment_reads.item_locations_state(eng, as_of)
    demand = replenishment_reads.daily_demand(eng, as_of - dt.timedelta(days=whatif.HISTORY_DAYS - 1), as_of)
    po = replenishment_reads.po_history(eng, as_of)
    items, history = whatif.item_inputs(state, demand, po, as_of)
    return items, history, dt.datetime.now()


@st.cache_data(ttl=SLOW_TTL_SECONDS, max_entries=200, show_spinner="Simulating…")
def whatif_run(as_of: dt.date, scope: str, value: str | int | None,
               settings: whatif.WhatIf) -> tuple[whatif.Outcome, pd.DataFrame, int]:
    """A scenario over a scope: its outcome, its trade-off curve, and how many item-locations the scope holds
    before the ``whatif.MAX_ITEMS`` bound."""
    items, history, _ = whatif_items(as_of)
    positions, in_scope = whatif.select_items(items, scope, value)
    chosen, demand = items.iloc[positions], history[positions]
    return (whatif.simulate_scenario(chosen, demand, settings), whatif.tradeoff_curve(chosen, demand, settings),
            in_scope)


@st.cache_data(ttl=SLOW_TTL_SECONDS, max_entries=50, show_spinner=False)
def whatif_baseline(as_of: dt.date, scope: str, value: str | int | None, baseline: whatif.WhatIf) -> dict[str, float]:
    """The outcome a scenario is compared to (``baseline``: ``WhatIf.baseline()``, the automatic run's settings)
    on the same items; cached apart, so moving a policy control does not simulate it again."""
    items, history, _ = whatif_items(as_of)
    positions, _ = whatif.select_items(items, scope, value)
    return whatif.simulate_scenario(items.iloc[positions], history[positions], baseline).summary


# --- production -------------------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading production orders…")
def open_production_orders() -> tuple[pd.DataFrame, dt.datetime]:
    """Planned and released production orders, and when they were read."""
    return app_reads.open_production_orders(engine()), dt.datetime.now()


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Computing production efficiency and overproduction…")
def production_performance(as_of: dt.date, since: dt.date) -> dict[str, pd.DataFrame]:
    """Production efficiency, on-time rate and overproduction (``analytics.kpis``) of the production orders
    finished from ``since`` to ``as_of``, against the made products' demand over the same days: in total
    ("total", one row), per month ("monthly") and per category ("by_category")."""
    orders = frames.production_orders(engine(), as_of)
    finished = pd.to_datetime(orders["finished_date"])
    orders = orders[finished.isna() | (finished >= pd.Timestamp(since))]
    demand = app_reads.product_demand(engine(), since, as_of, make_or_buy="make")
    over = ["demand_qty", "overproduced_qty", "overproduction_rate"]
    total = pd.concat([kpis.production_efficiency(orders), kpis.overproduction(orders, demand)[over]], axis=1)
    monthly = kpis.production_efficiency(orders, freq="M").merge(
        kpis.overproduction(orders, demand, freq="M")[["period", *over]], on="period", how="left")
    by_category = kpis.production_efficiency(orders, by="category").merge(
        kpis.overproduction(orders, demand, by="category")[["category", *over]], on="category", how="left")
    return {"total": total, "monthly": monthly, "by_category": by_category}


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Reading demand and forecasts of made items…")
def made_demand_and_forecast(as_of: dt.date, weeks_back: int = 26, weeks_ahead: int = 13) -> pd.DataFrame:
    """Weekly demand of made items over the last ``weeks_back`` weeks and their newest stored forecast over the
    next ``weeks_ahead`` (``whatif.demand_and_forecast``)."""
    eng = engine()
    since = as_of - dt.timedelta(weeks=weeks_back)
    demand = app_reads.product_demand(eng, since, as_of, make_or_buy="make")
    forecast = replenishment_reads.latest_forecast(eng, as_of - dt.timedelta(days=6), as_of + dt.timedelta(weeks=weeks_ahead))
    products = app_reads.products(eng, make_or_buy="make")
    return whatif.demand_and_forecast(demand, forecast, products, as_of, start=since)


# --- admin ------------------------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def etl_runs() -> tuple[pd.DataFrame, dt.datetime]:
    """The latest data loads, and when they were read."""
    return app_reads.etl_runs(engine()), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading rejected rows…")
def etl_rejects(run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rejected rows of one load counted by file, column and reason, and the rows themselves."""
    return app_reads.etl_reject_summary(engine(), run_id), app_reads.etl_rejects(engine(), run_id)


# --- Demand view: forecast runs, overrides and actuals ------------------------------------

@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def forecast_runs() -> tuple[pd.DataFrame, dt.datetime]:
    """Stored forecast runs (newest first) and when they were read."""
    return forecasts.forecast_runs(engine()), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def product_catalog() -> pd.DataFrame:
    return forecasts.product_list(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def location_catalog() -> pd.DataFrame:
    return forecasts.location_list(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def forecast_overrides() -> pd.DataFrame:
    """Every override, active or not, newest first."""
    return forecasts.overrides(engine())


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Reading the forecast run…")
def forecast_run_rows(run_id: int) -> pd.DataFrame:
    """All periods of one run with names (a run is never changed once stored)."""
    return forecasts.forecast_frame(engine(), run_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Applying the overrides…")
def final_forecast(run_id: int) -> pd.DataFrame:
    """One run with the active overrides applied to all of it (levels spread over the whole scope)."""
    return apply_overrides(forecast_run_rows(run_id), forecast_overrides(), product_catalog())


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Reading the weekly demand…")
def weekly_actuals(end: dt.date, start: dt.date | None = None) -> pd.DataFrame:
    """Weekly demand of every product-location up to the last complete week on or before ``end``, of the weeks
    ending from ``start`` (None: all of them). History, so cached as long as the other slow inputs."""
    return forecasts.weekly_demand(engine(), end, start=start, series=demand_series(end))


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def demand_series(end: dt.date) -> pd.DataFrame:
    """Every product-location with demand by the last complete week on or before ``end``, with its first week."""
    return forecasts.demand_series(engine(), end)


def refresh_forecasts() -> None:
    """Forget the cached runs and overrides (after a forecast run or an override was written)."""
    forecast_runs.clear()
    forecast_overrides.clear()
    final_forecast.clear()


# --- orders, backorders and promising (Sales, My orders, Logistics, Backorders) ------------

@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def customers() -> pd.DataFrame:
    """Every customer: customer_id, code, name, segment, tier, region, email."""
    return order_reads.customers(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def catalog() -> pd.DataFrame:
    """Every product with price, cost, lead time and whether it is active."""
    return store.product_catalog(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def locations() -> pd.DataFrame:
    """Every location: location_id, code, name, kind."""
    return forecasts.location_list(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading open orders and backorders…")
def open_orders(as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame, dt.datetime]:
    """All open order lines, the open backorders with their stored ETAs (``backorder_status``) at ``as_of``, and
    when they were read. Views filter them to one customer."""
    eng = engine()
    return store.open_order_lines(eng), store.backorder_status(eng, as_of), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def last_eta_run() -> tuple[dt.datetime, str] | None:
    """When the backorder run last stored ETAs (UTC) and who ran it."""
    return order_reads.last_eta_run(engine())


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def demo_customer(as_of: dt.date) -> int | None:
    """The customer with the most open backorders at ``as_of`` (the portal's demo customer)."""
    return order_reads.customer_with_most_backorders(engine(), as_of)


@st.cache_data(ttl=TTL_SECONDS, max_entries=200, show_spinner="Reading the order history…")
def order_history(customer_id: int, start: dt.date, end: dt.date) -> pd.DataFrame:
    """One customer's order lines ordered from ``start`` to ``end``."""
    return order_reads.customer_order_lines(engine(), customer_id, start, end)


@st.cache_data(ttl=TTL_SECONDS, max_entries=500, show_spinner=False)
def contacts(order_no: str) -> pd.DataFrame:
    """The contact log of one order, newest first."""
    return store.contact_log(engine(), order_no)


@st.cache_data(ttl=TTL_SECONDS, max_entries=500, show_spinner="Finding alternatives…")
def alternatives(product_id: int, location_id: int, as_of: dt.date, price_band: float) -> pd.DataFrame:
    """Substitutes, then products of the same category within ±``price_band``, each with its availability."""
    return store.alternatives_for(engine(), product_id, location_id, as_of=as_of, price_band=price_band)


@st.cache_data(ttl=TTL_SECONDS, max_entries=500, show_spinner=False)
def availability(product_ids: tuple[int, ...], as_of: dt.date) -> pd.DataFrame:
    """Availability now per location of the given products (on hand, open demand, receipts, ATP, next receipt)."""
    return store.product_availability(engine(), list(product_ids), as_of)


@st.cache_data(ttl=TTL_SECONDS, max_entries=500, show_spinner=False)
def promise(product_id: int, location_id: int, qty: float, requested: dt.date, as_of: dt.date,
            transfers: bool) -> rules.Promise:
    """The earliest date ``qty`` of a product can ship from a location, with its split plan."""
    return store.promise(engine(), product_id, location_id, qty, requested, as_of=as_of, transfers=transfers)


@st.cache_data(ttl=TTL_SECONDS, max_entries=500, show_spinner=False)
def atp(product_id: int, location_id: int, as_of: dt.date, horizon_days: int = 90) -> pd.DataFrame:
    """Daily available-to-promise of a product at a location over ``horizon_days`` from ``as_of``."""
    return store.atp_table(engine(), product_id, location_id, as_of=as_of, horizon_days=horizon_days)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading shipments in transit…")
def shipment_delays(as_of: dt.date) -> tuple[pd.DataFrame, dt.datetime]:
    """Shipments in transit with their delay flags as of ``as_of``, and when they were read."""
    return store.shipment_delays(engine(), as_of), dt.datetime.now()


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Computing the backorder trend…")
def backorder_trend(as_of: dt.date, since: dt.date, by: str | None, freq: str) -> pd.DataFrame:
    """Backorder rate per ``by`` group (None: in total) and ``freq`` period of the lines requested from ``since``,
    with the change against the period before (``analytics.promising.backorder_trend``). Monthly: from the counts
    the database sums (``store.backorder_trend_from_counts``); otherwise, or when those are behind, from the lines."""
    trend = store.backorder_trend_from_counts(engine(), as_of, since, by, freq)
    if trend is not None:
        return trend
    return rules.backorder_trend(order_lines(as_of, since), as_of, by=() if by is None else by, freq=freq)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Classifying the backorders by root cause…")
def root_causes(as_of: dt.date, since: dt.date) -> tuple[pd.DataFrame, dt.datetime]:
    """Backordered lines requested from ``since`` to ``as_of``, each with its root cause, and when computed."""
    return store.root_causes(engine(), as_of, since), dt.datetime.now()


def refresh_contacts() -> None:
    """Forget the cached contact logs (after a contact was logged)."""
    contacts.clear()


def refresh_backorders() -> None:
    """Forget the cached open orders, ETAs and shipments (after a backorder run stored new ETAs)."""
    open_orders.clear()
    last_eta_run.clear()
    shipment_delays.clear()
    promise.clear()
    atp.clear()
    availability.clear()
    alternatives.clear()


# --- marketing --------------------------------------------------------------------------------------------------------


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Counting NPS responses…")
def marketing_nps_counts(as_of: dt.date, since: dt.date,
                         categories: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dt.datetime]:
    """NPS responses from ``since`` to ``as_of`` per month, segment, tier, region and whether the feedback's order
    had a backorder (of ``categories`` when given), and when they were read."""
    counts = marketing_reads.feedback_nps_counts(engine(), since, as_of, list(categories) or None)
    return counts, dt.datetime.now()


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Counting orders and backorders per customer…")
def marketing_activity(as_of: dt.date, since: dt.date, categories: tuple[str, ...] = ()) -> pd.DataFrame:
    """Orders and backorders per customer and month ordered from ``since`` to ``as_of`` (of ``categories``)."""
    return marketing_reads.customer_activity(engine(), since, as_of, list(categories) or None)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def marketing_customer_feedback(as_of: dt.date, since: dt.date) -> pd.DataFrame:
    """NPS responses per customer from ``since`` to ``as_of``."""
    return marketing_reads.customer_feedback_counts(engine(), since, as_of)


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Scoring the sentiment of the comments…")
def marketing_comments(as_of: dt.date, since: dt.date) -> pd.DataFrame:
    """The comments given from ``since`` to ``as_of`` with their sentiment (``analytics.marketing.score_feedback``)."""
    return marketing.score_feedback(marketing_reads.feedback_comments(engine(), since, as_of))


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner=False)
def product_categories() -> list[str]:
    """Every product category, sorted."""
    return marketing_reads.product_categories(engine())


# --- warehouse ----------------------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Building the pick list…")
def warehouse_pick_list(location_id: int, as_of: dt.date, horizon_days: int) -> tuple[pd.DataFrame, dt.datetime]:
    """A location's pick list (backorders first, then the allocation priority; routed by SKU), and when read."""
    return warehouse_store.pick_list(engine(), location_id, as_of, horizon_days), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the counts…")
def warehouse_counts(since: dt.date) -> tuple[pd.DataFrame, dt.datetime]:
    """Cycle counts dated from ``since``, and when they were read."""
    return warehouse_store.recent_counts(engine(), since), dt.datetime.now()


@st.cache_data(ttl=SLOW_TTL_SECONDS, show_spinner="Comparing the ledger with the snapshots…")
def warehouse_mismatches() -> tuple[pd.DataFrame, dt.date | None, dt.datetime]:
    """Item-locations whose ledger and latest snapshot disagree, that snapshot day, and when compared (a pass over
    the whole ledger in the database: cached for minutes; scans keep both in step)."""
    frame, day = warehouse_store.ledger_snapshot_mismatches(engine())
    return frame, day, dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def warehouse_scan_log(since: dt.date) -> pd.DataFrame:
    """Ledger movements written by scans from ``since``, newest first."""
    return warehouse_store.scan_log(engine(), dt.datetime.combine(since, dt.time()))


def refresh_after_scan() -> None:
    """Forget what a scan changes, so this session and every other one (Inventory, Sales…) shows it on the next
    rerun: the data's last day, stock levels, headline figures, open orders and availability, the warehouse lists."""
    for cached in (data_end, stock_levels, headline_figures, trend, warehouse_pick_list, warehouse_counts,
                   warehouse_mismatches, warehouse_scan_log):
        cached.clear()
    refresh_backorders()
