"""Replenishment what-if for the planner's page (issue 6): the glue between the data frames and the simulation.

Pure (see ../shared/DESIGN.md): pandas/numpy in and out, no SQL, no Streamlit. The page reads the item-locations'
state, their daily demand and the received purchase lines (``data_access.replenishment``), and this module

1. turns them into one row per item-location (:func:`item_inputs`): daily demand mean and std over the last
   ``history_days`` days, the lead time (mean, std and where it came from) and cost, MOQ and order multiple,
   together with the (items, days) matrix of that demand history, which the simulation bootstraps;
2. picks the items of a scope — one item-location, a category, a location or all — bounded to the
   ``limit`` items with the largest annual demand value (:func:`select_items`);
3. applies the planner's assumptions (:class:`WhatIf`: policy, cycle service level, review period, lead time
   from history × a multiplier or a fixed mean/std, MOQ, order size in days of demand, costs) to get each
   item's policy parameters (:func:`scenario_parameters`);
4. simulates them day by day (:func:`simulate_scenario`, ``analytics.simulation.simulate_policy``) and sweeps the
   service target for the service/inventory trade-off curve (:func:`tradeoff_curve`,
   ``analytics.simulation.service_level_curve``) on the *same* demand and lead-time draws, so the scenario is
   a point of its curve.

Demand in the simulation is each item's own history bootstrapped day by day (Efron's bootstrap, see
``analytics.simulation.demand_from_history``), and the policy parameters use that history's mean and sample
standard deviation, as the automatic replenishment run does without a forecast: the question answered is "had
demand behaved as in the last months, how would this policy have served it, and at what stock?". Every run
starts at the policy's order-up-to level with nothing on order (the steady state, not today's stock).

The production view's weekly demand-and-forecast table (:func:`demand_and_forecast`) is the other glue here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from analytics.replenishment import lead_time_stats, policy_codes, policy_parameters, round_order_quantity
from analytics.simulation import service_level_curve, simulate_policy

#: Days of demand history the what-if bootstraps and takes the demand mean and std from.
HISTORY_DAYS = 180
#: At most this many item-locations are simulated (those with the largest annual demand value in the scope).
MAX_ITEMS = 2000
#: Simulated horizons the page offers (days).
HORIZONS = (90, 180, 365, 730)
#: Cycle-service targets the trade-off curve sweeps (the scenario's own target is added).
CURVE_TARGETS = (0.80, 0.85, 0.90, 0.95, 0.975, 0.99, 0.995)
#: Received purchase lines a supplier needs before its own lead-time history is used (as the automatic run).
MIN_LEAD_TIME_LINES = 2
SCOPES = ("item", "category", "location", "all")

ITEM_COLUMNS = (
    "product_id", "location_id", "sku", "name", "category", "location", "make_or_buy", "item", "unit_cost", "moq",
    "order_multiple", "demand_mean", "demand_std", "demand_days", "annual_demand_value", "lead_time_mean",
    "lead_time_std", "lead_time_source",
)


@dataclass(frozen=True)
class WhatIf:
    """The planner's assumptions for one scenario. The defaults are those of the automatic replenishment run
    (``python -m jobs replenish``): (s, S), 95 % cycle service, daily review, lead times from history, each
    item's own MOQ, orders of 14 days of demand.

    - ``policy``: "sS" (min–max), "sQ" (fixed lot) or "RS" (periodic order-up-to); ``service_level``: cycle
      service level α in (0, 1), which sets the safety stock z·σ with z = Φ⁻¹(α).
    - ``review_period``: days between reviews R (1 = every day); (R, S) protects L + R, and (s, S)/(s, Q)
      reviewed every R > 1 days protect L + R too (as ``analytics.simulation.service_level_curve``).
    - ``lead_time``: "history" (each item's lead time mean and std from :func:`lead_times`, both × the
      ``lead_time_multiplier``) or "fixed" (``lead_time_mean``/``lead_time_std`` days for every item).
    - ``moq``: one minimum order quantity for every item (units), or None for each item's own.
    - ``cover_days``: order size Q = max(mean daily demand × cover_days, 1), then MOQ and order multiple
      (:func:`analytics.replenishment.round_order_quantity`); S = s + Q for (s, S).
    - Costs over the simulated days: holding = ``holding_rate`` × unit cost / 365 per unit-day on hand,
      ``order_cost`` per order placed, ``backorder_cost`` per backordered unit-day.
    - ``days`` simulated and the ``seed`` of the demand and lead-time draws.
    """

    policy: str = "sS"
    service_level: float = 0.95
    review_period: int = 1
    lead_time: str = "history"
    lead_time_multiplier: float = 1.0
    lead_time_mean: float = 14.0
    lead_time_std: float = 0.0
    moq: float | None = None
    cover_days: float = 14.0
    holding_rate: float = 0.25
    order_cost: float = 50.0
    backorder_cost: float = 0.0
    days: int = 365
    seed: int = 0

    def validated(self) -> WhatIf:
        """These assumptions with the policy spelled canonically; ValueError naming what is out of range."""
        code = int(policy_codes(self.policy))
        if not 0.0 < self.service_level < 1.0:
            raise ValueError("service_level must be between 0 and 1 (exclusive)")
        if self.review_period < 1:
            raise ValueError("review_period must be at least 1 day")
        if self.lead_time not in ("history", "fixed"):
            raise ValueError("lead_time must be 'history' or 'fixed'")
        if self.lead_time_multiplier <= 0 or self.lead_time_mean < 0 or self.lead_time_std < 0:
            raise ValueError("lead time multiplier must be > 0, lead time mean and std >= 0")
        if self.moq is not None and self.moq < 0:
            raise ValueError("moq must be >= 0")
        if self.cover_days <= 0 or self.days < 1:
            raise ValueError("cover_days must be > 0 and days >= 1")
        if min(self.holding_rate, self.order_cost, self.backorder_cost) < 0:
            raise ValueError("costs must be >= 0")
        return replace(self, policy=("sS", "sQ", "RS")[code], review_period=int(self.review_period),
                       days=int(self.days))

    def baseline(self) -> WhatIf:
        """The automatic run's assumptions over the same horizon, costs and seed (what a scenario is compared to)."""
        return replace(WhatIf(), holding_rate=self.holding_rate, order_cost=self.order_cost,
                       backorder_cost=self.backorder_cost, days=self.days, seed=self.seed)


@dataclass(frozen=True)
class Outcome:
    """A simulated scenario: ``summary`` (one number per outcome, see :func:`simulate_scenario`), ``items``
    (parameters and results per item-location) and ``daily`` (per simulated day, summed over items)."""

    summary: dict[str, float]
    items: pd.DataFrame
    daily: pd.DataFrame


# --- inputs from the data -------------------------------------------------------------------------------------------


def lead_times(state: pd.DataFrame, po_history: pd.DataFrame | None,
               min_lines: int = MIN_LEAD_TIME_LINES) -> pd.DataFrame:
    """Lead time mean, std (days) and source per row of ``state``, in the automatic run's order of sources.

    Bought items: their supplier's received purchase lines (received − ordered days,
    ``analytics.replenishment.lead_time_stats``) when it has at least ``min_lines``, source "po_history"; else the
    supplier's recorded mean/std ("supplier"); else the product's lead_time_days with std 0 ("product"). Made items:
    the product's lead_time_days ("product"). Nothing known: 0 days ("none"). Returns a frame on ``state``'s
    index: lead_time_mean, lead_time_std, lead_time_source.
    """
    n = len(state)
    mean, std = np.full(n, np.nan), np.full(n, np.nan)
    source = np.full(n, "none", dtype=object)
    buy = (state["make_or_buy"] == "buy").to_numpy()
    if po_history is not None and not po_history.empty:
        stats = lead_time_stats(po_history, by="supplier_id").set_index("supplier_id")
        stats = stats[stats["lines"] >= min_lines]
        supplier = pd.to_numeric(state["supplier_id"]).astype(float).to_numpy()
        hit = buy & np.isin(supplier, stats.index.to_numpy(dtype=float))
        found = stats.reindex(supplier[hit])
        mean[hit] = found["lead_time_mean"].to_numpy(dtype=float)
        std[hit] = found["lead_time_std"].fillna(0.0).to_numpy(dtype=float)
        source[hit] = "po_history"
    recorded = buy & np.isnan(mean) & state["supplier_lead_time_mean"].notna().to_numpy()
    mean[recorded] = state["supplier_lead_time_mean"].to_numpy(dtype=float)[recorded]
    std[recorded] = state["supplier_lead_time_std"].fillna(0.0).to_numpy(dtype=float)[recorded]
    source[recorded] = "supplier"
    product = np.isnan(mean) & state["lead_time_days"].notna().to_numpy()
    mean[product] = state["lead_time_days"].to_numpy(dtype=float)[product]
    std[product] = 0.0
    source[product] = "product"
    missing = np.isnan(mean)
    mean[missing], std[missing] = 0.0, 0.0
    return pd.DataFrame({"lead_time_mean": mean, "lead_time_std": std, "lead_time_source": source},
                        index=state.index)


def demand_history(state: pd.DataFrame, demand: pd.DataFrame, as_of: Any,
                   history_days: int = HISTORY_DAYS) -> np.ndarray:
    """Daily units ordered per row of ``state`` over the ``history_days`` days ending ``as_of``: (items, days).

    ``demand``: product_id, location_id, ds, y (``data_access.replenishment.daily_demand``). A day without orders
    is 0 from the item's ``first_demand_date`` on; days before it (the item was not sold yet) and every day of
    an item never sold are NaN, which the bootstrap does not sample (an item without history has no demand).
    """
    end = pd.Timestamp(as_of).normalize()
    start = end - pd.Timedelta(days=history_days - 1)
    n = len(state)
    matrix = np.zeros((n, history_days))
    keys = pd.MultiIndex.from_frame(state[["product_id", "location_id"]].astype("int64"))
    if not demand.empty:
        ds = pd.to_datetime(demand["ds"]).dt.normalize()
        inside = ((ds >= start) & (ds <= end)).to_numpy()
        rows = keys.get_indexer(pd.MultiIndex.from_frame(demand.loc[inside, ["product_id", "location_id"]]
                                                         .astype("int64")))
        day = (ds[inside] - start).dt.days.to_numpy()
        known = rows >= 0
        np.add.at(matrix, (rows[known], day[known]), demand.loc[inside, "y"].to_numpy(dtype=float)[known])
    first = pd.to_datetime(state["first_demand_date"]).dt.normalize()
    first_day = ((first - start).dt.days.fillna(history_days).clip(lower=0, upper=history_days)
                 .to_numpy(dtype=np.int64))
    matrix[np.arange(history_days)[None, :] < first_day[:, None]] = np.nan
    return matrix


def item_inputs(
    state: pd.DataFrame,
    demand: pd.DataFrame,
    po_history: pd.DataFrame | None,
    as_of: Any,
    history_days: int = HISTORY_DAYS,
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per item-location of ``state`` (``data_access.replenishment.item_locations_state``) with what a
    what-if needs, and its demand history matrix (rows in the same order; index 0..n−1 = matrix row).

    Columns: identity (product_id, location_id, sku, name, category, location, make_or_buy, item = "sku · name
    @ location"), unit_cost, moq and order_multiple (0 when unset), demand_mean and demand_std = mean and sample
    standard deviation of the daily demand over the item's days in the window (:func:`demand_history`; 0 without
    history), demand_days, annual_demand_value = demand_mean × 365 × unit_cost, and lead_time_mean,
    lead_time_std, lead_time_source (:func:`lead_times`).
    """
    s = state.reset_index(drop=True)
    history = demand_history(s, demand, as_of, history_days)
    days = (~np.isnan(history)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(days > 0, np.nansum(history, axis=1) / np.maximum(days, 1), 0.0)
        squares = np.nansum((history - mean[:, None]) ** 2, axis=1)
        std = np.where(days > 1, np.sqrt(squares / np.maximum(days - 1, 1)), 0.0)
    items = s[["product_id", "location_id", "sku", "name", "category", "location", "make_or_buy"]].copy()
    items["item"] = s["sku"].fillna("") + " · " + s["name"].fillna("") + " @ " + s["location"].fillna("")
    items["unit_cost"] = s["unit_cost"].fillna(0.0).astype(float)
    items["moq"] = s["moq"].fillna(0.0).astype(float)
    items["order_multiple"] = s["order_multiple"].fillna(0.0).astype(float)
    items["demand_mean"], items["demand_std"], items["demand_days"] = mean, std, days
    items["annual_demand_value"] = mean * 365.0 * items["unit_cost"]
    items = pd.concat([items, lead_times(s, po_history)], axis=1)
    return items[list(ITEM_COLUMNS)], history


def select_items(items: pd.DataFrame, scope: str, value: Any = None,
                 limit: int = MAX_ITEMS) -> tuple[np.ndarray, int]:
    """Rows of ``items`` in a scope, bounded: (positions, how many the scope holds before the bound).

    ``scope``: "item" (``value`` = the row position), "category" or "location" (``value`` = its name) or "all".
    The positions are those of the ``limit`` items with the largest annual demand value (ties by position), in
    that order, so a group larger than the bound simulates its items that matter most.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    if scope == "item":
        position = int(value)
        if not 0 <= position < len(items):
            raise ValueError(f"no item at position {position}")
        return np.array([position]), 1
    mask = np.ones(len(items), bool) if scope == "all" else (items[scope] == value).to_numpy()
    positions = np.flatnonzero(mask)
    order = np.lexsort((positions, -items["annual_demand_value"].to_numpy()[positions]))
    return positions[order][:limit], int(positions.size)


# --- a scenario -------------------------------------------------------------------------------------------------------


def _protected_review(settings: WhatIf) -> float:
    """Review period the parameters protect: R for (R, S) and for any policy reviewed every R > 1 days, else 0."""
    code = int(policy_codes(settings.policy))
    return float(settings.review_period) if code == 2 or settings.review_period > 1 else 0.0


def scenario_parameters(items: pd.DataFrame, settings: WhatIf) -> pd.DataFrame:
    """Per item: the assumptions applied and the policy's parameters.

    Lead time: history × multiplier, or the fixed mean/std. MOQ: the scenario's, else the item's. Q =
    max(μ·cover_days, 1) rounded to MOQ and order multiple. Then
    ``analytics.replenishment.policy_parameters`` at the service level: s = μ·P + z·sqrt(P·σ² + μ²·σL²) over the
    protection period P = L (+ R, see :func:`_protected_review`), S = s + Q ((s, S)), S over L + R ((R, S)).
    Returns items' identity columns with demand_mean, demand_std, lead_time_mean, lead_time_std, moq,
    order_multiple, unit_cost, order_quantity, safety_stock, reorder_point, order_up_to (on items' index).
    """
    settings = settings.validated()
    if settings.lead_time == "fixed":
        lt_mean = np.full(len(items), float(settings.lead_time_mean))
        lt_std = np.full(len(items), float(settings.lead_time_std))
    else:
        lt_mean = items["lead_time_mean"].to_numpy(dtype=float) * settings.lead_time_multiplier
        lt_std = items["lead_time_std"].to_numpy(dtype=float) * settings.lead_time_multiplier
    moq = (np.full(len(items), float(settings.moq)) if settings.moq is not None
           else items["moq"].to_numpy(dtype=float))
    multiple = items["order_multiple"].to_numpy(dtype=float)
    mu, sigma = items["demand_mean"].to_numpy(dtype=float), items["demand_std"].to_numpy(dtype=float)
    q = np.asarray(round_order_quantity(np.maximum(mu * settings.cover_days, 1.0), moq, multiple), dtype=float)
    q = np.atleast_1d(q)
    params = policy_parameters(settings.policy, settings.service_level, mu, sigma, lt_mean, lead_time_std=lt_std,
                               review_period=_protected_review(settings), order_quantity=q)
    out = items[["item", "sku", "name", "category", "location"]].copy()
    out["demand_mean"], out["demand_std"] = mu, sigma
    out["lead_time_mean"], out["lead_time_std"] = lt_mean, lt_std
    out["moq"], out["order_multiple"], out["unit_cost"] = moq, multiple, items["unit_cost"].to_numpy(dtype=float)
    out["order_quantity"] = q
    for name in ("safety_stock", "reorder_point", "order_up_to"):
        out[name] = params[name].to_numpy()
    return out


def _costs(params: pd.DataFrame, settings: WhatIf) -> dict[str, np.ndarray | float]:
    """Cost arguments of ``analytics.simulation.simulate`` for the scenario's costs."""
    return {"holding_cost": params["unit_cost"].to_numpy() * settings.holding_rate / 365.0,
            "order_cost": float(settings.order_cost), "backorder_cost": float(settings.backorder_cost)}


def simulate_scenario(items: pd.DataFrame, history: np.ndarray, settings: WhatIf) -> Outcome:
    """Simulate the scenario day by day on each item's bootstrapped demand history (``history`` rows = ``items``).

    ``summary``: items, days, demand (units), fill_rate = Σ met from stock / Σ demand, stockout_days (item-days
    with demand not fully met from stock), stockout_day_share = stockout_days / (items × days),
    avg_on_hand (units) and avg_inventory_value (Σ over items of the average closing on hand × unit cost),
    orders, units_ordered, holding_cost, ordering_cost, backorder_cost and total_cost over the days simulated,
    and safety_stock_value (planned, Σ safety stock × unit cost). ``items``: the parameters of
    :func:`scenario_parameters` and the simulated results per item. ``daily``: ``SimulationResult.daily``.
    """
    settings = settings.validated()
    if len(items) != history.shape[0]:
        raise ValueError("history must have one row per item")
    if items.empty:
        raise ValueError("no item to simulate")
    params = scenario_parameters(items, settings)
    result = simulate_policy(
        settings.policy, days=settings.days, history=history, lead_time_mean=params["lead_time_mean"].to_numpy(),
        lead_time_std=params["lead_time_std"].to_numpy(), seed=settings.seed,
        reorder_point=params["reorder_point"].to_numpy(), order_up_to=params["order_up_to"].to_numpy(),
        order_quantity=params["order_quantity"].to_numpy(), review_period=settings.review_period,
        moq=params["moq"].to_numpy(), order_multiple=params["order_multiple"].to_numpy(),
        unit_cost=params["unit_cost"].to_numpy(), **_costs(params, settings),
    )
    total = result.total
    n = int(total["items"])
    summary = {
        "items": n, "days": int(total["days"]), "demand": float(total["demand"]),
        "fill_rate": float(total["fill_rate"]), "stockout_days": int(total["stockout_days"]),
        "stockout_day_share": float(total["stockout_days"]) / (n * settings.days),
        "avg_on_hand": float(total["avg_on_hand"]), "avg_inventory_value": float(total["avg_inventory_value"]),
        "orders": int(total["orders"]), "units_ordered": float(total["units_ordered"]),
        "holding_cost": float(total["holding_cost"]), "ordering_cost": float(total["ordering_cost"]),
        "backorder_cost": float(total["backorder_cost"]), "total_cost": float(total["total_cost"]),
        "safety_stock_value": float((params["safety_stock"] * params["unit_cost"]).sum()),
    }
    simulated = result.items.reset_index(drop=True)[
        ["demand", "fill_rate", "stockout_days", "avg_on_hand", "avg_inventory_value", "orders", "total_cost"]]
    detail = pd.concat([params.reset_index(drop=True), simulated], axis=1)
    detail.index = items.index
    return Outcome(summary=summary, items=detail, daily=result.daily)


def tradeoff_curve(items: pd.DataFrame, history: np.ndarray, settings: WhatIf,
                   targets: tuple[float, ...] = CURVE_TARGETS) -> pd.DataFrame:
    """Fill rate achieved against average inventory value over a sweep of cycle-service targets, the scenario's
    other assumptions fixed (``analytics.simulation.service_level_curve`` on the same draws as
    :func:`simulate_scenario`, so the row whose target is the scenario's service level is the scenario).

    The scenario's own service level is added to ``targets``. Returns one row per target (ascending): target,
    fill_rate, stockout_day_share, avg_inventory_value, safety_stock_value, orders, total_cost,
    value_per_fill_point (extra inventory value per extra point of fill rate), and ``scenario`` (bool).
    """
    settings = settings.validated()
    params = scenario_parameters(items, settings)
    sweep = tuple(sorted({round(float(t), 6) for t in (*targets, settings.service_level)}))
    curve = service_level_curve(
        sweep, demand_mean=params["demand_mean"].to_numpy(), demand_std=params["demand_std"].to_numpy(),
        lead_time_mean=params["lead_time_mean"].to_numpy(), lead_time_std=params["lead_time_std"].to_numpy(),
        order_quantity=params["order_quantity"].to_numpy(), policy=settings.policy,
        review_period=settings.review_period, unit_cost=params["unit_cost"].to_numpy(), days=settings.days,
        history=history, seed=settings.seed, moq=params["moq"].to_numpy(),
        order_multiple=params["order_multiple"].to_numpy(), **_costs(params, settings),
    )
    curve["scenario"] = np.isclose(curve["target"], settings.service_level)
    return curve


def describe(settings: WhatIf) -> str:
    """One line naming a scenario's assumptions (for captions and file names' companions)."""
    s = settings.validated()
    policy = {"sS": "(s, S) min–max", "sQ": "(s, Q) fixed lot", "RS": "(R, S) order-up-to"}[s.policy]
    review = "daily review" if s.review_period == 1 else f"review every {s.review_period} days"
    if s.lead_time == "fixed":
        lead = f"lead time {s.lead_time_mean:g} ± {s.lead_time_std:g} days"
    else:
        lead = "lead times from history" + ("" if s.lead_time_multiplier == 1 else f" × {s.lead_time_multiplier:g}")
    moq = "own MOQ" if s.moq is None else f"MOQ {s.moq:,.0f}"
    return (f"{policy}, {s.service_level:.1%} cycle service, {review}, {lead}, {moq}, orders of "
            f"{s.cover_days:g} days of demand, {s.days} days simulated")


# --- the production view's demand and forecast ------------------------------------------------------------------------


def demand_and_forecast(demand: pd.DataFrame, forecast: pd.DataFrame, products: pd.DataFrame, as_of: Any,
                        level: int = 80, start: Any = None) -> pd.DataFrame:
    """Weekly actual demand and the stored forecast of a set of products, summed, for one chart and table.

    ``demand``: date, product_id, demand_qty (per day, ``analytics.kpis.DEMAND``); ``forecast``: product_id,
    period (the last day of a week, as ``python -m jobs forecast`` stores it), yhat, lo_<level>, hi_<level>
    (``data_access.replenishment.latest_forecast``); ``products``: product_id, category of the products shown
    (others are dropped). Actual demand is summed into weeks ending on Sunday (labelled by that Sunday), whole
    weeks only: none ending after ``as_of``, none starting before ``start`` (when given); the forecast keeps its periods after ``as_of``. The forecast's band sums the
    items' intervals assuming independent errors: σᵢ = (hiᵢ − loᵢ) / (2z), z = Φ⁻¹(1/2 + level/200), band =
    Σ yhat ± z·sqrt(Σ σᵢ²). Returns week, category, series ("actual" or "forecast"), units, lo, hi (NaN for
    actuals), one row per week, category and series.
    """
    end = pd.Timestamp(as_of).normalize()
    keep = products[["product_id", "category"]].drop_duplicates("product_id")
    columns = ["week", "category", "series", "units", "lo", "hi"]
    parts = []
    d = demand[["date", "product_id", "demand_qty"]].merge(keep, on="product_id")
    if not d.empty:
        d["week"] = pd.to_datetime(d["date"]).dt.to_period("W-SUN").dt.end_time.dt.normalize()
        whole = d["week"] <= end
        if start is not None:
            whole &= d["week"] - pd.Timedelta(days=6) >= pd.Timestamp(start).normalize()
        actual = d[whole].groupby(["week", "category"], as_index=False)["demand_qty"].sum()
        parts.append(actual.rename(columns={"demand_qty": "units"}).assign(series="actual", lo=np.nan, hi=np.nan))
    lo_col, hi_col = f"lo_{level}", f"hi_{level}"
    f = forecast.merge(keep, on="product_id") if not forecast.empty else forecast
    if not f.empty:
        f = f.assign(week=pd.to_datetime(f["period"]).dt.normalize())
        f = f[f["week"] > end]
        z = float(ndtri(0.5 + level / 200.0))
        variance = ((f[hi_col] - f[lo_col]) / (2.0 * z)) ** 2 if {lo_col, hi_col} <= set(f.columns) else np.nan
        f = f.assign(variance=variance)
        summed = f.groupby(["week", "category"], as_index=False).agg(units=("yhat", "sum"),
                                                                     variance=("variance", "sum"))
        band = z * np.sqrt(summed["variance"])
        parts.append(summed.assign(series="forecast", lo=(summed["units"] - band).clip(lower=0),
                                   hi=summed["units"] + band).drop(columns=["variance"]))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("units", "lo", "hi") else object) for c in columns})
    return pd.concat(parts, ignore_index=True)[columns].sort_values(["week", "category", "series"],
                                                                     ignore_index=True)
