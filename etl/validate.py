"""Row-level validation of interchange chunks with great-expectations.

Each entity gets two expectation suites built from ``etl/interchange.py``:

1. on the raw text of the file: required values present, values parse as their type
   (regular expressions), no spreadsheet formulas in text, allowed choices, references
   to known dimension keys;
2. on the typed values: numeric bounds, sane dates, date order, derived quantities,
   unique keys within the chunk.

Every unexpected row becomes a reject with the row number, column, value and a reason a
person can act on; good rows come back typed. Keys duplicated across chunks, references
to large fact tables and ledger conflicts are checked in the database by the loader.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.execution_engine.pandas_execution_engine as gx_pandas_engine  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from etl.interchange import UPDATED_AT, Entity, Field  # noqa: E402

INT_RE = r"^[+-]?\d+(?:\.0+)?$"
FLOAT_RE = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
DATETIME_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
BOOL_RE = r"^(?i:true|false|t|f|yes|no|y|n|1|0)$"
#: Text that a spreadsheet would run as a formula (CSV injection).
#: (whitespace spelled out: pyarrow's regex engine runs it, Python's ``\s`` would not).
FORMULA_RE = r"^[ \t\r\n\f\v]*[=+@\t\r]"
GTIN_RE = r"^\d{8,14}$"
TYPE_RE = {"int": INT_RE, "float": FLOAT_RE, "date": DATE_RE, "datetime": DATETIME_RE, "bool": BOOL_RE}
TYPE_HINT = {
    "int": "not a whole number",
    "float": "not a number",
    "date": "not a date (expected YYYY-MM-DD)",
    "datetime": "not a timestamp (expected YYYY-MM-DD HH:MM:SS)",
    "bool": "not a boolean (true/false)",
}
EARLIEST_DATE = pd.Timestamp("1980-01-01")
TRUE_WORDS = {"true", "t", "yes", "y", "1"}

REJECT_COLUMNS = ["row_number", "column_name", "value", "reason"]


def empty_rejects() -> pd.DataFrame:
    """A reject frame with no rows."""
    return pd.DataFrame(columns=REJECT_COLUMNS)


@dataclass
class ChunkResult:
    """Good rows (typed, indexed by file row number) and the rejects of one chunk."""

    good: pd.DataFrame
    rejects: pd.DataFrame


# GX fingerprints every pandas batch with ``hash_pandas_object`` when it is under this size;
# the fingerprint is a batch marker nothing here reads, and hashing was a quarter of the
# validation time. Zero turns it off.
gx_pandas_engine.HASH_THRESHOLD = 0


@lru_cache(maxsize=1)
def _context():
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


_batch_definitions: dict[str, object] = {}


def _batch_definition(name: str):
    if name not in _batch_definitions:
        context = _context()
        source = context.data_sources.add_or_update_pandas(f"chunks_{name}")
        asset = source.add_dataframe_asset(name)
        _batch_definitions[name] = asset.add_batch_definition_whole_dataframe("chunk")
    return _batch_definitions[name]


def _fields(entity: Entity, present: set[str]) -> list[Field]:
    return [f for f in (*entity.fields, UPDATED_AT) if f.name in present]


def raw_suite(entity: Entity, present: set[str], known_keys: dict[str, frozenset[str]]) -> gx.ExpectationSuite:
    """Suite 1, on raw text: presence, type patterns, formulas, choices, known references."""
    _context()
    suite = gx.ExpectationSuite(name=f"{entity.name}_raw")
    for f in _fields(entity, present):
        meta = {"column": f.name}
        if f.required:
            suite.add_expectation(
                gxe.ExpectColumnValuesToNotBeNull(column=f.name, meta={**meta, "reason": "required value missing"})
            )
        if f.type in TYPE_RE:
            suite.add_expectation(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=f.name, regex=TYPE_RE[f.type], meta={**meta, "reason": TYPE_HINT[f.type]}
                )
            )
        else:
            suite.add_expectation(
                gxe.ExpectColumnValuesToNotMatchRegex(
                    column=f.name,
                    regex=FORMULA_RE,
                    meta={**meta, "reason": "looks like a spreadsheet formula (starts with =, +, @ or a tab)"},
                )
            )
        if f.choices:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeInSet(
                    column=f.name, value_set=list(f.choices), meta={**meta, "reason": "not one of " + ", ".join(f.choices)}
                )
            )
        if f.name == "gtin":
            suite.add_expectation(
                gxe.ExpectColumnValuesToMatchRegex(column=f.name, regex=GTIN_RE, meta={**meta, "reason": "GTIN must be 8 to 14 digits"})
            )
    for ref in entity.references:
        if ref.check != "gx" or ref.columns[0] not in present:
            continue
        column = ref.columns[0]
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(
                column=column,
                value_set=sorted(known_keys.get(ref.table.name, frozenset())),
                meta={"column": column, "reason": f"unknown {ref.label} (not in {ref.table.name} nor in this load)"},
            )
        )
    return suite


def typed_suite(entity: Entity, present: set[str], today: dt.date) -> gx.ExpectationSuite:
    """Suite 2, on typed values: bounds, sane dates, date order, derived quantities, unique keys."""
    _context()
    suite = gx.ExpectationSuite(name=f"{entity.name}_typed")
    latest_past = pd.Timestamp(today) + pd.Timedelta(days=1, hours=23, minutes=59)
    latest_future = pd.Timestamp(today) + pd.DateOffset(years=10)
    for f in _fields(entity, present):
        meta = {"column": f.name}
        if f.minimum is not None or f.maximum is not None:
            bounds = []
            if f.minimum is not None:
                bounds.append(f">= {f.minimum:g}")
            if f.maximum is not None:
                bounds.append(f"<= {f.maximum:g}")
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(
                    column=f.name, min_value=f.minimum, max_value=f.maximum,
                    meta={**meta, "reason": "must be " + " and ".join(bounds)},
                )
            )
        if f.type in ("date", "datetime"):
            latest = latest_past if f.past else latest_future
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(
                    column=f.name, min_value=_epoch_days(EARLIEST_DATE), max_value=_epoch_days(latest),
                    meta={**meta, "reason": f"date out of range {EARLIEST_DATE.date()} to {latest.date()}"},
                )
            )
    for earlier, later in entity.date_order:
        if earlier in present and later in present:
            suite.add_expectation(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=later, column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing",
                    meta={"column": later, "reason": f"{later} is before {earlier}"},
                )
            )
    for index, (_expr, meaning) in enumerate(entity.derived_non_negative):
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column=f"__derived_{index}", min_value=0, meta={"column": _expr, "reason": meaning}
            )
        )
    if len(entity.key) > 1:
        suite.add_expectation(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(entity.key),
                meta={"column": ",".join(entity.key), "reason": "duplicate key in file (" + ", ".join(entity.key) + ")"},
            )
        )
    else:
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeUnique(
                column=entity.key[0], meta={"column": entity.key[0], "reason": f"duplicate key in file ({entity.key[0]})"}
            )
        )
    return suite


def _epoch_days(value: pd.Timestamp) -> float:
    return (value - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)


def _numeric_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as float days since 1970 for the typed suite: GX compares numbers vectorised,
    but maps datetimes one element at a time."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype.kind == "M":
            out[name] = (out[name] - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    return out


def _run(suite: gx.ExpectationSuite, frame: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Validate ``frame``; one reject per failing (row, expectation), values from ``raw``.

    Fast path: the whole suite with ``BOOLEAN_ONLY`` results (no row lists); only the
    expectations that failed run again with ``COMPLETE`` results to name the rows.
    """
    if frame.empty:
        return empty_rejects()
    batch = _batch_definition(suite.name).get_batch(batch_parameters={"dataframe": frame})
    quick = batch.validate(suite, result_format={"result_format": "BOOLEAN_ONLY"})
    for outcome in quick.results:
        info = outcome.exception_info or {}
        if info.get("raised_exception"):
            column = (outcome.expectation_config.meta or {}).get("column")
            raise RuntimeError(f"validation of {column} could not run: {info.get('exception_message')}")
    failed = [outcome.expectation_config for outcome in quick.results if not outcome.success]
    if not failed:
        return empty_rejects()
    detail = gx.ExpectationSuite(name=f"{suite.name}_detail")
    for config in failed:
        detail.add_expectation(config.to_domain_obj())
    result = _batch_definition(detail.name).get_batch(batch_parameters={"dataframe": frame}).validate(
        detail, result_format={"result_format": "COMPLETE"}
    )
    parts = []
    for outcome in result.results:
        if outcome.success:
            continue
        meta = outcome.expectation_config.meta or {}
        rows = outcome.result.get("unexpected_index_list") or []
        if rows and isinstance(rows[0], dict):  # compound expectations return one dict per row
            rows = [r.get("__index__", r.get("index")) for r in rows]
        if not rows:
            continue
        rows = pd.Index(rows)
        column = meta.get("column")
        values = raw[column].reindex(rows).astype("string") if column in raw.columns else pd.Series(pd.NA, index=rows)
        parts.append(
            pd.DataFrame(
                {"row_number": rows.astype("int64"), "column_name": column, "value": values.to_numpy(), "reason": meta.get("reason")}
            )
        )
    if not parts:
        return empty_rejects()
    return pd.concat(parts, ignore_index=True)


def cast(entity: Entity, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed copy of ``raw`` (already pattern-checked) and rejects for values that still fail.

    A date can match YYYY-MM-DD and still not exist (2024-02-30): such cells are rejected here.
    """
    typed = pd.DataFrame(index=raw.index)
    failures = []
    for f in _fields(entity, set(raw.columns)):
        column = raw[f.name]
        if f.type == "int" or f.type == "float":
            values = pd.to_numeric(column, errors="coerce")
            typed[f.name] = values.astype("Int64") if f.type == "int" else values.astype("float64")
        elif f.type == "date":
            typed[f.name] = pd.to_datetime(column, format="%Y-%m-%d", errors="coerce")
        elif f.type == "datetime":
            values = pd.to_datetime(column, format="ISO8601", errors="coerce", utc=True)
            typed[f.name] = values.dt.tz_convert(None)
        elif f.type == "bool":
            typed[f.name] = column.str.lower().isin(TRUE_WORDS).where(column.notna())
        else:
            typed[f.name] = column
        if f.type != "text":
            bad = typed[f.name].isna() & column.notna()
            if bad.any():
                failures.append(
                    pd.DataFrame({
                        "row_number": raw.index[bad].astype("int64"),
                        "column_name": f.name,
                        "value": column[bad].to_numpy(),
                        "reason": TYPE_HINT[f.type].replace("not a", "not a valid", 1),
                    })
                )
    rejects = pd.concat(failures, ignore_index=True) if failures else empty_rejects()
    return typed, rejects


def _derive(entity: Entity, typed: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns the typed suite checks (missing quantities count as 0)."""
    if not entity.derived_non_negative:
        return typed
    frame = typed.copy()
    numeric = {f.name: 0.0 for f in entity.fields if f.type in ("int", "float")}  # absent columns count as 0
    numeric.update({c: frame[c].fillna(0) for c in frame.columns if c in numeric})
    for index, (expr, _meaning) in enumerate(entity.derived_non_negative):
        frame[f"__derived_{index}"] = pd.eval(expr, local_dict=numeric, engine="python").astype("float64")
    return frame


def validate_chunk(
    entity: Entity,
    raw: pd.DataFrame,
    known_keys: dict[str, frozenset[str]],
    today: dt.date | None = None,
) -> ChunkResult:
    """Validate one chunk of raw text (indexed by file row number); return typed good rows and rejects."""
    today = today or dt.date.today()
    present = set(raw.columns)
    rejects = [_run(raw_suite(entity, present, known_keys), raw, raw)]
    bad_rows = set(rejects[0]["row_number"])
    passed = raw.drop(index=list(bad_rows)) if bad_rows else raw
    typed, cast_rejects = cast(entity, passed)
    rejects.append(cast_rejects)
    if not cast_rejects.empty:
        typed = typed.drop(index=cast_rejects["row_number"].unique())
    typed_rejects = _run(typed_suite(entity, present, today), _numeric_dates(_derive(entity, typed)), raw)
    rejects.append(typed_rejects)
    if not typed_rejects.empty:
        typed = typed.drop(index=typed_rejects["row_number"].unique())
    found = [r for r in rejects if not r.empty]
    all_rejects = pd.concat(found, ignore_index=True) if found else empty_rejects()
    return ChunkResult(good=typed, rejects=all_rejects)
