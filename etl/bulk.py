"""Bulk writes of DataFrames: PostgreSQL ``COPY``, batched ``executemany`` on SQLite."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    MetaData,
    Table,
    Text,
)

from data_access.indexes import deferred_indexes  # noqa: F401  (the loader defers indexes through this module)

#: A load at least this large, and at least a quarter of the table, builds indexes afterwards.
BULK_MODE_MIN_ROWS = 100_000

SQL_TYPES = {"text": Text, "int": BigInteger, "float": Float, "date": Date, "datetime": DateTime, "bool": Boolean}
SQLITE_BATCH_ROWS = 50_000


def wants_bulk_mode(incoming_rows: int, table_rows: int) -> bool:
    """Whether a load of ``incoming_rows`` into a table of ``table_rows`` should defer its indexes."""
    return incoming_rows >= BULK_MODE_MIN_ROWS and incoming_rows * 4 >= table_rows


def create_temp_table(connection: Connection, name: str, columns: dict[str, str]) -> Table:
    """A session-local staging table with ``columns`` (name → interchange type)."""
    table = Table(
        name,
        MetaData(),
        *(Column(column, SQL_TYPES[kind]()) for column, kind in columns.items()),
        prefixes=["TEMPORARY"],
    )
    table.drop(connection, checkfirst=True)
    table.create(connection)
    return table


def _python_values(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain Python values (None for missing)."""
    columns = [frame[name].astype(object).where(frame[name].notna(), None).to_numpy(dtype=object) for name in frame.columns]
    return list(zip(*columns, strict=True)) if columns else []


def _as_text_dates(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Dates as YYYY-MM-DD and timestamps as YYYY-MM-DD HH:MM:SS, as both backends store them."""
    datetimes = {c.name for c in table.columns if isinstance(c.type, DateTime)}
    out = frame.copy()
    for name in out.columns:
        series = out[name]
        if series.dtype.kind == "M":
            fmt = "%Y-%m-%d %H:%M:%S" if name in datetimes else "%Y-%m-%d"
            out[name] = series.dt.strftime(fmt).astype(object).where(series.notna(), None)
    return out


def _arrow_csv(frame: pd.DataFrame, table: Table) -> pa.BufferReader:
    """``frame`` as CSV for ``COPY``, written by Arrow's C++ writer (5× pandas' ``to_csv``).

    Missing values become unquoted empty fields (NULL to ``COPY``), strings are quoted, floats
    use the shortest text that round-trips, dates are written as dates.
    """
    dates = {c.name for c in table.columns if isinstance(c.type, Date) and not isinstance(c.type, DateTime)}
    arrays = {}
    for name in frame.columns:
        series = frame[name]
        array = pa.Array.from_pandas(series)
        if name in dates and series.dtype.kind == "M":
            array = array.cast(pa.date32())
        arrays[name] = array
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(arrays), sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return pa.BufferReader(sink.getvalue())


def write_frame(connection: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Append ``frame`` (columns named as the table's) to ``table``; return rows written."""
    if frame.empty:
        return 0
    columns = list(frame.columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)', _arrow_csv(frame, table))
        finally:
            cursor.close()
        return len(frame)
    out = _as_text_dates(frame, table)
    placeholders = ", ".join("?" for _ in columns)
    statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders})'
    for start in range(0, len(out), SQLITE_BATCH_ROWS):
        connection.exec_driver_sql(statement, _python_values(out.iloc[start : start + SQLITE_BATCH_ROWS]))
    return len(frame)
