"""The automatic replenishment run on a hand-built company and on the small demo (both backends)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import socket
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, insert, select, update

from data_access import notifications, schema
from data_access.replenishment import approve_many, decide_proposal, item_locations_state, proposals, reject_many
from etl.loader import load_directory
from jobs.__main__ import main as jobs_main
from jobs.notify import send_pending
from jobs.replenish import run_replenishment

AS_OF = dt.date(2024, 6, 30)
WINDOW_START = AS_OF - dt.timedelta(days=179)  # the default 180-day history window: 2024-01-03 .. 2024-06-30
Z95 = statistics.NormalDist().inv_cdf(0.95)


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)


@pytest.fixture
def tiny_company(tmp_path: Path) -> Path:
    """Six products, hand-sized (see the comments in the tests for every number).

    P1 (S1, MOQ 50, multiple 12): 10 units every other day; on hand 30, open PO 20, backorder 10.
    P2 (S1): 5 a day, on hand 1000 (above its trigger); its two received POs give S1's lead time (6, 8 days).
    P3 (S2, no history: lead time 10 ± 2 from dim_supplier): 3 a day, on hand 20.
    P4 (S1, planner's reorder point 250): 2 a day, on hand 200.
    P5 (S2, multiple 5): 1 a day, on hand 0.
    M1 (made at the plant, 5 days, MOQ 100, multiple 25): 10 a day, on hand 10.
    """
    folder = tmp_path / "tiny"
    folder.mkdir()
    _write(folder, "locations", [{"code": "WH", "name": "Warehouse", "kind": "warehouse"},
                                 {"code": "PL", "name": "Plant", "kind": "plant"}])
    _write(folder, "suppliers", [
        {"code": "S1", "name": "First", "lead_time_mean_days": 20, "lead_time_std_days": 5},
        {"code": "S2", "name": "Second", "lead_time_mean_days": 10, "lead_time_std_days": 2},
    ])
    product = {"category": "Parts", "unit_cost": 3, "unit_price": 5, "make_or_buy": "buy"}
    _write(folder, "products", [
        {**product, "sku": "P1", "name": "One", "supplier": "S1", "moq": 50, "order_multiple": 12},
        {**product, "sku": "P2", "name": "Two", "supplier": "S1", "moq": 0, "order_multiple": 1},
        {**product, "sku": "P3", "name": "Three", "supplier": "S2", "moq": 0, "order_multiple": 1},
        {**product, "sku": "P4", "name": "Four", "supplier": "S1", "moq": 0, "order_multiple": 1, "reorder_point": 250},
        {**product, "sku": "P5", "name": "Five", "supplier": "S2", "moq": 0, "order_multiple": 5},
        {**product, "sku": "M1", "name": "Made", "make_or_buy": "make", "lead_time_days": 5, "moq": 100,
         "order_multiple": 25},
    ])
    _write(folder, "customers", [{"code": "C1", "name": "Customer"}])
    lines, shipments = [], []
    daily = {"P2": ("WH", 5), "P3": ("WH", 3), "P4": ("WH", 2), "P5": ("WH", 1), "M1": ("PL", 10)}
    for day in range(180):
        date = WINDOW_START + dt.timedelta(days=day)
        sales = [(sku, loc, qty) for sku, (loc, qty) in daily.items()]
        if day % 2 == 0:
            sales.append(("P1", "WH", 10))
        for sku, loc, qty in sales:
            order_no = f"SO-{sku}-{day:03d}"
            backorder = sku == "P1" and date == AS_OF - dt.timedelta(days=1)  # 06-29: 10 units not shipped
            lines.append({"order_no": order_no, "line_no": 1, "customer": "C1", "product": sku, "location": loc,
                          "order_date": date, "requested_date": date, "qty_ordered": qty,
                          "qty_shipped": 0 if backorder else qty, "unit_price": 5,
                          "status": "open" if backorder else "shipped"})
            if not backorder:
                shipments.append({"shipment_no": f"SH-{sku}-{day:03d}", "order_no": order_no, "line_no": 1,
                                  "ship_date": date, "qty": qty, "status": "delivered"})
    _write(folder, "sales_order_lines", lines)
    _write(folder, "shipments", shipments)
    on_hand = {"P1": ("WH", 30), "P2": ("WH", 1000), "P3": ("WH", 20), "P4": ("WH", 200), "P5": ("WH", 0),
               "M1": ("PL", 10)}
    _write(folder, "inventory_movements", [
        {"movement_no": f"M-{sku}", "ts": "2024-01-01 08:00:00", "product": sku, "location": loc, "qty": qty,
         "kind": "adjustment", "unit_cost": 3}
        for sku, (loc, qty) in on_hand.items()
    ])
    po = {"supplier": "S1", "location": "WH", "line_no": 1}
    _write(folder, "purchase_order_lines", [
        {**po, "po_no": "PO-A", "product": "P2", "order_date": "2024-02-01", "expected_date": "2024-02-07",
         "received_date": "2024-02-07", "qty_ordered": 100, "qty_received": 100, "status": "received"},
        {**po, "po_no": "PO-B", "product": "P2", "order_date": "2024-03-01", "expected_date": "2024-03-08",
         "received_date": "2024-03-09", "qty_ordered": 100, "qty_received": 100, "status": "received"},
        {**po, "po_no": "PO-C", "product": "P1", "order_date": "2024-06-20", "expected_date": "2024-06-27",
         "qty_ordered": 20, "status": "open"},
    ])
    return folder


def _load(engine: Engine, folder: Path) -> None:
    load_directory(engine, folder, today=dt.date(2024, 7, 1))


def _ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(select(schema.dim_product.c.sku, schema.dim_product.c.id)).all())


def _open_by_sku(engine: Engine) -> dict[str, dict]:
    frame = proposals(engine, status=("proposed", "approved"))
    return {row["sku"]: row for row in frame.to_dict("records")}


def _set_on_hand(engine: Engine, product_id: int, on_hand: float) -> None:
    """Stand-in for new stock data: the latest snapshot of a product says ``on_hand``."""
    snap = schema.fact_inventory_snapshot
    with engine.begin() as connection:
        connection.execute(update(snap).where(snap.c.product_id == product_id, snap.c.snapshot_date == AS_OF)
                           .values(on_hand=on_hand))


def _s(mu: float, sigma: float, lead: float, lead_std: float) -> float:
    """Reorder point s = μL + z·sqrt(L·σ² + μ²·σL²) at α = 0.95."""
    return mu * lead + Z95 * math.sqrt(lead * sigma**2 + mu**2 * lead_std**2)


def _round(q: float, moq: float, multiple: float) -> float:
    """At least the MOQ, then up to a multiple."""
    return math.ceil(max(q, moq) / multiple) * multiple


def _first_runs(engine: Engine) -> None:
    """Hand-computed proposals; P2 above its trigger gets none; a second run proposes nothing new."""
    state = item_locations_state(engine, AS_OF).set_index("sku")
    assert state.loc["P1", ["on_hand", "on_order", "backordered"]].tolist() == [30, 20, 10]

    first = run_replenishment(engine, recipient="buyer@example.com")
    assert first.as_of == AS_OF  # the last day of data
    assert first.counts["created"] == 5 and first.counts["items"] == 6
    made = _open_by_sku(engine)
    assert set(made) == {"P1", "P3", "P4", "P5", "M1"}  # P2: IP 1000 far above s ≈ 46.6

    # P1: μ = 5/day, σ = sample std of 180 days alternating 10, 0; S1's lead time from POs A and B: 6 and 8 days.
    sigma = float(np.std(np.tile([10.0, 0.0], 90), ddof=1))
    s1 = _s(5, sigma, 7, math.sqrt(2))
    q1 = _round(5 * 14, 50, 12)  # Q = 14 days of demand, rounded: 70 → 72
    ip1 = 30 + 20 - 10
    assert ip1 <= s1
    p1 = made["P1"]
    assert p1["qty"] == _round(s1 + q1 - ip1, 50, 12) == 96  # S − IP = 91.7 → 8 packs of 12
    assert p1["kind"] == "purchase" and p1["supplier"] == "S1" and p1["policy"] == "sS"
    assert p1["order_date"].date() == AS_OF and p1["due_date"].date() == dt.date(2024, 7, 7)  # + 7 days
    why = p1["rationale"]
    assert why["inventory_position"] == ip1 and why["on_hand"] == 30 and why["on_order"] == 20
    assert why["backordered"] == 10 and why["demand_source"] == "history"
    assert why["demand_mean"] == pytest.approx(5) and why["demand_std"] == pytest.approx(sigma)
    assert why["lead_time_source"] == "po_history" and why["lead_time_mean"] == pytest.approx(7)
    assert why["lead_time_std"] == pytest.approx(math.sqrt(2))
    assert why["reorder_point"] == pytest.approx(s1) and why["trigger"] == pytest.approx(s1)
    assert why["safety_stock"] == pytest.approx(s1 - 35) and why["order_up_to"] == pytest.approx(s1 + q1)
    assert why["net_requirement"] == pytest.approx(s1 + q1 - ip1) and why["qty"] == 96

    # P3: S2 has no receipts: dim_supplier's 10 ± 2 days; σ = 0 (3 every day).
    s3 = _s(3, 0, 10, 2)
    assert made["P3"]["qty"] == _round(s3 + 42 - 20, 0, 1) == 62
    assert made["P3"]["rationale"]["lead_time_source"] == "supplier"
    assert made["P3"]["due_date"].date() == dt.date(2024, 7, 10)
    # P4: the statistical s ≈ 18.7 is below the planner's reorder point 250, which is the floor: S = 250 + 28.
    assert _s(2, 0, 7, math.sqrt(2)) < 200 < 250
    assert made["P4"]["qty"] == 250 + 28 - 200 and made["P4"]["rationale"]["floor_applied"] is True
    # P5: Q = 14 → 15 (multiple 5); S = s + 15; IP 0.
    assert made["P5"]["qty"] == _round(_s(1, 0, 10, 2) + 15, 0, 5) == 30
    # M1: made, production proposal; L = 5 days (product), Q = 140 → 150; S − IP = 50 + 150 − 10 → 200.
    assert made["M1"]["kind"] == "production" and pd.isna(made["M1"]["supplier"])
    assert made["M1"]["qty"] == 200 and made["M1"]["due_date"].date() == dt.date(2024, 7, 5)
    for row in made.values():
        assert row["rationale"]["inventory_position"] <= row["rationale"]["trigger"]

    # low-stock notices: one per supplier, one for production
    outbox = notifications.recent(engine)
    assert len(outbox) == 3 == first.notifications
    assert set(outbox["recipient"]) == {"buyer@example.com"}
    subjects = sorted(outbox["subject"])
    assert subjects[0].startswith("Low stock: 1 item(s) to produce")
    assert "2 item(s) to order from S1" in subjects[1] and "to order from S2, 1 out of stock" in subjects[2]

    second = run_replenishment(engine, recipient="buyer@example.com")
    assert second.counts["created"] == 0 and second.counts["unchanged"] == 5 and second.notifications == 0
    assert len(proposals(engine)) == 5 and len(notifications.recent(engine)) == 3

    # a different need refreshes the open proposal in place (same id, new qty)
    ids = _ids(engine)
    _set_on_hand(engine, ids["P3"], 15)
    third = run_replenishment(engine)
    assert third.counts["updated"] == 1 and third.counts["created"] == 0
    refreshed = _open_by_sku(engine)["P3"]
    assert refreshed["id"] == made["P3"]["id"] and refreshed["qty"] == _round(s3 + 42 - 15, 0, 1) == 67


def _decisions(engine: Engine) -> None:
    """Approve (grouped POs, re-rounded edit, production order), reject (remembered until the need grows)."""
    made = _open_by_sku(engine)
    ids = _ids(engine)

    assert reject_many(engine, [made["P3"]["id"]], user="ana", reason="phase-out") == 1
    again = run_replenishment(engine)
    assert again.counts["rejected_before"] == 1 and again.counts["created"] == 0

    orders = approve_many(engine, [made[s]["id"] for s in ("P1", "P4", "P5")], user="ana")
    by_sku = {sku: next(o for o in orders if o.proposal_id == made[sku]["id"]) for sku in ("P1", "P4", "P5")}
    s1_po = f"AUTO-PO-20240630-S1-{min(made['P1']['id'], made['P4']['id'])}"
    assert (by_sku["P1"].order_no, by_sku["P1"].line_no) == (s1_po, 1)  # one PO for S1, lines by sku
    assert (by_sku["P4"].order_no, by_sku["P4"].line_no) == (s1_po, 2)
    assert by_sku["P5"].order_no == f"AUTO-PO-20240630-S2-{made['P5']['id']}"
    po = schema.fact_purchase_order_line
    with engine.connect() as connection:
        rows = connection.execute(
            select(po.c.po_no, po.c.line_no, po.c.product_id, po.c.qty_ordered, po.c.order_date, po.c.expected_date,
                   po.c.status, po.c.origin).where(po.c.origin == "auto").order_by(po.c.po_no, po.c.line_no)
        ).all()
    assert [(r.po_no, r.line_no, r.product_id, r.qty_ordered) for r in rows] == [
        (s1_po, 1, ids["P1"], 96), (s1_po, 2, ids["P4"], 78), (by_sku["P5"].order_no, 1, ids["P5"], 30)]
    assert [(r.order_date, r.expected_date) for r in rows] == [
        (AS_OF, dt.date(2024, 7, 7)), (AS_OF, dt.date(2024, 7, 7)), (AS_OF, dt.date(2024, 7, 10))]
    assert {(r.status, r.origin) for r in rows} == {("open", "auto")}
    snap = schema.fact_inventory_snapshot
    with engine.connect() as connection:  # the snapshots show the new order on order at once
        on_order = connection.execute(select(snap.c.on_order).where(
            snap.c.product_id == ids["P1"], snap.c.snapshot_date == AS_OF)).scalars().all()
    assert sum(on_order) >= 96

    # the production proposal approved with an edited quantity: 130 → 150 (MOQ 100, multiple 25)
    mo = decide_proposal(engine, made["M1"]["id"], "approve", user="ben", qty=130)
    assert mo is not None and mo.order_no == f"AUTO-MO-20240630-{made['M1']['id']}" and mo.qty == 150
    production = schema.fact_production_order
    with engine.connect() as connection:
        row = connection.execute(select(production).where(production.c.mo_no == mo.order_no)).mappings().one()
        audit = connection.execute(select(schema.audit_log.c.action, schema.audit_log.c.user_name,
                                          schema.audit_log.c.details)
                                   .where(schema.audit_log.c.action != "replenishment.run")).all()
    assert (row["product_id"], row["qty_planned"], row["status"], row["origin"]) == (ids["M1"], 150, "planned", "auto")
    assert (row["start_date"], row["due_date"]) == (AS_OF, dt.date(2024, 7, 5))
    assert sorted(a.action for a in audit) == ["replenishment.approve"] * 4 + ["replenishment.reject"]
    edited = next(a for a in audit if a.user_name == "ben")
    assert edited.details["edited_qty"] == 130 and edited.details["qty"] == 150 and edited.details["proposed_qty"] == 200

    decided = proposals(engine).set_index("sku")
    assert decided.loc[["P1", "P4", "P5", "M1"], "status"].tolist() == ["ordered"] * 4
    assert decided.loc["M1", "qty"] == 150 and decided.loc["P3", "status"] == "rejected"
    assert set(decided.loc[["P1", "P4", "P5"], "decided_by"]) == {"ana"}
    with pytest.raises(ValueError, match="already decided"):
        decide_proposal(engine, made["P1"]["id"], "approve", user="ana")
    with pytest.raises(ValueError, match="already decided"):
        decide_proposal(engine, made["P3"]["id"], "reject", user="ana")

    # the new orders count as on order at once: nothing new; P3's rejection still holds
    after = run_replenishment(engine)
    assert after.counts["created"] == 0 and after.counts["triggered"] == 1 and after.counts["rejected_before"] == 1
    # the need grows (stock fell below what the planner rejected): P3 is proposed again
    _set_on_hand(engine, ids["P3"], 10)
    grown = run_replenishment(engine)
    assert grown.counts["created"] == 1
    assert _open_by_sku(engine)["P3"]["qty"] == math.ceil(_s(3, 0, 10, 2) + 42 - 10)


def _forecast(engine: Engine) -> None:
    """A weekly forecast of 1050 ± (1.2816 × 70) a week is 150/day with σ = 70/√7 per day; P2 then orders."""
    ids = _ids(engine)
    with engine.begin() as connection:
        wh = connection.execute(select(schema.dim_location.c.id).where(schema.dim_location.c.code == "WH")).scalar()
        run_id = connection.execute(insert(schema.forecast_run).values(freq="W", horizon=8).returning(
            schema.forecast_run.c.id)).scalar_one()
        half = statistics.NormalDist().inv_cdf(0.9) * 70
        connection.execute(insert(schema.fact_forecast), [
            {"run_id": run_id, "product_id": ids["P2"], "location_id": wh, "period": AS_OF + dt.timedelta(weeks=k),
             "yhat": 1050, "lo_80": 1050 - half, "hi_80": 1050 + half, "model": "test"} for k in range(8)
        ])
    run_replenishment(engine, notify=False)
    p2 = _open_by_sku(engine)["P2"]["rationale"]
    assert p2["demand_source"] == "forecast" and p2["demand_mean"] == pytest.approx(150)
    assert p2["demand_std"] == pytest.approx(70 / math.sqrt(7))
    assert p2["inventory_position"] == 1000 and p2["trigger"] == pytest.approx(
        _s(150, 70 / math.sqrt(7), 7, math.sqrt(2)))


class _Inbox:
    """aiosmtpd handler that keeps what arrives."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.envelopes.append(envelope)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_small_demo_run(engine: Engine, small_demo_dir: Path) -> None:
    """On the small demo the run completes, every proposal is at or below its trigger and well rounded, a second
    run proposes nothing new, and the low-stock e-mails reach a real SMTP server."""
    load_directory(engine, small_demo_dir, today=dt.date(2026, 11, 1))
    first = run_replenishment(engine, recipient="purchasing@example.com")
    assert first.counts["items"] > 0 and first.counts["created"] == first.counts["triggered"] > 0
    made = proposals(engine)
    products = pd.DataFrame(item_locations_state(engine, first.as_of)).drop_duplicates("product_id")
    rules = products.set_index("product_id")[["moq", "order_multiple", "make_or_buy"]]
    for row in made.to_dict("records"):
        why = row["rationale"]
        assert why["inventory_position"] <= why["trigger"] + 1e-9
        moq, multiple, make_or_buy = rules.loc[row["product_id"]]
        assert row["qty"] >= moq and row["qty"] > 0
        assert row["qty"] / multiple == pytest.approx(round(row["qty"] / multiple))
        assert row["kind"] == ("purchase" if make_or_buy == "buy" else "production")
    second = run_replenishment(engine)
    assert second.counts["created"] == 0 and second.notifications == 0

    inbox, port = _Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, loop=asyncio.new_event_loop())
    controller.start()
    try:
        result = send_pending(engine, smtp_url=f"smtp://127.0.0.1:{port}")
    finally:
        controller.stop()
    assert result.sent == first.notifications == len(inbox.envelopes) > 0
    assert {tuple(e.rcpt_tos) for e in inbox.envelopes} == {("purchasing@example.com",)}
    assert notifications.counts(engine)["sent"] == first.notifications


def _command_line(engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m jobs replenish`` prints the summary; ``notify`` to a closed port fails and keeps the mail.

    Run in-process through ``jobs.__main__.main`` (a new interpreter costs seconds of imports).
    """
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("PURCHASING_EMAIL", "boss@example.com")
    capsys.readouterr()
    assert jobs_main(["replenish", "--database-url", url, "--as-of", "2024-06-30", "--service-level", "0.95",
                      "--policy", "sS"]) == 0
    out = capsys.readouterr().out
    assert "created 0" in out and "unchanged 2" in out and "P2" in out and "P3" in out
    waiting = notifications.counts(engine)["pending"]
    assert jobs_main(["notify", "--database-url", url, "--smtp-url", f"smtp://127.0.0.1:{_free_port()}"]) == 1
    assert f"failed {waiting} (will retry)" in capsys.readouterr().out
    assert notifications.counts(engine)["pending"] == waiting
    assert jobs_main(["replenish", "--database-url", url, "--policy", "nonsense"]) == 2


def test_replenishment_cycle(engine: Engine, tiny_company: Path, capsys, monkeypatch) -> None:
    """The whole cycle on the hand-built company: propose, re-run, reject, approve, re-propose, forecast, CLI.

    One test (one load per backend: a load costs seconds), in stages that build on each other.
    """
    _load(engine, tiny_company)
    _first_runs(engine)
    _decisions(engine)
    _forecast(engine)
    _command_line(engine, capsys, monkeypatch)
