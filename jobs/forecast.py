"""The forecast run: weekly demand per product-location from the database → ``analytics.forecasting`` → stored.

The replenishment run reads the newest stored forecast of each item (``data_access.replenishment.latest_forecast``).
The weekly bucketing (``weekly_history``, weeks ending on Sunday: ``FREQ``) lives in ``data_access.forecasts``, where
the Demand view reads the same history as actuals; it is imported here under its old name.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from analytics.forecasting import forecast
from data_access.forecasts import FREQ, store_forecast_run, weekly_history
from data_access.queries import last_data_date
from data_access.replenishment import daily_demand

Progress = Callable[[float, str], None]


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
