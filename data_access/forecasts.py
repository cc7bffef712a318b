"""Stored forecast runs and the planner's overrides: reads for the Demand view, and the override commands.

A run's parameters and summary live in ``forecast_run``, its periods in ``fact_forecast`` (``store_forecast_run``).
Overrides (``forecast_override``) are market-trend adjustments a planner enters; how they change a forecast is
``analytics.demand_plan.apply_overrides``. Commands run in one transaction each and write an ``audit_log`` row.
The weekly demand history is the one the forecast job fits (``weekly_history`` of its daily sums; ``weekly_demand``
reads the same weeks, summed per week in the database), so actuals and forecasts speak of the same weeks.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Select, func, insert, select, update

from data_access import schema
from data_access.engine import utc_now
from data_access.frames import read_frame
from data_access.queries import last_data_date

LEVEL_COLUMNS = ("lo_80", "hi_80", "lo_95", "hi_95")
FREQ = "W-SUN"  # weeks ending on Sunday; a period is stored as its last day
OVERRIDE_KINDS = ("percent", "level")


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


# --- weekly demand history ----------------------------------------------------------------------------------------


def last_complete_week(end: dt.date) -> pd.Timestamp:
    """The Sunday that ends the last complete week (Monday–Sunday) on or before ``end``."""
    stamp = pd.Timestamp(end).normalize()
    return stamp - pd.Timedelta(days=(stamp.day_of_week + 1) % 7)


def _week_grid(first: np.ndarray, last_week: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """For series starting on the Sundays ``first``: (series position, week Sunday) of every week from its first to
    ``last_week``, series after series."""
    first = first.astype("datetime64[ns]")
    counts = ((np.datetime64(last_week, "ns") - first) // np.timedelta64(7, "D")).astype(np.int64) + 1
    counts = np.maximum(counts, 0)
    series = np.repeat(np.arange(len(first)), counts)
    step = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return series, first[series] + step * np.timedelta64(7, "D")


def weekly_history(daily: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    """Daily demand (product_id, location_id, ds, y) as complete weekly series (unique_id, ds, y), zero-filled
    from each series' first week to the last complete week ending on or before ``end``."""
    last_week = last_complete_week(end)
    daily = daily[daily["ds"] <= last_week]
    weekly = (
        daily.assign(unique_id=daily["product_id"].astype(str) + "@" + daily["location_id"].astype(str))
        .groupby(["unique_id", pd.Grouper(key="ds", freq=FREQ)])["y"].sum().reset_index()
    )
    first = weekly.groupby("unique_id")["ds"].min()
    if not len(first):
        return pd.DataFrame(columns=["unique_id", "ds"]).merge(weekly, on=["unique_id", "ds"], how="left").fillna(
            {"y": 0.0})
    series, weeks = _week_grid(first.to_numpy(), last_week)
    grid = pd.DataFrame({"unique_id": first.index.to_numpy()[series], "ds": weeks})
    return grid.merge(weekly, on=["unique_id", "ds"], how="left").fillna({"y": 0.0})


def _week_end(dialect: str, column: str) -> str:
    """The Sunday ending the week (Monday–Sunday) of a date column, in the dialect's words."""
    if dialect == "postgresql":
        return f"CAST(date_trunc('week', CAST({column} AS TIMESTAMP)) AS DATE) + 6"
    return f"date({column}, 'weekday 0')"


def _id_filter(column: str, ids: list[int] | None) -> str:
    return "" if ids is None else f"AND {column} IN ({', '.join(str(int(i)) for i in ids) or 'NULL'})"


def demand_series(
    engine: Engine, end: dt.date | None = None, *, product_ids: list[int] | None = None,
    location_ids: list[int] | None = None,
) -> pd.DataFrame:
    """Every product-location with units ordered by the last complete week on or before ``end`` (default: the
    last day of data), and the Sunday ending its first week: product_id, location_id, first_period (datetime64).

    The first order of each product-location is looked up in the (product, location, order date) index, so
    millions of order lines are not read.
    """
    columns = {"product_id": "int64", "location_id": "int64", "first_period": "datetime64[ns]"}
    end = end or last_data_date(engine)
    if end is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    last_week = last_complete_week(end)
    sql = f"""
    SELECT product_id, location_id, first_day FROM (
        SELECT p.id AS product_id, loc.id AS location_id,
               (SELECT MIN(s.order_date) FROM fact_sales_order_line s
                 WHERE s.product_id = p.id AND s.location_id = loc.id AND s.order_date <= :last_week) AS first_day
          FROM dim_product p CROSS JOIN dim_location loc
         WHERE 1 = 1 {_id_filter("p.id", product_ids)} {_id_filter("loc.id", location_ids)}
    ) x
     WHERE first_day IS NOT NULL
    """
    with engine.connect() as connection:
        frame = read_frame(connection, sql, ["product_id", "location_id", "first_period"], date_columns=("first_period",),
                           params={"last_week": last_week.date()})
    days = frame["first_period"].dt.day_of_week
    frame["first_period"] = frame["first_period"] + pd.to_timedelta((6 - days) % 7, unit="D")
    return frame.astype(columns).sort_values(["product_id", "location_id"], ignore_index=True)


def weekly_demand(
    engine: Engine, end: dt.date | None = None, *, start: dt.date | None = None,
    product_ids: list[int] | None = None, location_ids: list[int] | None = None, series: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Weekly units ordered per product-location: the history the forecast job fits, as actuals.

    The same weeks as the job's ``weekly_history`` of its daily sums: weeks ending on Sunday up to the last complete
    week on or before ``end`` (default: the last day of data), each series (``demand_series``) zero-filled from
    its first week. ``product_ids`` / ``location_ids`` narrow the series, ``start`` the weeks (the zero-filling
    still starts at each series' first week): only the order lines of the weeks returned are read, summed per week
    in the database. ``series``: ``demand_series`` of the same ``end`` and filters, when already read. Returns
    product_id, location_id, period (the week's Sunday, datetime64), y; empty when the database holds no orders.
    """
    columns = {"product_id": "int64", "location_id": "int64", "period": "datetime64[ns]", "y": float}
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    end = end or last_data_date(engine)
    if end is None:
        return empty
    if series is None:
        series = demand_series(engine, end, product_ids=product_ids, location_ids=location_ids)
    if series.empty:
        return empty
    last_week = last_complete_week(end)
    first = series["first_period"].to_numpy(dtype="datetime64[ns]")
    if start is not None:
        begin = last_complete_week(pd.Timestamp(start) + pd.Timedelta(days=6))  # the first Sunday on or after start
        first = np.maximum(first, np.datetime64(begin, "ns"))
    from_day = (pd.Timestamp(first.min()) - pd.Timedelta(days=6)).date()
    with engine.connect() as connection:
        week = _week_end(connection.dialect.name, "order_date")
        sql = f"""
        SELECT product_id, location_id, {week}, SUM(qty_ordered)
          FROM fact_sales_order_line
         WHERE order_date >= :from_day AND order_date <= :last_week
               {_id_filter("product_id", product_ids)} {_id_filter("location_id", location_ids)}
         GROUP BY product_id, location_id, {week}
        """
        sums = read_frame(connection, sql, ["product_id", "location_id", "period", "y"], date_columns=("period",),
                          params={"from_day": from_day, "last_week": last_week.date()})
    position, weeks = _week_grid(first, last_week)
    frame = pd.DataFrame({"product_id": series["product_id"].to_numpy()[position],
                          "location_id": series["location_id"].to_numpy()[position], "period": weeks})
    sums = sums.astype({"product_id": "int64", "location_id": "int64", "y": float})
    frame = frame.merge(sums, on=["product_id", "location_id", "period"], how="left").fillna({"y": 0.0})
    return frame.astype(columns).sort_values(["product_id", "location_id", "period"], ignore_index=True)


# --- reads ------------------------------------------------------------------------------------------------------------


def _read(engine: Engine, query: Select, columns: list[str], text_columns: tuple[str, ...] = (),
          date_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows of a Core ``query`` through ``read_frame`` (COPY on PostgreSQL), its values bound as literals."""
    with engine.connect() as connection:
        sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
        return read_frame(connection, sql, columns, text_columns=text_columns, date_columns=date_columns)


def product_list(engine: Engine) -> pd.DataFrame:
    """Every product: product_id, sku, name, category, active (the filters and the override scopes)."""
    p = schema.dim_product
    frame = _read(engine, select(p.c.id, p.c.sku, p.c.name, p.c.category, p.c.active).order_by(p.c.sku),
                  ["product_id", "sku", "name", "category", "active"], text_columns=("sku", "name", "category"))
    return frame.astype({"product_id": "int64", "active": bool})


def location_list(engine: Engine) -> pd.DataFrame:
    """Every location: location_id, code, name, kind."""
    loc = schema.dim_location
    frame = _read(engine, select(loc.c.id, loc.c.code, loc.c.name, loc.c.kind).order_by(loc.c.code),
                  ["location_id", "code", "name", "kind"], text_columns=("code", "name", "kind"))
    return frame.astype({"location_id": "int64"})


_RUN_COLUMNS = ["id", "created_at", "created_by", "freq", "horizon", "params", "summary", "series", "rows",
                "first_period", "last_period"]


def forecast_runs(engine: Engine) -> pd.DataFrame:
    """Stored forecast runs, newest first: id, created_at, created_by, freq, horizon, params and summary (dicts),
    series (product-locations), rows, first_period and last_period (datetime64; counts made in SQL)."""
    r, f = schema.forecast_run, schema.fact_forecast
    pairs = select(f.c.run_id, f.c.product_id, f.c.location_id).distinct().subquery()
    series = select(pairs.c.run_id, func.count().label("series")).group_by(pairs.c.run_id).subquery()
    periods = (select(f.c.run_id, func.count().label("rows"), func.min(f.c.period).label("first_period"),
                      func.max(f.c.period).label("last_period")).group_by(f.c.run_id).subquery())
    query = (
        select(r.c.id, r.c.created_at, r.c.created_by, r.c.freq, r.c.horizon, r.c.params, r.c.summary,
               func.coalesce(series.c.series, 0), func.coalesce(periods.c.rows, 0), periods.c.first_period,
               periods.c.last_period)
        .select_from(r.outerjoin(series, series.c.run_id == r.c.id).outerjoin(periods, periods.c.run_id == r.c.id))
        .order_by(r.c.id.desc())
    )
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query).all()]
    frame = pd.DataFrame(rows, columns=_RUN_COLUMNS).astype({"id": "int64", "horizon": "int64", "series": "int64",
                                                              "rows": "int64"})
    for name in ("created_at", "first_period", "last_period"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    for name in ("params", "summary"):
        frame[name] = [value or {} for value in frame[name]]
    return frame


_FORECAST_COLUMNS = ["run_id", "product_id", "sku", "name", "category", "location_id", "location", "location_name",
                     "period", "yhat", *LEVEL_COLUMNS, "model"]


def forecast_frame(
    engine: Engine, run_id: int, *, product_ids: list[int] | None = None, categories: list[str] | None = None,
    location_ids: list[int] | None = None, start: dt.date | None = None, end: dt.date | None = None,
) -> pd.DataFrame:
    """The periods of one run with sku, name, category, location code and name; filters narrow it in SQL.

    Columns ``_FORECAST_COLUMNS`` (period datetime64). Overrides apply to a whole run
    (``analytics.demand_plan.apply_overrides``): filter the final forecast, not its input, when levels matter.
    """
    f, p, loc = schema.fact_forecast, schema.dim_product, schema.dim_location
    query = (
        select(f.c.run_id, f.c.product_id, p.c.sku, p.c.name, p.c.category, f.c.location_id, loc.c.code,
               loc.c.name, f.c.period, f.c.yhat, *(f.c[c] for c in LEVEL_COLUMNS), f.c.model)
        .select_from(f.join(p, p.c.id == f.c.product_id).join(loc, loc.c.id == f.c.location_id))
        .where(f.c.run_id == int(run_id))
        .order_by(f.c.product_id, f.c.location_id, f.c.period)
    )
    if product_ids is not None:
        query = query.where(f.c.product_id.in_([int(i) for i in product_ids]))
    if categories is not None:
        query = query.where(p.c.category.in_([str(c) for c in categories]))
    if location_ids is not None:
        query = query.where(f.c.location_id.in_([int(i) for i in location_ids]))
    if start is not None:
        query = query.where(f.c.period >= start)
    if end is not None:
        query = query.where(f.c.period <= end)
    frame = _read(engine, query, _FORECAST_COLUMNS, text_columns=("sku", "name", "category", "location",
                                                                   "location_name", "model"),
                  date_columns=("period",))
    for name in ("yhat", *LEVEL_COLUMNS):
        frame[name] = pd.to_numeric(frame[name]).astype(float)
    return frame.astype({"run_id": "int64", "product_id": "int64", "location_id": "int64"})


_OVERRIDE_COLUMNS = ["id", "created_at", "created_by", "product_id", "sku", "product_name", "category",
                     "location_id", "location", "period_start", "period_end", "kind", "value", "note", "active"]


def overrides(engine: Engine, active_only: bool = False) -> pd.DataFrame:
    """Planner overrides, newest first, with the product's sku and name and the location code.

    ``category`` is the override's own category scope (empty unless it was set). Columns ``_OVERRIDE_COLUMNS``;
    product_id and location_id nullable Int64, dates datetime64 — the ``analytics.demand_plan.OVERRIDES`` input.
    """
    o, p, loc = schema.forecast_override, schema.dim_product, schema.dim_location
    query = (
        select(o.c.id, o.c.created_at, o.c.created_by, o.c.product_id, p.c.sku, p.c.name, o.c.category,
               o.c.location_id, loc.c.code, o.c.period_start, o.c.period_end, o.c.kind, o.c.value, o.c.note,
               o.c.active)
        .select_from(o.outerjoin(p, p.c.id == o.c.product_id).outerjoin(loc, loc.c.id == o.c.location_id))
        .order_by(o.c.id.desc())
    )
    if active_only:
        query = query.where(o.c.active)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query).all()]
    frame = pd.DataFrame(rows, columns=_OVERRIDE_COLUMNS)
    for name in ("created_at", "period_start", "period_end"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    for name in ("product_id", "location_id"):
        frame[name] = pd.to_numeric(frame[name]).astype("Int64")
    for name in ("sku", "product_name", "category", "location", "note"):
        frame[name] = frame[name].astype(object)
    return frame.astype({"id": "int64", "value": float, "active": bool})


# --- override commands ------------------------------------------------------------------------------------------------


def _day(value: Any, name: str) -> dt.date:
    """A date from a date, datetime, Timestamp or ISO text; ValueError naming ``name`` otherwise."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a date, not {value!r}") from error
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date")
    return stamp.date()


def add_override(
    engine: Engine, *, user: str, period_start: Any, period_end: Any, kind: str, value: float,
    product_id: int | None = None, category: str | None = None, location_id: int | None = None,
    note: str | None = None,
) -> int:
    """Store a planner override in one transaction (with an ``audit_log`` row) and return its id.

    Scope: any of product, category, location (none: every series); the period range covers the forecast periods
    whose date lies in [period_start, period_end]. ``kind`` 'percent' (value ≥ −100: the forecast × (1 + value/100))
    or 'level' (value ≥ 0: the total of the governed series per period). ValueError, nothing written, when the
    user is empty, the kind, value or range is invalid, or a scope does not exist (an unknown product, category or
    location, or a category that is not the product's).
    """
    user = (user or "").strip()
    if not user:
        raise ValueError("an override needs the user who makes it")
    if kind not in OVERRIDE_KINDS:
        raise ValueError(f"kind must be one of {OVERRIDE_KINDS}, not {kind!r}")
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"value must be a number, not {value!r}") from error
    if not math.isfinite(value):
        raise ValueError("value must be a finite number")
    if kind == "percent" and value < -100:
        raise ValueError("a percent override cannot cut the forecast by more than 100 %")
    if kind == "level" and value < 0:
        raise ValueError("a level override must be >= 0")
    start, stop = _day(period_start, "period_start"), _day(period_end, "period_end")
    if stop < start:
        raise ValueError(f"period_end {stop} is before period_start {start}")
    category = (category or "").strip() or None
    note = (note or "").strip() or None
    p, loc, o = schema.dim_product, schema.dim_location, schema.forecast_override
    now = utc_now()
    with engine.begin() as connection:
        if product_id is not None:
            product_id = int(product_id)
            own = connection.execute(select(p.c.category).where(p.c.id == product_id)).first()
            if own is None:
                raise ValueError(f"unknown product id {product_id}")
            if category is not None and own[0] != category:
                raise ValueError(f"product {product_id} is in category {own[0]!r}, not {category!r}")
        if category is not None and connection.execute(
                select(p.c.id).where(p.c.category == category).limit(1)).first() is None:
            raise ValueError(f"unknown category {category!r}")
        if location_id is not None:
            location_id = int(location_id)
            if connection.execute(select(loc.c.id).where(loc.c.id == location_id)).first() is None:
                raise ValueError(f"unknown location id {location_id}")
        values = {"product_id": product_id, "category": category, "location_id": location_id,
                  "period_start": start, "period_end": stop, "kind": kind, "value": value, "note": note}
        override_id = int(connection.execute(
            insert(o).values(created_at=now, created_by=user, active=True, **values).returning(o.c.id)
        ).scalar_one())
        connection.execute(insert(schema.audit_log).values(
            ts=now, user_name=user, action="forecast_override.add", entity="forecast_override",
            entity_key=str(override_id),
            details={**values, "period_start": start.isoformat(), "period_end": stop.isoformat()},
        ))
    return override_id


def deactivate_override(engine: Engine, override_id: int, user: str, reason: str | None = None) -> None:
    """Deactivate an active override (kept for the record) in one transaction, with an ``audit_log`` row.

    ValueError, nothing written, when the user is empty or the override is unknown or already inactive.
    """
    user = (user or "").strip()
    if not user:
        raise ValueError("deactivating an override needs the user who does it")
    o = schema.forecast_override
    now = utc_now()
    with engine.begin() as connection:
        done = connection.execute(
            update(o).where(o.c.id == int(override_id), o.c.active).values(active=False)
        ).rowcount
        if done != 1:
            known = connection.execute(select(o.c.id).where(o.c.id == int(override_id))).first()
            raise ValueError(f"override {override_id} is {'already inactive' if known else 'unknown'}")
        connection.execute(insert(schema.audit_log).values(
            ts=now, user_name=user, action="forecast_override.deactivate", entity="forecast_override",
            entity_key=str(int(override_id)), details={"reason": reason},
        ))
