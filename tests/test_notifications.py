"""The notification outbox and its SMTP sender, against a real local SMTP server (aiosmtpd), on both backends."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from data_access import notifications
from jobs.notify import parse_smtp_url, send_pending


class Inbox:
    """aiosmtpd handler keeping every message that arrives (envelope recipients and the parsed e-mail)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted"


def free_port() -> int:
    """A localhost port nobody listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, Inbox]]:
    """A real SMTP server on a free localhost port: (its smtp:// URL, the inbox it fills)."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, loop=asyncio.new_event_loop())
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


def test_parse_smtp_url() -> None:
    """Plain, STARTTLS and TLS URLs with percent-encoded credentials; anything else is refused."""
    plain = parse_smtp_url("smtp://mail.example.com:2525")
    assert (plain.host, plain.port, plain.tls, plain.starttls, plain.username) == ("mail.example.com", 2525, False,
                                                                                  False, None)
    secure = parse_smtp_url("smtps://ops%40example.com:p%3Ass@mail.example.com")
    assert (secure.port, secure.tls, secure.username, secure.password) == (465, True, "ops@example.com", "p:ss")
    assert parse_smtp_url("smtp://h?starttls=true").starttls and parse_smtp_url("smtp://h").port == 25
    with pytest.raises(ValueError):
        parse_smtp_url("http://mail.example.com")


def test_enqueue_deduplicates(engine: Engine) -> None:
    """A dedup key enqueued twice keeps one row (the first one)."""
    assert notifications.enqueue(engine, "low-stock:1", "a@example.com", "First", "body") is True
    assert notifications.enqueue(engine, "low-stock:1", "b@example.com", "Second", "other") is False
    with engine.begin() as connection:  # inside a caller's transaction too
        assert notifications.enqueue(connection, "low-stock:1", "c@example.com", "Third", "x") is False
        assert notifications.enqueue(connection, "low-stock:2", "c@example.com", "Third", "x") is True
    rows = notifications.pending(engine)
    assert rows["dedup_key"].tolist() == ["low-stock:1", "low-stock:2"]
    assert rows["subject"].tolist() == ["First", "Third"] and rows["attempts"].tolist() == [0, 0]


def test_add_is_set_based_and_deduplicates(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """``add`` enqueues many messages in batches: keys already queued are skipped, a key given twice keeps its
    first message, the count is what was inserted; with the look-up of queued keys bypassed (two writers racing),
    ON CONFLICT still keeps one row per key and the count stays exact."""
    notifications.enqueue(engine, "k0", "old@example.com", "Already queued", "old body")
    monkeypatch.setattr(notifications, "_BATCH_ROWS", 3)  # several INSERT batches
    messages = [{"dedup_key": f"k{i}", "recipient": f"r{i}@example.com", "subject": f"Subject {i}",
                 "body": f"Dear customer,\n\nline {i}\n"} for i in range(8)]
    messages.append({"dedup_key": "k5", "recipient": "late@example.com", "subject": "Later", "body": "later"})
    assert notifications.add(engine, messages) == 7
    assert notifications.add(engine, messages) == 0
    assert notifications.add(engine, []) == 0
    rows = notifications.pending(engine, limit=100).set_index("dedup_key")
    assert sorted(rows.index) == [f"k{i}" for i in range(8)]
    assert rows.loc["k0", "subject"] == "Already queued" and rows.loc["k5", "recipient"] == "r5@example.com"
    assert rows.loc["k3", "body"] == "Dear customer,\n\nline 3\n" and (rows["attempts"] == 0).all()

    monkeypatch.setattr(notifications, "_queued_keys", lambda _connection, _keys: set())
    more = [*messages, {"dedup_key": "k8", "recipient": "r8@example.com", "subject": "New", "body": "new"}]
    with engine.begin() as connection:
        assert notifications.add(connection, more) == 1
    assert notifications.counts(engine)["pending"] == 9


def test_send_delivers_to_a_real_server(engine: Engine, smtp_server: tuple[str, Inbox]) -> None:
    """What arrives: recipient, subject, body and the dedup key; rows end sent and are not sent twice."""
    url, inbox = smtp_server
    notifications.enqueue(engine, "k1", "purchasing@example.com", "Low stock: 2 item(s)", "P1 position 40\n")
    notifications.enqueue(engine, "k2", "boss@example.com", "Another", "second body\n")
    result = send_pending(engine, smtp_url=url, sender="planner@example.com")
    assert (result.sent, result.failed, result.gave_up) == (2, 0, 0)
    assert [rcpt for rcpt, _ in inbox.received] == [["purchasing@example.com"], ["boss@example.com"]]
    first = inbox.received[0][1]
    assert first["Subject"] == "Low stock: 2 item(s)" and first["From"] == "planner@example.com"
    assert first["To"] == "purchasing@example.com" and first["X-Dedup-Key"] == "k1"
    assert first.get_payload(decode=True).decode().replace("\r\n", "\n") == "P1 position 40\n"  # CRLF on the wire
    sent = notifications.recent(engine)
    assert set(sent["status"]) == {"sent"} and sent["sent_at"].notna().all()
    assert send_pending(engine, smtp_url=url).sent == 0 and len(inbox.received) == 2


def test_failed_send_is_kept_and_retried(engine: Engine, smtp_server: tuple[str, Inbox]) -> None:
    """A closed port: the row stays pending with attempts 1 and the error; the next drain delivers it. After
    max attempts a row is 'failed' (kept), and requeue gives it another try."""
    url, inbox = smtp_server
    closed = f"smtp://127.0.0.1:{free_port()}"
    notifications.enqueue(engine, "k1", "purchasing@example.com", "Low stock", "body\n")
    result = send_pending(engine, smtp_url=closed)
    assert (result.sent, result.failed) == (0, 1)
    row = notifications.pending(engine).iloc[0]
    assert row["attempts"] == 1 and "connecting to 127.0.0.1" in row["last_error"]
    assert send_pending(engine, smtp_url=url).sent == 1
    assert [rcpt for rcpt, _ in inbox.received] == [["purchasing@example.com"]]
    done = notifications.recent(engine).iloc[0]
    assert done["status"] == "sent" and done["attempts"] == 2

    notifications.enqueue(engine, "k2", "purchasing@example.com", "Doomed", "body\n")
    assert send_pending(engine, smtp_url=closed, max_attempts=2).failed == 1
    assert send_pending(engine, smtp_url=closed, max_attempts=2).gave_up == 1
    assert notifications.counts(engine) == {"pending": 0, "sent": 1, "failed": 1}
    failed = notifications.recent(engine, status="failed").iloc[0]
    assert failed["attempts"] == 2 and failed["last_error"]
    assert notifications.requeue(engine, [int(failed["id"])]) == 1
    assert send_pending(engine, smtp_url=url).sent == 1 and len(inbox.received) == 2
