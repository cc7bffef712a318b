"""Tests of the Northwind connector: the SQL-dump parser and the mapping to interchange entities (no database)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from etl.interchange import ENTITY_BY_NAME
from etl.northwind import parse_dump, parse_values, to_interchange, write_interchange

DUMP = Path(__file__).resolve().parents[2] / "shared/data/northwind/northwind.sql"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    if not DUMP.exists():
        pytest.skip(f"Northwind dump not found at {DUMP}")
    return parse_dump(DUMP)


@pytest.fixture(scope="module")
def frames(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return to_interchange(tables)


def _dump(tmp_path: Path, *statements: str) -> Path:
    path = tmp_path / "dump.sql"
    create = "CREATE TABLE t (\n    a integer,\n    b text,\n    c real\n);\n"
    path.write_text(create + "\n".join(statements) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- tokenizer


def test_values_null_numbers_and_strings() -> None:
    rows = parse_values("(NULL, -3, 2.5, -0.25, 1e3, 'x', '', 42);")
    assert rows == [(None, -3, 2.5, -0.25, 1000.0, "x", "", 42)]
    assert [type(v) for v in rows[0][1:3]] == [int, float]


def test_values_comma_parenthesis_and_quote_inside_string() -> None:
    rows = parse_values("('a, b', '(c)', 'd''e', ''';'), (1, 'f)(,g');")
    assert rows == [("a, b", "(c)", "d'e", "';"), (1, "f)(,g")]


def test_values_backslash_is_literal() -> None:
    assert parse_values(r"('\x', 'a\nb', 'c\');") == [("\\x", "a\\nb", "c\\")]


@pytest.mark.parametrize(
    "text",
    [
        "(1, 'unterminated);",
        "(1, 2;",
        "(1 2);",
        "(1, );",
        "(1, 2)",
        "(1, 2); extra",
        "(1, foo);",
        "1, 2);",
        "(1, 2.3.4);",
    ],
)
def test_values_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_values(text)


def test_parse_small_dump(tmp_path: Path) -> None:
    path = _dump(
        tmp_path,
        "INSERT INTO t VALUES (1, 'Bon app''', 9.80000019);",
        "INSERT INTO t VALUES (-2, NULL, NULL);",
        "INSERT INTO public.t (c, a, b) VALUES (0.5, 3, 'x, (y)');",
        "INSERT INTO t (b) VALUES ('only b'), ('and again');",
    )
    t = parse_dump(path)["t"]
    assert list(t.columns) == ["a", "b", "c"]
    assert t["a"].tolist()[:3] == [1, -2, 3] and t["a"].isna().tolist()[3:] == [True, True]
    assert t["b"].tolist() == ["Bon app'", None, "x, (y)", "only b", "and again"]
    assert t["c"].iloc[0] == pytest.approx(9.80000019)
    assert pd.isna(t["c"].iloc[1])


def test_string_spanning_lines(tmp_path: Path) -> None:
    path = _dump(tmp_path, "INSERT INTO t VALUES (1, 'two\nlines;', 2);", "INSERT INTO t VALUES (2, 'z', 3);")
    assert parse_dump(path)["t"]["b"].tolist() == ["two\nlines;", "z"]


def test_malformed_statement_names_file_and_line(tmp_path: Path) -> None:
    path = _dump(tmp_path, "INSERT INTO t VALUES (1, 'ok', 2);", "INSERT INTO t VALUES (2, 'bad' 3);")
    with pytest.raises(ValueError, match=r"dump\.sql, line 7\b"):
        parse_dump(path)


def test_wrong_number_of_values(tmp_path: Path) -> None:
    path = _dump(tmp_path, "INSERT INTO t VALUES (1, 'a');")
    with pytest.raises(ValueError, match=r"line 6\b.*2 values for the 3 columns"):
        parse_dump(path)


def test_unknown_column(tmp_path: Path) -> None:
    path = _dump(tmp_path, "INSERT INTO t VALUES (1, 'a', 2);", "INSERT INTO t (a, z) VALUES (1, 2);")
    with pytest.raises(ValueError, match=r"line 7\b.*no columns \['z'\]"):
        parse_dump(path)


def test_unknown_table(tmp_path: Path) -> None:
    path = _dump(tmp_path, "INSERT INTO nowhere VALUES (1);")
    with pytest.raises(ValueError, match=r"line 6\b.*nowhere"):
        parse_dump(path)


# --------------------------------------------------------------------------- the real dump


def test_row_counts(tables: dict[str, pd.DataFrame]) -> None:
    counts = {name: len(frame) for name, frame in tables.items()}
    assert counts["products"] == 77
    assert counts["suppliers"] == 29
    assert counts["customers"] == 91
    assert counts["orders"] == 830
    assert counts["order_details"] == 2155
    assert counts["categories"] == 8
    # The dump lists six shippers; the orders use the classic three (ship_via 1..3).
    assert counts["shippers"] == 6
    assert set(tables["orders"]["ship_via"].dropna()) == {1, 2, 3}


def test_columns_named_as_in_create_table(tables: dict[str, pd.DataFrame]) -> None:
    assert list(tables["order_details"].columns) == ["order_id", "product_id", "unit_price", "quantity", "discount"]
    assert tables["products"]["product_id"].tolist() == list(range(1, 78))


def test_escaped_quotes_and_backslashes(tables: dict[str, pd.DataFrame]) -> None:
    customers = tables["customers"].set_index("customer_id")
    assert customers.loc["BONAP", "company_name"] == "Bon app'"
    assert customers.loc["BSBEV", "company_name"] == "B's Beverages"
    assert customers.loc["LACOR", "address"] == "67, avenue de l'Europe"
    assert tables["products"].set_index("product_id").loc[4, "product_name"] == "Chef Anton's Cajun Seasoning"
    assert set(tables["categories"]["picture"]) == {"\\x"}


def test_parse_is_fast() -> None:
    if not DUMP.exists():
        pytest.skip("no dump")
    start = time.perf_counter()
    parse_dump(DUMP)
    assert time.perf_counter() - start < 1.0


# --------------------------------------------------------------------------- mapping


def test_entities_and_columns(frames: dict[str, pd.DataFrame]) -> None:
    assert set(frames) == {
        "suppliers",
        "locations",
        "customers",
        "products",
        "sales_order_lines",
        "shipments",
        "inventory_movements",
        "purchase_order_lines",
    }
    for name, frame in frames.items():
        assert tuple(frame.columns) == ENTITY_BY_NAME[name].columns, name
        cells = frame.to_numpy().ravel()
        assert all(v is None or isinstance(v, str) for v in cells), name
    assert tuple(frames["sales_order_lines"].columns) == ENTITY_BY_NAME["sales_order_lines"].columns


def test_sales_order_lines(frames: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]) -> None:
    lines = frames["sales_order_lines"]
    assert len(lines) == 2155
    assert lines["qty_ordered"].astype(int).sum() == 51317
    assert not lines.duplicated(["order_no", "line_no"]).any()
    numbers = lines.assign(n=lines["line_no"].astype(int)).groupby("order_no")["n"]
    assert (numbers.min() == 1).all() and (numbers.max() == numbers.count()).all()
    assert lines[lines["status"] == "open"]["order_no"].nunique() == 21
    assert set(lines["status"]) == {"open", "shipped"}
    open_lines = lines[lines["status"] == "open"]
    assert (open_lines["qty_shipped"] == "0").all()
    first = lines[lines["order_no"] == "10248"]
    assert first["product"].tolist() == ["11", "42", "72"]
    assert first["unit_price"].tolist() == ["14", "9.8", "34.8"]  # stored as 9.80000019
    assert first.iloc[0]["order_date"] == "1996-07-04" and first.iloc[0]["customer"] == "VINET"
    assert set(lines["location"]) == {"NW-MAIN"}
    assert lines["discount"].astype(float).between(0, 1).all()


def test_shipments(frames: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["orders"]
    shipped = set(orders.loc[orders["shipped_date"].notna(), "order_id"].astype(str))
    assert len(shipped) == 809
    lines = frames["sales_order_lines"]
    ships = frames["shipments"]
    assert len(ships) == lines["order_no"].isin(shipped).sum()
    assert ships["shipment_no"].is_unique
    assert set(ships["carrier"]) == {"Speedy Express", "United Package", "Federal Shipping"}
    assert ships.iloc[0][["shipment_no", "ship_date", "qty"]].tolist() == ["10248-1", "1996-07-16", "12"]
    keys = set(zip(lines["order_no"], lines["line_no"], strict=True))
    assert set(zip(ships["order_no"], ships["line_no"], strict=True)) <= keys


def test_stock_and_purchase_orders(frames: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]) -> None:
    moves = frames["inventory_movements"]
    assert moves["qty"].astype(int).sum() == 3119
    assert (moves["qty"].astype(int) > 0).all() and set(moves["kind"]) == {"count"}
    last = tables["orders"]["order_date"].max()
    assert set(moves["ts"]) == {f"{last} 23:59:59"}
    pos = frames["purchase_order_lines"]
    assert pos["qty_ordered"].astype(int).sum() == 780
    assert set(pos["order_date"]) == {last} and set(pos["status"]) == {"open"}
    assert pos["po_no"].is_unique


def test_dimensions(frames: dict[str, pd.DataFrame]) -> None:
    products = frames["products"].set_index("sku")
    assert products.loc["1", "category"] == "Beverages"
    assert products.loc["1", "supplier"] == "NW-S8"
    assert products["unit_cost"].isna().all()
    assert set(products["active"]) == {"true", "false"}
    assert set(products["supplier"]) <= set(frames["suppliers"]["code"])
    assert set(frames["sales_order_lines"]["customer"]) <= set(frames["customers"]["code"])
    assert frames["customers"].set_index("code").loc["ALFKI", "region"] == "Germany"
    assert frames["locations"].iloc[0].tolist() == ["NW-MAIN", "Northwind Traders warehouse", "warehouse", None]


def test_write_interchange(frames: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    write_interchange(frames, tmp_path)
    for name, frame in frames.items():
        entity = ENTITY_BY_NAME[name]
        back = pd.read_csv(tmp_path / entity.file_name, dtype=str, keep_default_na=False)
        assert tuple(back.columns) == entity.columns
        assert len(back) == len(frame)
    lines = pd.read_csv(tmp_path / "sales_order_lines.csv", dtype=str, keep_default_na=False)
    assert (lines["promised_date"] == "").all()
    customers = pd.read_csv(tmp_path / "customers.csv", dtype=str, keep_default_na=False)
    assert "Bon app'" in set(customers["name"])


def test_load_northwind_hands_the_files_to_the_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    if not DUMP.exists():
        pytest.skip("no dump")
    import types

    from etl.northwind import load_northwind

    seen: dict[str, object] = {}

    def load_directory(engine: object, directory: Path, **kwargs: object) -> str:
        seen.update(engine=engine, files=sorted(p.name for p in Path(directory).iterdir()), **kwargs)
        return "result"

    monkeypatch.setitem(sys.modules, "etl.loader", types.SimpleNamespace(load_directory=load_directory))
    assert load_northwind("engine", DUMP, dry_run=True) == "result"
    assert seen["engine"] == "engine" and seen["kind"] == "northwind" and seen["source"] == str(DUMP)
    assert seen["dry_run"] is True
    assert "sales_order_lines.csv" in seen["files"] and len(seen["files"]) == 8
