"""Cached reads of the order views: Sales, My orders (customer portal), Logistics and Backorders (to be merged into
``pages/cache.py``). Writes (a contact, a backorder run) call :func:`refresh_contacts` or :func:`refresh_backorders`
so the next read sees them."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analytics import promising as rules
from data_access import forecasts, order_reads
from data_access import promising as store
from pages.cache import SLOW_TTL_SECONDS, TTL_SECONDS, engine, order_lines


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
    with the change against the period before (``analytics.promising.backorder_trend``)."""
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
