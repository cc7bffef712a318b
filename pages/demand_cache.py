"""Cached reads of the Demand view (to be merged into ``pages/cache.py``): runs, catalog, overrides, actuals and
each run's final forecast. Writes (a run, an override) call :func:`refresh` so the next read sees them."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analytics.demand_plan import apply_overrides
from data_access import forecasts
from pages.cache import TTL_SECONDS, engine


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def runs() -> tuple[pd.DataFrame, dt.datetime]:
    """Stored forecast runs (newest first) and when they were read."""
    return forecasts.forecast_runs(engine()), dt.datetime.now()


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def products() -> pd.DataFrame:
    return forecasts.product_list(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def locations() -> pd.DataFrame:
    return forecasts.location_list(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def override_list() -> pd.DataFrame:
    """Every override, active or not, newest first."""
    return forecasts.overrides(engine())


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the forecast run…")
def run_rows(run_id: int) -> pd.DataFrame:
    """All periods of one run with names (a run is never changed once stored)."""
    return forecasts.forecast_frame(engine(), run_id)


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Applying the overrides…")
def final_forecast(run_id: int) -> pd.DataFrame:
    """One run with the active overrides applied to all of it (levels spread over the whole scope)."""
    return apply_overrides(run_rows(run_id), override_list(), products())


@st.cache_data(ttl=TTL_SECONDS, show_spinner="Reading the weekly demand…")
def weekly_actuals(end: dt.date) -> pd.DataFrame:
    """Weekly demand of every product-location up to the last complete week on or before ``end``."""
    return forecasts.weekly_demand(engine(), end)


def refresh() -> None:
    """Forget the cached runs and overrides (after a forecast run or an override was written)."""
    runs.clear()
    override_list.clear()
    final_forecast.clear()
