"""The app as a person sees it: AppTest renders the landing page on a loaded database."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl.loader import load_directory

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory, small_demo_dir) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'app.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, small_demo_dir, kind="demo")
    engine.dispose()
    return url


def test_overview_shows_the_headline_figures(monkeypatch, demo_database: str) -> None:
    """The overview renders without exception, with every headline metric filled in."""
    monkeypatch.setenv("DATABASE_URL", demo_database)
    app = AppTest.from_file(APP, default_timeout=120).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    for label in ("Revenue (net of discounts)", "Orders", "On-time delivery", "Fill rate (units)",
                  "Backorder rate (lines)", "Gross margin", "On hand (units)", "Inventory turnover (per year)"):
        assert metrics.get(label) not in (None, "", "n/a"), label
    assert any("Data up to" in c.value for c in app.caption)
    assert len(app.get("download_button")) == 2


def test_empty_database_says_what_to_do(monkeypatch, tmp_path: Path) -> None:
    """On an empty PostgreSQL-like (non-embedded) database the page explains how to load data."""
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DEMO_SCALE", "small")
    app = AppTest.from_file(APP, default_timeout=180).run()
    assert not app.exception
    # The embedded default fills an empty database with the demo company on first run.
    assert {m.label for m in app.metric} >= {"Orders", "Revenue (net of discounts)"}
