"""The app as a person sees it: AppTest logs in as each role and renders every page that role may open.

Forbidden pages are not registered at all (so a URL cannot reach them); the login page lists
the demo users; production mode refuses to start without a cookie key. The planner's what-if answers
a moved control with a different outcome; the admin drills into a load's rejected rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl.loader import load_directory
from jobs.forecast import run_forecast
from pages import access

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

APP = str(Path(__file__).resolve().parents[1] / "app.py")
#: What each page must show, by title: metric labels whose values must be filled in.
KEY_METRICS = {
    "Overview": ("Revenue (net of discounts)", "Orders", "On-time delivery", "Fill rate (units)",
                 "Backorder rate (lines)", "Gross margin", "On hand (units)", "Inventory turnover (per year)"),
    "Inventory": ("On hand (units)", "Stock value (standard cost)", "Low-stock items"),
    "Replenishment": ("Fill rate (simulated)", "Stockout days", "Avg on hand (units)", "Avg inventory value",
                      "Orders placed", "Cost, 365 days"),
    "Sales": ("Orders in period", "Open order lines", "Backordered lines"),
    "Backorders": ("Backorder rate (lines)", "Lines backordered"),
    "Logistics": ("In transit", "Delayed", "Customers affected"),
    "My orders": ("Open order lines", "Backordered lines"),
    "Demand": ("Final forecast (units)", "Statistical forecast (units)", "Series"),
    "Production": ("Made item-locations", "On hand (units)", "Stock value", "Open production orders",
                   "Efficiency (12 mo)", "Overproduced (12 mo)"),
    "Finance": ("Inventory value (FIFO)", "COGS to date", "Backorder cost", "Lost sales (revenue)"),
    "Warehouse": ("Open lines due", "Backorder lines", "Lines to pick now"),
    "Marketing": ("NPS", "Responses", "Comments scored"),
    "Admin": ("Loads recorded", "Last load (#2)", "Rows loaded (last load)", "Rows rejected (all loads)"),
}
#: A page a role may open shows a title; these must appear in it too (captions say how fresh the data is).
FRESHNESS = "last load finished"


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory, small_demo_dir, supplier_update_dir) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'app.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, small_demo_dir, kind="demo")
    load_directory(engine, supplier_update_dir, source="supplier-update")
    run_forecast(engine, horizon=8, user="planner")  # the Demand and Production views show a stored run
    engine.dispose()
    return url


def _logged_in(role: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = role
    app.session_state["name"] = f"Demo {role}"
    app.session_state["roles"] = [role]
    return app


def test_login_page_lists_demo_users(monkeypatch, demo_database: str) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_database)
    app = AppTest.from_file(APP, default_timeout=180).run()
    assert not app.exception
    assert any("password **demo**" in i.value for i in app.info)
    assert [t.label for t in app.text_input] == ["Username", "Password"]
    assert not app.metric  # nothing shown before login


@pytest.mark.parametrize("role", access.ROLES)
def test_each_role_sees_exactly_its_pages(monkeypatch, demo_database: str, role: str) -> None:
    """Every page a role may open renders with its key numbers; no other page is registered."""
    monkeypatch.setenv("DATABASE_URL", demo_database)
    allowed = [p for p in access.pages_for([role])]
    app = _logged_in(role).run()
    assert not app.exception
    if not allowed:
        assert any("no page yet" in w.value for w in app.warning)
        return
    for page in allowed:
        app.switch_page(page.path).run()
        assert not app.exception, (role, page.title, app.exception)
        metrics = {m.label: m.value for m in app.metric}
        for label in KEY_METRICS[page.title]:
            assert metrics.get(label) not in (None, "", "n/a"), (role, page.title, label)
        assert app.get("download_button"), (role, page.title)
        assert any(FRESHNESS in c.value for c in app.caption), (role, page.title)
        assert [t.value for t in app.title] == [page.title]
    # Only the allowed pages are registered with st.navigation, so no URL reaches the others.
    # (AppTest.switch_page runs any script it is given, so registration is what is checked here.)
    assert app.session_state["registered_pages"] == [p.path for p in allowed]


def test_roles_to_pages() -> None:
    assert [p.title for p in access.pages_for(["admin"])] == [p.title for p in access.PAGES]
    assert [p.title for p in access.pages_for(["finance"])] == ["Overview", "Finance"]
    assert [p.title for p in access.pages_for(["production"])] == ["Overview", "Inventory", "Replenishment",
                                                                   "Demand", "Production"]
    assert "Admin" not in [p.title for p in access.pages_for(["planner", "finance", "production"])]
    matrix = {row["role"]: row for row in access.role_page_matrix()}
    assert matrix["admin"]["Admin"] and matrix["production"]["Production"] and not matrix["sales"]["Production"]
    users = {u["username"]: u for u in access.user_directory("demo")}
    assert set(users) == set(access.ROLES)
    assert users["finance"]["roles"] == ["finance"] and users["finance"]["pages"] == ["Overview", "Finance"]
    assert all("password" not in u for u in users.values())
    assert [p.title for p in access.pages_for(["warehouse"])] == ["Inventory", "Warehouse"]
    assert [p.title for p in access.pages_for(["marketing"])] == ["Overview", "Marketing"]
    assert "Finance" not in [p.title for p in access.pages_for(["sales"])]
    assert access.pages_for([]) == []


def test_production_mode_refuses_to_start_without_cookie_key(monkeypatch, demo_database: str, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_database)
    monkeypatch.setenv("APP_MODE", "production")
    monkeypatch.delenv("AUTH_COOKIE_KEY", raising=False)
    monkeypatch.setenv("USERS_FILE", str(tmp_path / "users.yaml"))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert any("cookie key" in e.value for e in app.error)
    assert not app.text_input  # no login form: the app does not start
    monkeypatch.setenv("AUTH_COOKIE_KEY", "x" * 32)
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert any("users file" in e.value for e in app.error)


def test_empty_embedded_database_is_filled_on_first_run(monkeypatch, tmp_path: Path) -> None:
    """The embedded default fills an empty database with the demo company on first run."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    monkeypatch.setenv("DEMO_SCALE", "small")
    app = _logged_in("executive").run()
    assert not app.exception
    assert {m.label for m in app.metric} >= {"Orders", "Revenue (net of discounts)"}


def test_planner_runs_replenishment_and_approves_a_proposal(monkeypatch, tmp_path, small_demo_dir) -> None:
    """Run now → open proposals with their numbers → approve one → it becomes an order."""
    url = f"sqlite:///{tmp_path / 'planner.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, small_demo_dir, kind="demo")
    monkeypatch.setenv("DATABASE_URL", url)
    app = _logged_in("planner").run()
    app.switch_page("pages/replenishment.py").run()
    assert not app.exception
    assert any("No open proposal" in i.value for i in app.info)
    next(b for b in app.button if b.label == "Run now").click().run()
    assert not app.exception
    assert any("new proposals" in s.value for s in app.success)
    assert any(h.value.startswith("Open proposals (") and h.value != "Open proposals (0)" for h in app.subheader)

    from data_access import replenishment

    open_before = replenishment.proposals(engine, status="proposed")
    first = int(open_before["id"].iloc[0])
    approved = replenishment.approve_many(engine, [first], "planner")  # what the Approve button calls
    assert approved and replenishment.proposals(engine, status="ordered")["id"].tolist() == [first]
    app.run()
    assert not app.exception
    engine.dispose()


def _percent(text: str) -> float:
    return float(text.rstrip("%").replace(",", ""))


def test_planner_whatif_answers_a_moved_control(monkeypatch, demo_database: str) -> None:
    """Moving the service level, the policy or the scope changes the simulated outcome and the curve."""
    monkeypatch.setenv("DATABASE_URL", demo_database)
    app = _logged_in("planner").run()
    app.switch_page("pages/replenishment.py").run()

    def outcome() -> dict[str, str]:
        assert not app.exception
        return {m.label: m.value for m in app.metric}

    app.radio(key="wi_scope").set_value("all").run()
    base = outcome()
    assert base["Fill rate (simulated)"].endswith("%")
    assert not any(m.delta for m in app.metric)  # the run's own settings: nothing to compare
    app.slider(key="wi_service").set_value(99.5).run()
    higher = outcome()
    assert higher["Avg inventory value"] != base["Avg inventory value"]
    assert _percent(higher["Fill rate (simulated)"]) >= _percent(base["Fill rate (simulated)"])
    assert any(m.delta for m in app.metric)  # compared with the automatic run's settings
    app.selectbox(key="wi_policy").set_value("RS").run()
    assert outcome()["Orders placed"] != higher["Orders placed"]
    app.slider(key="wi_mult").set_value(2.0).run()
    assert outcome()["Avg inventory value"] != higher["Avg inventory value"]
    charts = app.get("plotly_chart")
    assert len(charts) >= 2
    figure = json.loads(charts[0].proto.spec)
    assert figure["layout"]["title"]["text"].startswith("Service vs inventory investment")
    assert "currency" in figure["layout"]["xaxis"]["title"]["text"]
    assert "%" in figure["layout"]["yaxis"]["title"]["text"]


def test_admin_drills_into_rejected_rows(monkeypatch, demo_database: str) -> None:
    """The load with rejects is picked by default; its rejected rows show with their reasons."""
    monkeypatch.setenv("DATABASE_URL", demo_database)
    app = _logged_in("admin").run()
    app.switch_page("pages/admin.py").run()
    assert not app.exception
    assert {m.label: m.value for m in app.metric}["Rows rejected (all loads)"] == "2"
    tables = [t.value for t in app.dataframe]
    rejects = next(t for t in tables if "reason" in t.columns and "row_number" in t.columns)
    assert sorted(rejects["reason"]) == ["must be >= 0", "required value missing"]
    users = next(t for t in tables if "username" in t.columns)
    assert set(users["username"]) == set(access.ROLES)
    matrix = next(t for t in tables if "role" in t.columns)
    assert bool(matrix.set_index("role").loc["admin"].all())
