"""The automatic replenishment run (issue 5): read the state, size orders by policy, store proposals, notify.

``run_replenishment`` composes ``data_access.replenishment`` (state, history, proposals) with the pure policy
functions of ``analytics.replenishment``; :func:`plan` is the pure middle, usable without a database.

Rules, per active product-location as of a day (the last day of data by default):

- Inventory position IP = on hand + on order − backorders − allocated (stock from the latest snapshot, open
  supply from the order tables, so approved proposals count at once).
- Demand per day: the newest stored forecast (``fact_forecast``) over the next ``forecast_days`` when the
  item has one (yhat per period divided by the days of the period; std from its 80 % or 95 % interval,
  else the history's), otherwise the history of the last ``history_days`` days: Σ qty ordered per day,
  days without orders counted as 0 from the item's first order (or the window start), mean and sample std.
- Lead time: bought items use their supplier's received purchase lines (mean and std of received − ordered
  days, ``analytics.replenishment.lead_time_stats``) when there are at least ``min_lead_time_lines``, else the
  supplier's recorded mean/std, else the product's lead_time_days (std 0). Made items use the product's
  lead_time_days (std 0). Missing everywhere: 0 days.
- Policy parameters (``analytics.replenishment.policy_parameters``, cycle service level α, demand and lead-time
  variability): s = μ·L + z·sqrt(L·σ² + μ²·σL²); (s, S) and (s, Q) use Q = max(μ·``cover_days``, 1) rounded to
  MOQ and multiple, S = s + Q; (R, S) protects L + ``review_period`` and orders when IP < S.
- Planner's reorder point (``dim_product.reorder_point``) is a floor of the trigger: s = max(s, rp) (and S moves
  up with it, keeping S − s = Q; for (R, S), S = max(S, rp)). The column holds one number per product, so it is
  applied only where the product is stocked at a single location (elsewhere it is shown, not used).
- An item without demand in the window orders only to clear backorders (IP < 0) or when the floor asks.
- Propose where IP ≤ s (IP < S for (R, S)): a purchase proposal for bought items (grouped by supplier at
  approval), a production proposal for made ones; qty = the policy's net requirement rounded up to MOQ and
  order multiple; order date = as-of day, due date = order date + ⌈lead time mean⌉ days. The rationale JSON
  keeps every number behind it.
- Proposals are stored idempotently (see ``data_access.replenishment``); the new ones are announced to the
  purchasing manager through ``notification_outbox`` in the same transaction, one message per supplier (or
  one for production) per run, its dedup key built from the proposal ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from analytics.replenishment import (
    demand_stats,
    forecast_demand_stats,
    inventory_position,
    policy_codes,
    policy_parameters,
    replenishment_orders,
    safety_factor,
)
from analytics.whatif import MIN_LEAD_TIME_LINES, lead_times
from data_access import notifications
from data_access import replenishment as store
from data_access.queries import last_data_date
from jobs.notify import notification_settings

Progress = Callable[[float, str], None]

HISTORY_DAYS = 180
COVER_DAYS = 14.0
REVIEW_PERIOD = 7.0
FORECAST_DAYS = 90


# --- the pure middle ----------------------------------------------------------------------------------------------------


def _history_stats(state: pd.DataFrame, demand: pd.DataFrame, as_of: dt.date, history_days: int) -> pd.DataFrame:
    """Daily demand mean/std per state row (index = state row number) from the order history window."""
    start = pd.Timestamp(as_of - dt.timedelta(days=history_days - 1))
    keys = state[["product_id", "location_id"]].reset_index(drop=True).rename_axis("unique_id").reset_index()
    history = demand.merge(keys, on=["product_id", "location_id"])[["unique_id", "ds", "y"]]
    # series older than the window start on its first day (zeros before their first order inside it count)
    first = pd.to_datetime(state["first_demand_date"]).reset_index(drop=True)
    older = np.flatnonzero((first < start).to_numpy())
    history = pd.concat([history, pd.DataFrame({"unique_id": older, "ds": start, "y": 0.0})], ignore_index=True)
    if history.empty:
        return pd.DataFrame(columns=["demand_mean", "demand_std", "periods"], dtype=float)
    stats = demand_stats(history, freq="D", end=pd.Timestamp(as_of))
    return stats[["demand_mean", "demand_std", "periods"]]


def _forecast_stats(state: pd.DataFrame, forecast: pd.DataFrame, as_of: dt.date, forecast_days: int) -> pd.DataFrame:
    """Daily demand mean/std per state row from stored forecast periods that end after ``as_of``."""
    if forecast is None or forecast.empty:
        return pd.DataFrame(columns=["demand_mean", "demand_std", "periods"], dtype=float)
    f = forecast.copy()
    days = np.ones(len(f))
    for freq, rows in f.groupby("freq").groups.items():
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
            periods = f.loc[rows, "period"]
            days[f.index.get_indexer(rows)] = ((periods + offset) - periods).dt.days.clip(lower=1).to_numpy()
        except (ValueError, TypeError):
            pass  # unknown frequency: taken as daily
    f["days"] = days
    ends = f["period"] + pd.to_timedelta(f["days"], unit="D")
    f = f[(ends > pd.Timestamp(as_of)) & (f["period"] <= pd.Timestamp(as_of + dt.timedelta(days=forecast_days)))]
    keys = state[["product_id", "location_id"]].reset_index(drop=True).rename_axis("unique_id").reset_index()
    f = f.merge(keys, on=["product_id", "location_id"])
    if f.empty:
        return pd.DataFrame(columns=["demand_mean", "demand_std", "periods"], dtype=float)
    per_day = pd.DataFrame({"unique_id": f["unique_id"], "ds": f["period"], "yhat": f["yhat"] / f["days"]})
    root = np.sqrt(f["days"])
    for level in ("80", "95"):  # per-day bounds: the same z, σ / sqrt(days) around the per-day mean
        per_day[f"lo_{level}"] = per_day["yhat"] - (f["yhat"] - f[f"lo_{level}"]) / root
        per_day[f"hi_{level}"] = per_day["yhat"] + (f[f"hi_{level}"] - f["yhat"]) / root
    level = 80 if per_day[["lo_80", "hi_80"]].notna().all(axis=None) else 95
    if per_day[[f"lo_{level}", f"hi_{level}"]].isna().any(axis=None):
        per_day = per_day.drop(columns=["lo_80", "hi_80", "lo_95", "hi_95"])
        return forecast_demand_stats(per_day)
    return forecast_demand_stats(per_day[["unique_id", "ds", "yhat", f"lo_{level}", f"hi_{level}"]], level=level)


def plan(
    state: pd.DataFrame,
    demand: pd.DataFrame,
    as_of: dt.date,
    *,
    po_history: pd.DataFrame | None = None,
    forecast: pd.DataFrame | None = None,
    policy: str = "sS",
    service_level: float = 0.95,
    history_days: int = HISTORY_DAYS,
    cover_days: float = COVER_DAYS,
    review_period: float = REVIEW_PERIOD,
    forecast_days: int = FORECAST_DAYS,
    min_lead_time_lines: int = MIN_LEAD_TIME_LINES,
) -> pd.DataFrame:
    """Every product-location of ``state`` with the numbers of its replenishment decision (pure).

    Inputs as ``data_access.replenishment`` returns them: ``state`` (item_locations_state), ``demand``
    (daily_demand over at least the history window), ``po_history``, ``forecast`` (latest_forecast). Returns
    one row per state row: identity (product_id, location_id, sku, location, kind, supplier_id, supplier),
    stock (on_hand, on_order, backordered, allocated, inventory_position), demand (source, mean, std per day,
    days), lead time (source, mean, std), policy numbers (policy, service_level, z, safety_stock,
    reorder_point, reorder_point_floor, floor_applied, trigger, order_up_to, order_quantity), the decision
    (net_requirement, order, qty) and order_date, due_date.
    """
    code = int(policy_codes(policy))
    policy = ("sS", "sQ", "RS")[code]
    s = state.reset_index(drop=True)
    n = len(s)
    out = s[["product_id", "location_id", "sku", "location", "make_or_buy", "supplier_id", "supplier", "moq",
             "order_multiple", "unit_cost", "on_hand", "on_order", "backordered", "allocated"]].copy()
    out["kind"] = np.where(out["make_or_buy"] == "buy", "purchase", "production")
    out["inventory_position"] = np.asarray(
        inventory_position(s["on_hand"], s["on_order"], s["backordered"], s["allocated"]), dtype=float
    ).reshape(n)

    history = _history_stats(s, demand, as_of, history_days).reindex(range(n))
    fc = _forecast_stats(s, forecast, as_of, forecast_days).reindex(range(n))
    use_fc = fc["demand_mean"].notna().to_numpy()
    out["demand_source"] = np.where(use_fc, "forecast", np.where(history["demand_mean"].notna(), "history", "none"))
    out["demand_mean"] = np.where(use_fc, fc["demand_mean"], history["demand_mean"]).astype(float)
    fc_std = np.where(fc["demand_std"].notna(), fc["demand_std"], history["demand_std"])
    out["demand_std"] = np.where(use_fc, fc_std, history["demand_std"]).astype(float)
    out["demand_days"] = np.where(use_fc, fc["periods"], history["periods"]).astype(float)
    out["demand_mean"] = out["demand_mean"].fillna(0.0).clip(lower=0.0)
    out["demand_std"] = out["demand_std"].fillna(0.0).clip(lower=0.0)

    lead = lead_times(s, po_history, min_lead_time_lines)
    out = pd.concat([out, lead], axis=1)

    moq = out["moq"].fillna(0.0).to_numpy()
    multiple = out["order_multiple"].fillna(0.0).to_numpy()
    mu, sigma = out["demand_mean"].to_numpy(), out["demand_std"].to_numpy()
    raw_q = np.maximum(mu * cover_days, 1.0)
    params = policy_parameters(
        policy, service_level, mu, sigma, out["lead_time_mean"].to_numpy(),
        lead_time_std=out["lead_time_std"].to_numpy(), review_period=review_period if code == 2 else 0.0,
        order_quantity=None if code == 2 else raw_q, moq=moq, order_multiple=multiple,
    )
    out["policy"] = policy
    out["service_level"] = float(service_level)
    out["z"] = float(safety_factor(service_level))
    out["review_period"] = review_period if code == 2 else 0.0
    out["safety_stock"] = params["safety_stock"].to_numpy()
    out["reorder_point"] = params["reorder_point"].to_numpy()
    out["order_quantity"] = params["order_quantity"].to_numpy()

    locations_per_product = s.groupby("product_id")["location_id"].transform("size").to_numpy()
    floor = s["reorder_point"].to_numpy(dtype=float)
    out["reorder_point_floor"] = floor
    applies = ~np.isnan(floor) & (locations_per_product == 1)
    out["floor_applied"] = applies
    if code == 2:
        big_s = params["order_up_to"].to_numpy()
        big_s = np.where(applies, np.fmax(big_s, floor), big_s)
        small_s = np.full(n, np.nan)
        trigger = big_s
    else:
        small_s = params["reorder_point"].to_numpy()
        small_s = np.where(applies, np.fmax(small_s, floor), small_s)
        big_s = small_s + out["order_quantity"].to_numpy()
        trigger = small_s
    idle = (mu <= 0) & (out["inventory_position"].to_numpy() >= 0) & ~applies
    trigger = np.where(idle, np.nan, trigger)
    small_s = np.where(idle, np.nan, small_s)
    big_s = np.where(idle, np.nan, big_s)
    out["trigger"] = trigger
    out["order_up_to"] = big_s
    decision = replenishment_orders(
        out["inventory_position"].to_numpy(), policy, reorder_point=small_s, order_up_to=big_s,
        order_quantity=out["order_quantity"].to_numpy(), moq=moq, order_multiple=multiple,
    )
    out["net_requirement"] = decision["net_requirement"].to_numpy()
    out["order"] = decision["order"].to_numpy()
    out["qty"] = decision["quantity"].to_numpy()
    lead_days = np.ceil(np.round(out["lead_time_mean"].to_numpy(), 9)).astype(int)
    out["order_date"] = as_of
    out["due_date"] = [as_of + dt.timedelta(days=int(d)) for d in lead_days]
    return out.drop(columns=["make_or_buy"])


_RATIONALE = (
    "on_hand", "on_order", "backordered", "allocated", "inventory_position", "demand_source", "demand_mean",
    "demand_std", "demand_days", "lead_time_source", "lead_time_mean", "lead_time_std", "service_level", "z",
    "review_period", "safety_stock", "reorder_point", "reorder_point_floor", "floor_applied", "trigger",
    "order_up_to", "order_quantity", "net_requirement", "qty", "moq", "order_multiple", "unit_cost",
)


def proposals_from_plan(planned: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The rows of ``planned`` that order, as ``data_access.replenishment.PROPOSAL_COLUMNS`` with the rationale."""
    ordering = planned[planned["order"]].reset_index(drop=True)
    rule = "IP < order_up_to (trigger)" if (ordering["policy"] == "RS").any() else "IP <= reorder_point (trigger)"
    rationale = [
        {**{name: row[name] for name in _RATIONALE}, "policy": row["policy"], "trigger_rule": rule,
         "as_of": as_of.isoformat(), "sku": row["sku"], "location": row["location"]}
        for row in ordering.to_dict("records")
    ]
    frame = ordering[["product_id", "location_id", "kind", "supplier_id", "qty", "order_date", "due_date", "policy",
                      "inventory_position"]].copy()
    frame["rationale"] = rationale
    return frame


# --- notifications -------------------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.2f}"


def low_stock_messages(planned: pd.DataFrame, created_ids: dict[int, int], as_of: dt.date,
                       recipient: str) -> list[dict]:
    """One message per supplier (and one for production) listing the proposals this run created.

    ``created_ids`` maps a ``planned`` row index to its new proposal id; the dedup key names the as-of day,
    the group and a digest of the ids, so the same proposals are never announced twice.
    """
    if not created_ids:
        return []
    rows = planned.loc[list(created_ids)].assign(proposal_id=pd.Series(created_ids))
    messages = []
    for (kind, supplier), group in rows.groupby(["kind", rows["supplier"].fillna("-")], sort=True):
        group = group.sort_values(["sku", "location"])
        ids = ",".join(str(i) for i in sorted(group["proposal_id"]))
        digest = hashlib.sha1(ids.encode()).hexdigest()[:12]
        who = "production" if kind == "production" else supplier
        verb = "to produce" if kind == "production" else f"to order from {supplier}"
        out = (group["inventory_position"] <= 0).sum()
        subject = f"Low stock: {len(group)} item(s) {verb}" + (f", {out} out of stock" if out else "")
        lines = [
            f"Replenishment run of {as_of.isoformat()}: {len(group)} item(s) at or below their reorder trigger.",
            "Approve, edit or reject the proposals in the app (Replenishment).", "",
            f"{'sku':<16} {'location':<12} {'on hand':>9} {'on order':>9} {'backord.':>9} {'position':>9} "
            f"{'trigger':>9} {'qty':>9}  due",
        ]
        for r in group.itertuples(index=False):
            lines.append(
                f"{r.sku:<16} {r.location:<12} {_fmt(r.on_hand):>9} {_fmt(r.on_order):>9} {_fmt(r.backordered):>9} "
                f"{_fmt(r.inventory_position):>9} {_fmt(r.trigger):>9} {_fmt(r.qty):>9}  {r.due_date.isoformat()}"
            )
        lines += ["", f"Proposal ids: {ids}"]
        messages.append({"dedup_key": f"low-stock:{as_of.isoformat()}:{kind}:{who}:{digest}",
                         "recipient": recipient, "subject": subject, "body": "\n".join(lines) + "\n"})
    return messages


# --- the run -------------------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """Outcome of :func:`run_replenishment`: the plan of every item, what was stored, notices enqueued."""

    as_of: dt.date
    policy: str
    service_level: float
    plan: pd.DataFrame
    stored: store.StoreResult
    notifications: int
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        """Items evaluated and triggered, then the store actions (created, updated, unchanged, ...)."""
        return {"items": len(self.plan), "triggered": int(self.plan["order"].sum()), **self.stored.counts,
                "notifications": self.notifications}

    def summary(self, max_rows: int = 40) -> str:
        """A plain-text table of the triggered items and the counts (for the command line)."""
        head = (f"replenishment as of {self.as_of.isoformat()}, policy {self.policy}, service level "
                f"{self.service_level:.1%}: " + ", ".join(f"{k} {v}" for k, v in self.counts.items())
                + f" ({self.seconds:.1f} s)")
        frame = self.stored.frame
        if frame.empty:
            return head + "\nnothing to order"
        ordering = self.plan[self.plan["order"]].reset_index(drop=True)
        table = pd.DataFrame({
            "id": frame["proposal_id"], "action": frame["action"], "sku": ordering["sku"],
            "location": ordering["location"], "kind": ordering["kind"], "supplier": ordering["supplier"].fillna(""),
            "position": ordering["inventory_position"].round(1), "trigger": ordering["trigger"].round(1),
            "qty": ordering["qty"], "due": ordering["due_date"],
        })
        more = f"\n… {len(table) - max_rows} more" if len(table) > max_rows else ""
        return head + "\n" + table.head(max_rows).to_string(index=False) + more


def run_replenishment(
    engine: Engine,
    as_of: dt.date | None = None,
    policy: str = "sS",
    service_level: float = 0.95,
    progress: Progress | None = None,
    *,
    history_days: int = HISTORY_DAYS,
    cover_days: float = COVER_DAYS,
    review_period: float = REVIEW_PERIOD,
    forecast_days: int = FORECAST_DAYS,
    min_lead_time_lines: int = MIN_LEAD_TIME_LINES,
    notify: bool = True,
    recipient: str | None = None,
    user: str | None = "replenishment-run",
) -> RunResult:
    """Run automatic replenishment as of ``as_of`` (default: the last day of data) and store its proposals.

    Reads state, demand history, forecasts and purchase history; :func:`plan`; stores the proposals and the
    low-stock notices (to ``recipient``, default the configured purchasing manager) in one transaction.
    ``progress(fraction, message)`` is called after each step. Idempotent: a second run for the same need
    proposes nothing new (see ``data_access.replenishment``).
    """
    started = time.perf_counter()
    if not 0.0 < service_level < 1.0:
        raise ValueError("service_level must be between 0 and 1 (exclusive)")
    report = progress or (lambda _fraction, _message: None)
    as_of = as_of or last_data_date(engine) or dt.datetime.now(dt.UTC).date()
    report(0.05, "reading stock and open orders")
    state = store.item_locations_state(engine, as_of)
    report(0.25, "reading demand history")
    demand = store.daily_demand(engine, as_of - dt.timedelta(days=history_days - 1), as_of)
    report(0.45, "reading forecasts and purchase history")
    forecast = store.latest_forecast(engine, as_of - dt.timedelta(days=92), as_of + dt.timedelta(days=forecast_days))
    po = store.po_history(engine, as_of)
    report(0.6, f"planning {len(state)} item-locations")
    planned = plan(state, demand, as_of, po_history=po, forecast=forecast, policy=policy,
                   service_level=service_level, history_days=history_days, cover_days=cover_days,
                   review_period=review_period, forecast_days=forecast_days,
                   min_lead_time_lines=min_lead_time_lines)
    proposals = proposals_from_plan(planned, as_of)
    report(0.8, f"storing {len(proposals)} proposals")
    recipient = recipient or notification_settings().purchasing_email
    with engine.begin() as connection:  # proposals and their notices in one transaction
        stored = store.store_proposals(connection, proposals, user=user)
        enqueued = 0
        if notify:
            ordering = planned.index[planned["order"]]
            created = {int(ordering[i]): int(pid) for i, (pid, action)
                       in enumerate(zip(stored.frame["proposal_id"], stored.frame["action"], strict=True))
                       if action == "created"}
            enqueued = notifications.add(connection, low_stock_messages(planned, created, as_of, recipient))
    report(1.0, f"{stored.counts['created']} new, {stored.counts['updated']} updated proposals")
    return RunResult(as_of=as_of, policy=str(planned["policy"].iat[0]) if len(planned) else policy,
                     service_level=service_level, plan=planned, stored=stored, notifications=enqueued,
                     seconds=time.perf_counter() - started)

