"""Tests of ``etl.loader.load_directory``: validation rejects, transactions, idempotence, streaming, incremental loads.

Every test writes a few tiny interchange CSV files into ``tmp_path`` and loads them into a fresh database
(SQLite and PostgreSQL through the ``engine`` fixture). Rejected rows are read back from ``etl_reject``.
Row numbers are file line numbers: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import tracemalloc
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, Table, UniqueConstraint, func, select

from data_access import schema
from etl.interchange import markdown
from etl.loader import FileStats, LoadError, LoadResult, load_directory

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2024, 6, 1)

LOCATIONS_HEADER = ["code", "name", "kind", "region"]
LOCATIONS = [["WH1", "Main warehouse", "warehouse", "North"], ["ST1", "City store", "store", "South"]]
PRODUCTS_HEADER = ["sku", "name", "category", "make_or_buy", "unit_cost", "unit_price"]
PRODUCTS = [["P1", "Widget", "Tools", "buy", "2.5", "5"], ["P2", "Gadget", "Tools", "make", "3", "7"]]
CUSTOMERS_HEADER = ["code", "name", "segment"]
CUSTOMERS = [["C1", "Acme", "retail"], ["C2", "Beta", "wholesale"]]
#: Only the required columns: the optional quantities (qty_shipped, qty_cancelled) are absent on purpose.
SALES_HEADER = [
    "order_no", "line_no", "customer", "product", "location", "order_date", "requested_date", "qty_ordered",
    "unit_price", "status",
]
SALES = [
    ["SO1", "1", "C1", "P1", "WH1", "2024-05-01", "2024-05-05", "3", "5", "open"],
    ["SO1", "2", "C1", "P2", "WH1", "2024-05-01", "2024-05-06", "1", "7", "open"],
    ["SO2", "1", "C2", "P1", "ST1", "2024-05-02", "2024-05-08", "4", "5", "shipped"],
]
MOVEMENTS_HEADER = ["movement_no", "ts", "product", "location", "qty", "kind", "unit_cost"]
FORMULA = "=cmd|' /C calc'!A0"


# --- helpers -------------------------------------------------------------------------------


def write_csv(
    folder: Path, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], encoding: str = "utf-8"
) -> Path:
    """Write an interchange file (comma separated, header row, ``\\n`` line ends)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_dimensions(folder: Path) -> None:
    """Valid locations.csv, products.csv and customers.csv."""
    write_csv(folder, "locations.csv", LOCATIONS_HEADER, LOCATIONS)
    write_csv(folder, "products.csv", PRODUCTS_HEADER, PRODUCTS)
    write_csv(folder, "customers.csv", CUSTOMERS_HEADER, CUSTOMERS)


def write_base(folder: Path) -> Path:
    """The three dimension files and a sales_order_lines.csv of three lines."""
    write_dimensions(folder)
    write_csv(folder, "sales_order_lines.csv", SALES_HEADER, SALES)
    return folder


def load(engine: Engine, folder: Path, **options: Any) -> LoadResult:
    return load_directory(engine, folder, today=TODAY, **options)


def stats(result: LoadResult, file: str) -> FileStats:
    return next(f for f in result.files if f.file == file)


def scalar(engine: Engine, statement: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(statement).scalar_one()


def rejects(engine: Engine, run_id: int) -> list[tuple[str, int, str, str | None, str]]:
    """Rejects of a run as (file, row_number, column_name, value, reason), in file and row order."""
    r = schema.etl_reject.c
    statement = (
        select(r.file, r.row_number, r.column_name, r.value, r.reason)
        .where(r.run_id == run_id)
        .order_by(r.file, r.row_number, r.column_name)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(statement)]


def assert_rejected(
    found: list[tuple[str, int, str, str | None, str]],
    file: str,
    row: int,
    column: str,
    reason: str,
    value: str | None = None,
) -> None:
    """A reject of ``file`` at ``row`` in ``column`` whose reason contains ``reason`` (and value, if given)."""
    matches = [f for f in found if f[0] == file and f[1] == row and f[2] == column and reason in f[4]]
    assert matches, f"no reject {file} row {row} column {column!r} reason ~{reason!r} in {found}"
    if value is not None:
        assert any(m[3] == value for m in matches), f"reject {file} row {row} {column}: value is not {value!r}: {matches}"


def run_row(engine: Engine, run_id: int) -> dict[str, Any]:
    t = schema.etl_run.c
    with engine.connect() as connection:
        row = connection.execute(
            select(t.status, t.rows_read, t.rows_loaded, t.rows_rejected, t.message).where(t.id == run_id)
        ).one()
    return dict(row._mapping)


def runs(engine: Engine) -> list[tuple[int, str, str | None]]:
    t = schema.etl_run.c
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(t.id, t.status, t.message).order_by(t.id))]


def counts(engine: Engine) -> dict[str, int]:
    """Row counts of every reporting table."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in schema.REPORTING_TABLES
        }


def _natural_key(table: Table) -> list:
    unique = next(c for c in table.constraints if isinstance(c, UniqueConstraint))
    return list(unique.columns)


def contents(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every reporting table, ordered by its natural key."""
    with engine.connect() as connection:
        return {
            table.name: [tuple(r) for r in connection.execute(select(table).order_by(*_natural_key(table)))]
            for table in schema.REPORTING_TABLES
        }


def sales_keys(engine: Engine) -> set[tuple[str, int]]:
    s = schema.fact_sales_order_line.c
    with engine.connect() as connection:
        return {(o, int(n)) for o, n in connection.execute(select(s.order_no, s.line_no))}


def write_bad_folder(folder: Path) -> dict[str, list[tuple[int, str, str, str | None]]]:
    """Dimensions (one product with a formula name) and a sales file mixing good and bad rows.

    Returns the expected rejects per file: (row, column, reason substring, value or None).
    """
    write_csv(folder, "locations.csv", LOCATIONS_HEADER, LOCATIONS)
    write_csv(folder, "customers.csv", CUSTOMERS_HEADER, CUSTOMERS)
    write_csv(folder, "products.csv", PRODUCTS_HEADER, [*PRODUCTS, ["P3", FORMULA, "Tools", "buy", "1", "2"]])

    def line(order_no: str, line_no: str = "1", *, customer: str = "C1", product: str = "P1",
             order_date: str = "2024-05-01", requested: str = "2024-05-05", qty: str = "3") -> list[str]:
        return [order_no, line_no, customer, product, "WH1", order_date, requested, qty, "5", "open"]

    write_csv(folder, "sales_order_lines.csv", SALES_HEADER, [
        line("SO10"),                                  # 2 good
        line("SO11", "x"),                             # 3 line_no not a whole number
        line("SO12", qty="abc"),                       # 4 qty not a number
        line("SO13", order_date="2024-13-45"),         # 5 no such month/day
        line("SO14", order_date="05/01/2024"),         # 6 wrong date format
        line("SO15", order_date="2024-02-30"),         # 7 no such day
        line("SO16", qty="-2"),                        # 8 negative quantity
        line("SO17", product="P9"),                    # 9 unknown product
        line("SO18", customer="C9"),                   # 10 unknown customer
        line("SO19"),                                  # 11 duplicate key ...
        line("SO19", product="P2"),                    # 12 ... of row 11
        line("SO20", order_date="2024-05-10"),         # 13 requested before ordered
        line(FORMULA),                                 # 14 formula in a text field
        line("SO21", customer="C2", product="P2"),     # 15 good
    ])
    keys = ("order_no,line_no", "duplicate key in file", None)
    return {
        "products.csv": [(4, "name", "spreadsheet formula", FORMULA)],
        "sales_order_lines.csv": [
            (3, "line_no", "not a whole number", "x"),
            (4, "qty_ordered", "not a number", "abc"),
            (5, "order_date", "date (expected YYYY-MM-DD)", "2024-13-45"),
            (6, "order_date", "date (expected YYYY-MM-DD)", "05/01/2024"),
            (7, "order_date", "date (expected YYYY-MM-DD)", "2024-02-30"),
            (8, "qty_ordered", "must be >= 0", "-2"),
            (9, "product", "unknown product", "P9"),
            (10, "customer", "unknown customer", "C9"),
            (11, *keys),
            (12, *keys),
            (13, "requested_date", "requested_date is before order_date", "2024-05-05"),
            (14, "order_no", "spreadsheet formula", FORMULA),
        ],
    }


# --- tests -----------------------------------------------------------------------------------


def test_minimal_valid_load(engine: Engine, tmp_path: Path) -> None:
    """Dimensions and order lines (required columns only) load; the run is recorded as succeeded and balanced."""
    result = load(engine, write_base(tmp_path / "in"))

    assert result.status == "succeeded"
    assert [(f.file, f.rows_read, f.inserted, f.rows_rejected) for f in result.files] == [
        ("locations.csv", 2, 2, 0), ("customers.csv", 2, 2, 0), ("products.csv", 2, 2, 0),
        ("sales_order_lines.csv", 3, 3, 0),
    ]
    n = counts(engine)
    assert (n["dim_location"], n["dim_customer"], n["dim_product"], n["fact_sales_order_line"]) == (2, 2, 2, 3)
    assert sales_keys(engine) == {("SO1", 1), ("SO1", 2), ("SO2", 1)}
    s = schema.fact_sales_order_line.c
    # absent optional quantities take the column defaults
    assert scalar(engine, select(func.sum(s.qty_shipped + s.qty_cancelled))) == 0
    run = run_row(engine, result.run_id)
    assert run["status"] == "succeeded"
    assert run["rows_read"] == 9 == run["rows_loaded"] + run["rows_rejected"]
    assert run["rows_rejected"] == 0
    assert rejects(engine, result.run_id) == []


def test_rerun_of_same_folder_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    """Loading the same folder twice inserts and updates nothing the second time; every table is identical."""
    folder = write_base(tmp_path / "in")
    load(engine, folder)
    before = contents(engine)

    again = load(engine, folder)

    assert again.status == "succeeded"
    assert [(f.inserted, f.updated) for f in again.files] == [(0, 0)] * 4
    assert [f.rows_loaded for f in again.files] == [2, 2, 2, 3]
    assert contents(engine) == before
    assert run_row(engine, again.run_id)["status"] == "succeeded"


def test_changed_row_is_updated(engine: Engine, tmp_path: Path) -> None:
    """A product renamed at the source is updated in place on re-run, and only that row."""
    folder = write_base(tmp_path / "in")
    load(engine, folder)
    write_csv(folder, "products.csv", PRODUCTS_HEADER, [["P1", "Widget XL", *PRODUCTS[0][2:]], PRODUCTS[1]])

    result = load(engine, folder)

    assert (stats(result, "products.csv").inserted, stats(result, "products.csv").updated) == (0, 1)
    assert [f.updated for f in result.files if f.file != "products.csv"] == [0, 0, 0]
    p = schema.dim_product.c
    with engine.connect() as connection:
        names = dict(connection.execute(select(p.sku, p.name)).all())
    assert names == {"P1": "Widget XL", "P2": "Gadget"}


def test_missing_required_column_fails_the_whole_run(engine: Engine, tmp_path: Path) -> None:
    """A file without a required column stops the run: nothing is loaded (not even the valid file), run failed."""
    folder = tmp_path / "in"
    write_csv(folder, "locations.csv", LOCATIONS_HEADER, LOCATIONS)
    write_csv(folder, "products.csv", ["sku", "name", "make_or_buy"], [["P1", "Widget", "buy"]])

    with pytest.raises(LoadError) as error:
        load(engine, folder)

    message = str(error.value)
    assert "products.csv" in message
    assert "missing required column(s): category" in message
    assert set(counts(engine).values()) == {0}
    assert [(status, msg) for _id, status, msg in runs(engine)] == [("failed", message)]


def test_extra_unknown_column_loads_with_warning(engine: Engine, tmp_path: Path) -> None:
    """An unknown column is ignored with a warning naming it; the rows load."""
    folder = tmp_path / "in"
    write_csv(folder, "locations.csv", [*LOCATIONS_HEADER, "colour"], [[*row, "red"] for row in LOCATIONS])

    result = load(engine, folder)

    file = stats(result, "locations.csv")
    assert (file.rows_loaded, file.inserted) == (2, 2)
    assert any("unknown column" in w and "colour" in w for w in file.warnings), file.warnings
    assert counts(engine)["dim_location"] == 2


def test_bad_rows_are_rejected_and_good_rows_load(engine: Engine, tmp_path: Path) -> None:
    """Each kind of bad row is rejected with its file, row, column, value and reason; the good rows load."""
    expected = write_bad_folder(tmp_path / "in")

    result = load(engine, tmp_path / "in", max_reject_share=1.0)

    found = rejects(engine, result.run_id)
    for file, items in expected.items():
        for row, column, reason, value in items:
            assert_rejected(found, file, row, column, reason, value)
    assert {(f[0], f[1]) for f in found} == {(file, i[0]) for file, items in expected.items() for i in items}
    assert sales_keys(engine) == {("SO10", 1), ("SO21", 1)}
    p = schema.dim_product.c
    with engine.connect() as connection:
        assert sorted(connection.execute(select(p.sku)).scalars()) == ["P1", "P2"]
    sales = stats(result, "sales_order_lines.csv")
    assert (sales.rows_read, sales.rows_loaded, sales.rows_rejected, sales.inserted) == (14, 2, 12, 2)
    assert (stats(result, "products.csv").rows_loaded, stats(result, "products.csv").rows_rejected) == (2, 1)
    run = run_row(engine, result.run_id)
    assert run["status"] == "succeeded"
    assert (run["rows_read"], run["rows_loaded"], run["rows_rejected"]) == (21, 8, 13)


def test_too_many_rejects_fail_the_run(engine: Engine, tmp_path: Path) -> None:
    """Above the default reject share (5 %) the run fails, loads nothing, and still records its rejects."""
    expected = write_bad_folder(tmp_path / "in")

    with pytest.raises(LoadError) as error:
        load(engine, tmp_path / "in")

    message = str(error.value)
    assert "13 of 21 rows rejected" in message
    assert "more than the allowed 5.0%" in message
    assert "sales_order_lines.csv" in message
    assert set(counts(engine).values()) == {0}
    [(run_id, status, recorded)] = runs(engine)
    assert (status, recorded) == ("failed", message)
    assert run_row(engine, run_id)["rows_rejected"] == 13
    found = rejects(engine, run_id)
    assert {(f[0], f[1]) for f in found} == {(file, i[0]) for file, items in expected.items() for i in items}
    assert_rejected(found, "sales_order_lines.csv", 9, "product", "unknown product", "P9")


def test_empty_file_fails(engine: Engine, tmp_path: Path) -> None:
    """A 0-byte file is an error naming the file; nothing of the run is loaded."""
    folder = tmp_path / "in"
    write_csv(folder, "locations.csv", LOCATIONS_HEADER, LOCATIONS)
    (folder / "customers.csv").write_bytes(b"")

    with pytest.raises(LoadError, match=r"customers\.csv.*empty"):
        load(engine, folder)

    assert set(counts(engine).values()) == {0}
    assert [status for _id, status, _msg in runs(engine)] == ["failed"]


def test_header_only_file_loads_nothing_and_succeeds(engine: Engine, tmp_path: Path) -> None:
    """A file with a header and no rows is a valid, empty load."""
    folder = tmp_path / "in"
    write_csv(folder, "customers.csv", CUSTOMERS_HEADER, [])

    result = load(engine, folder)

    assert result.status == "succeeded"
    file = stats(result, "customers.csv")
    assert (file.rows_read, file.rows_loaded, file.inserted) == (0, 0, 0)
    assert counts(engine)["dim_customer"] == 0
    assert run_row(engine, result.run_id)["status"] == "succeeded"


def test_latin1_file_is_decoded_with_a_warning(engine: Engine, tmp_path: Path) -> None:
    """A Windows-1252/Latin-1 file loads with its accents intact and a warning about the encoding."""
    folder = tmp_path / "in"
    write_csv(folder, "customers.csv", CUSTOMERS_HEADER, [["C5", "Müller Café", "retail"]], encoding="latin-1")

    result = load(engine, folder)

    file = stats(result, "customers.csv")
    assert file.inserted == 1
    assert any("Windows-1252" in w and "Latin-1" in w for w in file.warnings), file.warnings
    c = schema.dim_customer.c
    assert scalar(engine, select(c.name).where(c.code == "C5")) == "Müller Café"


def test_utf8_file_with_bom_loads(engine: Engine, tmp_path: Path) -> None:
    """A UTF-8 file with a byte-order mark loads: its first column (``code``) is recognised, no warning."""
    folder = tmp_path / "in"
    path = write_csv(folder, "customers.csv", CUSTOMERS_HEADER, [["C6", "Œuvre Straße", "retail"]], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    result = load(engine, folder)

    file = stats(result, "customers.csv")
    assert (file.inserted, file.warnings) == (1, [])
    c = schema.dim_customer.c
    assert scalar(engine, select(c.name).where(c.code == "C6")) == "Œuvre Straße"


def test_failed_run_in_the_middle_leaves_database_as_before(engine: Engine, tmp_path: Path) -> None:
    """A run whose second file is broken rolls back the changes of its first file: every table as before."""
    base = write_base(tmp_path / "base")
    write_csv(base, "inventory_movements.csv", MOVEMENTS_HEADER, [["M1", "2024-05-03 08:00", "P1", "WH1", "10", "receipt", "2"]])
    load(engine, base)
    before_counts, before = counts(engine), contents(engine)
    assert before_counts["fact_inventory_snapshot"] > 0
    folder = tmp_path / "in"
    write_csv(folder, "locations.csv", LOCATIONS_HEADER, [["WH1", "Renamed", "warehouse", "East"], ["ST9", "New", "store", ""]])
    write_csv(folder, "customers.csv", ["code", "segment"], [["C3", "retail"]])
    write_csv(folder, "products.csv", PRODUCTS_HEADER, [["P1", "Widget XL", *PRODUCTS[0][2:]], ["P9", "New", "Tools", "buy", "1", "2"]])

    with pytest.raises(LoadError, match=r"customers\.csv: missing required column\(s\): name"):
        load(engine, folder)

    assert counts(engine) == before_counts
    assert contents(engine) == before
    assert [status for _id, status, _msg in runs(engine)] == ["succeeded", "failed"]


def test_streaming_load_keeps_memory_flat(engine: Engine, tmp_path: Path) -> None:
    """60,000 lines read 5,000 at a time: all load, the traced peak stays well below reading the file whole,
    and a key repeated in two different chunks is caught by the database check after staging.

    pandas 3 keeps ``str`` columns in Arrow buffers that tracemalloc cannot see, so both measurements use
    Python string storage: then every string of the file is traced, in the whole read as in the load.
    """
    if engine.dialect.name != "sqlite":
        pytest.skip("memory is measured once, on SQLite")
    load(engine, write_base(tmp_path / "base"))  # warms up the validation suites of every entity
    n = 60_000
    i = np.arange(n)
    rng = np.random.default_rng(7)
    order_date = pd.Timestamp("2024-03-01") + pd.to_timedelta(i % 60, unit="D")
    frame = pd.DataFrame({
        "order_no": pd.Series(i // 2).map("WEB-ORDER-2024-{:08d}".format),
        "line_no": i % 2 + 1,
        "customer": np.where(i % 2, "C1", "C2"),
        "product": np.where(i % 3, "P1", "P2"),
        "location": np.where(i % 5, "WH1", "ST1"),
        "order_date": order_date.strftime("%Y-%m-%d"),
        "requested_date": (order_date + pd.Timedelta(days=5)).strftime("%Y-%m-%d"),
        "qty_ordered": rng.integers(100, 100_000, n),
        "qty_shipped": rng.integers(0, 100, n),
        "unit_price": rng.integers(100, 10_000_000, n) / 100,
        "discount": rng.integers(0, 10_000, n) / 10_000,
        "status": "open",
    })
    first_key = frame.loc[10, ["order_no", "line_no"]].tolist()  # file row 12, first chunk
    frame.loc[n - 1, ["order_no", "line_no"]] = first_key  # file row 60001, last chunk
    folder = tmp_path / "big"
    folder.mkdir()
    path = folder / "sales_order_lines.csv"
    frame.to_csv(path, index=False)
    del frame
    gc.collect()

    with pd.option_context("mode.string_storage", "python"):
        tracemalloc.start()
        try:
            whole = pd.read_csv(path, dtype=str)
            peak_whole = tracemalloc.get_traced_memory()[1]
            del whole
        finally:
            tracemalloc.stop()
        gc.collect()
        tracemalloc.start()
        try:
            result = load(engine, folder, chunk_rows=5_000)
            peak_streamed = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak_streamed < 0.5 * peak_whole, (peak_streamed, peak_whole)
    file = stats(result, "sales_order_lines.csv")
    assert (file.rows_read, file.rows_rejected, file.inserted) == (n, 2, n - 2)
    assert counts(engine)["fact_sales_order_line"] == len(SALES) + n - 2
    found = rejects(engine, result.run_id)
    assert [(f[1], f[2]) for f in found] == [(12, "order_no,line_no"), (60001, "order_no,line_no")]
    assert all("duplicate key in file" in f[4] and f[3] == f"{first_key[0]}|{first_key[1]}" for f in found)
    s = schema.fact_sales_order_line.c
    duplicated = (s.order_no == first_key[0]) & (s.line_no == int(first_key[1]))
    assert scalar(engine, select(func.count()).select_from(schema.fact_sales_order_line).where(duplicated)) == 0


def test_ledger_is_append_only(engine: Engine, tmp_path: Path) -> None:
    """Re-loading the ledger changes nothing; changing a stored movement is rejected as append-only."""
    folder = tmp_path / "in"
    write_dimensions(folder)
    movements = [
        ["M1", "2024-05-01 08:00:00", "P1", "WH1", "10", "receipt", "2.5"],
        ["M2", "2024-05-02 09:30", "P1", "WH1", "-3", "shipment", ""],
    ]
    write_csv(folder, "inventory_movements.csv", MOVEMENTS_HEADER, movements)
    first = load(engine, folder)
    assert stats(first, "inventory_movements.csv").inserted == 2
    ledger = contents(engine)["fact_inventory_movement"]

    again = load(engine, folder)

    file = stats(again, "inventory_movements.csv")
    assert (file.rows_loaded, file.inserted, file.updated, file.rows_rejected) == (2, 0, 0, 0)
    assert contents(engine)["fact_inventory_movement"] == ledger

    changed = [["M1", "2024-05-01 08:00:00", "P1", "WH1", "12", "receipt", "2.5"], movements[1],
               ["M3", "2024-05-03 10:00:00", "P1", "WH1", "-1", "shipment", ""]]
    write_csv(folder, "inventory_movements.csv", MOVEMENTS_HEADER, changed)
    third = load(engine, folder, max_reject_share=1.0)

    file = stats(third, "inventory_movements.csv")
    assert (file.rows_rejected, file.inserted, file.updated) == (1, 1, 0)
    found = rejects(engine, third.run_id)
    assert len(found) == 1
    assert_rejected(found, "inventory_movements.csv", 2, "movement_no", "append-only", "M1")
    m = schema.fact_inventory_movement.c
    with engine.connect() as connection:
        assert dict(connection.execute(select(m.movement_no, m.qty)).all()) == {"M1": 10, "M2": -3, "M3": -1}


def test_incremental_skips_unchanged_files_and_stale_rows(engine: Engine, tmp_path: Path) -> None:
    """Incremental runs skip unchanged files, and in a changed file load only rows newer than the watermark."""
    folder = tmp_path / "in"
    write_csv(folder, "locations.csv", LOCATIONS_HEADER, LOCATIONS)
    write_csv(folder, "products.csv", PRODUCTS_HEADER, PRODUCTS)
    header = [*CUSTOMERS_HEADER, "updated_at"]
    old = [["C1", "Acme", "retail", "2024-05-01 10:00:00"], ["C2", "Beta", "wholesale", "2024-05-02 10:00:00"]]
    write_csv(folder, "customers.csv", header, old)
    first = load(engine, folder, incremental=True)
    assert [f.inserted for f in first.files] == [2, 2, 2]

    unchanged = load(engine, folder, incremental=True)

    assert [(f.skipped, f.rows_read, f.inserted) for f in unchanged.files] == [(True, 0, 0)] * 3
    assert unchanged.status == "succeeded"

    newer = [
        ["C1", "Acme renamed, not newer", "retail", "2024-05-01 10:00:00"],  # stale: skipped
        old[1],
        ["C3", "Gamma", "retail", "2024-05-03 09:00:00"],
        ["C4", "Delta", "retail", "2024-05-04 09:00:00"],
    ]
    write_csv(folder, "customers.csv", header, newer)
    third = load(engine, folder, incremental=True)

    assert [(f.file, f.skipped) for f in third.files] == [
        ("locations.csv", True), ("customers.csv", False), ("products.csv", True),
    ]
    file = stats(third, "customers.csv")
    assert (file.rows_read, file.rows_loaded, file.inserted, file.updated, file.rows_rejected) == (2, 2, 2, 0, 0)
    c = schema.dim_customer.c
    with engine.connect() as connection:
        names = dict(connection.execute(select(c.code, c.name)).all())
    assert names == {"C1": "Acme", "C2": "Beta", "C3": "Gamma", "C4": "Delta"}
    run = run_row(engine, third.run_id)
    assert run["rows_read"] == 2 == run["rows_loaded"] + run["rows_rejected"]


def test_interchange_docs_are_current() -> None:
    """docs/interchange.md is what ``python -m etl docs`` writes from the format definition today."""
    docs = ROOT / "docs" / "interchange.md"
    assert docs.read_text(encoding="utf-8") == markdown() + "\n", "run: python -m etl docs"


def _index_and_key_names(engine: Engine) -> dict[str, tuple[set[str], int]]:
    from sqlalchemy import inspect

    inspector = inspect(engine)
    return {
        name: ({i["name"] for i in inspector.get_indexes(name)} | {c["name"] for c in inspector.get_unique_constraints(name)},
               len(inspector.get_foreign_keys(name)))
        for name in ("fact_sales_order_line", "fact_inventory_movement", "fact_inventory_snapshot")
    }


def test_bulk_mode_rebuilds_indexes_and_keys(engine: Engine, small_demo_dir: Path, monkeypatch, tmp_path: Path) -> None:
    """A large load defers indexes and foreign keys (and, into an empty PostgreSQL table, its unique key: a
    plain INSERT); after success, and after a failed run, all are back. The keys still hold: a re-run of the
    same files changes nothing, and a key repeated in a file is rejected before the plain INSERT."""
    from etl import bulk

    monkeypatch.setattr(bulk, "BULK_MODE_MIN_ROWS", 1)
    expected = _index_and_key_names(engine)
    assert all(names and fks for names, fks in expected.values())
    deferred: list[str] = []
    unique_deferred: list[str] = []
    original = bulk.deferred_indexes

    def spy(connection, table, enabled=True, unique=False):
        if enabled:
            deferred.append(table.name)
        if unique:
            unique_deferred.append(table.name)
        return original(connection, table, enabled, unique)

    monkeypatch.setattr(bulk, "deferred_indexes", spy)
    result = load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    assert result.status == "succeeded" and result.rows_rejected == 0
    assert {"fact_sales_order_line", "fact_inventory_movement", "fact_inventory_snapshot"} <= set(deferred)
    if engine.dialect.name == "postgresql":
        assert {"fact_sales_order_line", "fact_inventory_movement"} <= set(unique_deferred)
    assert _index_and_key_names(engine) == expected
    assert any(name.startswith("uq_") for name in expected["fact_sales_order_line"][0])
    first_load_deferred = len(unique_deferred)
    again = load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    assert sum(f.inserted + f.updated for f in again.files) == 0
    assert len(unique_deferred) == first_load_deferred  # the tables are no longer empty: upserts

    broken = tmp_path / "broken"
    broken.mkdir()
    for path in small_demo_dir.glob("*.csv"):
        (broken / path.name).write_bytes(path.read_bytes())
    from etl.interchange import ENTITIES

    last = next(e for e in reversed(ENTITIES) if (broken / e.file_name).exists())
    (broken / last.file_name).write_text("nothing_known\n1\n")  # the last file fails, after the big facts loaded
    with pytest.raises(LoadError):
        load_directory(engine, broken, today=dt.date(2026, 11, 1))
    assert _index_and_key_names(engine) == expected
