"""Stored forecast runs: a run's parameters and summary in ``forecast_run``, its periods in ``fact_forecast``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert

from data_access import schema

LEVEL_COLUMNS = ("lo_80", "hi_80", "lo_95", "hi_95")


def store_forecast_run(
    engine: Engine, forecasts: pd.DataFrame, *, freq: str, horizon: int, params: dict[str, Any],
    summary: dict[str, Any], user: str | None = None,
) -> int:
    """Store one run in one transaction and return its id.

    ``forecasts``: product_id, location_id, period (date), yhat, model and any of lo_80/hi_80/lo_95/hi_95.
    """
    rows = forecasts.assign(period=pd.to_datetime(forecasts["period"]).dt.date)
    columns = ["product_id", "location_id", "period", "yhat", "model", *(c for c in LEVEL_COLUMNS if c in rows)]
    records = [
        {k: (None if pd.isna(v) else v) for k, v in zip(columns, values, strict=True)}
        for values in rows[columns].astype(object).itertuples(index=False, name=None)
    ]
    with engine.begin() as connection:
        run_id = connection.execute(
            insert(schema.forecast_run)
            .values(created_by=user, freq=freq, horizon=horizon, params=params, summary=summary)
            .returning(schema.forecast_run.c.id)
        ).scalar_one()
        if records:
            connection.execute(insert(schema.fact_forecast), [{**r, "run_id": run_id} for r in records])
    return int(run_id)
