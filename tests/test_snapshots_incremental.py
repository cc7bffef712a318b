"""Incremental snapshot refresh: appending new days to untouched item-locations equals a full rebuild.

The small demo (data up to ``DEMO_END`` = E) is loaded, then two drops built like
``bench/incremental.py``'s: drop 1 on E+1 plants events dated after it (lines requested on
E+3/E+4, a shipment made before its requested date, an early cancellation, a future-dated
cancellation, receipt and production finish, a closed PO line expected on E+3, a production
start on E+3, a line at a new item-location requested on E+3); drop 2 on E+4 touches other
item-locations only and changes a product's cost. After drop 2 the snapshot table must equal,
row for row, what ``refresh(connection, None)`` rebuilds from scratch.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from data_access import schema
from data_access.frames import read_frame
from etl import snapshots
from etl.loader import load_directory
from tests.conftest import DEMO_END

E = DEMO_END
DAY1 = E + dt.timedelta(days=1)
DAY2 = E + dt.timedelta(days=4)
NORTH, SOUTH, PLANT = "DC-NORTH", "DC-SOUTH", "PLANT-1"


def _day(offset: int) -> str:
    return (E + dt.timedelta(days=offset)).isoformat()


def _write(folder: Path, name: str, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / name, index=False)


def _line(order_no: str, sku: str, location: str, customer: str, **values: Any) -> dict[str, Any]:
    row = {
        "order_no": order_no, "line_no": 1, "customer": customer, "product": sku, "location": location,
        "order_date": DAY1.isoformat(), "requested_date": _day(3), "qty_ordered": 1, "qty_shipped": 0,
        "qty_cancelled": 0, "cancelled_date": None, "unit_price": 9.5, "status": "open",
    }
    return {**row, **values}


def _skus(frames: dict[str, pd.DataFrame]) -> tuple[list[str], list[str]]:
    products = frames["products"]
    buy = products.loc[products["make_or_buy"] == "buy", "sku"].tolist()
    make = products.loc[products["make_or_buy"] == "make", "sku"].tolist()
    return buy, make


def write_drop_one(frames: dict[str, pd.DataFrame], folder: Path) -> None:
    """Day E+1: order lines, a shipment, purchase and production orders with events dated after E+1."""
    buy, make = _skus(frames)
    customer, supplier = frames["customers"]["code"].iloc[0], frames["suppliers"]["code"].iloc[0]
    _write(folder, "locations.csv", [{"code": SOUTH, "name": "South DC", "kind": "warehouse", "region": "South"}])
    _write(folder, "sales_order_lines.csv", [
        _line("INC1-A", buy[0], NORTH, customer, qty_ordered=7),  # requested in drop 2's window
        _line("INC1-B", buy[1], NORTH, customer, qty_ordered=5, qty_shipped=5, status="shipped"),  # shipped early
        _line("INC1-C", buy[2], NORTH, customer, requested_date=_day(4), qty_ordered=4, qty_cancelled=4,
              cancelled_date=DAY1.isoformat(), status="cancelled"),  # cancelled before its requested date
        _line("INC1-D", buy[3], NORTH, customer, requested_date=DAY1.isoformat(), qty_ordered=6, qty_cancelled=2,
              cancelled_date=_day(2)),  # cancellation dated after the load's end
        _line("INC1-S", buy[4], SOUTH, customer, qty_ordered=3),  # a new item-location, first event on E+3
    ])
    _write(folder, "shipments.csv", [{
        "shipment_no": "INC1-SH-B", "order_no": "INC1-B", "line_no": 1, "carrier": "DHL",
        "ship_date": DAY1.isoformat(), "qty": 5, "status": "in_transit",
    }])
    _write(folder, "inventory_movements.csv", [{
        "movement_no": "INC1-MV-B", "ts": f"{DAY1.isoformat()} 12:00:00", "product": buy[1], "location": NORTH,
        "qty": -5, "kind": "shipment", "unit_cost": 1.0, "reference": "INC1-SH-B",
    }])
    _write(folder, "purchase_order_lines.csv", [
        {"po_no": "INC1-PO-F", "line_no": 1, "supplier": supplier, "product": buy[5], "location": NORTH,
         "order_date": DAY1.isoformat(), "expected_date": _day(3), "received_date": None, "qty_ordered": 10,
         "qty_received": 0, "status": "closed"},  # the unreceived rest drops on the expected date
        {"po_no": "INC1-PO-G", "line_no": 1, "supplier": supplier, "product": buy[6], "location": NORTH,
         "order_date": DAY1.isoformat(), "expected_date": _day(2), "received_date": _day(2), "qty_ordered": 8,
         "qty_received": 8, "status": "received"},  # receipt dated after the load's end
    ])
    _write(folder, "production_orders.csv", [
        {"mo_no": "INC1-MO-H", "product": make[0], "location": PLANT, "start_date": _day(3), "due_date": _day(5),
         "finished_date": None, "qty_planned": 30, "qty_produced": 0, "status": "released"},
        {"mo_no": "INC1-MO-I", "product": make[1], "location": PLANT, "start_date": DAY1.isoformat(),
         "due_date": _day(3), "finished_date": _day(2), "qty_planned": 20, "qty_produced": 20, "status": "finished"},
    ])


def write_drop_two(frames: dict[str, pd.DataFrame], folder: Path) -> None:
    """Day E+4: one new line and one movement of another item-location, and a new standard cost for buy[0]."""
    buy, _make = _skus(frames)
    customer = frames["customers"]["code"].iloc[0]
    _write(folder, "sales_order_lines.csv", [
        _line("INC2-Z", buy[7], NORTH, customer, order_date=DAY2.isoformat(), requested_date=_day(6), qty_ordered=2),
    ])
    _write(folder, "inventory_movements.csv", [{
        "movement_no": "INC2-MV-Z", "ts": f"{DAY2.isoformat()} 08:00:00", "product": buy[7], "location": NORTH,
        "qty": 1, "kind": "adjustment", "unit_cost": 1.0, "reference": "INC2",
    }])
    product = frames["products"].loc[frames["products"]["sku"] == buy[0]].copy()
    product["unit_cost"] = product["unit_cost"] + 1.5
    _write(folder, "products.csv", product.to_dict("records"))


def snapshot_table(engine: Engine) -> pd.DataFrame:
    """Every snapshot row but its id, in key order."""
    with engine.connect() as connection:
        frame = read_frame(
            connection,
            "SELECT snapshot_date, product_id, location_id, on_hand, on_order, allocated, backordered, unit_cost "
            "FROM fact_inventory_snapshot ORDER BY product_id, location_id, snapshot_date",
            ["snapshot_date", "product_id", "location_id", "on_hand", "on_order", "allocated", "backordered",
             "unit_cost"],
            date_columns=("snapshot_date",),
        )
    return frame.astype({"product_id": "int64", "location_id": "int64", "on_hand": float, "on_order": float,
                         "allocated": float, "backordered": float, "unit_cost": float})


def rebuilt_table(engine: Engine) -> pd.DataFrame:
    """The snapshot table after a full rebuild."""
    with engine.begin() as connection:
        snapshots.refresh(connection, None)
    return snapshot_table(engine)


def ids(engine: Engine, table: str, column: str, values: list[str]) -> dict[str, int]:
    listed = ", ".join(f"'{v}'" for v in values)
    with engine.connect() as connection:
        frame = read_frame(connection, f"SELECT {column}, id FROM {table} WHERE {column} IN ({listed})",
                           [column, "id"], text_columns=(column,))
    return dict(zip(frame[column], frame["id"].astype(int), strict=True))


@pytest.fixture
def spied(monkeypatch) -> list[tuple[pd.DataFrame | None, int]]:
    """Calls of ``snapshots.refresh`` made by the loader: (touched, rows written)."""
    calls: list[tuple[pd.DataFrame | None, int]] = []
    original = snapshots.refresh

    def spy(connection, touched=None) -> int:
        written = original(connection, touched)
        calls.append((touched, written))
        return written

    monkeypatch.setattr(snapshots, "refresh", spy)
    return calls


def test_appending_new_days_equals_a_full_rebuild(
    engine: Engine, small_demo_dir: Path, small_demo_frames, tmp_path: Path, spied
) -> None:
    load_directory(engine, small_demo_dir, today=E)
    assert spied[-1][0] is None  # a first load builds every snapshot without listing the touched ones
    write_drop_one(small_demo_frames, tmp_path / "drop1")
    load_directory(engine, tmp_path / "drop1", incremental=True, today=DAY1)
    after_one = snapshot_table(engine)
    assert after_one["snapshot_date"].max() == pd.Timestamp(DAY1)
    write_drop_two(small_demo_frames, tmp_path / "drop2")
    load_directory(engine, tmp_path / "drop2", incremental=True, today=DAY2)
    touched, written = spied[-1]
    incremental = snapshot_table(engine)
    assert incremental["snapshot_date"].max() == pd.Timestamp(DAY2)

    # The cases planted by drop 1 are events of drop 2's window, of item-locations drop 2 did not touch.
    buy, make = _skus(small_demo_frames)
    product = ids(engine, "dim_product", "sku", [*buy[:8], *make[:2]])
    location = ids(engine, "dim_location", "code", [NORTH, SOUTH, PLANT])
    planted = {
        (product[buy[0]], location[NORTH], _day(3), "backordered"),  # requested in the window
        (product[buy[1]], location[NORTH], _day(3), "backordered"),  # shipped before the requested date
        (product[buy[2]], location[NORTH], _day(4), "backordered"),  # cancelled before the requested date
        (product[buy[3]], location[NORTH], _day(2), "backordered"),  # cancellation dated in the window
        (product[buy[4]], location[SOUTH], _day(3), "backordered"),  # new item-location
        (product[buy[5]], location[NORTH], _day(3), "on_order"),  # closed PO line's expected date
        (product[buy[6]], location[NORTH], _day(2), "on_order"),  # receipt in the window
        (product[make[0]], location[PLANT], _day(3), "on_order"),  # production start in the window
        (product[make[1]], location[PLANT], _day(2), "on_order"),  # production finish in the window
    }
    with engine.connect() as connection:
        window = read_frame(
            connection, snapshots._window_events_sql(engine.dialect.name, DAY1, DAY2),
            ["product_id", "location_id", "d", "measure", "delta"], date_columns=("d",),
        )
    found = {(int(p), int(loc), f"{d:%Y-%m-%d}", m) for p, loc, d, m in window.iloc[:, :4].itertuples(index=False)}
    assert planted <= found
    touched_pairs = {tuple(map(int, pair)) for pair in touched.itertuples(index=False)}
    assert touched_pairs == {(product[buy[7]], location[NORTH])}
    assert not {(p, loc) for p, loc, _d, _m in planted} & touched_pairs
    south = incremental[(incremental["product_id"] == product[buy[4]]) & (incremental["location_id"] == location[SOUTH])]
    assert south["snapshot_date"].min() == pd.Timestamp(_day(3))
    assert south["backordered"].tolist() == [3.0, 3.0]
    cancelled = incremental[(incremental["product_id"] == product[buy[3]]) & (incremental["location_id"] == location[NORTH])]
    by_day = cancelled.set_index("snapshot_date")["backordered"]
    assert by_day[pd.Timestamp(_day(2))] == by_day[pd.Timestamp(_day(1))] - 2

    # Drop 2 appended a few days instead of rewriting the table, yet the table is what a rebuild makes.
    assert 0 < written < len(incremental) // 10
    full = rebuilt_table(engine)
    pd.testing.assert_frame_equal(incremental, full, check_exact=True)
    cost = full.loc[full["product_id"] == product[buy[0]], "unit_cost"].unique()
    expected_cost = small_demo_frames["products"].set_index("sku").loc[buy[0], "unit_cost"] + 1.5
    assert cost.tolist() == pytest.approx([expected_cost])


def test_window_events_match_the_full_events_query(
    engine: Engine, small_demo_dir: Path, small_demo_frames, tmp_path: Path
) -> None:
    """The date-bounded branches select exactly the full query's events dated in the window."""
    load_directory(engine, small_demo_dir, today=E)
    write_drop_one(small_demo_frames, tmp_path / "drop1")
    load_directory(engine, tmp_path / "drop1", incremental=True, today=DAY1)
    after, through = E - dt.timedelta(days=90), E + dt.timedelta(days=30)
    columns = ["product_id", "location_id", "d", "measure", "delta"]
    dialect = engine.dialect.name
    with engine.connect() as connection:
        window = read_frame(connection, snapshots._window_events_sql(dialect, after, through), columns,
                            date_columns=("d",))
        everything = read_frame(connection, snapshots._events_sql(dialect, "1 = 1"), columns, date_columns=("d",))
    everything = everything[(everything["d"] > pd.Timestamp(after)) & (everything["d"] <= pd.Timestamp(through))]
    key = ["product_id", "location_id", "d", "measure"]

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({"product_id": "int64", "location_id": "int64", "delta": float})
        return frame.sort_values(key).reset_index(drop=True)

    window, everything = tidy(window), tidy(everything)
    assert len(window) > 1_000
    pd.testing.assert_frame_equal(window[key], everything[key])
    assert np.allclose(window["delta"], everything["delta"], rtol=1e-12, atol=1e-9)


def test_same_day_and_backwards_refreshes(engine: Engine, small_demo_dir: Path, small_demo_frames) -> None:
    """No new day: only the touched rows change. A stored day after the data's end: full rebuild."""
    load_directory(engine, small_demo_dir, today=E)
    full = snapshot_table(engine)
    pair = full[["product_id", "location_id"]].drop_duplicates().head(3).reset_index(drop=True)
    with engine.begin() as connection:
        assert snapshots.refresh(connection, pair) == 0  # nothing changed: nothing written
    pd.testing.assert_frame_equal(snapshot_table(engine), full, check_exact=True)

    first = full.iloc[0]
    with engine.begin() as connection:
        connection.execute(insert(schema.fact_inventory_snapshot).values(
            snapshot_date=E + dt.timedelta(days=10), product_id=int(first["product_id"]),
            location_id=int(first["location_id"]), on_hand=1, on_order=0, allocated=0, backordered=0, unit_cost=1,
        ))
        assert snapshots.refresh(connection, pair) == len(full)
    pd.testing.assert_frame_equal(snapshot_table(engine), full, check_exact=True)


def test_a_line_moved_to_another_product_rebuilds_both_item_locations(
    engine: Engine, small_demo_dir: Path, small_demo_frames, tmp_path: Path, spied
) -> None:
    """An order line re-sent with another product leaves its old item-location: both are rebuilt, and the
    table equals a full rebuild (the old pair's backlog drops, the new one's rises)."""
    load_directory(engine, small_demo_dir, today=E)
    buy, _make = _skus(small_demo_frames)
    customer = small_demo_frames["customers"]["code"].iloc[0]
    _write(tmp_path / "drop1", "sales_order_lines.csv", [_line("MOVE-1", buy[0], NORTH, customer, qty_ordered=9)])
    load_directory(engine, tmp_path / "drop1", incremental=True, today=DAY1)
    _write(tmp_path / "drop2", "sales_order_lines.csv", [_line("MOVE-1", buy[1], NORTH, customer, qty_ordered=9)])
    load_directory(engine, tmp_path / "drop2", incremental=True, today=DAY1)
    product = ids(engine, "dim_product", "sku", buy[:2])
    location = ids(engine, "dim_location", "code", [NORTH])
    touched = {tuple(map(int, pair)) for pair in spied[-1][0].itertuples(index=False)}
    assert touched == {(product[buy[0]], location[NORTH]), (product[buy[1]], location[NORTH])}
    pd.testing.assert_frame_equal(snapshot_table(engine), rebuilt_table(engine), check_exact=True)


def test_a_full_rebuild_in_batches_equals_one_in_a_single_batch(engine: Engine, small_demo_dir: Path,
                                                                 monkeypatch) -> None:
    """Past ``BATCH_ITEM_LOCATIONS`` the events are aggregated once into a session table and read per batch of
    products; the rows are the same as when every product-location is built from one query."""
    load_directory(engine, small_demo_dir, today=E)
    single = rebuilt_table(engine)
    monkeypatch.setattr(snapshots, "BATCH_ITEM_LOCATIONS", 7)
    batched = rebuilt_table(engine)
    assert single[["product_id", "location_id"]].drop_duplicates().shape[0] > 7 * 5
    pd.testing.assert_frame_equal(batched, single, check_exact=True)
