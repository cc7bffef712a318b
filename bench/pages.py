"""Page timings: render every page of the app as ``admin`` (who sees them all), cold and warm.

Usage: python bench/pages.py --database-url postgresql+psycopg2://postgres@127.0.0.1:5432/bench_large
       [--pages Finance Demand]   (only these pages, by title; the landing page is rendered first, untimed)

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
    parser.add_argument("--pages", nargs="*", default=None, metavar="TITLE",
                        help="only the pages with these titles (default: every page)")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from pages import access

    def app_test() -> AppTest:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=args.timeout)
        app.session_state["authentication_status"] = True
        app.session_state["username"] = "admin"
        app.session_state["name"] = "Demo admin"
        app.session_state["roles"] = ["admin"]
        return app

    rows = []
    wanted = {title.casefold() for title in args.pages} if args.pages else None
    if wanted is not None:
        # A chosen page may not be the first to run: render the landing page once, untimed, so the process's
        # one-time start (imports, engine, migration check) is not counted in the first page's cold time.
        app_test().run()
    for page in access.PAGES:
        if wanted is not None and page.title.casefold() not in wanted:
            continue
        st.cache_data.clear()
        timings = []
        for _attempt in ("cold", "warm"):
            app = app_test()
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
