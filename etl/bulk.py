"""Bulk writes of DataFrames: PostgreSQL ``COPY``, batched ``executemany`` on SQLite."""

from __future__ import annotations

import io

import pandas as pd
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

SQL_TYPES = {"text": Text, "int": BigInteger, "float": Float, "date": Date, "datetime": DateTime, "bool": Boolean}
SQLITE_BATCH_ROWS = 50_000


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


def write_frame(connection: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Append ``frame`` (columns named as the table's) to ``table``; return rows written."""
    if frame.empty:
        return 0
    columns = list(frame.columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    out = _as_text_dates(frame, table)
    if connection.dialect.name == "postgresql":
        buffer = io.StringIO()
        out.to_csv(buffer, index=False, header=False, na_rep="")  # default float repr round-trips, and is vectorised
        buffer.seek(0)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)', buffer)
        finally:
            cursor.close()
        return len(frame)
    placeholders = ", ".join("?" for _ in columns)
    statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders})'
    for start in range(0, len(out), SQLITE_BATCH_ROWS):
        connection.exec_driver_sql(statement, _python_values(out.iloc[start : start + SQLITE_BATCH_ROWS]))
    return len(frame)


def read_frame(connection: Connection, sql: str, columns: list[str]) -> pd.DataFrame:
    """Rows of ``sql`` as a DataFrame (plain tuples: pandas probes Row objects slowly)."""
    rows = connection.exec_driver_sql(sql).fetchall()
    return pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
