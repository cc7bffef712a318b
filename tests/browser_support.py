"""What the browser tests share: a ``streamlit run`` server, Debian's Chromium, and page helpers (Playwright)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"

requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_app(database_url: str, folder: Path) -> Iterator[str]:
    """``streamlit run app.py`` on a free port over ``database_url``; yields its base URL, stops it after."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    log = (folder / "streamlit.log").open("wb")  # a file, not a pipe nobody reads: a full pipe would block the server
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],  # edits elsewhere in the tree must not pop "source changed, rerun?"
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"streamlit did not start; see {folder / 'streamlit.log'}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()


@contextlib.contextmanager
def chromium_browser() -> Iterator[object]:
    """Debian's Chromium under Playwright, with the flags a container needs."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def wait_until_idle(page) -> None:
    """Wait until the script run is over: the status widget's running man is gone, and still gone 0.3 s later (a
    rerun that had not started yet, e.g. a fragment's, does not count as over)."""
    page.wait_for_timeout(500)
    status = page.locator('[data-testid="stStatusWidget"]')
    for _ in range(100):
        status.wait_for(state="detached", timeout=90_000)
        page.wait_for_timeout(300)
        if status.count() == 0:
            return


def shot(page, name: str) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main area, so the viewport is stretched to
    the content's height for the shot (at most 8,000 px), then restored."""
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


def log_in(page, base: str, user: str) -> None:
    """Log in through the real login form as a demo user (password ``demo``)."""
    page.goto(base)
    page.get_by_label("Username").wait_for(timeout=150_000)  # a cold server prepares the database first
    page.get_by_label("Username").fill(user)
    page.get_by_role("textbox", name="Password").fill("demo")
    page.get_by_role("button", name="Login").click()
    page.get_by_text(f"Signed in as Demo {user}").wait_for(timeout=90_000)
