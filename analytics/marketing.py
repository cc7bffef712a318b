"""Marketing metrics: NPS, retention after backorders, and feedback sentiment (pure functions on frames).

The data layer (``data_access.marketing_reads``) counts in the database; these functions turn the counts into
rates, so every rate here carries its numerator and denominator and re-aggregates correctly (sum the counts,
then divide). Definitions, each repeated in its function's docstring:

- **NPS** = 100 × (promoters − detractors) / responses, promoters scoring 9–10, detractors 0–6, responses the
  feedback rows with a score; from −100 to +100, undefined (NaN) without responses.
- **Backorder** (DESIGN.md): an order line not shipped in full by its requested date, judged once the line is due.
- **Retention after period P** (month or quarter): of the customers who ordered in P, the share who order again
  within N days after P ends; split by whether they experienced a backorder on the lines they ordered in P.
- **Sentiment**: VADER's compound score of the comment (−1 … +1), positive ≥ 0.05, negative ≤ −0.05,
  neutral between (the thresholds VADER's authors recommend).

No streamlit and no SQL here (see ../shared/DESIGN.md, layers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

#: NPS bands: a score of 9 or 10 is a promoter, 0 to 6 a detractor, 7 and 8 passive.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
BANDS = ("detractor", "passive", "promoter")
#: The counts every NPS frame carries (``nps_table`` sums them, then divides).
COUNT_COLUMNS = ("responses", "promoters", "passives", "detractors")
#: Activity per customer and month, as ``data_access.marketing_reads.customer_activity`` returns it.
ACTIVITY_COLUMNS = ("customer_id", "month", "first_order", "orders", "lines", "backordered_lines",
                    "backordered_orders")
#: Backorder counts at or above this share one bucket ("5+") in the charts by number of backorders.
BUCKET_CAP = 5

#: VADER's recommended cut-offs on the compound score.
SENTIMENT_THRESHOLD = 0.05
SENTIMENTS = ("negative", "neutral", "positive")
#: Fulfilment words VADER's general lexicon does not score, on its −4 … +4 valence scale, set next to the
#: closest words it has ("delay" −1.3, "missing" −1.2, "shortage" −1.0, "helpful" +1.8), so that "items were
#: backordered" or "arrived late and incomplete" read as the complaints they are.
DOMAIN_LEXICON: Mapping[str, float] = {
    "backorder": -1.5, "backordered": -1.5, "backorders": -1.5, "late": -1.3, "incomplete": -1.2,
    "unreliable": -1.8, "slow": -1.0, "reliable": 1.5, "punctual": 1.3, "prompt": 1.0, "fast": 1.0, "quick": 1.0,
}


# --- NPS ----------------------------------------------------------------------------------------------------------


def nps_band(scores: pd.Series | Iterable[float]) -> pd.Series:
    """The NPS band of each score: ``promoter`` (9–10), ``passive`` (7–8), ``detractor`` (0–6); None when
    the score is missing."""
    scores = pd.Series(scores, dtype=float)
    band = np.select([scores >= PROMOTER_MIN, scores > DETRACTOR_MAX, scores >= 0],
                     ["promoter", "passive", "detractor"], default=None)
    return pd.Series(band, index=scores.index, dtype=object)


def nps(scores: pd.Series | Iterable[float]) -> float:
    """Net Promoter Score of raw 0–10 scores.

    NPS = 100 × (promoters − detractors) / responses, promoters = scores 9–10, detractors = scores 0–6,
    responses = the scores given (missing ones left out); NaN without responses.
    """
    bands = nps_band(scores).dropna()
    if bands.empty:
        return float("nan")
    return 100.0 * ((bands == "promoter").sum() - (bands == "detractor").sum()) / len(bands)


def _with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with nps, promoter_share and detractor_share computed from its counts."""
    responses = frame["responses"].astype(float).where(frame["responses"] > 0)
    frame["nps"] = 100.0 * (frame["promoters"] - frame["detractors"]) / responses
    frame["promoter_share"] = frame["promoters"] / responses
    frame["detractor_share"] = frame["detractors"] / responses
    return frame


def nps_table(counts: pd.DataFrame, by: Sequence[str] = (), freq: str | None = None) -> pd.DataFrame:
    """NPS per group from response counts.

    ``counts`` has the ``COUNT_COLUMNS`` (responses, promoters, passives, detractors) per row, and a
    ``month`` column (first day of the month) when ``freq`` (``"M"`` or ``"Q"``) is given. The counts are
    summed per ``by`` group (and ``period``, the first day of the month or quarter), then
    NPS = 100 × (Σ promoters − Σ detractors) / Σ responses, promoter_share = Σ promoters / Σ responses,
    detractor_share = Σ detractors / Σ responses (NaN without responses). Without ``by`` and ``freq``: one row.
    """
    frame = counts.copy()
    keys = list(by)
    if freq is not None:
        frame["period"] = pd.to_datetime(frame["month"]).dt.to_period(freq).dt.start_time
        keys.append("period")
    columns = list(COUNT_COLUMNS)
    if keys:
        summed = frame.groupby(keys, as_index=False, dropna=False, observed=True)[columns].sum()
    else:
        summed = pd.DataFrame([frame[columns].sum()]) if len(frame) else pd.DataFrame([dict.fromkeys(columns, 0)])
    summed[columns] = summed[columns].astype("int64")
    return _with_rates(summed).sort_values(keys).reset_index(drop=True) if keys else _with_rates(summed)


def latest_change(table: pd.DataFrame, column: str = "nps") -> tuple[pd.Timestamp | None, float, float]:
    """The last period of a per-period table, its ``column`` value and the change against the period before
    (NaN when there is no period before or either value is undefined)."""
    if table.empty:
        return None, float("nan"), float("nan")
    ordered = table.sort_values("period")
    last = float(ordered[column].iloc[-1])
    before = float(ordered[column].iloc[-2]) if len(ordered) > 1 else float("nan")
    return ordered["period"].iloc[-1], last, last - before


# --- backorders against retention ---------------------------------------------------------------------------------


def backorder_bucket(counts: pd.Series, cap: int = BUCKET_CAP) -> pd.Series:
    """Backorder counts as ordered labels "0", "1", …, "``cap``+" (counts at or above ``cap`` share the last)."""
    labels = [str(i) for i in range(cap)] + [f"{cap}+"]
    clipped = pd.Series(counts, dtype=float).fillna(0).clip(upper=cap).astype(int)
    return pd.Series(pd.Categorical([labels[i] for i in clipped], categories=labels, ordered=True),
                     index=clipped.index)


#: Bands of orders a customer placed in a period, to compare retention like with like (a customer who orders
#: more often has more chances both to meet a backorder and to order again).
ORDER_BANDS = ("1", "2–3", "4–9", "10+")


def order_band(orders: pd.Series) -> pd.Series:
    """Orders in a period as ordered labels: "1", "2–3", "4–9", "10+" (``ORDER_BANDS``; 0 or less: missing)."""
    return pd.cut(pd.Series(orders, dtype=float), bins=[0, 1, 3, 9, np.inf], labels=list(ORDER_BANDS))


def _period_end(period_start: pd.Series, freq: str) -> pd.Series:
    """The last day of each month or quarter starting on ``period_start``."""
    return period_start.dt.to_period(freq).dt.end_time.dt.normalize()


def retention_cohorts(activity: pd.DataFrame, as_of: dt.date, horizon_days: int = 90,
                      freq: str = "M") -> pd.DataFrame:
    """One row per customer and period P (month ``"M"`` or quarter ``"Q"``) in which the customer ordered, with
    whether the customer experienced a backorder in P and whether they ordered again within ``horizon_days``.

    ``activity`` has one row per customer and month (``ACTIVITY_COLUMNS``): ``first_order`` = the first order
    date of the month over all the customer's lines, ``orders``/``lines`` = the orders and lines in scope (e.g.
    of a product category), ``backordered_lines``/``backordered_orders`` = those in scope not shipped in full
    by their requested date. With P = [s, e]:

    - the customer is *in the cohort of P* when orders(P) > 0;
    - *experienced a backorder* when backordered_lines(P) > 0 (lines ordered in P, due by ``as_of``);
    - *retained* when the customer placed any order with e < order date ≤ e + N, N = ``horizon_days``
      (the first order of the next month or quarter in which the customer ordered anything);
    - only periods with e + N ≤ ``as_of`` are returned: later ones cannot be judged yet.

    Retention rate of a group = Σ retained / Σ customer-periods (``retention_summary``).
    """
    missing = set(ACTIVITY_COLUMNS) - set(activity.columns)
    if missing:
        raise ValueError(f"activity lacks columns {sorted(missing)}")
    columns = ["customer_id", "period", "period_end", "orders", "lines", "backordered_lines", "backordered_orders",
               "experienced_backorder", "next_order", "days_to_next_order", "retained"]
    if activity.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame = activity.assign(month=pd.to_datetime(activity["month"]), first_order=pd.to_datetime(activity["first_order"]))
    frame["period"] = frame["month"].dt.to_period(freq).dt.start_time
    counted = ["orders", "lines", "backordered_lines", "backordered_orders"]
    per = frame.groupby(["customer_id", "period"], as_index=False).agg(
        first_order=("first_order", "min"), **{c: (c, "sum") for c in counted})
    per = per.sort_values(["customer_id", "period"])
    per["next_order"] = per.groupby("customer_id")["first_order"].shift(-1)
    per["period_end"] = _period_end(per["period"], freq)
    horizon = pd.Timedelta(days=horizon_days)
    mature = per["period_end"] + horizon <= pd.Timestamp(as_of)
    per = per[mature & (per["orders"] > 0)].copy()
    per["experienced_backorder"] = per["backordered_lines"] > 0
    per["days_to_next_order"] = (per["next_order"] - per["period_end"]).dt.days
    per["retained"] = per["next_order"].notna() & (per["next_order"] <= per["period_end"] + horizon)
    return per[columns].reset_index(drop=True)


def retention_summary(cohorts: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Retention per group of customer-periods (``retention_cohorts`` rows).

    customer_periods = rows in the group, retained = Σ retained, retention_rate = retained / customer_periods
    (NaN for an empty group); customers = distinct customers in the group. Without ``by``: one row.
    """
    keys = list(by)
    frame = cohorts.assign(retained=cohorts["retained"].astype(bool))
    if keys:
        out = frame.groupby(keys, as_index=False, dropna=False, observed=True).agg(
            customer_periods=("customer_id", "size"), customers=("customer_id", "nunique"),
            retained=("retained", "sum"))
    else:
        out = pd.DataFrame([{"customer_periods": len(frame), "customers": frame["customer_id"].nunique(),
                             "retained": int(frame["retained"].sum())}])
    out["retained"] = out["retained"].astype("int64")
    out["retention_rate"] = out["retained"] / out["customer_periods"].where(out["customer_periods"] > 0)
    return out.sort_values(keys).reset_index(drop=True) if keys else out


def customer_backorders_and_feedback(activity: pd.DataFrame, feedback: pd.DataFrame,
                                     cap: int = BUCKET_CAP) -> pd.DataFrame:
    """One row per customer who gave feedback: their backorders over the window and their response counts.

    ``activity``: per customer and month (``ACTIVITY_COLUMNS``); ``feedback``: per customer the
    ``COUNT_COLUMNS`` over the same window. backordered_orders = Σ over the window of the customer's orders with
    a line not shipped in full by its requested date (0 for a customer without orders in it);
    experienced_backorder = backordered_orders > 0; backorder_bucket = ``backorder_bucket(backordered_orders)``.
    Feed it to ``nps_table(…, by=["experienced_backorder"])`` or ``by=["backorder_bucket"]``.
    """
    totals = activity.groupby("customer_id", as_index=False)[["orders", "backordered_orders"]].sum()
    out = feedback.merge(totals, on="customer_id", how="left")
    out[["orders", "backordered_orders"]] = out[["orders", "backordered_orders"]].fillna(0).astype("int64")
    out["experienced_backorder"] = out["backordered_orders"] > 0
    out["backorder_bucket"] = backorder_bucket(out["backordered_orders"], cap)
    return out


# --- feedback sentiment -------------------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _analyzer(domain_terms: bool):
    """A VADER analyzer (its lexicon ships with the package), with ``DOMAIN_LEXICON`` added when asked."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    if domain_terms:
        analyzer.lexicon.update(DOMAIN_LEXICON)
    return analyzer


def sentiment_scores(texts: pd.Series | Iterable[str | None], domain_terms: bool = True) -> pd.Series:
    """VADER's compound score of each text, from −1 (most negative) to +1 (most positive).

    compound = s / √(s² + 15), s = the sum of the valences (−4 … +4) of the text's lexicon words after VADER's
    rules (negation, intensifiers, "but", capitals, punctuation). ``domain_terms`` adds ``DOMAIN_LEXICON``.
    Empty or missing texts score NaN. Each distinct text is scored once.
    """
    texts = pd.Series(texts, dtype=object)
    cleaned = texts.where(texts.notna(), "").astype(str).str.strip()
    analyzer = _analyzer(domain_terms)
    distinct = {text: analyzer.polarity_scores(text)["compound"] for text in cleaned.unique() if text}
    return cleaned.map(distinct).astype(float)


def sentiment_label(compound: pd.Series | Iterable[float]) -> pd.Series:
    """``positive`` when compound ≥ 0.05, ``negative`` when compound ≤ −0.05, else ``neutral``; None when the
    score is missing (``SENTIMENT_THRESHOLD``)."""
    compound = pd.Series(compound, dtype=float)
    label = np.select([compound >= SENTIMENT_THRESHOLD, compound <= -SENTIMENT_THRESHOLD, compound.notna()],
                      ["positive", "negative", "neutral"], default=None)
    return pd.Series(label, index=compound.index, dtype=object)


def score_feedback(feedback: pd.DataFrame, domain_terms: bool = True) -> pd.DataFrame:
    """``feedback`` (with ``text`` and ``nps_score``) plus ``compound``, ``sentiment`` and ``nps_band``; rows
    without text keep a NaN score."""
    out = feedback.copy()
    out["compound"] = sentiment_scores(out["text"], domain_terms).to_numpy()
    out["sentiment"] = sentiment_label(out["compound"]).to_numpy()
    out["nps_band"] = nps_band(out["nps_score"]).to_numpy()
    return out


def sentiment_by_score(scored: pd.DataFrame) -> pd.DataFrame:
    """Sentiment per NPS score 0–10 (scored comments only): comments, mean_compound = mean compound score,
    negative_share = comments labelled negative / comments, positive_share likewise, and the score's band."""
    rows = scored.dropna(subset=["compound", "nps_score"])
    out = rows.groupby("nps_score", as_index=False).agg(
        comments=("compound", "size"), mean_compound=("compound", "mean"),
        negative_share=("sentiment", lambda s: float((s == "negative").mean())),
        positive_share=("sentiment", lambda s: float((s == "positive").mean())))
    out["nps_score"] = out["nps_score"].astype(int)
    out["nps_band"] = nps_band(out["nps_score"]).to_numpy()
    return out


def sentiment_distribution(scored: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Comments per sentiment label (and ``by`` group) with their share of the group's scored comments."""
    rows = scored.dropna(subset=["compound"])
    keys = [*by, "sentiment"]
    out = rows.groupby(keys, as_index=False, dropna=False).size().rename(columns={"size": "comments"})
    totals = out.groupby(list(by), dropna=False)["comments"].transform("sum") if by else out["comments"].sum()
    out["share"] = out["comments"] / totals
    return out


def most_negative(scored: pd.DataFrame, since: dt.date | None = None, limit: int = 50) -> pd.DataFrame:
    """The ``limit`` most negative scored comments given on or after ``since``: lowest compound first, then the
    newest, then the lowest NPS score."""
    rows = scored.dropna(subset=["compound"])
    if since is not None:
        rows = rows[pd.to_datetime(rows["feedback_date"]) >= pd.Timestamp(since)]
    rows = rows.assign(_date=pd.to_datetime(rows["feedback_date"]))
    rows = rows.sort_values(["compound", "_date", "nps_score"], ascending=[True, False, True], na_position="last")
    return rows.drop(columns="_date").head(limit).reset_index(drop=True)


def themes(texts: pd.Series, others: pd.Series | None = None, top: int = 15,
           ngram_range: tuple[int, int] = (1, 2)) -> pd.DataFrame:
    """The words and two-word phrases that mark ``texts`` (e.g. detractors' comments).

    Terms: scikit-learn's ``CountVectorizer`` (lower case, English stop words dropped, words of two or more
    letters, ``ngram_range``). comments = texts containing the term (each text counts once), share = comments /
    texts. Without ``others``: the ``top`` terms by comments. With ``others`` (e.g. everyone else's comments):
    other_share = share of ``others`` containing the term, difference = share − other_share (how much more often
    the term comes up in ``texts``), and the ``top`` terms with difference > 0, largest difference first (a word
    everyone uses, like "order", sinks). Ties: more comments first, then alphabetical. Empty when no text has a
    term.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    columns = ["term", "comments", "share", *(["other_share", "difference"] if others is not None else [])]
    empty = pd.DataFrame({c: pd.Series(dtype=object if c == "term" else float) for c in columns})
    texts = pd.Series(texts, dtype=object).dropna().astype(str)
    texts = texts[texts.str.strip() != ""]
    if texts.empty:
        return empty
    vectorizer = CountVectorizer(stop_words="english", ngram_range=ngram_range, binary=True)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # only stop words: no vocabulary
        return empty
    out = pd.DataFrame({"term": vectorizer.get_feature_names_out(),
                        "comments": np.asarray(matrix.sum(axis=0)).ravel().astype("int64")})
    out["share"] = out["comments"] / len(texts)
    order = ["comments", "term"]
    if others is not None:
        other = pd.Series(others, dtype=object).dropna().astype(str)
        other = other[other.str.strip() != ""]
        present = np.asarray(vectorizer.transform(other).sum(axis=0)).ravel() if len(other) else 0
        out["other_share"] = present / len(other) if len(other) else 0.0
        out["difference"] = out["share"] - out["other_share"]
        out = out[out["difference"] > 0]
        order = ["difference", *order]
    ascending = [False] * (len(order) - 1) + [True]
    return out.sort_values(order, ascending=ascending).head(top).reset_index(drop=True)[columns]
