"""Connector for the Northwind ERP dump (a PostgreSQL ``pg_dump`` in plain SQL).

The dump is read as text, without a database: :func:`parse_dump` takes the column lists
from the ``CREATE TABLE`` statements and the rows from the ``INSERT INTO t VALUES (...);``
statements, :func:`to_interchange` maps the source tables onto the CSV interchange
entities of :mod:`etl.interchange`, :func:`write_interchange` writes them as files and
:func:`load_northwind` loads those files through the ordinary loader.

What is mapped where:

- ``suppliers`` -> ``suppliers`` (code ``NW-S<supplier_id>``); ``customers`` -> ``customers``
  (code = the five-letter customer id, region = country); ``products`` + ``categories`` ->
  ``products`` (sku = product id, category = category name, bought from its supplier,
  reorder point = reorder level, discontinued products inactive).
- ``orders`` + ``order_details`` -> ``sales_order_lines`` (lines numbered 1..n by product id
  within an order); a shipped order (one with a ``shipped_date``) is shipped in full, one
  ``shipments`` row per line, carried by the shipper of ``ship_via``; the others are open.
- ``products.units_in_stock`` -> one ``inventory_movements`` row of kind ``count`` per product.
- ``products.units_on_order`` -> one open ``purchase_order_lines`` row per product.

What Northwind lacks: it has no costs (``unit_cost`` stays empty, so valuation and margins
need costs from elsewhere), no locations (everything is held and shipped by one synthetic
warehouse, ``NW-MAIN``), no supplier or product lead times, no purchase-order history (only
the quantity on order now, so its order date is taken as the last order date) and no
stock movements. Its stock is a single level, ``units_in_stock``, as the data stands at its
end; it is therefore loaded as a stock count at the end of the last order day (the latest
date in the data): a count states the level at that moment rather than adding to an
unknown opening balance, and placing it after every order keeps the earlier shipments
from being subtracted from it again.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl.interchange import ENTITY_BY_NAME

LOCATION = "NW-MAIN"
LOCATION_NAME = "Northwind Traders warehouse"

# --------------------------------------------------------------------------- parsing

_CREATE = re.compile(r'CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w."]+)\s*\(', re.IGNORECASE)
_INSERT = re.compile(r'INSERT\s+INTO\s+(?:ONLY\s+)?([\w."]+)\s*(?:\(([^()]*)\)\s*)?VALUES\s*', re.IGNORECASE)
_COLUMN = re.compile(r'("(?:[^"]|"")+"|\w+)\s*(.*)$', re.DOTALL)
_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE", "LIKE"}
#: One token of a VALUES list: a string literal, a number, NULL, TRUE/FALSE or punctuation.
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.])
      | (?P<word>NULL|TRUE|FALSE)\b
      | (?P<punct>[(),;])
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_WORDS = {"NULL": None, "TRUE": True, "FALSE": False}
_INT_TYPES = {"smallint", "integer", "int", "int2", "int4", "int8", "bigint", "serial", "smallserial", "bigserial"}
_FLOAT_TYPES = {"real", "double", "float", "float4", "float8", "numeric", "decimal"}


def _ident(name: str) -> str:
    """An identifier without its schema and quotes (``public."Orders"`` -> ``Orders``)."""
    name = name.rsplit(".", 1)[-1]
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def parse_values(text: str, pos: int = 0) -> list[tuple[Any, ...]]:
    """Parse ``(v, ...)[, (v, ...)]... ;`` from ``text[pos:]`` into tuples of Python values.

    Strings are single-quoted with ``''`` for a quote (``standard_conforming_strings=on``:
    a backslash is an ordinary character); numbers become ``int`` or ``float``, ``NULL``
    ``None`` and ``TRUE``/``FALSE`` ``bool``. Raises ``ValueError`` (with the offset) on
    anything else, including trailing text after the ``;``.
    """
    rows: list[tuple[Any, ...]] = []
    match = _TOKEN.match
    n = len(text)

    def fail(at: int, expected: str) -> ValueError:
        snippet = text[at:at + 30].strip() or "end of statement"
        return ValueError(f"expected {expected} at offset {at}, found {snippet!r}")

    while True:
        m = match(text, pos)
        if m is None or m.group("punct") != "(":
            raise fail(pos, "'('")
        pos = m.end()
        row: list[Any] = []
        while True:
            m = match(text, pos)
            if m is None or m.group("punct") is not None:
                raise fail(pos, "a value")
            kind = m.lastgroup
            raw = m.group(kind)
            if kind == "str":
                row.append(raw[1:-1].replace("''", "'"))
            elif kind == "num":
                row.append(float(raw) if any(c in raw for c in ".eE") else int(raw))
            else:
                row.append(_WORDS[raw.upper()])
            pos = m.end()
            m = match(text, pos)
            sep = m.group("punct") if m else None
            if sep not in (",", ")"):
                raise fail(pos, "',' or ')'")
            pos = m.end()
            if sep == ")":
                break
        rows.append(tuple(row))
        m = match(text, pos)
        sep = m.group("punct") if m else None
        if sep not in (",", ";"):
            raise fail(pos, "',' or ';'")
        pos = m.end()
        if sep == ";":
            if text[pos:n].strip():
                raise fail(pos, "end of statement")
            return rows


def _statement(lines: list[str], start: int) -> tuple[str, int]:
    """The statement beginning at ``lines[start]`` and the index of its last line.

    A statement ends on a line ending in ``;`` outside a string literal: with ``''`` as the
    only escape, the text is inside a string exactly when it has seen an odd number of quotes.
    """
    quotes = 0
    for end in range(start, len(lines)):
        line = lines[end]
        quotes += line.count("'")
        if quotes % 2 == 0 and line.rstrip().endswith(";"):
            return "\n".join(lines[start:end + 1]), end
    raise ValueError("statement is not terminated by ';'")


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses and string literals."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for at, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:at])
            start = at + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _create_columns(statement: str) -> list[tuple[str, str]]:
    """(column, declared type) pairs of a ``CREATE TABLE`` statement, table constraints left out."""
    body = statement[statement.index("(") + 1:statement.rindex(")")]
    body = "\n".join(line.split("--", 1)[0] for line in body.splitlines())  # drop comments
    columns: list[tuple[str, str]] = []
    for part in _split_top_level(body):
        m = _COLUMN.match(part)
        if m is None:
            raise ValueError(f"cannot read the column definition {part!r}")
        if m.group(1).upper() not in _CONSTRAINT_WORDS:
            columns.append((_ident(m.group(1)), m.group(2).lower()))
    if not columns:
        raise ValueError("CREATE TABLE without columns")
    return columns


def _dtype(sql_type: str) -> str | None:
    """The nullable pandas dtype for a declared SQL type (None: keep the Python values)."""
    word = sql_type.split("(", 1)[0].split()[0] if sql_type.strip() else ""
    if word in _INT_TYPES:
        return "Int64"
    if word in _FLOAT_TYPES:
        return "Float64"
    return None


def _typed(values: list[Any], sql_type: str) -> pd.Series:
    """One column with a dtype from its declared SQL type (nullable ``Int64``/``Float64``;
    anything else, dates included, stays ``object`` with ``None`` for NULL)."""
    dtype = _dtype(sql_type)
    if dtype is not None:
        try:
            return pd.Series(pd.array(values, dtype=dtype))
        except (TypeError, ValueError):
            pass  # a value that does not fit the declared type: keep the values as they are
    return pd.Series(values, dtype=object)


def parse_dump(path: Path) -> dict[str, pd.DataFrame]:
    """Parse a plain-SQL PostgreSQL dump into one DataFrame per table (empty tables included).

    Columns are named and typed as in ``CREATE TABLE``: integer columns become nullable
    ``Int64``, real and numeric ones ``Float64``, all others (text, dates as
    ``YYYY-MM-DD`` strings, bytea) ``object`` with ``None`` for ``NULL``. An ``INSERT`` may
    name its columns, in any order (the others are NULL); a string may span lines. Other
    statements are skipped. Raises ``ValueError`` naming the file and line of a statement
    that cannot be parsed.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    schemas: dict[str, list[tuple[str, str]]] = {}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    table_columns: dict[str, list[str]] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        head = line.lstrip()[:12].upper()
        try:
            if head.startswith("CREATE") and (m := _CREATE.match(line.lstrip())):
                text, end = _statement(lines, i)
                table = _ident(m.group(1))
                schemas[table] = _create_columns(text)
                rows.setdefault(table, [])
                i = end
            elif head.startswith("INSERT"):
                text, end = _statement(lines, i)
                m = _INSERT.match(text.lstrip())
                if m is None:
                    raise ValueError("cannot read the INSERT INTO ... VALUES header")
                table = _ident(m.group(1))
                names = [_ident(c.strip()) for c in m.group(2).split(",")] if m.group(2) else None
                columns = table_columns.setdefault(table, [c for c, _ in schemas.get(table, [])] or names or [])
                if not columns:
                    raise ValueError(f"no CREATE TABLE (and no column list) for table {table!r}")
                new = parse_values(text, m.end() + len(text) - len(text.lstrip()))
                given = names or columns
                bad = next((r for r in new if len(r) != len(given)), None)
                if bad is not None:
                    raise ValueError(f"{len(bad)} values for the {len(given)} columns of {table!r}")
                if given != columns:  # a column list in another order or with fewer columns
                    unknown = sorted(set(given) - set(columns))
                    if unknown:
                        raise ValueError(f"table {table!r} has no columns {unknown}")
                    at = [given.index(c) if c in given else None for c in columns]
                    new = [tuple(None if j is None else r[j] for j in at) for r in new]
                rows.setdefault(table, []).extend(new)
                i = end
        except ValueError as exc:
            raise ValueError(f"{path}, line {i + 1}: {exc}") from None
        i += 1

    frames: dict[str, pd.DataFrame] = {}
    for table, records in rows.items():
        columns = table_columns.get(table) or [c for c, _ in schemas.get(table, [])]
        types = dict(schemas.get(table, []))
        data = list(zip(*records, strict=True)) if records else [[] for _ in columns]
        typed = {c: _typed(list(values), types.get(c, "")) for c, values in zip(columns, data, strict=True)}
        frames[table] = pd.DataFrame(typed, columns=columns)
    return frames


# --------------------------------------------------------------------------- mapping


def _text(value: Any) -> str | None:
    """A cell as interchange text: numbers plain (no exponent, no trailing ``.0``), missing as None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return np.format_float_positional(float(value), trim="-")
    return str(value)


def _frame(entity: str, data: dict[str, Any], index: pd.Index | None = None) -> pd.DataFrame:
    """A frame with exactly the entity's columns, in order, as text (None where missing)."""
    columns = ENTITY_BY_NAME[entity].columns
    unknown = set(data) - set(columns)
    if unknown:
        raise KeyError(f"{entity} has no columns {sorted(unknown)}")
    out = pd.DataFrame(index=index if index is not None else pd.RangeIndex(1))
    for column in columns:
        value = data.get(column)
        if isinstance(value, pd.Series):
            cells = [_text(v) for v in value.reindex(out.index).tolist()]
        else:
            cells = [_text(value)] * len(out)
        out[column] = pd.Series(cells, index=out.index, dtype=object)
    return out.reset_index(drop=True)


def _rounded(values: pd.Series, digits: int = 4) -> pd.Series:
    """Reals stored as float32 noise (``9.80000019``) rounded back to what was meant."""
    return pd.Series([None if pd.isna(v) else round(float(v), digits) for v in values], index=values.index)


def _supplier_code(values: pd.Series) -> pd.Series:
    return pd.Series([None if pd.isna(v) else f"NW-S{int(v)}" for v in values], index=values.index, dtype=object)


def to_interchange(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Map the Northwind tables of :func:`parse_dump` onto interchange entities (see the module doc).

    Every frame has exactly the entity's columns, in order, every cell a string or None.
    """
    suppliers, customers = tables["suppliers"], tables["customers"]
    products = tables["products"].sort_values("product_id", kind="stable")
    categories = tables["categories"].set_index("category_id")["category_name"]
    shippers = tables["shippers"].set_index("shipper_id")["company_name"]
    orders = tables["orders"].set_index("order_id")
    last_day = orders["order_date"].dropna().max()

    out: dict[str, pd.DataFrame] = {}
    out["suppliers"] = _frame(
        "suppliers",
        {"code": _supplier_code(suppliers["supplier_id"]), "name": suppliers["company_name"]},
        suppliers.index,
    )
    out["locations"] = _frame("locations", {"code": LOCATION, "name": LOCATION_NAME, "kind": "warehouse"})
    out["customers"] = _frame(
        "customers",
        {"code": customers["customer_id"], "name": customers["company_name"], "region": customers["country"]},
        customers.index,
    )
    discontinued = products["discontinued"].fillna(0).astype(int) != 0
    out["products"] = _frame(
        "products",
        {
            "sku": products["product_id"],
            "name": products["product_name"],
            "category": products["category_id"].map(categories),
            "unit_price": _rounded(products["unit_price"]),
            "make_or_buy": "buy",
            "supplier": _supplier_code(products["supplier_id"]),
            "reorder_point": products["reorder_level"],
            "active": discontinued.map({True: "false", False: "true"}),
        },
        products.index,
    )

    lines = tables["order_details"].sort_values(["order_id", "product_id"], kind="stable").reset_index(drop=True)
    lines["line_no"] = lines.groupby("order_id").cumcount() + 1
    head = orders.reindex(lines["order_id"].to_numpy())
    head.index = lines.index
    shipped = head["shipped_date"].notna()
    out["sales_order_lines"] = _frame(
        "sales_order_lines",
        {
            "order_no": lines["order_id"],
            "line_no": lines["line_no"],
            "customer": head["customer_id"],
            "product": lines["product_id"],
            "location": LOCATION,
            "order_date": head["order_date"],
            "requested_date": head["required_date"],
            "qty_ordered": lines["quantity"],
            "qty_shipped": lines["quantity"].where(shipped, 0),
            "qty_cancelled": 0,
            "unit_price": _rounded(lines["unit_price"]),
            "discount": _rounded(lines["discount"]),
            "status": shipped.map({True: "shipped", False: "open"}),
            "priority": 0,
        },
        lines.index,
    )

    sent, sent_head = lines[shipped], head[shipped]
    out["shipments"] = _frame(
        "shipments",
        {
            "shipment_no": sent["order_id"].astype(str) + "-" + sent["line_no"].astype(str),
            "order_no": sent["order_id"],
            "line_no": sent["line_no"],
            "carrier": sent_head["ship_via"].map(shippers),
            "ship_date": sent_head["shipped_date"],
            "qty": sent["quantity"],
            "status": "shipped",
        },
        sent.index,
    )

    stock = products[products["units_in_stock"].fillna(0) > 0]
    out["inventory_movements"] = _frame(
        "inventory_movements",
        {
            "movement_no": "NW-STOCK-" + stock["product_id"].astype(str),
            "ts": f"{last_day} 23:59:59",
            "product": stock["product_id"],
            "location": LOCATION,
            "qty": stock["units_in_stock"],
            "kind": "count",
            "reference": "northwind units_in_stock",
            "source": "etl",
        },
        stock.index,
    )

    on_order = products[products["units_on_order"].fillna(0) > 0]
    out["purchase_order_lines"] = _frame(
        "purchase_order_lines",
        {
            "po_no": "NW-PO-" + on_order["product_id"].astype(str),
            "line_no": 1,
            "supplier": _supplier_code(on_order["supplier_id"]),
            "product": on_order["product_id"],
            "location": LOCATION,
            "order_date": last_day,
            "qty_ordered": on_order["units_on_order"],
            "qty_received": 0,
            "status": "open",
            "origin": "manual",
        },
        on_order.index,
    )
    return out


# --------------------------------------------------------------------------- writing and loading


def write_interchange(frames: dict[str, pd.DataFrame], directory: Path) -> None:
    """Write each entity's frame to ``directory / entity.file_name`` (UTF-8, header, empty cells for missing)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        entity = ENTITY_BY_NAME[name]
        frame.loc[:, list(entity.columns)].to_csv(
            directory / entity.file_name, index=False, encoding="utf-8", na_rep="", lineterminator="\n"
        )


def load_northwind(engine: Any, path: Path, **load_options: Any) -> Any:
    """Parse the dump at ``path``, map it, and load it through :func:`etl.loader.load_directory`."""
    from etl.loader import load_directory  # imported here: the loader imports much more than parsing needs

    frames = to_interchange(parse_dump(path))
    with tempfile.TemporaryDirectory(prefix="northwind-") as tmpdir:
        write_interchange(frames, Path(tmpdir))
        return load_directory(engine, Path(tmpdir), source=str(path), kind="northwind", **load_options)
