"""First run: create and migrate the database, and fill an empty one with the demo company."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select

from data_access import schema
from data_access.config import Settings
from data_access.migrate import upgrade

if TYPE_CHECKING:  # the loader imports great-expectations (≈2.5 s): only a first run needs it, not every app start
    from etl.loader import LoadResult, Progress


def load_demo(
    engine: Engine, scale: str, seed: int, end_date: dt.date, progress: Progress | None = None, out: Path | None = None
) -> LoadResult:
    """Generate the demo company and load it through the ordinary CSV path (``out`` keeps the files)."""
    from etl import demo
    from etl.loader import load_directory

    if progress:
        progress(0.0, f"simulating the {scale} demo company")
    frames = demo.generate(scale, seed, end_date)
    with tempfile.TemporaryDirectory(prefix="demo-") as tmp:
        folder = out or Path(tmp)
        if progress:
            progress(0.0, "writing interchange files")
        demo.write(frames, folder)
        del frames
        return load_directory(engine, folder, source=f"demo:{scale}:{seed}", kind="demo", progress=progress)


def is_empty(engine: Engine) -> bool:
    """True when the reporting schema holds no products."""
    with engine.connect() as connection:
        products = connection.execute(select(func.count()).select_from(schema.dim_product)).scalar_one()
    return products == 0


def needs_demo(engine: Engine, settings: Settings) -> bool:
    """True for an empty embedded database (call after migrating)."""
    return settings.is_embedded and is_empty(engine)


def load_first_run_demo(engine: Engine, settings: Settings, progress: Progress | None = None) -> LoadResult:
    """The configured demo company, ending yesterday so a new user sees a living business."""
    yesterday = dt.date.today() - dt.timedelta(days=1)
    return load_demo(engine, settings.demo_scale, settings.demo_seed, yesterday, progress)


def ensure_ready(engine: Engine, settings: Settings, progress: Progress | None = None) -> bool:
    """Migrate; fill an empty embedded database with the demo company. True when it loaded."""
    upgrade(engine)
    if not needs_demo(engine, settings):
        return False
    load_first_run_demo(engine, settings, progress)
    return True
