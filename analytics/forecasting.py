"""Demand forecasting: per-series model choice by rolling-origin backtest, calibrated intervals, hierarchy.

Pure (pandas/numpy in and out). ``history`` is long format, one row per series and period: ``unique_id``, ``ds``,
``y`` and optionally exogenous numeric columns (price, promotion, a market index, ...). Periods missing inside a
series' span are zero demand; a series starts at its first row. Several rows of one series in one period are summed.

How a forecast is made (``forecast``)
-------------------------------------
1. The series become one right-aligned panel (series × periods, NaN before a series' first period) so that every
   model below runs vectorised over all series at once, one time step at a time (no Python loop per series).
2. Each series is classified after Syntetos & Boylan (2005) by its average demand interval (ADI) and the squared
   coefficient of variation of its non-zero demand sizes (CV²), cut-offs ADI 1.32 and CV² 0.49 (``classify``).
3. The candidates of its class (``CANDIDATES``) are run from ``n_windows`` rolling origins in the history
   (each window forecasts the ``h`` periods after its origin from the data before it) and from the end of the
   history. Candidates: smooth and erratic series: seasonal naive, the mean of the last season (WindowAverage),
   simple exponential smoothing (SES), damped-trend Holt and the standard Theta method, the last three on the
   seasonally adjusted series when a seasonality test passes (classical multiplicative decomposition, as in the M3
   Theta method; the model name then ends in ``+seasonal``); intermittent and lumpy series: WindowAverage, Croston
   with the Syntetos–Boylan correction (SBA), TSB, ADIDA and IMAPA. Smoothing parameters are chosen per series and
   origin on a small grid by the in-sample squared error of the 1..h-step forecasts. The recursions are those of
   statsforecast (Nixtla), which the tests use as the reference; they are re-implemented here on the panel because
   statsforecast fits one series at a time in a Python loop, one to two orders of magnitude slower for this many
   fits (see bench/README-forecast.md).
   Every class but no_demand also has the global model ("Global", ``global_model``): one ridge regression per
   demand class and forecast step j = 1..h, fitted across all series at once on scale-free features of each
   series at period t (lags, rolling and exponentially weighted means, each divided by the series' mean over the
   last max(m, h, 4) periods s_t; calendar Fourier terms; the series' own yearly harmonic), target y_{t+j}/s_t;
   ŷ = s · max(x'β_j, 0). For each backtest origin it is refitted on the rows whose targets lie before the origin,
   so its backtest forecasts are out of sample like the others'. Its regressions are sums of per-chunk moments
   (X'X, X'Y), so the chunks and Dask give the same coefficients.
4. Per series the candidates are ranked by their backtest mean squared error (the series' RMSSE ranks the same, its
   scale being fixed) and the selection is the equal-weight mean of the best ``combine`` (default 3; 1: the best
   alone). Averaging the best few is steadier than betting on one: on the benchmark data it lowered the mean RMSSE
   in every backtest window (bench/README-forecast.md).
   The forecast is the blend (1 − w)·selection + w·global with one weight w ∈ {0, 0.05, …, 1} per demand class:
   the w with the least summed backtest RMSSE over the class's series, the selection's backtest forecast of each
   window being the combination chosen on the other windows (so that neither side is scored in sample). w = 0
   leaves the selection alone, w = 1 is the global model alone (``use_global=False``: neither candidate nor blend).
5. Prediction intervals are conformal: the final forecasts' backtest errors, divided by each series' scale (mean
   absolute one-step naive error), are pooled per demand class and horizon; their (1 − L)/2 and (1 + L)/2 quantiles
   times the series' scale give the bounds of level L. ``backtest`` reports their out-of-sample coverage.
6. Forecasts and bounds are never negative. A series with no demand in its last ``dead_after`` periods is "dead":
   forecast 0. A series with fewer than ``min_history`` periods, or too short for any backtest window, is "new":
   forecast the mean of its periods so far (at most the last season), model "new:mean".
7. Exogenous columns act multiplicatively with effects pooled over series: with s_i the series' mean demand and
   x̄_i its mean regressors, y_it / s_i − 1 = (x_it − x̄_i)·β + ε is fitted by least squares over all series
   (a fixed-effects panel regression). The history is divided by f_it = 1 + (x_it − x̄_i)·β before the candidates
   run, and their forecasts multiplied by f at the future regressors (``X_future``), so zero demand stays zero.

Scale-out: pass a ``dask.distributed`` client; the series are cut into chunks that run on the workers (each
series' computation is independent; the pooled regressions, the blend weights and the interval quantiles are
reduced on the client), so the results equal the local ones.

Hierarchy: ``aggregate`` sums bottom series (e.g. SKU@location) into the levels of a hierarchy frame (total,
category, location, ...), ``forecast`` forecasts every node, ``reconcile`` makes them coherent (bottom-up, OLS,
WLS with structural weights or MinT with a shrunk covariance).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from analytics.kpis import forecast_accuracy

# --- constants ------------------------------------------------------------------------------------------------------

#: Syntetos–Boylan cut-offs: ADI (average demand interval, periods) and CV² (squared coefficient of variation).
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
#: Demand classes; "no_demand" is a series without any non-zero value.
CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no_demand")

_SMOOTH_FAMILY = ("SeasonalNaive", "WindowAverage", "SES", "DampedHolt", "Theta", "Global")
_INTERMITTENT_FAMILY = ("WindowAverage", "CrostonSBA", "TSB", "ADIDA", "IMAPA", "Global")
#: Candidates per demand class (the backtest chooses among them per series).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "smooth": _SMOOTH_FAMILY,
    "erratic": _SMOOTH_FAMILY,
    "intermittent": _INTERMITTENT_FAMILY,
    "lumpy": _INTERMITTENT_FAMILY,
    "no_demand": ("SES",),
}
#: Every candidate model, in order of preference when backtest errors tie (simplest first).
MODELS = ("SeasonalNaive", "WindowAverage", "SES", "CrostonSBA", "TSB", "ADIDA", "IMAPA", "DampedHolt", "Theta",
          "Global")

#: Smoothing-parameter grids, chosen per series by in-sample one-step squared error.
SES_ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8)
HOLT_GRID = tuple((a, b, p) for a in (0.1, 0.3, 0.6) for b in (0.05, 0.2) for p in (0.85, 0.95))
TSB_ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.3)
AGGREGATE_ALPHAS = (0.1, 0.15, 0.2, 0.25, 0.3)  # ADIDA / IMAPA: statsforecast optimises alpha in [0.1, 0.3]
#: Observations averaged for the start level of SES, Theta and damped Holt.
SMOOTHING_START = 12
CROSTON_ALPHA = 0.1
SBA_FACTOR = 0.95  # 1 − alpha / 2
IMAPA_MAX_LEVEL = 12
#: Floor of the exogenous factor f when the history is divided by it.
EXOG_FLOOR = 0.05
#: Fewest pooled errors for a class's own interval quantiles (else all classes are pooled).
MIN_CALIBRATION = 20
#: The global model (``global_model``): lags of y/s in the features, rolling-mean windows (those shorter than the
#: scale window are used), exponentially weighted means, Fourier harmonics, ridge λ (relative to the row count),
#: cap on scaled features, cap on scaled targets and forecasts (both caps and λ were compared on the benchmark's
#: four hold-outs, bench/README-forecast.md: 2 to 3 for the target cap did equally well, 20 was clearly worse; the
#: cap makes the model forecast low on lumpy series: on carparts the volume bias is about −15 %, and rescaling the
#: coefficients to the unclipped targets' mean removed it but lost the whole RMSSE gain there), fewest rows per
#: feature for a demand class's own coefficients.
GLOBAL_LAGS = 4
GLOBAL_WINDOWS = (3, 6, 13, 26)
GLOBAL_EWM_ALPHAS = (0.05, 0.2)
GLOBAL_HARMONICS = 2
GLOBAL_RIDGE = 1e-3
GLOBAL_CAP = 3.0
GLOBAL_TARGET_CAP = 2.5
GLOBAL_MIN_ROWS = 10
#: Weights of the global model tried in the blend (1 − w)·selection + w·global, chosen per demand class.
BLEND_GRID = tuple(float(w) for w in np.round(np.linspace(0.0, 1.0, 21), 2))
#: Series per chunk: bounds memory (the grids multiply the panel) and is the unit of work on Dask.
CHUNK_SIZE = 2000

_PERIOD_CODES = {"M": "M", "MS": "M", "ME": "M", "BMS": "M", "BME": "M", "BM": "M", "SMS": "M", "SM": "M",
                 "Q": "Q", "QS": "Q", "QE": "Q", "BQ": "Q", "BQS": "Q", "BQE": "Q",
                 "Y": "Y", "YS": "Y", "YE": "Y", "A": "Y", "AS": "Y", "BY": "Y", "BYS": "Y", "BA": "Y"}
_SEASONS = {"M": 12, "Q": 4, "Y": 1, "W": 52, "D": 7, "B": 5, "h": 24, "H": 24}


def _nanmean(values: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """np.nanmean without the warning for an all-NaN slice (its mean is NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis, keepdims=keepdims)


# --- calendar ---------------------------------------------------------------------------------------------------------


def _offset(freq: str) -> pd.DateOffset:
    """The pandas offset of a frequency string ("MS", "W", "D", ...); ValueError for an unknown one."""
    try:
        return pd.tseries.frequencies.to_offset(freq)
    except ValueError as error:
        raise ValueError(f"unknown freq {freq!r}") from error


def _period_code(freq: str) -> str:
    """The period code that buckets dates of ``freq`` (months for "MS", ISO-anchored weeks for "W", ...)."""
    name = _offset(freq).name
    base = name.split("-")[0]
    if base in _PERIOD_CODES:
        return _PERIOD_CODES[base]
    return name


def season_length_of(freq: str) -> int:
    """Default season length m of a frequency: 12 monthly, 4 quarterly, 52 weekly, 7 daily, 24 hourly, else 1."""
    code = _period_code(freq)
    return _SEASONS.get(code.split("-")[0], 1)


def _ordinals(ds: pd.Series, freq: str) -> np.ndarray:
    """Integer period number of each date (consecutive periods differ by 1)."""
    dates = ds if pd.api.types.is_datetime64_any_dtype(ds) else pd.to_datetime(ds)
    return dates.dt.to_period(_period_code(freq)).array.asi8.astype(np.int64)


def _future_dates(last: pd.DatetimeIndex, h: int, freq: str) -> np.ndarray:
    """Dates of the h periods after each ``last`` date, shape (series, h): last + j·freq, j = 1..h.

    Weeks and ticks (days, hours) are added as fixed durations, so a week given by its Monday stays a Monday;
    months, quarters and years as calendar offsets (month starts stay month starts).
    """
    offset = _offset(freq)
    out = np.empty((len(last), h), dtype="datetime64[ns]")
    for j in range(1, h + 1):
        if isinstance(offset, pd.offsets.Week):
            shifted = last + pd.Timedelta(weeks=offset.n * j)
        elif isinstance(offset, pd.offsets.Tick):
            shifted = last + pd.Timedelta(offset) * j
        else:
            shifted = last + offset * j
        out[:, j - 1] = shifted.to_numpy(dtype="datetime64[ns]")
    return out


# --- the panel ----------------------------------------------------------------------------------------------------


@dataclass
class _Panel:
    """History as arrays: ``y`` (S, T) right-aligned (column T−1 is each series' last period, NaN before its first);
    ``x`` (S, T + h, K) exogenous values of the history and of the h future periods (None without regressors);
    ``last_ordinal`` (S,) the period number of each series' last period (``_ordinals``)."""

    ids: pd.Index
    last_ds: pd.DatetimeIndex
    y: np.ndarray
    x: np.ndarray | None
    exog: list[str] = field(default_factory=list)
    last_ordinal: np.ndarray | None = None


def _panel(history: pd.DataFrame, freq: str, h: int, X_future: pd.DataFrame | None) -> _Panel:
    """Pivot long ``history`` (and ``X_future``) to the right-aligned panel; validates the inputs."""
    missing = [c for c in ("unique_id", "ds", "y") if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}")
    if history.empty:
        raise ValueError("history is empty")
    y = pd.to_numeric(history["y"], errors="raise").to_numpy(dtype=float)
    if np.isnan(y).any():
        raise ValueError("history.y has missing values")
    exog = [c for c in history.columns if c not in ("unique_id", "ds", "y")]
    codes, ids = pd.factorize(history["unique_id"], sort=True)
    dates = history["ds"] if pd.api.types.is_datetime64_any_dtype(history["ds"]) else pd.to_datetime(history["ds"])
    ordinal = _ordinals(dates, freq)
    S = len(ids)
    last = np.full(S, np.iinfo(np.int64).min)
    np.maximum.at(last, codes, ordinal)
    first = np.full(S, np.iinfo(np.int64).max)
    np.minimum.at(first, codes, ordinal)
    span = last - first + 1
    T = int(span.max())
    col = T - 1 + (ordinal - last[codes])
    flat = codes.astype(np.int64) * T + col
    sums = np.bincount(flat, weights=y, minlength=S * T).reshape(S, T)
    started = np.arange(T)[None, :] >= (T - span)[:, None]
    panel_y = np.where(started, sums, np.nan)
    last_ds = pd.DatetimeIndex(dates.groupby(codes).max().sort_index().to_numpy())
    x = None
    if exog:
        if X_future is None:
            raise ValueError(f"history has exogenous column(s) {exog}: pass their future values as X_future")
        x = np.full((S, T + h, len(exog)), np.nan)
        values = history[exog].apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
        x[codes, col] = values
        lacking = [c for c in ("unique_id", "ds", *exog) if c not in X_future.columns]
        if lacking:
            raise ValueError(f"X_future lacks column(s) {lacking}")
        fcodes = ids.get_indexer(X_future["unique_id"])
        known = fcodes >= 0
        fut = X_future[known]
        fcodes = fcodes[known]
        fcol = T - 1 + (_ordinals(pd.to_datetime(fut["ds"]), freq) - last[fcodes])
        inside = (fcol >= T) & (fcol < T + h)
        x[fcodes[inside], fcol[inside]] = fut.loc[inside, exog].apply(pd.to_numeric).to_numpy(dtype=float)
        if np.isnan(x[:, T:]).any():
            short = int(np.isnan(x[:, T:]).any(axis=(1, 2)).sum())
            raise ValueError(f"X_future lacks values for the {h} periods after the history of {short} series")
        # a period without a regressor value inside the history counts as the series' mean (no effect)
        mean = _nanmean(np.where(started[:, :, None], x[:, :T], np.nan), axis=1, keepdims=True)
        x[:, :T] = np.where(np.isnan(x[:, :T]), np.nan_to_num(mean), x[:, :T])
    elif X_future is not None and len(X_future.columns.difference(["unique_id", "ds"])):
        raise ValueError("X_future has regressors but history has no exogenous columns")
    return _Panel(ids=ids, last_ds=last_ds, y=panel_y, x=x, exog=exog, last_ordinal=last)


# --- classification -------------------------------------------------------------------------------------------------


def _demand_stats(Y: np.ndarray) -> dict[str, np.ndarray]:
    """Per row of a right-aligned panel: n_obs, n_nonzero, ADI, CV², class code (index into ``CLASSES``).

    Intervals are Croston's: periods from the series' first period to its first demand, then between demands, so
    ADI = (position of the last demand, counted from 1 at the first period) / number of demands; CV² = (s / z̄)²
    with z̄ and s the mean and sample standard deviation (ddof 1; 0 for a single demand) of the non-zero sizes.
    """
    valid = ~np.isnan(Y)
    n_obs = valid.sum(axis=1)
    nonzero = valid & (Y != 0)
    n_nz = nonzero.sum(axis=1)
    T = Y.shape[1]
    first = T - n_obs
    last_demand = np.where(n_nz > 0, T - 1 - np.argmax(nonzero[:, ::-1], axis=1), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = np.where(n_nz > 0, (last_demand - first + 1) / np.maximum(n_nz, 1), np.inf)
        sizes = np.where(nonzero, Y, np.nan)
        mean = np.nansum(sizes, axis=1) / np.maximum(n_nz, 1)
        ss = np.nansum((sizes - mean[:, None]) ** 2, axis=1)
        var = np.where(n_nz > 1, ss / np.maximum(n_nz - 1, 1), 0.0)
        cv2 = np.where(n_nz > 0, var / np.where(mean != 0, mean, np.nan) ** 2, np.nan)
    code = np.where(adi < ADI_CUTOFF, np.where(cv2 < CV2_CUTOFF, 0, 1), np.where(cv2 < CV2_CUTOFF, 2, 3))
    code = np.where(n_nz == 0, 4, code)
    return {"n_obs": n_obs, "n_nonzero": n_nz, "adi": adi, "cv2": cv2, "code": code}


def classify(history: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Syntetos–Boylan demand class of each series of a long ``history`` (unique_id, ds, y).

    ADI = mean interval between demands (Croston's intervals, the first from the series' first period);
    CV² = (sample std / mean)² of the non-zero demand sizes. smooth: ADI < 1.32 and CV² < 0.49; erratic:
    ADI < 1.32, CV² ≥ 0.49; intermittent: ADI ≥ 1.32, CV² < 0.49; lumpy: both above; no_demand: no non-zero value.
    ``freq`` tells which periods are consecutive (missing ones are zero demand).
    Returns: unique_id, n_obs, n_nonzero, adi, cv2, demand_class.
    """
    panel = _panel(history[["unique_id", "ds", "y"]], freq, 1, None)
    stats = _demand_stats(panel.y)
    return pd.DataFrame({
        "unique_id": panel.ids, "n_obs": stats["n_obs"], "n_nonzero": stats["n_nonzero"], "adi": stats["adi"],
        "cv2": stats["cv2"], "demand_class": np.asarray(CLASSES, dtype=object)[stats["code"]],
    })


# --- candidate models on the panel ------------------------------------------------------------------------------------
# Each takes a right-aligned training panel Y (S, n) and returns forecasts (S, h); NaN where a row has no data.


def _start_level(Y: np.ndarray, window: int) -> np.ndarray:
    """Mean of each row's first ``window`` observed values (the smoothing start level), shape (S, 1)."""
    valid = ~np.isnan(Y)
    rank = np.cumsum(valid, axis=1)
    head = np.where(valid & (rank <= window), Y, np.nan)
    return _nanmean(head, axis=1)[:, None]


def _ses_grid(Y: np.ndarray, alphas: Sequence[float], horizon: int = 1,
              init: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """SES for every alpha of a grid: final level ℓ_n and the in-sample criterion per row and alpha, shapes (S, G).

    ℓ_t = ℓ_{t−1} + α (y_t − ℓ_{t−1}) from ℓ_0 = mean of the first ``init`` values (init 1: ℓ_1 = y_1 as in
    statsforecast's ses_forecast; a longer start keeps small alphas from being judged on a noisy first value).
    Criterion with ``horizon`` H = 1: the one-step SSE Σ_t (y_t − ℓ_{t−1})²; with H > 1 the "trace" criterion
    Σ_t Σ_{k=1..H} (y_{t+k} − ℓ_t)², which favours the smoother fits that forecast H steps better. It is accumulated
    as Σ_t ℓ_t (K_t ℓ_t − 2 B_t) (+ a term the same for every alpha), K_t and B_t from ``_ahead``.
    """
    a = np.asarray(alphas, dtype=float)[None, :]
    S, n = Y.shape
    YT = np.ascontiguousarray(Y.T)  # time-major: one contiguous row per period
    level = np.repeat(_start_level(Y, init), a.shape[1], axis=1) if init > 1 else np.full((S, a.shape[1]), np.nan)
    crit = np.zeros((S, a.shape[1]))
    if horizon > 1:
        K, B = _ahead(Y, horizon)
    for t in range(n):
        y = YT[t, :, None]
        err = y - level
        ok = ~np.isnan(err)
        if horizon == 1:
            crit += np.where(ok, err * err, 0.0)
        level = np.where(ok, level + a * err, np.where(np.isnan(level), y, level))
        if horizon > 1:
            current = np.where(np.isnan(y), 0.0, level)
            crit += current * (K[t, :, None] * current - 2 * B[t, :, None])
    return level, crit


def _ahead(Y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """For each period t (time-major, n × S): K_t = number and B_t = sum of the observed y_{t+1..t+H}."""
    S, n = Y.shape
    valid = ~np.isnan(Y)
    csum = np.concatenate([np.zeros((S, 1)), np.cumsum(np.where(valid, Y, 0.0), axis=1)], axis=1)
    ccount = np.concatenate([np.zeros((S, 1)), np.cumsum(valid, axis=1)], axis=1)
    lo = np.arange(n) + 1
    hi = np.minimum(np.arange(n) + horizon, n - 1) + 1
    hi = np.maximum(hi, lo)
    K = ccount[:, hi] - ccount[:, lo]
    B = csum[:, hi] - csum[:, lo]
    return np.ascontiguousarray(K.T), np.ascontiguousarray(B.T)


def _pick(values: np.ndarray, sse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the value of the grid column with the least SSE (first on ties) and that column."""
    best = np.argmin(sse, axis=1)
    return values[np.arange(len(values)), best], best


def _ses(Y: np.ndarray, h: int, alphas: Sequence[float] = SES_ALPHAS,
         grid: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Simple exponential smoothing, alpha from the grid with the least 1..h-step in-sample SSE: ŷ_{n+j} = ℓ_n."""
    level, sse = _ses_grid(Y, alphas, h, SMOOTHING_START) if grid is None else grid
    chosen, _ = _pick(level, sse)
    return np.repeat(chosen[:, None], h, axis=1)


def _seasonal_naive(Y: np.ndarray, h: int, m: int) -> np.ndarray:
    """ŷ_{n+j} = y_{n+j−m·⌈j/m⌉} (the same period of the last season); the last value where a season is lacking."""
    n = Y.shape[1]
    out = np.empty((Y.shape[0], h))
    for j in range(1, h + 1):
        back = n - 1 + j - m * math.ceil(j / m)
        value = Y[:, back] if back >= 0 else np.full(Y.shape[0], np.nan)
        out[:, j - 1] = np.where(np.isnan(value), Y[:, -1], value)
    return out


def _damped_holt(Y: np.ndarray, h: int, grid: Sequence[tuple[float, float, float]] = HOLT_GRID) -> np.ndarray:
    """Additive damped-trend Holt, (α, β, φ) from the grid with the least 1..h-step in-sample SSE.

    ℓ_t = α y_t + (1 − α)(ℓ_{t−1} + φ b_{t−1}); b_t = β (ℓ_t − ℓ_{t−1}) + (1 − β) φ b_{t−1}; ℓ_0 = mean of the
    first 12 values, b_0 = 0; ŷ_{t+k} = ℓ_t + c_k b_t with c_k = φ + φ² + … + φ^k. Criterion
    Σ_t Σ_{k=1..h} (y_{t+k} − ℓ_t − c_k b_t)², accumulated per period from sums over k that do not depend on (α, β):
    Σ_k 1, Σ_k y_{t+k}, Σ_k c_k, Σ_k c_k y_{t+k}, Σ_k c_k².
    """
    g = np.asarray(grid, dtype=float)
    alpha, beta, phi = g[None, :, 0], g[None, :, 1], g[None, :, 2]
    S, n = Y.shape
    YT = np.ascontiguousarray(Y.T)
    K, B = _ahead(Y, h)
    phis, which = np.unique(g[:, 2], return_inverse=True)
    # per damping value: Σ_k c_k, Σ_k c_k² over the k with t + k inside the history (n × P), Σ_k c_k y_{t+k} (n × S × P)
    steps = np.minimum(np.arange(n)[:, None] + np.arange(1, h + 1)[None, :], n)  # (n, h); n = outside
    inside = steps < n
    c = np.cumsum(phis[:, None] ** np.arange(1, h + 1)[None, :], axis=1)  # (P, h)
    C0 = (inside[:, None, :] * c[None, :, :]).sum(axis=2)[:, which]
    C2 = (inside[:, None, :] * c[None, :, :] ** 2).sum(axis=2)[:, which]
    padded = np.concatenate([np.where(np.isnan(YT), 0.0, YT), np.zeros((1, S))], axis=0)
    ahead = padded[steps]  # (n, h, S)
    C1 = np.einsum("tks,pk->tsp", ahead, c, optimize=True)[:, :, which]
    level = np.repeat(_start_level(Y, SMOOTHING_START), len(g), axis=1)
    trend = np.zeros((S, len(g)))
    sse = np.zeros((S, len(g)))
    for t in range(n):
        y = YT[t, :, None]
        pred = level + phi * trend
        err = y - pred
        ok = ~np.isnan(err)
        new_level = pred + alpha * err
        new_trend = beta * (new_level - level) + (1 - beta) * phi * trend
        trend = np.where(ok, new_trend, trend)
        level = np.where(ok, new_level, np.where(np.isnan(level), y, level))
        lv = np.where(ok, level, 0.0)
        tr = np.where(ok, trend, 0.0)
        sse += (lv * (K[t, :, None] * lv - 2 * B[t, :, None]) - 2 * tr * C1[t]
                + tr * (2 * lv * C0[t] + tr * C2[t]))
    best = np.argmin(sse, axis=1)
    rows = np.arange(S)
    lv, tr, ph = level[rows, best], trend[rows, best], g[best, 2]
    damping = np.cumsum(ph[:, None] ** np.arange(1, h + 1)[None, :], axis=1)
    return lv[:, None] + damping * tr[:, None]


def _theta(Y: np.ndarray, h: int, alphas: Sequence[float] = SES_ALPHAS,
           grid: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Standard Theta method (θ = 2) as SES with drift (Hyndman & Billah 2003).

    ŷ_{n+j} = ℓ_n + (b/2)·((j − 1) + 1/α − (1 − α)^n / α), ℓ_n and α from SES (grid, least 1..h-step SSE),
    b the least-squares slope of y on time over the n observed periods.
    """
    level, sse = _ses_grid(Y, alphas, h, SMOOTHING_START) if grid is None else grid
    lv, best = _pick(level, sse)
    alpha = np.asarray(alphas)[best]
    valid = ~np.isnan(Y)
    n = valid.sum(axis=1)
    t = np.where(valid, np.arange(Y.shape[1])[None, :], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        tc = t - _nanmean(t, axis=1, keepdims=True)
        yc = Y - _nanmean(Y, axis=1, keepdims=True)
        slope = np.nansum(tc * yc, axis=1) / np.nansum(tc * tc, axis=1)
    slope = np.where(n > 1, np.nan_to_num(slope), 0.0)
    j = np.arange(1, h + 1)[None, :]
    drift = (j - 1) + 1 / alpha[:, None] - (1 - alpha[:, None]) ** n[:, None] / alpha[:, None]
    return lv[:, None] + slope[:, None] / 2 * drift


def _croston_state(Y: np.ndarray, alpha_size: np.ndarray, alpha_interval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Croston's smoothed demand size z and inter-demand interval p after the last period, shapes (S, G).

    Both are SES (alpha per grid column) updated only in periods with demand: z on the sizes y_t > 0, p on the
    intervals q (periods since the previous demand, the first counted from the series' first period); start values
    the first size and first interval.
    """
    S, n = Y.shape
    G = alpha_size.shape[-1]
    z = np.full((S, G), np.nan)
    p = np.full((S, G), np.nan)
    valid = ~np.isnan(Y)
    YT = np.ascontiguousarray(Y.T)
    last = (n - valid.sum(axis=1) - 1).astype(float)
    for t in range(n):
        y = YT[t]
        demand = (y > 0)[:, None]
        interval = (t - last)[:, None]
        yy = y[:, None]
        z = np.where(demand, np.where(np.isnan(z), yy, z + alpha_size * (yy - z)), z)
        p = np.where(demand, np.where(np.isnan(p), interval, p + alpha_interval * (interval - p)), p)
        last = np.where(y > 0, t, last)
    return z, p


def _croston_sba(Y: np.ndarray, h: int) -> np.ndarray:
    """Croston–SBA: ŷ = 0.95 · z / p with alpha 0.1 for sizes and intervals (statsforecast's CrostonSBA); 0 without
    demand."""
    a = np.array([[CROSTON_ALPHA]])
    z, p = _croston_state(Y, a, a)
    with np.errstate(invalid="ignore"):
        fc = SBA_FACTOR * z[:, 0] / p[:, 0]
    fc = np.where(np.isnan(z[:, 0]), 0.0, fc)
    return np.repeat(fc[:, None], h, axis=1)


def _tsb(Y: np.ndarray, h: int, alphas: Sequence[float] = TSB_ALPHAS) -> np.ndarray:
    """TSB (Teunter, Syntetos & Babai 2011): demand probability d and size z, ŷ = d_n · z_n.

    d_t = d_{t−1} + α_d (1[y_t > 0] − d_{t−1}) every period; z_t = z_{t−1} + α_z (y_t − z_{t−1}) in periods with
    demand; start values the first period's indicator and the first size; (α_d, α_z) from the grid with the least
    in-sample 1..h-step squared error Σ_t Σ_{k=1..h} (y_{t+k} − d_t z_t)² (no demand yet: z_t = 0).
    """
    a = np.asarray(alphas, dtype=float)
    G = len(a)
    S, n = Y.shape
    YT = np.ascontiguousarray(Y.T)
    d = np.full((S, G), np.nan)
    z = np.full((S, G), np.nan)
    d_path = np.empty((n, S, G))
    z_path = np.empty((n, S, G))
    for t in range(n):
        y = YT[t, :, None]
        has = ~np.isnan(y)
        ind = (y > 0).astype(float)
        d = np.where(has, np.where(np.isnan(d), ind, d + a[None, :] * (ind - d)), d)
        demand = y > 0
        z = np.where(demand, np.where(np.isnan(z), y, z + a[None, :] * (y - z)), z)
        d_path[t] = np.where(has, d, 0.0)
        z_path[t] = np.where(has, np.nan_to_num(z), 0.0)
    # Σ_t Σ_k (y_{t+k} − d_t z_t)² = const − 2 Σ_t B_t d_t z_t + Σ_t K_t d_t² z_t² for every (α_d, α_z) pair
    K, B = _ahead(Y, h)
    cross = np.einsum("tsi,tsj->sij", d_path * B[:, :, None], z_path, optimize=True)
    square = np.einsum("tsi,tsj->sij", d_path * d_path * K[:, :, None], z_path * z_path, optimize=True)
    best = np.argmin((square - 2 * cross).reshape(S, G * G), axis=1)
    rows = np.arange(S)
    fc = d[rows, best // G] * z[rows, best % G]
    fc = np.where(np.isnan(z[rows, best % G]), 0.0, fc)
    return np.repeat(fc[:, None], h, axis=1)


def _aggregation_levels(Y: np.ndarray) -> np.ndarray:
    """ADIDA's aggregation level per row: round(mean Croston interval) (≥ 1, at most the observed periods)."""
    stats = _demand_stats(Y)
    level = np.where(np.isfinite(stats["adi"]), np.round(stats["adi"]), 1)
    return np.clip(level, 1, np.maximum(stats["n_obs"], 1)).astype(int)


def _chunked_ses(Y: np.ndarray, k: int) -> np.ndarray:
    """SES (alpha in [0.1, 0.3] by least SSE) forecast of the sums of non-overlapping blocks of k periods ending at
    the last period (an incomplete block at the start is dropped), divided by k; per row of Y."""
    S, n = Y.shape
    blocks = n // k
    if blocks == 0:
        return np.full(S, np.nan)
    sums = Y[:, n - blocks * k:].reshape(S, blocks, k).sum(axis=2)  # NaN for a block before the series' start
    level, sse = _ses_grid(sums, AGGREGATE_ALPHAS)
    return _pick(level, sse)[0] / k


def _adida(Y: np.ndarray, h: int) -> np.ndarray:
    """ADIDA (Nikolopoulos et al. 2011): SES on demand summed in blocks of k = round(ADI) periods, divided by k."""
    k = _aggregation_levels(Y)
    fc = np.zeros(Y.shape[0])
    for level in np.unique(k):
        rows = k == level
        fc[rows] = _chunked_ses(Y[rows], int(level))
    return np.repeat(np.nan_to_num(fc)[:, None], h, axis=1)


def _imapa(Y: np.ndarray, h: int) -> np.ndarray:
    """IMAPA (Petropoulos & Kourentzes 2015): the mean over k = 1..round(ADI) of ADIDA's forecast at level k."""
    top = np.minimum(_aggregation_levels(Y), IMAPA_MAX_LEVEL)
    total = np.zeros(Y.shape[0])
    for level in range(1, int(top.max()) + 1):
        rows = top >= level
        total[rows] += np.nan_to_num(_chunked_ses(Y[rows], level))
    return np.repeat((total / top)[:, None], h, axis=1)


def _window_mean(Y: np.ndarray, h: int, window: int) -> np.ndarray:
    """Mean of the last ``window`` observed periods (fewer if the series is shorter): the new-item fallback."""
    tail = Y[:, -window:]
    with np.errstate(invalid="ignore"):
        mean = _nanmean(tail, axis=1) if tail.shape[1] else np.full(Y.shape[0], np.nan)
    short = np.isnan(mean)
    if short.any():
        with np.errstate(invalid="ignore"):
            mean[short] = _nanmean(Y[short], axis=1) if Y.shape[1] else np.nan
    return np.repeat(np.nan_to_num(mean)[:, None], h, axis=1)


# --- seasonality ----------------------------------------------------------------------------------------------------


def _seasonal_indices(Y: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative seasonal indices (S, m) by column position (column mod m) and which rows are seasonal.

    Seasonal: at least 2m observations and the lag-m autocorrelation significant at 90 %:
    |r_m| > 1.645 √((1 + 2 Σ_{k<m} r_k²) / n) (the M3 Theta test). Indices: classical decomposition, mean over
    seasons of y_t / CMA_t (centred moving average of order m, 2×m for even m), normalised to mean 1; rows that are
    not seasonal, or with a CMA ≤ 0, get indices 1.
    """
    S, n = Y.shape
    ones = np.ones((S, m))
    if m < 2 or n < 2 * m:
        return ones, np.zeros(S, dtype=bool)
    valid = ~np.isnan(Y)
    n_obs = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        D = np.nan_to_num(Y - _nanmean(Y, axis=1, keepdims=True))
        denom = (D * D).sum(axis=1)
        r = np.stack([(D[:, k:] * D[:, :-k]).sum(axis=1) / denom for k in range(1, m + 1)], axis=1)
        limit = 1.645 * np.sqrt((1 + 2 * (r[:, :-1] ** 2).sum(axis=1)) / n_obs)
    seasonal = (n_obs >= 2 * m) & (np.abs(r[:, -1]) > limit) & (denom > 0)
    if not seasonal.any():
        return ones, seasonal
    filled = np.nan_to_num(Y)
    csum = np.concatenate([np.zeros((S, 1)), np.cumsum(filled, axis=1)], axis=1)
    ccount = np.concatenate([np.zeros((S, 1)), np.cumsum(valid, axis=1)], axis=1)
    cma = np.full((S, n), np.nan)
    if m % 2:
        half = m // 2
        idx = np.arange(half, n - half)
        total = csum[:, idx + half + 1] - csum[:, idx - half]
        count = ccount[:, idx + half + 1] - ccount[:, idx - half]
        cma[:, idx] = np.where(count == m, total / m, np.nan)
    else:
        half = m // 2
        idx = np.arange(half, n - half)
        # 2×m MA: mean of the m-MAs over [t − m/2, t + m/2 − 1] and [t − m/2 + 1, t + m/2]
        left = csum[:, idx + half] - csum[:, idx - half]
        right = csum[:, idx + half + 1] - csum[:, idx - half + 1]
        count = ccount[:, idx + half + 1] - ccount[:, idx - half]
        cma[:, idx] = np.where(count == m + 1, (left + right) / (2 * m), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(cma > 0, Y / cma, np.nan)
        bad = np.any(~np.isnan(cma) & (cma <= 0), axis=1)
        pad = (-n) % m
        blocks = np.concatenate([ratio, np.full((S, pad), np.nan)], axis=1).reshape(S, -1, m)
        index = _nanmean(blocks, axis=1)
        index = index / _nanmean(index, axis=1, keepdims=True)
    ok = seasonal & ~bad & np.all(np.isfinite(index) & (index > 0), axis=1)
    return np.where(ok[:, None], index, 1.0), ok


# --- the global model -----------------------------------------------------------------------------------------------


def _phases(last_ordinal: np.ndarray, n: int, cycle: float) -> np.ndarray:
    """Position in the calendar cycle, in [0, 1), of each column of a right-aligned panel of n columns, shape (S, n):
    (ordinal of the column's period / ``cycle``) mod 1, the last column's ordinal being ``last_ordinal``."""
    ordinal = np.asarray(last_ordinal, dtype=float)[:, None] - (n - 1 - np.arange(n))[None, :]
    return np.mod(ordinal / cycle, 1.0)


def _global_scale_window(m: int, h: int) -> int:
    """Periods of the global model's scale s_t (a year for monthly and weekly data, at least h)."""
    return max(m, h, 4)


def _global_design(Y: np.ndarray, phase: np.ndarray | None, at: np.ndarray, m: int,
                   h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The global model's features of each series at each period t of ``at`` from the values up to t only.

    With s_t the mean of the last w = max(m, h, 4) observed values up to t: x_t = [1; y_{t−k}/s_t for k < L;
    mean of the last r values / s_t for each window r < w of ``GLOBAL_WINDOWS``; e_t/s_t for the exponentially
    weighted means e_t = e_{t−1} + α (y_t − e_{t−1}) of ``GLOBAL_EWM_ALPHAS``; with seasonality (m > 1, ``phase``
    given) for each harmonic k ≤ K: cos 2πkφ_t, sin 2πkφ_t (a shape common to all series at calendar phase φ_t) and
    u_k = a_k cos 2πkφ_t + b_k sin 2πkφ_t, v_k = b_k cos 2πkφ_t − a_k sin 2πkφ_t (the series' own harmonic now and
    its quadrature), a_k = 2 Σ (y − ȳ) cos 2πkφ / (N s_t), b_k likewise with sin, over the last N ≤ 2m values
    (0 for N < m)]. Scaled values are clipped to ±``GLOBAL_CAP``; a lag before the series' start counts as s_t.
    Returns X (S, A, p), s (S, A; NaN where s_t is not positive) and the number of observed values up to t (S, A).
    """
    S, n = Y.shape
    at = np.asarray(at, dtype=int)
    A = len(at)
    valid = ~np.isnan(Y)
    Z = np.where(valid, Y, 0.0)
    zero = np.zeros((S, 1))
    C = np.concatenate([zero, np.cumsum(Z, axis=1)], axis=1)
    N = np.concatenate([zero, np.cumsum(valid, axis=1)], axis=1)
    end = at + 1

    def window(r: int, cum: np.ndarray = C) -> tuple[np.ndarray, np.ndarray]:
        start = np.maximum(end - r, 0)
        return cum[:, end] - cum[:, start], N[:, end] - N[:, start]

    w = _global_scale_window(m, h)
    total, count = window(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = total / count
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
    inv = np.where(np.isnan(scale), 0.0, 1.0 / np.where(np.isnan(scale), 1.0, scale))
    columns: list[np.ndarray] = [np.ones((S, A))]
    for k in range(GLOBAL_LAGS):
        back = at - k
        lag = Y[:, np.maximum(back, 0)]
        lag = np.where((back[None, :] >= 0) & ~np.isnan(lag), lag * inv, 1.0)
        columns.append(lag)
    for r in GLOBAL_WINDOWS:
        if r < w:
            part, cnt = window(r)
            columns.append(np.where(cnt > 0, part / np.maximum(cnt, 1), 0.0) * inv)
    if GLOBAL_EWM_ALPHAS and A:
        alphas = np.asarray(GLOBAL_EWM_ALPHAS, dtype=float)[None, :]
        level = np.full((S, alphas.shape[1]), np.nan)
        kept = np.full((S, A, alphas.shape[1]), np.nan)
        position = {int(t): i for i, t in enumerate(at)}
        YT = np.ascontiguousarray(Y.T)
        for t in range(int(at.max()) + 1):
            y = YT[t][:, None]
            level = np.where(np.isnan(y), level, np.where(np.isnan(level), y, level + alphas * (y - level)))
            if t in position:
                kept[:, position[t]] = level
        for g in range(alphas.shape[1]):
            columns.append(np.nan_to_num(kept[:, :, g], nan=0.0) * inv)
    if m > 1 and phase is not None:
        harmonics = min(GLOBAL_HARMONICS, m // 2)
        theta = 2 * np.pi * phase
        span = 2 * m
        _, cnt = window(span)
        for k in range(1, harmonics + 1):
            cos, sin = np.cos(k * theta), np.sin(k * theta)
            cos_at, sin_at = cos[:, at], sin[:, at]
            columns += [cos_at, sin_at]
            sums = {}
            for name, values in (("zc", Z * cos), ("zs", Z * sin), ("c", valid * cos), ("s", valid * sin)):
                cum = np.concatenate([zero, np.cumsum(values, axis=1)], axis=1)
                sums[name] = window(span, cum)[0]
            part, _ = window(span)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = part / cnt
                a = 2 * (sums["zc"] - mean * sums["c"]) / cnt * inv
                b = 2 * (sums["zs"] - mean * sums["s"]) / cnt * inv
            enough = cnt >= m
            a, b = np.where(enough, a, 0.0), np.where(enough, b, 0.0)
            columns += [a * cos_at + b * sin_at, b * cos_at - a * sin_at]
    X = np.clip(np.stack(columns, axis=2), -GLOBAL_CAP, GLOBAL_CAP)
    return X, scale, N[:, end]


def _global_moments(Y: np.ndarray, phase: np.ndarray | None, classes: np.ndarray, limits: Sequence[int], m: int,
                    h: int, min_obs: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sufficient statistics of the global model's regressions from one training panel Y (S, n), per limit:
    X'X (C, p, p), X'Y (C, p, h) and row counts (C,) per demand class over the rows (series i, period t) with
    t ≤ limit (so that the targets y_{t+1..t+h} lie before the origin), at least ``min_obs`` observed values up to t,
    s_t > 0 and all h targets observed. Targets: y_{t+j}/s_t, j = 1..h, clipped to [0, ``GLOBAL_TARGET_CAP``]
    (winsorised: a spike counts as cap · s_t, which keeps the squared loss from being led by a few lumpy series)."""
    S, n = Y.shape
    top = min(max(limits, default=-1), n - 1 - h)
    at = np.arange(0, top + 1)
    X, scale, seen = _global_design(Y, phase, at, m, h)
    p = X.shape[2]
    steps = at[:, None] + np.arange(1, h + 1)[None, :]
    with np.errstate(invalid="ignore"):
        target = np.clip(Y[:, steps] / scale[:, :, None], 0.0, GLOBAL_TARGET_CAP) if len(at) else np.empty((S, 0, h))
    ok = ~np.isnan(scale) & (seen >= min_obs) & ~np.isnan(target).any(axis=2)
    # rows that do not count are zeroed (they add nothing to the sums); series grouped by class, periods in blocks
    order = np.argsort(classes, kind="stable")
    X = np.where(ok[:, :, None], X, 0.0)[order]
    target = np.where(ok[:, :, None], target, 0.0)[order]
    ok = ok[order]
    bounds = np.searchsorted(classes[order], np.arange(len(CLASSES) + 1))
    out = []
    xtx = np.zeros((len(CLASSES), p, p))
    xty = np.zeros((len(CLASSES), p, h))
    rows = np.zeros(len(CLASSES))
    done = -1
    with _single_thread_blas():
        for limit in limits:  # increasing: each block of periods is added once, the sums carried on
            lo, hi = int(np.searchsorted(at, done, side="right")), int(np.searchsorted(at, limit, side="right"))
            if hi > lo:
                for c in range(len(CLASSES)):
                    a, b = bounds[c], bounds[c + 1]
                    if b > a:
                        Xc = X[a:b, lo:hi].reshape(-1, p)
                        xtx[c] += Xc.T @ Xc
                        xty[c] += Xc.T @ target[a:b, lo:hi].reshape(-1, h)
                        rows[c] += ok[a:b, lo:hi].sum()
            done = max(done, limit)
            out.append((xtx.copy(), xty.copy(), rows.copy()))
    return out


def _single_thread_blas() -> contextlib.AbstractContextManager:
    """BLAS on one thread: the global model's products are small (p ≈ 20 columns), and a multi-threaded BLAS only
    waits for busy cores (10 to 100× slower on a loaded machine); threadpoolctl comes with scikit-learn."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn (and with it threadpoolctl) is a requirement
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _ridge(xtx: np.ndarray, xty: np.ndarray, rows: float) -> np.ndarray:
    """(X'X + λ N D)⁻¹ X'Y, D = diag(0, 1, …, 1): ridge with an unpenalised intercept (first column), λ =
    ``GLOBAL_RIDGE`` per row, plus a 1e-12 relative jitter on the diagonal so that a zero column stays solvable."""
    p = len(xtx)
    penalty = np.eye(p)
    penalty[0, 0] = 0.0
    matrix = xtx + GLOBAL_RIDGE * rows * penalty + 1e-12 * max(float(np.trace(xtx)), 1.0) * np.eye(p)
    return np.linalg.solve(matrix, xty)


def _solve_global(moments: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
                  n_origins: int) -> list[np.ndarray]:
    """Ridge coefficients β (len(CLASSES), p, h) per origin from the chunks' summed moments:
    β_c = (X_c'X_c + λ N_c D)⁻¹ X_c'Y_c with D = diag(0, 1, …, 1) (the intercept is not shrunk), λ = ``GLOBAL_RIDGE``,
    N_c the rows of class c; a class with fewer than ``GLOBAL_MIN_ROWS`` · p rows takes the pooled fit of all
    classes; NaN (no global forecast) for no_demand and where even the pooled fit has fewer than 2p rows."""
    out = []
    for o in range(n_origins):
        xtx = sum(part[o][0] for part in moments)
        xty = sum(part[o][1] for part in moments)
        rows = sum(part[o][2] for part in moments)
        C, p, h = xty.shape
        beta = np.full((C, p, h), np.nan)
        fitted = [c for c in range(C) if CLASSES[c] != "no_demand"]
        pooled_rows = sum(rows[c] for c in fitted)
        pooled = _ridge(sum(xtx[c] for c in fitted), sum(xty[c] for c in fitted), pooled_rows) \
            if pooled_rows >= 2 * p else None
        for c in fitted:
            if rows[c] >= GLOBAL_MIN_ROWS * p:
                beta[c] = _ridge(xtx[c], xty[c], rows[c])
            elif pooled is not None:
                beta[c] = pooled
        out.append(beta)
    return out


def _global_predict(X: np.ndarray, scale: np.ndarray, beta: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The global model's forecast from features X (S, p) and scale s (S,) at a series' last period t:
    ŷ_{t+j} = s_t · min(max(x_t'β_{c,j}, 0), cap), c the series' class; 0 where s_t is not positive (no demand in
    the scale window); NaN where β is NaN (no global fit)."""
    pred = np.einsum("sp,sph->sh", X, beta[classes])
    pred = np.clip(pred, 0.0, GLOBAL_TARGET_CAP) * np.nan_to_num(scale, nan=0.0)[:, None]
    return np.where(np.isnan(pred).any(axis=1, keepdims=True), np.nan, pred)


def global_model(Y: np.ndarray, h: int, m: int = 1, phase: np.ndarray | None = None,
                 min_obs: int | None = None) -> np.ndarray:
    """The global model fitted on every series of a right-aligned panel Y (S, n) and forecast from its end (S, h).

    One ridge regression per step j = 1..h across all series and periods (direct multi-step forecasting):
    y_{i,t+j} / s_{it} = x_{it}'β_j + ε, fitted over every (i, t) whose h targets are observed; ŷ_{i,n+j} =
    s_{in} · max(x_{in}'β_j, 0). Features x and scale s: ``_global_design``; ridge: ``_solve_global``. ``phase``
    (S, n): the calendar position of each column for the common Fourier terms (``_phases``). Rows need ``min_obs``
    observed values up to t (default: every lag and a full scale window). The ``forecast`` pipeline fits the same
    model per demand class and backtest origin from chunked moments.
    """
    if min_obs is None:
        min_obs = max(GLOBAL_LAGS, _global_scale_window(m, h))
    classes = np.zeros(Y.shape[0], dtype=int)
    moments = _global_moments(Y, phase, classes, [Y.shape[1] - 1 - h], m, h, min_obs)
    xtx, xty, rows = moments[0]
    one = (xtx[:1], xty[:1], rows[:1])
    beta = _solve_global([[one]], 1)[0]
    X, scale, _ = _global_design(Y, phase, np.array([Y.shape[1] - 1]), m, h)
    return _global_predict(X[:, 0], scale[:, 0], beta, classes)


# --- one origin: every candidate ----------------------------------------------------------------------------------


def _candidates(Y: np.ndarray, h: int, m: int, rows: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Forecasts (S, h) of each candidate from the training panel Y (S, n) on the rows it is run for (``rows``:
    name → boolean mask; NaN elsewhere), and the rows found seasonal.

    SES, DampedHolt and Theta run on the seasonally adjusted series (y_t / I_{t mod m}) of seasonal rows and are
    re-seasonalised (× I of the forecast period).
    """
    S, n = Y.shape
    adjusted_models = ("SES", "DampedHolt", "Theta")
    need = np.zeros(S, dtype=bool)
    for name in adjusted_models:
        if name in rows:
            need |= rows[name]
    index, seasonal = np.ones((S, max(m, 1))), np.zeros(S, dtype=bool)
    if m > 1 and need.any():
        index[need], seasonal[need] = _seasonal_indices(Y[need], m)
    period = max(m, 1)
    past = index[:, np.arange(n) % period]
    future = index[:, (n + np.arange(h)) % period]
    adjusted = Y / past
    grids: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def ses_grid(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # SES and Theta share the smoothing
        key = mask.tobytes()
        if key not in grids:
            grids[key] = _ses_grid(adjusted[mask], SES_ALPHAS, h, SMOOTHING_START)
        return grids[key]

    kernels: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "SeasonalNaive": lambda r: _seasonal_naive(Y[r], h, m),
        "WindowAverage": lambda r: _window_mean(Y[r], h, max(m, h)),
        "SES": lambda r: _ses(adjusted[r], h, grid=ses_grid(r)) * future[r],
        "DampedHolt": lambda r: _damped_holt(adjusted[r], h) * future[r],
        "Theta": lambda r: _theta(adjusted[r], h, grid=ses_grid(r)) * future[r],
        "CrostonSBA": lambda r: _croston_sba(Y[r], h),
        "TSB": lambda r: _tsb(Y[r], h),
        "ADIDA": lambda r: _adida(Y[r], h),
        "IMAPA": lambda r: _imapa(Y[r], h),
    }
    out: dict[str, np.ndarray] = {}
    for name, mask in rows.items():
        if name not in kernels:
            raise ValueError(f"unknown model {name!r}")
        out[name] = np.full((S, h), np.nan)
        if mask.any():
            out[name][mask] = kernels[name](mask)
    return out, seasonal


def _naive_scale(Y: np.ndarray) -> np.ndarray:
    """Mean absolute one-step naive error over the observed periods (MASE's scale); else the mean |y|; else 1."""
    with np.errstate(invalid="ignore"):
        scale = _nanmean(np.abs(np.diff(Y, axis=1)), axis=1) if Y.shape[1] > 1 else np.full(len(Y), np.nan)
        level = _nanmean(np.abs(Y), axis=1)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, level)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


# --- the stages (local, or per chunk on Dask) ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    h: int
    m: int
    origins: tuple[int, ...]  # column index of each backtest origin (forecasts start there), then T
    dead_after: int
    min_history: int
    min_train: int
    combine: int
    new_window: int
    cycle: float = 0.0  # periods per calendar cycle of the global model's Fourier terms (0: none)
    use_global: bool = True  # the global model as a candidate and in the blend


def _exog_moments(y: np.ndarray, x: np.ndarray, origin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-series means (s_i, x̄_i) over the periods before ``origin`` and the demeaned regressors (S, origin, K)."""
    Y = y[:, :origin]
    valid = ~np.isnan(Y)
    with np.errstate(invalid="ignore"):
        s = _nanmean(Y, axis=1)
        xbar = _nanmean(np.where(valid[:, :, None], x[:, :origin], np.nan), axis=1)
    xc = np.where(valid[:, :, None], x[:, :origin] - np.nan_to_num(xbar)[:, None, :], 0.0)
    return s, np.nan_to_num(xbar), xc


def _stage_stats(y: np.ndarray, x: np.ndarray | None, origins: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sufficient statistics (X'X, X'z) of the pooled exogenous regression for each origin (summed over chunks)."""
    if x is None:
        return []
    out = []
    for origin in origins:
        s, _, xc = _exog_moments(y, x, origin)
        ok = np.isfinite(s) & (s > 0)
        z = np.where(~np.isnan(y[ok, :origin]), y[ok, :origin] / s[ok, None] - 1, 0.0)
        X = xc[ok]
        out.append((np.einsum("stk,stl->kl", X, X), np.einsum("stk,st->k", X, z)))
    return out


def _solve_betas(stats: list[list[tuple[np.ndarray, np.ndarray]]], n_origins: int) -> list[np.ndarray] | None:
    """β per origin from the chunks' summed moments: (X'X + λI)⁻¹ X'z with a tiny ridge λ for stability."""
    if not stats or not stats[0]:
        return None
    betas = []
    for o in range(n_origins):
        xtx = sum(part[o][0] for part in stats)
        xtz = sum(part[o][1] for part in stats)
        ridge = 1e-9 * max(float(np.trace(xtx)), 1.0) * np.eye(len(xtz))
        betas.append(np.linalg.solve(xtx + ridge, xtz))
    return betas


def _train_panel(y: np.ndarray, x: np.ndarray | None, betas: list[np.ndarray] | None, w: int, origin: int,
                 h: int) -> tuple[np.ndarray, np.ndarray]:
    """The training panel of backtest origin number w (the periods before ``origin``, divided by the exogenous factor
    f_it = max(1 + (x_it − x̄_i)·β, ``EXOG_FLOOR``) with regressors) and the factor of the h periods after it."""
    train = y[:, :origin]
    factor_future = np.ones((y.shape[0], h))
    if x is not None and betas is not None:
        _, xbar, xc = _exog_moments(y, x, origin)
        beta = betas[w]
        factor_past = np.maximum(1 + xc @ beta, EXOG_FLOOR)
        train = train / np.where(np.isnan(train), 1.0, factor_past)
        factor_future = np.maximum(1 + (x[:, origin:origin + h] - xbar[:, None, :]) @ beta, 0.0)
    return train, factor_future


def _stage_global(y: np.ndarray, x: np.ndarray | None, betas: list[np.ndarray] | None,
                  last_ordinal: np.ndarray | None, classes: np.ndarray,
                  settings: _Settings) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The global model's moments (``_global_moments``) per backtest origin for one chunk (summed over chunks).

    Origin o's regression uses the rows whose targets lie before o only. Without regressors one design serves every
    origin (the features at t use values up to t only); with them each origin's exogenously adjusted panel."""
    S, T = y.shape
    h, m = settings.h, settings.m
    phase = _phases(last_ordinal, T, settings.cycle) if settings.cycle and last_ordinal is not None else None
    limits = [o - 1 - h for o in settings.origins]
    if x is None or betas is None:
        return _global_moments(y, phase, classes, limits, m, h, settings.min_train)
    out = []
    for w, origin in enumerate(settings.origins):
        train, _ = _train_panel(y, x, betas, w, origin, h)
        part = None if phase is None else phase[:, :origin]
        out += _global_moments(train, part, classes, [limits[w]], m, h, settings.min_train)
    return out


def _stage_fit(y: np.ndarray, x: np.ndarray | None, betas: list[np.ndarray] | None,
               global_betas: list[np.ndarray] | None, last_ordinal: np.ndarray | None, classes: np.ndarray,
               settings: _Settings) -> dict[str, np.ndarray]:
    """Every candidate from every origin for one chunk of series; the per-series choice, the global model's
    forecasts and the chunk's part of the blend weights' criterion.

    Returns arrays per series: the selection's and the global model's forecasts from every origin (S, W + 1, h), the
    new-item fallback's (S, W + 1, h), backtest actuals (S, W, h) and which windows count (S, W), scales per origin
    (S, W + 1), the selection's name, flags dead / new; and ``blend_sums`` (len(CLASSES), len(BLEND_GRID)): per class
    and weight the summed backtest RMSSE of the blend (``_finish`` completes the forecast on the client).
    """
    S, T = y.shape
    h, m = settings.h, settings.m
    W = len(settings.origins) - 1
    names = sorted({name for c in np.unique(classes) for name in CANDIDATES[CLASSES[c]]
                    if settings.use_global or name != "Global"}, key=MODELS.index)
    allowed = np.array([[name in CANDIDATES[CLASSES[c]] for name in names] for c in range(len(CLASSES))])
    run_for = {name: allowed[classes, i] for i, name in enumerate(names)}  # each candidate on its classes only
    forecasts = {name: np.full((S, W + 1, h), np.nan) for name in names}
    fallback = np.full((S, W + 1, h), np.nan)
    scales = np.full((S, W + 1), np.nan)
    seasonal = np.zeros(S, dtype=bool)
    local = {name: mask for name, mask in run_for.items() if name != "Global"}
    phase = _phases(last_ordinal, T, settings.cycle) if settings.cycle and last_ordinal is not None else None
    run_global = "Global" in run_for and global_betas is not None and run_for["Global"].any()
    if run_global and (x is None or betas is None):  # features at t use values up to t: one design for all origins
        last = np.array(settings.origins) - 1
        design, design_scale, _ = _global_design(y, phase, last, m, h)
    for w, origin in enumerate(settings.origins):
        train, factor_future = _train_panel(y, x, betas, w, origin, h)
        results, seasonal_w = _candidates(train, h, m, local)
        if run_global:
            if x is not None and betas is not None:
                part = None if phase is None else phase[:, :origin]
                X_w, scale_w, _ = _global_design(train, part, np.array([origin - 1]), m, h)
                X_w, scale_w = X_w[:, 0], scale_w[:, 0]
            else:
                X_w, scale_w = design[:, w], design_scale[:, w]
            mask = run_for["Global"]
            results["Global"] = np.full((S, h), np.nan)
            results["Global"][mask] = _global_predict(X_w[mask], scale_w[mask], global_betas[w], classes[mask])
        for name, fc in results.items():
            forecasts[name][:, w] = np.maximum(fc * factor_future, 0.0)
        fallback[:, w] = np.maximum(_window_mean(train, h, settings.new_window) * factor_future, 0.0)
        scales[:, w] = _naive_scale(y[:, :origin])
        if w == W:
            seasonal = seasonal_w
    n_obs = (~np.isnan(y)).sum(axis=1)
    # a window counts for a series when it had min_train periods before the origin and h actuals after it
    actual = np.stack([y[:, o:o + h] for o in settings.origins[:-1]], axis=1) if W else np.empty((S, 0, h))
    trained = np.array([n_obs - (T - o) >= settings.min_train for o in settings.origins[:-1]]).T.reshape(S, W)
    usable = trained & ~np.isnan(actual).any(axis=2)
    stacked = np.stack([forecasts[name] for name in names], axis=0)  # (C, S, W+1, h)
    # squared errors per candidate, series and window (NaN-free sums and counts, so that windows can be left out)
    sq = (stacked[:, :, :W] - actual[None]) ** 2
    keep = usable[None, :, :, None] & ~np.isnan(sq)
    sse = np.where(keep, sq, 0.0).sum(axis=3)  # (C, S, W)
    count = keep.sum(axis=3)
    disallowed = ~allowed[classes].T  # (C, S)
    with np.errstate(invalid="ignore", divide="ignore"):
        mse = np.where(disallowed | (count.sum(axis=2) == 0), np.inf, sse.sum(axis=2) / count.sum(axis=2)).T
    chosen, top, finite = _combination(stacked, mse, settings.combine)
    adjusted_names = ("SES", "DampedHolt", "Theta")
    parts = [[names[c] + ("+seasonal" if seasonal[i] and names[c] in adjusted_names else "")
              for c, used in zip(top[i], finite[i], strict=True) if used] for i in range(S)]
    label = np.array([p[0] if len(p) == 1 else f"mean({', '.join(p)})" for p in parts], dtype=object)
    # the selection's backtest forecasts out of sample: window k's combination is chosen on the other windows
    honest = chosen[:, :W]
    if W >= 2:
        honest = np.empty((S, W, h))
        for k in range(W):
            with np.errstate(invalid="ignore", divide="ignore"):
                rest = count.sum(axis=2) - count[:, :, k]
                mse_k = np.where(disallowed | (rest == 0), np.inf, (sse.sum(axis=2) - sse[:, :, k]) / rest).T
            honest[:, k] = _combination(stacked[:, :, k:k + 1], mse_k, settings.combine)[0][:, 0]
    glob = stacked[names.index("Global")] if "Global" in names else np.full((S, W + 1, h), np.nan)
    # dead: no demand in the last dead_after periods; new: too short, or no usable window
    tail = y[:, T - settings.dead_after:] if settings.dead_after <= T else y
    dead = (n_obs >= settings.dead_after) & np.all(np.nan_to_num(tail) == 0, axis=1)
    new = ~dead & ((n_obs < settings.min_history) | ~usable.any(axis=1))
    # the blend's backtest error per class for each weight w of the grid: Σ_i √(mean (e − w d)²) over the series
    # that are neither new nor dead, with e = (y − c)/scale and d = (g − c)/scale (c: selection, g: global model)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = (actual - honest) / scales[:, :W, None]
        d = (glob[:, :W] - honest) / scales[:, :W, None]
    ok = (~dead & ~new)[:, None, None] & usable[:, :, None] & np.isfinite(e) & np.isfinite(d)
    e, d = np.where(ok, e, 0.0), np.where(ok, d, 0.0)
    n = np.maximum(ok.sum(axis=(1, 2)), 1)[:, None]
    A, B, D = ((e * e).sum(axis=(1, 2))[:, None], (e * d).sum(axis=(1, 2))[:, None], (d * d).sum(axis=(1, 2))[:, None])
    grid = np.asarray(BLEND_GRID)[None, :]
    rmse = np.sqrt(np.maximum(A - 2 * grid * B + grid * grid * D, 0.0) / n)
    blend_sums = np.zeros((len(CLASSES), len(BLEND_GRID)))
    np.add.at(blend_sums, classes, np.where(ok.any(axis=(1, 2))[:, None], rmse, 0.0))
    return {"chosen": chosen, "global": glob, "fallback": fallback, "actual": actual, "usable": usable,
            "scales": scales, "model": label, "dead": dead, "new": new, "blend_sums": blend_sums}


def _combination(stacked: np.ndarray, mse: np.ndarray, combine: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The equal-weight mean of each series' best ``combine`` candidates by backtest ``mse`` (S, C) with a finite
    error (the best alone if none has one) from ``stacked`` (C, S, W, h); also the chosen columns and which count."""
    order = np.argsort(mse, axis=1, kind="stable")
    top = order[:, : max(combine, 1)]
    finite = np.isfinite(np.take_along_axis(mse, top, axis=1))
    finite[:, 0] = True
    weights = finite.T[:, :, None, None].astype(float)
    rows = np.arange(mse.shape[0])
    chosen = np.where(weights > 0, stacked[top.T, rows], 0.0).sum(axis=0) / weights.sum(axis=0)
    return chosen, top, finite


def _blend_weights(blend_sums: np.ndarray) -> np.ndarray:
    """The global model's weight w per demand class: the w of ``BLEND_GRID`` whose blend (1 − w)·selection +
    w·global has the least summed backtest RMSSE over the class's series (the smallest such w; 0 without a global
    forecast, where every w scores the same)."""
    return np.asarray(BLEND_GRID)[np.argmin(blend_sums, axis=1)]


def _finish(fit: dict[str, np.ndarray], classes: np.ndarray, settings: _Settings) -> dict[str, np.ndarray]:
    """The final forecasts from the chunks' fits: the blend (1 − w_c)·selection + w_c·global with the class's weight,
    the new-item fallback, zero for dead series; labels; the backtest errors (raw and divided by the series' scale)
    of the blend and of the fallback, for the intervals."""
    W = fit["actual"].shape[1]
    weights = _blend_weights(fit["blend_sums"])
    w = weights[classes]
    glob = fit["global"]
    has = np.isfinite(glob).all(axis=(1, 2)) & (w > 0)
    w = np.where(has, w, 0.0)[:, None, None]
    blended = np.where(w > 0, (1 - w) * fit["chosen"] + w * np.nan_to_num(glob), fit["chosen"])
    new, dead = fit["new"], fit["dead"]
    yhat = np.where(new[:, None], fit["fallback"][:, W], blended[:, W])
    yhat = np.where(dead[:, None], 0.0, yhat)
    label = np.array([_blend_label(lab, float(wi)) for lab, wi in zip(fit["model"], w[:, 0, 0], strict=True)],
                     dtype=object)
    label = np.where(new, "new:mean", np.where(dead, "dead", label))
    usable, actual, scales = fit["usable"][:, :, None], fit["actual"], fit["scales"][:, :W, None]
    with np.errstate(invalid="ignore"):
        raw = np.where(usable, actual - blended[:, :W], np.nan)
        scaled = raw / scales
        scaled_new = np.where(usable, actual - fit["fallback"][:, :W], np.nan) / scales
    return {"yhat": yhat, "model": label.astype(object), "scaled": scaled, "scaled_new": scaled_new, "raw": raw,
            "scale": fit["scales"][:, W], "dead": dead, "new": new, "weights": weights}


def _blend_label(label: str, weight: float) -> str:
    """The model name of a blend, at most 64 characters: "Global" alone, the selection alone, or
    "<w %> Global + <selection>" (seasonal suffixes shortened to "+s" where needed)."""
    if weight <= 0 or label == "Global":
        return label
    if weight >= 1:
        return "Global"
    out = f"{weight:.0%} Global + {label}"
    if len(out) > 64:
        out = out.replace("+seasonal", "+s")
    return out if len(out) <= 64 else out[:63] + "…"


def _quantiles(errors: np.ndarray, groups: np.ndarray, levels: Sequence[float], n_groups: int,
               fallback_sd: float) -> np.ndarray:
    """Pooled conformal quantiles of scaled errors (S, W, h) per group and horizon, shape (n_groups, h, L, 2).

    For level L the (1 − L)/2 and (1 + L)/2 empirical quantiles; a group with fewer than ``MIN_CALIBRATION`` errors
    at a horizon borrows every group's; with none at all, Gaussian bounds ± z·``fallback_sd``·√j.
    """
    h = errors.shape[2]
    probs = np.array([[(1 - lv / 100) / 2, (1 + lv / 100) / 2] for lv in levels])
    out = np.empty((n_groups, h, len(levels), 2))
    for j in range(h):
        pooled = errors[:, :, j][~np.isnan(errors[:, :, j])]
        for g in range(n_groups):
            sample = errors[groups == g, :, j]
            sample = sample[~np.isnan(sample)]
            if sample.size < MIN_CALIBRATION:
                sample = pooled
            if sample.size >= 2:
                out[g, j] = np.quantile(sample, probs)
            else:
                z = np.array([[NormalDist().inv_cdf(p) for p in pair] for pair in probs])
                out[g, j] = z * fallback_sd * math.sqrt(j + 1)
    return out


# --- public API ---------------------------------------------------------------------------------------------------


def _levels(level: Sequence[float] | float | None) -> list[float]:
    levels = [] if level is None else [level] if isinstance(level, int | float) else list(level)
    for lv in levels:
        if not 0 < lv < 100:
            raise ValueError(f"levels are percentages in (0, 100), not {lv}")
    return levels


def _label(level: float) -> str:
    return f"{level:g}".replace(".", "_")


def _cycle(freq: str, m: int) -> float:
    """Periods per calendar cycle for the global model's Fourier terms: m, but 365.2425 / 7 for weekly data with
    m = 52 (a year of weeks); 0 (no Fourier terms) for m = 1."""
    if m <= 1:
        return 0.0
    if m == 52 and _period_code(freq).startswith("W"):
        return 365.2425 / 7
    return float(m)


def _settings(T: int, h: int, m: int, n_windows: int, step: int | None, dead_after: int | None,
              min_history: int | None, combine: int, cycle: float = 0.0, use_global: bool = True) -> _Settings:
    step = h if step is None else step
    if h < 1 or n_windows < 0 or step < 1:
        raise ValueError("h and step must be >= 1 and n_windows >= 0")
    origins = [T - h - (n_windows - 1 - w) * step for w in range(n_windows)]
    origins = [o for o in origins if o >= 1] + [T]
    return _Settings(
        h=h, m=m, origins=tuple(origins), combine=combine, cycle=cycle, use_global=use_global,
        dead_after=max(m, 2 * h) if dead_after is None else dead_after,
        min_history=max(2 * h, 6) if min_history is None else min_history,
        min_train=max(4, min(h, 2 * m)), new_window=max(m, 1) if m > 1 else max(h, 4),
    )


def _chunks(S: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, S)) for i in range(0, S, size)] or [slice(0, 0)]


def _run(panel: _Panel, classes: np.ndarray, settings: _Settings, client, chunk_size: int) -> dict[str, np.ndarray]:
    """Stages over chunks of series, locally or on a Dask client: exogenous moments → β → the global model's moments
    → its coefficients → fits; results concatenated."""
    parts = _chunks(len(panel.ids), chunk_size)
    x_of = (lambda s: None) if panel.x is None else (lambda s: panel.x[s])
    ords = panel.last_ordinal if panel.last_ordinal is not None else np.zeros(len(panel.ids), dtype=np.int64)
    n_origins = len(settings.origins)
    if client is None:
        stats = [_stage_stats(panel.y[s], x_of(s), settings.origins) for s in parts]
        betas = _solve_betas(stats, n_origins)
        moments = [_stage_global(panel.y[s], x_of(s), betas, ords[s], classes[s], settings) for s in parts] \
            if settings.use_global else []
        global_betas = _solve_global(moments, n_origins) if moments else None
        fits = [_stage_fit(panel.y[s], x_of(s), betas, global_betas, ords[s], classes[s], settings) for s in parts]
    else:
        ys = client.scatter([panel.y[s] for s in parts])
        xs = client.scatter([x_of(s) for s in parts]) if panel.x is not None else [None] * len(parts)
        stats = client.gather([client.submit(_stage_stats, yy, xx, settings.origins, pure=False)
                               for yy, xx in zip(ys, xs, strict=True)])
        betas = _solve_betas(stats, n_origins)
        moments = client.gather([client.submit(_stage_global, yy, xx, betas, ords[s], classes[s], settings,
                                               pure=False) for yy, xx, s in zip(ys, xs, parts, strict=True)]) \
            if settings.use_global else []
        global_betas = _solve_global(moments, n_origins) if moments else None
        fits = client.gather([client.submit(_stage_fit, yy, xx, betas, global_betas, ords[s], classes[s], settings,
                                            pure=False) for yy, xx, s in zip(ys, xs, parts, strict=True)])
    joined = {key: np.concatenate([f[key] for f in fits]) for key in fits[0] if key != "blend_sums"}
    joined["blend_sums"] = sum(f["blend_sums"] for f in fits)
    return _finish(joined, classes, settings)


def forecast(
    history: pd.DataFrame,
    h: int,
    freq: str,
    level: Sequence[float] | float | None = (80, 95),
    *,
    X_future: pd.DataFrame | None = None,
    season_length: int | None = None,
    n_windows: int = 3,
    step: int | None = None,
    dead_after: int | None = None,
    min_history: int | None = None,
    combine: int = 3,
    use_global: bool = True,
    client=None,
    chunk_size: int = CHUNK_SIZE,
    return_residuals: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast h periods of every series of ``history`` with the model its backtest chooses (see module doc).

    ``history``: unique_id, ds, y, optional exogenous columns (then ``X_future`` gives unique_id, ds and those
    columns for the h periods after each series' last one). ``freq``: pandas frequency of ds ("MS", "W", "D", ...);
    ``season_length`` m defaults from it (12 monthly, 52 weekly, ...). Backtest: ``n_windows`` origins ``step``
    (default h) periods apart, the last h periods before the end. ``dead_after`` periods without demand make a
    series dead (default max(m, 2h)); fewer than ``min_history`` periods (default max(2h, 6)) make it new.
    ``combine``: how many of the best candidates (by backtest MSE) are averaged (1: the best alone).
    ``use_global``: the global model as a candidate and in the per-class blend (False: the per-series selection only).
    ``client``: a dask.distributed Client to run the chunks of ``chunk_size`` series on (same results as locally).
    Returns: unique_id, ds, yhat, lo_<L>, hi_<L> per level, model, demand_class; with ``return_residuals`` also the
    chosen models' backtest errors (unique_id, window, step, error = y − ŷ), e.g. for ``reconcile``'s MinT.
    ``model``: one candidate name ("TSB", "SES+seasonal", "Global", ...), "mean(A, B, C)" for a combination,
    "<w %> Global + <selection>" for a blend, "dead", or "new:mean" (the new-item fallback); at most 64 characters.
    The blend weight of each demand class is in ``result.attrs["global_weight"]``.
    """
    levels = _levels(level)
    panel = _panel(history, freq, h, X_future)
    m = season_length_of(freq) if season_length is None else int(season_length)
    if m < 1:
        raise ValueError("season_length must be >= 1")
    settings = _settings(panel.y.shape[1], h, m, n_windows, step, dead_after, min_history, combine, _cycle(freq, m),
                         use_global)
    classes = _demand_stats(panel.y)["code"]
    fit = _run(panel, classes, settings, client, chunk_size)

    group = np.where(fit["new"], len(CLASSES), classes)  # new items calibrate on the fallback's errors
    usable = ~fit["new"] & ~fit["dead"]
    errors = np.where(usable[:, None, None], fit["scaled"], np.nan)
    calib = np.concatenate([errors, fit["scaled_new"]], axis=0)
    calib_group = np.concatenate([classes, np.full(len(classes), len(CLASSES))])
    sd = float(np.nanstd(panel.y / _naive_scale(panel.y)[:, None])) if panel.y.size else 1.0
    q = _quantiles(calib, calib_group, levels, len(CLASSES) + 1, sd if np.isfinite(sd) and sd > 0 else 1.0)

    S = len(panel.ids)
    yhat = fit["yhat"]
    out = {
        "unique_id": np.repeat(panel.ids.to_numpy(), h),
        "ds": _future_dates(panel.last_ds, h, freq).reshape(-1),
        "yhat": yhat.reshape(-1),
    }
    scale = fit["scale"][:, None]
    for i, lv in enumerate(levels):
        lo = yhat + scale * q[group, :, i, 0]
        hi = yhat + scale * q[group, :, i, 1]
        lo = np.where(fit["dead"][:, None], 0.0, np.clip(lo, 0.0, yhat))
        hi = np.where(fit["dead"][:, None], 0.0, np.maximum(hi, yhat))
        out[f"lo_{_label(lv)}"] = lo.reshape(-1)
        out[f"hi_{_label(lv)}"] = hi.reshape(-1)
    out["model"] = np.repeat(fit["model"], h)
    out["demand_class"] = np.repeat(np.asarray(CLASSES, dtype=object)[classes], h)
    result = pd.DataFrame(out)
    result.attrs["global_weight"] = {name: float(w) for name, w in zip(CLASSES, fit["weights"], strict=True)}
    if not return_residuals:
        return result
    W = fit["raw"].shape[1]
    residuals = pd.DataFrame({
        "unique_id": np.repeat(panel.ids.to_numpy(), W * h),
        "window": np.tile(np.repeat(np.arange(W), h), S),
        "step": np.tile(np.arange(1, h + 1), S * W),
        "error": fit["raw"].reshape(-1),
    })
    return result, residuals


@dataclass
class BacktestResult:
    """``forecasts``: one row per series, window and period (cutoff, ds, y, yhat, bounds, model, demand_class);
    ``errors``: one row per series and window (forecast_accuracy's columns, coverage per level);
    ``summary``: one row overall and one per demand class (wape, bias, mase, rmsse, coverage per level)."""

    forecasts: pd.DataFrame
    errors: pd.DataFrame
    summary: pd.DataFrame


def backtest(
    history: pd.DataFrame,
    h: int,
    n_windows: int,
    freq: str,
    level: Sequence[float] | float | None = (80, 95),
    *,
    step: int | None = None,
    forecaster: Callable[..., pd.DataFrame] | None = None,
    **kwargs,
) -> BacktestResult:
    """Rolling-origin evaluation of ``forecast`` (or ``forecaster``, same signature): ``n_windows`` cutoffs ``step``
    (default h) periods apart, the last one h periods before each series' end.

    Each window forecasts from the history up to its cutoff only (model choice and interval calibration included,
    so the errors and the coverage are out of sample) and compares with the next h actuals. Per series and window,
    e = ŷ − y: WAPE = Σ|e| / Σ|y|; bias = Σe / Σy; MASE = mean|e| / mean_t |y_t − y_{t−1}|;
    RMSSE = √(mean e² / mean_t (y_t − y_{t−1})²), scales over the history before the cutoff
    (``analytics.kpis.forecast_accuracy``); coverage_L = share of actuals within [lo_L, hi_L]. The summary sums
    errors and actuals over all series and windows for WAPE and bias and averages MASE and RMSSE over series-windows
    with a defined scale. Exogenous columns of ``history`` are passed to each window as ``X_future``.
    """
    levels = _levels(level)
    forecaster = forecast if forecaster is None else forecaster
    step = h if step is None else step
    data = history.copy()
    data["ds"] = pd.to_datetime(data["ds"])
    ordinal = _ordinals(data["ds"], freq)
    from_end = pd.Series(ordinal).groupby(data["unique_id"].to_numpy()).transform("max").to_numpy() - ordinal
    exog = [c for c in data.columns if c not in ("unique_id", "ds", "y")]
    rows, errors = [], []
    for w in range(n_windows):
        back = (n_windows - 1 - w) * step  # periods dropped after the window's h actuals
        train = data[from_end >= back + h]
        future = data[(from_end < back + h) & (from_end >= back)]
        if train.empty or future.empty:
            continue
        ids_kept = train["unique_id"].unique()
        future = future[future["unique_id"].isin(ids_kept)]
        x_future = future[["unique_id", "ds", *exog]] if exog else None
        fc = forecaster(train, h, freq, levels, X_future=x_future, **kwargs)
        merged = fc.merge(future[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
        cutoff = train.groupby("unique_id")["ds"].max().rename("cutoff")
        merged = merged.merge(cutoff, left_on="unique_id", right_index=True).assign(window=w)
        acc = forecast_accuracy(merged, train[["unique_id", "ds", "y"]], by=("unique_id",))
        inside = {f"covered_{_label(lv)}": ((merged["y"] >= merged[f"lo_{_label(lv)}"] - 1e-9)
                                             & (merged["y"] <= merged[f"hi_{_label(lv)}"] + 1e-9)).astype(np.int64)
                  for lv in levels}
        cover = pd.DataFrame(inside).groupby(merged["unique_id"].to_numpy()).sum().rename_axis("unique_id")
        meta = merged.groupby("unique_id").agg(model=("model", "first"), demand_class=("demand_class", "first"),
                                               cutoff=("cutoff", "first"))
        errors.append(acc.merge(meta, on="unique_id").merge(cover, on="unique_id", how="left").assign(window=w))
        rows.append(merged)
    if not rows:
        raise ValueError("no series is long enough for a backtest window")
    forecasts = pd.concat(rows, ignore_index=True)
    per_series = pd.concat(errors, ignore_index=True)
    for lv in levels:
        lab = _label(lv)
        per_series[f"coverage_{lab}"] = per_series[f"covered_{lab}"] / per_series["observations"]
    summary = pd.concat([_summarise(per_series, levels).assign(demand_class="all"),
                         *(_summarise(part, levels).assign(demand_class=name)
                           for name, part in per_series.groupby("demand_class", sort=True))], ignore_index=True)
    first = ["window", "cutoff", "unique_id", "model", "demand_class"]
    per_series = per_series[first + [c for c in per_series.columns if c not in first]]
    return BacktestResult(forecasts=forecasts, errors=per_series, summary=summary)


def _summarise(per_series: pd.DataFrame, levels: Sequence[float]) -> pd.DataFrame:
    """One row: series-windows, WAPE and bias from summed errors, mean MASE and RMSSE, coverage per level."""
    row = {
        "series_windows": len(per_series),
        "observations": int(per_series["observations"].sum()),
        "wape": per_series["abs_error"].sum() / per_series["abs_actual"].sum()
        if per_series["abs_actual"].sum() else np.nan,
        "bias": per_series["error"].sum() / per_series["actual"].sum() if per_series["actual"].sum() else np.nan,
        "mase": per_series["mase"].mean(),
        "rmsse": per_series["rmsse"].mean(),
    }
    for lv in levels:
        lab = _label(lv)
        row[f"coverage_{lab}"] = per_series[f"covered_{lab}"].sum() / per_series["observations"].sum()
    return pd.DataFrame([row])


# --- hierarchy ------------------------------------------------------------------------------------------------------


def _nodes(hierarchy: pd.DataFrame, levels: Sequence[Sequence[str]] | None) -> tuple[list[str], np.ndarray, list]:
    """Node ids (aggregates first, then the bottom ids) and the summing matrix S (nodes × bottom series)."""
    if "unique_id" not in hierarchy.columns:
        raise ValueError("hierarchy frame needs a unique_id column (the bottom series)")
    if hierarchy["unique_id"].duplicated().any():
        raise ValueError("hierarchy frame has duplicated unique_id")
    columns = [c for c in hierarchy.columns if c != "unique_id"]
    levels = [[], *([c] for c in columns)] if levels is None else [list(lv) for lv in levels]
    bottom = hierarchy["unique_id"].tolist()
    names: list[str] = []
    rows = []
    for keys in levels:
        if not keys:
            names.append("total")
            rows.append(np.ones(len(bottom)))
            continue
        label = hierarchy[keys].astype(str).apply(lambda r, k=keys: "/".join(f"{c}={v}" for c, v in zip(k, r,
                                                                                                        strict=True)),
                                                  axis=1)
        for value in sorted(label.unique()):
            names.append(value)
            rows.append((label == value).to_numpy(dtype=float))
    return names + bottom, np.vstack([*rows, np.eye(len(bottom))]), bottom


def aggregate(history: pd.DataFrame, hierarchy: pd.DataFrame,
              levels: Sequence[Sequence[str]] | None = None) -> pd.DataFrame:
    """History of every node of a hierarchy: bottom series plus their sums (unique_id, ds, y).

    ``hierarchy``: one row per bottom series, ``unique_id`` and its level columns (e.g. category, location).
    ``levels``: lists of columns to sum by; default the total and each column alone. Aggregate ids are "total"
    and "col=value" (several columns joined by "/"). Exogenous columns are not carried up.
    """
    names, S, bottom = _nodes(hierarchy, levels)
    data = history[history["unique_id"].isin(bottom)][["unique_id", "ds", "y"]]
    wide = data.pivot_table(index="unique_id", columns="ds", values="y", aggfunc="sum").reindex(bottom)
    present = wide.notna().to_numpy()
    values = np.nan_to_num(wide.to_numpy())
    n_aggregates = len(names) - len(bottom)
    sums = S[:n_aggregates] @ values
    seen = (S[:n_aggregates] @ present) > 0
    agg = pd.DataFrame(sums, index=names[:n_aggregates], columns=wide.columns).where(seen)
    agg = agg.rename_axis("unique_id").reset_index().melt(id_vars="unique_id", var_name="ds", value_name="y")
    agg = agg.dropna(subset=["y"]).astype({"ds": data["ds"].dtype})
    return pd.concat([agg, data], ignore_index=True).sort_values(["unique_id", "ds"], kind="stable",
                                                                 key=lambda c: c.astype(str)).reset_index(drop=True)


def _shrunk_covariance(residuals: np.ndarray) -> np.ndarray:
    """Schäfer–Strimmer shrinkage of the residual covariance towards its diagonal (as in MinT-shrink).

    Ŵ = E'E/N (errors assumed mean zero); λ = Σ_{i≠j} Var(r_ij) / Σ_{i≠j} r_ij² on the correlations r, clipped to
    [0, 1]; W = λ diag(Ŵ) + (1 − λ) Ŵ.
    """
    E = np.nan_to_num(residuals)
    N = E.shape[0]
    cov = E.T @ E / max(N, 1)
    sd = np.sqrt(np.diag(cov))
    sd = np.where(sd > 0, sd, 1.0)
    Xs = E / sd
    r = Xs.T @ Xs / max(N, 1)
    squares = Xs * Xs
    var_r = N / max(N - 1, 1) ** 3 * (squares.T @ squares - N * r * r)
    off = ~np.eye(len(r), dtype=bool)
    denom = float((r[off] ** 2).sum())
    lam = float(np.clip(var_r[off].sum() / denom, 0.0, 1.0)) if denom > 0 else 1.0
    return lam * np.diag(np.diag(cov)) + (1 - lam) * cov


def reconcile(forecasts: pd.DataFrame, hierarchy: pd.DataFrame, method: str = "mint_shrink", *,
              residuals: pd.DataFrame | None = None, levels: Sequence[Sequence[str]] | None = None,
              nonnegative: bool = True) -> pd.DataFrame:
    """Coherent forecasts: every aggregate equals the sum of its bottom series (to floating-point precision).

    ``forecasts`` (``forecast``'s output) holds every node of ``aggregate``'s hierarchy (only the bottom ones for
    bottom_up). With ŷ the base forecasts of all nodes and S the summing matrix: ỹ = S (S'W⁻¹S)⁻¹ S'W⁻¹ ŷ
    (Wickramasuriya, Athanasopoulos & Hyndman 2019), W = I ("ols"), diag(S·1) ("wls_struct"), the shrunk covariance
    of ``residuals`` (``forecast(..., return_residuals=True)``; "mint_shrink"); "bottom_up": ỹ = S ŷ_bottom.
    With ``nonnegative`` negative bottom values become 0 and the aggregates are summed again. Interval bounds move
    with their point forecast (ỹ − ŷ added, bounds kept ≥ 0 and around ỹ); an aggregate that bottom_up adds without
    a base forecast has NaN bounds (quantiles do not add up).
    """
    names, S, bottom = _nodes(hierarchy, levels)
    wide = forecasts.pivot_table(index="unique_id", columns="ds", values="yhat", aggfunc="first")
    if method == "bottom_up":
        lacking = [b for b in bottom if b not in wide.index]
        if lacking:
            raise ValueError(f"forecasts lack {len(lacking)} bottom series, e.g. {lacking[:3]}")
        bottom_fc = wide.reindex(bottom).to_numpy()
    else:
        lacking = [n for n in names if n not in wide.index]
        if lacking:
            raise ValueError(f"forecasts lack {len(lacking)} node(s) of the hierarchy, e.g. {lacking[:3]}")
        base = wide.reindex(names).to_numpy()
        if method == "ols":
            weights = np.ones(len(names))
            P = _projection_diag(S, weights)
        elif method == "wls_struct":
            P = _projection_diag(S, S.sum(axis=1))
        elif method == "mint_shrink":
            if residuals is None:
                raise ValueError("mint_shrink needs the base forecasts' residuals (forecast(return_residuals=True))")
            E = residuals.pivot_table(index=["window", "step"], columns="unique_id", values="error",
                                      aggfunc="first").reindex(columns=names)
            W = _shrunk_covariance(E.to_numpy())
            W = W + 1e-9 * max(float(np.trace(W)) / len(W), 1e-12) * np.eye(len(W))
            WiS = np.linalg.solve(W, S)
            P = np.linalg.solve(S.T @ WiS, WiS.T)
        else:
            raise ValueError(f"unknown method {method!r}: bottom_up, ols, wls_struct or mint_shrink")
        bottom_fc = P @ np.nan_to_num(base)
    if nonnegative:
        bottom_fc = np.maximum(bottom_fc, 0.0)
    coherent = pd.DataFrame(S @ bottom_fc, index=names, columns=wide.columns)
    long = coherent.rename_axis("unique_id").reset_index().melt(id_vars="unique_id", var_name="ds",
                                                                 value_name="reconciled")
    long["ds"] = long["ds"].astype(forecasts["ds"].dtype)
    out = forecasts.merge(long, on=["unique_id", "ds"], how="inner" if method != "bottom_up" else "right")
    shift = out["reconciled"] - out["yhat"]  # NaN for a node without a base forecast (bottom_up): no bounds
    for column in out.columns:
        if column.startswith("lo_"):
            out[column] = np.minimum(np.maximum(out[column] + shift, 0.0), out["reconciled"])
        elif column.startswith("hi_"):
            out[column] = np.maximum(out[column] + shift, out["reconciled"])
    out["yhat"] = out.pop("reconciled")
    return out


def _projection_diag(S: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(S'W⁻¹S)⁻¹ S'W⁻¹ for a diagonal W = diag(weights)."""
    WiS = S / weights[:, None]
    return np.linalg.solve(S.T @ WiS, WiS.T)
