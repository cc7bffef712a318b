"""A sales representative in Debian's Chromium against a running ``streamlit run app.py`` (Playwright), small demo.

Logs in through the real login form as ``sales``, opens Sales, finds a customer by code, sees the backordered line's
ETA (as stored by the backorder run) and the alternative to offer first (a substitute recorded for the product),
then promises a date and opens the Backorders view. Screenshots go to ``var/screenshots/sales-*.png``.

Needs the order pages registered in pages/access.py (Sales for sales, Backorders for executive and sales).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from browser_support import chromium_browser, log_in, requires_chromium, serve_app, shot, wait_until_idle

from data_access import promising as store
from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl.loader import load_directory
from jobs.backorders import run_backorders

pytestmark = requires_chromium


def _prepare(folder: Path, demo_dir: Path) -> tuple[str, dict]:
    """The small demo with a substitute recorded for the first backordered product and the backorder run's ETAs;
    returns the database URL and what the representative should find (customer, line, ETA, substitute)."""
    url = f"sqlite:///{folder / 'app.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, demo_dir, kind="demo")
    run_backorders(engine)
    backorders = store.backorder_status(engine)
    line = backorders.iloc[0]
    catalog = store.product_catalog(engine)
    same = catalog[(catalog["category"] == line["category"]) & (catalog["product_id"] != line["product_id"])]
    substitute = same.iloc[0]
    update = folder / "substitutes"
    update.mkdir()
    pd.DataFrame([{"product": line["sku"], "substitute": substitute["sku"], "rank": 1}]).to_csv(
        update / "product_substitutes.csv", index=False)
    load_directory(engine, update, source="substitutes")
    first = backorders[backorders["customer_id"] == line["customer_id"]].iloc[0]  # the line the page selects first
    engine.dispose()
    return url, {"customer": line["customer"], "customer_name": line["customer_name"], "order_no": first["order_no"],
                 "eta": pd.Timestamp(first["eta"]).strftime("%Y-%m-%d"), "substitute": substitute["sku"],
                 "sku": first["sku"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_demo_dir):
    """``streamlit run app.py`` on a free port over the prepared small demo; yields (base URL, expectations)."""
    folder = tmp_path_factory.mktemp("browser_sales")
    url, expected = _prepare(folder, small_demo_dir)
    with serve_app(url, folder) as base:
        yield base, expected


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


def _metric(page, label: str) -> str:
    """The value of the metric whose label is exactly ``label``."""
    metric = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)).first
    return metric.get_by_test_id("stMetricValue").inner_text()


def _open(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    wait_until_idle(page)


def test_sales_rep_finds_a_backorder_its_eta_and_an_alternative(server, browser) -> None:
    from playwright.sync_api import expect

    base, expected = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    log_in(page, base, "sales")
    wait_until_idle(page)

    _open(page, "Sales")
    page.get_by_text("Backorder ETAs last computed").wait_for(timeout=60_000)
    search = page.get_by_label("Find a customer (name or code)")
    search.fill(expected["customer"])
    search.press("Enter")
    chosen = re.compile("^" + re.escape(f"{expected['customer']} — {expected['customer_name']} ("))
    expect(page.get_by_role("combobox", name="Customer")).to_have_value(chosen, timeout=60_000)
    wait_until_idle(page)
    assert page.get_by_test_id("stException").count() == 0

    line = page.get_by_role("combobox", name="Backordered line").input_value()
    assert line.startswith(expected["order_no"]) and f"ETA {expected['eta']}" in line
    assert _metric(page, "ETA") == expected["eta"]
    offer = page.get_by_test_id("stMarkdownContainer").filter(has_text="Offer first:").first
    offer.wait_for(timeout=30_000)
    assert expected["substitute"] in offer.inner_text() and "substitute" in offer.inner_text()
    page.get_by_role("heading", name=f"Alternatives to {expected['sku']}").wait_for(timeout=10_000)
    shot(page, "sales-customer-backorder")

    page.get_by_role("tab", name="Promise a date").click()
    page.get_by_text("Earliest date (whole quantity)").wait_for(timeout=30_000)
    wait_until_idle(page)
    assert _metric(page, "Earliest date (whole quantity)")
    shot(page, "sales-promise")

    _open(page, "Backorders")
    page.get_by_text("Leading root causes").wait_for(timeout=120_000)
    wait_until_idle(page)
    assert page.get_by_test_id("stException").count() == 0
    shot(page, "sales-backorders")
    context.close()
