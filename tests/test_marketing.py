"""The Marketing view: NPS, retention after backorders and feedback sentiment.

Every metric is checked against a value computed by hand (``analytics.marketing``), the database reads against a
tiny company whose every line is known (on SQLite and PostgreSQL, from the derived line state and from the facts),
and the page as the marketing manager and the executive see it (AppTest on the small demo company).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from analytics import marketing
from data_access import marketing_reads as reads
from data_access.engine import make_engine
from data_access.marketing_reads import NOT_SET, ORDER_BACKORDERED, ORDER_NONE, ORDER_ON_TIME
from data_access.migrate import upgrade
from data_access.queries import last_data_date
from etl.loader import load_directory

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TS = pd.Timestamp


# --- NPS ------------------------------------------------------------------------------------------------------------


def test_nps_bands_and_score_by_hand() -> None:
    bands = marketing.nps_band([10, 9, 8, 7, 6, 0, None])
    assert bands.tolist() == ["promoter", "promoter", "passive", "passive", "detractor", "detractor", None]
    # 6 responses (the missing score is none): 2 promoters, 2 detractors → 100 × (2 − 2) / 6 = 0
    assert marketing.nps([10, 9, 8, 7, 6, 0, None]) == 0
    # 5 responses: 3 promoters, 1 detractor → 100 × (3 − 1) / 5 = 40
    assert marketing.nps([10, 10, 9, 8, 3]) == pytest.approx(40.0)
    assert marketing.nps([0, 1, 2]) == pytest.approx(-100.0)
    assert math.isnan(marketing.nps([None]))


def test_nps_table_sums_counts_then_divides() -> None:
    counts = pd.DataFrame({
        "month": [TS("2026-01-01"), TS("2026-02-01"), TS("2026-04-01"), TS("2026-01-01")],
        "segment": ["Retail", "Retail", "Retail", "Wholesale"],
        "responses": [4, 6, 5, 0], "promoters": [2, 3, 1, 0], "passives": [1, 1, 1, 0], "detractors": [1, 2, 3, 0],
    })
    total = marketing.nps_table(counts).iloc[0]
    # 15 responses, 6 promoters, 6 detractors → 0; promoters 6/15 = 40 %
    assert (total["responses"], total["nps"], total["promoter_share"]) == (15, 0.0, pytest.approx(0.4))
    quarters = marketing.nps_table(counts, by=["segment"], freq="Q")
    retail = quarters[quarters["segment"] == "Retail"].set_index("period")
    # Q1 Retail: 10 responses, 5 promoters, 3 detractors → 100 × 2 / 10 = 20; Q2: 5, 1, 3 → 100 × −2 / 5 = −40
    assert retail.loc[TS("2026-01-01"), "nps"] == pytest.approx(20.0)
    assert retail.loc[TS("2026-04-01"), "nps"] == pytest.approx(-40.0)
    assert retail.loc[TS("2026-04-01"), "detractor_share"] == pytest.approx(0.6)
    wholesale = quarters[quarters["segment"] == "Wholesale"].iloc[0]
    assert wholesale["responses"] == 0 and math.isnan(wholesale["nps"])  # no response: no score invented
    period, last, change = marketing.latest_change(marketing.nps_table(counts, freq="M"))
    # February: 6 responses, 3 − 2 → 16.67; April: 5, 1 − 3 → −40; change −56.67
    assert period == TS("2026-04-01") and last == pytest.approx(-40.0)
    assert change == pytest.approx(-40.0 - 100 / 6)
    assert marketing.nps_table(counts.iloc[0:0]).iloc[0]["responses"] == 0


# --- retention --------------------------------------------------------------------------------------------------------


def _activity(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "month", "first_order", "orders", "backordered_lines"])
    frame["month"], frame["first_order"] = pd.to_datetime(frame["month"]), pd.to_datetime(frame["first_order"])
    frame["lines"] = frame["orders"]
    frame["backordered_orders"] = frame["backordered_lines"]
    return frame[list(marketing.ACTIVITY_COLUMNS)]


ACTIVITY = _activity([
    (1, "2026-01-01", "2026-01-05", 2, 1),  # backorder; next order 20 Feb, 20 days after January: retained
    (1, "2026-02-01", "2026-02-20", 1, 0),  # next order 2 April, 33 days after February: not within 30
    (1, "2026-04-01", "2026-04-02", 1, 0),  # no later order: not retained
    (2, "2026-01-01", "2026-01-10", 1, 0),  # next order 3 March, 31 days after January: not within 30
    (2, "2026-03-01", "2026-03-03", 1, 0),
    (3, "2026-01-01", "2026-01-31", 1, 1),  # backorder; next order 28 Feb (another category): retained
    (3, "2026-02-01", "2026-02-28", 0, 0),  # ordered only outside the scope: no cohort of its own
    (4, "2026-05-01", "2026-05-04", 1, 0),  # May ends 31 May, + 30 days = 30 June = as of: judged; retained
    (4, "2026-06-01", "2026-06-15", 1, 0),  # June cannot be judged yet
])


def test_retention_cohorts_by_hand() -> None:
    cohorts = marketing.retention_cohorts(ACTIVITY, dt.date(2026, 6, 30), horizon_days=30, freq="M")
    got = {(r.customer_id, r.period.month): (r.experienced_backorder, r.retained) for r in cohorts.itertuples()}
    assert got == {
        (1, 1): (True, True), (1, 2): (False, False), (1, 4): (False, False), (2, 1): (False, False),
        (2, 3): (False, False), (3, 1): (True, True), (4, 5): (False, True),
    }
    first = cohorts[(cohorts["customer_id"] == 1) & (cohorts["period"] == TS("2026-01-01"))].iloc[0]
    assert first["days_to_next_order"] == 20 and first["period_end"] == TS("2026-01-31")
    summary = marketing.retention_summary(cohorts, ["experienced_backorder"]).set_index("experienced_backorder")
    # with a backorder: 2 retained of 2 customer-months; without: 1 (customer 4 in May) of 5
    assert summary.loc[True, ["customer_periods", "retained"]].tolist() == [2, 2]
    assert summary.loc[True, "retention_rate"] == pytest.approx(1.0)
    assert summary.loc[False, ["customer_periods", "retained"]].tolist() == [5, 1]
    assert summary.loc[False, "retention_rate"] == pytest.approx(0.2)
    overall = marketing.retention_summary(cohorts).iloc[0]
    assert (overall["customer_periods"], overall["retained"], overall["customers"]) == (7, 3, 4)
    assert overall["retention_rate"] == pytest.approx(3 / 7)


def test_retention_by_quarter_by_hand() -> None:
    cohorts = marketing.retention_cohorts(ACTIVITY, dt.date(2026, 6, 30), horizon_days=30, freq="Q")
    # Q1 ends 31 March (+30 = 30 April ≤ 30 June: judged); Q2 ends 30 June: not yet.
    assert set(cohorts["period"]) == {TS("2026-01-01")}
    got = {r.customer_id: (r.orders, r.experienced_backorder, r.retained) for r in cohorts.itertuples()}
    # customer 1: next order 2 April ≤ 30 April; customer 2: none after March; customer 3: none after February
    assert got == {1: (3, True, True), 2: (2, False, False), 3: (1, True, False)}
    summary = marketing.retention_summary(cohorts, ["experienced_backorder"]).set_index("experienced_backorder")
    assert summary.loc[True, "retention_rate"] == pytest.approx(0.5)
    assert summary.loc[False, "retention_rate"] == pytest.approx(0.0)


def test_retention_of_nothing_is_empty() -> None:
    cohorts = marketing.retention_cohorts(ACTIVITY.iloc[0:0], dt.date(2026, 6, 30))
    assert cohorts.empty and "retained" in cohorts
    assert marketing.retention_summary(cohorts).iloc[0]["customer_periods"] == 0
    with pytest.raises(ValueError, match="backordered_orders"):
        marketing.retention_cohorts(ACTIVITY.drop(columns="backordered_orders"), dt.date(2026, 6, 30))


def test_buckets_and_bands() -> None:
    assert marketing.backorder_bucket(pd.Series([0, 1, 4, 5, 9])).astype(str).tolist() == ["0", "1", "4", "5+", "5+"]
    assert marketing.backorder_bucket(pd.Series([0, 2, 3]), cap=2).astype(str).tolist() == ["0", "2+", "2+"]
    bands = marketing.order_band(pd.Series([1, 2, 3, 4, 9, 10, 40])).astype(str).tolist()
    assert bands == ["1", "2–3", "2–3", "4–9", "4–9", "10+", "10+"]


def test_customer_nps_with_and_without_backorders_by_hand() -> None:
    feedback = pd.DataFrame({"customer_id": [1, 2, 3, 9], "responses": [2, 3, 1, 1], "promoters": [0, 2, 1, 1],
                             "passives": [1, 1, 0, 0], "detractors": [1, 0, 0, 0]})
    per_customer = marketing.customer_backorders_and_feedback(ACTIVITY, feedback)
    # backordered orders over the window: customer 1 → 1, 2 → 0, 3 → 1, 9 (no orders) → 0
    assert per_customer.set_index("customer_id")["backordered_orders"].to_dict() == {1: 1, 2: 0, 3: 1, 9: 0}
    table = marketing.nps_table(per_customer, by=["experienced_backorder"]).set_index("experienced_backorder")
    # with: 3 responses, 1 promoter, 1 detractor → 0; without: 4 responses, 3 promoters, 0 detractors → 75
    assert table.loc[True, "nps"] == pytest.approx(0.0)
    assert table.loc[False, "nps"] == pytest.approx(75.0)
    buckets = marketing.nps_table(per_customer, by=["backorder_bucket"]).set_index("backorder_bucket")
    assert buckets.loc["1", "responses"] == 3 and buckets.loc["0", "responses"] == 4


# --- sentiment ------------------------------------------------------------------------------------------------------


def test_sentiment_bucketing_at_the_thresholds() -> None:
    labels = marketing.sentiment_label([0.05, 0.0499, 0.0, -0.0499, -0.05, -0.9, None])
    assert labels.tolist() == ["positive", "neutral", "neutral", "neutral", "negative", "negative", None]


def test_sentiment_scores_by_hand() -> None:
    texts = pd.Series(["Great service", "Delivery was late.", "", None, "The box is blue."])
    scores = marketing.sentiment_scores(texts)
    # compound = s / √(s² + 15): "great" is rated 3.1 → 3.1 / √24.61 = 0.6249;
    # "late" (added domain term) −1.3 → −1.3 / √16.69 = −0.3182; no rated word → 0
    assert scores.iloc[0] == pytest.approx(3.1 / math.sqrt(3.1**2 + 15), abs=1e-4)
    assert scores.iloc[1] == pytest.approx(-1.3 / math.sqrt(1.3**2 + 15), abs=1e-4)
    assert np.isnan(scores.iloc[2]) and np.isnan(scores.iloc[3])
    assert scores.iloc[4] == 0.0
    # VADER alone does not know the word: the comment would read as neutral
    assert marketing.sentiment_scores(pd.Series(["Delivery was late."]), domain_terms=False).iloc[0] == 0.0
    assert marketing.sentiment_label(scores).tolist() == ["positive", "negative", None, None, "neutral"]


def _scored() -> pd.DataFrame:
    return marketing.score_feedback(pd.DataFrame({
        "feedback_no": ["F1", "F2", "F3", "F4", "F5"],
        "feedback_date": pd.to_datetime(["2026-01-05", "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]),
        "nps_score": [2.0, 2.0, 9.0, 10.0, np.nan],
        "text": ["Delivery was late.", "Items were backordered for weeks.", "Great service", "Fine", "Great service"],
    }))


def test_sentiment_against_nps_and_most_negative() -> None:
    scored = _scored()
    assert scored["nps_band"].tolist()[:4] == ["detractor", "detractor", "promoter", "promoter"]
    assert pd.isna(scored["nps_band"].iloc[4])  # no score, no band
    by_score = marketing.sentiment_by_score(scored).set_index("nps_score")
    # score 2: "late" −0.3182 and "backordered" −1.5 → −1.5 / √17.25 = −0.3612; mean −0.3397; both negative
    assert by_score.loc[2, "comments"] == 2
    expected = (-1.3 / math.sqrt(16.69) - 1.5 / math.sqrt(17.25)) / 2
    assert by_score.loc[2, "mean_compound"] == pytest.approx(expected, abs=1e-4)
    assert by_score.loc[2, "negative_share"] == 1.0 and by_score.loc[9, "positive_share"] == 1.0
    assert 10 in by_score.index and by_score.loc[10, "nps_band"] == "promoter"
    worst = marketing.most_negative(scored, limit=2)
    assert worst["feedback_no"].tolist() == ["F2", "F1"]  # −0.3612, then −0.3182
    # from February: F2 −0.3612, F4 "Fine" (0.8 → 0.2023), then F5 and F3 tie at 0.6249: the newer first
    assert marketing.most_negative(scored, since=dt.date(2026, 2, 1))["feedback_no"].tolist() == ["F2", "F4", "F5", "F3"]
    shares = marketing.sentiment_distribution(scored).set_index("sentiment")
    # 5 scored comments: 2 negative, 3 positive ("Fine" is rated 0.8)
    assert shares.loc["negative", "comments"] == 2 and shares.loc["negative", "share"] == pytest.approx(0.4)
    assert shares.loc["positive", "share"] == pytest.approx(0.6)


def test_themes_by_hand() -> None:
    detractors = pd.Series(["Delivery late", "Late and incomplete", "Order incomplete", None])
    others = pd.Series(["Order on time", "Fast delivery"])
    plain = marketing.themes(detractors, top=5)
    # counts in 3 texts: incomplete 2, late 2, then each once, alphabetical
    assert plain["term"].tolist() == ["incomplete", "late", "delivery", "delivery late", "late incomplete"]
    assert plain["comments"].tolist() == [2, 2, 1, 1, 1]
    assert plain["share"].iloc[0] == pytest.approx(2 / 3)
    apart = marketing.themes(detractors, others=others, top=4)
    # "delivery" and "order" are in half the other comments (1/3 − 1/2 < 0): they drop out
    assert apart["term"].tolist() == ["incomplete", "late", "delivery late", "late incomplete"]
    assert apart["other_share"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert apart["difference"].iloc[0] == pytest.approx(2 / 3)
    assert marketing.themes(pd.Series(["the and of"])).empty  # only stop words
    assert marketing.themes(pd.Series([], dtype=object), others=others).empty


# --- database reads (SQLite and PostgreSQL) ---------------------------------------------------------------------------

AS_OF, SINCE = dt.date(2026, 3, 31), dt.date(2026, 1, 1)
TINY = {
    "customers": "code,name,segment,tier,region\nC1,One,Retail,A,North\nC2,Two,Wholesale,B,South\nC3,Three,Retail,,\n",
    "products": "sku,name,category,make_or_buy,unit_cost,unit_price\nP1,Rake,Garden,make,5,10\nP2,Valve,Valves,make,5,10\n",
    "locations": "code,name,kind\nW1,Main,warehouse\n",
    "sales_order_lines": (
        "order_no,line_no,customer,product,location,order_date,requested_date,qty_ordered,qty_shipped,unit_price,status\n"
        "SO0,1,C3,P1,W1,2025-12-20,2025-12-22,1,1,10,shipped\n"    # before the window
        "SO1,1,C1,P1,W1,2026-01-05,2026-01-10,10,10,10,shipped\n"  # on time
        "SO1,2,C1,P2,W1,2026-01-05,2026-01-10,5,5,10,shipped\n"    # 3 by the requested date: backordered
        "SO2,1,C1,P1,W1,2026-02-20,2026-02-25,4,4,10,shipped\n"    # on time
        "SO3,1,C2,P1,W1,2026-01-10,2026-01-20,6,6,10,shipped\n"    # shipped late: backordered
        "SO4,1,C2,P2,W1,2026-03-03,2026-04-10,2,0,10,open\n"       # not due yet: not backordered
        "SO5,1,C3,P2,W1,2026-02-01,2026-02-05,1,1,10,shipped\n"    # on time
    ),
    "shipments": (
        "shipment_no,order_no,line_no,ship_date,qty,status\n"
        "S0,SO0,1,2025-12-21,1,shipped\nS1,SO1,1,2026-01-09,10,shipped\nS2,SO1,2,2026-01-10,3,shipped\n"
        "S3,SO1,2,2026-01-15,2,shipped\nS4,SO2,1,2026-02-24,4,shipped\nS5,SO3,1,2026-01-25,6,shipped\n"
        "S6,SO5,1,2026-02-05,1,shipped\n"
    ),
    "customer_feedback": (
        "feedback_no,customer,feedback_date,nps_score,text,order_no\n"
        "FB0,C1,2025-12-28,0,Before the window,SO0\n"
        "FB1,C1,2026-01-20,3,Items were backordered for weeks.,SO1\n"
        "FB2,C1,2026-02-28,10,Great service,SO2\n"
        "FB3,C2,2026-01-28,9,Fine,SO3\n"
        "FB4,C2,2026-03-10,7,,SO4\n"
        "FB5,C3,2026-02-10,,Late delivery,\n"
        "FB6,C3,2026-02-12,6,ok,SO999\n"
    ),
}


@pytest.fixture
def tiny(engine, tmp_path):
    """The tiny company above, loaded (the loader also builds the derived line state)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    for name, body in TINY.items():
        (folder / f"{name}.csv").write_text(body)
    result = load_directory(engine, folder, today=dt.date(2026, 4, 1))
    assert result.rows_loaded == result.rows_read, result.message  # no row rejected
    return engine


def _ids(engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT code, id FROM dim_customer")).all()
    return {code: int(id_) for code, id_ in rows}


@pytest.mark.parametrize("use_derived", [True, False], ids=["derived", "facts"])
def test_nps_counts_by_order_link(tiny, use_derived) -> None:
    counts = reads.feedback_nps_counts(tiny, SINCE, AS_OF, use_derived=use_derived)
    assert counts["responses"].sum() == 5  # FB0 is before the window, FB5 has no score
    got = {(r.month.month, r.segment, r.tier, r.region, r.order_link): (r.responses, r.promoters, r.passives,
                                                                          r.detractors)
           for r in counts.itertuples()}
    assert got == {
        (1, "Retail", "A", "North", ORDER_BACKORDERED): (1, 0, 0, 1),     # FB1 on SO1 (line 2 short)
        (1, "Wholesale", "B", "South", ORDER_BACKORDERED): (1, 1, 0, 0),  # FB3 on SO3 (shipped late)
        (2, "Retail", "A", "North", ORDER_ON_TIME): (1, 1, 0, 0),         # FB2 on SO2
        (2, "Retail", NOT_SET, NOT_SET, ORDER_NONE): (1, 0, 0, 1),        # FB6 on an unknown order
        (3, "Wholesale", "B", "South", ORDER_ON_TIME): (1, 0, 1, 0),      # FB4 on SO4, not due yet
    }
    # NPS: 5 responses, 2 promoters, 2 detractors → 0; on backordered orders: 1 − 1 of 2 → 0; on time: 1 − 0 of 2
    table = marketing.nps_table(counts, by=["order_link"]).set_index("order_link")
    assert marketing.nps_table(counts).iloc[0]["nps"] == 0
    assert table.loc[ORDER_ON_TIME, "nps"] == pytest.approx(50.0)
    # Only Garden lines (P1): SO1's Garden line was on time, SO4 has no Garden line
    garden = reads.feedback_nps_counts(tiny, SINCE, AS_OF, categories=["Garden"], use_derived=use_derived)
    links = garden.groupby("order_link")["responses"].sum().to_dict()
    assert links == {ORDER_BACKORDERED: 1, ORDER_ON_TIME: 2, ORDER_NONE: 2}


@pytest.mark.parametrize("use_derived", [True, False], ids=["derived", "facts"])
def test_customer_activity_and_retention(tiny, use_derived) -> None:
    ids = _ids(tiny)
    activity = reads.customer_activity(tiny, SINCE, AS_OF, use_derived=use_derived)
    got = {(r.customer_id, r.month.month): (r.first_order.date(), r.orders, r.lines, r.backordered_lines,
                                             r.backordered_orders) for r in activity.itertuples()}
    assert got == {
        (ids["C1"], 1): (dt.date(2026, 1, 5), 1, 2, 1, 1), (ids["C1"], 2): (dt.date(2026, 2, 20), 1, 1, 0, 0),
        (ids["C2"], 1): (dt.date(2026, 1, 10), 1, 1, 1, 1), (ids["C2"], 3): (dt.date(2026, 3, 3), 1, 1, 0, 0),
        (ids["C3"], 2): (dt.date(2026, 2, 1), 1, 1, 0, 0),
    }
    valves = reads.customer_activity(tiny, SINCE, AS_OF, categories=["Valves"], use_derived=use_derived)
    got = {(r.customer_id, r.month.month): (r.orders, r.backordered_lines) for r in valves.itertuples()}
    # every month a customer ordered stays (it tells when they came back), counted in scope only
    assert got == {(ids["C1"], 1): (1, 1), (ids["C1"], 2): (0, 0), (ids["C2"], 1): (0, 0), (ids["C2"], 3): (1, 0),
                   (ids["C3"], 2): (1, 0)}
    cohorts = marketing.retention_cohorts(activity, AS_OF, horizon_days=30, freq="M")
    # January (+30 = 2 March) and February (+30 = 30 March) can be judged; C1 came back on 20 Feb, C2 only on 3 Mar
    summary = marketing.retention_summary(cohorts, ["experienced_backorder"]).set_index("experienced_backorder")
    assert summary.loc[True, ["customer_periods", "retained"]].tolist() == [2, 1]
    assert summary.loc[False, ["customer_periods", "retained"]].tolist() == [2, 0]


def test_feedback_per_customer_and_comments(tiny) -> None:
    ids = _ids(tiny)
    per_customer = reads.customer_feedback_counts(tiny, SINCE, AS_OF).set_index("customer_id")
    assert per_customer.loc[ids["C1"]].tolist() == [2, 1, 0, 1]
    assert per_customer.loc[ids["C2"]].tolist() == [2, 1, 1, 0]
    assert per_customer.loc[ids["C3"]].tolist() == [1, 0, 0, 1]
    comments = reads.feedback_comments(tiny, SINCE, AS_OF)
    assert comments["feedback_no"].tolist() == ["FB2", "FB6", "FB5", "FB3", "FB1"]  # newest first, FB4 has no text
    row = comments.set_index("feedback_no")
    assert row.loc["FB1", "order_link"] == ORDER_BACKORDERED and row.loc["FB5", "order_link"] == ORDER_NONE
    assert np.isnan(row.loc["FB5", "nps_score"]) and row.loc["FB1", "customer"] == "C1"
    assert row.loc["FB6", "tier"] == NOT_SET
    assert reads.product_categories(tiny) == ["Garden", "Valves"]


# --- the page -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory, small_demo_dir) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('marketing') / 'demo.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, small_demo_dir, kind="demo")
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def no_feedback_url(tmp_path_factory, small_demo_dir) -> str:
    folder = tmp_path_factory.mktemp("no_feedback")
    for path in small_demo_dir.glob("*.csv"):
        if path.name != "customer_feedback.csv":
            shutil.copy(path, folder / path.name)
    url = f"sqlite:///{folder / 'demo.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, folder, kind="demo")
    engine.dispose()
    return url


def _marketing_page(role: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = role
    app.session_state["name"] = f"Demo {role}"
    app.session_state["roles"] = [role]
    app.run()
    assert "pages/marketing.py" in app.session_state["registered_pages"]
    return app.switch_page("pages/marketing.py").run()


def _by_label(elements, label: str):
    found = [e for e in elements if e.label == label]
    assert len(found) == 1, (label, [e.label for e in elements])
    return found[0]


def _window_feedback(frames: dict, as_of: dt.date, months: int = 12) -> pd.DataFrame:
    since = (pd.Timestamp(as_of).to_period("M") - (months - 1)).start_time
    feedback = frames["customer_feedback"].assign(feedback_date=lambda f: pd.to_datetime(f["feedback_date"]))
    return feedback[(feedback["feedback_date"] >= since) & (feedback["feedback_date"] <= pd.Timestamp(as_of))]


@pytest.mark.usefixtures("fresh_streamlit_caches")
@pytest.mark.parametrize("role", ["marketing", "executive"])
def test_page_renders_for_its_roles(monkeypatch, demo_url, small_demo_frames, role) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_url)
    app = _marketing_page(role)
    assert not app.exception, [e.value for e in app.exception]
    assert [t.value for t in app.title] == ["Marketing"]
    assert any("last load finished" in c.value for c in app.caption)
    metrics = {m.label: m.value for m in app.metric}
    # the headline NPS from the raw demo scores, computed apart from the page's SQL counts
    as_of = last_data_date(make_engine(demo_url))
    scores = _window_feedback(small_demo_frames, as_of)["nps_score"]
    assert metrics["Responses"] == f"{scores.notna().sum():,}"
    assert metrics["NPS"] == f"{marketing.nps(scores):+.0f}"
    for label in ("NPS", "Retention after a backorder", "Retention without a backorder",
                  "NPS on backordered orders", "NPS on orders without", "Comments scored", "Negative"):
        assert metrics[label] not in ("", "n/a"), label
    layouts = [json.loads(c.proto.spec)["layout"] for c in app.get("plotly_chart")]
    assert len(layouts) == 12
    for layout in layouts:
        assert layout["title"]["text"] and layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
    assert len(app.get("download_button")) == 8  # NPS, retention, negative comments, themes: CSV and Excel each
    worst = [t.value for t in app.dataframe if "compound" in t.value.columns][0]
    assert len(worst) and worst["compound"].is_monotonic_increasing
    assert {"customer", "order_no", "text"} <= set(worst.columns)
    themes = [t.value for t in app.dataframe if "term" in t.value.columns][0]
    assert "backordered" in set(themes["term"])  # what the demo's detractors complain about


@pytest.mark.usefixtures("fresh_streamlit_caches")
def test_filters_narrow_the_figures(monkeypatch, demo_url, small_demo_frames) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_url)
    app = _marketing_page("marketing")
    as_of = last_data_date(make_engine(demo_url))
    feedback = _window_feedback(small_demo_frames, as_of).merge(
        small_demo_frames["customers"][["code", "segment"]], left_on="customer", right_on="code")
    _by_label(app.multiselect, "Customer segment").select("Wholesale").run()
    assert not app.exception, [e.value for e in app.exception]
    wholesale = feedback.loc[feedback["segment"] == "Wholesale", "nps_score"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Responses"] == f"{wholesale.notna().sum():,}"
    assert metrics["NPS"] == f"{marketing.nps(wholesale):+.0f}"
    _by_label(app.multiselect, "Product category").select("Garden").run()
    _by_label(app.radio, "Per").set_value("Q").run()
    assert not app.exception, [e.value for e in app.exception]
    labels = [m.label for m in app.metric]
    assert "Retention after a backorder in Garden" in labels
    assert any(label.startswith("NPS, last quarter") for label in labels)


@pytest.mark.usefixtures("fresh_streamlit_caches")
def test_without_feedback_the_page_says_what_to_do(monkeypatch, no_feedback_url) -> None:
    monkeypatch.setenv("DATABASE_URL", no_feedback_url)
    app = _marketing_page("marketing")
    assert not app.exception, [e.value for e in app.exception]
    infos = " ".join(i.value for i in app.info)
    assert "No NPS response" in infos and "customer_feedback.csv" in infos
    assert "No written comment" in infos
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Retention after a backorder"] not in ("", "n/a")  # the retention figures need no feedback
