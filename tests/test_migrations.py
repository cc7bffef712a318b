"""Migrations: from empty to head on both backends, matching the models, and back."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from data_access.migrate import current_revision, downgrade, head_revision, is_up_to_date, upgrade
from data_access.schema import metadata


def test_upgrade_from_empty_matches_the_models(engine) -> None:
    """The migrated schema is exactly the SQLAlchemy models (no pending autogenerate diff)."""
    assert is_up_to_date(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), metadata)
    assert diff == []
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_downgrade_to_empty_and_up_again(engine) -> None:
    """Downgrade removes every table; upgrading again restores the head revision."""
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)


def test_ledger_is_append_only(engine) -> None:
    """The database itself refuses UPDATE and DELETE on the inventory ledger."""
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO dim_product (sku, name, category, make_or_buy) VALUES ('A', 'a', 'c', 'buy')"))
        connection.execute(text("INSERT INTO dim_location (code, name, kind) VALUES ('L', 'l', 'warehouse')"))
        connection.execute(
            text(
                "INSERT INTO fact_inventory_movement (movement_no, ts, product_id, location_id, qty, kind) "
                "VALUES ('M1', '2024-01-01 10:00:00', 1, 1, 5, 'receipt')"
            )
        )
    for statement in ("UPDATE fact_inventory_movement SET qty = 6", "DELETE FROM fact_inventory_movement"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT qty FROM fact_inventory_movement")).scalar_one() == 5
