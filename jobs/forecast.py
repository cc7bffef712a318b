"""The forecast run: weekly demand per product-location from the database → ``analytics.forecasting`` → stored.

The replenishment run reads the newest stored forecast of each item (``data_access.replenishment.latest_forecast``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from analytics.forecasting import forecast
from data_access.forecasts import store_forecast_run
from data_access.queries import last_data_date
from data_access.replenishment import daily_demand

Progress = Callable[[float, str], None]
FREQ = "W-SUN"  # weeks ending on Sunday; a period is stored as its last day


@dataclass
class ForecastRun:
    """Outcome of :func:`run_forecast`."""

    run_id: int
    series: int
    rows: int
    models: dict[str, int]
    seconds: float

    def summary(self) -> str:
        top = ", ".join(f"{name} {count}" for name, count in sorted(self.models.items(), key=lambda x: -x[1])[:6])
        return (f"forecast run {self.run_id}: {self.series:,} series, {self.rows:,} periods stored in "
                f"{self.seconds:.1f} s; models: {top}")


def weekly_history(daily: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    """Daily demand (product_id, location_id, ds, y) as complete weekly series (unique_id, ds, y), zero-filled
    from each series' first week to the last complete week ending on or before ``end``."""
    last_week = pd.Timestamp(end) - pd.Timedelta(days=(pd.Timestamp(end).dayofweek + 1) % 7)
    daily = daily[daily["ds"] <= last_week]
    weekly = (
        daily.assign(unique_id=daily["product_id"].astype(str) + "@" + daily["location_id"].astype(str))
        .groupby(["unique_id", pd.Grouper(key="ds", freq=FREQ)])["y"].sum().reset_index()
    )
    first = weekly.groupby("unique_id")["ds"].min()
    grid = pd.concat(
        [pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, last_week, freq=FREQ)})
         for uid, start in first.items()],
        ignore_index=True,
    ) if len(first) else pd.DataFrame(columns=["unique_id", "ds"])
    return grid.merge(weekly, on=["unique_id", "ds"], how="left").fillna({"y": 0.0})


def run_forecast(
    engine: Engine, horizon: int = 13, as_of: dt.date | None = None, progress: Progress | None = None,
    user: str | None = None,
) -> ForecastRun:
    """Forecast every product-location's weekly demand ``horizon`` weeks ahead and store the run."""
    started = time.perf_counter()
    as_of = as_of or last_data_date(engine)
    if as_of is None:
        raise ValueError("the database holds no orders yet: nothing to forecast")
    if progress:
        progress(0.05, "reading demand history")
    history = weekly_history(daily_demand(engine, dt.date(1900, 1, 1), as_of), as_of)
    if progress:
        progress(0.3, f"forecasting {history['unique_id'].nunique():,} series")
    result = forecast(history, horizon, FREQ, level=(80, 95))
    keys = result["unique_id"].str.split("@", expand=True).astype(int)
    stored = result.assign(product_id=keys[0], location_id=keys[1], period=result["ds"])
    if progress:
        progress(0.85, "storing the run")
    models = stored.drop_duplicates("unique_id")["model"].value_counts().to_dict()
    run_id = store_forecast_run(
        engine, stored, freq=FREQ, horizon=horizon, user=user,
        params={"as_of": as_of.isoformat(), "level": [80, 95], "history_weeks": int(history["ds"].nunique())},
        summary={"series": int(history["unique_id"].nunique()), "models": {k: int(v) for k, v in models.items()}},
    )
    if progress:
        progress(1.0, "done")
    return ForecastRun(run_id, int(stored["unique_id"].nunique()), len(stored), models, time.perf_counter() - started)
