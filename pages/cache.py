"""The app's one caching module: cached engine and cached queries with a time-to-live."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analytics.report import headline
from data_access.config import load_settings
from data_access.engine import Engine, make_engine
from data_access.queries import headline_inputs, last_data_date, monthly_trend

TTL_SECONDS = 30


@st.cache_resource
def engine() -> Engine:
    """The configured database engine, shared by all sessions."""
    return make_engine(load_settings().database_url)


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
