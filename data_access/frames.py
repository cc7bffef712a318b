"""Line-level frames for ``analytics`` (the input contracts of ``analytics.kpis`` and ``analytics.valuation``).

Each query returns the rows of one contract, as of a date, with dimension attributes joined
for grouping (category, sku, segment). The headline report sums the same states in SQL
(``queries``); these frames are for views that group and drill down over a window.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, bindparam, func, select, text

from data_access import schema

DateLike = dt.date | None
T = TypeVar("T")


def read_frame(
    connection: Connection,
    sql: str,
    columns: list[str],
    text_columns: tuple[str, ...] = (),
    date_columns: tuple[str, ...] = (),
    params: dict | None = None,
) -> pd.DataFrame:
    """Rows of ``sql`` as a DataFrame; ``text_columns`` stay text (codes with leading zeros),
    ``date_columns`` become ``datetime64``.

    PostgreSQL sends the rows with ``COPY … TO STDOUT`` and Arrow parses the CSV (ten times
    faster than fetching tuples); SQLite rows come as plain tuples (pandas probes Row objects
    slowly). ``params`` are bound first (literal SQL for ``COPY``, which takes no parameters).
    """
    if params:
        statement = text(sql).bindparams(*(bindparam(k, v, literal_execute=True) for k, v in params.items()))
        sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
        finally:
            cursor.close()
        if not buffer.tell():
            frame = pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
        else:
            buffer.seek(0)
            table = pacsv.read_csv(
                buffer,
                read_options=pacsv.ReadOptions(column_names=columns),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in text_columns},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            frame = table.to_pandas(date_as_object=False)
    else:
        rows = connection.exec_driver_sql(sql).fetchall()
        frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
    for name in date_columns:
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[ns]")
    return frame


#: Per order line, its shipments up to ``:as_of``: shipped, shipped by the requested date, last ship date and
#: last delivery date (null unless every shipment is delivered). The line state both the line frames here and
#: the headline report's sums (``queries``) are built on; ``{lines}`` is the order line table (or a CTE of some
#: of its rows) and ``{line_window}`` narrows the lines.
LINE_SHIP = """
line_ship AS (
    SELECT sh.order_line_id,
           SUM(sh.qty) AS shipped,
           SUM(CASE WHEN sh.ship_date <= l.requested_date THEN sh.qty ELSE 0 END) AS shipped_by_requested,
           MAX(sh.ship_date) AS last_ship,
           CASE WHEN COUNT(sh.delivered_date) = COUNT(*) THEN MAX(sh.delivered_date) END AS last_delivery
      FROM fact_shipment sh
      JOIN {lines} l ON l.id = sh.order_line_id
     WHERE sh.ship_date <= :as_of {line_window}
     GROUP BY sh.order_line_id
)"""
#: A line's cancelled quantity as of ``:as_of`` (a cancellation without a date counts from the order date).
CANCELLED_BY_AS_OF = (
    "CASE WHEN l.qty_cancelled > 0 AND COALESCE(l.cancelled_date, l.order_date) <= :as_of "
    "THEN l.qty_cancelled ELSE 0 END"
)

#: The ``ORDER_LINE_COLUMNS`` of the lines in ``{lines}`` (a table or CTE), with their shipments from ``line_ship``.
ORDER_LINE_SELECT = """
SELECT l.order_no, l.line_no, l.product_id, l.location_id, l.customer_id, l.channel,
       p.sku, p.category, c.segment, c.tier, loc.code,
       l.order_date, l.requested_date, l.promised_date, l.qty_ordered,
       COALESCE(s.shipped, 0),
       """ + CANCELLED_BY_AS_OF + """,
       l.cancelled_date, l.unit_price, l.discount, l.status, l.priority,
       COALESCE(s.shipped_by_requested, 0), s.last_ship, s.last_delivery, p.unit_cost
  FROM {lines} l
  JOIN dim_product p ON p.id = l.product_id
  JOIN dim_customer c ON c.id = l.customer_id
  JOIN dim_location loc ON loc.id = l.location_id
  LEFT JOIN line_ship s ON s.order_line_id = l.id
"""

_ORDER_LINES = "WITH" + LINE_SHIP + ORDER_LINE_SELECT + " WHERE l.order_date <= :as_of {line_window}\n"

ORDER_LINE_COLUMNS = [
    "order_no", "line_no", "product_id", "location_id", "customer_id", "channel", "sku", "category", "segment",
    "tier", "location", "order_date", "requested_date", "promised_date", "qty_ordered", "qty_shipped",
    "qty_cancelled", "cancelled_date", "unit_price", "discount", "status", "priority", "shipped_by_requested_qty",
    "last_ship_date", "last_delivery_date", "unit_cost",
]
_ORDER_LINE_DATES = (
    "order_date", "requested_date", "promised_date", "cancelled_date", "last_ship_date", "last_delivery_date",
)


def order_lines(engine: Engine, as_of: dt.date, since: DateLike = None) -> pd.DataFrame:
    """Sales order lines ordered by ``as_of`` (and requested from ``since``), in their state at ``as_of``.

    The ``analytics.kpis.ORDER_LINES`` contract: shipped (by as-of and by the requested date),
    cancelled by as-of, last ship and delivery dates, with sku, category, segment, tier and
    location code to group by.
    """
    window = "AND l.requested_date >= :since" if since else ""
    params = {"as_of": as_of, **({"since": since} if since else {})}
    with engine.connect() as connection:
        return read_frame(
            connection, _ORDER_LINES.format(lines="fact_sales_order_line", line_window=window), ORDER_LINE_COLUMNS,
            text_columns=("order_no", "sku", "category", "segment", "tier", "location", "channel", "status"),
            date_columns=_ORDER_LINE_DATES, params=params,
        )


def po_lines(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """Purchase order lines ordered by ``as_of``, receipts after it not yet received (``kpis.PO_LINES``)."""
    sql = """
    SELECT po.po_no, po.line_no, po.supplier_id, sup.code, po.product_id, p.sku, p.category, po.location_id,
           po.order_date, po.expected_date,
           CASE WHEN po.received_date <= :as_of THEN po.received_date END,
           po.qty_ordered, CASE WHEN po.received_date <= :as_of THEN po.qty_received ELSE 0 END, po.status
      FROM fact_purchase_order_line po
      JOIN dim_product p ON p.id = po.product_id
      JOIN dim_supplier sup ON sup.id = po.supplier_id
     WHERE po.order_date <= :as_of
    """
    columns = ["po_no", "line_no", "supplier_id", "supplier", "product_id", "sku", "category", "location_id",
               "order_date", "expected_date", "received_date", "qty_ordered", "qty_received", "status"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("po_no", "supplier", "sku", "category", "status"),
            date_columns=("order_date", "expected_date", "received_date"), params={"as_of": as_of},
        )


def cycle_counts(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """Cycle counts up to ``as_of`` (``kpis.CYCLE_COUNTS``) with sku and category."""
    sql = """
    SELECT cc.count_no, cc.count_date, cc.product_id, p.sku, p.category, cc.location_id, cc.system_qty,
           cc.counted_qty
      FROM fact_cycle_count cc JOIN dim_product p ON p.id = cc.product_id
     WHERE cc.count_date <= :as_of
    """
    columns = ["count_no", "count_date", "product_id", "sku", "category", "location_id", "system_qty", "counted_qty"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("count_no", "sku", "category"), date_columns=("count_date",),
            params={"as_of": as_of},
        )


def production_orders(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """Production orders started by ``as_of``, finished only if finished by then (``kpis.PRODUCTION_ORDERS``)."""
    sql = """
    SELECT mo.mo_no, mo.product_id, p.sku, p.category, mo.location_id, mo.start_date, mo.due_date,
           CASE WHEN mo.finished_date <= :as_of THEN mo.finished_date END,
           mo.qty_planned, CASE WHEN mo.finished_date <= :as_of THEN mo.qty_produced ELSE 0 END,
           CASE WHEN mo.status = 'finished' AND mo.finished_date > :as_of THEN 'released' ELSE mo.status END
      FROM fact_production_order mo JOIN dim_product p ON p.id = mo.product_id
     WHERE mo.start_date <= :as_of
    """
    columns = ["mo_no", "product_id", "sku", "category", "location_id", "start_date", "due_date", "finished_date",
               "qty_planned", "qty_produced", "status"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("mo_no", "sku", "category", "status"),
            date_columns=("start_date", "due_date", "finished_date"), params={"as_of": as_of},
        )


def ledger(engine: Engine, as_of: dt.date, product_ids: list[int] | None = None) -> pd.DataFrame:
    """Inventory movements up to the end of ``as_of`` (``analytics.valuation`` movements), oldest first."""
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    only = f"AND m.product_id IN ({', '.join(str(int(p)) for p in product_ids)})" if product_ids else ""
    sql = f"""
    SELECT m.product_id, p.sku, p.category, m.location_id, m.ts, m.qty, m.kind, m.unit_cost
      FROM fact_inventory_movement m JOIN dim_product p ON p.id = m.product_id
     WHERE m.ts < :until {only}
     ORDER BY m.product_id, m.location_id, m.ts, m.id
    """
    columns = ["product_id", "sku", "category", "location_id", "ts", "qty", "kind", "unit_cost"]
    with engine.connect() as connection:
        return read_frame(
            connection, sql, columns, text_columns=("sku", "category", "kind"), date_columns=("ts",),
            params={"until": until},
        )


def standard_costs(engine: Engine) -> pd.Series:
    """The current standard unit cost of every product (dim_product.unit_cost), indexed by product id."""
    with engine.connect() as connection:
        frame = read_frame(connection, "SELECT id, unit_cost FROM dim_product", ["product_id", "unit_cost"])
    return frame.set_index("product_id")["unit_cost"]


_INVENTORY_LEVELS = """
WITH demand AS (
    SELECT product_id, location_id, SUM(qty_ordered) AS ordered
      FROM fact_sales_order_line
     WHERE order_date > :since AND order_date <= :as_of
     GROUP BY product_id, location_id
)
SELECT s.product_id, p.sku, p.name, p.category, p.make_or_buy, s.location_id, loc.code,
       s.on_hand, s.on_order, s.allocated, s.backordered, s.unit_cost, p.reorder_point,
       COALESCE(d.ordered, 0)
  FROM fact_inventory_snapshot s
  JOIN dim_product p ON p.id = s.product_id
  JOIN dim_location loc ON loc.id = s.location_id
  LEFT JOIN demand d ON d.product_id = s.product_id AND d.location_id = s.location_id
 WHERE s.snapshot_date = :as_of
"""


def inventory_levels(engine: Engine, as_of: dt.date, demand_days: int = 90) -> pd.DataFrame:
    """Stock per product-location at the end of ``as_of`` (the daily snapshot) with the units
    ordered over the ``demand_days`` before it, for days of cover and the low-stock list."""
    columns = ["product_id", "sku", "name", "category", "make_or_buy", "location_id", "location", "on_hand",
               "on_order", "allocated", "backordered", "unit_cost", "reorder_point", "demand_units"]
    with engine.connect() as connection:
        frame = read_frame(
            connection, _INVENTORY_LEVELS, columns,
            text_columns=("sku", "name", "category", "make_or_buy", "location"),
            params={"as_of": as_of, "since": as_of - dt.timedelta(days=demand_days)},
        )
    frame["daily_demand"] = frame["demand_units"] / demand_days
    return frame


# --- reads at once, in one snapshot ---------------------------------------------------------------------------------

Read = Callable[[Connection], T]


@contextmanager
def reads_in_one_snapshot(engine: Engine) -> Iterator[Callable[[list[Read]], list]]:
    """A runner of independent reads (functions of a connection) that all see one snapshot of the database.

    PostgreSQL: the reads given to one call run at once, each on its own connection, in REPEATABLE READ
    transactions importing the snapshot this context exports (they see the same data, as one query would), so a
    slow read uses another core. Elsewhere (SQLite): one after another, on one connection.
    """
    with engine.connect() as first:
        if engine.dialect.name != "postgresql":
            yield lambda reads: [read(first) for read in reads]
            return
        first = first.execution_options(isolation_level="REPEATABLE READ")
        snapshot = first.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()

        def in_snapshot(read: Read) -> T:
            with engine.connect() as connection:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
                connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                return read(connection)

        def run(reads: list[Read]) -> list:
            if len(reads) < 2:
                return [read(first) for read in reads]
            with ThreadPoolExecutor(max_workers=len(reads) - 1) as pool:
                others = [pool.submit(in_snapshot, read) for read in reads[1:]]
                return [reads[0](first), *(future.result() for future in others)]

        yield run


# --- the ledger in compact form, for valuation -------------------------------------------------------------------

#: Per group (``{keys}``) and day (``{day}``) from ``:since`` (inclusive) to ``:until``: the sum of the day's issues
#: (and rows of qty 0) and the first and last ts among them (``{first}``, ``{last}``), summed in the database.
_ISSUE_DAYS = """
SELECT {keys}, SUM(qty), {first}, {last}
  FROM fact_inventory_movement
 WHERE ts >= :since AND ts < :until AND NOT qty > 0
 GROUP BY {keys}, {day}
"""
#: Every receipt (qty > 0) up to ``:until``, row by row.
_RECEIPTS = """
SELECT id, product_id, location_id, ts, qty, unit_cost
  FROM fact_inventory_movement
 WHERE ts < :until AND qty > 0
"""
#: PostgreSQL sums the issue days in this many parts (ranges of whole days) at once: a hash aggregation of millions
#: of rows is single-threaded, and the parts spread it over the cores.
ISSUE_DAY_PARTS = 3


def _day_of_ts(dialect: str) -> str:
    """The calendar day of ``ts`` in the dialect's words (SQLite keeps timestamps as ISO text)."""
    return "CAST(ts AS DATE)" if dialect == "postgresql" else "substr(ts, 1, 10)"


def _read_receipts(connection: Connection, until: dt.datetime) -> pd.DataFrame:
    frame = read_frame(connection, _RECEIPTS, ["id", "product_id", "location_id", "ts", "qty", "unit_cost"],
                       date_columns=("ts",), params={"until": until})
    frame = frame.astype({"id": np.int64, "product_id": np.int64, "location_id": np.int64})
    for name in ("qty", "unit_cost"):
        frame[name] = pd.to_numeric(frame[name]).astype(float)
    return frame


def _read_issue_days(connection: Connection, keys: list[str], since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    """``_ISSUE_DAYS`` as product_id[, location_id], qty, first_ts, last_ts (datetime64[ns]).

    PostgreSQL sends the times as epoch seconds (printing millions of timestamps costs it more than floats); a
    float64 holds them to a fraction of a microsecond, so rounding to whole microseconds gives them back exactly.
    """
    postgres = connection.dialect.name == "postgresql"
    first, last = (("date_part('epoch', MIN(ts))", "date_part('epoch', MAX(ts))") if postgres
                   else ("MIN(ts)", "MAX(ts)"))
    sql = _ISSUE_DAYS.format(keys=", ".join(keys), day=_day_of_ts(connection.dialect.name), first=first, last=last)
    frame = read_frame(connection, sql, [*keys, "qty", "first_ts", "last_ts"],
                       date_columns=() if postgres else ("first_ts", "last_ts"), params={"since": since, "until": until})
    if postgres:
        for name in ("first_ts", "last_ts"):
            micros = np.rint(pd.to_numeric(frame[name]).to_numpy(float) * 1e6).astype(np.int64)
            frame[name] = (micros * 1000).astype("datetime64[ns]")
    frame[keys] = frame[keys].astype(np.int64)
    frame["qty"] = pd.to_numeric(frame["qty"]).astype(float)
    return frame


def _read_product_names(connection: Connection) -> pd.DataFrame:
    frame = read_frame(connection, "SELECT id, sku, category FROM dim_product", ["product_id", "sku", "category"],
                       text_columns=("sku", "category"))
    return frame.astype({"product_id": np.int64})


def _read_single_issues(connection: Connection, until: dt.datetime, windows: list[tuple[int, int, dt.date]],
                        chunk: int = 2_000) -> pd.DataFrame:
    """The issues (qty ≤ 0) of (product_id, location_id, day) ``windows``, one row each, found through the
    (product, location, ts) index: id, product_id, location_id, ts, qty."""
    stamp = "TIMESTAMP '{}'" if connection.dialect.name == "postgresql" else "'{}'"  # SQLite: ISO text
    found = [pd.DataFrame({"id": np.zeros(0, np.int64), "product_id": np.zeros(0, np.int64),
                           "location_id": np.zeros(0, np.int64), "ts": pd.to_datetime([]), "qty": np.zeros(0)})]
    for start in range(0, len(windows), chunk):
        values = ", ".join(
            f"({p}, {loc}, {stamp.format(day.isoformat())}, {stamp.format((day + dt.timedelta(days=1)).isoformat())})"
            for p, loc, day in windows[start:start + chunk]
        )
        sql = f"""
        SELECT m.id, m.product_id, m.location_id, m.ts, m.qty
          FROM (VALUES {values}) AS w
          JOIN fact_inventory_movement m
            ON m.product_id = w.column1 AND m.location_id = w.column2 AND m.ts >= w.column3 AND m.ts < w.column4
         WHERE m.ts < :until AND NOT m.qty > 0
        """
        found.append(read_frame(connection, sql, ["id", "product_id", "location_id", "ts", "qty"],
                                date_columns=("ts",), params={"until": until}))
    return pd.concat(found, ignore_index=True).astype({"id": np.int64, "product_id": np.int64,
                                                       "location_id": np.int64, "qty": float})


def _unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (by sorting: faster than a hash table on millions of int64)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def _packed_keys(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """product_id (and location_id) packed into one int64 that sorts as the pair."""
    packed = frame["product_id"].to_numpy(np.int64) << 32
    return packed + frame["location_id"].to_numpy(np.int64) if len(keys) == 2 else packed


def _stamps(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64)


class _Receipts:
    """The receipts in valuation order, (group, ts, location_id, id), and counts of those before a time."""

    def __init__(self, receipts: pd.DataFrame, groups: np.ndarray, n_groups: int) -> None:
        ts, loc, ids = _stamps(receipts["ts"]), receipts["location_id"].to_numpy(np.int64), \
            receipts["id"].to_numpy(np.int64)
        order = np.lexsort((ids, loc, ts, groups))
        self.group, self.ts, self.loc, self.id = groups[order], ts[order], loc[order], ids[order]
        self.qty = receipts["qty"].to_numpy(float)[order]
        self.cost = receipts["unit_cost"].to_numpy(float)[order]
        self.first = np.searchsorted(self.group, np.arange(n_groups + 1))  # each group's first receipt
        # (group, ts) packed into one ascending int64: ts as microseconds from the earliest receipt when that fits,
        # else as its rank among the receipts' ts.
        self._low = int(self.ts.min()) - 1000 if len(self.ts) else 0
        span = (int(self.ts.max()) - self._low) // 1000 + 2 if len(self.ts) else 2
        self._micro = n_groups * span < 1 << 62 and not (self.ts % 1000).any()
        if self._micro:
            self._width, self._span = span, span
            self._packed = self.group * span + (self.ts - self._low) // 1000
        else:
            self._stamps = _unique(self.ts)
            self._width = len(self._stamps) + 1
            self._packed = self.group * self._width + np.searchsorted(self._stamps, self.ts)

    def key(self, group: np.ndarray, stamp: np.ndarray, side: str = "left") -> np.ndarray:
        """Packed (group, stamp): the receipts of ``group`` with ts < ``stamp`` (side 'left') or ts ≤ ``stamp``
        ('right') are those whose packed key is below it."""
        if self._micro:
            offset = np.clip(stamp - self._low, 0, (self._span - 1) * 1000)  # ns after the low mark
            # ts < stamp ⇔ µs(ts) < ceil(offset / 1000); ts ≤ stamp ⇔ µs(ts) < floor(offset / 1000) + 1
            rank = -(-offset // 1000) if side == "left" else offset // 1000 + 1
        else:
            rank = np.searchsorted(self._stamps, stamp, side=side)
        return group * self._width + rank

    def before(self, group: np.ndarray, stamp: np.ndarray, side: str = "left") -> np.ndarray:
        """How many receipts of ``group`` have ts < ``stamp`` (side 'left') or ts ≤ ``stamp`` ('right'); fastest
        with the (group, stamp) pairs in ascending order."""
        return np.searchsorted(self._packed, self.key(group, stamp, side), side="left") - self.first[group]


def _single_epochs(receipts: _Receipts, group: np.ndarray, singles: pd.DataFrame) -> np.ndarray:
    """How many receipts of its group come before each single issue in (ts, location_id, id) order."""
    ts, loc, ids = _stamps(singles["ts"]), singles["location_id"].to_numpy(np.int64), \
        singles["id"].to_numpy(np.int64)
    n = len(receipts.group)
    is_receipt = np.concatenate((np.ones(n, bool), np.zeros(len(group), bool)))
    order = np.lexsort((np.concatenate((receipts.id, ids)), np.concatenate((receipts.loc, loc)),
                        np.concatenate((receipts.ts, ts)), np.concatenate((receipts.group, group))))
    earlier = np.cumsum(is_receipt[order]) - is_receipt[order]  # receipts earlier in the merged order
    epochs = np.empty(len(group), np.int64)
    epochs[order[~is_receipt[order]] - n] = earlier[~is_receipt[order]]
    return epochs - receipts.first[group]


def _compact(receipts: _Receipts, groups: np.ndarray, issue_group: np.ndarray, issue_epoch: np.ndarray,
             issue_ts: np.ndarray, issue_qty: np.ndarray, keys: list[str]) -> pd.DataFrame:
    """Receipts row by row and the issues summed per (group, epoch, month), in valuation order (see
    ``compact_ledger``); epoch = how many receipts of the group come before the issue."""
    month = issue_ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    if len(month):
        month = month - month.min()
        order = np.argsort((issue_group * (int(issue_epoch.max()) + 1) + issue_epoch) * (int(month.max()) + 1) + month,
                           kind="stable")  # nearly in order already
    else:
        order = np.zeros(0, np.int64)
    group, epoch, ts, qty, month = (a[order] for a in (issue_group, issue_epoch, issue_ts, issue_qty, month))
    cut = np.ones(len(order), bool)
    cut[1:] = (group[1:] != group[:-1]) | (epoch[1:] != epoch[:-1]) | (month[1:] != month[:-1])
    starts = np.flatnonzero(cut)
    segment_group, segment_epoch = group[starts], epoch[starts]
    segment_qty = np.add.reduceat(qty, starts) if len(starts) else np.zeros(0)
    segment_ts = np.maximum.reduceat(ts, starts) if len(starts) else np.zeros(0, np.int64)
    # Valuation order: receipt k (position k), then the segments of epoch k by ts, then receipt k + 1.
    position = np.arange(len(receipts.group)) - receipts.first[receipts.group] + 1
    all_group = np.concatenate((receipts.group, segment_group))
    all_position = np.concatenate((position, segment_epoch))
    kind = np.concatenate((np.zeros(len(receipts.group), np.int8), np.ones(len(segment_group), np.int8)))
    stamp = np.concatenate((receipts.ts, segment_ts))
    order = np.lexsort((stamp, kind, all_position, all_group))
    packed = groups[all_group[order]]
    out = pd.DataFrame({"product_id": packed >> 32})
    if len(keys) == 2:
        out["location_id"] = packed & ((1 << 32) - 1)
    out["ts"] = stamp[order].astype("datetime64[ns]")
    out["qty"] = np.concatenate((receipts.qty, segment_qty))[order]
    out["unit_cost"] = np.concatenate((receipts.cost, np.full(len(segment_group), np.nan)))[order]
    return out


def _day_ranges(first: dt.date, last: dt.date, parts: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """[since, until) ranges of whole days covering ``first`` to ``last``, in at most ``parts`` parts."""
    days = (last - first).days + 1
    step = max(-(-days // max(parts, 1)), 1)
    starts = [first + dt.timedelta(days=k) for k in range(0, days, step)]
    bounds = [dt.datetime.combine(day, dt.time()) for day in (*starts, last + dt.timedelta(days=1))]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def compact_ledger(engine: Engine, as_of: dt.date, by_location: bool = False) -> pd.DataFrame:
    """The ledger up to the end of ``as_of`` with its issues summed between receipts: what ``analytics.valuation``
    values exactly as the full ``ledger``, from hundreds of thousands of rows instead of millions.

    A *group* is a product (``by_location``: a product-location); its movements are in (ts, location_id, id)
    order, the valuation's. Receipts (qty > 0) stay row by row. The other movements (issues, and rows of qty 0)
    are summed per *segment*: those between the same two consecutive receipts of the group and in the same
    calendar month, placed at the ts of the segment's last movement. Every method gives the same figures, up to
    the rounding of the sums:

    - FIFO: an issue costs C(I_after) − C(I_before) on the receipts' cost curve, so a segment costs the sum of its
      issues' costs and the ending value (V_total − C(I_total)) is unchanged;
    - moving average: the average changes only at receipts, so every issue of a segment is charged the same one;
    - standard cost: only quantities count;
    - per period: a segment lies in one month;
    - negative stock: between two receipts the balance only falls, so it is lowest at a segment's end, and a
      segment takes stock below zero exactly when one of its issues did (the error then names the segment, not
      the single movement: value ``ledger`` for that).

    The database sums issues per group and day in one pass (on PostgreSQL in ``ISSUE_DAY_PARTS`` ranges of days at
    once, all reads in one snapshot), with the day's first and last issue ts; a day whose first-to-last span holds
    a receipt of its group (receipts and issues at overlapping times of one day: rare) is read movement by
    movement. Columns: product_id, [location_id,] ts, qty, unit_cost (NaN on summed rows), sku, category.
    """
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    keys = ["product_id", "location_id"] if by_location else ["product_id"]
    movement = schema.fact_inventory_movement
    with reads_in_one_snapshot(engine) as run:
        first_ts, locations = run([
            lambda c: c.execute(select(func.min(movement.c.ts))).scalar(),
            lambda c: [int(i) for i in c.execute(select(schema.dim_location.c.id)).scalars()],
        ])
        first_day = min(pd.Timestamp(first_ts).date(), as_of) if first_ts is not None else as_of
        parts = ISSUE_DAY_PARTS if engine.dialect.name == "postgresql" else 1
        receipts, names, *days = run([
            partial(_read_receipts, until=until), _read_product_names,
            *(partial(_read_issue_days, keys=keys, since=since, until=min(end, until))
              for since, end in _day_ranges(first_day, as_of, parts)),
        ])
        days = pd.concat(days, ignore_index=True)
        groups = _unique(np.concatenate((_packed_keys(receipts, keys), _packed_keys(days, keys))))
        index = _Receipts(receipts, np.searchsorted(groups, _packed_keys(receipts, keys)), len(groups))
        day_group = np.searchsorted(groups, _packed_keys(days, keys))
        first, last = _stamps(days["first_ts"]), _stamps(days["last_ts"])
        order = np.argsort(index.key(day_group, first))  # by group and time: searches and segments run in order
        day_group, first, last = day_group[order], first[order], last[order]
        day_qty = days["qty"].to_numpy(float)[order]
        day_epoch = index.before(day_group, first, "left")
        ambiguous = index.before(day_group, last, "right") > day_epoch
        packed = groups[day_group[ambiguous]]
        windows = [(int(p), int(loc), pd.Timestamp(t).date())
                   for p, locs, t in zip(packed >> 32, packed & ((1 << 32) - 1), first[ambiguous], strict=True)
                   for loc in ([locs] if by_location else locations)]
        (singles,) = run([partial(_read_single_issues, until=until, windows=windows)])
    single_group = np.searchsorted(groups, _packed_keys(singles, keys))
    clear = ~ambiguous
    compact = _compact(
        index, groups,
        np.concatenate((day_group[clear], single_group)),
        np.concatenate((day_epoch[clear], _single_epochs(index, single_group, singles))),
        np.concatenate((last[clear], _stamps(singles["ts"]))),
        np.concatenate((day_qty[clear], singles["qty"].to_numpy(float))),
        keys,
    )
    return compact.merge(names, on="product_id", how="left")
