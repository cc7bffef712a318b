"""Simulation benchmark: analytics.simulation against stockpyl's simulation of the same (s, S) policy.

Usage: python bench/simulate.py [--items 10000] [--days 365] [--repeats 5] [--subset 20] [--reps 50] [--seed 1]

1. Speed: ``--items`` product-locations × ``--days`` days of an (s, S) policy with normal demand and gamma lead
   times (drawing and simulating timed apart), ``--repeats`` times; median and best wall time.
2. Same demand, same answer: on ``--subset`` of those items (fixed lead times, which is what stockpyl simulates),
   stockpyl's ``sim.simulation`` of a single-node network (``policy_type='sS'``) on our demand path
   (``demand_type='D'``): per-item fill rate, cost and order count differences, and stockpyl's time per item.
3. Same model, independent draws: for three item configurations, stockpyl with its own normal demand over
   ``--reps`` seeded replications of ``--days`` days, ours over ``--items`` replications; mean fill rate per
   replication with a 95 % confidence interval each, and the interval of the difference.
4. Speed ratio: stockpyl's seconds per item-horizon over ours (from 1 and 2).
Needs stockpyl (requirements-dev.txt). Timings on a shared 2-core machine are noisy: run it twice.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics import replenishment as rp  # noqa: E402
from analytics import simulation as sim  # noqa: E402


def _items(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A varied catalogue: daily demand 1–50 with CV 0.2–1.0, lead times 1–14 days, s for 85–99 % cycle service."""
    mean = rng.uniform(1, 50, n)
    std = mean * rng.uniform(0.2, 1.0, n)
    lead = rng.integers(1, 15, n)
    service = rng.uniform(0.85, 0.99, n)
    s = np.round(rp.reorder_point(service, mean, std, lead))
    big_s = s + np.round(mean * rng.uniform(5, 30, n))
    return {"mean": mean, "std": std, "lead": lead, "s": s, "S": big_s}


def _stockpyl(demand: np.ndarray | None, s: float, big_s: float, lead: int, days: int, seed: int = 0,
              mean: float | None = None, std: float | None = None) -> tuple[float, float, int, float]:
    """One stockpyl run: (fill rate, cost, orders, seconds). ``demand`` given → replayed, else drawn N(mean, std)."""
    from stockpyl.sim import simulation
    from stockpyl.supply_chain_network import single_stage_system

    source = ({"demand_type": "D", "demand_list": [float(x) for x in demand]} if demand is not None
              else {"demand_type": "N", "mean": mean, "standard_deviation": std})
    network = single_stage_system(holding_cost=1.0, stockout_cost=10.0, policy_type="sS", reorder_point=float(s),
                                  order_up_to_level=float(big_s), shipment_lead_time=int(lead) + 1, **source)
    start = time.perf_counter()
    cost = simulation(network, days, rand_seed=seed, progress_bar=False)
    seconds = time.perf_counter() - start
    node = network.nodes[0]
    product = node.product_indices[0]
    last = node.state_vars[days - 1]
    orders = sum(sum(v > 0 for v in node.state_vars[t].order_quantity[None].values()) for t in range(days))
    return last.demand_met_from_stock_cumul[product] / last.demand_cumul[product], cost, orders, seconds


def _ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95 % t confidence interval."""
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--subset", type=int, default=20)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    items = _items(args.items, rng)
    days = args.days
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"{args.items} items x {days} days\n")

    # 1. speed
    draw_t, sim_t, sim_fixed_t = [], [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        demand = sim.demand_from_distribution(items["mean"], items["std"], days=days, seed=args.seed + r)
        lead = sim.lead_times_from_distribution(items["lead"], items["lead"] * 0.25, days=days, seed=args.seed + r)
        t1 = time.perf_counter()
        result = sim.simulate(demand, policy="sS", reorder_point=items["s"], order_up_to=items["S"], lead_time=lead,
                              holding_cost=0.01, order_cost=20.0, backorder_cost=0.5)
        t2 = time.perf_counter()
        fixed = sim.simulate(demand, policy="sS", reorder_point=items["s"], order_up_to=items["S"],
                             lead_time=items["lead"], holding_cost=1.0, backorder_cost=10.0)
        t3 = time.perf_counter()
        draw_t.append(t1 - t0)
        sim_t.append(t2 - t1)
        sim_fixed_t.append(t3 - t2)
    total = np.array(draw_t) + np.array(sim_t)
    print("## 1. Speed (wall seconds, median / best of", args.repeats, "runs)")
    print(f"draw demand + lead times : {np.median(draw_t):.3f} / {min(draw_t):.3f}")
    print(f"simulate, gamma lead times: {np.median(sim_t):.3f} / {min(sim_t):.3f}")
    print(f"draw + simulate (total)   : {np.median(total):.3f} / {min(total):.3f}")
    print(f"simulate, fixed lead times: {np.median(sim_fixed_t):.3f} / {min(sim_fixed_t):.3f}")
    print(f"total fill rate {result.total['fill_rate']:.4f} (gamma lead times), "
          f"{fixed.total['fill_rate']:.4f} (fixed)\n")

    # 2. same demand path, stockpyl
    subset = rng.choice(args.items, size=min(args.subset, args.items), replace=False)
    ours = fixed.items.iloc[subset]
    diffs, cost_diffs, order_diffs, seconds = [], [], [], []
    for j, i in enumerate(subset):
        fill, cost, orders, secs = _stockpyl(demand[:, i], items["s"][i], items["S"][i], items["lead"][i], days)
        diffs.append(abs(fill - ours["fill_rate"].iloc[j]))
        cost_diffs.append(abs(cost - ours["total_cost"].iloc[j]) / max(cost, 1e-9))
        order_diffs.append(abs(orders - ours["orders"].iloc[j]))
        seconds.append(secs)
    stockpyl_per_item = float(np.mean(seconds))
    ours_per_item = float(np.median(sim_fixed_t)) / args.items
    print(f"## 2. Same demand path, {len(subset)} items, stockpyl sim vs ours (fixed lead times)")
    print(f"max |fill rate difference| {max(diffs):.2e}, max relative cost difference {max(cost_diffs):.2e}, "
          f"max order count difference {max(order_diffs)}")
    print(f"stockpyl: {stockpyl_per_item:.3f} s per item ({days} days); "
          f"ours: {ours_per_item * 1e6:.1f} µs per item ({args.items}-item run / items)\n")

    # 3. independent draws, fill rate with confidence intervals
    print(f"## 3. Independent draws: mean fill rate per replication of {days} days, 95 % CI")
    print("| config (μ, σ, L, s, S) | stockpyl (n) | ours (n) | difference | within CI |")
    print("|---|---|---|---|---|")
    configs = [(20.0, 8.0, 4, 0.90, 200.0), (5.0, 5.0, 8, 0.95, 50.0), (10.0, 6.0, 2, 0.50, 40.0)]
    for c, (mu, sd, lead_days, service, q) in enumerate(configs):
        s = float(np.round(rp.reorder_point(service, mu, sd, lead_days)))
        big_s = s + q
        seeds = 100_000 * args.seed + 1000 * c + np.arange(args.reps)
        theirs = np.array([_stockpyl(None, s, big_s, lead_days, days, seed=int(seed), mean=mu, std=sd)[0]
                           for seed in seeds])
        d = sim.demand_from_distribution(np.full(args.items, mu), sd, days=days, seed=args.seed + 100 + c)
        mine = sim.simulate(d, policy="sS", reorder_point=s, order_up_to=big_s, lead_time=lead_days).items
        m1, h1 = _ci(theirs)
        m2, h2 = _ci(mine["fill_rate"].to_numpy())
        diff, half = m1 - m2, float(np.hypot(h1, h2))
        print(f"| ({mu:g}, {sd:g}, {lead_days}, {s:g}, {big_s:g}) | {m1:.4f} ± {h1:.4f} ({args.reps}) | "
              f"{m2:.4f} ± {h2:.4f} ({args.items}) | {diff:+.4f} ± {half:.4f} | {'yes' if abs(diff) <= half else 'NO'} |")

    # 4. ratio
    print(f"\n## 4. Speed ratio (stockpyl per item / ours per item): {stockpyl_per_item / ours_per_item:,.0f}x")


if __name__ == "__main__":
    main()
