"""Promising and backorder management (issue 7): available-to-promise, ``promise()``, receipt allocation and ETAs,
open backorders, alternatives, shipment delays, root causes and ETA changes.

Pure and vectorised (pandas/numpy in, pandas/dataclasses out; no SQL, no Streamlit). The data layer
(``data_access.promising``) builds the input frames; each has a contract constant below naming its columns.
Dates may be ``datetime64`` columns, ``datetime.date`` objects or ISO text; quantities are in the product's unit.

Time model
----------
Everything is planned from a day ``as_of`` (day 0, usually the last day of data): ``on_hand`` is the stock at the
end of that day and can ship on it; a scheduled receipt (open purchase line or production order) is available on
its expected (due) date, but never before day 1 (it is not in the stock of day 0, so a receipt expected on or
before as_of that has not arrived can come at the earliest the next day); an open order line's demand falls on
its requested date, a line already past due on day 0. Transfers take ``ceil(transfer_days)`` whole days.

Available-to-promise (ATP), per product-location
------------------------------------------------
net(t) = on_hand·[t = 0] + receipts(t) − demand(t); cumulative(t) = Σ_{s≤t} net(s) (the projected balance);
available(t) = max(0, min_{s≥t} cumulative(s)): the quantity that can ship on day t without leaving any later
commitment short (the look-ahead protects future receipts already promised to open orders). available never
decreases with t, and rises only on days with a receipt.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from analytics.kpis import (
    EPS,
    DateLike,
    Freq,
    _filled_units,
    _net_price,
    _open_qty,
    _require,
    backorder_rate,
)

# --- input contracts --------------------------------------------------------------------------------------------

#: Supply and demand of product-locations as of day 0 (``data_access.promising.supply_demand``), one row per:
#: ``kind`` = 'on_hand' (stock at the end of as_of; ``date`` unused), 'purchase' or 'production' (an open
#: receipt of ``qty`` expected on ``date``, ``reference`` its PO or MO number) or 'demand' (open order quantity
#: requested on ``date``, positive).
SUPPLY_DEMAND = ("product_id", "location_id", "kind", "date", "qty", "reference")
SUPPLY_KINDS = ("on_hand", "purchase", "production")
KINDS = (*SUPPLY_KINDS, "demand")

#: Transfer lanes (``location_transfer_lane``): whole or fractional days from one location to another.
LANES = ("from_location_id", "to_location_id", "transfer_days")

#: Open sales order lines (``data_access.promising.open_order_lines``): current quantities, the customer's tier
#: and the line's integer priority (0 normal, higher first). Other columns are kept in the results.
OPEN_LINES = (
    "line_id", "order_no", "line_no", "product_id", "location_id", "customer_id", "tier", "priority",
    "order_date", "requested_date", "qty_ordered", "qty_shipped", "qty_cancelled",
)

#: Shipments not yet delivered (``data_access.promising.shipments_in_transit``) with their order line's dates.
SHIPMENTS = ("shipment_no", "order_no", "line_no", "customer_id", "carrier", "tracking_no", "ship_date", "eta",
             "delivered_date", "status", "requested_date", "promised_date", "qty")

#: Replenishment orders for root causes (``data_access.promising.supply_orders``): ``kind`` purchase or
#: production, placed on ``order_date``, due on ``due_date`` (expected / due date), ``arrived_date`` the day it
#: was received or finished as of as_of (NaT while open).
SUPPLY_ORDERS = ("product_id", "location_id", "kind", "reference", "order_date", "due_date", "arrived_date")

#: Units ordered per product-location and day (``data_access.replenishment.daily_demand`` gives ds and y).
DAILY_DEMAND = ("product_id", "location_id", "ds", "y")

#: Ways to order open lines when receipts are allocated (see :func:`allocate`): name → what sorts first.
PRIORITY_KEYS: dict[str, str] = {
    "priority": "higher priority number first (0 = normal)",
    "tier": "customer tier in tier_order (A, B, C); tiers not listed and missing ones last",
    "order_date": "older order first",
    "requested_date": "earlier requested date first",
    "value": "higher open value (open qty × unit_price × (1 − discount)) first",
    "order_no": "order number ascending",
    "line_no": "line number ascending",
}
DEFAULT_PRIORITY = ("priority", "tier", "order_date", "order_no")
TIER_ORDER = ("A", "B", "C")
HIGH_VALUE_TIERS = ("A",)

ROOT_CAUSES = ("supplier_late", "lead_time", "forecast_too_low", "policy")
ETA_ACTIONS = ("new", "moved", "kept")

_SUPPLY_CODE = {"on_hand": 0, "purchase": 1, "production": 2}
_ETA_SOURCE = np.array(["stock", "purchase", "production"], dtype=object)

# --- small helpers ------------------------------------------------------------------------------------------------


def _day(value: DateLike | None, name: str) -> pd.Timestamp:
    """A date-like value as a midnight Timestamp; ValueError naming ``name`` when missing or not a date."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a date, not {value!r}") from error
    if pd.isna(ts):
        raise ValueError(f"{name} must be a date")
    return ts.normalize()


def _dates(values: pd.Series) -> pd.Series:
    """A column as datetime64[ns] at midnight (NaT where missing)."""
    return pd.to_datetime(values).astype("datetime64[ns]").dt.normalize()


def _offsets(values: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Whole days from ``as_of`` (negative before it); NaT becomes the smallest int64. Cheap on small inputs
    (the per-call path of :func:`promise`): numpy day arithmetic, pandas parsing only for non-datetime input."""
    array = values.to_numpy()
    if array.dtype.kind != "M":
        array = pd.to_datetime(values).to_numpy()
    days = array.astype("datetime64[D]")
    return (days - np.datetime64(as_of.date(), "D")).astype(np.int64)


def _to_date(as_of: pd.Timestamp, days: int) -> dt.date:
    return (as_of + pd.Timedelta(days=int(days))).date()


def check_priority(priority: Sequence[str]) -> list[str]:
    """The priority keys (names of ``PRIORITY_KEYS``), validated, with order_no and line_no appended as final
    tie-breakers; ValueError naming unknown keys."""
    keys = [priority] if isinstance(priority, str) else list(priority)
    unknown = [k for k in keys if k not in PRIORITY_KEYS]
    if unknown:
        raise ValueError(f"unknown priority key(s) {unknown}; use some of {list(PRIORITY_KEYS)}")
    return list(dict.fromkeys([*keys, "order_no", "line_no"]))


def _tier_rank(tiers: pd.Series, tier_order: Sequence[str]) -> np.ndarray:
    """Position of each tier in ``tier_order``; unknown and missing tiers rank after all listed ones."""
    ranks = {str(t): i for i, t in enumerate(tier_order)}
    return np.array([ranks.get(str(t), len(ranks)) if isinstance(t, str) else len(ranks) for t in tiers],
                    dtype=np.int64)


def _supply_arrays(supply: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, np.ndarray]:
    """The SUPPLY_DEMAND frame checked and as numpy arrays: day = days from as_of, demand and stock at least 0,
    receipts at least 1 (see the module docstring)."""
    missing = [c for c in SUPPLY_DEMAND if c not in supply.columns]
    if missing:
        raise ValueError(f"SUPPLY_DEMAND frame lacks column(s) {missing} (see analytics.promising.SUPPLY_DEMAND)")
    kinds = supply["kind"].to_numpy(dtype=object)
    known = np.isin(kinds, KINDS)
    if not known.all():
        found = sorted(map(str, set(kinds[~known])))
        raise ValueError(f"SUPPLY_DEMAND kind must be one of {list(KINDS)}, found {found}")
    days = _offsets(supply["date"], as_of)
    if ((days == np.iinfo(np.int64).min) & (kinds != "on_hand")).any():
        raise ValueError("SUPPLY_DEMAND receipts and demand need a date")
    receipt = (kinds == "purchase") | (kinds == "production")
    return {
        "product_id": supply["product_id"].to_numpy(dtype=np.int64),
        "location_id": supply["location_id"].to_numpy(dtype=np.int64),
        "kind": kinds, "day": np.maximum(days, np.where(receipt, 1, 0)),
        "qty": supply["qty"].to_numpy(dtype=float),
        "reference": supply["reference"].to_numpy(dtype=object),
    }


# --- ATP curves -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Curve:
    """ATP of one product-location over its event days (day 0 first): the arrays of the module docstring."""

    days: np.ndarray
    on_hand: float
    receipts: np.ndarray
    demand: np.ndarray
    cumulative: np.ndarray
    available: np.ndarray
    references: Mapping[int, tuple[str, ...]]

    def available_on(self, day: int) -> float:
        """available(t) on any day ≥ 0 (a step function between event days)."""
        return float(self.available[np.searchsorted(self.days, day, side="right") - 1])

    def increments(self) -> list[tuple[int, float, str, tuple[str, ...]]]:
        """(day, qty, 'stock' or 'receipt', references) where available(t) rises: day 0 is stock on hand (receipts
        never fall on day 0), a later day the receipts due that day."""
        steps = np.diff(np.r_[0.0, self.available])
        rising = steps > EPS
        return [(int(day), float(qty), "stock" if day == 0 else "receipt", self.references.get(int(day), ()))
                for day, qty in zip(self.days[rising], steps[rising], strict=True)]


def _curve(days: np.ndarray, kinds: np.ndarray, qty: np.ndarray, refs: np.ndarray) -> _Curve:
    """The ATP curve of one product-location from its event arrays (days already clipped at 0)."""
    stock = kinds == "on_hand"
    receipt = (kinds == "purchase") | (kinds == "production")
    demand = kinds == "demand"
    event_days = np.unique(np.r_[0, days[receipt | demand]])
    where = np.searchsorted(event_days, days)
    receipts = np.bincount(where[receipt], qty[receipt], len(event_days))
    demands = np.bincount(where[demand], qty[demand], len(event_days))
    on_hand = float(qty[stock].sum())
    net = receipts - demands
    net[0] += on_hand
    cumulative = np.cumsum(net)
    available = np.maximum(np.minimum.accumulate(cumulative[::-1])[::-1], 0.0)
    references: dict[int, list[str]] = {}
    for day, ref in zip(days[receipt], refs[receipt], strict=True):
        if isinstance(ref, str) and ref:
            references.setdefault(int(day), []).append(ref)
    return _Curve(event_days, on_hand, receipts, demands, cumulative, available,
                  {k: tuple(sorted(set(v))) for k, v in references.items()})


def _curves(supply: pd.DataFrame, as_of: pd.Timestamp) -> dict[tuple[int, int], _Curve]:
    """One ATP curve per product-location of the SUPPLY_DEMAND frame (days as in :func:`_supply_arrays`)."""
    a = _supply_arrays(supply, as_of)
    if not len(a["kind"]):
        return {}
    product, location = a["product_id"], a["location_id"]
    order = np.lexsort((location, product))
    changed = (np.diff(product[order]) != 0) | (np.diff(location[order]) != 0)
    bounds = np.flatnonzero(np.r_[True, changed, True])
    out: dict[tuple[int, int], _Curve] = {}
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[start:end]
        key = (int(a["product_id"][rows[0]]), int(a["location_id"][rows[0]]))
        out[key] = _curve(a["day"][rows], a["kind"][rows], a["qty"][rows], a["reference"][rows])
    return out


def atp(
    supply: pd.DataFrame,
    as_of: DateLike,
    *,
    freq: Literal["D", "W"] = "D",
    horizon_days: int = 90,
    product_id: int | None = None,
    location_id: int | None = None,
) -> pd.DataFrame:
    """Available-to-promise buckets per product-location (``SUPPLY_DEMAND``), from ``as_of`` for ``horizon_days``.

    Daily (``freq="D"``): one row per day t = as_of … as_of + horizon_days with on_hand (day 0 only), receipts
    (from day 1, see the module docstring), demand, net = on_hand + receipts − demand, cumulative = Σ net
    through t, available = max(0, min_{s≥t}
    cumulative(s)) (the look-ahead runs over every event, also those past the horizon), atp = available(t) −
    available(t − 1) (what becomes promisable on t; day 0: available(0)) and shortfall = max(0, −min_{s≥t}
    cumulative(s)) (commitments from t on that known supply cannot cover).
    Weekly (``freq="W"``): ISO weeks (Monday first; the first bucket runs from as_of to its Sunday, the last
    week is completed): on_hand, receipts, demand and net summed; cumulative, available and shortfall those of
    the week's last day (available = what can be promised to ship by the end of the week); atp = the rise of
    available over the previous week. ``period`` is the bucket's first day (Monday; the first bucket: its Monday).
    Returns: product_id, location_id, period, on_hand, receipts, demand, net, cumulative, available, atp,
    shortfall; sorted. A product-location asked for by both ids that has no row at all gets a table of zeros.
    """
    if freq not in ("D", "W"):
        raise ValueError(f"freq must be 'D' or 'W', not {freq!r}")
    if horizon_days < 0:
        raise ValueError("horizon_days must be >= 0")
    start = _day(as_of, "as_of")
    frame = supply
    if product_id is not None:
        frame = frame[frame["product_id"] == product_id]
    if location_id is not None:
        frame = frame[frame["location_id"] == location_id]
    horizon = int(horizon_days)
    if freq == "W":
        horizon += 6 - (start + pd.Timedelta(days=horizon)).dayofweek
    grid = np.arange(horizon + 1)
    parts = []
    curves = _curves(frame, start)
    if product_id is not None and location_id is not None and not curves:  # nothing there: a table of zeros
        empty = np.zeros(1)
        curves = {(int(product_id), int(location_id)): _Curve(np.zeros(1, dtype=np.int64), 0.0, empty, empty, empty,
                                                              empty, {})}
    for (product, location), curve in sorted(curves.items()):
        at = np.searchsorted(curve.days, grid, side="right") - 1
        exact = curve.days[at] == grid
        receipts = np.where(exact, curve.receipts[at], 0.0)
        demand = np.where(exact, curve.demand[at], 0.0)
        lowest = np.minimum.accumulate(curve.cumulative[::-1])[::-1][at]
        parts.append(pd.DataFrame({
            "product_id": product, "location_id": location, "day": grid,
            "on_hand": np.where(grid == 0, curve.on_hand, 0.0), "receipts": receipts, "demand": demand,
            "cumulative": curve.cumulative[at], "available": np.maximum(lowest, 0.0),
            "shortfall": np.maximum(-lowest, 0.0),
        }))
    columns = ["product_id", "location_id", "period", "on_hand", "receipts", "demand", "net", "cumulative",
               "available", "atp", "shortfall"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "period" else float) for c in columns})
    daily = pd.concat(parts, ignore_index=True)
    daily["period"] = start + pd.to_timedelta(daily["day"], unit="D")
    if freq == "W":
        daily["period"] = daily["period"].dt.to_period("W-SUN").dt.start_time
        daily = daily.groupby(["product_id", "location_id", "period"], sort=True).agg(
            on_hand=("on_hand", "sum"), receipts=("receipts", "sum"), demand=("demand", "sum"),
            cumulative=("cumulative", "last"), available=("available", "last"), shortfall=("shortfall", "last"),
        ).reset_index()
    daily["net"] = daily["on_hand"] + daily["receipts"] - daily["demand"]
    previous = daily.groupby(["product_id", "location_id"])["available"].shift(1).fillna(0.0)
    daily["atp"] = daily["available"] - previous
    return daily[columns].reset_index(drop=True)


def availability(supply: pd.DataFrame, as_of: DateLike) -> pd.DataFrame:
    """Availability now per product-location (``SUPPLY_DEMAND``): what a sales representative quotes.

    on_hand; open_demand = Σ open order qty; scheduled_receipts = Σ open receipt qty; available_now =
    available(as_of) (ATP with look-ahead, see the module docstring); next_receipt_date and next_receipt_qty = the
    first receipt day (overdue receipts count on as_of + 1) and its quantity; available_date = the first day
    available(t) > 0 (NaT when never). Returns one row per product-location, sorted.
    """
    start = _day(as_of, "as_of")
    rows = []
    for (product, location), curve in sorted(_curves(supply, start).items()):
        with_receipt = np.flatnonzero(curve.receipts > EPS)
        positive = np.flatnonzero(curve.available > EPS)
        rows.append({
            "product_id": product, "location_id": location, "on_hand": curve.on_hand,
            "open_demand": float(curve.demand.sum()), "scheduled_receipts": float(curve.receipts.sum()),
            "available_now": float(curve.available[0]),
            "next_receipt_date": start + pd.Timedelta(days=int(curve.days[with_receipt[0]]))
            if len(with_receipt) else pd.NaT,
            "next_receipt_qty": float(curve.receipts[with_receipt[0]]) if len(with_receipt) else 0.0,
            "available_date": start + pd.Timedelta(days=int(curve.days[positive[0]])) if len(positive) else pd.NaT,
        })
    columns = ["product_id", "location_id", "on_hand", "open_demand", "scheduled_receipts", "available_now",
               "next_receipt_date", "next_receipt_qty", "available_date"]
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("next_receipt_date", "available_date"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    return frame.astype({"product_id": "int64", "location_id": "int64"})


# --- promise ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromisePiece:
    """One part of a promise: ``qty`` that ships to the customer on ``ship_date``.

    ``source``: 'stock' (on hand at the home location), 'receipt' (a home receipt, ``reference`` its PO/MO
    numbers) or 'transfer' (moved from ``location_id`` to the home location: available there on
    ``available_date``, ``transfer_days`` on the way; ``reference`` names the source receipt if it was one).
    """

    qty: float
    ship_date: dt.date
    source: Literal["stock", "receipt", "transfer"]
    location_id: int
    available_date: dt.date
    transfer_days: float = 0.0
    reference: str | None = None


@dataclass(frozen=True)
class Promise:
    """The answer of :func:`promise`.

    ``date``: the earliest day the whole quantity can ship (the last piece's ship date), None when known supply
    never covers it. ``pieces``: the split plan (ship dates ascending). ``single_shipment_date``: the earliest
    day the whole quantity can ship from the home location in one shipment (no split, no transfer), None if never.
    ``qty_short``: what no known supply covers (0 when ``date`` is set).
    """

    product_id: int
    location_id: int
    qty: float
    requested_date: dt.date
    as_of: dt.date
    date: dt.date | None
    pieces: tuple[PromisePiece, ...]
    single_shipment_date: dt.date | None
    qty_short: float

    @property
    def qty_covered(self) -> float:
        """Σ qty of the pieces."""
        return float(sum(p.qty for p in self.pieces))

    @property
    def on_time(self) -> bool:
        """True when the whole quantity ships by the requested date."""
        return self.date is not None and self.date <= self.requested_date

    @property
    def split(self) -> bool:
        """True when the plan ships on more than one day."""
        return len({p.ship_date for p in self.pieces}) > 1

    @property
    def uses_transfer(self) -> bool:
        """True when a piece comes from another location."""
        return any(p.source == "transfer" for p in self.pieces)

    def to_frame(self) -> pd.DataFrame:
        """The pieces as a frame (one row per piece, the PromisePiece fields)."""
        names = ["qty", "ship_date", "source", "location_id", "available_date", "transfer_days", "reference"]
        return pd.DataFrame([[getattr(p, n) for n in names] for p in self.pieces], columns=names)


def _lane_days(lanes: pd.DataFrame | None, to_location: int, default_days: float) -> dict[int, float]:
    """Transfer days from every location with a lane into ``to_location``."""
    if lanes is None or lanes.empty:
        return {}
    frame = _require(lanes, LANES, "LANES")
    frame = frame[frame["to_location_id"] == to_location]
    days = frame["transfer_days"].astype(float)
    if (days < 0).any():
        raise ValueError("transfer_days must be >= 0")
    return dict(zip(frame["from_location_id"].astype(int), days.fillna(default_days), strict=True))


def promise(
    supply: pd.DataFrame,
    location_id: int,
    qty: float,
    requested_date: DateLike,
    *,
    as_of: DateLike,
    product_id: int | None = None,
    lanes: pd.DataFrame | None = None,
    default_transfer_days: float = 3.0,
    transfers: bool = True,
) -> Promise:
    """The earliest day ``qty`` of a product can ship from ``location_id``, with a split plan (``SUPPLY_DEMAND``).

    ``supply`` holds the product's rows at every location (``product_id`` picks one when it holds several).
    Rule, with days counted from as_of and r = max(requested_date, as_of):

    - sources: the home location's ATP increments (its available(t) rises: stock on day 0, receipts later) ship
      on their day; another location's increments arrive after ceil(transfer days) (``lanes``, else
      ``default_transfer_days``), when ``transfers`` is on. Only ATP is used, so no open order anywhere loses
      what it was promised;
    - date = max(r, the first arrival day by which the sources, earliest first (ties: home first, then the
      shorter lane), add up to qty);
    - plan: the home location alone when its available(date) ≥ qty (its increments in day order); otherwise all
      home supply available by ``date``, then transfers in order of arrival until qty is covered. A piece ships
      on max(its arrival, r);
    - when no known supply covers qty, date is None, the plan lists everything available (home first, then
      transfers by arrival) and qty_short the rest.

    single_shipment_date = max(r, first day the home available(t) ≥ qty). ValueError for qty ≤ 0 or missing
    dates.
    """
    number = isinstance(qty, int | float | np.integer | np.floating) and not isinstance(qty, bool)
    if not number or not math.isfinite(float(qty)) or qty <= 0:
        raise ValueError(f"qty must be a positive number, not {qty!r}")
    if default_transfer_days < 0:
        raise ValueError("default_transfer_days must be >= 0")
    qty = float(qty)
    start = _day(as_of, "as_of")
    requested = _day(requested_date, "requested_date")
    frame = supply
    products = frame["product_id"].unique() if "product_id" in frame.columns else []
    if product_id is None:
        if len(products) > 1:
            raise ValueError("supply holds several products: pass product_id")
        product_id = int(products[0]) if len(products) else -1
    else:
        frame = frame[frame["product_id"] == product_id]
    home = int(location_id)
    curves = {loc: c for (_p, loc), c in _curves(frame, start).items()}
    ready = max((requested - start).days, 0)

    candidates: list[tuple[int, int, float, int, float, int, str, tuple[str, ...]]] = []
    home_curve = curves.get(home)
    if home_curve is not None:
        for day, amount, kind, refs in home_curve.increments():
            candidates.append((day, 0, 0.0, home, amount, day, kind, refs))
    if transfers:
        lane = _lane_days(lanes, home, default_transfer_days)
        for loc, curve in curves.items():
            if loc == home:
                continue
            days = float(lane.get(loc, default_transfer_days))
            for day, amount, _kind, refs in curve.increments():
                candidates.append((day + math.ceil(days), 1, days, loc, amount, day, "transfer", refs))
    candidates.sort(key=lambda c: (c[0], c[1], c[2], c[3], c[5]))

    total = np.cumsum([c[4] for c in candidates]) if candidates else np.zeros(0)
    enough = np.flatnonzero(total >= qty - EPS)
    date = max(candidates[enough[0]][0], ready) if len(enough) else None

    single = None
    if home_curve is not None:
        full = np.flatnonzero(home_curve.available >= qty - EPS)
        if len(full):
            single = max(int(home_curve.days[full[0]]), ready)

    homes = [c for c in candidates if c[1] == 0]
    others = [c for c in candidates if c[1] == 1]
    if date is not None and home_curve is not None and home_curve.available_on(date) >= qty - EPS:
        chosen = homes
    elif date is not None:
        chosen = [c for c in homes if c[0] <= date] + [c for c in others if c[0] <= date]
    else:
        chosen = homes + others
    pieces: list[PromisePiece] = []
    left = qty
    for arrival, _is_transfer, days, loc, amount, day, kind, refs in chosen:
        if left <= EPS:
            break
        take = min(amount, left)
        left -= take
        pieces.append(PromisePiece(
            qty=take, ship_date=_to_date(start, max(arrival, ready)), source=kind,  # type: ignore[arg-type]
            location_id=loc, available_date=_to_date(start, day), transfer_days=days,
            reference=", ".join(refs) or None,
        ))
    pieces.sort(key=lambda p: (p.ship_date, p.source != "stock", p.source == "transfer", p.location_id))
    return Promise(
        product_id=int(product_id), location_id=home, qty=qty, requested_date=requested.date(), as_of=start.date(),
        date=_to_date(start, date) if date is not None else None, pieces=tuple(pieces),
        single_shipment_date=_to_date(start, single) if single is not None else None,
        qty_short=max(left, 0.0) if date is None else 0.0,
    )


# --- allocation of supply to open lines, ETAs -------------------------------------------------------------------


def _sort_keys(lines: pd.DataFrame, priority: list[str], tier_order: Sequence[str]) -> list[np.ndarray]:
    """Sort arrays (ascending = first) for ``priority`` keys, most significant first."""
    keys: list[np.ndarray] = []
    for name in priority:
        if name == "priority":
            keys.append(-pd.to_numeric(lines["priority"]).fillna(0).to_numpy(dtype=float))
        elif name == "tier":
            keys.append(_tier_rank(lines["tier"], tier_order))
        elif name in ("order_date", "requested_date"):
            keys.append(_dates(lines[name]).to_numpy(dtype="datetime64[ns]").astype(np.int64))
        elif name == "value":
            for column in ("unit_price", "discount"):
                if column not in lines.columns:
                    raise ValueError(f"priority key 'value' needs the column {column!r}")
            keys.append(-(lines["qty_open"] * _net_price(lines)).fillna(0.0).to_numpy(dtype=float))
        elif name == "order_no":
            keys.append(pd.factorize(lines["order_no"].astype(str), sort=True)[0])
        else:
            keys.append(pd.to_numeric(lines["line_no"]).to_numpy())
    return keys


def _supply_stream(supply: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Stock and receipts per product-location in the order they can ship: stock (clipped at 0) on day 0, then
    receipts by day (an overdue one on day 1), purchase before production, then reference; with cum_supply."""
    a = _supply_arrays(supply, as_of)
    frame = pd.DataFrame(a)
    frame = frame[frame["kind"] != "demand"]
    stock = frame[frame["kind"] == "on_hand"].groupby(["product_id", "location_id"], as_index=False)["qty"].sum()
    stock = stock.assign(kind="on_hand", day=0, reference=None)
    receipts = frame[frame["kind"] != "on_hand"]
    stream = pd.concat([stock[["product_id", "location_id", "kind", "day", "qty", "reference"]],
                        receipts[["product_id", "location_id", "kind", "day", "qty", "reference"]]],
                       ignore_index=True)
    stream["qty"] = stream["qty"].clip(lower=0.0)
    stream = stream[stream["qty"] > EPS]
    stream = stream.assign(code=stream["kind"].map(_SUPPLY_CODE).astype(np.int64),
                           reference=stream["reference"].astype(object))
    stream = stream.sort_values(["product_id", "location_id", "day", "code", "reference"], na_position="first",
                                kind="stable").reset_index(drop=True)
    stream["cum_supply"] = stream.groupby(["product_id", "location_id"])["qty"].cumsum()
    return stream


def allocate(
    lines: pd.DataFrame,
    supply: pd.DataFrame,
    as_of: DateLike,
    *,
    priority: Sequence[str] = DEFAULT_PRIORITY,
    tier_order: Sequence[str] = TIER_ORDER,
    high_value_tiers: Sequence[str] = HIGH_VALUE_TIERS,
) -> pd.DataFrame:
    """Allocate stock and scheduled receipts to open order lines by priority; an ETA per line (``OPEN_LINES``,
    ``SUPPLY_DEMAND``).

    Per product-location, the lines with qty_open = qty_ordered − qty_shipped − qty_cancelled > 0 queue in
    ``priority`` order (keys of ``PRIORITY_KEYS``; default: priority number desc, tier rank in ``tier_order``
    A < B < C, order_date, order_no; order_no and line_no always break ties) — backorders and lines not yet
    due alike, as the warehouse would ship them. Supply queues by availability: stock on hand (day 0), then
    receipts by expected day (never before day 1, as in the module docstring). Line i takes the slice
    (D_{i−1}, D_i] of the queue, D_i = Σ qty_open of lines up to i; several receipts may fill one line. Its
    ETA is the day of the supply row holding D_i (the last piece), no earlier than its requested date; NaT with
    eta_source 'none' when total supply < D_i.
    Adds: qty_open, allocation_rank (1 = served first at its product-location), is_priority (priority > 0),
    high_value (tier in ``high_value_tiers``), qty_from_stock, qty_covered (by known supply), first_ship_date
    (when its first piece is available), eta, eta_source ('stock', 'purchase', 'production', 'none'),
    eta_reference (PO/MO number of the last piece), backorder (requested_date ≤ as_of), days_late (eta −
    requested_date). Sorted by product, location and allocation_rank.
    """
    start = _day(as_of, "as_of")
    keys = check_priority(priority)
    d = _require(lines, OPEN_LINES, "OPEN_LINES", optional=lines.columns)
    d = d.assign(qty_open=_open_qty(d))
    d = d[(d["qty_open"] > EPS).to_numpy()].reset_index(drop=True)
    d = d.astype({"product_id": "int64", "location_id": "int64"})
    sort = _sort_keys(d, keys, tier_order)
    # np.lexsort sorts by its last key first: product, location, then the priority keys in order
    order = np.lexsort([*reversed(sort), d["location_id"].to_numpy(), d["product_id"].to_numpy()])
    d = d.iloc[order].reset_index(drop=True)
    pair = ["product_id", "location_id"]
    d["allocation_rank"] = d.groupby(pair).cumcount() + 1
    d["cum_end"] = d.groupby(pair)["qty_open"].cumsum()
    d["cum_start"] = d["cum_end"] - d["qty_open"]

    stream = _supply_stream(supply, start)
    totals = stream.groupby(pair)["qty"].sum()
    stock = stream[stream["code"] == 0].groupby(pair)["qty"].sum()
    index = pd.MultiIndex.from_frame(d[pair])
    total = totals.reindex(index).fillna(0.0).to_numpy()
    on_hand = stock.reindex(index).fillna(0.0).to_numpy()
    d["qty_covered"] = np.clip(total - d["cum_start"].to_numpy(), 0.0, d["qty_open"].to_numpy())
    d["qty_from_stock"] = np.clip(np.minimum(d["cum_end"].to_numpy(), on_hand) - d["cum_start"].to_numpy(), 0.0,
                                  d["qty_open"].to_numpy())

    right = stream[[*pair, "cum_supply", "day", "code", "reference"]].sort_values("cum_supply", kind="stable")
    last = pd.merge_asof(
        d[[*pair, "cum_end"]].assign(row=np.arange(len(d)), key=d["cum_end"] - 1e-6).sort_values("key"),
        right, left_on="key", right_on="cum_supply", by=pair, direction="forward",
    ).sort_values("row")
    first = pd.merge_asof(
        d[[*pair]].assign(row=np.arange(len(d)), key=d["cum_start"] + 1e-6).sort_values("key"),
        right[[*pair, "cum_supply", "day"]], left_on="key", right_on="cum_supply", by=pair, direction="forward",
    ).sort_values("row")
    requested = _dates(d["requested_date"])
    found = last["day"].notna().to_numpy()
    eta_day = start + pd.to_timedelta(last["day"].to_numpy(dtype=float), unit="D")
    eta = pd.Series(eta_day, index=d.index).where(found)
    d["eta"] = eta.where(eta >= requested, requested).where(found).astype("datetime64[ns]")
    first_day = pd.Series(start + pd.to_timedelta(first["day"].to_numpy(dtype=float), unit="D"), index=d.index)
    d["first_ship_date"] = first_day.where(first_day >= requested, requested).where(
        first["day"].notna().to_numpy()).astype("datetime64[ns]")
    codes = last["code"].to_numpy(dtype=float)
    d["eta_source"] = np.where(found, _ETA_SOURCE[np.nan_to_num(codes).astype(int)], "none")
    d["eta_reference"] = np.where(found & (codes > 0), last["reference"].to_numpy(dtype=object), None)
    d["is_priority"] = pd.to_numeric(d["priority"]).fillna(0).to_numpy() > 0
    d["high_value"] = d["tier"].isin(list(high_value_tiers)).to_numpy()
    d["backorder"] = (requested <= start).to_numpy()
    d["days_late"] = (d["eta"] - requested).dt.days.clip(lower=0)
    return d.drop(columns=["cum_end", "cum_start"])


def open_backorders(lines: pd.DataFrame, as_of: DateLike, *,
                    high_value_tiers: Sequence[str] = HIGH_VALUE_TIERS) -> pd.DataFrame:
    """Open backorders at ``as_of``: lines due (requested_date ≤ as_of) with qty_open = qty_ordered − qty_shipped
    − qty_cancelled > 0 (``OPEN_LINES`` or ``kpis.ORDER_LINES``; needs requested_date, the three quantities,
    unit_price, discount).

    Adds qty_open; age_days = as_of − requested_date; value = qty_open × unit_price × (1 − discount);
    is_priority (priority > 0, when the frame has ``priority``) and high_value (tier in ``high_value_tiers``,
    when it has ``tier``). Sorted priority first, then oldest first.
    """
    start = _day(as_of, "as_of")
    _require(lines, ("requested_date", "qty_ordered", "qty_shipped", "qty_cancelled", "unit_price", "discount"),
             "OPEN_LINES")
    requested = _dates(lines["requested_date"])
    open_qty = _open_qty(lines)
    keep = ((requested <= start) & (open_qty > EPS)).to_numpy()
    d = lines[keep].assign(qty_open=open_qty[keep])
    d["age_days"] = (start - requested[keep]).dt.days.astype(np.int64)
    d["value"] = d["qty_open"] * _net_price(d)
    d["is_priority"] = pd.to_numeric(d["priority"]).fillna(0) > 0 if "priority" in d.columns else False
    d["high_value"] = d["tier"].isin(list(high_value_tiers)) if "tier" in d.columns else False
    return d.sort_values(["is_priority", "age_days"], ascending=[False, False], kind="stable").reset_index(drop=True)


# --- ETA changes ----------------------------------------------------------------------------------------------


@dataclass
class EtaUpdate:
    """What :func:`eta_updates` decided: ``lines`` (one row per open backorder, with the values to store) and
    ``removed`` (line ids with a stored ETA that are no longer open backorders)."""

    lines: pd.DataFrame
    removed: list[int] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Lines per action (new, moved, kept) and removed."""
        found = self.lines["action"].value_counts()
        return {**{a: int(found.get(a, 0)) for a in ETA_ACTIONS}, "removed": len(self.removed)}


def eta_updates(backorders: pd.DataFrame, stored: pd.DataFrame, *, tolerance_days: int) -> EtaUpdate:
    """Compare freshly computed ETAs with the stored ones and decide what to store and announce.

    ``backorders``: line_id and eta (computed; NaT = no known supply); ``stored``: line_id, eta, previous_eta
    (``backorder_eta``). The stored ETA is the one announced to the customer; it only changes on a real move:

    - no stored row: action 'new' (a line became backordered); eta = computed, previous_eta = NaT;
    - moved: computed and stored differ by more than ``tolerance_days`` days, or exactly one is NaT: action
      'moved'; eta = computed, previous_eta = stored eta;
    - otherwise 'kept': eta and previous_eta stay as stored (a shift within the tolerance is noise; comparing
      with the announced ETA, not the last computed one, means small daily slips still add up to a move).

    Adds computed_eta, stored_eta, shift_days (computed − stored, NaN when either is NaT), action, and eta and
    previous_eta to store. ``removed``: stored line ids absent from ``backorders``.
    """
    if tolerance_days < 0:
        raise ValueError("tolerance_days must be >= 0")
    _require(backorders, ("line_id", "eta"), "backorders")
    _require(stored, ("line_id", "eta", "previous_eta"), "backorder_eta")
    old = stored[["line_id", "eta", "previous_eta"]].astype({"line_id": "int64"}).rename(
        columns={"eta": "stored_eta", "previous_eta": "stored_previous_eta"})
    d = backorders.rename(columns={"eta": "computed_eta"}).astype({"line_id": "int64"})
    d = d.drop(columns=[c for c in ("stored_eta", "stored_previous_eta", "previous_eta") if c in d.columns])
    d = d.merge(old, on="line_id", how="left", validate="one_to_one")
    computed, before = _dates(d["computed_eta"]), _dates(d["stored_eta"])
    known = d["line_id"].isin(old["line_id"]).to_numpy()
    shift = (computed - before).dt.days
    moved = known & ((shift.abs() > tolerance_days).to_numpy() | (computed.isna() != before.isna()).to_numpy())
    d["computed_eta"], d["stored_eta"] = computed, before
    d["shift_days"] = shift
    d["action"] = np.where(~known, "new", np.where(moved, "moved", "kept"))
    d["eta"] = computed.where(~known | moved, before)
    d["previous_eta"] = before.where(moved, _dates(d["stored_previous_eta"]).where(known))
    d = d.drop(columns=["stored_previous_eta"])
    removed = sorted(set(old["line_id"].tolist()) - set(d["line_id"].tolist()))
    return EtaUpdate(lines=d, removed=[int(i) for i in removed])


# --- alternatives ---------------------------------------------------------------------------------------------


def alternatives(
    product_id: int,
    products: pd.DataFrame,
    substitutes: pd.DataFrame,
    availability_frame: pd.DataFrame,
    location_id: int,
    *,
    price_band: float = 0.25,
    limit: int = 5,
) -> pd.DataFrame:
    """Products a sales representative can offer instead of ``product_id``, each with its availability.

    ``products``: product_id, sku, name, category, unit_price (and ``active``, if present: inactive ones are never
    offered); ``substitutes``: product_id, substitute_id, rank (``product_substitute``); ``availability_frame``:
    :func:`availability` of the candidates. Rule: first the substitutes of the product by rank (reason
    'substitute'), then other products of the same category whose unit_price is within ±``price_band`` (a
    fraction) of the product's, closest price first (reason 'same_category'); at most ``limit`` of the latter.
    Per candidate: available_here = available_now at ``location_id``, available_elsewhere = Σ available_now at
    other locations, next_receipt_date and next_receipt_qty at ``location_id``, available (available_here > 0),
    price_diff = unit_price / product's unit_price − 1.
    """
    if price_band < 0:
        raise ValueError("price_band must be >= 0")
    if limit < 0:
        raise ValueError("limit must be >= 0")
    catalog = _require(products, ("product_id", "sku", "name", "category", "unit_price"), "products",
                       optional=("active",)).astype({"product_id": "int64"}).set_index("product_id")
    if product_id not in catalog.index:
        raise ValueError(f"unknown product {product_id}")
    base = catalog.loc[product_id]
    if "active" in catalog.columns:
        catalog = catalog[catalog["active"].fillna(True).astype(bool)]
    subs = _require(substitutes, ("product_id", "substitute_id", "rank"), "substitutes")
    subs = subs[(subs["product_id"] == product_id) & subs["substitute_id"].isin(catalog.index)]
    subs = subs.sort_values(["rank", "substitute_id"])
    first = pd.DataFrame({"product_id": subs["substitute_id"].astype("int64").to_numpy(), "reason": "substitute",
                          "rank": subs["rank"].astype("int64").to_numpy()})
    price = float(base["unit_price"]) if pd.notna(base["unit_price"]) else math.nan
    same = catalog[(catalog["category"] == base["category"]) & (catalog.index != product_id)
                   & ~catalog.index.isin(first["product_id"])]
    if math.isfinite(price) and price > 0:
        distance = (same["unit_price"] / price - 1).abs()
        same = same.assign(distance=distance)[distance <= price_band + EPS]
        same = same.sort_values(["distance", "unit_price"]).head(limit)
    else:
        same = same.iloc[0:0].assign(distance=np.nan)
    second = pd.DataFrame({"product_id": same.index.to_numpy(dtype="int64"), "reason": "same_category",
                           "rank": np.arange(1, len(same) + 1, dtype="int64")})
    out = pd.concat([first, second], ignore_index=True)
    out = out.join(catalog[["sku", "name", "category", "unit_price"]], on="product_id")
    out["price_diff"] = out["unit_price"] / price - 1 if math.isfinite(price) and price > 0 else np.nan
    avail = availability_frame.astype({"product_id": "int64", "location_id": "int64"})
    here = avail[avail["location_id"] == location_id].set_index("product_id")
    elsewhere = avail[avail["location_id"] != location_id].groupby("product_id")["available_now"].sum()
    out["available_here"] = out["product_id"].map(here["available_now"]).fillna(0.0).astype(float)
    out["available_elsewhere"] = out["product_id"].map(elsewhere).fillna(0.0).astype(float)
    out["next_receipt_date"] = out["product_id"].map(here["next_receipt_date"]).astype("datetime64[ns]")
    out["next_receipt_qty"] = out["product_id"].map(here["next_receipt_qty"]).fillna(0.0).astype(float)
    out["available"] = out["available_here"] > EPS
    return out[["product_id", "sku", "name", "category", "unit_price", "price_diff", "reason", "rank",
                "available", "available_here", "available_elsewhere", "next_receipt_date", "next_receipt_qty"]]


# --- logistics: shipment delays -------------------------------------------------------------------------------


def shipment_delays(shipments: pd.DataFrame, as_of: DateLike) -> pd.DataFrame:
    """Shipments not yet delivered, with their delay against the promise (``SHIPMENTS``).

    A shipment is in transit when it has no delivered_date and its status is not 'delivered' or 'returned'.
    promise = promised_date, else requested_date. slipped: eta > promise (the carrier's ETA is past the
    promise); overdue: eta < as_of (the ETA passed and it has not arrived), days_overdue = as_of − eta (0 when
    not overdue); expected_date = eta, or as_of when overdue (it cannot arrive before today); days_late =
    max(0, expected_date − promise) (days past the promise); delayed = slipped or overdue; eta_missing where
    there is no ETA (never delayed by this rule: nothing to compare). Returns the in-transit rows with promise,
    expected_date, slipped, overdue, delayed, eta_missing, days_late, days_overdue; delayed first, then the
    most days late, the most days overdue.
    """
    start = _day(as_of, "as_of")
    d = _require(shipments, SHIPMENTS, "SHIPMENTS", optional=shipments.columns)
    delivered = _dates(d["delivered_date"]).notna() | d["status"].isin(["delivered", "returned"])
    d = d[~delivered.to_numpy()].reset_index(drop=True)
    eta = _dates(d["eta"])
    promised = _dates(d["promised_date"]).fillna(_dates(d["requested_date"]))
    d["eta"], d["promise"] = eta, promised
    d["eta_missing"] = eta.isna()
    d["slipped"] = (eta > promised).fillna(False).astype(bool)
    d["overdue"] = (eta < start).fillna(False).astype(bool)
    d["expected_date"] = eta.where(~d["overdue"], start)
    d["days_late"] = (d["expected_date"] - promised).dt.days.clip(lower=0)
    d["days_overdue"] = (start - eta).dt.days.clip(lower=0).fillna(0).astype(np.int64)
    d["delayed"] = d["slipped"] | d["overdue"]
    return d.sort_values(["delayed", "days_late", "days_overdue", "shipment_no"], ascending=[False, False, False, True],
                         na_position="last").reset_index(drop=True)


def delayed_customers(delays: pd.DataFrame) -> pd.DataFrame:
    """The customers affected by delayed shipments (output of :func:`shipment_delays`): per customer_id (and the
    customer's name and email, when present) shipments, orders, units, max days_late; most days late first."""
    _require(delays, ("customer_id", "shipment_no", "order_no", "qty", "days_late", "delayed"), "delays")
    d = delays[delays["delayed"].to_numpy(dtype=bool)]
    extra = [c for c in ("customer", "customer_name", "email") if c in d.columns]
    grouped = d.groupby(["customer_id", *extra], dropna=False).agg(
        shipments=("shipment_no", "nunique"), orders=("order_no", "nunique"), units=("qty", "sum"),
        max_days_late=("days_late", "max"),
    ).reset_index()
    return grouped.sort_values(["max_days_late", "shipments"], ascending=False, kind="stable").reset_index(drop=True)


# --- executive: backorder rate trend and root causes ----------------------------------------------------------


def backorder_trend(
    lines: pd.DataFrame, as_of: DateLike, *, by: Sequence[str] | str = (), freq: Freq = "M"
) -> pd.DataFrame:
    """Backorder rate per group and period (``kpis.ORDER_LINES``) with its trend.

    The rate is ``kpis.backorder_rate`` (lines not shipped in full by the requested date / due lines, bucketed by
    requested date). Every group gets every period from the first to the last one (missing: 0 lines, rate NaN).
    previous_rate = the group's rate in the period before; change = backorder_rate − previous_rate (a fraction:
    × 100 for percentage points); direction 'up' (change > 0.005), 'down' (< −0.005), 'flat', or '' when either
    rate is unknown. Returns the backorder_rate columns plus previous_rate, change, direction.
    """
    if freq is None:
        raise ValueError("a trend needs freq ('D', 'W', 'M', 'Q' or 'Y')")
    return rate_trend(backorder_rate(lines, as_of, by=by, freq=freq), by=by, freq=freq)


def rate_trend(rates: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = "M") -> pd.DataFrame:
    """The trend part of :func:`backorder_trend` on rates already computed (``kpis.backorder_rate`` with
    ``freq``, or ``kpis.backorder_rate_from_counts`` of counts a database summed per group and period): every
    group gets every period, then previous_rate, change and direction as described there."""
    if freq is None:
        raise ValueError("a trend needs freq ('D', 'W', 'M', 'Q' or 'Y')")
    keys = [by] if isinstance(by, str) else list(by)
    if not rates.empty:
        step = {"D": "D", "W": "W-SUN", "M": "M", "Q": "Q-DEC", "Y": "Y-DEC"}[freq]
        periods = pd.period_range(rates["period"].min(), rates["period"].max(), freq=step).start_time
        groups = rates[keys].drop_duplicates() if keys else pd.DataFrame(index=[0])
        grid = groups.merge(pd.DataFrame({"period": periods}), how="cross")
        rates = grid.merge(rates, on=[*keys, "period"], how="left")
        counts = ["lines_due", "lines_backordered", "units_due", "units_short"]
        rates[counts] = rates[counts].fillna(0)
        rates[["lines_due", "lines_backordered"]] = rates[["lines_due", "lines_backordered"]].astype(np.int64)
    rates = rates.sort_values([*keys, "period"], kind="stable").reset_index(drop=True)
    previous = rates.groupby(keys, dropna=False)["backorder_rate"].shift(1) if keys else \
        rates["backorder_rate"].shift(1)
    rates["previous_rate"] = previous
    rates["change"] = rates["backorder_rate"] - previous
    rates["direction"] = np.select([rates["change"] > 0.005, rates["change"] < -0.005, rates["change"].notna()],
                                   ["up", "down", "flat"], "")
    return rates


def _running(orders: pd.DataFrame, on: str, value: str, pair: list[str]) -> pd.DataFrame:
    """Orders sorted by ``on`` within each pair with the running max of ``value`` and the reference holding it."""
    o = orders.sort_values([*pair, on, value], kind="stable").reset_index(drop=True)
    o["running"] = o.groupby(pair)[value].cummax()
    o["holder"] = o["reference"].where(o[value] == o["running"])
    o["holder"] = o.groupby(pair)["holder"].ffill()
    return o.sort_values(on, kind="stable")


def _window_sum(daily: pd.DataFrame, pair: list[str], keys: pd.DataFrame, end: pd.Series, days: np.ndarray,
                ) -> np.ndarray:
    """Σ y over the ``days`` days ending on ``end`` (inclusive) per row of ``keys`` (cumulative sums + as-of)."""
    if daily.empty:
        return np.zeros(len(keys))
    c = daily.sort_values([*pair, "ds"]).reset_index(drop=True)
    c["cum"] = c.groupby(pair)["y"].cumsum()
    right = c[[*pair, "ds", "cum"]].sort_values("ds", kind="stable")

    def upto(when: pd.Series) -> np.ndarray:
        left = keys[pair].assign(ds=when.to_numpy(), row=np.arange(len(keys))).sort_values("ds", kind="stable")
        found = pd.merge_asof(left, right, on="ds", by=pair, direction="backward").sort_values("row")
        return found["cum"].fillna(0.0).to_numpy()

    begin = end - pd.to_timedelta(days, unit="D")
    return upto(end) - upto(begin)


def _backordered_lines(lines: pd.DataFrame, start: pd.Timestamp, min_window_days: int) -> pd.DataFrame:
    """The due lines short at their requested date (see :func:`classify_root_causes`), with requested_date as
    datetime64 and window_days = max(ceil(lead_time_days), min_window_days) (unknown lead time: 0)."""
    _require(lines, ("product_id", "location_id", "requested_date", "qty_ordered", "shipped_by_requested_qty",
                     "lead_time_days"), "ORDER_LINES")
    requested = _dates(lines["requested_date"])
    short = (requested <= start) & (lines["shipped_by_requested_qty"] < lines["qty_ordered"] - EPS)
    d = lines[short.to_numpy()].reset_index(drop=True).astype({"product_id": "int64", "location_id": "int64"})
    d["requested_date"] = _dates(d["requested_date"])
    planned = pd.to_numeric(d["lead_time_days"]).to_numpy(dtype=float)
    d["window_days"] = np.maximum(np.ceil(np.nan_to_num(planned, nan=0.0)), min_window_days).astype(np.int64)
    return d


def root_cause_windows(
    lines: pd.DataFrame, as_of: DateLike, *, min_window_days: int = 7, baseline_days: int = 90
) -> pd.DataFrame:
    """The daily demand :func:`classify_root_causes` reads for ``lines`` (same contract and keywords): per
    product-location with a backordered line, first_day = min over its lines of R − window − baseline_days + 1
    and last_day = max R (the lead-time window and the baseline before it), so the data layer reads only those
    days. Returns product_id, location_id, first_day, last_day (datetime64), sorted."""
    if min_window_days < 1 or baseline_days < 1:
        raise ValueError("min_window_days and baseline_days must be >= 1")
    d = _backordered_lines(lines, _day(as_of, "as_of"), min_window_days)
    first = d["requested_date"] - pd.to_timedelta(d["window_days"] + baseline_days - 1, unit="D")
    out = d.assign(first_day=first).groupby(["product_id", "location_id"], as_index=False).agg(
        first_day=("first_day", "min"), last_day=("requested_date", "max"))
    return out.astype({"first_day": "datetime64[ns]", "last_day": "datetime64[ns]"})


def classify_root_causes(
    lines: pd.DataFrame,
    supply_orders: pd.DataFrame,
    daily_demand: pd.DataFrame,
    as_of: DateLike,
    *,
    min_window_days: int = 7,
    baseline_days: int = 90,
    forecast_tolerance: float = 0.25,
    lead_time_tolerance: float = 0.2,
) -> pd.DataFrame:
    """Classify every backordered line into one root cause, for the executive drill-down.

    ``lines``: ``kpis.ORDER_LINES`` with ``lead_time_days`` (the product's planned lead time; NaN = unknown) and
    optionally ``expected_daily_demand`` (a forecast per day, used where not NaN). Backordered = due
    (requested_date ≤ as_of) and shipped_by_requested_qty < qty_ordered. ``supply_orders``: ``SUPPLY_ORDERS``;
    ``daily_demand``: ``DAILY_DEMAND`` covering the windows below. For a line at product-location p, requested on
    R, window W = the L days ending on R, L = max(ceil(lead_time_days), ``min_window_days``), the first rule that
    holds wins:

    1. supplier_late: an order of p due on or before R arrived after R (or had not arrived by as_of);
    2. lead_time: an order of p placed on or before R and due after R (under way when the line fell due) was
       quoted a lead time (due − order date) longer than lead_time_days × (1 + ``lead_time_tolerance``);
    3. forecast_too_low: units ordered at p during W > expected × (1 + ``forecast_tolerance``), expected =
       expected_daily_demand × L when given, else the naive forecast: mean daily units over the
       ``baseline_days`` before W × L (no baseline demand and some demand in W counts as too low);
    4. policy: none of these — supply came as planned and demand as expected, so the stock policy (reorder
       point, safety stock, order quantity) did not cover the line.

    Returns the backordered lines with units_short, root_cause, cause_reference (the late or long order),
    window_days, window_demand, expected_demand.
    """
    start = _day(as_of, "as_of")
    if min_window_days < 1 or baseline_days < 1:
        raise ValueError("min_window_days and baseline_days must be >= 1")
    if forecast_tolerance < 0 or lead_time_tolerance < 0:
        raise ValueError("tolerances must be >= 0")
    d = _backordered_lines(lines, start, min_window_days)
    window = d.pop("window_days").to_numpy()
    pair = ["product_id", "location_id"]
    d["units_short"] = d["qty_ordered"] - _filled_units(d)
    n = len(d)
    left = d[pair].assign(R=d["requested_date"], row=np.arange(n)).sort_values("R", kind="stable")

    orders = _require(supply_orders, SUPPLY_ORDERS, "SUPPLY_ORDERS").astype(
        {"product_id": "int64", "location_id": "int64"})
    orders = orders.assign(order_date=_dates(orders["order_date"]), due_date=_dates(orders["due_date"]),
                           arrived=_dates(orders["arrived_date"]).fillna(pd.Timestamp.max.normalize()))
    orders = orders[orders["due_date"].notna() & orders["order_date"].notna()]
    late_ref = np.full(n, None, dtype=object)
    late = np.zeros(n, dtype=bool)
    if len(orders):
        due = _running(orders, "due_date", "arrived", pair)
        hit = pd.merge_asof(left, due[[*pair, "due_date", "running", "holder"]], left_on="R", right_on="due_date",
                            by=pair, direction="backward").sort_values("row")
        late = (hit["running"] > hit["R"]).fillna(False).to_numpy(dtype=bool)
        late_ref = np.where(late, hit["holder"].to_numpy(dtype=object), None)

    planned = pd.to_numeric(d["lead_time_days"]).to_numpy(dtype=float)
    long_ref = np.full(n, None, dtype=object)
    long_hit = np.zeros(n, dtype=bool)
    if len(orders):
        quoted = (orders["due_date"] - orders["order_date"]).dt.days.to_numpy(dtype=float)
        lead = pd.Series(planned, index=pd.MultiIndex.from_frame(d[pair])).groupby(level=[0, 1]).first()
        plan = lead.reindex(pd.MultiIndex.from_frame(orders[pair])).to_numpy(dtype=float)
        long_orders = orders[(quoted > plan * (1 + lead_time_tolerance) + EPS) & ~np.isnan(plan)]
        if len(long_orders):
            placed = _running(long_orders, "order_date", "due_date", pair)
            hit = pd.merge_asof(left, placed[[*pair, "order_date", "running", "holder"]], left_on="R",
                                right_on="order_date", by=pair, direction="backward").sort_values("row")
            long_hit = (hit["running"] > hit["R"]).fillna(False).to_numpy(dtype=bool)
            long_ref = np.where(long_hit, hit["holder"].to_numpy(dtype=object), None)

    demand = _require(daily_demand, DAILY_DEMAND, "DAILY_DEMAND").astype(
        {"product_id": "int64", "location_id": "int64", "y": "float64"})
    demand = demand.assign(ds=_dates(demand["ds"]))
    in_window = _window_sum(demand, pair, d, d["requested_date"], window)
    before = d["requested_date"] - pd.to_timedelta(window, unit="D")
    baseline = _window_sum(demand, pair, d, before, np.full(n, baseline_days)) / baseline_days
    if "expected_daily_demand" in d.columns:
        rate = pd.to_numeric(d["expected_daily_demand"]).to_numpy(dtype=float)
        baseline = np.where(np.isnan(rate), baseline, rate)
    expected = baseline * window
    too_low = in_window > expected * (1 + forecast_tolerance) + EPS

    d["root_cause"] = np.select([late, long_hit, too_low], ROOT_CAUSES[:3], ROOT_CAUSES[3])
    d["cause_reference"] = np.where(late, late_ref, np.where(long_hit & ~late, long_ref, None))
    d["window_days"] = window
    d["window_demand"] = in_window
    d["expected_demand"] = expected
    return d


def root_cause_summary(
    classified: pd.DataFrame, *, by: Sequence[str] | str = (), freq: Freq = None
) -> pd.DataFrame:
    """The leading root causes (output of :func:`classify_root_causes`) per group of ``by`` and ``freq`` period
    of the requested date (``period`` = first day of the bucket, as in ``analytics.kpis``): lines, units_short
    and share (of the group's backordered lines) per cause, every cause listed (0 when none), most lines first.
    Drill down by filtering the classified lines on ``root_cause`` (and the group)."""
    keys = [by] if isinstance(by, str) else list(by)
    _require(classified, ("root_cause", "units_short", "requested_date"), "classified", keys)
    d = classified
    if freq is not None:
        periods = {"D": "D", "W": "W-SUN", "M": "M", "Q": "Q-DEC", "Y": "Y-DEC"}
        if freq not in periods:
            raise ValueError(f"freq must be one of {sorted(periods)} or None, not {freq!r}")
        d = d.assign(period=_dates(d["requested_date"]).dt.to_period(periods[freq]).dt.start_time)
        keys = [*keys, "period"]
    counts = d.groupby([*keys, "root_cause"], dropna=False).agg(
        lines=("root_cause", "size"), units_short=("units_short", "sum")).reset_index()
    groups = d[keys].drop_duplicates() if keys else pd.DataFrame(index=[0])
    grid = groups.merge(pd.DataFrame({"root_cause": list(ROOT_CAUSES)}), how="cross")
    out = grid.merge(counts, on=[*keys, "root_cause"], how="left").fillna({"lines": 0, "units_short": 0.0})
    out["lines"] = out["lines"].astype(np.int64)
    total = out.groupby(keys, dropna=False)["lines"].transform("sum") if keys else out["lines"].sum()
    out["share"] = out["lines"] / pd.Series(total, index=out.index).where(lambda s: s > 0)
    return out.sort_values([*keys, "lines", "root_cause"], ascending=[*([True] * len(keys)), False, True],
                           kind="stable").reset_index(drop=True)
