"""Inventory valuation (analytics.valuation): hand-worked ledgers, properties of random ledgers, reference FIFO.

Speed is measured by hand, not in the suite: ``PYTHONPATH=. .venv/bin/python tests/test_valuation.py`` builds a
valid ledger of 1M movements over 1,000 products (rows shuffled, so the sort is the worst case) and times each
call, best of 3. On the 2-core development machine (shared with other work): fifo 0.39 s, fifo with layers
0.41 s, average 0.33 s, standard 0.23 s, cogs_by_period(fifo, "M") 0.38 s, valuation_as_of(average) 0.12 s.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.valuation import (
    FifoResult,
    cogs_by_period,
    fifo_valuation,
    moving_average_valuation,
    standard_cost_valuation,
    valuation_as_of,
)

DAY0 = pd.Timestamp("2024-01-01")
EPS = 1e-9


def ledger(*rows: tuple, locations: bool = False) -> pd.DataFrame:
    """Rows (product, [location,] day, qty, unit_cost); day = days after 2024-01-01 (a fraction is a time of day)."""
    names = ["product_id", "location_id"] if locations else ["product_id"]
    frame = pd.DataFrame(list(rows), columns=[*names, "day", "qty", "unit_cost"])
    frame["ts"] = DAY0 + pd.to_timedelta(frame.pop("day"), unit="D")
    return frame


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-6)


# ------------------------------------------------------------------------------------------ worked by hand


def test_fifo_average_and_standard_worked_example():
    m = ledger(("A", 0, 10, 5.0), ("A", 1, 10, 7.0), ("A", 2, -15, None))
    fifo = fifo_valuation(m).loc["A"]
    # FIFO: COGS = 10×5 + 5×7 = 85; ending 5 @ 7 = 35; received 50 + 70 = 120 = 85 + 35.
    assert (fifo.cogs, fifo.ending_qty, fifo.ending_value) == (85, 5, 35)
    assert (fifo.issued_qty, fifo.received_qty, fifo.received_value) == (15, 20, 120)
    avg = moving_average_valuation(m).loc["A"]
    # Average: avg = (10×5 + 10×7) / 20 = 6; COGS = 15×6 = 90; ending 5×6 = 30.
    assert (avg.cogs, avg.ending_qty, avg.ending_value) == (approx(90), 5, approx(30))
    std = standard_cost_valuation(m, pd.Series({"A": 6.5})).loc["A"]
    # Standard 6.5: COGS = 15×6.5 = 97.5; ending 5×6.5 = 32.5; PPV = (5−6.5)×10 + (7−6.5)×10 = −15 + 5 = −10;
    # actual received 120 = 97.5 + 32.5 − 10.
    assert (std.cogs, std.ending_value, std.ppv) == (97.5, 32.5, -10)


def test_two_products_are_valued_apart():
    m = ledger(
        ("A", 0, 4, 2.0), ("B", 0, 3, 10.0), ("A", 1, 6, 3.0), ("B", 2, -2, None), ("A", 3, -5, None),
        ("B", 3, 1, 13.0),
    )
    fifo = fifo_valuation(m)
    # A: COGS = 4×2 + 1×3 = 11; ending 5 @ 3 = 15.   B: COGS = 2×10 = 20; ending 1×10 + 1×13 = 23.
    assert fifo.loc["A", ["cogs", "ending_qty", "ending_value"]].tolist() == [11, 5, 15]
    assert fifo.loc["B", ["cogs", "ending_qty", "ending_value"]].tolist() == [20, 2, 23]
    assert list(fifo.index) == ["A", "B"] and fifo.index.name == "product_id"
    avg = moving_average_valuation(m)
    # A: avg = (8 + 18) / 10 = 2.6; COGS = 13; ending 5×2.6 = 13.
    # B: avg 10; COGS = 20; the receipt of 1 @ 13 onto 1 @ 10 → avg = (10 + 13) / 2 = 11.5; ending 2×11.5 = 23.
    assert avg.loc["A", "cogs"] == approx(13) and avg.loc["A", "ending_value"] == approx(13)
    assert avg.loc["B", "cogs"] == approx(20) and avg.loc["B", "ending_value"] == approx(23)


def test_two_locations_are_valued_apart():
    m = ledger(
        ("A", "L1", 0, 10, 5.0), ("A", "L2", 1, 10, 9.0), ("A", "L1", 2, 10, 7.0), ("A", "L2", 3, -4, None),
        ("A", "L1", 4, -12, None), locations=True,
    )
    fifo = fifo_valuation(m)
    assert fifo.index.names == ["product_id", "location_id"]
    # L1: COGS = 10×5 + 2×7 = 64; ending 8 @ 7 = 56.   L2: COGS = 4×9 = 36; ending 6 @ 9 = 54.
    assert fifo.loc[("A", "L1"), ["cogs", "ending_qty", "ending_value"]].tolist() == [64, 8, 56]
    assert fifo.loc[("A", "L2"), ["cogs", "ending_qty", "ending_value"]].tolist() == [36, 6, 54]
    avg = moving_average_valuation(m)
    # L1: avg = (50 + 70) / 20 = 6; COGS = 72; ending 48. L2 alone at 9 (not mixed with L1).
    assert avg.loc[("A", "L1"), "cogs"] == approx(72) and avg.loc[("A", "L1"), "ending_value"] == approx(48)
    assert avg.loc[("A", "L2"), "cogs"] == approx(36) and avg.loc[("A", "L2"), "ending_value"] == approx(54)
    # An issue at L2 beyond L2's own stock fails, even though L1 holds enough.
    with pytest.raises(ValueError, match="location_id='L2'"):
        fifo_valuation(pd.concat([m, ledger(("A", "L2", 5, -7, np.nan), locations=True)]))


def test_ties_at_the_same_ts_keep_input_order():
    # Two receipts at the same ts: the one listed first is consumed first.
    m = ledger(("A", 0, 5, 2.0), ("A", 0, 5, 4.0), ("A", 1, -6, None))
    # COGS = 5×2 + 1×4 = 14; ending 4 @ 4 = 16.
    assert fifo_valuation(m).loc["A", ["cogs", "ending_value"]].tolist() == [14, 16]
    # Reversed input order: COGS = 5×4 + 1×2 = 22; ending 4 @ 2 = 8.
    assert fifo_valuation(m.iloc[[1, 0, 2]]).loc["A", ["cogs", "ending_value"]].tolist() == [22, 8]
    # Rows need not arrive sorted by ts: only ties keep their input order.
    assert fifo_valuation(m.iloc[[2, 0, 1]]).loc["A", "cogs"] == 14
    # Receipt and issue at the same ts: listed receipt first, the issue of 8 takes 5×2 + 3×4 = 22 ...
    same = ledger(("A", 0, 5, 2.0), ("A", 1, 3, 4.0), ("A", 1, -8, None))
    assert fifo_valuation(same).loc["A", ["cogs", "ending_qty"]].tolist() == [22, 0]
    # ... listed issue first, it finds only 5 on hand (no receipts-first rule).
    with pytest.raises(ValueError, match="issue of 8 with 5 on hand leaves a shortfall of 3"):
        fifo_valuation(same.iloc[[0, 2, 1]])


def test_issue_exactly_emptying_stock_then_receipt_after_running_empty():
    m = ledger(("A", 0, 4, 3.0), ("A", 1, 6, 4.0), ("A", 2, -10, None))
    # FIFO: COGS = 4×3 + 6×4 = 36; nothing left, no layer.
    result = fifo_valuation(m, layers=True)
    assert result.valuation.loc["A", ["cogs", "ending_qty", "ending_value"]].tolist() == [36, 0, 0]
    assert result.layers.empty
    # Average: avg = (12 + 24) / 10 = 3.6; COGS = 36; ending 0.
    assert moving_average_valuation(m).loc["A", "ending_value"] == approx(0)
    again = pd.concat([m, ledger(("A", 3, 5, 10.0), ("A", 4, -2, np.nan))])
    # FIFO: the new receipt stands alone: COGS = 36 + 2×10 = 56; ending 3 @ 10 = 30.
    assert fifo_valuation(again).loc["A", ["cogs", "ending_qty", "ending_value"]].tolist() == [56, 3, 30]
    # Average: empty stock resets the average to the new receipt's cost, 10 (no memory of 3.6).
    avg = moving_average_valuation(again).loc["A"]
    assert avg.cogs == approx(56) and avg.ending_value == approx(30)


def test_valuation_as_of_cuts_at_the_end_of_the_day():
    m = ledger(("A", 0, 10, 5.0), ("A", 1.999, -4, None), ("A", 2, 10, 8.0), ("A", 3.5, -10, None))
    # As of day 1 (2024-01-02): the issue at 23:58:33 counts, the receipt at midnight of day 2 does not.
    # COGS = 4×5 = 20; ending 6 @ 5 = 30.
    for as_of in ("2024-01-02", pd.Timestamp("2024-01-02 08:00"), DAY0.date() + pd.Timedelta(days=1)):
        early = valuation_as_of(m, as_of, "fifo")
        assert early.loc["A", ["cogs", "ending_qty", "ending_value"]].tolist() == [20, 6, 30]
    # As of day 3 (all): FIFO COGS = 20 + 6×5 + 4×8 = 82; ending 6 @ 8 = 48.
    assert valuation_as_of(m, "2024-01-04", "fifo").loc["A", ["cogs", "ending_value"]].tolist() == [82, 48]
    # Average as of day 2: avg = (6×5 + 10×8) / 16 = 6.875; nothing issued since; ending 110.
    assert valuation_as_of(m, "2024-01-03", "average").loc["A", "ending_value"] == approx(110)
    standard = valuation_as_of(m, "2024-01-03", "standard", pd.Series({"A": 6.0}))
    # Standard 6: COGS = 4×6 = 24; ending 16×6 = 96; PPV = (5−6)×10 + (8−6)×10 = 10.
    assert standard.loc["A", ["cogs", "ending_value", "ppv"]].tolist() == [24, 96, 10]
    # Before any movement: an empty frame with the same columns.
    assert valuation_as_of(m, "2023-12-31").empty
    assert list(valuation_as_of(m, "2023-12-31").columns) == list(early.columns)
    # A tz-aware ledger: the as-of day is read in the ledger's zone.
    utc = m.assign(ts=m["ts"].dt.tz_localize("UTC"))
    assert valuation_as_of(utc, "2024-01-02").loc["A", "cogs"] == 20


def test_cogs_by_period_sums_to_the_total_and_carries_quiet_periods():
    m = ledger(
        ("A", 0, 10, 5.0),  # Jan: receive 10 @ 5
        ("A", 10, -4, None),  # Jan: issue 4 → 20
        ("A", 40, 10, 8.0),  # Feb: receive 10 @ 8
        ("A", 45, -8, None),  # Feb: issue 8 → 6×5 + 2×8 = 46
        ("B", 35, 2, 1.0),  # Feb: B starts in February
        ("A", 100, -3, None),  # Apr: issue 3 → 3×8 = 24 (March is quiet)
    )
    table = cogs_by_period(m, "M", "fifo")
    assert list(table.columns) == [
        "period", "product_id", "cogs", "issued_qty", "received_qty", "received_value", "ending_qty", "ending_value",
    ]
    a = table[table["product_id"] == "A"].set_index("period")
    assert [str(p) for p in a.index] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert a["cogs"].tolist() == [20, 46, 0, 24]
    assert a["issued_qty"].tolist() == [4, 8, 0, 3]
    # Ending: Jan 6 @ 5 = 30; Feb 8 @ 8 = 64; Mar carried; Apr 5 @ 8 = 40.
    assert a["ending_qty"].tolist() == [6, 8, 8, 5]
    assert a["ending_value"].tolist() == [30, 64, 64, 40]
    b = table[table["product_id"] == "B"]
    assert [str(p) for p in b["period"]] == ["2024-02", "2024-03", "2024-04"]
    assert b["ending_value"].tolist() == [2, 2, 2]
    assert table.groupby("product_id")["cogs"].sum().to_dict() == fifo_valuation(m)["cogs"].to_dict()
    # Standard cost adds PPV per period: Jan (5−6)×10 = −10, Feb (8−6)×10 = 20.
    std = cogs_by_period(m[m["product_id"] == "A"], "M", "standard", pd.Series({"A": 6.0}))
    assert std["ppv"].tolist() == [-10, 20, 0, 0]
    assert std["cogs"].tolist() == [24, 48, 0, 18]
    # Quarters: Q1 COGS 20 + 46 = 66, Q2 24.
    assert cogs_by_period(m, "Q")[lambda f: f["product_id"] == "A"]["cogs"].tolist() == [66, 24]


def test_standard_cost_ppv_and_missing_standard():
    m = ledger(("A", 0, 10, 4.0), ("A", 1, 5, 5.5), ("A", 2, -12, None), ("B", 0, 2, 3.0), ("B", 1, -5, None))
    std = standard_cost_valuation(m, pd.Series({"A": 5.0, "B": 3.0, "Z": 1.0}))
    # A: COGS = 12×5 = 60; ending 3×5 = 15; PPV = (4−5)×10 + (5.5−5)×5 = −10 + 2.5 = −7.5.
    assert std.loc["A", ["cogs", "ending_qty", "ending_value", "ppv"]].tolist() == [60, 3, 15, -7.5]
    # B goes negative: standard cost values it at standard all the same: ending −3×3 = −9, COGS 15.
    assert std.loc["B", ["cogs", "ending_value", "ppv"]].tolist() == [15, -9, 0]
    # Actual received value = COGS + ending + PPV: A 40 + 27.5 = 67.5 = 60 + 15 − 7.5.
    assert std.loc["A", "received_value"] == 67.5
    with pytest.raises(ValueError, match=r"no standard cost for 1 product\(s\): \['B'\]"):
        standard_cost_valuation(m, {"A": 5.0})
    with pytest.raises(ValueError, match="needs standard_cost"):
        cogs_by_period(m, method="standard")


def test_fifo_layers_output():
    m = ledger(
        ("A", "L1", 0, 10, 5.0), ("A", "L1", 1, 10, 7.0), ("A", "L1", 2, 5, 9.0), ("A", "L1", 3, -12, None),
        ("A", "L2", 0, 3, 4.0), locations=True,
    )
    result = fifo_valuation(m, layers=True)
    assert isinstance(result, FifoResult)
    valuation, layers = result  # a NamedTuple: unpacks too
    # L1: issue 12 takes all of 10 @ 5 and 2 of 10 @ 7 → layers 8 @ 7 (day 1) and 5 @ 9 (day 2).
    assert list(layers.columns) == ["product_id", "location_id", "ts", "remaining_qty", "unit_cost", "value"]
    assert layers[["location_id", "remaining_qty", "unit_cost", "value"]].values.tolist() == [
        ["L1", 8, 7, 56], ["L1", 5, 9, 45], ["L2", 3, 4, 12],
    ]
    assert layers["ts"].tolist() == [DAY0 + pd.Timedelta(days=d) for d in (1, 2, 0)]
    assert layers.groupby(["product_id", "location_id"])["value"].sum().tolist() == valuation["ending_value"].tolist()


def test_negative_stock_error_names_product_location_ts_and_shortfall():
    m = ledger(("A", "L1", 0, 10, 5.0), ("A", "L2", 0, 1, 5.0), ("A", "L2", 1.5, -3, None), locations=True)
    for valuate in (fifo_valuation, moving_average_valuation, lambda f: cogs_by_period(f, method="average")):
        with pytest.raises(ValueError) as error:
            valuate(m)
        message = str(error.value)
        assert "product_id='A', location_id='L2'" in message
        assert "ts=2024-01-02 12:00:00" in message
        assert "issue of 3 with 1 on hand leaves a shortfall of 2" in message


def test_allow_negative_fifo_rule():
    m = ledger(
        ("A", 0, 10, 5.0),  # stock 10 @ 5
        ("A", 1, -15, None),  # 10×5 + 5 uncovered at the last receipt cost 5 → 75; negative layer −5 @ 5
        ("A", 2, 2, 6.0),  # settles 2 of the −5 @ 5 at 6 → COGS += 2×(6−5) = 2; left −3 @ 5
        ("A", 3, -3, None),  # uncovered, at the last receipt cost 6 → 18; layers −3 @ 5, −3 @ 6
        ("A", 4, 10, 8.0),  # settles −3 @ 5 → 3×(8−5) = 9 and −3 @ 6 → 3×(8−6) = 6; 4 @ 8 remain
    )
    daily = cogs_by_period(m, "D", "fifo", allow_negative=True)
    assert daily["cogs"].tolist() == [0, 75, 2, 18, 15]
    assert daily["ending_value"].tolist() == [50, -25, -15, -33, 32]
    total = fifo_valuation(m, allow_negative=True).loc["A"]
    # Received 50 + 12 + 80 = 142 = COGS 110 + ending 32.
    assert total[["cogs", "ending_qty", "ending_value", "received_value"]].tolist() == [110, 4, 32, 142]
    # Before the last receipt: two negative layers at their provisional costs, dated by their issues.
    cut = fifo_valuation(m.iloc[:4], layers=True, allow_negative=True)
    assert cut.layers[["remaining_qty", "unit_cost", "value"]].values.tolist() == [[-3, 5, -15], [-3, 6, -18]]
    assert cut.layers["ts"].tolist() == [DAY0 + pd.Timedelta(days=1), DAY0 + pd.Timedelta(days=3)]
    assert cut.valuation.loc["A", "ending_value"] == -33
    # No receipt ever before the issue: provisional cost 0; the first receipt books the full cost, 5×4 = 20.
    first = cogs_by_period(ledger(("A", 0, -5, None), ("A", 1, 10, 4.0)), "D", allow_negative=True)
    assert first["cogs"].tolist() == [0, 20] and first["ending_value"].tolist() == [0, 20]


def test_allow_negative_average_rule():
    m = ledger(
        ("A", 0, 10, 5.0),  # avg 5
        ("A", 1, -15, None),  # at the average: 15×5 = 75; on hand −5, value −25
        ("A", 2, 2, 6.0),  # into negative stock: avg := 6; −5 revalued 5 → 6: COGS 5×1 = 5; −3 @ 6 = −18
        ("A", 3, -3, None),  # 3×6 = 18; −6 @ 6 = −36
        ("A", 4, 10, 8.0),  # avg := 8; −6 revalued 6 → 8: COGS 6×2 = 12; 4 @ 8 = 32
    )
    daily = cogs_by_period(m, "D", "average", allow_negative=True)
    assert daily["cogs"].tolist() == [approx(0), approx(75), approx(5), approx(18), approx(12)]
    assert daily["ending_value"].tolist() == [approx(50), approx(-25), approx(-18), approx(-36), approx(32)]
    total = moving_average_valuation(m, allow_negative=True).loc["A"]
    # Received 142 = COGS 110 + ending 32.
    assert (total.cogs, total.ending_value) == (approx(110), approx(32))


def test_input_validation_and_empty_ledgers():
    with pytest.raises(ValueError, match="lack the column"):
        fifo_valuation(pd.DataFrame({"product_id": ["A"], "qty": [1.0]}))
    with pytest.raises(ValueError, match="receipt.*without a unit_cost"):
        moving_average_valuation(ledger(("A", 0, 1, None)))
    with pytest.raises(ValueError, match="unknown method"):
        valuation_as_of(ledger(("A", 0, 1, 1.0)), "2024-01-01", "lifo")
    empty = ledger()
    assert fifo_valuation(empty).empty and moving_average_valuation(empty).empty
    assert fifo_valuation(empty, layers=True).layers.empty
    assert cogs_by_period(empty).empty
    # Zero-quantity rows change nothing.
    m = ledger(("A", 0, 2, 3.0), ("A", 1, 0, None), ("A", 2, -1, None))
    assert fifo_valuation(m).loc["A", ["cogs", "ending_value"]].tolist() == [3, 3]


# --------------------------------------------------------------------------- references (row by row, slow)


def _groups(movements: pd.DataFrame) -> list[tuple[tuple, list[tuple[int, pd.Timestamp, float, float]]]]:
    """Per group key (sorted): its rows (position, ts, qty, unit_cost) in (ts, input) order."""
    keys = ["product_id", "location_id"] if "location_id" in movements.columns else ["product_id"]
    groups: dict[tuple, list] = defaultdict(list)
    columns = [movements[k].tolist() for k in keys]
    for pos, (ts, qty, cost) in enumerate(zip(movements["ts"], movements["qty"], movements["unit_cost"], strict=True)):
        groups[tuple(col[pos] for col in columns)].append((pos, ts, float(qty), float(cost)))
    return [(key, sorted(rows, key=lambda r: (r[1], r[0]))) for key, rows in sorted(groups.items())]


def reference_fifo(movements: pd.DataFrame, allow_negative: bool = False) -> tuple[dict, np.ndarray, dict]:
    """FIFO with a deque of layers; per group: (cogs, ending_qty, ending_value), per-row COGS, remaining layers.

    Uncovered issue units go to a backlog deque at the last receipt cost (0 if none); receipts settle it first.
    """
    totals, row_cogs, layers_left = {}, np.zeros(len(movements)), {}
    for key, rows in _groups(movements):
        layers: deque = deque()  # [qty, cost, ts]
        backlog: deque = deque()  # [qty, provisional cost, ts]
        last_cost = 0.0
        for pos, ts, qty, cost in rows:
            booked = 0.0
            if qty > 0:
                rest, last_cost = qty, cost
                while rest > EPS and backlog:
                    take = min(rest, backlog[0][0])
                    booked += take * (cost - backlog[0][1])
                    backlog[0][0] -= take
                    rest -= take
                    if backlog[0][0] <= EPS:
                        backlog.popleft()
                if rest > EPS:
                    layers.append([rest, cost, ts])
            elif qty < 0:
                need = -qty
                while need > EPS and layers:
                    take = min(need, layers[0][0])
                    booked += take * layers[0][1]
                    layers[0][0] -= take
                    need -= take
                    if layers[0][0] <= EPS:
                        layers.popleft()
                if need > EPS:
                    if not allow_negative:
                        raise ValueError(f"negative stock for {key}")
                    backlog.append([need, last_cost, ts])
                    booked += need * last_cost
            row_cogs[pos] = booked
        left = [(ts, q, c) for q, c, ts in layers] + [(ts, -q, c) for q, c, ts in backlog]
        layers_left[key] = left
        cogs = sum(row_cogs[pos] for pos, *_ in rows)
        totals[key] = (cogs, sum(q for _, q, _ in left), sum(q * c for _, q, c in left))
    return totals, row_cogs, layers_left


def reference_average(movements: pd.DataFrame, allow_negative: bool = False) -> tuple[dict, np.ndarray]:
    """Moving average row by row; a receipt into negative stock sets avg := its cost, revaluing the position."""
    totals, row_cogs = {}, np.zeros(len(movements))
    for key, rows in _groups(movements):
        on_hand, avg = 0.0, 0.0
        for pos, _, qty, cost in rows:
            if qty > 0:
                if on_hand < -EPS:
                    row_cogs[pos] = -on_hand * (cost - avg)
                    avg = cost
                else:
                    held = max(on_hand, 0.0)
                    avg = (held * avg + qty * cost) / (held + qty)
            elif qty < 0:
                if on_hand + qty < -EPS and not allow_negative:
                    raise ValueError(f"negative stock for {key}")
                row_cogs[pos] = -qty * avg
            on_hand += qty
        totals[key] = (sum(row_cogs[pos] for pos, *_ in rows), on_hand, on_hand * avg)
    return totals, row_cogs


def _key(index_value: object) -> tuple:
    return index_value if isinstance(index_value, tuple) else (index_value,)


# ------------------------------------------------------------------------------------- random ledgers


@st.composite
def ledgers(draw, valid: bool = True) -> pd.DataFrame:
    """A random ledger in time order (ties included), rows then shuffled in blocks of (group, ts).

    valid: issues never exceed the stock on hand (they may empty it exactly); otherwise issues are arbitrary.
    """
    with_location = draw(st.booleans())
    n = draw(st.integers(0, 30))
    rows, on_hand, day = [], defaultdict(float), 0
    for _ in range(n):
        day += draw(st.sampled_from([0, 0, 1, 3, 40]))  # ties, and month boundaries for cogs_by_period
        product = draw(st.sampled_from(["A", "B", "C"]))
        location = draw(st.sampled_from(["L1", "L2"])) if with_location else None
        key = (product, location)
        if draw(st.booleans()):
            qty, cost = draw(st.integers(1, 40)) / 2, draw(st.integers(0, 2000)) / 100
        else:
            top = int(on_hand[key] * 2) if valid else 40
            qty, cost = -draw(st.integers(0 if valid else 1, top)) / 2, draw(st.sampled_from([np.nan, 3.0]))
        on_hand[key] += qty
        rows.append((product, location, day, qty, cost))
    frame = ledger(*[(p, loc, d, q, c) for p, loc, d, q, c in rows], locations=True)
    if not with_location:
        frame = frame.drop(columns="location_id")
    # Shuffle rows, keeping input order within each (group, ts): that order is the tie-break.
    block = frame.groupby([c for c in ("product_id", "location_id", "ts") if c in frame.columns], sort=False).ngroup()
    shuffle = draw(st.permutations(range(int(block.max()) + 1))) if len(frame) else []
    order = np.lexsort((np.arange(len(frame)), np.asarray(shuffle, dtype=int)[block.to_numpy()])) if len(frame) else []
    return frame.iloc[order].reset_index(drop=True)


# Each example makes a dozen calls of ~10 ms (pandas overhead on tiny frames): keep the counts modest.
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _newest_receipts_value(rows: list[tuple], ending_qty: float) -> float:
    """Value of the newest receipts making up ending_qty (taking part of the oldest one needed)."""
    value, need = 0.0, ending_qty
    for qty, cost in [(qty, cost) for _, _, qty, cost in rows if qty > 0][::-1]:
        take = min(need, qty)
        value += take * cost
        need -= take
        if need <= EPS:
            break
    return value


@PROPERTY
@given(ledgers())
def test_property_books_balance_and_fifo_keeps_the_newest_receipts(movements):
    fifo = fifo_valuation(movements)
    average = moving_average_valuation(movements)
    if movements.empty:
        assert fifo.empty and average.empty
        return
    for result in (fifo, average):
        # Value received = COGS + ending value, per group.
        assert np.allclose(result["received_value"], result["cogs"] + result["ending_value"], rtol=1e-9, atol=1e-6)
        assert (result["ending_value"] >= -1e-6).all()
    groups = movements.groupby(list(fifo.index.names))["qty"].sum()
    assert np.allclose(fifo["ending_qty"], groups.reindex(fifo.index), atol=1e-9)
    assert np.allclose(average["ending_qty"], groups.reindex(fifo.index), atol=1e-9)
    groups = dict(_groups(movements))
    for key, row in fifo.iterrows():
        assert row.ending_value == approx(_newest_receipts_value(groups[_key(key)], row.ending_qty))
    standard = standard_cost_valuation(movements, pd.Series({"A": 1.0, "B": 2.5, "C": 7.0}))
    balance = standard["cogs"] + standard["ending_value"] + standard["ppv"]
    assert np.allclose(standard["received_value"], balance, rtol=1e-9, atol=1e-6)


@PROPERTY
@given(ledgers())
def test_property_fifo_and_average_match_row_by_row_references(movements):
    totals, row_cogs, layers_left = reference_fifo(movements)
    result = fifo_valuation(movements, layers=True)
    assert len(result.valuation) == len(totals)
    for key, row in result.valuation.iterrows():
        cogs, ending_qty, ending_value = totals[_key(key)]
        assert (row.cogs, row.ending_qty, row.ending_value) == (approx(cogs), approx(ending_qty), approx(ending_value))
    names = list(result.valuation.index.names)
    got = sorted(
        (tuple(r[n] for n in names), r["ts"], r["remaining_qty"], r["unit_cost"]) for _, r in result.layers.iterrows()
    )
    want = sorted((key, ts, q, c) for key, left in layers_left.items() for ts, q, c in left if abs(q) > EPS)
    assert [(k, t, approx(q), c) for k, t, q, c in want] == got
    avg_totals, avg_rows = reference_average(movements)
    average = moving_average_valuation(movements)
    for key, row in average.iterrows():
        cogs, ending_qty, ending_value = avg_totals[_key(key)]
        assert (row.cogs, row.ending_value) == (approx(cogs), approx(ending_value))
    _check_periods(movements, "fifo", row_cogs)
    _check_periods(movements, "average", avg_rows)


def _check_periods(movements: pd.DataFrame, method: str, row_cogs: np.ndarray, allow_negative: bool = False) -> None:
    """cogs_by_period against the reference's per-row COGS; Σ periods = total; each period rolls forward."""
    table = cogs_by_period(movements, "M", method, allow_negative=allow_negative)
    if movements.empty:
        assert table.empty
        return
    names = [c for c in ("product_id", "location_id") if c in movements.columns]
    frame = movements.reset_index(drop=True).assign(
        period=movements["ts"].dt.to_period("M").to_numpy(), cogs=row_cogs
    )
    want = frame.groupby(["period", *names])["cogs"].sum()
    got = table.set_index(["period", *names])["cogs"]
    assert np.allclose(got.reindex(want.index), want, atol=1e-6)
    assert np.allclose(got.drop(want.index), 0.0)
    summary = valuation_as_of(movements, movements["ts"].max(), method, allow_negative=allow_negative)
    by_group = table.groupby(names)
    assert np.allclose(by_group["cogs"].sum().reindex(summary.index), summary["cogs"], atol=1e-6)
    last = by_group.tail(1).set_index(names)
    assert np.allclose(last["ending_value"].reindex(summary.index), summary["ending_value"], atol=1e-6)
    opening = by_group["ending_value"].shift(1, fill_value=0.0)
    roll = opening + table["received_value"] - table["cogs"]
    assert np.allclose(roll, table["ending_value"], atol=1e-6)
    # A month's closing stock is the valuation as of its last day.
    period = table["period"].iloc[len(table) // 2]
    as_of = valuation_as_of(movements, period.end_time.date(), method, allow_negative=allow_negative)
    closing = table[table["period"] == period].set_index(names)
    assert np.allclose(closing["ending_value"], as_of["ending_value"].reindex(closing.index), atol=1e-6)


@PROPERTY
@given(ledgers(valid=False))
def test_property_issues_never_consume_more_than_on_hand_unless_allowed(movements):
    try:
        reference_fifo(movements)
        goes_negative = False
    except ValueError:
        goes_negative = True
    for valuate in (fifo_valuation, moving_average_valuation):
        if goes_negative:
            with pytest.raises(ValueError, match="negative stock"):
                valuate(movements)
        else:
            valuate(movements)
    # allow_negative: the documented rules, against the references, and the books still balance.
    totals, row_cogs, _ = reference_fifo(movements, allow_negative=True)
    fifo = fifo_valuation(movements, allow_negative=True)
    for key, row in fifo.iterrows():
        cogs, ending_qty, ending_value = totals[_key(key)]
        assert (row.cogs, row.ending_qty, row.ending_value) == (approx(cogs), approx(ending_qty), approx(ending_value))
    avg_totals, avg_rows = reference_average(movements, allow_negative=True)
    average = moving_average_valuation(movements, allow_negative=True)
    for key, row in average.iterrows():
        cogs, ending_qty, ending_value = avg_totals[_key(key)]
        assert (row.cogs, row.ending_qty, row.ending_value) == (approx(cogs), approx(ending_qty), approx(ending_value))
    for result in (fifo, average):
        assert np.allclose(result["received_value"], result["cogs"] + result["ending_value"], rtol=1e-9, atol=1e-6)
    _check_periods(movements, "fifo", row_cogs, allow_negative=True)
    _check_periods(movements, "average", avg_rows, allow_negative=True)


# ----------------------------------------------------------------------------- speed (run by hand)


def benchmark_ledger(n: int = 1_000_000, products: int = 1_000, seed: int = 0) -> pd.DataFrame:
    """A valid random ledger: issues are cut where they would take stock below zero, rows shuffled."""
    rng = np.random.default_rng(seed)
    receipt = rng.random(n) < 0.5
    frame = pd.DataFrame({
        "product_id": rng.integers(0, products, n),
        "ts": DAY0 + pd.to_timedelta(rng.integers(0, 5 * 365 * 86_400, n), unit="s"),
        "qty": np.where(receipt, rng.integers(1, 100, n), -rng.integers(1, 100, n)).astype(float),
        "unit_cost": np.where(receipt, rng.uniform(1, 20, n).round(2), np.nan),
    }).sort_values(["product_id", "ts"], kind="stable")
    # Reflect the running balance at zero: B = S − min(0, running min of S); qty = ΔB.
    running = frame.groupby("product_id")["qty"].cumsum()
    balance = running - np.minimum(running.groupby(frame["product_id"]).cummin(), 0)
    frame["qty"] = balance.groupby(frame["product_id"]).diff().fillna(balance)
    return frame.sample(frac=1.0, random_state=seed)


def benchmark() -> None:
    frame = benchmark_ledger()
    standard = pd.Series(10.0, index=np.arange(1_000))
    print(f"{len(frame):,} movements over {frame['product_id'].nunique():,} products")
    for label, call in (
        ("fifo", lambda: fifo_valuation(frame)),
        ("fifo, layers", lambda: fifo_valuation(frame, layers=True)),
        ("average", lambda: moving_average_valuation(frame)),
        ("standard", lambda: standard_cost_valuation(frame, standard)),
        ("cogs_by_period fifo M", lambda: cogs_by_period(frame, "M", "fifo")),
        ("as_of average", lambda: valuation_as_of(frame, "2026-06-30", "average")),
    ):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        print(f"{label:<24}{min(times):6.2f} s")


if __name__ == "__main__":
    benchmark()
