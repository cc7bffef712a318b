"""The app as a person sees it: AppTest logs in as each role and renders every page that role may open.

Forbidden pages are not registered at all (so a URL cannot reach them); the login page lists
the demo users; production mode refuses to start without a cookie key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl.loader import load_directory
from pages import access

APP = str(Path(__file__).resolve().parents[1] / "app.py")
#: What each page must show, by title: metric labels whose values must be filled in.
KEY_METRICS = {
    "Overview": ("Revenue (net of discounts)", "Orders", "On-time delivery", "Fill rate (units)",
                 "Backorder rate (lines)", "Gross margin", "On hand (units)", "Inventory turnover (per year)"),
    "Inventory": ("On hand (units)", "Stock value (standard cost)", "Low-stock items"),
    "Replenishment": (),
    "Finance": ("Inventory value (FIFO)", "COGS to date", "Backorder cost", "Lost sales (revenue)"),
}


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory, small_demo_dir) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'app.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, small_demo_dir, kind="demo")
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def _fresh_caches():
    """AppTests share the process: cached query results of another test's database must not leak in."""
    import streamlit as st

    st.cache_data.clear()
    yield


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
        for label in KEY_METRICS.get(page.title, ()):
            assert metrics.get(label) not in (None, "", "n/a"), (role, page.title, label)
        if page.title != "Replenishment":  # its table (and export) appears once a run has proposed something
            assert app.get("download_button"), (role, page.title)
    # Only the allowed pages are registered with st.navigation, so no URL reaches the others.
    # (AppTest.switch_page runs any script it is given, so registration is what is checked here.)
    assert app.session_state["registered_pages"] == [p.path for p in allowed]


def test_roles_to_pages() -> None:
    assert [p.title for p in access.pages_for(["admin"])] == [p.title for p in access.PAGES]
    assert [p.title for p in access.pages_for(["finance"])] == ["Overview", "Finance"]
    assert [p.title for p in access.pages_for(["warehouse"])] == ["Inventory"]
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
    app.button[0].click().run()  # Run now
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
