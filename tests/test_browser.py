"""Real clicks in Debian's Chromium against a running ``streamlit run app.py`` (Playwright).

Logs in as the finance user, opens each of its pages, switches the valuation method (a control
that changes the numbers), downloads the Excel export and opens it, and logs out; and checks
that a forbidden page cannot be reached by URL. Screenshots go to ``var/screenshots/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl.loader import load_directory

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


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_demo_dir):
    """``streamlit run app.py`` on a free port over a database holding the small demo company."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'app.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, small_demo_dir, kind="demo")
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=20)


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
    """Wait until the script run is over (the status widget's running man is gone)."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=90_000)


def _log_in(page, base: str, user: str) -> None:
    page.goto(base)
    page.get_by_label("Username").wait_for(timeout=150_000)  # a cold server hashes the demo passwords first
    page.get_by_label("Username").fill(user)
    page.get_by_role("textbox", name="Password").fill("demo")
    page.get_by_role("button", name="Login").click()
    page.get_by_text(f"Signed in as Demo {user}").wait_for(timeout=90_000)


def test_finance_user_values_stock_and_downloads_excel(server: str, browser, tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    _log_in(page, server, "finance")
    page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
    page.screenshot(path=SHOTS / "finance-overview.png", full_page=True)

    page.get_by_role("link", name="Finance").click()
    page.get_by_text("Inventory value (FIFO)").wait_for(timeout=60_000)
    fifo_value = page.get_by_test_id("stMetricValue").first.inner_text()
    page.screenshot(path=SHOTS / "finance-valuation-fifo.png", full_page=True)
    page.get_by_text("Moving average", exact=True).click()
    page.get_by_text("Inventory value (Moving average)").wait_for(timeout=60_000)
    _wait_until_idle(page)
    average_value = page.get_by_test_id("stMetricValue").first.inner_text()
    assert fifo_value != average_value  # costs drift in the demo: the methods value the stock differently
    page.screenshot(path=SHOTS / "finance-valuation-average.png", full_page=True)

    _wait_until_idle(page)
    with page.expect_download() as info:  # the first export of the page: the valuation table
        page.get_by_role("button", name="Download Excel").first.click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    table = pd.read_excel(saved)
    assert {"sku", "category", "ending_qty", "ending_value", "cogs"} <= set(table.columns)
    assert table["sku"].iloc[-1] == "TOTAL"
    assert table["ending_value"].iloc[-1] == pytest.approx(table["ending_value"].iloc[:-1].sum())

    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").wait_for(timeout=30_000)
    context.close()


def test_forbidden_page_is_not_reachable_by_url(server: str, browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    _log_in(page, server, "warehouse")
    page.goto(f"{server}/finance")
    page.wait_for_timeout(3_000)
    page.screenshot(path=SHOTS / "warehouse-finance-url.png", full_page=True)
    assert page.get_by_text("Page not found").count() == 1
    assert page.get_by_text("Inventory value (FIFO)").count() == 0
    assert page.get_by_role("link", name="Finance").count() == 0
    context.close()
