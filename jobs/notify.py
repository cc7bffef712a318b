"""Drain the notification outbox over SMTP (``python -m jobs notify``).

Settings (environment first, then ``[notifications]`` in ``config.toml``, then the default):

| setting | env | config key | default |
|---|---|---|---|
| SMTP server | ``SMTP_URL`` | ``smtp_url`` | ``smtp://localhost:25`` |
| sender address | ``SMTP_FROM`` | ``sender`` | ``inventory-planning@localhost`` |
| purchasing manager | ``PURCHASING_EMAIL`` | ``purchasing_email`` | ``purchasing@example.com`` |
| attempts before giving up | ``NOTIFY_MAX_ATTEMPTS`` | ``max_attempts`` | 10 |

``SMTP_URL``: ``smtp://[user:password@]host[:port]`` (plain; ``?starttls=true`` upgrades with STARTTLS) or
``smtps://[user:password@]host[:port]`` (TLS from the start, port 465 by default). User and password are
percent-decoded. A failed send leaves the message pending with one more attempt and the error (see
``data_access.notifications``); the next drain retries it.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tomllib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import Engine

from data_access import notifications
from data_access.config import CONFIG_PATH

DEFAULT_SMTP_URL = "smtp://localhost:25"
DEFAULT_SENDER = "inventory-planning@localhost"
DEFAULT_PURCHASING_EMAIL = "purchasing@example.com"
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class NotificationSettings:
    """Where messages go and how hard the sender tries; build with :func:`notification_settings`."""

    smtp_url: str
    sender: str
    purchasing_email: str
    max_attempts: int


def notification_settings() -> NotificationSettings:
    """Resolve the settings: environment variable, then ``[notifications]`` in config.toml, then the default."""
    section: dict = {}
    if CONFIG_PATH.exists():
        with CONFIG_PATH.open("rb") as handle:
            section = tomllib.load(handle).get("notifications", {})
    return NotificationSettings(
        smtp_url=os.environ.get("SMTP_URL") or section.get("smtp_url") or DEFAULT_SMTP_URL,
        sender=os.environ.get("SMTP_FROM") or section.get("sender") or DEFAULT_SENDER,
        purchasing_email=os.environ.get("PURCHASING_EMAIL") or section.get("purchasing_email")
        or DEFAULT_PURCHASING_EMAIL,
        max_attempts=int(os.environ.get("NOTIFY_MAX_ATTEMPTS") or section.get("max_attempts")
                         or DEFAULT_MAX_ATTEMPTS),
    )


@dataclass(frozen=True)
class SmtpTarget:
    """A parsed ``SMTP_URL``."""

    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    starttls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host[:port][?starttls=true]`` or ``smtps://…``; ValueError for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"SMTP_URL must look like smtp://host:port or smtps://user:pass@host:port, not {url!r}")
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["false"])[-1].lower() in ("1", "true", "yes", "on")
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if scheme == "smtps" else 25),
        tls=scheme == "smtps",
        starttls=starttls and scheme == "smtp",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _connect(target: SmtpTarget, timeout: float) -> smtplib.SMTP:
    """An open, logged-in SMTP session to ``target``."""
    if target.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=timeout)
    try:
        client.ehlo()
        if target.starttls:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if target.username:
            client.login(target.username, target.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _message(row, sender: str) -> EmailMessage:
    """The e-mail of one outbox row (its dedup key travels in ``X-Dedup-Key``)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    message["X-Dedup-Key"] = row.dedup_key
    message.set_content(row.body)
    return message


@dataclass(frozen=True)
class SendResult:
    """Outcome of one drain: messages ``sent``, ``failed`` (still pending, retried later), ``gave_up`` (status
    failed after max attempts)."""

    sent: int
    failed: int
    gave_up: int

    def __str__(self) -> str:
        return f"sent {self.sent}, failed {self.failed} (will retry), gave up {self.gave_up}"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def send_pending(
    engine: Engine,
    smtp_url: str | None = None,
    *,
    limit: int = 100,
    sender: str | None = None,
    max_attempts: int | None = None,
    timeout: float = 10.0,
) -> SendResult:
    """Send up to ``limit`` pending messages over one SMTP session, oldest first.

    Each message is marked sent right after the server accepted it, or failed (attempts + 1, last_error;
    ``failed`` status after ``max_attempts``) when it was refused. When the server cannot be reached every
    message of the batch counts one failed attempt with that error; nothing is lost, the next drain retries.
    """
    settings = notification_settings()
    target = parse_smtp_url(smtp_url or settings.smtp_url)
    sender = sender or settings.sender
    max_attempts = max_attempts or settings.max_attempts
    batch = notifications.pending(engine, limit=limit)
    sent = failed = gave_up = 0

    def fail(message_id: int, error: str) -> None:
        nonlocal failed, gave_up
        status = notifications.mark_failed(engine, message_id, error, max_attempts)
        if status == "failed":
            gave_up += 1
        elif status == "pending":
            failed += 1

    if batch.empty:
        return SendResult(0, 0, 0)
    try:
        client = _connect(target, timeout)
    except (OSError, smtplib.SMTPException) as exc:
        for message_id in batch["id"]:
            fail(int(message_id), f"connecting to {target.host}:{target.port}: {_error(exc)}")
        return SendResult(sent, failed, gave_up)
    try:
        for row in batch.itertuples(index=False):
            try:
                client.send_message(_message(row, sender))
            except (OSError, smtplib.SMTPException) as exc:
                fail(int(row.id), _error(exc))
                refused = isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused)
                if not refused:  # the session broke (not just this message): open a new one
                    try:
                        client.close()
                        client = _connect(target, timeout)
                    except (OSError, smtplib.SMTPException):
                        break  # the rest stays pending as it was; the next drain retries
                continue
            if notifications.mark_sent(engine, int(row.id)):
                sent += 1
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return SendResult(sent, failed, gave_up)
