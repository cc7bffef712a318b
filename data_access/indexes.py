"""Index and foreign-key handling for writes of many rows at once (loads, rebuilds of derived tables)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Table, UniqueConstraint
from sqlalchemy.schema import AddConstraint, DropConstraint


@contextmanager
def deferred_indexes(
    connection: Connection, table: Table, enabled: bool = True, unique: bool = False
) -> Iterator[None]:
    """Drop ``table``'s secondary indexes (and, on PostgreSQL, its foreign keys) for a large load, then rebuild them.

    One sort per index and one anti-join per foreign key are several times cheaper than a
    B-tree insert and a trigger call per row (medium demo: sales lines 29 s → 7 s). Unique
    constraints stay, since upserts resolve conflicts on them. Everything happens in the
    caller's transaction, so a failed load restores the indexes with the rest; while it
    runs, PostgreSQL readers of the table wait (a large load is rare, a small one never
    takes this path).

    ``unique=True`` (PostgreSQL only) defers the unique constraints too, for a plain ``INSERT``
    into an empty table of rows already known to have unique keys: one sorted index build
    instead of a B-tree probe per row. Re-adding them fails loudly if that was not so.
    """
    if not enabled:
        yield
        return
    postgres = connection.dialect.name == "postgresql"
    indexes = sorted((i for i in table.indexes if not i.unique), key=lambda i: i.name)
    foreign_keys = sorted({fk.constraint for fk in table.foreign_keys}, key=lambda c: c.name) if postgres else []
    uniques = (
        sorted((c for c in table.constraints if isinstance(c, UniqueConstraint)), key=lambda c: c.name)
        if unique and postgres else []
    )
    if postgres:
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    for constraint in foreign_keys:
        connection.execute(DropConstraint(constraint))
    for constraint in uniques:
        connection.execute(DropConstraint(constraint))
    for index in indexes:
        index.drop(connection)
    yield
    for constraint in uniques:
        connection.execute(AddConstraint(constraint))
    for index in indexes:
        index.create(connection)
    for constraint in foreign_keys:
        connection.execute(AddConstraint(constraint))
