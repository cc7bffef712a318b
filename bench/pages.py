"""Page timings: render every page of the app as ``admin`` (who sees them all), cold and warm.

Usage: python bench/pages.py --database-url postgresql+psycopg2://postgres@127.0.0.1:5432/bench_large

Cold = the first render after the query caches were cleared (what the first visitor after a
cache expiry waits); warm = the same page rendered again (what every interaction costs while
the cache holds). Uses Streamlit's AppTest, so it measures the script run (queries, analytics,
building the page), not the browser's drawing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a page may take")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from pages import access

    rows = []
    for page in access.PAGES:
        st.cache_data.clear()
        timings = []
        for _attempt in ("cold", "warm"):
            app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=args.timeout)
            app.session_state["authentication_status"] = True
            app.session_state["username"] = "admin"
            app.session_state["name"] = "Demo admin"
            app.session_state["roles"] = ["admin"]
            started = time.perf_counter()
            app.switch_page(page.path).run()  # straight to the page: the landing page does not run first
            timings.append(time.perf_counter() - started)
            if app.exception:
                print(f"{page.title}: {app.exception[0].message}", file=sys.stderr)
        rows.append((page.title, *timings))
        print(f"{page.title:<16} cold {timings[0]:7.1f} s   warm {timings[1]:6.2f} s", flush=True)
    print("\n| page | cold | warm |\n|---|---|---|")
    for title, cold, warm in rows:
        print(f"| {title} | {cold:.1f} s | {warm:.2f} s |")


if __name__ == "__main__":
    main()
