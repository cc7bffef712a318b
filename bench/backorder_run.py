"""Backorder run benchmark: enqueueing notices into the outbox, and the run itself.

Usage: python bench/backorder_run.py --database-url URL [--notices 19000] [--run]

1. Enqueue ``--notices`` readable notices (the backorder run's own message builders on made-up lines and
   shipments: one customer and one sales message per backordered order, one customer and one logistics message
   per delayed shipment) with ``data_access.notifications.add`` into ``notification_outbox``, then the same
   notices again (all duplicates: nothing new), in one transaction that is rolled back, so the database is left
   as it was. The first ``python -m jobs backorders`` on the ``large`` demo enqueues about 19,000 notices.
2. With ``--run``: ``jobs.backorders.run_backorders`` twice (first run, then a re-run that must enqueue nothing),
   timed. This writes ETAs and notices into the database: use a copy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_access import notifications  # noqa: E402
from data_access.config import load_settings  # noqa: E402
from data_access.engine import make_engine  # noqa: E402
from jobs.backorders import backorder_messages, delay_messages, run_backorders  # noqa: E402


def made_up_messages(count: int) -> list[dict]:
    """About ``count`` notices: backordered orders of two lines each (customer + sales message) and delayed
    shipments (customer + logistics message), half and half."""
    settings = load_settings()
    orders = max(count // 4, 1)
    day = pd.Timestamp("2026-10-31")
    lines = pd.DataFrame({
        "order_no": [f"BENCH-SO-{i // 2:07d}" for i in range(2 * orders)], "line_no": [1 + i % 2 for i in range(2 * orders)],
        "customer": "C000001", "customer_name": "Bench Customer Ltd", "email": "buyer@example.com", "tier": "A",
        "segment": "Industrial", "sku": "SKU-0001", "product_name": "Ball valve DN50", "qty_open": 12.0,
        "qty_ordered": 20.0, "requested_date": day - pd.Timedelta(days=3), "eta": day + pd.Timedelta(days=9),
        "eta_source": "purchase", "eta_reference": "PO-000123", "is_priority": [i % 7 == 0 for i in range(2 * orders)],
        "unit_price": 41.5, "discount": 0.05,
    })
    shipments = pd.DataFrame({
        "shipment_no": [f"BENCH-SH-{i:07d}" for i in range(orders)], "order_no": "SO-1", "line_no": 1,
        "customer": "C000001", "customer_name": "Bench Customer Ltd", "email": "buyer@example.com", "qty": 5.0,
        "sku": "SKU-0001", "product_name": "Ball valve DN50", "carrier": "DHL", "tracking_no": "JD0001",
        "ship_date": day - pd.Timedelta(days=6), "promise": day - pd.Timedelta(days=1),
        "eta": day + pd.Timedelta(days=2), "delayed": True, "overdue": False, "days_overdue": 0, "days_late": 3,
    })
    return backorder_messages(lines, settings) + delay_messages(shipments, day.date(), settings)


def bench_enqueue(url: str, count: int) -> None:
    """Time ``notifications.add`` of ``count`` new notices, then of the same ones again (rolled back)."""
    engine = make_engine(url)
    messages = made_up_messages(count)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            started = time.perf_counter()
            added = notifications.add(connection, messages)
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = notifications.add(connection, messages)
            second = time.perf_counter() - started
        finally:
            transaction.rollback()
    engine.dispose()
    print(f"{engine.dialect.name}: enqueue {len(messages):,} notices: {first:.2f} s ({added:,} new); "
          f"the same again: {second:.2f} s ({again:,} new); rolled back")


def bench_run(url: str) -> None:
    """Time the backorder run twice: the first run, then a re-run (which must enqueue nothing)."""
    engine = make_engine(url)
    for label in ("first run", "re-run"):
        started = time.perf_counter()
        result = run_backorders(engine)
        print(f"{label}: {time.perf_counter() - started:.2f} s; {result.counts}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--notices", type=int, default=19_000)
    parser.add_argument("--run", action="store_true", help="also time the backorder run (writes: use a copy)")
    args = parser.parse_args()
    url = args.database_url or load_settings().database_url
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}")
    bench_enqueue(url, args.notices)
    if args.run:
        bench_run(url)


if __name__ == "__main__":
    main()
