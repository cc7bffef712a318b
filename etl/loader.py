"""Load a folder of interchange CSV files into the reporting schema.

extract (streamed chunks) → validate (great-expectations, ``etl.validate``) → stage (typed
temporary table: ``COPY`` on PostgreSQL, batched inserts on SQLite) → database checks
(keys duplicated across chunks, references to fact tables, ledger conflicts) → conform and
upsert (one ``INSERT … SELECT … JOIN dimensions … ON CONFLICT`` per file) → snapshots.

Guarantees:
- one transaction per run: a failed run leaves the reporting tables exactly as they were;
- idempotent: rows equal to what is stored are not touched, so a re-run changes nothing;
- every run is recorded in ``etl_run``; a succeeded run has rows read = loaded + rejected,
  a failed one keeps its rows read and rejected with nothing loaded; every rejected row is
  in ``etl_reject`` with file, row number, column, value and reason;
- memory stays flat: files are read ``chunk_rows`` rows at a time;
- incremental: ``incremental=True`` skips files whose content is unchanged since the last
  successful run of the same source, and rows whose ``updated_at`` is not newer than the
  watermark of that run.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, Table, func, insert, select, text, update

from data_access import derived, schema
from data_access.config import load_settings
from data_access.frames import read_frame
from data_access.warehouse import lock_out_scans
from etl import bulk, snapshots
from etl.errors import LoadError
from etl.interchange import ENTITIES, ENTITY_BY_FILE, SNAPSHOT_INPUTS, UPDATED_AT, Entity
from etl.validate import validate_chunk

#: Files whose rows change the derived order state (``data_access.derived``).
ORDER_STATE_INPUTS = frozenset({"sales_order_lines", "shipments"})

#: Rejects kept in memory to record on a failed run (the rest are counted).
MAX_REJECTS_KEPT = 10_000

#: PostgreSQL memory for one sort or hash of the load (joins of a file to its dimensions, the
#: order state's window functions). The default 4 MB spills a 10M-line load to disk many times.
LOAD_WORK_MEM = "256MB"

Progress = Callable[[float, str], None]


@dataclass
class FileStats:
    """What happened to one file."""

    entity: str
    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.rows_loaded - self.inserted - self.updated


@dataclass
class LoadResult:
    """Outcome of a run, as recorded in ``etl_run``."""

    run_id: int
    status: str
    files: list[FileStats]
    seconds: float
    message: str = ""

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def summary(self) -> str:
        """A plain-text table of the run, for the command line."""
        head = f"{'file':<26}{'read':>11}{'loaded':>11}{'rejected':>10}{'inserted':>11}{'updated':>10}"
        lines = [head, "-" * len(head)]
        for f in self.files:
            note = "  (unchanged, skipped)" if f.skipped else ""
            lines.append(
                f"{f.file:<26}{f.rows_read:>11,}{f.rows_loaded:>11,}{f.rows_rejected:>10,}{f.inserted:>11,}{f.updated:>10,}{note}"
            )
            lines += [f"    note: {w}" for w in f.warnings]
        lines.append("-" * len(head))
        lines.append(
            f"{'total':<26}{self.rows_read:>11,}{self.rows_loaded:>11,}{self.rows_rejected:>10,}"
            f"{sum(f.inserted for f in self.files):>11,}{sum(f.updated for f in self.files):>10,}"
        )
        lines.append(f"run {self.run_id} {self.status} in {self.seconds:.1f} s" + (f": {self.message}" if self.message else ""))
        return "\n".join(lines)


# --- reading ----------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the whole file is valid UTF-8 (with or without BOM), else ``cp1252``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def read_header(path: Path, encoding: str) -> list[str]:
    """Column names of the file's header row (stripped)."""
    with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
        first = handle.readline()
    if not first.strip():
        raise LoadError(f"{path.name}: the file is empty (no header row)")
    header = pd.read_csv(path, nrows=0, encoding=encoding, dtype=str).columns
    return [str(c).strip() for c in header]


def _known_keys(connection: Connection, entity: Entity) -> dict[str, frozenset[str]]:
    """Natural keys of the dimensions ``entity`` references, as stored in this transaction."""
    keys: dict[str, frozenset[str]] = {}
    for ref in entity.references:
        if ref.check == "gx" and ref.table.name not in keys:
            column = ref.table.c[ref.target_columns[0]]
            keys[ref.table.name] = frozenset(connection.execute(select(column)).scalars())
    return keys


# --- SQL building ------------------------------------------------------------------------


def _default_literal(column) -> str | None:
    default = column.server_default
    if default is None or not isinstance(getattr(default, "arg", None), str):
        return None
    value = default.arg
    if column.type.python_type is bool:
        return "TRUE" if value in ("1", "true") else "FALSE"
    if column.type.python_type is str:
        return "'" + value.replace("'", "''") + "'"
    return value


def upsert_sql(entity: Entity, stage: str, present: list[str], dialect: str, *, conflicts: bool = True) -> str:
    """``INSERT … SELECT`` from the stage into the entity's table, upserting on its natural key.

    References become foreign keys by joining the referenced tables on their natural keys.
    Only columns present in the file are written, so a file without an optional column
    leaves the stored values of that column alone. Rows equal to the stored ones are not
    updated (``IS DISTINCT FROM``), which keeps re-runs free of changes. ``conflicts=False``
    gives a plain ``INSERT`` (an empty table and a stage with unique keys: nothing can conflict).
    """
    table = entity.table
    columns: list[str] = []
    expressions: list[str] = []
    joins: list[str] = []
    for index, ref in enumerate(entity.references):
        if not all(c in present for c in ref.columns):
            continue
        alias = f"r{index}"
        on = " AND ".join(f'{alias}."{t}" = s."{c}"' for c, t in zip(ref.columns, ref.target_columns, strict=True))
        required = entity.field(ref.columns[0]).required
        joins.append(f'{"JOIN" if required else "LEFT JOIN"} "{ref.table.name}" {alias} ON {on}')
        columns.append(ref.fk_column)
        expressions.append(f"{alias}.id")
    for name in present:
        if name in entity.reference_columns or name == UPDATED_AT.name:
            continue
        default = _default_literal(table.c[name])
        columns.append(name)
        expressions.append(f'COALESCE(s."{name}", {default})' if default and not table.c[name].nullable else f's."{name}"')
    conflict = entity.conflict_columns
    column_list = ", ".join(f'"{c}"' for c in columns)
    conflict_list = ", ".join(f'"{c}"' for c in conflict)
    join_text = "\n".join(joins)
    sql = (
        f'INSERT INTO "{table.name}" ({column_list})\n'
        f'SELECT {", ".join(expressions)} FROM "{stage}" s\n{join_text}\nWHERE 1 = 1\n'
    )
    if not conflicts:
        return sql
    sql += f"ON CONFLICT ({conflict_list}) "
    if entity.append_only:
        return sql + "DO NOTHING"
    updates = [c for c in columns if c not in conflict]
    if not updates:
        return sql + "DO NOTHING"
    distinct = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    assignments = [f'"{c}" = excluded."{c}"' for c in updates]
    if "updated_at" in table.c:
        assignments.append('"updated_at" = CURRENT_TIMESTAMP')
    changed = " OR ".join(f'"{table.name}"."{c}" {distinct} excluded."{c}"' for c in updates)
    return sql + f"DO UPDATE SET {', '.join(assignments)} WHERE {changed}"


def _key_match(entity: Entity, left: str, right: str) -> str:
    return " AND ".join(f'{left}."{k}" = {right}."{k}"' for k in entity.key)


# --- the run -----------------------------------------------------------------------------


class _Run:
    """State of one load run: counts, kept rejects, and the reject writer."""

    def __init__(self, run_id: int, progress: Progress | None, total_bytes: int) -> None:
        self.run_id = run_id
        self.progress = progress
        self.total_bytes = max(total_bytes, 1)
        self.done_bytes = 0
        self.files: list[FileStats] = []
        self.kept_rejects: list[pd.DataFrame] = []
        self.kept = 0

    def report(self, extra_bytes: int, message: str) -> None:
        if self.progress:
            self.progress(min((self.done_bytes + extra_bytes) / self.total_bytes, 1.0), message)

    def reject(self, connection: Connection, file: str, rejects: pd.DataFrame) -> None:
        """Write rejects of ``file`` in the run's transaction and keep the first ones."""
        if rejects.empty:
            return
        frame = rejects.assign(run_id=self.run_id, file=file)[
            ["run_id", "file", "row_number", "column_name", "value", "reason"]
        ]
        frame["value"] = frame["value"].astype(object).where(frame["value"].notna(), None).map(
            lambda v: None if v is None else str(v)[:500]
        )
        connection.execute(insert(schema.etl_reject), frame.to_dict("records"))
        if self.kept < MAX_REJECTS_KEPT:
            self.kept_rejects.append(frame.head(MAX_REJECTS_KEPT - self.kept))
            self.kept += min(len(frame), MAX_REJECTS_KEPT - self.kept)


def _start_run(engine: Engine, source: str, kind: str) -> int:
    with engine.begin() as connection:
        return connection.execute(
            insert(schema.etl_run)
            .values(source=source, kind=kind, started_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), status="running")
            .returning(schema.etl_run.c.id)
        ).scalar_one()


def _finish_run(connection: Connection, run: _Run, status: str, message: str) -> None:
    connection.execute(
        update(schema.etl_run)
        .where(schema.etl_run.c.id == run.run_id)
        .values(
            finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            status=status,
            rows_read=sum(f.rows_read for f in run.files),
            rows_loaded=sum(f.rows_loaded for f in run.files) if status == "succeeded" else 0,
            rows_rejected=sum(f.rows_rejected for f in run.files),
            message=message,
            details={
                "files": [
                    {
                        "entity": f.entity, "file": f.file, "rows_read": f.rows_read, "rows_loaded": f.rows_loaded,
                        "rows_rejected": f.rows_rejected, "inserted": f.inserted, "updated": f.updated,
                        "skipped": f.skipped, "warnings": f.warnings,
                    }
                    for f in run.files
                ]
            },
        )
    )


def _watermarks(connection: Connection, source: str) -> dict[str, tuple[str | None, str | None]]:
    table = schema.etl_watermark
    rows = connection.execute(select(table.c.entity, table.c.file_sha256, table.c.watermark).where(table.c.source == source))
    return {entity: (sha, mark) for entity, sha, mark in rows}


def _save_watermark(connection: Connection, source: str, entity: str, sha: str, mark: str | None, run_id: int) -> None:
    table = schema.etl_watermark
    values = {"file_sha256": sha, "watermark": mark, "run_id": run_id, "updated_at": func.current_timestamp()}
    done = connection.execute(update(table).where(table.c.source == source, table.c.entity == entity).values(**values))
    if done.rowcount == 0:
        connection.execute(insert(table).values(source=source, entity=entity, **values))


@dataclass
class _Chunk:
    """One validated chunk: typed good rows, rejects, and how far into the file it reaches."""

    rows: int
    good: pd.DataFrame
    rejects: pd.DataFrame
    skipped: int
    position: int


_DONE = object()


class _Validation:
    """Reads and validates one file's chunks in a background thread, a few chunks ahead.

    Great-expectations and pandas hold the GIL; the database driver releases it while
    PostgreSQL or SQLite work. So while the loader stages one chunk, or checks and upserts
    a whole file, the next chunks (or the next file) are being validated on the other core.
    The queue is bounded, so memory stays flat.
    """

    def __init__(self, entity: Entity, path: Path, keys: dict[str, frozenset[str]], *, chunk_rows: int,
                 watermark: str | None, today: dt.date) -> None:
        self.entity, self.path, self.keys = entity, path, keys
        self.chunk_rows, self.watermark, self.today = chunk_rows, watermark, today
        self.stats = FileStats(entity.name, path.name)
        self.encoding = detect_encoding(path)
        if self.encoding == "cp1252":
            self.stats.warnings.append("not valid UTF-8: decoded as Windows-1252 (Latin-1)")
        self.header = read_header(path, self.encoding)
        duplicated = sorted({c for c in self.header if self.header.count(c) > 1})
        if duplicated:
            raise LoadError(f"{path.name}: column(s) named twice in the header: {', '.join(duplicated)}")
        missing = [c for c in entity.required if c not in self.header]
        if missing:
            raise LoadError(
                f"{path.name}: missing required column(s): {', '.join(missing)} "
                f"(expected columns: {', '.join(entity.columns)}; see docs/interchange.md)"
            )
        known = [*entity.columns, UPDATED_AT.name]
        extra = [c for c in self.header if c not in known]
        if extra:
            self.stats.warnings.append(f"ignored unknown column(s): {', '.join(extra)}")
        self.present = [c for c in known if c in self.header]
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._produce, name=f"validate-{entity.name}", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        try:
            for chunk in self._chunks():
                if self.stopped.is_set():
                    return
                self.queue.put(chunk)
            self.queue.put(_DONE)
        except BaseException as exc:  # handed to the consuming thread, which raises it
            self.queue.put(exc)

    def _chunks(self) -> Iterator[_Chunk]:
        path, entity, watermark = self.path, self.entity, self.watermark
        usecols = [i for i, c in enumerate(self.header) if c in self.present]
        with path.open("rb") as handle:
            try:
                reader = pd.read_csv(
                    handle, dtype="str", keep_default_na=False, na_values=[""], chunksize=self.chunk_rows,
                    encoding=self.encoding, usecols=usecols, header=0, names=self.header,
                )
                first_row = 2
                for raw in reader:
                    raw.index = pd.RangeIndex(first_row, first_row + len(raw))
                    first_row += len(raw)
                    raw = raw.apply(lambda column: column.str.strip())
                    raw = raw.where(raw != "")
                    result = validate_chunk(entity, raw, self.keys, today=self.today)
                    good, skipped = result.good, 0
                    if watermark is not None and UPDATED_AT.name in good.columns:
                        fresh = good[UPDATED_AT.name].isna() | (good[UPDATED_AT.name] > pd.Timestamp(watermark))
                        stale_rows = good.index[~fresh]
                        good = good[fresh]
                        skipped = len(stale_rows.difference(list(set(result.rejects["row_number"]))))
                    yield _Chunk(len(raw), good, result.rejects, skipped, handle.tell())
            except pd.errors.ParserError as exc:
                raise LoadError(f"{path.name}: the file is not well-formed CSV: {exc}") from exc
            except pd.errors.EmptyDataError as exc:
                raise LoadError(f"{path.name}: the file is empty (no header row)") from exc

    def __iter__(self) -> Iterator[_Chunk]:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        """Stop early (the run failed): let the thread finish its chunk and end."""
        self.stopped.set()
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self.queue.get(timeout=0.1)


def _stage_file(connection: Connection, run: _Run, validation: _Validation) -> tuple[Table, str | None]:
    """Write the file's validated chunks into a staging table as they come; return it and the new watermark."""
    entity, path, stats = validation.entity, validation.path, validation.stats
    kinds = {c: (UPDATED_AT if c == UPDATED_AT.name else entity.field(c)).type for c in validation.present}
    stage = bulk.create_temp_table(connection, f"stage_{entity.name}", {**kinds, "_row": "int"})
    new_mark = validation.watermark
    file_bytes = path.stat().st_size
    for chunk in validation:
        stats.rows_read += chunk.rows - chunk.skipped
        stats.rows_rejected += chunk.rejects["row_number"].nunique()
        run.reject(connection, path.name, chunk.rejects)
        good = chunk.good
        if UPDATED_AT.name in good.columns and good[UPDATED_AT.name].notna().any():
            top = good[UPDATED_AT.name].max().strftime("%Y-%m-%d %H:%M:%S")
            new_mark = max(new_mark or top, top)
        bulk.write_frame(connection, stage, good.assign(_row=good.index.to_numpy()))
        run.report(min(chunk.position, file_bytes), f"{path.name}: {stats.rows_read + chunk.skipped:,} rows")
    run.done_bytes += file_bytes
    return stage, new_mark


def _apply_file(
    connection: Connection, run: _Run, validation: _Validation, stage: Table, *, all_snapshots: bool = False
) -> tuple[FileStats, pd.DataFrame | None, bool]:
    """Database checks and the upsert of a staged file.

    Returns its stats, the item-locations whose snapshots must be rebuilt (None when nothing
    changed; none listed when ``all_snapshots``, as every one will be built), and whether it
    changed anything; changed orders are marked for ``derived.refresh``.
    """
    entity, stats = validation.entity, validation.stats
    _database_checks(connection, run, entity, stage.name, validation.path.name, stats)
    touched = None
    if entity.name in SNAPSHOT_INPUTS:
        touched = (pd.DataFrame(columns=["product_id", "location_id"]) if all_snapshots
                   else _touched_item_locations(connection, entity, stage.name))
    before = connection.execute(select(func.count()).select_from(entity.table)).scalar_one()
    bulk_mode = bulk.wants_bulk_mode(stats.rows_read - stats.rows_rejected, before)
    if entity.name == "shipments" and before:
        derived.mark_shipment_days(connection, stage.name)  # a moved shipment changes its old day too
    # Into an empty table (a first load), on PostgreSQL: a plain INSERT, unique constraints built afterwards
    # (the stage's keys are unique: _database_checks rejected every repeated one).
    fresh = bulk_mode and before == 0 and connection.dialect.name == "postgresql"
    with bulk.deferred_indexes(connection, entity.table, enabled=bulk_mode, unique=fresh):
        sql = upsert_sql(entity, stage.name, validation.present, connection.dialect.name, conflicts=not fresh)
        changed = connection.execute(text(sql)).rowcount
    after = connection.execute(select(func.count()).select_from(entity.table)).scalar_one()
    stats.rows_loaded = stats.rows_read - stats.rows_rejected
    stats.inserted = after - before
    stats.updated = max(changed - stats.inserted, 0) if not entity.append_only else 0
    changed = bool(stats.inserted or stats.updated)
    if changed and entity.name in ORDER_STATE_INPUTS:
        derived.mark_changed_orders(connection, stage.name)
    connection.execute(text(f'DROP TABLE "{stage.name}"'))
    return stats, touched if changed else None, changed


def _reject_and_drop(
    connection: Connection, run: _Run, stage: str, file: str, stats: FileStats, query: str, column: str, reason: str
) -> None:
    """Reject the stage rows ``query`` selects (``_row``, value) and delete them from the stage."""
    found = read_frame(connection, query, ["row_number", "value"], text_columns=("value",))
    if found.empty:
        return
    found = found.drop_duplicates("row_number")
    rejects = found.assign(column_name=column, reason=reason)
    run.reject(connection, file, rejects)
    stats.rows_rejected += len(found)
    rows = ", ".join(str(int(r)) for r in found["row_number"])
    connection.execute(text(f'DELETE FROM "{stage}" WHERE _row IN ({rows})'))


def _database_checks(connection: Connection, run: _Run, entity: Entity, stage: str, file: str, stats: FileStats) -> None:
    """Checks a chunk cannot make alone: keys repeated across chunks, fact references, ledger conflicts."""
    key_list = ", ".join(f'"{k}"' for k in entity.key)
    key_value = " || '|' || ".join(f'CAST(s."{k}" AS TEXT)' for k in entity.key)
    _reject_and_drop(
        connection, run, stage, file, stats,
        f'SELECT s._row, {key_value} FROM "{stage}" s JOIN (SELECT {key_list} FROM "{stage}" GROUP BY {key_list} '
        f"HAVING COUNT(*) > 1) d ON {_key_match(entity, 's', 'd')}",
        ",".join(entity.key), f"duplicate key in file ({', '.join(entity.key)})",
    )
    for ref in entity.references:
        if ref.check != "db":
            continue
        on = " AND ".join(f't."{t}" = s."{c}"' for c, t in zip(ref.columns, ref.target_columns, strict=True))
        value = " || '|' || ".join(f'CAST(s."{c}" AS TEXT)' for c in ref.columns)
        _reject_and_drop(
            connection, run, stage, file, stats,
            f'SELECT s._row, {value} FROM "{stage}" s LEFT JOIN "{ref.table.name}" t ON {on} WHERE t.id IS NULL',
            ",".join(ref.columns), f"unknown {ref.label.replace('_', ' ')} (not in {ref.table.name} nor in this load)",
        )
    if entity.append_only:
        differs = " OR ".join(
            f'NOT (t."{c}" = s."{c}" OR (t."{c}" IS NULL AND s."{c}" IS NULL))'
            for c in ("qty", "kind", "unit_cost")
        )
        _reject_and_drop(
            connection, run, stage, file, stats,
            f'SELECT s._row, s."movement_no" FROM "{stage}" s JOIN "{entity.table.name}" t '
            f'ON t."movement_no" = s."movement_no" WHERE {differs}',
            "movement_no", "already in the ledger with other values; the ledger is append-only: post a correcting movement",
        )


def _touched_item_locations(connection: Connection, entity: Entity, stage: str) -> pd.DataFrame:
    """Product and location ids of the staged rows, as staged and as stored now (run before the upsert).

    Their snapshots must be rebuilt: the new pair gains the row, and a stored row that moves to
    another product or location (or a shipment to another order line) leaves its old pair.
    """
    if entity.name == "shipments":
        sql = (
            f'SELECT l.product_id, l.location_id FROM "{stage}" s JOIN fact_sales_order_line l '
            "ON l.order_no = s.order_no AND l.line_no = s.line_no "
            f'UNION SELECT l.product_id, l.location_id FROM "{stage}" s JOIN fact_shipment sh '
            "ON sh.shipment_no = s.shipment_no JOIN fact_sales_order_line l ON l.id = sh.order_line_id"
        )
    else:
        sql = (
            f'SELECT p.id, l.id FROM "{stage}" s JOIN dim_product p ON p.sku = s.product '
            "JOIN dim_location l ON l.code = s.location "
            f'UNION SELECT t.product_id, t.location_id FROM "{stage}" s JOIN "{entity.table.name}" t '
            f"ON {_key_match(entity, 't', 's')}"
        )
    return read_frame(connection, sql, ["product_id", "location_id"])


def _analyze(connection: Connection, tables: list[Table]) -> None:
    """Refresh PostgreSQL's statistics of tables a load changed, so the next queries get good plans.

    Autovacuum would get there eventually; a report run right after a bulk load would otherwise be
    planned on the empty table's statistics. (SQLite plans without them.)
    """
    if connection.dialect.name == "postgresql":
        for table in dict.fromkeys(tables):
            connection.exec_driver_sql(f'ANALYZE "{table.name}"')


def _depends_on(entity: Entity, loaded: Entity) -> bool:
    """Whether validating ``entity`` needs the keys ``loaded`` is about to store (a reference checked in GX)."""
    return any(ref.check == "gx" and ref.table is loaded.table for ref in entity.references)


def interchange_files(directory: Path) -> tuple[list[tuple[Entity, Path]], list[str]]:
    """Interchange files present in ``directory`` in load order, and unknown CSV names."""
    found = [(entity, directory / entity.file_name) for entity in ENTITIES if (directory / entity.file_name).is_file()]
    unknown = sorted(p.name for p in directory.glob("*.csv") if p.name not in ENTITY_BY_FILE)
    return found, unknown


def load_directory(
    engine: Engine,
    directory: Path | str,
    *,
    source: str | None = None,
    kind: str = "load",
    incremental: bool = False,
    max_reject_share: float | None = None,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> LoadResult:
    """Load the interchange files in ``directory`` in one transaction (see the module docstring).

    Raises :class:`LoadError` (after recording the failed run) when the run cannot be
    completed; the reporting tables are then exactly as before.
    """
    settings = load_settings()
    directory = Path(directory)
    chunk_rows = chunk_rows or settings.etl_chunk_rows
    max_share = settings.etl_max_reject_share if max_reject_share is None else max_reject_share
    source = source or str(directory.resolve())
    today = today or dt.date.today()
    started = time.perf_counter()
    if not directory.is_dir():
        raise LoadError(f"{directory}: not a folder")
    files, unknown = interchange_files(directory)
    if not files:
        raise LoadError(
            f"{directory}: no interchange files found (expected one or more of: "
            f"{', '.join(e.file_name for e in ENTITIES)})"
        )
    run = _Run(_start_run(engine, source, kind), progress, sum(p.stat().st_size for _e, p in files))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL work_mem = '{LOAD_WORK_MEM}'")
            lock_out_scans(connection)  # a warehouse scan waits for the load (both rebuild snapshots)
            marks = _watermarks(connection, source)
            # No snapshots yet (a first load): they will all be built, so no load lists the ones it touched.
            all_snapshots = connection.execute(select(schema.fact_inventory_snapshot.c.id).limit(1)).first() is None
            touched: list[pd.DataFrame] = []
            changed_tables: list[Table] = []
            new_marks: list[tuple[str, str, str | None]] = []
            todo: list[tuple[Entity, Path, str, bool]] = []
            for entity, path in files:
                sha = file_sha256(path)
                todo.append((entity, path, sha, incremental and sha == marks.get(entity.name, (None, None))[0]))
            to_load = [index for index, item in enumerate(todo) if not item[3]]

            def start(index: int | None) -> _Validation | None:
                if index is None:
                    return None
                entity, path, _sha, _skip = todo[index]
                old_mark = marks.get(entity.name, (None, None))[1]
                return _Validation(
                    entity, path, _known_keys(connection, entity), chunk_rows=chunk_rows,
                    watermark=old_mark if incremental else None, today=today,
                )

            validation = start(to_load[0] if to_load else None)
            try:
                for index, (entity, path, sha, skip) in enumerate(todo):
                    if skip:
                        run.files.append(FileStats(entity.name, path.name, skipped=True))
                        run.done_bytes += path.stat().st_size
                        continue
                    stage, mark = _stage_file(connection, run, validation)
                    current, validation = validation, None
                    following = next((i for i in to_load if i > index), None)
                    if following is not None and not _depends_on(todo[following][0], entity):
                        validation = start(following)  # validated while this file is checked and upserted
                    stats, item_locations, changed = _apply_file(connection, run, current, stage, all_snapshots=all_snapshots)
                    if validation is None:
                        validation = start(following)
                    run.files.append(stats)
                    new_marks.append((entity.name, sha, mark))
                    if item_locations is not None:
                        touched.append(item_locations)
                    if changed:
                        changed_tables.append(current.entity.table)
            finally:
                if validation is not None:
                    validation.stop()
            if unknown:
                run.files[0].warnings.append(f"ignored files that are not part of the format: {', '.join(unknown)}")
            read = sum(f.rows_read for f in run.files)
            rejected = sum(f.rows_rejected for f in run.files)
            if read and rejected / read > max_share:
                worst = max(run.files, key=lambda f: f.rows_rejected)
                raise LoadError(
                    f"{rejected:,} of {read:,} rows rejected ({rejected / read:.1%}), more than the allowed "
                    f"{max_share:.1%}; most in {worst.file} ({worst.rows_rejected:,}). Nothing was loaded: "
                    f"see etl_reject for run {run.run_id}"
                )
            _analyze(connection, changed_tables)
            if schema.dim_product in changed_tables:
                derived.mark_days(connection, None)  # a cost changed: lost margin and backlog value of every day
            if touched:
                run.report(0, "rebuilding inventory snapshots")
                snapshots.refresh(connection, None if all_snapshots else pd.concat(touched).drop_duplicates())
            if changed_tables:
                run.report(0, "rebuilding the order state for reports")
                derived.refresh(connection, full=False)
                _analyze(connection, [schema.fact_inventory_snapshot, *derived.TABLES])
            for entity_name, sha, mark in new_marks:
                _save_watermark(connection, source, entity_name, sha, mark, run.run_id)
            _finish_run(connection, run, "succeeded", "")
    except Exception as exc:
        message = str(exc) if isinstance(exc, LoadError) else f"{type(exc).__name__}: {exc}"
        with engine.begin() as connection:
            for frame in run.kept_rejects:
                connection.execute(insert(schema.etl_reject), frame.to_dict("records"))
            _finish_run(connection, run, "failed", message)
        if isinstance(exc, LoadError):
            raise
        raise LoadError(message) from exc
    run.report(0, "done")
    return LoadResult(run.run_id, "succeeded", run.files, time.perf_counter() - started)
