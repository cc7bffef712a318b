"""The order views of issue 7 as their users see them (AppTest on the small demo company, ETAs stored by the backorder
run): Sales (sales), My orders (customer), Logistics (logistics) and Backorders (executive, sales).

Until the pages are registered in pages/access.py the router does not know them, so each page script runs on its own
with the session state the router leaves behind after login (user name and roles), as in tests/test_demand_page.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from analytics.order_service import ROOT_CAUSE_LABELS
from data_access import order_reads, schema
from data_access import promising as store
from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl.loader import load_directory
from jobs.backorders import run_backorders

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "pages"


def _template(folder: Path, demo_dir: Path, *, with_run: bool) -> Path:
    """The small demo, a substitute recorded for every backordered product (another product of its category, so
    the sales representative has an alternative to offer), and with ``with_run`` the backorder run's ETAs."""
    path = folder / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_directory(engine, demo_dir, kind="demo")
    backordered = store.backorder_status(engine)["product_id"].unique()
    catalog = store.product_catalog(engine)
    rows = []
    for product_id in backordered:
        product = catalog.set_index("product_id").loc[product_id]
        others = catalog[(catalog["category"] == product["category"]) & (catalog["product_id"] != product_id)]
        rows.append({"product": product["sku"], "substitute": others["sku"].iloc[0], "rank": 1})
    update = folder / "substitutes"
    update.mkdir()
    pd.DataFrame(rows).to_csv(update / "product_substitutes.csv", index=False)
    load_directory(engine, update, source="substitutes")
    if with_run:
        run_backorders(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def with_etas(tmp_path_factory, small_demo_dir) -> Path:
    return _template(tmp_path_factory.mktemp("orders_run"), small_demo_dir, with_run=True)


@pytest.fixture(scope="module")
def without_etas(tmp_path_factory, small_demo_dir) -> Path:
    return _template(tmp_path_factory.mktemp("orders_no_run"), small_demo_dir, with_run=False)


@pytest.fixture
def database(with_etas, tmp_path, monkeypatch) -> Iterator[Engine]:
    """A copy of the template with ETAs for this test only (tests write to it), set as DATABASE_URL."""
    yield from _copy(with_etas, tmp_path, monkeypatch)


@pytest.fixture
def database_without_etas(without_etas, tmp_path, monkeypatch) -> Iterator[Engine]:
    """A copy of the template without a backorder run, set as DATABASE_URL."""
    yield from _copy(without_etas, tmp_path, monkeypatch)


def _copy(template: Path, tmp_path: Path, monkeypatch) -> Iterator[Engine]:
    path = tmp_path / "orders.sqlite"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _page(name: str, role: str, **state) -> AppTest:
    app = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=180)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = role
    app.session_state["name"] = f"Demo {role}"
    app.session_state["roles"] = [role]
    for key, value in state.items():
        app.session_state[key] = value
    return app.run()


def _by_label(elements, label: str):
    found = [e for e in elements if e.label == label]
    assert len(found) == 1, (label, [e.label for e in elements])
    return found[0]


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def _tables(app: AppTest, column: str) -> list[pd.DataFrame]:
    """The shown tables that have ``column``."""
    return [t.value for t in app.dataframe if column in t.value.columns]


def _text(app: AppTest, kind: str) -> str:
    return " ".join(str(e.value) for e in app.get(kind))


def _check_charts(app: AppTest, count: int) -> list[dict]:
    """Every chart has a title and both axis titles; returns their layouts."""
    layouts = [json.loads(c.proto.spec)["layout"] for c in app.get("plotly_chart")]
    assert len(layouts) == count
    for layout in layouts:
        assert layout["title"]["text"] and layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
    return layouts


def _common(app: AppTest, title: str) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == title
    assert "last load finished" in _text(app, "caption")  # says how fresh its data is


# --- sales --------------------------------------------------------------------------------------------------------------


def test_sales_finds_a_customer_backorder_with_eta_and_alternatives(database) -> None:
    backorders = store.backorder_status(database)
    app = _page("sales", "sales")
    _common(app, "Sales")
    _check_charts(app, 2)  # order value by month, ATP of the promise tool
    assert "Backorder ETAs last computed" in _text(app, "caption")
    assert "`python -m jobs backorders` re-estimates them" in _text(app, "caption")
    assert _by_label(app.button, "Re-estimate ETAs now")

    # the first customer offered is one with a backorder; search narrows the list
    first = _by_label(app.selectbox, "Customer").value
    assert first in set(backorders["customer_id"])
    target = backorders.sort_values("customer").iloc[-1]
    term = str(target["customer_name"]).split()[0]
    _by_label(app.text_input, "Find a customer (name or code)").set_value(term).run()
    picker = _by_label(app.selectbox, "Customer")
    assert picker.options and all(term.lower() in option.lower() for option in picker.options)
    picker.set_value(int(target["customer_id"])).run()
    assert not app.exception
    mine = backorders[backorders["customer_id"] == target["customer_id"]]
    metrics = _metrics(app)
    assert metrics["Backordered lines"] == f"{len(mine):,}"
    assert metrics["Backorder value"] == f"{mine['value'].sum():,.2f}"
    assert metrics["Orders in period"] not in ("", "0")
    shown = _tables(app, "eta_state")[0]
    assert set(shown["order_no"]) == set(mine["order_no"])
    assert shown["eta"].notna().all() and set(shown["eta_state"]) == {"estimated"}
    assert list(shown["eta"]) == list(mine["eta"])

    alternatives = _tables(app, "available_elsewhere")[0]
    assert alternatives["reason"].iloc[0] == "substitute"  # substitutes first
    assert {"available_here", "next_receipt_date", "price_diff"} <= set(alternatives.columns)
    assert len(app.get("download_button")) >= 12  # CSV and Excel of every table


def test_contact_form_logs_who_told_the_customer_what(database) -> None:
    app = _page("sales", "sales")
    order_no = _by_label(app.selectbox, "Order").value
    line_no = _by_label(app.selectbox, "About line").value
    assert line_no is not None  # the selected backordered line is preselected
    _by_label(app.button, "Log contact").click().run()  # nothing written: the message is empty
    assert "Contact not logged: message must not be empty" in _text(app, "error")
    assert store.contact_log(database, order_no).empty

    _by_label(app.selectbox, "Channel").set_value("phone")
    _by_label(app.text_area, "What was the customer told?").set_value("ETA 2026-11-01 confirmed; substitute offered")
    _by_label(app.button, "Log contact").click().run()
    assert not app.exception
    log = store.contact_log(database, order_no)
    assert len(log) == 1
    row = log.iloc[0]
    assert (row["user_name"], row["channel"], row["line_no"], row["message"]) == (
        "sales", "phone", line_no, "ETA 2026-11-01 confirmed; substitute offered")
    assert f"Contact #{row['id']} about order {order_no} logged by sales." in _text(app, "success")
    shown = _tables(app, "message")[0]
    assert shown["user_name"].tolist() == ["sales"]
    with database.connect() as connection:
        audit = connection.execute(select(schema.audit_log.c.user_name).where(
            schema.audit_log.c.action == "order.contact")).scalars().all()
    assert audit == ["sales"]


def test_promise_tool_answers_with_date_and_split_plan(database) -> None:
    line = store.backorder_status(database).iloc[0]
    product_id, location_id = int(line["product_id"]), int(line["location_id"])
    app = _page("sales", "sales")
    app.selectbox(key="promise_product").set_value(product_id)
    app.selectbox(key="promise_location").set_value(location_id)
    requested = pd.Timestamp("2026-11-07").date()
    _by_label(app.date_input, "Requested date").set_value(requested)
    _by_label(app.number_input, "Quantity (units)").set_value(5.0).run()
    assert not app.exception
    expected = store.promise(database, product_id, location_id, 5.0, requested)
    metrics = _metrics(app)
    assert metrics["Earliest date (whole quantity)"] == (f"{expected.date:%Y-%m-%d}" if expected.date
                                                         else "not covered")
    plan = _tables(app, "how")[0]
    assert len(plan) == len(expected.pieces) and plan["qty"].sum() == pytest.approx(expected.qty_covered)
    assert set(_tables(app, "status_text")[0]["location"]) >= {line["location"]}

    _by_label(app.number_input, "Quantity (units)").set_value(1_000_000.0).run()  # more than any known supply
    assert _metrics(app)["Earliest date (whole quantity)"] == "not covered"
    assert "have no date yet" in _text(app, "error")


def test_without_etas_the_page_says_what_to_do_and_re_estimates(database_without_etas) -> None:
    engine = database_without_etas
    app = _page("sales", "sales")
    assert not app.exception
    assert "No ETAs yet: run `python -m jobs backorders` or press **Re-estimate ETAs now**" in _text(app, "warning")
    assert "have no ETA yet" in _text(app, "warning")
    _by_label(app.button, "Re-estimate ETAs now").click().run()
    assert not app.exception
    assert "ETAs re-estimated as of 2026-10-31 by sales" in _text(app, "success")
    assert "No ETAs yet" not in _text(app, "warning")
    assert order_reads.last_eta_run(engine)[1] == "sales"
    assert store.stored_etas(engine)["eta"].notna().any()


def test_other_roles_cannot_re_estimate(database) -> None:
    app = _page("sales", "executive")
    assert not app.exception
    assert "Re-estimate ETAs now" not in {b.label for b in app.button}


# --- customer portal ----------------------------------------------------------------------------------------------------


def _order_numbers(app: AppTest) -> set[str]:
    return {str(v) for table in _tables(app, "order_no") for v in table["order_no"]}


def test_customer_portal_in_demo_mode_shows_the_most_backordered_customer_only(database) -> None:
    backorders = store.backorder_status(database)
    open_lines = store.open_order_lines(database)
    demo_id = order_reads.customer_with_most_backorders(database, pd.Timestamp("2026-10-31").date())
    customer = order_reads.customers(database).set_index("customer_id").loc[demo_id]
    app = _page("customer", "customer")
    _common(app, "My orders")
    assert f"Demo: showing customer {customer['code']}" in _text(app, "info")
    mine = open_lines[open_lines["customer_id"] == demo_id]
    assert _order_numbers(app) == set(mine["order_no"])  # only this customer's lines, all of them
    metrics = _metrics(app)
    assert metrics["Open order lines"] == f"{len(mine):,}"
    assert metrics["Backordered lines"] == f"{(backorders['customer_id'] == demo_id).sum():,}"
    waiting = _tables(app, "eta_state")[0]
    assert waiting["eta"].notna().all()
    _check_charts(app, 1)


def test_customer_portal_for_a_logged_in_customer(database) -> None:
    open_lines = store.open_order_lines(database)
    counts = open_lines["customer"].value_counts()
    code = counts.index[0]  # the customer with the most open lines (backordered or not)
    app = _page("customer", "customer", customer_code=code)
    assert not app.exception
    assert "Demo:" not in _text(app, "info")
    assert _order_numbers(app) == set(open_lines.loc[open_lines["customer"] == code, "order_no"])
    others = set(open_lines.loc[open_lines["customer"] != code, "order_no"]) - set(
        open_lines.loc[open_lines["customer"] == code, "order_no"])
    assert not _order_numbers(app) & others

    # availability before ordering: the answer matches promise()
    line = open_lines[open_lines["customer"] == code].iloc[0]
    _by_label(app.selectbox, "Product").set_value(int(line["product_id"]))
    _by_label(app.selectbox, "Ship from").set_value(int(line["location_id"]))
    _by_label(app.number_input, "Quantity (units)").set_value(3.0).run()
    assert not app.exception
    as_of = pd.Timestamp("2026-10-31").date()
    expected = store.promise(database, int(line["product_id"]), int(line["location_id"]), 3.0, as_of)
    metrics = _metrics(app)
    assert metrics["Earliest ship date for 3 unit(s)"] == (f"{expected.date:%Y-%m-%d}" if expected.date
                                                           else "no date yet")
    assert metrics[f"At {line['location']}"].startswith(("In stock", "Partly in stock", "Available from",
                                                          "Backordered"))


def test_customer_portal_refuses_an_unknown_customer_code(database) -> None:
    app = _page("customer", "customer", customer_code="NOPE-1")
    assert not app.exception
    assert "linked to customer NOPE-1, which is not in our customer list" in _text(app, "error")
    assert not app.dataframe


# --- logistics ----------------------------------------------------------------------------------------------------------


def test_logistics_lists_delays_and_filters_by_carrier(database) -> None:
    delays = store.shipment_delays(database)
    delayed = delays[delays["delayed"]]
    assert len(delayed) > 0
    app = _page("logistics", "logistics")
    _common(app, "Logistics")
    metrics = _metrics(app)
    assert metrics["In transit"] == f"{len(delays):,}"
    assert metrics["Delayed"] == f"{len(delayed):,}"
    assert metrics["Customers affected"] == f"{delayed['customer_id'].nunique():,}"
    layouts = _check_charts(app, 1)
    assert layouts[0]["title"]["text"].startswith("Shipments in transit by carrier, delayed vs on track")
    listed = [t for t in _tables(app, "reason") if (t["reason"] != "on track").all()][0]
    assert set(listed["shipment_no"]) == set(delayed["shipment_no"])
    assert (listed["days_late"] >= 0).all() and listed["tracking_no"].notna().all()
    assert set(_tables(app, "max_days_late")[-1]["customer"]) == set(delayed["customer"])

    carrier = delayed["carrier"].value_counts().index[0]
    _by_label(app.multiselect, "Carrier").set_value([carrier]).run()
    assert not app.exception
    assert _metrics(app)["Delayed"] == f"{(delayed['carrier'] == carrier).sum():,}"
    assert _metrics(app)["In transit"] == f"{(delays['carrier'] == carrier).sum():,}"
    _by_label(app.toggle, "Only delayed shipments").set_value(True).run()
    assert _metrics(app)["In transit"] == _metrics(app)["Delayed"]


# --- backorders (executive) ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["executive", "sales"])
def test_backorders_rate_trend_and_root_cause_drill_down(database, role) -> None:
    app = _page("backorders", role)
    _common(app, "Backorders")
    layouts = _check_charts(app, 4)
    assert "% of lines due" in layouts[0]["yaxis"]["title"]["text"]
    metrics = _metrics(app)
    assert metrics["Backorder rate (lines)"].endswith("%") and metrics["Lines backordered"] not in ("", "0")
    causes = _tables(app, "share")[0]
    assert causes["lines"].sum() == int(metrics["Lines backordered"].replace(",", ""))

    as_of = pd.Timestamp("2026-10-31").date()
    classified = store.root_causes(database, as_of, as_of - pd.Timedelta(days=365))
    counts = classified["root_cause"].value_counts()
    picker = _by_label(app.selectbox, "Drill down into")
    assert picker.value == counts.index[0]  # the leading cause first
    cause = counts.index[-1]
    picker.set_value(cause).run()
    assert not app.exception
    assert f"{ROOT_CAUSE_LABELS[cause]}: {counts[cause]:,} lines" in [s.value for s in app.subheader]
    lines = _tables(app, "cause_reference")[0]
    expected = classified[classified["root_cause"] == cause]
    assert len(lines) == len(expected)
    assert set(zip(lines["order_no"], lines["line_no"], strict=True)) == set(
        zip(expected["order_no"], expected["line_no"], strict=True))

    _by_label(app.radio, "By").set_value("segment").run()
    assert not app.exception
    assert "customer segment" in json.loads(app.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]


def test_backorders_filter_narrows_causes_to_a_category(database) -> None:
    as_of = pd.Timestamp("2026-10-31").date()
    classified = store.root_causes(database, as_of, as_of - pd.Timedelta(days=365))
    app = _page("backorders", "executive")
    categories = _by_label(app.multiselect, "Product category")
    busiest = classified["category"].value_counts().index[0]
    categories.set_value([busiest]).run()
    assert not app.exception
    lines = _tables(app, "cause_reference")[0]
    expected = classified[(classified["category"] == busiest)]
    assert set(lines["category"]) == {busiest}
    assert len(lines) == expected["root_cause"].value_counts().iloc[0]  # the leading cause of that category

    quiet = sorted(set(categories.options) - set(classified["category"]))
    if quiet:  # a category without backorders in the period says what to do
        _by_label(app.multiselect, "Product category").set_value([quiet[0]]).run()
        assert not app.exception
        assert "No backordered line in this period and selection" in _text(app, "info")


def test_no_order_page_breaks_on_an_empty_database(tmp_path, monkeypatch) -> None:
    path = tmp_path / "empty.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    for name, role in (("sales", "sales"), ("customer", "customer"), ("logistics", "logistics"),
                       ("backorders", "executive")):
        app = _page(name, role)
        assert not app.exception, name
        assert "python -m etl" in _text(app, "info") or "try again later" in _text(app, "info"), name


def test_every_order_page_on_both_backends(engine, small_demo_dir, monkeypatch) -> None:
    """The four views and the contact form on SQLite and PostgreSQL (the conftest ``engine``), same figures."""
    load_directory(engine, small_demo_dir, kind="demo")
    run_backorders(engine)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    backorders = store.backorder_status(engine)
    delays = store.shipment_delays(engine)
    sales = _page("sales", "sales")
    _common(sales, "Sales")
    chosen = _by_label(sales.selectbox, "Customer").value
    assert _metrics(sales)["Backordered lines"] == f"{(backorders['customer_id'] == chosen).sum():,}"
    order_no = _by_label(sales.selectbox, "Order").value
    _by_label(sales.text_area, "What was the customer told?").set_value("Told the ETA")
    _by_label(sales.button, "Log contact").click().run()
    assert store.contact_log(engine, order_no)["user_name"].tolist() == ["sales"]
    customer = _page("customer", "customer")
    _common(customer, "My orders")
    logistics = _page("logistics", "logistics")
    _common(logistics, "Logistics")
    assert _metrics(logistics)["Delayed"] == f"{int(delays['delayed'].sum()):,}"
    executive = _page("backorders", "executive")
    _common(executive, "Backorders")
    assert _tables(executive, "cause_reference")


def test_customer_portal_in_production_mode_needs_a_customer_code(database, monkeypatch) -> None:
    monkeypatch.setenv("APP_MODE", "production")
    app = _page("customer", "customer")
    assert not app.exception
    assert "Your login is not linked to a customer" in _text(app, "error")
    assert not app.dataframe and not app.metric
    admin = _page("customer", "admin")  # an administrator previews the portal
    assert "Preview for an administrator: showing customer" in _text(admin, "info")
