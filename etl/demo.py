"""The demo company: a deterministic, realistic distributor-manufacturer.

``generate(scale, seed, end_date)`` simulates the business day by day, vectorised across
all product-locations (no Python loop per item), and returns interchange frames that
``etl.loader`` loads like any other source. What it models, because every view is judged
on it:

- categories with distinct demand: smooth with weekday peaks, yearly seasonality (summer
  and winter peaks), trend, promotions (demand up, discount on the line), intermittent and
  lumpy demand;
- bought items (purchase orders to suppliers whose lead times vary and are sometimes late,
  a few receipts short) and made items (production orders at a plant, over- and
  under-production); replenishment by an (s, S) policy with varied safety factors;
- customers in segments and tiers, orders grouped per customer and day, requested and
  promised dates, priority orders;
- stock allocated to order lines by priority then order date; lines not covered become
  backorders, filled by later receipts in part or in full, some cancelled by impatient
  customers (lost sales);
- shipments with carriers, tracking numbers, ETAs and some late deliveries;
- purchase costs that drift over time (so FIFO and moving average differ), cycle counts
  with some discrepancies, occasional scrap, substitutes, customer feedback with NPS.

On-hand stock never goes negative and always equals the ledger: every change of the
simulated stock is written as exactly one movement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

DEFAULT_END_DATE = dt.date(2026, 10, 31)


@dataclass(frozen=True)
class Scale:
    """Size of a demo company."""

    products: int
    locations: int
    customers: int
    suppliers: int
    days: int
    order_lines: int


SCALES: dict[str, Scale] = {
    "small": Scale(products=40, locations=2, customers=120, suppliers=5, days=365, order_lines=12_000),
    "medium": Scale(products=300, locations=4, customers=1_500, suppliers=15, days=3 * 365, order_lines=525_000),
    "large": Scale(products=3_000, locations=8, customers=20_000, suppliers=60, days=3 * 365, order_lines=10_500_000),
}

LOCATIONS = (
    ("DC-NORTH", "North distribution centre", "warehouse", "North"),
    ("PLANT-1", "Main plant", "plant", "Central"),
    ("DC-SOUTH", "South distribution centre", "warehouse", "South"),
    ("STORE-CITY", "City trade counter", "store", "Central"),
    ("DC-EAST", "East distribution centre", "warehouse", "East"),
    ("DC-WEST", "West distribution centre", "warehouse", "West"),
    ("STORE-HARBOUR", "Harbour trade counter", "store", "South"),
    ("PLANT-2", "Second plant", "plant", "East"),
)


@dataclass(frozen=True)
class Category:
    name: str
    pattern: str  # smooth | summer | winter | trend | intermittent | lumpy | declining
    make: float  # share of made items
    cost: tuple[float, float]
    qty_mean: float
    rate: float  # relative lines per day
    promotions: bool
    nouns: tuple[str, ...]


CATEGORIES = (
    Category("Fasteners", "smooth", 0.0, (0.2, 4.0), 12, 3.0, False, ("Hex bolt", "Wood screw", "Washer", "Anchor", "Rivet")),
    Category("Garden", "summer", 0.0, (4, 60), 3, 1.2, True, ("Hose reel", "Sprinkler", "Pruner", "Planter", "Trimmer line")),
    Category("Heating", "winter", 0.2, (15, 220), 2, 0.8, False, ("Radiator valve", "Thermostat", "Heater", "Pump", "Expansion tank")),
    Category("Electronics", "trend", 0.0, (8, 180), 2, 1.0, True, ("Sensor", "Relay", "Power supply", "Controller", "Cable set")),
    Category("Spare Parts", "intermittent", 0.0, (6, 140), 1.3, 0.12, False, ("Gasket", "Bearing", "Seal kit", "Filter", "Drive belt")),
    Category("Valves", "lumpy", 1.0, (30, 400), 8, 0.15, False, ("Ball valve", "Gate valve", "Check valve", "Control valve")),
    Category("Packaging", "smooth", 0.0, (0.5, 12), 20, 1.5, True, ("Carton", "Stretch film", "Tape roll", "Pallet wrap", "Label roll")),
    Category("Assemblies", "declining", 1.0, (40, 600), 2, 0.5, False, ("Pump unit", "Manifold", "Control box", "Mount frame")),
)

SEGMENTS = (  # name, share, requested lead days, channel choices, patience days (None = waits)
    ("Retail", 0.40, 3, ("store", "phone")),
    ("Wholesale", 0.25, 7, ("edi",)),
    ("Industrial", 0.15, 14, ("edi", "sales rep")),
    ("E-commerce", 0.20, 2, ("web",)),
)
PATIENCE = {"Retail": (7, 21), "Wholesale": (20, 45), "Industrial": (30, 60), "E-commerce": (3, 10)}
TIERS = (("A", 0.10), ("B", 0.30), ("C", 0.60))
TIER_DISCOUNT = {"A": 0.08, "B": 0.04, "C": 0.0}
CARRIERS = (("DHL", "JD", 2, 0.08), ("UPS", "1Z", 2, 0.10), ("DB Schenker", "DBS", 4, 0.18), ("Own fleet", "OF", 1, 0.05))
ADJECTIVES = ("Pro", "Eco", "Heavy-duty", "Compact", "Standard", "Premium", "Basic", "Industrial", "Smart", "Classic")
SUPPLIER_WORDS = ("Nordic", "Atlas", "Summit", "Pioneer", "Keystone", "Harbor", "Vertex", "Granite", "Sterling", "Apex",
                  "Meridian", "Beacon", "Crescent", "Horizon", "Evergreen", "Ironside", "Bluewater", "Redwood")
SUPPLIER_KINDS = ("Supply", "Industries", "Components", "Trading", "Manufacturing", "Distribution")
CUSTOMER_WORDS = ("Acme", "Baker", "Castle", "Delta", "Elm", "Fox", "Grove", "Hill", "Iris", "Jade", "Kite", "Lark",
                  "Maple", "North", "Oak", "Pine", "Quill", "River", "Stone", "Tide", "Union", "Vale", "West", "York")
CUSTOMER_KINDS = ("Builders", "Hardware", "Garden Centre", "Facilities", "Engineering", "Plumbing", "Shop", "Works")
FEEDBACK = {
    "promoter": ("Fast delivery and everything was in stock.", "Great service, will order again.",
                 "Order arrived on time and complete.", "Very reliable supplier."),
    "passive": ("Delivery was fine.", "OK overall, prices could be better.", "Acceptable service."),
    "detractor": ("Items were backordered for weeks.", "Order arrived late and incomplete.",
                  "Had to cancel part of my order, nothing in stock.", "Nobody told me about the delay."),
}


def _ean13(numbers: np.ndarray) -> list[str]:
    """EAN-13 codes (with check digit) for 12-digit numbers."""
    out = []
    for n in numbers:
        digits = f"{int(n):012d}"
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
        out.append(digits + str((10 - total % 10) % 10))
    return out


def _season(pattern: str, day_of_year: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Multiplicative demand pattern by day (mean about 1)."""
    angle = 2 * np.pi * day_of_year / 365.25
    if pattern == "summer":
        return 1 + 0.8 * np.cos(angle - 2 * np.pi * 172 / 365.25)
    if pattern == "winter":
        return 1 + 0.7 * np.cos(angle - 2 * np.pi * 15 / 365.25)
    if pattern == "trend":
        return 0.7 + 0.3 * years
    if pattern == "declining":
        return np.clip(1.3 - 0.2 * years, 0.4, None)
    return np.ones_like(angle)


def _weekly(kind: str) -> np.ndarray:
    """Weekday multipliers (Monday first), mean 1."""
    if kind == "store":
        week = np.array([0.8, 0.8, 0.9, 1.0, 1.3, 1.6, 0.6])
    else:
        week = np.array([1.25, 1.2, 1.15, 1.15, 1.1, 0.1, 0.05])
    return week / week.mean()


def _round_order(qty: np.ndarray, moq: np.ndarray, multiple: np.ndarray) -> np.ndarray:
    """Quantity raised to the MOQ and then to the next order multiple."""
    qty = np.maximum(qty, moq)
    return np.ceil(qty / multiple) * multiple


def generate(scale: str | Scale = "small", seed: int = 42, end_date: dt.date = DEFAULT_END_DATE) -> dict[str, pd.DataFrame]:
    """Simulate the demo company; return interchange frames keyed by entity name."""
    size = SCALES[scale] if isinstance(scale, str) else scale
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(end_date) - pd.Timedelta(days=size.days - 1)
    days = pd.date_range(start, periods=size.days, freq="D")
    end_day = size.days - 1

    # --- master data ---------------------------------------------------------------------
    locations = pd.DataFrame(LOCATIONS[: size.locations], columns=["code", "name", "kind", "region"])
    if "plant" not in set(locations["kind"]):
        locations.loc[len(locations) - 1] = LOCATIONS[1]
    plants = np.flatnonzero(locations["kind"].to_numpy() == "plant")
    sellers = np.flatnonzero(locations["kind"].to_numpy() != "plant")

    supplier_lt_mean = rng.uniform(5, 40, size.suppliers).round(1)
    supplier_lt_std = (supplier_lt_mean * rng.uniform(0.1, 0.35, size.suppliers)).round(1)
    supplier_late = rng.uniform(0.02, 0.15, size.suppliers)
    suppliers = pd.DataFrame({
        "code": [f"SUP-{i + 1:03d}" for i in range(size.suppliers)],
        "name": [f"{SUPPLIER_WORDS[i % len(SUPPLIER_WORDS)]} {SUPPLIER_KINDS[(i // len(SUPPLIER_WORDS) + i) % len(SUPPLIER_KINDS)]}"
                 + (f" {i // len(SUPPLIER_WORDS) + 1}" if i >= len(SUPPLIER_WORDS) else "") for i in range(size.suppliers)],
        "lead_time_mean_days": supplier_lt_mean,
        "lead_time_std_days": supplier_lt_std,
        "email": [f"orders@supplier{i + 1:03d}.example.com" for i in range(size.suppliers)],
    })

    weights = np.array([c.rate for c in CATEGORIES])
    product_category = rng.choice(len(CATEGORIES), size.products, p=np.full(len(CATEGORIES), 1 / len(CATEGORIES)))
    cat_make = np.array([c.make for c in CATEGORIES])[product_category]
    is_made = rng.random(size.products) < cat_make
    low = np.array([c.cost[0] for c in CATEGORIES])[product_category]
    high = np.array([c.cost[1] for c in CATEGORIES])[product_category]
    base_cost = np.exp(rng.uniform(np.log(low), np.log(high))).round(2)
    markup = rng.uniform(1.3, 2.2, size.products)
    base_price = (base_cost * markup).round(2)
    cost_drift = rng.uniform(-0.02, 0.08, size.products)  # per year
    price_drift = np.clip(cost_drift + rng.uniform(0.0, 0.03, size.products), 0, None)
    product_supplier = rng.integers(0, size.suppliers, size.products)
    production_days = rng.integers(3, 11, size.products)
    pack = rng.choice([1, 1, 2, 5, 6, 10, 12, 25], size.products)
    moq = pack * rng.choice([1, 1, 2, 4, 10], size.products)
    product_plant = plants[rng.integers(0, len(plants), size.products)]
    sku = [f"{CATEGORIES[c].name[:3].upper()}-{i + 1:05d}" for i, c in enumerate(product_category)]
    names = []
    for _i, c in enumerate(product_category):
        category = CATEGORIES[c]
        noun = category.nouns[rng.integers(0, len(category.nouns))]
        names.append(f"{ADJECTIVES[rng.integers(0, len(ADJECTIVES))]} {noun} {rng.integers(1, 100)}")
    gtin = _ean13(rng.integers(10**11, 10**12 - 1, size.products))
    current_cost = (base_cost * (1 + cost_drift * (size.days - 1) / 365)).round(2)
    current_price = (base_price * (1 + price_drift) ** ((size.days - 1) // 365)).round(2)
    products = pd.DataFrame({
        "sku": sku, "gtin": gtin, "name": names,
        "category": [CATEGORIES[c].name for c in product_category],
        "unit_cost": current_cost, "unit_price": current_price,
        "make_or_buy": np.where(is_made, "make", "buy"),
        "supplier": np.where(is_made, None, suppliers["code"].to_numpy()[product_supplier]),
        "lead_time_days": np.where(is_made, production_days, supplier_lt_mean[product_supplier]),
        "moq": moq.astype(float), "order_multiple": pack.astype(float),
        "reorder_point": None, "active": "true",
    })
    products["supplier"] = products["supplier"].astype(object)

    # Substitutes: same category, similar price.
    sub_rows = []
    for c in range(len(CATEGORIES)):
        members = np.flatnonzero(product_category == c)
        if len(members) < 2:
            continue
        for p in members[rng.random(len(members)) < 0.4]:
            others = members[members != p]
            closest = others[np.argsort(np.abs(base_price[others] - base_price[p]))][: rng.integers(1, 3)]
            sub_rows += [(sku[p], sku[s], rank + 1) for rank, s in enumerate(closest)]
    substitutes = pd.DataFrame(sub_rows, columns=["product", "substitute", "rank"])

    segment_names = np.array([s[0] for s in SEGMENTS])
    cust_segment = rng.choice(len(SEGMENTS), size.customers, p=[s[1] for s in SEGMENTS])
    cust_tier = rng.choice(len(TIERS), size.customers, p=[t[1] for t in TIERS])
    cust_home = sellers[rng.integers(0, len(sellers), size.customers)]
    cust_weight = 1 / (rng.permutation(size.customers) + 1) ** 0.8 * np.where(cust_tier == 0, 3, 1)
    customers = pd.DataFrame({
        "code": [f"C{i + 1:06d}" for i in range(size.customers)],
        "name": [f"{CUSTOMER_WORDS[i % len(CUSTOMER_WORDS)]} {CUSTOMER_KINDS[(i // len(CUSTOMER_WORDS)) % len(CUSTOMER_KINDS)]} {i + 1}"
                 for i in range(size.customers)],
        "segment": segment_names[cust_segment],
        "tier": np.array([t[0] for t in TIERS])[cust_tier],
        "region": locations["region"].to_numpy()[cust_home],
        "email": [f"buyer{i + 1}@customer.example.com" for i in range(size.customers)],
    })
    # Customer pools per location (plants sell to industrial and wholesale customers anywhere).
    pools = {}
    for loc in range(len(locations)):
        members = np.flatnonzero(np.isin(cust_segment, [1, 2])) if loc in plants else np.flatnonzero(cust_home == loc)
        if len(members) == 0:
            members = np.arange(size.customers)
        cumulative = np.cumsum(cust_weight[members])
        pools[loc] = (members, cumulative / cumulative[-1])

    # --- item-locations and their demand ------------------------------------------------------
    item_product = np.concatenate([np.flatnonzero(~is_made).repeat(len(sellers)), np.flatnonzero(is_made)])
    item_location = np.concatenate([np.tile(sellers, int((~is_made).sum())), product_plant[is_made]])
    n_items = len(item_product)
    item_cat = product_category[item_product]
    loc_kind = locations["kind"].to_numpy()[item_location]
    loc_factor = np.where(loc_kind == "store", 0.4, 1.0)
    popularity = rng.lognormal(0, 0.8, n_items)
    raw_rate = weights[item_cat] * loc_factor * popularity
    day_of_year = days.dayofyear.to_numpy()
    years = np.arange(size.days) / 365.0
    season = np.stack([_season(c.pattern, day_of_year, years) for c in CATEGORIES])  # cats x days
    weekly = {"store": _weekly("store"), "other": _weekly("other")}
    dow = days.dayofweek.to_numpy()
    week_factor = np.where((loc_kind == "store")[:, None], weekly["store"][dow][None, :], weekly["other"][dow][None, :])
    # Promotions: two or three windows of 7-14 days a year for items of promotional categories.
    promo = np.zeros((size.products, size.days), dtype=bool)
    promo_products = np.flatnonzero(np.array([c.promotions for c in CATEGORIES])[product_category])
    for p in promo_products:
        for _ in range(int(rng.integers(2, 4) * size.days / 365)):
            begin = int(rng.integers(0, size.days))
            promo[p, begin : begin + int(rng.integers(7, 15))] = True
    expected_lines = (raw_rate[:, None] * season[item_cat] * week_factor).sum()
    base_rate = raw_rate * size.order_lines / expected_lines / 1.08  # promotions add about 8 %
    qty_mean = np.array([c.qty_mean for c in CATEGORIES])[item_cat] * rng.uniform(0.6, 1.6, n_items)
    lumpy = np.array([c.pattern == "lumpy" for c in CATEGORIES])[item_cat]

    # --- replenishment policy per item-location -------------------------------------------------
    mean_daily_units = base_rate * qty_mean * np.where(lumpy, 1.6, 1.0)
    second_moment = np.where(lumpy, qty_mean**2 * np.exp(1.0) * 2.5, qty_mean + qty_mean**2)
    std_daily_units = np.sqrt(base_rate * second_moment)
    made_item = is_made[item_product]
    lead_mean = np.where(made_item, production_days[item_product], supplier_lt_mean[product_supplier[item_product]])
    lead_std = np.where(made_item, 1.0, supplier_lt_std[product_supplier[item_product]])
    z = rng.choice([-0.5, 0.0, 0.5, 1.0, 1.65, 2.3], n_items, p=[0.1, 0.15, 0.2, 0.25, 0.2, 0.1])
    sigma_lt = np.sqrt(lead_mean * std_daily_units**2 + (mean_daily_units * lead_std) ** 2)
    reorder = np.maximum(mean_daily_units * lead_mean + z * sigma_lt, 0)
    item_cost0 = base_cost[item_product]
    eoq = np.sqrt(2 * 365 * mean_daily_units * 25 / np.maximum(0.25 * item_cost0, 0.01))
    order_up_to = reorder + np.maximum(eoq, mean_daily_units * 7)
    item_moq = moq[item_product].astype(float)
    item_multiple = pack[item_product].astype(float)
    products.loc[:, "reorder_point"] = (
        pd.Series(reorder).groupby(item_product).max().reindex(range(size.products)).round(0).to_numpy()
    )

    # --- simulation state ---------------------------------------------------------------------
    never = np.iinfo(np.int64).max // 4
    on_hand = np.ceil(order_up_to)
    avg_cost = item_cost0.copy()
    on_order = np.zeros(n_items)
    next_arrival = np.full(n_items, never, dtype=np.int64)
    count_cycle = rng.integers(60, 121, n_items)
    count_offset = rng.integers(0, 60, n_items)
    segment_lead = np.array([s[2] for s in SEGMENTS])
    patience_low = np.array([PATIENCE[s[0]][0] for s in SEGMENTS])
    patience_high = np.array([PATIENCE[s[0]][1] for s in SEGMENTS])
    tier_discount = np.array([TIER_DISCOUNT[t[0]] for t in TIERS])

    capacity = int(size.order_lines * 1.6) + 10_000
    line = {
        "item": np.zeros(capacity, dtype=np.int64), "day": np.zeros(capacity, dtype=np.int32),
        "customer": np.zeros(capacity, dtype=np.int64), "qty": np.zeros(capacity),
        "remaining": np.zeros(capacity), "requested": np.zeros(capacity, dtype=np.int32),
        "promised": np.zeros(capacity, dtype=np.int32), "priority": np.zeros(capacity, dtype=np.int8),
        "cancel_at": np.full(capacity, never, dtype=np.int64), "price": np.zeros(capacity),
        "discount": np.zeros(capacity), "cancelled": np.zeros(capacity),
        "cancelled_day": np.full(capacity, -1, dtype=np.int32),
    }
    n_lines = 0
    backlog = np.zeros(0, dtype=np.int64)

    order_capacity = n_items * 64 + 1000
    order = {
        "item": np.zeros(order_capacity, dtype=np.int64), "day": np.zeros(order_capacity, dtype=np.int32),
        "qty": np.zeros(order_capacity), "received": np.zeros(order_capacity),
        "expected": np.zeros(order_capacity, dtype=np.int64), "arrival": np.zeros(order_capacity, dtype=np.int64),
        "cost": np.zeros(order_capacity),
    }
    n_orders = 0
    open_orders = np.zeros(0, dtype=np.int64)
    arrivals: dict[int, list[np.ndarray]] = {}

    shipments: list[tuple[np.ndarray, ...]] = []  # (line, day, qty, cost)
    moves: list[tuple[np.ndarray, ...]] = []  # (item, day, qty, kind code, cost, ref id, minute)
    counts: list[tuple[np.ndarray, ...]] = []  # (item, day, system, counted)
    kinds = ("adjustment", "receipt", "production", "shipment", "count")
    moves.append((np.arange(n_items), np.zeros(n_items, np.int32), on_hand.copy(), np.zeros(n_items, np.int8),
                  avg_cost.copy(), np.full(n_items, -1), np.zeros(n_items, np.int32)))
    n_shipments = 0

    for t in range(size.days):
        # 1. receipts of purchase and production orders due today (08:00)
        if t in arrivals:
            ids = np.concatenate(arrivals.pop(t))
            items, qty, cost = order["item"][ids], order["received"][ids], order["cost"][ids]
            value = np.bincount(items, qty * cost, n_items)
            added = np.bincount(items, qty, n_items)
            hit = added > 0
            avg_cost[hit] = (on_hand[hit] * avg_cost[hit] + value[hit]) / (on_hand[hit] + added[hit])
            on_hand += added
            np.subtract.at(on_order, items, order["qty"][ids])
            kind = np.where(made_item[items], 2, 1).astype(np.int8)
            moves.append((items, np.full(len(ids), t, np.int32), qty, kind, cost, ids, 480 + ids % 240))
            open_orders = open_orders[order["arrival"][open_orders] > t]
            next_arrival[:] = never
            np.minimum.at(next_arrival, order["item"][open_orders], order["arrival"][open_orders])

        # 2. today's order lines
        lam = base_rate * season[item_cat, t] * week_factor[:, t]
        on_promo = promo[item_product, t]
        lam = np.where(on_promo, lam * 1.8, lam)
        per_item = rng.poisson(lam)
        n_new = int(per_item.sum())
        new = np.arange(n_lines, n_lines + n_new)
        if n_lines + n_new > capacity:
            raise RuntimeError("demo line buffer too small; raise the capacity factor")
        items = np.repeat(np.arange(n_items), per_item)
        mean_q = qty_mean[items]
        qty = np.where(
            lumpy[items],
            np.ceil(rng.lognormal(np.log(mean_q) - 0.5, 1.0)),
            1 + rng.poisson(np.maximum(mean_q - 1, 0.05)),
        )
        qty = np.where(on_promo[items], np.ceil(qty * 1.3), qty)
        customer = np.zeros(n_new, dtype=np.int64)
        locs = item_location[items]
        for loc, (members, cumulative) in pools.items():
            mask = locs == loc
            customer[mask] = members[np.searchsorted(cumulative, rng.random(int(mask.sum())))]
        segment = cust_segment[customer]
        requested = t + segment_lead[segment] + rng.integers(0, 4, n_new)
        vip = (cust_tier[customer] == 0) & ((t * 7919 + customer * 104729) % 100 < 30)
        priority = (vip | ((t * 31 + customer * 17) % 100 < 3)).astype(np.int8)
        waits = rng.random(n_new) < 0.55
        cancel_at = np.where(waits, never, requested + rng.integers(patience_low[segment], patience_high[segment] + 1))
        price = base_price[item_product[items]] * (1 + price_drift[item_product[items]]) ** (t // 365)
        discount = tier_discount[cust_tier[customer]] + np.where(on_promo[items], 0.15, 0.0)
        for key, values in (("item", items), ("day", t), ("customer", customer), ("qty", qty), ("remaining", qty),
                            ("requested", requested), ("priority", priority), ("cancel_at", cancel_at),
                            ("price", price.round(2)), ("discount", discount.round(4))):
            line[key][new] = values
        n_lines += n_new

        # 3. allocate stock: priority first, then oldest order, to backlog and new lines alike (14:00)
        queue = np.concatenate([backlog, new])
        if len(queue):
            queue = queue[np.lexsort((queue, line["day"][queue], -line["priority"][queue], line["item"][queue]))]
            q_items, rem = line["item"][queue], line["remaining"][queue]
            before = np.cumsum(rem) - rem
            starts = np.r_[True, q_items[1:] != q_items[:-1]]
            group = np.cumsum(starts) - 1
            before -= before[starts][group]
            alloc = np.clip(on_hand[q_items] - before, 0, rem)
            shipped = alloc > 0
            if shipped.any():
                s_lines, s_items, s_qty = queue[shipped], q_items[shipped], alloc[shipped]
                ids = np.arange(n_shipments, n_shipments + len(s_lines))
                n_shipments += len(s_lines)
                shipments.append((s_lines, np.full(len(s_lines), t, np.int32), s_qty, avg_cost[s_items]))
                moves.append((s_items, np.full(len(s_lines), t, np.int32), -s_qty, np.full(len(s_lines), 3, np.int8),
                              avg_cost[s_items], ids, 840 + ids % 240))
                on_hand -= np.bincount(s_items, s_qty, n_items)
                np.maximum(on_hand, 0, out=on_hand)
            line["remaining"][queue] = rem - alloc
            short = new[line["remaining"][new] > 0]
            wait = np.minimum(next_arrival[line["item"][short]], t + np.ceil(lead_mean[line["item"][short]]).astype(np.int64))
            line["promised"][new] = line["requested"][new]
            line["promised"][short] = np.maximum(line["requested"][short], wait)
            backlog = queue[line["remaining"][queue] > 0]
        # 4. impatient customers cancel what is still missing (lost sales)
        if len(backlog):
            gone = line["cancel_at"][backlog] <= t
            if gone.any():
                lost = backlog[gone]
                line["cancelled"][lost] = line["remaining"][lost]
                line["remaining"][lost] = 0
                line["cancelled_day"][lost] = t
                backlog = backlog[~gone]
        backlog_qty = np.bincount(line["item"][backlog], line["remaining"][backlog], n_items)

        # 5. replenish: (s, S) on the inventory position, rounded to MOQ and order multiple
        position = on_hand + on_order - backlog_qty
        trigger = np.flatnonzero(position <= reorder)
        if len(trigger):
            qty = _round_order(np.maximum(order_up_to[trigger] - position[trigger], 1), item_moq[trigger], item_multiple[trigger])
            made = made_item[trigger]
            supplier = product_supplier[item_product[trigger]]
            bought_lt = np.maximum(1, np.round(rng.normal(supplier_lt_mean[supplier], supplier_lt_std[supplier])))
            late = rng.random(len(trigger)) < supplier_late[supplier]
            bought_lt = bought_lt + np.where(late, rng.integers(5, 21, len(trigger)), 0)
            made_lt = production_days[item_product[trigger]] + rng.choice([-1, 0, 0, 0, 1, 2], len(trigger))
            lead = np.where(made, np.maximum(made_lt, 1), bought_lt).astype(np.int64)
            expected = t + np.where(made, production_days[item_product[trigger]], np.round(supplier_lt_mean[supplier]))
            received = np.where(
                made,
                np.round(qty * rng.uniform(0.97, 1.06, len(trigger))),
                np.where(rng.random(len(trigger)) < 0.05, np.floor(qty * rng.uniform(0.7, 0.95, len(trigger))), qty),
            )
            drift = 1 + cost_drift[item_product[trigger]] * t / 365
            cost = base_cost[item_product[trigger]] * drift * np.where(made, 1.0, 1 + rng.normal(0, 0.03, len(trigger)))
            ids = np.arange(n_orders, n_orders + len(trigger))
            if n_orders + len(trigger) > order_capacity:
                raise RuntimeError("demo order buffer too small")
            n_orders += len(trigger)
            for key, values in (("item", trigger), ("day", t), ("qty", qty), ("received", received),
                                ("expected", expected.astype(np.int64)), ("arrival", t + lead), ("cost", cost.round(4))):
                order[key][ids] = values
            on_order[trigger] += qty
            open_orders = np.concatenate([open_orders, ids])
            np.minimum.at(next_arrival, trigger, t + lead)
            for day in np.unique(t + lead):
                arrivals.setdefault(int(day), []).append(ids[(t + lead) == day])

        # 6. cycle counts (19:00) and scrap (20:00)
        counted_items = np.flatnonzero((t > 0) & ((t - count_offset) % count_cycle == 0))
        if len(counted_items):
            system = on_hand[counted_items].copy()
            off = (rng.random(len(counted_items)) < 0.1) * rng.choice([-3, -2, -1, 1, 2, 3], len(counted_items))
            counted = np.maximum(system + off, 0)
            counts.append((counted_items, np.full(len(counted_items), t, np.int32), system, counted))
            delta = counted - system
            changed = delta != 0
            if changed.any():
                moves.append((counted_items[changed], np.full(int(changed.sum()), t, np.int32), delta[changed],
                              np.full(int(changed.sum()), 4, np.int8), avg_cost[counted_items[changed]],
                              np.full(int(changed.sum()), -2), np.full(int(changed.sum()), 1140, np.int32)))
                on_hand[counted_items] = counted
        scrap = np.flatnonzero((rng.random(n_items) < 0.0005) & (on_hand >= 1))
        if len(scrap):
            amount = -np.minimum(on_hand[scrap], rng.integers(1, 4, len(scrap)))
            moves.append((scrap, np.full(len(scrap), t, np.int32), amount, np.zeros(len(scrap), np.int8),
                          avg_cost[scrap], np.full(len(scrap), -3), np.full(len(scrap), 1200, np.int32)))
            on_hand[scrap] += amount

    return _frames(
        size=size, rng=rng, days=days, end_day=end_day, locations=locations, suppliers=suppliers, products=products,
        substitutes=substitutes, customers=customers, item_product=item_product, item_location=item_location,
        made_item=made_item, product_supplier=product_supplier, production_days=production_days,
        cust_segment=cust_segment, line={k: v[:n_lines] for k, v in line.items()},
        order={k: v[:n_orders] for k, v in order.items()}, shipments=shipments, moves=moves, counts=counts, kinds=kinds,
    )


def _frames(*, size, rng, days, end_day, locations, suppliers, products, substitutes, customers, item_product,
            item_location, made_item, product_supplier, production_days, cust_segment, line, order, shipments, moves,
            counts, kinds) -> dict[str, pd.DataFrame]:
    """Turn the simulation's arrays into interchange frames (text dates, natural keys)."""
    day_text = np.array([d.strftime("%Y-%m-%d") for d in days] + [None], dtype=object)  # index -1 → None
    sku = products["sku"].to_numpy(dtype=object)
    loc_code = locations["code"].to_numpy(dtype=object)
    cust_code = customers["code"].to_numpy(dtype=object)

    def day_or_none(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        index = np.where((values >= 0) & (values <= end_day), values, -1) if valid is None else np.where(valid, values, -1)
        return day_text[np.clip(index, -1, len(days) - 1)]

    def requested_text(values: np.ndarray) -> np.ndarray:
        future = pd.DatetimeIndex(days[0] + pd.to_timedelta(values, unit="D")).strftime("%Y-%m-%d")
        return np.asarray(future, dtype=object)

    # Sales order lines, grouped into orders per customer, location and day.
    n = len(line["day"])
    frame = pd.DataFrame({
        "day": line["day"], "location": item_location[line["item"]], "customer": line["customer"],
        "product": item_product[line["item"]], "idx": np.arange(n),
    }).sort_values(["day", "location", "customer", "product", "idx"], kind="stable")
    header = frame[["day", "location", "customer"]].to_numpy()
    new_order = np.r_[True, (header[1:] != header[:-1]).any(axis=1)]
    order_id = np.cumsum(new_order)
    order_start = np.flatnonzero(new_order)
    line_no = np.arange(n) - order_start[order_id - 1] + 1
    order_of = np.empty(n, dtype=np.int64)
    line_of = np.empty(n, dtype=np.int64)
    order_of[frame["idx"].to_numpy()] = order_id
    line_of[frame["idx"].to_numpy()] = line_no
    order_no = np.char.add("SO", np.char.zfill(order_of.astype(str), 8)).astype(object)
    shipped_qty = line["qty"] - line["remaining"] - line["cancelled"]
    status = np.select(
        [line["remaining"] > 0, line["cancelled"] > 0],
        [np.where(shipped_qty > 0, "partial", "open"), np.where(shipped_qty > 0, "closed", "cancelled")],
        "shipped",
    )
    channels = np.array([s[3][0] for s in SEGMENTS], dtype=object)
    alt_channels = np.array([s[3][-1] for s in SEGMENTS], dtype=object)
    segment = cust_segment[line["customer"]]
    sales = pd.DataFrame({
        "order_no": order_no, "line_no": line_of, "customer": cust_code[line["customer"]],
        "product": sku[item_product[line["item"]]], "location": loc_code[item_location[line["item"]]],
        "channel": np.where(np.arange(n) % 3 == 0, alt_channels[segment], channels[segment]),
        "order_date": day_text[line["day"]], "requested_date": requested_text(line["requested"]),
        "promised_date": requested_text(line["promised"]), "qty_ordered": line["qty"], "qty_shipped": shipped_qty,
        "qty_cancelled": line["cancelled"], "cancelled_date": day_or_none(line["cancelled_day"]),
        "unit_price": line["price"], "discount": line["discount"], "status": status, "priority": line["priority"],
    }).iloc[frame["idx"].to_numpy()].reset_index(drop=True)

    # Shipments: carrier, tracking number, ETA, delivery (late for some), in transit at the end.
    s_line = np.concatenate([s[0] for s in shipments]) if shipments else np.zeros(0, np.int64)
    s_day = np.concatenate([s[1] for s in shipments]) if shipments else np.zeros(0, np.int32)
    s_qty = np.concatenate([s[2] for s in shipments]) if shipments else np.zeros(0)
    m = len(s_line)
    carrier = rng.integers(0, len(CARRIERS), m)
    transit = np.array([c[2] for c in CARRIERS])[carrier] + rng.integers(0, 2, m)
    late = rng.random(m) < np.array([c[3] for c in CARRIERS])[carrier]
    delay = np.where(late, rng.integers(1, 6, m), 0)
    eta = s_day + transit
    delivered = eta + delay
    tracking = np.char.add(np.array([c[1] for c in CARRIERS])[carrier].astype(str), rng.integers(10**9, 10**10, m).astype(str))
    ship_no = np.char.add("SH", np.char.zfill(np.arange(1, m + 1).astype(str), 9)).astype(object)
    shipment_frame = pd.DataFrame({
        "shipment_no": ship_no, "order_no": order_no[s_line], "line_no": line_of[s_line],
        "carrier": np.array([c[0] for c in CARRIERS], dtype=object)[carrier], "tracking_no": tracking.astype(object),
        "ship_date": day_text[s_day], "eta": requested_text(eta), "delivered_date": day_or_none(delivered),
        "qty": s_qty, "status": np.where(delivered <= end_day, "delivered", "in_transit"),
    })

    # Purchase orders (bought items, grouped by supplier, location and day) and production orders.
    o_product = item_product[order["item"]]
    o_made = made_item[order["item"]]
    arrived = order["arrival"] <= end_day
    o_ref = np.empty(len(o_product), dtype=object)
    bought = np.flatnonzero(~o_made)
    po = pd.DataFrame({
        "supplier": product_supplier[o_product[bought]], "location": item_location[order["item"][bought]],
        "day": order["day"][bought], "idx": bought,
    }).sort_values(["day", "supplier", "location", "idx"], kind="stable")
    key = po[["day", "supplier", "location"]].to_numpy()
    new_po = np.r_[True, (key[1:] != key[:-1]).any(axis=1)] if len(po) else np.zeros(0, bool)
    po_id = np.cumsum(new_po)
    po_line = np.arange(len(po)) - np.flatnonzero(new_po)[po_id - 1] + 1 if len(po) else np.zeros(0, np.int64)
    idx = po["idx"].to_numpy()
    po_no = np.char.add("PO", np.char.zfill(po_id.astype(str), 7)).astype(object)
    o_ref[idx] = po_no
    short = order["received"][idx] < order["qty"][idx]
    purchase = pd.DataFrame({
        "po_no": po_no, "line_no": po_line, "supplier": suppliers["code"].to_numpy(dtype=object)[po["supplier"].to_numpy()],
        "product": sku[o_product[idx]], "location": loc_code[po["location"].to_numpy()],
        "order_date": day_text[order["day"][idx]], "expected_date": requested_text(order["expected"][idx]),
        "received_date": day_or_none(order["arrival"][idx], arrived[idx]),
        "qty_ordered": order["qty"][idx], "qty_received": np.where(arrived[idx], order["received"][idx], 0.0),
        "unit_cost": order["cost"][idx],
        "status": np.where(arrived[idx], np.where(short, "closed", "received"), "open"), "origin": "auto",
    })
    made = np.flatnonzero(o_made)
    mo_no = np.char.add("MO", np.char.zfill(np.arange(1, len(made) + 1).astype(str), 7)).astype(object)
    o_ref[made] = mo_no
    production = pd.DataFrame({
        "mo_no": mo_no, "product": sku[o_product[made]], "location": loc_code[item_location[order["item"][made]]],
        "start_date": day_text[order["day"][made]],
        "due_date": requested_text(order["day"][made] + production_days[o_product[made]]),
        "finished_date": day_or_none(order["arrival"][made], arrived[made]),
        "qty_planned": order["qty"][made], "qty_produced": np.where(arrived[made], order["received"][made], 0.0),
        "status": np.where(arrived[made], "finished", "released"), "origin": "auto",
    })

    # Cycle counts.
    c_item = np.concatenate([c[0] for c in counts]) if counts else np.zeros(0, np.int64)
    c_day = np.concatenate([c[1] for c in counts]) if counts else np.zeros(0, np.int32)
    count_no = np.char.add("CC", np.char.zfill(np.arange(1, len(c_item) + 1).astype(str), 8)).astype(object)
    cycle = pd.DataFrame({
        "count_no": count_no, "count_date": day_text[c_day], "product": sku[item_product[c_item]],
        "location": loc_code[item_location[c_item]],
        "system_qty": np.concatenate([c[2] for c in counts]) if counts else np.zeros(0),
        "counted_qty": np.concatenate([c[3] for c in counts]) if counts else np.zeros(0), "user_name": "warehouse",
    })

    # The ledger, in time order: every simulated stock change is one movement.
    mv = {name: np.concatenate([mv_[k] for mv_ in moves]) for k, name in enumerate(("item", "day", "qty", "kind", "cost", "ref", "minute"))}
    kind_names = np.array(kinds, dtype=object)[mv["kind"]]
    reference = np.full(len(mv["item"]), "OPENING BALANCE", dtype=object)
    is_order = np.isin(mv["kind"], (1, 2))
    reference[is_order] = o_ref[mv["ref"][is_order]]
    is_ship = mv["kind"] == 3
    reference[is_ship] = ship_no[mv["ref"][is_ship]]
    reference[mv["ref"] == -2] = "CYCLE COUNT"
    reference[mv["ref"] == -3] = "SCRAP"
    ordering = np.lexsort((mv["minute"], mv["day"]))
    minute = mv["minute"][ordering]
    clock = np.char.add(np.char.add(np.char.zfill((minute // 60).astype(str), 2), ":"), np.char.zfill((minute % 60).astype(str), 2))
    ts = np.char.add(np.char.add(day_text[mv["day"][ordering]].astype(str), " "), np.char.add(clock, ":00"))
    ledger = pd.DataFrame({
        "movement_no": np.char.add("MV", np.char.zfill(np.arange(1, len(ordering) + 1).astype(str), 10)).astype(object),
        "ts": ts.astype(object), "product": sku[item_product[mv["item"][ordering]]],
        "location": loc_code[item_location[mv["item"][ordering]]], "qty": mv["qty"][ordering],
        "kind": kind_names[ordering], "unit_cost": mv["cost"][ordering].round(4), "reference": reference[ordering],
        "source": "etl", "user_name": None,
    })

    # Customer feedback on about 4 % of orders; orders with backorders or lateness score lower.
    last_ship = np.full(n, -1)
    if m:
        np.maximum.at(last_ship, s_line, s_day)
    troubled = (line["cancelled"] > 0) | (last_ship > line["requested"]) | (line["remaining"] > 0)
    per_order = pd.DataFrame({"order": order_of, "trouble": troubled, "day": np.maximum(last_ship, line["day"]),
                              "customer": line["customer"]}).groupby("order").agg(
        trouble=("trouble", "any"), day=("day", "max"), customer=("customer", "first"))
    sample = per_order[rng.random(len(per_order)) < 0.04]
    k = len(sample)
    score = np.where(
        sample["trouble"].to_numpy(),
        rng.choice(11, k, p=np.array([3, 3, 4, 6, 8, 10, 12, 14, 12, 8, 6]) / 86),
        rng.choice(11, k, p=np.array([0, 0, 1, 1, 1, 2, 3, 8, 15, 30, 39]) / 100),
    )
    band = np.where(score >= 9, "promoter", np.where(score >= 7, "passive", "detractor"))
    text = [FEEDBACK[b][int(i) % len(FEEDBACK[b])] for b, i in zip(band, rng.integers(0, 100, k), strict=True)]
    feedback_day = np.minimum(sample["day"].to_numpy() + rng.integers(1, 15, k), end_day)
    feedback = pd.DataFrame({
        "feedback_no": np.char.add("FB", np.char.zfill(np.arange(1, k + 1).astype(str), 7)).astype(object),
        "customer": cust_code[sample["customer"].to_numpy()], "feedback_date": day_text[feedback_day],
        "nps_score": score, "text": text,
        "order_no": np.char.add("SO", np.char.zfill(sample.index.to_numpy().astype(str), 8)).astype(object),
    })
    return {
        "suppliers": suppliers, "locations": locations, "customers": customers, "products": products,
        "product_substitutes": substitutes, "sales_order_lines": sales, "shipments": shipment_frame,
        "purchase_order_lines": purchase, "production_orders": production, "inventory_movements": ledger,
        "cycle_counts": cycle, "customer_feedback": feedback,
    }


def write(frames: dict[str, pd.DataFrame], directory: Path) -> None:
    """Write interchange frames as CSV files (``<entity>.csv``) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        # Arrow's C++ writer: several times faster than ``to_csv``; floats in their shortest exact form
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pacsv.write_csv(table, str(directory / f"{name}.csv"), pacsv.WriteOptions(quoting_style="needed"))
