"""The forecast run: weekly history from the database, forecasts stored as a run, read back by replenishment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from data_access import schema
from data_access.replenishment import latest_forecast
from etl.loader import load_directory
from jobs.forecast import run_forecast, weekly_history


def test_weekly_history_fills_missing_weeks_with_zero() -> None:
    """Orders on Mon 2024-01-01 (3) and Wed 2024-01-17 (2), end Sun 2024-01-21: weeks ending 01-07, 01-14,
    01-21 → 3, 0, 2; a day after the last complete week is left out."""
    daily = pd.DataFrame({
        "product_id": [1, 1, 1], "location_id": [2, 2, 2],
        "ds": pd.to_datetime(["2024-01-01", "2024-01-17", "2024-01-22"]), "y": [3.0, 2.0, 9.0],
    })
    weekly = weekly_history(daily, dt.date(2024, 1, 23))
    assert weekly["unique_id"].unique().tolist() == ["1@2"]
    assert weekly["ds"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-07", "2024-01-14", "2024-01-21"]
    assert weekly["y"].tolist() == [3.0, 0.0, 2.0]


def test_forecast_run_is_stored_and_read_back(engine, small_demo_dir: Path) -> None:
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    run = run_forecast(engine, horizon=8, user="planner")
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(schema.fact_forecast)).scalar_one()
        runs = connection.execute(select(schema.forecast_run.c.horizon, schema.forecast_run.c.created_by)).all()
    assert stored == run.rows == run.series * 8 and run.series > 0
    assert [tuple(r) for r in runs] == [(8, "planner")]
    frame = latest_forecast(engine, dt.date(2026, 1, 1), dt.date(2027, 12, 31))
    assert len(frame) == stored
    assert (frame["yhat"] >= 0).all()
    assert (frame["lo_80"] <= frame["yhat"] + 1e-9).all() and (frame["yhat"] <= frame["hi_80"] + 1e-9).all()
    assert (frame["lo_95"] <= frame["lo_80"] + 1e-9).all() and (frame["hi_80"] <= frame["hi_95"] + 1e-9).all()
    assert frame["period"].min() > pd.Timestamp(2026, 10, 25)  # the weeks after the last complete one


def test_backdated_run_does_not_replace_the_current_one(engine, small_demo_dir: Path) -> None:
    """A run stored later but as of an earlier date (to measure accuracy) is not what replenishment reads."""
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    current = run_forecast(engine, horizon=6, user="planner")
    end = pd.Timestamp(latest_forecast(engine, dt.date(1900, 1, 1), dt.date(2100, 1, 1))["period"].max()).date()
    backdated = run_forecast(engine, horizon=6, as_of=end - dt.timedelta(weeks=13), user="planner")
    assert backdated.run_id > current.run_id
    frame = latest_forecast(engine, dt.date(1900, 1, 1), dt.date(2100, 1, 1))
    assert set(frame["run_id"]) == {current.run_id}
