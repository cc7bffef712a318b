"""First run: create and migrate the database, and fill an empty one with the demo company."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from data_access import schema
from data_access.config import Settings
from data_access.migrate import upgrade


def is_empty(engine: Engine) -> bool:
    """True when the reporting schema holds no order lines and no products."""
    with engine.connect() as connection:
        products = connection.execute(select(func.count()).select_from(schema.dim_product)).scalar_one()
    return products == 0


def ensure_ready(engine: Engine, settings: Settings, progress=None) -> bool:
    """Migrate; on the embedded default, load the demo company if the database is empty.

    The demo ends yesterday, so a new user sees a living business. Returns True when it loaded.
    """
    upgrade(engine)
    if not settings.is_embedded or not is_empty(engine):
        return False
    from etl.__main__ import load_demo

    yesterday = dt.date.today() - dt.timedelta(days=1)
    load_demo(engine, settings.demo_scale, settings.demo_seed, yesterday, progress)
    return True
