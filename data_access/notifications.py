"""The notification outbox: messages written in the business transaction, sent later by ``jobs.notify``.

A message is enqueued in the same transaction as the change it reports (so it exists exactly when the change
does), with a ``dedup_key``: enqueueing a key twice keeps one row. The sender reads ``pending`` rows, and marks
each one ``sent`` or failed: a failure keeps the row ``pending`` with ``attempts`` + 1 and ``last_error``, to be
retried by the next drain, until ``max_attempts`` failures make it ``failed`` (kept, and visible to the admin,
who may :func:`requeue` it). Rows are never deleted, so no message is lost; delivery is at least once (a crash
between the SMTP hand-over and :func:`mark_sent` sends that message again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from data_access import schema
from data_access.engine import utc_now

STATUSES = ("pending", "sent", "failed")
_COLUMNS = ["id", "created_at", "dedup_key", "recipient", "subject", "body", "status", "attempts", "last_error",
            "sent_at"]


def enqueue(
    connectable: Engine | Connection, dedup_key: str, recipient: str, subject: str, body: str
) -> bool:
    """Add a pending message unless one with ``dedup_key`` exists; True when a row was added.

    With a Connection the row joins the caller's transaction (enqueue with the change it reports); with an
    Engine it is a transaction of its own. ``INSERT … ON CONFLICT DO NOTHING`` on both backends, so two
    writers racing on one key still leave one row.
    """
    if isinstance(connectable, Engine):
        with connectable.begin() as connection:
            return enqueue(connection, dedup_key, recipient, subject, body)
    table = schema.notification_outbox
    dialect = postgresql if connectable.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(
        dedup_key=dedup_key[:200], recipient=recipient, subject=subject[:300], body=body, status="pending",
        attempts=0, created_at=utc_now(),
    ).on_conflict_do_nothing(index_elements=["dedup_key"])
    return connectable.execute(statement).rowcount == 1


def _frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=_COLUMNS)
    for name in ("created_at", "sent_at"):
        frame[name] = pd.to_datetime(frame[name])
    return frame


def pending(engine: Engine, limit: int = 100) -> pd.DataFrame:
    """Up to ``limit`` messages waiting to be sent, oldest first (columns of ``notification_outbox``)."""
    table = schema.notification_outbox
    with engine.connect() as connection:
        rows = connection.execute(
            select(*(table.c[name] for name in _COLUMNS)).where(table.c.status == "pending")
            .order_by(table.c.id).limit(limit)
        ).all()
    return _frame(rows)


def recent(engine: Engine, limit: int = 50, status: str | None = None) -> pd.DataFrame:
    """The newest ``limit`` messages (any status, or one), for the in-app notification list."""
    table = schema.notification_outbox
    query = select(*(table.c[name] for name in _COLUMNS)).order_by(table.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(table.c.status == status)
    with engine.connect() as connection:
        return _frame(connection.execute(query).all())


def counts(engine: Engine) -> dict[str, int]:
    """Messages per status (every status in ``STATUSES`` present, 0 when none)."""
    table = schema.notification_outbox
    with engine.connect() as connection:
        found = dict(connection.execute(select(table.c.status, func.count()).group_by(table.c.status)).all())
    return {name: int(found.get(name, 0)) for name in STATUSES}


def mark_sent(engine: Engine, message_id: int, sent_at: dt.datetime | None = None) -> bool:
    """Record a delivered message (status ``sent``, ``sent_at``); True when a pending row was marked."""
    table = schema.notification_outbox
    with engine.begin() as connection:
        return connection.execute(
            update(table).where(table.c.id == int(message_id), table.c.status == "pending")
            .values(status="sent", sent_at=sent_at or utc_now(), attempts=table.c.attempts + 1)
        ).rowcount == 1


def mark_failed(engine: Engine, message_id: int, error: str, max_attempts: int) -> str | None:
    """Record a failed send: ``attempts`` + 1 and ``last_error``; the row stays ``pending`` to be retried,
    or becomes ``failed`` once attempts reach ``max_attempts`` (kept, never deleted).

    Returns the row's new status (None when no pending row had that id).
    """
    table = schema.notification_outbox
    with engine.begin() as connection:
        row = connection.execute(
            select(table.c.attempts).where(table.c.id == int(message_id), table.c.status == "pending")
        ).first()
        if row is None:
            return None
        attempts = int(row[0]) + 1
        status = "failed" if attempts >= max_attempts else "pending"
        connection.execute(
            update(table).where(table.c.id == int(message_id), table.c.status == "pending")
            .values(attempts=attempts, last_error=str(error)[:4000], status=status)
        )
        return status


def requeue(engine: Engine, message_ids: Iterable[int]) -> int:
    """Put ``failed`` messages back to ``pending`` (attempts kept: each gets one more try); returns how many."""
    table = schema.notification_outbox
    ids = [int(i) for i in message_ids]
    if not ids:
        return 0
    with engine.begin() as connection:
        return connection.execute(
            update(table).where(table.c.id.in_(ids), table.c.status == "failed").values(status="pending")
        ).rowcount


#: Rows per INSERT statement of :func:`add` (SQLAlchemy sends each as multi-row VALUES batches) and keys per
#: look-up of the ones already queued.
_BATCH_ROWS = 5_000
_KEYS_PER_QUERY = 1_000


def _queued_keys(connection: Connection, keys: list[str]) -> set[str]:
    """Which of ``keys`` the outbox already holds (any status), one query per 1,000 keys."""
    table = schema.notification_outbox
    found: set[str] = set()
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start:start + _KEYS_PER_QUERY]
        found.update(connection.execute(select(table.c.dedup_key).where(table.c.dedup_key.in_(chunk))).scalars())
    return found


def add(connectable: Engine | Connection, messages: Iterable[dict]) -> int:
    """Enqueue several messages (dicts with dedup_key, recipient, subject, body); returns how many were new.

    Set-based: the keys already in the outbox are looked up (one query per 1,000 keys), a key given twice keeps
    its first message, and the rest go in as one executemany ``INSERT … ON CONFLICT (dedup_key) DO NOTHING
    RETURNING id`` per 5,000 rows (multi-row VALUES on both backends), so a writer racing on a key still leaves
    one row and the count is what was really inserted. With a Connection the rows join the caller's transaction.
    """
    if isinstance(connectable, Engine):
        with connectable.begin() as connection:
            return add(connection, messages)
    rows: dict[str, dict] = {}
    now = utc_now()
    for message in messages:
        key = str(message["dedup_key"])[:200]
        if key not in rows:
            rows[key] = {"dedup_key": key, "recipient": str(message["recipient"]),
                         "subject": str(message["subject"])[:300], "body": str(message["body"]),
                         "status": "pending", "attempts": 0, "created_at": now}
    if not rows:
        return 0
    for known in _queued_keys(connectable, list(rows)):
        rows.pop(known, None)
    new = list(rows.values())
    if not new:
        return 0
    table = schema.notification_outbox
    dialect = postgresql if connectable.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(table.c.id)
    added = 0
    for start in range(0, len(new), _BATCH_ROWS):
        added += len(connectable.execute(statement, new[start:start + _BATCH_ROWS]).all())
    return added
