"""Forecast benchmark: analytics.forecasting against statsforecast's single models, in one run.

Usage: PYTHONPATH=. .venv/bin/python bench/forecast.py [--skip-10k] [--dask] [--out FILE] [--peers-python PY]

The peers run in a subprocess of another interpreter (``--peers-python``, default var/bench-venv/bin/python when it
exists): statsforecast pins pandas<3 and must not go into the project's venv. Set that venv up once with
  python3 -m venv var/bench-venv && var/bench-venv/bin/pip install statsforecast

Data sets (each series' last h periods held out, everything before is the training history):
  carparts  ../shared/data/carparts/carparts.csv.gz, 2,674 monthly series, h = 6, m = 12;
  demo      the demo company (etl.demo "medium", seed 42): weekly demand (Σ qty_ordered by order week) per
            product@location, zero weeks filled, partial first and last weeks dropped, h = 13, m = 52;
  synthetic 10,000 weekly series of 156 weeks (smooth, seasonal, trending, intermittent, lumpy): timing only.
Peers (statsforecast, one StatsForecast run each, n_jobs = 2 = every core here, fallback Naive for series a model
cannot fit): AutoETS, AutoTheta, CrostonOptimized, TSB(0.1, 0.1), ADIDA, IMAPA, SES (SimpleExponentialSmoothing-
Optimized) and SeasonalNaive; models without intervals of their own get statsforecast's ConformalIntervals
(2 windows of h). Ours runs in this one process (one core) and its time includes the backtest that chooses the
model per series, fits the global model per origin, chooses the blend weights and calibrates the intervals; it is
also run with ``combine=1`` and with ``use_global=False`` (the per-series selection alone) to show what each adds.
Metrics per model over the held-out periods: mean RMSSE and MASE (scales: in-sample one-step naive,
analytics.kpis.forecast_accuracy), bias = Σ(ŷ − y)/Σy, coverage of the 80 % and 95 % intervals, wall time; the ratio
of our time to AutoETS's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics import forecasting  # noqa: E402
from analytics.kpis import forecast_accuracy  # noqa: E402

CARPARTS = ROOT.parent / "shared" / "data" / "carparts" / "carparts.csv.gz"
LEVELS = (80, 95)
BENCH_VENV_PYTHON = ROOT / "var" / "bench-venv" / "bin" / "python"


@lru_cache(maxsize=1)
def carparts() -> pd.DataFrame:
    """The carparts series (unique_id, ds, y), monthly."""
    return pd.read_csv(CARPARTS, parse_dates=["ds"])


@lru_cache(maxsize=1)
def demo_weekly() -> pd.DataFrame:
    """Weekly demand per product@location of the demo company (weeks start on Monday), zero weeks filled."""
    from etl import demo

    frames = demo.generate("medium", 42, demo.DEFAULT_END_DATE)
    lines = frames["sales_order_lines"]
    dates = pd.to_datetime(lines["order_date"])
    week = dates.dt.to_period("W-SUN").dt.start_time
    first_day, last_day = dates.min(), dates.max()
    frame = pd.DataFrame({"unique_id": lines["product"].astype(str) + "@" + lines["location"].astype(str),
                          "ds": week, "y": lines["qty_ordered"].astype(float)})
    weekly = frame.groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    # whole weeks only: drop a first week that starts before the first day and a last one that ends after the last
    weeks = pd.date_range(weekly["ds"].min(), weekly["ds"].max(), freq="7D")
    weeks = weeks[(weeks >= first_day.normalize()) & (weeks + pd.Timedelta(days=6) <= last_day.normalize())]
    start = weekly.groupby("unique_id")["ds"].min()
    grid = pd.MultiIndex.from_tuples([(u, w) for u, s in start.items() for w in weeks if w >= s],
                                     names=["unique_id", "ds"])
    return weekly.set_index(["unique_id", "ds"]).reindex(grid, fill_value=0.0).reset_index()


def synthetic_weekly(n_series: int = 10_000, weeks: int = 156, seed: int = 7) -> pd.DataFrame:
    """Weekly series of mixed patterns: smooth, yearly seasonal, trending (Poisson), intermittent, lumpy."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    kind = rng.integers(0, 5, n_series)
    level = np.exp(rng.uniform(np.log(2), np.log(60), n_series))[:, None]
    season = 1 + 0.6 * np.cos(2 * np.pi * (t[None, :] - rng.integers(0, 52, n_series)[:, None]) / 52.18)
    trend = 1 + rng.uniform(-0.4, 0.8, n_series)[:, None] * t[None, :] / weeks
    mean = np.where(kind[:, None] == 1, level * season, np.where(kind[:, None] == 2, level * trend, level))
    y = rng.poisson(mean).astype(float)
    occurs = rng.random((n_series, weeks)) < rng.uniform(0.1, 0.5, n_series)[:, None]
    sizes = rng.poisson(rng.uniform(1, 8, n_series)[:, None], (n_series, weeks)) + 1
    lumpy = sizes * rng.lognormal(0, 1, (n_series, weeks))
    y = np.where(kind[:, None] == 3, occurs * sizes, np.where(kind[:, None] == 4, np.round(occurs * lumpy), y))
    ds = pd.date_range("2023-11-06", periods=weeks, freq="7D")
    return pd.DataFrame({"unique_id": np.repeat(np.arange(n_series), weeks), "ds": np.tile(ds, n_series),
                         "y": y.reshape(-1)})


def split(data: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training history and the last h periods of each series."""
    data = data.sort_values(["unique_id", "ds"], kind="stable")
    from_end = data.groupby("unique_id").cumcount(ascending=False)
    return data[from_end >= h].reset_index(drop=True), data[from_end < h].reset_index(drop=True)


def score(fc: pd.DataFrame, test: pd.DataFrame, train: pd.DataFrame, column: str, lo: dict, hi: dict) -> dict:
    """Mean RMSSE and MASE over series, bias and interval coverage of one model's forecasts."""
    merged = fc.merge(test[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
    merged = merged.assign(yhat=merged[column].astype(float))
    acc = forecast_accuracy(merged, train, by=("unique_id",))
    out = {"series": int(acc["unique_id"].nunique()), "rmsse": acc["rmsse"].mean(), "mase": acc["mase"].mean(),
           "bias": (merged["yhat"] - merged["y"]).sum() / merged["y"].sum()}
    for level in LEVELS:
        if lo.get(level) in merged.columns:
            inside = (merged["y"] >= merged[lo[level]] - 1e-9) & (merged["y"] <= merged[hi[level]] + 1e-9)
            out[f"cov{level}"] = inside.mean()
        else:
            out[f"cov{level}"] = np.nan
    return out


def ours(train: pd.DataFrame, h: int, freq: str, **kwargs) -> tuple[pd.DataFrame, float, float]:
    """Our forecast, timed twice in this process: cold (first call) and warm (second)."""
    times = []
    for _ in range(2):
        started = time.perf_counter()
        fc = forecasting.forecast(train, h, freq, LEVELS, **kwargs)
        times.append(time.perf_counter() - started)
    return fc, times[0], times[1]


PEERS_PYTHON: str = sys.executable


def peers(train: pd.DataFrame, h: int, freq: str, m: int, only: list[str] | None,
          quiet: bool = False) -> dict[str, tuple]:
    """Each statsforecast peer on the training history, run by ``PEERS_PYTHON`` in a subprocess (this file with
    ``--peer-worker``): (forecast frame, alias of its point column, seconds)."""
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as folder:
        folder = Path(folder)
        train[["unique_id", "ds", "y"]].to_csv(folder / "train.csv", index=False)
        command = [PEERS_PYTHON, str(Path(__file__).resolve()), "--peer-worker", str(folder),
                   "--h", str(h), "--freq", freq, "--m", str(m)]
        if only:
            command += ["--only", *only]
        if quiet:
            command.append("--quiet")
        subprocess.run(command, check=True)
        meta = json.loads((folder / "peers.json").read_text())
        out = {}
        for name, (alias, seconds) in meta.items():
            fc = pd.read_csv(folder / f"{name}.csv", dtype={"unique_id": str}, parse_dates=["ds"])
            out[name] = (fc, alias, seconds)
    return out


def peer_worker(folder: Path, h: int, freq: str, m: int, only: list[str] | None, quiet: bool) -> None:
    """The subprocess side of ``peers``: reads folder/train.csv, writes one CSV per peer and peers.json."""
    train = pd.read_csv(folder / "train.csv", dtype={"unique_id": str}, parse_dates=["ds"])
    meta = {}
    for name, (fc, alias, seconds) in run_peers(train, h, freq, m, only, quiet).items():
        fc.reset_index().drop(columns="index", errors="ignore").to_csv(folder / f"{name}.csv", index=False)
        meta[name] = (alias, seconds)
    (folder / "peers.json").write_text(json.dumps(meta))


def run_peers(train: pd.DataFrame, h: int, freq: str, m: int, only: list[str] | None,
              quiet: bool = False) -> dict[str, tuple]:
    """Each statsforecast peer on the training history, in this process: (forecast frame, alias, seconds)."""
    from statsforecast import StatsForecast
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        TSB,
        AutoETS,
        AutoTheta,
        CrostonOptimized,
        Naive,
        SeasonalNaive,
        SimpleExponentialSmoothingOptimized,
    )
    from statsforecast.utils import ConformalIntervals

    conformal = ConformalIntervals(h=h, n_windows=2)
    models = {
        "AutoETS": AutoETS(season_length=m),
        "AutoTheta": AutoTheta(season_length=m),
        "CrostonOptimized": CrostonOptimized(prediction_intervals=conformal),
        "TSB": TSB(alpha_d=0.1, alpha_p=0.1, prediction_intervals=conformal),
        "ADIDA": ADIDA(prediction_intervals=conformal),
        "IMAPA": IMAPA(prediction_intervals=conformal),
        "SES": SimpleExponentialSmoothingOptimized(prediction_intervals=conformal),
        "SeasonalNaive": SeasonalNaive(season_length=m),
    }
    out = {}
    for name, model in models.items():
        if only and name not in only:
            continue
        sf = StatsForecast(models=[model], freq=freq, n_jobs=2, fallback_model=Naive())
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = sf.forecast(df=train, h=h, level=list(LEVELS))
        seconds = time.perf_counter() - started
        alias = [c for c in fc.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
        out[name] = (fc, alias, seconds)
        if not quiet:
            print(f"    {name}: {seconds:.1f} s", flush=True)
    return out


def evaluate(name: str, data: pd.DataFrame, h: int, freq: str, m: int, only: list[str] | None) -> pd.DataFrame:
    """The comparison table of one data set."""
    train, test = split(data.assign(unique_id=data["unique_id"].astype(str)), h)
    print(f"{name}: {train['unique_id'].nunique()} series, {len(train)} training rows, h = {h}", flush=True)
    rows = []
    fc, cold, warm = ours(train, h, freq, season_length=m)
    rows.append({"model": "ours (selection)", **score(fc, test, train, "yhat", {lv: f"lo_{lv}" for lv in LEVELS},
                                                      {lv: f"hi_{lv}" for lv in LEVELS}),
                 "seconds": warm, "cold_seconds": cold})
    print(f"    ours: cold {cold:.2f} s, warm {warm:.2f} s", flush=True)
    chosen = fc.drop_duplicates("unique_id")["model"].str.replace(r"\(.*", "", regex=True).value_counts()
    print("    chosen:", ", ".join(f"{k} {v}" for k, v in chosen.head(8).items()), flush=True)
    print("    global model's blend weight per class:",
          ", ".join(f"{k} {v:.2f}" for k, v in fc.attrs["global_weight"].items()), flush=True)
    bounds = ({lv: f"lo_{lv}" for lv in LEVELS}, {lv: f"hi_{lv}" for lv in LEVELS})
    single, _, _ = ours(train, h, freq, season_length=m, combine=1)
    rows.append({"model": "ours, best single (combine=1)", **score(single, test, train, "yhat", *bounds)})
    local, cold_l, warm_l = ours(train, h, freq, season_length=m, use_global=False)
    rows.append({"model": "ours without the global model (use_global=False)",
                 **score(local, test, train, "yhat", *bounds), "seconds": warm_l, "cold_seconds": cold_l})
    for peer, (pfc, alias, seconds) in peers(train, h, freq, m, only).items():
        rows.append({"model": f"statsforecast {peer}",
                     **score(pfc, test, train, alias, {lv: f"{alias}-lo-{lv}" for lv in LEVELS},
                             {lv: f"{alias}-hi-{lv}" for lv in LEVELS}), "seconds": seconds})
    table = pd.DataFrame(rows)
    ets = table.loc[table["model"] == "statsforecast AutoETS", "seconds"]
    if len(ets):
        table["time_vs_autoets"] = table["seconds"] / float(ets.iloc[0])
    table.insert(0, "data", name)
    return table


FAST_PEERS = ["CrostonOptimized", "TSB", "ADIDA", "IMAPA", "SES", "SeasonalNaive"]


def earlier_windows(name: str, data: pd.DataFrame, h: int, freq: str, m: int, n_windows: int) -> pd.DataFrame:
    """Mean RMSSE of ours and of the fast peers with the hold-out moved back by h, 2h, ... periods (one hold-out is
    one draw: this shows how steady the ranking is; AutoETS and AutoTheta are left out for time)."""
    data = data.assign(unique_id=data["unique_id"].astype(str)).sort_values(["unique_id", "ds"], kind="stable")
    from_end = data.groupby("unique_id").cumcount(ascending=False).to_numpy()
    rows = []
    for w in range(n_windows):
        back = w * h
        train = data[from_end >= back + h].reset_index(drop=True)
        test = data[(from_end < back + h) & (from_end >= back)].reset_index(drop=True)
        fc = forecasting.forecast(train, h, freq, LEVELS, season_length=m)
        local = forecasting.forecast(train, h, freq, LEVELS, season_length=m, use_global=False)
        rows.append({"data": name, "holdout_ends_periods_before_last": back, "model": "ours (selection)",
                     "rmsse": score(fc, test, train, "yhat", {}, {})["rmsse"]})
        rows.append({"data": name, "holdout_ends_periods_before_last": back, "model": "ours without global",
                     "rmsse": score(local, test, train, "yhat", {}, {})["rmsse"]})
        for peer, (pfc, alias, _) in peers(train, h, freq, m, FAST_PEERS, quiet=True).items():
            rows.append({"data": name, "holdout_ends_periods_before_last": back, "model": f"statsforecast {peer}",
                         "rmsse": score(pfc, test, train, alias, {}, {})["rmsse"]})
    table = pd.DataFrame(rows).pivot_table(index=["data", "model"], columns="holdout_ends_periods_before_last",
                                           values="rmsse")
    table["mean"] = table.mean(axis=1)
    return table


def timing_10k(use_dask: bool) -> pd.DataFrame:
    """Wall time of our forecast (selection included) on 10,000 weekly series of three years."""
    data = synthetic_weekly()
    rows = []
    fc, cold, warm = ours(data, 13, "W-MON", season_length=52)
    rows.append({"run": "local, 1 process", "series": data["unique_id"].nunique(), "rows": len(data),
                 "cold_seconds": cold, "warm_seconds": warm})
    print(f"10k weekly local: cold {cold:.1f} s, warm {warm:.1f} s", flush=True)
    if use_dask:
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            fc_dask, cold_d, warm_d = ours(data, 13, "W-MON", season_length=52, client=client, chunk_size=1250)
        same = np.allclose(fc["yhat"], fc_dask["yhat"])
        rows.append({"run": "dask LocalCluster, 2 workers", "series": data["unique_id"].nunique(),
                     "rows": len(data), "cold_seconds": cold_d, "warm_seconds": warm_d, "same_as_local": same})
        print(f"10k weekly dask: cold {cold_d:.1f} s, warm {warm_d:.1f} s, same as local: {same}", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-10k", action="store_true", help="skip the 10,000-series timing")
    parser.add_argument("--dask", action="store_true", help="also time the 10,000 series on a 2-worker LocalCluster")
    parser.add_argument("--only", nargs="*", help="peers to run (default all)")
    parser.add_argument("--data", nargs="*", default=["carparts", "demo"], help="data sets (carparts, demo)")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench-forecast.csv"), help="CSV of the tables")
    parser.add_argument("--windows", type=int, default=4, help="hold-outs for the steadiness table (0: skip)")
    parser.add_argument("--peers-python", default=str(BENCH_VENV_PYTHON) if BENCH_VENV_PYTHON.exists()
                        else sys.executable, help="interpreter with statsforecast for the peers")
    parser.add_argument("--peer-worker", help=argparse.SUPPRESS)
    parser.add_argument("--h", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--freq", help=argparse.SUPPRESS)
    parser.add_argument("--m", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        peer_worker(Path(args.peer_worker), args.h, args.freq, args.m, args.only, args.quiet)
        return
    global PEERS_PYTHON
    PEERS_PYTHON = args.peers_python
    print(f"peers run by {PEERS_PYTHON}", flush=True)
    print(f"cores: {os.cpu_count()}", flush=True)
    tables = []
    if "carparts" in args.data:
        tables.append(evaluate("carparts", carparts(), 6, "MS", 12, args.only))
    if "demo" in args.data:
        tables.append(evaluate("demo weekly", demo_weekly(), 13, "W-MON", 52, args.only))
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    if tables:
        table = pd.concat(tables, ignore_index=True)
        print(table.round(3).to_string(index=False))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    if args.windows > 1:
        steady = []
        if "carparts" in args.data:
            steady.append(earlier_windows("carparts", carparts(), 6, "MS", 12, args.windows))
        if "demo" in args.data:
            steady.append(earlier_windows("demo weekly", demo_weekly(), 13, "W-MON", 52, args.windows))
        for table in steady:
            print(table.dropna(axis=1, how="all").round(3).to_string())
    if not args.skip_10k:
        print(timing_10k(args.dask).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
