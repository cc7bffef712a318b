"""Replenishment policies (analytics.replenishment): textbook values with their arithmetic, side by side with
stockpyl where the models are the same, and invariants with hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from analytics import replenishment as rp


def _stockpyl(module: str):
    """A stockpyl module (requirements-dev.txt); the side-by-side tests skip without it, the others still run."""
    return pytest.importorskip(f"stockpyl.{module}")


# --- EOQ, safety stock, reorder point -------------------------------------------------------------------------------


def test_eoq_harris_wilson() -> None:
    # D = 1200/yr, K = $100/order, h = $6/unit/yr: Q* = sqrt(2·1200·100/6) = sqrt(40000) = 200.
    assert rp.eoq(1200, 100, 6) == pytest.approx(200.0)
    q = rp.eoq(np.array([1200.0, 0.0, -1.0, 1200.0]), 100.0, np.array([6.0, 6.0, 6.0, 0.0]))
    assert q[0] == pytest.approx(200.0) and q[1] == 0.0 and np.isnan(q[2]) and np.isnan(q[3])


@pytest.mark.parametrize(("k", "h", "d"), [(8, 0.225, 1300), (100, 6, 1200), (1, 1, 1), (50, 0.3, 12345.6)])
def test_eoq_matches_stockpyl(k: float, h: float, d: float) -> None:
    sp_eoq = _stockpyl("eoq")
    # stockpyl's Example 3.1 (Snyder & Shen) is the first row: 304.0467800264368.
    assert rp.eoq(d, k, h) == pytest.approx(sp_eoq.economic_order_quantity(k, h, d)[0], rel=1e-12)


def test_safety_stock_textbook() -> None:
    # z(0.95) = 1.645, σd = 10/day, L = 4 days: SS = 1.645·10·sqrt(4) = 32.9.
    assert rp.safety_stock(0.95, 50, 10, 4) == pytest.approx(32.9, abs=0.01)
    assert rp.safety_factor(0.95) == pytest.approx(1.645, abs=5e-4)
    # Chopra & Meindl (safety inventory with lead-time uncertainty): daily demand 2,500 ± 500, lead time 7 ± 7 days,
    # CSL 0.90: σL = sqrt(7·500² + 2500²·7²) = sqrt(308,000,000) = 17,550; SS = 1.2816·17,550 = 22,491.
    assert rp.lead_time_demand(2500, 500, 7, 7)[1] == pytest.approx(17549.9, abs=0.1)
    assert rp.safety_stock(0.90, 2500, 500, 7, 7) == pytest.approx(22491, abs=1)
    # The review period adds to the exposed periods: σ = 10·sqrt(4 + 5).
    assert rp.safety_stock(0.95, 50, 10, 4, review_period=5) == pytest.approx(1.6448536 * 30, rel=1e-6)


def test_reorder_point_and_order_up_to() -> None:
    # s = μL + SS = 50·4 + 32.9; S of (R = 7, S) = 50·11 + 1.645·10·sqrt(11).
    assert rp.reorder_point(0.95, 50, 10, 4) == pytest.approx(232.9, abs=0.01)
    assert rp.order_up_to_level(0.95, 50, 10, 4, 7) == pytest.approx(550 + 1.6448536 * 10 * math.sqrt(11), rel=1e-6)
    out = rp.reorder_point(np.array([0.5, 0.95, 1.2]), 10.0, 2.0, np.array([3.0, 3.0, 3.0]))
    assert out[0] == pytest.approx(30.0) and out[1] > 30.0 and np.isnan(out[2])
    assert np.isnan(rp.reorder_point(0.95, -1, 2, 3)) and np.isnan(rp.safety_stock(0.95, 10, 2, -3))
    series = pd.Series([10.0, 20.0], index=["a", "b"])
    assert isinstance(rp.reorder_point(0.9, series, 1.0, 2.0), np.ndarray)


def test_base_stock_level_matches_stockpyl_newsvendor() -> None:
    sp_nv = _stockpyl("newsvendor")
    # Snyder & Shen Example 4.3 (stockpyl.newsvendor): h = 0.18, p = 0.70, μ = 50, σ = 8 → S* = 56.604 at the
    # critical ratio α = p/(p + h); it is our order-up-to level with R = 1 period and L = 0 (or L = 3: 4 periods).
    h, p = 0.18, 0.70
    alpha = p / (p + h)
    for lead in (0, 3):
        expected = sp_nv.newsvendor_normal(h, p, 50, 8, lead_time=lead)[0]
        assert rp.order_up_to_level(alpha, 50, 8, lead, 1) == pytest.approx(expected, rel=1e-10)
    assert sp_nv.newsvendor_normal(h, p, 50, 8)[0] == pytest.approx(56.60395592743389)
    # Poisson newsvendor: S* = F⁻¹(α) for Poisson(50) is 56 (stockpyl's doctest); Poisson(5.5) gives 7.
    for mean in (50, 5.5):
        assert rp.reorder_point_poisson(alpha, mean, 0, 1) == sp_nv.newsvendor_poisson(h, p, mean)[0]


def test_reorder_point_poisson_is_smallest_meeting_target() -> None:
    targets = np.array([0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
    for mean in (0.05, 0.3, 1.0, 2.5, 7.0, 40.0):
        s = rp.reorder_point_poisson(targets, mean, 1.0)
        assert (stats.poisson.cdf(s, mean) >= targets - 1e-12).all()
        assert (stats.poisson.cdf(s - 1, mean) < targets).all()
    assert rp.reorder_point_poisson(0.95, 0.0, 5.0) == 0.0
    # Slow mover, 0.2 units/day over 5 days: P(D ≤ 2) = e⁻¹(1 + 1 + 1/2) = 0.9197 ≥ 0.9 > P(D ≤ 1) = 0.7358.
    assert rp.reorder_point_poisson(0.9, 0.2, 5) == 2.0
    assert np.isnan(rp.reorder_point_poisson(1.5, 1.0, 1.0))


# --- loss function and fill rate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "g"), [(0.0, 0.3989), (0.5, 0.1978), (1.0, 0.0833), (1.5, 0.0293), (2.0, 0.0085), (2.5, 0.0020),
                 (3.0, 0.0004), (-1.0, 1.0833)],
)
def test_standard_normal_loss_table(k: float, g: float) -> None:
    # Tables of G(k) (Silver, Pyke & Thomas App. II; Nahmias Table A-4); G(−k) = G(k) + k.
    assert rp.standard_normal_loss(k) == pytest.approx(g, abs=5e-5)


def test_standard_normal_loss_matches_stockpyl() -> None:
    sp_loss = _stockpyl("loss_functions")
    ks = np.linspace(-4, 6, 101)
    ours = rp.standard_normal_loss(ks)
    theirs = np.array([sp_loss.standard_normal_loss(k)[0] for k in ks])
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)
    assert rp.standard_normal_loss(1.3) == pytest.approx(0.04552796208651397, rel=1e-12)  # stockpyl's doctest


def test_loss_inverse_round_trip_and_brentq() -> None:
    gs = np.array([8.0, 1.0, 0.3989, 0.2, 0.08, 1e-2, 1e-4, 1e-8, 1e-12])
    k = rp.standard_normal_loss_inverse(gs)
    np.testing.assert_allclose(rp.standard_normal_loss(k), gs, rtol=1e-9)
    for g, kk in zip(gs, k, strict=True):
        root = optimize.brentq(lambda x, g=g: float(rp.standard_normal_loss(x)) - g, -20, 10, xtol=1e-14)
        assert kk == pytest.approx(root, abs=1e-8)
    edge = rp.standard_normal_loss_inverse(np.array([0.0, -1.0, np.nan]))
    assert np.isposinf(edge[0]) and np.isposinf(edge[1]) and np.isnan(edge[2])


def test_fill_rate_worked_example() -> None:
    # β = 0.98, Q = 200, σL = 50: G(k) = (1 − 0.98)·200/50 = 0.08. Table: G(1.02) = 0.0802, G(1.03) = 0.0787,
    # so k ≈ 1.021 and s = μL + 1.021·50.
    k = rp.safety_factor_for_fill_rate(0.98, 200, 50)
    assert 1.02 < k < 1.03 and k == pytest.approx(1.0212, abs=1e-4)
    s = rp.reorder_point_for_fill_rate(0.98, 200, 400, 50)
    assert s == pytest.approx(400 + 50 * k)
    assert rp.fill_rate(s, 200, 400, 50) == pytest.approx(0.98, abs=1e-10)
    # k = 0: expected shortage per cycle σ·G(0) = 50·0.3989 = 19.95 units out of Q = 200 → β = 0.9003.
    assert rp.fill_rate(400, 200, 400, 50) == pytest.approx(1 - 50 * 0.398942 / 200, abs=1e-6)
    # No variability: shortage (μL − s)⁺ = 20 units of 200 → 0.9; s ≥ μL → 1.
    assert rp.fill_rate(380, 200, 400, 0) == pytest.approx(0.9) and rp.fill_rate(400, 200, 400, 0) == 1.0
    assert rp.safety_factor_for_fill_rate(0.99, 100, 0.0) == 0.0
    assert np.isnan(rp.fill_rate(400, 0, 400, 50)) and np.isnan(rp.safety_factor_for_fill_rate(1.2, 100, 10))
    assert rp.fill_rate(0, 1, 400, 50) == 0.0  # clipped, not negative


def test_rq_matches_stockpyl_where_models_agree() -> None:
    sp_rq = _stockpyl("rq")
    # Snyder & Shen Examples 5.2 and 5.6 (stockpyl.rq): h = 0.225, p = 7.5, K = 8, λ = 1300/yr, τ = 150, L = 1/12.
    h, p, k, lam, tau, lead = 0.225, 7.5, 8, 1300, 150, 1 / 12
    mu, sigma = rp.lead_time_demand(lam, tau, lead)
    assert mu == pytest.approx(lam * lead) and sigma == pytest.approx(tau * math.sqrt(lead))
    # Loss-function approximation: n(r) = σ·G(k) = hQ/(h + p), i.e. a fill rate of exactly p/(h + p).
    r, q = sp_rq.r_q_loss_function_approximation(h, p, k, lam, tau, lead)
    assert rp.fill_rate(r, q, mu, sigma) == pytest.approx(p / (h + p), abs=1e-7)
    assert rp.reorder_point_for_fill_rate(p / (h + p), q, mu, sigma) == pytest.approx(r, abs=1e-4)
    # EIL approximation: r = F⁻¹(1 − Qh/(pλ)), a cycle service level on N(λL, τ·sqrt(L)).
    r, q, _ = sp_rq.r_q_eil_approximation(h, p, k, lam, tau, lead)
    assert rp.reorder_point(1 - q * h / (p * lam), lam, tau, lead) == pytest.approx(r, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    s=st.floats(-50, 300), ds=st.floats(0, 100), q=st.floats(0.5, 500), mu=st.floats(0, 200), sd=st.floats(0, 60),
)
def test_fill_rate_bounded_and_monotone(s: float, ds: float, q: float, mu: float, sd: float) -> None:
    low, high = rp.fill_rate(s, q, mu, sd), rp.fill_rate(s + ds, q, mu, sd)
    assert 0.0 <= low <= high + 1e-12 <= 1.0 + 1e-12
    assert rp.fill_rate(s, q + 10, mu, sd) >= low - 1e-12  # a larger Q spreads the cycle's shortage thinner


# --- the order decision ---------------------------------------------------------------------------------------------


def test_round_order_quantity() -> None:
    # MOQ first, then the multiple: 5 → MOQ 10 → 12 (multiple of 4); 31 → 32; 0 → no order.
    np.testing.assert_array_equal(rp.round_order_quantity([0, 5, 12, 31, 100, -3], 10, 4), [0, 12, 12, 32, 100, 0])
    assert rp.round_order_quantity(30.000000001, 0, 10) == 30.0  # float noise does not add a pack
    assert rp.round_order_quantity(7.5, 0, 0) == 7.5 and rp.round_order_quantity(7.5, np.nan, np.nan) == 7.5


@settings(max_examples=80, deadline=None)
@given(q=st.floats(0.01, 1e4), moq=st.floats(0, 500), mult=st.sampled_from([0.0, 1.0, 6.0, 12.0, 0.5, 25.0]))
def test_round_order_quantity_properties(q: float, moq: float, mult: float) -> None:
    out = rp.round_order_quantity(q, moq, mult)
    base = max(q, moq)
    assert out >= base - 1e-9 * base
    if mult > 0:
        assert out / mult == pytest.approx(round(out / mult), abs=1e-9)
        assert out - base < mult + 1e-9 * base
    else:
        assert out == base


def test_order_rules_per_policy() -> None:
    frame = rp.replenishment_orders(
        pd.Series([5.0, 50.0, -30.0, 80.0, 80.0, 120.0, 40.0], index=list("abcdefg")),
        ["sS", "sQ", "rQ", "RS", "min-max", "RS", "sQ"],
        reorder_point=[10, 60, 20, np.nan, 100, np.nan, 60],
        order_up_to=[100, np.nan, np.nan, 100, 150, 100, np.nan],
        order_quantity=[np.nan, 25, 25, np.nan, np.nan, np.nan, 25],
        moq=[0, 30, 0, 0, 0, 0, 0], order_multiple=[0, 0, 0, 7, 0, 0, 0],
        review_due=[True, True, True, True, True, True, False],
    )
    assert list(frame.index) == list("abcdefg")
    # a: (s,S) 5 ≤ 10 → 100 − 5 = 95. b: (s,Q) 50 ≤ 60 → one lot of 25, raised to the MOQ 30.
    # c: (s,Q) −30 is 50 below s = 20 → n = ⌊50/25⌋ + 1 = 3 lots = 75. d: (R,S) 100 − 80 = 20 → 21 (7s).
    # e: min–max 80 ≤ 100 → 150 − 80 = 70. f: (R,S) above S → none. g: not a review day → none.
    assert frame["net_requirement"].tolist() == [95, 25, 75, 20, 70, 0, 0]
    assert frame["quantity"].tolist() == [95, 30, 75, 21, 70, 0, 0]
    assert frame["order"].tolist() == [True, True, True, True, True, False, False]
    # At the reorder point exactly, (s, S) orders ("drops to s or below"); just above it, not.
    assert rp.order_quantities(np.array([10.0, 10.5]), "sS", reorder_point=10, order_up_to=50).tolist() == [40, 0]
    # A NaN parameter never orders; an unknown policy is an error.
    assert rp.order_quantities(np.array([0.0]), "sS", reorder_point=np.nan, order_up_to=50).tolist() == [0]
    with pytest.raises(ValueError, match="unknown replenishment policy"):
        rp.order_quantities(np.array([0.0]), "kanban", reorder_point=1, order_up_to=2)


def test_inventory_position() -> None:
    assert rp.inventory_position(100, 50, 20, 10) == 120.0
    np.testing.assert_array_equal(rp.inventory_position([1, 2], [3, 4]), [4, 6])


def test_policy_parameters() -> None:
    params = rp.policy_parameters(
        ["sS", "sQ", "RS"], 0.95, 10.0, 3.0, 5.0, review_period=[0, 0, 7],
        order_quantity=[47, 47, np.nan], moq=50, order_multiple=[0, 20, 0],
    )
    s = rp.reorder_point(0.95, 10, 3, 5)
    assert params["reorder_point"].iloc[0] == pytest.approx(s) and params["reorder_point"].iloc[1] == pytest.approx(s)
    assert params["order_quantity"].tolist()[:2] == [50, 60]  # 47 → MOQ 50; → 60 with packs of 20
    assert params["order_up_to"].iloc[0] == pytest.approx(s + 50)
    assert params["order_up_to"].iloc[2] == pytest.approx(rp.order_up_to_level(0.95, 10, 3, 5, 7))
    assert np.isnan(params["reorder_point"].iloc[2])
    assert params["safety_stock"].iloc[0] == pytest.approx(rp.safety_stock(0.95, 10, 3, 5))
    mixed = rp.policy_parameters(["sS", "sQ"], 0.95, 10.0, 3.0, 5.0, order_quantity=40)  # only the policy varies
    assert mixed["policy"].tolist() == ["sS", "sQ"] and mixed["order_up_to"].iloc[0] == pytest.approx(s + 40)
    slow = rp.policy_parameters("sQ", 0.9, 0.2, 0.5, 5, order_quantity=3, distribution="poisson")
    assert slow["reorder_point"].iloc[0] == 2.0
    with pytest.raises(ValueError, match="order_quantity"):
        rp.policy_parameters("sS", 0.95, 10, 3, 5)
    with pytest.raises(ValueError, match="review_period"):
        rp.policy_parameters("RS", 0.95, 10, 3, 5)


# --- DDMRP ------------------------------------------------------------------------------------------------------------


def test_ddmrp_buffer_and_orders() -> None:
    # ADU 20/day, DLT 10 days, LTF 0.5, VF 0.5, MOQ 150, order cycle 7 days:
    # red base = 20·10·0.5 = 100, red safety = 100·0.5 = 50, red = 150, yellow = 20·10 = 200,
    # green = max(20·7 = 140, 100, 150) = 150; TOR 150, TOY 350, TOG 500.
    buffer = rp.ddmrp_buffer(20, 10, 0.5, 0.5, moq=150, order_cycle=7)
    assert buffer == {"red_base": 100.0, "red_safety": 50.0, "red": 150.0, "yellow": 200.0, "green": 150.0,
                      "top_of_red": 150.0, "top_of_yellow": 350.0, "top_of_green": 500.0}
    orders = rp.ddmrp_orders(pd.Series([50.0, 350.0, 351.0, 600.0], index=list("wxyz")), buffer, order_multiple=25)
    # 50 ≤ TOY → 500 − 50 = 450; exactly at TOY → 150; above TOY → none.
    assert orders["quantity"].tolist() == [450, 150, 0, 0] and list(orders.index) == list("wxyz")
    assert orders["zone"].tolist() == ["red", "yellow", "green", "over"]
    assert orders["buffer_status"].tolist() == pytest.approx([0.1, 0.7, 0.702, 1.2])
    many = rp.ddmrp_buffer(np.array([20.0, 1.0]), np.array([10.0, 30.0]), 0.5, np.array([0.5, 1.0]))
    np.testing.assert_allclose(many["top_of_green"], [150 + 200 + 100, 30 + 30 + 15])


def test_net_flow_and_qualified_demand() -> None:
    open_demand = pd.DataFrame({
        "unique_id": ["a", "a", "a", "a", "b", "b"],
        "due_date": ["2026-03-01", "2026-03-05", "2026-03-06", "2026-03-20", "2026-03-04", "2026-03-07"],
        "qty": [10.0, 5.0, 80.0, 500.0, 3.0, 4.0],
    })
    q = rp.qualified_demand(open_demand, "2026-03-05", pd.Series({"a": 50.0, "b": 50.0}), 10)
    # a: past due 10 + today 5 + the 80 spike (≥ 50, within 10 days); the 500 on 20 March is past the horizon.
    # b: 3 past due; 4 on the 7th is below the threshold.
    assert q.to_dict() == {"a": 95.0, "b": 3.0}
    assert rp.net_flow_position(200, 100, q["a"]) == 205.0


# --- parameters from data ---------------------------------------------------------------------------------------------


def test_demand_stats_fills_missing_days_with_zero() -> None:
    history = pd.DataFrame({
        "unique_id": ["a", "a", "b", "b", "b", "b"],
        "ds": pd.to_datetime(["2026-01-01", "2026-01-03", "2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]),
        "y": [2.0, 4.0, 1.0, 1.0, 1.0, 1.0],
    })
    stats_ = rp.demand_stats(history)
    # a over 1–4 January is [2, 0, 4, 0]: mean 1.5, sample std sqrt((0.25 + 2.25 + 6.25 + 2.25)/3) = 1.9149.
    assert stats_.loc["a", "demand_mean"] == pytest.approx(1.5)
    assert stats_.loc["a", "demand_std"] == pytest.approx(math.sqrt(11 / 3))
    assert stats_.loc["a", "periods"] == 4 and stats_.loc["a", "zero_share"] == 0.5 and stats_.loc["a", "adi"] == 2
    assert stats_.loc["b", "demand_std"] == 0.0 and stats_.loc["b", "pattern"] == "smooth"
    assert stats_.loc["a", "pattern"] == "intermittent"  # adi 2 ≥ 1.32, cv² of (2, 4) = (1/3)² < 0.49
    weekly = rp.demand_stats(history, freq="W")
    assert weekly.loc["a", "demand_mean"] == 6.0 and weekly.loc["a", "periods"] == 1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 20), st.floats(0, 50)), min_size=1, max_size=40))
def test_demand_stats_equals_dense_computation(rows: list[tuple[int, int, float]]) -> None:
    history = pd.DataFrame(rows, columns=["unique_id", "day", "y"])
    history["ds"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(history["day"], unit="D")
    result = rp.demand_stats(history)
    last = history["day"].max()
    for uid, part in history.groupby("unique_id"):
        dense = np.zeros(last - part["day"].min() + 1)
        np.add.at(dense, part["day"] - part["day"].min(), part["y"])
        assert result.loc[uid, "demand_mean"] == pytest.approx(dense.mean(), abs=1e-9)
        if len(dense) > 1:
            assert result.loc[uid, "demand_std"] == pytest.approx(dense.std(ddof=1), abs=1e-7)
        else:
            assert np.isnan(result.loc[uid, "demand_std"])


def test_forecast_demand_stats() -> None:
    z80 = stats.norm.ppf(0.9)
    forecast = pd.DataFrame({
        "unique_id": ["a", "a", "a", "b"], "ds": pd.to_datetime(["2026-01-03", "2026-01-01", "2026-01-02", "2026-01-01"]),
        "yhat": [30.0, 10.0, 20.0, 5.0],
        "lo_80": [30 - 3 * z80, 10 - z80, 20 - 2 * z80, 5.0], "hi_80": [30 + 3 * z80, 10 + z80, 20 + 2 * z80, 5.0],
    })
    out = rp.forecast_demand_stats(forecast)
    # σt = (hi − lo)/(2·z(0.9)) = 1, 2, 3 → std = sqrt((1 + 4 + 9)/3).
    assert out.loc["a", "demand_mean"] == 20.0 and out.loc["a", "demand_std"] == pytest.approx(math.sqrt(14 / 3))
    assert out.loc["b", "demand_std"] == 0.0
    first_two = rp.forecast_demand_stats(forecast, periods=2)
    assert first_two.loc["a", "demand_mean"] == 15.0 and first_two.loc["a", "periods"] == 2
    assert np.isnan(rp.forecast_demand_stats(forecast[["unique_id", "ds", "yhat"]]).loc["a", "demand_std"])


def test_lead_time_stats_per_supplier() -> None:
    po = pd.DataFrame({
        "supplier_id": [1, 1, 1, 2, 2],
        "order_date": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-01", "2026-02-01", "2026-02-01"]),
        "received_date": pd.to_datetime(["2026-01-06", "2026-01-10", "2026-01-30", "2026-02-04", None]),
        "status": ["received", "received", "cancelled", "received", "open"],
    })
    out = rp.lead_time_stats(po).set_index("supplier_id")
    # Supplier 1: 5 and 9 days (the cancelled line is left out): mean 7, std sqrt(8) = 2.83. Supplier 2: one line.
    assert out.loc[1, "lead_time_mean"] == 7.0 and out.loc[1, "lead_time_std"] == pytest.approx(math.sqrt(8))
    assert out.loc[2, "lines"] == 1 and np.isnan(out.loc[2, "lead_time_std"])
