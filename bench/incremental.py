"""Incremental load benchmark: one more day of business dropped into a loaded database.

Usage: python bench/incremental.py --database-url URL [--orders 500] [--shipments 300]

Builds a drop folder for the day after the data's last day (new order lines, shipments of
open lines with their ledger movements), loads it with ``--incremental`` semantics and prints
the wall time of each stage the loader reports. Writes to the database: use a benchmark copy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data_access.engine import make_engine  # noqa: E402
from data_access.frames import read_frame  # noqa: E402
from data_access.queries import last_data_date  # noqa: E402
from etl.loader import load_directory  # noqa: E402


def build_drop(engine, folder: Path, orders: int, shipments: int, seed: int = 1) -> dt.date:
    """Write one day's order lines, shipments and shipment movements into ``folder``; return the day."""
    day = last_data_date(engine) + dt.timedelta(days=1)
    rng = np.random.default_rng(seed)
    with engine.connect() as connection:
        products = read_frame(connection, "SELECT sku, unit_price, unit_cost FROM dim_product WHERE active",
                              ["sku", "unit_price", "unit_cost"], text_columns=("sku",))
        customers = read_frame(connection, "SELECT code FROM dim_customer", ["code"], text_columns=("code",))
        locations = read_frame(connection, "SELECT code FROM dim_location WHERE kind <> 'plant'", ["code"],
                               text_columns=("code",))
        open_lines = read_frame(
            connection,
            "SELECT l.order_no, l.line_no, p.sku, loc.code, l.qty_ordered - l.qty_shipped - l.qty_cancelled, p.unit_cost "
            "FROM fact_sales_order_line l JOIN dim_product p ON p.id = l.product_id "
            "JOIN dim_location loc ON loc.id = l.location_id "
            f"WHERE l.status IN ('open', 'partial') ORDER BY l.requested_date LIMIT {int(shipments)}",
            ["order_no", "line_no", "sku", "location", "qty", "unit_cost"], text_columns=("order_no", "sku", "location"),
        )
    pick = rng.integers(0, len(products), orders)
    lines = pd.DataFrame({
        "order_no": [f"INC-{day:%Y%m%d}-{i // 2:05d}" for i in range(orders)],
        "line_no": [i % 2 + 1 for i in range(orders)],
        "customer": customers["code"].to_numpy()[rng.integers(0, len(customers), orders)],
        "product": products["sku"].to_numpy()[pick],
        "location": locations["code"].to_numpy()[rng.integers(0, len(locations), orders)],
        "order_date": day.isoformat(),
        "requested_date": (day + dt.timedelta(days=3)).isoformat(),
        "qty_ordered": rng.integers(1, 20, orders),
        "unit_price": products["unit_price"].to_numpy()[pick],
        "status": "open",
    })
    lines.to_csv(folder / "sales_order_lines.csv", index=False)
    open_lines = open_lines[open_lines["qty"] > 0]
    shipped = pd.DataFrame({
        "shipment_no": [f"INC-SH-{day:%Y%m%d}-{i:05d}" for i in range(len(open_lines))],
        "order_no": open_lines["order_no"].to_numpy(),
        "line_no": open_lines["line_no"].to_numpy(),
        "carrier": "DHL",
        "ship_date": day.isoformat(),
        "eta": (day + dt.timedelta(days=2)).isoformat(),
        "qty": open_lines["qty"].to_numpy(),
        "status": "in_transit",
    })
    shipped.to_csv(folder / "shipments.csv", index=False)
    pd.DataFrame({
        "movement_no": [f"INC-MV-{day:%Y%m%d}-{i:05d}" for i in range(len(open_lines))],
        "ts": f"{day.isoformat()} 12:00:00",
        "product": open_lines["sku"].to_numpy(),
        "location": open_lines["location"].to_numpy(),
        "qty": -open_lines["qty"].to_numpy(),
        "kind": "shipment",
        "unit_cost": open_lines["unit_cost"].to_numpy(),
        "reference": shipped["shipment_no"].to_numpy(),
    }).to_csv(folder / "inventory_movements.csv", index=False)
    return day


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--shipments", type=int, default=300)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    stages: list[tuple[str, float]] = []

    def progress(_fraction: float, message: str) -> None:
        stages.append((message, time.perf_counter()))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        day = build_drop(engine, folder, args.orders, args.shipments)
        started = time.perf_counter()
        result = load_directory(engine, folder, source="bench-incremental", incremental=True,
                                today=day, progress=progress)
        total = time.perf_counter() - started
    rows = sum(f.rows_read for f in result.files)
    print(f"incremental load of {day}: {rows:,} rows in {total:.1f} s")
    previous = started
    for message, at in stages:
        print(f"  {at - previous:7.1f} s  until: {message}")
        previous = at


if __name__ == "__main__":
    main()
