"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL.

Each test gets a freshly migrated database of its own, created and dropped by the fixture.
PostgreSQL is at ``TEST_POSTGRES_URL`` (default: postgres@127.0.0.1:5432, trust auth);
without it the PostgreSQL half is skipped locally and fails on CI (CI=true).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from data_access.engine import make_engine
from data_access.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
NORTHWIND_SQL = SHARED_DATA / "northwind" / "northwind.sql"
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
DEMO_END = dt.date(2026, 10, 31)


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


POSTGRES_UP = _postgres_available()


def new_database(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on ``backend``; dropped afterwards."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'test.sqlite'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    if not POSTGRES_UP:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip("PostgreSQL is not reachable")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[Engine]:
    """A fresh, migrated database: once on SQLite, once on PostgreSQL."""
    yield from new_database(request.param, tmp_path)


@pytest.fixture(scope="session")
def small_demo_frames():
    """The small demo company as interchange frames (generated once per session)."""
    from etl import demo

    return demo.generate("small", seed=7, end_date=DEMO_END)


@pytest.fixture(scope="session")
def small_demo_dir(tmp_path_factory, small_demo_frames) -> Path:
    """The small demo company written as interchange CSV files."""
    from etl import demo

    folder = tmp_path_factory.mktemp("demo_small")
    demo.write(small_demo_frames, folder)
    return folder


@pytest.fixture(scope="session")
def supplier_update_dir(tmp_path_factory) -> Path:
    """A load of 40 new suppliers and 2 bad rows (a negative lead time, a missing name): the admin's rejected rows."""
    folder = tmp_path_factory.mktemp("supplier_update")
    rows = ["code,name,lead_time_mean_days,lead_time_std_days,email"]
    rows += [f"SUPX-{i:03d},Extra supplier {i},{10 + i % 5},2,x{i}@example.com" for i in range(40)]
    rows += ["SUPX-BAD,Bad supplier,-3,2,bad@example.com", "SUPX-BAD2,,5,1,"]
    (folder / "suppliers.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def fresh_streamlit_caches():
    """AppTests share the process: cached query results of another test's database must not leak in."""
    import streamlit as st

    st.cache_data.clear()
    yield
