"""Finance's fast path against the full computation, on SQLite and PostgreSQL.

The Finance page values the compact ledger (``data_access.frames.compact_ledger``: receipts row by row, issues
summed between receipts per month) and reads backorder costs as sums made in the database
(``data_access.queries.backorder_cost_sums``). Both must give the figures of the full computation: the ledger row
by row through ``analytics.valuation``, the order lines through ``analytics.backorders.backorder_cost``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select, update
from streamlit.testing.v1 import AppTest

from analytics import backorders
from analytics.valuation import METHODS, cogs_by_period, valuation_table
from data_access import frames, queries, schema
from data_access.queries import last_data_date
from etl.loader import load_directory

ROOT = Path(__file__).resolve().parents[1]
SAME = {"rtol": 1e-9, "atol": 1e-6, "check_dtype": False}


@pytest.fixture
def demo(engine: Engine, small_demo_dir: Path) -> Engine:
    """The small demo company loaded (derived state built)."""
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    return engine


def _assert_values_as_the_full_ledger(engine: Engine, as_of: dt.date) -> None:
    """Every method, per product and per product-location, and COGS per month: compact ledger = full ledger."""
    full = frames.ledger(engine, as_of)
    standard = frames.standard_costs(engine)
    for by_location in (False, True):
        compact = frames.compact_ledger(engine, as_of, by_location=by_location)
        assert list(compact.columns) == ["product_id", *(["location_id"] if by_location else []), "ts", "qty",
                                         "unit_cost", "sku", "category"]
        for method in METHODS:
            cost = standard if method == "standard" else None
            expected = valuation_table(full, as_of, method, cost, by_location=by_location)
            pd.testing.assert_frame_equal(valuation_table(compact, as_of, method, cost, by_location=by_location),
                                          expected, **SAME)
            if not by_location:
                columns = ["product_id", "ts", "qty", "unit_cost"]
                pd.testing.assert_frame_equal(cogs_by_period(compact[columns], "M", method, cost),
                                              cogs_by_period(full[columns], "M", method, cost), **SAME)


def test_compact_ledger_values_as_the_full_ledger(demo: Engine) -> None:
    end = last_data_date(demo)
    for as_of in (end, end - dt.timedelta(days=45), end - dt.timedelta(days=200)):
        _assert_values_as_the_full_ledger(demo, as_of)
    compact, full = frames.compact_ledger(demo, end), frames.ledger(demo, end)
    assert len(compact) < len(full) / 5  # the point of it


def _company(engine: Engine) -> dict[str, int]:
    """Products P1, P2 and locations L1, L2, ids by code."""
    with engine.begin() as connection:
        for sku in ("P1", "P2"):
            connection.execute(insert(schema.dim_product).values(sku=sku, name=sku, category="A", make_or_buy="buy",
                                                                 unit_cost=1.5))
        for code in ("L1", "L2"):
            connection.execute(insert(schema.dim_location).values(code=code, name=code, kind="warehouse"))
        ids = {sku: i for i, sku in connection.execute(select(schema.dim_product.c.id, schema.dim_product.c.sku))}
        return ids | {code: i for i, code in connection.execute(select(schema.dim_location.c.id,
                                                                        schema.dim_location.c.code))}


def _movements(engine: Engine, ids: dict[str, int], rows: list[tuple[str, str, str, float, float | None]]) -> None:
    with engine.begin() as connection:
        for n, (sku, location, ts, qty, cost) in enumerate(rows):
            connection.execute(insert(schema.fact_inventory_movement).values(
                movement_no=f"M{n}", ts=dt.datetime.fromisoformat(ts), product_id=ids[sku], location_id=ids[location],
                qty=qty, kind="receipt" if qty > 0 else "shipment", unit_cost=cost))


def test_compact_ledger_of_receipts_and_issues_in_the_same_hours(engine: Engine) -> None:
    """Receipts between issues of one day, at the same ts as an issue of another location, rows of qty 0, quiet
    months: the days that cannot be summed are read movement by movement, and the figures stay the same."""
    ids = _company(engine)
    _movements(engine, ids, [
        ("P1", "L1", "2026-01-05 08:00:00", 10, 1.0),
        ("P1", "L1", "2026-01-05 10:00:00", -4, None),
        ("P1", "L1", "2026-01-05 11:00:00", 5, 2.0),  # a receipt between two issues of the day
        ("P1", "L1", "2026-01-05 12:00:00", -6, None),
        ("P1", "L2", "2026-01-05 12:00:00", 3, 3.0),  # same ts as the issue at L1: L1 comes first (location order)
        ("P1", "L2", "2026-01-05 12:00:00", -1, None),  # same ts and location: the receipt (lower id) first
        ("P1", "L1", "2026-01-06 09:00:00", 0, None),
        ("P1", "L1", "2026-01-20 15:00:00", -2, None),
        ("P1", "L2", "2026-01-31 23:59:59.500000", -1, None),
        ("P1", "L1", "2026-02-01 00:00:00", -1, None),
        ("P1", "L1", "2026-04-10 09:30:00", 8, 1.25),
        ("P1", "L1", "2026-04-10 16:00:00", -3, None),
        ("P2", "L2", "2026-02-02 07:00:00", 0, None),  # a product with nothing but a row of qty 0
    ])
    for as_of in (dt.date(2026, 1, 5), dt.date(2026, 1, 31), dt.date(2026, 2, 1), dt.date(2026, 4, 30)):
        _assert_values_as_the_full_ledger(engine, as_of)
    compact = frames.compact_ledger(engine, dt.date(2026, 4, 30))
    assert compact["qty"].sum() == pytest.approx(frames.ledger(engine, dt.date(2026, 4, 30))["qty"].sum())


def test_compact_ledger_goes_negative_when_the_ledger_does(engine: Engine) -> None:
    """An issue beyond stock in the middle of a day: both ledgers refuse FIFO and the moving average."""
    ids = _company(engine)
    _movements(engine, ids, [
        ("P1", "L1", "2026-03-02 08:00:00", 5, 1.0),
        ("P1", "L1", "2026-03-03 09:00:00", -3, None),
        ("P1", "L1", "2026-03-03 10:00:00", -4, None),  # 2 short
        ("P1", "L1", "2026-03-03 11:00:00", 10, 1.0),  # back above zero by the end of the day
        ("P1", "L1", "2026-03-03 17:00:00", -1, None),
    ])
    as_of = dt.date(2026, 3, 31)
    for ledger in (frames.ledger(engine, as_of), frames.compact_ledger(engine, as_of)):
        for method in ("fifo", "average"):
            with pytest.raises(ValueError, match="negative stock"):
                valuation_table(ledger, as_of, method)
    full, compact = frames.ledger(engine, as_of), frames.compact_ledger(engine, as_of)
    cost = frames.standard_costs(engine)
    pd.testing.assert_frame_equal(valuation_table(compact, as_of, "standard", cost),
                                  valuation_table(full, as_of, "standard", cost), **SAME)


GROUPINGS = (((), None), (("category",), None), ((), "M"), (("category",), "M"))


def _assert_backorder_costs_as_the_lines(engine: Engine, as_of: dt.date, since: dt.date) -> None:
    lines = frames.order_lines(engine, as_of, since=since)
    for use_derived in (None, False):
        sums = queries.backorder_cost_sums(engine, as_of, since, backorders.CARRYING_RATE, use_derived=use_derived)
        for by, freq in GROUPINGS:
            expected = backorders.backorder_cost(lines, as_of, by=list(by), freq=freq)
            pd.testing.assert_frame_equal(queries.backorder_cost_from_sums(sums, by, monthly=freq == "M"), expected,
                                          **SAME)


def test_backorder_cost_sums_equal_the_line_by_line_costs(demo: Engine) -> None:
    end = last_data_date(demo)
    for as_of, days in ((end, 365), (end - dt.timedelta(days=60), 365), (end, 3 * 365), (end, 20)):
        _assert_backorder_costs_as_the_lines(demo, as_of, as_of - dt.timedelta(days=days))
    # A product without a cost: its lost margin and carrying cost are unknown, as line by line
    with demo.begin() as connection:
        connection.execute(update(schema.dim_product).where(schema.dim_product.c.id.in_(
            select(schema.dim_product.c.id).order_by(schema.dim_product.c.id).limit(3).scalar_subquery()))
            .values(unit_cost=None))
    _assert_backorder_costs_as_the_lines(demo, end, end - dt.timedelta(days=365))
    sums = queries.backorder_cost_sums(demo, end, end - dt.timedelta(days=365), backorders.CARRYING_RATE)
    assert queries.backorder_cost_from_sums(sums, ("category",))["carrying_cost"].isna().any()


def test_finance_page_shows_the_full_computation(demo: Engine, monkeypatch, fresh_streamlit_caches) -> None:
    """The page's headline figures (from the fast path) are those of the full ledger and the order lines."""
    monkeypatch.setenv("DATABASE_URL", demo.url.render_as_string(hide_password=False))
    app = AppTest.from_file(str(ROOT / "pages" / "finance.py"), default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "finance"
    app.session_state["roles"] = ["finance"]
    app.run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    end = last_data_date(demo)
    table = valuation_table(frames.ledger(demo, end), end, "fifo")
    assert metrics["Inventory value (FIFO)"] == f"{table['ending_value'].sum():,.2f}"
    assert metrics["COGS to date"] == f"{table['cogs'].sum():,.2f}"
    assert metrics["Units on hand"] == f"{table['ending_qty'].sum():,.0f}"
    since = end - dt.timedelta(days=365)
    costs = backorders.backorder_cost(frames.order_lines(demo, end, since=since), end, by=["category"])
    assert metrics["Backorder cost"] == f"{costs['backorder_cost'].sum():,.2f}"
    assert metrics["Lost sales (revenue)"] == f"{costs['lost_revenue'].sum():,.2f}"
    assert metrics["Backordered lines"] == f"{costs['lines_backordered'].sum():,}"

    app.radio[0].set_value("Moving average").run()
    app.toggle[0].set_value(True).run()
    assert not app.exception
    table = valuation_table(frames.ledger(demo, end), end, "average", by_location=True)
    assert {m.label: m.value for m in app.metric}["Inventory value (Moving average)"] == \
        f"{table['ending_value'].sum():,.2f}"


def test_finance_page_names_the_single_movement_that_goes_negative(engine: Engine, monkeypatch,
                                                                   fresh_streamlit_caches) -> None:
    """The compact ledger sums the day's two issues; the page's error names the single one, from the full ledger."""
    ids = _company(engine)
    _movements(engine, ids, [
        ("P1", "L1", "2026-03-02 08:00:00", 5, 1.0),
        ("P1", "L1", "2026-03-03 09:00:00", -3, None),
        ("P1", "L1", "2026-03-03 10:00:00", -4, None),  # 2 short
    ])
    as_of = dt.date(2026, 3, 3)
    with pytest.raises(ValueError, match="issue of 7 with 5 on hand"):
        valuation_table(frames.compact_ledger(engine, as_of), as_of, "fifo")
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    app = AppTest.from_file(str(ROOT / "pages" / "finance.py"), default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "finance"
    app.session_state["roles"] = ["finance"]
    app.run()
    assert not app.exception
    assert "negative stock" in app.error[0].value and "issue of 4 with 2 on hand" in app.error[0].value
