"""Stored runs, weekly actuals and planner overrides in the database (data_access.forecasts), on both backends."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select

from analytics.demand_plan import apply_overrides
from data_access import forecasts, schema

D = dt.date


def _company(engine: Engine) -> dict[str, int]:
    """Products P1, P2 (category A), P3 (B); locations L1, L2; one customer; ids by code."""
    with engine.begin() as connection:
        for sku, category in (("P1", "A"), ("P2", "A"), ("P3", "B")):
            connection.execute(insert(schema.dim_product).values(sku=sku, name=f"Product {sku}", category=category,
                                                                 make_or_buy="buy"))
        for code in ("L1", "L2"):
            connection.execute(insert(schema.dim_location).values(code=code, name=f"Site {code}", kind="warehouse"))
        connection.execute(insert(schema.dim_customer).values(code="C1", name="Customer 1"))
        ids = {sku: i for i, sku in connection.execute(select(schema.dim_product.c.id, schema.dim_product.c.sku))}
        ids |= {code: i for i, code in connection.execute(select(schema.dim_location.c.id,
                                                                 schema.dim_location.c.code))}
        ids["C1"] = connection.execute(select(schema.dim_customer.c.id)).scalar_one()
    return ids


def _order(engine: Engine, ids: dict[str, int], n: int, sku: str, location: str, day: dt.date, qty: float) -> None:
    with engine.begin() as connection:
        connection.execute(insert(schema.fact_sales_order_line).values(
            order_no=f"SO{n}", line_no=1, customer_id=ids["C1"], product_id=ids[sku], location_id=ids[location],
            order_date=day, requested_date=day, qty_ordered=qty, unit_price=1.0, status="open"))


def _run(engine: Engine, ids: dict[str, int], periods: list[dt.date], yhat: dict[tuple[str, str], float],
         as_of: str) -> int:
    rows = [{"product_id": ids[sku], "location_id": ids[loc], "period": p, "yhat": value, "lo_80": value * 0.5,
             "hi_80": value * 1.5, "lo_95": value * 0.25, "hi_95": value * 2.0, "model": "SES"}
            for (sku, loc), value in yhat.items() for p in periods]
    return forecasts.store_forecast_run(engine, pd.DataFrame(rows), freq="W-SUN", horizon=len(periods),
                                        params={"as_of": as_of}, summary={"series": len(yhat)}, user="planner")


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return (connection.execute(select(func.count()).select_from(schema.forecast_override)).scalar_one(),
                connection.execute(select(func.count()).select_from(schema.audit_log)).scalar_one())


def test_weekly_demand_is_the_jobs_weekly_history(engine: Engine) -> None:
    ids = _company(engine)
    # P1@L1: Mon 01-05 3 units, Wed 01-21 2 units; P2@L1: Wed 01-14 4 units; P3@L2: Tue 01-06 1 unit
    for n, (sku, loc, day, qty) in enumerate([("P1", "L1", D(2026, 1, 5), 3.0), ("P1", "L1", D(2026, 1, 21), 2.0),
                                              ("P2", "L1", D(2026, 1, 14), 4.0), ("P3", "L2", D(2026, 1, 6), 1.0)]):
        _order(engine, ids, n, sku, loc, day, qty)
    weekly = forecasts.weekly_demand(engine, D(2026, 1, 25))
    got = {(r.product_id, r.location_id, f"{r.period:%m-%d}"): r.y for r in weekly.itertuples()}
    # weeks end on Sunday 01-11, 01-18, 01-25; each series zero-filled from its first week
    assert got == {(ids["P1"], ids["L1"], "01-11"): 3.0, (ids["P1"], ids["L1"], "01-18"): 0.0,
                   (ids["P1"], ids["L1"], "01-25"): 2.0, (ids["P2"], ids["L1"], "01-18"): 4.0,
                   (ids["P2"], ids["L1"], "01-25"): 0.0, (ids["P3"], ids["L2"], "01-11"): 1.0,
                   (ids["P3"], ids["L2"], "01-18"): 0.0, (ids["P3"], ids["L2"], "01-25"): 0.0}
    assert weekly.dtypes.to_dict() == {"product_id": "int64", "location_id": "int64", "period": "datetime64[ns]",
                                       "y": "float64"}
    # default end: the last day of data (Wed 01-21) → last complete week ends Sun 01-18: 01-21 is left out
    assert forecasts.weekly_demand(engine)["period"].max() == pd.Timestamp(2026, 1, 18)
    narrowed = forecasts.weekly_demand(engine, D(2026, 1, 25), start=D(2026, 1, 18), product_ids=[ids["P1"]],
                                       location_ids=[ids["L1"]])
    assert narrowed["y"].tolist() == [0.0, 2.0]


def test_weekly_demand_of_an_empty_database(engine: Engine) -> None:
    assert forecasts.weekly_demand(engine).empty


def test_runs_are_listed_and_read_back_with_names_and_filters(engine: Engine) -> None:
    ids = _company(engine)
    first = _run(engine, ids, [D(2026, 1, 11), D(2026, 1, 18)], {("P1", "L1"): 10.0, ("P3", "L2"): 4.0}, "2026-01-04")
    second = _run(engine, ids, [D(2026, 1, 18), D(2026, 1, 25), D(2026, 2, 1)],
                  {("P1", "L1"): 12.0, ("P2", "L1"): 6.0, ("P3", "L2"): 5.0}, "2026-01-11")
    runs = forecasts.forecast_runs(engine)
    assert runs["id"].tolist() == [second, first]  # newest first
    newest = runs.iloc[0]
    assert (newest["horizon"], newest["series"], newest["rows"], newest["created_by"]) == (3, 3, 9, "planner")
    assert newest["params"] == {"as_of": "2026-01-11"} and newest["summary"] == {"series": 3}
    assert (newest["first_period"], newest["last_period"]) == (pd.Timestamp(2026, 1, 18), pd.Timestamp(2026, 2, 1))

    frame = forecasts.forecast_frame(engine, second)
    assert len(frame) == 9 and set(frame["run_id"]) == {second}
    p1 = frame[frame["sku"] == "P1"].iloc[0]
    assert (p1["name"], p1["category"], p1["location"], p1["location_name"]) == ("Product P1", "A", "L1", "Site L1")
    assert (p1["yhat"], p1["lo_80"], p1["hi_95"], p1["model"]) == (12.0, 6.0, 24.0, "SES")
    assert sorted(forecasts.forecast_frame(engine, second, categories=["A"])["sku"].unique()) == ["P1", "P2"]
    assert set(forecasts.forecast_frame(engine, second, location_ids=[ids["L2"]])["sku"]) == {"P3"}
    narrowed = forecasts.forecast_frame(engine, second, product_ids=[ids["P1"]], start=D(2026, 1, 25),
                                        end=D(2026, 1, 25))
    assert narrowed["period"].tolist() == [pd.Timestamp(2026, 1, 25)]
    assert forecasts.forecast_frame(engine, second + 99).empty


def test_add_list_apply_and_deactivate_an_override(engine: Engine) -> None:
    ids = _company(engine)
    run = _run(engine, ids, [D(2026, 1, 11), D(2026, 1, 18)],
               {("P1", "L1"): 10.0, ("P2", "L1"): 30.0, ("P3", "L2"): 4.0}, "2026-01-04")
    level = forecasts.add_override(engine, user="anna", category="A", period_start=D(2026, 1, 11),
                                   period_end="2026-01-11", kind="level", value=80.0, note=" trade fair ")
    percent = forecasts.add_override(engine, user="anna", product_id=ids["P3"], location_id=ids["L2"],
                                     period_start=D(2026, 1, 1), period_end=D(2026, 12, 31), kind="percent",
                                     value=-25.0)
    table = forecasts.overrides(engine)
    assert table["id"].tolist() == [percent, level]  # newest first
    row = table.set_index("id").loc[percent]
    assert (row["sku"], row["product_name"], row["location"], row["created_by"]) == ("P3", "Product P3", "L2", "anna")
    assert pd.isna(row["category"]) and row["active"]
    first = table.set_index("id").loc[level]
    assert pd.isna(first["product_id"]) and first["category"] == "A" and first["note"] == "trade fair"
    assert first["period_start"] == first["period_end"] == pd.Timestamp(2026, 1, 11)

    final = apply_overrides(forecasts.forecast_frame(engine, run), table, forecasts.product_list(engine))
    got = {(r.sku, f"{r.period:%m-%d}"): r.yhat_final for r in final.itertuples()}
    # category A level 80 in week 01-11 only: P1 80·10/40 = 20, P2 80·30/40 = 60; P3@L2 −25 %: 4 → 3 both weeks
    assert got == {("P1", "01-11"): 20.0, ("P2", "01-11"): 60.0, ("P3", "01-11"): 3.0,
                   ("P1", "01-18"): 10.0, ("P2", "01-18"): 30.0, ("P3", "01-18"): 3.0}

    with engine.connect() as connection:
        audit = connection.execute(select(schema.audit_log.c.user_name, schema.audit_log.c.action,
                                          schema.audit_log.c.entity_key, schema.audit_log.c.details)
                                   .order_by(schema.audit_log.c.id)).all()
    assert [(a[0], a[1], a[2]) for a in audit] == [("anna", "forecast_override.add", str(level)),
                                                   ("anna", "forecast_override.add", str(percent))]
    assert audit[0][3]["category"] == "A" and audit[0][3]["period_start"] == "2026-01-11"

    forecasts.deactivate_override(engine, level, "bert", reason="fair cancelled")
    assert forecasts.overrides(engine, active_only=True)["id"].tolist() == [percent]
    assert not forecasts.overrides(engine).set_index("id").loc[level, "active"]
    with pytest.raises(ValueError, match="already inactive"):
        forecasts.deactivate_override(engine, level, "bert")
    with pytest.raises(ValueError, match="unknown"):
        forecasts.deactivate_override(engine, level + 99, "bert")
    with pytest.raises(ValueError, match="user"):
        forecasts.deactivate_override(engine, percent, " ")
    with engine.connect() as connection:
        last = connection.execute(select(schema.audit_log.c.user_name, schema.audit_log.c.action,
                                         schema.audit_log.c.details)
                                  .order_by(schema.audit_log.c.id.desc()).limit(1)).one()
    assert (last[0], last[1], last[2]) == ("bert", "forecast_override.deactivate", {"reason": "fair cancelled"})
    assert _counts(engine) == (2, 3)  # refused calls wrote nothing
    final = apply_overrides(forecasts.forecast_frame(engine, run), forecasts.overrides(engine),
                            forecasts.product_list(engine))
    assert final.loc[final["sku"] == "P1", "yhat_final"].tolist() == [10.0, 10.0]  # the level is gone


@pytest.mark.parametrize(("change", "message"), [
    ({"product_id": 9999}, "unknown product"),
    ({"category": "Z"}, "unknown category"),
    ({"location_id": 9999}, "unknown location"),
    ({"category": "B", "product": "P1"}, "is in category 'A'"),
    ({"period_end": D(2026, 1, 1)}, "before period_start"),
    ({"kind": "level", "value": -1.0}, ">= 0"),
    ({"value": -100.5}, "more than 100"),
    ({"value": float("nan")}, "finite"),
    ({"kind": "double"}, "kind"),
    ({"user": "  "}, "user"),
    ({"period_start": "not a date"}, "period_start"),
])
def test_invalid_overrides_are_refused_and_nothing_is_written(engine: Engine, change: dict, message: str) -> None:
    ids = _company(engine)
    change = dict(change)  # the parameters are shared by both backends' runs
    arguments = {"user": "anna", "period_start": D(2026, 1, 5), "period_end": D(2026, 2, 1), "kind": "percent",
                 "value": 10.0}
    if "product" in change:
        arguments["product_id"] = ids[change.pop("product")]
    arguments |= change
    with pytest.raises(ValueError, match=message):
        forecasts.add_override(engine, **arguments)
    assert _counts(engine) == (0, 0)


def test_an_override_without_scope_covers_everything(engine: Engine) -> None:
    ids = _company(engine)
    run = _run(engine, ids, [D(2026, 1, 11)], {("P1", "L1"): 10.0, ("P3", "L2"): 4.0}, "2026-01-04")
    forecasts.add_override(engine, user="anna", period_start=D(2026, 1, 11), period_end=D(2026, 1, 11),
                           kind="percent", value=-100.0)
    final = apply_overrides(forecasts.forecast_frame(engine, run), forecasts.overrides(engine),
                            forecasts.product_list(engine))
    assert final["yhat_final"].tolist() == [0.0, 0.0] and (final["hi_95_final"] == 0).all()
