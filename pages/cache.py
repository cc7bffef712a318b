"""The app's one caching module: cached engine and cached queries with a time-to-live."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analytics import backorders, kpis, valuation
from analytics.report import headline
from data_access import frames
from data_access.config import load_settings
from data_access.engine import Engine, make_engine
from data_access.queries import headline_inputs, last_data_date, monthly_trend

TTL_SECONDS = 30


def engine() -> Engine:
    """The configured database engine, shared by all sessions (one per database URL)."""
    return _engine(load_settings().database_url)


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def data_end() -> dt.date | None:
    return last_data_date(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Computing the headline figures…")
def headline_figures(as_of: dt.date) -> tuple[dict, dt.datetime]:
    """Headline figures as of a date, and when they were computed."""
    return headline(headline_inputs(engine(), as_of)), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def trend(as_of: dt.date) -> pd.DataFrame:
    return monthly_trend(engine(), as_of)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def ledger(as_of: dt.date) -> pd.DataFrame:
    """The inventory ledger up to ``as_of`` (for valuation)."""
    return frames.ledger(engine(), as_of)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Valuing the inventory…")
def valuation_table(as_of: dt.date, method: str, by_location: bool) -> pd.DataFrame:
    """Valuation per product (and location) with sku and category, as of the end of ``as_of``."""
    standard = frames.standard_costs(engine()) if method == "standard" else None
    return valuation.valuation_table(ledger(as_of), as_of, method, standard, by_location=by_location)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Computing COGS per period…")
def cogs_table(as_of: dt.date, method: str, freq: str) -> pd.DataFrame:
    """COGS and closing value per period and category."""
    movements = ledger(as_of)
    standard = frames.standard_costs(engine()) if method == "standard" else None
    periods = valuation.cogs_by_period(movements[["product_id", "ts", "qty", "unit_cost"]], freq, method, standard)
    periods = periods.merge(movements.drop_duplicates("product_id")[["product_id", "category"]], on="product_id")
    summed = periods.groupby(["period", "category"], as_index=False)[["cogs", "ending_value"]].sum()
    summed["period"] = summed["period"].dt.start_time
    return summed


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Costing the backorders…")
def backorder_economics(as_of: dt.date, since: dt.date, by: tuple[str, ...], freq: str | None) -> pd.DataFrame:
    """Backorder cost, lost sales and their share of sales of the lines requested from ``since``."""
    lines = order_lines(as_of, since)
    return backorders.backorder_cost(lines, as_of, by=list(by), freq=freq)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading stock levels…")
def stock_levels(as_of: dt.date) -> tuple[pd.DataFrame, dt.datetime]:
    """Stock, position, cover and low-stock flag per item-location, and when they were read."""
    return kpis.stock_cover(frames.inventory_levels(engine(), as_of)), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading order lines…")
def order_lines(as_of: dt.date, since: dt.date) -> pd.DataFrame:
    """Order lines requested from ``since``, in their state at ``as_of`` (read once, grouped many ways)."""
    return frames.order_lines(engine(), as_of, since=since)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Breaking the backorders down…")
def backorder_breakdown(as_of: dt.date, since: dt.date, by: tuple[str, ...], freq: str | None) -> pd.DataFrame:
    """Backorder rate and fill rate of the lines requested from ``since``, grouped ``by`` and per ``freq``."""
    lines = order_lines(as_of, since)
    rates = kpis.backorder_rate(lines, as_of, by=list(by), freq=freq)
    fill = kpis.fill_rate(lines, as_of, by=list(by), freq=freq)
    keys = [*by, *(["period"] if freq else [])]
    return rates.merge(fill[[*keys, "unit_fill_rate", "order_fill_rate"]], on=keys, how="left")
