"""Reads of the Marketing view: feedback counted for NPS, customers' monthly orders and backorders, comments.

The counting runs in the database (GROUP BY), so the view reads thousands of rows, not millions of order lines:
NPS responses per month, customer segment, tier, region and whether the order the feedback is about had a
backorder; orders and backorders per customer and month; responses per customer. Only the comments themselves
(for the sentiment scoring) come row by row, and only those of the window.

A line is *backordered* when it is due (requested on or before ``as_of``) and was not shipped in full by its
requested date (shipped by requested < ordered), as in ``data_access.queries.backorder_counts``. The shipped
quantity by the requested date comes from the derived line state (``data_access.derived``) when it is current,
else from the shipments themselves (slower, same figures). The rates are in ``analytics.marketing``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, Date, Engine, bindparam, text

from data_access import derived
from data_access.frames import read_frame

#: What the feedback's order tells: it had a backordered line, it had none, or there is no order to judge
#: (no order number, an unknown one, or, with a category filter, no line of those categories).
ORDER_BACKORDERED, ORDER_ON_TIME, ORDER_NONE = "backordered", "no backorder", "no order"
#: Shown for a customer without a segment, tier or region.
NOT_SET = "(not set)"
_DIMENSIONS = ("segment", "tier", "region")

#: Per order line: order, customer, product, dates, quantity and the quantity shipped by its requested date.
_LINES_DERIVED = """(
    SELECT st.order_no, l.customer_id, st.product_id, st.order_date, st.requested_date, st.qty_ordered,
           st.shipped_by_requested
      FROM fact_order_line_state st JOIN fact_sales_order_line l ON l.id = st.sales_order_line_id
)"""
_LINES_FACTS = """(
    SELECT l.order_no, l.customer_id, l.product_id, l.order_date, l.requested_date, l.qty_ordered,
           COALESCE((SELECT SUM(sh.qty) FROM fact_shipment sh
                      WHERE sh.order_line_id = l.id AND sh.ship_date <= l.requested_date), 0) AS shipped_by_requested
      FROM fact_sales_order_line l
)"""
#: The line ``x`` is backordered as of ``:as_of``.
_SHORT = "(x.requested_date <= :as_of AND x.shipped_by_requested < x.qty_ordered - 1e-9)"
_BANDS = """COUNT(*) AS responses,
       SUM(CASE WHEN f.nps_score >= 9 THEN 1 ELSE 0 END) AS promoters,
       SUM(CASE WHEN f.nps_score BETWEEN 7 AND 8 THEN 1 ELSE 0 END) AS passives,
       SUM(CASE WHEN f.nps_score <= 6 THEN 1 ELSE 0 END) AS detractors"""


def _month(connection: Connection, column: str) -> str:
    """The ``YYYY-MM`` text of a date column in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return f"TO_CHAR({column}, 'YYYY-MM')"
    return f"SUBSTR({column}, 1, 7)"


def _lines(connection: Connection, use_derived: bool | None) -> str:
    """The order line source: the derived state when current (or asked for), else the facts."""
    if use_derived is None:
        use_derived = derived.is_current(connection)
    return _LINES_DERIVED if use_derived else _LINES_FACTS


def _statement(sql: str, categories: Sequence[str] | None = None):
    """``sql`` with its date parameters typed and the category list expanded."""
    binds = [bindparam(name, type_=Date) for name in ("since", "as_of") if f":{name}" in sql]
    if categories:
        binds.append(bindparam("categories", expanding=True))
    return text(sql).bindparams(*binds)


def _category_scope(categories: Sequence[str] | None) -> tuple[str, str]:
    """(join, condition) restricting lines ``x`` to the given product categories (none: every line)."""
    if not categories:
        return "", "1 = 1"
    return "JOIN dim_product p ON p.id = x.product_id", "p.category IN :categories"


def _order_flags(lines: str, categories: Sequence[str] | None) -> str:
    """Per order of the window's feedback: backordered = 1 when one of its lines (of ``categories``) is."""
    join, scope = _category_scope(categories)
    return f"""(
        SELECT x.order_no, MAX(CASE WHEN {_SHORT} THEN 1 ELSE 0 END) AS backordered
          FROM {lines} x {join}
         WHERE {scope} AND x.order_date <= :as_of
           AND x.order_no IN (SELECT order_no FROM fact_customer_feedback
                               WHERE feedback_date >= :since AND feedback_date <= :as_of AND order_no IS NOT NULL)
         GROUP BY x.order_no
    )"""


def _order_link() -> str:
    return (f"CASE WHEN o.order_no IS NULL THEN '{ORDER_NONE}' WHEN o.backordered = 1 THEN '{ORDER_BACKORDERED}' "
            f"ELSE '{ORDER_ON_TIME}' END")


def _dimensions(frame: pd.DataFrame) -> pd.DataFrame:
    for name in _DIMENSIONS:
        if name in frame:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), NOT_SET)
    return frame


def _month_start(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype(str) + "-01")


def feedback_nps_counts(engine: Engine, since: dt.date, as_of: dt.date, categories: Sequence[str] | None = None,
                        use_derived: bool | None = None) -> pd.DataFrame:
    """NPS responses given from ``since`` to ``as_of`` counted per month, customer segment, tier, region and
    ``order_link`` (``ORDER_BACKORDERED``, ``ORDER_ON_TIME``, ``ORDER_NONE``: whether the order the feedback is
    about had a line backordered as of ``as_of``, of ``categories`` when given).

    Columns: month (first day), segment, tier, region, order_link, responses (feedback with a score), promoters
    (9–10), passives (7–8), detractors (0–6). Feedback without a score is not a response.
    """
    with engine.connect() as connection:
        lines = _lines(connection, use_derived)
        sql = f"""
        SELECT {_month(connection, "f.feedback_date")} AS month, c.segment, c.tier, c.region, {_order_link()} AS order_link,
               {_BANDS}
          FROM fact_customer_feedback f
          JOIN dim_customer c ON c.id = f.customer_id
          LEFT JOIN {_order_flags(lines, categories)} o ON o.order_no = f.order_no
         WHERE f.feedback_date >= :since AND f.feedback_date <= :as_of AND f.nps_score IS NOT NULL
         GROUP BY 1, 2, 3, 4, 5
         ORDER BY 1, 2, 3, 4, 5
        """
        params = {"since": since, "as_of": as_of, **({"categories": list(categories)} if categories else {})}
        rows = connection.execute(_statement(sql, categories), params).all()
    columns = ["month", "segment", "tier", "region", "order_link", "responses", "promoters", "passives", "detractors"]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    frame["month"] = _month_start(frame["month"])
    frame[columns[5:]] = frame[columns[5:]].fillna(0).astype("int64")
    return _dimensions(frame)


def customer_activity(engine: Engine, since: dt.date, as_of: dt.date, categories: Sequence[str] | None = None,
                      use_derived: bool | None = None) -> pd.DataFrame:
    """Orders and backorders per customer and month of the order date, for orders placed from ``since`` to
    ``as_of`` (the ``analytics.marketing.ACTIVITY_COLUMNS`` contract).

    first_order = the first order date of the month over all the customer's lines (any category: when the
    customer came back); orders, lines = the customer's orders and lines in scope (of ``categories`` when given,
    else all); backordered_lines = lines in scope due by ``as_of`` and not shipped in full by their requested
    date; backordered_orders = orders with such a line. One GROUP BY in the database.
    """
    with engine.connect() as connection:
        lines = _lines(connection, use_derived)
        join, scope = _category_scope(categories)
        join = join.replace("JOIN", "LEFT JOIN")
        sql = f"""
        SELECT x.customer_id, {_month(connection, "x.order_date")} AS month, MIN(x.order_date) AS first_order,
               COUNT(DISTINCT CASE WHEN {scope} THEN x.order_no END) AS orders,
               SUM(CASE WHEN {scope} THEN 1 ELSE 0 END) AS lines,
               SUM(CASE WHEN {scope} AND {_SHORT} THEN 1 ELSE 0 END) AS backordered_lines,
               COUNT(DISTINCT CASE WHEN {scope} AND {_SHORT} THEN x.order_no END) AS backordered_orders
          FROM {lines} x {join}
         WHERE x.order_date >= :since AND x.order_date <= :as_of
         GROUP BY 1, 2
         ORDER BY 1, 2
        """
        params = {"since": since, "as_of": as_of, **({"categories": list(categories)} if categories else {})}
        rows = connection.execute(_statement(sql, categories), params).all()
    columns = ["customer_id", "month", "first_order", "orders", "lines", "backordered_lines", "backordered_orders"]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    frame["month"] = _month_start(frame["month"])
    frame["first_order"] = pd.to_datetime(frame["first_order"])
    counted = ["customer_id", "orders", "lines", "backordered_lines", "backordered_orders"]
    frame[counted] = frame[counted].fillna(0).astype("int64")
    return frame


def customer_feedback_counts(engine: Engine, since: dt.date, as_of: dt.date) -> pd.DataFrame:
    """NPS responses per customer given from ``since`` to ``as_of``: customer_id, responses, promoters (9–10),
    passives (7–8), detractors (0–6)."""
    sql = f"""
    SELECT f.customer_id, {_BANDS}
      FROM fact_customer_feedback f
     WHERE f.feedback_date >= :since AND f.feedback_date <= :as_of AND f.nps_score IS NOT NULL
     GROUP BY f.customer_id
     ORDER BY f.customer_id
    """
    with engine.connect() as connection:
        rows = connection.execute(_statement(sql), {"since": since, "as_of": as_of}).all()
    columns = ["customer_id", "responses", "promoters", "passives", "detractors"]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    return frame.fillna(0).astype("int64")


COMMENT_COLUMNS = ["feedback_no", "feedback_date", "customer_id", "customer", "customer_name", "segment", "tier",
                   "region", "nps_score", "text", "order_no", "order_link"]


def feedback_comments(engine: Engine, since: dt.date, as_of: dt.date, use_derived: bool | None = None) -> pd.DataFrame:
    """The feedback with a comment given from ``since`` to ``as_of``, newest first (for sentiment scoring):
    feedback_no, feedback_date, customer_id, customer (code), customer_name, segment, tier, region, nps_score
    (NaN when not given), text, order_no, order_link (as in ``feedback_nps_counts``)."""
    with engine.connect() as connection:
        lines = _lines(connection, use_derived)
        sql = f"""
        SELECT f.feedback_no, f.feedback_date, f.customer_id, c.code, c.name, c.segment, c.tier, c.region,
               f.nps_score, f.text, f.order_no, {_order_link()}
          FROM fact_customer_feedback f
          JOIN dim_customer c ON c.id = f.customer_id
          LEFT JOIN {_order_flags(lines, None)} o ON o.order_no = f.order_no
         WHERE f.feedback_date >= :since AND f.feedback_date <= :as_of
           AND f.text IS NOT NULL AND TRIM(f.text) <> ''
         ORDER BY f.feedback_date DESC, f.feedback_no DESC
        """
        frame = read_frame(
            connection, sql, COMMENT_COLUMNS,
            text_columns=("feedback_no", "customer", "customer_name", "segment", "tier", "region", "text",
                          "order_no", "order_link"),
            date_columns=("feedback_date",), params={"since": since, "as_of": as_of},
        )
    frame["customer_id"] = pd.to_numeric(frame["customer_id"]).astype("int64")
    frame["nps_score"] = pd.to_numeric(frame["nps_score"]).astype(float)
    return _dimensions(frame)


def product_categories(engine: Engine) -> list[str]:
    """Every product category, sorted."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT DISTINCT category FROM dim_product ORDER BY category")).scalars().all()
    return [str(r) for r in rows]
