"""A sales representative in Debian's Chromium against a running ``streamlit run app.py`` (Playwright), small demo.

Logs in through the real login form as ``sales``, opens Sales, finds a customer by code, sees the backordered line's
ETA (as stored by the backorder run) and the alternative to offer first (a substitute recorded for the product),
then promises a date and opens the Backorders view. Screenshots go to ``var/screenshots/sales-*.png``.

Needs the order pages registered in pages/access.py (Sales for sales, Backorders for executive and sales).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from data_access import promising as store
from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl.loader import load_directory
from jobs.backorders import run_backorders

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    log = (folder / "streamlit.log").open("wb")  # a file, not a pipe nobody reads: a full pipe would block the server
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        raise RuntimeError("streamlit did not start")
    yield f"http://127.0.0.1:{port}", expected
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield chromium
        chromium.close()


def _wait_until_idle(page) -> None:
    """Wait until the script run is over (the status widget is gone, and still gone 0.3 s later)."""
    page.wait_for_timeout(500)
    status = page.locator('[data-testid="stStatusWidget"]')
    for _ in range(100):
        status.wait_for(state="detached", timeout=90_000)
        page.wait_for_timeout(300)
        if status.count() == 0:
            return


def _shot(page, name: str) -> None:
    """A screenshot of the whole page (the viewport stretched to the content's height, at most 8,000 px)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stMainBlockContainer]')]"
        ".map(e => e.scrollHeight), document.body.scrollHeight)"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(int(height) + 40, size["height"]), 8000)})
    page.wait_for_timeout(400)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    page.set_viewport_size(size)


def _metric(page, label: str) -> str:
    """The value of the metric whose label is exactly ``label``."""
    metric = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)).first
    return metric.get_by_test_id("stMetricValue").inner_text()


def _open(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    _wait_until_idle(page)


def test_sales_rep_finds_a_backorder_its_eta_and_an_alternative(server, browser) -> None:
    from playwright.sync_api import expect

    base, expected = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(base)
    page.get_by_label("Username").wait_for(timeout=150_000)  # a cold server hashes the demo passwords first
    page.get_by_label("Username").fill("sales")
    page.get_by_role("textbox", name="Password").fill("demo")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Signed in as Demo sales").wait_for(timeout=90_000)
    _wait_until_idle(page)

    _open(page, "Sales")
    page.get_by_text("Backorder ETAs last computed").wait_for(timeout=60_000)
    search = page.get_by_label("Find a customer (name or code)")
    search.fill(expected["customer"])
    search.press("Enter")
    chosen = re.compile("^" + re.escape(f"{expected['customer']} — {expected['customer_name']} ("))
    expect(page.get_by_role("combobox", name="Customer")).to_have_value(chosen, timeout=60_000)
    _wait_until_idle(page)
    assert page.get_by_test_id("stException").count() == 0

    line = page.get_by_role("combobox", name="Backordered line").input_value()
    assert line.startswith(expected["order_no"]) and f"ETA {expected['eta']}" in line
    assert _metric(page, "ETA") == expected["eta"]
    offer = page.get_by_test_id("stMarkdownContainer").filter(has_text="Offer first:").first
    offer.wait_for(timeout=30_000)
    assert expected["substitute"] in offer.inner_text() and "substitute" in offer.inner_text()
    page.get_by_role("heading", name=f"Alternatives to {expected['sku']}").wait_for(timeout=10_000)
    _shot(page, "sales-customer-backorder")

    page.get_by_role("tab", name="Promise a date").click()
    page.get_by_text("Earliest date (whole quantity)").wait_for(timeout=30_000)
    _wait_until_idle(page)
    assert _metric(page, "Earliest date (whole quantity)")
    _shot(page, "sales-promise")

    _open(page, "Backorders")
    page.get_by_text("Leading root causes").wait_for(timeout=120_000)
    _wait_until_idle(page)
    assert page.get_by_test_id("stException").count() == 0
    _shot(page, "sales-backorders")
    context.close()
