"""The demand plan: planner overrides on a statistical forecast, the value they add, and two runs compared.

Pure (pandas/numpy in and out). A *forecast* frame is one row per product-location and period of a stored run
(``data_access.forecasts.forecast_frame``): ``product_id``, ``location_id``, ``period``, ``yhat`` and any of the
interval bounds ``lo_80``, ``hi_80``, ``lo_95``, ``hi_95``; other columns (``run_id``, ``sku``, ``model``, ...) are
carried through. *Actuals* are complete weekly series (``product_id``, ``location_id``, ``period``, ``y``; weeks
without demand as 0), as ``data_access.forecasts.weekly_demand`` reads them.

Overrides (``apply_overrides``)
-------------------------------
An override (``OVERRIDES``) is a market-trend adjustment a planner enters: a scope (product, category, location;
each may be empty, meaning "any"), a period range and either a percentage or a fixed level.

- **Match.** An override matches a forecast row when the row's product, the product's category and the row's
  location equal each of the override's non-empty scopes, and the row's period date (as stored: the last day of a
  weekly period) lies in [period_start, period_end]. Only active overrides count.
- **One override per row: the most specific wins.** Specificity is compared as the tuple (product scoped,
  category scoped, location scoped), first element first, where a product scope also counts as category scoped
  (a product fixes its category). So: product+location > product > category+location > category > location >
  no scope. Between equally specific overrides the newest wins (created_at, then id).
- **percent** multiplies the statistical yhat and its interval bounds by (1 + value / 100).
- **level** sets the total of the rows the override governs in a period (its scope minus the rows a more specific
  override governs) to ``value``: row i gets value × ŷ_i / Σ ŷ (statistical ŷ of those rows; value / n each when
  all are 0). Bounds are scaled by final_i / ŷ_i where ŷ_i > 0 (the interval keeps its relative width, as under a
  percent override: a level on one series is the percent override final/ŷ − 1) and shifted by final_i − ŷ_i where
  ŷ_i = 0 (keeps its absolute width; no ratio exists). So a level far above a near-zero statistical forecast
  inherits that series' large relative uncertainty: wide bounds that say the model knows little about that level.
- The final forecast is never negative; final bounds are clipped to 0 ≤ lo ≤ ŷ_final ≤ hi.

Level overrides spread over the rows they are given: apply overrides to a whole run, then filter for display.

Forecast value added (``accuracy_comparison``, ``forecast_value_added``)
-----------------------------------------------------------------------
WAPE, bias, MASE and RMSSE of the statistical and of the final forecast against the actuals of the periods that
have them, by ``analytics.kpis.forecast_accuracy`` (scales: each series' history before its first forecast period).
FVA of a metric = error(statistical) − error(final): positive when the overrides made the forecast better. The
error of bias is its absolute value: fva_bias = |bias_stat| − |bias_final|.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.kpis import forecast_accuracy

#: Keys of a forecast or actuals row.
KEYS = ("product_id", "location_id", "period")
#: Interval bound columns a forecast may carry (level 80 and 95 %).
BOUNDS = ("lo_80", "hi_80", "lo_95", "hi_95")
#: Columns of an overrides frame (``data_access.forecasts.overrides``); ``active`` is optional (default: active).
OVERRIDES = ("id", "created_at", "product_id", "category", "location_id", "period_start", "period_end", "kind",
             "value")
KINDS = ("percent", "level")
#: Accuracy metrics compared between the statistical and the final forecast.
METRICS = ("wape", "bias", "mase", "rmsse")
#: Label columns carried into per-series results when the input has them.
LABELS = ("sku", "name", "category", "location")


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """ValueError naming the ``columns`` the frame lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks column(s) {missing}")


def _periods(values: pd.Series) -> pd.Series:
    """A date column as datetime64[ns] (dates, Timestamps or ISO text in)."""
    return pd.to_datetime(values).astype("datetime64[ns]")


def _series_id(frame: pd.DataFrame) -> pd.Series:
    """The job's series name ``product_id@location_id``."""
    return frame["product_id"].astype("int64").astype(str) + "@" + frame["location_id"].astype("int64").astype(str)


# --- overrides --------------------------------------------------------------------------------------------------------


def _ranked(overrides: pd.DataFrame) -> pd.DataFrame:
    """Active overrides, least specific and oldest first (so the last match of a row is its winner)."""
    _require(overrides, OVERRIDES, "overrides")
    ov = overrides
    if "active" in ov.columns:
        ov = ov[ov["active"].fillna(True).astype(bool)]
    unknown = sorted(set(ov["kind"]) - set(KINDS))
    if unknown:
        raise ValueError(f"override kind must be one of {KINDS}, not {unknown}")
    has_product = ov["product_id"].notna()
    ranked = ov.assign(
        _product=has_product.astype(int), _category=(ov["category"].notna() | has_product).astype(int),
        _location=ov["location_id"].notna().astype(int), _created=pd.to_datetime(ov["created_at"]),
        period_start=_periods(ov["period_start"]), period_end=_periods(ov["period_end"]),
    )
    return ranked.sort_values(["_product", "_category", "_location", "_created", "id"], kind="stable")


def apply_overrides(forecast: pd.DataFrame, overrides: pd.DataFrame | None,
                    products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The final forecast: the statistical one with the planner's overrides applied (rules in the module docstring).

    ``forecast``: product_id, location_id, period, yhat, optional bounds (``BOUNDS``) and any other columns (with
    several runs, a ``run_id`` column keeps their level totals apart). ``overrides``: ``OVERRIDES`` columns.
    ``products``: product_id, category (the category scope's lookup); without it the forecast's own ``category``.
    Returns the forecast's other columns, category, yhat_stat, yhat_final, each bound as ``<bound>_stat`` and
    ``<bound>_final``, override_id (nullable Int64: the override that governs the row) and override_kind.
    """
    _require(forecast, ("product_id", "location_id", "period", "yhat"), "forecast")
    out = forecast.copy()
    out["period"] = _periods(out["period"])
    if products is not None:
        _require(products, ("product_id", "category"), "products")
        out["category"] = out["product_id"].map(products.drop_duplicates("product_id")
                                                .set_index("product_id")["category"])
    elif "category" not in out.columns:
        raise ValueError("pass products (product_id, category) or a forecast with a category column")
    bounds = [b for b in BOUNDS if b in out.columns]
    stat = out["yhat"].to_numpy(dtype=float)
    n = len(out)
    winner = np.full(n, -1, dtype=np.int64)
    ranked = _ranked(overrides) if overrides is not None else pd.DataFrame(columns=list(OVERRIDES))
    period = out["period"].to_numpy()
    product = out["product_id"].to_numpy()
    location = out["location_id"].to_numpy()
    category = out["category"].astype(object).to_numpy()
    for j, o in enumerate(ranked.itertuples(index=False)):
        mask = (period >= np.datetime64(o.period_start)) & (period <= np.datetime64(o.period_end))
        if pd.notna(o.product_id):
            mask &= product == o.product_id
        if pd.notna(o.category):
            mask &= category == o.category
        if pd.notna(o.location_id):
            mask &= location == o.location_id
        winner[mask] = j
    governed = winner >= 0
    # one slot per override plus a last one for "none", so that winner −1 picks the "none" slot
    kind = np.append(ranked["kind"].to_numpy(dtype=object), None)[winner]
    value = np.append(ranked["value"].to_numpy(dtype=float), np.nan)[winner]
    override_id = np.append(ranked["id"].to_numpy(dtype=np.int64), 0)[winner]

    final = stat.copy()
    ratio = np.ones(n)  # bounds × ratio + shift
    shift = np.zeros(n)
    percent = kind == "percent"
    factor = np.maximum(1.0 + value / 100.0, 0.0)
    final[percent] = stat[percent] * factor[percent]
    ratio[percent] = factor[percent]
    level = kind == "level"
    if level.any():
        group = [winner[level], period[level]]
        if "run_id" in out.columns:
            group.append(out["run_id"].to_numpy()[level])
        parts = pd.DataFrame({"stat": stat[level]}).groupby(group, sort=False)["stat"]
        total = parts.transform("sum").to_numpy()
        count = parts.transform("size").to_numpy()
        share = np.where(total > 0, stat[level] / np.where(total > 0, total, 1.0), 1.0 / count)
        final[level] = value[level] * share
        positive = stat[level] > 0
        ratio[level] = np.where(positive, final[level] / np.where(positive, stat[level], 1.0), 1.0)
        shift[level] = np.where(positive, 0.0, final[level] - stat[level])
    final = np.maximum(final, 0.0)

    result = out.drop(columns=["yhat", *bounds])
    result["yhat_stat"] = stat
    result["yhat_final"] = final
    for bound in bounds:
        values = out[bound].to_numpy(dtype=float)
        moved = values * ratio + shift
        moved = np.minimum(np.maximum(moved, 0.0), final) if bound.startswith("lo_") else np.maximum(moved, final)
        result[f"{bound}_stat"] = values
        result[f"{bound}_final"] = moved
    result["override_id"] = pd.Series(override_id, index=result.index, dtype="Int64").where(governed)
    result["override_kind"] = pd.Series(kind, index=result.index, dtype=object)
    return result


# --- forecast value added ---------------------------------------------------------------------------------------------


def accuracy_comparison(final: pd.DataFrame, actuals: pd.DataFrame, *, by: Sequence[str] = (),
                        season_length: int = 1) -> pd.DataFrame:
    """Accuracy of the statistical and the final forecast of one run against actuals, and the value added.

    ``final``: ``apply_overrides``'s output for one run (product_id, location_id, period, yhat_stat, yhat_final and
    the ``by`` columns); ``actuals``: product_id, location_id, period, y. Evaluated rows: forecast periods that have
    an actual. Per metric M (``analytics.kpis.forecast_accuracy``, e = ŷ − y): WAPE = Σ|e| / Σ|y|; bias = Σe / Σy;
    MASE = mean over series of mean|e| / scale_mae; RMSSE = mean over series of √(mean e² / scale_mse); the scales
    are the in-sample naive errors (lag ``season_length``) of each series' actuals before its first forecast period.
    fva_M = M_stat − M_final for WAPE, MASE, RMSSE and |bias_stat| − |bias_final| for bias (> 0: overrides helped).
    Returns one row per ``by`` group (one row without ``by``): the groups, series, observations, actual (Σy),
    then M_stat, M_final, fva_M for each metric.
    """
    by = list(by)
    _require(final, [*KEYS, "yhat_stat", "yhat_final", *by], "final forecast")
    _require(actuals, [*KEYS, "y"], "actuals")
    f = final.assign(period=_periods(final["period"]))
    if f.duplicated(list(KEYS)).any():
        raise ValueError("the final forecast holds a product-location-period twice: evaluate one run at a time")
    f["unique_id"] = _series_id(f)
    a = actuals[[*KEYS, "y"]].assign(period=_periods(actuals["period"]))
    a["unique_id"] = _series_id(a)
    cutoff = f.groupby("unique_id")["period"].min()
    first = a["unique_id"].map(cutoff)
    history = a[first.notna() & (a["period"] < first)].rename(columns={"period": "ds"})[["unique_id", "ds", "y"]]
    evaluated = f.merge(a[[*KEYS, "y"]], on=list(KEYS), how="inner").rename(columns={"period": "ds"})
    results = {}
    for name in ("stat", "final"):
        results[name] = forecast_accuracy(evaluated.assign(yhat=evaluated[f"yhat_{name}"]), history, by=by,
                                          season_length=season_length)
    stat, fin = results["stat"], results["final"]
    out = stat[[*by, "series", "observations", "actual"]].copy()
    for metric in METRICS:
        out[f"{metric}_stat"] = stat[metric].to_numpy()
        out[f"{metric}_final"] = fin[metric].to_numpy()  # same groups in the same order: the rows are the same
        if metric == "bias":
            out["fva_bias"] = out["bias_stat"].abs() - out["bias_final"].abs()
        else:
            out[f"fva_{metric}"] = out[f"{metric}_stat"] - out[f"{metric}_final"]
    return out


@dataclass
class ForecastValueAdded:
    """``per_series``: one row per product-location (with its labels); ``total``: one row over all of them."""

    per_series: pd.DataFrame
    total: pd.DataFrame


def forecast_value_added(final: pd.DataFrame, actuals: pd.DataFrame, season_length: int = 1) -> ForecastValueAdded:
    """``accuracy_comparison`` per series (product_id, location_id and the ``LABELS`` columns present) and in total."""
    labels = [c for c in LABELS if c in final.columns]
    per_series = accuracy_comparison(final, actuals, by=["product_id", "location_id", *labels],
                                     season_length=season_length)
    return ForecastValueAdded(per_series=per_series,
                              total=accuracy_comparison(final, actuals, season_length=season_length))


# --- the selection as one series ------------------------------------------------------------------------------------


def aggregate_plan(final: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """History and forecast of a selection of series summed per period (the chart of several series).

    actual = Σ y; yhat_stat, yhat_final = Σ ŷ. Quantiles do not add up, so the bounds of the sum assume independent
    series errors (half-widths add in quadrature, exact for one series):
    hi = Σŷ + √Σ(hi_i − ŷ_i)², lo = max(Σŷ − √Σ(ŷ_i − lo_i)², 0), for the ``_stat`` and ``_final`` bounds present.
    Returns one row per period of either input, sorted: period, actual, yhat_stat, yhat_final, bounds, series
    (forecast series summed in the period).
    """
    _require(actuals, [*KEYS, "y"], "actuals")
    history = (actuals.assign(period=_periods(actuals["period"])).groupby("period", as_index=False)["y"].sum()
               .rename(columns={"y": "actual"}))
    if final.empty:
        return history.assign(yhat_stat=np.nan, yhat_final=np.nan, series=0).sort_values("period",
                                                                                           ignore_index=True)
    _require(final, [*KEYS, "yhat_stat", "yhat_final"], "final forecast")
    f = final.assign(period=_periods(final["period"]))
    parts = {"yhat_stat": f["yhat_stat"], "yhat_final": f["yhat_final"], "series": pd.Series(1, index=f.index)}
    spread = []
    for bound in BOUNDS:
        for name in ("stat", "final"):
            column = f"{bound}_{name}"
            if column in f.columns:
                parts[f"_sq_{column}"] = (f[column] - f[f"yhat_{name}"]) ** 2
                spread.append((bound, name, column))
    summed = pd.DataFrame(parts).groupby(f["period"]).sum().reset_index()
    for bound, name, column in spread:
        half = np.sqrt(summed.pop(f"_sq_{column}"))
        centre = summed[f"yhat_{name}"]
        summed[column] = (centre + half) if bound.startswith("hi_") else np.maximum(centre - half, 0.0)
    out = history.merge(summed, on="period", how="outer").sort_values("period", ignore_index=True)
    out["series"] = out["series"].fillna(0).astype("int64")
    return out


# --- two runs ---------------------------------------------------------------------------------------------------------


@dataclass
class RunComparison:
    """``per_series``: one row per product-location of either run; ``total``: one row; ``models``: series per model
    in each run."""

    per_series: pd.DataFrame
    total: pd.DataFrame
    models: pd.DataFrame


def compare_runs(a: pd.DataFrame, b: pd.DataFrame, value: str = "yhat") -> RunComparison:
    """Differences between run ``a`` (the earlier) and run ``b``: models chosen, totals, changes of the forecast.

    Both: product_id, location_id, period, model and the ``value`` column (``yhat``, or ``yhat_final`` of
    ``apply_overrides``). Totals are compared over the periods both runs forecast (common periods), so runs made
    on different dates compare like with like. Per series: in (both, a only, b only), model_a, model_b,
    model_changed; periods_common; total_a = Σ_common ŷ_a, total_b = Σ_common ŷ_b; change = total_b − total_a;
    change_pct = change / total_a (NaN when total_a is 0); mean_abs_change = Σ_common |ŷ_b − ŷ_a| / periods_common;
    horizon_total_a / _b = Σ ŷ over all of each run's periods. Total: series_a, series_b, series_common,
    models_changed, periods_common (distinct dates), total_a, total_b, change, change_pct, and
    abs_change_share = Σ_common |ŷ_b − ŷ_a| / total_a (how much of the forecast moved, like a WAPE between runs).
    """
    keys = ["product_id", "location_id"]
    for frame, name in ((a, "run a"), (b, "run b")):
        _require(frame, [*KEYS, "model", value], name)
    a = a.assign(period=_periods(a["period"]))
    b = b.assign(period=_periods(b["period"]))
    labels = [c for c in LABELS if c in a.columns or c in b.columns]
    # labels of each series, run a's first (a series of one run only takes that run's)
    named = pd.concat([a[[*keys, *(c for c in labels if c in a.columns)]],
                       b[[*keys, *(c for c in labels if c in b.columns)]]]).drop_duplicates(keys)

    def series(run: pd.DataFrame, suffix: str) -> pd.DataFrame:
        return (run.groupby(keys, sort=True)
                .agg(**{f"model_{suffix}": ("model", "first"), f"horizon_total_{suffix}": (value, "sum")})
                .reset_index())

    per_a, per_b = series(a, "a"), series(b, "b")
    common = a[[*KEYS, value]].merge(b[[*KEYS, value]], on=list(KEYS), suffixes=("_a", "_b"))
    common["abs_change"] = (common[f"{value}_b"] - common[f"{value}_a"]).abs()
    summed = (common.groupby(keys, sort=True)
              .agg(periods_common=("period", "size"), total_a=(f"{value}_a", "sum"), total_b=(f"{value}_b", "sum"),
                   abs_change=("abs_change", "sum")).reset_index())
    per = per_a.merge(per_b, on=keys, how="outer", indicator=True)
    per["in"] = per.pop("_merge").map({"both": "both", "left_only": "a only", "right_only": "b only"}).astype(object)
    per = per.merge(summed, on=keys, how="left").merge(named, on=keys, how="left")
    per["periods_common"] = per["periods_common"].fillna(0).astype("int64")
    for column in ("total_a", "total_b", "abs_change"):
        per[column] = per[column].fillna(0.0)
    per["model_changed"] = (per["in"] == "both") & (per["model_a"] != per["model_b"])
    per["change"] = per["total_b"] - per["total_a"]
    per["change_pct"] = per["change"] / per["total_a"].where(per["total_a"] != 0)
    per["mean_abs_change"] = per["abs_change"] / per["periods_common"].where(per["periods_common"] > 0)
    per_series = per[[*keys, *labels, "in", "model_a", "model_b", "model_changed", "periods_common", "total_a",
                      "total_b", "change", "change_pct", "mean_abs_change", "horizon_total_a", "horizon_total_b"]]

    total_a, total_b = float(summed["total_a"].sum()), float(summed["total_b"].sum())
    total = pd.DataFrame([{
        "series_a": len(per_a), "series_b": len(per_b), "series_common": int((per["in"] == "both").sum()),
        "models_changed": int(per["model_changed"].sum()), "periods_common": int(common["period"].nunique()),
        "total_a": total_a, "total_b": total_b, "change": total_b - total_a,
        "change_pct": (total_b - total_a) / total_a if total_a else np.nan,
        "abs_change_share": float(common["abs_change"].sum()) / total_a if total_a else np.nan,
    }])
    models = (per_a["model_a"].value_counts().rename("series_a").to_frame()
              .join(per_b["model_b"].value_counts().rename("series_b"), how="outer")
              .fillna(0).astype("int64").rename_axis("model").reset_index()
              .sort_values(["series_b", "series_a", "model"], ascending=[False, False, True], ignore_index=True))
    return RunComparison(per_series=per_series, total=total, models=models)
