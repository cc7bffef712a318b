"""promise() benchmark: random calls of ``data_access.promising.promise`` (database read + computation).

Usage: python bench/promise.py --database-url URL [--calls 200] [--seed 1] [--as-of DATE] [--no-transfers]

Draws ``--calls`` random (product, location) pairs among those with stock records (the latest snapshot day),
a quantity of 1–20 and a requested date 0–14 days after as_of, then times each call end to end, as a view
would make it:

1. ``promise(engine, product, location, qty, requested, as_of=…)``: the product's supply and demand at every
   location (one query), the transfer lanes, and ``analytics.promising.promise``; first touch of each product
   (its rows may not be in the database's cache yet), then the same calls again (warm);
2. the same calls without ``as_of`` (the planning day is looked up per call, three indexed MAX queries);
3. a breakdown of the warm calls: the read alone and the computation alone.

Prints p50, p95, max and mean in milliseconds, and what the promises looked like (dated, split, transfers).
The goal (issue 7) is under 50 ms a call on the ``large`` demo on PostgreSQL. Five warm-up calls are not
counted; the first (cold) call is shown apart. Timings on a shared 2-core machine are noisy: run it twice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from analytics import promising as rules  # noqa: E402
from data_access import promising as store  # noqa: E402
from data_access import schema  # noqa: E402
from data_access.config import load_settings  # noqa: E402
from data_access.engine import make_engine  # noqa: E402


def _pairs(engine, as_of: dt.date) -> np.ndarray:
    """(product_id, location_id) pairs of the latest snapshot day on or before as_of."""
    snap = schema.fact_inventory_snapshot
    with engine.connect() as connection:
        day = connection.execute(select(func.max(snap.c.snapshot_date)).where(snap.c.snapshot_date <= as_of)).scalar()
        if day is None:
            raise SystemExit("the database has no inventory snapshots: load data first (python -m etl demo ...)")
        rows = connection.execute(select(snap.c.product_id, snap.c.location_id).where(snap.c.snapshot_date == day)
                                  .order_by(snap.c.product_id, snap.c.location_id)).all()
    return np.array([tuple(r) for r in rows], dtype=np.int64)


def _stats(ms: list[float]) -> str:
    values = np.array(ms)
    return (f"p50 {np.percentile(values, 50):7.1f}  p95 {np.percentile(values, 95):7.1f}  max {values.max():7.1f}"
            f"  mean {values.mean():7.1f} ms")


def _time(calls: list[tuple], run: Callable[[tuple], object]) -> tuple[list[float], list[object]]:
    """Milliseconds per call of ``run`` and its results."""
    times, results = [], []
    for call in calls:
        start = time.perf_counter()
        results.append(run(call))
        times.append((time.perf_counter() - start) * 1000)
    return times, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL of a loaded database")
    parser.add_argument("--calls", type=int, default=200, help="timed calls (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="planning day (default: last day of data)")
    parser.add_argument("--no-transfers", action="store_true", help="home location only (no transfer lanes)")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be >= 1")

    settings = load_settings()
    engine = make_engine(args.database_url)
    try:
        as_of = args.as_of or store.planning_date(engine)
        pairs = _pairs(engine, as_of)
        rng = np.random.default_rng(args.seed)
        picks = pairs[rng.integers(0, len(pairs), args.calls + 5)]
        calls = [(int(p), int(loc), float(rng.integers(1, 21)), as_of + dt.timedelta(days=int(rng.integers(0, 15))))
                 for p, loc in picks]
        transfers = not args.no_transfers
        print(f"database {engine.url.render_as_string(hide_password=True)} ({engine.dialect.name}), as of "
              f"{as_of}, {len(pairs):,} product-locations, {args.calls} calls, transfers "
              f"{'on' if transfers else 'off'}")

        def full(call: tuple) -> rules.Promise:
            product, location, qty, requested = call
            return store.promise(engine, product, location, qty, requested, as_of=as_of, transfers=transfers,
                                 settings=settings)

        def lookup(call: tuple) -> rules.Promise:
            product, location, qty, requested = call
            return store.promise(engine, product, location, qty, requested, transfers=transfers, settings=settings)

        first, _ = _time(calls[:1], full)
        _time(calls[1:5], full)  # warm-up of the code paths (other products than the timed ones)
        timed = calls[5:]
        times, results = _time(timed, full)
        print(f"first call of the run {first[0]:.1f} ms")
        print(f"promise, first touch of each product  {_stats(times)}")
        warm, _ = _time(timed, full)
        print(f"promise, same calls again (warm)      {_stats(warm)}")
        lookup_times, _ = _time(timed, lookup)
        print(f"promise, warm, as_of looked up        {_stats(lookup_times)}")

        reads, computes = [], []
        with engine.connect() as connection:
            for product, location, qty, requested in timed:
                start = time.perf_counter()
                supply = store.supply_demand(connection, as_of, [product])
                lanes = store.transfer_lanes(connection) if transfers else None
                middle = time.perf_counter()
                rules.promise(supply, location, qty, requested, as_of=as_of, product_id=product, lanes=lanes,
                              default_transfer_days=settings.default_transfer_days, transfers=transfers)
                reads.append((middle - start) * 1000)
                computes.append((time.perf_counter() - middle) * 1000)
        print(f"  warm, of which read                 {_stats(reads)}")
        print(f"  warm, of which computation          {_stats(computes)}")

        dated = [r for r in results if r.date is not None]
        print(f"promises: {len(dated)} dated ({sum(r.on_time for r in results)} on the requested date), "
              f"{len(results) - len(dated)} not coverable by known supply, {sum(r.split for r in results)} split, "
              f"{sum(r.uses_transfer for r in results)} with a transfer; pieces per promise "
              f"{statistics.mean(len(r.pieces) for r in results):.2f}")
        print(f"calls over 50 ms: {sum(t > 50 for t in times)} of {len(times)} at first touch, "
              f"{sum(t > 50 for t in warm)} warm")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
