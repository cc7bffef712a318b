"""Alembic environment: runs migrations on the engine handed over in the config."""

from alembic import context

from data_access.engine import make_engine
from data_access.schema import metadata

config = context.config
engine = config.attributes.get("engine") or make_engine()

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
