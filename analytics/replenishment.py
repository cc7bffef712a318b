"""Replenishment policies as pure, vectorised functions (see ../shared/DESIGN.md; issue 5, the pure part).

Every function takes scalars, numpy arrays or Series (one value per item-location; scalars broadcast) and returns
numpy arrays — a plain ``float`` when every input is a scalar — or a frame where it says so. Nothing here reads a
database: the automatic replenishment run builds the inputs (inventory position, policy parameters, MOQ, order
multiple) and writes the proposals; :func:`replenishment_orders` is its core.

Units and conventions
---------------------
- Demand is per *period* (a day, usually); lead times and review periods are in the same periods.
- ``service_level`` is a cycle service level (α, "type 1"): the probability of no stockout in a replenishment
  cycle; ``fill_rate`` is the β ("type 2") service: the expected share of demand met from stock.
- A value that cannot be computed (a negative demand, a non-positive holding cost, a service level outside
  (0, 1), ...) is NaN for that item, never an exception, so that one bad item does not stop a run over thousands.
- Inventory position = on hand + on order − backorders − allocated (:func:`inventory_position`).

Policies (Silver, Pyke & Thomas 2017, *Inventory and Production Management in Supply Chains*, 4th ed., ch. 6–7):
``"sQ"`` (s, Q) reorder point / fixed quantity; ``"sS"`` (s, S), also called min–max; ``"RS"`` periodic review,
order-up-to. MOQ and order multiples are applied last (:func:`round_order_quantity`). DDMRP buffers (Ptak & Smith)
are at the end of the module; a DDMRP order is an (s, S) order with s = top of yellow and S = top of green on the
net flow position.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special, stats

from analytics.kpis import FREQS, purchase_lead_time

__all__ = [
    "POLICIES",
    "ddmrp_buffer",
    "ddmrp_orders",
    "demand_stats",
    "eoq",
    "fill_rate",
    "forecast_demand_stats",
    "inventory_position",
    "lead_time_demand",
    "lead_time_stats",
    "net_flow_position",
    "order_quantities",
    "order_up_to_level",
    "policy_codes",
    "policy_parameters",
    "qualified_demand",
    "reorder_point",
    "reorder_point_for_fill_rate",
    "reorder_point_poisson",
    "replenishment_orders",
    "round_order_quantity",
    "safety_factor",
    "safety_factor_for_fill_rate",
    "safety_stock",
    "standard_normal_loss",
    "standard_normal_loss_inverse",
]

#: Policy codes and the spellings accepted for them (case-insensitive).
POLICIES: dict[str, tuple[str, ...]] = {
    "sS": ("ss", "s,s", "(s,s)", "min-max", "minmax", "min_max"),
    "sQ": ("sq", "s,q", "(s,q)", "rq", "r,q", "(r,q)", "rop"),
    "RS": ("rs", "r,s", "(r,s)", "order-up-to", "order_up_to", "periodic"),
}
_CODE = {"sS": 0, "sQ": 1, "RS": 2}
_ALIASES = {alias: code for code, aliases in POLICIES.items() for alias in aliases}
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


# --- helpers ------------------------------------------------------------------------------------------------------


def _f(x: ArrayLike | None, default: float = np.nan) -> np.ndarray:
    """The input as a float array (a Series loses its index; None becomes ``default``)."""
    if x is None:
        return np.asarray(default, dtype=float)
    return np.asarray(x.to_numpy() if isinstance(x, pd.Series) else x, dtype=float)


def _out(x: np.ndarray) -> float | np.ndarray:
    """A 0-d result as a Python float, anything else as an array."""
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _index(*values: Any) -> pd.Index | None:
    """The index of the first Series among ``values`` (results of frame-returning functions keep it)."""
    return next((v.index for v in values if isinstance(v, pd.Series)), None)


# --- order quantity and safety stock ------------------------------------------------------------------------------


def eoq(annual_demand: ArrayLike, order_cost: ArrayLike, holding_cost: ArrayLike) -> float | np.ndarray:
    """Economic order quantity: the lot size that minimises ordering plus holding cost per year.

    Q* = sqrt(2·D·K / h), D = annual demand (units/year), K = cost per order, h = holding cost per unit per year
    (Harris 1913; Wilson 1934; Snyder & Shen, *Fundamentals of Supply Chain Theory*, eq. 3.4). Example: D = 1200,
    K = 100, h = 6 → Q* = sqrt(240000/6) = 200. NaN where D < 0, K < 0 or h ≤ 0.
    """
    d, k, h = _f(annual_demand), _f(order_cost), _f(holding_cost)
    valid = (d >= 0) & (k >= 0) & (h > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.sqrt(2.0 * d * k / h)
    return _out(np.where(valid, q, np.nan))


def safety_factor(service_level: ArrayLike) -> float | np.ndarray:
    """Safety factor z for a cycle service level α under normal demand: z = Φ⁻¹(α).

    Why: P(lead-time demand ≤ μ + zσ) = α (Silver, Pyke & Thomas 2017, §6.7). z(0.95) = 1.645. α = 1 gives +inf,
    α outside [0, 1] NaN.
    """
    return _out(special.ndtri(_f(service_level)))


def lead_time_demand(
    demand_mean: ArrayLike,
    demand_std: ArrayLike,
    lead_time: ArrayLike,
    lead_time_std: ArrayLike = 0.0,
    review_period: ArrayLike = 0.0,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Mean and standard deviation of demand over the protection period P = L + R (lead time plus review period).

    With per-period demand (μd, σd) independent across periods and a random lead time (mean L, std σL),
    mean = μd·(L + R), σ = sqrt((L + R)·σd² + μd²·σL²) (Silver, Pyke & Thomas 2017, §6.10.2; Chopra & Meindl,
    *Supply Chain Management*, ch. 12, safety inventory under lead-time uncertainty). NaN for negative inputs.
    """
    mu, sd, lt, lt_sd, r = _f(demand_mean), _f(demand_std), _f(lead_time), _f(lead_time_std), _f(review_period)
    valid = (mu >= 0) & (sd >= 0) & (lt >= 0) & (lt_sd >= 0) & (r >= 0)
    period = lt + r
    with np.errstate(invalid="ignore"):
        sigma = np.sqrt(period * sd**2 + mu**2 * lt_sd**2)
    return _out(np.where(valid, mu * period, np.nan)), _out(np.where(valid, sigma, np.nan))


def safety_stock(
    service_level: ArrayLike,
    demand_mean: ArrayLike,
    demand_std: ArrayLike,
    lead_time: ArrayLike,
    lead_time_std: ArrayLike = 0.0,
    review_period: ArrayLike = 0.0,
) -> float | np.ndarray:
    """Safety stock (units) for a cycle service level under normal demand, demand and lead-time variability combined.

    SS = z·σ with z = Φ⁻¹(α) and σ = sqrt((L + R)·σd² + μd²·σL²) (see :func:`lead_time_demand`; Silver, Pyke &
    Thomas 2017, §6.7 and §6.10.2; Chopra & Meindl ch. 12). Example: α = 0.95, σd = 10/day, L = 4 days →
    1.645·10·sqrt(4) = 32.9. α < 0.5 gives a negative safety stock (the formula, not an error).
    """
    _, sigma = lead_time_demand(demand_mean, demand_std, lead_time, lead_time_std, review_period)
    return _out(special.ndtri(_f(service_level)) * np.asarray(sigma))


def reorder_point(
    service_level: ArrayLike,
    demand_mean: ArrayLike,
    demand_std: ArrayLike,
    lead_time: ArrayLike,
    lead_time_std: ArrayLike = 0.0,
) -> float | np.ndarray:
    """Reorder point s of a continuous-review policy: mean lead-time demand plus safety stock.

    s = μd·L + z·sqrt(L·σd² + μd²·σL²), z = Φ⁻¹(α) (Silver, Pyke & Thomas 2017, §7.5; Nahmias, *Production and
    Operations Analysis*, §5.4). The undershoot of the reorder point by the demand that triggers the order is not
    added (it is small when daily demand is small against s).
    """
    mean, _ = lead_time_demand(demand_mean, demand_std, lead_time, lead_time_std)
    ss = safety_stock(service_level, demand_mean, demand_std, lead_time, lead_time_std)
    return _out(np.asarray(mean) + np.asarray(ss))


def order_up_to_level(
    service_level: ArrayLike,
    demand_mean: ArrayLike,
    demand_std: ArrayLike,
    lead_time: ArrayLike,
    review_period: ArrayLike,
    lead_time_std: ArrayLike = 0.0,
) -> float | np.ndarray:
    """Order-up-to level S of a periodic-review (R, S) policy, protecting the review period plus the lead time.

    S = μd·(L + R) + z·sqrt((L + R)·σd² + μd²·σL²), z = Φ⁻¹(α) (Silver, Pyke & Thomas 2017, §7.9). With R = 1 it
    is the newsvendor / base-stock level μ(L + 1) + zσ·sqrt(L + 1) of Snyder & Shen §4.3 at α = p / (p + h).
    """
    mean, _ = lead_time_demand(demand_mean, demand_std, lead_time, lead_time_std, review_period)
    ss = safety_stock(service_level, demand_mean, demand_std, lead_time, lead_time_std, review_period)
    return _out(np.asarray(mean) + np.asarray(ss))


def reorder_point_poisson(
    service_level: ArrayLike,
    demand_mean: ArrayLike,
    lead_time: ArrayLike,
    review_period: ArrayLike = 0.0,
) -> float | np.ndarray:
    """Reorder point (or order-up-to level with R > 0) for slow movers with Poisson demand.

    The smallest integer s with P(D ≤ s) ≥ α, D ~ Poisson(μd·(L + R)) (Silver, Pyke & Thomas 2017, §7.11; Snyder &
    Shen, newsvendor with Poisson demand). Where normal approximations fail (a few units per lead time) this keeps
    the discrete truth. Zero demand gives 0; α ≥ 1 gives +inf; NaN for invalid inputs.
    """
    p, mu, lt, r = _f(service_level), _f(demand_mean), _f(lead_time), _f(review_period)
    m = mu * (lt + r)
    valid = (m >= 0) & (p >= 0) & (p <= 1)
    m_safe = np.where(valid & (m > 0), m, 1.0)
    s = stats.poisson.ppf(np.clip(np.where(valid, p, 0.5), 0.0, 1.0), m_safe)
    s = np.where(m == 0, np.where(p >= 1, np.inf, 0.0), s)
    return _out(np.where(valid, s, np.nan))


# --- fill rate (β service) ------------------------------------------------------------------------------------------


def standard_normal_loss(k: ArrayLike) -> float | np.ndarray:
    """Standard normal loss function G(k) = E[(Z − k)⁺] = φ(k) − k·(1 − Φ(k)).

    Why: the expected shortage per cycle of N(μ, σ) lead-time demand against a reorder point μ + kσ is σ·G(k)
    (Silver, Pyke & Thomas 2017, App. II, Table II.1; Nahmias Table A-4; Snyder & Shen eq. C.22).
    G(0) = 1/sqrt(2π) = 0.3989, G(1) = 0.0833, G(2) = 0.0085.
    """
    k = _f(k)
    with np.errstate(over="ignore", invalid="ignore"):
        g = np.exp(-0.5 * k * k) / _SQRT_2PI - k * special.ndtr(-k)
    return _out(np.where(np.isposinf(k), 0.0, np.where(np.isneginf(k), np.inf, g)))


def standard_normal_loss_inverse(loss: ArrayLike, max_iter: int = 200) -> float | np.ndarray:
    """The k with G(k) = g (see :func:`standard_normal_loss`), vectorised Newton's method.

    G is convex and strictly decreasing with G'(k) = −(1 − Φ(k)), so Newton's iteration k ← k + (G(k) − g)/(1 − Φ(k))
    started left of the root (k₀ = 0 when g < G(0), else −g, since G(−g) = g + G(g) > g) increases monotonically
    to it. g ≤ 0 gives +inf; NaN stays NaN.
    """
    g = _f(loss)
    k = np.where(g < 1.0 / _SQRT_2PI, 0.0, -g)
    k = np.where(np.isfinite(g) & (g > 0), k, 0.0)
    active = np.isfinite(g) & (g > 0)
    for _ in range(max_iter):
        sf = special.ndtr(-k)
        value = np.exp(-0.5 * k * k) / _SQRT_2PI - k * sf
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(active, (value - g) / sf, 0.0)
        step = np.where(np.isfinite(step), step, 0.0)
        k = k + step
        if not np.any(np.abs(step) > 1e-12 * np.maximum(1.0, np.abs(k))):
            break
    k = np.where(g <= 0, np.inf, k)
    k = np.where(np.isposinf(g), -np.inf, k)
    return _out(np.where(np.isnan(g), np.nan, k))


def fill_rate(
    reorder_point: ArrayLike,
    order_quantity: ArrayLike,
    lead_time_demand_mean: ArrayLike,
    lead_time_demand_std: ArrayLike,
) -> float | np.ndarray:
    """Expected fill rate β (share of demand met from stock) of an (s, Q) policy under normal lead-time demand.

    β = 1 − σL·G(k)/Q with k = (s − μL)/σL: σL·G(k) is the expected shortage per replenishment cycle and Q the
    demand per cycle (Silver, Pyke & Thomas 2017, §7.5.2, eq. "P2 = 1 − σL·Gu(k)/Q"; Nahmias §5.5, "n(R) = (1 − β)Q").
    For (R, S) pass Q = μd·R and the demand over L + R. σL = 0 gives the deterministic shortage (μL − s)⁺.
    Clipped to [0, 1] (the approximation can go below 0 for tiny Q); NaN where Q ≤ 0.
    """
    s, q, mu, sd = _f(reorder_point), _f(order_quantity), _f(lead_time_demand_mean), _f(lead_time_demand_std)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = (s - mu) / np.where(sd > 0, sd, 1.0)
        shortage = np.where(sd > 0, sd * np.asarray(standard_normal_loss(k)), np.maximum(mu - s, 0.0))
        beta = np.clip(1.0 - shortage / q, 0.0, 1.0)
    return _out(np.where((q > 0) & (sd >= 0), beta, np.nan))


def safety_factor_for_fill_rate(
    fill_rate: ArrayLike, order_quantity: ArrayLike, lead_time_demand_std: ArrayLike
) -> float | np.ndarray:
    """Safety factor k that reaches a target fill rate β with order quantity Q under normal lead-time demand.

    Solves G(k) = (1 − β)·Q/σL (Silver, Pyke & Thomas 2017, §7.5.2, "Gu(k) = Q(1 − P2)/σL"; Nahmias §5.5) with
    :func:`standard_normal_loss_inverse`. Example: β = 0.98, Q = 200, σL = 50 → G(k) = 0.08 → k ≈ 1.02.
    σL = 0 gives k = 0 (no variability: s = μL meets all demand). NaN for β outside [0, 1] or Q ≤ 0.
    """
    beta, q, sd = _f(fill_rate), _f(order_quantity), _f(lead_time_demand_std)
    valid = (beta >= 0) & (beta <= 1) & (q > 0) & (sd >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (1.0 - beta) * q / np.where(sd > 0, sd, 1.0)
    k = np.asarray(standard_normal_loss_inverse(np.where(valid, g, np.nan)))
    k = np.where(valid & (sd == 0), 0.0, k)
    return _out(np.where(valid, k, np.nan))


def reorder_point_for_fill_rate(
    fill_rate: ArrayLike,
    order_quantity: ArrayLike,
    lead_time_demand_mean: ArrayLike,
    lead_time_demand_std: ArrayLike,
) -> float | np.ndarray:
    """Reorder point reaching a target fill rate: s = μL + k·σL with k from :func:`safety_factor_for_fill_rate`.

    Silver, Pyke & Thomas 2017, §7.5.2 (decision rule for a P2 service).
    """
    k = np.asarray(safety_factor_for_fill_rate(fill_rate, order_quantity, lead_time_demand_std))
    return _out(_f(lead_time_demand_mean) + k * _f(lead_time_demand_std))


# --- policies: parameters and the order decision --------------------------------------------------------------------


def policy_codes(policy: ArrayLike | str, size: int | None = None) -> np.ndarray:
    """Policy names (one, or one per item) as integer codes 0 = (s, S), 1 = (s, Q), 2 = (R, S).

    Accepts the spellings in ``POLICIES`` (case-insensitive: "sS", "min-max", "sQ", "rQ", "RS", "order-up-to", ...);
    ValueError naming an unknown one. A single name is broadcast to ``size`` items.
    """
    values = np.asarray(policy.to_numpy() if isinstance(policy, pd.Series) else policy, dtype=object)
    uniques = pd.unique(values.ravel())
    mapping = {}
    for u in uniques:
        name = str(u).strip()
        code = name if name in _CODE else _ALIASES.get(name.lower().replace(" ", ""))
        if code is None:
            raise ValueError(f"unknown replenishment policy {u!r}: use one of {sorted(_CODE)} (see POLICIES)")
        mapping[u] = _CODE[code]
    codes = np.vectorize(mapping.__getitem__, otypes=[np.int8])(values) if values.ndim else np.int8(mapping[values[()]])
    codes = np.asarray(codes, dtype=np.int8)
    return np.broadcast_to(codes, (size,)).copy() if size is not None and codes.ndim == 0 else codes


def round_order_quantity(quantity: ArrayLike, moq: ArrayLike = 0.0, order_multiple: ArrayLike = 0.0) -> float | np.ndarray:
    """A net requirement turned into an orderable quantity: at least the MOQ, then up to a multiple of the pack.

    q = ⌈max(r, MOQ) / m⌉·m for r > 0 (m = order multiple; m ≤ 0 or NaN means no rounding), 0 for r ≤ 0 — the
    ERP rule "minimum lot size, then rounding value" (e.g. SAP MRP lot sizing). So a multiple-rounded quantity is
    never below the MOQ, even when the MOQ is not itself a multiple.
    """
    r, moq_, m = _f(quantity), np.nan_to_num(_f(moq)), _f(order_multiple)
    q = np.maximum(r, moq_)
    m_ok = np.isfinite(m) & (m > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rounded = np.ceil(np.round(q / np.where(m_ok, m, 1.0), 9)) * m
    q = np.where(m_ok, rounded, q)
    return _out(np.where(r > 0, q, 0.0))


def inventory_position(
    on_hand: ArrayLike, on_order: ArrayLike = 0.0, backorders: ArrayLike = 0.0, allocated: ArrayLike = 0.0
) -> float | np.ndarray:
    """Inventory position = on hand + on order − backorders − allocated (Silver, Pyke & Thomas 2017, §6.2).

    The stock a reorder decision looks at: what is here and coming, less what is already promised.
    """
    return _out(_f(on_hand) + _f(on_order) - _f(backorders) - _f(allocated))


def _order_quantity(
    ip: np.ndarray,
    code: np.ndarray,
    s: np.ndarray,
    big_s: np.ndarray,
    q: np.ndarray,
    moq: np.ndarray,
    multiple: np.ndarray,
    review_due: np.ndarray | bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(net requirement, rounded order quantity) of each item; the shared core of the run and the simulation.

    All arrays have the shape of ``ip`` (``review_due`` may be a scalar). Only the triggered items are sized,
    which keeps a daily simulation step cheap when few items order on a day.
    """
    with np.errstate(invalid="ignore"):
        trigger = np.where(code == 2, ip < big_s, ip <= s)
    if review_due is not True:
        trigger &= review_due
    need, qty = np.zeros(ip.shape), np.zeros(ip.shape)
    idx = np.flatnonzero(trigger)
    if idx.size:
        x, si, qi = ip[idx], s[idx], q[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            lots = np.floor((si - x) / qi) + 1.0
            n_i = np.where(code[idx] == 1, lots * qi, big_s[idx] - x)
        n_i = np.where(np.isfinite(n_i) & (n_i > 0), n_i, 0.0)
        need[idx] = n_i
        qty[idx] = round_order_quantity(n_i, moq[idx], multiple[idx])
    return need, qty


def _policy_arrays(
    inventory_position: ArrayLike, policy: ArrayLike | str, *values: ArrayLike | None
) -> tuple[np.ndarray, ...]:
    """Inventory position, policy codes and parameter arrays broadcast to one item axis."""
    ip = np.atleast_1d(_f(inventory_position))
    arrays = np.broadcast_arrays(ip, *(_f(v) for v in values))
    n = arrays[0].shape[0]
    code = np.broadcast_to(policy_codes(policy, n), (n,))
    return (arrays[0], code, *(np.array(a, dtype=float) for a in arrays[1:]))


def order_quantities(
    inventory_position: ArrayLike,
    policy: ArrayLike | str,
    *,
    reorder_point: ArrayLike | None = None,
    order_up_to: ArrayLike | None = None,
    order_quantity: ArrayLike | None = None,
    moq: ArrayLike = 0.0,
    order_multiple: ArrayLike = 0.0,
    review_due: ArrayLike = True,
) -> float | np.ndarray:
    """Order quantity per item (0 = no order) under its policy, rounded up to MOQ and order multiple.

    - (s, S) / min–max: if IP ≤ s order S − IP (Scarf 1960; Silver, Pyke & Thomas 2017, §7.6).
    - (s, Q): if IP ≤ s order n·Q with the smallest n lifting IP above s, i.e. n = ⌊(s − IP)/Q⌋ + 1 (the (s, nQ)
      rule, Hadley & Whitin 1963; n = 1 unless the IP fell more than Q below s).
    - (R, S): on review days (``review_due``), if IP < S order S − IP (Silver, Pyke & Thomas 2017, §7.9).
    ``review_due`` (bool per item) gates every policy, so (R, s, S) and (R, s, Q) are the same rules reviewed every
    R periods. Then :func:`round_order_quantity`. An item whose parameters are NaN does not order.
    """
    scalar = np.ndim(inventory_position) == 0
    ip, code, s, big_s, q, moq_, mult, due = _policy_arrays(
        inventory_position, policy, reorder_point, order_up_to, order_quantity, moq, order_multiple, review_due
    )
    _, qty = _order_quantity(ip, code, s, big_s, q, moq_, mult, due.astype(bool))
    return _out(qty[0] if scalar and qty.shape[0] == 1 else qty)


def replenishment_orders(
    inventory_position: ArrayLike,
    policy: ArrayLike | str,
    *,
    reorder_point: ArrayLike | None = None,
    order_up_to: ArrayLike | None = None,
    order_quantity: ArrayLike | None = None,
    moq: ArrayLike = 0.0,
    order_multiple: ArrayLike = 0.0,
    review_due: ArrayLike = True,
) -> pd.DataFrame:
    """The automatic replenishment decision for many item-locations at once: whether to order and how much.

    Inputs, one value per item-location (scalars broadcast): ``inventory_position`` (on hand + on order −
    backorders − allocated, :func:`inventory_position`), ``policy`` ("sS", "sQ", "RS" or an alias), the policy's
    parameters (``reorder_point`` s, ``order_up_to`` S, ``order_quantity`` Q; see :func:`policy_parameters`),
    ``moq``, ``order_multiple`` and ``review_due`` (False on a periodic item's non-review days).
    Rules: :func:`order_quantities`. Returns a frame (the index of a Series input, else 0..n−1) with
    ``inventory_position``, ``net_requirement`` (what the policy asks for before lot sizing), ``order`` (bool) and
    ``quantity`` (rounded up to MOQ and multiples; 0 when no order).
    """
    ip, code, s, big_s, q, moq_, mult, due = _policy_arrays(
        inventory_position, policy, reorder_point, order_up_to, order_quantity, moq, order_multiple, review_due
    )
    need, qty = _order_quantity(ip, code, s, big_s, q, moq_, mult, due.astype(bool))
    index = _index(inventory_position, reorder_point, order_up_to, order_quantity)
    return pd.DataFrame(
        {"inventory_position": ip, "net_requirement": need, "order": qty > 0, "quantity": qty},
        index=index if index is not None and len(index) == ip.shape[0] else None,
    )


def policy_parameters(
    policy: ArrayLike | str,
    service_level: ArrayLike,
    demand_mean: ArrayLike,
    demand_std: ArrayLike,
    lead_time: ArrayLike,
    *,
    lead_time_std: ArrayLike = 0.0,
    review_period: ArrayLike = 0.0,
    order_quantity: ArrayLike | None = None,
    moq: ArrayLike = 0.0,
    order_multiple: ArrayLike = 0.0,
    distribution: ArrayLike | str = "normal",
) -> pd.DataFrame:
    """Policy parameters per item from its demand, lead time and cycle service target.

    - (s, Q): s = :func:`reorder_point` (protection L, or L + R when reviewed every R periods), Q = the given
      ``order_quantity`` (e.g. :func:`eoq` in periods' demand), rounded with MOQ and multiple; S = s + Q.
    - (s, S) / min–max: s as above, S = s + Q (min = s, max = S; Silver, Pyke & Thomas 2017, §7.6, S − s ≈ EOQ).
    - (R, S): S = :func:`order_up_to_level` over L + R (R = ``review_period``, must be > 0); s = NaN.
    ``distribution`` "poisson" (per item or all) uses :func:`reorder_point_poisson` for s (and S of (R, S)), for
    slow movers; "normal" the formulas above. Returns a frame with ``policy``, ``safety_stock`` (level minus mean
    demand over its protection period), ``reorder_point``, ``order_up_to``, ``order_quantity``, ``review_period``.
    """
    mu, sd, lt, lt_sd, r = _f(demand_mean), _f(demand_std), _f(lead_time), _f(lead_time_std), _f(review_period)
    raw_code = policy_codes(policy)
    n = int(np.broadcast(mu, sd, lt, lt_sd, r, _f(service_level), raw_code, _f(order_quantity), _f(moq),
                         _f(order_multiple)).size)
    code = np.broadcast_to(raw_code, (n,))
    dist = np.broadcast_to(np.char.lower(np.asarray(distribution, dtype=str)), (n,))
    if not np.isin(dist, ["normal", "poisson"]).all():
        raise ValueError("distribution must be 'normal' or 'poisson'")
    is_rs = code == 2
    review = np.broadcast_to(r, (n,)).astype(float)
    if (review[is_rs] <= 0).any():
        raise ValueError("(R, S) policies need review_period > 0")
    level = np.where(
        dist == "poisson",
        reorder_point_poisson(service_level, mu, lt, r),
        order_up_to_level(service_level, mu, sd, lt, r, lt_sd),
    )
    level = np.broadcast_to(level, (n,)).astype(float)
    q = np.full(n, np.nan)
    if order_quantity is not None:
        q = np.broadcast_to(np.asarray(round_order_quantity(order_quantity, moq, order_multiple), float), (n,))
        q = np.where(q > 0, q, np.nan)
    if np.isnan(q[~is_rs]).any():
        raise ValueError("(s, Q) and (s, S) policies need a positive order_quantity for every item")
    frame = pd.DataFrame({
        "policy": np.array(["sS", "sQ", "RS"], dtype=object)[code],
        "safety_stock": level - np.broadcast_to(mu * (lt + r), (n,)),
        "reorder_point": np.where(is_rs, np.nan, level),
        "order_up_to": np.where(is_rs, level, level + q),
        "order_quantity": np.where(is_rs, np.nan, q),
        "review_period": review,
    })
    index = _index(demand_mean, demand_std, lead_time, service_level)
    if index is not None and len(index) == n:
        frame.index = index
    return frame


# --- DDMRP ------------------------------------------------------------------------------------------------------------


def ddmrp_buffer(
    adu: ArrayLike,
    dlt: ArrayLike,
    lead_time_factor: ArrayLike,
    variability_factor: ArrayLike,
    moq: ArrayLike = 0.0,
    order_cycle: ArrayLike = 0.0,
) -> dict[str, float | np.ndarray]:
    """DDMRP buffer zones of a decoupled position (Ptak & Smith, *Demand Driven Material Requirements Planning*,
    Industrial Press 2016, buffer profiles and levels).

    red base = ADU·DLT·LTF; red safety = red base·VF; red = red base + red safety; yellow = ADU·DLT;
    green = max(ADU·order cycle, red base, MOQ); top of red = red; top of yellow = red + yellow;
    top of green = red + yellow + green. ADU = average daily usage, DLT = decoupled lead time (days),
    LTF / VF = lead-time and variability factors (e.g. 0.2–0.7). Returns a mapping of those eight names.
    """
    a, d, ltf, vf = _f(adu), _f(dlt), _f(lead_time_factor), _f(variability_factor)
    red_base = a * d * ltf
    red_safety = red_base * vf
    red = red_base + red_safety
    yellow = a * d
    green = np.maximum(np.maximum(a * _f(order_cycle), red_base), _f(moq))
    values = {
        "red_base": red_base, "red_safety": red_safety, "red": red, "yellow": yellow, "green": green,
        "top_of_red": red, "top_of_yellow": red + yellow, "top_of_green": red + yellow + green,
    }
    return {name: _out(v) for name, v in values.items()}


def net_flow_position(on_hand: ArrayLike, on_order: ArrayLike, qualified_demand: ArrayLike) -> float | np.ndarray:
    """DDMRP net flow position = on hand + on order − qualified demand (Ptak & Smith 2016, the net flow equation).

    Qualified demand = past due + due today + qualified spikes (:func:`qualified_demand`).
    """
    return _out(_f(on_hand) + _f(on_order) - _f(qualified_demand))


def qualified_demand(
    open_demand: pd.DataFrame,
    as_of: Any,
    spike_threshold: pd.Series | float,
    spike_horizon: int | pd.Series,
) -> pd.Series:
    """Qualified demand per ``unique_id`` from open demand (columns unique_id, due_date, qty), as of a day.

    Qualified = Σ qty due on or before ``as_of`` (past due and today) + Σ of the days in (as_of, as_of + horizon]
    whose total qty ≥ the spike threshold (order spikes; Ptak & Smith 2016: threshold often 50 % of the red zone,
    horizon often the DLT). ``spike_threshold`` and ``spike_horizon`` (days) are scalars or Series by unique_id.
    Returns a Series by unique_id (ids without qualified demand are 0 when they have open demand).
    """
    missing = [c for c in ("unique_id", "due_date", "qty") if c not in open_demand.columns]
    if missing:
        raise ValueError(f"open_demand lacks column(s) {missing}")
    day = pd.Timestamp(as_of).normalize()
    due = pd.to_datetime(open_demand["due_date"]).dt.normalize()
    daily = open_demand.assign(due_date=due).groupby(["unique_id", "due_date"], sort=True)["qty"].sum().reset_index()
    ids = daily["unique_id"]
    threshold = ids.map(spike_threshold) if isinstance(spike_threshold, pd.Series) else spike_threshold
    horizon = ids.map(spike_horizon) if isinstance(spike_horizon, pd.Series) else spike_horizon
    ahead = (daily["due_date"] - day).dt.days
    qualified = (ahead <= 0) | ((ahead <= horizon) & (daily["qty"] >= threshold))
    return daily["qty"].where(qualified, 0.0).groupby(ids, sort=True).sum().rename("qualified_demand")


def ddmrp_orders(
    net_flow: ArrayLike,
    buffer: Mapping[str, ArrayLike],
    *,
    order_multiple: ArrayLike = 0.0,
) -> pd.DataFrame:
    """DDMRP supply order recommendation: order when net flow ≤ top of yellow, for top of green − net flow.

    (Ptak & Smith 2016, supply order generation; the MOQ already sits in the green zone, see :func:`ddmrp_buffer`.)
    The quantity is rounded up to ``order_multiple``. Also the planning priority ``buffer_status`` = net flow /
    top of green (lower is more urgent) and the ``zone`` of the net flow: "red" (≤ top of red), "yellow",
    "green" (≤ top of green) or "over". Returns a frame (index of a Series input) with net_flow, order,
    quantity, buffer_status, zone.
    """
    # an (s, S) order with s = top of yellow and S = top of green, on the net flow position
    nfp, code, tor, toy, tog, mult = _policy_arrays(
        net_flow, "sS", buffer["top_of_red"], buffer["top_of_yellow"], buffer["top_of_green"], order_multiple
    )
    _, qty = _order_quantity(nfp, code, toy, tog, np.full(nfp.shape, np.nan), np.zeros(nfp.shape), mult, True)
    zone = np.select([nfp <= tor, nfp <= toy, nfp <= tog], ["red", "yellow", "green"], "over")
    with np.errstate(divide="ignore", invalid="ignore"):
        status = np.where(tog > 0, nfp / tog, np.nan)
    index = _index(net_flow)
    return pd.DataFrame(
        {"net_flow": nfp, "order": qty > 0, "quantity": qty, "buffer_status": status, "zone": zone},
        index=index if index is not None and len(index) == nfp.shape[0] else None,
    )


# --- parameters from the data ---------------------------------------------------------------------------------------


def _period_ordinals(dates: pd.Series, freq: str) -> np.ndarray:
    """Integer period numbers (consecutive periods differ by 1) of ``dates`` at ``freq`` (a kpis.FREQS code)."""
    dates = dates if pd.api.types.is_datetime64_any_dtype(dates) else pd.to_datetime(dates)
    return pd.PeriodIndex(dates.dt.tz_localize(None) if dates.dt.tz else dates, freq=FREQS.get(freq, freq)).asi8


def demand_stats(
    history: pd.DataFrame,
    *,
    freq: str = "D",
    start: Any = None,
    end: Any = None,
) -> pd.DataFrame:
    """Demand per period, mean and standard deviation per series, from a long history (unique_id, ds, y).

    Rows are summed into ``freq`` periods ("D", "W", "M", "Q", "Y" as in analytics.kpis, or a pandas alias).
    Periods without a row count as zero demand, from the series' first period (or ``start``) to the last period
    of the whole history (or ``end``): mean = Σy / N, std = sample standard deviation over the N periods,
    zeros included (so a series that sells once a month is not taken as selling every day). Also the
    intermittency measures of Syntetos & Boylan (2005): ``adi`` = N / periods with demand, ``cv2`` = squared
    coefficient of variation of the non-zero demands, and ``pattern`` (smooth: adi < 1.32 and cv2 < 0.49;
    intermittent: adi ≥ 1.32, cv2 < 0.49; erratic; lumpy) — intermittent and lumpy series suit the Poisson
    reorder point. Returns a frame indexed by unique_id: demand_mean, demand_std, periods, demand_periods,
    zero_share, adi, cv2, pattern.
    """
    missing = [c for c in ("unique_id", "ds", "y") if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing} (long format: unique_id, ds, y)")
    period = pd.Series(_period_ordinals(history["ds"], freq), index=history.index)
    lo = _period_ordinals(pd.Series([pd.Timestamp(start)]), freq)[0] if start is not None else None
    hi = _period_ordinals(pd.Series([pd.Timestamp(end)]), freq)[0] if end is not None else int(period.max())
    keep = (period <= hi) & (period >= lo if lo is not None else True)
    d = pd.DataFrame({"unique_id": history["unique_id"][keep], "p": period[keep], "y": history["y"][keep]})
    per = d.groupby(["unique_id", "p"], sort=True)["y"].sum().reset_index()
    g = per.groupby("unique_id", sort=True)
    first = g["p"].min() if lo is None else pd.Series(lo, index=g["p"].min().index)
    n = (hi - first + 1).astype(float)
    total = g["y"].sum()
    mean = total / n
    dev = (per["y"] - per["unique_id"].map(mean)) ** 2
    nonzero = per["y"] != 0
    ss = dev.groupby(per["unique_id"], sort=True).sum() + (n - g["y"].size()) * mean**2
    demand_periods = nonzero.groupby(per["unique_id"], sort=True).sum().astype(float)
    nz = per[nonzero].groupby("unique_id", sort=True)["y"]
    nz_mean, nz_std = nz.mean().reindex(mean.index), nz.std(ddof=0).reindex(mean.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.sqrt(ss / (n - 1)).where(n > 1)
        adi = (n / demand_periods).where(demand_periods > 0)
        cv2 = (nz_std / nz_mean) ** 2
    pattern = np.select(
        [(adi < 1.32) & (cv2 < 0.49), (adi >= 1.32) & (cv2 < 0.49), (adi < 1.32) & (cv2 >= 0.49),
         (adi >= 1.32) & (cv2 >= 0.49)],
        ["smooth", "intermittent", "erratic", "lumpy"], None,
    )
    return pd.DataFrame({
        "demand_mean": mean, "demand_std": std, "periods": n.astype(int), "demand_periods": demand_periods.astype(int),
        "zero_share": 1.0 - demand_periods / n, "adi": adi, "cv2": cv2, "pattern": pattern,
    })


def forecast_demand_stats(
    forecast: pd.DataFrame,
    *,
    level: float | None = None,
    lo: str | None = None,
    hi: str | None = None,
    periods: int | None = None,
) -> pd.DataFrame:
    """Demand per period, mean and standard deviation per series, from a forecast (unique_id, ds, yhat, lo/hi).

    mean = average yhat over the first ``periods`` forecast periods (all when None). The std comes from the
    prediction interval of coverage ``level`` % (columns ``lo_<level>`` / ``hi_<level>`` as in fact_forecast, or
    named by ``lo``/``hi``; by default lo_80/hi_80, else lo_95/hi_95): σt = (hi − lo) / (2·z), z = Φ⁻¹(1/2 +
    level/200), and std = sqrt(mean σt²) (the per-period forecast-error variance averaged over the horizon — the σ
    safety stock should use, Silver, Pyke & Thomas 2017, §6.4). Without interval columns std is NaN.
    Returns a frame indexed by unique_id: demand_mean, demand_std, periods.
    """
    missing = [c for c in ("unique_id", "ds", "yhat") if c not in forecast.columns]
    if missing:
        raise ValueError(f"forecast lacks column(s) {missing} (unique_id, ds, yhat, lo_80, hi_80, ...)")
    if lo is None or hi is None:
        levels = [level] if level is not None else [80, 95]
        found = [lv for lv in levels if f"lo_{lv:g}" in forecast.columns and f"hi_{lv:g}" in forecast.columns]
        if found:
            level = found[0]
            lo, hi = f"lo_{level:g}", f"hi_{level:g}"
    elif level is None:
        raise ValueError("level is needed with lo/hi column names")
    f = forecast.sort_values(["unique_id", "ds"], kind="stable")
    if periods is not None:
        f = f[f.groupby("unique_id", sort=False).cumcount() < periods]
    g = f.groupby("unique_id", sort=True)
    out = pd.DataFrame({"demand_mean": g["yhat"].mean()})
    if lo is not None and hi is not None:
        z = special.ndtri(0.5 + float(level) / 200.0)
        var = ((f[hi] - f[lo]) / (2.0 * z)) ** 2
        out["demand_std"] = np.sqrt(var.groupby(f["unique_id"], sort=True).mean())
    else:
        out["demand_std"] = np.nan
    out["periods"] = g.size()
    return out


def lead_time_stats(po_lines: pd.DataFrame, *, by: str | list[str] = "supplier_id") -> pd.DataFrame:
    """Lead time mean and standard deviation (days) per supplier from PO lines (supplier_id, order_date,
    received_date, status).

    Lead time = received_date − order_date of received, not cancelled lines (the definition of
    ``analytics.kpis.purchase_lead_time``, reused so the KPI and the policy agree); mean and sample std per
    ``by`` (std NaN with one line: fall back on dim_supplier's figure). Returns by columns, lead_time_mean,
    lead_time_std, lines.
    """
    kpi = purchase_lead_time(po_lines, by=by)
    keys = [by] if isinstance(by, str) else list(by)
    return kpi[[*keys, "mean_days", "std_days", "lines_received"]].rename(
        columns={"mean_days": "lead_time_mean", "std_days": "lead_time_std", "lines_received": "lines"}
    )
