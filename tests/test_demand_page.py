"""The Demand view as a planner sees it (AppTest on pages/demand.py with a logged-in session, small demo company).

Until the page is registered in pages/access.py the app's router does not know it, so the page script is run on its
own with the session state the router leaves behind after login (user name and roles).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from data_access import forecasts
from data_access.engine import make_engine
from data_access.migrate import upgrade
from data_access.queries import last_data_date
from data_access.replenishment import daily_demand
from etl.loader import load_directory
from jobs.forecast import run_forecast
from pages import access

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "demand.py")
#: The entry pages/access.py is to hold (added here for the router test while it does not).
DEMAND = access.PageSpec("pages/demand.py", "Demand", ":material/trending_up:", frozenset({"planner", "production"}))
#: Runs of the template: as of 2026-08-01 (13 weeks, 08-02 to 10-25: all in the history), as of 2026-09-26
#: (13 weeks, 09-27 to 12-20: its first five have actuals) and as of the data end (8 weeks, 11-01 to 12-20).
AS_OF = (dt.date(2026, 8, 1), dt.date(2026, 9, 26), None)
HORIZONS = (13, 13, 8)


def _template(folder: Path, demo_dir: Path, with_runs: bool) -> Path:
    path = folder / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_directory(engine, demo_dir, kind="demo")
    if with_runs:
        for as_of, horizon in zip(AS_OF, HORIZONS, strict=True):
            run_forecast(engine, horizon=horizon, as_of=as_of, user="planner")
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def with_runs(tmp_path_factory, small_demo_dir) -> Path:
    """The small demo with the three runs of ``AS_OF``."""
    return _template(tmp_path_factory.mktemp("demand_runs"), small_demo_dir, with_runs=True)


@pytest.fixture(scope="module")
def without_runs(tmp_path_factory, small_demo_dir) -> Path:
    return _template(tmp_path_factory.mktemp("demand_empty"), small_demo_dir, with_runs=False)


def _database(template: Path, tmp_path: Path, monkeypatch) -> str:
    """A copy of the template for this test only (tests write to it), set as DATABASE_URL."""
    path = tmp_path / "demand.sqlite"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def _page(role: str = "planner") -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = role
    app.session_state["name"] = f"Demo {role}"
    app.session_state["roles"] = [role]
    return app.run()


def _by_label(elements, label: str):
    found = [e for e in elements if e.label == label]
    assert len(found) == 1, (label, [e.label for e in elements])
    return found[0]


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_planner_sees_forecast_accuracy_overrides_and_comparison(with_runs, tmp_path, monkeypatch) -> None:
    _database(with_runs, tmp_path, monkeypatch)
    app = _page()
    assert not app.exception
    assert [s.value for s in app.subheader] == ["Forecast against history", "Accuracy: statistical vs final forecast",
                                                "Overrides", "Compare runs"]
    charts = [json.loads(c.proto.spec)["layout"] for c in app.get("plotly_chart")]
    assert len(charts) == 3  # history + forecast, accuracy, run changes
    for layout in charts:  # every chart has a title and both axis titles, with units
        assert layout["title"]["text"] and layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
    assert charts[0]["title"]["text"] == "Weekly demand and forecast (40 series summed, run #3)"
    assert "units per week" in charts[0]["yaxis"]["title"]["text"]
    metrics = _metrics(app)
    for label in ("Final forecast (units)", "Statistical forecast (units)", "WAPE statistical", "WAPE final",
                  "Forecast value added (WAPE)", "Run #2 (units, common weeks)", "Forecast moved"):
        assert metrics.get(label) not in (None, "", "n/a"), label
    assert metrics["Overrides change"] == "+0.0%"  # no override yet
    assert len(app.get("download_button")) >= 10  # CSV + Excel of every table
    assert any("refreshed every" in c.value for c in app.caption)
    assert any("No override yet" in i.value for i in app.info)
    assert _by_label(app.selectbox, "Measure run").value == 2  # the newest run with weeks passed


def test_planner_adds_and_deactivates_an_override(with_runs, tmp_path, monkeypatch) -> None:
    url = _database(with_runs, tmp_path, monkeypatch)
    app = _page()
    engine = make_engine(url)
    product_id = int(forecasts.forecast_frame(engine, 3)["product_id"].iloc[0])
    _by_label(app.selectbox, "Product").set_value(product_id)
    _by_label(app.date_input, "Override from week ending").set_value(dt.date(2026, 8, 2))  # the measured run too
    _by_label(app.date_input, "Override to week ending").set_value(dt.date(2027, 1, 31))
    _by_label(app.radio, "Kind").set_value("level")
    _by_label(app.number_input, "Value: percent (e.g. 15 or −20), or units per week for a level").set_value(500.0)
    _by_label(app.text_input, "Note (why: promotion, market trend, lost customer, …)").set_value("tender won")
    _by_label(app.button, "Add override").click().run()
    assert not app.exception
    stored = forecasts.overrides(engine)
    assert len(stored) == 1
    row = stored.iloc[0]
    assert (row["created_by"], row["product_id"], row["kind"], row["value"], row["note"]) == (
        "planner", product_id, "level", 500.0, "tender won")
    assert any(s.value == f"Override #{row['id']} added by planner." for s in app.success)
    metrics = _metrics(app)
    assert metrics["Overrides change"] != "+0.0%"  # the final forecast moved
    assert metrics["Forecast value added (WAPE)"] != "+0.0 pp"  # and its accuracy too

    _by_label(app.button, "Deactivate").click().run()
    assert not app.exception
    assert not forecasts.overrides(engine)["active"].any()
    assert _metrics(app)["Overrides change"] == "+0.0%"
    engine.dispose()


def test_without_a_run_the_page_says_what_to_do_and_runs_one(without_runs, tmp_path, monkeypatch) -> None:
    url = _database(without_runs, tmp_path, monkeypatch)
    app = _page()
    assert not app.exception
    infos = " ".join(i.value for i in app.info)
    assert "No forecast run yet: run `python -m jobs forecast` or press **Run forecast**" in infos
    assert "Comparing needs two stored runs" in infos and "No stored run reaches into weeks" in infos
    assert app.get("download_button")  # the demand history is downloadable already
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")]
    assert titles == ["Weekly demand and forecast (40 series summed)"]

    _by_label(app.button, "Run forecast").click().run()
    assert not app.exception
    assert any(s.value.startswith("forecast run 1: 40 series") for s in app.success)
    engine = make_engine(url)
    runs = forecasts.forecast_runs(engine)
    assert runs["created_by"].tolist() == ["planner"] and runs["horizon"].tolist() == [13]
    engine.dispose()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")]
    assert titles[0] == "Weekly demand and forecast (40 series summed, run #1)"


def test_filters_narrow_the_view(with_runs, tmp_path, monkeypatch) -> None:
    url = _database(with_runs, tmp_path, monkeypatch)
    app = _page()
    engine = make_engine(url)
    one = forecasts.forecast_frame(engine, 3).iloc[0]
    engine.dispose()
    _by_label(app.multiselect, "Product").set_value([int(one["product_id"])])
    _by_label(app.multiselect, "Location").set_value([int(one["location_id"])]).run()
    assert not app.exception
    title = json.loads(app.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]
    assert title == "Weekly demand and forecast (1 series, run #3)"
    assert _metrics(app)["Series"] == "1"


def test_other_roles_see_no_planner_controls(with_runs, tmp_path, monkeypatch) -> None:
    _database(with_runs, tmp_path, monkeypatch)
    app = _page("production")
    assert not app.exception
    labels = {b.label for b in app.button}
    assert not labels & {"Run forecast", "Add override", "Deactivate"}
    assert len(app.get("plotly_chart")) == 3


def test_through_the_router_once_registered(with_runs, tmp_path, monkeypatch) -> None:
    """Logged in through app.py with the Demand page registered (as pages/access.py is to register it)."""
    _database(with_runs, tmp_path, monkeypatch)
    if not any(page.path == DEMAND.path for page in access.PAGES):
        monkeypatch.setattr(access, "PAGES", (*access.PAGES, DEMAND))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "planner"
    app.session_state["name"] = "Demo planner"
    app.session_state["roles"] = ["planner"]
    app.run()
    assert DEMAND.path in app.session_state["registered_pages"]
    app.switch_page(DEMAND.path).run()
    assert not app.exception
    assert app.title[0].value == "Demand" and len(app.get("plotly_chart")) == 3 and app.get("download_button")


# --- the weekly actuals: only the weeks shown, the same as the job's history --------------------------------------


def _reference_history(daily: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    """``weekly_history`` as it was first written (one date range per series): the reference of the fast one."""
    stamp = pd.Timestamp(end)
    last_week = stamp - pd.Timedelta(days=(stamp.day_of_week + 1) % 7)
    daily = daily[daily["ds"] <= last_week]
    weekly = (daily.assign(unique_id=daily["product_id"].astype(str) + "@" + daily["location_id"].astype(str))
              .groupby(["unique_id", pd.Grouper(key="ds", freq="W-SUN")])["y"].sum().reset_index())
    first = weekly.groupby("unique_id")["ds"].min()
    grid = pd.concat([pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, last_week, freq="W-SUN")})
                      for uid, start in first.items()], ignore_index=True)
    return grid.merge(weekly, on=["unique_id", "ds"], how="left").fillna({"y": 0.0})


def _reference_actuals(history: pd.DataFrame, start: dt.date | None) -> pd.DataFrame:
    keys = history["unique_id"].astype(str).str.split("@", expand=True)
    frame = pd.DataFrame({"product_id": keys[0], "location_id": keys[1], "period": history["ds"],
                          "y": history["y"]}).astype({"product_id": "int64", "location_id": "int64"})
    if start is not None:
        frame = frame[frame["period"] >= pd.Timestamp(start)]
    return frame.sort_values(["product_id", "location_id", "period"], ignore_index=True)


def test_weekly_actuals_of_the_weeks_shown_are_the_jobs_history(engine: Engine, small_demo_dir: Path) -> None:
    """``weekly_demand`` (summed per week in the database, from ``start`` only) = the job's ``weekly_history`` of
    the daily sums, cut at ``start``; and the vectorised ``weekly_history`` = its first, row-by-row form."""
    load_directory(engine, small_demo_dir, kind="demo")
    end = last_data_date(engine)
    daily = daily_demand(engine, dt.date(1900, 1, 1), end)
    for cut in (end, end - dt.timedelta(days=3), end - dt.timedelta(days=100)):
        history = _reference_history(daily, cut)
        pd.testing.assert_frame_equal(forecasts.weekly_history(daily, cut), history)
        last_week = forecasts.last_complete_week(cut)
        assert last_week == history["ds"].max()
        for start in (None, (last_week - pd.Timedelta(weeks=52)).date(), cut - dt.timedelta(days=30),
                      dt.date(2026, 3, 4)):
            pd.testing.assert_frame_equal(forecasts.weekly_demand(engine, cut, start=start),
                                          _reference_actuals(history, start))
    product_ids = sorted(daily["product_id"].unique())[:3]
    location_ids = sorted(daily["location_id"].unique())[:1]
    some = daily[daily["product_id"].isin(product_ids) & daily["location_id"].isin(location_ids)]
    pd.testing.assert_frame_equal(
        forecasts.weekly_demand(engine, end, start=end - dt.timedelta(days=90), product_ids=product_ids,
                                location_ids=location_ids),
        _reference_actuals(_reference_history(some, end), end - dt.timedelta(days=90)))
    series = forecasts.demand_series(engine, end)
    first = _reference_history(daily, end).groupby("unique_id")["ds"].min()
    assert len(series) == len(first)
    assert dict(zip(series["product_id"].astype(str) + "@" + series["location_id"].astype(str),
                    series["first_period"], strict=True)) == first.to_dict()
