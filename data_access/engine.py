"""Engine creation for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from data_access.config import load_settings


def _tune_sqlite(dbapi_connection, _record) -> None:
    """Foreign keys on, WAL so readers never wait for the loader, and sane sync."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-200000")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """A new engine for ``url`` (default: the configured database)."""
    url = url or load_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    # JIT compilation costs PostgreSQL up to seconds per report query and saves less than that here.
    return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"})


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """A shared engine per URL for the process."""
    return make_engine(url)


def is_postgres(engine: Engine) -> bool:
    """True when ``engine`` talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


@contextlib.contextmanager
def transaction(connectable: Engine | Connection) -> Iterator[Connection]:
    """A transaction of its own for an Engine; the caller's transaction for a Connection (commands compose)."""
    if isinstance(connectable, Engine):
        with connectable.begin() as connection:
            yield connection
    else:
        yield connectable


@contextlib.contextmanager
def reading(connectable: Engine | Connection) -> Iterator[Connection]:
    """A connection to read with: a new one for an Engine, the caller's otherwise."""
    if isinstance(connectable, Engine):
        with connectable.connect() as connection:
            yield connection
    else:
        yield connectable


def utc_now() -> dt.datetime:
    """Now in UTC as a naive datetime: the schema's convention for timestamps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
