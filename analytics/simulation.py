"""What-if simulation of replenishment policies, day by day, for many item-locations at once (issue 5).

Pure and vectorised (see ../shared/DESIGN.md): every state is a numpy array of shape (items,) and the only Python
loop runs over days; nothing loops over items. Demand and lead times are drawn up front as (days, items) matrices,
so one draw can be replayed under several policies (common random numbers: the trade-off curve and "what if I
raise s" compare policies on the same days, not on different luck). Deterministic for a given seed.

The day t, for every item at once
---------------------------------
1. Receive the orders due today; received units serve backorders first (oldest first).
2. Serve today's demand from on hand; ``met from stock`` = min(demand, on hand). The rest is backordered
   (or lost, with ``lost_sales=True``). A *stockout day* is a day with demand not fully met from stock.
3. Close the day: closing on hand and backorders are recorded (holding cost per unit-day on closing on hand,
   backorder cost per unit-day on closing backorders, inventory value = closing on hand × unit cost).
4. Review (every day for (s, S) and (s, Q), on review days for (R, S), or for any policy with
   ``review_period`` > 1): inventory position = on hand + on order − backorders, and the order rule of
   :func:`analytics.replenishment.order_quantities` with MOQ and order multiples. An order placed at the close of
   day t with a lead time of L days is due on day t + L + 1: L whole days of demand are exposed, as in the
   textbook reorder point μ·L. Orders may cross when lead times vary.

This is the period sequence of stockpyl's ``sim`` (Snyder & Shen, *Fundamentals of Supply Chain Theory*, ch. 11),
whose order of period t is placed on the position after that period's demand and received in period t + L' before
that period's demand: our lead time L is stockpyl's ``shipment_lead_time`` L' = L + 1. With that, the same policy
on the same demand gives the same fill rate, orders and costs (checked in the tests and in bench/simulate.py).

Results: fill rate = Σ met from stock on the day / Σ demand (per item and in total), stockout days, average
closing on hand and its value, orders placed, costs (holding per unit-day, ordering per order, backorder per
unit-day, lost sale per unit), and the units that balance: on hand − backorders + pipeline = initial on hand +
ordered − demand (backorders) or on hand + pipeline = initial + ordered − met (lost sales).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analytics.replenishment import _order_quantity, policy_codes, policy_parameters

DISTRIBUTIONS = ("normal", "gamma", "poisson")


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of :func:`simulate`.

    ``items``: one row per item (index = item ids or 0..n−1) with demand, met_from_stock, fill_rate,
    stockout_days, avg_on_hand, avg_inventory_value, avg_backorders, orders, units_ordered, units_received,
    lost_units, holding_cost, ordering_cost, backorder_cost, lost_sale_cost, total_cost, initial_on_hand,
    end_on_hand, end_backorders, end_pipeline.
    ``total``: the same summed over items (fill_rate = Σ met / Σ demand; avg_inventory_value summed), plus
    ``items`` and ``days``. ``daily``: one row per day, summed over items (demand, met_from_stock, on_hand,
    inventory_value, backorders, orders, units_ordered). ``trace``: with ``trace=True``, (days, items) arrays of
    on_hand, backorders, on_order, inventory_position (at review, before ordering) and order_qty.
    """

    items: pd.DataFrame
    total: pd.Series
    daily: pd.DataFrame
    trace: dict[str, np.ndarray] | None = None


# --- drawing demand and lead times ----------------------------------------------------------------------------------


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed (or the Generator itself), so that every draw is reproducible."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _vec(x: ArrayLike, n: int | None = None) -> np.ndarray:
    """A float array of one value per item (broadcast to ``n`` items when given, a Series loses its index)."""
    a = np.asarray(x.to_numpy() if isinstance(x, pd.Series) else x, dtype=float)
    return np.broadcast_to(a, (n,)).astype(float) if n is not None else np.atleast_1d(a)


def demand_from_distribution(
    mean: ArrayLike,
    std: ArrayLike | None = None,
    *,
    days: int,
    distribution: str = "normal",
    seed: int | np.random.Generator | None = None,
    integer: bool = False,
) -> np.ndarray:
    """Daily demand drawn from a distribution with a given mean and std per item: a (days, items) array.

    "normal": max(0, N(μ, σ)) (truncated at 0, like stockpyl's normal demand; the mean rises slightly when σ/μ is
    large); "gamma": shape μ²/σ², scale σ²/μ (non-negative and right-skewed, a common fit to daily sales; Silver,
    Pyke & Thomas 2017, §6.7); "poisson": Poisson(μ), σ ignored (slow movers). σ = 0 gives μ every day.
    ``integer`` rounds normal and gamma draws to whole units.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}")
    rng = _rng(seed)
    mu = _vec(mean)
    n = mu.shape[0]
    mu = _vec(mu, n)
    if distribution == "poisson":
        if (mu < 0).any():
            raise ValueError("mean must be >= 0")
        return rng.poisson(mu, size=(days, n)).astype(float)
    if std is None:
        raise ValueError(f"{distribution} demand needs std")
    sd = _vec(std, n)
    if (mu < 0).any() or (sd < 0).any():
        raise ValueError("mean and std must be >= 0")
    if distribution == "normal":
        out = np.maximum(rng.standard_normal((days, n)) * sd + mu, 0.0)
    else:
        random = (sd > 0) & (mu > 0)
        shape = np.where(random, mu**2 / np.where(random, sd**2, 1.0), 1.0)
        scale = np.where(random, sd**2 / np.where(mu > 0, mu, 1.0), 0.0)
        out = np.where(random, rng.standard_gamma(shape, size=(days, n)) * scale, mu)
    return np.round(out) if integer else out


def history_matrix(history: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """A long daily history (unique_id, ds, y) as (ids, matrix of shape (items, days)).

    Days run from the first to the last day of the whole history; a series' missing days after its own first
    day are 0 (no demand), the days before it NaN (not yet sold: not sampled by :func:`demand_from_history`).
    ``ids`` are the sorted unique_ids, the matrix rows' order.
    """
    missing = [c for c in ("unique_id", "ds", "y") if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing} (long format: unique_id, ds, y)")
    ds = pd.to_datetime(history["ds"]).dt.normalize()
    ids, item = np.unique(history["unique_id"].to_numpy(), return_inverse=True)
    day0 = ds.min()
    day = (ds - day0).dt.days.to_numpy()
    matrix = np.zeros((len(ids), int(day.max()) + 1 if len(day) else 0))
    np.add.at(matrix, (item, day), history["y"].to_numpy(dtype=float))
    first = np.full(len(ids), matrix.shape[1])
    np.minimum.at(first, item, day)
    matrix[np.arange(matrix.shape[1])[None, :] < first[:, None]] = np.nan
    return pd.Index(ids, name="unique_id"), matrix


def demand_from_history(
    history: np.ndarray | pd.DataFrame,
    *,
    days: int,
    seed: int | np.random.Generator | None = None,
    block: int = 1,
) -> np.ndarray:
    """Daily demand bootstrapped from each item's own history: a (days, items) array.

    ``history`` is (items, past days) with NaN for days not to sample (see :func:`history_matrix`), or a long
    frame (unique_id, ds, y), whose items are then in sorted unique_id order. Each simulated day takes a past day
    of the same item uniformly at random (Efron's bootstrap); with ``block`` > 1, runs of ``block`` consecutive past
    days (moving-block bootstrap, Künsch 1989), which keeps weekly patterns and short autocorrelation. An item
    without any history has zero demand.
    """
    if isinstance(history, pd.DataFrame):
        _, history = history_matrix(history)
    h = np.asarray(history, dtype=float)
    if h.ndim != 2:
        raise ValueError("history must be a 2-D (items, past days) array or a long frame")
    if block < 1:
        raise ValueError("block must be >= 1")
    rng = _rng(seed)
    n_items = h.shape[0]
    valid = ~np.isnan(h)
    order = np.argsort(~valid, axis=1, kind="stable")  # each row's valid days first, in time order
    packed = np.take_along_axis(np.nan_to_num(h), order, axis=1)
    count = valid.sum(axis=1)
    if packed.shape[1] == 0:
        return np.zeros((days, n_items))
    width = np.minimum(block, np.maximum(count, 1))
    n_blocks = -(-days // block)
    starts = np.floor(rng.random((n_blocks, n_items)) * np.maximum(count - width + 1, 1)).astype(np.int64)
    day = np.arange(days)
    pos = starts[day // block] + (day % block)[:, None] % width[None, :]
    out = np.take_along_axis(packed.T, pos, axis=0) if n_items else np.zeros((days, 0))
    return np.where(count > 0, out, 0.0)


def lead_times_from_distribution(
    mean: ArrayLike,
    std: ArrayLike = 0.0,
    *,
    days: int,
    seed: int | np.random.Generator | None = None,
    distribution: str = "gamma",
) -> np.ndarray:
    """Whole-day lead time of an order placed on each day, per item: an int (days, items) array.

    "gamma" (default; positive and right-skewed like real supplier delays) with the item's mean and std, or
    "normal" truncated at 0; rounded to whole days, never below 0. std = 0 gives round(mean) every day.
    """
    if distribution not in ("gamma", "normal"):
        raise ValueError("lead time distribution must be 'gamma' or 'normal'")
    mu = _vec(mean)
    n = mu.shape[0]
    sd = _vec(std, n)
    if (mu < 0).any() or (sd < 0).any() or not np.isfinite(mu).all():
        raise ValueError("lead time mean and std must be finite and >= 0")
    if not (sd > 0).any():
        return np.broadcast_to(np.round(mu).astype(np.int64), (days, n)).copy()
    rng = _rng(seed)
    if distribution == "normal":
        draw = rng.standard_normal((days, n)) * sd + mu
    else:
        random = (sd > 0) & (mu > 0)
        shape = np.where(random, mu**2 / np.where(random, sd**2, 1.0), 1.0)
        scale = np.where(random, sd**2 / np.where(mu > 0, mu, 1.0), 0.0)
        draw = np.where(random, rng.standard_gamma(shape, size=(days, n)) * scale, mu)
    return np.maximum(np.round(draw), 0).astype(np.int64)


# --- the simulation -------------------------------------------------------------------------------------------------


def simulate(
    demand: np.ndarray,
    *,
    policy: ArrayLike | str,
    reorder_point: ArrayLike | None = None,
    order_up_to: ArrayLike | None = None,
    order_quantity: ArrayLike | None = None,
    lead_time: ArrayLike = 0,
    review_period: ArrayLike = 1,
    review_offset: ArrayLike = 0,
    moq: ArrayLike = 0.0,
    order_multiple: ArrayLike = 0.0,
    unit_cost: ArrayLike = 1.0,
    holding_cost: ArrayLike = 0.0,
    order_cost: ArrayLike = 0.0,
    backorder_cost: ArrayLike = 0.0,
    lost_sale_cost: ArrayLike = 0.0,
    lost_sales: bool = False,
    initial_on_hand: ArrayLike | None = None,
    item_ids: Sequence | pd.Index | None = None,
    trace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate a replenishment policy day by day on given demand, for all items at once (module docstring).

    ``demand``: (days, items) units per day. ``policy``: "sS", "sQ", "RS" (or an alias), one or one per item,
    with ``reorder_point`` s, ``order_up_to`` S and ``order_quantity`` Q as the policy needs (scalars or per
    item). ``lead_time``: whole days, a scalar, one per item, or (days, items) — the lead time of an order placed
    on that day (:func:`lead_times_from_distribution`). Review days: (t + 1 + review_offset) mod review_period = 0.
    Costs: ``holding_cost`` per unit-day, ``order_cost`` per order, ``backorder_cost`` per backordered unit-day,
    ``lost_sale_cost`` per lost unit. ``initial_on_hand`` defaults to S ((s, S), (R, S)) or s + Q ((s, Q)),
    never below 0 (a negative level starts empty), with nothing on order. ``progress(done, total)``, if given, is called about every 5 % of the days (a page
    draws its progress bar with it; this module imports no UI). Returns a :class:`SimulationResult`.
    """
    d = np.asarray(demand, dtype=float)
    if d.ndim != 2:
        raise ValueError("demand must be a (days, items) array")
    if (d < 0).any() or not np.isfinite(d).all():
        raise ValueError("demand must be finite and >= 0")
    n_days, n = d.shape
    code = np.broadcast_to(policy_codes(policy, n), (n,))
    s = _vec(np.nan if reorder_point is None else reorder_point, n)
    big_s = _vec(np.nan if order_up_to is None else order_up_to, n)
    q = _vec(np.nan if order_quantity is None else order_quantity, n)
    for name, need, values in (("reorder_point", code != 2, s), ("order_up_to", code != 1, big_s),
                               ("order_quantity", code == 1, q)):
        if np.isnan(values[need]).any():
            raise ValueError(f"{name} is needed for every item whose policy uses it")
    if (q[code == 1] <= 0).any():
        raise ValueError("order_quantity must be > 0 for (s, Q) items")
    moq_, mult = _vec(moq, n), _vec(order_multiple, n)
    cost, h, k, b, lost_c = (_vec(x, n) for x in (unit_cost, holding_cost, order_cost, backorder_cost, lost_sale_cost))
    period = np.broadcast_to(np.asarray(review_period, dtype=np.int64), (n,))
    offset = np.broadcast_to(np.asarray(review_offset, dtype=np.int64), (n,))
    if (period < 1).any():
        raise ValueError("review_period must be >= 1 day")
    lt = np.asarray(lead_time)
    if lt.ndim == 2 and lt.shape != (n_days, n):
        raise ValueError("a (days, items) lead_time must match demand's shape")
    whole = np.issubdtype(lt.dtype, np.integer) or bool(np.isfinite(lt).all() and (lt == np.round(lt)).all())
    if not whole or (lt < 0).any():
        raise ValueError("lead_time must be whole days >= 0")
    lt = lt.astype(np.int64)
    lt_row = None if lt.ndim == 2 else np.broadcast_to(lt, (n,))
    width = int(lt.max(initial=0)) + 2  # ring buffer of arrivals: slot (t + L + 1) mod width
    default_start = np.maximum(np.where(code == 1, s + np.nan_to_num(q), big_s), 0.0)  # no negative stock
    start = default_start if initial_on_hand is None else _vec(initial_on_hand, n)
    if np.isnan(start).any():
        raise ValueError("initial_on_hand could not be set for every item")
    if (start < 0).any():
        raise ValueError("initial_on_hand must be >= 0 (backorders are what a shortage becomes)")

    pipeline = np.zeros((width, n))
    on_hand, backorders, on_order = start.copy(), np.zeros(n), np.zeros(n)
    met_total, stockout_days, on_hand_sum, backorder_sum = np.zeros(n), np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    orders, ordered, received, lost = np.zeros(n, np.int64), np.zeros(n), np.zeros(n), np.zeros(n)
    met, short, ip, work = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    daily = np.zeros((n_days, 7))
    traced = {k: np.zeros((n_days, n)) for k in ("on_hand", "backorders", "on_order", "inventory_position",
                                                   "order_qty")} if trace else None
    periodic = bool((period > 1).any())
    report_every = max(n_days // 20, 1)
    for t in range(n_days):
        # 1. receipts, which serve backorders first
        arriving = pipeline[t % width]
        on_hand += arriving
        on_order -= arriving
        received += arriving
        arriving[:] = 0.0
        if not lost_sales:
            np.minimum(on_hand, backorders, out=work)
            on_hand -= work
            backorders -= work
        # 2. today's demand
        today = d[t]
        np.minimum(on_hand, today, out=met)
        on_hand -= met
        np.subtract(today, met, out=short)
        if lost_sales:
            lost += short
        else:
            backorders += short
        # 3. close the day
        met_total += met
        stockout_days += short > 0
        on_hand_sum += on_hand
        backorder_sum += backorders
        # 4. review and order
        np.add(on_hand, on_order, out=ip)
        ip -= backorders
        due = ((t + 1 + offset) % period == 0) if periodic else True
        _, qty = _order_quantity(ip, code, s, big_s, q, moq_, mult, due)
        placed = np.flatnonzero(qty)
        if placed.size:
            lot = qty[placed]
            orders[placed] += 1
            ordered[placed] += lot
            on_order[placed] += lot
            lead = lt[t, placed] if lt_row is None else lt_row[placed]
            pipeline[(t + lead + 1) % width, placed] += lot
        daily[t] = (today.sum(), met.sum(), on_hand.sum(), on_hand @ cost, backorders.sum(), placed.size, qty.sum())
        if traced is not None:
            traced["on_hand"][t], traced["backorders"][t], traced["on_order"][t] = on_hand, backorders, on_order
            traced["inventory_position"][t], traced["order_qty"][t] = ip, qty
        if progress is not None and ((t + 1) % report_every == 0 or t == n_days - 1):
            progress(t + 1, n_days)

    demand_total = d.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(demand_total > 0, met_total / demand_total, np.nan)
    holding, ordering = h * on_hand_sum, k * orders
    backordering, lost_cost = b * backorder_sum, lost_c * lost
    index = pd.Index(item_ids) if item_ids is not None else pd.RangeIndex(n)
    items = pd.DataFrame({
        "demand": demand_total, "met_from_stock": met_total, "fill_rate": fill, "stockout_days": stockout_days,
        "avg_on_hand": on_hand_sum / n_days, "avg_inventory_value": on_hand_sum / n_days * cost,
        "avg_backorders": backorder_sum / n_days, "orders": orders, "units_ordered": ordered,
        "units_received": received, "lost_units": lost, "holding_cost": holding, "ordering_cost": ordering,
        "backorder_cost": backordering, "lost_sale_cost": lost_cost,
        "total_cost": holding + ordering + backordering + lost_cost, "initial_on_hand": start,
        "end_on_hand": on_hand, "end_backorders": backorders, "end_pipeline": on_order,
    }, index=index)
    total = items.drop(columns=["fill_rate"]).sum()
    total["fill_rate"] = total["met_from_stock"] / total["demand"] if total["demand"] > 0 else np.nan
    total["items"], total["days"] = n, n_days
    daily_frame = pd.DataFrame(daily, columns=["demand", "met_from_stock", "on_hand", "inventory_value", "backorders",
                                               "orders", "units_ordered"])
    daily_frame.index.name = "day"
    return SimulationResult(items=items, total=total, daily=daily_frame, trace=traced)


def simulate_policy(
    policy: ArrayLike | str,
    *,
    days: int = 365,
    demand_mean: ArrayLike | None = None,
    demand_std: ArrayLike | None = None,
    distribution: str = "normal",
    history: np.ndarray | pd.DataFrame | None = None,
    block: int = 1,
    lead_time_mean: ArrayLike = 0.0,
    lead_time_std: ArrayLike = 0.0,
    lead_time_distribution: str = "gamma",
    seed: int | None = 0,
    **kwargs,
) -> SimulationResult:
    """Draw demand and lead times, then :func:`simulate` — the one-call what-if for many items.

    Demand: bootstrapped from ``history`` (:func:`demand_from_history`) when given, else drawn from
    ``distribution`` with ``demand_mean``/``demand_std`` per item (:func:`demand_from_distribution`). Lead times:
    per item mean/std, whole days (:func:`lead_times_from_distribution`). With a long history frame the items
    are its sorted unique_ids (parameters in that order) and the result is indexed by them. The seed gives two independent streams
    (demand, lead times), so changing lead-time parameters leaves the demand draws as they were. Other keyword
    arguments (reorder_point, order_up_to, order_quantity, moq, costs, lost_sales, ...) go to :func:`simulate`.
    """
    demand_rng, lead_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    if isinstance(history, pd.DataFrame):
        ids, history = history_matrix(history)
        kwargs.setdefault("item_ids", ids)
    if history is not None:
        demand = demand_from_history(history, days=days, seed=demand_rng, block=block)
    elif demand_mean is not None:
        demand = demand_from_distribution(demand_mean, demand_std, days=days, distribution=distribution,
                                          seed=demand_rng)
    else:
        raise ValueError("give a history to bootstrap or a demand_mean (and demand_std) to draw from")
    n = demand.shape[1]
    lead = lead_times_from_distribution(_vec(lead_time_mean, n), _vec(lead_time_std, n), days=days, seed=lead_rng,
                                        distribution=lead_time_distribution)
    return simulate(demand, policy=policy, lead_time=lead, **kwargs)


def service_level_curve(
    targets: Sequence[float] = (0.80, 0.85, 0.90, 0.95, 0.975, 0.99, 0.995),
    *,
    demand_mean: ArrayLike,
    demand_std: ArrayLike,
    lead_time_mean: ArrayLike,
    lead_time_std: ArrayLike = 0.0,
    order_quantity: ArrayLike | None = None,
    policy: str = "sQ",
    review_period: int = 1,
    unit_cost: ArrayLike = 1.0,
    days: int = 365,
    distribution: str = "normal",
    history: np.ndarray | pd.DataFrame | None = None,
    seed: int | None = 0,
    progress: Callable[[int, int], None] | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Service against inventory investment over a sweep of cycle-service targets: what each point of service costs.

    For each target α: parameters from :func:`analytics.replenishment.policy_parameters` (s = reorder point over
    the mean lead time with demand and lead-time variability — over L + R when ``review_period`` R > 1 day;
    S = s + Q for (s, S); S over L + R for (R, S)), then
    :func:`simulate` on the *same* demand and lead-time draws for every target (common random numbers, so the
    curve is monotone up to the policy's own effects, not noise). Demand per day from ``history`` (bootstrap) or
    ``distribution``; ``demand_mean``/``demand_std`` still set the parameters. Returns one row per target:
    target, fill_rate (achieved, Σ met / Σ demand over all items), stockout_day_share, avg_inventory_value,
    safety_stock_value (planned, Σ safety stock × unit cost), orders, total_cost, and value_per_fill_point =
    extra average inventory value per extra percentage point of fill rate from the previous target (NaN where
    the fill rate did not rise).
    ``progress(done, total)`` is called after each target.
    """
    demand_rng, lead_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    if history is not None:
        demand = demand_from_history(history, days=days, seed=demand_rng)
    else:
        demand = demand_from_distribution(demand_mean, demand_std, days=days, distribution=distribution,
                                          seed=demand_rng)
    n = demand.shape[1]
    lt_mean, lt_std = _vec(lead_time_mean, n), _vec(lead_time_std, n)
    lead = lead_times_from_distribution(lt_mean, lt_std, days=days, seed=lead_rng)
    code = policy_codes(policy)
    # (R, S) protects L + R; (s, S) and (s, Q) reviewed daily are taken as continuous review (L), and reviewed every
    # R > 1 days as (R, s, S) / (R, s, Q), protecting L + R like policy_parameters.
    protect = float(review_period) if int(code) == 2 or review_period > 1 else 0.0
    cost = _vec(unit_cost, n)
    rows = []
    for target in targets:
        params = policy_parameters(policy, target, _vec(demand_mean, n), _vec(demand_std, n), lt_mean,
                                   lead_time_std=lt_std, review_period=protect, order_quantity=order_quantity)
        result = simulate(demand, policy=policy, reorder_point=params["reorder_point"].to_numpy(),
                          order_up_to=params["order_up_to"].to_numpy(),
                          order_quantity=params["order_quantity"].to_numpy(), lead_time=lead,
                          review_period=review_period, unit_cost=cost, **kwargs)
        total = result.total
        rows.append({
            "target": float(target), "fill_rate": total["fill_rate"],
            "stockout_day_share": total["stockout_days"] / (n * days),
            "avg_inventory_value": total["avg_inventory_value"],
            "safety_stock_value": float((params["safety_stock"].to_numpy() * cost).sum()),
            "orders": total["orders"], "total_cost": total["total_cost"],
        })
        if progress is not None:
            progress(len(rows), len(targets))
    curve = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = curve["fill_rate"].diff() * 100.0
        curve["value_per_fill_point"] = (curve["avg_inventory_value"].diff() / gain).where(gain > 0)
    return curve
