"""From an empty machine to a usable app: the README's first command on a fresh clone, timed.

Usage: python bench/first_run.py [--keep]

Clones this repository into a temporary folder and runs ``bash scripts/start.sh`` there with
no package cache (``UV_NO_CACHE``, ``PIP_NO_CACHE_DIR``), so it installs every package, creates
the SQLite database and loads the ``medium`` demo company, then starts Streamlit. It reports
the seconds until each step is done, read off the command's output and the server's port, and
then logs in as ``executive`` in Debian's Chromium and times the first page until its headline
figures show. Needs Chromium (``bash scripts/test.sh`` installs it) and Playwright (dev requirements).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser_support import chromium_browser, free_port, log_in  # noqa: E402

#: Lines of ``scripts/start.sh``'s output that end a step.
MARKERS = {"installed": "Preparing the database", "database ready": "You can now view your Streamlit app"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone (its .venv and database)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="first-run-"))
    clone = folder / "app"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "ADDRESS": "127.0.0.1", "UV_NO_CACHE": "1", "PIP_NO_CACHE_DIR": "1",
           "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("DATABASE_URL", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine: Python caches what it compiles
    started = time.perf_counter()
    process = subprocess.Popen(["bash", "scripts/start.sh"], cwd=clone, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen: dict[str, float] = {}
    try:
        for line in process.stdout:
            for step, marker in MARKERS.items():
                if marker in line and step not in seen:
                    seen[step] = time.perf_counter() - started
            if len(seen) == len(MARKERS):
                break
        else:
            raise SystemExit(f"scripts/start.sh ended early (exit {process.wait()})")
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        with chromium_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page_started = time.perf_counter()
            log_in(page, f"http://127.0.0.1:{port}", "executive")
            page.get_by_text("Revenue (net of discounts)").first.wait_for(timeout=120_000)
            first_page = time.perf_counter() - page_started
        usable = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"packages installed:            {seen['installed']:6.1f} s")
    print(f"database created and loaded:   {seen['database ready'] - seen['installed']:6.1f} s (Streamlit up at "
          f"{seen['database ready']:.1f} s)")
    print(f"log in and first page shown:   {first_page:6.1f} s")
    print(f"from nothing to a usable app:  {usable:6.1f} s (load average {os.getloadavg()[0]:.1f})")
    if args.keep:
        print(f"kept {clone}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
